// The HPACK Huffman code (RFC 7541 Appendix B): code lengths from the RFC, canonical codes derived from them, a strict byte-at-a-time decoder and an encoder.

/**
 * Length in bits of the code of each symbol: bytes 0..255, then EOS (256). Transcribed from
 * RFC 7541 Appendix B. The code is canonical (codes of one length are consecutive in symbol order,
 * shorter codes come first), so these lengths determine every code; `HUFFMAN_CODES` is derived
 * from them below and the tests compare it with the RFC's hex column.
 */
export const HUFFMAN_CODE_LENGTHS: Uint8Array = Uint8Array.from([
  /*   0 */ 13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  /*  16 */ 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  /*  32 */ 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  /*  48 */ 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  /*  64 */ 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  /*  80 */ 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  /*  96 */ 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  /* 112 */ 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  /* 128 */ 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  /* 144 */ 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  /* 160 */ 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  /* 176 */ 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  /* 192 */ 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  /* 208 */ 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  /* 224 */ 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  /* 240 */ 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  /* 256 */ 30,
]);

/** The end-of-string symbol: its code is 30 one-bits; decoding it inside a string is an error (RFC 7541 §5.2). */
export const EOS = 256;

/** Code of each symbol, right-aligned in `HUFFMAN_CODE_LENGTHS[sym]` bits. */
export const HUFFMAN_CODES: Uint32Array = deriveCanonicalCodes(HUFFMAN_CODE_LENGTHS);

function deriveCanonicalCodes(lengths: Uint8Array): Uint32Array {
  const order = Array.from({ length: lengths.length }, (_, sym) => sym);
  order.sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const codes = new Uint32Array(lengths.length);
  let code = 0;
  let length = lengths[order[0]!]!;
  for (const sym of order) {
    code *= 2 ** (lengths[sym]! - length);
    length = lengths[sym]!;
    codes[sym] = code;
    code++;
  }
  // A complete prefix code ends exactly at 2^maxLength: anything else means a mistyped length,
  // which would silently mis-decode. Refuse to load rather than corrupt headers.
  if (code !== 2 ** length || length !== 30) throw new Error('HPACK Huffman code lengths do not form a complete code');
  return codes;
}

/*
 * Decoding automaton. The code tree has 257 leaves and so 256 internal nodes; a decoder state is
 * an internal node (0 = the root: no pending bits). For each state and input byte the table says
 * where the walk over those 8 bits ends and which symbols it completed on the way — at most two,
 * because the shortest code is 5 bits — so a string decodes with one table load per byte.
 *
 * Entry layout (Uint32): bits 0-7 next state, 8-15 first symbol, 16-23 second symbol, 24-25
 * number of symbols completed, bit 26 set when the walk completed EOS.
 *
 * Optimization: the 256 KiB table is built on first use (≈5 ms on a slow core), not at import,
 * since a proxy with no HTTP/2 listener never needs it.
 */
const ENTRY_FAIL = 1 << 26;
let decodeTable: Uint32Array | undefined;
/** 1 where a state may end a string: its pending bits are at most 7 one-bits (a prefix of EOS). */
let acceptingStates: Uint8Array | undefined;

function buildDecodeTable(): Uint32Array {
  // children[node * 2 + bit]: an internal node id (>= 0), or -(symbol + 1) for a leaf.
  const children = new Int32Array(512);
  const depth = new Uint8Array(256);
  const allOnes = new Uint8Array(256);
  allOnes[0] = 1;
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const length = HUFFMAN_CODE_LENGTHS[sym]!;
    const code = HUFFMAN_CODES[sym]!;
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        children[slot] = -(sym + 1);
      } else {
        if (children[slot] === 0) {
          depth[nodes] = depth[node]! + 1;
          allOnes[nodes] = allOnes[node]! & bit;
          children[slot] = nodes++;
        }
        node = children[slot]!;
      }
    }
  }
  const accepting = new Uint8Array(256);
  for (let s = 0; s < nodes; s++) accepting[s] = allOnes[s] === 1 && depth[s]! <= 7 ? 1 : 0;
  const table = new Uint32Array(256 * 256);
  for (let state = 0; state < nodes; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let count = 0;
      let symbols = 0;
      let fail = 0;
      for (let i = 7; i >= 0; i--) {
        const next = children[node * 2 + ((byte >>> i) & 1)]!;
        if (next >= 0) {
          node = next;
          continue;
        }
        const sym = -next - 1;
        node = 0;
        if (sym === EOS) {
          fail = ENTRY_FAIL;
          break;
        }
        symbols |= sym << (8 * count);
        count++;
      }
      table[(state << 8) | byte] = (node | (symbols << 8) | (count << 24) | fail) >>> 0;
    }
  }
  acceptingStates = accepting;
  return table;
}

/** Upper bound on the decoded length of `encodedLength` Huffman octets (5 bits per symbol at best), plus the 2 octets of slack `huffmanDecodeInto` may scribble past its result. */
export function huffmanDecodeBound(encodedLength: number): number {
  return Math.floor((encodedLength * 8) / 5) + 2;
}

/**
 * Decodes the Huffman string `src[start, end)` into `out` from offset 0 and returns the decoded
 * length, or -1 when the string is malformed (RFC 7541 §5.2: padding longer than 7 bits, padding
 * that is not a prefix of EOS, or EOS inside the string). `out.length` must be at least
 * `huffmanDecodeBound(end - start)`; octets past the returned length are garbage.
 */
export function huffmanDecodeInto(src: Uint8Array, start: number, end: number, out: Uint8Array): number {
  const table = (decodeTable ??= buildDecodeTable());
  let state = 0;
  let o = 0;
  for (let i = start; i < end; i++) {
    const e = table[(state << 8) | src[i]!]!;
    if (e >= ENTRY_FAIL) return -1;
    // Both symbol slots are written unconditionally; `o` advances by how many were real.
    out[o] = e >>> 8;
    out[o + 1] = e >>> 16;
    o += (e >>> 24) & 3;
    state = e & 0xff;
  }
  return acceptingStates![state] === 1 ? o : -1;
}

/** Like `huffmanDecodeInto` but only counts and validates: the decoded length, or -1 when malformed. */
export function huffmanDecodedLength(src: Uint8Array, start: number, end: number): number {
  const table = (decodeTable ??= buildDecodeTable());
  let state = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    const e = table[(state << 8) | src[i]!]!;
    if (e >= ENTRY_FAIL) return -1;
    n += (e >>> 24) & 3;
    state = e & 0xff;
  }
  return acceptingStates![state] === 1 ? n : -1;
}

/** Octets `huffmanEncode` writes for `s` (each char taken as one octet, its low 8 bits). */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_CODE_LENGTHS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/**
 * Huffman-encodes `s` (each char one octet, its low 8 bits) into `out` at `offset`, padding the
 * last octet with one-bits (the EOS prefix), and returns the offset after it. `out` must have room
 * for `huffmanEncodedLength(s)` octets.
 */
export function huffmanEncode(s: string, out: Uint8Array, offset: number): number {
  let o = offset;
  // Pending bits, at most 7 between symbols; with a 30-bit code that is 37 bits, so this is
  // ordinary (exact, below 2^53) arithmetic rather than 32-bit bit operations.
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const length = HUFFMAN_CODE_LENGTHS[sym]!;
    acc = acc * 2 ** length + HUFFMAN_CODES[sym]!;
    bits += length;
    while (bits >= 8) {
      bits -= 8;
      const scale = 2 ** bits;
      const byte = Math.floor(acc / scale);
      out[o++] = byte;
      acc -= byte * scale;
    }
  }
  if (bits > 0) out[o++] = (acc << (8 - bits)) | (0xff >>> bits);
  return o;
}
