import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ENVOY_DEFAULT_ACCESS_LOG_FORMAT,
  ISTIO_JSON_ACCESS_LOG_FORMAT,
  ISTIO_TEXT_ACCESS_LOG_FORMAT,
  compileAccessLogFormat,
  compileJsonAccessLogFormat,
  type AccessLogRecord,
} from '../../src/proxy/telemetry/access-log.js';
import { ResponseFlag } from '../../src/proxy/telemetry/response-flags.js';
import { isMeshError } from '../../src/shared/errors.js';

/** A record the way the router implements one: a class reading its own header lists. */
class FakeRecord implements AccessLogRecord {
  startTimeMs = 0;
  protocol?: string = 'HTTP/1.1';
  responseCode = 200;
  responseCodeDetails?: string;
  connectionTerminationDetails?: string;
  responseFlags = 0;
  bytesReceived = 0;
  bytesSent = 0;
  durationMs?: number;
  requestDurationMs?: number;
  responseDurationMs?: number;
  responseTxDurationMs?: number;
  upstreamHost?: string;
  upstreamCluster?: string;
  upstreamLocalAddress?: string;
  upstreamTransportFailureReason?: string;
  downstreamLocalAddress?: string;
  downstreamRemoteAddress?: string;
  requestedServerName?: string;
  routeName?: string;
  downstreamPeerUriSan?: string;
  downstreamLocalUriSan?: string;
  metadata = new Map<string, unknown>();
  constructor(
    readonly request: Record<string, string> = {},
    readonly response: Record<string, string> = {},
    readonly trailers: Record<string, string> = {},
  ) {}
  requestHeader(n: string) {
    return Object.prototype.hasOwnProperty.call(this.request, n) ? this.request[n] : undefined;
  }
  responseHeader(n: string) {
    return Object.prototype.hasOwnProperty.call(this.response, n) ? this.response[n] : undefined;
  }
  responseTrailer(n: string) {
    return Object.prototype.hasOwnProperty.call(this.trailers, n) ? this.trailers[n] : undefined;
  }
  dynamicMetadata(ns: string, path: readonly string[]) {
    return this.metadata.get([ns, ...path].join(':'));
  }
}

/** Splits a log line into fields: `[…]`, `"…"` and bare words. */
function fields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
      continue;
    }
    const close = line[i] === '[' ? ']' : line[i] === '"' ? '"' : ' ';
    const start = close === ' ' ? i : i + 1;
    let end = line.indexOf(close, start);
    if (end === -1) end = line.length;
    out.push(line.slice(start, end));
    i = end + 1;
  }
  return out;
}

test('Istio 1.6’s default text format is exported verbatim', () => {
  assert.equal(
    ISTIO_TEXT_ACCESS_LOG_FORMAT,
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% "%DYNAMIC_METADATA(istio.mixer:status)%" "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n',
  );
});

test('the default text format reproduces an Envoy line from an Istio sidecar, field by field', () => {
  // An inbound reviews request as an Istio 1.6/1.7 sidecar logged it (Bookinfo multi-cluster walkthrough).
  const envoy =
    '[2020-10-12T14:19:35.996Z] "GET /reviews/0 HTTP/1.1" 200 - "-" "-" 0 295 6 6 "-" ' +
    '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.75 Safari/537.36" ' +
    '"d18da89b-8682-4e8d-9284-b3d5ff78f2f7" "reviews:9080" "127.0.0.1:9080" inbound|9080|http|reviews.default.svc.cluster.local ' +
    '127.0.0.1:41542 192.168.163.201:9080 192.168.163.221:42110 outbound_.9080_.version-v1_.reviews.default.svc.cluster.local default\n';
  const r = new FakeRecord(
    {
      ':method': 'GET',
      ':path': '/reviews/0',
      ':authority': 'reviews:9080',
      'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.75 Safari/537.36',
      'x-request-id': 'd18da89b-8682-4e8d-9284-b3d5ff78f2f7',
    },
    { 'x-envoy-upstream-service-time': '6' },
  );
  r.startTimeMs = Date.UTC(2020, 9, 12, 14, 19, 35, 996) + 0.4;
  r.bytesSent = 295;
  r.durationMs = 6.8;
  r.upstreamHost = '127.0.0.1:9080';
  r.upstreamCluster = 'inbound|9080|http|reviews.default.svc.cluster.local';
  r.upstreamLocalAddress = '127.0.0.1:41542';
  r.downstreamLocalAddress = '192.168.163.201:9080';
  r.downstreamRemoteAddress = '192.168.163.221:42110';
  r.requestedServerName = 'outbound_.9080_.version-v1_.reviews.default.svc.cluster.local';
  r.routeName = 'default';
  const line = compileAccessLogFormat(ISTIO_TEXT_ACCESS_LOG_FORMAT).format(r);
  assert.deepEqual(fields(line.trimEnd()), fields(envoy.trimEnd()));
  assert.equal(line, envoy);
});

test('a failed outbound request logs its flags and the dashes Envoy prints for what never happened', () => {
  const r = new FakeRecord({ ':method': 'GET', ':path': '/items', ':authority': 'catalog:80', 'x-envoy-original-path': '/api/items', 'x-forwarded-for': '10.0.0.9' });
  r.startTimeMs = Date.UTC(2020, 7, 22, 16, 35, 27, 125);
  r.responseCode = 504;
  r.responseFlags = ResponseFlag.UpstreamRequestTimeout | ResponseFlag.UpstreamRetryLimitExceeded;
  r.bytesSent = 24;
  r.durationMs = 503;
  r.upstreamCluster = 'outbound|80|version-v2|catalog.istioinaction.svc.cluster.local';
  r.upstreamTransportFailureReason = undefined;
  const f = fields(compileAccessLogFormat(ISTIO_TEXT_ACCESS_LOG_FORMAT).format(r).trimEnd());
  assert.deepEqual(f, [
    '2020-08-22T16:35:27.125Z',
    'GET /api/items HTTP/1.1', // X-ENVOY-ORIGINAL-PATH wins over :path
    '504',
    'UT,URX',
    '-',
    '-',
    '0',
    '24',
    '503',
    '-', // no upstream service time: the upstream never answered
    '10.0.0.9',
    '-',
    '-',
    'catalog:80',
    '-',
    'outbound|80|version-v2|catalog.istioinaction.svc.cluster.local',
    '-',
    '-',
    '-',
    '-',
    '-',
  ]);
});

test('Istio’s JSON format (json_format): every value a string, "-" when unknown — as Envoy printed it', () => {
  const envoy = JSON.parse(
    '{"downstream_remote_address":"10.40.0.12:41654","authority":"details:9080","path":"/details/0","protocol":"HTTP/1.1","upstream_service_time":"9",' +
      '"upstream_local_address":"10.40.0.12:48508","duration":"15","upstream_transport_failure_reason":"-","route_name":"default",' +
      '"downstream_local_address":"10.99.18.67:9080","user_agent":"curl/7.47.0","response_code":"200","response_flags":"-",' +
      '"start_time":"2020-05-15T06:30:26.459Z","method":"GET","request_id":"e2de9f03-38ac-924d-ae2b-176d868c56ab","upstream_host":"10.40.0.8:9080",' +
      '"x_forwarded_for":"-","requested_server_name":"-","bytes_received":"0","istio_policy_status":"-","bytes_sent":"178",' +
      '"upstream_cluster":"outbound|9080||details.default.svc.cluster.local"}',
  ) as Record<string, unknown>;
  const r = new FakeRecord(
    { ':method': 'GET', ':path': '/details/0', ':authority': 'details:9080', 'user-agent': 'curl/7.47.0', 'x-request-id': 'e2de9f03-38ac-924d-ae2b-176d868c56ab' },
    { 'x-envoy-upstream-service-time': '9' },
  );
  r.startTimeMs = Date.UTC(2020, 4, 15, 6, 30, 26, 459);
  r.bytesSent = 178;
  r.durationMs = 15;
  r.upstreamHost = '10.40.0.8:9080';
  r.upstreamCluster = 'outbound|9080||details.default.svc.cluster.local';
  r.upstreamLocalAddress = '10.40.0.12:48508';
  r.downstreamLocalAddress = '10.99.18.67:9080';
  r.downstreamRemoteAddress = '10.40.0.12:41654';
  r.routeName = 'default';
  const line = compileJsonAccessLogFormat(ISTIO_JSON_ACCESS_LOG_FORMAT, { typed: false }).format(r);
  assert.ok(line.endsWith('}\n'));
  const ours = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual(ours, envoy);
  assert.deepEqual(
    Object.keys(ours),
    ISTIO_JSON_ACCESS_LOG_FORMAT.map(([k]) => k),
  );
});

test('typed JSON keeps numbers as numbers and prints null for what is unknown', () => {
  const r = new FakeRecord({ ':method': 'POST', 'user-agent': 'say "hi"\\' });
  r.startTimeMs = Date.UTC(2021, 0, 2, 3, 4, 5, 6);
  r.responseCode = 201;
  r.bytesReceived = 12;
  r.bytesSent = 0;
  r.durationMs = 7.9;
  const f = compileJsonAccessLogFormat(
    [
      ['code', '%RESPONSE_CODE%'],
      ['rx', '%BYTES_RECEIVED%'],
      ['tx', '%BYTES_SENT%'],
      ['ms', '%DURATION%'],
      ['ua', '%REQ(USER-AGENT)%'],
      ['host', '%UPSTREAM_HOST%'],
      ['flags', '%RESPONSE_FLAGS%'],
      ['line', '%REQ(:METHOD)% %REQ(:PATH)%'],
      ['when', '%START_TIME(%s)%'],
    ],
    { typed: true },
  );
  const line = f.format(r);
  assert.deepEqual(JSON.parse(line), { code: 201, rx: 12, tx: 0, ms: 7, ua: 'say "hi"\\', host: null, flags: '-', line: 'POST -', when: '1609556645' });
  assert.ok(line.includes('"code":201,'), 'a number, not a string');
  // The same fields untyped: strings, dashes.
  const untyped = JSON.parse(compileJsonAccessLogFormat({ code: '%RESPONSE_CODE%', host: '%UPSTREAM_HOST%' }, { typed: false }).format(r));
  assert.deepEqual(untyped, { code: '201', host: '-' });
});

test('REQ falls back to the alternative header only when the first is absent, then truncates to :N', () => {
  const f = compileAccessLogFormat('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH):5%|%REQ(x-missing?X-Also-Missing)%|%RESP(Content-Type):4%|%TRAILER(grpc-status)%|%REQ(USER-AGENT):0%');
  const r = new FakeRecord({ ':path': '/productpage?u=normal', 'user-agent': 'curl' }, { 'content-type': 'text/html' }, { 'grpc-status': '14' });
  assert.equal(f.format(r), '/prod|-|text|14|-');
  const original = new FakeRecord({ ':path': '/rewritten', 'x-envoy-original-path': '/orig' });
  assert.equal(f.format(original), '/orig|-|-|-|-');
  // Present but empty: no fallback, printed as "-".
  const empty = new FakeRecord({ ':path': '/p', 'x-envoy-original-path': '' });
  assert.equal(f.format(empty).split('|')[0], '-');
});

test('START_TIME formats: Envoy’s ISO default, strftime, fractions, epoch seconds, across second boundaries', () => {
  const r = new FakeRecord();
  const iso = compileAccessLogFormat('%START_TIME%');
  const custom = compileAccessLogFormat('%START_TIME(%Y/%m/%d %H:%M:%S.%3f %z %a %b %e %j)%');
  const fine = compileAccessLogFormat('%START_TIME(%s|%f|%6f|%E3S|%E*S|%T|%F|%I%p)%');
  r.startTimeMs = Date.UTC(2020, 0, 1, 0, 0, 0, 0);
  assert.equal(iso.format(r), '2020-01-01T00:00:00.000Z');
  assert.equal(custom.format(r), '2020/01/01 00:00:00.000 +0000 Wed Jan  1 001');
  assert.equal(fine.format(r), '1577836800|000000000|000000|00.000|00|00:00:00|2020-01-01|12AM');
  r.startTimeMs = Date.UTC(2021, 11, 31, 23, 59, 59, 999) + 0.5;
  assert.equal(iso.format(r), '2021-12-31T23:59:59.999Z');
  assert.equal(custom.format(r), '2021/12/31 23:59:59.999 +0000 Fri Dec 31 365');
  assert.equal(fine.format(r), '1640995199|999500000|999500|59.999|59.9995|23:59:59|2021-12-31|11PM');
  // Back to an earlier second: the per-second cache must not serve a stale prefix.
  r.startTimeMs = Date.UTC(2020, 0, 1, 0, 0, 0, 250);
  assert.equal(iso.format(r), '2020-01-01T00:00:00.250Z');
  r.startTimeMs = Number.NaN;
  assert.equal(iso.format(r), '-');
});

test('%% prints a percent sign; commands without values print "-"', () => {
  const r = new FakeRecord();
  r.protocol = undefined;
  assert.equal(compileAccessLogFormat('100%% %PROTOCOL% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% %DURATION%').format(r), '100% - - - -');
  r.responseCodeDetails = 'via_upstream';
  r.responseCode = 0;
  assert.equal(compileAccessLogFormat('%RESPONSE_CODE% %RESPONSE_CODE_DETAILS%').format(r), '0 via_upstream');
});

test('addresses with and without port; peer and local URI SANs; durations', () => {
  const r = new FakeRecord();
  r.downstreamRemoteAddress = '[fd00::1]:41000';
  r.downstreamLocalAddress = '10.0.0.1:9080';
  r.downstreamPeerUriSan = 'spiffe://cluster.local/ns/default/sa/sleep';
  r.requestDurationMs = 1.2;
  r.responseDurationMs = 5.9;
  r.responseTxDurationMs = 0;
  const f = compileAccessLogFormat(
    '%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_LOCAL_URI_SAN% %REQUEST_DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION%',
  );
  assert.equal(f.format(r), '[fd00::1]:41000 fd00::1 10.0.0.1 spiffe://cluster.local/ns/default/sa/sleep - 1 5 0');
});

test('DYNAMIC_METADATA reads the record’s metadata, prints structures as JSON, and truncates', () => {
  const r = new FakeRecord();
  r.metadata.set('istio.mixer:status', 'UNAVAILABLE:no healthy upstream');
  r.metadata.set('envoy.lb:canary', true);
  r.metadata.set('ns:obj', { a: 1 });
  const f = compileAccessLogFormat('%DYNAMIC_METADATA(istio.mixer:status):11% %DYNAMIC_METADATA(envoy.lb:canary)% %DYNAMIC_METADATA(ns:obj)% %DYNAMIC_METADATA(ns:missing)%');
  assert.equal(f.format(r), 'UNAVAILABLE true {"a":1} -');
});

test('an empty format means Envoy’s default', () => {
  const r = new FakeRecord({ ':method': 'GET', ':path': '/' });
  r.startTimeMs = Date.UTC(2020, 0, 1);
  assert.equal(compileAccessLogFormat('').format(r), compileAccessLogFormat(ENVOY_DEFAULT_ACCESS_LOG_FORMAT).format(r));
  assert.equal(compileAccessLogFormat('').format(r), '[2020-01-01T00:00:00.000Z] "GET / HTTP/1.1" 200 - 0 0 - - "-" "-" "-" "-" "-"\n');
});

test('bad formats are refused when compiled, with MESH_INVALID_CONFIG', () => {
  const bad = [
    '%NOT_A_COMMAND%',
    '100% done',
    '%REQ(X-A?X-B?X-C)%',
    '%REQ()%',
    '%REQ(X-A',
    '%BYTES_SENT:5%',
    '%PROTOCOL(x)%',
    '%START_TIME(%Q)%',
    '%START_TIME:3%',
    '%REQ(X):%',
    '%constructor%',
  ];
  for (const format of bad) assert.throws(() => compileAccessLogFormat(format), (e: unknown) => isMeshError(e, 'MESH_INVALID_CONFIG'), format);
  assert.throws(() => compileJsonAccessLogFormat([], { typed: false }), (e: unknown) => isMeshError(e, 'MESH_INVALID_CONFIG'));
  assert.throws(
    () =>
      compileJsonAccessLogFormat(
        [
          ['a', '%PROTOCOL%'],
          ['a', '%PROTOCOL%'],
        ],
        { typed: false },
      ),
    (e: unknown) => isMeshError(e, 'MESH_INVALID_CONFIG'),
  );
});
