// One hostname defined in several namespaces: each namespace's ServiceEntry is its own service, and what a proxy gets depends on exportTo, its namespace and its Sidecar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyYaml, proxy, pushOf, tickingStore } from '../helpers/bookinfo-mesh.js';
import { TypeUrl } from '../../src/xds/types.js';
import { configFor, type ProxyConfig } from './simulation.js';

type Msg = Record<string, unknown>;
const CLUSTER = 'outbound|5432||db.example.com';

function dbEntry(ns: string, created: string, ip: string, exportTo?: string): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: db, namespace: ${ns}, creationTimestamp: "${created}"}
spec:
  hosts: [db.example.com]
  addresses: [240.0.0.9]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: ${ip}}]
  ports: [{number: 5432, name: tcp-db, protocol: TCP}]${exportTo ? `\n  exportTo: ["${exportTo}"]` : ''}`;
}

function endpointAddresses(cfg: ProxyConfig): string[] {
  const cla = cfg.endpoints.get(CLUSTER) as { endpoints: { lbEndpoints: { endpoint: { address: { socketAddress: { address: string } } } }[] }[] } | undefined;
  assert.ok(cla, `${CLUSTER} has a load assignment`);
  return cla.endpoints.flatMap((l) => l.lbEndpoints.map((e) => e.endpoint.address.socketAddress.address));
}

const client = (ns: string) => proxy(ns, { app: 'client' }, { ip: '10.1.9.1', name: `client-${ns}` });

test('a namespace-private ServiceEntry serves only its namespace; others see the public one of another namespace', () => {
  const store = tickingStore();
  // The public entry is older, so without the namespace preference it would win everywhere.
  applyYaml(store, [dbEntry('public', '2020-01-01T00:00:00Z', '10.0.0.2'), dbEntry('team', '2021-01-01T00:00:00Z', '10.0.0.1', '.')].join('\n---\n'));
  const push = pushOf(store);
  assert.deepEqual(endpointAddresses(configFor(client('team'), push)), ['10.0.0.1'], 'a proxy of the private entry\'s namespace gets its own endpoints');
  assert.deepEqual(endpointAddresses(configFor(client('other'), push)), ['10.0.0.2'], 'another namespace cannot see the private entry');
  assert.deepEqual(endpointAddresses(configFor(client('public'), push)), ['10.0.0.2']);
  assert.equal(push.service('db.example.com', 'team')?.namespace, 'team');
  assert.equal(push.service('db.example.com', 'other')?.namespace, 'public');
});

test('when several namespaces export one host, a proxy prefers its own namespace, others get the oldest', () => {
  const store = tickingStore();
  applyYaml(store, [dbEntry('a', '2022-01-01T00:00:00Z', '10.0.0.1'), dbEntry('b', '2021-01-01T00:00:00Z', '10.0.0.2')].join('\n---\n'));
  const push = pushOf(store);
  assert.deepEqual(endpointAddresses(configFor(client('a'), push)), ['10.0.0.1']);
  assert.deepEqual(endpointAddresses(configFor(client('b'), push)), ['10.0.0.2']);
  assert.deepEqual(endpointAddresses(configFor(client('c'), push)), ['10.0.0.2'], 'b\'s entry is older');
  const clusters = configFor(client('c'), push).resources.filter((r) => r.name === CLUSTER && r.typeUrl === TypeUrl.Cluster);
  assert.equal(clusters.length, 1, 'one cluster per hostname and port, never two with one name');
});

test('a Sidecar importing ns/host picks that namespace\'s definition of the host', () => {
  const store = tickingStore();
  applyYaml(
    store,
    [
      dbEntry('a', '2022-01-01T00:00:00Z', '10.0.0.1'),
      dbEntry('b', '2021-01-01T00:00:00Z', '10.0.0.2'),
      `apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: default, namespace: c}
spec:
  egress: [{hosts: ["a/db.example.com"]}]`,
    ].join('\n---\n'),
  );
  const push = pushOf(store);
  const cfg = configFor(client('c'), push);
  assert.deepEqual(endpointAddresses(cfg), ['10.0.0.1'], 'the import names namespace a, though b\'s entry is older');
  assert.deepEqual(
    push.sidecarScope(client('c')).services.map((s) => [s.hostname, s.namespace]),
    [['db.example.com', 'a']],
  );
});

test('the DestinationRule lookup follows the definition the proxy sees', () => {
  const store = tickingStore();
  const rule = (ns: string, maxConnections: number) => `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: db, namespace: ${ns}}
spec:
  host: db.example.com
  exportTo: ["*"]
  trafficPolicy: {connectionPool: {tcp: {maxConnections: ${maxConnections}}}}`;
  applyYaml(store, [dbEntry('a', '2022-01-01T00:00:00Z', '10.0.0.1'), dbEntry('b', '2021-01-01T00:00:00Z', '10.0.0.2'), rule('a', 11), rule('b', 22)].join('\n---\n'));
  const push = pushOf(store);
  const maxConnections = (ns: string) => {
    const c = configFor(client(ns), push).clusters.get(CLUSTER) as Msg;
    const thresholds = (c.circuitBreakers as { thresholds: { maxConnections: { value: number } }[] }).thresholds;
    return thresholds[0]!.maxConnections.value;
  };
  // Namespace c has no rule of its own: the service's namespace decides, and that is b's for c.
  assert.equal(maxConnections('c'), 22);
  assert.equal(maxConnections('a'), 11);
});
