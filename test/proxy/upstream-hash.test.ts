import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HASH_SPACE, hashKey, hashMod, toHash53, xxHash64 } from '../../src/proxy/upstream/hash.js';
import { seeded } from './upstream-fixtures.js';

// A straightforward BigInt XXH64 from the specification, to check the 32-bit-halves implementation against.
const M64 = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;
const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M64;
const round = (acc: bigint, lane: bigint) => (rotl((acc + lane * P2) & M64, 31n) * P1) & M64;
const merge = (acc: bigint, v: bigint) => (((acc ^ round(0n, v)) * P1) & M64) + (P4 & M64);
function referenceXxh64(bytes: Uint8Array, seed: bigint): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  let p = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (seed + P1 + P2) & M64;
    let v2 = (seed + P2) & M64;
    let v3 = seed;
    let v4 = (seed - P1) & M64;
    while (p + 32 <= len) {
      v1 = round(v1, view.getBigUint64(p, true));
      v2 = round(v2, view.getBigUint64(p + 8, true));
      v3 = round(v3, view.getBigUint64(p + 16, true));
      v4 = round(v4, view.getBigUint64(p + 24, true));
      p += 32;
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M64;
    for (const v of [v1, v2, v3, v4]) h = merge(h, v) & M64;
  } else {
    h = (seed + P5) & M64;
  }
  h = (h + BigInt(len)) & M64;
  while (p + 8 <= len) {
    h = ((rotl(h ^ round(0n, view.getBigUint64(p, true)), 27n) * P1) & M64) + P4;
    h &= M64;
    p += 8;
  }
  if (p + 4 <= len) {
    h = ((rotl(h ^ ((BigInt(view.getUint32(p, true)) * P1) & M64), 23n) * P2) & M64) + P3;
    h &= M64;
    p += 4;
  }
  while (p < len) {
    h = (rotl(h ^ ((BigInt(bytes[p]!) * P5) & M64), 11n) * P1) & M64;
    p++;
  }
  h ^= h >> 33n;
  h = (h * P2) & M64;
  h ^= h >> 29n;
  h = (h * P3) & M64;
  h ^= h >> 32n;
  return h;
}

test('xxHash64 matches the published XXH64 vectors', () => {
  assert.equal(xxHash64(''), 0xef46db3751d8e999n);
  assert.equal(xxHash64('a'), 0xd24ec4f1a98c6e5bn);
  assert.equal(xxHash64('abc'), 0x44bc2cf5ad770999n);
});

test('xxHash64 agrees with a BigInt reference on every length path, seeds 0 and 1, and non-ASCII text', () => {
  const rng = seeded(7);
  const alphabet = ['a', 'Z', '0', ':', '_', 'é', '✓', '😀', '\ud800' /* lone surrogate → U+FFFD */];
  // The long key comes first so the implementation's UTF-8 buffer has to grow mid-test.
  const inputs = ['x'.repeat(5000), '', '10.0.0.1:8080_0', 'y'.repeat(31), 'y'.repeat(32), 'y'.repeat(33), 'y'.repeat(64)];
  for (let i = 0; i < 400; i++) {
    let s = '';
    const n = Math.floor(rng() * 90);
    for (let j = 0; j < n; j++) s += alphabet[Math.floor(rng() * alphabet.length)];
    inputs.push(s);
  }
  const encoder = new TextEncoder();
  for (const s of inputs) {
    for (const seed of [0, 1]) {
      assert.equal(xxHash64(s, seed), referenceXxh64(encoder.encode(s), BigInt(seed)), `XXH64(${JSON.stringify(s.slice(0, 40))}, ${seed})`);
    }
  }
});

test('hashKey is the top 53 bits of XXH64 and hashMod its remainder', () => {
  for (const s of ['', 'user-42', 'session=abc123', '192.168.1.7']) {
    const full = xxHash64(s);
    assert.equal(hashKey(s), Number(full >> 11n));
    assert.ok(Number.isSafeInteger(hashKey(s)) && hashKey(s) < HASH_SPACE);
    assert.equal(hashMod(s, 0, 65537), Number(full % 65537n));
    assert.equal(hashMod(s, 1, 65536), Number(xxHash64(s, 1) % 65536n));
  }
  assert.notEqual(hashKey('user-1'), hashKey('user-2'));
});

test('toHash53 maps bigints by their top bits and folds out-of-range numbers consistently', () => {
  assert.equal(toHash53(xxHash64('k')), hashKey('k'));
  assert.equal(toHash53(-1n), Number((M64 >> 11n)));
  assert.equal(toHash53(12345), 12345);
  assert.equal(toHash53(-7.9), 7);
  assert.equal(toHash53(2 ** 54 + 8), 8);
  assert.equal(toHash53(Number.NaN), 0);
});
