// VirtualService (networking.istio.io): HTTP, TLS and TCP routing for a set of hosts, validated as Istio 1.6 (Maistra 2.0) does.
import { Issues, asArray, asObject, asString, type PathSegment } from '../diagnostics.js';
import {
  checkDuration,
  checkExportTo,
  checkIntPercent,
  checkLabels,
  checkPercentage,
  checkStringMatch,
  cidrProblem,
  fqdnProblem,
  headerNameProblem,
  ipProblem,
  isDNS1123Label,
  isDNS1123Subdomain,
  portProblem,
  wildcardDomainProblem,
} from '../common.js';
import type { KindDef, Resource, ValidationContext } from '../kind.js';
import { hostSubsetOf, hostsOverlap } from '../hosts.js';
import { defineRules } from '../rules.js';
import { arr, bool, duration, freeform, int32, map, obj, str, strMap, uint32, type Static } from '../schema.js';
import { networkingKind, PercentSchema, PortSelectorSchema } from './networking-types.js';

type Path = PathSegment[];

export const StringMatchSchema = obj(
  { exact: str('Exact string match.'), prefix: str('Prefix-based match.'), regex: str('RE2 regex; must match the whole value.') },
  'Exactly one of exact, prefix or regex.',
);

export const DestinationSchema = obj({
  host: str('Service registry host (short name, FQDN or wildcard); short names resolve against the VirtualService namespace.'),
  subset: str('Subset declared in the DestinationRule for the host.'),
  port: PortSelectorSchema,
});

const HeaderOperationsSchema = obj({ set: strMap('Headers to overwrite.'), add: strMap('Headers to append.'), remove: arr(str(), 'Headers to remove.') });
export const HeadersSchema = obj({ request: HeaderOperationsSchema, response: HeaderOperationsSchema });

const HTTPMatchRequestSchema = obj({
  name: str('Name of the match, appended to the route name in access logs.'),
  uri: StringMatchSchema,
  scheme: StringMatchSchema,
  method: StringMatchSchema,
  authority: StringMatchSchema,
  headers: map(StringMatchSchema, 'Header matches; keys are lower-case header names; an empty match checks presence.'),
  port: uint32('Port the request was addressed to.'),
  sourceLabels: strMap('Labels of the calling workload (mesh only).'),
  gateways: arr(str(), 'Gateways this match applies to; overrides the VirtualService gateways.'),
  queryParams: map(StringMatchSchema, 'Query parameter matches (exact or regex).'),
  ignoreUriCase: bool('Case-insensitive exact/prefix URI match.'),
  withoutHeaders: map(StringMatchSchema, 'Headers that must NOT match.'),
  sourceNamespace: str('Namespace of the calling workload (mesh only).'),
});

const HTTPRouteDestinationSchema = obj({ destination: DestinationSchema, weight: int32('Share of traffic, 0..100.'), headers: HeadersSchema });
const RouteDestinationSchema = obj({ destination: DestinationSchema, weight: int32('Share of traffic, 0..100.') });

const HTTPRedirectSchema = obj({ uri: str(), authority: str(), redirectCode: uint32('HTTP status of the redirect; 301 by default.') });
const HTTPRewriteSchema = obj({ uri: str(), authority: str() });
const DelegateSchema = obj({ name: str('Name of the delegate VirtualService.'), namespace: str('Its namespace; the root VirtualService namespace by default.') });

const HTTPRetrySchema = obj({
  attempts: int32('Number of retries; 0 disables retries.'),
  perTryTimeout: duration('Timeout per attempt.'),
  retryOn: str('Comma-separated Envoy retry policies and HTTP status codes.'),
  retryRemoteLocalities: bool('Retry in other localities.'),
});

const CorsPolicySchema = obj({
  allowOrigin: arr(str(), 'Deprecated: use allowOrigins.'),
  allowOrigins: arr(StringMatchSchema),
  allowMethods: arr(str()),
  allowHeaders: arr(str()),
  exposeHeaders: arr(str()),
  maxAge: duration('How long preflight results may be cached (seconds precision).'),
  allowCredentials: bool(),
});

const HTTPFaultInjectionSchema = obj({
  delay: obj({
    percent: int32('Deprecated: use percentage.'),
    fixedDelay: duration('Delay added before forwarding.'),
    exponentialDelay: duration('Not supported.'),
    percentage: PercentSchema,
  }),
  abort: obj({
    httpStatus: int32('HTTP status returned to the caller.'),
    grpcStatus: str('Not supported in Istio 1.6.'),
    http2Error: str('Not supported in Istio 1.6.'),
    percentage: PercentSchema,
  }),
});

const HTTPRouteSchema = obj({
  name: str(),
  match: arr(HTTPMatchRequestSchema, 'OR-ed match blocks; omitted matches every request.'),
  route: arr(HTTPRouteDestinationSchema),
  redirect: HTTPRedirectSchema,
  delegate: DelegateSchema,
  rewrite: HTTPRewriteSchema,
  timeout: duration('Request timeout; none by default.'),
  retries: HTTPRetrySchema,
  fault: HTTPFaultInjectionSchema,
  mirror: DestinationSchema,
  mirrorPercent: uint32('Deprecated: use mirrorPercentage.'),
  // Istio 1.6's CRD also lists the proto field name, and its documentation used it (`mirror_percent: 100`).
  mirror_percent: uint32('Deprecated: use mirrorPercentage.'),
  mirrorPercentage: PercentSchema,
  corsPolicy: CorsPolicySchema,
  headers: HeadersSchema,
});

const L4MatchAttributesSchema = obj({
  destinationSubnets: arr(str(), 'IPv4/IPv6 addresses or CIDR blocks.'),
  port: uint32(),
  sourceSubnet: str(),
  sourceLabels: strMap(),
  gateways: arr(str()),
  sourceNamespace: str(),
});

const TLSMatchAttributesSchema = obj({
  sniHosts: arr(str(), 'SNI values to match; each must be covered by the VirtualService hosts.'),
  destinationSubnets: arr(str()),
  port: uint32(),
  sourceLabels: strMap(),
  gateways: arr(str()),
  sourceNamespace: str(),
});

const TLSRouteSchema = obj({ match: arr(TLSMatchAttributesSchema), route: arr(RouteDestinationSchema) });
const TCPRouteSchema = obj({ match: arr(L4MatchAttributesSchema), route: arr(RouteDestinationSchema) });

export const VirtualServiceSpecSchema = obj({
  hosts: arr(str(), 'Destination hosts the rules apply to.'),
  gateways: arr(str(), 'Gateways ([namespace/]name) and/or the reserved "mesh"; omitted means mesh only.'),
  http: arr(HTTPRouteSchema, 'Ordered HTTP rules; the first match wins.'),
  tls: arr(TLSRouteSchema),
  tcp: arr(TCPRouteSchema),
  exportTo: arr(str(), 'Namespaces the VirtualService is visible to: "." or "*".'),
});

export type VirtualServiceSpec = Static<typeof VirtualServiceSpecSchema>;
export type Destination = Static<typeof DestinationSchema>;

const schema = obj({ spec: VirtualServiceSpecSchema, status: freeform() });

/** The gateway name meaning "every sidecar in the mesh". */
export const MESH_GATEWAY = 'mesh';

/** Envoy's `x-envoy-retry-on` and `x-envoy-retry-grpc-on` policies Istio 1.6 accepts. */
const RETRY_ON_POLICIES = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/** Status codes Go's net/http knows (Istio accepts a retryOn token that is one of them). */
const KNOWN_HTTP_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404,
  405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502,
  503, 504, 505, 506, 507, 508, 510, 511,
]);

const CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE']);

const present = (o: Record<string, unknown>, k: string): boolean => o[k] !== undefined && o[k] !== null;

/** A gateway reference: `mesh`, a (deprecated) FQDN, or `namespace/name` with both parts DNS-1123 labels. */
export function gatewayNameProblem(name: string): string | undefined {
  const slash = name.indexOf('/');
  if (slash < 0) {
    const p = fqdnProblem(name);
    return p ? `invalid gateway reference "${name}": ${p} (use name, namespace/name or "mesh")` : undefined;
  }
  const ns = name.slice(0, slash);
  const gw = name.slice(slash + 1);
  if (ns === '' || gw === '') return `invalid gateway reference "${name}": namespace and gateway name cannot be empty`;
  if (!isDNS1123Label(ns)) return `invalid namespace "${ns}" in gateway reference "${name}" (must be a DNS-1123 label)`;
  if (!isDNS1123Label(gw)) return `invalid gateway name "${gw}" in "${name}" (must be a DNS-1123 label)`;
  return undefined;
}

function checkGatewayNames(issues: Issues, path: Path, list: unknown): void {
  asArray(list).forEach((g, i) => {
    if (typeof g !== 'string') return;
    const p = gatewayNameProblem(g);
    if (p) issues.error([...path, i], 'vs.gateway-name', p);
  });
}

/** Header names in matches may also be HTTP/2 pseudo-headers (`:authority`, `:path`). */
function matchHeaderNameProblem(name: string): string | undefined {
  if (name.startsWith(':') && name.length > 1) return headerNameProblem(name.slice(1)) ? `header name "${name}" is not a valid HTTP header name` : undefined;
  return headerNameProblem(name);
}

/** Header names in set/add/remove: pseudo-headers cannot be modified (Envoy refuses the route). */
function operationHeaderNameProblem(name: string): string | undefined {
  if (name.startsWith(':')) return `pseudo-header "${name}" cannot be added, set or removed (use rewrite.authority or rewrite.uri)`;
  return headerNameProblem(name);
}

function checkHeaderOperations(issues: Issues, path: Path, headers: unknown): void {
  const h = asObject(headers);
  if (!h) return;
  for (const side of ['request', 'response'] as const) {
    const ops = asObject(h[side]);
    if (!ops) continue;
    for (const kind of ['set', 'add'] as const) {
      const m = asObject(ops[kind]);
      if (!m) continue;
      for (const name of Object.keys(m)) {
        const p = operationHeaderNameProblem(name);
        if (p) issues.error([...path, side, kind, name], 'vs.header-name', p);
      }
    }
    asArray(ops.remove).forEach((name, i) => {
      if (typeof name !== 'string') return;
      const p = operationHeaderNameProblem(name);
      if (p) issues.error([...path, side, 'remove', i], 'vs.header-name', p);
    });
  }
}

/** A route destination: host required and valid (not `*`), subset a DNS-1123 label, port in range. */
function checkDestination(issues: Issues, path: Path, dest: Record<string, unknown>): void {
  const host = dest.host;
  if (host === undefined || host === '') issues.error([...path, 'host'], 'vs.destination-host', 'destination host is required');
  else if (typeof host === 'string') {
    if (host === '*') issues.error([...path, 'host'], 'vs.destination-host', 'invalid destination host "*": name a service (short name, FQDN or *.suffix)');
    else {
      const p = wildcardDomainProblem(host);
      if (p) issues.error([...path, 'host'], 'vs.destination-host', p);
    }
  }
  const subset = dest.subset;
  if (typeof subset === 'string' && subset !== '' && !isDNS1123Label(subset)) {
    issues.error([...path, 'subset'], 'vs.subset-name', `subset name "${subset}" is invalid: must be a DNS-1123 label (lower-case letters, digits and "-")`);
  }
  const port = asObject(dest.port);
  if (port) {
    const n = port.number ?? 0;
    if (typeof n === 'number') {
      const p = portProblem(n);
      if (p) issues.error([...path, 'port', 'number'], 'vs.port', p);
    }
  }
}

/** route[] of an HTTP, TLS or TCP rule: destinations valid, weights 0..100 summing to 100 when there are several. */
function checkRouteDestinations(issues: Issues, path: Path, list: unknown[], withHeaders: boolean): void {
  let total = 0;
  list.forEach((raw, i) => {
    const d = asObject(raw);
    if (!d) return;
    const dest = asObject(d.destination);
    if (!dest) {
      if (d.destination === undefined || d.destination === null) issues.error([...path, i, 'destination'], 'vs.destination-required', 'destination is required');
    } else checkDestination(issues, [...path, i, 'destination'], dest);
    if (withHeaders) checkHeaderOperations(issues, [...path, i, 'headers'], d.headers);
    if (typeof d.weight === 'number') {
      if (d.weight < 0 || d.weight > 100) issues.error([...path, i, 'weight'], 'vs.weight', `weight ${d.weight} is not in range 0..100`);
      total += d.weight;
    }
  });
  // Reported at the last weight: the field a user adjusts to make the sum right (or where it is missing).
  if (list.length > 1 && total !== 100) {
    issues.error([...path, list.length - 1, 'weight'], 'vs.weight-sum', `weights of all destinations of a route must add up to 100 (they add up to ${total})`);
  }
}

function checkSourceNamespace(issues: Issues, path: Path, v: unknown): void {
  if (typeof v === 'string' && v !== '' && !isDNS1123Label(v)) issues.error(path, 'vs.source-namespace', `sourceNamespace "${v}" is not a valid namespace name (DNS-1123 label)`);
}

function checkMatchPort(issues: Issues, path: Path, port: unknown): void {
  if (typeof port === 'number' && port !== 0) {
    const p = portProblem(port);
    if (p) issues.error(path, 'vs.port', p);
  }
}

interface HttpContext {
  delegateEnabled: boolean;
  /** The VirtualService has no hosts and delegation is on: it is a delegate. */
  inDelegateVs: boolean;
  appliesToGateway: boolean;
}

const STRING_MATCH_FIELDS = ['uri', 'scheme', 'method', 'authority'] as const;
const MAP_MATCH_FIELDS = ['headers', 'queryParams', 'withoutHeaders'] as const;

function checkHttpMatch(issues: Issues, path: Path, m: Record<string, unknown>, restrictForDelegation: boolean): void {
  if (Object.keys(m).every((k) => k === 'name' || k === 'ignoreUriCase' || !present(m, k))) {
    issues.warn(path, 'vs.empty-match', 'an empty match block matches every request (the API says a match cannot be empty): add a condition or drop the match list');
  }
  for (const f of STRING_MATCH_FIELDS) checkStringMatch(issues, [...path, f], m[f]);
  for (const f of ['headers', 'withoutHeaders'] as const) {
    const hm = asObject(m[f]);
    if (!hm) continue;
    for (const [name, sm] of Object.entries(hm)) {
      const p = matchHeaderNameProblem(name);
      if (p) issues.error([...path, f, name], 'vs.header-name', p);
      checkStringMatch(issues, [...path, f, name], sm);
    }
  }
  const qp = asObject(m.queryParams);
  if (qp) for (const [name, sm] of Object.entries(qp)) checkStringMatch(issues, [...path, 'queryParams', name], sm, ['exact', 'regex']);
  checkMatchPort(issues, [...path, 'port'], m.port);
  checkLabels(issues, [...path, 'sourceLabels'], m.sourceLabels);
  checkGatewayNames(issues, [...path, 'gateways'], m.gateways);
  checkSourceNamespace(issues, [...path, 'sourceNamespace'], m.sourceNamespace);

  if (!restrictForDelegation) return;
  // Delegation merges the root's and the delegate's matches; Istio can only intersect non-regex matches.
  for (const f of STRING_MATCH_FIELDS) {
    if (present(asObject(m[f]) ?? {}, 'regex')) issues.error([...path, f, 'regex'], 'vs.delegate-match', `${f} match cannot use regex in a delegating route (use exact or prefix)`);
  }
  for (const f of MAP_MATCH_FIELDS) {
    const mm = asObject(m[f]);
    if (!mm) continue;
    for (const [name, sm] of Object.entries(mm)) {
      if (present(asObject(sm) ?? {}, 'regex')) issues.error([...path, f, name, 'regex'], 'vs.delegate-match', `${f} match "${name}" cannot use regex in a delegating route`);
    }
  }
  // Delegation only applies to gateways, where source workloads and per-match gateways mean nothing.
  if (Object.keys(asObject(m.sourceLabels) ?? {}).length > 0) issues.error([...path, 'sourceLabels'], 'vs.delegate-match', 'sourceLabels cannot be used in a delegating route (delegation applies to gateways only)');
  if (typeof m.sourceNamespace === 'string' && m.sourceNamespace !== '') issues.error([...path, 'sourceNamespace'], 'vs.delegate-match', 'sourceNamespace cannot be used in a delegating route (delegation applies to gateways only)');
  if (asArray(m.gateways).length > 0) issues.error([...path, 'gateways'], 'vs.delegate-match', 'gateways cannot be listed in the matches of a delegating route');
}

function checkDelegate(issues: Issues, path: Path, route: Record<string, unknown>, ctx: HttpContext): void {
  const dp = [...path, 'delegate'];
  if (!ctx.delegateEnabled) {
    issues.error(dp, 'vs.delegate-disabled', 'delegate is not enabled: VirtualService delegation is experimental in Istio 1.6 and off unless PILOT_ENABLE_VIRTUAL_SERVICE_DELEGATE=true');
  }
  if (ctx.inDelegateVs) {
    issues.error(dp, 'vs.delegate-route', 'a delegate VirtualService cannot delegate again: only one level of delegation is supported');
    return;
  }
  if (!ctx.appliesToGateway) issues.error(dp, 'vs.delegate-route', 'delegate only applies to VirtualServices bound to a gateway (list a gateway in spec.gateways)');
  if (present(route, 'route')) issues.error([...path, 'route'], 'vs.delegate-route', 'a route that delegates cannot also list route destinations: the delegate VirtualService routes the traffic');
  if (present(route, 'redirect')) issues.error([...path, 'redirect'], 'vs.delegate-route', 'a route that delegates cannot also redirect');
  const d = asObject(route.delegate);
  if (!d) return;
  const name = d.name;
  if (name === undefined || name === '') issues.error([...dp, 'name'], 'vs.delegate-route', 'delegate.name is required: the name of the delegate VirtualService');
  else if (typeof name === 'string' && !isDNS1123Subdomain(name)) issues.error([...dp, 'name'], 'vs.delegate-route', `delegate.name "${name}" is not a valid VirtualService name`);
  if (typeof d.namespace === 'string' && d.namespace !== '' && !isDNS1123Label(d.namespace)) {
    issues.error([...dp, 'namespace'], 'vs.delegate-route', `delegate.namespace "${d.namespace}" is not a valid namespace name`);
  }
}

function checkRetries(issues: Issues, path: Path, raw: unknown): void {
  const r = asObject(raw);
  if (!r) return;
  const attempts = typeof r.attempts === 'number' ? r.attempts : r.attempts === undefined ? 0 : undefined;
  if (attempts !== undefined && attempts < 0) issues.error([...path, 'attempts'], 'vs.retries', `attempts cannot be negative, got ${attempts}`);
  const configured = present(r, 'perTryTimeout') || (typeof r.retryOn === 'string' && r.retryOn !== '') || present(r, 'retryRemoteLocalities');
  if (attempts === 0 && configured) {
    issues.error([...path, 'attempts'], 'vs.retries', 'retry policy configured while attempts is 0 (retries disabled): set attempts, or remove perTryTimeout/retryOn/retryRemoteLocalities');
  }
  checkDuration(issues, [...path, 'perTryTimeout'], r.perTryTimeout);
  if (typeof r.retryOn === 'string' && r.retryOn !== '') {
    for (const token of r.retryOn.split(',')) {
      const asStatus = /^[+-]?[0-9]+$/.test(token) ? Number(token) : NaN;
      if (KNOWN_HTTP_STATUS.has(asStatus) || RETRY_ON_POLICIES.has(token)) continue;
      const hint = token !== token.trim() ? ' (no spaces around commas)' : '';
      issues.error([...path, 'retryOn'], 'vs.retry-on', `"${token}" is not a valid retryOn policy${hint}: use Envoy policies (${[...RETRY_ON_POLICIES].join(', ')}) or HTTP status codes`);
    }
  }
}

function checkFault(issues: Issues, path: Path, raw: unknown): void {
  const f = asObject(raw);
  if (!f) return;
  if (!present(f, 'delay') && !present(f, 'abort')) issues.error(path, 'vs.fault', 'HTTP fault injection must have an abort and/or a delay');
  const delay = asObject(f.delay);
  if (delay) {
    const dp = [...path, 'delay'];
    checkPercentage(issues, [...dp, 'percentage'], delay.percentage);
    if (present(delay, 'percent')) {
      checkIntPercent(issues, [...dp, 'percent'], delay.percent);
      issues.warn([...dp, 'percent'], 'vs.deprecated-field', 'delay.percent is deprecated: use percentage.value');
    }
    const fixed = present(delay, 'fixedDelay');
    const exp = present(delay, 'exponentialDelay');
    if (fixed && exp) issues.error(dp, 'vs.fault', 'only one of fixedDelay or exponentialDelay may be set');
    if (fixed) checkDuration(issues, [...dp, 'fixedDelay'], delay.fixedDelay);
    if (exp) {
      checkDuration(issues, [...dp, 'exponentialDelay'], delay.exponentialDelay);
      issues.error([...dp, 'exponentialDelay'], 'vs.fault', 'exponentialDelay is not supported: use fixedDelay');
    }
    if (!fixed && !exp) issues.error([...dp, 'fixedDelay'], 'vs.fault', 'a delay fault needs fixedDelay');
  }
  const abort = asObject(f.abort);
  if (abort) {
    const ap = [...path, 'abort'];
    checkPercentage(issues, [...ap, 'percentage'], abort.percentage);
    const kinds = (['httpStatus', 'grpcStatus', 'http2Error'] as const).filter((k) => present(abort, k));
    if (kinds.length > 1) issues.error(ap, 'vs.fault', `only one of ${kinds.join(', ')} may be set`);
    if (kinds.length === 0) issues.error([...ap, 'httpStatus'], 'vs.fault', 'an abort fault needs httpStatus');
    if (present(abort, 'grpcStatus')) issues.error([...ap, 'grpcStatus'], 'vs.fault', 'gRPC abort fault injection is not supported in Istio 1.6: use httpStatus');
    if (present(abort, 'http2Error')) issues.error([...ap, 'http2Error'], 'vs.fault', 'HTTP/2 error abort fault injection is not supported in Istio 1.6: use httpStatus');
    const status = abort.httpStatus;
    if (typeof status === 'number' && (status < 200 || status > 599)) issues.error([...ap, 'httpStatus'], 'vs.fault-http-status', `HTTP status ${status} is not in range 200..599`);
  }
}

function checkCors(issues: Issues, path: Path, raw: unknown): void {
  const c = asObject(raw);
  if (!c) return;
  if (present(c, 'allowOrigin')) issues.warn([...path, 'allowOrigin'], 'vs.deprecated-field', 'corsPolicy.allowOrigin is deprecated: use allowOrigins (string matches, e.g. {exact: https://example.com})');
  asArray(c.allowOrigins).forEach((raw, i) => {
    const o = asObject(raw);
    if (!o) return;
    const value = [o.exact, o.prefix, o.regex].find((v) => typeof v === 'string');
    if (value === undefined || value === '') issues.error([...path, 'allowOrigins', i], 'vs.cors-allow-origins', 'an allowOrigins entry needs a non-empty exact, prefix or regex');
    checkStringMatch(issues, [...path, 'allowOrigins', i], o);
  });
  asArray(c.allowMethods).forEach((m, i) => {
    if (typeof m === 'string' && !CORS_METHODS.has(m)) issues.error([...path, 'allowMethods', i], 'vs.cors-method', `"${m}" is not a supported HTTP method (${[...CORS_METHODS].join(', ')}; upper case)`);
  });
  for (const f of ['allowHeaders', 'exposeHeaders'] as const) {
    asArray(c[f]).forEach((h, i) => {
      if (typeof h !== 'string') return;
      const p = headerNameProblem(h);
      if (p) issues.error([...path, f, i], 'vs.header-name', p);
    });
  }
  const ms = checkDuration(issues, [...path, 'maxAge'], c.maxAge);
  if (ms !== undefined && ms % 1000 !== 0) issues.error([...path, 'maxAge'], 'vs.cors-max-age', `maxAge is accurate only to seconds precision, got "${String(c.maxAge)}"`);
}

function checkHttpRoute(issues: Issues, path: Path, route: Record<string, unknown>, ctx: HttpContext): void {
  const hasDelegate = present(route, 'delegate');
  if (hasDelegate) checkDelegate(issues, path, route, ctx);
  const routes = asArray(route.route);
  if (present(route, 'redirect')) {
    if (routes.length > 0) issues.error([...path, 'route'], 'vs.redirect-conflict', 'HTTP route cannot contain both route and redirect');
    if (present(route, 'fault')) issues.error([...path, 'fault'], 'vs.redirect-conflict', 'HTTP route cannot contain both fault and redirect');
    if (present(route, 'rewrite')) issues.error([...path, 'rewrite'], 'vs.redirect-conflict', 'HTTP route cannot contain both rewrite and redirect');
  } else if (routes.length === 0 && !hasDelegate) {
    issues.error([...path, 'route'], 'vs.route-required', 'HTTP route or redirect is required');
  }

  checkHeaderOperations(issues, [...path, 'headers'], route.headers);
  checkCors(issues, [...path, 'corsPolicy'], route.corsPolicy);
  checkFault(issues, [...path, 'fault'], route.fault);

  // Delegation merges root and delegate matches: both sides are restricted.
  const restrict = hasDelegate || ctx.inDelegateVs;
  asArray(route.match).forEach((m, j) => {
    const mo = asObject(m);
    if (mo) checkHttpMatch(issues, [...path, 'match', j], mo, restrict);
  });

  for (const f of ['mirrorPercent', 'mirror_percent'] as const) {
    if (!present(route, f)) continue;
    checkIntPercent(issues, [...path, f], route[f]);
    issues.warn([...path, f], 'vs.deprecated-field', `${f} is deprecated: use mirrorPercentage.value`);
  }
  if (present(route, 'mirrorPercent') && present(route, 'mirror_percent')) {
    issues.error([...path, 'mirror_percent'], 'vs.mirror-percent', 'mirrorPercent and mirror_percent are the same field: set only one (better: mirrorPercentage)');
  }
  checkPercentage(issues, [...path, 'mirrorPercentage'], route.mirrorPercentage);
  const mirror = asObject(route.mirror);
  if (mirror) checkDestination(issues, [...path, 'mirror'], mirror);

  const redirect = asObject(route.redirect);
  if (redirect) {
    if (!asString(redirect.uri) && !asString(redirect.authority)) issues.error([...path, 'redirect'], 'vs.redirect', 'redirect must specify uri, authority, or both');
    const code = redirect.redirectCode;
    if (typeof code === 'number' && code !== 0 && (code < 300 || code > 399)) issues.error([...path, 'redirect', 'redirectCode'], 'vs.redirect', `${code} is not a valid redirect code, must be 3xx`);
  }
  const rewrite = asObject(route.rewrite);
  if (rewrite && !asString(rewrite.uri) && !asString(rewrite.authority)) issues.error([...path, 'rewrite'], 'vs.rewrite', 'rewrite must specify uri, authority, or both');

  checkRetries(issues, [...path, 'retries'], route.retries);
  checkRouteDestinations(issues, [...path, 'route'], routes, true);
  checkDuration(issues, [...path, 'timeout'], route.timeout);
}

function checkTlsRoute(issues: Issues, path: Path, route: Record<string, unknown>, hosts: string[]): void {
  const matches = asArray(route.match);
  if (matches.length === 0) issues.error([...path, 'match'], 'vs.tls-match-required', 'TLS route must have at least one match condition (sniHosts)');
  matches.forEach((raw, j) => {
    const m = asObject(raw);
    if (!m) return;
    const mp = [...path, 'match', j];
    const sni = asArray(m.sniHosts);
    if (sni.length === 0) issues.error([...mp, 'sniHosts'], 'vs.sni-hosts', 'TLS match must have at least one SNI host');
    sni.forEach((h, k) => {
      if (typeof h !== 'string') return;
      const p = wildcardDomainProblem(h);
      if (p && ipProblem(h) !== undefined) {
        issues.error([...mp, 'sniHosts', k], 'vs.sni-hosts', p);
        return;
      }
      if (!hosts.some((vh) => hostSubsetOf(h, vh))) {
        issues.error([...mp, 'sniHosts', k], 'vs.sni-host-not-in-hosts', `SNI host "${h}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(', ')}]`);
      }
    });
    checkL4Match(issues, mp, m);
  });
  const routes = asArray(route.route);
  if (routes.length === 0) issues.error([...path, 'route'], 'vs.route-required', 'TLS route is required: list at least one destination');
  checkRouteDestinations(issues, [...path, 'route'], routes, false);
}

function checkL4Match(issues: Issues, path: Path, m: Record<string, unknown>): void {
  asArray(m.destinationSubnets).forEach((s, k) => {
    if (typeof s !== 'string') return;
    const p = cidrProblem(s);
    if (p) issues.error([...path, 'destinationSubnets', k], 'vs.subnet', p);
  });
  if (typeof m.sourceSubnet === 'string' && m.sourceSubnet !== '') {
    const p = cidrProblem(m.sourceSubnet);
    if (p) issues.error([...path, 'sourceSubnet'], 'vs.subnet', p);
  }
  checkMatchPort(issues, [...path, 'port'], m.port);
  checkLabels(issues, [...path, 'sourceLabels'], m.sourceLabels);
  checkGatewayNames(issues, [...path, 'gateways'], m.gateways);
  checkSourceNamespace(issues, [...path, 'sourceNamespace'], m.sourceNamespace);
}

function checkTcpRoute(issues: Issues, path: Path, route: Record<string, unknown>): void {
  asArray(route.match).forEach((raw, j) => {
    const m = asObject(raw);
    if (m) checkL4Match(issues, [...path, 'match', j], m);
  });
  const routes = asArray(route.route);
  if (routes.length === 0) issues.error([...path, 'route'], 'vs.route-required', 'TCP route is required: list at least one destination');
  checkRouteDestinations(issues, [...path, 'route'], routes, false);
}

function validateVirtualService(res: Resource, issues: Issues, ctx: ValidationContext): void {
  const spec = asObject(res.spec) ?? {};
  const delegateEnabled = ctx.enableVirtualServiceDelegate === true;
  const hosts = asArray(spec.hosts).filter((h): h is string => typeof h === 'string');
  const gateways = asArray(spec.gateways).filter((g): g is string => typeof g === 'string');
  const noHosts = asArray(spec.hosts).length === 0;
  const inDelegateVs = noHosts && delegateEnabled;

  if (noHosts && !delegateEnabled) {
    issues.error(['spec', 'hosts'], 'vs.hosts-required', 'virtual service must have at least one host (a VirtualService without hosts is a delegate, and delegation is disabled)');
  }
  if (inDelegateVs) {
    // A delegate is only reached through a root VirtualService's route: gateways, TLS and TCP mean nothing there.
    if (asArray(spec.gateways).length > 0) issues.error(['spec', 'gateways'], 'vs.hosts-required', 'a delegate VirtualService (one without hosts) cannot list gateways: add hosts, or remove gateways');
    if (asArray(spec.tls).length > 0) issues.error(['spec', 'tls'], 'vs.hosts-required', 'a delegate VirtualService (one without hosts) cannot have tls routes: add hosts');
    if (asArray(spec.tcp).length > 0) issues.error(['spec', 'tcp'], 'vs.hosts-required', 'a delegate VirtualService (one without hosts) cannot have tcp routes: add hosts');
  }

  const appliesToMesh = gateways.length === 0 || gateways.includes(MESH_GATEWAY);
  const appliesToGateway = gateways.some((g) => g !== MESH_GATEWAY);
  checkGatewayNames(issues, ['spec', 'gateways'], spec.gateways);

  let allHostsValid = true;
  asArray(spec.hosts).forEach((h, i) => {
    if (typeof h !== 'string') {
      allHostsValid = false;
      return;
    }
    const p = wildcardDomainProblem(h);
    if (p && ipProblem(h) !== undefined) {
      issues.error(['spec', 'hosts', i], 'vs.host', p);
      allHostsValid = false;
    } else if (appliesToMesh && h === '*') {
      issues.error(['spec', 'hosts', i], 'vs.mesh-wildcard-host', 'wildcard host * is not allowed for virtual services bound to the mesh gateway: list the gateways it applies to, or name the hosts');
      allHostsValid = false;
    }
  });
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        if (hostsOverlap(hosts[i]!, hosts[j]!)) issues.error(['spec', 'hosts', j], 'vs.duplicate-host', `duplicate hosts in virtual service: ${hosts[i]} & ${hosts[j]}`);
      }
    }
  }

  const http = asArray(spec.http);
  const tls = asArray(spec.tls);
  const tcp = asArray(spec.tcp);
  if (http.length === 0 && tls.length === 0 && tcp.length === 0) issues.error(['spec', 'http'], 'vs.routes-required', 'http, tcp or tls must be provided in virtual service');

  const httpCtx: HttpContext = { delegateEnabled, inDelegateVs, appliesToGateway };
  http.forEach((r, i) => {
    const o = asObject(r);
    if (o) checkHttpRoute(issues, ['spec', 'http', i], o, httpCtx);
  });
  tls.forEach((r, i) => {
    const o = asObject(r);
    if (o) checkTlsRoute(issues, ['spec', 'tls', i], o, hosts);
  });
  tcp.forEach((r, i) => {
    const o = asObject(r);
    if (o) checkTcpRoute(issues, ['spec', 'tcp', i], o);
  });
  checkExportTo(issues, ['spec', 'exportTo'], spec.exportTo);
}

export const virtualServiceKind: KindDef = networkingKind({
  kind: 'VirtualService',
  plural: 'virtualservices',
  shortNames: ['vs'],
  description: 'Routing rules for a set of hosts: HTTP matches, weighted destinations, redirects, rewrites, retries, timeouts, fault injection, mirroring, CORS, and TLS/TCP routes.',
  schema: schema,
  validate: validateVirtualService,
});

// Used only by the rule examples below.
const vs = (body: string, head = 'hosts: [reviews]') => `apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  ${head}\n${body}`;
const httpRoute = (extra: string, route = '    route: [{destination: {host: reviews}}]\n') => vs(`  http:\n  - ${extra.trimStart()}${route}`);

defineRules('VirtualService', [
  { id: 'vs.hosts-required', severity: 'error', summary: 'A VirtualService lists at least one host; only a delegate VirtualService (delegation enabled) omits them, and a delegate has no gateways, tls or tcp routes.', examples: [{ yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', 'gateways: [mesh]'), field: 'spec.hosts' }] },
  { id: 'vs.host', severity: 'error', summary: 'Each host is a short name, an FQDN, a wildcard domain (*.example.com) or an IP address.', examples: [{ yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', 'hosts: ["reviews.*.com"]'), field: 'spec.hosts[0]' }] },
  { id: 'vs.mesh-wildcard-host', severity: 'error', summary: 'The host "*" is only allowed on VirtualServices bound to gateways, never to the mesh.', examples: [{ yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', 'hosts: ["*"]'), field: 'spec.hosts[0]' }] },
  { id: 'vs.duplicate-host', severity: 'error', summary: 'Hosts in one VirtualService do not repeat or overlap (*.example.com and a.example.com overlap).', examples: [{ yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', 'hosts: ["*.example.com", "api.example.com"]'), field: 'spec.hosts[1]' }] },
  { id: 'vs.gateway-name', severity: 'error', summary: 'Gateway references are "mesh", a gateway name, or namespace/name with both parts DNS-1123 labels.', examples: [{ yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', 'hosts: [reviews]\n  gateways: ["istio-system/Bookinfo_Gateway"]'), field: 'spec.gateways[0]' }, { yaml: httpRoute('match:\n    - gateways: ["/bookinfo-gateway"]\n'), field: 'spec.http[0].match[0].gateways[0]' }] },
  { id: 'vs.routes-required', severity: 'error', summary: 'A VirtualService has at least one http, tls or tcp rule.', examples: [{ yaml: vs('  exportTo: ["."]\n'), field: 'spec.http' }] },
  { id: 'vs.route-required', severity: 'error', summary: 'An HTTP rule has route destinations or a redirect (or a delegate); TLS and TCP rules have route destinations.', examples: [{ yaml: vs('  http:\n  - match: [{uri: {prefix: /api}}]\n    timeout: 5s\n'), field: 'spec.http[0].route' }, { yaml: vs('  tcp:\n  - match: [{port: 27017}]\n', 'hosts: [mongo]'), field: 'spec.tcp[0].route' }] },
  { id: 'vs.redirect-conflict', severity: 'error', summary: 'A redirect cannot be combined with route destinations, a rewrite or a fault.', examples: [{ yaml: httpRoute('redirect: {uri: /v2}\n'), field: 'spec.http[0].route' }, { yaml: vs('  http:\n  - redirect: {uri: /v2}\n    rewrite: {uri: /v3}\n'), field: 'spec.http[0].rewrite' }] },
  { id: 'vs.redirect', severity: 'error', summary: 'A redirect sets uri, authority or both; redirectCode, if set, is a 3xx status.', examples: [{ yaml: vs('  http:\n  - redirect: {redirectCode: 302}\n'), field: 'spec.http[0].redirect' }, { yaml: vs('  http:\n  - redirect: {uri: /v2, redirectCode: 200}\n'), field: 'spec.http[0].redirect.redirectCode' }] },
  { id: 'vs.rewrite', severity: 'error', summary: 'A rewrite sets uri, authority or both.', examples: [{ yaml: httpRoute('rewrite: {}\n'), field: 'spec.http[0].rewrite' }] },
  { id: 'vs.destination-required', severity: 'error', summary: 'Each route entry has a destination.', examples: [{ yaml: vs('  http:\n  - route:\n    - weight: 100\n'), field: 'spec.http[0].route[0].destination' }] },
  { id: 'vs.destination-host', severity: 'error', summary: 'A destination (or mirror) names a host: a short name, FQDN or wildcard domain, never "*".', examples: [{ yaml: vs('  http:\n  - route: [{destination: {subset: v1}}]\n'), field: 'spec.http[0].route[0].destination.host' }, { yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n    mirror: {host: "*"}\n'), field: 'spec.http[0].mirror.host' }] },
  { id: 'vs.subset-name', severity: 'error', summary: 'A destination subset is a DNS-1123 label (the name of a DestinationRule subset).', examples: [{ yaml: vs('  http:\n  - route: [{destination: {host: reviews, subset: V1_beta}}]\n'), field: 'spec.http[0].route[0].destination.subset' }] },
  { id: 'vs.port', severity: 'error', summary: 'Destination ports and match ports are in 1..65535.', examples: [{ yaml: vs('  http:\n  - route: [{destination: {host: reviews, port: {number: 70000}}}]\n'), field: 'spec.http[0].route[0].destination.port.number' }, { yaml: vs('  tcp:\n  - match: [{port: 99999}]\n    route: [{destination: {host: mongo}}]\n', 'hosts: [mongo]'), field: 'spec.tcp[0].match[0].port' }] },
  { id: 'vs.weight', severity: 'error', summary: 'Each destination weight is in 0..100.', examples: [{ yaml: vs('  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 150\n    - destination: {host: reviews, subset: v2}\n      weight: -50\n'), field: 'spec.http[0].route[0].weight' }] },
  { id: 'vs.weight-sum', severity: 'error', summary: 'With more than one destination, the weights add up to exactly 100.', examples: [{ yaml: vs('  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 50\n    - destination: {host: reviews, subset: v2}\n      weight: 30\n'), field: 'spec.http[0].route[1].weight' }, { yaml: vs('  tcp:\n  - route:\n    - destination: {host: tcp-echo, subset: v1}\n    - destination: {host: tcp-echo, subset: v2}\n', 'hosts: [tcp-echo]'), field: 'spec.tcp[0].route[1].weight' }] },
  { id: 'vs.header-name', severity: 'error', summary: 'Header names in matches, header operations and CORS lists are non-empty HTTP tokens; pseudo-headers (":authority") may be matched but not set, added or removed.', examples: [{ yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n    headers:\n      request:\n        set: {"x trace": "1"}\n'), field: 'spec.http[0].headers.request.set["x trace"]' }, { yaml: httpRoute('match:\n    - headers: {"": {exact: x}}\n'), field: 'spec.http[0].match[0].headers[""]' }] },
  { id: 'vs.empty-match', severity: 'warning', summary: 'A match block with no condition matches every request; the API says a match cannot be empty.', examples: [{ yaml: httpRoute('match:\n    - name: everything\n'), field: 'spec.http[0].match[0]' }] },
  { id: 'vs.source-namespace', severity: 'error', summary: 'sourceNamespace is a namespace name (DNS-1123 label).', examples: [{ yaml: httpRoute('match:\n    - sourceNamespace: Bookinfo\n'), field: 'spec.http[0].match[0].sourceNamespace' }] },
  { id: 'vs.retries', severity: 'error', summary: 'retries.attempts is not negative, and when it is 0 (retries off) perTryTimeout, retryOn and retryRemoteLocalities are not set.', examples: [{ yaml: httpRoute('retries: {perTryTimeout: 2s}\n'), field: 'spec.http[0].retries.attempts' }, { yaml: httpRoute('retries: {attempts: -1}\n'), field: 'spec.http[0].retries.attempts' }] },
  { id: 'vs.retry-on', severity: 'error', summary: 'retryOn is a comma-separated list (no spaces) of Envoy retry policies (5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream, retriable-status-codes, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) and HTTP status codes.', examples: [{ yaml: httpRoute('retries: {attempts: 3, retryOn: "5xx,connect-failures"}\n'), field: 'spec.http[0].retries.retryOn' }] },
  { id: 'vs.fault', severity: 'error', summary: 'A fault has a delay and/or an abort; a delay uses fixedDelay (exponentialDelay is unsupported); an abort uses httpStatus (grpcStatus and http2Error are unsupported in Istio 1.6).', examples: [{ yaml: httpRoute('fault: {}\n'), field: 'spec.http[0].fault' }, { yaml: httpRoute('fault:\n      delay: {exponentialDelay: 1s}\n'), field: 'spec.http[0].fault.delay.exponentialDelay' }, { yaml: httpRoute('fault:\n      abort: {grpcStatus: UNAVAILABLE}\n'), field: 'spec.http[0].fault.abort.grpcStatus' }] },
  { id: 'vs.fault-http-status', severity: 'error', summary: 'An abort fault\'s httpStatus is in 200..599.', examples: [{ yaml: httpRoute('fault:\n      abort: {httpStatus: 999}\n'), field: 'spec.http[0].fault.abort.httpStatus' }] },
  { id: 'vs.cors-allow-origins', severity: 'error', summary: 'Each corsPolicy.allowOrigins entry is a non-empty exact, prefix or regex match.', examples: [{ yaml: httpRoute('corsPolicy:\n      allowOrigins: [{exact: ""}]\n'), field: 'spec.http[0].corsPolicy.allowOrigins[0]' }] },
  { id: 'vs.cors-method', severity: 'error', summary: 'corsPolicy.allowMethods lists upper-case HTTP methods: GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE.', examples: [{ yaml: httpRoute('corsPolicy:\n      allowMethods: [GET, FETCH]\n'), field: 'spec.http[0].corsPolicy.allowMethods[1]' }] },
  { id: 'vs.cors-max-age', severity: 'error', summary: 'corsPolicy.maxAge is a whole number of seconds.', examples: [{ yaml: httpRoute('corsPolicy:\n      maxAge: 1500ms\n'), field: 'spec.http[0].corsPolicy.maxAge' }] },
  { id: 'vs.delegate-disabled', severity: 'error', summary: 'http[].delegate is refused unless VirtualService delegation is enabled (PILOT_ENABLE_VIRTUAL_SERVICE_DELEGATE; off in Istio 1.6).', examples: [{ yaml: vs('  http:\n  - delegate: {name: reviews-delegate}\n', 'hosts: [bookinfo.example.com]\n  gateways: [bookinfo-gateway]'), field: 'spec.http[0].delegate' }] },
  { id: 'vs.delegate-route', severity: 'error', summary: 'A delegating route names its delegate, belongs to a gateway-bound VirtualService and has no route or redirect of its own; a delegate VirtualService cannot delegate again.', examples: [{ yaml: vs('  http:\n  - delegate: {name: reviews-delegate}\n    route: [{destination: {host: reviews}}]\n', 'hosts: [bookinfo.example.com]\n  gateways: [bookinfo-gateway]'), field: 'spec.http[0].route' }, { yaml: vs('  http:\n  - delegate: {name: reviews-delegate}\n', 'hosts: [reviews]'), field: 'spec.http[0].delegate' }] },
  { id: 'vs.delegate-match', severity: 'error', summary: 'Matches of a delegating route (and of a delegate VirtualService) use no regex and no sourceLabels, sourceNamespace or gateways.', examples: [{ yaml: vs('  http:\n  - match: [{uri: {regex: "/api/.*"}}]\n    delegate: {name: api}\n', 'hosts: [bookinfo.example.com]\n  gateways: [bookinfo-gateway]'), field: 'spec.http[0].match[0].uri.regex' }] },
  { id: 'vs.tls-match-required', severity: 'error', summary: 'A TLS route has at least one match (with sniHosts).', examples: [{ yaml: vs('  tls:\n  - route: [{destination: {host: nginx}}]\n', 'hosts: [nginx.example.com]\n  gateways: [mygateway]'), field: 'spec.tls[0].match' }] },
  { id: 'vs.sni-hosts', severity: 'error', summary: 'A TLS match lists at least one SNI host, each a valid (wildcard) domain or IP.', examples: [{ yaml: vs('  tls:\n  - match: [{port: 443}]\n    route: [{destination: {host: nginx}}]\n', 'hosts: [nginx.example.com]\n  gateways: [mygateway]'), field: 'spec.tls[0].match[0].sniHosts' }] },
  { id: 'vs.sni-host-not-in-hosts', severity: 'error', summary: 'Each SNI host of a TLS match is covered by one of the VirtualService hosts.', examples: [{ yaml: vs('  tls:\n  - match: [{sniHosts: [other.example.com]}]\n    route: [{destination: {host: nginx}}]\n', 'hosts: [nginx.example.com]\n  gateways: [mygateway]'), field: 'spec.tls[0].match[0].sniHosts[0]' }] },
  { id: 'vs.subnet', severity: 'error', summary: 'destinationSubnets and sourceSubnet are IPv4/IPv6 addresses or CIDR blocks.', examples: [{ yaml: vs('  tcp:\n  - match: [{destinationSubnets: ["10.0.0.0/33"]}]\n    route: [{destination: {host: mongo}}]\n', 'hosts: [mongo]'), field: 'spec.tcp[0].match[0].destinationSubnets[0]' }] },
  { id: 'vs.mirror-percent', severity: 'error', summary: 'mirrorPercent and mirror_percent are two spellings of one deprecated field: at most one is set.', examples: [{ yaml: httpRoute('mirror: {host: reviews, subset: v2}\n    mirrorPercent: 50\n    mirror_percent: 20\n'), field: 'spec.http[0].mirror_percent' }] },
  { id: 'vs.deprecated-field', severity: 'warning', summary: 'Deprecated fields still work but have replacements: mirrorPercent (mirror_percent) → mirrorPercentage, corsPolicy.allowOrigin → allowOrigins, fault.delay.percent → percentage.', examples: [{ yaml: httpRoute('mirror: {host: reviews, subset: v2}\n    mirrorPercent: 50\n'), field: 'spec.http[0].mirrorPercent' }] },
]);
