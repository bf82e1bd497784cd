// The HTTP proxy port (meshConfig.proxyHttpPort): the 127.0.0.1_PORT listener and route configuration `http_proxy` a Bookinfo sidecar gets, checked on the wire and as traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { TypeUrl } from '../../src/xds/types.js';
import { applyYaml } from '../helpers/bookinfo-mesh.js';
import { simulate } from './simulation.js';
import { NS, assertIncludes, host, testMesh } from './mesh.js';

type Msg = Record<string, unknown>;
const PROXY_PORT = 15080;
const LISTENER = `127.0.0.1_${PROXY_PORT}`;
/** A request through the proxy port: the client connects to 127.0.0.1:15080 and names the service in the target. */
const viaProxy = (authority: string, extra: { path?: string; headers?: Record<string, string> } = {}) => ({ port: PROXY_PORT, address: '127.0.0.1', authority, path: extra.path ?? '/', ...(extra.headers ? { headers: extra.headers } : {}) });
const vhostsOf = (rc: Msg) => rc.virtualHosts as Msg[];
const GATEWAY = host('istio-ingressgateway', 'istio-system');

test('without proxyHttpPort a sidecar has no HTTP proxy listener and no http_proxy routes', () => {
  const m = testMesh();
  const cfg = m.config(m.sidecar('productpage-v1'));
  assert.ok(!cfg.listeners.some((l) => (l.name as string).startsWith('127.0.0.1_')), 'no loopback listener');
  assert.ok(!cfg.routes.has('http_proxy'));
});

test('proxyHttpPort gives a sidecar 127.0.0.1_PORT: bound, OUTBOUND, absolute URLs allowed, routes from RDS http_proxy; encoded with Envoy\'s protos', () => {
  const m = testMesh();
  // configFor encodes every resource with the strict encoder and refuses deprecated fields.
  const cfg = m.config(m.sidecar('productpage-v1'), { proxyHttpPort: PROXY_PORT });
  // Istio's order: outbound listeners, the HTTP proxy, virtualOutbound, virtualInbound.
  assert.deepEqual(
    cfg.listeners.map((l) => l.name),
    ['0.0.0.0_31400', '0.0.0.0_443', '0.0.0.0_80', '0.0.0.0_9080', LISTENER, 'virtualOutbound', 'virtualInbound'],
  );
  const l = cfg.listeners.find((x) => x.name === LISTENER)!;
  assert.deepEqual(l.address, { socketAddress: { address: '127.0.0.1', portValue: PROXY_PORT } });
  assert.equal(l.trafficDirection, 'OUTBOUND');
  assert.equal(l.bindToPort, undefined, 'bind_to_port left at its default, true');
  assert.equal(l.useOriginalDst, undefined);
  const chains = l.filterChains as Msg[];
  assert.equal(chains.length, 1);
  assert.equal(chains[0]!.filterChainMatch, undefined);
  const hcm = (chains[0]!.filters as Msg[])[0]!.typedConfig as Msg;
  assert.deepEqual(hcm.rds, { configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName: 'http_proxy' });
  assert.equal(hcm.statPrefix, `outbound_${LISTENER}`);
  assert.deepEqual(hcm.httpProtocolOptions, { allowAbsoluteUrl: { value: true } });
  assert.deepEqual(hcm.useRemoteAddress, { value: false });

  // On the wire: the Listener and the RouteConfiguration round-trip through Envoy's v3 protos.
  const wireListener = decodeResource(TypeUrl.Listener, encodeResource(cfg.resources.find((r) => r.name === LISTENER)!));
  const wireHcm = ((wireListener.filter_chains as Msg[])[0]!.filters as Msg[])[0]!.typed_config as Msg;
  assert.deepEqual(wireHcm.http_protocol_options, { allow_absolute_url: true });
  assert.equal((wireHcm.rds as Msg).route_config_name, 'http_proxy');
  const wireRoutes = decodeResource(TypeUrl.RouteConfiguration, encodeResource(cfg.resources.find((r) => r.name === 'http_proxy' && r.typeUrl === TypeUrl.RouteConfiguration)!));
  assert.equal(wireRoutes.name, 'http_proxy');
  assert.equal((wireRoutes.virtual_hosts as Msg[]).length, vhostsOf(cfg.routes.get('http_proxy')!).length);
});

test('http_proxy has a virtual host per visible HTTP service port with host:port domains (port-less names only on port 80), then allow_any', () => {
  const m = testMesh();
  const cfg = m.config(m.sidecar('productpage-v1'), { proxyHttpPort: PROXY_PORT });
  const rc = cfg.routes.get('http_proxy')!;
  assert.deepEqual(rc.validateClusters, { value: false });
  const vhosts = vhostsOf(rc);
  assert.deepEqual(
    vhosts.map((v) => v.name),
    [`${host('details')}:9080`, `${GATEWAY}:80`, `${host('productpage')}:9080`, `${host('ratings')}:9080`, `${host('reviews')}:9080`, 'allow_any'],
  );
  const byName = (n: string) => vhosts.find((v) => v.name === n)!;
  assert.deepEqual(byName(`${host('reviews')}:9080`).domains, [`${host('reviews')}:9080`, 'reviews:9080', 'reviews.bookinfo.svc.cluster:9080', 'reviews.bookinfo.svc:9080', 'reviews.bookinfo:9080']);
  // Port 80 is HTTP's default: a target without a port (`http://istio-ingressgateway.istio-system/`) means it.
  assert.deepEqual(byName(`${GATEWAY}:80`).domains, [
    GATEWAY,
    `${GATEWAY}:80`,
    'istio-ingressgateway.istio-system',
    'istio-ingressgateway.istio-system:80',
    'istio-ingressgateway.istio-system.svc.cluster',
    'istio-ingressgateway.istio-system.svc.cluster:80',
    'istio-ingressgateway.istio-system.svc',
    'istio-ingressgateway.istio-system.svc:80',
  ]);
  assert.deepEqual(vhosts.at(-1), vhostsOf(cfg.routes.get('9080')!).at(-1), 'the same catch-all as the per-port routes');
  assertIncludes(byName('allow_any'), { domains: ['*'] });

  // As traffic: the listener, route configuration and virtual host a proxy request reaches.
  assertIncludes(simulate(cfg, viaProxy('reviews:9080', { path: '/reviews/0' })), {
    listener: LISTENER,
    routeConfig: 'http_proxy',
    virtualHost: `${host('reviews')}:9080`,
    cluster: `outbound|9080||${host('reviews')}`,
    clusterFound: true,
  });
  assertIncludes(simulate(cfg, viaProxy('details.bookinfo:9080')), { virtualHost: `${host('details')}:9080`, cluster: `outbound|9080||${host('details')}` });
  // `reviews` without a port means port 80, where reviews does not listen: unknown, so the catch-all.
  assertIncludes(simulate(cfg, viaProxy('reviews')), { virtualHost: 'allow_any', cluster: 'PassthroughCluster' });
  assertIncludes(simulate(cfg, viaProxy('istio-ingressgateway.istio-system')), { virtualHost: `${GATEWAY}:80`, cluster: `outbound|80||${GATEWAY}` });
  assertIncludes(simulate(cfg, viaProxy('example.com:9080')), { virtualHost: 'allow_any', cluster: 'PassthroughCluster' });
});

test('REGISTRY_ONLY: unknown hosts through the proxy port get block_all\'s 502, registry services still route', () => {
  const m = testMesh();
  const cfg = m.config(m.sidecar('productpage-v1'), { proxyHttpPort: PROXY_PORT, outboundTrafficPolicy: 'REGISTRY_ONLY' });
  assert.equal(vhostsOf(cfg.routes.get('http_proxy')!).at(-1)!.name, 'block_all');
  assertIncludes(simulate(cfg, viaProxy('example.com:9080')), { virtualHost: 'block_all', directResponse: 502 });
  assertIncludes(simulate(cfg, viaProxy('ratings:9080')), { cluster: `outbound|9080||${host('ratings')}` });
});

test('VirtualService routes bound to mesh apply through the proxy port exactly as through the service port', () => {
  const m = testMesh();
  applyYaml(
    m.store,
    `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: legacy
    match: [{uri: {prefix: /old/}}]
    rewrite: {uri: /new/}
    route: [{destination: {host: reviews, subset: v1}}]
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: bookinfo-com, namespace: ${NS}}
spec:
  hosts: [bookinfo.com]
  http: [{route: [{destination: {host: productpage, port: {number: 9080}}}]}]
`,
    NS,
  );
  const cfg = m.config(m.sidecar('productpage-v1'), { proxyHttpPort: PROXY_PORT });
  const proxyHost = vhostsOf(cfg.routes.get('http_proxy')!).find((v) => v.name === `${host('reviews')}:9080`)!;
  const portHost = vhostsOf(cfg.routes.get('9080')!).find((v) => v.name === `${host('reviews')}:9080`)!;
  assert.deepEqual(proxyHost.routes, portHost.routes, 'the routes of route configuration 9080, reused');
  const R = (subset: string) => `outbound|9080|${subset}|${host('reviews')}`;
  assertIncludes(simulate(cfg, viaProxy('reviews:9080', { headers: { 'end-user': 'jason' } })), { route: 'jason', cluster: R('v2') });
  assertIncludes(simulate(cfg, viaProxy('reviews:9080', { path: '/old/x' })), { route: 'legacy', cluster: R('v1'), prefixRewrite: '/new/' });
  assertIncludes(simulate(cfg, viaProxy('reviews:9080')), { cluster: R('v1') });
  // A VirtualService of a non-registry host is served on port 80, where a proxy client's `http://bookinfo.com/` lands.
  const bookinfo = vhostsOf(cfg.routes.get('http_proxy')!).find((v) => v.name === 'bookinfo.com:80')!;
  assert.deepEqual(bookinfo.domains, ['bookinfo.com', 'bookinfo.com:80']);
  assertIncludes(simulate(cfg, viaProxy('bookinfo.com')), { virtualHost: 'bookinfo.com:80', cluster: `outbound|9080||${host('productpage')}` });
});

test('a Sidecar\'s egress scope limits what the proxy port reaches, and its outbound policy picks the catch-all', () => {
  const m = testMesh();
  applyYaml(
    m.store,
    `apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: productpage, namespace: ${NS}}
spec:
  workloadSelector: {labels: {app: productpage}}
  egress: [{hosts: [./details.bookinfo.svc.cluster.local]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`,
    NS,
  );
  const cfg = m.config(m.sidecar('productpage-v1'), { proxyHttpPort: PROXY_PORT });
  assert.deepEqual(
    vhostsOf(cfg.routes.get('http_proxy')!).map((v) => v.name),
    [`${host('details')}:9080`, 'block_all'],
  );
  assertIncludes(simulate(cfg, viaProxy('details:9080')), { cluster: `outbound|9080||${host('details')}` });
  assertIncludes(simulate(cfg, viaProxy('reviews:9080')), { virtualHost: 'block_all', directResponse: 502 });
});

test('gateways get no HTTP proxy listener', () => {
  const m = testMesh();
  const cfg = m.config(m.gateway(), { proxyHttpPort: PROXY_PORT });
  assert.ok(!cfg.listeners.some((l) => l.name === LISTENER));
  assert.ok(!cfg.routes.has('http_proxy'));
});
