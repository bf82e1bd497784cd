// EDS: load assignments grouped by locality, with weights, health and subset filtering; names the proxy cannot use get none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { TypeUrl } from '../../src/xds/types.js';
import { NS, host, testMesh } from './mesh.js';

type Msg = Record<string, unknown>;
const eds = envoyGenerators[TypeUrl.ClusterLoadAssignment]!;

const SE = `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: vms, namespace: ${NS}}
spec:
  hosts: [legacy.vms.internal]
  location: MESH_INTERNAL
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 192.168.0.11, locality: us-east/zone-a/rack-1, weight: 3, labels: {version: v1}}
  - {address: 192.168.0.10, locality: us-east/zone-a/rack-1, labels: {version: v1}}
  - {address: 192.168.1.10, locality: us-west/zone-b, weight: 2, labels: {version: v2}, ports: {http: 18080}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: vms, namespace: ${NS}}
spec:
  host: legacy.vms.internal
  subsets: [{name: v2, labels: {version: v2}}]
`;

test('endpoints are grouped by locality in a stable order, weighted per endpoint and per locality', () => {
  const m = testMesh();
  applyYaml(m.store, SE);
  const push = pushOf(m.store);
  const [cla] = eds(m.sidecar('productpage-v1'), push, ['outbound|8080||legacy.vms.internal']);
  assert.deepEqual(cla!.resource, {
    clusterName: 'outbound|8080||legacy.vms.internal',
    endpoints: [
      {
        locality: { region: 'us-east', zone: 'zone-a', subZone: 'rack-1' },
        lbEndpoints: [
          { endpoint: { address: { socketAddress: { address: '192.168.0.10', portValue: 8080 } } }, healthStatus: 'HEALTHY', loadBalancingWeight: { value: 1 } },
          { endpoint: { address: { socketAddress: { address: '192.168.0.11', portValue: 8080 } } }, healthStatus: 'HEALTHY', loadBalancingWeight: { value: 3 } },
        ],
        loadBalancingWeight: { value: 4 },
      },
      {
        locality: { region: 'us-west', zone: 'zone-b' },
        lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '192.168.1.10', portValue: 18080 } } }, healthStatus: 'HEALTHY', loadBalancingWeight: { value: 2 } }],
        loadBalancingWeight: { value: 2 },
      },
    ],
  });
  const [v2] = eds(m.sidecar('productpage-v1'), push, ['outbound|8080|v2|legacy.vms.internal']);
  const addrs = ((v2!.resource.endpoints as Msg[]).flatMap((l) => l.lbEndpoints as Msg[])).map((e) => (((e.endpoint as Msg).address as Msg).socketAddress as Msg).address);
  assert.deepEqual(addrs, ['192.168.1.10']);
});

test('a pod that is not ready is sent as UNHEALTHY', () => {
  const m = testMesh();
  const pod = m.store.list({ kind: 'Pod', namespace: NS }).find((p) => p.metadata.name?.startsWith('ratings-v1'))!;
  const notReady = structuredClone(pod);
  delete notReady.metadata.resourceVersion;
  (notReady.status as { conditions: Array<{ type: string; status: string }> }).conditions = [{ type: 'Ready', status: 'False' }];
  m.store.apply(notReady);
  const [cla] = eds(m.sidecar('productpage-v1'), pushOf(m.store), [`outbound|9080||${host('ratings')}`]);
  const eps = ((cla!.resource.endpoints as Msg[]).flatMap((l) => l.lbEndpoints as Msg[]));
  assert.deepEqual(eps.map((e) => e.healthStatus), ['UNHEALTHY']);
});

test('unknown clusters, unknown subsets and services outside the Sidecar scope get empty assignments', () => {
  const m = testMesh();
  applyYaml(m.store, SE);
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: ratings, namespace: ${NS}}
spec:
  workloadSelector: {labels: {app: ratings}}
  egress: [{hosts: [./reviews.bookinfo.svc.cluster.local]}]
`);
  const push = pushOf(m.store);
  const names = ['outbound|8080|v9|legacy.vms.internal', 'nonsense', 'inbound|9080||', `outbound|9080||${host('details')}`];
  for (const r of eds(m.sidecar('ratings-v1'), push, names)) assert.deepEqual(r.resource, { clusterName: r.name, endpoints: [] }, r.name);
  const reviews = eds(m.sidecar('ratings-v1'), push, [`outbound|9080||${host('reviews')}`])[0]!;
  assert.equal(((reviews.resource.endpoints as Msg[])[0]!.lbEndpoints as unknown[]).length, 3);
});

test('without names, EDS answers for every EDS cluster of the proxy and no other', () => {
  const m = testMesh();
  applyYaml(m.store, SE);
  const push = pushOf(m.store);
  const p = m.sidecar('productpage-v1');
  const names = eds(p, push).map((r) => r.name);
  const cds = envoyGenerators[TypeUrl.Cluster]!(p, push).filter((c) => c.resource.type === 'EDS').map((c) => c.name);
  assert.deepEqual(names, cds);
  assert.ok(names.includes('outbound|8080|v2|legacy.vms.internal') && !names.includes('inbound|9080||') && !names.includes('PassthroughCluster'));
});

test('locality labels that differ only by trailing slashes are one locality, and huge weights are capped so sums stay within uint32', async () => {
  const { localityLbEndpoints, MAX_ENDPOINT_WEIGHT } = await import('../../src/xds/generators/locality-endpoints.js');
  const ep = (address: string, locality: string, weight: number) => ({ hostname: 'h', servicePort: 80, address, port: 80, labels: {}, namespace: 'ns', workloadName: '', serviceAccount: '', locality, weight, healthy: true, sidecar: false });
  const groups = localityLbEndpoints([ep('10.0.0.1', 'us-east/a', 4294967295), ep('10.0.0.2', 'us-east/a/', 4294967295)]);
  assert.equal(groups.length, 1);
  const g = groups[0] as { lbEndpoints: Array<{ loadBalancingWeight: { value: number } }>; loadBalancingWeight: { value: number } };
  assert.deepEqual(g.lbEndpoints.map((e) => e.loadBalancingWeight.value), [MAX_ENDPOINT_WEIGHT, MAX_ENDPOINT_WEIGHT]);
  assert.ok(g.loadBalancingWeight.value <= 4294967295);
});
