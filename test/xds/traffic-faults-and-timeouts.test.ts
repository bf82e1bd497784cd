// Traffic tables for Istio's fault-injection, traffic-shifting, request-timeout and retry tasks on Bookinfo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from './simulation.js';
import { FIXTURES, applyDocs, assertIncludes, host, testMesh } from './mesh.js';

const RATINGS = host('ratings');
const REVIEWS = host('reviews');
const JASON = { 'end-user': 'jason' };

function withRules(docs: Array<[string, number[]]>) {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/bookinfo-destination-rules.yaml`, [0, 1, 2, 3]);
  for (const [file, idx] of docs) applyDocs(m.store, `${FIXTURES}/${file}`, idx);
  return m;
}

test('fault injection: jason calling ratings is delayed 7s on every request; other users are not', () => {
  const m = withRules([['fault-injection.yaml', [0]]]);
  const cfg = m.config(m.sidecar('reviews-v2'));
  const jason = simulate(cfg, { port: 9080, authority: 'ratings:9080', path: '/ratings/0', headers: JASON });
  assertIncludes(jason, { cluster: `outbound|9080|v1|${RATINGS}`, routeIndex: 0 });
  assert.deepEqual(jason.fault, {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
    delay: { fixedDelay: { seconds: 7, nanos: 0 }, percentage: { numerator: 1_000_000, denominator: 'MILLION' } },
  });
  const other = simulate(cfg, { port: 9080, authority: 'ratings:9080', path: '/ratings/0' });
  assertIncludes(other, { cluster: `outbound|9080|v1|${RATINGS}`, routeIndex: 1, fault: undefined });
});

test('fault injection: jason calling ratings gets HTTP 500 on every request', () => {
  const m = withRules([['fault-injection.yaml', [1]]]);
  const cfg = m.config(m.sidecar('reviews-v2'));
  const fault = simulate(cfg, { port: 9080, authority: 'ratings:9080', path: '/', headers: JASON }).fault!;
  assert.deepEqual(fault.abort, { httpStatus: 500, percentage: { numerator: 1_000_000, denominator: 'MILLION' } });
  assert.equal(fault.delay, undefined);
  assert.equal(simulate(cfg, { port: 9080, authority: 'ratings:9080', path: '/' }).fault, undefined);
});

test('fault injection: an unconditional abort takes every request to details, and the rule after it is unreachable', () => {
  const m = withRules([['fault-injection.yaml', [2]]]);
  const cfg = m.config(m.sidecar('productpage-v1'));
  const r = simulate(cfg, { port: 9080, authority: 'details:9080', path: '/details/0' });
  assertIncludes(r, { routeIndex: 0, cluster: `outbound|9080|v1|${host('details')}` });
  assert.deepEqual((r.fault as { abort: unknown }).abort, { httpStatus: 555, percentage: { numerator: 1_000_000, denominator: 'MILLION' } });
  const vh = (cfg.routes.get('9080')!.virtualHosts as Array<{ name: string; routes: unknown[] }>).find((v) => v.name === `${host('details')}:9080`)!;
  assert.equal(vh.routes.length, 1, 'a rule without match ends the route list');
});

test('traffic shifting: 50/50 between reviews v1 and v3, then 80/20 between v1 and v2, then all to v3', () => {
  const m = withRules([['traffic-shifting.yaml', [0]]]);
  const call = { port: 9080, authority: 'reviews:9080', path: '/reviews/0' };
  assertIncludes(simulate(m.config(m.sidecar('productpage-v1')), call), {
    weightedClusters: [
      { name: `outbound|9080|v1|${REVIEWS}`, weight: 50 },
      { name: `outbound|9080|v3|${REVIEWS}`, weight: 50 },
    ],
    cluster: undefined,
  });
  applyDocs(m.store, `${FIXTURES}/traffic-shifting.yaml`, [1]);
  assertIncludes(simulate(m.config(m.sidecar('productpage-v1')), call), {
    weightedClusters: [
      { name: `outbound|9080|v1|${REVIEWS}`, weight: 80 },
      { name: `outbound|9080|v2|${REVIEWS}`, weight: 20 },
    ],
  });
  applyDocs(m.store, `${FIXTURES}/traffic-shifting.yaml`, [3]);
  assertIncludes(simulate(m.config(m.sidecar('productpage-v1')), call), { cluster: `outbound|9080|v3|${REVIEWS}`, weightedClusters: undefined });
});

test('request timeouts: reviews v2 answers within 0.5s or fails; other routes have no timeout', () => {
  const m = withRules([['request-timeouts.yaml', [0, 1]]]);
  const cfg = m.config(m.sidecar('productpage-v1'));
  assertIncludes(simulate(cfg, { port: 9080, authority: 'reviews:9080', path: '/reviews/0' }), { cluster: `outbound|9080|v2|${REVIEWS}`, timeoutMs: 500 });
  assertIncludes(simulate(cfg, { port: 9080, authority: 'details:9080', path: '/' }), { timeoutMs: 0 });
  // The ratings rule delays every request 2s (deprecated integer percent).
  const ratings = simulate(m.config(m.sidecar('reviews-v2')), { port: 9080, authority: 'ratings:9080', path: '/' });
  assert.deepEqual((ratings.fault as { delay: unknown }).delay, { fixedDelay: { seconds: 2, nanos: 0 }, percentage: { numerator: 100, denominator: 'HUNDRED' } });
});

test('retries: ratings is retried 3 times, 2s per try, on gateway errors, connect failures and refused streams', () => {
  const m = withRules([['request-timeouts.yaml', [2]]]);
  const r = simulate(m.config(m.sidecar('reviews-v2')), { port: 9080, authority: 'ratings:9080', path: '/ratings/0' });
  assertIncludes(r, { cluster: `outbound|9080|v1|${RATINGS}` });
  assert.equal(r.retry!.retryOn, 'gateway-error,connect-failure,refused-stream');
  assert.deepEqual(r.retry!.numRetries, { value: 3 });
  assert.deepEqual(r.retry!.perTryTimeout, { seconds: 2, nanos: 0 });
  assert.equal(r.retry!.retriableStatusCodes, undefined, 'no status codes named, none retried');
  assert.equal(r.retry!.hostSelectionRetryMaxAttempts, 5);
});
