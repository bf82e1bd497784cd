// Traffic tables for Bookinfo request routing: default routes, every service to v1, reviews v2 for user jason, and the mesh catch-all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate, type Call, type Result } from './simulation.js';
import { FIXTURES, NS, applyDocs, assertIncludes, host, testMesh } from './mesh.js';

const REVIEWS = host('reviews');

test('without VirtualServices, each Bookinfo host reaches its service cluster under every name a client may use', () => {
  const m = testMesh();
  const cfg = m.config(m.sidecar('productpage-v1'));
  const rows: Array<[Call, Partial<Result>]> = [
    [{ port: 9080, authority: 'reviews:9080', path: '/reviews/1' }, { listener: '0.0.0.0_9080', routeConfig: '9080', virtualHost: `${REVIEWS}:9080`, cluster: `outbound|9080||${REVIEWS}`, clusterFound: true, timeoutMs: 0 }],
    [{ port: 9080, authority: 'reviews', path: '/' }, { cluster: `outbound|9080||${REVIEWS}` }],
    [{ port: 9080, authority: 'reviews.bookinfo', path: '/' }, { cluster: `outbound|9080||${REVIEWS}` }],
    [{ port: 9080, authority: 'reviews.bookinfo.svc:9080', path: '/' }, { cluster: `outbound|9080||${REVIEWS}` }],
    [{ port: 9080, authority: `${REVIEWS}:9080`, path: '/' }, { cluster: `outbound|9080||${REVIEWS}` }],
    [{ port: 9080, authority: 'ratings:9080', path: '/ratings/0' }, { cluster: `outbound|9080||${host('ratings')}` }],
    [{ port: 9080, authority: 'details:9080', path: '/details/0' }, { cluster: `outbound|9080||${host('details')}` }],
    // An unknown host on a known port falls to the catch-all virtual host (ALLOW_ANY).
    [{ port: 9080, authority: 'example.com', path: '/' }, { virtualHost: 'allow_any', cluster: 'PassthroughCluster', clusterFound: true }],
  ];
  for (const [call, want] of rows) assertIncludes(simulate(cfg, call), want, `${call.authority}${call.path}`);
  const retry = simulate(cfg, rows[0]![0]).retry!;
  assert.deepEqual({ on: retry.retryOn, n: retry.numRetries, codes: retry.retriableStatusCodes, tries: retry.hostSelectionRetryMaxAttempts }, {
    on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
    n: { value: 2 },
    codes: [503],
    tries: 5,
  });
});

test('request routing: all traffic to v1, then GET /reviews with end-user: jason reaches reviews v2 and everyone else v1', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/bookinfo-destination-rules.yaml`, [0, 1, 2, 3]);
  applyDocs(m.store, `${FIXTURES}/request-routing.yaml`, [0, 1, 2, 3]);
  let cfg = m.config(m.sidecar('productpage-v1'));
  for (const svc of ['productpage', 'reviews', 'ratings', 'details']) {
    assertIncludes(simulate(cfg, { port: 9080, authority: `${svc}:9080`, path: '/' }), { cluster: `outbound|9080|v1|${host(svc)}`, clusterFound: true }, svc);
  }
  assertIncludes(simulate(cfg, { port: 9080, authority: 'reviews:9080', path: '/reviews/1', headers: { 'end-user': 'jason' } }), { cluster: `outbound|9080|v1|${REVIEWS}` });

  applyDocs(m.store, `${FIXTURES}/request-routing.yaml`, [4]);
  cfg = m.config(m.sidecar('productpage-v1'));
  const rows: Array<[Call, Partial<Result>]> = [
    [{ port: 9080, authority: 'reviews:9080', path: '/reviews/1', headers: { 'end-user': 'jason' } }, { cluster: `outbound|9080|v2|${REVIEWS}`, routeIndex: 0 }],
    [{ port: 9080, authority: 'reviews:9080', path: '/reviews/1', headers: { 'end-user': 'Jason' } }, { cluster: `outbound|9080|v1|${REVIEWS}`, routeIndex: 1 }],
    [{ port: 9080, authority: 'reviews:9080', path: '/reviews/1' }, { cluster: `outbound|9080|v1|${REVIEWS}`, routeIndex: 1 }],
    [{ port: 9080, authority: 'ratings:9080', path: '/ratings/1', headers: { 'end-user': 'jason' } }, { cluster: `outbound|9080|v1|${host('ratings')}` }],
  ];
  for (const [call, want] of rows) assertIncludes(simulate(cfg, call), want, JSON.stringify(call.headers ?? {}));
});

test('the jason rule is in force for every Bookinfo caller, and subset clusters exist for every DestinationRule subset', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/bookinfo-destination-rules.yaml`, [0, 1, 2, 3]);
  applyDocs(m.store, `${FIXTURES}/request-routing.yaml`, [0, 2, 3, 4]);
  for (const from of ['productpage-v1', 'reviews-v1', 'ratings-v1']) {
    const cfg = m.config(m.sidecar(from));
    assertIncludes(simulate(cfg, { port: 9080, authority: 'reviews:9080', path: '/', headers: { 'end-user': 'jason' } }), { cluster: `outbound|9080|v2|${REVIEWS}`, clusterFound: true }, from);
    for (const subset of ['v1', 'v2', 'v3']) assert.ok(cfg.clusters.has(`outbound|9080|${subset}|${REVIEWS}`), `${from} has subset ${subset}`);
  }
});

test('a bare service name is a domain only for callers in its own namespace; others use name.namespace or the FQDN', () => {
  const m = testMesh();
  const cfg = m.config(m.sidecar('productpage-v1'));
  const vh = simulate(cfg, { port: 9080, authority: 'reviews', path: '/' }).virtualHost;
  assert.equal(vh, `${REVIEWS}:9080`);
  // From another namespace the bare name `reviews` is not a Bookinfo domain.
  const other = m.config({ ...m.sidecar('productpage-v1'), namespace: 'default', id: 'sidecar~10.9.9.8~x.default~default.svc.cluster.local' });
  assertIncludes(simulate(other, { port: 9080, authority: 'reviews', path: '/' }), { virtualHost: 'allow_any' });
  assertIncludes(simulate(other, { port: 9080, authority: `reviews.${NS}:9080`, path: '/' }), { virtualHost: `${REVIEWS}:9080` });
});
