// Envoy's warming rules on fake resources: clusters wait for their load assignments, listeners for their routes, previous versions keep serving meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { edsServiceName, nextActive, routeConfigNames, wantedEndpointNames, wantedRouteNames, type ResourceSet, type WarmingInput, type XdsJson } from '../../src/proxy/xds-warming.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

const edsCluster = (name: string, service?: string, rev = 1): XdsJson => ({ name, type: 'EDS', rev, ...(service ? { eds_cluster_config: { service_name: service } } : {}) });
const staticCluster = (name: string): XdsJson => ({ name, type: 'STATIC' });
const cla = (name: string, rev = 1): XdsJson => ({ cluster_name: name, rev });
const hcm = (route: string) => ({ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': HCM, rds: { route_config_name: route } } });
const listener = (name: string, routes: string[], rev = 1): XdsJson => ({ name, rev, filter_chains: routes.map((r) => ({ filters: [hcm(r)] })) });
const route = (name: string, rev = 1): XdsJson => ({ name, rev });

function set(parts: Partial<Record<keyof ResourceSet, XdsJson[]>>): ResourceSet {
  const byName = (list: XdsJson[] = [], key = 'name') => new Map(list.map((r) => [r[key] as string, r]));
  return { clusters: byName(parts.clusters), endpoints: byName(parts.endpoints, 'cluster_name'), listeners: byName(parts.listeners), routes: byName(parts.routes) };
}

function input(received: ResourceSet, active?: ResourceSet, settled: { endpoints?: string[]; routes?: string[] } = {}): WarmingInput {
  return { received, active, settledEndpoints: new Set(settled.endpoints), settledRoutes: new Set(settled.routes) };
}

test('a new EDS cluster is not active until its load assignment arrives', () => {
  const a = edsCluster('a');
  const waiting = nextActive(input(set({ clusters: [a] })));
  assert.equal(waiting.active.clusters.size, 0);
  assert.deepEqual(waiting.warmingClusters, ['a']);

  const assignment = cla('a');
  const warm = nextActive(input(set({ clusters: [a], endpoints: [assignment] }), waiting.active));
  assert.equal(warm.active.clusters.get('a'), a);
  assert.equal(warm.active.endpoints.get('a'), assignment);
  assert.deepEqual(warm.warmingClusters, []);
  assert.ok(warm.changed);
});

test('the EDS service name comes from eds_cluster_config, else the cluster name; other types need none', () => {
  assert.equal(edsServiceName(edsCluster('outbound|80||x', 'x-service')), 'x-service');
  assert.equal(edsServiceName(edsCluster('outbound|80||x')), 'outbound|80||x');
  assert.equal(edsServiceName(staticCluster('BlackHoleCluster')), undefined);
  assert.equal(edsServiceName({ name: 'PassthroughCluster', type: 'ORIGINAL_DST' }), undefined);
  assert.equal(edsServiceName({ name: 'no-type' }), undefined, 'an absent type is STATIC');
});

test('non-EDS clusters are active at once, beside warming ones', () => {
  const r = nextActive(input(set({ clusters: [staticCluster('s'), edsCluster('e')] })));
  assert.deepEqual([...r.active.clusters.keys()], ['s']);
  assert.deepEqual(r.warmingClusters, ['e']);
});

test('an updated cluster keeps its previous version active while the new one warms, with the previous endpoints', () => {
  const v1 = edsCluster('c', 'svc-old', 1);
  const oldCla = cla('svc-old');
  const before = nextActive(input(set({ clusters: [v1], endpoints: [oldCla] }))).active;

  const v2 = edsCluster('c', 'svc-new', 2);
  const received = set({ clusters: [v2], endpoints: [oldCla] });
  const warming = nextActive(input(received, before));
  assert.equal(warming.active.clusters.get('c'), v1, 'v1 still serves');
  assert.equal(warming.active.endpoints.get('svc-old'), oldCla);
  assert.deepEqual(warming.warmingClusters, ['c']);
  assert.equal(warming.changed, false, 'nothing changed for the data path');
  assert.deepEqual([...wantedEndpointNames(received, warming.active)].sort(), ['svc-new', 'svc-old'], 'both assignments stay subscribed meanwhile');

  const newCla = cla('svc-new');
  const done = nextActive(input(set({ clusters: [v2], endpoints: [oldCla, newCla] }), warming.active));
  assert.equal(done.active.clusters.get('c'), v2);
  assert.deepEqual([...done.active.endpoints.keys()], ['svc-new'], 'the old assignment is no longer part of the config');
  assert.deepEqual([...wantedEndpointNames(set({ clusters: [v2] }), done.active)], ['svc-new'], 'and may be unsubscribed');
});

test('a cluster whose assignment was given up on (timeout, or reported absent) is active without endpoints', () => {
  const r = nextActive(input(set({ clusters: [edsCluster('a')] }), undefined, { endpoints: ['a'] }));
  assert.ok(r.active.clusters.has('a'));
  assert.equal(r.active.endpoints.size, 0);
  assert.deepEqual(r.warmingClusters, []);
});

test('an active cluster whose assignment disappears stays active, with no endpoints (Envoy: no hosts)', () => {
  const a = edsCluster('a');
  const before = nextActive(input(set({ clusters: [a], endpoints: [cla('a')] }))).active;
  const after = nextActive(input(set({ clusters: [a] }), before));
  assert.equal(after.active.clusters.get('a'), a);
  assert.equal(after.active.endpoints.size, 0);
  assert.ok(after.changed);
});

test('a cluster no longer received leaves, with its endpoints', () => {
  const before = nextActive(input(set({ clusters: [edsCluster('a'), edsCluster('b')], endpoints: [cla('a'), cla('b')] }))).active;
  const after = nextActive(input(set({ clusters: [edsCluster('b')], endpoints: [cla('a'), cla('b')] }), before));
  assert.deepEqual([...after.active.clusters.keys()], ['b']);
  assert.deepEqual([...after.active.endpoints.keys()], ['b']);
});

test('an endpoint update of an active cluster applies at once', () => {
  const a = edsCluster('a');
  const before = nextActive(input(set({ clusters: [a], endpoints: [cla('a', 1)] }))).active;
  const fresh = cla('a', 2);
  const after = nextActive(input(set({ clusters: [a], endpoints: [fresh] }), before));
  assert.equal(after.active.endpoints.get('a'), fresh);
  assert.ok(after.changed);
});

test('the same inputs give an unchanged result (identity, not deep equality)', () => {
  const received = set({ clusters: [edsCluster('a'), staticCluster('s')], endpoints: [cla('a')], listeners: [listener('l', ['r'])], routes: [route('r')] });
  const first = nextActive(input(received));
  const again = nextActive(input(received, first.active));
  assert.equal(again.changed, false);
  const copy = set({ clusters: [{ ...edsCluster('a') }, staticCluster('s')], endpoints: [cla('a')], listeners: [listener('l', ['r'])], routes: [route('r')] });
  assert.equal(nextActive(input(copy, first.active)).changed, true, 'new objects are a change, even if equal');
});

test('a new listener waits for every route configuration it names', () => {
  const l = listener('0.0.0.0_80', ['80', '8080']);
  const partial = nextActive(input(set({ listeners: [l], routes: [route('80')] })));
  assert.equal(partial.active.listeners.size, 0);
  assert.deepEqual(partial.warmingListeners, ['0.0.0.0_80']);
  assert.equal(partial.active.routes.size, 0, 'routes only come with an active listener');

  const full = nextActive(input(set({ listeners: [l], routes: [route('80'), route('8080')] }), partial.active));
  assert.equal(full.active.listeners.get('0.0.0.0_80'), l);
  assert.deepEqual([...full.active.routes.keys()].sort(), ['80', '8080']);
});

test('an updated listener naming a new route keeps serving its previous version until the route arrives', () => {
  const v1 = listener('l', ['r1'], 1);
  const r1 = route('r1');
  const before = nextActive(input(set({ listeners: [v1], routes: [r1] }))).active;
  const v2 = listener('l', ['r2'], 2);
  const received = set({ listeners: [v2], routes: [r1] });
  const warming = nextActive(input(received, before));
  assert.equal(warming.active.listeners.get('l'), v1);
  assert.equal(warming.active.routes.get('r1'), r1);
  assert.deepEqual([...wantedRouteNames(received, warming.active)].sort(), ['r1', 'r2']);
  const done = nextActive(input(set({ listeners: [v2], routes: [r1, route('r2')] }), warming.active));
  assert.equal(done.active.listeners.get('l'), v2);
  assert.deepEqual([...done.active.routes.keys()], ['r2']);
});

test('a listener whose route fetch timed out becomes active without it', () => {
  const r = nextActive(input(set({ listeners: [listener('l', ['r'])] }), undefined, { routes: ['r'] }));
  assert.ok(r.active.listeners.has('l'));
  assert.equal(r.active.routes.size, 0);
});

test('route names come from HTTP connection managers in filter chains and the default chain, once each', () => {
  const l: XdsJson = {
    name: 'virtualOutbound',
    filter_chains: [
      { filters: [{ name: 'tcp', typed_config: { '@type': TCP, cluster: 'x' } }] },
      { filters: [hcm('80'), hcm('9080')] },
      { filters: [hcm('80')] },
      { filters: [{ name: 'inline', typed_config: { '@type': HCM, route_config: { name: 'inline' } } }] },
    ],
    default_filter_chain: { filters: [hcm('default')] },
  };
  assert.deepEqual(routeConfigNames(l), ['80', '9080', 'default']);
  assert.deepEqual(routeConfigNames({ name: 'tcp-only', filter_chains: [{ filters: [{ typed_config: { '@type': TCP } }] }] }), []);
  assert.deepEqual(routeConfigNames({ name: 'odd', filter_chains: 'nope', default_filter_chain: { filters: [null] } }), [], 'malformed shapes are skipped');
});
