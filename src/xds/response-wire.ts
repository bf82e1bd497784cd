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

const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);
/** Size of a length-delimited field with a one-byte tag (every field here is numbered below 16). */
const fieldSize = (bodyLength: number): number => 1 + varintSize(bodyLength) + bodyLength;

/** Writes into a buffer sized exactly beforehand (a first pass computes every length). */
class Out {
  readonly buf: Buffer;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private varint(n: number): void {
    while (n > 0x7f) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }

  /** Tag and length of a length-delimited field (`field` < 16). */
  head(field: number, length: number): void {
    this.buf[this.pos++] = (field << 3) | 2;
    this.varint(length);
  }

  /** A string field whose UTF-8 length is `length` (written even when empty, as protobufjs writes any field that is set). */
  string(field: number, s: string, length: number): void {
    this.head(field, length);
    this.pos += this.buf.write(s, this.pos, length, 'utf8');
  }

  bytes(field: number, b: Uint8Array): void {
    this.head(field, b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  finish(): Buffer {
    if (this.pos !== this.buf.length) throw new Error(`response encoding wrote ${this.pos} bytes, sized ${this.buf.length}`);
    return this.buf;
  }
}

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Body length of an Any (type_url = 1, value = 2). */
function anySize(a: AnyWire, typeUrlLength: number): number {
  return fieldSize(typeUrlLength) + fieldSize(a.value.length);
}

function writeAny(out: Out, field: number, a: AnyWire, typeUrlLength: number): void {
  out.head(field, anySize(a, typeUrlLength));
  out.string(1, a.type_url, typeUrlLength);
  out.bytes(2, a.value);
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
  const versionLength = utf8(r.version_info);
  const typeLength = utf8(r.type_url);
  const nonceLength = utf8(r.nonce);
  const urlLengths = r.resources.map((a) => (a.type_url === r.type_url ? typeLength : utf8(a.type_url)));
  const idLength = r.control_plane ? utf8(r.control_plane.identifier) : 0;
  let size = fieldSize(versionLength) + fieldSize(typeLength) + fieldSize(nonceLength);
  r.resources.forEach((a, i) => (size += fieldSize(anySize(a, urlLengths[i]!))));
  if (r.control_plane) size += fieldSize(fieldSize(idLength));
  const out = new Out(size);
  out.string(1, r.version_info, versionLength);
  r.resources.forEach((a, i) => writeAny(out, 2, a, urlLengths[i]!));
  out.string(4, r.type_url, typeLength);
  out.string(5, r.nonce, nonceLength);
  if (r.control_plane) {
    out.head(6, fieldSize(idLength));
    out.string(1, r.control_plane.identifier, idLength);
  }
  return out.finish();
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse (Resource: version = 1, resource = 2, name = 3). */
export function encodeDeltaResponse(r: DeltaResponseWire): Buffer {
  const versionLength = utf8(r.system_version_info);
  const typeLength = utf8(r.type_url);
  const nonceLength = utf8(r.nonce);
  const items = r.resources.map((res) => {
    const url = res.resource.type_url === r.type_url ? typeLength : utf8(res.resource.type_url);
    const version = utf8(res.version);
    const name = utf8(res.name);
    const body = fieldSize(version) + fieldSize(anySize(res.resource, url)) + fieldSize(name);
    return { url, version, name, body };
  });
  const removedLengths = r.removed_resources.map(utf8);
  const idLength = r.control_plane ? utf8(r.control_plane.identifier) : 0;
  let size = fieldSize(versionLength) + fieldSize(typeLength) + fieldSize(nonceLength);
  for (const it of items) size += fieldSize(it.body);
  for (const n of removedLengths) size += fieldSize(n);
  if (r.control_plane) size += fieldSize(fieldSize(idLength));
  const out = new Out(size);
  out.string(1, r.system_version_info, versionLength);
  r.resources.forEach((res, i) => {
    const it = items[i]!;
    out.head(2, it.body);
    out.string(1, res.version, it.version);
    writeAny(out, 2, res.resource, it.url);
    out.string(3, res.name, it.name);
  });
  out.string(4, r.type_url, typeLength);
  out.string(5, r.nonce, nonceLength);
  r.removed_resources.forEach((n, i) => out.string(6, n, removedLengths[i]!));
  if (r.control_plane) {
    out.head(7, fieldSize(idLength));
    out.string(1, r.control_plane.identifier, idLength);
  }
  return out.finish();
}
