// Sidecar inbound mTLS from PeerAuthentication: the chains of each mode, their TLS context and matches, the TLS inspector, and the push a policy change causes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileListener, selectFilterChain } from '../../src/proxy/config/listeners.js';
import { Discovery } from '../../src/xds/discovery.js';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { TypeUrl } from '../../src/xds/types.js';
import { applyYaml, proxy, pushOf } from '../helpers/bookinfo-mesh.js';
import { AdsTestClient } from './ads-test-client.js';
import { FIXTURES, NS, applyDocs, assertIncludes, testMesh, type TestMesh } from './mesh.js';
import { simulate, type ProxyConfig } from './simulation.js';

type Msg = Record<string, unknown>;

const MESH_ALPN = ['istio-peer-exchange', 'istio'];
const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };
const ORIGINAL_DST = { name: 'envoy.filters.listener.original_dst', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' } };

/** The SDS config of a secret served by the workload's local agent, written out (not built with the generator's helper). */
const sds = (name: string) => ({
  name,
  sdsConfig: {
    apiConfigSource: { apiType: 'GRPC', transportApiVersion: 'V3', setNodeOnFirstMessageOnly: true, grpcServices: [{ envoyGrpc: { clusterName: 'sds-grpc' } }] },
    initialFetchTimeout: { seconds: 0, nanos: 0 },
    resourceApiVersion: 'V3',
  },
});

function pa(ns: string, name: string, spec: string): string {
  return `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec}
`;
}

const listener = (cfg: ProxyConfig, name: string): Msg => {
  const l = cfg.listeners.find((x) => x.name === name);
  assert.ok(l, `listener ${name} among ${cfg.listeners.map((x) => x.name).join(', ')}`);
  return l;
};
const chains = (l: Msg) => l.filterChains as Msg[];
const chainNames = (l: Msg) => chains(l).map((c) => c.name);
const chainOf = (l: Msg, name: string) => {
  const c = chains(l).find((x) => x.name === name);
  assert.ok(c, `chain ${name} among ${chainNames(l).join(', ')}`);
  return c;
};
const tlsContextOf = (c: Msg) => {
  const ts = c.transportSocket as Msg;
  assert.equal(ts.name, 'envoy.transport_sockets.tls');
  const ctx = ts.typedConfig as Msg;
  assert.equal(ctx['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
  return ctx;
};
const filterNames = (c: Msg) => (c.filters as Msg[]).map((f) => f.name);
const tcpCluster = (c: Msg) => ((c.filters as Msg[])[0]!.typedConfig as Msg).cluster;

/** Adds a plain TCP service on port 9000 served by the ratings pods. */
function addTcpPort(m: TestMesh): void {
  applyYaml(m.store, `apiVersion: v1
kind: Service
metadata: {name: ratings-tcp, namespace: ${NS}}
spec:
  selector: {app: ratings}
  ports: [{name: tcp, port: 9000}]
`);
}

/** What reaches the workload on port 9080 for a plaintext request, mesh mTLS, and TLS from outside the mesh. */
function inboundCalls(cfg: ProxyConfig, port = 9080) {
  const http = { inbound: true, port, authority: 'reviews:9080', path: '/' } as const;
  return {
    plaintext: simulate(cfg, http),
    mesh: simulate(cfg, { ...http, tls: true, alpn: [...MESH_ALPN, 'h2'] }),
    outside: simulate(cfg, { ...http, protocol: 'tcp', tls: true, alpn: ['h2', 'http/1.1'] }),
  };
}

test('no PeerAuthentication: PERMISSIVE — per port an mTLS chain on tls + mesh ALPN, a chain passing other TLS through untouched, and the plaintext chain', () => {
  const m = testMesh();
  const cfg = m.config(m.sidecar('reviews-v2'));
  const vi = listener(cfg, 'virtualInbound');
  assert.deepEqual(chainNames(vi), [
    'virtualInbound-blackhole',
    'inbound_0.0.0.0_9080-mtls',
    'inbound_0.0.0.0_9080-tls',
    'inbound_0.0.0.0_9080',
    'virtualInbound-mtls',
    'virtualInbound-tls',
    'virtualInbound',
  ]);
  // The TLS inspector reads transport protocol and ALPN; a client that says nothing for 100 ms goes on as plaintext.
  assert.deepEqual(vi.listenerFilters, [ORIGINAL_DST, TLS_INSPECTOR]);
  assert.deepEqual([vi.listenerFiltersTimeout, vi.continueOnListenerFiltersTimeout], [{ seconds: 0, nanos: 100_000_000 }, true]);

  const mtls = chainOf(vi, 'inbound_0.0.0.0_9080-mtls');
  const match = mtls.filterChainMatch as Msg;
  assert.deepEqual([match.destinationPort, match.transportProtocol], [{ value: 9080 }, 'tls']);
  for (const alpn of MESH_ALPN) assert.ok((match.applicationProtocols as string[]).includes(alpn), `matches ALPN ${alpn}`);
  assert.ok(!(match.applicationProtocols as string[]).some((a) => a === 'h2' || a === 'http/1.1'), 'ordinary TLS ALPN is not taken for mesh traffic');
  assert.deepEqual(tlsContextOf(mtls), {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    commonTlsContext: {
      tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2' },
      tlsCertificateSdsSecretConfigs: [sds('default')],
      combinedValidationContext: { defaultValidationContext: { matchTypedSubjectAltNames: [{ sanType: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }] }, validationContextSdsSecretConfig: sds('ROOTCA') },
      alpnProtocols: ['h2', 'http/1.1'],
    },
    requireClientCertificate: { value: true },
  });
  assert.deepEqual(filterNames(mtls), ['envoy.filters.network.http_connection_manager']);
  const outside = chainOf(vi, 'inbound_0.0.0.0_9080-tls');
  assert.deepEqual([outside.filterChainMatch, outside.transportSocket, filterNames(outside), tcpCluster(outside)], [
    { destinationPort: { value: 9080 }, transportProtocol: 'tls' },
    undefined,
    ['envoy.filters.network.tcp_proxy'],
    'inbound|9080||',
  ]);
  const plain = chainOf(vi, 'inbound_0.0.0.0_9080');
  assert.deepEqual([plain.filterChainMatch, plain.transportSocket], [{ destinationPort: { value: 9080 } }, undefined]);

  const calls = inboundCalls(cfg);
  assertIncludes(calls.plaintext, { filterChain: 'inbound_0.0.0.0_9080', terminatesTls: false, cluster: 'inbound|9080||', route: 'default' });
  assertIncludes(calls.mesh, { filterChain: 'inbound_0.0.0.0_9080-mtls', terminatesTls: true, cluster: 'inbound|9080||', route: 'default' });
  assertIncludes(calls.outside, { filterChain: 'inbound_0.0.0.0_9080-tls', terminatesTls: false, cluster: 'inbound|9080||' });
  // Mesh ALPN without TLS cannot happen, and TLS without ALPN is not mesh traffic.
  assertIncludes(simulate(cfg, { inbound: true, port: 9080, protocol: 'tcp', tls: true }), { filterChain: 'inbound_0.0.0.0_9080-tls' });

  // Undeclared ports: the same three ways to the original destination.
  const unknown = { inbound: true, port: 7777, protocol: 'tcp', address: m.ips['reviews-v2'] } as const;
  assertIncludes(simulate(cfg, unknown), { filterChain: 'virtualInbound', cluster: 'InboundPassthroughClusterIpv4', terminatesTls: false });
  assertIncludes(simulate(cfg, { ...unknown, tls: true, alpn: MESH_ALPN }), { filterChain: 'virtualInbound-mtls', cluster: 'InboundPassthroughClusterIpv4', terminatesTls: true });
  assertIncludes(simulate(cfg, { ...unknown, tls: true, alpn: ['h2'] }), { filterChain: 'virtualInbound-tls', cluster: 'InboundPassthroughClusterIpv4', terminatesTls: false });
  const passthrough = chainOf(vi, 'virtualInbound-mtls');
  assert.deepEqual(passthrough.filterChainMatch, {
    prefixRanges: [{ addressPrefix: '0.0.0.0', prefixLen: { value: 0 } }],
    transportProtocol: 'tls',
    applicationProtocols: (match.applicationProtocols as string[]).slice(),
  });
  assert.equal((tlsContextOf(passthrough).commonTlsContext as Msg).alpnProtocols, undefined, 'opaque TCP: no ALPN offered');
  // 15006 itself stays a black hole whatever the client sends.
  assertIncludes(simulate(cfg, { inbound: true, port: 15006, protocol: 'tcp', tls: true, alpn: MESH_ALPN }), { cluster: 'BlackHoleCluster' });
});

test('STRICT: one TLS-only chain per port and for the passthrough; plaintext matches no chain', () => {
  const m = testMesh();
  applyYaml(m.store, pa(NS, 'default', '  mtls: {mode: STRICT}'));
  const cfg = m.config(m.sidecar('reviews-v2'));
  const vi = listener(cfg, 'virtualInbound');
  assert.deepEqual(chainNames(vi), ['virtualInbound-blackhole', 'inbound_0.0.0.0_9080-mtls', 'virtualInbound-mtls']);
  assert.deepEqual(vi.listenerFilters, [ORIGINAL_DST, TLS_INSPECTOR]);
  const mtls = chainOf(vi, 'inbound_0.0.0.0_9080-mtls');
  assert.deepEqual(mtls.filterChainMatch, { destinationPort: { value: 9080 }, transportProtocol: 'tls' });
  assertIncludes(tlsContextOf(mtls), { requireClientCertificate: { value: true } });

  const calls = inboundCalls(cfg);
  assertIncludes(calls.plaintext, { error: 'no filter chain' });
  assertIncludes(calls.mesh, { filterChain: 'inbound_0.0.0.0_9080-mtls', terminatesTls: true, cluster: 'inbound|9080||' });
  // TLS from outside the mesh meets the handshake, which demands a certificate of the mesh root.
  assertIncludes(calls.outside, { filterChain: 'inbound_0.0.0.0_9080-mtls', terminatesTls: true });

  const unknown = { inbound: true, port: 7777, protocol: 'tcp', address: m.ips['reviews-v2'] } as const;
  assertIncludes(simulate(cfg, unknown), { error: 'no filter chain' });
  assertIncludes(simulate(cfg, { ...unknown, tls: true, alpn: MESH_ALPN }), { filterChain: 'virtualInbound-mtls', cluster: 'InboundPassthroughClusterIpv4', terminatesTls: true });
  assert.deepEqual(chainOf(vi, 'virtualInbound-mtls').filterChainMatch, { prefixRanges: [{ addressPrefix: '0.0.0.0', prefixLen: { value: 0 } }], transportProtocol: 'tls' });

  // Another namespace is not affected.
  const other = m.config(proxy('other', { app: 'reviews' }, { ip: m.ips['reviews-v2'], name: 'reviews-other' }));
  assert.ok(chainNames(listener(other, 'virtualInbound')).includes('virtualInbound'));
});

test('DISABLE: the plaintext chains of old, and no TLS inspector', () => {
  const m = testMesh();
  applyYaml(m.store, pa('istio-system', 'default', '  mtls: {mode: DISABLE}'));
  const cfg = m.config(m.sidecar('reviews-v2'));
  const vi = listener(cfg, 'virtualInbound');
  assert.deepEqual(chainNames(vi), ['virtualInbound-blackhole', 'inbound_0.0.0.0_9080', 'virtualInbound']);
  assert.ok(chains(vi).every((c) => c.transportSocket === undefined));
  assert.deepEqual(vi.listenerFilters, [ORIGINAL_DST]);
  assert.deepEqual([vi.listenerFiltersTimeout, vi.continueOnListenerFiltersTimeout], [undefined, undefined]);
  assertIncludes(inboundCalls(cfg).plaintext, { filterChain: 'inbound_0.0.0.0_9080', cluster: 'inbound|9080||' });
});

test('TCP ports terminate mTLS without ALPN and keep tcp_proxy; HTTP ports offer h2 and http/1.1 to the connection manager', () => {
  const m = testMesh();
  addTcpPort(m);
  let vi = listener(m.config(m.sidecar('ratings-v1')), 'virtualInbound');
  assert.deepEqual(chainNames(vi), [
    'virtualInbound-blackhole',
    'inbound_0.0.0.0_9000-mtls',
    'inbound_0.0.0.0_9000-tls',
    'inbound_0.0.0.0_9000',
    'inbound_0.0.0.0_9080-mtls',
    'inbound_0.0.0.0_9080-tls',
    'inbound_0.0.0.0_9080',
    'virtualInbound-mtls',
    'virtualInbound-tls',
    'virtualInbound',
  ]);
  for (const name of ['inbound_0.0.0.0_9000-mtls', 'inbound_0.0.0.0_9000-tls', 'inbound_0.0.0.0_9000']) {
    assert.deepEqual([filterNames(chainOf(vi, name)), tcpCluster(chainOf(vi, name))], [['envoy.filters.network.tcp_proxy'], 'inbound|9000||'], name);
  }
  const tcpCtx = tlsContextOf(chainOf(vi, 'inbound_0.0.0.0_9000-mtls')).commonTlsContext as Msg;
  assert.equal(tcpCtx.alpnProtocols, undefined);
  assert.deepEqual(tcpCtx.tlsCertificateSdsSecretConfigs, [sds('default')]);
  assert.deepEqual((tlsContextOf(chainOf(vi, 'inbound_0.0.0.0_9080-mtls')).commonTlsContext as Msg).alpnProtocols, ['h2', 'http/1.1']);

  applyYaml(m.store, pa(NS, 'default', '  mtls: {mode: STRICT}'));
  const cfg = m.config(m.sidecar('ratings-v1'));
  vi = listener(cfg, 'virtualInbound');
  assert.deepEqual(chainNames(vi), ['virtualInbound-blackhole', 'inbound_0.0.0.0_9000-mtls', 'inbound_0.0.0.0_9080-mtls', 'virtualInbound-mtls']);
  assertIncludes(simulate(cfg, { inbound: true, port: 9000, protocol: 'tcp', tls: true, alpn: MESH_ALPN }), { filterChain: 'inbound_0.0.0.0_9000-mtls', cluster: 'inbound|9000||', terminatesTls: true });
  assertIncludes(simulate(cfg, { inbound: true, port: 9000, protocol: 'tcp' }), { error: 'no filter chain' });
});

test('port-level modes apply to their port only; the passthrough follows the workload-wide mode', () => {
  const m = testMesh();
  addTcpPort(m);
  applyYaml(m.store, pa(NS, 'ratings', '  selector: {matchLabels: {app: ratings}}\n  mtls: {mode: STRICT}\n  portLevelMtls:\n    "9080": {mode: DISABLE}\n    "9000": {mode: PERMISSIVE}'));
  let vi = listener(m.config(m.sidecar('ratings-v1')), 'virtualInbound');
  assert.deepEqual(chainNames(vi), [
    'virtualInbound-blackhole',
    'inbound_0.0.0.0_9000-mtls',
    'inbound_0.0.0.0_9000-tls',
    'inbound_0.0.0.0_9000',
    'inbound_0.0.0.0_9080',
    'virtualInbound-mtls',
  ]);
  // The other workloads of the namespace keep the default.
  assert.ok(chainNames(listener(m.config(m.sidecar('reviews-v2')), 'virtualInbound')).includes('inbound_0.0.0.0_9080-tls'));

  // Workload DISABLE with one STRICT port: plaintext passthrough, yet the inspector is needed for the port.
  m.store.delete({ kind: 'PeerAuthentication', group: 'security.istio.io', namespace: NS, name: 'ratings' });
  applyYaml(m.store, pa(NS, 'ratings', '  selector: {matchLabels: {app: ratings}}\n  mtls: {mode: DISABLE}\n  portLevelMtls:\n    "9080": {mode: STRICT}'));
  const cfg = m.config(m.sidecar('ratings-v1'));
  vi = listener(cfg, 'virtualInbound');
  assert.deepEqual(chainNames(vi), ['virtualInbound-blackhole', 'inbound_0.0.0.0_9000', 'inbound_0.0.0.0_9080-mtls', 'virtualInbound']);
  assert.deepEqual(vi.listenerFilters, [ORIGINAL_DST, TLS_INSPECTOR]);
  assertIncludes(simulate(cfg, { inbound: true, port: 9080, authority: 'ratings', path: '/' }), { error: 'no filter chain' });
  assertIncludes(simulate(cfg, { inbound: true, port: 9000, protocol: 'tcp' }), { filterChain: 'inbound_0.0.0.0_9000', cluster: 'inbound|9000||' });
});

test('trust domain aliases: the client certificate must carry a SPIFFE identity of the trust domain or an alias', () => {
  const m = testMesh();
  const mesh = { trustDomain: 'td.example', trustDomainAliases: ['cluster.local', 'old.example'] };
  const vi = listener(m.config(m.sidecar('reviews-v2'), mesh), 'virtualInbound');
  for (const name of ['inbound_0.0.0.0_9080-mtls', 'virtualInbound-mtls']) {
    const vc = (tlsContextOf(chainOf(vi, name)).commonTlsContext as Msg).combinedValidationContext as Msg;
    assert.deepEqual(vc.defaultValidationContext, {
      matchTypedSubjectAltNames: [
        { sanType: 'URI', matcher: { prefix: 'spiffe://td.example/' } },
        { sanType: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } },
        { sanType: 'URI', matcher: { prefix: 'spiffe://old.example/' } },
      ],
    }, name);
    assert.deepEqual(vc.validationContextSdsSecretConfig, sds('ROOTCA'));
  }
});

test('protocol detection timeout 0: the TLS inspector waits for the client without a limit', () => {
  const m = testMesh();
  const vi = listener(m.config(m.sidecar('reviews-v2'), { protocolDetectionTimeoutMs: 0 }), 'virtualInbound');
  assert.deepEqual(vi.listenerFilters, [ORIGINAL_DST, TLS_INSPECTOR]);
  assert.deepEqual([vi.listenerFiltersTimeout, vi.continueOnListenerFiltersTimeout], [undefined, undefined]);
});

test('a bound Sidecar ingress listener (captureMode NONE) gets the chains of its port\'s mode and its own TLS inspector', () => {
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
  - hosts: ["./*"]
`);
  const p = proxy('ns1', { app: 'productpage' }, { ip: '10.2.0.5', name: 'productpage-ns1' });
  let l = listener(m.config(p), '10.2.0.5_9080');
  assert.deepEqual(chainNames(l), ['10.2.0.5_9080-mtls', '10.2.0.5_9080-tls', '10.2.0.5_9080']);
  const boundMatch = chainOf(l, '10.2.0.5_9080-mtls').filterChainMatch as Msg;
  assert.deepEqual(Object.keys(boundMatch).sort(), ['applicationProtocols', 'transportProtocol'], 'no port or address: the listener has its own');
  assert.equal(boundMatch.transportProtocol, 'tls');
  for (const alpn of MESH_ALPN) assert.ok((boundMatch.applicationProtocols as string[]).includes(alpn));
  assert.deepEqual(chainOf(l, '10.2.0.5_9080').filterChainMatch, undefined);
  assert.deepEqual([l.listenerFilters, l.continueOnListenerFiltersTimeout], [[TLS_INSPECTOR], true]);

  applyYaml(m.store, pa('ns1', 'pp', '  selector: {matchLabels: {app: productpage}}\n  mtls: {mode: STRICT}'));
  l = listener(m.config(p), '10.2.0.5_9080');
  assert.deepEqual(chainNames(l), ['10.2.0.5_9080-mtls']);
  assert.deepEqual(chainOf(l, '10.2.0.5_9080-mtls').filterChainMatch, { transportProtocol: 'tls' });
  assertIncludes(tlsContextOf(chainOf(l, '10.2.0.5_9080-mtls')).commonTlsContext as Msg, { alpnProtocols: ['h2', 'http/1.1'] });

  applyYaml(m.store, pa('ns1', 'default', '  mtls: {mode: DISABLE}'));
  m.store.delete({ kind: 'PeerAuthentication', group: 'security.istio.io', namespace: 'ns1', name: 'pp' });
  l = listener(m.config(p), '10.2.0.5_9080');
  assert.deepEqual([chainNames(l), l.listenerFilters], [['10.2.0.5_9080'], undefined]);
});

test('on the wire: the chains survive Envoy\'s protos, and the proxy picks the same chain as Envoy for each kind of client', () => {
  const m = testMesh();
  addTcpPort(m);
  applyYaml(m.store, pa(NS, 'ratings', '  selector: {matchLabels: {app: ratings}}\n  portLevelMtls:\n    "9000": {mode: STRICT}'));
  const p = m.sidecar('ratings-v1');
  const generated = envoyGenerators[TypeUrl.Listener]!(p, pushOf(m.store)).find((r) => r.name === 'virtualInbound')!;
  const wire = decodeResource(TypeUrl.Listener, encodeResource(generated));
  const fc = (wire.filter_chains as Msg[]).find((c) => c.name === 'inbound_0.0.0.0_9080-mtls')!;
  assert.deepEqual(fc.filter_chain_match, { destination_port: 9080, transport_protocol: 'tls', application_protocols: ['istio-peer-exchange', 'istio', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'] });
  const ctx = (fc.transport_socket as Msg).typed_config as Msg;
  assert.equal(ctx.require_client_certificate, true);
  assert.deepEqual(((ctx.common_tls_context as Msg).tls_certificate_sds_secret_configs as Msg[]).map((s) => s.name), ['default']);
  assert.equal((((ctx.common_tls_context as Msg).combined_validation_context as Msg).validation_context_sds_secret_config as Msg).name, 'ROOTCA');
  assert.equal(wire.continue_on_listener_filters_timeout, true);
  assert.equal(wire.listener_filters_timeout, '0.100s');

  const compiled = compileListener(wire);
  const pick = (port: number, transportProtocol: 'tls' | 'raw_buffer', applicationProtocols: string[] = []) =>
    selectFilterChain(compiled, { destinationIp: m.ips['ratings-v1']!, destinationPort: port, transportProtocol, applicationProtocols })?.name;
  assert.equal(pick(9080, 'raw_buffer'), 'inbound_0.0.0.0_9080');
  assert.equal(pick(9080, 'tls', ['istio-peer-exchange', 'istio']), 'inbound_0.0.0.0_9080-mtls');
  assert.equal(pick(9080, 'tls', ['h2']), 'inbound_0.0.0.0_9080-tls');
  assert.equal(pick(9000, 'raw_buffer'), undefined);
  assert.equal(pick(9000, 'tls', ['istio']), 'inbound_0.0.0.0_9000-mtls');
  assert.equal(pick(4444, 'tls', ['istio']), 'virtualInbound-mtls');
  assert.equal(pick(4444, 'raw_buffer'), 'virtualInbound');
});

test('clients: auto-mTLS stays off toward a namespace (or mesh) whose PeerAuthentication is DISABLE, as Istio infers it', () => {
  const m = testMesh();
  const reviews = `outbound|9080||reviews.${NS}.svc.cluster.local`;
  const autoMtls = () => (m.config(m.sidecar('productpage-v1')).clusters.get(reviews)!.transportSocketMatches as Msg[] | undefined)?.map((t) => t.name);
  assert.deepEqual(autoMtls(), ['tlsMode-istio', 'tlsMode-disabled']);
  applyYaml(m.store, pa('istio-system', 'default', '  mtls: {mode: DISABLE}'));
  assert.equal(autoMtls(), undefined, 'mesh-wide DISABLE');
  applyYaml(m.store, pa(NS, 'default', '  mtls: {mode: PERMISSIVE}'));
  assert.deepEqual(autoMtls(), ['tlsMode-istio', 'tlsMode-disabled'], 'the namespace overrides the mesh');
  m.store.delete({ kind: 'PeerAuthentication', group: 'security.istio.io', namespace: 'istio-system', name: 'default' });
  applyYaml(m.store, pa(NS, 'reviews', '  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: DISABLE}'));
  // Workload-level policies are beyond what a client can infer about a service (Istio 1.6 likewise).
  assert.deepEqual(autoMtls(), ['tlsMode-istio', 'tlsMode-disabled']);
});

test('applying a PeerAuthentication pushes new listeners to the sidecars it governs', { timeout: 30_000 }, async () => {
  const m = testMesh();
  const discovery = new Discovery({ store: m.store, xdsPort: 0, debugPort: 0, debounceAfterMs: 5, debounceMaxMs: 50 });
  await discovery.start();
  const port = Number(discovery.xdsAddress.split(':').pop());
  const c = new AdsTestClient(port, 'sotw', { id: `sidecar~${m.ips['reviews-v2']}~reviews-v2-abc12.${NS}~${NS}.svc.cluster.local` });
  try {
    const names = (r: { resources: { name: string; body: Msg }[] }) =>
      ((r.resources.find((x) => x.name === 'virtualInbound')?.body.filter_chains as Msg[] | undefined) ?? []).map((fc) => fc.name);
    c.request(TypeUrl.Listener);
    const first = await c.next();
    assert.equal(first.typeUrl, TypeUrl.Listener);
    assert.ok(names(first).includes('inbound_0.0.0.0_9080'), 'PERMISSIVE at first: the plaintext chain is there');
    c.ack(first);

    applyYaml(m.store, pa(NS, 'default', '  mtls: {mode: STRICT}'));
    // Only LDS changes for this proxy; bounded by next()'s timeout.
    let pushed = await c.next();
    for (let i = 0; i < 5 && pushed.typeUrl !== TypeUrl.Listener; i++) pushed = await c.next();
    assert.equal(pushed.typeUrl, TypeUrl.Listener);
    assert.deepEqual(names(pushed), ['virtualInbound-blackhole', 'inbound_0.0.0.0_9080-mtls', 'virtualInbound-mtls']);
    c.ack(pushed);
  } finally {
    c.close();
    await discovery.close();
  }
});

test('the mesh TLS parameters (SMCP security.controlPlane.tls) reach both sides of mesh mTLS: inbound chains and ISTIO_MUTUAL clusters', () => {
  const m = testMesh();
  const meshTls = { minProtocolVersion: 'TLSv1_3', cipherSuites: ['ECDHE-ECDSA-AES256-GCM-SHA384'], ecdhCurves: ['P-256'] };
  const cfg = m.config(m.sidecar('reviews-v2'), { meshTls });
  const want = { tlsMinimumProtocolVersion: 'TLSv1_3', cipherSuites: ['ECDHE-ECDSA-AES256-GCM-SHA384'], ecdhCurves: ['P-256'] };
  const common = tlsContextOf(chainOf(listener(cfg, 'virtualInbound'), 'inbound_0.0.0.0_9080-mtls')).commonTlsContext as Msg;
  assert.deepEqual(common.tlsParams, want);
  const cluster = [...cfg.clusters.values()].find((c) => String(c.name).startsWith('outbound|9080||ratings.'));
  assert.ok(cluster, 'the ratings cluster');
  const matches = cluster.transportSocketMatches as Msg[];
  const upstream = ((matches[0]!.transportSocket as Msg).typedConfig as Msg).commonTlsContext as Msg;
  assert.deepEqual(upstream.tlsParams, want);
  // Without settings: TLS 1.2 at least inbound, OpenSSL's defaults on the client side.
  const plain = m.config(m.sidecar('reviews-v2'));
  assert.deepEqual((tlsContextOf(chainOf(listener(plain, 'virtualInbound'), 'inbound_0.0.0.0_9080-mtls')).commonTlsContext as Msg).tlsParams, { tlsMinimumProtocolVersion: 'TLSv1_2' });
});
