// The open streams of an HTTP/2 connection by id (src/proxy/http2/stream-table.ts): size, lookups, and a values() snapshot that closing streams while iterating does not disturb.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamTable } from '../../src/proxy/http2/stream-table.js';

const stream = (id: number) => ({ id });

test('set, get and delete by id keep the count; setting an id twice counts it once; deleting an absent id changes nothing', () => {
  const t = new StreamTable<{ id: number }>();
  const a = stream(1);
  t.set(1, a);
  t.set(3, stream(3));
  t.set(1, a);
  assert.equal(t.size, 2);
  assert.equal(t.get(1), a);
  assert.equal(t.get(5), undefined);
  t.delete(5);
  assert.equal(t.size, 2);
  t.delete(1);
  assert.equal(t.size, 1);
  assert.equal(t.get(1), undefined);
});

test('ids up to 2^31-1 opened and closed one after another, as a long-lived connection does: the table ends empty; values() lists what is open in id order', () => {
  const t = new StreamTable<{ id: number }>();
  for (let id = 1; id < 200_000; id += 2) {
    t.set(id, stream(id));
    if (id > 40) t.delete(id - 40);
  }
  assert.equal(t.size, 20);
  const last = 2 ** 31 - 1;
  t.set(last, stream(last));
  assert.deepEqual(t.values().map((s) => s.id), [...Array.from({ length: 20 }, (_, i) => 199_961 + 2 * i), last]);
  for (const s of t.values()) t.delete(s.id);
  assert.equal(t.size, 0);
  assert.deepEqual(t.values(), []);
});
