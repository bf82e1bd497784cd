// ServiceRegistry change events and snapshots: endpoint-only vs service changes, incremental scope, immutability of old snapshots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '../../src/api/kind.js';
import { ServiceRegistry, type RegistryChange } from '../../src/registry/registry.js';
import { applyYaml, bookinfoMesh, tickingStore } from '../helpers/bookinfo-mesh.js';

const REVIEWS = 'reviews.bookinfo.svc.cluster.local';

function record(reg: ServiceRegistry): RegistryChange[] {
  const seen: RegistryChange[] = [];
  reg.onChange((c) => seen.push(c));
  return seen;
}

function podOf(store: ReturnType<typeof tickingStore>, name: string): Resource {
  const p = store.get({ group: '', kind: 'Pod', namespace: 'bookinfo', name });
  assert.ok(p, `pod ${name} exists`);
  return structuredClone(p);
}

test('a pod turning unready re-emits only its own service hostname, as an endpoints change', () => {
  const { store } = bookinfoMesh();
  const reg = new ServiceRegistry(store);
  const before = reg.snapshot();
  const events = record(reg);

  const pod = podOf(store, 'reviews-v2-abc12');
  (pod.status as { conditions: Array<{ type: string; status: string }> }).conditions = [{ type: 'Ready', status: 'False' }];
  store.apply(pod);

  assert.equal(events.length, 1);
  const e = events[0]!;
  assert.equal(e.kind, 'endpoints');
  assert.deepEqual(e.kind === 'endpoints' ? [...e.hostnames] : [], [REVIEWS]);
  const after = reg.snapshot();
  assert.equal(e.version, after.version);
  assert.ok(after.version > before.version);
  assert.deepEqual(
    after.endpoints(REVIEWS, 9080, 'bookinfo').map((x) => [x.labels.version, x.healthy]),
    [
      ['v1', true],
      ['v2', false],
      ['v3', true],
    ],
  );
  assert.equal(after.services, before.services, 'services did not change, so the same frozen list is shared');
  assert.deepEqual(
    before.endpoints(REVIEWS, 9080, 'bookinfo').map((x) => x.healthy),
    [true, true, true],
    'an earlier snapshot never changes',
  );
});

test('a pod whose labels move it between services re-emits both hostnames', () => {
  const { store } = bookinfoMesh();
  const reg = new ServiceRegistry(store);
  const events = record(reg);
  const pod = podOf(store, 'ratings-v1-abc12');
  pod.metadata.labels = { app: 'details', version: 'v9' };
  store.apply(pod);
  assert.equal(events.length, 1);
  const e = events[0]!;
  assert.equal(e.kind, 'endpoints');
  assert.deepEqual(e.kind === 'endpoints' ? [...e.hostnames].sort() : [], ['details.bookinfo.svc.cluster.local', 'ratings.bookinfo.svc.cluster.local']);
  const snap = reg.snapshot();
  assert.deepEqual(snap.endpoints('ratings.bookinfo.svc.cluster.local', 9080, 'bookinfo'), []);
  assert.deepEqual(
    snap.endpoints('details.bookinfo.svc.cluster.local', 9080, 'bookinfo').map((x) => x.labels.version),
    ['v1', 'v9'],
  );
});

test('deleting and re-adding a pod are endpoint changes of its service', () => {
  const { store } = bookinfoMesh();
  const reg = new ServiceRegistry(store);
  const events = record(reg);
  const pod = podOf(store, 'details-v1-abc12');
  store.delete({ group: '', kind: 'Pod', namespace: 'bookinfo', name: pod.metadata.name! });
  assert.deepEqual(reg.snapshot().endpoints('details.bookinfo.svc.cluster.local', 9080, 'bookinfo'), []);
  delete pod.metadata.resourceVersion;
  store.apply(pod);
  assert.equal(reg.snapshot().endpoints('details.bookinfo.svc.cluster.local', 9080, 'bookinfo').length, 1);
  assert.deepEqual(
    events.map((e) => (e.kind === 'endpoints' ? [e.kind, ...e.hostnames] : [e.kind])),
    [
      ['endpoints', 'details.bookinfo.svc.cluster.local'],
      ['endpoints', 'details.bookinfo.svc.cluster.local'],
    ],
  );
});

test('changing a Service definition (a port) is a services change; adding and deleting a Service too', () => {
  const { store } = bookinfoMesh();
  const reg = new ServiceRegistry(store);
  const events = record(reg);
  const svc = structuredClone(store.get({ group: '', kind: 'Service', namespace: 'bookinfo', name: 'reviews' })!);
  (svc.spec as { ports: unknown[] }).ports.push({ name: 'grpc', port: 9090 });
  store.apply(svc);
  assert.deepEqual(
    events.map((e) => e.kind),
    ['services'],
  );
  assert.deepEqual(
    reg.snapshot().services.find((s) => s.hostname === REVIEWS)!.ports.map((p) => p.port),
    [9080, 9090],
  );
  assert.equal(reg.snapshot().endpoints(REVIEWS, 9090, 'bookinfo').length, 3, 'the new port has the same pods');

  applyYaml(store, 'apiVersion: v1\nkind: Service\nmetadata: {name: extra, namespace: bookinfo}\nspec:\n  selector: {app: extra}\n  ports: [{name: http, port: 80}]');
  store.delete({ group: '', kind: 'Service', namespace: 'bookinfo', name: 'extra' });
  assert.deepEqual(
    events.map((e) => e.kind),
    ['services', 'services', 'services'],
  );
});

test('a Service whose selector changes but whose definition does not is an endpoints change', () => {
  const { store } = bookinfoMesh();
  const reg = new ServiceRegistry(store);
  const events = record(reg);
  const svc = structuredClone(store.get({ group: '', kind: 'Service', namespace: 'bookinfo', name: 'reviews' })!);
  (svc.spec as { selector: Record<string, string> }).selector = { app: 'reviews', version: 'v3' };
  store.apply(svc);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.kind, 'endpoints');
  assert.deepEqual(
    reg.snapshot().endpoints(REVIEWS, 9080, 'bookinfo').map((e) => e.labels.version),
    ['v3'],
  );
});

test('a ServiceEntry update that only changes endpoints is an endpoints change; a new host is a services change', () => {
  const store = tickingStore();
  const se = (endpoints: string[], hosts: string[] = ['db.example.com']) => `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: db, namespace: shop}
spec:
  hosts: [${hosts.join(', ')}]
  resolution: STATIC
  endpoints: [${endpoints.map((a) => `{address: ${a}}`).join(', ')}]
  ports: [{number: 5432, name: http, protocol: HTTP}]`;
  applyYaml(store, se(['10.0.0.1']));
  const reg = new ServiceRegistry(store);
  const events = record(reg);
  applyYaml(store, se(['10.0.0.1', '10.0.0.2']));
  applyYaml(store, se(['10.0.0.1', '10.0.0.2'], ['db.example.com', 'db2.example.com']));
  assert.deepEqual(
    events.map((e) => (e.kind === 'endpoints' ? [e.kind, ...e.hostnames] : [e.kind])),
    [['endpoints', 'db.example.com'], ['services']],
  );
});

test('a WorkloadEntry change re-emits the ServiceEntry hosts that select it', () => {
  const store = tickingStore();
  applyYaml(
    store,
    `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: vm, namespace: shop}
spec:
  hosts: [vm.shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: vm}}
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: other, namespace: shop}
spec:
  hosts: [other.shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: other}}
  ports: [{number: 80, name: http, protocol: HTTP}]`,
  );
  const reg = new ServiceRegistry(store);
  const events = record(reg);
  applyYaml(store, 'apiVersion: networking.istio.io/v1beta1\nkind: WorkloadEntry\nmetadata: {name: vm-1, namespace: shop}\nspec: {address: 10.3.0.1, labels: {app: vm}}');
  assert.deepEqual(
    events.map((e) => (e.kind === 'endpoints' ? [e.kind, ...e.hostnames] : [e.kind])),
    [['endpoints', 'vm.shop.internal']],
  );
  assert.deepEqual(
    reg.snapshot().endpoints('vm.shop.internal', 80, 'shop').map((e) => e.address),
    ['10.3.0.1'],
  );
});

test('a pod no service selects changes the workloads and the version, but sends no event', () => {
  const { store } = bookinfoMesh();
  const reg = new ServiceRegistry(store);
  const events = record(reg);
  const v = reg.snapshot().version;
  applyYaml(store, 'apiVersion: v1\nkind: Pod\nmetadata: {name: loner, namespace: bookinfo, labels: {app: loner}}\nspec:\n  containers: [{name: c, image: c:1}]\nstatus: {podIP: 10.4.0.1}');
  assert.deepEqual(events, []);
  const snap = reg.snapshot();
  assert.ok(snap.version > v);
  assert.ok(snap.workloads.some((w) => w.name === 'loner'));
});

test('nothing changes for objects the registry does not read, and the same snapshot object is returned', () => {
  const { store } = bookinfoMesh();
  const reg = new ServiceRegistry(store);
  const events = record(reg);
  const snap = reg.snapshot();
  applyYaml(store, 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: r, namespace: bookinfo}\nspec: {host: reviews}');
  const d = structuredClone(store.get({ group: 'apps', kind: 'Deployment', namespace: 'bookinfo', name: 'reviews-v1' })!);
  (d.spec as { replicas: number }).replicas = 3;
  store.apply(d);
  assert.deepEqual(events, []);
  assert.equal(reg.snapshot(), snap);
});

test('close() stops following the store', () => {
  const { store } = bookinfoMesh();
  const reg = new ServiceRegistry(store);
  const events = record(reg);
  const v = reg.snapshot().version;
  reg.close();
  store.delete({ group: '', kind: 'Pod', namespace: 'bookinfo', name: 'details-v1-abc12' });
  assert.deepEqual(events, []);
  assert.equal(reg.snapshot().version, v);
  assert.equal(reg.snapshot().endpoints('details.bookinfo.svc.cluster.local', 9080, 'bookinfo').length, 1);
});

test('a subscriber that throws does not keep the others from hearing about the change', () => {
  const { store } = bookinfoMesh();
  const reg = new ServiceRegistry(store);
  reg.onChange(() => {
    throw new Error('boom');
  });
  const events = record(reg);
  store.delete({ group: '', kind: 'Pod', namespace: 'bookinfo', name: 'details-v1-abc12' });
  assert.equal(events.length, 1);
});
