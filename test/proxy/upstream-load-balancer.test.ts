import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/proxy/config/xds-json.js';
import { computePriorityLoad, createLoadBalancer, hashKey, type LbOptions, type LbPolicy } from '../../src/proxy/upstream/load-balancer.js';
import type { Host, HostHealth } from '../../src/proxy/upstream/host.js';
import { FakeClock, host, scripted, seeded, tally, withinSigma } from './upstream-fixtures.js';

/** Priority-level counts from "percent healthy" with 100 hosts, as the docs' tables are written. */
const pct = (healthy: number, degraded = 0) => ({ total: 100, healthy, degraded });

test('priority load follows Envoy: 1.4 overprovisioning, spill-over to P1, normalization below 100', () => {
  // priority.rst, two levels with P1 fully healthy.
  const rows: [number, number, number][] = [
    [100, 100, 0],
    [72, 100, 0],
    [71, 99, 1],
    [50, 70, 30],
    [25, 35, 65],
    [0, 0, 100],
  ];
  for (const [p0, toP0, toP1] of rows) assert.deepEqual(computePriorityLoad([pct(p0), pct(100)], 50).healthy, [toP0, toP1], `P0 ${p0}% healthy`);
  // Both levels degraded: health {35, 35} sums to 70 and is normalized to {50, 50}; both are in panic.
  assert.deepEqual(computePriorityLoad([pct(25), pct(25)], 50), { healthy: [50, 50], degraded: [0, 0], panic: [true, true] });
  // Three levels: P2 picks up what P0 and P1 cannot carry.
  assert.deepEqual(computePriorityLoad([pct(25), pct(25), pct(100)], 50).healthy, [35, 35, 30]);
  // 5 % / 65 %: health {7, 91}, normalized 98 → 7 + 92, remainder to the first healthy level (Envoy's
  // code gives 8/92; panic_threshold.rst's table rounds it to 7/93). P0 is in panic, P1 is not.
  assert.deepEqual(computePriorityLoad([pct(5), pct(65)], 50), { healthy: [8, 92], degraded: [0, 0], panic: [true, false] });
});

test('degraded hosts take load only when healthy ones cannot carry it all', () => {
  // degraded.rst: P0 healthy/degraded/unhealthy percentages → load to its healthy and degraded hosts.
  assert.deepEqual(computePriorityLoad([pct(100)], 50), { healthy: [100], degraded: [0], panic: [false] });
  assert.deepEqual(computePriorityLoad([pct(71, 0)], 50).healthy, [100]);
  assert.deepEqual(computePriorityLoad([pct(71, 29)], 50), { healthy: [99], degraded: [1], panic: [false] });
  assert.deepEqual(computePriorityLoad([pct(25, 65)], 50), { healthy: [35], degraded: [65], panic: [false] });
  // The example in Envoy's source: health 10/20/10 and degraded 20/10/0 → 16/28/14 healthy, 28/14/0 degraded.
  const fourteen = (healthy: number, degraded: number) => ({ total: 14, healthy, degraded });
  assert.deepEqual(computePriorityLoad([fourteen(1, 2), fourteen(2, 1), fourteen(1, 0)], 0), { healthy: [16, 28, 14], degraded: [28, 14, 0], panic: [false, false, false] });
});

test('panic: total panic spreads by host count; threshold 0 never panics and finds nobody when all are down', () => {
  // 5 % healthy alone: normalized total 7 → every level (the one) is in panic → load by host count.
  assert.deepEqual(computePriorityLoad([pct(5)], 50), { healthy: [100], degraded: [0], panic: [true] });
  assert.deepEqual(computePriorityLoad([{ total: 3, healthy: 0, degraded: 0 }, { total: 1, healthy: 0, degraded: 0 }], 50), { healthy: [75, 25], degraded: [0, 0], panic: [true, true] });
  assert.deepEqual(computePriorityLoad([pct(0), pct(0)], 0), { healthy: [100, 0], degraded: [0, 0], panic: [false, false] });
});

const clock = new FakeClock();
function balancer(policy: LbPolicy, hosts: readonly Host[], options: Partial<LbOptions> = {}) {
  return createLoadBalancer(policy, hosts, { random: seeded(11), now: clock.now, ...options });
}
function setHealth(hosts: readonly Host[], health: HostHealth, count: number): void {
  for (let i = 0; i < count; i++) hosts[i]!.health = health;
}

test('priority failover: P0 serves alone while healthy, spills 30 % to P1 at half health, all of it when down', () => {
  const p0 = [1, 2, 3, 4].map((i) => host(i, { priority: 0 }));
  const p1 = [5, 6, 7, 8].map((i) => host(i, { priority: 1 }));
  const b = balancer('ROUND_ROBIN', [...p1, ...p0]); // order of the list does not matter
  const toP1 = (n: number) => {
    let c = 0;
    for (let i = 0; i < n; i++) if (b.pick()!.priority === 1) c++;
    return c;
  };
  assert.equal(toP1(1000), 0);
  setHealth(p0, 'unhealthy', 2); // 50 % healthy → 70 % P0, 30 % P1
  withinSigma(toP1(20000), 20000, 0.3, 'spill-over to P1');
  setHealth(p0, 'unhealthy', 4);
  assert.equal(toP1(1000), 1000);
  setHealth(p0, 'healthy', 4);
  assert.equal(toP1(1000), 0, 'back to P0 once it recovers');
});

test('panic mode: below 50 % available the balancer uses every host of the level, healthy or not', () => {
  const hosts = [1, 2, 3, 4].map((i) => host(i));
  const b = balancer('ROUND_ROBIN', hosts);
  setHealth(hosts, 'unhealthy', 2); // exactly 50 %: not in panic
  const half = tally(1000, () => b.pick());
  assert.deepEqual([...half.keys()].sort(), [hosts[2]!.key, hosts[3]!.key]);
  setHealth(hosts, 'unhealthy', 3); // 25 % < 50 %: panic
  const panic = tally(1000, () => b.pick());
  for (const h of hosts) assert.equal(panic.get(h.key), 250, h.key);
  // Panic disabled: only the healthy host, and nothing once it too is down.
  const strict = balancer('ROUND_ROBIN', hosts, { healthyPanicThresholdPercent: 0 });
  assert.deepEqual([...tally(100, () => strict.pick()).keys()], [hosts[3]!.key]);
  hosts[3]!.health = 'draining';
  assert.equal(strict.pick(), undefined);
  setHealth(hosts, 'healthy', 4);
});

test('hash policies choose the priority by hash and use all hosts of a level in panic', () => {
  const p0 = [1, 2].map((i) => host(i, { priority: 0 }));
  const p1 = [3, 4].map((i) => host(i, { priority: 1 }));
  for (const policy of ['RING_HASH', 'MAGLEV'] as const) {
    const b = balancer(policy, [...p0, ...p1]);
    p0[0]!.health = 'unhealthy'; // P0 health 70 → hashes whose top 32 bits mod 100 are below 70 stay in P0
    for (let i = 0; i < 300; i++) {
      const h = hashKey(`k${i}`);
      const picked = b.pick({ hash: h })!;
      assert.equal(picked.priority, Math.floor(h / 2 ** 21) % 100 < 70 ? 0 : 1, `${policy} key ${i}`);
      if (picked.priority === 0) assert.equal(picked, p0[1]);
      assert.equal(b.pick({ hash: h }), picked);
    }
    p0[0]!.health = 'healthy';
  }
  // One level with 1 of 4 available: panic, so the unhealthy hosts' keys stay where they were.
  const hosts = [1, 2, 3, 4].map((i) => host(i));
  const ring = balancer('RING_HASH', hosts);
  const before = Array.from({ length: 200 }, (_, i) => ring.pick({ hash: hashKey(`p${i}`) }));
  setHealth(hosts, 'unhealthy', 3);
  assert.deepEqual(Array.from({ length: 200 }, (_, i) => ring.pick({ hash: hashKey(`p${i}`) })), before);
});

test('degraded hosts serve only the share the healthy ones cannot carry', () => {
  const hosts = Array.from({ length: 10 }, (_, i) => host(i + 1));
  setHealth(hosts, 'degraded', 5); // 50 % healthy, 50 % degraded → 70 % healthy, 30 % degraded
  const b = balancer('RANDOM', hosts);
  let degraded = 0;
  for (let i = 0; i < 20000; i++) if (b.pick()!.health === 'degraded') degraded++;
  withinSigma(degraded, 20000, 0.3, 'degraded share');
});

test('locality weighting: localities by weight × min(1, 1.4 × available share), then hosts inside', () => {
  const x = [1, 2, 3, 4].map((i) => host(i, { locality: { region: 'r', zone: 'x' }, localityWeight: 1 }));
  const y = [5, 6, 7, 8].map((i) => host(i, { locality: { region: 'r', zone: 'y' }, localityWeight: 2 }));
  const b = balancer('ROUND_ROBIN', [...x, ...y], { localityWeighted: true });
  const inX = (n: number) => {
    let c = 0;
    for (let i = 0; i < n; i++) if (x.includes(b.pick()!)) c++;
    return c;
  };
  assert.equal(inX(3000), 1000, 'weights 1 : 2, exactly over whole cycles');
  setHealth(x, 'unhealthy', 2); // X 50 % available → 0.7 : 2 → 25.9 %
  assert.ok(Math.abs(inX(2700) - 700) <= 2);
  // Inside a locality, hosts still take turns: only X's two available hosts are used.
  const xs = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const h = b.pick()!;
    if (x.includes(h)) xs.add(h.key);
  }
  assert.deepEqual([...xs].sort(), [x[2]!.key, x[3]!.key]);
  setHealth(x, 'unhealthy', 4); // X has nothing left: all to Y
  assert.equal(inX(500), 0);
  setHealth(x, 'healthy', 4);
  // Without locality weighting the same hosts are balanced host by host (X gets half).
  const plain = balancer('ROUND_ROBIN', [...x, ...y]);
  let plainX = 0;
  for (let i = 0; i < 800; i++) if (x.includes(plain.pick()!)) plainX++;
  assert.equal(plainX, 400);
});

test('the retry host predicate re-picks up to avoidAttempts times, then takes the last pick', () => {
  const hosts = [1, 2, 3].map((i) => host(i));
  const b = balancer('ROUND_ROBIN', hosts, { random: scripted(0) }); // rotation starts at host 1
  assert.equal(b.pick({ avoid: (h) => h === hosts[0] }), hosts[1], 'host 1 refused, host 2 taken');
  let calls = 0;
  // Everything refused, 2 attempts: three picks (hosts 3, 1, 2), the last one returned.
  assert.equal(b.pick({ avoidAttempts: 2, avoid: () => (calls++, true) }), hosts[1]);
  assert.equal(calls, 2);
  // Default attempts is 1 (Envoy's host_selection_retry_max_attempts).
  calls = 0;
  assert.equal(b.pick({ avoid: () => (calls++, true) }), hosts[0]);
  assert.equal(calls, 1);
});

test('an ejected host leaves the rotation and returns when its ejection expires, without a rebuild', () => {
  const hosts = [1, 2, 3].map((i) => host(i));
  const b = balancer('ROUND_ROBIN', hosts);
  hosts[0]!.ejectedUntil = clock.now() + 30_000;
  assert.ok(!tally(300, () => b.pick()).has(hosts[0]!.key));
  clock.advance(29_999);
  assert.ok(!tally(300, () => b.pick()).has(hosts[0]!.key));
  clock.advance(1);
  assert.equal(tally(300, () => b.pick()).get(hosts[0]!.key), 100);
  hosts[0]!.ejectedUntil = 0;
});

test('no hosts, or no level with any, picks nothing', () => {
  assert.equal(balancer('ROUND_ROBIN', []).pick(), undefined);
  assert.equal(balancer('RING_HASH', []).pick({ hash: 1 }), undefined);
  const zero = [host(1, { localityWeight: 0 }), host(2, { localityWeight: 0 })];
  assert.equal(balancer('MAGLEV', zero, { localityWeighted: true }).pick(), undefined, 'all localities weigh 0: no table entries');
});

test('options Envoy would refuse are a ConfigError with the field path', () => {
  const bad: [Partial<LbOptions>, string][] = [
    [{ ringHash: { maxRingSize: 8 * 1024 * 1024 + 1 } }, 'ring_hash_lb_config.maximum_ring_size'],
    [{ ringHash: { minRingSize: 4096, maxRingSize: 1024 } }, 'ring_hash_lb_config.minimum_ring_size'],
    [{ leastRequestChoiceCount: 1 }, 'least_request_lb_config.choice_count'],
    [{ healthyPanicThresholdPercent: 101 }, 'common_lb_config.healthy_panic_threshold'],
  ];
  for (const [options, path] of bad) {
    assert.throws(() => balancer('RING_HASH', [host(1)], options), (e: unknown) => e instanceof ConfigError && e.path === path, path);
  }
  assert.throws(() => balancer('CLUSTER_PROVIDED' as LbPolicy, [host(1)]), ConfigError);
});
