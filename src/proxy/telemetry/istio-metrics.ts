// Istio's standard metrics (istio_requests_total and friends) recorded on the proxy's hot path and rendered as Prometheus text.
//
// Names, label set, defaults and buckets follow Istio 1.6's stats filter (istio/proxy
// extensions/stats/plugin.cc) so dashboards, Kiali and PromQL written for Istio work unchanged;
// the two cluster labels are those Istio adds for multi-cluster meshes.
import { ALL_RESPONSE_FLAGS, formatFlags } from './response-flags.js';
import type { PeerInfo } from './peer-metadata.js';

/** Every label of every Istio metric, in the order they are printed. */
export const ISTIO_LABELS: readonly string[] = [
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

/** Envoy's default histogram bucket bounds (`HistogramSettingsImpl::defaultBuckets()`); `+Inf` is implied. */
export const ENVOY_DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

/** Default cap on distinct series (HTTP and TCP together). */
export const DEFAULT_MAX_SERIES = 10_000;

const UNKNOWN = 'unknown';
const LATEST = 'latest';
/** Counter of observations lost because the series cap was reached. */
export const DROPPED_SERIES_METRIC = 'meltemi_telemetry_dropped_series_total';

/** The service a request was routed to (from the cluster name `outbound|port|subset|host`, or the Host header). */
export interface ServiceRef {
  /** FQDN, e.g. `details.default.svc.cluster.local` (label `destination_service`). */
  readonly host: string;
  /** Short name, e.g. `details` (label `destination_service_name`). */
  readonly name: string;
  readonly namespace: string;
}

/** `connection_security_policy`: `mutual_tls`/`none` on destination reports, `unknown` on source reports (Istio 1.6). */
export type SecurityPolicy = 'mutual_tls' | 'none' | 'unknown';

/**
 * One finished HTTP request as the stats need it. The router fills one per request; pass the same
 * PeerInfo and ServiceRef objects for the same peer and service (the peer decoder and the compiled
 * config already share them), since series are found by object identity.
 */
export interface HttpRecord {
  /** `source`: reported by the client-side proxy (outbound); `destination`: by the server-side proxy (inbound). */
  reporter: 'source' | 'destination';
  /** The calling workload: this proxy's own identity on outbound, the peer's on inbound. */
  source?: PeerInfo;
  /** The called workload: the peer's on outbound, this proxy's on inbound. */
  destination?: PeerInfo;
  /** SPIFFE URI of the client certificate (overrides `source.principal`). */
  sourcePrincipal?: string;
  /** SPIFFE URI of the server certificate. */
  destinationPrincipal?: string;
  service?: ServiceRef;
  /** `grpc` when the request's content-type is application/grpc*. */
  protocol: 'http' | 'grpc';
  /** HTTP status sent downstream; 0 when none was sent. */
  responseCode: number;
  /** gRPC status (grpc-status); Istio reports 2 (UNKNOWN) for gRPC requests without one. */
  grpcStatus?: number;
  /** Response flag bits (see response-flags.ts). */
  responseFlags: number;
  security: SecurityPolicy;
  /** Request start to last byte sent downstream, ms. */
  durationMs: number;
  /** Request size, bytes: Istio records Envoy's `request.total_size`, headers plus body. */
  requestBytes: number;
  /** Response size, bytes: `response.total_size`, headers plus body. */
  responseBytes: number;
}

/** One TCP connection's identity as the stats need it (same conventions as HttpRecord). */
export interface TcpRecord {
  reporter: 'source' | 'destination';
  source?: PeerInfo;
  destination?: PeerInfo;
  sourcePrincipal?: string;
  destinationPrincipal?: string;
  service?: ServiceRef;
  /** Flags so far (a connection that failed to connect upstream is closed with UF). */
  responseFlags: number;
  security: SecurityPolicy;
}

// --- series ------------------------------------------------------------------------------------

const BOUNDS = Float64Array.from(ENVOY_DEFAULT_BUCKETS);
const NB = BOUNDS.length;
/** `,le="0.5"}` … , precomputed: Envoy prints `le` last, in fixed notation. */
const LE_SUFFIX = [...ENVOY_DEFAULT_BUCKETS.map((b) => `,le="${String(b)}"}`), ',le="+Inf"}'];

class HttpSeries {
  requests = 0;
  /** Non-cumulative counts per finite bucket: [duration × NB, request bytes × NB, response bytes × NB]. */
  readonly buckets = new Float64Array(3 * NB);
  durationSum = 0;
  requestBytesSum = 0;
  responseBytesSum = 0;
  constructor(readonly labels: string) {}
}

class TcpSeries {
  sent = 0;
  received = 0;
  opened = 0;
  closed = 0;
  constructor(readonly labels: string) {}
}

/** Memo for a label set refused by the cap, so a refused combination costs a lookup, not a rebuild. */
const DROPPED = Symbol('dropped');
type Leaf<S> = S | typeof DROPPED;
type KeyNode = Map<unknown, unknown>;

/** Index of the first bucket whose bound is ≥ v, or NB when above all (only in +Inf). */
function bucketIndex(v: number): number {
  let lo = 0;
  let hi = NB;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v <= BOUNDS[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Non-negative finite value, else 0 (a NaN must not poison a `_sum` forever). */
function sane(v: number): number {
  return v > 0 && v < Infinity ? v : 0;
}

/** Escapes a label value for the text format (`\`, `"`, newline). Once per series, not per request. */
function escapeLabelValue(v: string): string {
  if (v.indexOf('\\') === -1 && v.indexOf('"') === -1 && v.indexOf('\n') === -1) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    out += c === '\\' ? '\\\\' : c === '"' ? '\\"' : c === '\n' ? '\\n' : c;
  }
  return out;
}

const orUnknown = (v: string | undefined): string => (v === undefined || v === '' ? UNKNOWN : v);

/** The 25 label values, in ISTIO_LABELS order, rendered as `name="value",…` (no braces). */
function renderLabels(
  r: TcpRecord,
  protocol: string,
  responseCode: string,
  grpcStatus: string,
  flags: number,
): string {
  const src = r.source;
  const dst = r.destination;
  const svc = r.service;
  const values = [
    r.reporter,
    orUnknown(src?.workloadName),
    orUnknown(src?.namespace),
    orUnknown(r.sourcePrincipal ?? src?.principal),
    orUnknown(src?.app),
    orUnknown(src?.version),
    orUnknown(dst?.workloadName),
    orUnknown(dst?.namespace),
    orUnknown(r.destinationPrincipal ?? dst?.principal),
    orUnknown(dst?.app),
    orUnknown(dst?.version),
    orUnknown(svc?.host),
    orUnknown(svc?.name),
    // Istio 1.6 takes the destination workload's namespace; the routed service's is the same or better.
    orUnknown(svc?.namespace || dst?.namespace),
    protocol,
    responseCode,
    grpcStatus,
    formatFlags(flags),
    r.security,
    orUnknown(src?.canonicalService),
    // An unknown peer's revision is `latest`, not `unknown` (Istio maps an empty node so).
    src === undefined ? LATEST : orUnknown(src.canonicalRevision),
    orUnknown(dst?.canonicalService),
    dst === undefined ? LATEST : orUnknown(dst.canonicalRevision),
    orUnknown(src?.clusterId),
    orUnknown(dst?.clusterId),
  ];
  // Optimization: join yields a flat string; a `+=`-built one stays a deep rope that every line of
  // every scrape embedding it would walk again.
  const pairs: string[] = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) pairs[i] = `${ISTIO_LABELS[i]!}="${escapeLabelValue(values[i]!)}"`;
  return pairs.join(',');
}

/** 0, 1, 2 for the three policies (comparisons of interned strings, no keyed property load). */
function securityBits(s: SecurityPolicy): number {
  return s === 'mutual_tls' ? 0 : s === 'none' ? 1 : 2;
}

/** A valid status (0 = none sent … 999), else 0. */
function responseCodeOf(code: number): number {
  return code >= 0 && code <= 999 && Math.floor(code) === code ? code : 0;
}

/**
 * gRPC status for a label: 0…254 as given, missing or anything else as 2 (UNKNOWN). The bound also
 * keeps an upstream from minting label values through `grpc-status`.
 */
function grpcStatusOf(status: number | undefined): number {
  return status !== undefined && status >= 0 && status <= 254 && Math.floor(status) === status ? status : 2;
}

/** The small scalars of an HTTP record packed into one small integer (a Smi, so Map keys hash cheaply). */
function httpScalarKey(r: HttpRecord): number {
  const grpc = r.protocol === 'grpc' ? grpcStatusOf(r.grpcStatus) + 1 : 0;
  return (r.reporter === 'source' ? 0 : 1) | (securityBits(r.security) << 1) | (grpc << 3) | (responseCodeOf(r.responseCode) << 11);
}

function tcpScalarKey(r: TcpRecord): number {
  return (r.reporter === 'source' ? 0 : 1) | (securityBits(r.security) << 1);
}

function step(node: KeyNode | undefined, key: unknown): KeyNode | undefined {
  return node === undefined ? undefined : (node.get(key) as KeyNode | undefined);
}

/** Walks (creating) the key path's inner maps; returns the last map, where the scalar key leads to the leaf. */
function ensurePath(root: KeyNode, keys: readonly unknown[]): KeyNode {
  let node = root;
  for (const k of keys) {
    let next = node.get(k) as KeyNode | undefined;
    if (next === undefined) {
      next = new Map();
      node.set(k, next);
    }
    node = next;
  }
  return node;
}

/**
 * Istio's standard metrics for one proxy. `recordHttp`/`recordTcp*` are the hot path: a record whose
 * (peers, service, principals, flags, code, protocol…) combination was seen before costs seven Map
 * lookups keyed by object identity and small integers, a bucket search per histogram and a few
 * additions — no strings, no label objects. A new combination renders its label text once and is
 * deduplicated against existing series by that text (so a peer re-decoded into a new object still
 * lands in its old series).
 *
 * Bounded: at most `maxSeries` distinct series (HTTP and TCP together); an observation that would
 * need one more is counted in `meltemi_telemetry_dropped_series_total` instead, so a peer inventing
 * workload names cannot grow memory without limit. The identity-keyed memo in front of the series is
 * bounded too (dropped whole when it outgrows 4 × `maxSeries` entries; series survive).
 *
 * Not thread-safe in any sense that matters in Node; one instance per proxy process.
 */
export class IstioMetrics {
  private readonly maxSeries: number;
  private readonly maxKeyPaths: number;
  private httpRoot: KeyNode = new Map();
  private tcpRoot: KeyNode = new Map();
  private keyPaths = 0;
  private readonly httpSeries = new Map<string, HttpSeries>();
  private readonly tcpSeries = new Map<string, TcpSeries>();
  private dropped = 0;

  constructor(options: { maxSeries?: number } = {}) {
    this.maxSeries = Math.max(0, options.maxSeries ?? DEFAULT_MAX_SERIES);
    this.maxKeyPaths = Math.max(1024, 4 * this.maxSeries);
  }

  /** Distinct series held (HTTP label sets plus TCP label sets). */
  get seriesCount(): number {
    return this.httpSeries.size + this.tcpSeries.size;
  }

  /** Entries in the identity-keyed memo in front of the series (bounded; for tests and the admin page). */
  get memoEntries(): number {
    return this.keyPaths;
  }

  /** Observations lost to the series cap so far. */
  get droppedCount(): number {
    return this.dropped;
  }

  /** Counts one finished HTTP request: istio_requests_total and the three histograms. */
  recordHttp(r: HttpRecord): void {
    const flags = r.responseFlags & ALL_RESPONSE_FLAGS;
    const scalar = httpScalarKey(r);
    let leaf = step(step(step(step(step(step(this.httpRoot, r.source), r.destination), r.service), r.sourcePrincipal), r.destinationPrincipal), flags)?.get(scalar) as
      | Leaf<HttpSeries>
      | undefined;
    if (leaf === undefined) leaf = this.resolveHttp(r, flags, scalar);
    if (leaf === DROPPED) {
      this.dropped++;
      return;
    }
    const duration = Math.floor(sane(r.durationMs));
    const reqBytes = sane(r.requestBytes);
    const respBytes = sane(r.responseBytes);
    leaf.requests++;
    const b = leaf.buckets;
    let i = bucketIndex(duration);
    if (i < NB) b[i]!++;
    i = bucketIndex(reqBytes);
    if (i < NB) b[NB + i]!++;
    i = bucketIndex(respBytes);
    if (i < NB) b[2 * NB + i]!++;
    leaf.durationSum += duration;
    leaf.requestBytesSum += reqBytes;
    leaf.responseBytesSum += respBytes;
  }

  /** Counts a TCP connection opened (istio_tcp_connections_opened_total). */
  recordTcpOpen(r: TcpRecord): void {
    const s = this.tcp(r);
    if (s !== undefined) s.opened++;
  }

  /** Adds bytes sent to / received from the downstream since the last call. */
  recordTcpBytes(r: TcpRecord, sent: number, received: number): void {
    if (!(sent > 0) && !(received > 0)) return;
    const s = this.tcp(r);
    if (s === undefined) return;
    s.sent += sane(sent);
    s.received += sane(received);
  }

  /** Counts a TCP connection closed (istio_tcp_connections_closed_total), with its final flags. */
  recordTcpClose(r: TcpRecord): void {
    const s = this.tcp(r);
    if (s !== undefined) s.closed++;
  }

  private tcp(r: TcpRecord): TcpSeries | undefined {
    const flags = r.responseFlags & ALL_RESPONSE_FLAGS;
    const scalar = tcpScalarKey(r);
    let leaf = step(step(step(step(step(step(this.tcpRoot, r.source), r.destination), r.service), r.sourcePrincipal), r.destinationPrincipal), flags)?.get(scalar) as
      | Leaf<TcpSeries>
      | undefined;
    if (leaf === undefined) leaf = this.resolveTcp(r, flags, scalar);
    if (leaf === DROPPED) {
      this.dropped++;
      return undefined;
    }
    return leaf;
  }

  private resolveHttp(r: HttpRecord, flags: number, scalar: number): Leaf<HttpSeries> {
    const code = String(responseCodeOf(r.responseCode));
    const grpc = r.protocol === 'grpc' ? String(grpcStatusOf(r.grpcStatus)) : '';
    const labels = renderLabels(r, r.protocol, code, grpc, flags);
    let leaf: Leaf<HttpSeries> | undefined = this.httpSeries.get(labels);
    if (leaf === undefined) {
      if (this.seriesCount >= this.maxSeries) leaf = DROPPED;
      else {
        leaf = new HttpSeries(labels);
        this.httpSeries.set(labels, leaf);
      }
    }
    this.remember(true, r, flags, scalar, leaf);
    return leaf;
  }

  private resolveTcp(r: TcpRecord, flags: number, scalar: number): Leaf<TcpSeries> {
    // Istio 1.6 reports TCP with the same label set: response code 0, no gRPC status.
    const labels = renderLabels(r, 'tcp', '0', '', flags);
    let leaf: Leaf<TcpSeries> | undefined = this.tcpSeries.get(labels);
    if (leaf === undefined) {
      if (this.seriesCount >= this.maxSeries) leaf = DROPPED;
      else {
        leaf = new TcpSeries(labels);
        this.tcpSeries.set(labels, leaf);
      }
    }
    this.remember(false, r, flags, scalar, leaf);
    return leaf;
  }

  private remember(http: boolean, r: TcpRecord, flags: number, scalar: number, leaf: unknown): void {
    if (this.keyPaths >= this.maxKeyPaths) {
      // The memo holds PeerInfo objects alive; start over rather than grow (series are kept).
      this.httpRoot = new Map();
      this.tcpRoot = new Map();
      this.keyPaths = 0;
    }
    const last = ensurePath(http ? this.httpRoot : this.tcpRoot, [r.source, r.destination, r.service, r.sourcePrincipal, r.destinationPrincipal, flags]);
    last.set(scalar, leaf);
    this.keyPaths++;
  }

  /**
   * Prometheus text exposition (format 0.0.4; serve with `PROMETHEUS_CONTENT_TYPE` from
   * src/shared/metrics.ts). Families with no series are omitted, as Envoy omits stats never used;
   * series keep their creation order, so successive scrapes list them identically. Like Envoy's
   * `/stats/prometheus`, only `# TYPE` lines are written.
   */
  prometheus(): string {
    const out: string[] = [];
    if (this.httpSeries.size > 0) {
      out.push('# TYPE istio_requests_total counter');
      for (const s of this.httpSeries.values()) out.push(`istio_requests_total{${s.labels}} ${s.requests}`);
      this.histogram(out, 'istio_request_duration_milliseconds', 0, (s) => s.durationSum);
      this.histogram(out, 'istio_request_bytes', NB, (s) => s.requestBytesSum);
      this.histogram(out, 'istio_response_bytes', 2 * NB, (s) => s.responseBytesSum);
    }
    if (this.tcpSeries.size > 0) {
      const tcp: Array<[string, (s: TcpSeries) => number]> = [
        ['istio_tcp_sent_bytes_total', (s) => s.sent],
        ['istio_tcp_received_bytes_total', (s) => s.received],
        ['istio_tcp_connections_opened_total', (s) => s.opened],
        ['istio_tcp_connections_closed_total', (s) => s.closed],
      ];
      for (const [name, value] of tcp) {
        out.push(`# TYPE ${name} counter`);
        for (const s of this.tcpSeries.values()) out.push(`${name}{${s.labels}} ${value(s)}`);
      }
    }
    out.push(`# TYPE ${DROPPED_SERIES_METRIC} counter`, `${DROPPED_SERIES_METRIC} ${this.dropped}`);
    return `${out.join('\n')}\n`;
  }

  private histogram(out: string[], name: string, offset: number, sum: (s: HttpSeries) => number): void {
    out.push(`# TYPE ${name} histogram`);
    for (const s of this.httpSeries.values()) {
      let cumulative = 0;
      for (let i = 0; i < NB; i++) {
        cumulative += s.buckets[offset + i]!;
        out.push(`${name}_bucket{${s.labels}${LE_SUFFIX[i]!} ${cumulative}`);
      }
      // Every request is observed in all three histograms, so +Inf and _count are the request count.
      out.push(`${name}_bucket{${s.labels}${LE_SUFFIX[NB]!} ${s.requests}`, `${name}_sum{${s.labels}} ${sum(s)}`, `${name}_count{${s.labels}} ${s.requests}`);
    }
  }
}
