// xxHash64 (XXH64) of strings, computed on 32-bit halves so hashing a request key allocates nothing; the hash consistent-hash balancers and hash policies share.
//
// The algorithm is the public XXH64 specification (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md),
// the hash Envoy uses for its ring-hash and Maglev tables. Strings are hashed as their UTF-8 bytes.
// Optimization: 64-bit words are kept as (hi, lo) pairs of uint32 in plain numbers and results are
// returned through a two-word register array, so a hash costs no BigInt and no allocation.

const P1H = 0x9e3779b1;
const P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d;
const P2L = 0x27d4eb4f;
const P3H = 0x165667b1;
const P3L = 0x9e3779f9;
const P4H = 0x85ebca77;
const P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f;
const P5L = 0x165667c5;
const TWO32 = 4294967296;

/**
 * Result registers of the 64-bit helpers below: [hi, lo].
 * Optimization: a typed array rather than two module `let`s, whose every access V8 guards for the
 * temporal dead zone — this halves the cost of a hash.
 */
const R = new Uint32Array(2);

/**
 * (ah,al) × (bh,bl) mod 2^64, on 16-bit limbs so every intermediate stays below 2^32 and the engine
 * keeps it in integer registers (the schoolbook method Long.js uses).
 */
function mul(ah: number, al: number, bh: number, bl: number): void {
  const a48 = ah >>> 16;
  const a32 = ah & 0xffff;
  const a16 = al >>> 16;
  const a00 = al & 0xffff;
  const b48 = bh >>> 16;
  const b32 = bh & 0xffff;
  const b16 = bl >>> 16;
  const b00 = bl & 0xffff;
  let c00 = a00 * b00;
  let c16 = c00 >>> 16;
  c00 &= 0xffff;
  c16 += a16 * b00;
  let c32 = c16 >>> 16;
  c16 &= 0xffff;
  c16 += a00 * b16;
  c32 += c16 >>> 16;
  c16 &= 0xffff;
  c32 += a32 * b00;
  let c48 = c32 >>> 16;
  c32 &= 0xffff;
  c32 += a16 * b16;
  c48 += c32 >>> 16;
  c32 &= 0xffff;
  c32 += a00 * b32;
  c48 += c32 >>> 16;
  c32 &= 0xffff;
  c48 += a48 * b00 + a32 * b16 + a16 * b32 + a00 * b48;
  c48 &= 0xffff;
  R[0] = ((c48 << 16) | c32) >>> 0;
  R[1] = ((c16 << 16) | c00) >>> 0;
}

function add(ah: number, al: number, bh: number, bl: number): void {
  const l = al + bl;
  R[1] = l >>> 0;
  R[0] = (ah + bh + (l >= TWO32 ? 1 : 0)) >>> 0;
}

/** Rotate left by 0 < r < 32. */
function rotl(h: number, l: number, r: number): void {
  R[0] = ((h << r) | (l >>> (32 - r))) >>> 0;
  R[1] = ((l << r) | (h >>> (32 - r))) >>> 0;
}

/** XXH64 round: acc = rotl(acc + lane × P2, 31) × P1. */
function round(ah: number, al: number, lh: number, ll: number): void {
  mul(lh, ll, P2H, P2L);
  add(ah, al, R[0]!, R[1]!);
  rotl(R[0]!, R[1]!, 31);
  mul(R[0]!, R[1]!, P1H, P1L);
}

/** acc = (acc ^ round(0, v)) × P1 + P4. */
function mergeRound(ah: number, al: number, vh: number, vl: number): void {
  round(0, 0, vh, vl);
  mul((ah ^ R[0]!) >>> 0, (al ^ R[1]!) >>> 0, P1H, P1L);
  add(R[0]!, R[1]!, P4H, P4L);
}

function u32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

/** -P1 mod 2^64, the initial value of the fourth accumulator for seed 0 (v4 = seed − P1). */
const NEG_P1H = (~P1H + (((~P1L >>> 0) + 1) >= TWO32 ? 1 : 0)) >>> 0;
const NEG_P1L = ((~P1L >>> 0) + 1) >>> 0;

/** XXH64 of bytes[0, len) with a seed < 2^32; the result is left in R (hi, lo). */
function xxh64(b: Uint8Array, len: number, seed: number): void {
  let p = 0;
  let hh: number;
  let hl: number;
  if (len >= 32) {
    add(0, seed, P1H, P1L);
    add(R[0]!, R[1]!, P2H, P2L);
    let v1h = R[0]!;
    let v1l = R[1]!;
    add(0, seed, P2H, P2L);
    let v2h = R[0]!;
    let v2l = R[1]!;
    let v3h = 0;
    let v3l = seed >>> 0;
    add(0, seed, NEG_P1H, NEG_P1L);
    let v4h = R[0]!;
    let v4l = R[1]!;
    const limit = len - 32;
    while (p <= limit) {
      round(v1h, v1l, u32(b, p + 4), u32(b, p));
      v1h = R[0]!;
      v1l = R[1]!;
      round(v2h, v2l, u32(b, p + 12), u32(b, p + 8));
      v2h = R[0]!;
      v2l = R[1]!;
      round(v3h, v3l, u32(b, p + 20), u32(b, p + 16));
      v3h = R[0]!;
      v3l = R[1]!;
      round(v4h, v4l, u32(b, p + 28), u32(b, p + 24));
      v4h = R[0]!;
      v4l = R[1]!;
      p += 32;
    }
    rotl(v1h, v1l, 1);
    hh = R[0]!;
    hl = R[1]!;
    rotl(v2h, v2l, 7);
    add(hh, hl, R[0]!, R[1]!);
    hh = R[0]!;
    hl = R[1]!;
    rotl(v3h, v3l, 12);
    add(hh, hl, R[0]!, R[1]!);
    hh = R[0]!;
    hl = R[1]!;
    rotl(v4h, v4l, 18);
    add(hh, hl, R[0]!, R[1]!);
    mergeRound(R[0]!, R[1]!, v1h, v1l);
    mergeRound(R[0]!, R[1]!, v2h, v2l);
    mergeRound(R[0]!, R[1]!, v3h, v3l);
    mergeRound(R[0]!, R[1]!, v4h, v4l);
    hh = R[0]!;
    hl = R[1]!;
  } else {
    add(0, seed, P5H, P5L);
    hh = R[0]!;
    hl = R[1]!;
  }
  add(hh, hl, 0, len);
  hh = R[0]!;
  hl = R[1]!;
  while (p + 8 <= len) {
    round(0, 0, u32(b, p + 4), u32(b, p));
    rotl((hh ^ R[0]!) >>> 0, (hl ^ R[1]!) >>> 0, 27);
    mul(R[0]!, R[1]!, P1H, P1L);
    add(R[0]!, R[1]!, P4H, P4L);
    hh = R[0]!;
    hl = R[1]!;
    p += 8;
  }
  if (p + 4 <= len) {
    mul(0, u32(b, p), P1H, P1L);
    rotl((hh ^ R[0]!) >>> 0, (hl ^ R[1]!) >>> 0, 23);
    mul(R[0]!, R[1]!, P2H, P2L);
    add(R[0]!, R[1]!, P3H, P3L);
    hh = R[0]!;
    hl = R[1]!;
    p += 4;
  }
  while (p < len) {
    mul(0, b[p]!, P5H, P5L);
    rotl((hh ^ R[0]!) >>> 0, (hl ^ R[1]!) >>> 0, 11);
    mul(R[0]!, R[1]!, P1H, P1L);
    hh = R[0]!;
    hl = R[1]!;
    p++;
  }
  // Avalanche.
  hl = (hl ^ (hh >>> 1)) >>> 0; // h ^= h >> 33
  mul(hh, hl, P2H, P2L);
  hh = R[0]!;
  hl = (R[1]! ^ ((R[1]! >>> 29) | (R[0]! << 3))) >>> 0; // h ^= h >> 29
  hh = (hh ^ (hh >>> 29)) >>> 0;
  mul(hh, hl, P3H, P3L);
  R[1] = (R[1]! ^ R[0]!) >>> 0; // h ^= h >> 32
}

/** Reused UTF-8 buffer; grows to the longest key seen. */
let scratch = new Uint8Array(256);

/** Writes `s` as UTF-8 into `scratch` (lone surrogates become U+FFFD, as TextEncoder does); returns the byte length. */
function utf8(s: string): number {
  const n = s.length;
  if (scratch.length < n * 3) scratch = new Uint8Array(Math.max(n * 3, scratch.length * 2));
  const b = scratch;
  let o = 0;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      b[o++] = c;
    } else if (c < 0x800) {
      b[o++] = 0xc0 | (c >> 6);
      b[o++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          b[o++] = 0xf0 | (c >> 18);
          b[o++] = 0x80 | ((c >> 12) & 0x3f);
          b[o++] = 0x80 | ((c >> 6) & 0x3f);
          b[o++] = 0x80 | (c & 0x3f);
          continue;
        }
        c = 0xfffd;
      }
      b[o++] = 0xe0 | (c >> 12);
      b[o++] = 0x80 | ((c >> 6) & 0x3f);
      b[o++] = 0x80 | (c & 0x3f);
    }
  }
  return o;
}

/** The largest value hashKey returns, plus one: hashes live in [0, 2^53). */
export const HASH_SPACE = 2 ** 53;

/**
 * The request hash of a key (header value, cookie, source IP…): the top 53 bits of XXH64(UTF-8 of s,
 * seed 0), an integer in [0, 2^53). Routers pass it as PickContext.hash.
 * Optimization: 53 bits, not 64, so ring lookups compare doubles rather than BigInts; with at most
 * 2^23 ring entries the lost bits cost no spread.
 */
export function hashKey(s: string): number {
  const len = utf8(s); // before reading `scratch`, which utf8 may replace
  xxh64(scratch, len, 0);
  return R[0]! * 2097152 + (R[1]! >>> 11);
}

/** XXH64(UTF-8 of s, seed) mod m, for m < 2^21 (Maglev offsets and skips). */
export function hashMod(s: string, seed: number, m: number): number {
  const len = utf8(s);
  xxh64(scratch, len, seed);
  return ((R[0]! % m) * (TWO32 % m) + R[1]!) % m;
}

/** The full 64-bit XXH64 of the UTF-8 bytes of `s` (seed < 2^32), as a bigint: for tests and diagnostics, not the hot path. */
export function xxHash64(s: string, seed = 0): bigint {
  const len = utf8(s);
  xxh64(scratch, len, seed);
  return (BigInt(R[0]!) << 32n) | BigInt(R[1]!);
}

/**
 * Reduces a PickContext hash to the [0, 2^53) space of hashKey: a bigint is read as an unsigned
 * 64-bit hash and keeps its top 53 bits; a number is used as is when it is an integer in range, and
 * otherwise folded into range (so any caller-supplied value maps consistently).
 */
export function toHash53(h: number | bigint): number {
  if (typeof h === 'bigint') return Number(BigInt.asUintN(64, h) >> 11n);
  if (Number.isInteger(h) && h >= 0 && h < HASH_SPACE) return h;
  if (!Number.isFinite(h)) return 0;
  return Math.floor(Math.abs(h)) % HASH_SPACE;
}
