// Reconnect backoff: exponential ceilings, full jitter below them, a cap, a reset; and the client retrying an absent server on that curve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Backoff, DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS } from '../../src/proxy/backoff.js';
import { XdsClient, type XdsDisconnectedEvent } from '../../src/proxy/xds-client.js';
import { isMeshError } from '../../src/shared/errors.js';
import { memoryLogger, nextEvent, NODE } from './xds-client-harness.js';

test('delays double up to the cap, each a uniform draw below its ceiling', () => {
  const draws = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
  const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => draws.shift()! });
  assert.deepEqual(
    Array.from({ length: 7 }, () => b.next()),
    [50, 100, 200, 400, 500, 500, 500],
  );
  assert.equal(b.attempts, 7);
});

test('full jitter: the delay spans [0, ceiling), not a band around it', () => {
  const lo = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0 });
  const hi = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.9999 });
  assert.deepEqual([lo.next(), lo.next(), lo.next()], [0, 0, 0]);
  assert.deepEqual([hi.next(), hi.next(), hi.next(), hi.next(), hi.next()], [99, 199, 399, 799, 999]);
});

test('reset starts the curve again', () => {
  const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.5 });
  for (let i = 0; i < 10; i++) b.next();
  assert.equal(b.next(), 500);
  b.reset();
  assert.equal(b.attempts, 0);
  assert.equal(b.next(), 50);
  assert.equal(b.next(), 100);
});

test('a long outage never overflows the ceiling, and a bad random source cannot exceed it', () => {
  let r = 0.5;
  const b = new Backoff({ baseMs: 1, maxMs: 30_000, random: () => r });
  for (let i = 0; i < 5000; i++) assert.ok(b.next() <= 15_000);
  r = 1;
  assert.equal(b.next(), 0, 'a draw of 1 (out of range) is treated as 0');
  r = Number.NaN;
  assert.equal(b.next(), 0);
});

test("defaults are Envoy's: 500 ms base, 30 s cap", () => {
  const b = new Backoff({ random: () => 0.9999 });
  assert.equal(DEFAULT_BACKOFF_BASE_MS, 500);
  assert.equal(DEFAULT_BACKOFF_MAX_MS, 30_000);
  assert.equal(b.next(), 499);
  let last = 0;
  for (let i = 0; i < 20; i++) last = b.next();
  assert.equal(last, 29_997);
});

test('nonsense settings are refused', () => {
  assert.throws(() => new Backoff({ baseMs: 0 }), /positive/);
  assert.throws(() => new Backoff({ baseMs: Number.NaN }), /positive/);
  assert.throws(() => new Backoff({ baseMs: 100, maxMs: 50 }), /at least its base/);
});

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('an absent discovery server is retried on the backoff curve, never in a tight loop, until close()', { timeout: 10_000 }, async () => {
  const port = await deadPort();
  const client = new XdsClient({ address: `127.0.0.1:${port}`, node: NODE, protocol: 'delta', backoff: { baseMs: 10, maxMs: 40 }, random: () => 0.5, logger: memoryLogger() });
  const events: XdsDisconnectedEvent[] = [];
  client.on('disconnected', (e: XdsDisconnectedEvent) => events.push(e));
  let configs = 0;
  client.on('config', () => configs++);
  const started = performance.now();
  try {
    const fifth = nextEvent(client, 'disconnected', () => events.length >= 5);
    client.start();
    await fifth;
    const elapsed = performance.now() - started;
    assert.deepEqual(
      events.map((e) => e.retryInMs),
      [5, 10, 20, 20, 20],
    );
    // Four waits (5 + 10 + 20 + 20 ms) separate the five failures.
    assert.ok(elapsed >= 50, `attempts were spaced by the backoff (${elapsed.toFixed(1)} ms)`);
    assert.ok(isMeshError(events[0]!.error, 'MESH_IO'));
    assert.match(events[0]!.error.message, /UNAVAILABLE/);
    assert.equal(client.current, undefined);
    assert.equal(configs, 0);
  } finally {
    await client.close();
  }
  const after = events.length;
  await client.close();
  assert.equal(events.length, after, 'nothing after close()');
});
