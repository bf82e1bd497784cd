// WorkloadEntries in the registry: as workloads, and as endpoints of Kubernetes Services whose selector matches them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceRegistry } from '../../src/registry/registry.js';
import { applyYaml, tickingStore } from '../helpers/bookinfo-mesh.js';

const YAML = `
apiVersion: v1
kind: Service
metadata: {name: details, namespace: bookinfo}
spec:
  selector: {app: details}
  ports:
  - {name: http, port: 9080, targetPort: http-api}
  - {name: tcp-admin, port: 9901, targetPort: 19901}
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: details-vm, namespace: bookinfo}
spec:
  address: 10.8.0.1
  labels: {app: details, version: vm}
  ports: {http-api: 8080}
  serviceAccount: details-legacy
  locality: us-east/us-east-1a/
  weight: 2
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: details-vm-no-port, namespace: bookinfo}
spec:
  address: 10.8.0.2
  labels: {app: details, security.istio.io/tlsMode: disabled}
  serviceAccount: details-legacy
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: details-vm-other-ns, namespace: other}
spec:
  address: 10.8.0.3
  labels: {app: details}
`;

test('a Kubernetes Service selects WorkloadEntries of its namespace; a named targetPort maps through the entry port map', () => {
  const store = tickingStore();
  applyYaml(store, YAML);
  const snap = new ServiceRegistry(store).snapshot();
  const host = 'details.bookinfo.svc.cluster.local';
  assert.deepEqual(
    snap.endpoints(host, 9080, 'bookinfo').map((e) => [e.workloadName, e.address, e.port, e.weight, e.locality, e.serviceAccount, e.sidecar, e.healthy]),
    [['details-vm', '10.8.0.1', 8080, 2, 'us-east/us-east-1a/', 'details-legacy', true, true]],
    'the entry without an http-api port is skipped for this port',
  );
  assert.deepEqual(
    snap.endpoints(host, 9901, 'bookinfo').map((e) => [e.workloadName, e.port, e.sidecar]),
    [
      ['details-vm', 19901, true],
      ['details-vm-no-port', 19901, false],
    ],
    'numeric targetPort for every entry; tlsMode: disabled overrides the service account',
  );
});

test('WorkloadEntries are listed as workloads with their port map', () => {
  const store = tickingStore();
  applyYaml(store, YAML);
  const workloads = new ServiceRegistry(store).snapshot().workloads;
  assert.deepEqual(
    workloads.map((w) => [w.kind, w.namespace, w.name, w.address, w.sidecar]),
    [
      ['WorkloadEntry', 'bookinfo', 'details-vm', '10.8.0.1', true],
      ['WorkloadEntry', 'bookinfo', 'details-vm-no-port', '10.8.0.2', false],
      ['WorkloadEntry', 'other', 'details-vm-other-ns', '10.8.0.3', false],
    ],
  );
  assert.deepEqual(workloads[0]!.ports, { 'http-api': 8080 });
});
