import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ISTIO_LABELS, IstioMetrics, type HttpRecord, type ServiceRef, type TcpRecord } from '../../src/proxy/telemetry/istio-metrics.js';
import { peerInfoFromNodeMetadata, type PeerInfo } from '../../src/proxy/telemetry/peer-metadata.js';
import { ResponseFlag } from '../../src/proxy/telemetry/response-flags.js';

/** Istio's label order, written out here so a change to the module's constant cannot pass unnoticed. */
const ISTIO_ORDER = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
  'source_canonical_service',
  'source_canonical_revision',
  'destination_canonical_service',
  'destination_canonical_revision',
  'source_cluster',
  'destination_cluster',
];
const ENVOY_BOUNDS = ['0.5', '1', '5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', '30000', '60000', '300000', '600000', '1800000', '3600000', '+Inf'];

interface Sample {
  name: string;
  labels: Array<[string, string]>;
  value: number;
}

/** A strict parser for the exposition lines we emit: `name{a="v",…} value`, with `\\`, `\"`, `\n` escapes. */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  assert.ok(text.endsWith('\n'), 'exposition ends with a newline');
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment ${line}`);
    const brace = line.indexOf('{');
    const name = brace === -1 ? line.slice(0, line.indexOf(' ')) : line.slice(0, brace);
    const labels: Array<[string, string]> = [];
    let i = brace === -1 ? name.length : brace + 1;
    if (brace !== -1) {
      while (line[i] !== '}') {
        const eq = line.indexOf('="', i);
        const key = line.slice(i, eq);
        let j = eq + 2;
        let value = '';
        while (line[j] !== '"') {
          if (line[j] === '\\') {
            const e = line[j + 1];
            value += e === 'n' ? '\n' : e!;
            j += 2;
          } else value += line[j++];
        }
        labels.push([key, value]);
        i = j + 1;
        if (line[i] === ',') i++;
      }
      i++;
    }
    assert.equal(line[i], ' ');
    samples.push({ name, labels, value: Number(line.slice(i + 1)) });
  }
  return { types, samples };
}

const labelMap = (s: Sample) => Object.fromEntries(s.labels);

const peer = (workload: string, ns: string, labels: Record<string, string>, extra: Record<string, unknown> = {}): PeerInfo =>
  peerInfoFromNodeMetadata({ WORKLOAD_NAME: workload, NAMESPACE: ns, NAME: `${workload}-abc`, LABELS: labels, CLUSTER_ID: 'Kubernetes', ...extra });

const productpage = peer('productpage-v1', 'bookinfo', { app: 'productpage', version: 'v1' });
const reviews = peer('reviews-v2', 'bookinfo', { app: 'reviews', version: 'v2' });
const reviewsService: ServiceRef = { host: 'reviews.bookinfo.svc.cluster.local', name: 'reviews', namespace: 'bookinfo' };

const http = (over: Partial<HttpRecord> = {}): HttpRecord => ({
  reporter: 'destination',
  protocol: 'http',
  responseCode: 200,
  responseFlags: 0,
  security: 'none',
  durationMs: 3,
  requestBytes: 300,
  responseBytes: 900,
  ...over,
});

test('every series carries all labels in Istio’s order; what is not known is "unknown"', () => {
  const m = new IstioMetrics();
  m.recordHttp(http({ reporter: 'source', security: 'unknown' }));
  const { types, samples } = parseExposition(m.prometheus());
  assert.equal(types.get('istio_requests_total'), 'counter');
  assert.equal(types.get('istio_request_duration_milliseconds'), 'histogram');
  const req = samples.find((s) => s.name === 'istio_requests_total')!;
  assert.deepEqual(
    req.labels.map(([k]) => k),
    ISTIO_ORDER,
  );
  assert.deepEqual(ISTIO_LABELS, ISTIO_ORDER);
  assert.deepEqual(labelMap(req), {
    reporter: 'source',
    source_workload: 'unknown',
    source_workload_namespace: 'unknown',
    source_principal: 'unknown',
    source_app: 'unknown',
    source_version: 'unknown',
    destination_workload: 'unknown',
    destination_workload_namespace: 'unknown',
    destination_principal: 'unknown',
    destination_app: 'unknown',
    destination_version: 'unknown',
    destination_service: 'unknown',
    destination_service_name: 'unknown',
    destination_service_namespace: 'unknown',
    request_protocol: 'http',
    response_code: '200',
    grpc_response_status: '',
    response_flags: '-',
    connection_security_policy: 'unknown',
    source_canonical_service: 'unknown',
    // Istio maps an unknown peer's revision to "latest".
    source_canonical_revision: 'latest',
    destination_canonical_service: 'unknown',
    destination_canonical_revision: 'latest',
    source_cluster: 'unknown',
    destination_cluster: 'unknown',
  });
  assert.equal(req.value, 1);
  // Histogram buckets put `le` last, after every Istio label.
  const bucket = samples.find((s) => s.name === 'istio_request_duration_milliseconds_bucket')!;
  assert.deepEqual(
    bucket.labels.map(([k]) => k),
    [...ISTIO_ORDER, 'le'],
  );
});

test('an inbound request from a known peer is labelled from both identities, principals and the service', () => {
  const m = new IstioMetrics();
  m.recordHttp(
    http({
      source: productpage,
      destination: reviews,
      sourcePrincipal: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage',
      destinationPrincipal: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews',
      service: reviewsService,
      security: 'mutual_tls',
      responseCode: 503,
      responseFlags: ResponseFlag.UpstreamRetryLimitExceeded | ResponseFlag.NoHealthyUpstream,
    }),
  );
  const req = parseExposition(m.prometheus()).samples.find((s) => s.name === 'istio_requests_total')!;
  assert.deepEqual(labelMap(req), {
    reporter: 'destination',
    source_workload: 'productpage-v1',
    source_workload_namespace: 'bookinfo',
    source_principal: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage',
    source_app: 'productpage',
    source_version: 'v1',
    destination_workload: 'reviews-v2',
    destination_workload_namespace: 'bookinfo',
    destination_principal: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews',
    destination_app: 'reviews',
    destination_version: 'v2',
    destination_service: 'reviews.bookinfo.svc.cluster.local',
    destination_service_name: 'reviews',
    destination_service_namespace: 'bookinfo',
    request_protocol: 'http',
    response_code: '503',
    grpc_response_status: '',
    response_flags: 'UH,URX',
    connection_security_policy: 'mutual_tls',
    source_canonical_service: 'productpage',
    source_canonical_revision: 'v1',
    destination_canonical_service: 'reviews',
    destination_canonical_revision: 'v2',
    source_cluster: 'Kubernetes',
    destination_cluster: 'Kubernetes',
  });
});

test('gRPC requests carry grpc_response_status; a missing or out-of-range one is 2 (UNKNOWN)', () => {
  const m = new IstioMetrics();
  m.recordHttp(http({ protocol: 'grpc', grpcStatus: 14 }));
  m.recordHttp(http({ protocol: 'grpc' }));
  m.recordHttp(http({ protocol: 'grpc', grpcStatus: 99999 }));
  const req = parseExposition(m.prometheus()).samples.filter((s) => s.name === 'istio_requests_total');
  assert.deepEqual(
    req.map((s) => [labelMap(s).request_protocol, labelMap(s).grpc_response_status, s.value]),
    [
      ['grpc', '14', 1],
      ['grpc', '2', 2],
    ],
  );
});

test('histogram buckets are cumulative, Envoy’s default bounds, and +Inf equals _count', () => {
  const m = new IstioMetrics();
  // Durations are whole milliseconds, truncated like Istio's ns / 1e6.
  const durations = [0.3, 1, 7.9, 30, 4_000_000];
  const bytes = [0, 600, 2_000, 25, 5_000_000];
  for (let i = 0; i < durations.length; i++) m.recordHttp(http({ durationMs: durations[i]!, requestBytes: bytes[i]!, responseBytes: bytes[i]! * 2 }));
  const { samples } = parseExposition(m.prometheus());
  for (const family of ['istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes']) {
    const buckets = samples.filter((s) => s.name === `${family}_bucket`);
    assert.deepEqual(
      buckets.map((b) => labelMap(b).le),
      ENVOY_BOUNDS,
    );
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${family} is cumulative`);
    const count = samples.find((s) => s.name === `${family}_count`)!.value;
    assert.equal(buckets.at(-1)!.value, count);
    assert.equal(count, 5);
  }
  const le = (family: string, bound: string) => samples.find((s) => s.name === `${family}_bucket` && labelMap(s).le === bound)!.value;
  assert.equal(le('istio_request_duration_milliseconds', '0.5'), 1); // 0.3 → 0
  assert.equal(le('istio_request_duration_milliseconds', '1'), 2); // bounds are inclusive
  assert.equal(le('istio_request_duration_milliseconds', '5'), 2);
  assert.equal(le('istio_request_duration_milliseconds', '10'), 3); // 7.9 → 7
  assert.equal(le('istio_request_duration_milliseconds', '3600000'), 4); // 4e6 only in +Inf
  assert.equal(samples.find((s) => s.name === 'istio_request_duration_milliseconds_sum')!.value, 0 + 1 + 7 + 30 + 4_000_000);
  assert.equal(samples.find((s) => s.name === 'istio_request_bytes_sum')!.value, 600 + 2000 + 25 + 5_000_000);
  assert.equal(le('istio_response_bytes', '1000'), 2); // 0 and 50
});

test('a new PeerInfo object with the same identity lands in the same series', () => {
  const m = new IstioMetrics();
  for (let i = 0; i < 3; i++) m.recordHttp(http({ source: peer('productpage-v1', 'bookinfo', { app: 'productpage', version: 'v1' }), destination: reviews }));
  assert.equal(m.seriesCount, 1);
  const req = parseExposition(m.prometheus()).samples.find((s) => s.name === 'istio_requests_total')!;
  assert.equal(req.value, 3);
});

test('distinct combinations get distinct series; bits Envoy does not define do not split a series', () => {
  const m = new IstioMetrics();
  m.recordHttp(http({ source: productpage }));
  m.recordHttp(http({ source: productpage, responseFlags: 1 << 30 }));
  m.recordHttp(http({ source: productpage, responseCode: 404, responseFlags: ResponseFlag.NoRouteFound }));
  m.recordHttp(http({ source: productpage, reporter: 'source' }));
  m.recordHttp(http({ source: productpage, security: 'mutual_tls' }));
  assert.equal(m.seriesCount, 4);
  const req = parseExposition(m.prometheus()).samples.filter((s) => s.name === 'istio_requests_total');
  assert.equal(req[0]!.value, 2);
  assert.equal(labelMap(req[1]!).response_flags, 'NR');
});

test('the series cap holds against a label-cardinality attack; overflow is counted instead', () => {
  const m = new IstioMetrics({ maxSeries: 3 });
  for (let i = 0; i < 50; i++) m.recordHttp(http({ source: peer(`attacker-${i}`, 'evil', {}) }));
  assert.equal(m.seriesCount, 3);
  assert.equal(m.droppedCount, 47);
  // Existing series keep counting, refused ones keep being counted as dropped.
  m.recordHttp(http({ source: peer('attacker-0', 'evil', {}) }));
  m.recordHttp(http({ source: peer('attacker-49', 'evil', {}) }));
  const { types, samples } = parseExposition(m.prometheus());
  assert.equal(types.get('meltemi_telemetry_dropped_series_total'), 'counter');
  assert.equal(samples.find((s) => s.name === 'meltemi_telemetry_dropped_series_total')!.value, 48);
  assert.equal(samples.filter((s) => s.name === 'istio_requests_total').length, 3);
  assert.equal(samples.find((s) => s.name === 'istio_requests_total' && labelMap(s).source_workload === 'attacker-0')!.value, 2);
  // TCP shares the cap.
  m.recordTcpOpen({ reporter: 'destination', responseFlags: 0, security: 'none' });
  assert.equal(m.seriesCount, 3);
  assert.equal(m.droppedCount, 49);
});

test('the identity memo is bounded: many short-lived peer objects still count right', () => {
  const m = new IstioMetrics({ maxSeries: 10 });
  // Every request brings a new (equal) PeerInfo object, as after peer-cache evictions: the memo keyed
  // by identity is rebuilt repeatedly, the series stay one.
  let maxMemo = 0;
  for (let i = 0; i < 5000; i++) {
    m.recordHttp(http({ source: peer('productpage-v1', 'bookinfo', { app: 'productpage' }) }));
    maxMemo = Math.max(maxMemo, m.memoEntries);
  }
  assert.ok(maxMemo <= 1024, `memo grew to ${maxMemo}`);
  assert.ok(m.memoEntries < 5000);
  assert.equal(m.seriesCount, 1);
  assert.equal(m.droppedCount, 0);
  assert.equal(parseExposition(m.prometheus()).samples.find((s) => s.name === 'istio_requests_total')!.value, 5000);
});

test('TCP connections report opened, bytes and closed with request_protocol tcp and response_code 0', () => {
  const m = new IstioMetrics();
  const conn: TcpRecord = { reporter: 'destination', source: productpage, destination: reviews, service: reviewsService, responseFlags: 0, security: 'mutual_tls' };
  m.recordTcpOpen(conn);
  m.recordTcpBytes(conn, 100, 40);
  m.recordTcpBytes(conn, 5, 0);
  m.recordTcpBytes(conn, 0, 0);
  m.recordTcpClose(conn);
  m.recordTcpClose({ ...conn, responseFlags: ResponseFlag.UpstreamConnectionFailure });
  const { types, samples } = parseExposition(m.prometheus());
  for (const name of ['istio_tcp_sent_bytes_total', 'istio_tcp_received_bytes_total', 'istio_tcp_connections_opened_total', 'istio_tcp_connections_closed_total']) {
    assert.equal(types.get(name), 'counter');
  }
  assert.equal(types.has('istio_requests_total'), false, 'no HTTP family without HTTP series');
  const get = (name: string, flags = '-') => samples.find((s) => s.name === name && labelMap(s).response_flags === flags)!;
  assert.equal(get('istio_tcp_sent_bytes_total').value, 105);
  assert.equal(get('istio_tcp_received_bytes_total').value, 40);
  assert.equal(get('istio_tcp_connections_opened_total').value, 1);
  assert.equal(get('istio_tcp_connections_closed_total').value, 1);
  assert.equal(get('istio_tcp_connections_closed_total', 'UF').value, 1);
  const l = labelMap(get('istio_tcp_connections_opened_total'));
  assert.deepEqual(
    get('istio_tcp_connections_opened_total').labels.map(([k]) => k),
    ISTIO_ORDER,
  );
  assert.equal(l.request_protocol, 'tcp');
  assert.equal(l.response_code, '0');
  assert.equal(l.grpc_response_status, '');
  assert.equal(l.source_workload, 'productpage-v1');
});

test('label values are escaped for the text format', () => {
  const m = new IstioMetrics();
  m.recordHttp(http({ source: peer('we"ird\\name\nx', 'ns', {}) }));
  const text = m.prometheus();
  assert.ok(text.includes('source_workload="we\\"ird\\\\name\\nx"'));
  const req = parseExposition(text).samples.find((s) => s.name === 'istio_requests_total')!;
  assert.equal(labelMap(req).source_workload, 'we"ird\\name\nx');
});

test('nonsense numbers never poison sums', () => {
  const m = new IstioMetrics();
  m.recordHttp(http({ durationMs: Number.NaN, requestBytes: -5, responseBytes: Infinity, responseCode: 1234.5 }));
  const { samples } = parseExposition(m.prometheus());
  assert.equal(samples.find((s) => s.name === 'istio_request_duration_milliseconds_sum')!.value, 0);
  assert.equal(samples.find((s) => s.name === 'istio_response_bytes_sum')!.value, 0);
  assert.equal(labelMap(samples.find((s) => s.name === 'istio_requests_total')!).response_code, '0');
});

test('successive scrapes list series in the same order', () => {
  const m = new IstioMetrics();
  for (const code of [500, 200, 404]) m.recordHttp(http({ responseCode: code }));
  const first = m.prometheus();
  m.recordHttp(http({ responseCode: 200 }));
  const codes = (text: string) =>
    parseExposition(text)
      .samples.filter((s) => s.name === 'istio_requests_total')
      .map((s) => labelMap(s).response_code);
  assert.deepEqual(codes(first), codes(m.prometheus()));
});
