// The wire codec's view of the generated schema: message and enum descriptors, compiled from their compact text on first use.
import { MeshError } from '../../shared/errors.js';
import { ENUMS, MESSAGES, NOT_IN_ANY } from './schema.generated.js';

/*
 * Optimization: the schema is ~600 strings; a sidecar touches perhaps a hundred of them. Each is
 * compiled into a descriptor the first time a message of that type is read or written, and the
 * descriptor is kept for the life of the process (the set is bounded by the schema).
 */

/** Scalar kinds by their schema letter (see SCALAR_CODES in scripts/gen-wire-schema.ts). */
export const Kind = {
  Double: 1,
  Float: 2,
  Int64: 3,
  Uint64: 4,
  Int32: 5,
  Fixed64: 6,
  Fixed32: 7,
  Bool: 8,
  String: 9,
  Bytes: 10,
  Uint32: 11,
  Sfixed32: 12,
  Sfixed64: 13,
  Sint32: 14,
  Sint64: 15,
  Enum: 16,
  Message: 17,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

const KIND_OF_CODE: Readonly<Record<string, Kind>> = {
  d: Kind.Double,
  f: Kind.Float,
  x: Kind.Int64,
  X: Kind.Uint64,
  i: Kind.Int32,
  G: Kind.Fixed64,
  g: Kind.Fixed32,
  b: Kind.Bool,
  s: Kind.String,
  y: Kind.Bytes,
  u: Kind.Uint32,
  h: Kind.Sfixed32,
  H: Kind.Sfixed64,
  z: Kind.Sint32,
  Z: Kind.Sint64,
};

/** Protobuf wire types. */
export const Wire = {
  Varint: 0,
  Fixed64: 1,
  Bytes: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;
export type Wire = (typeof Wire)[keyof typeof Wire];

/** The wire type a (non-packed) value of `kind` travels as. */
export function wireOf(kind: Kind): Wire {
  switch (kind) {
    case Kind.Double:
    case Kind.Fixed64:
    case Kind.Sfixed64:
      return Wire.Fixed64;
    case Kind.Float:
    case Kind.Fixed32:
    case Kind.Sfixed32:
      return Wire.Fixed32;
    case Kind.String:
    case Kind.Bytes:
    case Kind.Message:
      return Wire.Bytes;
    default:
      return Wire.Varint;
  }
}

/** Well-known types with a JSON form of their own (proto3 JSON mapping, as `messageJson` in src/xds/encode.ts prints them). */
export const Wkt = {
  None: 0,
  Any: 1,
  Duration: 2,
  Timestamp: 3,
  Struct: 4,
  Value: 5,
  ListValue: 6,
  Empty: 7,
  FieldMask: 8,
  /** google.protobuf.{Double,Float,Int64,UInt64,Int32,UInt32,Bool,String,Bytes}Value. */
  Wrapper: 9,
} as const;
export type Wkt = (typeof Wkt)[keyof typeof Wkt];

const WKT_OF_NAME: ReadonlyMap<string, Wkt> = new Map([
  ['google.protobuf.Any', Wkt.Any],
  ['google.protobuf.Duration', Wkt.Duration],
  ['google.protobuf.Timestamp', Wkt.Timestamp],
  ['google.protobuf.Struct', Wkt.Struct],
  ['google.protobuf.Value', Wkt.Value],
  ['google.protobuf.ListValue', Wkt.ListValue],
  ['google.protobuf.Empty', Wkt.Empty],
  ['google.protobuf.FieldMask', Wkt.FieldMask],
  ...['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((n): [string, Wkt] => [`google.protobuf.${n}Value`, Wkt.Wrapper]),
]);

export interface FieldDesc {
  /** Proto field name (what JSON keys are). */
  readonly name: string;
  readonly number: number;
  /** Position in the message's `fields` (declaration order). */
  readonly slot: number;
  /** The value's kind (for a map, the value's). */
  readonly kind: Kind;
  /** Message or enum index for Kind.Message / Kind.Enum; -1 otherwise. */
  readonly ref: number;
  /** The wire type of one (unpacked) value. */
  readonly wire: Wire;
  readonly repeated: boolean;
  /** Repeated numeric or enum values: may arrive packed (wire type 2) or one per tag. */
  readonly packable: boolean;
  /** Written packed: a packable field of a proto3 file (unless `[packed = false]`) or with `[packed = true]`. */
  readonly packed: boolean;
  /** Map key kind (a scalar), or 0 when not a map. */
  readonly mapKey: Kind | 0;
  /** Index of the oneof this field belongs to (proto3 `optional` is a one-member oneof), or -1. */
  readonly oneof: number;
  /** Explicit presence: printed and written when set, even to the default. */
  readonly explicit: boolean;
  /** proto2 `required`. */
  readonly required: boolean;
}

export interface MessageDesc {
  readonly index: number;
  /** Full name without a leading dot. */
  readonly name: string;
  readonly wkt: Wkt;
  /** Declaration order. */
  readonly fields: readonly FieldDesc[];
  readonly byNumber: ReadonlyMap<number, FieldDesc>;
  readonly byName: ReadonlyMap<string, FieldDesc>;
  /** Slots of each oneof's members, by oneof index. */
  readonly oneofSlots: readonly (readonly number[])[];
  /** Required fields (proto2), usually none. */
  readonly required: readonly FieldDesc[];
}

export interface EnumDesc {
  readonly index: number;
  readonly name: string;
  /** Number → the name printed for it (with aliases, the one protobufjs' valuesById keeps). */
  readonly nameOf: ReadonlyMap<number, string>;
  /** Name → number, every declared name. */
  readonly numberOf: ReadonlyMap<string, number>;
}

const messages: (MessageDesc | undefined)[] = new Array(MESSAGES.length);
const enums: (EnumDesc | undefined)[] = new Array(ENUMS.length);
const notInAny = new Set(NOT_IN_ANY);

function nameOfEntry(entry: string): string {
  const semi = entry.indexOf(';');
  return semi < 0 ? entry : entry.slice(0, semi);
}

/** Index of message `fullName` (no leading dot), by binary search over the sorted schema; -1 when unknown. */
export function messageIndex(fullName: string): number {
  let lo = 0;
  let hi = MESSAGES.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const name = nameOfEntry(MESSAGES[mid]!);
    if (name === fullName) return mid;
    if (name < fullName) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Number of message types in the schema. */
export const MESSAGE_COUNT = MESSAGES.length;

function compileField(text: string, slot: number, owner: string): FieldDesc {
  const eq = text.indexOf('=');
  const name = text.slice(0, eq);
  let i = eq + 1;
  let number = 0;
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) number = number * 10 + (text.charCodeAt(i++) - 48);
  let mapKey: Kind | 0 = 0;
  if (text[i] === 'M') {
    mapKey = KIND_OF_CODE[text[i + 1]!]!;
    i += 2;
  }
  let kind: Kind;
  let ref = -1;
  const c = text[i++]!;
  if (c === 'm' || c === 'e') {
    kind = c === 'm' ? Kind.Message : Kind.Enum;
    ref = 0;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) ref = ref * 10 + (text.charCodeAt(i++) - 48);
  } else {
    const k = KIND_OF_CODE[c];
    if (k === undefined) throw new MeshError('MESH_INTERNAL', `wire schema: bad kind "${c}" in ${owner}.${name}`);
    kind = k;
  }
  let repeated = mapKey !== 0;
  let oneof = -1;
  let explicit = false;
  let required = false;
  let unpacked = false;
  while (i < text.length) {
    const flag = text[i++];
    if (flag === '*') repeated = true;
    else if (flag === '~') unpacked = true;
    else if (flag === '!') required = true;
    else if (flag === '?') {
      explicit = true;
      if (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) {
        oneof = 0;
        while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) oneof = oneof * 10 + (text.charCodeAt(i++) - 48);
      }
    } else throw new MeshError('MESH_INTERNAL', `wire schema: bad flag "${flag}" in ${owner}.${name}`);
  }
  const wire = wireOf(kind);
  const packable = repeated && mapKey === 0 && wire !== Wire.Bytes;
  return {
    name,
    number,
    slot,
    kind,
    ref,
    wire,
    repeated,
    packable,
    packed: packable && !unpacked,
    mapKey,
    oneof,
    explicit,
    required,
  };
}

/** The descriptor of message `index` (compiled on first use). */
export function messageDesc(index: number): MessageDesc {
  let desc = messages[index];
  if (desc === undefined) {
    const entry = MESSAGES[index];
    if (entry === undefined) throw new MeshError('MESH_INTERNAL', `wire schema: no message #${index}`);
    const parts = entry.split(';');
    const name = parts[0]!;
    const fields = parts.slice(1).map((p, slot) => compileField(p, slot, name));
    const oneofSlots: number[][] = [];
    for (const f of fields) if (f.oneof >= 0) (oneofSlots[f.oneof] ??= []).push(f.slot);
    for (let o = 0; o < oneofSlots.length; o++) oneofSlots[o] ??= [];
    desc = {
      index,
      name,
      wkt: WKT_OF_NAME.get(name) ?? Wkt.None,
      fields,
      byNumber: new Map(fields.map((f) => [f.number, f])),
      byName: new Map(fields.map((f) => [f.name, f])),
      oneofSlots,
      required: fields.filter((f) => f.required),
    };
    messages[index] = desc;
  }
  return desc;
}

/** The descriptor of message `fullName` (no leading dot); undefined when the schema has no such message. */
export function findMessage(fullName: string): MessageDesc | undefined {
  const i = messageIndex(fullName.startsWith('.') ? fullName.slice(1) : fullName);
  return i < 0 ? undefined : messageDesc(i);
}

const anyTypes = new Map<string, MessageDesc | null>();
/** Bounds the Any lookup cache: type URLs come from the peer, so a hostile one could vary them forever. */
const MAX_ANY_CACHE = 1024;

/**
 * The message an Any's type URL names, as `envoyProtos().findType(typeNameOfUrl(url))` resolves
 * it: the text after the last '/', a full name with or without a leading dot. Messages the
 * schema holds but envoyProtos() does not load (the Istio CA's) are not resolved.
 */
export function anyMessage(typeUrl: string): MessageDesc | undefined {
  let found = anyTypes.get(typeUrl);
  if (found === undefined) {
    const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    const i = messageIndex(name.startsWith('.') ? name.slice(1) : name);
    found = i < 0 || notInAny.has(i) ? null : messageDesc(i);
    if (anyTypes.size >= MAX_ANY_CACHE) anyTypes.clear();
    anyTypes.set(typeUrl, found);
  }
  return found ?? undefined;
}

/** The descriptor of enum `index` (compiled on first use). */
export function enumDesc(index: number): EnumDesc {
  let desc = enums[index];
  if (desc === undefined) {
    const entry = ENUMS[index];
    if (entry === undefined) throw new MeshError('MESH_INTERNAL', `wire schema: no enum #${index}`);
    const parts = entry.split(';');
    const nameOf = new Map<number, string>();
    const numberOf = new Map<string, number>();
    let previous = -1;
    for (const p of parts.slice(1)) {
      const eq = p.indexOf('=');
      const valueName = eq < 0 ? p : p.slice(0, eq);
      const n = eq < 0 ? previous + 1 : Number(p.slice(eq + 1));
      if (!nameOf.has(n)) nameOf.set(n, valueName);
      numberOf.set(valueName, n);
      previous = n;
    }
    desc = { index, name: parts[0]!, nameOf, numberOf };
    enums[index] = desc;
  }
  return desc;
}
