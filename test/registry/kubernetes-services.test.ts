// Kubernetes Services and Pods in the registry: hostnames, ports, target ports, readiness, sidecars, identities, localities.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceRegistry } from '../../src/registry/registry.js';
import { applyFile, applyYaml, BOOKINFO_NAMESPACE, bookinfoMesh, tickingStore } from '../helpers/bookinfo-mesh.js';

const REVIEWS = 'reviews.bookinfo.svc.cluster.local';

test('Bookinfo: one STATIC mesh-internal service per Kubernetes Service, HTTP ports from the port names', () => {
  const { store } = bookinfoMesh();
  const snap = new ServiceRegistry(store).snapshot();
  assert.deepEqual(
    snap.services.map((s) => s.hostname),
    ['details', 'productpage', 'ratings', 'reviews'].map((n) => `${n}.bookinfo.svc.cluster.local`),
  );
  const reviews = snap.services.find((s) => s.hostname === REVIEWS)!;
  assert.equal(reviews.origin, 'kubernetes');
  assert.equal(reviews.sourceName, 'reviews');
  assert.equal(reviews.namespace, 'bookinfo');
  assert.equal(reviews.resolution, 'STATIC');
  assert.equal(reviews.location, 'MESH_INTERNAL');
  assert.deepEqual(reviews.addresses, []);
  assert.deepEqual(reviews.ports, [{ name: 'http', port: 9080, protocol: 'HTTP' }]);
  assert.deepEqual(reviews.labels, { app: 'reviews', service: 'reviews' });
  assert.deepEqual(reviews.exportTo, []);
});

test('Bookinfo: reviews has one endpoint per running pod, with its version label, service account and sidecar', () => {
  const { store, ips } = bookinfoMesh();
  const eps = new ServiceRegistry(store).snapshot().endpoints(REVIEWS, 9080, 'bookinfo');
  assert.deepEqual(
    eps.map((e) => [e.address, e.port, e.labels.version, e.workloadName]),
    [
      [ips['reviews-v1'], 9080, 'v1', 'reviews-v1-abc12'],
      [ips['reviews-v2'], 9080, 'v2', 'reviews-v2-abc12'],
      [ips['reviews-v3'], 9080, 'v3', 'reviews-v3-abc12'],
    ],
  );
  for (const e of eps) {
    assert.equal(e.hostname, REVIEWS);
    assert.equal(e.servicePort, 9080);
    assert.equal(e.serviceAccount, 'bookinfo-reviews');
    assert.equal(e.sidecar, true, 'the pod was injected (tlsMode label, status annotation)');
    assert.equal(e.healthy, true);
    assert.equal(e.weight, 1);
    assert.equal(e.namespace, 'bookinfo');
  }
  assert.deepEqual(new ServiceRegistry(store).snapshot().endpoints(REVIEWS, 9999, 'bookinfo'), []);
});

test('Deployments give no endpoints: a Service over a Deployment without running pods has none', () => {
  const store = tickingStore();
  applyFile(store, 'examples/bookinfo/platform.yaml', BOOKINFO_NAMESPACE);
  const snap = new ServiceRegistry(store).snapshot();
  assert.equal(snap.services.length, 4);
  assert.deepEqual(snap.endpoints(REVIEWS, 9080, 'bookinfo'), []);
  assert.deepEqual(snap.workloads, []);
});

const SERVICES = `
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  annotations: {networking.istio.io/exportTo: ". , istio-system"}
spec:
  clusterIP: 172.30.0.10
  selector: {app: web}
  ports:
  - {name: http-web, port: 80, targetPort: web}
  - {name: grpc, port: 9090, targetPort: 19090}
  - {name: mongo, port: 27017}
  - {name: metrics, port: 15000, appProtocol: http}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: tcp-db, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: shop}
spec:
  type: ExternalName
  externalName: legacy.example.com
  ports: [{name: https, port: 443}]
`;

function pod(name: string, labels: Record<string, string>, status: Record<string, unknown>, extra: { annotations?: Record<string, string>; spec?: Record<string, unknown>; namespace?: string } = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: extra.namespace ?? 'shop', labels, annotations: extra.annotations ?? {} },
    spec: extra.spec ?? { containers: [{ name: 'app', image: 'app:1', ports: [{ name: 'web', containerPort: 8080 }] }] },
    status,
  });
}

const READY = { phase: 'Running', podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: 'True' }] };

test('clusterIP becomes the address; exportTo comes from the annotation; protocols from appProtocol, names and well-known ports', () => {
  const store = tickingStore();
  applyYaml(store, SERVICES);
  const web = new ServiceRegistry(store).snapshot().services.find((s) => s.hostname === 'web.shop.svc.cluster.local')!;
  assert.deepEqual(web.addresses, ['172.30.0.10']);
  assert.deepEqual(web.exportTo, ['.', 'istio-system']);
  assert.deepEqual(
    web.ports.map((p) => [p.name, p.port, p.protocol]),
    [
      ['http-web', 80, 'HTTP'],
      ['grpc', 9090, 'GRPC'],
      ['mongo', 27017, 'MONGO'],
      ['metrics', 15000, 'HTTP'],
    ],
  );
});

test('a headless Service resolves NONE (original destination) but still lists its pods; ExternalName is DNS to the external name', () => {
  const store = tickingStore();
  applyYaml(store, SERVICES + '---\n' + pod('db-0', { app: 'db' }, { ...READY, podIP: '10.0.0.7' }));
  const snap = new ServiceRegistry(store).snapshot();
  const db = snap.services.find((s) => s.hostname === 'db.shop.svc.cluster.local')!;
  assert.equal(db.resolution, 'NONE');
  assert.deepEqual(db.addresses, []);
  assert.deepEqual(
    snap.endpoints(db.hostname, 5432, 'shop').map((e) => e.address),
    ['10.0.0.7'],
  );
  const legacy = snap.services.find((s) => s.hostname === 'legacy.shop.svc.cluster.local')!;
  assert.equal(legacy.resolution, 'DNS');
  assert.equal(legacy.location, 'MESH_EXTERNAL');
  assert.deepEqual(
    snap.endpoints(legacy.hostname, 443, 'shop').map((e) => [e.address, e.port, e.sidecar]),
    [['legacy.example.com', 443, false]],
  );
});

test('a named targetPort is looked up in the pod containers; a pod without that port serves nothing on it', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [
      SERVICES,
      pod('web-1', { app: 'web' }, READY),
      pod('web-2', { app: 'web' }, { ...READY, podIP: '10.0.0.2' }, { spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ name: 'other', containerPort: 7000 }] }] } }),
    ].join('\n---\n'),
  );
  const snap = new ServiceRegistry(store).snapshot();
  const host = 'web.shop.svc.cluster.local';
  assert.deepEqual(
    snap.endpoints(host, 80, 'shop').map((e) => [e.address, e.port]),
    [['10.0.0.1', 8080]],
  );
  assert.deepEqual(
    snap.endpoints(host, 9090, 'shop').map((e) => [e.address, e.port]),
    [
      ['10.0.0.1', 19090],
      ['10.0.0.2', 19090],
    ],
    'a numeric targetPort applies to every pod',
  );
  assert.deepEqual(
    snap.endpoints(host, 27017, 'shop').map((e) => e.port),
    [27017, 27017],
    'no targetPort: the service port',
  );
});

test('readiness: Ready=False is unhealthy; no conditions count as ready only when Running or phase-less; no IP or finished → no endpoint', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [
      SERVICES,
      pod('ready', { app: 'web' }, READY),
      pod('not-ready', { app: 'web' }, { phase: 'Running', podIP: '10.0.0.2', conditions: [{ type: 'Ready', status: 'False' }] }),
      pod('running-no-conditions', { app: 'web' }, { phase: 'Running', podIP: '10.0.0.3' }),
      pod('pending-no-conditions', { app: 'web' }, { phase: 'Pending', podIP: '10.0.0.4' }),
      pod('phase-less', { app: 'web' }, { podIP: '10.0.0.5' }),
      pod('no-ip', { app: 'web' }, { phase: 'Pending' }),
      pod('finished', { app: 'web' }, { phase: 'Succeeded', podIP: '10.0.0.6' }),
    ].join('\n---\n'),
  );
  const snap = new ServiceRegistry(store).snapshot();
  assert.deepEqual(
    snap.endpoints('web.shop.svc.cluster.local', 9090, 'shop').map((e) => [e.workloadName, e.healthy]),
    [
      ['ready', true],
      ['not-ready', false],
      ['running-no-conditions', true],
      ['pending-no-conditions', false],
      ['phase-less', true],
    ],
  );
  assert.deepEqual(snap.workloads.map((w) => w.name).sort(), ['not-ready', 'pending-no-conditions', 'phase-less', 'ready', 'running-no-conditions']);
});

test('publishNotReadyAddresses publishes unready pods as healthy', () => {
  const store = tickingStore();
  applyYaml(
    store,
    `apiVersion: v1
kind: Service
metadata: {name: peers, namespace: shop}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: peer}
  ports: [{name: tcp, port: 7000}]
---
${pod('peer-0', { app: 'peer' }, { phase: 'Running', podIP: '10.0.0.9', conditions: [{ type: 'Ready', status: 'False' }] })}`,
  );
  assert.deepEqual(
    new ServiceRegistry(store).snapshot().endpoints('peers.shop.svc.cluster.local', 7000, 'shop').map((e) => e.healthy),
    [true],
  );
});

test('sidecar: the tlsMode label decides, else the injector status annotation; asking for injection is not having a sidecar', () => {
  const store = tickingStore();
  const cases: Array<[string, Record<string, string>, Record<string, string>, boolean]> = [
    ['injected', {}, { 'sidecar.istio.io/status': '{"version":"x"}' }, true],
    ['opt-in-not-injected', {}, { 'sidecar.istio.io/inject': 'yes' }, false],
    ['opt-out', {}, { 'sidecar.istio.io/inject': 'false' }, false],
    ['plain', {}, {}, false],
    ['tls-disabled', { 'security.istio.io/tlsMode': 'disabled' }, { 'sidecar.istio.io/status': '{}' }, false],
    ['tls-istio', { 'security.istio.io/tlsMode': 'istio' }, {}, true],
  ];
  applyYaml(store, [SERVICES, ...cases.map(([name, labels, annotations], i) => pod(name, { app: 'web', ...labels }, { ...READY, podIP: `10.0.1.${i + 1}` }, { annotations }))].join('\n---\n'));
  const eps = new ServiceRegistry(store).snapshot().endpoints('web.shop.svc.cluster.local', 9090, 'shop');
  assert.deepEqual(
    Object.fromEntries(eps.map((e) => [e.workloadName, e.sidecar])),
    Object.fromEntries(cases.map(([name, , , sidecar]) => [name, sidecar])),
  );
});

test('identity and locality: serviceAccountName (default "default"); region/zone/subzone labels, istio-locality overriding', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [
      SERVICES,
      pod('a', { app: 'web', 'topology.kubernetes.io/region': 'eu-west', 'topology.kubernetes.io/zone': 'eu-west-1a', 'topology.istio.io/subzone': 'rack7' }, READY, {
        spec: { serviceAccountName: 'web-sa', containers: [{ name: 'app', image: 'app:1' }] },
      }),
      pod('b', { app: 'web', 'topology.kubernetes.io/region': 'us-east' }, { ...READY, podIP: '10.0.0.2' }),
      pod('c', { app: 'web', 'istio-locality': 'r1.z1.s1', 'topology.kubernetes.io/region': 'ignored' }, { ...READY, podIP: '10.0.0.3' }),
      pod('d', { app: 'web' }, { ...READY, podIP: '10.0.0.4' }),
    ].join('\n---\n'),
  );
  const eps = new ServiceRegistry(store).snapshot().endpoints('web.shop.svc.cluster.local', 9090, 'shop');
  assert.deepEqual(
    eps.map((e) => [e.workloadName, e.serviceAccount, e.locality]),
    [
      ['a', 'web-sa', 'eu-west/eu-west-1a/rack7'],
      ['b', 'default', 'us-east//'],
      ['c', 'default', 'r1/z1/s1'],
      ['d', 'default', ''],
    ],
  );
});

test('a Service selects pods of its own namespace only, and a selector-less Service gets no pod endpoints', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [
      SERVICES,
      'apiVersion: v1\nkind: Service\nmetadata: {name: manual, namespace: shop}\nspec:\n  ports: [{name: http, port: 80}]',
      pod('web-elsewhere', { app: 'web' }, READY, { namespace: 'other' }),
      pod('anything', {}, { ...READY, podIP: '10.0.0.2' }),
    ].join('\n---\n'),
  );
  const snap = new ServiceRegistry(store).snapshot();
  assert.deepEqual(snap.endpoints('web.shop.svc.cluster.local', 9090, 'shop'), []);
  assert.deepEqual(snap.endpoints('manual.shop.svc.cluster.local', 80, 'shop'), []);
  assert.equal(snap.workloads.length, 2, 'both pods are still workloads');
});

test('snapshots and everything in them are frozen', () => {
  const { store } = bookinfoMesh();
  const snap = new ServiceRegistry(store).snapshot();
  assert.ok(Object.isFrozen(snap));
  assert.ok(Object.isFrozen(snap.services));
  assert.ok(Object.isFrozen(snap.services[0]));
  assert.ok(Object.isFrozen(snap.services[0]!.ports));
  assert.ok(Object.isFrozen(snap.endpoints(REVIEWS, 9080, 'bookinfo')));
  assert.ok(Object.isFrozen(snap.endpoints(REVIEWS, 9080, 'bookinfo')[0]));
  assert.ok(Object.isFrozen(snap.workloads[0]));
});
