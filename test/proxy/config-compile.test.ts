// The proxy compiles everything the control plane generates, and reads clusters, endpoints and listeners as Envoy would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCluster, compileLoadAssignment } from '../../src/proxy/config/clusters.js';
import { compileListener, selectFilterChain } from '../../src/proxy/config/listeners.js';
import { compileRouteConfiguration } from '../../src/proxy/config/route-table.js';
import { ConfigError } from '../../src/proxy/config/xds-json.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { TypeUrl, type TypeUrlValue } from '../../src/xds/types.js';
import type { Proxy } from '../../src/model/proxy.js';
import type { PushContext } from '../../src/model/push-context.js';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';
import { FIXTURES, NS, applyDocs, host, testMesh } from '../xds/mesh.js';

function wire(p: Proxy, push: PushContext, type: TypeUrlValue, names?: string[]): Record<string, unknown>[] {
  return envoyGenerators[type]!(p, push, names).map((r) => decodeResource(type, encodeResource(r)));
}

const DR = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
    connectionPool: {tcp: {maxConnections: 10, connectTimeout: 2s}, http: {http1MaxPendingRequests: 5, http2MaxRequests: 20, maxRetries: 3, maxRequestsPerConnection: 7, idleTimeout: 30s}}
    outlierDetection: {consecutive5xxErrors: 3, interval: 5s, baseEjectionTime: 30s, maxEjectionPercent: 50}
  subsets: [{name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: LEAST_CONN}}}, {name: v2, labels: {version: v2}}]
`;

test('every listener, route, cluster and endpoint generated for Bookinfo sidecars and the gateway compiles', () => {
  const m = testMesh();
  applyYaml(m.store, DR);
  // Istio's task samples: gateway, subsets, header routes, faults, mirroring, timeouts, TCP shifting.
  applyDocs(m.store, `${FIXTURES}/bookinfo-gateway.yaml`, [0, 1]);
  applyDocs(m.store, `${FIXTURES}/bookinfo-destination-rules.yaml`, [0, 2, 3]);
  for (const f of ['fault-injection.yaml', 'request-timeouts.yaml']) applyDocs(m.store, `${FIXTURES}/${f}`, [0]);
  const push = pushOf(m.store);
  let compiled = 0;
  for (const p of [m.sidecar('productpage-v1'), m.sidecar('reviews-v2'), m.sidecar('ratings-v1'), m.gateway()]) {
    const listeners = wire(p, push, TypeUrl.Listener).map(compileListener);
    const rdsNames = [...new Set(listeners.flatMap((l) => l.rdsNames))];
    const routes = wire(p, push, TypeUrl.RouteConfiguration, rdsNames).map(compileRouteConfiguration);
    const clusters = wire(p, push, TypeUrl.Cluster).map(compileCluster);
    const edsNames = clusters.flatMap((c) => (c.edsServiceName ? [c.edsServiceName] : []));
    const endpoints = wire(p, push, TypeUrl.ClusterLoadAssignment, edsNames).map((cla) => compileLoadAssignment(cla));
    assert.equal(routes.length, rdsNames.length, `${p.id}: every RDS name is generated`);
    compiled += listeners.length + routes.length + clusters.length + endpoints.length;
  }
  assert.ok(compiled > 100, `compiled ${compiled} resources`);
});

test('a DestinationRule arrives as LB policy, circuit breakers, connection pool and outlier detection', () => {
  const m = testMesh();
  applyYaml(m.store, DR);
  const p = m.sidecar('productpage-v1');
  const clusters = new Map(wire(p, pushOf(m.store), TypeUrl.Cluster).map((c) => [c.name as string, compileCluster(c)]));
  const v1 = clusters.get(`outbound|9080|v1|${host('reviews')}`)!;
  assert.equal(v1.type, 'EDS');
  assert.equal(v1.edsServiceName, `outbound|9080|v1|${host('reviews')}`);
  assert.equal(v1.lbPolicy, 'LEAST_REQUEST');
  assert.equal(v1.connectTimeoutMs, 2000);
  assert.deepEqual(v1.circuitBreakers, { maxConnections: 10, maxPendingRequests: 5, maxRequests: 20, maxRetries: 3 });
  assert.equal(v1.maxRequestsPerConnection, 7);
  assert.equal(v1.idleTimeoutMs, 30_000);
  assert.equal(v1.upstreamProtocol, 'http1');
  assert.equal(v1.healthyPanicThresholdPercent, 0, "Istio's empty threshold turns panic mode off");
  assert.equal(v1.outlierDetection?.consecutive_5xx, 3);
  assert.equal(clusters.get(`outbound|9080|v2|${host('reviews')}`)!.lbPolicy, 'RING_HASH');
  const inbound = [...clusters.values()].find((c) => c.name.startsWith('inbound|'));
  assert.equal(inbound?.type, 'STATIC');
  assert.equal(inbound?.inlineEndpoints?.[0]?.address, '127.0.0.1');
  assert.equal(clusters.get('PassthroughCluster')?.lbPolicy, 'CLUSTER_PROVIDED');
  assert.equal(clusters.get('PassthroughCluster')?.circuitBreakers.maxConnections, Number.POSITIVE_INFINITY);
});

test('endpoints carry address, weight, health and the tlsMode label', () => {
  const m = testMesh();
  const p = m.sidecar('productpage-v1');
  const [cla] = wire(p, pushOf(m.store), TypeUrl.ClusterLoadAssignment, [`outbound|9080||${host('reviews')}`]);
  const eps = compileLoadAssignment(cla);
  assert.equal(eps.length, 3);
  assert.ok(eps.every((e) => e.port === 9080 && e.health === 'healthy' && e.weight === 1 && e.metadata.tlsMode === 'istio'));
  assert.throws(
    () => compileLoadAssignment({ cluster_name: 'x', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 0 } } } }] }] }),
    (e: unknown) => e instanceof ConfigError && e.path === 'cluster_load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value',
  );
});

test('virtualInbound picks the chain of the destination port, else the passthrough; 15006 itself is a black hole', () => {
  const m = testMesh();
  const p = m.sidecar('reviews-v1');
  const vin = wire(p, pushOf(m.store), TypeUrl.Listener).map(compileListener).find((l) => l.name === 'virtualInbound')!;
  assert.deepEqual([vin.originalDstFilter, vin.useOriginalDst], [true, false]);
  const chain = (port: number) => selectFilterChain(vin, { destinationIp: '10.1.0.12', destinationPort: port, transportProtocol: 'raw_buffer', applicationProtocols: [] });
  const app = chain(9080)!;
  assert.equal(app.network.kind, 'http');
  assert.equal(app.network.kind === 'http' && app.network.routes?.select({ method: 'GET', authority: 'x', path: '/', scheme: 'http', header: () => undefined })?.route.action.kind, 'forward');
  assert.equal(chain(7777)!.name, 'virtualInbound');
  const bh = chain(15006)!;
  assert.equal(bh.network.kind === 'tcp' && bh.network.clusters[0]!.name, 'BlackHoleCluster');
});

test('filter chains: server names and transport protocol narrow the choice, most specific first', () => {
  const tcp = (cluster: string) => [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: cluster, cluster } }];
  const l = compileListener({
    name: 'l',
    address: { socket_address: { address: '0.0.0.0', port_value: 443 } },
    filter_chains: [
      { name: 'exact', filter_chain_match: { server_names: ['api.example.com'], transport_protocol: 'tls' }, filters: tcp('a') },
      { name: 'wild', filter_chain_match: { server_names: ['*.example.com'], transport_protocol: 'tls' }, filters: tcp('b') },
      { name: 'plain', filter_chain_match: { transport_protocol: 'raw_buffer' }, filters: tcp('c') },
    ],
  });
  const pick = (serverName: string | undefined, transportProtocol: 'tls' | 'raw_buffer') => selectFilterChain(l, { destinationIp: '10.0.0.1', destinationPort: 443, transportProtocol, applicationProtocols: [], ...(serverName ? { serverName } : {}) })?.name;
  assert.equal(pick('API.example.com', 'tls'), 'exact');
  assert.equal(pick('www.example.com', 'tls'), 'wild');
  assert.equal(pick(undefined, 'raw_buffer'), 'plain');
  assert.equal(pick('other.org', 'tls'), undefined);
  assert.throws(() => compileListener({ name: 'x', address: { socket_address: { address: '0.0.0.0', port_value: 1 } }, filter_chains: [{ filters: [{ name: 'envoy.filters.network.redis_proxy', typed_config: { '@type': 'x' } }] }] }), /redis_proxy is not supported/);
});
