// Listener (LDS) compiled: filter chains with their match criteria, and the network filter each runs (HTTP connection manager or TCP proxy).
import { isIPv4, isIPv6 } from 'node:net';
import { compileRouteConfiguration, type RouteTable } from './route-table.js';
import { compileHttpFilters } from '../filters/index.js';
import { RBAC_NETWORK_TYPES, compileNetworkRbac, type NetworkRbac } from '../filters/rbac.js';
import type { HttpDecoderFilter } from '../http/http-filters.js';
import type { EscapedSlashesAction, PathNormalization } from '../http/path-normalization.js';
import { compileTransportSocket, type TlsContextConfig } from './tls-context.js';
import { ConfigError, bool, durationMs, isObject, list, num, obj, optObj, str, type Json } from './xds-json.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
/** The TLS inspector by its name (and the name before v3), or by its typed_config type. */
const TLS_INSPECTOR_NAMES: ReadonlySet<string> = new Set(['envoy.filters.listener.tls_inspector', 'envoy.listener.tls_inspector']);
const TLS_INSPECTOR_TYPE = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';
const ORIGINAL_DST_TYPE = 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst';
/** Envoy's listener_filters_timeout default. */
const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;
/** Network filters that only observe (Istio adds them); everything else unknown is refused. */
const PASSIVE_NETWORK_FILTERS: ReadonlySet<string> = new Set(['istio.metadata_exchange', 'envoy.filters.network.metadata_exchange', 'istio.stats', 'envoy.filters.network.wasm']);

export interface HttpConnectionManagerConfig {
  kind: 'http';
  statPrefix: string;
  /** RDS name, or an inline table. */
  rdsName?: string;
  routes?: RouteTable;
  /** http_filters names in order (the router last). */
  httpFilters: readonly string[];
  /** Trust the peer address as the client (edge); else append to x-forwarded-for. */
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  /** 0: none. Envoy's default is 5 min; Istio sets 0 on sidecars. */
  streamIdleTimeoutMs: number;
  /** Whole-request receive timeout; 0: none. */
  requestTimeoutMs: number;
  /** The http_filters that may end a request before routing (JWT, authn, RBAC), compiled, in order. */
  decoderFilters: readonly HttpDecoderFilter[];
  /** normalize_path, merge_slashes and path_with_escaped_slashes_action. */
  pathNormalization: PathNormalization;
  /** common_http_protocol_options.headers_with_underscores_action (Envoy's default ALLOW). */
  underscoreHeaders: 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';
  websocket: boolean;
  /**
   * http_protocol_options.allow_absolute_url (Envoy's default true): an HTTP/1.1 request may name
   * its target as `http://host:port/path`, as clients do to a forward proxy (HTTP_PROXY); routing
   * then uses that authority. false: such a request gets 404, as Envoy answers a non-relative path.
   */
  allowAbsoluteUrl: boolean;
  serverName: string;
  /** x-forwarded-client-cert handling (Envoy's forward_client_cert_details; default SANITIZE). */
  forwardClientCert: ForwardClientCert;
  /** What SANITIZE_SET and APPEND_FORWARD put in for the current client (set_current_client_cert_details). */
  clientCertDetails: ClientCertDetails;
}

export type ForwardClientCert = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';

export interface ClientCertDetails {
  subject: boolean;
  cert: boolean;
  chain: boolean;
  dns: boolean;
  uri: boolean;
}

const FORWARD_CLIENT_CERT: ReadonlySet<string> = new Set(['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY']);

const UNDERSCORE_ACTIONS: ReadonlySet<string> = new Set(['ALLOW', 'REJECT_REQUEST', 'DROP_HEADER']);

function underscoreHeaders(h: Json, path: string): HttpConnectionManagerConfig['underscoreHeaders'] {
  const p = `${path}.common_http_protocol_options`;
  const action = str(optObj(h.common_http_protocol_options, p)?.headers_with_underscores_action, `${p}.headers_with_underscores_action`, 'ALLOW');
  if (!UNDERSCORE_ACTIONS.has(action)) throw new ConfigError(`${p}.headers_with_underscores_action`, 'must be ALLOW, REJECT_REQUEST or DROP_HEADER');
  return action as HttpConnectionManagerConfig['underscoreHeaders'];
}

const ESCAPED_SLASHES: ReadonlySet<string> = new Set(['KEEP_UNCHANGED', 'REJECT_REQUEST', 'UNESCAPE_AND_REDIRECT', 'UNESCAPE_AND_FORWARD']);

function pathNormalization(h: Json, path: string): PathNormalization {
  const np = h.normalize_path;
  const normalize = isObject(np) ? bool(np.value, `${path}.normalize_path.value`, false) : bool(np, `${path}.normalize_path`, false);
  let escaped = str(h.path_with_escaped_slashes_action, `${path}.path_with_escaped_slashes_action`, 'IMPLEMENTATION_SPECIFIC_DEFAULT');
  // Envoy's default keeps escaped slashes as they are.
  if (escaped === 'IMPLEMENTATION_SPECIFIC_DEFAULT') escaped = 'KEEP_UNCHANGED';
  if (!ESCAPED_SLASHES.has(escaped)) throw new ConfigError(`${path}.path_with_escaped_slashes_action`, 'unknown action');
  return Object.freeze({ normalize, mergeSlashes: bool(h.merge_slashes, `${path}.merge_slashes`, false), escapedSlashes: escaped as EscapedSlashesAction });
}

function allowAbsoluteUrl(h: Json, path: string): boolean {
  const p = `${path}.http_protocol_options`;
  const v = optObj(h.http_protocol_options, p)?.allow_absolute_url;
  // A BoolValue: `{ value }` in JSON form, a plain boolean once decoded from the wire.
  return isObject(v) ? bool(v.value, `${p}.allow_absolute_url.value`, false) : bool(v, `${p}.allow_absolute_url`, true);
}

function clientCertDetails(v: unknown, path: string): ClientCertDetails {
  const d = optObj(v, path) ?? {};
  // subject is a BoolValue; the others plain bools.
  const subject = isObject(d.subject) ? bool(d.subject.value, `${path}.subject.value`, false) : bool(d.subject, `${path}.subject`, false);
  return Object.freeze({ subject, cert: bool(d.cert, `${path}.cert`, false), chain: bool(d.chain, `${path}.chain`, false), dns: bool(d.dns, `${path}.dns`, false), uri: bool(d.uri, `${path}.uri`, false) });
}

export interface TcpProxyConfig {
  kind: 'tcp';
  statPrefix: string;
  clusters: readonly { name: string; weight: number }[];
  /** Sum of the cluster weights (> 0). */
  totalWeight: number;
  /** Envoy's default is 1 h; 0: none. */
  idleTimeoutMs: number;
}

export interface FilterChainMatch {
  destinationPort?: number;
  prefixRanges: readonly { address: string; prefixLen: number }[];
  serverNames: readonly string[];
  transportProtocol?: string;
  applicationProtocols: readonly string[];
}

export interface FilterChainConfig {
  name: string;
  match: FilterChainMatch;
  network: HttpConnectionManagerConfig | TcpProxyConfig;
  /** The chain's downstream TLS; undefined: plaintext. */
  tls?: TlsContextConfig;
  /** envoy.filters.network.rbac before the terminal filter, in order: each decides once per connection. */
  rbac: readonly NetworkRbac[];
}

export interface ListenerConfig {
  name: string;
  address: string;
  port: number;
  /** false: reached only through a virtual listener's original-destination hand-off (Istio's per-port outbound listeners). */
  bindToPort: boolean;
  /** use_original_dst: a captured connection is handed to the listener bound to its original destination (virtualOutbound). */
  useOriginalDst: boolean;
  /** The original_dst listener filter: a captured connection's chain is chosen on its original destination (virtualInbound). */
  originalDstFilter: boolean;
  direction: 'INBOUND' | 'OUTBOUND' | 'UNSPECIFIED';
  filterChains: readonly FilterChainConfig[];
  defaultFilterChain?: FilterChainConfig;
  /** Route configuration names this listener needs from RDS. */
  rdsNames: readonly string[];
  /** The TLS inspector listener filter is configured: a connection's ClientHello is read before its chain is chosen. */
  tlsInspector: boolean;
  /** How long listener filters may wait for bytes (listener_filters_timeout); 0: no limit. */
  listenerFiltersTimeoutMs: number;
  /** On that timeout, continue with what is known (raw_buffer, no SNI) instead of closing the connection. */
  continueOnListenerFiltersTimeout: boolean;
}

/** What filter chain matching knows about a new connection. */
export interface ConnectionFacts {
  destinationIp: string;
  destinationPort: number;
  /** SNI, when TLS was sniffed. */
  serverName?: string;
  transportProtocol: 'raw_buffer' | 'tls';
  applicationProtocols: readonly string[];
}

function networkFilter(v: unknown, path: string): HttpConnectionManagerConfig | TcpProxyConfig | NetworkRbac | undefined {
  const f = obj(v, path);
  const name = str(f.name, `${path}.name`);
  const tc = optObj(f.typed_config, `${path}.typed_config`);
  const type = tc?.['@type'];
  if (type === HCM) return httpConnectionManager(tc!, `${path}.typed_config`);
  if (type === TCP_PROXY) return tcpProxy(tc!, `${path}.typed_config`);
  if (typeof type === 'string' && RBAC_NETWORK_TYPES.has(type)) return compileNetworkRbac(tc, `${path}.typed_config`);
  if (PASSIVE_NETWORK_FILTERS.has(name)) return undefined;
  throw new ConfigError(path, `network filter ${name} is not supported`);
}

function httpConnectionManager(h: Json, path: string): HttpConnectionManagerConfig {
  const out: HttpConnectionManagerConfig = {
    kind: 'http',
    statPrefix: str(h.stat_prefix, `${path}.stat_prefix`, ''),
    httpFilters: list(h.http_filters, `${path}.http_filters`).map((x, i) => str(obj(x, `${path}.http_filters[${i}]`).name, `${path}.http_filters[${i}].name`)),
    useRemoteAddress: bool(h.use_remote_address, `${path}.use_remote_address`, false),
    xffNumTrustedHops: num(h.xff_num_trusted_hops, `${path}.xff_num_trusted_hops`, 0),
    streamIdleTimeoutMs: durationMs(h.stream_idle_timeout, `${path}.stream_idle_timeout`) ?? 300_000,
    requestTimeoutMs: durationMs(h.request_timeout, `${path}.request_timeout`) ?? 0,
    decoderFilters: compileHttpFilters(list(h.http_filters, `${path}.http_filters`), `${path}.http_filters`),
    pathNormalization: pathNormalization(h, path),
    underscoreHeaders: underscoreHeaders(h, path),
    websocket: list(h.upgrade_configs, `${path}.upgrade_configs`).some((u) => isObject(u) && String(u.upgrade_type).toLowerCase() === 'websocket' && u.enabled !== false),
    allowAbsoluteUrl: allowAbsoluteUrl(h, path),
    serverName: str(h.server_name, `${path}.server_name`, 'envoy'),
    forwardClientCert: str(h.forward_client_cert_details, `${path}.forward_client_cert_details`, 'SANITIZE') as ForwardClientCert,
    clientCertDetails: clientCertDetails(h.set_current_client_cert_details, `${path}.set_current_client_cert_details`),
  };
  if (!FORWARD_CLIENT_CERT.has(out.forwardClientCert)) throw new ConfigError(`${path}.forward_client_cert_details`, 'unknown mode');
  if (h.rds !== undefined) out.rdsName = str(obj(h.rds, `${path}.rds`).route_config_name, `${path}.rds.route_config_name`);
  else if (h.route_config !== undefined) {
    try {
      out.routes = compileRouteConfiguration(h.route_config);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`${path}.route_config.${e.path}`, e.reason);
      throw e;
    }
  } else throw new ConfigError(path, 'needs rds or route_config');
  const filters = out.httpFilters;
  if (filters.length === 0 || filters[filters.length - 1] !== 'envoy.filters.http.router') throw new ConfigError(`${path}.http_filters`, 'must end with envoy.filters.http.router');
  return Object.freeze(out);
}

function tcpProxy(t: Json, path: string): TcpProxyConfig {
  let clusters: { name: string; weight: number }[];
  if (t.cluster !== undefined) clusters = [{ name: str(t.cluster, `${path}.cluster`), weight: 1 }];
  else if (t.weighted_clusters !== undefined) {
    const wp = `${path}.weighted_clusters.clusters`;
    clusters = list(obj(t.weighted_clusters, `${path}.weighted_clusters`).clusters, wp).map((c, i) => {
      const o = obj(c, `${wp}[${i}]`);
      return { name: str(o.name, `${wp}[${i}].name`), weight: num(o.weight, `${wp}[${i}].weight`, 0) };
    });
  } else throw new ConfigError(path, 'needs cluster or weighted_clusters');
  const totalWeight = clusters.reduce((s, c) => s + c.weight, 0);
  if (totalWeight <= 0) throw new ConfigError(`${path}.weighted_clusters.clusters`, 'weights must add up to more than 0');
  return Object.freeze({ kind: 'tcp', statPrefix: str(t.stat_prefix, `${path}.stat_prefix`, ''), clusters, totalWeight, idleTimeoutMs: durationMs(t.idle_timeout, `${path}.idle_timeout`) ?? 3_600_000 });
}

function filterChain(v: unknown, path: string): FilterChainConfig {
  const c = obj(v, path);
  const m = optObj(c.filter_chain_match, `${path}.filter_chain_match`);
  const mp = `${path}.filter_chain_match`;
  const match: FilterChainMatch = {
    prefixRanges: list(m?.prefix_ranges, `${mp}.prefix_ranges`).map((r, i) => {
      const o = obj(r, `${mp}.prefix_ranges[${i}]`);
      const address = str(o.address_prefix, `${mp}.prefix_ranges[${i}].address_prefix`);
      if (!isIPv4(address) && !isIPv6(address)) throw new ConfigError(`${mp}.prefix_ranges[${i}].address_prefix`, 'must be an IP address');
      return { address, prefixLen: num(o.prefix_len, `${mp}.prefix_ranges[${i}].prefix_len`, isIPv4(address) ? 32 : 128) };
    }),
    serverNames: list(m?.server_names, `${mp}.server_names`).map((s, i) => str(s, `${mp}.server_names[${i}]`).toLowerCase()),
    applicationProtocols: list(m?.application_protocols, `${mp}.application_protocols`).map((s, i) => str(s, `${mp}.application_protocols[${i}]`)),
  };
  if (m?.destination_port !== undefined) match.destinationPort = num(m.destination_port, `${mp}.destination_port`);
  if (m?.transport_protocol !== undefined) match.transportProtocol = str(m.transport_protocol, `${mp}.transport_protocol`);
  const compiled = list(c.filters, `${path}.filters`).map((f, i) => networkFilter(f, `${path}.filters[${i}]`));
  const networks = compiled.filter((f): f is HttpConnectionManagerConfig | TcpProxyConfig => f !== undefined && typeof f !== 'function');
  if (networks.length !== 1) throw new ConfigError(`${path}.filters`, 'needs exactly one http_connection_manager or tcp_proxy (the terminal filter)');
  const terminal = compiled.indexOf(networks[0]!);
  if (terminal !== compiled.length - 1) throw new ConfigError(`${path}.filters[${terminal}]`, 'the terminal filter must come last');
  const rbac = compiled.filter((f): f is NetworkRbac => typeof f === 'function');
  const out: FilterChainConfig = { name: str(c.name, `${path}.name`, ''), match: Object.freeze(match), network: networks[0]!, rbac };
  if (c.transport_socket !== undefined) {
    const tls = compileTransportSocket(c.transport_socket, `${path}.transport_socket`, 'downstream');
    if (tls) out.tls = tls;
  }
  return Object.freeze(out);
}

/** Compiles a decoded Listener; ConfigError (with the field path) for what this proxy cannot honour. */
export function compileListener(v: unknown): ListenerConfig {
  const l = obj(v, 'listener');
  const sa = obj(obj(l.address, 'address').socket_address, 'address.socket_address');
  const chains = list(l.filter_chains, 'filter_chains').map((c, i) => filterChain(c, `filter_chains[${i}]`));
  const dflt = l.default_filter_chain === undefined ? undefined : filterChain(l.default_filter_chain, 'default_filter_chain');
  const all = dflt ? [...chains, dflt] : chains;
  const rdsNames = [...new Set(all.flatMap((c) => (c.network.kind === 'http' && c.network.rdsName !== undefined ? [c.network.rdsName] : [])))];
  const listenerFilters = list(l.listener_filters, 'listener_filters').map((f, i) => {
    const o = obj(f, `listener_filters[${i}]`);
    const type = optObj(o.typed_config, `listener_filters[${i}].typed_config`)?.['@type'];
    return { name: str(o.name, `listener_filters[${i}].name`), type };
  });
  const out: ListenerConfig = {
    name: str(l.name, 'name'),
    address: str(sa.address, 'address.socket_address.address'),
    port: num(sa.port_value, 'address.socket_address.port_value'),
    bindToPort: bool(l.bind_to_port, 'bind_to_port', true),
    useOriginalDst: bool(l.use_original_dst, 'use_original_dst', false),
    originalDstFilter: listenerFilters.some((f) => f.name === 'envoy.filters.listener.original_dst' || f.type === ORIGINAL_DST_TYPE),
    direction: str(l.traffic_direction, 'traffic_direction', 'UNSPECIFIED') as ListenerConfig['direction'],
    filterChains: chains,
    rdsNames,
    tlsInspector: listenerFilters.some((f) => TLS_INSPECTOR_NAMES.has(f.name) || f.type === TLS_INSPECTOR_TYPE),
    listenerFiltersTimeoutMs: durationMs(l.listener_filters_timeout, 'listener_filters_timeout') ?? DEFAULT_LISTENER_FILTERS_TIMEOUT_MS,
    continueOnListenerFiltersTimeout: bool(l.continue_on_listener_filters_timeout, 'continue_on_listener_filters_timeout', false),
  };
  if (dflt) out.defaultFilterChain = dflt;
  return Object.freeze(out);
}

function ipv4ToInt(ip: string): number {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

/** Length of the longest prefix range containing `ip` (-1: none match; 0 with no ranges: matches anything). */
function prefixScore(ranges: FilterChainMatch['prefixRanges'], ip: string): number {
  if (ranges.length === 0) return 0;
  let best = -1;
  const v4 = isIPv4(ip);
  for (const r of ranges) {
    if (v4 && isIPv4(r.address)) {
      const mask = r.prefixLen === 0 ? 0 : (~0 << (32 - r.prefixLen)) >>> 0;
      if ((ipv4ToInt(ip) & mask) === (ipv4ToInt(r.address) & mask)) best = Math.max(best, r.prefixLen + 1);
    } else if (!v4 && isIPv6(r.address) && r.prefixLen === 0) best = Math.max(best, 1);
    else if (ip === r.address) best = Math.max(best, r.prefixLen + 1);
  }
  return best;
}

function serverNameScore(names: readonly string[], sni: string | undefined): number {
  if (names.length === 0) return 0;
  if (sni === undefined) return -1;
  const host = sni.toLowerCase();
  if (names.includes(host)) return 2 + host.length;
  let best = -1;
  for (const n of names) if (n.startsWith('*.') && host.endsWith(n.slice(1)) && host.length > n.length - 1) best = Math.max(best, 1 + n.length);
  return best;
}

/**
 * Envoy's filter chain selection: the criteria are applied in order — destination port, destination
 * IP (longest prefix), server name (exact, then longest wildcard), transport protocol, application
 * protocols — and at each step the most specific candidates win; a chain without a criterion
 * matches any value but loses to one that names it. Falls back to the default filter chain.
 */
export function selectFilterChain(listener: ListenerConfig, facts: ConnectionFacts): FilterChainConfig | undefined {
  let candidates = listener.filterChains.filter((c) => c.match.destinationPort === undefined || c.match.destinationPort === facts.destinationPort);
  const narrow = (score: (c: FilterChainConfig) => number) => {
    let best = -1;
    const scored = candidates.map((c) => [c, score(c)] as const).filter(([, s]) => s >= 0);
    for (const [, s] of scored) best = Math.max(best, s);
    candidates = scored.filter(([, s]) => s === best).map(([c]) => c);
  };
  narrow((c) => (c.match.destinationPort === undefined ? 0 : 1));
  narrow((c) => prefixScore(c.match.prefixRanges, facts.destinationIp));
  narrow((c) => serverNameScore(c.match.serverNames, facts.serverName));
  narrow((c) => (c.match.transportProtocol === undefined ? 0 : c.match.transportProtocol === facts.transportProtocol ? 1 : -1));
  narrow((c) => (c.match.applicationProtocols.length === 0 ? 0 : c.match.applicationProtocols.some((p) => facts.applicationProtocols.includes(p)) ? 1 : -1));
  return candidates[0] ?? listener.defaultFilterChain;
}
