// Per-push sharing of generated config (generators/push-memo.ts): proxies that may share config do, and proxies that must differ still differ within one push.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TypeUrl } from '../../src/xds/types.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { applyYaml, proxy, pushOf } from '../helpers/bookinfo-mesh.js';
import { configFor, simulate, type Call } from './simulation.js';
import { NS, assertIncludes, host, testMesh } from './mesh.js';

const R = (subset: string) => `outbound|9080|${subset}|${host('reviews')}`;
const SUBSETS = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
`;

test('within one push, a sourceLabels route sends productpage to v2 and ratings (same namespace) to v1', () => {
  const m = testMesh();
  applyYaml(m.store, `${SUBSETS}---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http:
  - match: [{sourceLabels: {app: productpage}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`);
  const push = pushOf(m.store);
  const call: Call = { port: 9080, authority: 'reviews:9080', path: '/' };
  // Ratings first: a memo keyed without labels would hand its routes to productpage.
  assertIncludes(simulate(configFor(m.sidecar('ratings-v1'), push), call), { cluster: R('v1') });
  assertIncludes(simulate(configFor(m.sidecar('productpage-v1'), push), call), { cluster: R('v2') });
  assertIncludes(simulate(configFor(m.sidecar('details-v1'), push), call), { cluster: R('v1') });
});

test('within one push, the bare name `reviews` is a domain for a bookinfo caller but not for a caller in another namespace', () => {
  const m = testMesh();
  const push = pushOf(m.store);
  const call: Call = { port: 9080, authority: 'reviews:9080', path: '/' };
  assertIncludes(simulate(configFor(m.sidecar('productpage-v1'), push), call), { cluster: `outbound|9080||${host('reviews')}` });
  const other = configFor(proxy('other', { app: 'x' }, { ip: '10.7.0.1' }), push);
  assert.notEqual(simulate(other, call).cluster, `outbound|9080||${host('reviews')}`);
  assertIncludes(simulate(other, { ...call, authority: `reviews.${NS}:9080` }), { cluster: `outbound|9080||${host('reviews')}` });
});

test('within one push, a DestinationRule in the caller’s namespace shapes only that namespace’s clusters and endpoints', () => {
  const m = testMesh();
  applyYaml(m.store, `${SUBSETS}---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews-from-other, namespace: other}
spec:
  host: reviews.${NS}.svc.cluster.local
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}
  subsets: [{name: only-v3, labels: {version: v3}}]
`);
  const push = pushOf(m.store);
  const local = configFor(m.sidecar('productpage-v1'), push);
  const other = configFor(proxy('other', { app: 'x' }, { ip: '10.7.0.1' }), push);
  assert.ok(local.clusters.has(R('v2')) && !local.clusters.has(R('only-v3')));
  assert.ok(other.clusters.has(R('only-v3')) && !other.clusters.has(R('v2')));
  const maxConnections = (c: Record<string, unknown> | undefined) =>
    ((c?.circuitBreakers as { thresholds?: Array<{ maxConnections?: { value: number } }> } | undefined)?.thresholds ?? [])[0]?.maxConnections?.value;
  assert.equal(maxConnections(other.clusters.get(`outbound|9080||${host('reviews')}`)), 7);
  assert.notEqual(maxConnections(local.clusters.get(`outbound|9080||${host('reviews')}`)), 7);
  // The subset the other namespace's rule defines has endpoints there; the bookinfo rule's v2 has none there.
  const eds = envoyGenerators[TypeUrl.ClusterLoadAssignment]!;
  const [fromOther] = eds(proxy('other', { app: 'x' }, { ip: '10.7.0.1' }), push, [R('v2')]);
  const [fromLocal] = eds(m.sidecar('productpage-v1'), push, [R('v2')]);
  assert.deepEqual(fromOther!.resource.endpoints, []);
  assert.ok((fromLocal!.resource.endpoints as unknown[]).length > 0);
});

test('proxies with one view of the mesh get the same frozen outbound objects, and mutating one throws instead of leaking', () => {
  const m = testMesh();
  applyYaml(m.store, SUBSETS);
  const push = pushOf(m.store);
  const cds = envoyGenerators[TypeUrl.Cluster]!;
  const a = cds(m.sidecar('productpage-v1'), push).find((r) => r.name === R('v2'))!;
  const b = cds(m.sidecar('ratings-v1'), push).find((r) => r.name === R('v2'))!;
  assert.equal(a.resource, b.resource);
  assert.ok(Object.isFrozen(a.resource));
  assert.throws(() => {
    (a.resource as Record<string, unknown>).name = 'hijacked';
  }, TypeError);
  // A new push builds its own objects: nothing is shared across pushes.
  const c = cds(m.sidecar('productpage-v1'), pushOf(m.store)).find((r) => r.name === R('v2'))!;
  assert.notEqual(c.resource, a.resource);
  assert.deepEqual(c.resource, a.resource);
});

test('each sidecar keeps its own inbound cluster and listener while sharing the outbound ones', () => {
  const m = testMesh();
  const push = pushOf(m.store);
  const reviews = configFor(m.sidecar('reviews-v1'), push);
  const ratings = configFor(m.sidecar('ratings-v1'), push);
  assert.ok(reviews.clusters.has('inbound|9080||'));
  assertIncludes(simulate(reviews, { port: 9080, authority: 'reviews:9080', path: '/', inbound: true, address: m.ips['reviews-v1'] }), { cluster: 'inbound|9080||' });
  assertIncludes(simulate(ratings, { port: 9080, authority: 'ratings:9080', path: '/', inbound: true, address: m.ips['ratings-v1'] }), { cluster: 'inbound|9080||' });
  const virtualInbound = (cfg: typeof reviews) => cfg.listeners.find((l) => l.name === 'virtualInbound');
  assert.notEqual(virtualInbound(reviews), virtualInbound(ratings));
});
