import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Debouncer, mergePushRequests, type Timers } from '../../src/xds/debounce.js';
import type { PushRequest } from '../../src/xds/types.js';

/** A manual clock: timers fire only when the test advances time. */
class FakeTimers implements Timers {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}

function setup(afterMs = 100, maxMs = 1000, edsAfterMs = afterMs) {
  const timers = new FakeTimers();
  const flushed: { request: PushRequest; events: number; at: number }[] = [];
  const d = new Debouncer((request, events) => void flushed.push({ request, events, at: timers.now() }), { afterMs, maxMs, edsAfterMs, timers });
  return { timers, flushed, d };
}

test('one change is pushed after the quiet period', () => {
  const { timers, flushed, d } = setup();
  d.enqueue({ full: true });
  timers.advance(99);
  assert.equal(flushed.length, 0);
  timers.advance(1);
  assert.deepEqual(flushed, [{ request: { full: true }, events: 1, at: 100 }]);
});

test('a burst is merged into one push after the last change goes quiet', () => {
  const { timers, flushed, d } = setup();
  d.enqueue({ full: false, edsHosts: new Set(['a']) });
  timers.advance(60);
  d.enqueue({ full: false, edsHosts: new Set(['b']) });
  timers.advance(60);
  d.enqueue({ full: false, edsHosts: new Set(['a', 'c']) });
  timers.advance(99);
  assert.equal(flushed.length, 0, 'still within the quiet period of the last change');
  timers.advance(1);
  assert.equal(flushed.length, 1);
  assert.equal(flushed[0]!.events, 3);
  assert.equal(flushed[0]!.at, 220);
  assert.deepEqual(flushed[0]!.request, { full: false, edsHosts: new Set(['a', 'b', 'c']) });
});

test('a full change wins over endpoint-only changes in a merge', () => {
  assert.deepEqual(mergePushRequests({ full: false, edsHosts: new Set(['a']) }, { full: true }), { full: true, edsHosts: new Set(['a']) });
  assert.equal(mergePushRequests(undefined, { full: false }).full, false);
});

test('endpoint-only changes wait only for their own, shorter quiet period', () => {
  const { timers, flushed, d } = setup(100, 1000, 10);
  d.enqueue({ full: false, edsHosts: new Set(['a']) });
  timers.advance(5);
  d.enqueue({ full: false, edsHosts: new Set(['b']) });
  timers.advance(9);
  assert.equal(flushed.length, 0);
  timers.advance(1);
  assert.deepEqual(flushed, [{ request: { full: false, edsHosts: new Set(['a', 'b']) }, events: 2, at: 15 }]);
});

test('a config change joining pending endpoint changes waits for the full quiet period', () => {
  const { timers, flushed, d } = setup(100, 1000, 10);
  d.enqueue({ full: false, edsHosts: new Set(['a']) });
  timers.advance(5);
  d.enqueue({ full: true, configKinds: new Set(['VirtualService']) });
  timers.advance(50);
  assert.equal(flushed.length, 0, 'the endpoint quiet period no longer applies');
  timers.advance(50);
  assert.equal(flushed.length, 1);
  assert.equal(flushed[0]!.at, 105);
  assert.deepEqual(flushed[0]!.request, { full: true, edsHosts: new Set(['a']), configKinds: new Set(['VirtualService']) });
});

test('merged requests unite the changed config kinds, and forget them when one change does not say', () => {
  const vs = { full: true, configKinds: new Set(['VirtualService']) };
  const gw = { full: true, configKinds: new Set(['Gateway']) };
  assert.deepEqual(mergePushRequests(vs, gw), { full: true, configKinds: new Set(['VirtualService', 'Gateway']) });
  assert.deepEqual(mergePushRequests(vs, { full: false, edsHosts: new Set(['a']) }), { full: true, edsHosts: new Set(['a']), configKinds: new Set(['VirtualService']) });
  assert.deepEqual(mergePushRequests(vs, { full: true }), { full: true });
  assert.deepEqual(mergePushRequests(undefined, { full: false, configKinds: new Set(['VirtualService']) }), { full: false });
});

test('changes that never go quiet are pushed at the maximum delay', () => {
  const { timers, flushed, d } = setup(100, 1000);
  for (let t = 0; t < 1500; t += 50) {
    d.enqueue({ full: true });
    timers.advance(50);
  }
  assert.ok(flushed.length >= 1);
  assert.equal(flushed[0]!.at, 1000, 'the first push happens at the max delay, not after the burst');
  assert.equal(flushed[0]!.events, 20);
});

test('changes arriving during a slow push are merged and pushed after it completes', async () => {
  const timers = new FakeTimers();
  const flushed: PushRequest[] = [];
  let release!: () => void;
  const d = new Debouncer(
    (request) => {
      flushed.push(request);
      if (flushed.length === 1) return new Promise<void>((r) => (release = r));
    },
    { afterMs: 100, maxMs: 1000, timers },
  );
  d.enqueue({ full: false, edsHosts: new Set(['a']) });
  timers.advance(100);
  assert.equal(flushed.length, 1);
  d.enqueue({ full: false, edsHosts: new Set(['b']) });
  d.enqueue({ full: true });
  timers.advance(500);
  assert.equal(flushed.length, 1, 'no second push while the first is running');
  release();
  await new Promise((r) => setImmediate(r));
  assert.equal(flushed.length, 2);
  assert.equal(flushed[1]!.full, true);
  assert.equal(d.pendingEvents, 0);
});

test('close drops pending changes and stops the timer', () => {
  const { timers, flushed, d } = setup();
  d.enqueue({ full: true });
  d.close();
  timers.advance(10_000);
  d.enqueue({ full: true });
  timers.advance(10_000);
  assert.equal(flushed.length, 0);
});
