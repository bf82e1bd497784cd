import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/proxy/config/xds-json.js';
import { CircuitBreaker, DEFAULT_THRESHOLDS, thresholdsFromXds } from '../../src/proxy/upstream/circuit-breaker.js';

test('thresholdsFromXds reads the DEFAULT priority, fills Envoy defaults, and treats uint32 max as unlimited', () => {
  assert.deepEqual(thresholdsFromXds(undefined), { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
  assert.deepEqual(thresholdsFromXds({}), DEFAULT_THRESHOLDS);
  assert.deepEqual(
    thresholdsFromXds({
      thresholds: [
        { priority: 'HIGH', max_connections: 1 },
        { max_connections: 2, max_pending_requests: '3', max_requests: { value: 4 }, max_retries: 4294967295 },
      ],
    }),
    { maxConnections: 2, maxPendingRequests: 3, maxRequests: 4, maxRetries: Number.POSITIVE_INFINITY },
  );
  assert.deepEqual(thresholdsFromXds({ thresholds: [{ priority: 'DEFAULT', max_retries: 0 }] }), { ...DEFAULT_THRESHOLDS, maxRetries: 0 });
  assert.throws(() => thresholdsFromXds({ thresholds: [{ max_requests: 'many' }] }), (e: unknown) => e instanceof ConfigError && e.path === 'circuit_breakers.thresholds.max_requests');
  assert.throws(() => thresholdsFromXds({ thresholds: [{ max_requests: 4294967296 }] }), ConfigError);
});

test('tryAcquire succeeds up to the limit, overflows past it, and release makes room again', () => {
  const cb = new CircuitBreaker({ maxConnections: 2, maxPendingRequests: 1, maxRequests: 3, maxRetries: 1 });
  assert.ok(cb.tryAcquire('request') && cb.tryAcquire('request') && cb.tryAcquire('request'));
  assert.equal(cb.tryAcquire('request'), false, 'the fourth request overflows (the router answers 503 UO)');
  assert.ok(cb.open('request'));
  assert.equal(cb.remaining('request'), 0);
  cb.release('request');
  assert.ok(!cb.open('request'));
  assert.equal(cb.remaining('request'), 1);
  assert.ok(cb.tryAcquire('request'));
  // Each resource is counted on its own.
  assert.ok(cb.tryAcquire('retry'));
  assert.equal(cb.tryAcquire('retry'), false);
  assert.equal(cb.remaining('connection'), 2);
  assert.ok(cb.tryAcquire('pending'));
  assert.equal(cb.tryAcquire('pending'), false);
  assert.equal(cb.active('request'), 3);
  assert.equal(cb.underflows, 0);
});

test('Envoy defaults allow 3 concurrent retries; unlimited thresholds never open', () => {
  const cb = new CircuitBreaker();
  assert.deepEqual([cb.tryAcquire('retry'), cb.tryAcquire('retry'), cb.tryAcquire('retry'), cb.tryAcquire('retry')], [true, true, true, false]);
  const open = new CircuitBreaker(thresholdsFromXds({ thresholds: [{ max_requests: 4294967295 }] }));
  for (let i = 0; i < 5000; i++) assert.ok(open.tryAcquire('request'));
  assert.equal(open.remaining('request'), Number.POSITIVE_INFINITY);
  assert.ok(!open.open('request'));
  const zero = new CircuitBreaker({ ...DEFAULT_THRESHOLDS, maxRetries: 0 });
  assert.equal(zero.tryAcquire('retry'), false, 'max_retries 0 disables retries');
});

test('a release with nothing acquired never drives the count negative (and is counted as a bug)', () => {
  const cb = new CircuitBreaker({ ...DEFAULT_THRESHOLDS, maxRequests: 1 });
  cb.release('request');
  assert.equal(cb.underflows, 1);
  assert.equal(cb.active('request'), 0);
  assert.ok(cb.tryAcquire('request'));
  assert.equal(cb.tryAcquire('request'), false, 'the stray release did not raise the limit');
  assert.deepEqual(cb.snapshot().request, { active: 1, limit: 1 });
});
