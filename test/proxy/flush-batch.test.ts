import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { setImmediate as nextBatch } from 'node:timers/promises';
import { corkUntilBatchEnd, flushAfterBatch } from '../../src/proxy/io/flush-batch.js';

/** A stream that records each write call it receives (one entry per writev, with its chunks). */
function recorder(): { stream: Writable; calls: string[][] } {
  const calls: string[][] = [];
  const stream = new Writable({
    writev(chunks, cb) {
      calls.push(chunks.map((c) => String(c.chunk)));
      cb();
    },
    write(chunk, _enc, cb) {
      calls.push([String(chunk)]);
      cb();
    },
  });
  return { stream, calls };
}

test('writes made in one batch leave together after it, in order', async () => {
  const { stream, calls } = recorder();
  corkUntilBatchEnd(stream);
  stream.write('head');
  // The caller's own cork/uncork pair nests inside the batch's.
  stream.cork();
  stream.write('body');
  stream.uncork();
  corkUntilBatchEnd(stream);
  stream.write('tail');
  assert.deepEqual(calls, []);
  await nextBatch();
  assert.deepEqual(calls, [['head', 'body', 'tail']]);
  stream.write('later');
  assert.deepEqual(calls.at(-1), ['later'], 'uncorked after the batch');
});

test('end() inside a batch flushes at once', async () => {
  const { stream, calls } = recorder();
  corkUntilBatchEnd(stream);
  stream.write('reply');
  stream.end();
  assert.deepEqual(calls, [['reply']]);
  await nextBatch();
  assert.deepEqual(calls, [['reply']]);
});

test('a flush queued while a batch ends runs in the next batch, once', async () => {
  const order: string[] = [];
  const second = { flush: () => order.push('second') };
  const first = {
    flush: () => {
      order.push('first');
      flushAfterBatch(second);
    },
  };
  flushAfterBatch(first);
  assert.deepEqual(order, []);
  await nextBatch();
  assert.deepEqual(order, ['first']);
  await nextBatch();
  assert.deepEqual(order, ['first', 'second']);
  await nextBatch();
  assert.deepEqual(order, ['first', 'second']);
});
