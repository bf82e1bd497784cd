// DestinationRule traffic policy → cluster settings: component selection (port-level, subset), connection pool, outlier detection, load balancer.
import type { DestinationRuleSpec } from '../../api/kinds/destination-rule.js';
import type { MeshConfig } from '../../model/mesh-config.js';
import { any, durationFrom, durationMs, durationSeconds, Filters, MAX_UINT32, uint32, type Msg } from './envoy-values.js';

export type TrafficPolicy = NonNullable<DestinationRuleSpec['trafficPolicy']>;
export type ConnectionPool = NonNullable<TrafficPolicy['connectionPool']>;
export type OutlierDetection = NonNullable<TrafficPolicy['outlierDetection']>;
export type LoadBalancer = NonNullable<TrafficPolicy['loadBalancer']>;
export type ClientTls = NonNullable<TrafficPolicy['tls']>;
export type ConsistentHash = NonNullable<LoadBalancer['consistentHash']>;

/** The four components of a traffic policy that apply to one cluster. */
export interface PolicyComponents {
  connectionPool?: ConnectionPool;
  outlierDetection?: OutlierDetection;
  loadBalancer?: LoadBalancer;
  tls?: ClientTls;
}

/**
 * Istio's SelectTrafficPolicyComponents: the policy's components, unless a portLevelSettings entry
 * names `port` — then all four come from that entry, and the ones it omits are unset (they do not
 * fall back to the policy-level values).
 */
export function selectComponents(policy: TrafficPolicy | undefined, port: number): PolicyComponents {
  if (!policy) return {};
  const pls = policy.portLevelSettings?.find((p) => p.port?.number === port);
  const src = pls ?? policy;
  return { connectionPool: src.connectionPool, outlierDetection: src.outlierDetection, loadBalancer: src.loadBalancer, tls: src.tls };
}

/**
 * The components in force for `outbound|port|subset|host`: the rule's (port-selected) components,
 * with each component the subset's policy sets replacing the rule-level one (feature inventory
 * §2.2; Istio cluster_builder.go applies the subset policy on top of the rule policy).
 */
export function effectiveComponents(rule: DestinationRuleSpec | undefined, port: number, subset = ''): PolicyComponents {
  const top = selectComponents(rule?.trafficPolicy, port);
  if (subset === '') return top;
  const sub = selectComponents(rule?.subsets?.find((s) => s.name === subset)?.trafficPolicy, port);
  return {
    connectionPool: sub.connectionPool ?? top.connectionPool,
    outlierDetection: sub.outlierDetection ?? top.outlierDetection,
    loadBalancer: sub.loadBalancer ?? top.loadBalancer,
    tls: sub.tls ?? top.tls,
  };
}

/** Labels of a DestinationRule subset; undefined when the rule has no such subset. */
export function subsetLabels(rule: DestinationRuleSpec | undefined, subset: string): Record<string, string> | undefined {
  const s = rule?.subsets?.find((x) => x.name === subset);
  return s ? (s.labels ?? {}) : undefined;
}

/**
 * Circuit-breaker thresholds: every limit defaults to 2^32−1 (Istio disables Envoy's small
 * defaults, whose max_retries of 3 caused 503s during rollouts); positive DestinationRule values
 * replace them. `http2MaxRequests` becomes max_requests, `http1MaxPendingRequests`
 * max_pending_requests.
 */
export function circuitBreakers(pool: ConnectionPool | undefined): Msg {
  const pick = (v: number | undefined) => uint32(v !== undefined && v > 0 ? v : MAX_UINT32);
  return {
    thresholds: [
      {
        maxConnections: pick(pool?.tcp?.maxConnections),
        maxPendingRequests: pick(pool?.http?.http1MaxPendingRequests),
        maxRequests: pick(pool?.http?.http2MaxRequests),
        maxRetries: pick(pool?.http?.maxRetries),
      },
    ],
  };
}

/** Connect timeout: the rule's `tcp.connectTimeout`, else the mesh's. */
export function connectTimeout(pool: ConnectionPool | undefined, mesh: MeshConfig): Msg {
  return durationFrom(pool?.tcp?.connectTimeout) ?? durationMs(mesh.connectTimeoutMs);
}

/** TCP keepalive from `tcp.tcpKeepalive` (seconds precision, as Istio); undefined when unset. */
export function upstreamConnectionOptions(pool: ConnectionPool | undefined): Msg | undefined {
  const ka = pool?.tcp?.tcpKeepalive;
  if (!ka) return undefined;
  const tcpKeepalive: Msg = {};
  if (ka.probes !== undefined && ka.probes > 0) tcpKeepalive.keepaliveProbes = uint32(ka.probes);
  const time = durationSeconds(ka.time);
  if (time !== undefined) tcpKeepalive.keepaliveTime = uint32(time);
  const interval = durationSeconds(ka.interval);
  if (interval !== undefined) tcpKeepalive.keepaliveInterval = uint32(interval);
  return { tcpKeepalive };
}

/** Envoy's default of 100 concurrent streams is too low for a data path (Istio's value). */
const H2_MAX_CONCURRENT_STREAMS = 1073741824;

/**
 * Whether an outbound HTTP cluster is upgraded to HTTP/2 by `h2UpgradePolicy`. The mesh default
 * is DO_NOT_UPGRADE (Istio 1.6), so only an explicit UPGRADE upgrades.
 */
export function shouldUpgradeH2(pool: ConnectionPool | undefined): boolean {
  return pool?.http?.h2UpgradePolicy === 'UPGRADE';
}

/**
 * `typed_extension_protocol_options` for HTTP upstreams (the v3 home of the deprecated
 * http2_protocol_options / common_http_protocol_options cluster fields): the codec (HTTP/2 when
 * `http2`), idle timeout (rule, else mesh default) and max requests per connection. Undefined for
 * non-HTTP clusters the rule sets nothing on.
 */
export function httpProtocolOptions(pool: ConnectionPool | undefined, opts: { http: boolean; http2: boolean; mesh: MeshConfig }): Msg | undefined {
  const idle = durationFrom(pool?.http?.idleTimeout);
  const perConn = pool?.http?.maxRequestsPerConnection;
  if (!opts.http && !opts.http2 && idle === undefined && !(perConn !== undefined && perConn > 0)) return undefined;
  const common: Msg = { idleTimeout: idle ?? durationMs(opts.mesh.defaultIdleTimeoutMs) };
  if (perConn !== undefined && perConn > 0) common.maxRequestsPerConnection = uint32(perConn);
  const explicitHttpConfig = opts.http2 ? { http2ProtocolOptions: { maxConcurrentStreams: uint32(H2_MAX_CONCURRENT_STREAMS) } } : { httpProtocolOptions: {} };
  return { [Filters.httpProtocolOptions.name]: any(Filters.httpProtocolOptions.type, { commonHttpProtocolOptions: common, explicitHttpConfig }) };
}

/**
 * Outlier detection as Istio 1.6 maps it: success-rate ejection off; the deprecated
 * `consecutiveErrors` counts gateway errors (502/503/504) only; `consecutive5xxErrors` and
 * `consecutiveGatewayErrors` set their counter and enforce at 100% when positive (0 disables);
 * `minHealthPercent` becomes the healthy panic threshold (0 by default: panic mode off).
 */
export function outlierDetection(od: OutlierDetection): { outlierDetection: Msg; healthyPanicThreshold: Msg } {
  const out: Msg = { enforcingSuccessRate: uint32(0) };
  const base = durationFrom(od.baseEjectionTime);
  if (base) out.baseEjectionTime = base;
  if (od.consecutiveErrors !== undefined && od.consecutiveErrors > 0) {
    out.enforcingConsecutiveGatewayFailure = uint32(100);
    out.enforcingConsecutive_5xx = uint32(0);
    out.consecutiveGatewayFailure = uint32(od.consecutiveErrors);
  }
  if (od.consecutive5xxErrors !== undefined) {
    out.consecutive_5xx = uint32(od.consecutive5xxErrors);
    out.enforcingConsecutive_5xx = uint32(od.consecutive5xxErrors > 0 ? 100 : 0);
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutiveGatewayFailure = uint32(od.consecutiveGatewayErrors);
    out.enforcingConsecutiveGatewayFailure = uint32(od.consecutiveGatewayErrors > 0 ? 100 : 0);
  }
  const interval = durationFrom(od.interval);
  if (interval) out.interval = interval;
  if (od.maxEjectionPercent !== undefined && od.maxEjectionPercent > 0) out.maxEjectionPercent = uint32(od.maxEjectionPercent);
  return { outlierDetection: out, healthyPanicThreshold: { value: Math.max(0, od.minHealthPercent ?? 0) } };
}

/** Envoy's default ring size, which Istio uses when minimumRingSize is 0 or unset. */
const DEFAULT_MIN_RING_SIZE = 1024;

/**
 * The load-balancing fields for a cluster of `type`: ORIGINAL_DST clusters must use
 * CLUSTER_PROVIDED; `simple` maps LEAST_CONN→LEAST_REQUEST, RANDOM, ROUND_ROBIN, and PASSTHROUGH
 * turns the cluster into ORIGINAL_DST; consistentHash selects RING_HASH (the hash key itself is a
 * route hash policy).
 */
export function loadBalancing(lb: LoadBalancer | undefined, type: string): { lbPolicy: string; type: string; ringHashLbConfig?: Msg } {
  if (type === 'ORIGINAL_DST' || lb?.simple === 'PASSTHROUGH') return { lbPolicy: 'CLUSTER_PROVIDED', type: 'ORIGINAL_DST' };
  if (lb?.consistentHash) {
    const min = lb.consistentHash.minimumRingSize;
    return { lbPolicy: 'RING_HASH', type, ringHashLbConfig: { minimumRingSize: { value: min !== undefined && min > 0 ? min : DEFAULT_MIN_RING_SIZE } } };
  }
  const lbPolicy = lb?.simple === 'LEAST_CONN' ? 'LEAST_REQUEST' : lb?.simple === 'RANDOM' ? 'RANDOM' : 'ROUND_ROBIN';
  return { lbPolicy, type };
}
