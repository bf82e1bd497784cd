// Proxyless gRPC generators (Istio's grpcgen): api_listener Listeners named by the xds:/// target, per-service routes, EDS clusters.
import { hostMatches, resolveShortName } from '../../api/hosts.js';
import { parseDuration } from '../../api/common.js';
import type { DestinationRuleSpec } from '../../api/kinds/destination-rule.js';
import type { VirtualServiceSpec } from '../../api/kinds/virtual-service.js';
import type { Proxy } from '../../model/proxy.js';
import type { PushContext, VirtualServiceConfig } from '../../model/push-context.js';
import type { Endpoint, Service } from '../../registry/types.js';
import { TypeUrl, type GeneratorSet, type XdsResource } from '../types.js';
import { endpointWeight, locality, localityKey } from './locality-endpoints.js';

/*
 * What grpc-js-xds (and grpc-go/java) accept is narrower than Envoy: api_listener Listeners
 * only, the router filter last, routes with prefix/path/safe_regex matches and cluster or
 * weighted_clusters actions, EDS clusters with ROUND_ROBIN or RING_HASH, endpoints with IP
 * addresses and weighted localities (gRFC A27/A28/A31/A33/A42/A44). Anything else makes the
 * client NACK the whole response, so this generator leaves out what gRPC cannot honour
 * (redirects, rewrites, mirrors, CORS, query-parameter matches, DNS endpoints) instead of
 * emitting it. See docs/proxyless-grpc.md.
 */

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const FAULT = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const PREVIOUS_HOSTS = 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';
const FAULT_FILTER = 'envoy.filters.http.fault';
const ADS = { ads: {}, resourceApiVersion: 'V3' };

/** Istio 1.6's retry policy when a route sets none (networking/core/v1alpha3/route/retry). */
const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';

type HTTPRoute = NonNullable<VirtualServiceSpec['http']>[number];
type HTTPMatch = NonNullable<HTTPRoute['match']>[number];
type StringMatch = NonNullable<HTTPMatch['uri']>;
type TrafficPolicy = NonNullable<DestinationRuleSpec['trafficPolicy']>;

/** Istio's subset key: `outbound|9080|v1|reviews.bookinfo.svc.cluster.local`. */
export function subsetKey(port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`;
}

/** Parses a subset key; undefined when `name` is not one (wrong shape, non-numeric port, no host). */
export function parseSubsetKey(name: string): { direction: string; port: number; subset: string; host: string } | undefined {
  const parts = name.split('|');
  if (parts.length !== 4) return undefined;
  const [direction, portText, subset, host] = parts as [string, string, string, string];
  const port = Number(portText);
  if (!Number.isInteger(port) || port <= 0 || port > 65535 || host === '') return undefined;
  return { direction, port, subset, host };
}

function splitHostPort(name: string): { host: string; port?: number } {
  const i = name.lastIndexOf(':');
  if (i > 0 && /^[0-9]+$/.test(name.slice(i + 1))) return { host: name.slice(0, i).toLowerCase(), port: Number(name.slice(i + 1)) };
  return { host: name.toLowerCase() };
}

/**
 * The service a gRPC target host names, as Istio's grpcgen expands it: the host as written, then
 * `name` → `name.<ns>.svc.<domain>`, `name.ns` → `name.ns.svc.<domain>`, `name.ns.svc` →
 * `name.ns.svc.<domain>`.
 */
function findService(proxy: Proxy, push: PushContext, host: string): Service | undefined {
  const domain = push.mesh.clusterDomain;
  const candidates = [host];
  if (!host.includes('.')) candidates.push(`${host}.${proxy.namespace}.svc.${domain}`);
  else if (host.endsWith('.svc')) candidates.push(`${host}.${domain}`);
  else if (host.split('.').length === 2) candidates.push(`${host}.svc.${domain}`);
  for (const c of candidates) {
    const svc = push.service(c, proxy.namespace);
    if (svc) return svc;
  }
  return undefined;
}

// ---- LDS ----

function apiListener(name: string, svc: Service, port: number): XdsResource {
  return {
    name,
    typeUrl: TypeUrl.Listener,
    resource: {
      name,
      address: { socketAddress: { address: svc.addresses[0] ?? '0.0.0.0', portValue: port } },
      apiListener: {
        apiListener: {
          '@type': HCM,
          // gRPC ignores it; Envoy's validation requires one.
          statPrefix: name,
          // The fault filter (empty unless a route overrides it) must precede the router, which must be last.
          httpFilters: [
            { name: FAULT_FILTER, typedConfig: { '@type': FAULT } },
            { name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER } },
          ],
          rds: { configSource: ADS, routeConfigName: subsetKey(port, '', svc.hostname) },
        },
      },
    },
  };
}

/**
 * LDS for gRPC clients: one api_listener per requested target (`host:port`, named exactly as
 * requested, since the client watches that name), with RDS naming `outbound|PORT||HOST`.
 * Without names (wildcard), a listener per visible service port.
 */
export function grpcListeners(proxy: Proxy, push: PushContext, names?: readonly string[]): XdsResource[] {
  const out: XdsResource[] = [];
  if (!names) {
    for (const svc of push.sidecarScope(proxy).services) {
      for (const p of svc.ports) out.push(apiListener(`${svc.hostname}:${p.port}`, svc, p.port));
    }
    return out;
  }
  for (const name of names) {
    const { host, port } = splitHostPort(name);
    const svc = findService(proxy, push, host);
    if (!svc) continue;
    // A target without a port works only when the service has exactly one.
    const p = port === undefined ? (svc.ports.length === 1 ? svc.ports[0] : undefined) : svc.ports.find((x) => x.port === port);
    if (!p) continue;
    out.push(apiListener(name, svc, p.port));
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

// ---- RDS ----

/** Istio's virtual host domains: the FQDN, its short forms within the cluster domain, and the VIP, each with and without the port. */
function domainsFor(proxy: Proxy, push: PushContext, svc: Service, port: number): string[] {
  const names = [svc.hostname];
  const suffix = `.svc.${push.mesh.clusterDomain}`;
  if (svc.hostname.endsWith(suffix)) {
    const short = svc.hostname.slice(0, -suffix.length); // name.ns
    const dot = short.lastIndexOf('.');
    if (dot > 0) {
      names.push(`${short}.svc`, short);
      if (short.slice(dot + 1) === proxy.namespace) names.push(short.slice(0, dot));
    }
  }
  for (const a of svc.addresses) if (!a.includes('/')) names.push(a);
  const out: string[] = [];
  for (const n of names) out.push(n, `${n}:${port}`);
  return [...new Set(out)];
}

function stringMatcher(m: StringMatch, ignoreCase = false): Record<string, unknown> | undefined {
  const base = ignoreCase ? { ignoreCase: true } : {};
  if (m.exact !== undefined) return { exact: m.exact, ...base };
  if (m.prefix !== undefined) return { prefix: m.prefix, ...base };
  if (m.regex !== undefined) return { safeRegex: { regex: m.regex } };
  return undefined;
}

function headerMatcher(name: string, m: StringMatch, invert: boolean): Record<string, unknown> {
  const sm = stringMatcher(m);
  // An empty match ({}) means "present" (Istio 1.6).
  const base = sm ? { name, stringMatch: sm } : { name, presentMatch: true };
  return invert ? { ...base, invertMatch: true } : base;
}

/** The Envoy RouteMatch of one HTTPMatchRequest; undefined when gRPC cannot express it. */
function routeMatch(m: HTTPMatch | undefined): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  if (m?.queryParams && Object.keys(m.queryParams).length > 0) return undefined; // gRPC requests have no query
  const uri = m?.uri;
  if (!uri || (uri.exact === undefined && uri.prefix === undefined && uri.regex === undefined)) out.prefix = '/';
  else if (uri.exact !== undefined) out.path = uri.exact;
  else if (uri.prefix !== undefined) out.prefix = uri.prefix;
  else out.safeRegex = { regex: uri.regex };
  if (m?.ignoreUriCase) out.caseSensitive = { value: false };
  const headers: Record<string, unknown>[] = [];
  for (const [name, hm] of Object.entries(m?.headers ?? {})) headers.push(headerMatcher(name.toLowerCase(), hm, false));
  for (const [name, hm] of Object.entries(m?.withoutHeaders ?? {})) headers.push(headerMatcher(name.toLowerCase(), hm, true));
  if (m?.authority) headers.push(headerMatcher(':authority', m.authority, false));
  if (m?.method) headers.push(headerMatcher(':method', m.method, false));
  if (m?.scheme) headers.push(headerMatcher(':scheme', m.scheme, false));
  if (headers.length > 0) out.headers = headers;
  return out;
}

/** Whether a match block applies to this proxy and port (sourceLabels, sourceNamespace, port, gateways). */
function matchApplies(m: HTTPMatch | undefined, proxy: Proxy, port: number): boolean {
  if (!m) return true;
  if (m.port !== undefined && m.port !== port) return false;
  if (m.gateways && m.gateways.length > 0 && !m.gateways.includes('mesh')) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== proxy.namespace) return false;
  for (const [k, v] of Object.entries(m.sourceLabels ?? {})) if (proxy.labels[k] !== v) return false;
  return true;
}

function durationOf(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0) return undefined;
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

function retryPolicy(retries: HTTPRoute['retries']): Record<string, unknown> | undefined {
  if (retries && (retries.attempts ?? 0) <= 0) return undefined; // attempts: 0 disables retries
  const policy: Record<string, unknown> = {
    retryOn: retries?.retryOn ?? DEFAULT_RETRY_ON,
    numRetries: { value: retries?.attempts ?? 2 },
    retryHostPredicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typedConfig: { '@type': PREVIOUS_HOSTS } }],
    hostSelectionRetryMaxAttempts: 5,
    retriableStatusCodes: [503],
  };
  const perTry = durationOf(retries?.perTryTimeout);
  if (perTry) policy.perTryTimeout = perTry;
  return policy;
}

function percent(p: { value?: number } | undefined, legacy: number | undefined): Record<string, unknown> {
  const value = p?.value ?? legacy ?? 100;
  // Istio: percentages go to the millionth.
  return { numerator: Math.round(value * 10_000), denominator: 'MILLION' };
}

function faultConfig(fault: HTTPRoute['fault']): Record<string, unknown> | undefined {
  if (!fault) return undefined;
  const out: Record<string, unknown> = { '@type': FAULT };
  if (fault.delay?.fixedDelay) out.delay = { fixedDelay: durationOf(fault.delay.fixedDelay), percentage: percent(fault.delay.percentage, fault.delay.percent) };
  if (fault.abort?.httpStatus !== undefined) out.abort = { httpStatus: fault.abort.httpStatus, percentage: percent(fault.abort.percentage, undefined) };
  return out.delay || out.abort ? out : undefined;
}

/** The cluster a VirtualService destination names from this route's port. */
function destinationCluster(push: PushContext, vs: VirtualServiceConfig, dest: { host?: string; subset?: string; port?: { number?: number } }, routePort: number): string {
  const host = resolveShortName(dest.host ?? '', vs.namespace, push.mesh.clusterDomain);
  let port = dest.port?.number;
  if (port === undefined) {
    const svc = push.service(host, vs.namespace);
    port = svc && svc.ports.length === 1 ? svc.ports[0]!.port : routePort;
  }
  return subsetKey(port, dest.subset ?? '', host);
}

/** Ring-hash routes need a hash policy; gRPC honours header hashes only. */
function hashPolicy(proxy: Proxy, push: PushContext, cluster: string): Record<string, unknown>[] | undefined {
  const key = parseSubsetKey(cluster);
  if (!key) return undefined;
  const dr = push.destinationRule(proxy, key.host);
  const policy = dr ? effectivePolicy(dr.spec, key.subset, key.port) : undefined;
  const header = policy?.loadBalancer?.consistentHash?.httpHeaderName;
  return header ? [{ header: { headerName: header } }] : undefined;
}

function envoyRoutes(proxy: Proxy, push: PushContext, vs: VirtualServiceConfig, port: number): Record<string, unknown>[] {
  const routes: Record<string, unknown>[] = [];
  for (const [i, http] of (vs.spec.http ?? []).entries()) {
    // gRPC can only forward: redirects, delegates and routes without destinations are left out.
    if (!http.route || http.route.length === 0 || http.redirect || http.delegate) continue;
    const weighted = http.route.filter((d) => (http.route!.length === 1 ? true : (d.weight ?? 0) > 0));
    if (weighted.length === 0) continue;
    const clusters = weighted.map((d) => ({ name: destinationCluster(push, vs, d.destination ?? {}, port), weight: http.route!.length === 1 ? 100 : (d.weight ?? 0) }));
    const action: Record<string, unknown> =
      clusters.length === 1 ? { cluster: clusters[0]!.name } : { weightedClusters: { clusters: clusters.map((c) => ({ name: c.name, weight: { value: c.weight } })) } };
    const timeout = durationOf(http.timeout);
    if (timeout) {
      action.timeout = timeout;
      action.maxStreamDuration = { maxStreamDuration: timeout, grpcTimeoutHeaderMax: timeout };
    }
    const retry = retryPolicy(http.retries);
    if (retry) action.retryPolicy = retry;
    if (clusters.length === 1) {
      const hp = hashPolicy(proxy, push, clusters[0]!.name);
      if (hp) action.hashPolicy = hp;
    }
    const fault = faultConfig(http.fault);
    const matches: (HTTPMatch | undefined)[] = http.match && http.match.length > 0 ? http.match : [undefined];
    for (const m of matches) {
      if (!matchApplies(m, proxy, port)) continue;
      const match = routeMatch(m);
      if (!match) continue;
      const name = http.name ?? `${vs.namespace}.${vs.name}.${i}`;
      routes.push({
        name: m?.name ? `${name}.${m.name}` : name,
        match,
        route: action,
        ...(fault ? { typedPerFilterConfig: { [FAULT_FILTER]: fault } } : {}),
      });
    }
  }
  return routes;
}

/** The requested `outbound|PORT|SUBSET|HOST` names that name a port of a service visible to the proxy. */
function* requestedServices(proxy: Proxy, push: PushContext, names: readonly string[] | undefined): Generator<{ name: string; key: NonNullable<ReturnType<typeof parseSubsetKey>>; svc: Service }> {
  for (const name of names ?? []) {
    const key = parseSubsetKey(name);
    if (!key || key.direction !== 'outbound') continue;
    const svc = push.service(key.host, proxy.namespace);
    if (svc && svc.ports.some((p) => p.port === key.port)) yield { name, key, svc };
  }
}

function defaultRoute(svc: Service, port: number): Record<string, unknown> {
  return { name: 'default', match: { prefix: '/' }, route: { cluster: subsetKey(port, '', svc.hostname), retryPolicy: retryPolicy(undefined) } };
}

/**
 * RDS for gRPC clients: for each requested `outbound|PORT||HOST`, one virtual host for the
 * service with the routes of the first mesh VirtualService claiming the host, or a default
 * route to `outbound|PORT||HOST`.
 */
export function grpcRoutes(proxy: Proxy, push: PushContext, names?: readonly string[]): XdsResource[] {
  const out: XdsResource[] = [];
  for (const { name, key, svc } of requestedServices(proxy, push, names)) {
    const vs = push.virtualServices(proxy, 'mesh').find((v) => v.hosts.some((h) => hostMatches(h, svc.hostname)));
    const routes = vs ? envoyRoutes(proxy, push, vs, key.port) : [defaultRoute(svc, key.port)];
    out.push({
      name,
      typeUrl: TypeUrl.RouteConfiguration,
      resource: {
        name,
        virtualHosts: [{ name: `${svc.hostname}:${key.port}`, domains: domainsFor(proxy, push, svc, key.port), routes }],
        validateClusters: { value: false },
      },
    });
  }
  return out;
}

// ---- CDS ----

/** Istio's MergeTrafficPolicy: subset settings replace the rule's, then a matching port-level setting replaces both. */
export function effectivePolicy(dr: DestinationRuleSpec, subset: string, port: number): TrafficPolicy | undefined {
  let policy: TrafficPolicy | undefined = dr.trafficPolicy;
  const sub = subset === '' ? undefined : dr.subsets?.find((s) => s.name === subset)?.trafficPolicy;
  if (sub) policy = { ...policy, ...Object.fromEntries(Object.entries(sub).filter(([, v]) => v !== undefined)) };
  const pl = policy?.portLevelSettings?.find((p) => p.port?.number === port);
  if (pl) {
    const { port: _port, ...rest } = pl;
    policy = { ...policy, ...rest };
  }
  return policy;
}

function edsCluster(name: string, policy: TrafficPolicy | undefined): XdsResource {
  const cluster: Record<string, unknown> = {
    name,
    type: 'EDS',
    edsClusterConfig: { serviceName: name, edsConfig: ADS },
    lbPolicy: 'ROUND_ROBIN',
  };
  const lb = policy?.loadBalancer;
  if (lb?.consistentHash) {
    cluster.lbPolicy = 'RING_HASH';
    cluster.ringHashLbConfig = {
      hashFunction: 'XX_HASH',
      ...(lb.consistentHash.minimumRingSize ? { minimumRingSize: { value: lb.consistentHash.minimumRingSize } } : {}),
    };
  }
  // LEAST_CONN and RANDOM have no gRPC equivalent: round robin, as Istio's grpcgen does.
  const maxRequests = policy?.connectionPool?.http?.http2MaxRequests;
  if (maxRequests !== undefined && maxRequests > 0) cluster.circuitBreakers = { thresholds: [{ priority: 'DEFAULT', maxRequests: { value: maxRequests } }] };
  // outlierDetection is left out as Istio's grpcgen does: gRPC ejects on success rate and failure
  // percentage (gRFC A50), which Istio's consecutive-error settings do not describe.
  return { name, typeUrl: TypeUrl.Cluster, resource: cluster };
}

function clustersOfService(proxy: Proxy, push: PushContext, svc: Service): XdsResource[] {
  const dr = push.destinationRule(proxy, svc.hostname);
  const out: XdsResource[] = [];
  for (const p of svc.ports) {
    out.push(edsCluster(subsetKey(p.port, '', svc.hostname), dr ? effectivePolicy(dr.spec, '', p.port) : undefined));
    for (const s of dr?.spec.subsets ?? []) if (s.name) out.push(edsCluster(subsetKey(p.port, s.name, svc.hostname), effectivePolicy(dr!.spec, s.name, p.port)));
  }
  return out;
}

/**
 * CDS for gRPC clients: EDS clusters `outbound|PORT|SUBSET|HOST` for the requested names (gRPC
 * asks for the clusters its routes use), or every service's default and subset clusters.
 */
export function grpcClusters(proxy: Proxy, push: PushContext, names?: readonly string[]): XdsResource[] {
  const out: XdsResource[] = [];
  if (!names) {
    for (const svc of push.sidecarScope(proxy).services) out.push(...clustersOfService(proxy, push, svc));
    return out;
  }
  for (const name of names) {
    const key = parseSubsetKey(name);
    if (!key || key.direction !== 'outbound') continue;
    const svc = push.service(key.host, proxy.namespace);
    if (!svc || !svc.ports.some((p) => p.port === key.port)) continue;
    const dr = push.destinationRule(proxy, key.host);
    if (key.subset !== '' && !dr?.spec.subsets?.some((s) => s.name === key.subset)) continue;
    out.push(edsCluster(name, dr ? effectivePolicy(dr.spec, key.subset, key.port) : undefined));
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

// ---- EDS ----

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/;

function isIp(a: string): boolean {
  return IPV4.test(a) || (a.includes(':') && /^[0-9a-fA-F:.]+$/.test(a));
}

function localityOf(l: string): Record<string, unknown> {
  return locality(l) ?? {};
}

function loadAssignment(name: string, endpoints: readonly Endpoint[]): XdsResource {
  const byLocality = new Map<string, Record<string, unknown>[]>();
  const weights = new Map<string, number>();
  const seen = new Set<string>();
  for (const ep of endpoints) {
    // gRPC needs IP addresses and refuses duplicates within one assignment.
    const key = `${ep.address}:${ep.port}`;
    if (!isIp(ep.address) || seen.has(key)) continue;
    seen.add(key);
    const loc = localityKey(ep.locality);
    const list = byLocality.get(loc) ?? [];
    list.push({
      endpoint: { address: { socketAddress: { address: ep.address, portValue: ep.port } } },
      healthStatus: ep.healthy ? 'HEALTHY' : 'UNHEALTHY',
      loadBalancingWeight: { value: endpointWeight(ep) },
    });
    byLocality.set(loc, list);
    weights.set(loc, (weights.get(loc) ?? 0) + endpointWeight(ep));
  }
  const localities = [...byLocality.keys()].sort();
  return {
    name,
    typeUrl: TypeUrl.ClusterLoadAssignment,
    resource: {
      clusterName: name,
      // gRPC drops localities without a weight (gRFC A27), so every locality carries the sum of its endpoints'.
      endpoints: localities.map((l) => ({ locality: localityOf(l), lbEndpoints: byLocality.get(l), loadBalancingWeight: { value: weights.get(l) } })),
    },
  };
}

/** EDS for gRPC clients: one ClusterLoadAssignment per requested cluster, subset labels applied. */
export function grpcEndpoints(proxy: Proxy, push: PushContext, names?: readonly string[]): XdsResource[] {
  const out: XdsResource[] = [];
  for (const { name, key, svc } of requestedServices(proxy, push, names)) {
    let labels: Record<string, string> | undefined;
    if (key.subset !== '') {
      const subset = push.destinationRule(proxy, key.host)?.spec.subsets?.find((s) => s.name === key.subset);
      if (!subset) continue;
      labels = subset.labels ?? {};
    }
    out.push(loadAssignment(name, push.endpoints(svc, key.port, labels)));
  }
  return out;
}

/** The generator set for proxyless gRPC clients (nodes with metadata `GENERATOR: grpc`). */
export const grpcGenerators: GeneratorSet = {
  [TypeUrl.Listener]: grpcListeners,
  [TypeUrl.RouteConfiguration]: grpcRoutes,
  [TypeUrl.Cluster]: grpcClusters,
  [TypeUrl.ClusterLoadAssignment]: grpcEndpoints,
};
