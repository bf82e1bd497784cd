// Traffic tables for egress: ServiceEntries (DNS, TLS, wildcard NONE), TLS origination, the egress gateway, outbound traffic policy and Sidecar scoping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { proxy } from '../helpers/bookinfo-mesh.js';
import { clusterOf, simulate } from './simulation.js';
import { FIXTURES, NS, addEgressGateway, applyDocs, assertIncludes, host, testMesh } from './mesh.js';

type Msg = Record<string, unknown>;
const sleepProxy = () => proxy(NS, { app: 'sleep' }, { ip: '10.1.5.99', name: 'sleep-1' });

test('egress to httpbin.org: a DNS ServiceEntry becomes a STRICT_DNS cluster, and its VirtualService sets a 3s timeout', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/egress.yaml`, [0]);
  let cfg = m.config(sleepProxy());
  assertIncludes(simulate(cfg, { port: 80, authority: 'httpbin.org', path: '/headers' }), {
    listener: '0.0.0.0_80',
    routeConfig: '80',
    virtualHost: 'httpbin.org:80',
    cluster: 'outbound|80||httpbin.org',
    clusterFound: true,
    timeoutMs: 0,
  });
  const c = clusterOf(cfg, 'outbound|80||httpbin.org');
  assert.equal(c.type, 'STRICT_DNS');
  assert.deepEqual((c.loadAssignment as Msg).endpoints, [
    { lbEndpoints: [{ endpoint: { address: { socketAddress: { address: 'httpbin.org', portValue: 80 } } }, healthStatus: 'HEALTHY', loadBalancingWeight: { value: 1 } }], loadBalancingWeight: { value: 1 } },
  ]);
  assert.equal(c.transportSocketMatches, undefined, 'no auto-mTLS to a MESH_EXTERNAL service');
  applyDocs(m.store, `${FIXTURES}/egress.yaml`, [2]);
  cfg = m.config(sleepProxy());
  assertIncludes(simulate(cfg, { port: 80, authority: 'httpbin.org', path: '/delay/5' }), { cluster: 'outbound|80||httpbin.org', timeoutMs: 3000 });
});

test('outbound traffic policy: unknown hosts pass through under ALLOW_ANY and are blocked under REGISTRY_ONLY', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/egress.yaml`, [0]);
  const allow = m.config(sleepProxy());
  assertIncludes(simulate(allow, { port: 80, authority: 'www.example.com', path: '/' }), { virtualHost: 'allow_any', cluster: 'PassthroughCluster' });
  assertIncludes(simulate(allow, { port: 5432, protocol: 'tcp' }), { listener: 'virtualOutbound', filterChain: 'virtualOutbound-catchall-tcp', cluster: 'PassthroughCluster' });
  const block = m.config(sleepProxy(), { outboundTrafficPolicy: 'REGISTRY_ONLY' });
  assertIncludes(simulate(block, { port: 80, authority: 'www.example.com', path: '/' }), { virtualHost: 'block_all', directResponse: 502 });
  assertIncludes(simulate(block, { port: 5432, protocol: 'tcp' }), { listener: 'virtualOutbound', cluster: 'BlackHoleCluster' });
  // Registered external services stay reachable.
  assertIncludes(simulate(block, { port: 80, authority: 'httpbin.org', path: '/' }), { cluster: 'outbound|80||httpbin.org' });
  const bh = clusterOf(block, 'BlackHoleCluster');
  assert.deepEqual([bh.type, bh.loadAssignment], ['STATIC', undefined]);
});

test('TLS egress: www.google.com:443 is chosen by SNI on 0.0.0.0_443; other SNIs follow the traffic policy; *.wikipedia.org goes to its original destination', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/egress.yaml`, [1, 6]);
  let cfg = m.config(sleepProxy());
  assertIncludes(simulate(cfg, { port: 443, sni: 'www.google.com', protocol: 'tcp' }), { listener: '0.0.0.0_443', cluster: 'outbound|443||www.google.com', clusterFound: true });
  assertIncludes(simulate(cfg, { port: 443, sni: 'en.wikipedia.org', protocol: 'tcp' }), { cluster: 'outbound|443||*.wikipedia.org' });
  assertIncludes(simulate(cfg, { port: 443, sni: 'www.example.com', protocol: 'tcp' }), { filterChain: 'PassthroughFilterChain', cluster: 'PassthroughCluster' });
  assert.deepEqual([clusterOf(cfg, 'outbound|443||*.wikipedia.org').type, clusterOf(cfg, 'outbound|443||*.wikipedia.org').lbPolicy], ['ORIGINAL_DST', 'CLUSTER_PROVIDED']);
  cfg = m.config(sleepProxy(), { outboundTrafficPolicy: 'REGISTRY_ONLY' });
  assertIncludes(simulate(cfg, { port: 443, sni: 'www.example.com', protocol: 'tcp' }), { filterChain: 'PassthroughFilterChain', cluster: 'BlackHoleCluster' });
});

test('TLS origination: HTTP to edition.cnn.com:80 is rewritten to port 443 and leaves over TLS with SNI edition.cnn.com', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/egress.yaml`, [3, 4, 5]);
  const cfg = m.config(sleepProxy());
  assertIncludes(simulate(cfg, { port: 80, authority: 'edition.cnn.com', path: '/politics' }), { cluster: 'outbound|443||edition.cnn.com', clusterFound: true });
  const c443 = clusterOf(cfg, 'outbound|443||edition.cnn.com');
  assert.deepEqual(c443.transportSocket, {
    name: 'envoy.transport_sockets.tls',
    typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', commonTlsContext: {}, sni: 'edition.cnn.com' },
  });
  // Port-level settings replace the whole policy for 443 only: port 80 keeps plaintext.
  assert.equal(clusterOf(cfg, 'outbound|80||edition.cnn.com').transportSocket, undefined);
});

test('egress gateway: sidecars send edition.cnn.com:80 to the egress gateway, which forwards it to edition.cnn.com', () => {
  const m = testMesh();
  const egress = addEgressGateway(m);
  applyDocs(m.store, `${FIXTURES}/egress-gateway.yaml`, [0, 1, 2, 3]);
  const EGW = host('istio-egressgateway', 'istio-system');
  assertIncludes(simulate(m.config(sleepProxy()), { port: 80, authority: 'edition.cnn.com', path: '/politics' }), { cluster: `outbound|80|cnn|${EGW}`, clusterFound: true });
  const gw = m.config(egress);
  assertIncludes(simulate(gw, { port: 8080, authority: 'edition.cnn.com', path: '/politics' }), { listener: '0.0.0.0_8080', routeConfig: 'http.80', cluster: 'outbound|80||edition.cnn.com', clusterFound: true });
});

test('egress gateway with TLS passthrough: sidecars route edition.cnn.com by SNI to the gateway, which proxies TCP to edition.cnn.com:443', () => {
  const m = testMesh();
  const egress = addEgressGateway(m);
  applyDocs(m.store, `${FIXTURES}/egress-gateway.yaml`, [0, 2, 4, 5]);
  const EGW = host('istio-egressgateway', 'istio-system');
  assertIncludes(simulate(m.config(sleepProxy()), { port: 443, sni: 'edition.cnn.com', protocol: 'tcp' }), { cluster: `outbound|443|cnn|${EGW}` });
  assertIncludes(simulate(m.config(egress), { port: 8443, sni: 'edition.cnn.com', protocol: 'tcp' }), { listener: '0.0.0.0_8443', cluster: 'outbound|443||edition.cnn.com' });
});

test('Sidecar scope: a REGISTRY_ONLY Sidecar importing ./* hides ServiceEntries of other namespaces, and ~/* removes all outbound config', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/egress.yaml`, [0], 'default');
  applyDocs(m.store, `${FIXTURES}/sidecars.yaml`, [6, 7]);
  const pp = m.config(m.sidecar('productpage-v1'));
  // Port 80 is served (istio-system's ingress gateway Service is imported), but httpbin.org is not among its hosts.
  assertIncludes(simulate(pp, { port: 80, authority: 'httpbin.org', path: '/' }), { listener: '0.0.0.0_80', virtualHost: 'block_all', directResponse: 502 });
  assertIncludes(simulate(pp, { port: 5432, protocol: 'tcp' }), { listener: 'virtualOutbound', cluster: 'BlackHoleCluster' });
  assertIncludes(simulate(pp, { port: 9080, authority: 'reviews:9080', path: '/' }), { cluster: `outbound|9080||${host('reviews')}` });
  assertIncludes(simulate(pp, { port: 9080, authority: 'httpbin.org:9080', path: '/' }), { virtualHost: 'block_all', directResponse: 502 });
  assert.ok(![...pp.clusters.keys()].some((c) => c.includes('httpbin.org')), 'no cluster for the hidden service');

  const sleep = m.config(sleepProxy());
  assert.deepEqual(sleep.listeners.map((l) => l.name).sort(), ['virtualInbound', 'virtualOutbound']);
  assert.deepEqual([...sleep.clusters.keys()].filter((c) => c.startsWith('outbound|')), []);
  // The workload's own Sidecar replaces the namespace default, REGISTRY_ONLY included: it falls back to the mesh's ALLOW_ANY.
  assertIncludes(simulate(sleep, { port: 9080, protocol: 'tcp' }), { listener: 'virtualOutbound', cluster: 'PassthroughCluster' });
});
