// Cluster (CDS) and ClusterLoadAssignment (EDS) compiled into what the upstream side of the proxy needs.
import { isIP } from 'node:net';
import { compileTransportSocket, type TlsContextConfig } from './tls-context.js';
import { ConfigError, durationMs, isObject, list, num, obj, optObj, str, type Json } from './xds-json.js';

export type ClusterType = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS' | 'ORIGINAL_DST';
export type ClusterLbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV' | 'CLUSTER_PROVIDED';
export type EndpointHealth = 'healthy' | 'unhealthy' | 'degraded' | 'draining';

/** One endpoint of a cluster, ready to become an upstream host. */
export interface EndpointInit {
  address: string;
  port: number;
  /** load_balancing_weight (1 when unset). */
  weight: number;
  priority: number;
  locality: { region?: string; zone?: string; subZone?: string };
  localityWeight: number;
  health: EndpointHealth;
  /** `envoy.transport_socket_match` metadata (Istio's `tlsMode: istio`). */
  metadata: Readonly<Record<string, string>>;
}

export interface TransportSocketMatch {
  name: string;
  match: Readonly<Record<string, string>>;
  tls: TlsContextConfig | undefined;
}

export interface CircuitBreakerThresholds {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

export interface ClusterConfig {
  name: string;
  type: ClusterType;
  /** EDS: the name endpoints are published under (`eds_cluster_config.service_name`, else the cluster name). */
  edsServiceName?: string;
  connectTimeoutMs: number;
  lbPolicy: ClusterLbPolicy;
  ringHash: { minRingSize: number; maxRingSize: number };
  leastRequestChoiceCount: number;
  /** Percent; 0 disables panic mode. */
  healthyPanicThresholdPercent: number;
  localityWeighted: boolean;
  circuitBreakers: CircuitBreakerThresholds;
  /** Upstream HTTP protocol: Istio's explicit_http_config (HTTP/1.1 or HTTP/2), or what the downstream used. */
  upstreamProtocol: 'http1' | 'http2' | 'downstream';
  /** Close idle upstream connections after this long; 0: never (Envoy's default is 1 h). */
  idleTimeoutMs: number;
  /** 0: unlimited. */
  maxRequestsPerConnection: number;
  /** Decoded outlier_detection, for the outlier detector to read (undefined: off). */
  outlierDetection?: Json;
  /** The cluster's transport_socket: TLS, or undefined for plaintext. */
  tls?: TlsContextConfig;
  /**
   * transport_socket_matches in order: the first whose `match` is a subset of an endpoint's
   * `envoy.transport_socket_match` metadata gives that endpoint's TLS (undefined: plaintext);
   * an endpoint no entry matches uses `tls`.
   */
  tlsMatches: readonly TransportSocketMatch[];
  /** STATIC / STRICT_DNS / LOGICAL_DNS: the inline load_assignment. */
  inlineEndpoints?: readonly EndpointInit[];
  /** STRICT_DNS / LOGICAL_DNS re-resolution period. */
  dnsRefreshMs: number;
  /** upstream_bind_config.source_address: upstream connections are made from this address. */
  sourceAddress?: string;
  /** ORIGINAL_DST: a host no connection used for this long is forgotten (cleanup_interval, Envoy's 5 s). */
  cleanupIntervalMs: number;
}

const TYPES: ReadonlySet<string> = new Set(['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST']);
const LB_POLICIES: ReadonlySet<string> = new Set(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV', 'CLUSTER_PROVIDED']);
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const UINT32_MAX = 4294967295;
/** Envoy's defaults for the default-priority thresholds. */
const DEFAULT_BREAKERS: CircuitBreakerThresholds = Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });

function thresholds(v: unknown, path: string): CircuitBreakerThresholds {
  const cb = optObj(v, path);
  // Only the DEFAULT routing priority applies to Istio's traffic.
  const t = list(cb?.thresholds, `${path}.thresholds`).map((x, i) => obj(x, `${path}.thresholds[${i}]`)).find((x) => (x.priority ?? 'DEFAULT') === 'DEFAULT');
  if (!t) return DEFAULT_BREAKERS;
  const read = (field: string, fallback: number) => {
    const n = num(t[field], `${path}.thresholds.${field}`, fallback);
    return n >= UINT32_MAX ? Number.POSITIVE_INFINITY : n;
  };
  return Object.freeze({
    maxConnections: read('max_connections', DEFAULT_BREAKERS.maxConnections),
    maxPendingRequests: read('max_pending_requests', DEFAULT_BREAKERS.maxPendingRequests),
    maxRequests: read('max_requests', DEFAULT_BREAKERS.maxRequests),
    maxRetries: read('max_retries', DEFAULT_BREAKERS.maxRetries),
  });
}

const HEALTH: Readonly<Record<string, EndpointHealth>> = { UNKNOWN: 'healthy', HEALTHY: 'healthy', UNHEALTHY: 'unhealthy', DRAINING: 'draining', TIMEOUT: 'unhealthy', DEGRADED: 'degraded' };

/** The endpoints of a decoded ClusterLoadAssignment (EDS, or a cluster's inline load_assignment). */
export function compileLoadAssignment(v: unknown, path = 'cluster_load_assignment'): EndpointInit[] {
  const cla = obj(v, path);
  const out: EndpointInit[] = [];
  list(cla.endpoints, `${path}.endpoints`).forEach((raw, i) => {
    const lp = `${path}.endpoints[${i}]`;
    const le = obj(raw, lp);
    const loc = optObj(le.locality, `${lp}.locality`);
    const locality = {
      ...(loc?.region ? { region: str(loc.region, `${lp}.locality.region`) } : {}),
      ...(loc?.zone ? { zone: str(loc.zone, `${lp}.locality.zone`) } : {}),
      ...(loc?.sub_zone ? { subZone: str(loc.sub_zone, `${lp}.locality.sub_zone`) } : {}),
    };
    const priority = num(le.priority, `${lp}.priority`, 0);
    const localityWeight = num(le.load_balancing_weight, `${lp}.load_balancing_weight`, 1);
    list(le.lb_endpoints, `${lp}.lb_endpoints`).forEach((rawEp, j) => {
      const ep = `${lp}.lb_endpoints[${j}]`;
      const e = obj(rawEp, ep);
      const sa = obj(obj(obj(e.endpoint, `${ep}.endpoint`).address, `${ep}.endpoint.address`).socket_address, `${ep}.endpoint.address.socket_address`);
      const port = num(sa.port_value, `${ep}.endpoint.address.socket_address.port_value`);
      if (port < 1 || port > 65535) throw new ConfigError(`${ep}.endpoint.address.socket_address.port_value`, 'must be a port in 1..65535');
      const health = HEALTH[str(e.health_status, `${ep}.health_status`, 'UNKNOWN')];
      if (!health) throw new ConfigError(`${ep}.health_status`, 'unknown health status');
      const weight = num(e.load_balancing_weight, `${ep}.load_balancing_weight`, 1);
      if (weight < 1) throw new ConfigError(`${ep}.load_balancing_weight`, 'must be at least 1');
      const md = (e.metadata as Json | undefined)?.filter_metadata as Json | undefined;
      const tsm = md?.['envoy.transport_socket_match'];
      const metadata: Record<string, string> = {};
      if (isObject(tsm)) for (const [k, val] of Object.entries(tsm)) if (typeof val === 'string') metadata[k] = val;
      out.push(
        Object.freeze({
          address: str(sa.address, `${ep}.endpoint.address.socket_address.address`),
          port,
          weight,
          priority,
          locality: Object.freeze(locality),
          localityWeight,
          health,
          metadata: Object.freeze(metadata),
        }),
      );
    });
  });
  return out;
}

function transportSocketMatch(v: unknown, path: string): TransportSocketMatch {
  const m = obj(v, path);
  const match: Record<string, string> = {};
  for (const [k, val] of Object.entries(optObj(m.match, `${path}.match`) ?? {})) {
    if (typeof val !== 'string') throw new ConfigError(`${path}.match.${k}`, 'only string values are matched');
    match[k] = val;
  }
  const tls = m.transport_socket === undefined ? undefined : compileTransportSocket(m.transport_socket, `${path}.transport_socket`, 'upstream');
  return Object.freeze({ name: str(m.name, `${path}.name`, ''), match: Object.freeze(match), tls });
}

/** The TLS an endpoint with this `envoy.transport_socket_match` metadata is reached with (undefined: plaintext), as Envoy picks it. */
export function endpointTls(cluster: ClusterConfig, metadata: Readonly<Record<string, string>>): TlsContextConfig | undefined {
  for (const m of cluster.tlsMatches) {
    let all = true;
    for (const k in m.match) {
      if (metadata[k] !== m.match[k]) {
        all = false;
        break;
      }
    }
    if (all) return m.tls;
  }
  return cluster.tls;
}

/**
 * Compiles a decoded Cluster. Throws ConfigError (with the field path) for what this proxy cannot
 * honour, so the update is NACKed and the previous clusters stay.
 */
export function compileCluster(v: unknown): ClusterConfig {
  const c = obj(v, 'cluster');
  const name = str(c.name, 'name');
  const type = str(c.type, 'type', 'STATIC');
  if (!TYPES.has(type)) throw new ConfigError('type', `cluster type ${type} is not supported`);
  const lbPolicy = str(c.lb_policy, 'lb_policy', 'ROUND_ROBIN');
  if (!LB_POLICIES.has(lbPolicy)) throw new ConfigError('lb_policy', `load balancing policy ${lbPolicy} is not supported`);
  if ((type === 'ORIGINAL_DST') !== (lbPolicy === 'CLUSTER_PROVIDED')) throw new ConfigError('lb_policy', 'ORIGINAL_DST clusters need CLUSTER_PROVIDED, and only they');
  const ring = optObj(c.ring_hash_lb_config, 'ring_hash_lb_config');
  const lr = optObj(c.least_request_lb_config, 'least_request_lb_config');
  const common = optObj(c.common_lb_config, 'common_lb_config');
  // Envoy: healthy_panic_threshold unset → 50 %; set but empty (Istio's `{}`) → 0 %, panic mode off.
  const panic = common?.healthy_panic_threshold === undefined ? 50 : num(obj(common.healthy_panic_threshold, 'common_lb_config.healthy_panic_threshold').value, 'common_lb_config.healthy_panic_threshold.value', 0);
  const options = optObj((c.typed_extension_protocol_options as Json | undefined)?.[HTTP_OPTIONS], `typed_extension_protocol_options["${HTTP_OPTIONS}"]`);
  const commonHttp = optObj(options?.common_http_protocol_options, 'typed_extension_protocol_options.common_http_protocol_options');
  const explicit = optObj(options?.explicit_http_config, 'typed_extension_protocol_options.explicit_http_config');
  const upstreamProtocol = explicit?.http2_protocol_options !== undefined ? 'http2' : explicit?.http_protocol_options !== undefined ? 'http1' : options?.use_downstream_protocol_config !== undefined ? 'downstream' : 'http1';
  const out: ClusterConfig = {
    name,
    type: type as ClusterType,
    connectTimeoutMs: durationMs(c.connect_timeout, 'connect_timeout') ?? 5000,
    lbPolicy: lbPolicy as ClusterLbPolicy,
    ringHash: { minRingSize: num(ring?.minimum_ring_size, 'ring_hash_lb_config.minimum_ring_size', 1024), maxRingSize: num(ring?.maximum_ring_size, 'ring_hash_lb_config.maximum_ring_size', 8 * 1024 * 1024) },
    leastRequestChoiceCount: num(lr?.choice_count, 'least_request_lb_config.choice_count', 2),
    healthyPanicThresholdPercent: panic,
    localityWeighted: common?.locality_weighted_lb_config !== undefined,
    circuitBreakers: thresholds(c.circuit_breakers, 'circuit_breakers'),
    upstreamProtocol,
    idleTimeoutMs: durationMs(commonHttp?.idle_timeout, 'common_http_protocol_options.idle_timeout') ?? 3_600_000,
    maxRequestsPerConnection: num(commonHttp?.max_requests_per_connection, 'common_http_protocol_options.max_requests_per_connection', 0),
    tlsMatches: list(c.transport_socket_matches, 'transport_socket_matches').map((m, i) => transportSocketMatch(m, `transport_socket_matches[${i}]`)),
    dnsRefreshMs: durationMs(c.dns_refresh_rate, 'dns_refresh_rate') ?? 5000,
    cleanupIntervalMs: durationMs(c.cleanup_interval, 'cleanup_interval') ?? 5000,
  };
  const bind = optObj(c.upstream_bind_config, 'upstream_bind_config');
  if (bind) {
    const source = obj(obj(bind.source_address, 'upstream_bind_config.source_address'), 'upstream_bind_config.source_address');
    const address = str(source.address, 'upstream_bind_config.source_address.address');
    if (isIP(address) === 0) throw new ConfigError('upstream_bind_config.source_address.address', `${address} is not an IP address`);
    out.sourceAddress = address;
  }
  if (out.cleanupIntervalMs <= 0) throw new ConfigError('cleanup_interval', 'must be positive');
  // What the balancers would refuse, refused here so the update is NACKed (Envoy's limits).
  if (out.ringHash.maxRingSize > 8 * 1024 * 1024) throw new ConfigError('ring_hash_lb_config.maximum_ring_size', 'must be at most 8388608');
  if (out.ringHash.minRingSize > out.ringHash.maxRingSize) throw new ConfigError('ring_hash_lb_config.minimum_ring_size', 'must not exceed maximum_ring_size');
  if (out.leastRequestChoiceCount < 2) throw new ConfigError('least_request_lb_config.choice_count', 'must be at least 2');
  if (out.healthyPanicThresholdPercent < 0 || out.healthyPanicThresholdPercent > 100) throw new ConfigError('common_lb_config.healthy_panic_threshold', 'must be a percentage');
  if (type === 'EDS') {
    const eds = optObj(c.eds_cluster_config, 'eds_cluster_config');
    out.edsServiceName = eds?.service_name !== undefined ? str(eds.service_name, 'eds_cluster_config.service_name') : name;
  } else if (type !== 'ORIGINAL_DST') {
    out.inlineEndpoints = c.load_assignment === undefined ? [] : compileLoadAssignment(c.load_assignment, 'load_assignment');
  }
  if (c.outlier_detection !== undefined) out.outlierDetection = obj(c.outlier_detection, 'outlier_detection');
  if (c.transport_socket !== undefined) {
    const tls = compileTransportSocket(c.transport_socket, 'transport_socket', 'upstream');
    if (tls) out.tls = tls;
  }
  return Object.freeze(out);
}
