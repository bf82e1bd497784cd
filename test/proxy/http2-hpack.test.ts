// HPACK (RFC 7541): the Huffman table against the RFC, the Appendix C examples, encoder/decoder round trips, interop with nghttp2 (node:http2) both ways, and the decoder's limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { once } from 'node:events';
import { HpackDecoder, HpackEncoder, HpackError } from '../../src/proxy/http2/hpack.js';
import { seeded } from './upstream-fixtures.js';
import {
  EOS,
  HUFFMAN_CODE_LENGTHS,
  HUFFMAN_CODES,
  huffmanDecodeBound,
  huffmanDecodedLength,
  huffmanDecodeInto,
  huffmanEncode,
  huffmanEncodedLength,
} from '../../src/proxy/http2/huffman.js';

type Field = [name: string, value: string];

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeAll(d: HpackDecoder, block: Buffer, maxListSize = 1 << 20): { fields: Field[]; size: number; sensitive: string[] } {
  const fields: Field[] = [];
  const sensitive: string[] = [];
  const size = d.decode(block, maxListSize, (name, value, isSensitive) => {
    fields.push([name, value]);
    if (isSensitive) sensitive.push(name);
  });
  return { fields, size, sensitive };
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1), written independently of the encoder under test. */
function integer(flags: number, prefixBits: number, value: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [flags | value];
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A raw string literal. */
function rawString(s: string): number[] {
  return [...integer(0x00, 7, s.length), ...Buffer.from(s, 'latin1')];
}

/** A Huffman-coded string literal. */
function huffmanString(s: string): number[] {
  const buf = Buffer.alloc(huffmanEncodedLength(s));
  huffmanEncode(s, buf, 0);
  return [...integer(0x80, 7, buf.length), ...buf];
}

/**
 * The decoder's dynamic table, newest first, read through indexed references (62, 63, …) — which
 * leave the table as it was.
 */
function dynamicTable(d: HpackDecoder): Field[] {
  const refs: number[] = [];
  for (let i = 0; i < d.tableLength; i++) refs.push(...integer(0x80, 7, 62 + i));
  return decodeAll(d, Buffer.from(refs)).fields;
}

// ---------------------------------------------------------------------------------------------
// Huffman code (RFC 7541 Appendix B)

/** The "code as hex" column of RFC 7541 Appendix B, symbols 0..256, eight per row. */
const RFC_HUFFMAN_HEX = `
  1ff8 7fffd8 fffffe2 fffffe3 fffffe4 fffffe5 fffffe6 fffffe7
  fffffe8 ffffea 3ffffffc fffffe9 fffffea 3ffffffd fffffeb fffffec
  fffffed fffffee fffffef ffffff0 ffffff1 ffffff2 3ffffffe ffffff3
  ffffff4 ffffff5 ffffff6 ffffff7 ffffff8 ffffff9 ffffffa ffffffb
  14 3f8 3f9 ffa 1ff9 15 f8 7fa
  3fa 3fb f9 7fb fa 16 17 18
  0 1 2 19 1a 1b 1c 1d
  1e 1f 5c fb 7ffc 20 ffb 3fc
  1ffa 21 5d 5e 5f 60 61 62
  63 64 65 66 67 68 69 6a
  6b 6c 6d 6e 6f 70 71 72
  fc 73 fd 1ffb 7fff0 1ffc 3ffc 22
  7ffd 3 23 4 24 5 25 26
  27 6 74 75 28 29 2a 7
  2b 76 2c 8 9 2d 77 78
  79 7a 7b 7ffe 7fc 3ffd 1ffd ffffffc
  fffe6 3fffd2 fffe7 fffe8 3fffd3 3fffd4 3fffd5 7fffd9
  3fffd6 7fffda 7fffdb 7fffdc 7fffdd 7fffde ffffeb 7fffdf
  ffffec ffffed 3fffd7 7fffe0 ffffee 7fffe1 7fffe2 7fffe3
  7fffe4 1fffdc 3fffd8 7fffe5 3fffd9 7fffe6 7fffe7 ffffef
  3fffda 1fffdd fffe9 3fffdb 3fffdc 7fffe8 7fffe9 1fffde
  7fffea 3fffdd 3fffde fffff0 1fffdf 3fffdf 7fffeb 7fffec
  1fffe0 1fffe1 3fffe0 1fffe2 7fffed 3fffe1 7fffee 7fffef
  fffea 3fffe2 3fffe3 3fffe4 7ffff0 3fffe5 3fffe6 7ffff1
  3ffffe0 3ffffe1 fffeb 7fff1 3fffe7 7ffff2 3fffe8 1ffffec
  3ffffe2 3ffffe3 3ffffe4 7ffffde 7ffffdf 3ffffe5 fffff1 1ffffed
  7fff2 1fffe3 3ffffe6 7ffffe0 7ffffe1 3ffffe7 7ffffe2 fffff2
  1fffe4 1fffe5 3ffffe8 3ffffe9 ffffffd 7ffffe3 7ffffe4 7ffffe5
  fffec fffff3 fffed 1fffe6 3fffe9 1fffe7 1fffe8 7ffff3
  3fffea 3fffeb 1ffffee 1ffffef fffff4 fffff5 3ffffea 7ffff4
  3ffffeb 7ffffe6 3ffffec 3ffffed 7ffffe7 7ffffe8 7ffffe9 7ffffea
  7ffffeb ffffffe 7ffffec 7ffffed 7ffffee 7ffffef 7fffff0 3ffffee
  3fffffff
`;

/** (symbol, code as hex, length) rows of RFC 7541 Appendix B, lengths included. */
const RFC_HUFFMAN_ROWS: [number, number, number][] = [
  [0, 0x1ff8, 13],
  [1, 0x7fffd8, 23],
  [9, 0xffffea, 24],
  [10, 0x3ffffffc, 30],
  [13, 0x3ffffffd, 30],
  [22, 0x3ffffffe, 30],
  [32, 0x14, 6],
  [33, 0x3f8, 10],
  [36, 0x1ff9, 13],
  [38, 0xf8, 8],
  [47, 0x18, 6],
  [48, 0x0, 5],
  [58, 0x5c, 7],
  [60, 0x7ffc, 15],
  [63, 0x3fc, 10],
  [65, 0x21, 6],
  [88, 0xfc, 8],
  [92, 0x7fff0, 19],
  [94, 0x3ffc, 14],
  [97, 0x3, 5],
  [101, 0x5, 5],
  [116, 0x9, 5],
  [122, 0x7b, 7],
  [124, 0x7fc, 11],
  [126, 0x1ffd, 13],
  [127, 0xffffffc, 28],
  [128, 0xfffe6, 20],
  [153, 0x1fffdc, 21],
  [199, 0x1ffffec, 25],
  [203, 0x7ffffde, 27],
  [220, 0xffffffd, 28],
  [254, 0x7fffff0, 27],
  [255, 0x3ffffee, 26],
  [256, 0x3fffffff, 30],
];

test('the canonical Huffman codes derived from the code lengths are RFC 7541 Appendix B', () => {
  const rfc = RFC_HUFFMAN_HEX.trim().split(/\s+/).map((h) => parseInt(h, 16));
  assert.equal(rfc.length, 257);
  assert.equal(HUFFMAN_CODES.length, 257);
  for (let sym = 0; sym <= EOS; sym++) assert.equal(HUFFMAN_CODES[sym], rfc[sym], `symbol ${sym}`);
  for (const [sym, code, length] of RFC_HUFFMAN_ROWS) {
    assert.equal(HUFFMAN_CODES[sym], code, `code of symbol ${sym}`);
    assert.equal(HUFFMAN_CODE_LENGTHS[sym], length, `length of symbol ${sym}`);
  }
  // Every code fits its length, and the lengths make a complete prefix code (Kraft sum exactly 1).
  let kraft = 0;
  for (let sym = 0; sym <= EOS; sym++) {
    assert.ok(HUFFMAN_CODES[sym]! < 2 ** HUFFMAN_CODE_LENGTHS[sym]!, `symbol ${sym} fits`);
    kraft += 2 ** -HUFFMAN_CODE_LENGTHS[sym]!;
  }
  assert.equal(kraft, 1);
});

test('every byte value round-trips through the Huffman encoder and decoder, alone and together', () => {
  const decode = (buf: Buffer): string => {
    const out = Buffer.alloc(huffmanDecodeBound(buf.length));
    const n = huffmanDecodeInto(buf, 0, buf.length, out);
    assert.ok(n >= 0, `decodes ${buf.toString('hex')}`);
    assert.equal(huffmanDecodedLength(buf, 0, buf.length), n);
    return out.toString('latin1', 0, n);
  };
  const encode = (s: string): Buffer => {
    const buf = Buffer.alloc(huffmanEncodedLength(s));
    assert.equal(huffmanEncode(s, buf, 0), buf.length);
    return buf;
  };
  let all = '';
  for (let b = 0; b < 256; b++) {
    const s = String.fromCharCode(b);
    all += s;
    assert.equal(decode(encode(s)), s, `byte ${b}`);
    assert.equal(decode(encode(s + 'a' + s + s)), s + 'a' + s + s, `byte ${b} with neighbours`);
  }
  assert.equal(decode(encode(all)), all);
  assert.equal(decode(encode(all.split('').reverse().join(''))), all.split('').reverse().join(''));
  assert.equal(decode(Buffer.alloc(0)), '');
  // RFC 7541 C.4.1's value.
  assert.equal(encode('www.example.com').toString('hex'), 'f1e3c2e5f23a6ba0ab90f4ff');
  const random = seeded(7);
  for (let i = 0; i < 500; i++) {
    let s = '';
    const n = Math.floor(random() * 40);
    for (let j = 0; j < n; j++) s += String.fromCharCode(Math.floor(random() * 256));
    assert.equal(decode(encode(s)), s);
  }
});

test('Huffman strings with padding over 7 bits, padding that is not ones, or EOS inside are refused', () => {
  const bad = (bytes: number[]): void => {
    const buf = Buffer.from(bytes);
    assert.equal(huffmanDecodeInto(buf, 0, buf.length, Buffer.alloc(huffmanDecodeBound(buf.length))), -1, Buffer.from(bytes).toString('hex'));
    assert.equal(huffmanDecodedLength(buf, 0, buf.length), -1);
    // Through the decoder, as a literal value without indexing (name :path).
    assert.throws(() => new HpackDecoder().decode(Buffer.from([0x04, 0x80 | bytes.length, ...bytes]), 1 << 20, () => undefined), HpackError);
  };
  // 'a' is 00011: padded with 111 it is fine.
  assert.equal(huffmanDecodeInto(Buffer.from([0x1f]), 0, 1, Buffer.alloc(4)), 1);
  bad([0x18]); // 'a' + 000 padding
  bad([0x1e]); // 'a' + 110 padding
  bad([0x1f, 0xff]); // 'a' + 11 ones of padding
  bad([0xff]); // 8 ones of padding, nothing else
  bad([0xff, 0xff, 0xff, 0xff]); // EOS (30 ones) + 2 ones
  bad([0x1f, 0xff, 0xff, 0xff, 0xff]); // 'a', then EOS inside the string
  bad([0xff, 0xff, 0xff, 0xfc, 0x1f]); // EOS, then 'a'
});

// ---------------------------------------------------------------------------------------------
// RFC 7541 Appendix C

test('RFC 7541 C.2: the four field representations', () => {
  let d = new HpackDecoder();
  assert.deepEqual(decodeAll(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')).fields, [['custom-key', 'custom-header']]);
  assert.equal(d.tableSize, 55);
  assert.deepEqual(dynamicTable(d), [['custom-key', 'custom-header']]);

  d = new HpackDecoder();
  assert.deepEqual(decodeAll(d, hex('040c 2f73 616d 706c 652f 7061 7468')).fields, [[':path', '/sample/path']]);
  assert.equal(d.tableLength, 0);

  d = new HpackDecoder();
  const neverIndexed = decodeAll(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74'));
  assert.deepEqual(neverIndexed.fields, [['password', 'secret']]);
  assert.deepEqual(neverIndexed.sensitive, ['password']);
  assert.equal(d.tableLength, 0);

  d = new HpackDecoder();
  assert.deepEqual(decodeAll(d, hex('82')).fields, [[':method', 'GET']]);
  assert.equal(d.tableLength, 0);
});

const C3_REQUESTS = [
  '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
  '8286 84be 5808 6e6f 2d63 6163 6865',
  '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
];
const C4_REQUESTS = [
  '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
  '8286 84be 5886 a8eb 1064 9cbf',
  '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
];
const REQUEST_LISTS: Field[][] = [
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ],
];
const REQUEST_TABLES: { table: Field[]; size: number }[] = [
  { table: [[':authority', 'www.example.com']], size: 57 },
  {
    table: [
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
    size: 110,
  },
  {
    table: [
      ['custom-key', 'custom-value'],
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
    size: 164,
  },
];

for (const [section, blocks] of [
  ['C.3 (no Huffman)', C3_REQUESTS],
  ['C.4 (Huffman)', C4_REQUESTS],
] as const) {
  test(`RFC 7541 ${section}: three requests on one connection share the dynamic table`, () => {
    const d = new HpackDecoder();
    for (let i = 0; i < blocks.length; i++) {
      const { fields, size } = decodeAll(d, hex(blocks[i]!));
      assert.deepEqual(fields, REQUEST_LISTS[i], `request ${i + 1}`);
      assert.equal(size, fields.reduce((n, [name, value]) => n + name.length + value.length + 32, 0));
      assert.deepEqual(dynamicTable(d), REQUEST_TABLES[i]!.table, `table after request ${i + 1}`);
      assert.equal(d.tableSize, REQUEST_TABLES[i]!.size);
    }
  });
}

test('the encoder reproduces RFC 7541 C.3 byte for byte (same indexing choices, raw literals)', () => {
  const e = new HpackEncoder();
  for (let i = 0; i < REQUEST_LISTS.length; i++) {
    const list = REQUEST_LISTS[i]!;
    const block = e.encode(
      list.map((f) => f[0]),
      list.map((f) => f[1]),
    );
    assert.equal(block.toString('hex'), C3_REQUESTS[i]!.replace(/\s+/g, ''), `request ${i + 1}`);
  }
});

const C5_RESPONSES = [
  `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
   2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
   6c65 2e63 6f6d`,
  '4803 3330 37c1 c0bf',
  `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
   54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
   5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
   3d31`,
];
const C6_RESPONSES = [
  `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
   2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
  '4883 640e ffc1 c0bf',
  `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
   77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
   9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
];
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSE_LISTS: Field[][] = [
  [
    [':status', '302'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['location', 'https://www.example.com'],
  ],
  [
    [':status', '307'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['location', 'https://www.example.com'],
  ],
  [
    [':status', '200'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
    ['location', 'https://www.example.com'],
    ['content-encoding', 'gzip'],
    ['set-cookie', COOKIE],
  ],
];
const RESPONSE_TABLES: { table: Field[]; size: number }[] = [
  {
    table: [
      ['location', 'https://www.example.com'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['cache-control', 'private'],
      [':status', '302'],
    ],
    size: 222,
  },
  {
    table: [
      [':status', '307'],
      ['location', 'https://www.example.com'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['cache-control', 'private'],
    ],
    size: 222,
  },
  {
    table: [
      ['set-cookie', COOKIE],
      ['content-encoding', 'gzip'],
      ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
    ],
    size: 215,
  },
];

for (const [section, blocks] of [
  ['C.5 (no Huffman)', C5_RESPONSES],
  ['C.6 (Huffman)', C6_RESPONSES],
] as const) {
  test(`RFC 7541 ${section}: three responses with a 256-octet table evict the oldest entries`, () => {
    const d = new HpackDecoder(256);
    for (let i = 0; i < blocks.length; i++) {
      assert.deepEqual(decodeAll(d, hex(blocks[i]!)).fields, RESPONSE_LISTS[i], `response ${i + 1}`);
      assert.deepEqual(dynamicTable(d), RESPONSE_TABLES[i]!.table, `table after response ${i + 1}`);
      assert.equal(d.tableSize, RESPONSE_TABLES[i]!.size);
    }
    // Three entries are left: index 65 is past the end of the table.
    assert.throws(() => d.decode(Buffer.from([0xc1]), 1 << 20, () => undefined), HpackError);
  });
}

// ---------------------------------------------------------------------------------------------
// Encoder

test('the encoder indexes repeating fields, not per-message ones, and never indexes credentials', () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  const names = [':status', 'content-type', 'x-custom', 'content-length', 'date', 'authorization', 'cookie', 'x-big'];
  const values = ['200', 'application/json', 'one', '42', 'Mon, 21 Oct 2013 20:13:21 GMT', 'Bearer secret', 'session=abc', 'b'.repeat(2100)];
  const first = e.encode(names, values);
  const decoded = decodeAll(d, first);
  assert.deepEqual(
    decoded.fields,
    names.map((n, i) => [n, values[i]]),
  );
  assert.deepEqual(decoded.sensitive, ['authorization', 'cookie']);
  // Only content-type and x-custom went into the table: x-big is over half of it.
  assert.deepEqual(dynamicTable(d), [
    ['x-custom', 'one'],
    ['content-type', 'application/json'],
  ]);
  assert.equal(first[0], 0x88, ':status 200 is static entry 8');
  const second = e.encode(names.slice(0, 3), values.slice(0, 3));
  assert.deepEqual([...second], [0x88, 0xbf, 0xbe]);
  // A status outside the static table: literal without indexing, static name 8.
  assert.deepEqual([...e.encode([':status'], ['503'])], [0x08, 0x03, 0x35, 0x30, 0x33]);
  // Exact static matches are indexed; a static name with another value is a literal with that name index.
  assert.deepEqual([...e.encode([':method', 'accept-encoding', ':path'], ['GET', 'gzip, deflate', '/'])], [0x82, 0x90, 0x84]);
  assert.deepEqual([...e.encode([':path'], ['/a'])], [0x04, 0x02, 0x2f, 0x61]);
  // Returned buffers are the caller's: later blocks do not overwrite them.
  assert.deepEqual([...second], [0x88, 0xbf, 0xbe]);
});

test('the encoder announces table size changes at the start of the next block only, smallest first', () => {
  const e = new HpackEncoder();
  e.setMaxTableSize(4096);
  assert.deepEqual([...e.encode([':method'], ['GET'])], [0x82], 'no update when the size does not change');
  e.setMaxTableSize(65536);
  assert.deepEqual([...e.encode([':method'], ['GET'])], [0x82], 'capped at 4096: still no change');
  e.setMaxTableSize(100);
  assert.deepEqual([...e.encode([':method'], ['GET'])], [0x3f, 0x45, 0x82], 'update to 100');
  assert.deepEqual([...e.encode([':method'], ['GET'])], [0x82], 'announced once');
  e.setMaxTableSize(0);
  e.setMaxTableSize(4096);
  assert.deepEqual([...e.encode([':method'], ['GET'])], [0x20, 0x3f, 0xe1, 0x1f, 0x82], 'update to 0, then to 4096');
  e.setMaxTableSize(200);
  e.setMaxTableSize(300);
  assert.deepEqual([...e.encode([], [])], [0x3f, 0xa9, 0x01, 0x3f, 0x8d, 0x02], 'update to 200, then to 300, in an otherwise empty block');
});

test('encoder and decoder stay in step over many random blocks, with eviction and table size changes', () => {
  const random = seeded(20260303);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const names = [':authority', ':path', 'accept', 'content-type', 'content-length', 'date', 'cookie', 'set-cookie', 'authorization', 'x-request-id', 'grpc-status', 'x-a', 'x-b', 'x-c', 'x-d', 'x-long-header-name-for-testing'];
  const fixedValues = ['', 'GET', '/', 'text/html', 'application/grpc', '0', 'a', 'same every time', 'gzip, deflate'];
  const randomValue = (): string => {
    const r = random();
    const length = r < 0.6 ? Math.floor(random() * 20) : r < 0.9 ? Math.floor(random() * 300) : Math.floor(random() * 5000);
    let s = '';
    // latin1 octets, controls and obs-text included: HPACK carries octets, validation is the session's job.
    for (let i = 0; i < length; i++) s += String.fromCharCode(Math.floor(random() * 256));
    return s;
  };
  const e = new HpackEncoder();
  const d = new HpackDecoder(4096);
  let updates = 0;
  let maxTableLength = 0;
  for (let block = 0; block < 600; block++) {
    const r = random();
    let expectUpdate = false;
    if (r < 0.05) {
      e.setMaxTableSize(pick([0, 64, 256, 1000, 4096, 1 << 20]));
      expectUpdate = true;
    } else if (r < 0.08) {
      e.setMaxTableSize(pick([0, 64, 256]));
      e.setMaxTableSize(pick([1000, 4096]));
      expectUpdate = true;
    }
    const count = Math.floor(random() * 20);
    const fieldNames: string[] = [];
    const fieldValues: string[] = [];
    for (let i = 0; i < count; i++) {
      fieldNames.push(pick(names));
      fieldValues.push(random() < 0.5 ? pick(fixedValues) : random() < 0.5 ? `v${Math.floor(random() * 30)}` : randomValue());
    }
    const encoded = e.encode(fieldNames, fieldValues, count);
    if (expectUpdate && (encoded[0]! & 0xe0) === 0x20) updates++;
    const { fields } = decodeAll(d, encoded);
    assert.deepEqual(
      fields,
      fieldNames.map((n, i) => [n, fieldValues[i]]),
      `block ${block}`,
    );
    assert.ok(d.tableSize <= 4096);
    maxTableLength = Math.max(maxTableLength, d.tableLength);
  }
  assert.ok(updates > 10, `size updates were exercised (${updates})`);
  assert.ok(maxTableLength > 20, `the table filled up (${maxTableLength} entries)`);
});

test('encode(names, values, count) encodes only the first count fields', () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  assert.deepEqual(decodeAll(d, e.encode(['x-a', 'x-b', 'x-c'], ['1', '2', '3'], 2)).fields, [
    ['x-a', '1'],
    ['x-b', '2'],
  ]);
});

// ---------------------------------------------------------------------------------------------
// Interop with nghttp2 through node:http2

const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_SETTINGS = 0x4;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

interface ResponseRecord {
  fields: Field[];
  blockLength: number;
  ended: boolean;
}

/**
 * Just enough of an HTTP/2 client over a raw socket to send HEADERS encoded by HpackEncoder and
 * decode the server's HEADERS with HpackDecoder: SETTINGS (and their ACKs), HEADERS/CONTINUATION,
 * DATA to see streams end, GOAWAY to fail fast.
 */
class RawClient {
  readonly responses = new Map<number, ResponseRecord>();
  settingsReceived = 0;
  goaway: Buffer | undefined;
  closed = false;
  private input = Buffer.alloc(0);
  private headerStream = 0;
  private headerParts: Buffer[] = [];
  private headerEndStream = false;
  private waiters: (() => void)[] = [];

  constructor(
    readonly socket: net.Socket,
    private readonly decoder: HpackDecoder,
    private readonly encoder: HpackEncoder,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.input = Buffer.concat([this.input, chunk]);
      while (this.input.length >= 9) {
        const length = this.input.readUIntBE(0, 3);
        if (this.input.length < 9 + length) break;
        this.onFrame(this.input[3]!, this.input[4]!, this.input.readUInt32BE(5) & 0x7fffffff, this.input.subarray(9, 9 + length));
        this.input = this.input.subarray(9 + length);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** Resolves once `done()` holds after some frame; rejects if the connection goes away first. */
  waitFor(done: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (done()) resolve();
        else if (this.goaway !== undefined || this.closed) reject(new Error(`connection ended (GOAWAY ${this.goaway?.toString('hex') ?? 'none'})`));
        else this.waiters.push(check);
      };
      check();
    });
  }

  request(streamId: number, block: Buffer): void {
    this.socket.write(frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, streamId, block));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (type === FRAME_SETTINGS && (flags & FLAG_ACK) === 0) {
      for (let i = 0; i + 6 <= payload.length; i += 6) {
        if (payload.readUInt16BE(i) === SETTINGS_HEADER_TABLE_SIZE) this.encoder.setMaxTableSize(payload.readUInt32BE(i + 2));
      }
      this.settingsReceived++;
      this.socket.write(frame(FRAME_SETTINGS, FLAG_ACK, 0));
    } else if (type === FRAME_HEADERS) {
      let start = 0;
      let end = payload.length;
      if (flags & FLAG_PADDED) {
        end -= payload[0]!;
        start = 1;
      }
      if (flags & FLAG_PRIORITY) start += 5;
      this.headerStream = streamId;
      this.headerParts = [payload.subarray(start, end)];
      this.headerEndStream = (flags & FLAG_END_STREAM) !== 0;
      if (flags & FLAG_END_HEADERS) this.endHeaders();
    } else if (type === FRAME_CONTINUATION) {
      this.headerParts.push(payload);
      if (flags & FLAG_END_HEADERS) this.endHeaders();
    } else if (type === FRAME_DATA && flags & FLAG_END_STREAM) {
      const r = this.responses.get(streamId);
      if (r !== undefined) r.ended = true;
    } else if (type === FRAME_GOAWAY) {
      this.goaway = Buffer.from(payload);
    } else if (type === FRAME_PING && (flags & FLAG_ACK) === 0) {
      this.socket.write(frame(FRAME_PING, FLAG_ACK, 0, payload));
    }
  }

  private endHeaders(): void {
    const block = Buffer.concat(this.headerParts);
    const fields = decodeAll(this.decoder, block).fields;
    const existing = this.responses.get(this.headerStream);
    if (existing === undefined) this.responses.set(this.headerStream, { fields, blockLength: block.length, ended: this.headerEndStream });
    else existing.ended ||= this.headerEndStream;
  }
}

interface ServerSeen {
  raw: string[];
  sensitive: string[];
}

/**
 * Sends `requests` requests over one connection to a node:http2 server (nghttp2 decodes what
 * HpackEncoder wrote), and decodes the server's responses (nghttp2's encoder: Huffman, indexing,
 * eviction) with HpackDecoder. `serverTableSizes[i]` are SETTINGS_HEADER_TABLE_SIZE values the
 * server announces before request i, each in its own SETTINGS frame.
 */
async function exchangeWithNghttp2(options: { clientTableSize?: number; requests: number; serverTableSizes?: Record<number, number[]> }): Promise<void> {
  const seen: ServerSeen[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  const responseHeaders = (i: number): http2.OutgoingHttpHeaders => ({
    ':status': i % 4 === 3 ? 503 : 200,
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-resp-same': 'the same value on every response',
    'x-resp-seq': `seq-${i}`,
    'x-resp-long': `${'L'.repeat(150)}${i % 3}`,
    'set-cookie': ['a=1', `b=${i}`],
    server: 'nghttp2-under-node',
  });
  const server = http2.createServer();
  server.on('session', (s) => {
    sessions.push(s);
    s.on('error', () => undefined);
  });
  // Node passes the fields as received, in order, as a fourth argument @types/node does not declare.
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    stream.on('error', () => undefined);
    const i = seen.length;
    const sensitive = (headers as unknown as Record<symbol, string[] | undefined>)[http2.sensitiveHeaders] ?? [];
    seen.push({ raw: rawHeaders, sensitive: [...sensitive] });
    stream.respond(responseHeaders(i));
    stream.end(`response ${i}`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const socket = net.connect(port, '127.0.0.1');
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder(options.clientTableSize ?? 4096);
  const client = new RawClient(socket, decoder, encoder);
  try {
    await once(socket, 'connect');
    const settings = Buffer.alloc(options.clientTableSize === undefined ? 0 : 6);
    if (options.clientTableSize !== undefined) {
      settings.writeUInt16BE(SETTINGS_HEADER_TABLE_SIZE, 0);
      settings.writeUInt32BE(options.clientTableSize, 2);
    }
    socket.write(Buffer.concat([PREFACE, frame(FRAME_SETTINGS, 0, 0, settings)]));
    await client.waitFor(() => client.settingsReceived >= 1);

    const responseBlockLengths: number[] = [];
    for (let i = 0; i < options.requests; i++) {
      const sizes = options.serverTableSizes?.[i] ?? [];
      if (sizes.length > 0) {
        const expected = client.settingsReceived + sizes.length;
        for (const size of sizes) sessions[0]!.settings({ headerTableSize: size });
        await client.waitFor(() => client.settingsReceived >= expected);
      }
      const fields: Field[] = [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', `/r/${i}`],
        [':authority', `127.0.0.1:${port}`],
        ['user-agent', 'meltemi-hpack-test/1.0'],
        ['accept', '*/*'],
        ['x-same', 'a value that repeats on every request'],
        ['x-seq', String(i)],
        ['x-long', `${'x'.repeat(180)}${i % 2}`],
        ['authorization', 'Bearer not-a-real-token'],
        ['cookie', `session=${i % 2}`],
        ['content-length', '0'],
      ];
      const streamId = 2 * i + 1;
      const block = encoder.encode(
        fields.map((f) => f[0]),
        fields.map((f) => f[1]),
      );
      if (sizes.length > 0) assert.equal(block[0]! & 0xe0, 0x20, `request ${i} starts with a dynamic table size update`);
      client.request(streamId, block);
      await client.waitFor(() => client.responses.get(streamId)?.ended === true);

      // What nghttp2 decoded from our block: exactly our fields, in order, credentials never indexed.
      assert.equal(seen.length, i + 1);
      assert.deepEqual(seen[i]!.raw, fields.flat(), `request ${i} as the server saw it`);
      assert.deepEqual(seen[i]!.sensitive.sort(), ['authorization', 'cookie'], `request ${i} never-indexed fields`);

      // What we decoded from nghttp2's block: what the server set, plus the date node adds.
      const response = client.responses.get(streamId)!;
      responseBlockLengths.push(response.blockLength);
      const expected: Field[] = [];
      for (const [name, value] of Object.entries(responseHeaders(i))) {
        for (const v of Array.isArray(value) ? value : [value]) expected.push([name, String(v)]);
      }
      const withoutDate = response.fields.filter(([name]) => name !== 'date');
      assert.equal(response.fields.length - withoutDate.length, 1, `response ${i} has a date`);
      assert.deepEqual(
        withoutDate.sort((a, b) => (a[0] + '\0' + a[1] < b[0] + '\0' + b[1] ? -1 : 1)),
        expected.sort((a, b) => (a[0] + '\0' + a[1] < b[0] + '\0' + b[1] ? -1 : 1)),
        `response ${i} headers`,
      );
    }
    if (options.clientTableSize === undefined) {
      // nghttp2 indexed what repeats: later responses are a fraction of the first.
      assert.ok(responseBlockLengths[responseBlockLengths.length - 1]! < responseBlockLengths[0]! / 2, `response blocks shrink: ${responseBlockLengths.join(', ')}`);
    } else {
      // nghttp2 did use the small table we asked for.
      assert.ok(decoder.tableLength > 0 && decoder.tableSize <= options.clientTableSize, `table of ${decoder.tableLength} entries, ${decoder.tableSize} octets`);
    }
    assert.equal(client.goaway, undefined);
  } finally {
    socket.destroy();
    for (const s of sessions) s.destroy();
    server.close();
    await once(server, 'close');
  }
}

test('nghttp2 decodes our blocks and we decode its blocks, with default 4096-octet tables and table size changes mid-connection', { timeout: 20_000 }, async () => {
  await exchangeWithNghttp2({ requests: 14, serverTableSizes: { 4: [100], 8: [0, 4096], 11: [300] } });
});

test('we decode nghttp2 encoding into a 256-octet table we asked for (eviction on both sides)', { timeout: 20_000 }, async () => {
  await exchangeWithNghttp2({ clientTableSize: 256, requests: 10, serverTableSizes: { 3: [256] } });
});

// ---------------------------------------------------------------------------------------------
// Limits and malformed input

test('past maxListSize, onField stops but the returned size counts every field', () => {
  const d = new HpackDecoder();
  // :method GET (3 + 7 + 32 = 42), :path / (38), then a literal x-a: 1 (36).
  const block = Buffer.from([0x82, 0x84, 0x00, ...rawString('x-a'), ...rawString('1'), 0x86]);
  const seen: string[] = [];
  const size = d.decode(block, 80, (name) => seen.push(name));
  assert.deepEqual(seen, [':method', ':path']);
  assert.equal(size, 42 + 38 + 36 + 43);
  // Exactly at the limit is within it.
  assert.equal(new HpackDecoder().decode(block, 116, () => undefined), 159);
});

test('past maxListSize, literals with incremental indexing are still inserted and literals without indexing still validated', () => {
  const d = new HpackDecoder();
  const over = [0x82, 0x82, 0x82];
  const block = Buffer.from([...over, 0x40, ...rawString('x-kept'), ...huffmanString('in the table'), 0x00, ...huffmanString('x-skipped'), ...huffmanString('value')]);
  const seen: string[] = [];
  assert.equal(
    d.decode(block, 50, (name) => seen.push(name)),
    3 * 42 + (6 + 12 + 32) + (9 + 5 + 32),
  );
  assert.deepEqual(seen, [':method']);
  assert.deepEqual(decodeAll(d, Buffer.from([0xbe])).fields, [['x-kept', 'in the table']]);
  // A malformed Huffman string in a skipped literal is still an error.
  assert.throws(() => new HpackDecoder().decode(Buffer.from([...over, 0x00, ...rawString('x'), 0x81, 0x18]), 50, () => undefined), HpackError);
});

test('a block of references to one large entry (amplification) stops producing fields at the limit', () => {
  const d = new HpackDecoder();
  const big = 'v'.repeat(4000);
  const refs = 20_000;
  const block = Buffer.concat([Buffer.from([0x40, ...rawString('x-big'), ...rawString(big)]), Buffer.alloc(refs, 0xbe)]);
  const entry = 5 + 4000 + 32;
  let calls = 0;
  const size = d.decode(block, 16 * 1024, (name, value) => {
    calls++;
    assert.equal(value.length, 4000);
    assert.equal(name, 'x-big');
  });
  assert.equal(calls, 4, 'only the fields within 16 KiB');
  assert.equal(size, entry * (refs + 1));
});

test('integers that overflow or run past the block are refused', () => {
  const refuse = (bytes: number[], why: string): void => assert.throws(() => new HpackDecoder().decode(Buffer.from(bytes), 1 << 20, () => undefined), HpackError, why);
  refuse([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 'six continuation octets');
  refuse([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f], 'above 2^31');
  refuse([0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 'zero-padded past five octets');
  refuse([0xff], 'ends inside the integer');
  refuse([0x3f, 0xff, 0xff, 0xff, 0xff, 0x7f], 'size update above 2^31');
  refuse([0x40, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f], 'string length above 2^31');
  // The largest value the limit allows still parses as an integer (then fails as an index).
  assert.throws(() => new HpackDecoder().decode(Buffer.from(integer(0x80, 7, 0x7fffffff)), 1 << 20, () => undefined), /beyond the table/);
});

test('index 0 and indexes past the tables are refused, for fields and for names', () => {
  const refuse = (bytes: number[]): void => assert.throws(() => new HpackDecoder().decode(Buffer.from(bytes), 1 << 20, () => undefined), HpackError, Buffer.from(bytes).toString('hex'));
  refuse([0x80]);
  refuse([0xbe]); // 62 with an empty dynamic table
  refuse([0xff, 0x00]); // 127
  refuse([0x7e, ...rawString('v')]); // incremental indexing, name index 62
  refuse([0x0f, 0x2f, ...rawString('v')]); // without indexing, name index 62
  refuse([0x1f, 0x30, ...rawString('v')]); // never indexed, name index 63
  // 61 is the last static entry; with one dynamic entry 62 works and 63 does not.
  assert.deepEqual(decodeAll(new HpackDecoder(), Buffer.from([0xbd])).fields, [['www-authenticate', '']]);
  const d = new HpackDecoder();
  assert.deepEqual(decodeAll(d, Buffer.from([0x40, ...rawString('x'), ...rawString('y'), 0xbe])).fields, [
    ['x', 'y'],
    ['x', 'y'],
  ]);
  assert.throws(() => d.decode(Buffer.from([0xbf]), 1 << 20, () => undefined), HpackError);
});

test('dynamic table size updates: allowed up to our setting and only before the first field', () => {
  const d = new HpackDecoder(4096);
  // Two updates at the start (shrink, then grow back), then a field: fine.
  assert.deepEqual(decodeAll(d, Buffer.from([0x20, ...integer(0x20, 5, 4096), 0x82])).fields, [[':method', 'GET']]);
  assert.throws(() => new HpackDecoder(4096).decode(Buffer.from(integer(0x20, 5, 4097)), 1 << 20, () => undefined), /exceeds/);
  assert.throws(() => new HpackDecoder(256).decode(Buffer.from(integer(0x20, 5, 257)), 1 << 20, () => undefined), HpackError);
  assert.throws(() => new HpackDecoder().decode(Buffer.from([0x82, 0x20]), 1 << 20, () => undefined), /after a header field/);
  // Shrinking evicts: the table empties at 0 and refills within the new size.
  const e = new HpackDecoder();
  decodeAll(e, Buffer.from([0x40, ...rawString('x-a'), ...rawString('1'), 0x40, ...rawString('x-b'), ...rawString('2')]));
  assert.equal(e.tableLength, 2);
  decodeAll(e, Buffer.from([...integer(0x20, 5, 40)]));
  assert.deepEqual(dynamicTable(e), [['x-b', '2']]);
  decodeAll(e, Buffer.from([0x20]));
  assert.equal(e.tableSize, 0);
  // An entry larger than the whole table empties it and is not added (RFC 7541 §4.4).
  decodeAll(e, Buffer.from([...integer(0x20, 5, 50), 0x40, ...rawString('x-c'), ...rawString('3'), 0x40, ...rawString('x-too-big'), ...rawString('v'.repeat(20))]));
  assert.equal(e.tableLength, 0);
});

test('string literals that run past the end of the block are refused', () => {
  const refuse = (bytes: number[]): void => assert.throws(() => new HpackDecoder().decode(Buffer.from(bytes), 1 << 20, () => undefined), /past the end|ends before/, Buffer.from(bytes).toString('hex'));
  refuse([0x40, 0x05, 0x61]); // name of 5 octets, 1 present
  refuse([0x40, ...rawString('x'), 0x02, 0x61]); // value of 2, 1 present
  refuse([0x04, 0x85, 0x1f]); // Huffman value of 5, 1 present
  refuse([0x04]); // no value at all
  refuse([0x40]); // no name at all
  // The same strings complete are fine.
  assert.deepEqual(decodeAll(new HpackDecoder(), Buffer.from([0x40, ...rawString('x'), 0x02, 0x61, 0x62])).fields, [['x', 'ab']]);
});

test('decoded strings are octets as latin1 chars, raw and Huffman alike', () => {
  const value = 'caf\xe9 \x01\xff';
  const d = new HpackDecoder();
  assert.deepEqual(decodeAll(d, Buffer.from([0x00, ...rawString('x-raw'), ...rawString(value), 0x00, ...huffmanString('x-huff'), ...huffmanString(value)])).fields, [
    ['x-raw', value],
    ['x-huff', value],
  ]);
  const e = new HpackEncoder();
  assert.deepEqual(decodeAll(d, e.encode(['x-enc'], [value])).fields, [['x-enc', value]]);
});
