// Reading xDS responses as a client: the envelope, then each resource checked (type, name, duplicates, count) and decoded to frozen Envoy JSON.
import { createHash } from 'node:crypto';
import { decodeWireMessage, decodeWireResource } from '../xds/wire/decode.js';
import type { XdsJson } from './xds-warming.js';

/** One resource as carried by a response, not yet decoded. */
export interface RawResource {
  /** Delta: the name in the Resource wrapper; SotW: undefined (the name is inside the message). */
  name?: string;
  /** Delta: the server's version of the resource ('' when it sent none). */
  version: string;
  /** type_url of the Any. */
  typeUrl: string;
  bytes: Uint8Array;
}

/** A DiscoveryResponse or DeltaDiscoveryResponse with its resources still encoded. */
export interface ResponseEnvelope {
  typeUrl: string;
  nonce: string;
  /** SotW version_info; Delta system_version_info (informational). */
  version: string;
  resources: RawResource[];
  /** Delta removed_resources. */
  removed: string[];
}

/** A decoded, accepted-shape resource. `resource` is deeply frozen. */
export interface ResourceEntry {
  name: string;
  resource: XdsJson;
  /** Digest of the encoded bytes: equal bytes, equal digest (used to keep unchanged objects). */
  digest: string;
  /** Delta: the server's version, echoed in initial_resource_versions on reconnect. SotW: ''. */
  version: string;
}

interface WireAny {
  type_url?: string;
  value?: Uint8Array;
}

/**
 * Decodes the envelope of a response (not the resources inside). Throws when the bytes are not a
 * (Delta)DiscoveryResponse, a truncated one included: such a stream cannot be answered (there is no
 * nonce to NACK). The resources' bytes are views into `received`.
 */
export function decodeEnvelope(protocol: 'sotw' | 'delta', received: Uint8Array): ResponseEnvelope {
  if (protocol === 'sotw') {
    const m = decodeWireMessage('envoy.service.discovery.v3.DiscoveryResponse', received, { rawAny: true }) as {
      version_info?: string;
      type_url?: string;
      nonce?: string;
      resources?: WireAny[];
    };
    return {
      typeUrl: m.type_url ?? '',
      nonce: m.nonce ?? '',
      version: m.version_info ?? '',
      resources: (m.resources ?? []).map((a) => ({ version: '', typeUrl: a.type_url ?? '', bytes: a.value ?? EMPTY })),
      removed: [],
    };
  }
  const m = decodeWireMessage('envoy.service.discovery.v3.DeltaDiscoveryResponse', received, { rawAny: true }) as {
    system_version_info?: string;
    type_url?: string;
    nonce?: string;
    resources?: { name?: string; version?: string; resource?: WireAny }[];
    removed_resources?: string[];
  };
  return {
    typeUrl: m.type_url ?? '',
    nonce: m.nonce ?? '',
    version: m.system_version_info ?? '',
    resources: (m.resources ?? []).map((r) => ({
      name: r.name ?? '',
      version: r.version ?? '',
      typeUrl: r.resource?.type_url ?? '',
      bytes: r.resource?.value ?? EMPTY,
    })),
    removed: m.removed_resources ?? [],
  };
}

const EMPTY = new Uint8Array();

/** The name a resource of `typeUrl` carries: `cluster_name` for a ClusterLoadAssignment, else `name`. */
export function resourceName(typeUrl: string, resource: XdsJson): string {
  const n = typeUrl.endsWith('.ClusterLoadAssignment') ? resource.cluster_name : resource.name;
  return typeof n === 'string' ? n : '';
}

/** Freezes a decoded JSON value and everything inside it (decoded JSON has no cycles). */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function digestOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url');
}

export interface DecodeOptions {
  /** Responses carrying more resources (plus removals) than this are refused. */
  maxResources: number;
  /**
   * Entries already held for the type, by digest: a resource whose bytes are unchanged keeps its
   * decoded object (and so its identity). Optimization: a SotW push resends every listener and
   * cluster; reusing unchanged ones skips decoding them and lets the data path's compile cache
   * (keyed by object identity) keep everything that did not change.
   */
  heldByDigest?: ReadonlyMap<string, ResourceEntry>;
}

export type DecodeResult = { ok: true; entries: Map<string, ResourceEntry>; removed: string[] } | { ok: false; error: string };

/**
 * Decodes every resource of `envelope`, or refuses the whole response with the first problem (the
 * NACK's error_detail): too many resources, an Any of another type than the response, bytes that
 * are not a valid message, a resource without a name, a Delta wrapper name that differs from the
 * resource's own, the same name twice, or a name both updated and removed. All or nothing, as
 * Envoy rejects a response: a half-applied update would mix versions.
 */
export function decodeResources(envelope: ResponseEnvelope, options: DecodeOptions): DecodeResult {
  // Checked before any decoding: a response with millions of tiny resources must not cost millions of decodes.
  const count = envelope.resources.length + envelope.removed.length;
  if (count > options.maxResources) return { ok: false, error: `response carries ${count} resources and removals, more than the limit of ${options.maxResources}` };
  const entries = new Map<string, ResourceEntry>();
  for (let i = 0; i < envelope.resources.length; i++) {
    const raw = envelope.resources[i]!;
    if (raw.typeUrl !== envelope.typeUrl) return { ok: false, error: `resource ${i} has type ${raw.typeUrl || '(none)'} in a response of type ${envelope.typeUrl}` };
    const digest = digestOf(raw.bytes);
    const held = options.heldByDigest?.get(digest);
    let resource: XdsJson;
    let name: string;
    if (held) {
      resource = held.resource;
      name = held.name;
    } else {
      try {
        resource = deepFreeze(decodeWireResource(raw.typeUrl, raw.bytes));
      } catch (e) {
        return { ok: false, error: `resource ${raw.name ? `"${raw.name}"` : i} could not be decoded: ${e instanceof Error ? e.message : String(e)}` };
      }
      name = resourceName(raw.typeUrl, resource);
    }
    if (name === '') return { ok: false, error: `resource ${i} has no name` };
    if (raw.name !== undefined && raw.name !== name) return { ok: false, error: `resource "${raw.name}" carries a message named "${name}"` };
    if (entries.has(name)) return { ok: false, error: `resource "${name}" appears twice` };
    entries.set(name, { name, resource, digest, version: raw.version });
  }
  const removed = new Set<string>();
  for (const name of envelope.removed) {
    if (entries.has(name)) return { ok: false, error: `resource "${name}" is both updated and removed` };
    removed.add(name);
  }
  return { ok: true, entries, removed: [...removed] };
}
