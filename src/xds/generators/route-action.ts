// One VirtualService HTTP rule and match block → one Envoy Route: match, route or redirect action, retries, timeout, mirror, headers, fault, CORS.
import { resolveGatewayRef } from '../../api/hosts.js';
import type { Proxy } from '../../model/proxy.js';
import type { PushContext, VirtualServiceConfig } from '../../model/push-context.js';
import { DEFAULT_ROUTE_NAME, parseSubsetKey } from './cluster-names.js';
import { corsFilterConfig } from './cors-policy.js';
import { destinationCluster, destinationHashPolicy, destinationHost, type ServiceLookup } from './destinations.js';
import { configMetadata, durationFrom, ZERO_DURATION, type Msg } from './envoy-values.js';
import { faultFilterConfig, fractionalPercent, integerPercent } from './fault-injection.js';
import { headerMutations, mergeMutations } from './header-operations.js';
import { defaultRetryPolicy, retryPolicy } from './retry-policy.js';
import { routeMatch } from './route-match.js';
import type { HTTPMatchRequest, HTTPRoute } from './vs-types.js';

/** What a route is being built for. */
export interface RouteBuildContext {
  proxy: Proxy;
  push: PushContext;
  vs: VirtualServiceConfig;
  /** Listener port (sidecar) or server port (gateway): the default destination port and what `match.port` is checked against. */
  port: number;
  /** `mesh` for sidecars; `namespace/name` of the gateway for routers. */
  gateways: ReadonlySet<string>;
  lookup: ServiceLookup;
}

const REDIRECT_CODES: Record<number, string> = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
};

/** Labels ⊇ required. */
function hasLabels(labels: Readonly<Record<string, string>>, required: Record<string, string> | undefined): boolean {
  return Object.entries(required ?? {}).every(([k, v]) => labels[k] === v);
}

/**
 * Istio's sourceMatchHTTP: a match block naming gateways applies only to those gateways; otherwise
 * the proxy must carry `sourceLabels` and sit in `sourceNamespace` when given. Decided at
 * generation time, since a proxy's identity is fixed.
 */
export function sourceMatches(ctx: Pick<RouteBuildContext, 'proxy' | 'vs' | 'gateways'>, match: { gateways?: string[]; sourceLabels?: Record<string, string>; sourceNamespace?: string } | undefined): boolean {
  if (!match) return true;
  if (match.gateways && match.gateways.length > 0) {
    return match.gateways.some((g) => {
      const ref = resolveGatewayRef(g, ctx.vs.namespace);
      return ctx.gateways.has(ref ? `${ref.namespace}/${ref.name}` : g);
    });
  }
  if (!hasLabels(ctx.proxy.labels, match.sourceLabels)) return false;
  return !match.sourceNamespace || match.sourceNamespace === ctx.proxy.namespace;
}

/** The request-mirror fraction: mirrorPercentage, else the deprecated integer percent, else 100 %; an explicit 0 disables mirroring. */
function mirrorFraction(http: HTTPRoute): Msg | undefined {
  if (http.mirrorPercentage?.value !== undefined) return http.mirrorPercentage.value > 0 ? fractionalPercent(http.mirrorPercentage.value) : undefined;
  const legacy = http.mirrorPercent ?? http.mirror_percent;
  if (legacy !== undefined) return legacy > 0 ? integerPercent(legacy) : undefined;
  return integerPercent(100);
}

/** Tracing operation of a route: `host:port/path*` for a single cluster, `vsName:port/path*` otherwise. */
function operation(route: Msg, vsName: string, port: number): string {
  const m = route.match as Msg;
  let path = '/*';
  if (typeof m.prefix === 'string') path = `${m.prefix}*`;
  else if (typeof m.path === 'string') path = m.path;
  else if (m.safeRegex) path = (m.safeRegex as Msg).regex as string;
  const cluster = (route.route as Msg | undefined)?.cluster;
  const key = typeof cluster === 'string' ? parseSubsetKey(cluster) : undefined;
  return key ? `${key.hostname}:${key.port}${path}` : `${vsName}:${port}${path}`;
}

/**
 * Istio's translateRoute for one (rule, match block) pair; undefined when the match block does not
 * apply to this proxy (source labels/namespace, gateways, port) or the rule cannot be expressed
 * (an unsupported redirect code, no destination).
 */
export function translateRoute(ctx: RouteBuildContext, http: HTTPRoute, match: HTTPMatchRequest | undefined): Msg | undefined {
  if (!sourceMatches(ctx, match)) return undefined;
  if (match?.port !== undefined && match.port !== 0 && match.port !== ctx.port) return undefined;
  const { push, vs } = ctx;
  const domain = push.mesh.clusterDomain;

  const out: Msg = {};
  const name = match?.name ? `${http.name ?? ''}.${match.name}` : (http.name ?? '');
  if (name !== '') out.name = name;
  out.match = routeMatch(match);
  out.metadata = configMetadata('virtual-service', vs.namespace, vs.name);

  if (http.redirect) {
    const code = REDIRECT_CODES[http.redirect.redirectCode ?? 301];
    if (!code) return undefined;
    const redirect: Msg = { responseCode: code };
    if (http.redirect.authority) redirect.hostRedirect = http.redirect.authority;
    if (http.redirect.uri) redirect.pathRedirect = http.redirect.uri;
    out.redirect = redirect;
  } else {
    const dests = http.route ?? [];
    const action: Msg = {};
    const weighted: Msg[] = [];
    const hashPolicies: Msg[] = [];
    for (const dst of dests) {
      if (!dst.destination) continue;
      let weight = dst.weight ?? 0;
      if (weight === 0) {
        // A zero weight drops the destination, unless it is the only one (then it takes everything).
        if (dests.length !== 1) continue;
        weight = 100;
      }
      const cluster = destinationCluster(dst.destination, vs.namespace, domain, ctx.lookup, ctx.port);
      weighted.push({ name: cluster, weight: { value: weight }, ...headerMutations(dst.headers) });
      const hp = destinationHashPolicy(ctx.proxy, push, destinationHost(dst.destination, vs.namespace, domain), dst.destination);
      if (hp) hashPolicies.push(hp);
    }
    if (weighted.length === 0) return undefined;
    Object.assign(out, headerMutations(http.headers));
    if (weighted.length === 1) {
      const only = weighted[0]!;
      action.cluster = only.name;
      mergeMutations(out, only);
    } else {
      action.weightedClusters = { clusters: weighted };
    }
    // No timeout means none: Istio disables Envoy's 15 s default. The same bound caps grpc-timeout.
    const timeout = durationFrom(http.timeout) ?? { ...ZERO_DURATION };
    action.timeout = timeout;
    action.maxStreamDuration = { grpcTimeoutHeaderMax: timeout };
    const rp = retryPolicy(http.retries);
    if (rp) action.retryPolicy = rp;
    if (http.rewrite?.uri) action.prefixRewrite = http.rewrite.uri;
    if (http.rewrite?.authority) action.hostRewriteLiteral = http.rewrite.authority;
    if (http.mirror) {
      const fraction = mirrorFraction(http);
      if (fraction) {
        action.requestMirrorPolicies = [
          { cluster: destinationCluster(http.mirror, vs.namespace, domain, ctx.lookup, ctx.port), runtimeFraction: { defaultValue: fraction }, traceSampled: { value: false } },
        ];
      }
    }
    if (hashPolicies.length > 0) action.hashPolicy = hashPolicies;
    out.route = action;
  }

  out.decorator = { operation: operation(out, vs.name, ctx.port) };
  const perFilter: Msg = {};
  const fault = http.fault ? faultFilterConfig(http.fault) : undefined;
  if (fault) perFilter[fault[0]] = fault[1];
  if (http.corsPolicy && !http.redirect) {
    const [k, v] = corsFilterConfig(http.corsPolicy);
    perFilter[k] = v;
  }
  if (Object.keys(perFilter).length > 0) out.typedPerFilterConfig = perFilter;
  return out;
}

/**
 * The route of a service without a VirtualService (Istio's BuildDefaultHTTPOutboundRoute): every
 * path to `cluster`, no timeout, the default retry policy, and the DestinationRule's hash policy.
 */
export function defaultOutboundRoute(cluster: string, operationName: string, hash?: Msg): Msg {
  const route = defaultInboundRoute(cluster, operationName);
  const action = route.route as Msg;
  action.retryPolicy = defaultRetryPolicy();
  if (hash) action.hashPolicy = [hash];
  return route;
}

/** The single route of an inbound listener: everything to the local application, no timeout, no retries. */
export function defaultInboundRoute(cluster: string, operationName: string): Msg {
  return {
    name: DEFAULT_ROUTE_NAME,
    match: { prefix: '/' },
    route: { cluster, timeout: { ...ZERO_DURATION }, maxStreamDuration: { grpcTimeoutHeaderMax: { ...ZERO_DURATION } } },
    decorator: { operation: operationName },
  };
}
