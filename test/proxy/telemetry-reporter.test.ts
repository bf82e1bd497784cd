// The reporter turns data-path records into Istio metrics and access log lines.
import { test } from 'node:test';
import { PLAINTEXT } from '../../src/proxy/security/tls-transport.js';
import assert from 'node:assert/strict';
import { xdsNode } from '../../src/proxy/bootstrap.js';
import { compileListener } from '../../src/proxy/config/listeners.js';
import { HeaderList, RequestHeadParser } from '../../src/proxy/http1/index.js';
import { TelemetryReporter } from '../../src/proxy/telemetry/reporter.js';
import { localPeerMetadata } from '../../src/proxy/telemetry/peer-metadata.js';

test('an outbound exchange becomes a source-reported request and an Istio text access log line', () => {
  const node = xdsNode({ type: 'sidecar', ips: ['10.1.0.7'], podName: 'productpage-v1-abc', namespace: 'bookinfo', labels: { app: 'productpage', version: 'v1' } });
  const lines: string[] = [];
  const r = new TelemetryReporter({ local: localPeerMetadata(node), proxyType: 'sidecar', accessLog: { encoding: 'text', write: (l) => lines.push(l) } });
  const parser = new RequestHeadParser();
  const raw = Buffer.from('GET /reviews/0 HTTP/1.1\r\nhost: reviews:9080\r\nx-request-id: rid-1\r\nuser-agent: test\r\n\r\n');
  assert.ok(parser.execute(raw) > 0);
  const listener = compileListener({
    name: '0.0.0.0_9080',
    address: { socket_address: { address: '0.0.0.0', port_value: 9080 } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'x', cluster: 'c' } }] }],
  });
  const responseHeaders = new HeaderList();
  responseHeaders.add('x-envoy-upstream-service-time', '3');
  r.http(
    { request: parser.head!, protocol: 'http1', startMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6), durationMs: 4.2, responseCode: 503, responseFlags: ['URX'], responseHeaders, upstreamHost: '10.1.0.9:9080', upstreamCluster: 'outbound|9080|v2|reviews.bookinfo.svc.cluster.local', routeName: 'default', bytesReceived: 0, bytesSent: 95, attempts: 3, security: PLAINTEXT },
    { listener, chain: listener.filterChains[0]!, port: 9080, destination: { address: '10.96.0.10', port: 9080 }, captured: true, serverName: 'reviews.bookinfo.svc.cluster.local' },
  );
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, / reviews\.bookinfo\.svc\.cluster\.local default\n$/, 'the SNI the TLS inspector read is %REQUESTED_SERVER_NAME%');
  assert.match(lines[0]!, /^\[2026-01-02T03:04:05\.006Z\] "GET \/reviews\/0 HTTP\/1\.1" 503 URX .* "rid-1" "reviews:9080" "10\.1\.0\.9:9080" outbound\|9080\|v2\|reviews\.bookinfo\.svc\.cluster\.local .* default\n$/);
  const prom = r.metrics.prometheus();
  const line = prom.split('\n').find((l) => l.startsWith('istio_requests_total{'))!;
  assert.match(line, /reporter="source",source_workload="productpage-v1-abc",source_workload_namespace="bookinfo"/);
  assert.match(line, /destination_service="reviews\.bookinfo\.svc\.cluster\.local",destination_service_name="reviews",destination_service_namespace="bookinfo"/);
  assert.match(line, /response_code="503"/);
  assert.match(line, /response_flags="URX"/);
});

test('a TCP connection is counted in the istio_tcp_* metrics and logged as one access log line with "- - -" for the HTTP fields', () => {
  const node = xdsNode({ type: 'sidecar', ips: ['10.1.0.7'], podName: 'productpage-v1-abc', namespace: 'bookinfo', labels: { app: 'productpage', version: 'v1' } });
  const lines: string[] = [];
  const r = new TelemetryReporter({ local: localPeerMetadata(node), proxyType: 'sidecar', accessLog: { encoding: 'text', write: (l) => lines.push(l) } });
  const listener = compileListener({
    name: '10.96.0.20_27017',
    address: { socket_address: { address: '10.96.0.20', port_value: 27017 } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'x', cluster: 'c' } }] }],
  });
  r.tcp(
    { cluster: 'outbound|27017||mongodb.bookinfo.svc.cluster.local', upstreamHost: '10.1.0.9:27017', bytesReceived: 120, bytesSent: 3400, startMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6), durationMs: 41.6, responseFlags: [], security: PLAINTEXT },
    { listener, chain: listener.filterChains[0]!, port: 27017, destination: { address: '10.96.0.20', port: 27017 }, captured: true, serverName: 'db.example.com' },
  );
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\[2026-01-02T03:04:05\.006Z\] "- - -" 0 - "-" "-" 120 3400 42 - "-" "-" "-" "-" "10\.1\.0\.9:27017" outbound\|27017\|\|mongodb\.bookinfo\.svc\.cluster\.local - 10\.96\.0\.20:27017 - db\.example\.com -\n$/);
  const prom = r.metrics.prometheus();
  assert.match(prom, /^istio_tcp_sent_bytes_total\{reporter="source".*destination_service="mongodb\.bookinfo\.svc\.cluster\.local".*\} 3400$/m);
  assert.match(prom, /^istio_tcp_connections_closed_total\{reporter="source".*\} 1$/m);
});
