import { test } from 'node:test';
import assert from 'node:assert/strict';
import { proxyFromNode, type Proxy } from '../../src/model/proxy.js';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { grpcClusters, grpcEndpoints, grpcListeners, grpcRoutes, parseSubsetKey } from '../../src/xds/generators/grpc.js';
import { TypeUrl, type XdsResource } from '../../src/xds/types.js';
import { applyYaml, CLIENT_NODE_ID, ECHO_HOST, echoMesh } from './echo-mesh.js';

const proxy = proxyFromNode(CLIENT_NODE_ID, { GENERATOR: 'grpc' }) as Proxy;
const V1 = `outbound|7070|v1|${ECHO_HOST}`;
const V2 = `outbound|7070|v2|${ECHO_HOST}`;
const DEFAULT = `outbound|7070||${ECHO_HOST}`;

/** Encodes (strict + Envoy's validation rules) and decodes back to Envoy JSON. */
function json(r: XdsResource): Record<string, unknown> {
  return decodeResource(r.typeUrl, encodeResource(r));
}

test('LDS answers the requested targets by name, short forms included, with RDS and the router last', () => {
  const mesh = echoMesh({ v1: 40001, v2: 40002 });
  const push = mesh.push();
  const names = [`${ECHO_HOST}:7070`, 'echo:7070', 'echo.default:7070', 'echo.default.svc:7070', 'echo', 'echo:9999', 'nope.default:7070'];
  const out = grpcListeners(proxy, push, names);
  assert.deepEqual(out.map((l) => l.name).sort(), ['echo', 'echo.default.svc:7070', 'echo.default:7070', 'echo:7070', `${ECHO_HOST}:7070`].sort());
  const l = json(out.find((x) => x.name === 'echo:7070')!) as { api_listener: { api_listener: Record<string, unknown> } };
  const hcm = l.api_listener.api_listener;
  assert.deepEqual(hcm.rds, { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: DEFAULT });
  const filters = hcm.http_filters as { name: string; typed_config: { '@type': string } }[];
  assert.equal(filters.at(-1)!.typed_config['@type'], 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router');
  mesh.close();
});

test('RDS: one virtual host with Istio domains and the VirtualService routes as gRPC supports them', () => {
  const mesh = echoMesh({ v1: 40001, v2: 40002 });
  const [rc] = grpcRoutes(proxy, mesh.push(), [DEFAULT]);
  const j = json(rc!) as { virtual_hosts: { domains: string[]; routes: Record<string, unknown>[] }[] };
  assert.equal(j.virtual_hosts.length, 1);
  const vh = j.virtual_hosts[0]!;
  for (const d of [`${ECHO_HOST}:7070`, ECHO_HOST, 'echo', 'echo:7070', 'echo.default', 'echo.default.svc:7070']) assert.ok(vh.domains.includes(d), d);
  const [jason, flaky, noRetry, split] = vh.routes as {
    name: string;
    match: Record<string, unknown>;
    route: { cluster?: string; weighted_clusters?: { clusters: { name: string; weight: number }[] }; retry_policy?: Record<string, unknown> };
  }[];
  assert.equal(jason!.name, 'jason');
  assert.deepEqual(jason!.match, { prefix: '/', headers: [{ name: 'x-user', string_match: { exact: 'jason' } }] });
  assert.equal(jason!.route.cluster, V2);
  assert.equal(jason!.route.retry_policy!.num_retries, 2, "Istio's default retry policy when none is set");
  assert.deepEqual(flaky!.match, { prefix: '/echo.Echo/Flaky' });
  assert.equal(flaky!.route.retry_policy!.retry_on, 'unavailable');
  assert.equal(flaky!.route.retry_policy!.num_retries, 4);
  assert.deepEqual(noRetry!.match, { path: '/echo.Echo/NoRetry' });
  assert.equal(noRetry!.route.retry_policy, undefined, 'attempts: 0 disables retries');
  assert.deepEqual(split!.route.weighted_clusters, { clusters: [{ name: V1, weight: 80 }, { name: V2, weight: 20 }] });
  mesh.close();
});

test('RDS without a VirtualService routes everything to the default cluster', () => {
  const mesh = echoMesh({ v1: 40001, v2: 40002 });
  mesh.store.delete({ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'default', name: 'echo' });
  const [rc] = grpcRoutes(proxy, mesh.push(), [DEFAULT, 'outbound|1||nope.default.svc.cluster.local', 'garbage']);
  const j = json(rc!) as { virtual_hosts: { routes: { match: unknown; route: { cluster: string } }[] }[] };
  assert.deepEqual(j.virtual_hosts[0]!.routes.map((r) => [r.match, r.route.cluster]), [[{ prefix: '/' }, DEFAULT]]);
  mesh.close();
});

test('gRPC-incompatible routes are left out instead of making the client NACK', () => {
  const mesh = echoMesh({ v1: 40001, v2: 40002 });
  applyYaml(
    mesh.store,
    `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [echo]
  http:
  - match: [{ uri: { prefix: /old } }]
    redirect: { uri: /new }
  - match: [{ queryParams: { debug: { exact: "1" } } }]
    route: [{ destination: { host: echo, subset: v1 } }]
  - match: [{ sourceLabels: { app: someone-else } }]
    route: [{ destination: { host: echo, subset: v1 } }]
  - route: [{ destination: { host: echo, subset: v2 } }]
    fault: { abort: { httpStatus: 503, percentage: { value: 12.5 } } }
`,
  );
  const [rc] = grpcRoutes(proxy, mesh.push(), [DEFAULT]);
  const routes = (json(rc!) as { virtual_hosts: { routes: Record<string, unknown>[] }[] }).virtual_hosts[0]!.routes;
  assert.equal(routes.length, 1);
  assert.deepEqual(routes[0]!.typed_per_filter_config, {
    'envoy.filters.http.fault': {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
      abort: { http_status: 503, percentage: { numerator: 125000, denominator: 'MILLION' } },
    },
  });
  mesh.close();
});

test('CDS: EDS clusters for requested default and subset names; unknown subsets and services are absent', () => {
  const mesh = echoMesh({ v1: 40001, v2: 40002 });
  const out = grpcClusters(proxy, mesh.push(), [V1, V2, DEFAULT, `outbound|7070|v3|${ECHO_HOST}`, 'outbound|80||nope.default.svc.cluster.local']);
  assert.deepEqual(out.map((c) => c.name).sort(), [DEFAULT, V1, V2].sort());
  assert.deepEqual(json(out.find((c) => c.name === V1)!), {
    '@type': TypeUrl.Cluster,
    name: V1,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: V1 },
    // lb_policy ROUND_ROBIN is the enum's zero value: proto3 JSON leaves it out.
  });
  // Without names (a wildcard subscription): default and subset clusters of every visible service.
  assert.deepEqual(grpcClusters(proxy, mesh.push()).map((c) => c.name).sort(), [DEFAULT, V1, V2].sort());
  mesh.close();
});

test('CDS: consistent hashing becomes RING_HASH with a header hash policy on the route', () => {
  const mesh = echoMesh({ v1: 40001, v2: 40002 });
  applyYaml(
    mesh.store,
    `
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: echo
  trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 }, trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } } }
`,
  );
  const push = mesh.push();
  const [c1, c2] = grpcClusters(proxy, push, [V1, V2]).map(json);
  assert.equal(c1!.lb_policy, 'RING_HASH');
  assert.deepEqual(c1!.ring_hash_lb_config, {}, 'hash_function XX_HASH is the enum default, so JSON omits it');
  assert.equal(c2!.lb_policy, undefined, "the subset's own load balancer (ROUND_ROBIN, the zero value) replaces the rule's");
  assert.equal(c2!.ring_hash_lb_config, undefined);
  const routes = (json(grpcRoutes(proxy, push, [DEFAULT])[0]!) as { virtual_hosts: { routes: { name: string; route: Record<string, unknown> }[] }[] }).virtual_hosts[0]!.routes;
  assert.deepEqual(routes.find((r) => r.name === 'flaky')!.route.hash_policy, [{ header: { header_name: 'x-user' } }]);
  mesh.close();
});

test('EDS: subset endpoints with their workload ports, in a weighted locality', () => {
  const mesh = echoMesh({ v1: 40001, v2: 40002 });
  const out = grpcEndpoints(proxy, mesh.push(), [V1, DEFAULT, `outbound|7070|v9|${ECHO_HOST}`]);
  assert.deepEqual(out.map((c) => c.name), [V1, DEFAULT]);
  const v1 = json(out[0]!) as { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[]; load_balancing_weight: number }[] };
  assert.deepEqual(v1.endpoints[0]!.lb_endpoints.map((e) => e.endpoint.address.socket_address.port_value), [40001]);
  assert.equal(v1.endpoints[0]!.load_balancing_weight, 1);
  const all = json(out[1]!) as typeof v1;
  assert.deepEqual(all.endpoints[0]!.lb_endpoints.map((e) => e.endpoint.address.socket_address.port_value).sort(), [40001, 40002]);
  mesh.close();
});

test('subset keys parse as Istio writes them', () => {
  assert.deepEqual(parseSubsetKey(V1), { direction: 'outbound', port: 7070, subset: 'v1', host: ECHO_HOST });
  assert.equal(parseSubsetKey('outbound|x||h'), undefined);
  assert.equal(parseSubsetKey('inbound|7070||'), undefined);
  assert.equal(parseSubsetKey('echo:7070'), undefined);
});
