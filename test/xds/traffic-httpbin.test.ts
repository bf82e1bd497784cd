// Traffic tables for Istio's mirroring and circuit-breaking tasks: httpbin v1/v2 called from a sleep pod.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { proxy } from '../helpers/bookinfo-mesh.js';
import { clusterOf, simulate } from './simulation.js';
import { FIXTURES, NS, addHttpbin, applyDocs, assertIncludes, host, testMesh } from './mesh.js';

const HTTPBIN = host('httpbin');

function httpbinMesh() {
  const m = testMesh();
  addHttpbin(m);
  return { m, sleep: proxy(NS, { app: 'sleep' }, { ip: '10.1.5.99', name: 'sleep-1' }) };
}

test('mirroring: all httpbin traffic to v1, then a copy of every request to v2, then of half of them', () => {
  const { m, sleep } = httpbinMesh();
  applyDocs(m.store, `${FIXTURES}/mirroring.yaml`, [0, 1]);
  const call = { port: 8000, authority: 'httpbin:8000', path: '/headers' };
  assertIncludes(simulate(m.config(sleep), call), { cluster: `outbound|8000|v1|${HTTPBIN}`, mirrors: undefined });
  applyDocs(m.store, `${FIXTURES}/mirroring.yaml`, [2]);
  assertIncludes(simulate(m.config(sleep), call), { cluster: `outbound|8000|v1|${HTTPBIN}`, clusterFound: true, mirrors: [{ cluster: `outbound|8000|v2|${HTTPBIN}`, percent: 100 }] });
  applyDocs(m.store, `${FIXTURES}/mirroring.yaml`, [3]);
  const cfg = m.config(sleep);
  assertIncludes(simulate(cfg, call), { mirrors: [{ cluster: `outbound|8000|v2|${HTTPBIN}`, percent: 50 }] });
  assert.ok(cfg.clusters.has(`outbound|8000|v2|${HTTPBIN}`), 'the mirror target exists');
});

test('circuit breaking: one connection, one pending request, one request per connection, ejection after one gateway error', () => {
  const { m, sleep } = httpbinMesh();
  applyDocs(m.store, `${FIXTURES}/circuit-breaking.yaml`, [0]);
  const cfg = m.config(sleep);
  assertIncludes(simulate(cfg, { port: 8000, authority: 'httpbin:8000', path: '/get' }), { cluster: `outbound|8000||${HTTPBIN}`, clusterFound: true });
  const c = clusterOf(cfg, `outbound|8000||${HTTPBIN}`);
  assert.deepEqual(c.circuitBreakers, {
    thresholds: [{ maxConnections: { value: 1 }, maxPendingRequests: { value: 1 }, maxRequests: { value: 4294967295 }, maxRetries: { value: 4294967295 } }],
  });
  const hpo = (c.typedExtensionProtocolOptions as Record<string, { commonHttpProtocolOptions: Record<string, unknown> }>)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']!;
  assert.deepEqual(hpo.commonHttpProtocolOptions.maxRequestsPerConnection, { value: 1 });
  // consecutiveErrors (deprecated) counts gateway errors only, as Istio 1.6 maps it.
  assert.deepEqual(c.outlierDetection, {
    enforcingSuccessRate: { value: 0 },
    baseEjectionTime: { seconds: 180, nanos: 0 },
    enforcingConsecutiveGatewayFailure: { value: 100 },
    enforcingConsecutive_5xx: { value: 0 },
    consecutiveGatewayFailure: { value: 1 },
    interval: { seconds: 1, nanos: 0 },
    maxEjectionPercent: { value: 100 },
  });
  assert.deepEqual(c.commonLbConfig, { healthyPanicThreshold: { value: 0 } });
});

test('circuit breaking (v1beta1): consecutive5xxErrors, connect timeout and TCP keepalive reach the cluster', () => {
  const { m, sleep } = httpbinMesh();
  applyDocs(m.store, `${FIXTURES}/circuit-breaking.yaml`, [1]);
  const c = clusterOf(m.config(sleep), `outbound|8000||${HTTPBIN}`);
  assert.deepEqual(c.connectTimeout, { seconds: 0, nanos: 30_000_000 });
  assert.deepEqual(c.upstreamConnectionOptions, { tcpKeepalive: { keepaliveTime: { value: 7200 }, keepaliveInterval: { value: 75 } } });
  const od = c.outlierDetection as Record<string, unknown>;
  assert.deepEqual([od.consecutive_5xx, od.enforcingConsecutive_5xx, od.consecutiveGatewayFailure], [{ value: 1 }, { value: 100 }, undefined]);
});

test('a service without a DestinationRule keeps Envoy limits off and the mesh connect timeout', () => {
  const { m, sleep } = httpbinMesh();
  const c = clusterOf(m.config(sleep, { connectTimeoutMs: 2500 }), `outbound|8000||${HTTPBIN}`);
  assert.deepEqual(c.connectTimeout, { seconds: 2, nanos: 500_000_000 });
  assert.equal(c.lbPolicy, 'ROUND_ROBIN');
  assert.equal(c.outlierDetection, undefined);
  const t = (c.circuitBreakers as { thresholds: Array<Record<string, { value: number }>> }).thresholds[0]!;
  for (const k of ['maxConnections', 'maxPendingRequests', 'maxRequests', 'maxRetries']) assert.equal(t[k]!.value, 4294967295, k);
});
