// CDS: how DestinationRules, service resolution, protocols and auto-mTLS shape the generated clusters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyYaml } from '../helpers/bookinfo-mesh.js';
import { clusterOf, simulate } from './simulation.js';
import { NS, addHttpbin, host, testMesh } from './mesh.js';

type Msg = Record<string, unknown>;
const REVIEWS = host('reviews');
const HTTPBIN = host('httpbin');
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
/** Workload certificates come from the pod's own SDS server (`sds-grpc`), never from the control plane. */
const AGENT_SDS = {
  apiConfigSource: { apiType: 'GRPC', transportApiVersion: 'V3', setNodeOnFirstMessageOnly: true, grpcServices: [{ envoyGrpc: { clusterName: 'sds-grpc' } }] },
  initialFetchTimeout: { seconds: 0, nanos: 0 },
  resourceApiVersion: 'V3',
};

const tlsOf = (c: Msg) => (c.transportSocket as { typedConfig: Msg } | undefined)?.typedConfig;
const thresholds = (c: Msg) => (c.circuitBreakers as { thresholds: Array<Record<string, { value: number }>> }).thresholds[0]!;

test('auto-mTLS: clusters of mesh services carry an ISTIO_MUTUAL socket for tlsMode=istio endpoints and plaintext for the rest', () => {
  const m = testMesh();
  const cfg = m.config(m.sidecar('productpage-v1'));
  const c = clusterOf(cfg, `outbound|9080||${REVIEWS}`);
  assert.equal(c.transportSocket, undefined);
  const [istio, plain] = c.transportSocketMatches as Msg[];
  assert.deepEqual(istio!.match, { fields: { tlsMode: { stringValue: 'istio' } } });
  assert.deepEqual((istio!.transportSocket as Msg).typedConfig, {
    '@type': UPSTREAM_TLS,
    commonTlsContext: {
      tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: AGENT_SDS }],
      combinedValidationContext: {
        defaultValidationContext: { matchTypedSubjectAltNames: [{ sanType: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews' } }] },
        validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: AGENT_SDS },
      },
      alpnProtocols: ['istio-peer-exchange', 'istio'],
    },
    sni: `outbound_.9080_._.${REVIEWS}`,
  });
  assert.deepEqual(plain, { name: 'tlsMode-disabled', match: { fields: {} }, transportSocket: { name: 'envoy.transport_sockets.raw_buffer', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } } });
  // Endpoints of injected pods carry the label the match looks for.
  const cla = cfg.endpoints.get(`outbound|9080||${REVIEWS}`)!;
  const eps = (cla.endpoints as Msg[]).flatMap((l) => l.lbEndpoints as Msg[]);
  assert.equal(eps.length, 3);
  for (const ep of eps) assert.deepEqual(ep.metadata, { filterMetadata: { 'envoy.transport_socket_match': { fields: { tlsMode: { stringValue: 'istio' } } } } });
  // With auto-mTLS off, nothing is encrypted unless a DestinationRule asks.
  const off = clusterOf(m.config(m.sidecar('productpage-v1'), { enableAutoMtls: false }), `outbound|9080||${REVIEWS}`);
  assert.deepEqual([off.transportSocket, off.transportSocketMatches], [undefined, undefined]);
});

test('subsets: each subset cluster inherits the rule-level components it does not set and replaces those it does', () => {
  const m = testMesh();
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: LEAST_CONN}
    connectionPool: {tcp: {maxConnections: 100}}
    outlierDetection: {consecutive5xxErrors: 7}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {simple: RANDOM}
      connectionPool: {http: {http2MaxRequests: 10}}
  - name: v3
    labels: {version: v3}
    trafficPolicy:
      tls: {mode: ISTIO_MUTUAL, sni: reviews-v3.example}
`);
  const cfg = m.config(m.sidecar('productpage-v1'));
  const def = clusterOf(cfg, `outbound|9080||${REVIEWS}`);
  const v1 = clusterOf(cfg, `outbound|9080|v1|${REVIEWS}`);
  const v2 = clusterOf(cfg, `outbound|9080|v2|${REVIEWS}`);
  const v3 = clusterOf(cfg, `outbound|9080|v3|${REVIEWS}`);
  assert.deepEqual([def.lbPolicy, v1.lbPolicy, v2.lbPolicy, v3.lbPolicy], ['LEAST_REQUEST', 'LEAST_REQUEST', 'RANDOM', 'LEAST_REQUEST']);
  assert.deepEqual([thresholds(def).maxConnections, thresholds(v1).maxConnections], [{ value: 100 }, { value: 100 }]);
  // v2's connection pool replaces the rule's entirely: maxConnections back to unlimited.
  assert.deepEqual([thresholds(v2).maxConnections, thresholds(v2).maxRequests], [{ value: 4294967295 }, { value: 10 }]);
  for (const c of [def, v1, v2, v3]) assert.deepEqual((c.outlierDetection as Msg).consecutive_5xx, { value: 7 });
  assert.equal(tlsOf(v3)!.sni, 'reviews-v3.example');
  assert.equal(v3.transportSocketMatches, undefined, 'an explicit tls setting is not auto-mTLS');
  assert.equal(((v2.transportSocketMatches as Msg[])[0]!.transportSocket as { typedConfig: Msg }).typedConfig.sni, `outbound_.9080_.v2_.${REVIEWS}`);
  assert.deepEqual(v1.metadata, { filterMetadata: { istio: { fields: { config: { stringValue: '/apis/networking.istio.io/v1alpha3/namespaces/bookinfo/destination-rule/reviews' }, subset: { stringValue: 'v1' } } } } });
  // Subset endpoints are the pods with the subset's labels.
  const v2eps = (cfg.endpoints.get(`outbound|9080|v2|${REVIEWS}`)!.endpoints as Msg[]).flatMap((l) => l.lbEndpoints as Msg[]);
  assert.deepEqual(v2eps.map((e) => ((e.endpoint as Msg).address as { socketAddress: Msg }).socketAddress.address), [m.ips['reviews-v2']]);
});

test('port-level settings replace all four components for their port, leaving the others at their defaults', () => {
  const m = testMesh();
  addHttpbin(m);
  applyYaml(m.store, `apiVersion: v1
kind: Service
metadata: {name: multi, namespace: ${NS}}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 80}, {name: grpc-api, port: 9000, targetPort: 90}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: multi, namespace: ${NS}}
spec:
  host: multi
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    connectionPool: {tcp: {maxConnections: 5}}
    portLevelSettings:
    - port: {number: 9000}
      outlierDetection: {consecutiveGatewayErrors: 3, interval: 5s}
`);
  const cfg = m.config(m.sidecar('productpage-v1'));
  const p8000 = clusterOf(cfg, `outbound|8000||${host('multi')}`);
  const p9000 = clusterOf(cfg, `outbound|9000||${host('multi')}`);
  assert.deepEqual([p8000.lbPolicy, thresholds(p8000).maxConnections, p8000.outlierDetection], ['RANDOM', { value: 5 }, undefined]);
  assert.deepEqual([p9000.lbPolicy, thresholds(p9000).maxConnections], ['ROUND_ROBIN', { value: 4294967295 }]);
  assert.deepEqual(p9000.outlierDetection, {
    enforcingSuccessRate: { value: 0 },
    consecutiveGatewayFailure: { value: 3 },
    enforcingConsecutiveGatewayFailure: { value: 100 },
    interval: { seconds: 5, nanos: 0 },
  });
  // gRPC ports speak HTTP/2 upstream, HTTP ports HTTP/1.1.
  const opts = (c: Msg) => ((c.typedExtensionProtocolOptions as Record<string, Msg>)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']!.explicitHttpConfig as Msg);
  assert.deepEqual(opts(p9000), { http2ProtocolOptions: { maxConcurrentStreams: { value: 1073741824 } } });
  assert.deepEqual(opts(p8000), { httpProtocolOptions: {} });
  assert.deepEqual((tlsOf({ transportSocket: ((p9000.transportSocketMatches as Msg[])[0]!.transportSocket) })!.commonTlsContext as Msg).alpnProtocols, ['istio-peer-exchange', 'istio', 'h2']);
});

test('load balancing: consistent hash makes a ring-hash cluster and a hash policy on the route; PASSTHROUGH forwards to the original destination', () => {
  const m = testMesh();
  addHttpbin(m);
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: httpbin, namespace: ${NS}}
spec:
  host: httpbin
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpCookie: {name: user, ttl: 0s}}
  subsets:
  - name: direct
    labels: {app: httpbin}
    trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}
  - name: by-header
    labels: {app: httpbin}
    trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, minimumRingSize: 64}}}
`);
  const sleep = m.sidecar('productpage-v1');
  const cfg = m.config(sleep);
  const def = clusterOf(cfg, `outbound|8000||${HTTPBIN}`);
  assert.deepEqual([def.lbPolicy, def.ringHashLbConfig], ['RING_HASH', { minimumRingSize: { value: 1024 } }]);
  assert.deepEqual(simulate(cfg, { port: 8000, authority: 'httpbin:8000', path: '/' }).hashPolicy, [{ cookie: { name: 'user', ttl: { seconds: 0, nanos: 0 } } }]);
  const direct = clusterOf(cfg, `outbound|8000|direct|${HTTPBIN}`);
  assert.deepEqual([direct.type, direct.lbPolicy, direct.edsClusterConfig, direct.transportSocketMatches], ['ORIGINAL_DST', 'CLUSTER_PROVIDED', undefined, undefined]);
  assert.deepEqual(clusterOf(cfg, `outbound|8000|by-header|${HTTPBIN}`).ringHashLbConfig, { minimumRingSize: { value: 64 } });
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: httpbin, namespace: ${NS}}
spec:
  hosts: [httpbin]
  http:
  - route: [{destination: {host: httpbin, subset: by-header}}]
`);
  assert.deepEqual(simulate(m.config(sleep), { port: 8000, authority: 'httpbin:8000', path: '/' }).hashPolicy, [{ header: { headerName: 'x-user' } }]);
});

test('client TLS from a DestinationRule: SIMPLE verifies with the CA and SANs given, MUTUAL presents the client certificate files', () => {
  const m = testMesh();
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: api, namespace: ${NS}}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}, {number: 8443, name: tls-mutual, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: api, namespace: ${NS}}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: /etc/certs/ca.pem, subjectAltNames: [api.example.com]}
    portLevelSettings:
    - port: {number: 8443}
      tls: {mode: MUTUAL, clientCertificate: /etc/certs/cert.pem, privateKey: /etc/certs/key.pem, sni: mutual.example.com}
`);
  const cfg = m.config(m.sidecar('productpage-v1'));
  assert.deepEqual(tlsOf(clusterOf(cfg, 'outbound|443||api.example.com')), {
    '@type': UPSTREAM_TLS,
    commonTlsContext: { validationContext: { trustedCa: { filename: '/etc/certs/ca.pem' }, matchTypedSubjectAltNames: [{ sanType: 'DNS', matcher: { exact: 'api.example.com' } }] } },
    sni: 'api.example.com',
  });
  assert.deepEqual(tlsOf(clusterOf(cfg, 'outbound|8443||api.example.com')), {
    '@type': UPSTREAM_TLS,
    commonTlsContext: { tlsCertificates: [{ certificateChain: { filename: '/etc/certs/cert.pem' }, privateKey: { filename: '/etc/certs/key.pem' } }] },
    sni: 'mutual.example.com',
  });
});

test('h2UpgradePolicy UPGRADE switches an HTTP cluster to HTTP/2, and idleTimeout replaces the mesh default', () => {
  const m = testMesh();
  addHttpbin(m);
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: httpbin, namespace: ${NS}}
spec:
  host: httpbin
  trafficPolicy:
    connectionPool: {http: {h2UpgradePolicy: UPGRADE, idleTimeout: 90s, maxRetries: 4}}
`);
  const c = clusterOf(m.config(m.sidecar('productpage-v1')), `outbound|8000||${HTTPBIN}`);
  const hpo = (c.typedExtensionProtocolOptions as Record<string, Msg>)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']!;
  assert.deepEqual(hpo.commonHttpProtocolOptions, { idleTimeout: { seconds: 90, nanos: 0 } });
  assert.ok((hpo.explicitHttpConfig as Msg).http2ProtocolOptions);
  assert.deepEqual(thresholds(c).maxRetries, { value: 4 });
  const plain = clusterOf(m.config(m.sidecar('productpage-v1')), `outbound|9080||${REVIEWS}`);
  assert.deepEqual(((plain.typedExtensionProtocolOptions as Record<string, Msg>)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']!.commonHttpProtocolOptions as Msg).idleTimeout, { seconds: 3600, nanos: 0 });
});

test('inbound clusters forward to the application on 127.0.0.1 at the port it listens on, one per port', () => {
  const m = testMesh();
  const cfg = m.config(m.sidecar('reviews-v1'));
  const c = clusterOf(cfg, 'inbound|9080||');
  assert.deepEqual([c.type, c.loadAssignment], ['STATIC', { clusterName: 'inbound|9080||', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 9080 } } } }] }] }]);
  assert.deepEqual([...cfg.clusters.keys()].filter((n) => n.startsWith('inbound')), ['inbound|9080||']);
  const ipt = clusterOf(cfg, 'InboundPassthroughClusterIpv4');
  assert.deepEqual([ipt.type, ipt.lbPolicy, ipt.upstreamBindConfig], ['ORIGINAL_DST', 'CLUSTER_PROVIDED', { sourceAddress: { address: '127.0.0.6', portValue: 0 } }]);
  const pt = clusterOf(cfg, 'PassthroughCluster');
  assert.deepEqual([pt.type, pt.lbPolicy], ['ORIGINAL_DST', 'CLUSTER_PROVIDED']);
});
