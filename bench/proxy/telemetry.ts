// Micro-benchmark of the proxy's telemetry hot path: ns per IstioMetrics.recordHttp (steady state), per access log line (Istio text and JSON), per cached peer-header decode, and the cost of a scrape. `npx tsx bench/proxy/telemetry.ts [--iterations N] [--json]`
//
// Each case runs in its own child process, so one case's call sites do not turn megamorphic and
// slow the next (in the proxy each runs with its own shapes).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IstioMetrics, type HttpRecord, type ServiceRef } from '../../src/proxy/telemetry/istio-metrics.js';
import { PeerMetadataDecoder, encodePeerMetadata, peerInfoFromNodeMetadata, type PeerInfo } from '../../src/proxy/telemetry/peer-metadata.js';
import { ISTIO_JSON_ACCESS_LOG_FORMAT, ISTIO_TEXT_ACCESS_LOG_FORMAT, compileAccessLogFormat, compileJsonAccessLogFormat, type AccessLogRecord } from '../../src/proxy/telemetry/access-log.js';
import { ResponseFlag } from '../../src/proxy/telemetry/response-flags.js';

const args = process.argv.slice(2);
const iterArg = args.indexOf('--iterations');
const ITERATIONS = iterArg >= 0 ? Number(args[iterArg + 1]) : 1_000_000;
const asJson = args.includes('--json');
const ROUNDS = 5;

/** Best of ROUNDS-1 runs (the first warms the JIT), ns per call. */
function measure(iterations: number, body: (i: number) => number): number {
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += body(i);
    const ns = Number(process.hrtime.bigint() - t0) / iterations;
    if (r > 0) best = Math.min(best, ns);
  }
  if (sink === -1) process.stdout.write('');
  return best;
}

const metadata = (workload: string, ns: string, app: string, version: string) => ({
  NAME: `${workload}-7bf8c9648f-xk2fj`,
  NAMESPACE: ns,
  WORKLOAD_NAME: workload,
  SERVICE_ACCOUNT: `bookinfo-${app}`,
  CLUSTER_ID: 'Kubernetes',
  MESH_ID: 'cluster.local',
  INSTANCE_IPS: '10.44.0.12',
  LABELS: { app, version, 'pod-template-hash': '7bf8c9648f', 'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': app, 'service.istio.io/canonical-revision': version },
});

/** A Bookinfo-like inbound mix of callers, services and outcomes (36 series), cycled. */
function httpRecords(): HttpRecord[] {
  const callers: PeerInfo[] = [
    peerInfoFromNodeMetadata(metadata('productpage-v1', 'bookinfo', 'productpage', 'v1')),
    peerInfoFromNodeMetadata(metadata('reviews-v2', 'bookinfo', 'reviews', 'v2')),
    peerInfoFromNodeMetadata(metadata('reviews-v3', 'bookinfo', 'reviews', 'v3')),
    peerInfoFromNodeMetadata(metadata('istio-ingressgateway', 'istio-system', 'istio-ingressgateway', 'unknown')),
  ];
  const self = peerInfoFromNodeMetadata(metadata('ratings-v1', 'bookinfo', 'ratings', 'v1'));
  const services: ServiceRef[] = ['ratings', 'details', 'reviews'].map((n) => ({ host: `${n}.bookinfo.svc.cluster.local`, name: n, namespace: 'bookinfo' }));
  const outcomes: Array<[number, number]> = [
    [200, 0],
    [404, ResponseFlag.NoRouteFound],
    [503, ResponseFlag.UpstreamOverflow],
    [200, 0],
  ];
  const out: HttpRecord[] = [];
  for (let i = 0; i < 1024; i++) {
    const caller = callers[i % callers.length]!;
    const [code, flags] = outcomes[(i >> 2) % outcomes.length]!;
    out.push({
      reporter: 'destination',
      source: caller,
      destination: self,
      sourcePrincipal: `spiffe://cluster.local/ns/${caller.namespace}/sa/${caller.serviceAccount}`,
      destinationPrincipal: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings',
      service: services[(i >> 4) % services.length]!,
      protocol: 'http',
      responseCode: code,
      responseFlags: flags,
      security: 'mutual_tls',
      durationMs: (i * 7) % 400,
      requestBytes: 400 + (i % 50),
      responseBytes: 1200 + ((i * 13) % 5000),
    });
  }
  // Principals interned per caller, as the router gets them once per TLS connection.
  const interned = new Map<string, string>();
  for (const r of out) {
    const p = r.sourcePrincipal!;
    if (!interned.has(p)) interned.set(p, p);
    r.sourcePrincipal = interned.get(p)!;
  }
  return out;
}

class BenchRecord implements AccessLogRecord {
  startTimeMs = Date.UTC(2020, 9, 12, 14, 19, 35, 996);
  protocol = 'HTTP/1.1';
  responseCode = 200;
  responseFlags = 0;
  bytesReceived = 0;
  bytesSent = 295;
  durationMs = 6.2;
  upstreamHost = '127.0.0.1:9080';
  upstreamCluster = 'inbound|9080|http|reviews.default.svc.cluster.local';
  upstreamLocalAddress = '127.0.0.1:41542';
  downstreamLocalAddress = '192.168.163.201:9080';
  downstreamRemoteAddress = '192.168.163.221:42110';
  requestedServerName = 'outbound_.9080_.version-v1_.reviews.default.svc.cluster.local';
  routeName = 'default';
  private readonly req: ReadonlyMap<string, string> = new Map([
    [':method', 'GET'],
    [':path', '/reviews/0'],
    [':authority', 'reviews:9080'],
    ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.75 Safari/537.36'],
    ['x-request-id', 'd18da89b-8682-4e8d-9284-b3d5ff78f2f7'],
  ]);
  requestHeader(n: string) {
    return this.req.get(n);
  }
  responseHeader(n: string) {
    return n === 'x-envoy-upstream-service-time' ? '6' : undefined;
  }
  responseTrailer() {
    return undefined;
  }
}

interface Row {
  case: string;
  ns: number;
  note: string;
}

const CASES: Record<string, () => Row> = {
  recordHttp() {
    const m = new IstioMetrics();
    const recs = httpRecords();
    for (const r of recs) m.recordHttp(r); // create the series: steady state from here on
    const ns = measure(ITERATIONS, (i) => {
      m.recordHttp(recs[i & 1023]!);
      return 0;
    });
    return { case: 'IstioMetrics.recordHttp (steady state)', ns, note: `${m.seriesCount} series, 7 Map lookups + 3 histograms` };
  },
  recordHttpNewPeers() {
    // Worst case for the memo: every request brings a PeerInfo object never seen (a peer-cache miss).
    const m = new IstioMetrics();
    const recs = httpRecords();
    const fresh = recs.map((r) => ({ ...r, source: { ...r.source! } }));
    const ns = measure(Math.min(ITERATIONS, 200_000), (i) => {
      const r = fresh[i & 1023]!;
      r.source = { ...r.source! };
      m.recordHttp(r);
      return 0;
    });
    return { case: 'recordHttp, new PeerInfo object each call', ns, note: 'label text rebuilt + dedup by text' };
  },
  textLine() {
    const f = compileAccessLogFormat(ISTIO_TEXT_ACCESS_LOG_FORMAT);
    const r = new BenchRecord();
    const t0 = r.startTimeMs;
    const ns = measure(ITERATIONS, (i) => {
      r.startTimeMs = t0 + i * 0.05; // a new second every 20 000 lines
      return f.format(r).length;
    });
    return { case: 'access log line, Istio 1.6 TEXT format', ns, note: `${f.format(r).length} bytes` };
  },
  jsonLine() {
    const f = compileJsonAccessLogFormat(ISTIO_JSON_ACCESS_LOG_FORMAT, { typed: false });
    const r = new BenchRecord();
    const t0 = r.startTimeMs;
    const ns = measure(ITERATIONS, (i) => {
      r.startTimeMs = t0 + i * 0.05;
      return f.format(r).length;
    });
    return { case: 'access log line, Istio 1.6 JSON format', ns, note: `${f.format(r).length} bytes` };
  },
  peerDecodeHit() {
    const header = encodePeerMetadata(metadata('productpage-v1', 'bookinfo', 'productpage', 'v1'));
    // Fresh string objects with the same content, as each request's parser produces.
    const copies = Array.from({ length: 1024 }, () => Buffer.from(header, 'latin1').toString('latin1'));
    const d = new PeerMetadataDecoder();
    const ns = measure(ITERATIONS, (i) => (d.decode(copies[i & 1023]!) === undefined ? 1 : 0));
    return { case: 'peer header decode, cache hit', ns, note: `${header.length}-char header, hashed per request` };
  },
  peerDecodeMiss() {
    const headers = Array.from({ length: 4096 }, (_, i) => encodePeerMetadata(metadata(`workload-${i}`, 'bookinfo', `app-${i}`, 'v1')));
    const d = new PeerMetadataDecoder({ maxEntries: 16 });
    const ns = measure(Math.min(ITERATIONS, 100_000), (i) => (d.decode(headers[i & 4095]!) === undefined ? 1 : 0));
    return { case: 'peer header decode, cache miss', ns, note: 'base64 + protobufjs + PeerInfo' };
  },
  scrape() {
    const m = new IstioMetrics();
    const recs = httpRecords();
    for (let i = 0; i < 1000; i++) m.recordHttp({ ...recs[0]!, source: peerInfoFromNodeMetadata(metadata(`caller-${i}`, 'bookinfo', `caller-${i}`, 'v1')) });
    if (m.seriesCount !== 1000) throw new Error(`expected 1000 series, got ${m.seriesCount}`);
    const ns = measure(20, () => m.prometheus().length);
    return { case: 'prometheus() with 1000 HTTP series', ns, note: `${(m.prometheus().length / 1e6).toFixed(1)} MB of text` };
  },
};

const caseArg = args.indexOf('--case');
if (caseArg >= 0) {
  process.stdout.write(`${JSON.stringify(CASES[args[caseArg + 1]!]!())}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  const rows: Row[] = [];
  for (const name of Object.keys(CASES)) {
    const child = spawnSync(process.execPath, [...process.execArgv, self, '--case', name, '--iterations', String(ITERATIONS)], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`case ${name} failed: ${child.stderr}`);
    rows.push(JSON.parse(child.stdout.trim().split('\n').pop()!) as Row);
  }
  if (asJson) process.stdout.write(`${JSON.stringify({ node: process.version, iterations: ITERATIONS, rows }, null, 2)}\n`);
  else {
    const width = Math.max(...rows.map((r) => r.case.length));
    for (const r of rows) {
      const value = r.ns >= 1e6 ? `${(r.ns / 1e6).toFixed(2)} ms` : `${r.ns.toFixed(0)} ns`;
      process.stdout.write(`${r.case.padEnd(width)}  ${value.padStart(10)}  ${r.note}\n`);
    }
    process.stdout.write(`node ${process.version}, best of ${ROUNDS - 1} rounds after a warm-up, one process per case\n`);
  }
}
