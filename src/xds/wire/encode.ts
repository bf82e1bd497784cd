// Schema-driven, strict protobuf encoding of proto3 JSON (the form decode.ts prints), without protobufjs.
import { MeshError } from '../../shared/errors.js';
import { Kind, Wire, Wkt, enumDesc, findMessage, messageDesc, type FieldDesc, type MessageDesc } from './schema.js';
import { MAX_DEPTH } from './decode.js';
import { WireWriter } from './writer.js';

/*
 * Input: proto field names; enums by name or number; 64-bit integers as decimal strings or safe
 * integers; bytes as base64 (or a Uint8Array); floats as numbers or "NaN"/"Infinity"/"-Infinity";
 * Struct as a plain object, Value as any JSON, ListValue as an array; Duration as "1.5s";
 * Timestamp as RFC 3339; FieldMask as "a,b"; wrappers as their plain value; Any as
 * `{ '@type', ...fields }` (or `{ '@type', value }` for a type whose JSON is not an object, and for
 * a type the schema does not hold, `value` then being base64 bytes). `undefined` and `null` leave
 * a field unset, except that null is a Value's null_value.
 *
 * Output, like protobuf's deterministic serialization: fields in declaration order, repeated
 * scalars packed where the field is (proto3's default; proto2 only with `[packed = true]`), map
 * entries sorted by key (strings by UTF-8 bytes, as Envoy sorts them), implicit-presence scalars
 * omitted when default, explicit-presence ones written when set.
 */

type Path = string;

function at(path: Path): string {
  return path === '' ? '(root)' : path;
}

/** A JSON object (not an array, not bytes). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A value as an error message names it: `string "abc"`, `number 5`, `an array`. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return `number ${v}`;
  return typeof v;
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

class Encoder {
  readonly errors: string[] = [];

  constructor(readonly w: WireWriter) {}

  fail(path: Path, message: string): void {
    this.errors.push(`${at(path)}: ${message}`);
  }

  /** Writes the body (no tag, no length) of message `desc` from its JSON. */
  body(desc: MessageDesc, json: unknown, path: Path, depth: number): void {
    if (depth > MAX_DEPTH) {
      this.fail(path, `nested deeper than ${MAX_DEPTH} messages`);
      return;
    }
    switch (desc.wkt) {
      case Wkt.None:
        return this.fields(desc, json, path, depth);
      case Wkt.Any:
        return this.any(json, path, depth);
      case Wkt.Duration:
        return this.duration(json, path);
      case Wkt.Timestamp:
        return this.timestamp(json, path);
      case Wkt.Struct:
        return this.struct(json, path, depth);
      case Wkt.Value:
        return this.value(json, path, depth);
      case Wkt.ListValue:
        return this.list(json, path, depth);
      case Wkt.Empty:
        if (!isPlainObject(json) || Object.keys(json).length > 0) this.fail(path, `expected {} (google.protobuf.Empty), got ${describe(json)}`);
        return;
      case Wkt.FieldMask:
        if (typeof json !== 'string') this.fail(path, `expected a FieldMask string ("a,b.c"), got ${describe(json)}`);
        else if (json !== '') for (const p of json.split(',')) this.stringField(1, p);
        return;
      case Wkt.Wrapper: {
        const f = desc.fields[0]!;
        const v = this.scalar(f, json, path);
        if (v !== undefined && !isDefault(f.kind, v)) this.write(f, v, path, depth);
        return;
      }
    }
  }

  private stringField(number: number, s: string): void {
    this.w.tag(number, Wire.Bytes);
    this.w.string(s);
  }

  private fields(desc: MessageDesc, json: unknown, path: Path, depth: number): void {
    if (!isPlainObject(json)) {
      this.fail(path, `expected a ${desc.name} object, got ${describe(json)}`);
      return;
    }
    for (const key of Object.keys(json)) {
      if (desc.byName.has(key)) continue;
      const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      this.fail(`${path === '' ? '' : `${path}.`}${key}`, `unknown field of ${desc.name}${snake !== key && desc.byName.has(snake) ? ` (did you mean "${snake}"?)` : ''}`);
    }
    const oneofSet: string[][] = [];
    for (const f of desc.fields) {
      if (!hasOwn(json, f.name)) continue;
      const v = json[f.name];
      const p = path === '' ? f.name : `${path}.${f.name}`;
      if (v === undefined || (v === null && !(isValueField(f) && f.mapKey === 0 && !f.repeated))) continue;
      if (f.oneof >= 0) (oneofSet[f.oneof] ??= []).push(f.name);
      if (f.mapKey !== 0) this.map(f, v, p, depth);
      else if (f.repeated) this.repeated(f, v, p, depth);
      else if (f.kind === Kind.Message) this.write(f, v, p, depth);
      else {
        const s = this.scalar(f, v, p);
        if (s !== undefined && (f.explicit || !isDefault(f.kind, s))) this.write(f, s, p, depth);
      }
    }
    for (const members of oneofSet) {
      if (members !== undefined && members.length > 1) this.fail(path, `${members.join(', ')} are members of one oneof: set one`);
    }
  }

  /** Writes one value of `f` with its tag: a message from its JSON, or a scalar already checked by `scalar`. */
  private write(f: FieldDesc, v: unknown, path: Path, depth: number): void {
    const w = this.w;
    if (f.kind === Kind.Message) {
      w.tag(f.number, Wire.Bytes);
      const mark = w.begin();
      this.body(messageDesc(f.ref), v, path, depth + 1);
      w.end(mark);
      return;
    }
    w.tag(f.number, f.wire);
    writeScalar(w, f.kind, v);
  }

  private repeated(f: FieldDesc, v: unknown, path: Path, depth: number): void {
    if (!Array.isArray(v)) {
      this.fail(path, `expected an array, got ${describe(v)}`);
      return;
    }
    if (v.length === 0) return;
    if (f.packed) {
      const values = v.map((x, i) => this.scalar(f, x, `${path}[${i}]`));
      this.w.tag(f.number, Wire.Bytes);
      const mark = this.w.begin();
      for (const x of values) if (x !== undefined) writeScalar(this.w, f.kind, x);
      this.w.end(mark);
      return;
    }
    v.forEach((x, i) => {
      const p = `${path}[${i}]`;
      if (x === undefined || (x === null && !isValueField(f))) {
        this.fail(p, `list elements may not be ${describe(x)}`);
        return;
      }
      if (f.kind === Kind.Message) this.write(f, x, p, depth);
      else {
        const s = this.scalar(f, x, p);
        if (s !== undefined) this.write(f, s, p, depth);
      }
    });
  }

  private map(f: FieldDesc, v: unknown, path: Path, depth: number): void {
    if (!isPlainObject(v)) {
      this.fail(path, `expected a map (object), got ${describe(v)}`);
      return;
    }
    const keyKind = f.mapKey as Kind;
    const entries: Array<{ key: string; sortKey: Buffer | bigint | number; parsed: unknown }> = [];
    for (const key of Object.keys(v)) {
      const p = `${path}[${JSON.stringify(key)}]`;
      const parsed = mapKey(keyKind, key);
      if (parsed === undefined) {
        this.fail(p, `map key is not a ${kindName(keyKind)}`);
        continue;
      }
      entries.push({ key, parsed, sortKey: keyKind === Kind.String ? Buffer.from(key, 'utf8') : keyKind === Kind.Bool ? (parsed ? 1 : 0) : (parsed as bigint | number) });
    }
    // Deterministic, as protobuf-C++ (Envoy) sorts map entries: strings by their UTF-8 bytes, numbers by value.
    entries.sort((a, b) => (keyKind === Kind.String ? Buffer.compare(a.sortKey as Buffer, b.sortKey as Buffer) : a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    const w = this.w;
    const keyWire = keyKind === Kind.String ? Wire.Bytes : wireOfKey(keyKind);
    const valueField: FieldDesc = { ...f, number: 2, repeated: false, packable: false, packed: false, mapKey: 0 };
    for (const { key, parsed } of entries) {
      const p = `${path}[${JSON.stringify(key)}]`;
      const x = v[key];
      if (x === undefined || (x === null && !isValueField(f))) {
        this.fail(p, `map values may not be ${describe(x)}`);
        continue;
      }
      w.tag(f.number, Wire.Bytes);
      const mark = w.begin();
      w.tag(1, keyWire);
      writeScalar(w, keyKind, parsed);
      if (f.kind === Kind.Message) this.write(valueField, x, p, depth);
      else {
        const s = this.scalar(valueField, x, p);
        if (s !== undefined) this.write(valueField, s, p, depth);
      }
      w.end(mark);
    }
  }

  /** Checks one scalar JSON value of field `f`; returns it normalized (numbers, bigints for 64-bit, bytes), or undefined after recording the problem. */
  scalar(f: FieldDesc, v: unknown, path: Path): unknown {
    const bad = (want: string): undefined => {
      this.fail(path, `expected ${want}, got ${describe(v)}`);
      return undefined;
    };
    switch (f.kind) {
      case Kind.String:
        return typeof v === 'string' ? v : bad('a string');
      case Kind.Bool:
        return typeof v === 'boolean' ? v : bad('a boolean');
      case Kind.Double:
      case Kind.Float: {
        let n: number | undefined;
        if (typeof v === 'number') n = v;
        else if (v === 'NaN') n = NaN;
        else if (v === 'Infinity') n = Infinity;
        else if (v === '-Infinity') n = -Infinity;
        if (n === undefined) return bad('a number (or "NaN", "Infinity", "-Infinity")');
        if (f.kind === Kind.Float && Number.isFinite(n) && !Number.isFinite(Math.fround(n))) return bad('a float (out of range)');
        return n;
      }
      case Kind.Int32:
      case Kind.Sint32:
      case Kind.Sfixed32:
        return Number.isInteger(v) && (v as number) >= -0x80000000 && (v as number) <= 0x7fffffff ? v : bad('an int32');
      case Kind.Uint32:
      case Kind.Fixed32:
        return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff ? v : bad('a uint32');
      case Kind.Int64:
      case Kind.Sint64:
      case Kind.Sfixed64: {
        const b = toBigInt(v);
        return b !== undefined && b >= INT64_MIN && b <= INT64_MAX ? b : bad('an int64 (safe integer or decimal string)');
      }
      case Kind.Uint64:
      case Kind.Fixed64: {
        const b = toBigInt(v);
        return b !== undefined && b >= 0n && b <= UINT64_MAX ? b : bad('a uint64 (non-negative safe integer or decimal string)');
      }
      case Kind.Bytes:
        if (v instanceof Uint8Array) return v;
        return typeof v === 'string' && BASE64.test(v) ? Buffer.from(v, 'base64') : bad('bytes (base64 string or Uint8Array)');
      case Kind.Enum: {
        const e = enumDesc(f.ref);
        if (typeof v === 'string') {
          const n = e.numberOf.get(v);
          if (n !== undefined) return n;
          this.fail(path, `"${v}" is not a value of enum ${e.name}`);
          return undefined;
        }
        return Number.isInteger(v) && (v as number) >= -0x80000000 && (v as number) <= 0x7fffffff ? v : bad(`an enum name of ${e.name}`);
      }
      default:
        return bad('a scalar');
    }
  }

  private any(json: unknown, path: Path, depth: number): void {
    if (!isPlainObject(json)) {
      this.fail(path, `expected an Any object { '@type': ..., ...fields }, got ${describe(json)}`);
      return;
    }
    const url = json['@type'];
    if (typeof url !== 'string') {
      this.fail(path, `an Any needs '@type' as a string (type.googleapis.com/<message>), got ${describe(url)}`);
      return;
    }
    const { '@type': _omit, ...rest } = json;
    const name = url.slice(url.lastIndexOf('/') + 1);
    const inner = url === '' ? undefined : findMessage(name);
    const w = this.w;
    if (url !== '') this.stringField(1, url);
    const p = `${path}<${inner?.name ?? (url || 'no type')}>`;
    if (inner === undefined) {
      // A type the schema does not hold travels as the bytes decode.ts printed: { '@type', value: base64 }.
      const keys = Object.keys(rest);
      const value = rest.value;
      if (keys.length > 1 || (keys.length === 1 && keys[0] !== 'value') || (value !== undefined && (typeof value !== 'string' || !BASE64.test(value)))) {
        this.fail(path, `Any '@type' ${JSON.stringify(url)} is not a message type in the wire schema; only { '@type', value: <base64> } can be written for it`);
        return;
      }
      if (typeof value === 'string' && value !== '') {
        w.tag(2, Wire.Bytes);
        w.bytes(Buffer.from(value, 'base64'));
      }
      return;
    }
    // proto3 JSON: a well-known type nests its JSON under "value". decode.ts (as anyJson) spreads
    // the JSON of an Empty, and of a Value holding an object, so those are read either way.
    const keys = Object.keys(rest);
    const valueOnly = keys.length === 1 && keys[0] === 'value';
    const nested = inner.wkt === Wkt.None ? false : inner.wkt === Wkt.Value || inner.wkt === Wkt.Empty ? valueOnly : true;
    if (nested && !valueOnly) {
      this.fail(path, `an Any of ${inner.name} is written { '@type', value: ... }`);
      return;
    }
    w.tag(2, Wire.Bytes);
    const mark = w.begin();
    this.body(inner, nested ? rest.value : rest, p, depth + 1);
    w.end(mark);
  }

  private duration(json: unknown, path: Path): void {
    const m = typeof json === 'string' ? DURATION.exec(json) : null;
    if (m === null) {
      this.fail(path, `expected a Duration string ("1.5s"), got ${describe(json)}`);
      return;
    }
    const negative = m[1] === '-';
    const seconds = BigInt(m[2]!);
    if (seconds > MAX_DURATION_SECONDS) {
      this.fail(path, `Duration ${json as string} is out of range (±${MAX_DURATION_SECONDS}s)`);
      return;
    }
    const nanos = m[3] === undefined ? 0 : Number(m[3].padEnd(9, '0'));
    this.secondsNanos(negative ? -seconds : seconds, negative ? -nanos : nanos);
  }

  private timestamp(json: unknown, path: Path): void {
    const m = typeof json === 'string' ? TIMESTAMP.exec(json) : null;
    const ms = m === null ? NaN : Date.parse(`${m[1]}${m[3] === 'z' ? 'Z' : m[3]}`);
    if (m === null || Number.isNaN(ms)) {
      this.fail(path, `expected an RFC 3339 Timestamp string ("2024-01-01T00:00:00Z"), got ${describe(json)}`);
      return;
    }
    this.secondsNanos(BigInt(ms / 1000), m[2] === undefined ? 0 : Number(m[2].padEnd(9, '0')));
  }

  private secondsNanos(seconds: bigint, nanos: number): void {
    if (seconds !== 0n) {
      this.w.tag(1, Wire.Varint);
      writeScalar(this.w, Kind.Int64, seconds);
    }
    if (nanos !== 0) {
      this.w.tag(2, Wire.Varint);
      writeScalar(this.w, Kind.Int32, nanos);
    }
  }

  /** google.protobuf.Struct's body from a plain object: entries sorted by key's UTF-8 bytes. */
  private struct(json: unknown, path: Path, depth: number): void {
    if (!isPlainObject(json)) {
      this.fail(path, `expected a Struct (a plain object), got ${describe(json)}`);
      return;
    }
    const keys = Object.keys(json).map((k) => ({ k, b: Buffer.from(k, 'utf8') }));
    keys.sort((a, b) => Buffer.compare(a.b, b.b));
    const w = this.w;
    for (const { k } of keys) {
      w.tag(1, Wire.Bytes);
      const entry = w.begin();
      this.stringField(1, k);
      w.tag(2, Wire.Bytes);
      const value = w.begin();
      this.value(json[k], `${path}[${JSON.stringify(k)}]`, depth + 1);
      w.end(value);
      w.end(entry);
    }
  }

  /** google.protobuf.Value's body from any JSON value (undefined as null, as a JSON Struct has no undefined). */
  private value(json: unknown, path: Path, depth: number): void {
    if (depth > MAX_DEPTH) {
      this.fail(path, `nested deeper than ${MAX_DEPTH} messages`);
      return;
    }
    const w = this.w;
    if (json === null || json === undefined) {
      w.tag(1, Wire.Varint);
      w.uint32(0);
    } else if (typeof json === 'number') {
      w.tag(2, Wire.Fixed64);
      w.double(json);
    } else if (typeof json === 'string') {
      this.stringField(3, json);
    } else if (typeof json === 'boolean') {
      w.tag(4, Wire.Varint);
      w.uint32(json ? 1 : 0);
    } else if (Array.isArray(json)) {
      w.tag(6, Wire.Bytes);
      const mark = w.begin();
      this.list(json, path, depth + 1);
      w.end(mark);
    } else if (isPlainObject(json)) {
      w.tag(5, Wire.Bytes);
      const mark = w.begin();
      this.struct(json, path, depth + 1);
      w.end(mark);
    } else this.fail(path, `a ${describe(json)} is not JSON (google.protobuf.Value)`);
  }

  private list(json: unknown, path: Path, depth: number): void {
    if (!Array.isArray(json)) {
      this.fail(path, `expected a ListValue (an array), got ${describe(json)}`);
      return;
    }
    const w = this.w;
    json.forEach((x, i) => {
      w.tag(1, Wire.Bytes);
      const mark = w.begin();
      this.value(x, `${path}[${i}]`, depth + 1);
      w.end(mark);
    });
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const MAX_DURATION_SECONDS = 315576000000n;
const DECIMAL = /^-?[0-9]+$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DURATION = /^(-)?([0-9]+)(?:\.([0-9]{1,9}))?s$/;
/** RFC 3339 with an optional 1–9 digit fraction; group 1 the date-time to the second, 2 the fraction, 3 the zone. */
const TIMESTAMP = /^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?(Z|z|[+-][0-9]{2}:[0-9]{2})$/;

function toBigInt(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string' && DECIMAL.test(v)) return BigInt(v);
  return undefined;
}

function isValueField(f: FieldDesc): boolean {
  return f.kind === Kind.Message && messageDesc(f.ref).wkt === Wkt.Value;
}

function kindName(kind: Kind): string {
  return (Object.keys(Kind) as (keyof typeof Kind)[]).find((k) => Kind[k] === kind)!.toLowerCase();
}

function wireOfKey(kind: Kind): Wire {
  return kind === Kind.Fixed32 || kind === Kind.Sfixed32 ? Wire.Fixed32 : kind === Kind.Fixed64 || kind === Kind.Sfixed64 ? Wire.Fixed64 : Wire.Varint;
}

/** A map key from its JSON (object key) form; undefined when it is not one of `kind`. */
function mapKey(kind: Kind, key: string): unknown {
  switch (kind) {
    case Kind.String:
      return key;
    case Kind.Bool:
      return key === 'true' ? true : key === 'false' ? false : undefined;
    case Kind.Int32:
    case Kind.Sint32:
    case Kind.Sfixed32: {
      const n = DECIMAL.test(key) ? Number(key) : NaN;
      return n >= -0x80000000 && n <= 0x7fffffff ? n : undefined;
    }
    case Kind.Uint32:
    case Kind.Fixed32: {
      const n = DECIMAL.test(key) ? Number(key) : NaN;
      return n >= 0 && n <= 0xffffffff ? n : undefined;
    }
    case Kind.Uint64:
    case Kind.Fixed64: {
      const b = DECIMAL.test(key) ? BigInt(key) : undefined;
      return b !== undefined && b >= 0n && b <= UINT64_MAX ? b : undefined;
    }
    default: {
      const b = DECIMAL.test(key) ? BigInt(key) : undefined;
      return b !== undefined && b >= INT64_MIN && b <= INT64_MAX ? b : undefined;
    }
  }
}

/** Whether a normalized scalar is its type's default (not written for implicit presence). */
function isDefault(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case Kind.String:
      return v === '';
    case Kind.Bytes:
      return (v as Uint8Array).length === 0;
    case Kind.Bool:
      return v === false;
    case Kind.Int64:
    case Kind.Uint64:
    case Kind.Sint64:
    case Kind.Fixed64:
    case Kind.Sfixed64:
      return v === 0n;
    default:
      return v === 0; // -0 too: the decoder prints it as absent
  }
}

const MASK_32 = 0xffffffffn;

/** Writes one normalized scalar (no tag). */
function writeScalar(w: WireWriter, kind: Kind, v: unknown): void {
  switch (kind) {
    case Kind.String:
      w.string(v as string);
      return;
    case Kind.Bytes:
      w.bytes(v as Uint8Array);
      return;
    case Kind.Bool:
      w.uint32(v ? 1 : 0);
      return;
    case Kind.Int32:
    case Kind.Enum: {
      const n = v as number;
      // Negative values are sign-extended to 64 bits (ten bytes), as protobuf writes them.
      if (n < 0) w.varint64(n, 0xffffffff);
      else w.uint32(n);
      return;
    }
    case Kind.Uint32:
      w.uint32(v as number);
      return;
    case Kind.Sint32: {
      const n = v as number;
      w.uint32(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    case Kind.Fixed32:
      w.fixed32(v as number);
      return;
    case Kind.Sfixed32:
      w.fixed32((v as number) >>> 0);
      return;
    case Kind.Double:
      w.double(v as number);
      return;
    case Kind.Float:
      w.float(v as number);
      return;
    case Kind.Int64:
    case Kind.Uint64: {
      const u = BigInt.asUintN(64, v as bigint);
      w.varint64(Number(u & MASK_32), Number(u >> 32n));
      return;
    }
    case Kind.Sint64: {
      const b = v as bigint;
      const z = b >= 0n ? b << 1n : (-b << 1n) - 1n;
      w.varint64(Number(z & MASK_32), Number(z >> 32n));
      return;
    }
    case Kind.Fixed64:
    case Kind.Sfixed64: {
      const u = BigInt.asUintN(64, v as bigint);
      w.fixed64(Number(u & MASK_32), Number(u >> 32n));
      return;
    }
    default:
      throw new MeshError('MESH_INTERNAL', `wire codec: kind ${kind} is not a scalar`);
  }
}

/**
 * Encodes `json` (proto3 JSON, see above) as message `typeName` (full name, e.g.
 * `envoy.service.discovery.v3.DiscoveryRequest`). Throws MESH_INVALID_CONFIG naming every
 * offending path (`node.metadata["k"]: …`) for an unknown field, a value of the wrong JSON type, an
 * unknown enum name or an out-of-range number; MESH_USAGE for a type the schema does not hold.
 * The returned Buffer is the caller's.
 */
export function encodeWireMessage(typeName: string, json: unknown): Buffer {
  const desc = findMessage(typeName);
  if (desc === undefined) throw new MeshError('MESH_USAGE', `unknown protobuf message type ${typeName}`);
  const enc = new Encoder(new WireWriter());
  enc.body(desc, json, '', 0);
  if (enc.errors.length > 0) {
    const shown = enc.errors.slice(0, 20).join('; ');
    throw new MeshError('MESH_INVALID_CONFIG', `cannot encode ${desc.name}: ${shown}${enc.errors.length > 20 ? `; … ${enc.errors.length - 20} more` : ''}`);
  }
  return enc.w.finish();
}
