// Schema-driven protobuf decoding to Envoy's JSON (proto3 JSON mapping, proto field names), without protobufjs.
import { MeshError } from '../../shared/errors.js';
import { Kind, Wire, Wkt, anyMessage, enumDesc, findMessage, messageDesc, type FieldDesc, type MessageDesc } from './schema.js';
import { WireReader, fixed, int64String, lengthEnd, sint64String, skip, tag, uint64String, varint } from './reader.js';

/*
 * The output is exactly what `decodeMessage` / `decodeResource` of src/xds/encode.ts print (protobufjs
 * decode, then `messageJson`) for every well-formed message: proto field names in declaration
 * order; implicit-presence scalars omitted when default; explicit-presence fields (oneof members,
 * proto3 `optional`) and message fields printed when present; enums by name (an unknown number as
 * the number); 64-bit integers as decimal strings; bytes as base64; non-finite floats as
 * String(v); the well-known types in their JSON form.
 *
 * Where the two differ, on purpose (protobuf-C++, which Envoy uses, is the reference):
 *  - malformed input throws: a length running past its message (protobufjs' Buffer reader clamps a
 *    string instead), a varint over 10 bytes, field number 0, wire types 3/4 (groups) and 6/7;
 *  - a known field arriving with another wire type is skipped as unknown (protobufjs reads it as
 *    the declared type, garbling the rest);
 *  - a oneof member clears its siblings (protobufjs keeps every member it saw);
 *  - 64-bit map keys print as decimal strings (protobufjs uses its 8-char binary "hash" strings);
 *  - a map entry without its message value prints that message's default (messageJson throws);
 *  - a Struct key "__proto__" is an own key (messageJson's assignment sets the object's prototype);
 *  - the nesting limit (100, protoc's default) counts through Any values (protobufjs restarts it
 *    inside each Any, so a chain of nested Anys can exhaust the stack);
 *  - an Any's type URL names a message by its full name only (protobufjs' lookup also resolves
 *    partial names such as "v3.Cluster" by searching the namespaces);
 *  - strings are decoded as Node decodes UTF-8 (invalid sequences become U+FFFD), as protobufjs'
 *    Buffer reader does; its Uint8Array reader drops or garbles some invalid bytes.
 */

/** protoc's default recursion limit (CodedInputStream::default_recursion_limit_), protobufjs' too. */
export const MAX_DEPTH = 100;

type Json = unknown;
type Slots = unknown[];

function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  // A peer may name a key "__proto__": it stays an own key, and the object's prototype is untouched.
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function enumJson(ref: number, v: number): string | number {
  return enumDesc(ref).nameOf.get(v) ?? v;
}

function floatJson(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

/** Reads one scalar of `kind` (wire type already checked); returns its raw value (enums as numbers, doubles as numbers). */
function readScalar(r: WireReader, kind: Kind, end: number): unknown {
  switch (kind) {
    case Kind.String: {
      const stop = lengthEnd(r, end);
      const s = r.buf.toString('utf8', r.pos, stop);
      r.pos = stop;
      return s;
    }
    case Kind.Bytes: {
      const stop = lengthEnd(r, end);
      const s = r.buf.toString('base64', r.pos, stop);
      r.pos = stop;
      return s;
    }
    case Kind.Int32:
    case Kind.Enum:
      return varint(r, end) | 0;
    case Kind.Uint32:
      return varint(r, end);
    case Kind.Sint32: {
      const v = varint(r, end);
      return ((v >>> 1) ^ -(v & 1)) | 0;
    }
    case Kind.Bool: {
      const lo = varint(r, end);
      return lo !== 0 || r.hi !== 0;
    }
    case Kind.Int64: {
      const lo = varint(r, end);
      return int64String(lo, r.hi);
    }
    case Kind.Uint64: {
      const lo = varint(r, end);
      return uint64String(lo, r.hi);
    }
    case Kind.Sint64: {
      const lo = varint(r, end);
      return sint64String(lo, r.hi);
    }
    case Kind.Double:
      return r.buf.readDoubleLE(fixed(r, 8, end));
    case Kind.Float:
      return r.buf.readFloatLE(fixed(r, 4, end));
    case Kind.Fixed32:
      return r.buf.readUInt32LE(fixed(r, 4, end));
    case Kind.Sfixed32:
      return r.buf.readInt32LE(fixed(r, 4, end));
    case Kind.Fixed64: {
      const at = fixed(r, 8, end);
      return uint64String(r.buf.readUInt32LE(at), r.buf.readUInt32LE(at + 4));
    }
    case Kind.Sfixed64: {
      const at = fixed(r, 8, end);
      return int64String(r.buf.readUInt32LE(at), r.buf.readUInt32LE(at + 4));
    }
    default:
      throw new MeshError('MESH_INTERNAL', `wire codec: kind ${kind} is not a scalar`);
  }
}

/** The JSON of a raw scalar (enum names, non-finite floats as strings). */
function scalarJson(f: FieldDesc, v: unknown): Json {
  if (f.kind === Kind.Enum) return enumJson(f.ref, v as number);
  if (f.kind === Kind.Double || f.kind === Kind.Float) return floatJson(v as number);
  return v;
}

/** Whether a raw scalar is its type's default (an implicit-presence field so valued is not printed). */
function isDefault(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case Kind.String:
    case Kind.Bytes:
      return v === '';
    case Kind.Bool:
      return v === false;
    case Kind.Int64:
    case Kind.Uint64:
    case Kind.Sint64:
    case Kind.Fixed64:
    case Kind.Sfixed64:
      return v === '0';
    default:
      return v === 0; // -0 too, as messageJson's `v === 0`
  }
}

/** The raw default of a scalar kind (the value an absent map key or value, or a wrapper's value, has). */
function defaultScalar(kind: Kind): unknown {
  switch (kind) {
    case Kind.String:
    case Kind.Bytes:
      return '';
    case Kind.Bool:
      return false;
    case Kind.Int64:
    case Kind.Uint64:
    case Kind.Sint64:
    case Kind.Fixed64:
    case Kind.Sfixed64:
      return '0';
    default:
      return 0;
  }
}

/** Reads one value of field `f` (wire type already checked): a message's JSON, or a scalar's raw value. */
function readValue(r: WireReader, f: FieldDesc, end: number, depth: number): unknown {
  if (f.kind !== Kind.Message) return readScalar(r, f.kind, end);
  const stop = lengthEnd(r, end);
  const v = decodeAt(messageDesc(f.ref), r, stop, depth + 1);
  r.pos = stop;
  return v;
}

/** Reads one map entry of field `f` into `slots`. An absent key or value is its default, as protobuf reads it. */
function readMapEntry(r: WireReader, f: FieldDesc, slots: Slots, end: number, depth: number): void {
  const stop = lengthEnd(r, end);
  let key: unknown;
  let value: unknown;
  let hasValue = false;
  const keyWire = f.mapKey === Kind.String ? Wire.Bytes : f.mapKey === Kind.Fixed32 || f.mapKey === Kind.Sfixed32 ? Wire.Fixed32 : f.mapKey === Kind.Fixed64 || f.mapKey === Kind.Sfixed64 ? Wire.Fixed64 : Wire.Varint;
  while (r.pos < stop) {
    const t = tag(r, stop);
    const no = t >>> 3;
    const wire = t & 7;
    if (no === 1 && wire === keyWire) key = readScalar(r, f.mapKey as Kind, stop);
    else if (no === 2 && wire === f.wire) {
      value = readValue(r, f, stop, depth);
      hasValue = true;
    } else skip(r, wire, stop);
  }
  r.pos = stop;
  if (key === undefined) key = defaultScalar(f.mapKey as Kind);
  let json: Json;
  if (hasValue) json = f.kind === Kind.Message ? value : scalarJson(f, value);
  else if (f.kind === Kind.Message) json = decodeAt(messageDesc(f.ref), r, r.pos, depth + 1);
  else json = scalarJson(f, defaultScalar(f.kind));
  let map = slots[f.slot] as Record<string, unknown> | undefined;
  if (map === undefined) slots[f.slot] = map = {};
  setKey(map, String(key), json);
}

/** Reads the fields of one message (from `r.pos` to `end`) into slots by declaration index. */
function readFields(desc: MessageDesc, r: WireReader, end: number, depth: number): Slots {
  const slots: Slots = new Array(desc.fields.length);
  const byNumber = desc.byNumber;
  while (r.pos < end) {
    const t = tag(r, end);
    const wire = t & 7;
    const f = byNumber.get(t >>> 3);
    if (f === undefined) {
      skip(r, wire, end);
      continue;
    }
    if (f.mapKey !== 0) {
      if (wire === Wire.Bytes) readMapEntry(r, f, slots, end, depth);
      else skip(r, wire, end);
      continue;
    }
    if (f.repeated) {
      let list = slots[f.slot] as unknown[] | undefined;
      if (wire === f.wire) {
        if (list === undefined) slots[f.slot] = list = [];
        const v = readValue(r, f, end, depth);
        list.push(f.kind === Kind.Message ? v : scalarJson(f, v));
      } else if (wire === Wire.Bytes && f.packable) {
        if (list === undefined) slots[f.slot] = list = [];
        const stop = lengthEnd(r, end);
        while (r.pos < stop) list.push(scalarJson(f, readScalar(r, f.kind, stop)));
      } else skip(r, wire, end);
      continue;
    }
    if (wire !== f.wire) {
      // protobuf-C++ treats a known field with an unexpected wire type as an unknown field.
      skip(r, wire, end);
      continue;
    }
    const v = readValue(r, f, end, depth);
    if (f.oneof >= 0) for (const s of desc.oneofSlots[f.oneof]!) slots[s] = undefined;
    slots[f.slot] = v;
  }
  for (const f of desc.required) if (slots[f.slot] === undefined) throw r.malformed(`missing required '${f.name}'`);
  return slots;
}

function slotOf(desc: MessageDesc, number: number): number {
  return desc.byNumber.get(number)!.slot;
}

/** google.protobuf.Duration as proto3 JSON ("1.5s"): seconds (a number or decimal string) and nanos. */
export function durationString(seconds: unknown, nanosRaw: unknown): string {
  const secs = Number(seconds ?? 0);
  const nanos = (nanosRaw as number | undefined) ?? 0;
  if (nanos === 0) return `${secs}s`;
  // proto3 JSON: 3, 6 or 9 fractional digits.
  let frac = String(Math.abs(nanos)).padStart(9, '0');
  if (frac.endsWith('000000')) frac = frac.slice(0, 3);
  else if (frac.endsWith('000')) frac = frac.slice(0, 6);
  return `${secs === 0 && nanos < 0 ? '-' : ''}${secs}.${frac}s`;
}

/** A decoded JSON object (not an array, not null). */
export function isPlainJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An Any: `{ '@type', ...fields }`, `{ '@type', value }` for a message whose JSON is not an object, or base64 bytes for an unknown type. */
function decodeAny(r: WireReader, end: number, depth: number): Json {
  let url = '';
  let valueStart = -1;
  let valueEnd = -1;
  while (r.pos < end) {
    const t = tag(r, end);
    const no = t >>> 3;
    const wire = t & 7;
    if (no === 1 && wire === Wire.Bytes) url = readScalar(r, Kind.String, end) as string;
    else if (no === 2 && wire === Wire.Bytes) {
      valueEnd = lengthEnd(r, end);
      valueStart = r.pos;
      r.pos = valueEnd;
    } else skip(r, wire, end);
  }
  if (r.rawAny) return { type_url: url, value: valueStart < 0 ? r.buf.subarray(0, 0) : r.buf.subarray(valueStart, valueEnd) };
  const inner = url === '' ? undefined : anyMessage(url);
  if (inner === undefined) return { '@type': url, value: valueStart < 0 ? '' : r.buf.toString('base64', valueStart, valueEnd) };
  let decoded: Json;
  if (valueStart < 0) decoded = decodeAt(inner, r, r.pos, depth + 1);
  else {
    r.pos = valueStart;
    decoded = decodeAt(inner, r, valueEnd, depth + 1);
  }
  r.pos = end;
  // Well-known types with a non-object JSON form nest under "value" (proto3 JSON mapping), as anyJson does.
  return isPlainJsonObject(decoded) && inner.wkt !== Wkt.Wrapper && inner.wkt !== Wkt.Struct ? { '@type': url, ...decoded } : { '@type': url, value: decoded };
}

/** google.protobuf.Value's JSON: the member set, else null. */
function valueJson(desc: MessageDesc, slots: Slots): Json {
  for (let i = 0; i < slots.length; i++) {
    const v = slots[i];
    if (v === undefined) continue;
    switch (desc.fields[i]!.number) {
      case 1:
        return null;
      case 2:
      case 3:
      case 4:
      case 5:
      case 6:
        return v; // a number stays a number, NaN included, as valueOfStruct prints it
    }
  }
  return null;
}

/** Decodes one message of `desc` from `r.pos` to `end` (the caller moves `r.pos` past it). */
function decodeAt(desc: MessageDesc, r: WireReader, end: number, depth: number): Json {
  if (depth > MAX_DEPTH) throw r.malformed(`messages nested deeper than ${MAX_DEPTH} (at ${desc.name})`);
  const outer = r.typeName;
  r.typeName = desc.name;
  if (desc.wkt === Wkt.Any) {
    const v = decodeAny(r, end, depth);
    r.typeName = outer;
    return v;
  }
  const slots = readFields(desc, r, end, depth);
  r.typeName = outer;
  switch (desc.wkt) {
    case Wkt.None:
      break;
    case Wkt.Duration:
      return durationString(slots[slotOf(desc, 1)], slots[slotOf(desc, 2)]);
    case Wkt.Timestamp: {
      const ms = Number(slots[slotOf(desc, 1)] ?? 0) * 1000 + Math.floor(((slots[slotOf(desc, 2)] as number | undefined) ?? 0) / 1e6);
      // Beyond what a Date holds (±8.64e15 ms) there is no JSON form; messageJson throws a RangeError there.
      if (!(Math.abs(ms) <= 8.64e15)) throw r.malformed(`Timestamp out of range (${String(slots[slotOf(desc, 1)])} s)`);
      return new Date(ms).toISOString();
    }
    case Wkt.Struct:
      return slots[0] ?? {};
    case Wkt.Value:
      return valueJson(desc, slots);
    case Wkt.ListValue:
      return slots[0] ?? [];
    case Wkt.Empty:
      return {};
    case Wkt.FieldMask:
      return ((slots[0] as string[] | undefined) ?? []).join(',');
    case Wkt.Wrapper: {
      const f = desc.fields[0]!;
      return scalarJson(f, slots[0] ?? defaultScalar(f.kind));
    }
  }
  const out: Record<string, unknown> = {};
  const fields = desc.fields;
  for (let i = 0; i < fields.length; i++) {
    const v = slots[i];
    if (v === undefined) continue;
    const f = fields[i]!;
    if (f.repeated) {
      // Maps and lists are created by their first element, so they are never empty here.
      out[f.name] = v;
    } else if (f.kind === Kind.Message) {
      out[f.name] = v;
    } else if (f.explicit || !isDefault(f.kind, v)) {
      out[f.name] = scalarJson(f, v);
    }
  }
  return out;
}

function readerOf(bytes: Uint8Array): WireReader {
  return new WireReader(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

export interface WireDecodeOptions {
  /**
   * Leave every google.protobuf.Any undecoded, as `{ type_url: string, value: Buffer }`, `value`
   * being a view into the input (no copy; it keeps the input alive, and it cannot be frozen). For
   * envelopes such as a DiscoveryResponse, whose resources are digested and decoded one by one.
   */
  rawAny?: boolean;
}

/**
 * Decodes bytes of message `typeName` (full name, e.g. `envoy.config.cluster.v3.Cluster`) to the
 * JSON `decodeMessage` of src/xds/encode.ts prints. Throws MESH_USAGE for a type the schema does
 * not hold and MESH_PARSE_ERROR for malformed bytes (see the list above). `bytes` is only read;
 * the result shares nothing with it unless `rawAny` is set.
 */
export function decodeWireMessage(typeName: string, bytes: Uint8Array, options: WireDecodeOptions = {}): Record<string, unknown> {
  const desc = findMessage(typeName);
  if (desc === undefined) throw new MeshError('MESH_USAGE', `unknown protobuf message type ${typeName}`);
  const r = readerOf(bytes);
  r.rawAny = options.rawAny === true;
  return decodeAt(desc, r, r.buf.length, 0) as Record<string, unknown>;
}

/** Decodes one resource of `typeUrl` (e.g. a received Cluster) as `decodeResource` does: its JSON with '@type' first. */
export function decodeWireResource(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  return { '@type': typeUrl, ...decodeWireMessage(typeUrl.slice(typeUrl.lastIndexOf('/') + 1), bytes) };
}
