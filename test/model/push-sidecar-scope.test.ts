// PushContext.sidecarScope(): which Sidecar applies, which services and mesh VirtualServices a proxy sees, and its outbound policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFile, applyYaml, BOOKINFO_NAMESPACE, bookinfoMesh, proxy, pushOf } from '../helpers/bookinfo-mesh.js';

const BOOKINFO = ['details', 'productpage', 'ratings', 'reviews'].map((n) => `${n}.bookinfo.svc.cluster.local`);

const OTHER_SERVICES = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}, {name: grpc, port: 9090}]
---
apiVersion: v1
kind: Service
metadata: {name: istiod, namespace: istio-system}
spec:
  selector: {app: istiod}
  ports: [{name: grpc-xds, port: 15010}]
---
apiVersion: v1
kind: Service
metadata: {name: secret, namespace: vault, annotations: {networking.istio.io/exportTo: "."}}
spec:
  selector: {app: secret}
  ports: [{name: http, port: 8200}]`;

function sidecar(name: string, ns: string, body: string, ts = ''): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: ${name}, namespace: ${ns}${ts ? `, creationTimestamp: "${ts}"` : ''}}
spec:
${body}`;
}

function mesh() {
  const m = bookinfoMesh();
  applyYaml(m.store, OTHER_SERVICES);
  return m;
}

const hostnames = (s: { services: readonly { hostname: string }[] }) => s.services.map((x) => x.hostname);

test('no Sidecar: every service exported to the namespace, sorted by hostname, and the mesh outbound policy', () => {
  const { store } = mesh();
  const push = pushOf(store, { outboundTrafficPolicy: 'REGISTRY_ONLY' });
  const scope = push.sidecarScope(proxy('bookinfo', { app: 'productpage' }));
  assert.equal(scope.config, undefined);
  assert.deepEqual(hostnames(scope), [...BOOKINFO, 'istiod.istio-system.svc.cluster.local', 'web.shop.svc.cluster.local'].sort());
  assert.equal(scope.outboundTrafficPolicy, 'REGISTRY_ONLY');
  assert.ok(hostnames(push.sidecarScope(proxy('vault', {}))).includes('secret.vault.svc.cluster.local'), 'exportTo "." still includes its own namespace');
});

test('precedence: a Sidecar selecting the workload > the namespace Sidecar > the root namespace Sidecar > the default', () => {
  const { store } = mesh();
  applyYaml(
    store,
    [
      sidecar('root', 'istio-system', '  egress: [{hosts: ["istio-system/*"]}]'),
      sidecar('ns-default', 'bookinfo', '  egress: [{hosts: ["./*"]}]'),
      sidecar('reviews-only', 'bookinfo', '  workloadSelector: {labels: {app: reviews}}\n  egress: [{hosts: ["./ratings.bookinfo.svc.cluster.local"]}]'),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  const reviews = push.sidecarScope(proxy('bookinfo', { app: 'reviews', version: 'v1' }));
  assert.equal(reviews.config?.name, 'reviews-only');
  assert.deepEqual(hostnames(reviews), ['ratings.bookinfo.svc.cluster.local']);
  const productpage = push.sidecarScope(proxy('bookinfo', { app: 'productpage' }));
  assert.equal(productpage.config?.name, 'ns-default');
  assert.deepEqual(hostnames(productpage), BOOKINFO);
  const shop = push.sidecarScope(proxy('shop', { app: 'web' }));
  assert.equal(shop.config?.name, 'root');
  assert.equal(shop.config?.namespace, 'istio-system');
  assert.deepEqual(hostnames(shop), ['istiod.istio-system.svc.cluster.local']);
});

test('the oldest of several matching selector Sidecars applies', () => {
  const { store } = mesh();
  applyYaml(
    store,
    [
      sidecar('newer', 'bookinfo', '  workloadSelector: {labels: {app: reviews}}\n  egress: [{hosts: ["./*"]}]', '2024-02-01T00:00:00Z'),
      sidecar('older', 'bookinfo', '  workloadSelector: {labels: {version: v1}}\n  egress: [{hosts: ["./*"]}]', '2024-01-01T00:00:00Z'),
    ].join('\n---\n'),
  );
  assert.equal(pushOf(store).sidecarScope(proxy('bookinfo', { app: 'reviews', version: 'v1' })).config?.name, 'older');
});

test('egress hosts: "*" any namespace, "." own, a namespace by name, "~" none; exportTo still applies', () => {
  const { store } = mesh();
  applyYaml(
    store,
    [
      sidecar('a', 'bookinfo', '  egress: [{hosts: ["*/web.shop.svc.cluster.local", "./reviews.bookinfo.svc.cluster.local", "vault/*"]}]'),
      sidecar('nothing', 'shop', '  egress: [{hosts: ["~/*"]}]'),
      sidecar('wild', 'vault', '  egress: [{hosts: ["*/*.bookinfo.svc.cluster.local"]}]'),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  assert.deepEqual(hostnames(push.sidecarScope(proxy('bookinfo', {}))), ['reviews.bookinfo.svc.cluster.local', 'web.shop.svc.cluster.local'], 'vault/secret is not exported to bookinfo');
  assert.deepEqual(hostnames(push.sidecarScope(proxy('shop', {}))), []);
  assert.deepEqual(hostnames(push.sidecarScope(proxy('vault', {}))), BOOKINFO);
});

test('an egress listener with a port imports only that port of each service', () => {
  const { store } = mesh();
  applyYaml(
    store,
    sidecar('ports', 'bookinfo', '  egress:\n  - {port: {number: 9090, protocol: GRPC, name: grpc}, hosts: ["shop/*"]}\n  - {hosts: ["./*"]}'),
  );
  const scope = pushOf(store).sidecarScope(proxy('bookinfo', {}));
  const web = scope.services.find((s) => s.hostname === 'web.shop.svc.cluster.local');
  assert.deepEqual(
    web?.ports.map((p) => p.port),
    [9090],
  );
  assert.deepEqual(hostnames(scope), [...BOOKINFO, 'web.shop.svc.cluster.local']);
});

test('outboundTrafficPolicy: the Sidecar setting, an empty one meaning REGISTRY_ONLY, else the mesh setting', () => {
  const { store } = mesh();
  applyYaml(
    store,
    [
      sidecar('allow', 'bookinfo', '  egress: [{hosts: ["./*"]}]\n  outboundTrafficPolicy: {mode: ALLOW_ANY}'),
      sidecar('empty', 'shop', '  egress: [{hosts: ["./*"]}]\n  outboundTrafficPolicy: {}'),
      sidecar('unset', 'vault', '  egress: [{hosts: ["./*"]}]'),
    ].join('\n---\n'),
  );
  const push = pushOf(store, { outboundTrafficPolicy: 'REGISTRY_ONLY' });
  assert.equal(push.sidecarScope(proxy('bookinfo', {})).outboundTrafficPolicy, 'ALLOW_ANY');
  assert.equal(push.sidecarScope(proxy('shop', {})).outboundTrafficPolicy, 'REGISTRY_ONLY');
  assert.equal(pushOf(store).sidecarScope(proxy('shop', {})).outboundTrafficPolicy, 'REGISTRY_ONLY');
  assert.equal(pushOf(store).sidecarScope(proxy('vault', {})).outboundTrafficPolicy, 'ALLOW_ANY');
});

test('mesh VirtualServices follow the egress hosts, and pull in the services they route to', () => {
  const { store } = mesh();
  for (const f of ['virtual-service-all-v1', 'virtual-service-reviews-test-v2']) applyFile(store, `examples/bookinfo-samples/${f}.yaml`, BOOKINFO_NAMESPACE);
  applyYaml(
    store,
    [
      `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: front, namespace: shop}
spec:
  hosts: [front.example.com]
  http: [{route: [{destination: {host: reviews.bookinfo.svc.cluster.local}}]}]`,
      sidecar('shop', 'shop', '  egress: [{hosts: ["./*"]}]'),
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  const shop = proxy('shop', { app: 'web' });
  assert.deepEqual(
    push.virtualServices(shop, 'mesh').map((vs) => vs.name),
    ['front'],
    "bookinfo's VirtualServices are not imported by ./*",
  );
  assert.deepEqual(hostnames(push.sidecarScope(shop)), ['reviews.bookinfo.svc.cluster.local', 'web.shop.svc.cluster.local'], 'the route target is added so the route has a cluster');
});

test('Sidecars configure sidecars only: a router gets its namespace default view', () => {
  const { store } = mesh();
  applyYaml(store, sidecar('root', 'istio-system', '  egress: [{hosts: ["istio-system/*"]}]'));
  const push = pushOf(store);
  const gw = push.sidecarScope(proxy('istio-system', { istio: 'ingressgateway' }, { type: 'router' }));
  assert.equal(gw.config, undefined);
  assert.ok(hostnames(gw).includes('reviews.bookinfo.svc.cluster.local'));
});

test('scopes are shared: proxies of one namespace and Sidecar get the same frozen object', () => {
  const { store } = mesh();
  applyYaml(store, sidecar('ns', 'bookinfo', '  egress: [{hosts: ["./*"]}]'));
  const push = pushOf(store);
  const a = push.sidecarScope(proxy('bookinfo', { app: 'reviews' }, { ip: '10.0.0.1' }));
  const b = push.sidecarScope(proxy('bookinfo', { app: 'ratings' }, { ip: '10.0.0.2' }));
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.services));
});
