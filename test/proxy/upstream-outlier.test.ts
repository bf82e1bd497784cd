import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/proxy/config/xds-json.js';
import { createLoadBalancer } from '../../src/proxy/upstream/load-balancer.js';
import { DEFAULT_OUTLIER_CONFIG, OutlierDetector, outlierConfigFromXds, type OutlierConfig } from '../../src/proxy/upstream/outlier-detector.js';
import type { Host } from '../../src/proxy/upstream/host.js';
import { FakeClock, host, scripted, seeded } from './upstream-fixtures.js';

function setup(overrides: Partial<OutlierConfig> = {}, count = 10, random: () => number = seeded(1)) {
  const clock = new FakeClock();
  const hosts = Array.from({ length: count }, (_, i) => host(i + 1));
  const events: string[] = [];
  const detector = new OutlierDetector({ ...DEFAULT_OUTLIER_CONFIG, ...overrides }, () => hosts, {
    now: clock.now,
    random,
    onEject: (h) => events.push(`eject ${h.key}`),
    onUneject: (h) => events.push(`uneject ${h.key}`),
  });
  const fail = (h: Host, n: number, status = 500) => {
    for (let i = 0; i < n; i++) detector.report(h, { status });
  };
  return { clock, hosts, detector, events, fail };
}

test('five consecutive 5xx eject a host at once, for base_ejection_time', () => {
  const { clock, hosts, detector, events, fail } = setup();
  const h = hosts[0]!;
  fail(h, 4);
  assert.equal(h.ejectedUntil, 0);
  fail(h, 1);
  assert.equal(h.ejectedUntil, clock.now() + 30_000);
  assert.ok(!h.available(clock.now()));
  assert.deepEqual(events, [`eject ${h.key}`]);
  assert.equal(detector.stats.ejections_enforced_consecutive_5xx, 1);
  assert.equal(detector.stats.ejections_active, 1);
});

test('a success in between resets the count', () => {
  const { hosts, fail, detector } = setup();
  const h = hosts[0]!;
  fail(h, 4);
  detector.report(h, { status: 200 });
  fail(h, 4);
  assert.equal(h.ejectedUntil, 0);
  assert.equal(detector.hostState(h).consecutive5xx, 4);
  detector.report(h, { status: 404 }); // a 4xx is a success for outlier detection
  assert.equal(detector.hostState(h).consecutive5xx, 0);
});

test('gateway failures (502/503/504 and local-origin failures) eject only when enforced', () => {
  const unenforced = setup({ consecutive5xx: 100, consecutiveGatewayFailure: 3 });
  unenforced.fail(unenforced.hosts[0]!, 3, 503);
  assert.equal(unenforced.hosts[0]!.ejectedUntil, 0, 'enforcing_consecutive_gateway_failure defaults to 0');
  assert.equal(unenforced.detector.stats.ejections_detected_consecutive_gateway_failure, 1);

  const { hosts, detector, fail } = setup({ consecutive5xx: 100, consecutiveGatewayFailure: 3, enforcingConsecutiveGatewayFailure: 100, maxEjectionPercent: 100 });
  const [a, b, c] = hosts as [Host, Host, Host];
  fail(a, 2, 502);
  fail(a, 1, 500); // a 5xx that is not a gateway error breaks the gateway streak
  fail(a, 2, 504);
  assert.equal(a.ejectedUntil, 0);
  fail(a, 1, 503);
  assert.ok(a.ejectedUntil > 0);
  // Connect failures, resets and timeouts are gateway errors when local and external errors are not split.
  detector.report(b, { localOriginFailure: 'connect-failure' });
  detector.report(b, { localOriginFailure: 'reset' });
  detector.report(b, { localOriginFailure: 'timeout' });
  assert.ok(b.ejectedUntil > 0);
  assert.equal(detector.stats.ejections_overflow, 0);
  // A TCP success (no status) resets the streak like a 200.
  detector.report(c, { localOriginFailure: 'timeout' });
  detector.report(c, { localOriginFailure: 'timeout' });
  detector.report(c, {});
  detector.report(c, { localOriginFailure: 'timeout' });
  assert.equal(detector.hostState(c).consecutiveGatewayFailure, 1);
});

test('with split_external_local_origin_errors, local failures have their own counter', () => {
  const { hosts, detector, fail } = setup({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 2, consecutive5xx: 3, maxEjectionPercent: 100 });
  const [a, b] = hosts as [Host, Host];
  detector.report(a, { localOriginFailure: 'connect-failure' });
  detector.report(a, { status: 200 }); // the connection worked: the local streak ends
  detector.report(a, { localOriginFailure: 'connect-failure' });
  assert.equal(a.ejectedUntil, 0);
  assert.equal(detector.hostState(a).consecutive5xx, 0, 'local failures do not count as 5xx');
  detector.report(a, { localOriginFailure: 'timeout' });
  assert.ok(a.ejectedUntil > 0);
  assert.equal(detector.stats.ejections_enforced_consecutive_local_origin_failure, 1);
  fail(b, 3, 503);
  assert.ok(b.ejectedUntil > 0, 'HTTP errors still count toward consecutive_5xx');
});

test('an enforcing percent between 0 and 100 ejects with that chance', () => {
  const { hosts, fail } = setup({ enforcingConsecutive5xx: 50 }, 10, scripted(0.7, 0.3));
  fail(hosts[0]!, 5); // 70 ≥ 50: detected, not enforced
  assert.equal(hosts[0]!.ejectedUntil, 0);
  fail(hosts[0]!, 5); // 30 < 50: ejected
  assert.ok(hosts[0]!.ejectedUntil > 0);
});

test('ejection time grows with each ejection, is capped, and decays while the host stays healthy', () => {
  const { clock, hosts, detector, events, fail } = setup({ baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 90_000, intervalMs: 10_000 });
  const h = hosts[0]!;
  const ejectAndWait = (expectedMs: number) => {
    fail(h, 5);
    const start = clock.now();
    assert.equal(h.ejectedUntil, start + expectedMs);
    for (let t = 10_000; t < expectedMs; t += 10_000) {
      clock.advance(10_000);
      detector.tick();
      assert.ok(detector.hostState(h).ejected, `still ejected after ${t} ms of ${expectedMs}`);
    }
    clock.advance(10_000);
    detector.tick();
    assert.ok(!detector.hostState(h).ejected, `unejected after ${expectedMs} ms`);
  };
  ejectAndWait(30_000);
  ejectAndWait(60_000);
  ejectAndWait(90_000);
  ejectAndWait(90_000); // capped at max_ejection_time
  assert.equal(detector.hostState(h).ejections, 4);
  // The multiplier went 1, 2, 3, 4 (it stops growing once base × multiplier ≥ max + base).
  assert.equal(detector.hostState(h).ejectionMultiplier, 4);
  fail(h, 5);
  assert.equal(detector.hostState(h).ejectionMultiplier, 4, 'no growth past the cap');
  clock.advance(90_000);
  detector.tick();
  // Healthy intervals bring the multiplier back down, one step per tick.
  for (let i = 0; i < 3; i++) detector.tick();
  assert.equal(detector.hostState(h).ejectionMultiplier, 1);
  fail(h, 5);
  assert.equal(h.ejectedUntil, clock.now() + 60_000, 'next ejection is base × (1 + 1)');
  assert.equal(events.filter((e) => e.startsWith('eject')).length, 6);
});

test('unejection happens at tick after the ejection time, resetting the counters', () => {
  const { clock, hosts, detector, events, fail } = setup();
  const h = hosts[0]!;
  fail(h, 5);
  clock.advance(29_999);
  detector.tick();
  assert.ok(detector.hostState(h).ejected);
  clock.advance(1);
  assert.ok(h.available(clock.now()), 'the balancer may use it as soon as the time is up');
  detector.tick();
  assert.equal(h.ejectedUntil, 0);
  assert.deepEqual(events, [`eject ${h.key}`, `uneject ${h.key}`]);
  assert.equal(detector.hostState(h).consecutive5xx, 0);
  assert.equal(detector.stats.ejections_active, 0);
});

test('max_ejection_percent: the first host can always be ejected, further ones only below the percent', () => {
  const ten = setup({ maxEjectionPercent: 10 }, 10);
  ten.fail(ten.hosts[0]!, 5);
  ten.fail(ten.hosts[1]!, 5);
  assert.ok(ten.hosts[0]!.ejectedUntil > 0);
  assert.equal(ten.hosts[1]!.ejectedUntil, 0, '10 % already ejected');
  assert.equal(ten.detector.stats.ejections_overflow, 1);

  const small = setup({ maxEjectionPercent: 10 }, 3); // one host is 33 %, yet it is ejected
  small.fail(small.hosts[0]!, 5);
  small.fail(small.hosts[1]!, 5);
  assert.deepEqual(small.hosts.map((h) => h.ejectedUntil > 0), [true, false, false]);

  const twenty = setup({ maxEjectionPercent: 20 }, 10);
  for (const h of twenty.hosts.slice(0, 3)) twenty.fail(h, 5);
  assert.deepEqual(twenty.hosts.slice(0, 3).map((h) => h.ejectedUntil > 0), [true, true, false]);

  const none = setup({ maxEjectionPercent: 0 }, 10);
  none.fail(none.hosts[0]!, 5);
  assert.equal(none.hosts[0]!.ejectedUntil, 0, '0 % ejects nobody');
});

test('an ejected host is skipped by the load balancer until it is unejected', () => {
  const { clock, hosts, detector, fail } = setup({}, 3);
  const lb = createLoadBalancer('ROUND_ROBIN', hosts, { random: seeded(3), now: clock.now });
  fail(hosts[1]!, 5);
  for (let i = 0; i < 30; i++) assert.notEqual(lb.pick(), hosts[1]);
  clock.advance(30_000);
  detector.tick();
  assert.ok(Array.from({ length: 3 }, () => lb.pick()).includes(hosts[1]));
});

test('outlierConfigFromXds fills Envoy defaults and reads wrappers, strings and durations', () => {
  assert.equal(outlierConfigFromXds(undefined), undefined);
  assert.deepEqual(outlierConfigFromXds({}), { ...DEFAULT_OUTLIER_CONFIG });
  // What Istio generates for consecutiveErrors: 3 / interval 5s / baseEjectionTime 15s / maxEjectionPercent 50.
  const istio = outlierConfigFromXds({
    enforcing_success_rate: 0,
    base_ejection_time: '15s',
    consecutive_gateway_failure: 3,
    enforcing_consecutive_gateway_failure: { value: 100 },
    enforcing_consecutive_5xx: '0',
    interval: '5s',
    max_ejection_percent: 50,
  })!;
  assert.deepEqual(
    [istio.consecutiveGatewayFailure, istio.enforcingConsecutiveGatewayFailure, istio.enforcingConsecutive5xx, istio.intervalMs, istio.baseEjectionTimeMs, istio.maxEjectionTimeMs, istio.maxEjectionPercent],
    [3, 100, 0, 5000, 15_000, 300_000, 50],
  );
  // max_ejection_time unset: 300 s or base_ejection_time, whichever is larger.
  assert.equal(outlierConfigFromXds({ base_ejection_time: '400s' })!.maxEjectionTimeMs, 400_000);
  assert.equal(outlierConfigFromXds({ max_ejection_time: '0.500s' })!.maxEjectionTimeMs, 500);
  for (const [json, path] of [
    [{ max_ejection_percent: 101 }, 'outlier_detection.max_ejection_percent'],
    [{ interval: '0s' }, 'outlier_detection.interval'],
    [{ consecutive_5xx: -1 }, 'outlier_detection.consecutive_5xx'],
    [{ base_ejection_time: 30 }, 'outlier_detection.base_ejection_time'],
  ] as const) {
    assert.throws(() => outlierConfigFromXds(json), (e: unknown) => e instanceof ConfigError && e.path === path, path);
  }
});
