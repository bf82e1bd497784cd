// Traffic tables for the ingress gateway: Bookinfo's gateway, secure gateways (SIMPLE/MUTUAL, SDS and files), httpsRedirect, SNI passthrough, TCP shifting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyYaml } from '../helpers/bookinfo-mesh.js';
import { simulate, type Call, type Result } from './simulation.js';
import { FIXTURES, NS, addHttpbin, applyDocs, assertIncludes, host, testMesh } from './mesh.js';

/** The workload's certificate and trust bundle come from the pod's own SDS server, the gateway's credentials over ADS. */
const AGENT_SDS = {
  apiConfigSource: { apiType: 'GRPC', transportApiVersion: 'V3', setNodeOnFirstMessageOnly: true, grpcServices: [{ envoyGrpc: { clusterName: 'sds-grpc' } }] },
  initialFetchTimeout: { seconds: 0, nanos: 0 },
  resourceApiVersion: 'V3',
};

type Msg = Record<string, unknown>;
const PRODUCTPAGE = host('productpage');
const HTTPBIN = host('httpbin');

function listener(cfg: { listeners: Msg[] }, name: string): Msg {
  const l = cfg.listeners.find((x) => x.name === name);
  assert.ok(l, `listener ${name} among ${cfg.listeners.map((x) => x.name).join(', ')}`);
  return l;
}

/** The DownstreamTlsContext of the chain serving `sni` on a listener. */
function tlsContextFor(l: Msg, sni: string): Msg {
  const chain = (l.filterChains as Msg[]).find((c) => ((c.filterChainMatch as Msg | undefined)?.serverNames as string[] | undefined)?.includes(sni));
  assert.ok(chain, `a chain for ${sni}`);
  return (chain.transportSocket as { typedConfig: Msg }).typedConfig;
}

test('ingress: bookinfo-gateway exposes /productpage, /static, /login, /logout and /api/v1/products on port 80 (listening on 8080)', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/bookinfo-gateway.yaml`, [0, 1]);
  const cfg = m.config(m.gateway());
  assert.deepEqual(cfg.listeners.map((l) => l.name), ['0.0.0.0_8080']);
  const rows: Array<[Call, Partial<Result>]> = [
    [{ port: 8080, authority: '192.168.1.10', path: '/productpage' }, { routeConfig: 'http.80', virtualHost: '*:80', cluster: `outbound|9080||${PRODUCTPAGE}`, clusterFound: true, routeIndex: 0 }],
    [{ port: 8080, authority: 'bookinfo.example.com:31380', path: '/static/css/style.css' }, { cluster: `outbound|9080||${PRODUCTPAGE}`, routeIndex: 1 }],
    [{ port: 8080, authority: 'x', path: '/login', method: 'POST' }, { cluster: `outbound|9080||${PRODUCTPAGE}`, routeIndex: 2 }],
    [{ port: 8080, authority: 'x', path: '/api/v1/products/0/reviews' }, { cluster: `outbound|9080||${PRODUCTPAGE}`, routeIndex: 4 }],
    [{ port: 8080, authority: 'x', path: '/productpage/extra' }, { error: 'no route' }],
    [{ port: 8080, authority: 'x', path: '/reviews/0' }, { error: 'no route' }],
    [{ port: 80, authority: 'x', path: '/productpage' }, { error: 'no listener' }],
  ];
  for (const [call, want] of rows) assertIncludes(simulate(cfg, call), want, `${call.port} ${call.path}`);
  // Gateways retry like sidecars and have no timeout by default.
  assertIncludes(simulate(cfg, rows[0]![0]), { timeoutMs: 0 });
  assert.ok(cfg.clusters.has('BlackHoleCluster') && !cfg.clusters.has('PassthroughCluster'));
});

test('ingress: a gateway server no VirtualService binds answers 404 on every host', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/bookinfo-gateway.yaml`, [0]);
  const r = simulate(m.config(m.gateway()), { port: 8080, authority: 'anything', path: '/productpage' });
  assertIncludes(r, { virtualHost: 'blackhole:80', directResponse: 404 });
});

test('secure gateway (SIMPLE, credentialName): httpbin.example.com is terminated with the SDS secret and routed to httpbin:8000', () => {
  const m = testMesh();
  addHttpbin(m);
  applyDocs(m.store, `${FIXTURES}/secure-gateways.yaml`, [0, 1]);
  const cfg = m.config(m.gateway());
  const ok = simulate(cfg, { port: 8443, sni: 'httpbin.example.com', authority: 'httpbin.example.com', path: '/status/418', scheme: 'https' });
  assertIncludes(ok, { listener: '0.0.0.0_8443', routeConfig: 'https.443.https.mygateway.bookinfo', virtualHost: 'httpbin.example.com:443', cluster: `outbound|8000||${HTTPBIN}`, clusterFound: true });
  assertIncludes(simulate(cfg, { port: 8443, sni: 'httpbin.example.com', authority: 'httpbin.example.com', path: '/headers' }), { error: 'no route' });
  assertIncludes(simulate(cfg, { port: 8443, sni: 'other.example.com', authority: 'other.example.com', path: '/status/200' }), { error: 'no filter chain' });
  const tls = tlsContextFor(listener(cfg, '0.0.0.0_8443'), 'httpbin.example.com');
  assert.deepEqual(tls, {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    commonTlsContext: {
      alpnProtocols: ['h2', 'http/1.1'],
      tlsCertificateSdsSecretConfigs: [{ name: 'kubernetes://httpbin-credential', sdsConfig: { ads: {}, resourceApiVersion: 'V3' } }],
    },
    requireClientCertificate: { value: false },
  });
});

test('secure gateway with two hosts: each SNI gets its own certificate and route configuration', () => {
  const m = testMesh();
  addHttpbin(m);
  applyDocs(m.store, `${FIXTURES}/secure-gateways.yaml`, [2, 1, 3]);
  const cfg = m.config(m.gateway());
  assertIncludes(simulate(cfg, { port: 8443, sni: 'httpbin.example.com', authority: 'httpbin.example.com', path: '/status/200' }), {
    routeConfig: 'https.443.https-httpbin.mygateway.bookinfo',
    cluster: `outbound|8000||${HTTPBIN}`,
  });
  assertIncludes(simulate(cfg, { port: 8443, sni: 'helloworld-v1.example.com', authority: 'helloworld-v1.example.com', path: '/hello' }), {
    routeConfig: 'https.443.https-helloworld.mygateway.bookinfo',
    cluster: `outbound|5000||${host('helloworld-v1')}`,
    clusterFound: false,
  });
  const l = listener(cfg, '0.0.0.0_8443');
  assert.equal((tlsContextFor(l, 'helloworld-v1.example.com').commonTlsContext as Msg).tlsCertificateSdsSecretConfigs instanceof Array, true);
  assert.deepEqual(((tlsContextFor(l, 'helloworld-v1.example.com').commonTlsContext as Msg).tlsCertificateSdsSecretConfigs as Msg[])[0]!.name, 'kubernetes://helloworld-credential');
  assert.deepEqual(l.listenerFilters, [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } }]);
});

test('secure gateway (MUTUAL, credentialName): the client certificate is required and verified against NAME-cacert', () => {
  const m = testMesh();
  addHttpbin(m);
  applyDocs(m.store, `${FIXTURES}/secure-gateways.yaml`, [4, 1]);
  const tls = tlsContextFor(listener(m.config(m.gateway()), '0.0.0.0_8443'), 'httpbin.example.com');
  assert.deepEqual(tls.requireClientCertificate, { value: true });
  assert.deepEqual((tls.commonTlsContext as Msg).combinedValidationContext, {
    defaultValidationContext: {},
    validationContextSdsSecretConfig: { name: 'kubernetes://httpbin-credential-cacert', sdsConfig: { ads: {}, resourceApiVersion: 'V3' } },
  });
});

test('secure gateway with mounted files: SIMPLE reads the certificate files, MUTUAL also the CA bundle', () => {
  const m = testMesh();
  addHttpbin(m);
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: httpbin, namespace: ${NS}}
spec:
  hosts: [httpbin.example.com]
  gateways: [httpbin-gateway]
  http:
  - route: [{destination: {host: httpbin, port: {number: 8000}}}]
`);
  applyDocs(m.store, `${FIXTURES}/secure-gateways.yaml`, [5]);
  let ctx = tlsContextFor(listener(m.config(m.gateway()), '0.0.0.0_8443'), 'httpbin.example.com').commonTlsContext as Msg;
  assert.deepEqual(ctx.tlsCertificates, [{ certificateChain: { filename: '/etc/istio/ingressgateway-certs/tls.crt' }, privateKey: { filename: '/etc/istio/ingressgateway-certs/tls.key' } }]);
  assert.equal(ctx.validationContext, undefined);
  applyDocs(m.store, `${FIXTURES}/secure-gateways.yaml`, [6]);
  const tls = tlsContextFor(listener(m.config(m.gateway()), '0.0.0.0_8443'), 'httpbin.example.com');
  ctx = tls.commonTlsContext as Msg;
  assert.deepEqual(ctx.validationContext, { trustedCa: { filename: '/etc/istio/ingressgateway-ca-certs/example.com.crt' } });
  assert.deepEqual(tls.requireClientCertificate, { value: true });
});

test('httpsRedirect: plaintext requests for bookinfo.example.com are redirected, HTTPS ones (TLS 1.2+) reach productpage', () => {
  const m = testMesh();
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: bookinfo, namespace: ${NS}}
spec:
  hosts: [bookinfo.example.com]
  gateways: [bookinfo-gateway]
  http:
  - match: [{uri: {exact: /productpage}}]
    route: [{destination: {host: productpage, port: {number: 9080}}}]
`);
  applyDocs(m.store, `${FIXTURES}/secure-gateways.yaml`, [7]);
  const cfg = m.config(m.gateway());
  assertIncludes(simulate(cfg, { port: 8080, authority: 'bookinfo.example.com', path: '/productpage' }), { routeConfig: 'http.80', virtualHost: 'bookinfo.example.com:80', httpsRedirect: true, cluster: undefined });
  assertIncludes(simulate(cfg, { port: 8443, sni: 'bookinfo.example.com', authority: 'bookinfo.example.com', path: '/productpage', scheme: 'https' }), {
    routeConfig: 'https.443.https.bookinfo-gateway.bookinfo',
    cluster: `outbound|9080||${PRODUCTPAGE}`,
  });
  const ctx = tlsContextFor(listener(cfg, '0.0.0.0_8443'), 'bookinfo.example.com').commonTlsContext as Msg;
  assert.deepEqual(ctx.tlsParams, { tlsMinimumProtocolVersion: 'TLSv1_2' });
});

test('ingress without TLS termination: nginx.example.com is passed through by SNI to my-nginx:443', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/ingress-sni-passthrough.yaml`, [0, 1]);
  const cfg = m.config(m.gateway());
  assertIncludes(simulate(cfg, { port: 8443, sni: 'nginx.example.com', protocol: 'tcp' }), { listener: '0.0.0.0_8443', cluster: `outbound|443||${host('my-nginx')}` });
  assertIncludes(simulate(cfg, { port: 8443, sni: 'other.example.com', protocol: 'tcp' }), { error: 'no filter chain' });
  assert.equal(cfg.routes.size, 0, 'no HTTP routing on a passthrough port');
});

const TCP_ECHO = `
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: ${NS}}
spec:
  selector: {app: tcp-echo}
  ports: [{name: tcp, port: 9000}]
`;

test('TCP traffic shifting through the gateway: port 31400 to tcp-echo v1, then 80/20 between v1 and v2', () => {
  const m = testMesh();
  applyYaml(m.store, TCP_ECHO);
  applyDocs(m.store, `${FIXTURES}/tcp-traffic-shifting.yaml`, [0, 1, 2]);
  let cfg = m.config(m.gateway());
  const TCP = host('tcp-echo');
  assertIncludes(simulate(cfg, { port: 31400, protocol: 'tcp' }), { listener: '0.0.0.0_31400', cluster: `outbound|9000|v1|${TCP}`, clusterFound: true });
  applyDocs(m.store, `${FIXTURES}/tcp-traffic-shifting.yaml`, [3]);
  cfg = m.config(m.gateway());
  assertIncludes(simulate(cfg, { port: 31400, protocol: 'tcp' }), {
    weightedClusters: [
      { name: `outbound|9000|v1|${TCP}`, weight: 80 },
      { name: `outbound|9000|v2|${TCP}`, weight: 20 },
    ],
  });
});

test('two VirtualServices on one gateway host: routes are concatenated oldest first, with catch-alls moved last', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/bookinfo-gateway.yaml`, [0]);
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: a-catch-all, namespace: ${NS}}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - route: [{destination: {host: details, port: {number: 9080}}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: b-products, namespace: ${NS}}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match: [{uri: {prefix: /productpage}}]
    route: [{destination: {host: productpage, port: {number: 9080}}}]
`);
  const cfg = m.config(m.gateway());
  assertIncludes(simulate(cfg, { port: 8080, authority: 'x', path: '/productpage' }), { cluster: `outbound|9080||${PRODUCTPAGE}`, routeIndex: 0 });
  assertIncludes(simulate(cfg, { port: 8080, authority: 'x', path: '/details/0' }), { cluster: `outbound|9080||${host('details')}`, routeIndex: 1 });
});

test('an ISTIO_MUTUAL server terminates mesh mTLS with the workload certificate and requires the peer certificate', () => {
  const m = testMesh();
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: mesh-in, namespace: ${NS}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-mesh, protocol: HTTPS}
    hosts: [reviews.bookinfo.svc.cluster.local]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews-in, namespace: ${NS}}
spec:
  hosts: [reviews.bookinfo.svc.cluster.local]
  gateways: [mesh-in]
  http:
  - route: [{destination: {host: reviews}}]
`);
  const cfg = m.config(m.gateway());
  const tls = tlsContextFor(listener(cfg, '0.0.0.0_8443'), host('reviews'));
  assert.deepEqual(tls.commonTlsContext, {
    alpnProtocols: ['h2', 'http/1.1'],
    tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: AGENT_SDS }],
    combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: AGENT_SDS } },
  });
  assert.deepEqual(tls.requireClientCertificate, { value: true });
  assertIncludes(simulate(cfg, { port: 8443, sni: host('reviews'), authority: `${host('reviews')}`, path: '/reviews/1', scheme: 'https' }), { cluster: `outbound|9080||${host('reviews')}` });
});

test('an unprivileged gateway skips server ports below 1024 that its Service does not map to a higher target port', () => {
  const m = testMesh();
  applyDocs(m.store, `${FIXTURES}/bookinfo-gateway.yaml`, [0, 1]);
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: low-port, namespace: ${NS}}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 81, name: http-low, protocol: HTTP}, hosts: ["*"]}]
`);
  const gw = m.gateway();
  assert.deepEqual(m.config(gw).listeners.map((l) => l.name), ['0.0.0.0_8080', '0.0.0.0_81']);
  const unprivileged = { ...gw, metadata: { ...gw.metadata, UNPRIVILEGED_POD: 'true' } };
  assert.deepEqual(m.config(unprivileged).listeners.map((l) => l.name), ['0.0.0.0_8080']);
});
