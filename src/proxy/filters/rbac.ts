// Envoy's role-based access control (envoy.filters.http.rbac and envoy.filters.network.rbac) compiled once into policy predicates over a request or a connection.
import type { X509Certificate } from 'node:crypto';
import { compileHeaderMatcher, compileStringMatcher, type HeaderLookup } from '../config/string-matcher.js';
import { ConfigError, list, num, obj, str, type Json } from '../config/xds-json.js';
import type { FilterReply, FilterRequest, FilterVerdict, HttpDecoderFilter } from '../http/http-filters.js';
import { parseSubjectAltNames } from '../../shared/spiffe.js';
import type { DownstreamSecurity } from '../security/tls-transport.js';
import { compileCidrRange, onlyFields } from './filter-config.js';
import { compileMetadataMatcher, type DynamicMetadata } from './metadata-matcher.js';

export const RBAC_HTTP_FILTER = 'envoy.filters.http.rbac';
export const RBAC_NETWORK_FILTER = 'envoy.filters.network.rbac';
/** The HTTP filter's config types (v3, and the v2 Istio 1.6 sent, which has the same fields). */
export const RBAC_HTTP_TYPES: ReadonlySet<string> = new Set(['type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC', 'type.googleapis.com/envoy.config.filter.http.rbac.v2.RBAC']);
export const RBAC_NETWORK_TYPES: ReadonlySet<string> = new Set(['type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC', 'type.googleapis.com/envoy.config.filter.network.rbac.v2.RBAC']);

/** Envoy's local reply body for a denied request. */
export const RBAC_DENIED_BODY = 'RBAC: access denied';

/** What RBAC sees of a connection; a FilterRequest is one, with headers and metadata as well. */
export interface RbacConnection {
  readonly security: DownstreamSecurity;
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
  /** TLS SNI; matched as '' when absent, as Envoy does. */
  readonly serverName?: string;
  readonly metadata?: DynamicMetadata;
}

/** Envoy's rbac.* counters for one filter. */
export interface RbacStats {
  allowed: number;
  denied: number;
  shadow_allowed: number;
  shadow_denied: number;
  logged: number;
  not_logged: number;
}

type Predicate = (c: RbacConnection) => boolean;
type Action = 'ALLOW' | 'DENY' | 'LOG';

interface Engine {
  action: Action;
  /** Policies in name order (Envoy keeps them in an ordered map; the first match names the decision). */
  policies: readonly { name: string; matches: Predicate }[];
}

const EMPTY_METADATA: DynamicMetadata = new Map();

/**
 * The request being evaluated, for header and path rules. Evaluation is synchronous, so one slot
 * serves every engine; it lets header matchers share one lookup function instead of a closure per
 * request. Network evaluation leaves it empty: header and path rules then never match a value.
 */
let current: FilterRequest | undefined;

const lookup: HeaderLookup = (name) => {
  const r = current;
  if (r === undefined) return undefined;
  if (name.charCodeAt(0) === 58 /* : */) {
    switch (name) {
      case ':authority':
        return r.authority;
      case ':method':
        return r.method;
      case ':path':
        // Envoy's :path carries the query; url_path rules match without it.
        return r.query === '' ? r.path : `${r.path}?${r.query}`;
      case ':scheme':
        return r.security.tls ? 'https' : 'http';
      default:
        return undefined;
    }
  }
  // Envoy turns HTTP/1 Host into :authority; Meltemi's header list keeps `host`, so both names read the authority.
  if (name === 'host') return r.authority;
  return r.headers.joined(name);
};

const ACTIONS: Readonly<Record<string, Action>> = { ALLOW: 'ALLOW', DENY: 'DENY', LOG: 'LOG', 0: 'ALLOW', 1: 'DENY', 2: 'LOG' };

const HEADER_MATCHER_FIELDS: ReadonlySet<string> = new Set(['name', 'exact_match', 'safe_regex_match', 'range_match', 'present_match', 'prefix_match', 'suffix_match', 'contains_match', 'string_match', 'invert_match']);

function headerRule(v: unknown, path: string): Predicate {
  // Unknown specifiers (v2's regex_match) must not fall through to "header present".
  onlyFields(obj(v, path), path, HEADER_MATCHER_FIELDS);
  const m = compileHeaderMatcher(v, path);
  return () => m(lookup);
}

function urlPathRule(v: unknown, path: string): Predicate {
  const p = obj(v, path);
  onlyFields(p, path, new Set(['path']));
  if (p.path === undefined) throw new ConfigError(`${path}.path`, 'is required');
  const m = compileStringMatcher(p.path, `${path}.path`);
  return () => current !== undefined && m(current.path);
}

function metadataRule(v: unknown, path: string): Predicate {
  const m = compileMetadataMatcher(v, path);
  return (c) => m(c.metadata ?? EMPTY_METADATA);
}

function anyRule(v: unknown, path: string): Predicate {
  if (v !== true) throw new ConfigError(path, 'must be true');
  return () => true;
}

function setOf(v: unknown, path: string, key: 'rules' | 'ids', each: (x: unknown, p: string) => Predicate): Predicate[] {
  const s = obj(v, path);
  onlyFields(s, path, new Set([key]));
  const items = list(s[key], `${path}.${key}`).map((x, i) => each(x, `${path}.${key}[${i}]`));
  if (items.length === 0) throw new ConfigError(`${path}.${key}`, 'needs at least one entry');
  return items;
}

function allOf(ps: Predicate[]): Predicate {
  return (c) => {
    for (const p of ps) if (!p(c)) return false;
    return true;
  };
}

function someOf(ps: Predicate[]): Predicate {
  return (c) => {
    for (const p of ps) if (p(c)) return true;
    return false;
  };
}

/** The single key of a oneof message (`{ header: … }`), refusing none or several. */
function oneKey(v: unknown, path: string): [string, unknown] {
  const o = obj(v, path);
  const keys = Object.keys(o).filter((k) => k !== '@type');
  if (keys.length !== 1) throw new ConfigError(path, `needs exactly one rule, has ${keys.length === 0 ? 'none' : keys.join(', ')}`);
  return [keys[0]!, o[keys[0]!]];
}

function port(v: unknown, path: string): number {
  const n = num(v, path);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(path, 'must be a port number');
  return n;
}

/** envoy.config.rbac.v3.Permission. */
function compilePermission(v: unknown, path: string): Predicate {
  const [kind, x] = oneKey(v, path);
  const p = `${path}.${kind}`;
  switch (kind) {
    case 'and_rules':
      return allOf(setOf(x, p, 'rules', compilePermission));
    case 'or_rules':
      return someOf(setOf(x, p, 'rules', compilePermission));
    case 'not_rule': {
      const inner = compilePermission(x, p);
      return (c) => !inner(c);
    }
    case 'any':
      return anyRule(x, p);
    case 'header':
      return headerRule(x, p);
    case 'url_path':
      return urlPathRule(x, p);
    case 'destination_ip': {
      const cidr = compileCidrRange(x, p);
      return (c) => cidr(c.localAddress);
    }
    case 'destination_port': {
      const want = port(x, p);
      return (c) => c.localPort === want;
    }
    case 'destination_port_range': {
      const r = obj(x, p);
      const start = num(r.start, `${p}.start`, 0);
      const end = num(r.end, `${p}.end`, 0);
      if (start < 0 || end > 65536 || start >= end) throw new ConfigError(p, 'needs 0 <= start < end <= 65536');
      return (c) => c.localPort >= start && c.localPort < end;
    }
    case 'requested_server_name': {
      const m = compileStringMatcher(x, p);
      return (c) => m(c.serverName ?? '');
    }
    case 'metadata':
      return metadataRule(x, p);
    default:
      throw new ConfigError(p, 'is not a supported permission');
  }
}

/** The names a verified peer certificate presents to `authenticated`: URI SANs, then DNS SANs, then the subject. */
interface PeerNames {
  uris: readonly string[];
  dns: readonly string[];
  subject: string;
}

const namesOfCert = new WeakMap<X509Certificate, PeerNames | null>();
const namesOfPeer = new WeakMap<object, PeerNames>();

function peerNames(sec: DownstreamSecurity): PeerNames | undefined {
  // A principal is only ever a verified TLS peer: plaintext never authenticates anyone.
  if (!sec.tls) return undefined;
  const cert = sec.peerCertificate;
  if (cert !== undefined) {
    let names = namesOfCert.get(cert);
    if (names === undefined) {
      const sans = parseSubjectAltNames(cert.subjectAltName);
      // SANs Node had to quote cannot be read without guessing: the certificate names no one.
      names = sans === undefined ? null : {
        uris: sans.filter((s) => s.type === 'URI').map((s) => s.value),
        dns: sans.filter((s) => s.type === 'DNS').map((s) => s.value),
        // Node prints the subject one RDN a line, most significant first; Envoy uses RFC 2253 order.
        subject: cert.subject.split('\n').filter((l) => l !== '').reverse().join(','),
      };
      namesOfCert.set(cert, names);
    }
    if (names !== null) return names;
  }
  const peer = sec.peer;
  if (peer === undefined) return undefined;
  let names = namesOfPeer.get(peer);
  if (names === undefined) {
    names = { uris: [peer.spiffeId], dns: [], subject: '' };
    namesOfPeer.set(peer, names);
  }
  return names;
}

function authenticatedRule(v: unknown, path: string): Predicate {
  const a = obj(v, path);
  onlyFields(a, path, new Set(['principal_name']));
  if (a.principal_name === undefined) return (c) => peerNames(c.security) !== undefined;
  const m = compileStringMatcher(a.principal_name, `${path}.principal_name`);
  return (c) => {
    const n = peerNames(c.security);
    if (n === undefined) return false;
    for (const u of n.uris) if (m(u)) return true;
    for (const d of n.dns) if (m(d)) return true;
    return n.subject !== '' && m(n.subject);
  };
}

/** envoy.config.rbac.v3.Principal. */
function compilePrincipal(v: unknown, path: string): Predicate {
  const [kind, x] = oneKey(v, path);
  const p = `${path}.${kind}`;
  switch (kind) {
    case 'and_ids':
      return allOf(setOf(x, p, 'ids', compilePrincipal));
    case 'or_ids':
      return someOf(setOf(x, p, 'ids', compilePrincipal));
    case 'not_id': {
      const inner = compilePrincipal(x, p);
      return (c) => !inner(c);
    }
    case 'any':
      return anyRule(x, p);
    case 'authenticated':
      return authenticatedRule(x, p);
    // Meltemi sees no PROXY protocol and no trusted X-Forwarded-For here: all three are the peer address.
    case 'source_ip':
    case 'direct_remote_ip':
    case 'remote_ip': {
      const cidr = compileCidrRange(x, p);
      return (c) => cidr(c.remoteAddress);
    }
    case 'header':
      return headerRule(x, p);
    case 'url_path':
      return urlPathRule(x, p);
    case 'metadata':
      return metadataRule(x, p);
    default:
      throw new ConfigError(p, 'is not a supported principal');
  }
}

/** envoy.config.rbac.v3.Policy: some permission and some principal. */
function compilePolicy(v: unknown, path: string): Predicate {
  const p = obj(v, path);
  onlyFields(p, path, new Set(['permissions', 'principals']));
  const permissions = list(p.permissions, `${path}.permissions`).map((x, i) => compilePermission(x, `${path}.permissions[${i}]`));
  const principals = list(p.principals, `${path}.principals`).map((x, i) => compilePrincipal(x, `${path}.principals[${i}]`));
  if (permissions.length === 0) throw new ConfigError(`${path}.permissions`, 'needs at least one permission');
  if (principals.length === 0) throw new ConfigError(`${path}.principals`, 'needs at least one principal');
  const perm = someOf(permissions);
  const princ = someOf(principals);
  return (c) => perm(c) && princ(c);
}

/** envoy.config.rbac.v3.RBAC → an engine. */
function compileEngine(v: unknown, path: string): Engine {
  const r = obj(v, path);
  onlyFields(r, path, new Set(['action', 'policies', 'audit_logging_options']));
  const actionName = r.action === undefined ? 'ALLOW' : String(r.action);
  const action = ACTIONS[actionName];
  if (action === undefined) throw new ConfigError(`${path}.action`, 'must be ALLOW, DENY or LOG');
  const policies = r.policies === undefined ? {} : obj(r.policies, `${path}.policies`);
  const names = Object.keys(policies).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { action, policies: names.map((name) => ({ name, matches: compilePolicy(policies[name], `${path}.policies[${JSON.stringify(name)}]`) })) };
}

/** The first policy (in name order) that matches, or undefined. */
function firstMatch(engine: Engine, c: RbacConnection): string | undefined {
  for (const p of engine.policies) if (p.matches(c)) return p.name;
  return undefined;
}

/** Envoy's decision: ALLOW admits iff a policy matches, DENY refuses iff one matches, LOG never refuses. */
function decide(engine: Engine, matched: string | undefined): boolean {
  if (engine.action === 'ALLOW') return matched !== undefined;
  if (engine.action === 'DENY') return matched === undefined;
  return true;
}

/** Envoy's %RESPONSE_CODE_DETAILS% for a denial. */
export function rbacDeniedDetails(policy: string | undefined): string {
  return `rbac_access_denied_matched_policy[${policy ?? 'none'}]`;
}

interface Engines {
  enforced?: Engine;
  shadow?: Engine;
}

function compileEngines(c: Json, path: string, known: readonly string[]): Engines {
  onlyFields(c, path, new Set(['rules', 'shadow_rules', 'shadow_rules_stat_prefix', 'rules_stat_prefix', 'track_per_rule_stats', ...known]));
  const out: Engines = {};
  if (c.rules !== undefined) out.enforced = compileEngine(c.rules, `${path}.rules`);
  if (c.shadow_rules !== undefined) out.shadow = compileEngine(c.shadow_rules, `${path}.shadow_rules`);
  return out;
}

function newStats(): RbacStats {
  return { allowed: 0, denied: 0, shadow_allowed: 0, shadow_denied: 0, logged: 0, not_logged: 0 };
}

/** A compiled HTTP RBAC filter with its counters. */
export interface HttpRbacFilter extends HttpDecoderFilter {
  readonly stats: RbacStats;
}

function setMetadata(req: FilterRequest, filter: string, fields: Record<string, unknown>): void {
  const prev = req.metadata.get(filter);
  req.metadata.set(filter, prev === undefined ? fields : { ...prev, ...fields });
}

/**
 * Compiles `envoy.extensions.filters.http.rbac.v3.RBAC` (fields as decoded, `path` for errors).
 * Without `rules` every request passes. Shadow rules are evaluated and only counted, with the result
 * in metadata[`envoy.filters.http.rbac`] (`shadow_effective_policy_id`, `shadow_engine_result`);
 * a LOG engine writes metadata[`envoy.common`].access_log_hint. A denial is a 403
 * `RBAC: access denied`. An unexpected failure while matching denies (fails closed).
 */
export function compileHttpRbac(config: unknown, path: string, name = RBAC_HTTP_FILTER): HttpRbacFilter {
  const c = obj(config, path);
  if (c.matcher !== undefined || c.shadow_matcher !== undefined) throw new ConfigError(`${path}.matcher`, 'the matcher API is not supported; use rules');
  const { enforced, shadow } = compileEngines(c, path, []);
  const stats = newStats();
  const decode = (req: FilterRequest): FilterVerdict => {
    current = req;
    try {
      if (shadow !== undefined) {
        const policy = firstMatch(shadow, req);
        const allowed = decide(shadow, policy);
        if (allowed) stats.shadow_allowed++;
        else stats.shadow_denied++;
        const fields: Record<string, unknown> = { shadow_engine_result: allowed ? 'allowed' : 'denied' };
        if (policy !== undefined) fields.shadow_effective_policy_id = policy;
        setMetadata(req, RBAC_HTTP_FILTER, fields);
      }
      if (enforced === undefined) return undefined;
      const policy = firstMatch(enforced, req);
      if (enforced.action === 'LOG') {
        if (policy !== undefined) stats.logged++;
        else stats.not_logged++;
        setMetadata(req, 'envoy.common', { access_log_hint: policy !== undefined });
      }
      if (decide(enforced, policy)) {
        stats.allowed++;
        return undefined;
      }
      stats.denied++;
      return denied(policy);
    } catch {
      stats.denied++;
      return denied(undefined);
    } finally {
      current = undefined;
    }
  };
  return { name, decode, stats };
}

function denied(policy: string | undefined): FilterReply {
  return { status: 403, body: RBAC_DENIED_BODY, details: rbacDeniedDetails(policy) };
}

/** The network filter's verdict on one connection. */
export interface NetworkRbacVerdict {
  allowed: boolean;
  /** The policy that decided (the matching one), when one matched. */
  policy?: string;
  /** %RESPONSE_CODE_DETAILS% when denied. */
  details?: string;
}

/** A compiled network RBAC filter: call it once per connection (Envoy's ONE_TIME_ON_FIRST_BYTE). */
export type NetworkRbac = ((conn: RbacConnection) => NetworkRbacVerdict) & { readonly stats: RbacStats };

/**
 * Compiles `envoy.extensions.filters.network.rbac.v3.RBAC`. Rules that read HTTP (headers, paths)
 * never match a value on a connection, as in Envoy, where they see an empty header map; metadata
 * rules see the connection's metadata when given. The caller closes a denied connection.
 */
export function compileNetworkRbac(config: unknown, path = 'rbac'): NetworkRbac {
  const c = obj(config, path);
  if (c.matcher !== undefined || c.shadow_matcher !== undefined) throw new ConfigError(`${path}.matcher`, 'the matcher API is not supported; use rules');
  const { enforced, shadow } = compileEngines(c, path, ['stat_prefix', 'enforcement_type', 'delay_deny']);
  if (c.enforcement_type !== undefined && c.enforcement_type !== 'ONE_TIME_ON_FIRST_BYTE' && c.enforcement_type !== 0) {
    throw new ConfigError(`${path}.enforcement_type`, 'only ONE_TIME_ON_FIRST_BYTE is supported');
  }
  str(c.stat_prefix, `${path}.stat_prefix`, '');
  const stats = newStats();
  const evaluate = (conn: RbacConnection): NetworkRbacVerdict => {
    current = undefined;
    try {
      if (shadow !== undefined) {
        if (decide(shadow, firstMatch(shadow, conn))) stats.shadow_allowed++;
        else stats.shadow_denied++;
      }
      if (enforced === undefined) return { allowed: true };
      const policy = firstMatch(enforced, conn);
      if (enforced.action === 'LOG') {
        if (policy !== undefined) stats.logged++;
        else stats.not_logged++;
      }
      const allowed = decide(enforced, policy);
      if (allowed) stats.allowed++;
      else stats.denied++;
      const out: NetworkRbacVerdict = { allowed };
      if (policy !== undefined) out.policy = policy;
      if (!allowed) out.details = rbacDeniedDetails(policy);
      return out;
    } catch {
      stats.denied++;
      return { allowed: false, details: rbacDeniedDetails(undefined) };
    }
  };
  return Object.assign(evaluate, { stats });
}

