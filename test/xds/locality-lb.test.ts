// Locality load balancing (Istio 1.6): per calling proxy, failover priorities by proximity (only with outlier detection) or `distribute` weights; off when the mesh or the rule turns it off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { applyLocalityLb, localityMatches } from '../../src/xds/generators/locality-lb.js';
import { proxyFromNode, type Proxy } from '../../src/model/proxy.js';
import { TypeUrl } from '../../src/xds/types.js';
import { NS, testMesh } from './mesh.js';

type Msg = Record<string, unknown>;
const eds = envoyGenerators[TypeUrl.ClusterLoadAssignment]!;
const cds = envoyGenerators[TypeUrl.Cluster]!;
const CLUSTER = 'outbound|8080||legacy.vms.internal';

function serviceEntry(): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: vms, namespace: ${NS}}
spec:
  hosts: [legacy.vms.internal]
  location: MESH_INTERNAL
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, locality: us-east/zone-a/rack-1}
  - {address: 10.0.0.2, locality: us-east/zone-a/rack-2}
  - {address: 10.0.0.3, locality: us-east/zone-b}
  - {address: 10.0.0.4, locality: us-west/zone-c}
  - {address: 10.0.0.5, locality: eu-west/zone-d, weight: 3}
  - {address: 10.0.0.6, locality: eu-west/zone-e}
`;
}

function rule(trafficPolicy: string): string {
  return `---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: vms, namespace: ${NS}}
spec:
  host: legacy.vms.internal
  trafficPolicy:
${trafficPolicy}`;
}

const OUTLIER = '    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}\n';

/** `region/zone/subzone → priority` (and weight) of each group the proxy gets. */
function groups(p: Proxy, push: ReturnType<typeof pushOf>): Record<string, { priority: number; weight: number; endpoints: number }> {
  const [cla] = eds(p, push, [CLUSTER]);
  const out: Record<string, { priority: number; weight: number; endpoints: number }> = {};
  for (const g of cla!.resource.endpoints as Msg[]) {
    const l = g.locality as { region: string; zone?: string; subZone?: string };
    out[[l.region, l.zone, l.subZone].filter(Boolean).join('/')] = { priority: (g.priority as number | undefined) ?? 0, weight: (g.loadBalancingWeight as { value: number }).value, endpoints: (g.lbEndpoints as Msg[]).length };
  }
  return out;
}

function at(p: Proxy, locality: string): Proxy {
  return { ...p, locality };
}

test('with outlier detection, a proxy sees its subzone first, then its zone, its region, and other regions last', () => {
  const m = testMesh();
  applyYaml(m.store, serviceEntry() + rule(OUTLIER));
  const push = pushOf(m.store);
  const g = groups(at(m.sidecar('productpage-v1'), 'us-east/zone-a/rack-1'), push);
  assert.deepEqual(
    Object.fromEntries(Object.entries(g).map(([k, v]) => [k, v.priority])),
    { 'eu-west/zone-d': 3, 'eu-west/zone-e': 3, 'us-east/zone-a/rack-1': 0, 'us-east/zone-a/rack-2': 1, 'us-east/zone-b': 2, 'us-west/zone-c': 3 },
  );
  // Another proxy of the same service in another region gets its own view; priorities have no gaps.
  const west = groups(at(m.sidecar('productpage-v1'), 'us-west/zone-c'), push);
  assert.deepEqual(
    Object.fromEntries(Object.entries(west).map(([k, v]) => [k, v.priority])),
    { 'eu-west/zone-d': 1, 'eu-west/zone-e': 1, 'us-east/zone-a/rack-1': 1, 'us-east/zone-a/rack-2': 1, 'us-east/zone-b': 1, 'us-west/zone-c': 0 },
  );
});

test('a failover rule puts the named region before every other remote region', () => {
  const m = testMesh();
  applyYaml(m.store, serviceEntry() + rule(`${OUTLIER}    loadBalancer:\n      localityLbSetting:\n        failover: [{from: us-east, to: eu-west}]\n`));
  const g = groups(at(m.sidecar('productpage-v1'), 'us-east/zone-b'), pushOf(m.store));
  assert.deepEqual(
    Object.fromEntries(Object.entries(g).map(([k, v]) => [k, v.priority])),
    { 'eu-west/zone-d': 2, 'eu-west/zone-e': 2, 'us-east/zone-a/rack-1': 1, 'us-east/zone-a/rack-2': 1, 'us-east/zone-b': 0, 'us-west/zone-c': 3 },
  );
});

test('without outlier detection, or for a proxy with no locality, nothing is reprioritised', () => {
  const m = testMesh();
  applyYaml(m.store, serviceEntry());
  const push = pushOf(m.store);
  assert.ok(Object.values(groups(at(m.sidecar('productpage-v1'), 'us-east/zone-a/rack-1'), push)).every((g) => g.priority === 0));
  applyYaml(m.store, rule(OUTLIER));
  assert.ok(Object.values(groups(m.sidecar('productpage-v1'), pushOf(m.store))).every((g) => g.priority === 0));
});

test('locality load balancing turned off by the rule, or by the mesh, leaves the assignment as is', () => {
  const m = testMesh();
  applyYaml(m.store, serviceEntry() + rule(`${OUTLIER}    loadBalancer:\n      localityLbSetting: {enabled: false}\n`));
  assert.ok(Object.values(groups(at(m.sidecar('productpage-v1'), 'us-east/zone-a/rack-1'), pushOf(m.store))).every((g) => g.priority === 0));
  const m2 = testMesh();
  applyYaml(m2.store, serviceEntry() + rule(OUTLIER));
  const off = pushOf(m2.store, { localityLbSetting: { enabled: false } });
  assert.ok(Object.values(groups(at(m2.sidecar('productpage-v1'), 'us-east/zone-a/rack-1'), off)).every((g) => g.priority === 0));
});

test('distribute: the first rule matching the proxy sets locality weights; a wildcard share is split by endpoint weight; unnamed localities get no traffic', () => {
  const m = testMesh();
  applyYaml(
    m.store,
    serviceEntry() +
      rule(`    loadBalancer:\n      localityLbSetting:\n        distribute:\n        - from: us-east/zone-a/*\n          to: {"us-east/zone-a/*": 80, "eu-west/*": 20}\n        - from: us-west/*\n          to: {"us-west/*": 100}\n`),
  );
  const push = pushOf(m.store);
  const g = groups(at(m.sidecar('productpage-v1'), 'us-east/zone-a/rack-2'), push);
  assert.deepEqual(g['us-east/zone-a/rack-1'], { priority: 0, weight: 40, endpoints: 1 });
  assert.deepEqual(g['us-east/zone-a/rack-2'], { priority: 0, weight: 40, endpoints: 1 });
  // eu-west's 20 split 3:1 by endpoint weight.
  assert.deepEqual(g['eu-west/zone-d'], { priority: 0, weight: 15, endpoints: 1 });
  assert.deepEqual(g['eu-west/zone-e'], { priority: 0, weight: 5, endpoints: 1 });
  assert.equal(g['us-east/zone-b']!.endpoints, 0);
  assert.equal(g['us-west/zone-c']!.endpoints, 0);
  // The cluster balances by locality weight, which is what makes the weights count.
  const cluster = cds(m.sidecar('productpage-v1'), push, undefined).find((c) => c.name === CLUSTER)!;
  assert.deepEqual((cluster.resource.commonLbConfig as Msg).localityWeightedLbConfig, {});
  // A proxy no rule names keeps the plain assignment.
  const other = groups(at(m.sidecar('productpage-v1'), 'eu-west/zone-d'), push);
  assert.ok(Object.values(other).every((x) => x.endpoints === 1 && x.priority === 0));
});

test('locality patterns: unspecified levels and a trailing * match anything below', () => {
  assert.ok(localityMatches(['us-east', 'a', 'r1'], 'us-east'));
  assert.ok(localityMatches(['us-east', 'a', 'r1'], 'us-east/*'));
  assert.ok(localityMatches(['us-east', 'a', 'r1'], 'us-east/a/r1'));
  assert.ok(!localityMatches(['us-east', 'a', 'r1'], 'us-east/b'));
  assert.ok(!localityMatches(['us-west', 'a', 'r1'], 'us-east/*'));
  assert.deepEqual(applyLocalityLb([], 'us-east/a', {}, true), []);
});

test('a proxy\'s locality comes from the node, else from its istio-locality or topology labels', () => {
  const id = `sidecar~10.1.0.9~web-1.${NS}~${NS}.svc.cluster.local`;
  const fromNode = proxyFromNode(id, {}, { region: 'us-east', zone: 'a', sub_zone: 'r1' }) as Proxy;
  assert.equal(fromNode.locality, 'us-east/a/r1');
  const fromLabel = proxyFromNode(id, { LABELS: { 'istio-locality': 'eu-west.b' } }) as Proxy;
  assert.equal(fromLabel.locality, 'eu-west/b');
  const fromTopology = proxyFromNode(id, { LABELS: { 'topology.kubernetes.io/region': 'ap-south', 'topology.kubernetes.io/zone': 'c' } }) as Proxy;
  assert.equal(fromTopology.locality, 'ap-south/c');
  assert.equal((proxyFromNode(id, {}) as Proxy).locality, '');
});
