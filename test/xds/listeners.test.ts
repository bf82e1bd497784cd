// LDS: the shape of sidecar listeners — virtualOutbound, virtualInbound, per-port outbound listeners, Sidecar egress/ingress listeners, TCP routing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyYaml, proxy } from '../helpers/bookinfo-mesh.js';
import { simulate } from './simulation.js';
import { FIXTURES, NS, applyDocs, assertIncludes, host, testMesh } from './mesh.js';

type Msg = Record<string, unknown>;
const find = (cfg: { listeners: Msg[] }, name: string) => {
  const l = cfg.listeners.find((x) => x.name === name);
  assert.ok(l, `listener ${name} among ${cfg.listeners.map((x) => x.name).join(', ')}`);
  return l;
};
const hcmOf = (chain: Msg) => ((chain.filters as Msg[])[0]!.typedConfig as Msg);

test('a Bookinfo sidecar has one unbound HTTP listener per service port plus virtualOutbound (15001) and virtualInbound (15006)', () => {
  const m = testMesh();
  const cfg = m.config(m.sidecar('productpage-v1'));
  assert.deepEqual(cfg.listeners.map((l) => l.name).sort(), ['0.0.0.0_31400', '0.0.0.0_443', '0.0.0.0_80', '0.0.0.0_9080', 'virtualInbound', 'virtualOutbound']);
  const l = find(cfg, '0.0.0.0_9080');
  assert.deepEqual([l.bindToPort, l.trafficDirection], [{ value: false }, 'OUTBOUND']);
  const hcm = hcmOf((l.filterChains as Msg[])[0]!);
  assert.deepEqual(hcm.rds, { configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName: '9080' });
  assert.deepEqual((hcm.httpFilters as Msg[]).map((f) => f.name), ['envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
  assert.deepEqual([hcm.statPrefix, hcm.useRemoteAddress, hcm.normalizePath], ['outbound_0.0.0.0_9080', { value: false }, { value: true }]);
  const vo = find(cfg, 'virtualOutbound');
  assert.deepEqual([vo.useOriginalDst, (vo.address as Msg).socketAddress], [{ value: true }, { address: '0.0.0.0', portValue: 15001 }]);
  // A connection straight to 15001 would loop: it is blackholed.
  assertIncludes(simulate(cfg, { port: 15001, protocol: 'tcp' }), { listener: 'virtualOutbound', filterChain: 'virtualOutbound-blackhole', cluster: 'BlackHoleCluster' });
});

test('virtualInbound: HTTP ports get a connection manager routing to inbound|PORT||, other ports pass through to the original destination', () => {
  const m = testMesh();
  const cfg = m.config(m.sidecar('reviews-v2'));
  const vi = find(cfg, 'virtualInbound');
  // No PeerAuthentication: PERMISSIVE, so the TLS inspector tells mesh mTLS from plaintext (inbound-mtls.test.ts has the chains).
  assert.deepEqual(vi.listenerFilters, [
    { name: 'envoy.filters.listener.original_dst', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' } },
    { name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } },
  ]);
  assertIncludes(simulate(cfg, { inbound: true, port: 9080, authority: 'reviews:9080', path: '/reviews/0' }), {
    listener: 'virtualInbound',
    filterChain: 'inbound_0.0.0.0_9080',
    routeConfig: 'inbound|9080||',
    virtualHost: 'inbound|http|9080',
    route: 'default',
    cluster: 'inbound|9080||',
    clusterFound: true,
    timeoutMs: 0,
    retry: undefined,
  });
  assertIncludes(simulate(cfg, { inbound: true, port: 3306, protocol: 'tcp', address: m.ips['reviews-v2'] }), { filterChain: 'virtualInbound', cluster: 'InboundPassthroughClusterIpv4', clusterFound: true });
  assertIncludes(simulate(cfg, { inbound: true, port: 15006, protocol: 'tcp' }), { cluster: 'BlackHoleCluster' });
  const hcm = hcmOf((vi.filterChains as Msg[]).find((c) => c.name === 'inbound_0.0.0.0_9080')!);
  assert.deepEqual([hcm.forwardClientCertDetails, hcm.serverName, hcm.useRemoteAddress], ['APPEND_FORWARD', 'istio-envoy', { value: false }]);
  const route = ((((hcm.routeConfig as Msg).virtualHosts as Msg[])[0]!.routes as Msg[])[0]!.decorator as Msg).operation;
  assert.equal(route, `${host('reviews')}:9080/*`);
});

test('TCP services: a VIP gets its own VIP_PORT listener, mesh tcp routes split it by weight, and unknown traffic to the port passes through', () => {
  const m = testMesh();
  applyYaml(m.store, `apiVersion: v1
kind: Service
metadata: {name: mongodb, namespace: ${NS}}
spec:
  clusterIP: 10.96.0.20
  selector: {app: mongodb}
  ports: [{name: mongo, port: 27017}]
---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: ${NS}}
spec:
  selector: {app: tcp-echo}
  ports: [{name: tcp, port: 9000}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: tcp-echo, namespace: ${NS}}
spec:
  host: tcp-echo
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`);
  let cfg = m.config(m.sidecar('ratings-v1'));
  assertIncludes(simulate(cfg, { port: 27017, address: '10.96.0.20', protocol: 'tcp' }), { listener: '10.96.0.20_27017', cluster: `outbound|27017||${host('mongodb')}`, clusterFound: true });
  // Another address on the same port is not this service: it stays on virtualOutbound.
  assertIncludes(simulate(cfg, { port: 27017, address: '10.96.0.99', protocol: 'tcp' }), { listener: 'virtualOutbound', cluster: 'PassthroughCluster' });
  // Without a VIP the service owns the port on 0.0.0.0.
  assertIncludes(simulate(cfg, { port: 9000, protocol: 'tcp' }), { listener: '0.0.0.0_9000', cluster: `outbound|9000||${host('tcp-echo')}` });

  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: tcp-echo, namespace: ${NS}}
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{port: 9000}]
    route:
    - {destination: {host: tcp-echo, subset: v1}, weight: 80}
    - {destination: {host: tcp-echo, subset: v2}, weight: 20}
`);
  cfg = m.config(m.sidecar('ratings-v1'));
  assertIncludes(simulate(cfg, { port: 9000, protocol: 'tcp' }), {
    weightedClusters: [
      { name: `outbound|9000|v1|${host('tcp-echo')}`, weight: 80 },
      { name: `outbound|9000|v2|${host('tcp-echo')}`, weight: 20 },
    ],
  });
});

test('Sidecar egress with an explicit HTTP port: only the listed namespace is imported on it, the catch-all egress listener covers the other ports', () => {
  const m = testMesh();
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: ratings, namespace: ${NS}}
spec:
  workloadSelector: {labels: {app: ratings}}
  egress:
  - port: {number: 9080, protocol: HTTP, name: egresshttp}
    hosts: [./details.bookinfo.svc.cluster.local]
  - hosts: [istio-system/*]
`);
  const cfg = m.config(m.sidecar('ratings-v1'));
  assertIncludes(simulate(cfg, { port: 9080, authority: 'details:9080', path: '/' }), { cluster: `outbound|9080||${host('details')}` });
  assertIncludes(simulate(cfg, { port: 9080, authority: 'reviews:9080', path: '/' }), { virtualHost: 'allow_any' });
  assert.deepEqual(cfg.listeners.map((l) => l.name).sort(), ['0.0.0.0_31400', '0.0.0.0_443', '0.0.0.0_80', '0.0.0.0_9080', 'virtualInbound', 'virtualOutbound']);
  assert.ok(!cfg.clusters.has(`outbound|9080||${host('reviews')}`));
});

test('Sidecar without iptables: captureMode NONE egress binds 127.0.0.1, and a NONE ingress binds its own port to a local endpoint', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/sidecars.yaml`, [3], 'ns1');
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: no-ip-tables, namespace: ns1}
spec:
  workloadSelector: {labels: {app: productpage}}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: somename}
    defaultEndpoint: 127.0.0.1:8080
    captureMode: NONE
  egress:
  - port: {number: 3306, protocol: MYSQL, name: egressmysql}
    captureMode: NONE
    bind: 127.0.0.1
    hosts: ["*/mysql.foo.com"]
`);
  const p = proxy('ns1', { app: 'productpage' }, { ip: '10.2.0.5', name: 'productpage-ns1' });
  const cfg = m.config(p);
  const egress = find(cfg, '127.0.0.1_3306');
  assert.equal(egress.bindToPort, undefined, 'bound (the default)');
  assertIncludes(simulate(cfg, { port: 3306, address: '127.0.0.1', protocol: 'tcp' }), { cluster: 'outbound|3306||mysql.foo.com', clusterFound: true });
  const ingress = find(cfg, '10.2.0.5_9080');
  assert.equal(ingress.trafficDirection, 'INBOUND');
  const c = cfg.clusters.get('inbound|9080||')!;
  assert.deepEqual(c.loadAssignment, { clusterName: 'inbound|9080||', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 8080 } } } }] }] });
  assert.ok(!((find(cfg, 'virtualInbound').filterChains as Msg[]).some((ch) => ch.name === 'inbound_0.0.0.0_9080')), 'not also on virtualInbound');
});

test('Sidecar ingress to a unix socket: the inbound cluster dials the socket', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/sidecars.yaml`, [2], 'prod-us1');
  const cfg = m.config(proxy('prod-us1', { app: 'ratings' }, { ip: '10.3.0.5', name: 'ratings-1' }));
  const c = cfg.clusters.get('inbound|9080||')!;
  assert.deepEqual(((c.loadAssignment as Msg).endpoints as Msg[])[0], { lbEndpoints: [{ endpoint: { address: { pipe: { path: '/var/run/someuds.sock' } } } }] });
  assertIncludes(simulate(cfg, { inbound: true, port: 9080, authority: 'ratings', path: '/' }), { cluster: 'inbound|9080||' });
});

test('TLS ports: the sidecar listener reads SNI with the TLS inspector and, after the mesh\'s protocol detection timeout, goes on as plain TCP', () => {
  const m = testMesh();
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: external-tls, namespace: ${NS}}
spec:
  hosts: [a.example.com, b.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
`);
  const l = find(m.config(m.sidecar('productpage-v1')), '0.0.0.0_443');
  assertIncludes(l, {
    listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } }],
    listenerFiltersTimeout: { seconds: 0, nanos: 100_000_000 },
    continueOnListenerFiltersTimeout: true,
  });
  const off = find(m.config(m.sidecar('productpage-v1'), { protocolDetectionTimeoutMs: 0 }), '0.0.0.0_443');
  assert.equal(off.listenerFiltersTimeout, undefined);
});
