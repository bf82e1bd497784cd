// Wire encoding of the two ADS responses, whose resources are already-encoded bytes: a response is a concatenation.
//
// Optimization: grpc-js would otherwise run protobufjs `fromObject` + `encode` over every
// response, copying each resource's bytes twice; at 2000 proxies that was a fifth of a push.
// Field numbers are envoy/service/discovery/v3/discovery.proto's; fields are written in field
// order, and a field that is present is written even when empty, exactly as protobufjs does (a
// test checks that both give the same bytes).

/** An Any whose `value` is the encoded resource. */
export interface AnyWire {
  type_url: string;
  value: Uint8Array;
}

/** The DiscoveryResponse the ADS server writes (SotW). */
export interface SotwResponseWire {
  version_info: string;
  resources: readonly AnyWire[];
  type_url: string;
  nonce: string;
  control_plane?: { identifier: string };
}

/** The DeltaDiscoveryResponse the ADS server writes. */
export interface DeltaResponseWire {
  system_version_info: string;
  resources: readonly { name: string; version: string; resource: AnyWire }[];
  type_url: string;
  nonce: string;
  removed_resources: readonly string[];
  control_plane?: { identifier: string };
}

const SOTW_KEYS = new Set(['version_info', 'resources', 'type_url', 'nonce', 'control_plane']);
const DELTA_KEYS = new Set(['system_version_info', 'resources', 'type_url', 'nonce', 'removed_resources', 'control_plane']);

/** Collects pieces and their total length; `finish` copies them once into one buffer. */
class Pieces {
  readonly parts: Uint8Array[] = [];
  length = 0;

  bytes(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }

  varint(n: number): void {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    this.bytes(Uint8Array.from(out));
  }

  /** A length-delimited field (`tag` = field number << 3 | 2). */
  delimited(tag: number, body: Uint8Array): void {
    this.varint(tag);
    this.varint(body.length);
    this.bytes(body);
  }

  /** A string field (written even when empty, as protobufjs writes any field that is set). */
  string(tag: number, s: string): void {
    this.delimited(tag, Buffer.from(s, 'utf8'));
  }

  /** A nested message field whose body is `inner`. */
  message(tag: number, inner: Pieces): void {
    this.varint(tag);
    this.varint(inner.length);
    this.parts.push(...inner.parts);
    this.length += inner.length;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

const tag = (field: number): number => (field << 3) | 2;

function any(a: AnyWire): Pieces {
  const p = new Pieces();
  p.string(tag(1), a.type_url);
  p.delimited(tag(2), a.value);
  return p;
}

function controlPlane(cp: { identifier: string } | undefined): Pieces | undefined {
  if (!cp) return undefined;
  const p = new Pieces();
  p.string(tag(1), cp.identifier);
  return p;
}

function hasOnly(o: object, keys: ReadonlySet<string>): boolean {
  for (const k of Object.keys(o)) if (!keys.has(k)) return false;
  return true;
}

/** Whether `o` has exactly the shape `encodeSotwResponse` handles (anything else goes through protobufjs). */
export function isSotwResponseWire(o: Record<string, unknown>): o is Record<string, unknown> & SotwResponseWire {
  return hasOnly(o, SOTW_KEYS) && typeof o.version_info === 'string' && typeof o.type_url === 'string' && typeof o.nonce === 'string' && Array.isArray(o.resources);
}

/** Whether `o` has exactly the shape `encodeDeltaResponse` handles. */
export function isDeltaResponseWire(o: Record<string, unknown>): o is Record<string, unknown> & DeltaResponseWire {
  return (
    hasOnly(o, DELTA_KEYS) &&
    typeof o.system_version_info === 'string' &&
    typeof o.type_url === 'string' &&
    typeof o.nonce === 'string' &&
    Array.isArray(o.resources) &&
    Array.isArray(o.removed_resources)
  );
}

/** envoy.service.discovery.v3.DiscoveryResponse. */
export function encodeSotwResponse(r: SotwResponseWire): Buffer {
  const p = new Pieces();
  p.string(tag(1), r.version_info);
  for (const a of r.resources) p.message(tag(2), any(a));
  p.string(tag(4), r.type_url);
  p.string(tag(5), r.nonce);
  const cp = controlPlane(r.control_plane);
  if (cp) p.message(tag(6), cp);
  return p.finish();
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse (Resource: version = 1, resource = 2, name = 3). */
export function encodeDeltaResponse(r: DeltaResponseWire): Buffer {
  const p = new Pieces();
  p.string(tag(1), r.system_version_info);
  for (const res of r.resources) {
    const inner = new Pieces();
    inner.string(tag(1), res.version);
    inner.message(tag(2), any(res.resource));
    inner.string(tag(3), res.name);
    p.message(tag(2), inner);
  }
  p.string(tag(4), r.type_url);
  p.string(tag(5), r.nonce);
  for (const name of r.removed_resources) p.delimited(tag(6), Buffer.from(name, 'utf8'));
  const cp = controlPlane(r.control_plane);
  if (cp) p.message(tag(7), cp);
  return p.finish();
}
