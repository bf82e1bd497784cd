// PushContext over Bookinfo: services and visibility, subset endpoints, inbound endpoints, VirtualService binding, visibility and precedence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFile, applyYaml, BOOKINFO_NAMESPACE, bookinfoMesh, proxy, pushOf, tickingStore } from '../helpers/bookinfo-mesh.js';

const REVIEWS = 'reviews.bookinfo.svc.cluster.local';
const productpage = (ip = '10.9.9.9') => proxy('bookinfo', { app: 'productpage', version: 'v1' }, { ip });
const ingress = () => proxy('istio-system', { istio: 'ingressgateway', app: 'istio-ingressgateway' }, { type: 'router' });

function withBookinfoRouting() {
  const mesh = bookinfoMesh();
  for (const f of ['bookinfo/networking/bookinfo-gateway', 'bookinfo/networking/destination-rule-all', 'bookinfo-samples/virtual-service-all-v1', 'bookinfo-samples/virtual-service-reviews-test-v2']) applyFile(mesh.store, `examples/${f}.yaml`, BOOKINFO_NAMESPACE);
  return mesh;
}

test('service(): a hostname is found only from namespaces it is exported to', () => {
  const { store } = bookinfoMesh();
  applyYaml(
    store,
    `apiVersion: v1
kind: Service
metadata: {name: private, namespace: bookinfo, annotations: {networking.istio.io/exportTo: "."}}
spec:
  selector: {app: private}
  ports: [{name: http, port: 80}]`,
  );
  const push = pushOf(store);
  assert.equal(push.service(REVIEWS, 'other')?.hostname, REVIEWS);
  assert.equal(push.service('private.bookinfo.svc.cluster.local', 'bookinfo')?.sourceName, 'private');
  assert.equal(push.service('private.bookinfo.svc.cluster.local', 'other'), undefined);
  assert.equal(push.service('nope.bookinfo.svc.cluster.local', 'bookinfo'), undefined);
});

test('endpoints(): subset labels filter the registry endpoints', () => {
  const { store, ips } = bookinfoMesh();
  const push = pushOf(store);
  const reviews = push.service(REVIEWS, 'bookinfo')!;
  assert.deepEqual(
    push.endpoints(reviews, 9080).map((e) => e.address),
    [ips['reviews-v1'], ips['reviews-v2'], ips['reviews-v3']],
  );
  assert.deepEqual(
    push.endpoints(reviews, 9080, { version: 'v2' }).map((e) => e.address),
    [ips['reviews-v2']],
  );
  assert.deepEqual(push.endpoints(reviews, 9080, { version: 'v9' }), []);
  assert.deepEqual(push.endpoints(reviews, 1234), []);
});

test('inboundEndpoints(): the endpoints whose address is one of the proxy IPs', () => {
  const { store, ips } = bookinfoMesh();
  const push = pushOf(store);
  const reviewsV2 = proxy('bookinfo', { app: 'reviews', version: 'v2' }, { ip: ips['reviews-v2'] });
  assert.deepEqual(
    push.inboundEndpoints(reviewsV2).map((e) => [e.hostname, e.servicePort, e.port, e.workloadName]),
    [[REVIEWS, 9080, 9080, 'reviews-v2-abc12']],
  );
  assert.deepEqual(push.inboundEndpoints(proxy('bookinfo', {}, { ip: '192.0.2.1' })), []);
});

test('Bookinfo: mesh VirtualServices resolve short hosts against their namespace; the gateway one binds only to its Gateway', () => {
  const { store } = withBookinfoRouting();
  const push = pushOf(store);
  assert.deepEqual(
    push.virtualServices(productpage(), 'mesh').map((vs) => [vs.name, vs.hosts]),
    [
      ['productpage', ['productpage.bookinfo.svc.cluster.local']],
      ['reviews', [REVIEWS]],
      ['ratings', ['ratings.bookinfo.svc.cluster.local']],
      ['details', ['details.bookinfo.svc.cluster.local']],
    ],
  );
  assert.deepEqual(
    push.virtualServices(ingress(), 'bookinfo/bookinfo-gateway').map((vs) => [vs.name, vs.hosts]),
    [['bookinfo', ['*']]],
  );
  assert.deepEqual(push.virtualServices(ingress(), 'bookinfo-gateway'), [], 'only the resolved ns/name form is a key');
  assert.equal(push.messages.length, 0);
});

test('gateway references: a bare name means the VirtualService namespace; ns/name as written; the legacy FQDN form; mesh must be listed to stay on sidecars', () => {
  const store = tickingStore();
  applyYaml(
    store,
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: a, namespace: web}
spec:
  hosts: [a.example.com]
  gateways: [gw, gw2.other.svc.cluster.local, edge/gw3]
  http: [{route: [{destination: {host: a}}]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: b, namespace: web}
spec:
  hosts: [b]
  gateways: [mesh, gw]
  http: [{route: [{destination: {host: b}}]}]`,
  );
  const push = pushOf(store);
  const p = proxy('web', {});
  for (const g of ['web/gw', 'other/gw2', 'edge/gw3']) assert.ok(push.virtualServices(p, g).some((vs) => vs.name === 'a'), g);
  assert.deepEqual(
    push.virtualServices(p, 'web/gw').map((vs) => vs.name),
    ['a', 'b'],
  );
  assert.deepEqual(
    push.virtualServices(p, 'mesh').map((vs) => vs.name),
    ['b'],
  );
});

test('a gateway named only in a route match still binds the VirtualService to it', () => {
  const store = tickingStore();
  applyYaml(
    store,
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: split, namespace: web}
spec:
  hosts: [split.example.com]
  gateways: [mesh]
  http:
  - match: [{gateways: [edge/public], uri: {prefix: /public}}]
    route: [{destination: {host: public}}]
  - route: [{destination: {host: internal}}]`,
  );
  const push = pushOf(store);
  assert.deepEqual(
    push.virtualServices(proxy('web', {}), 'edge/public').map((vs) => vs.name),
    ['split'],
  );
  assert.deepEqual(
    push.virtualServices(proxy('web', {}), 'mesh').map((vs) => vs.name),
    ['split'],
  );
});

test('exportTo: "." keeps a VirtualService in its namespace; a namespace list exports to those namespaces only', () => {
  const store = tickingStore();
  applyYaml(
    store,
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: local, namespace: team-a}
spec:
  hosts: [local.example.com]
  exportTo: ["."]
  http: [{route: [{destination: {host: local.example.com}}]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: shared, namespace: team-a}
spec:
  hosts: [shared.example.com]
  exportTo: [team-b]
  http: [{route: [{destination: {host: shared.example.com}}]}]`,
  );
  const push = pushOf(store);
  const names = (ns: string) => push.virtualServices(proxy(ns, {}), 'mesh').map((vs) => vs.name);
  assert.deepEqual(names('team-a'), ['local']);
  assert.deepEqual(names('team-b'), ['shared']);
  assert.deepEqual(names('team-c'), []);
});

const vsFor = (name: string, ns: string, hosts: string[], ts: string, extra = '') => `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${ts}"}
spec:
  hosts: [${hosts.join(', ')}]
${extra}  http: [{route: [{destination: {host: ${hosts[0]}}}]}]`;

test('sidecars: the oldest VirtualService owns a host; a younger one loses that host only, with a message', () => {
  const { store } = bookinfoMesh();
  applyYaml(
    store,
    [
      vsFor('reviews-canary', 'bookinfo', ['reviews', 'ratings'], '2024-03-01T00:00:00Z'),
      vsFor('reviews-main', 'bookinfo', ['reviews'], '2024-02-01T00:00:00Z'),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  assert.deepEqual(
    push.virtualServices(productpage(), 'mesh').map((vs) => [vs.name, vs.hosts]),
    [
      ['reviews-main', [REVIEWS]],
      ['reviews-canary', ['ratings.bookinfo.svc.cluster.local']],
    ],
  );
  assert.equal(push.messages.length, 1);
  assert.match(push.messages[0]!.resource, /VirtualService bookinfo\/reviews-canary/);
  assert.match(push.messages[0]!.message, /reviews\.bookinfo\.svc\.cluster\.local.*bookinfo\/reviews-main/);
});

test('sidecars: with equal creation times, name.namespace decides; a VirtualService left without hosts is dropped', () => {
  const { store } = bookinfoMesh();
  const ts = '2024-02-01T00:00:00Z';
  applyYaml(store, [vsFor('b', 'bookinfo', ['reviews'], ts), vsFor('a', 'bookinfo', ['reviews'], ts)].join('\n---\n'));
  const push = pushOf(store);
  assert.deepEqual(
    push.virtualServices(productpage(), 'mesh').map((vs) => vs.name),
    ['a'],
  );
});

test('gateways: every bound VirtualService, oldest first, even when they share a host', () => {
  const store = tickingStore();
  const gw = '  gateways: [edge/public]\n';
  applyYaml(
    store,
    [vsFor('second', 'shop', ['shop.example.com'], '2024-02-01T00:00:00Z', gw), vsFor('first', 'shop', ['shop.example.com'], '2024-01-01T00:00:00Z', gw)].join('\n---\n'),
  );
  const push = pushOf(store);
  const router = proxy('edge', { istio: 'ingressgateway' }, { type: 'router' });
  assert.deepEqual(
    push.virtualServices(router, 'edge/public').map((vs) => [vs.name, vs.hosts]),
    [
      ['first', ['shop.example.com']],
      ['second', ['shop.example.com']],
    ],
  );
  assert.equal(push.messages.length, 0, 'concatenating routes on a gateway is not a conflict');
});

test('duplicate hosts in VirtualServices no namespace sees together are not reported', () => {
  const store = tickingStore();
  const local = '  exportTo: ["."]\n';
  applyYaml(store, [vsFor('x', 'team-a', ['api.example.com'], '2024-01-01T00:00:00Z', local), vsFor('x', 'team-b', ['api.example.com'], '2024-02-01T00:00:00Z', local)].join('\n---\n'));
  const push = pushOf(store);
  assert.equal(push.messages.length, 0);
  assert.deepEqual(
    push.virtualServices(proxy('team-b', {}), 'mesh').map((vs) => vs.namespace),
    ['team-b'],
  );
});

test('the context is immutable and answers from the state it was built from', () => {
  const { store } = withBookinfoRouting();
  const push = pushOf(store);
  assert.ok(Object.isFrozen(push));
  assert.ok(Object.isFrozen(push.messages));
  assert.ok(Object.isFrozen(push.mesh));
  const vss = push.virtualServices(productpage(), 'mesh');
  assert.ok(Object.isFrozen(vss) && Object.isFrozen(vss[0]) && Object.isFrozen(vss[0]!.hosts) && Object.isFrozen(vss[0]!.spec));
  assert.equal(push.virtualServices(productpage('10.1.1.1'), 'mesh'), vss, 'two proxies of one namespace share the cached answer');
  store.delete({ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews' });
  assert.equal(push.virtualServices(productpage(), 'mesh').length, 4, 'a later store change is not seen');
  assert.equal(pushOf(store).virtualServices(productpage(), 'mesh').length, 3);
});
