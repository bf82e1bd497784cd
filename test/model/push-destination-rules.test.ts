// PushContext.destinationRule(): Istio's lookup order (proxy ns → service ns → root ns), host specificity, exportTo and merging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFile, applyYaml, BOOKINFO_NAMESPACE, bookinfoMesh, proxy, pushOf } from '../helpers/bookinfo-mesh.js';

const REVIEWS = 'reviews.bookinfo.svc.cluster.local';

function dr(name: string, ns: string, host: string, body = '', ts = ''): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: ${name}, namespace: ${ns}${ts ? `, creationTimestamp: "${ts}"` : ''}}
spec:
  host: "${host}"
${body}`;
}

const fromNs = (ns: string) => proxy(ns, { app: 'client' });

test('Bookinfo: the reviews rule (short host resolved against its namespace) applies to every client', () => {
  const { store } = bookinfoMesh();
  applyFile(store, 'examples/bookinfo/networking/destination-rule-all.yaml', BOOKINFO_NAMESPACE);
  const push = pushOf(store);
  for (const ns of ['bookinfo', 'other', 'istio-system']) {
    const rule = push.destinationRule(fromNs(ns), REVIEWS);
    assert.equal(rule?.name, 'reviews', ns);
    assert.equal(rule.host, REVIEWS);
    assert.deepEqual(
      rule.spec.subsets?.map((s) => s.name),
      ['v1', 'v2', 'v3'],
    );
  }
  assert.equal(push.destinationRule(fromNs('bookinfo'), 'nothing.example.com'), undefined);
});

test('lookup order: the client namespace first, then the service namespace, then the root namespace', () => {
  const { store } = bookinfoMesh();
  applyYaml(
    store,
    [
      dr('client-side', 'frontend', REVIEWS, '  trafficPolicy: {loadBalancer: {simple: RANDOM}}'),
      dr('service-side', 'bookinfo', REVIEWS, '  trafficPolicy: {loadBalancer: {simple: LEAST_CONN}}'),
      dr('mesh-wide', 'istio-system', '*.local', '  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}'),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  assert.equal(push.destinationRule(fromNs('frontend'), REVIEWS)?.name, 'client-side');
  assert.equal(push.destinationRule(fromNs('bookinfo'), REVIEWS)?.name, 'service-side');
  assert.equal(push.destinationRule(fromNs('elsewhere'), REVIEWS)?.name, 'service-side');
  assert.equal(push.destinationRule(fromNs('elsewhere'), 'ratings.bookinfo.svc.cluster.local')?.name, 'mesh-wide');
});

test('a service-namespace rule exported only to its namespace is skipped for other clients, which fall back to the root rule', () => {
  const { store } = bookinfoMesh();
  applyYaml(
    store,
    [
      dr('private', 'bookinfo', 'reviews', '  exportTo: ["."]\n  subsets: [{name: v1, labels: {version: v1}}]'),
      dr('to-frontend', 'bookinfo', 'ratings', '  exportTo: [frontend]\n  subsets: [{name: v1, labels: {version: v1}}]'),
      dr('mesh-wide', 'istio-system', '*.local', '  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}'),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  assert.equal(push.destinationRule(fromNs('bookinfo'), REVIEWS)?.name, 'private');
  assert.equal(push.destinationRule(fromNs('frontend'), REVIEWS)?.name, 'mesh-wide');
  assert.equal(push.destinationRule(fromNs('frontend'), 'ratings.bookinfo.svc.cluster.local')?.name, 'to-frontend');
  assert.equal(push.destinationRule(fromNs('backend'), 'ratings.bookinfo.svc.cluster.local')?.name, 'mesh-wide');
});

test('host match: exact beats wildcards, and the most specific wildcard beats wider ones', () => {
  const { store } = bookinfoMesh();
  applyYaml(
    store,
    [
      dr('everything', 'istio-system', '*.local'),
      dr('bookinfo-wide', 'istio-system', '*.bookinfo.svc.cluster.local'),
      dr('svc-wide', 'istio-system', '*.svc.cluster.local'),
      dr('exact', 'istio-system', REVIEWS),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  const client = fromNs('frontend');
  assert.equal(push.destinationRule(client, REVIEWS)?.name, 'exact');
  assert.equal(push.destinationRule(client, 'ratings.bookinfo.svc.cluster.local')?.name, 'bookinfo-wide');
  assert.equal(push.destinationRule(client, 'web.shop.svc.cluster.local')?.name, 'svc-wide');
  assert.equal(push.destinationRule(client, 'db.local')?.name, 'everything');
  assert.equal(push.destinationRule(client, 'api.example.com'), undefined);
});

test('several rules for one host in one namespace merge: subsets concatenated, duplicates dropped, the oldest policy and exportTo win', () => {
  const { store } = bookinfoMesh();
  applyYaml(
    store,
    [
      dr('reviews-b', 'bookinfo', 'reviews', '  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n  exportTo: [frontend]\n  subsets: [{name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]', '2024-02-01T00:00:00Z'),
      dr('reviews-a', 'bookinfo', 'reviews', '  trafficPolicy: {loadBalancer: {simple: LEAST_CONN}}\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2-old}}]', '2024-01-01T00:00:00Z'),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  const rule = push.destinationRule(fromNs('frontend'), REVIEWS)!;
  assert.equal(rule.name, 'reviews-a');
  assert.deepEqual(
    rule.spec.subsets?.map((s) => [s.name, s.labels?.version]),
    [
      ['v1', 'v1'],
      ['v2', 'v2-old'],
      ['v3', 'v3'],
    ],
  );
  assert.equal(rule.spec.trafficPolicy?.loadBalancer?.simple, 'LEAST_CONN');
  assert.deepEqual(rule.spec.exportTo, ['frontend'], 'the first rule had no exportTo, so the later one fills it');
  // As in Istio: a rule exported only elsewhere is not in its own namespace's pool, so clients
  // there see the first rule alone.
  assert.deepEqual(
    push.destinationRule(fromNs('bookinfo'), REVIEWS)!.spec.subsets?.map((s) => s.name),
    ['v1', 'v2'],
  );
  assert.ok(Object.isFrozen(rule) && Object.isFrozen(rule.spec) && Object.isFrozen(rule.spec.subsets));
  assert.equal(push.messages.length, 1);
  assert.match(push.messages[0]!.resource, /DestinationRule bookinfo\/reviews-b/);
  assert.match(push.messages[0]!.message, /subset "v2"/);
});

test('a later rule only fills a missing top-level policy', () => {
  const { store } = bookinfoMesh();
  applyYaml(
    store,
    [
      dr('first', 'bookinfo', 'reviews', '  subsets: [{name: v1, labels: {version: v1}}]', '2024-01-01T00:00:00Z'),
      dr('second', 'bookinfo', 'reviews', '  trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}', '2024-02-01T00:00:00Z'),
    ].join('\n---\n'),
  );
  const rule = pushOf(store).destinationRule(fromNs('bookinfo'), REVIEWS)!;
  assert.equal(rule.spec.trafficPolicy?.connectionPool?.tcp?.maxConnections, 7);
  assert.deepEqual(
    rule.spec.subsets?.map((s) => s.name),
    ['v1'],
  );
});

test('a client in the root namespace: its private rules first, but a public mesh-wide rule there does not shadow the service namespace rule', () => {
  const { store } = bookinfoMesh();
  applyYaml(
    store,
    [
      dr('mesh-wide', 'istio-system', '*.local', '  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}'),
      dr('reviews', 'bookinfo', 'reviews', '  subsets: [{name: v1, labels: {version: v1}}]'),
      dr('gw-private', 'istio-system', 'ratings.bookinfo.svc.cluster.local', '  exportTo: ["."]'),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  const gateway = proxy('istio-system', { istio: 'ingressgateway' }, { type: 'router' });
  assert.equal(push.destinationRule(gateway, REVIEWS)?.name, 'reviews');
  assert.equal(push.destinationRule(gateway, 'ratings.bookinfo.svc.cluster.local')?.name, 'gw-private');
  assert.equal(push.destinationRule(gateway, 'details.bookinfo.svc.cluster.local')?.name, 'mesh-wide');
  assert.equal(push.destinationRule(fromNs('bookinfo'), 'ratings.bookinfo.svc.cluster.local')?.name, 'mesh-wide', 'the private root rule is for root-namespace clients only');
});

test('the root namespace follows the mesh config', () => {
  const { store } = bookinfoMesh();
  applyYaml(store, [dr('mesh-wide', 'cp', '*.local'), dr('ignored', 'istio-system', '*.local')].join('\n---\n'));
  const push = pushOf(store, { rootNamespace: 'cp' });
  assert.equal(push.destinationRule(fromNs('frontend'), REVIEWS)?.name, 'mesh-wide');
});
