// Istio's HTTP metadata exchange: our node metadata as the `x-envoy-peer-metadata` header, and a peer's header back into its workload identity.
//
// Istio 1.6's `istio.metadata_exchange` filter (istio/proxy extensions/metadata_exchange/plugin.cc)
// sends, on outbound requests and on inbound responses, `x-envoy-peer-metadata-id: <node id>` and
// `x-envoy-peer-metadata: base64(deterministic protobuf google.protobuf.Struct)`, the Struct being
// the node metadata restricted to the keys named in its `EXCHANGE_KEYS` entry. The receiving side
// strips both headers and labels its telemetry with what they say. The bytes we send are what that
// filter sends, so a real Envoy peer reads our identity and we read its.
import { MeshError } from '../../shared/errors.js';
import { decodeWireMessage } from '../../xds/wire/decode.js';
import { encodeWireMessage } from '../../xds/wire/encode.js';

/** The header carrying the base64 Struct. */
export const PEER_METADATA_HEADER = 'x-envoy-peer-metadata';
/** The header carrying the sender's xDS node id. */
export const PEER_METADATA_ID_HEADER = 'x-envoy-peer-metadata-id';

/** `EXCHANGE_KEYS` as Istio 1.6's injector and bootstrap set it; used when the node metadata names none. */
export const DEFAULT_EXCHANGE_KEYS: readonly string[] = Object.freeze([
  'NAME',
  'NAMESPACE',
  'INSTANCE_IPS',
  'LABELS',
  'OWNER',
  'PLATFORM_METADATA',
  'WORKLOAD_NAME',
  'MESH_ID',
  'SERVICE_ACCOUNT',
  'CLUSTER_ID',
]);

/** Longest header value decoded. Real headers are a few hundred bytes to ~2 KiB; anything longer is refused unread. */
export const MAX_PEER_HEADER_CHARS = 8192;
/** Istio's default `max_peer_cache_size` (plugin.h `DefaultNodeCacheMaxSize`). */
export const DEFAULT_PEER_CACHE_SIZE = 500;
/**
 * Longest identity string or label accepted from a peer: longer than any Kubernetes name (253) or
 * label key (253 + "/" + 63). A longer one is a broken or hostile peer; refusing it bounds the size
 * of every metric label value a peer can inject.
 */
const MAX_FIELD_CHARS = 320;
/** Deepest JSON nesting our own metadata may have (it is config, but a cycle must not hang the proxy). */
const MAX_ENCODE_DEPTH = 32;

const CANONICAL_NAME = 'service.istio.io/canonical-name';
const CANONICAL_REVISION = 'service.istio.io/canonical-revision';

/**
 * A workload's identity as telemetry labels need it. Every string is `''` when the metadata did not
 * say (the metrics print `unknown`), except `canonicalRevision`, which Istio defaults to `latest`.
 * Instances are frozen and shared: the decoder returns the same object for the same header, so
 * callers may key caches on object identity.
 */
export interface PeerInfo {
  /** Pod (or VM) name, metadata `NAME`. */
  readonly name: string;
  /** Metadata `WORKLOAD_NAME` (the Deployment, for a pod). */
  readonly workloadName: string;
  readonly namespace: string;
  /** The workload's labels, metadata `LABELS`; a frozen object without prototype. */
  readonly labels: Readonly<Record<string, string>>;
  /** Label `app` (Istio 1.6 reads exactly this label for `*_app`). */
  readonly app: string;
  /** Label `version`. */
  readonly version: string;
  /** Metadata `SERVICE_ACCOUNT`. */
  readonly serviceAccount: string;
  /** SPIFFE identity, when known from a verified certificate (never from the header: a peer could claim anything). */
  readonly principal?: string;
  readonly clusterId: string;
  readonly meshId: string;
  /** Istio's canonical service: see `canonicalService`. */
  readonly canonicalService: string;
  /** Istio's canonical revision: see `canonicalRevision`. */
  readonly canonicalRevision: string;
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * Istio's canonical service name for a workload (pkg/kube/inject `extractCanonicalServiceLabel`):
 * label `service.istio.io/canonical-name`, else `app.kubernetes.io/name`, else `app`, else the
 * workload name. A label that is present counts even when empty, as in Istio's Go map lookup.
 */
export function canonicalService(labels: Readonly<Record<string, string>>, workloadName: string): string {
  if (hasOwn(labels, CANONICAL_NAME)) return labels[CANONICAL_NAME]!;
  if (hasOwn(labels, 'app.kubernetes.io/name')) return labels['app.kubernetes.io/name']!;
  if (hasOwn(labels, 'app')) return labels.app!;
  return workloadName;
}

/**
 * Istio's canonical revision (`extractCanonicalServiceRevision`): label
 * `service.istio.io/canonical-revision`, else `app.kubernetes.io/version`, else `version`, else `latest`.
 */
export function canonicalRevision(labels: Readonly<Record<string, string>>): string {
  if (hasOwn(labels, CANONICAL_REVISION)) return labels[CANONICAL_REVISION]!;
  if (hasOwn(labels, 'app.kubernetes.io/version')) return labels['app.kubernetes.io/version']!;
  if (hasOwn(labels, 'version')) return labels.version!;
  return 'latest';
}

/** Reads one metadata key as a string: `''` when absent or not a string (protobuf's `string_value()`). */
type Reader = (key: string) => string;

function buildPeerInfo(read: Reader, labels: Record<string, string>): PeerInfo {
  Object.freeze(labels);
  const workloadName = read('WORKLOAD_NAME');
  return Object.freeze({
    name: read('NAME'),
    workloadName,
    namespace: read('NAMESPACE'),
    labels,
    app: hasOwn(labels, 'app') ? labels.app! : '',
    version: hasOwn(labels, 'version') ? labels.version! : '',
    serviceAccount: read('SERVICE_ACCOUNT'),
    clusterId: read('CLUSTER_ID'),
    meshId: read('MESH_ID'),
    canonicalService: canonicalService(labels, workloadName),
    canonicalRevision: canonicalRevision(labels),
  });
}

/**
 * The PeerInfo a node's own metadata (the JSON object it announces over xDS, e.g. `xdsNode().metadata`)
 * describes. Non-string values read as `''`, as they do on the receiving side.
 */
export function peerInfoFromNodeMetadata(metadata: Readonly<Record<string, unknown>>): PeerInfo {
  const read: Reader = (key) => {
    const v = hasOwn(metadata, key) ? metadata[key] : undefined;
    return typeof v === 'string' ? v : '';
  };
  const labels: Record<string, string> = Object.create(null);
  const raw = hasOwn(metadata, 'LABELS') ? metadata.LABELS : undefined;
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    for (const k of Object.keys(raw)) {
      const v = (raw as Record<string, unknown>)[k];
      labels[k] = typeof v === 'string' ? v : '';
    }
  }
  return buildPeerInfo(read, labels);
}

// --- protobuf Struct -------------------------------------------------------------------------

/**
 * Checks that metadata is what a protobuf Struct can hold (JSON: strings, numbers, booleans, null
 * or undefined, arrays, objects), nested at most MAX_ENCODE_DEPTH levels; throws MESH_INVALID_CONFIG.
 */
function checkStructable(v: unknown, depth: number): void {
  if (depth > MAX_ENCODE_DEPTH) throw new MeshError('MESH_INVALID_CONFIG', `node metadata nests deeper than ${MAX_ENCODE_DEPTH} levels`);
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return;
  if (Array.isArray(v)) {
    for (const e of v) checkStructable(e, depth + 1);
    return;
  }
  if (typeof v === 'object') {
    for (const k of Object.keys(v)) checkStructable((v as Record<string, unknown>)[k], depth + 1);
    return;
  }
  throw new MeshError('MESH_INVALID_CONFIG', `node metadata holds a ${typeof v}, which a protobuf Struct cannot`);
}

/** The keys a node exchanges: its `EXCHANGE_KEYS` (comma-separated, blanks skipped), else Istio's default list. */
export function exchangeKeys(metadata: Readonly<Record<string, unknown>>): string[] {
  const raw = hasOwn(metadata, 'EXCHANGE_KEYS') ? metadata.EXCHANGE_KEYS : undefined;
  if (typeof raw !== 'string') return [...DEFAULT_EXCHANGE_KEYS];
  return [...new Set(raw.split(',').map((k) => k.trim()).filter((k) => k !== ''))];
}

/**
 * The `x-envoy-peer-metadata` value for a node's metadata: base64 (standard alphabet, padded, as
 * Envoy's `Base64::encode`) of the deterministic serialization of a Struct holding the exchanged keys
 * (`extractNodeMetadataValue`). Call once per config, not per request. Throws MESH_INVALID_CONFIG
 * for metadata a Struct cannot hold.
 */
export function encodePeerMetadata(metadata: Readonly<Record<string, unknown>>): string {
  const selected: Record<string, unknown> = Object.create(null);
  for (const key of exchangeKeys(metadata)) if (hasOwn(metadata, key)) selected[key] = metadata[key];
  for (const key of Object.keys(selected)) checkStructable(selected[key], 0);
  // The wire encoder writes map entries sorted by their keys' UTF-8 bytes, as Envoy's deterministic serialization.
  return encodeWireMessage('google.protobuf.Struct', selected).toString('base64');
}

/** What a proxy announces about itself; built once per config. */
export interface LocalPeerMetadata {
  /** `x-envoy-peer-metadata-id`: the xDS node id. */
  readonly id: string;
  /** `x-envoy-peer-metadata`. */
  readonly header: string;
  /** The same identity as telemetry labels read it (the `source` of outbound reports, the `destination` of inbound ones). */
  readonly info: PeerInfo;
}

/** Encodes a node's identity for the exchange; `node` is what the proxy announces over xDS (`xdsNode()`). */
export function localPeerMetadata(node: { readonly id: string; readonly metadata: Readonly<Record<string, unknown>> }): LocalPeerMetadata {
  return Object.freeze({ id: node.id, header: encodePeerMetadata(node.metadata), info: peerInfoFromNodeMetadata(node.metadata) });
}

// --- decoding a peer's header ------------------------------------------------------------------

/** Standard base64 (Envoy's alphabet), padding optional as in `Base64::decodeWithoutPadding`. */
function isBase64(s: string): boolean {
  const n = s.length;
  let end = n;
  if (end > 0 && s.charCodeAt(end - 1) === 61 /* = */) {
    end--;
    if (end > 0 && s.charCodeAt(end - 1) === 61) end--;
    if (n % 4 !== 0) return false;
  }
  if (end === 0 || end % 4 === 1) return false;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
    if (!ok) return false;
  }
  return true;
}

type DecodedFields = Record<string, unknown>;

/** A decoded Value's string, `''` when it holds something else; undefined when too long (refuse the peer). */
function stringOf(v: unknown): string | undefined {
  if (typeof v !== 'string') return '';
  return v.length > MAX_FIELD_CHARS ? undefined : v;
}

const TOO_LONG = Symbol('too long');
/** The metadata keys a PeerInfo is built from. */
const IDENTITY_KEYS = ['NAME', 'NAMESPACE', 'WORKLOAD_NAME', 'LABELS', 'SERVICE_ACCOUNT', 'CLUSTER_ID', 'MESH_ID'];

/**
 * Decodes one `x-envoy-peer-metadata` value into the peer's identity. Returns undefined, never throws,
 * for: a value longer than `maxChars` (refused unread); anything that is not a well-formed Struct (bad
 * base64, truncated or mistyped protobuf, messages nested beyond protobuf's recursion limit of 100,
 * which protobuf-C++ in Envoy refuses too); a Struct naming none of the identity keys; identity
 * strings longer than Kubernetes allows. Keys are read as own properties only, so a peer naming a
 * key `__proto__` or `constructor` gains nothing. Not cached: see `PeerMetadataDecoder`.
 */
export function decodePeerMetadata(header: string, maxChars = MAX_PEER_HEADER_CHARS): PeerInfo | undefined {
  if (header.length > maxChars || !isBase64(header)) return undefined;
  let fields: DecodedFields;
  try {
    // The Struct as plain JSON; keys a peer names "__proto__" stay own keys.
    fields = decodeWireMessage('google.protobuf.Struct', Buffer.from(header, 'base64'));
  } catch {
    // Garbage, truncation, or nesting past protobuf's recursion limit (100, as protoc's).
    return undefined;
  }
  // A Struct naming none of the identity keys tells nothing, so it is no peer.
  if (!IDENTITY_KEYS.some((k) => hasOwn(fields, k))) return undefined;
  const labels: Record<string, string> = Object.create(null);
  const rawLabels = hasOwn(fields, 'LABELS') ? fields.LABELS : undefined;
  if (rawLabels !== null && typeof rawLabels === 'object' && !Array.isArray(rawLabels)) {
    for (const k of Object.keys(rawLabels)) {
      const v = stringOf((rawLabels as DecodedFields)[k]);
      if (v === undefined || k.length > MAX_FIELD_CHARS) return undefined;
      labels[k] = v;
    }
  }
  try {
    return buildPeerInfo((key) => {
      const v = stringOf(hasOwn(fields, key) ? fields[key] : undefined);
      if (v === undefined) throw TOO_LONG;
      return v;
    }, labels);
  } catch (e) {
    if (e === TOO_LONG) return undefined;
    throw e;
  }
}

/**
 * Decodes peers' headers through a bounded cache keyed by the header string itself (not by the peer id
 * header, as Istio does: keyed by id, one peer could claim another's id first and have its metadata
 * believed for the victim's later requests). Garbage is cached too, as "no peer". When full, the oldest
 * quarter of the entries is dropped (Istio drops an arbitrary quarter), so memory stays bounded
 * whatever peers send.
 */
export class PeerMetadataDecoder {
  private readonly cache = new Map<string, PeerInfo | null>();
  private readonly maxEntries: number;
  private readonly maxChars: number;

  constructor(options: { maxEntries?: number; maxHeaderChars?: number } = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_PEER_CACHE_SIZE);
    this.maxChars = options.maxHeaderChars ?? MAX_PEER_HEADER_CHARS;
  }

  /** Entries cached (for tests and the admin page). */
  get size(): number {
    return this.cache.size;
  }

  /** The peer a header value describes, or undefined when absent, empty, oversized or garbage. Never throws. */
  decode(header: string | undefined): PeerInfo | undefined {
    if (header === undefined || header === '') return undefined;
    // Refused unread and uncached: a peer must not fill the cache with huge keys.
    if (header.length > this.maxChars) return undefined;
    const hit = this.cache.get(header);
    if (hit !== undefined) return hit ?? undefined;
    const info = decodePeerMetadata(header, this.maxChars);
    if (this.cache.size >= this.maxEntries) this.evict();
    this.cache.set(header, info ?? null);
    return info;
  }

  private evict(): void {
    let n = Math.max(1, this.maxEntries >> 2);
    for (const key of this.cache.keys()) {
      if (n-- === 0) break;
      this.cache.delete(key);
    }
  }
}
