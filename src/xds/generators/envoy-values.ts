// Small builders for Envoy v3 values in protobufjs object form (durations, wrappers, Struct, Any, addresses) and the well-known names.
import { isIP } from 'node:net';
import { parseDuration } from '../../api/common.js';

/** A message in protobufjs object form. */
export type Msg = Record<string, unknown>;

/** `google.protobuf.Duration` from milliseconds (non-negative; fractions below 1 ns are dropped). */
export function durationMs(ms: number): Msg {
  const totalNanos = Math.round(Math.max(0, ms) * 1e6);
  const seconds = Math.floor(totalNanos / 1e9);
  return { seconds, nanos: totalNanos - seconds * 1e9 };
}

/** Duration from an Istio (Go) duration string; undefined when absent or unparsable. */
export function durationFrom(s: string | undefined): Msg | undefined {
  if (s === undefined) return undefined;
  const ms = parseDuration(s);
  return ms === undefined ? undefined : durationMs(ms);
}

/** Milliseconds of an Istio duration string, undefined when absent or unparsable. */
export function durationStringMs(s: string | undefined): number | undefined {
  return s === undefined ? undefined : parseDuration(s);
}

/** Whole seconds of an Istio duration string (Istio truncates keepalive and CORS maxAge to seconds). */
export function durationSeconds(s: string | undefined): number | undefined {
  const ms = durationStringMs(s);
  return ms === undefined ? undefined : Math.floor(ms / 1000);
}

export const ZERO_DURATION: Readonly<Msg> = Object.freeze({ seconds: 0, nanos: 0 });

export const uint32 = (value: number): Msg => ({ value });
export const boolValue = (value: boolean): Msg => ({ value });

/** `google.protobuf.Any`: the type URL plus the message's own fields. */
export function any(typeName: string, fields: Msg = {}): Msg {
  return { '@type': `type.googleapis.com/${typeName}`, ...fields };
}

/** `google.protobuf.Value` from plain JSON. */
function value(v: unknown): Msg {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
  return { structValue: struct(v as Record<string, unknown>) };
}

/** `google.protobuf.Struct` from a plain JSON object (protobufjs has no JSON mapping for Struct). */
export function struct(obj: Record<string, unknown>): Msg {
  const fields: Msg = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = value(v);
  return { fields };
}

/** Reads a string field back out of a Struct built by `struct` (used by the simulator and tests). */
export function structString(s: unknown, key: string): string | undefined {
  const f = (s as { fields?: Record<string, { stringValue?: unknown }> } | undefined)?.fields?.[key];
  return typeof f?.stringValue === 'string' ? f.stringValue : undefined;
}

/** Istio's config-origin metadata (`/apis/networking.istio.io/v1alpha3/namespaces/NS/destination-rule/NAME`), shown by proxy-config. */
export function configMetadata(kind: 'destination-rule' | 'virtual-service', namespace: string, name: string, extra: Record<string, string> = {}): Msg {
  return { filterMetadata: { istio: struct({ config: `/apis/networking.istio.io/v1alpha3/namespaces/${namespace}/${kind}/${name}`, ...extra }) } };
}

/** `ConfigSource` pointing at the ADS stream the proxy already has, for xDS v3 resources. */
export function adsConfigSource(): Msg {
  return { ads: {}, resourceApiVersion: 'V3' };
}

/** `SdsSecretConfig` for a secret fetched over ADS (a gateway's `kubernetes://` credential, which the control plane serves). */
export function sdsSecret(name: string): Msg {
  return { name, sdsConfig: adsConfigSource() };
}

/** The cluster of the workload's own SDS server (Istio's agent in the pod; Meltemi's proxy answers it in-process). */
export const SDS_CLUSTER = 'sds-grpc';

/**
 * `SdsSecretConfig` for the workload's certificate (`default`) or trust bundle (`ROOTCA`): fetched
 * from the local agent, never from the control plane, which must not hold workload keys; no fetch
 * timeout, so a listener or cluster waits for its certificate instead of coming up without one.
 */
export function workloadSecret(name: string): Msg {
  return {
    name,
    sdsConfig: {
      apiConfigSource: { apiType: 'GRPC', transportApiVersion: 'V3', setNodeOnFirstMessageOnly: true, grpcServices: [{ envoyGrpc: { clusterName: SDS_CLUSTER } }] },
      initialFetchTimeout: durationMs(0),
      resourceApiVersion: 'V3',
    },
  };
}

export const UNIX_PREFIX = 'unix://';

/** `core.v3.Address` for an IP or DNS name and port, or a unix socket (`unix:///path`). */
export function address(host: string, port: number): Msg {
  if (host.startsWith(UNIX_PREFIX)) return { pipe: { path: host.slice(UNIX_PREFIX.length) } };
  return { socketAddress: { address: host, portValue: port } };
}

/** `core.v3.CidrRange` from `10.0.0.0/8` or a bare IP (then a host route); undefined when neither. */
export function cidrRange(s: string): Msg | undefined {
  const slash = s.indexOf('/');
  const ip = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(ip);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  const len = slash < 0 ? max : Number(s.slice(slash + 1));
  if (!Number.isInteger(len) || len < 0 || len > max) return undefined;
  return { addressPrefix: ip, prefixLen: uint32(len) };
}

/** Whether `s` is a single IP address (not a CIDR block, not a name). */
export function isIpAddress(s: string): boolean {
  return isIP(s) !== 0;
}

/** Largest uint32: Istio's "no circuit breaking" default for every threshold. */
export const MAX_UINT32 = 4294967295;

/** Filter and extension names, with their typed-config message types. */
export const Filters = {
  httpConnectionManager: { name: 'envoy.filters.network.http_connection_manager', type: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager' },
  tcpProxy: { name: 'envoy.filters.network.tcp_proxy', type: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy' },
  router: { name: 'envoy.filters.http.router', type: 'envoy.extensions.filters.http.router.v3.Router' },
  fault: { name: 'envoy.filters.http.fault', type: 'envoy.extensions.filters.http.fault.v3.HTTPFault' },
  cors: { name: 'envoy.filters.http.cors', type: 'envoy.extensions.filters.http.cors.v3.Cors' },
  /** Per-route config of the CORS filter (replaces the deprecated RouteAction.cors). */
  corsPolicy: { name: 'envoy.filters.http.cors', type: 'envoy.extensions.filters.http.cors.v3.CorsPolicy' },
  tlsInspector: { name: 'envoy.filters.listener.tls_inspector', type: 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
  originalDst: { name: 'envoy.filters.listener.original_dst', type: 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst' },
  tlsSocket: { name: 'envoy.transport_sockets.tls', upstream: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', downstream: 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext' },
  rawBufferSocket: { name: 'envoy.transport_sockets.raw_buffer', type: 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' },
  httpProtocolOptions: { name: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions', type: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions' },
  previousHosts: { name: 'envoy.retry_host_predicates.previous_hosts', type: 'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' },
  previousPriorities: { name: 'envoy.retry_priorities.previous_priorities', type: 'envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig' },
} as const;

/** A network or listener filter with its typed config. */
export function typedFilter(f: { name: string; type: string }, fields: Msg = {}): Msg {
  return { name: f.name, typedConfig: any(f.type, fields) };
}
