// Bounds-checked reading of protobuf wire primitives (varints, fixed-width numbers, length-delimited ranges) from a Buffer.
import { MeshError } from '../../shared/errors.js';
import { Wire } from './schema.js';

/**
 * A cursor over protobuf bytes. Every read takes the limit of the message being read (`end`), so
 * a value that runs past its message, not only past the buffer, is refused: protobuf-C++ refuses
 * it, and protobufjs' Buffer reader would clamp a string to the end instead.
 */
export class WireReader {
  pos = 0;
  /** High 32 bits of the last varint read (`varint` returns the low 32). */
  hi = 0;
  /** The message being read, for error messages. */
  typeName = '';
  /** Any values are returned as `{ type_url, value }` with `value` a view of the input (see decodeWireMessage). */
  rawAny = false;

  constructor(readonly buf: Buffer) {}

  /** A MESH_PARSE_ERROR naming what is wrong, where, and in which message. */
  malformed(what: string, at = this.pos): MeshError {
    return new MeshError('MESH_PARSE_ERROR', `invalid protobuf${this.typeName ? ` ${this.typeName}` : ''}: ${what} at byte ${at}`);
  }
}

/**
 * Reads a varint (at most 10 bytes) ending before `end`; returns its low 32 bits (unsigned) and
 * leaves the high 32 in `r.hi`.
 */
export function varint(r: WireReader, end: number): number {
  const buf = r.buf;
  let pos = r.pos;
  if (pos >= end) throw r.malformed('truncated varint');
  let b = buf[pos++]!;
  if (b < 0x80) {
    r.pos = pos;
    r.hi = 0;
    return b;
  }
  const start = pos - 1;
  let lo = b & 0x7f;
  let hi = 0;
  for (let shift = 7; shift < 28; shift += 7) {
    if (pos >= end) throw r.malformed('truncated varint', start);
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      r.pos = pos;
      r.hi = 0;
      return lo >>> 0;
    }
  }
  // 5th byte: 4 bits for lo, 3 for hi.
  if (pos >= end) throw r.malformed('truncated varint', start);
  b = buf[pos++]!;
  lo |= (b & 0x0f) << 28;
  hi = (b & 0x7f) >>> 4;
  if (b >= 0x80) {
    for (let shift = 3; ; shift += 7) {
      if (pos >= end) throw r.malformed('truncated varint', start);
      b = buf[pos++]!;
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) break;
      if (shift >= 31) throw r.malformed('invalid varint (more than 10 bytes)', start);
    }
  }
  r.pos = pos;
  r.hi = hi >>> 0;
  return lo >>> 0;
}

/** Reads a length prefix and checks the range it announces ends by `end`; returns the range's end. */
export function lengthEnd(r: WireReader, end: number): number {
  const at = r.pos;
  const len = varint(r, end);
  if (r.hi !== 0 || len > end - r.pos) throw r.malformed(`length ${r.hi !== 0 ? '≥ 2^32' : len} runs past the end of its message (${end - r.pos} bytes left)`, at);
  return r.pos + len;
}

/** Checks `n` more bytes are there before `end`; returns where they start. */
export function fixed(r: WireReader, n: number, end: number): number {
  const at = r.pos;
  if (end - at < n) throw r.malformed(`truncated ${n * 8}-bit value`);
  r.pos = at + n;
  return at;
}

/** Reads a tag; returns it (field number << 3 | wire type). Field number 0 and tags beyond 32 bits are refused. */
export function tag(r: WireReader, end: number): number {
  const at = r.pos;
  const t = varint(r, end);
  if (r.hi !== 0 || t >>> 3 === 0) throw r.malformed(`invalid tag (field number ${r.hi !== 0 ? 'too large' : 0})`, at);
  return t;
}

/**
 * Skips one value of wire type `wire`. Groups (wire types 3 and 4, proto2 only, absent from every
 * message the schema holds) are refused, as are wire types 6 and 7.
 */
export function skip(r: WireReader, wire: number, end: number): void {
  switch (wire) {
    case Wire.Varint:
      varint(r, end);
      return;
    case Wire.Fixed64:
      fixed(r, 8, end);
      return;
    case Wire.Bytes:
      r.pos = lengthEnd(r, end);
      return;
    case Wire.Fixed32:
      fixed(r, 4, end);
      return;
    case Wire.StartGroup:
    case Wire.EndGroup:
      throw r.malformed(`group (wire type ${wire}) is not supported`);
    default:
      throw r.malformed(`invalid wire type ${wire}`);
  }
}

const TWO_32 = 4294967296;

/** Decimal string of the unsigned 64-bit value hi:lo. */
export function uint64String(lo: number, hi: number): string {
  if (hi === 0) return String(lo);
  if (hi < 0x200000) return String(hi * TWO_32 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/** Decimal string of the signed (two's complement) 64-bit value hi:lo. */
export function int64String(lo: number, hi: number): string {
  if (hi < 0x80000000) return uint64String(lo, hi);
  // Negative: exact in a double down to -2^53.
  if (hi >= 0xffe00000) return String((hi | 0) * TWO_32 + lo);
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/** Decimal string of the zigzag-encoded 64-bit value hi:lo. */
export function sint64String(lo: number, hi: number): string {
  const mask = -(lo & 1);
  return int64String((((lo >>> 1) | (hi << 31)) ^ mask) >>> 0, ((hi >>> 1) ^ mask) >>> 0);
}
