// AuthorizationPolicy → Envoy RBAC filters (HTTP and network) for sidecar inbound and gateway listeners, in Istio 1.6's shapes.
import type { AuthzRuleSchema } from '../../api/kinds/authorization-policy.js';
import { parseConditionKey, parseValuePattern } from '../../api/kinds/security-types.js';
import type { Static } from '../../api/schema.js';
import type { Proxy } from '../../model/proxy.js';
import type { AuthorizationPolicyConfig, PushContext, WorkloadAuthorizationPolicies } from '../../model/push-context.js';
import { any, cidrRange, type Msg } from './envoy-values.js';
import { objectId, pushMemo } from './push-memo.js';

/*
 * What this file emits, and the contract with the proxy's RBAC engine (which evaluates exactly
 * these shapes; envoy.config.rbac.v3):
 *
 * - One filter per action that has policies: AUDIT (action LOG), then DENY, then ALLOW. A workload
 *   with no ALLOW policy gets no ALLOW filter (everything not denied is allowed); an ALLOW filter
 *   whose `policies` map is empty (every ALLOW policy has no rules, or every rule was dropped)
 *   denies everything; a DENY filter with an empty map denies nothing.
 * - Every rule `i` of policy NAME in NS is one RBAC policy `ns[NS]-policy[NAME]-rule[i]`:
 *   `permissions` (one per `to` entry, else one) and `principals` (one per `from` entry, else one).
 *   Each is an `and_rules` / `and_ids` of one term per key; a term is `or_rules` / `or_ids` of the
 *   values, and `notX` / `notValues` add `not_rule` / `not_id` over an `or` of their values. A
 *   permission or principal with no term is `and[{any: true}]`, so the rule `{}` matches
 *   everything. Term order: principals, requestPrincipals, namespaces, ipBlocks, then the
 *   principal-side `when` keys; hosts, methods, paths, ports, then the permission-side `when` keys.
 * - Values are exact `abc`, prefix `abc*`, suffix `*abc` or presence `*`, as StringMatcher
 *   `exact` / `prefix` / `suffix` / `safe_regex ".+"` (a presence match of a header is
 *   `present_match`). Regexes are RE2 full matches (Envoy's safe_regex).
 * - HTTP-only keys on a TCP chain (hosts, methods, paths, requestPrincipals, request.headers,
 *   request.regex.headers, request.auth.*): verified in istio/istio release-1.6 and maistra/istio
 *   maistra-2.0 (pilot/pkg/security/authz/model/model.go, `checkError`): for ALLOW the whole rule
 *   is skipped, so it never matches (less allowed); for DENY each such value is skipped and the
 *   rest of the rule kept, so it matches more (`and[any]` when nothing is left: more denied).
 *   AUDIT follows DENY, as in Istio ≥1.9 where AUDIT first appears.
 * - `experimental.envoy.filters.F[K]` is emitted as Istio 1.6 emits it: a metadata matcher on
 *   the dynamic metadata of filter `envoy.filters.F`. A proxy without that filter never matches it.
 *
 * Deliberate departures from Istio 1.6's output (behaviour kept, noted where they are built):
 * - Peer identity (`principals`, `namespaces`, `source.principal`, `source.namespace`) is matched
 *   with `authenticated.principal_name` on HTTP as well as TCP. Istio 1.6 reads it on HTTP from
 *   the `istio_authn` filter's dynamic metadata (`source.principal`); Istio ≥1.11 uses
 *   `authenticated` for both. One shape means the check never depends on another filter being
 *   present and configured, and a DENY on peer identity cannot silently stop matching.
 * - Source IPs are `direct_remote_ip` (Istio 1.6 wrote `source_ip`, deprecated in v3 with the
 *   same meaning: the downstream connection's address, never X-Forwarded-For).
 * - Header matchers use `string_match` (Istio 1.6's `exact_match`/`prefix_match`/… are deprecated
 *   in v3) and `:authority` compares case-insensitively (`ignore_case`, CVE-2021-39155; Istio 1.6
 *   compared case-sensitively).
 * - The literal part of a wildcard principal is escaped inside its regex (Istio 1.6 pasted it in,
 *   so `*.local/…` also matched `xlocal/…`).
 */

/** Filter names and typed-config types of the two RBAC filters. */
export const RBAC_HTTP_FILTER = { name: 'envoy.filters.http.rbac', type: 'envoy.extensions.filters.http.rbac.v3.RBAC' } as const;
export const RBAC_NETWORK_FILTER = { name: 'envoy.filters.network.rbac', type: 'envoy.extensions.filters.network.rbac.v3.RBAC' } as const;
/** Istio's stat prefix of the network RBAC filter. */
export const RBAC_TCP_STAT_PREFIX = 'tcp.';
/** The dynamic metadata namespace of Istio's authn filter, where request.auth.* attributes live. */
export const AUTHN_FILTER = 'istio_authn';
/** SPIFFE URI scheme prefix of peer principals (a policy writes them without it). */
export const SPIFFE_PREFIX = 'spiffe://';

/** envoy.config.rbac.v3.RBAC.Action: AUDIT policies become LOG (match recorded, request allowed). */
export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

type AuthzRule = Static<typeof AuthzRuleSchema>;

/** Why a value cannot be expressed on this filter (an HTTP attribute on a TCP chain, an unusable value). */
export interface Problem {
  problem: string;
}
type Built = Msg | Problem;
const isProblem = (b: object): b is Problem => !Array.isArray(b) && typeof (b as Partial<Problem>).problem === 'string';

/** What a rule is built for: the action decides how an inexpressible value is handled. */
export interface RbacBuildContext {
  action: RbacAction;
  tcp: boolean;
  /** The mesh trust domain, then its aliases. */
  trustDomains: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Matchers

/** RE2 escaping of a literal (every RE2 metacharacter). */
function escapeRegex(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/**
 * A StringMatcher for an exact / `prefix*` / `*suffix` / `*` value (Istio's StringMatcher). With
 * `scheme` (`spiffe://`, for principals written without it: Istio's StringMatcherWithPrefix) the
 * value is matched after the scheme, and `*suffix` becomes the regex `SCHEME.*SUFFIX`
 * (CVE-2020-16844: never a plain suffix match, which would drop the scheme check); `*` stays any
 * non-empty value.
 */
function stringMatcher(v: string, scheme = ''): Built {
  const p = parseValuePattern(v);
  if ('problem' in p) return p;
  switch (p.type) {
    case 'present':
      return { safeRegex: { regex: '.+' } };
    case 'suffix':
      return scheme === '' ? { suffix: p.value } : { safeRegex: { regex: `${escapeRegex(scheme)}.*${escapeRegex(p.value)}` } };
    case 'prefix':
      return { prefix: scheme + p.value };
    default:
      return { exact: scheme + p.value };
  }
}

/** A route HeaderMatcher: `*` is presence, else a string match (case-insensitive for `:authority`). */
function headerMatcher(name: string, v: string, ignoreCase = false): Built {
  if (v === '*') return { name, presentMatch: true };
  const m = stringMatcher(v);
  if (isProblem(m)) return m;
  return { name, stringMatch: ignoreCase ? { ...m, ignoreCase: true } : m };
}

/** A MetadataMatcher on `filter` at `path` comparing a string value. */
function metadataString(filter: string, path: readonly string[], v: string): Built {
  const m = stringMatcher(v);
  if (isProblem(m)) return m;
  return { filter, path: path.map((key) => ({ key })), value: { stringMatch: m } };
}

/** A MetadataMatcher on `filter` at `path` whose value is a list, one element of which must match. */
function metadataList(filter: string, path: readonly string[], v: string): Built {
  const m = stringMatcher(v);
  if (isProblem(m)) return m;
  return { filter, path: path.map((key) => ({ key })), value: { listMatch: { oneOf: { stringMatch: m } } } };
}

function cidr(v: string): Built {
  return cidrRange(v) ?? { problem: `"${v}" is not an IP address or CIDR block` };
}

function port(v: string): Built | number {
  if (!/^[0-9]{1,5}$/.test(v) || Number(v) > 65535) return { problem: `"${v}" is not a port number` };
  return Number(v);
}

const httpOnly = (tcp: boolean, what: string): Problem | undefined => (tcp ? { problem: `${what} applies to HTTP only, not to a TCP filter chain` } : undefined);

// ---------------------------------------------------------------------------------------------
// Keys. Each turns one value into a principal (from + source.*/request.* conditions) or a
// permission (to + destination.*/connection.* conditions).

/** One key of a rule: its values, its negated values, and how one value becomes a matcher. */
interface Term {
  values: readonly string[];
  notValues: readonly string[];
  build: (v: string) => Built;
}

const principal = {
  /** Peer identity (mTLS): `authenticated.principal_name` against `spiffe://VALUE`. */
  sourcePrincipal: (v: string): Built => {
    const m = stringMatcher(v, SPIFFE_PREFIX);
    return isProblem(m) ? m : { authenticated: { principalName: m } };
  },
  // Peer namespace: the identity matches the regex `.*` + `/ns/NS/` + `.*` (a `*` in NS becomes `.*`, as Istio writes it).
  sourceNamespace: (v: string): Built => {
    const regex = `.*/ns/${v.split('*').map(escapeRegex).join('.*')}/.*`;
    return { authenticated: { principalName: { safeRegex: { regex } } } };
  },
  sourceIp: (v: string): Built => {
    const c = cidr(v);
    return isProblem(c) ? c : { directRemoteIp: c };
  },
  /** request.auth.principal / audiences / presenter: a string in the `istio_authn` metadata. */
  requestAuth: (key: string, tcp: boolean) => (v: string): Built => {
    const no = httpOnly(tcp, key);
    if (no) return no;
    const m = metadataString(AUTHN_FILTER, [key], v);
    return isProblem(m) ? m : { metadata: m };
  },
  /** request.auth.claims[NAME]: the claim is a list in `istio_authn` metadata; one element must match. */
  claim: (name: string, tcp: boolean) => (v: string): Built => {
    const no = httpOnly(tcp, `request.auth.claims[${name}]`);
    if (no) return no;
    const m = metadataList(AUTHN_FILTER, ['request.auth.claims', name], v);
    return isProblem(m) ? m : { metadata: m };
  },
  header: (name: string, tcp: boolean) => (v: string): Built => {
    const no = httpOnly(tcp, `request.headers[${name}]`);
    if (no) return no;
    const h = headerMatcher(name, v);
    return isProblem(h) ? h : { header: h };
  },
  /** Maistra's request.regex.headers[NAME]: the whole header value matches the RE2 regex. */
  regexHeader: (name: string, tcp: boolean) => (v: string): Built => {
    const no = httpOnly(tcp, `request.regex.headers[${name}]`);
    if (no) return no;
    if (v === '') return { problem: 'an empty regex' };
    return { header: { name, stringMatch: { safeRegex: { regex: v } } } };
  },
};

const permission = {
  /** Host, from `:authority`, compared case-insensitively (host names are, RFC 4343). */
  host: (tcp: boolean) => (v: string): Built => {
    const no = httpOnly(tcp, 'hosts');
    if (no) return no;
    const h = headerMatcher(':authority', v, true);
    return isProblem(h) ? h : { header: h };
  },
  method: (tcp: boolean) => (v: string): Built => {
    const no = httpOnly(tcp, 'methods');
    if (no) return no;
    const h = headerMatcher(':method', v);
    return isProblem(h) ? h : { header: h };
  },
  /** The path without the query (Envoy's url_path), case-sensitive. */
  path: (tcp: boolean) => (v: string): Built => {
    const no = httpOnly(tcp, 'paths');
    if (no) return no;
    const m = stringMatcher(v);
    return isProblem(m) ? m : { urlPath: { path: m } };
  },
  destinationPort: (v: string): Built => {
    const p = port(v);
    return typeof p === 'number' ? { destinationPort: p } : p;
  },
  destinationIp: (v: string): Built => {
    const c = cidr(v);
    return isProblem(c) ? c : { destinationIp: c };
  },
  sni: (v: string): Built => {
    const m = stringMatcher(v);
    return isProblem(m) ? m : { requestedServerName: m };
  },
  /** experimental.envoy.filters.F[K]: the metadata `envoy.filters.F` at key K; a value `[v]` matches one element of a list. */
  envoyFilter: (filter: string, key: string) => (v: string): Built => {
    const list = v.length >= 2 && v.startsWith('[') && v.endsWith(']');
    const m = list ? metadataList(filter, [key], v.slice(1, -1)) : metadataString(filter, [key], v);
    return isProblem(m) ? m : { metadata: m };
  },
};

/**
 * Istio's trust domain migration of peer principals: a principal `TD/ns/NS/sa/SA` whose trust
 * domain is the mesh's, one of its aliases, or `cluster.local` (which always means "this mesh")
 * is expanded to the same identity in the trust domain and in every alias. Other forms (a `*`
 * trust domain, not five segments, a foreign trust domain) are kept as written.
 */
export function withTrustDomainAliases(principals: readonly string[], trustDomains: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of principals) {
    const parts = p.split('/');
    if (parts.length !== 5 || parts[0] === '*' || !(trustDomains.includes(parts[0]!) || parts[0] === 'cluster.local')) {
      out.push(p);
      continue;
    }
    for (const td of trustDomains) {
      const replaced = [td, ...parts.slice(1)].join('/');
      if (!out.includes(replaced)) out.push(replaced);
    }
  }
  return out;
}

/**
 * The principal-side and permission-side terms of a rule's `when` conditions, in order. A key
 * validation would have refused (none reaches here from a validated store) becomes a term no value
 * of which can be expressed, so it is handled like an HTTP key on TCP: the rule of an ALLOW policy
 * is dropped, the condition of a DENY or AUDIT policy ignored. (Istio 1.6 drops the rule in both
 * cases, which for DENY would fail open.)
 */
function conditionTerms(rule: AuthzRule, ctx: RbacBuildContext): { principals: Term[]; permissions: Term[] } {
  const principals: Term[] = [];
  const permissions: Term[] = [];
  for (const cond of rule.when ?? []) {
    const values = cond.values ?? [];
    const notValues = cond.notValues ?? [];
    const parsed = parseConditionKey(cond.key ?? '');
    if ('problem' in parsed) {
      const problem = parsed;
      permissions.push({ values, notValues, build: () => problem });
      continue;
    }
    const name = parsed.name ?? '';
    switch (parsed.kind) {
      case 'header':
        principals.push({ values, notValues, build: principal.header(name, ctx.tcp) });
        break;
      case 'regexHeader':
        principals.push({ values, notValues, build: principal.regexHeader(name, ctx.tcp) });
        break;
      case 'claim':
        principals.push({ values, notValues, build: principal.claim(name, ctx.tcp) });
        break;
      case 'experimental':
        permissions.push({ values, notValues, build: permission.envoyFilter(parsed.key.slice('experimental.'.length), name) });
        break;
      case 'simple':
        switch (parsed.key) {
          case 'source.ip':
            principals.push({ values, notValues, build: principal.sourceIp });
            break;
          case 'source.namespace':
            principals.push({ values, notValues, build: principal.sourceNamespace });
            break;
          case 'source.principal':
            principals.push({ values: withTrustDomainAliases(values, ctx.trustDomains), notValues: withTrustDomainAliases(notValues, ctx.trustDomains), build: principal.sourcePrincipal });
            break;
          case 'request.auth.principal':
          case 'request.auth.audiences':
          case 'request.auth.presenter':
            principals.push({ values, notValues, build: principal.requestAuth(parsed.key, ctx.tcp) });
            break;
          case 'destination.ip':
            permissions.push({ values, notValues, build: permission.destinationIp });
            break;
          case 'destination.port':
            permissions.push({ values, notValues, build: permission.destinationPort });
            break;
          case 'connection.sni':
            permissions.push({ values, notValues, build: permission.sni });
            break;
          default: {
            const problem = { problem: `unknown attribute ${parsed.key}` };
            permissions.push({ values, notValues, build: () => problem });
          }
        }
    }
  }
  return { principals, permissions };
}

/**
 * The matchers of one term: `or` of the values, then `not(or)` of the negated values. A value that
 * cannot be expressed (an HTTP attribute on a TCP chain) fails the whole rule of an ALLOW policy,
 * which then matches nothing (less is allowed), and is left out of a DENY or AUDIT policy, which
 * then matches more (more is denied). This is Istio 1.6's rule (model.go checkError): a policy
 * never fails open because a filter chain cannot see an attribute.
 */
function termMatchers(t: Term, ctx: RbacBuildContext, or: (m: Msg[]) => Msg, not: (m: Msg) => Msg): Msg[] | Problem {
  const out: Msg[] = [];
  for (const [list, negate] of [
    [t.values, false],
    [t.notValues, true],
  ] as const) {
    const ms: Msg[] = [];
    for (const v of list) {
      const b = t.build(v);
      if (!isProblem(b)) ms.push(b);
      else if (ctx.action === 'ALLOW') return b;
    }
    if (ms.length > 0) out.push(negate ? not(or(ms)) : or(ms));
  }
  return out;
}

const principalSet = {
  any: (): Msg => ({ any: true }),
  and: (ids: Msg[]): Msg => ({ andIds: { ids } }),
  or: (ids: Msg[]): Msg => ({ orIds: { ids } }),
  not: (id: Msg): Msg => ({ notId: id }),
};
const permissionSet = {
  any: (): Msg => ({ any: true }),
  and: (rules: Msg[]): Msg => ({ andRules: { rules } }),
  or: (rules: Msg[]): Msg => ({ orRules: { rules } }),
  not: (rule: Msg): Msg => ({ notRule: rule }),
};

/** `and` over the terms' matchers (`and[any]` when there are none). */
function conjunction(terms: readonly Term[], ctx: RbacBuildContext, set: typeof principalSet): Msg | Problem {
  const all: Msg[] = [];
  for (const t of terms) {
    if (t.values.length === 0 && t.notValues.length === 0) continue;
    const ms = termMatchers(t, ctx, set.or, set.not);
    if (isProblem(ms)) return ms;
    all.push(...ms);
  }
  return set.and(all.length > 0 ? all : [set.any()]);
}

/**
 * One rule of a policy as an RBAC Policy (`permissions` and `principals`), or the problem that
 * drops it. Pure. Exported for tests and for the proxy engine's tests.
 */
export function rbacPolicyForRule(rule: AuthzRule, ctx: RbacBuildContext): Msg | Problem {
  const when = conditionTerms(rule, ctx);

  const principals: Msg[] = [];
  const froms = rule.from ?? [];
  for (const from of froms.length > 0 ? froms : [undefined]) {
    const s = from?.source;
    const terms: Term[] = [];
    if (s) {
      terms.push(
        { values: withTrustDomainAliases(s.principals ?? [], ctx.trustDomains), notValues: withTrustDomainAliases(s.notPrincipals ?? [], ctx.trustDomains), build: principal.sourcePrincipal },
        { values: s.requestPrincipals ?? [], notValues: s.notRequestPrincipals ?? [], build: principal.requestAuth('request.auth.principal', ctx.tcp) },
        { values: s.namespaces ?? [], notValues: s.notNamespaces ?? [], build: principal.sourceNamespace },
        { values: s.ipBlocks ?? [], notValues: s.notIpBlocks ?? [], build: principal.sourceIp },
      );
    }
    const p = conjunction([...terms, ...when.principals], ctx, principalSet);
    if (isProblem(p)) return p;
    principals.push(p);
  }

  const permissions: Msg[] = [];
  const tos = rule.to ?? [];
  for (const to of tos.length > 0 ? tos : [undefined]) {
    const o = to?.operation;
    const terms: Term[] = [];
    if (o) {
      terms.push(
        { values: o.hosts ?? [], notValues: o.notHosts ?? [], build: permission.host(ctx.tcp) },
        { values: o.methods ?? [], notValues: o.notMethods ?? [], build: permission.method(ctx.tcp) },
        { values: o.paths ?? [], notValues: o.notPaths ?? [], build: permission.path(ctx.tcp) },
        { values: o.ports ?? [], notValues: o.notPorts ?? [], build: permission.destinationPort },
      );
    }
    const p = conjunction([...terms, ...when.permissions], ctx, permissionSet);
    if (isProblem(p)) return p;
    permissions.push(p);
  }
  return { permissions, principals };
}

/** Istio's RBAC policy name of rule `index` of a policy. */
export function rbacPolicyName(policy: { namespace: string; name: string }, index: number): string {
  return `ns[${policy.namespace}]-policy[${policy.name}]-rule[${index}]`;
}

/**
 * The `envoy.config.rbac.v3.RBAC` of one action over `policies` (in order): every rule that can be
 * expressed on this chain kind, keyed by `rbacPolicyName`. A policy without rules adds nothing, so
 * an ALLOW policy without rules allows nothing (Istio 1.6; validation rejects a DENY or AUDIT
 * policy without rules). A dropped rule is simply absent.
 */
export function rbacRules(policies: readonly AuthorizationPolicyConfig[], action: RbacAction, tcp: boolean, trustDomains: readonly string[]): Msg {
  const ctx: RbacBuildContext = { action, tcp, trustDomains };
  const out: Record<string, Msg> = {};
  for (const policy of policies) {
    (policy.spec.rules ?? []).forEach((rule, i) => {
      if (!rule) return;
      const built = rbacPolicyForRule(rule, ctx);
      if (!isProblem(built)) out[rbacPolicyName(policy, i)] = built;
    });
  }
  return { action, policies: out };
}

/** The actions in the order their filters run: AUDIT only records, DENY before ALLOW. */
function byAction(p: WorkloadAuthorizationPolicies): Array<[RbacAction, readonly AuthorizationPolicyConfig[]]> {
  const out: Array<[RbacAction, readonly AuthorizationPolicyConfig[]]> = [];
  if (p.audit.length > 0) out.push(['LOG', p.audit]);
  if (p.deny.length > 0) out.push(['DENY', p.deny]);
  if (p.allow.length > 0) out.push(['ALLOW', p.allow]);
  return out;
}

function trustDomainsOf(push: PushContext): string[] {
  return [...new Set([push.mesh.trustDomain, ...push.mesh.trustDomainAliases].filter((d) => d !== ''))];
}

/** The `envoy.filters.http.rbac` filters of a set of policies: AUDIT (LOG), DENY, ALLOW; none when no policy applies. */
export function rbacHttpFilters(policies: WorkloadAuthorizationPolicies, trustDomains: readonly string[]): Msg[] {
  return byAction(policies).map(([action, list]) => ({
    name: RBAC_HTTP_FILTER.name,
    typedConfig: any(RBAC_HTTP_FILTER.type, { rules: rbacRules(list, action, false, trustDomains) }),
  }));
}

/** The `envoy.filters.network.rbac` filters (stat prefix `tcp.`) of a set of policies, to run before tcp_proxy. */
export function rbacNetworkFilters(policies: WorkloadAuthorizationPolicies, trustDomains: readonly string[]): Msg[] {
  return byAction(policies).map(([action, list]) => ({
    name: RBAC_NETWORK_FILTER.name,
    typedConfig: any(RBAC_NETWORK_FILTER.type, { rules: rbacRules(list, action, true, trustDomains), statPrefix: RBAC_TCP_STAT_PREFIX }),
  }));
}

/** The RBAC filters of one proxy: HTTP filters for its connection managers, network filters for its TCP chains. */
export interface AuthorizationFilters {
  /** To run after authentication and before cors, fault and the router. */
  http: readonly Msg[];
  /** To run before tcp_proxy. */
  tcp: readonly Msg[];
}

const NONE: AuthorizationFilters = Object.freeze({ http: Object.freeze([]), tcp: Object.freeze([]) });

/**
 * The RBAC filters for `proxy`'s sidecar inbound chains or gateway chains (Istio 1.6 applies
 * AuthorizationPolicy to both, never to a sidecar's outbound side), from the policies that select
 * its namespace and labels. Pure; frozen results are shared between proxies selected by the same
 * policies within a push.
 */
export function authorizationFilters(proxy: Proxy, push: PushContext): AuthorizationFilters {
  const policies = push.authorizationPolicies(proxy.namespace, proxy.labels);
  if (policies.deny.length + policies.allow.length + policies.audit.length === 0) return NONE;
  // Optimization: the index returns one object per distinct selection, so its id names the output.
  return pushMemo(push, `authz|${objectId(policies)}`, () => {
    const trustDomains = trustDomainsOf(push);
    return { http: rbacHttpFilters(policies, trustDomains), tcp: rbacNetworkFilters(policies, trustDomains) };
  });
}
