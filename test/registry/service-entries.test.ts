// ServiceEntries in the registry: one service per host, STATIC/DNS/NONE endpoints, workloadSelector, and hostname ownership.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceRegistry } from '../../src/registry/registry.js';
import { applyYaml, tickingStore } from '../helpers/bookinfo-mesh.js';

const STATIC_SE = `
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: payments, namespace: shop, labels: {team: pay}}
spec:
  hosts: [Payments.Example.COM]
  addresses: [192.168.10.1/32, 10.20.0.0/16]
  location: MESH_INTERNAL
  resolution: STATIC
  exportTo: ["."]
  subjectAltNames: ["spiffe://cluster.local/ns/shop/sa/payments"]
  ports:
  - {number: 443, name: https, protocol: HTTPS}
  - {number: 8080, name: http, protocol: HTTP}
  endpoints:
  - address: 10.5.0.1
    ports: {https: 8443}
    labels: {version: v1, security.istio.io/tlsMode: istio}
    serviceAccount: payments
    locality: eu/eu-1/a
    weight: 3
  - address: 10.5.0.2
    labels: {version: v2}
`;

test('STATIC: one endpoint per listed endpoint and port; the ports map renames by port name; weight defaults to 1', () => {
  const store = tickingStore();
  applyYaml(store, STATIC_SE);
  const snap = new ServiceRegistry(store).snapshot();
  assert.equal(snap.services.length, 1);
  const s = snap.services[0]!;
  assert.equal(s.hostname, 'payments.example.com', 'lower-cased');
  assert.equal(s.origin, 'serviceentry');
  assert.equal(s.namespace, 'shop');
  assert.equal(s.sourceName, 'payments');
  assert.deepEqual(s.addresses, ['192.168.10.1', '10.20.0.0/16'], 'a /32 is a plain address, wider CIDRs stay');
  assert.equal(s.resolution, 'STATIC');
  assert.equal(s.location, 'MESH_INTERNAL');
  assert.deepEqual(s.exportTo, ['.']);
  assert.deepEqual(s.subjectAltNames, ['spiffe://cluster.local/ns/shop/sa/payments']);
  assert.deepEqual(s.labels, { team: 'pay' });
  assert.deepEqual(
    s.ports.map((p) => [p.name, p.port, p.protocol]),
    [
      ['https', 443, 'HTTPS'],
      ['http', 8080, 'HTTP'],
    ],
  );
  assert.deepEqual(
    snap.endpoints(s.hostname, 443, s.namespace).map((e) => [e.address, e.port, e.weight, e.serviceAccount, e.locality, e.sidecar, e.labels.version]),
    [
      ['10.5.0.1', 8443, 3, 'payments', 'eu/eu-1/a', true, 'v1'],
      ['10.5.0.2', 443, 1, '', '', false, 'v2'],
    ],
  );
  assert.deepEqual(
    snap.endpoints(s.hostname, 8080, s.namespace).map((e) => [e.address, e.port]),
    [
      ['10.5.0.1', 8080],
      ['10.5.0.2', 8080],
    ],
    'a port missing from the map keeps the service port',
  );
});

test('DNS without endpoints: each host is its own endpoint on every port; short names are kept as written', () => {
  const store = tickingStore();
  applyYaml(
    store,
    `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: apis, namespace: shop}
spec:
  hosts: [api.example.com, www.example.org]
  resolution: DNS
  ports: [{number: 443, name: https, protocol: HTTPS}, {number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: short, namespace: shop}
spec:
  hosts: [mydb]
  resolution: STATIC
  endpoints: [{address: 10.9.0.1}]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
`,
  );
  const snap = new ServiceRegistry(store).snapshot();
  assert.deepEqual(
    snap.services.map((s) => [s.hostname, s.location, s.resolution]),
    [
      ['api.example.com', 'MESH_EXTERNAL', 'DNS'],
      ['mydb', 'MESH_EXTERNAL', 'STATIC'],
      ['www.example.org', 'MESH_EXTERNAL', 'DNS'],
    ],
  );
  for (const host of ['api.example.com', 'www.example.org']) {
    for (const port of [443, 80]) {
      assert.deepEqual(
        snap.endpoints(host, port, 'shop').map((e) => [e.address, e.port, e.sidecar, e.healthy]),
        [[host, port, false, true]],
      );
    }
  }
});

test('NONE has no endpoints (original destination)', () => {
  const store = tickingStore();
  applyYaml(
    store,
    `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: wildcard, namespace: shop}
spec:
  hosts: ["*.googleapis.com"]
  resolution: NONE
  ports: [{number: 443, name: tls, protocol: TLS}]
`,
  );
  const snap = new ServiceRegistry(store).snapshot();
  assert.equal(snap.services[0]!.hostname, '*.googleapis.com');
  assert.equal(snap.services[0]!.resolution, 'NONE');
  assert.deepEqual(snap.endpoints('*.googleapis.com', 443, 'shop'), []);
});

test('workloadSelector selects Pods and WorkloadEntries of the ServiceEntry namespace, ports by name', () => {
  const store = tickingStore();
  applyYaml(
    store,
    `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: legacy, namespace: shop}
spec:
  hosts: [legacy.shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: legacy}}
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 9000, name: admin, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: shop}
spec:
  address: 10.7.0.1
  labels: {app: legacy, version: vm}
  ports: {http: 8080}
  serviceAccount: legacy
  weight: 5
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: vm-elsewhere, namespace: other}
spec:
  address: 10.7.0.2
  labels: {app: legacy}
---
apiVersion: v1
kind: Pod
metadata: {name: legacy-pod, namespace: shop, labels: {app: legacy, version: pod}, annotations: {sidecar.istio.io/status: "{}"}}
spec:
  containers: [{name: app, image: app:1, ports: [{name: admin, containerPort: 19000}]}]
status: {phase: Running, podIP: 10.7.0.3, conditions: [{type: Ready, status: "False"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: unrelated, namespace: shop, labels: {app: other}}
spec:
  containers: [{name: app, image: app:1}]
status: {phase: Running, podIP: 10.7.0.4}
`,
  );
  const snap = new ServiceRegistry(store).snapshot();
  const host = 'legacy.shop.internal';
  assert.deepEqual(
    snap.endpoints(host, 80, 'shop').map((e) => [e.workloadName, e.address, e.port, e.weight, e.sidecar, e.healthy, e.serviceAccount]),
    [
      ['vm-1', '10.7.0.1', 8080, 5, true, true, 'legacy'],
      ['legacy-pod', '10.7.0.3', 80, 1, true, false, 'default'],
    ],
  );
  assert.deepEqual(
    snap.endpoints(host, 9000, 'shop').map((e) => [e.workloadName, e.port]),
    [
      ['vm-1', 9000],
      ['legacy-pod', 19000],
    ],
  );
});

test('a Kubernetes Service owns its hostname over a ServiceEntry naming the same host, even an older one', () => {
  const store = tickingStore();
  applyYaml(
    store,
    `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: decorate, namespace: shop, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  hosts: [web.shop.svc.cluster.local]
  resolution: STATIC
  endpoints: [{address: 10.99.0.1}]
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
`,
  );
  const reg = new ServiceRegistry(store);
  const snap = reg.snapshot();
  assert.equal(snap.services.length, 1);
  assert.equal(snap.services[0]!.origin, 'kubernetes');
  assert.deepEqual(snap.endpoints('web.shop.svc.cluster.local', 80, 'shop'), [], 'the ServiceEntry endpoints do not leak into the Service');

  store.delete({ group: '', kind: 'Service', namespace: 'shop', name: 'web' });
  const after = reg.snapshot();
  assert.equal(after.services[0]!.origin, 'serviceentry', 'with the Service gone, the ServiceEntry takes the host');
  assert.deepEqual(
    after.endpoints('web.shop.svc.cluster.local', 80, 'shop').map((e) => e.address),
    ['10.99.0.1'],
  );
});

/** A ServiceEntry for db.example.com:5432 with one endpoint, created at `ts`. */
const dbEntry = (name: string, ns: string, ts: string, ip: string) => `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${ts}"}
spec:
  hosts: [db.example.com]
  resolution: STATIC
  endpoints: [{address: ${ip}}]
  ports: [{number: 5432, name: tcp, protocol: TCP}]`;

test('ServiceEntries for one host in two namespaces are two services, each with its own endpoints', () => {
  const se = dbEntry;
  const store = tickingStore();
  applyYaml(store, [se('newer', 'a', '2022-01-01T00:00:00Z', '10.0.0.1'), se('older', 'z', '2021-01-01T00:00:00Z', '10.0.0.2')].join('\n---\n'));
  const reg = new ServiceRegistry(store);
  const snap = reg.snapshot();
  assert.deepEqual(
    snap.services.map((s) => [s.hostname, s.namespace, s.sourceName]),
    [
      ['db.example.com', 'a', 'newer'],
      ['db.example.com', 'z', 'older'],
    ],
  );
  assert.deepEqual(
    snap.endpoints('db.example.com', 5432, 'a').map((e) => e.address),
    ['10.0.0.1'],
  );
  assert.deepEqual(
    snap.endpoints('db.example.com', 5432, 'z').map((e) => e.address),
    ['10.0.0.2'],
  );

  store.delete({ group: 'networking.istio.io', kind: 'ServiceEntry', namespace: 'a', name: 'newer' });
  assert.deepEqual(
    reg.snapshot().services.map((s) => s.namespace),
    ['z'],
    "removing one namespace's entry leaves the other's",
  );
  assert.deepEqual(reg.snapshot().endpoints('db.example.com', 5432, 'a'), []);
});

test('within one namespace, the oldest ServiceEntry for a host owns it, then the name decides', () => {
  const se = (name: string, ts: string, ip: string) => dbEntry(name, 'shop', ts, ip);
  const store = tickingStore();
  applyYaml(store, [se('newer', '2022-01-01T00:00:00Z', '10.0.0.1'), se('older', '2021-01-01T00:00:00Z', '10.0.0.2')].join('\n---\n'));
  const reg = new ServiceRegistry(store);
  assert.deepEqual(
    reg.snapshot().services.map((s) => s.sourceName),
    ['older'],
  );
  assert.deepEqual(
    reg.snapshot().endpoints('db.example.com', 5432, 'shop').map((e) => e.address),
    ['10.0.0.2'],
  );

  const tie = tickingStore();
  applyYaml(tie, [se('b', '2021-01-01T00:00:00Z', '10.0.0.1'), se('a', '2021-01-01T00:00:00Z', '10.0.0.3')].join('\n---\n'));
  assert.equal(new ServiceRegistry(tie).snapshot().services[0]!.sourceName, 'a', 'equal times: the name decides');
});
