// The proxy bench's watch for host pauses: what it counts inside a window, and that a stopped event loop shows up in it.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as wait } from 'node:timers/promises';
import { test } from 'node:test';
import { overlapping, startStallWatch } from '../../bench/stall-watch.js';

test('overlapping counts only the parts of pauses inside the window', () => {
  const stalls = [
    { atMs: 100, ms: 100 }, // 100–200
    { atMs: 500, ms: 50 }, // 500–550
    { atMs: 900, ms: 100 }, // 900–1000
  ];
  assert.deepEqual(overlapping(stalls, 0, 2000), { count: 3, ms: 250 });
  assert.deepEqual(overlapping(stalls, 150, 520), { count: 2, ms: 70 });
  assert.deepEqual(overlapping(stalls, 200, 500), { count: 0, ms: 0 });
  assert.deepEqual(overlapping(stalls, 950, 960), { count: 1, ms: 10 });
  assert.deepEqual(overlapping([], 0, 1), { count: 0, ms: 0 });
});

test('a watch sees the process stop running and places it in time', async () => {
  const watch = startStallWatch(10, 60);
  try {
    await wait(50);
    const before = performance.now();
    // Nothing else runs while this loop spins: to the watch's timer it looks like the host paused the guest.
    const until = before + 300;
    while (performance.now() < until);
    const after = performance.now();
    // Asked at once, before its timer has fired again: the gap still open counts.
    const seen = watch.between(before, after + 1);
    assert.ok(seen.count >= 1, `no pause seen: ${JSON.stringify(seen)}`);
    assert.ok(seen.ms >= 200, `pause too short: ${JSON.stringify(seen)}`);
  } finally {
    watch.stop();
  }
});
