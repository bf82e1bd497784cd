// Schemas and parsing shared by the security.istio.io kinds: workload selectors, JWT rules, condition keys, value patterns, JWKS addresses.
import { isIP } from 'node:net';
import { Issues, asObject, isObject, type FieldPath } from '../diagnostics.js';
import { headerNameProblem, labelKeyProblem, labelValueProblem } from '../common.js';
import { arr, bool, obj, str, strMap } from '../schema.js';

export const SECURITY_GROUP = 'security.istio.io';

/** istio.type.v1beta1.WorkloadSelector: the pods a security policy applies to. */
export const SecuritySelectorSchema = obj(
  { matchLabels: strMap('Pod labels the policy applies to; all must match.') },
  'Workloads the policy applies to; without it, every workload of the namespace (of the mesh in the root namespace).',
);

/** istio.security.v1beta1.JWTHeader: a header a JWT is read from. */
export const JwtHeaderSchema = obj({
  name: str('Header name, e.g. x-jwt-assertion.'),
  prefix: str('Prefix before the token in the header value, e.g. "Bearer " (note the space).'),
});

/** istio.security.v1beta1.JWTRule (Istio 1.6 fields). */
export const JwtRuleSchema = obj({
  issuer: str('The token issuer (iss claim); required.'),
  audiences: arr(str(), 'Accepted aud values; empty accepts tokens for the service name.'),
  jwksUri: str('http(s) URL of the JSON Web Key Set that verifies signatures.'),
  jwks: str('Inline JSON Web Key Set; wins over jwksUri.'),
  fromHeaders: arr(JwtHeaderSchema, 'Headers the token is read from (default: Authorization: Bearer <token>).'),
  fromParams: arr(str(), 'Query parameters the token is read from (default: access_token).'),
  outputPayloadToHeader: str('Header that receives the base64url-encoded JSON payload of a verified token.'),
  forwardOriginalToken: bool('Keep the token on the request forwarded upstream (default false: removed).'),
});

/**
 * Checks a security policy selector: every matchLabels key and value is a valid label, with no
 * wildcard (Istio: "wildcard is not supported in selector"). A selector with no labels selects
 * every workload, as if it were absent; Istio accepts it, so it is reported as a warning under
 * `emptyRule` (the kind's own rule id).
 */
export function checkSecuritySelector(issues: Issues, path: FieldPath, selector: unknown, emptyRule: string): void {
  const sel = asObject(selector);
  if (!sel) return;
  const labels = sel.matchLabels;
  if (labels === undefined || (isObject(labels) && Object.keys(labels).length === 0)) {
    issues.warn([...path, 'matchLabels'], emptyRule, 'selector has no matchLabels, so it selects every workload in the namespace (as if absent); add labels or remove the selector');
    return;
  }
  if (!isObject(labels)) return;
  for (const [k, v] of Object.entries(labels)) {
    const at = [...path, 'matchLabels', k];
    if (k.includes('*') || (typeof v === 'string' && v.includes('*'))) {
      issues.error(at, 'common.labels', `wildcard is not supported in selector: "${k}=${String(v)}" (selectors match exact label values)`);
      continue;
    }
    const kp = labelKeyProblem(k);
    if (kp) issues.error(at, 'common.labels', kp);
    if (typeof v === 'string') {
      const vp = labelValueProblem(v);
      if (vp) issues.error(at, 'common.labels', vp);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AuthorizationPolicy condition keys. One parser for validation AND translation: MAISTRA-2010 was
// the webhook refusing `request.regex.headers[...]` that the translator supported, because each
// had its own list of keys.

export type ConditionKeyKind = 'header' | 'regexHeader' | 'claim' | 'simple' | 'experimental';

/**
 * A parsed `rules[].when[].key`.
 * - `key` is the attribute without the bracketed name: `request.headers`, `source.ip`,
 *   `experimental.envoy.filters.network.mysql_proxy` (drop `experimental.` for the Envoy filter name).
 * - `name` is the text in brackets: the header name, the claim name, or the filter metadata key;
 *   absent for `simple` attributes.
 */
export interface ParsedConditionKey {
  kind: ConditionKeyKind;
  name?: string;
  key: string;
}

/** Attributes without a bracketed name, as listed in Istio 1.6's conditions reference. */
export const SIMPLE_CONDITION_KEYS: readonly string[] = [
  'source.ip',
  'source.namespace',
  'source.principal',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.ip',
  'destination.port',
  'connection.sni',
];

const BRACKETED: ReadonlyMap<string, { kind: ConditionKeyKind; example: string }> = new Map([
  ['request.headers', { kind: 'header', example: 'request.headers[User-Agent]' }],
  ['request.regex.headers', { kind: 'regexHeader', example: 'request.regex.headers[x-user]' }],
  ['request.auth.claims', { kind: 'claim', example: 'request.auth.claims[groups]' }],
]);

const EXPERIMENTAL_PREFIX = 'experimental.envoy.filters.';
const FILTER_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** v1alpha1 (ServiceRole) attributes that AuthorizationPolicy v1beta1 replaced by other fields. */
const REMOVED_KEYS: ReadonlyMap<string, string> = new Map([
  ['destination.labels', 'is replaced by the workload selector (spec.selector.matchLabels)'],
  ['destination.namespace', 'is replaced by the namespace of the policy (metadata.namespace)'],
  ['destination.name', 'was only supported in v1alpha1 RBAC; use spec.selector or to[].operation.hosts'],
  ['destination.user', 'was only supported in v1alpha1 RBAC; use spec.selector'],
]);

const ALL_KEYS_TEXT = [...SIMPLE_CONDITION_KEYS, ...[...BRACKETED.values()].map((b) => b.example.replace(/\[.*\]$/, '[NAME]')), 'experimental.envoy.filters.<filter>[NAME]'].join(', ');

/**
 * Parses an AuthorizationPolicy condition key. Pure; returns the problem instead of throwing.
 * Accepts every Istio 1.6 key plus Maistra's `request.regex.headers[NAME]` (SEC-01), refuses the
 * v1alpha1-only `destination.labels/name/namespace/user`, and is stricter than Istio 1.6 where
 * Istio accepted keys its translator then mis-read: the attribute must be followed directly by
 * one non-empty `[NAME]` (`request.headersX[a]` and `request.auth.claims[a][b]` are refused), and
 * header names must be valid HTTP header names (or pseudo-headers such as `:authority`).
 */
export function parseConditionKey(key: string): ParsedConditionKey | { problem: string } {
  if (key === '') return { problem: 'key must not be empty' };
  if (key.trim() !== key) return { problem: `key "${key}" must not have leading or trailing spaces` };
  if (SIMPLE_CONDITION_KEYS.includes(key)) return { kind: 'simple', key };

  const open = key.indexOf('[');
  const base = open < 0 ? key : key.slice(0, open);
  const removed = REMOVED_KEYS.get(base);
  if (removed) return { problem: `attribute ${base} ${removed}` };

  const bracketed = BRACKETED.get(base);
  const experimental = base.startsWith(EXPERIMENTAL_PREFIX);
  if (!bracketed && !experimental) {
    if (SIMPLE_CONDITION_KEYS.includes(base)) return { problem: `attribute ${base} takes no [name]; use "${base}"` };
    return { problem: `unknown attribute "${key}"; supported keys are ${ALL_KEYS_TEXT}` };
  }
  const example = bracketed ? bracketed.example : 'experimental.envoy.filters.network.mysql_proxy[db.table]';
  if (experimental && !FILTER_NAME.test(base.slice(EXPERIMENTAL_PREFIX.length))) {
    return { problem: `bad key "${key}": name the Envoy filter after ${EXPERIMENTAL_PREFIX}, e.g. ${example}` };
  }
  if (open < 0) return { problem: `bad key "${key}": ${base} needs a name in brackets, e.g. ${example}` };
  if (!key.endsWith(']')) return { problem: `bad key "${key}": should have the form ${base}[NAME], e.g. ${example}` };
  const name = key.slice(open + 1, -1);
  if (name === '') return { problem: `bad key "${key}": the name in brackets must not be empty, e.g. ${example}` };
  if (name.includes('[') || name.includes(']')) {
    const nested = bracketed?.kind === 'claim' ? ' (nested claims are not supported in this release)' : '';
    return { problem: `bad key "${key}": only one [NAME] is allowed${nested}` };
  }
  const kind: ConditionKeyKind = bracketed ? bracketed.kind : 'experimental';
  if (kind === 'header' || kind === 'regexHeader') {
    const hp = headerNameProblem(name.startsWith(':') ? name.slice(1) : name);
    if (hp) return { problem: `bad key "${key}": ${hp}` };
  }
  return { kind, name, key: base };
}

// ---------------------------------------------------------------------------------------------
// Value patterns of AuthorizationPolicy string fields: `abc` (exact), `abc*` (prefix), `*abc`
// (suffix), `*` (present). Istio 1.6 treats any other `*` literally (`a*b` only matches the text
// "a*b"; `*a*` is the suffix "a*"), which is never what the author meant, so Meltemi refuses it
// (a deliberate departure from Istio 1.6, which accepts such values).

export type ValuePattern =
  | { type: 'exact'; value: string }
  | { type: 'prefix'; value: string }
  | { type: 'suffix'; value: string }
  | { type: 'present' };

/** Parses an exact/prefix/suffix/presence value; pure, returns the problem instead of throwing. */
export function parseValuePattern(v: string): ValuePattern | { problem: string } {
  if (v === '*') return { type: 'present' };
  const stars = v.split('*').length - 1;
  if (stars === 0) return { type: 'exact', value: v };
  if (stars === 1 && v.startsWith('*')) return { type: 'suffix', value: v.slice(1) };
  if (stars === 1 && v.endsWith('*')) return { type: 'prefix', value: v.slice(0, -1) };
  return { problem: `"${v}": a "*" is only allowed once, at the start (suffix match, "*abc") or the end (prefix match, "abc*") of a value, or alone (present, "*")` };
}

// ---------------------------------------------------------------------------------------------
// JWKS addresses. istiod (and a JWKS fetcher) requests jwksUri from inside the cluster: a policy
// author must not be able to make it read loopback services, link-local addresses or the cloud
// metadata endpoint (SSRF). Hostnames are compared after WHATWG URL normalisation, so decimal,
// hex and short IPv4 forms (`2130706433`, `0x7f.1`, `127.1`) are caught as 127.0.0.1.

const FORBIDDEN_HOSTNAMES: ReadonlyMap<string, string> = new Map([
  ['localhost', 'a loopback name'],
  ['metadata.google.internal', 'the GCE metadata server'],
  ['metadata', 'the GCE metadata server (short name)'],
]);

function ipv4Octets(ip: string): number[] | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^[0-9]{1,3}$/.test(p))) return undefined;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

/** Parses an IPv6 address (optionally with an embedded IPv4 tail) into 8 16-bit groups. */
function ipv6Groups(ip: string): number[] | undefined {
  let text = ip.toLowerCase();
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  if (text.slice(lastColon + 1).includes('.')) {
    // Embedded IPv4 tail (::ffff:127.0.0.1): rewrite it as two hex groups.
    const o = ipv4Octets(text.slice(lastColon + 1));
    if (!o) return undefined;
    text = `${text.slice(0, lastColon + 1)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if ([...head, ...rest].some((g) => Number.isNaN(g))) return undefined;
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  return [...head, ...new Array<number>(8 - total).fill(0), ...rest];
}

function forbiddenIPv4(o: number[]): string | undefined {
  const [a, b, c, d] = o as [number, number, number, number];
  if (a === 127) return 'a loopback address (127.0.0.0/8)';
  if (a === 0) return 'an unspecified address (0.0.0.0/8)';
  if (a === 169 && b === 254) return c === 169 && d === 254 ? 'the cloud metadata endpoint (169.254.169.254)' : 'a link-local address (169.254.0.0/16)';
  if (a === 100 && b === 100 && c === 100 && d === 200) return 'the Alibaba Cloud metadata endpoint (100.100.100.200)';
  return undefined;
}

/**
 * Why an IP address may not serve a JWKS (loopback, link-local, unspecified, cloud metadata), or
 * undefined when it may. Also for a fetcher to re-check the addresses a name resolved to, since a
 * public name can resolve to a forbidden address.
 */
export function forbiddenAddressProblem(address: string): string | undefined {
  const ip = address.split('%')[0]!; // fe80::1%eth0: the zone index does not change the range
  const family = isIP(ip);
  if (family === 4) return forbiddenIPv4(ipv4Octets(ip)!);
  if (family !== 6) return undefined;
  const g = ipv6Groups(ip);
  if (!g) return undefined;
  if (g.every((x) => x === 0)) return 'the unspecified address (::)';
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return 'the loopback address (::1)';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'a link-local address (fe80::/10)';
  if (g[0] === 0xfd00 && g[1] === 0x0ec2 && g.slice(2, 7).every((x) => x === 0) && g[7] === 0x254) return 'the AWS metadata endpoint (fd00:ec2::254)';
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    // IPv4-mapped IPv6 (::ffff:127.0.0.1) reaches the IPv4 address.
    return forbiddenIPv4([g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff]);
  }
  return undefined;
}

/** Why a URL hostname (as normalised by WHATWG `URL`, IPv6 in brackets) may not serve a JWKS. */
export function forbiddenHostProblem(hostname: string): string | undefined {
  let host = hostname.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (isIP(host)) return forbiddenAddressProblem(host);
  const named = FORBIDDEN_HOSTNAMES.get(host);
  if (named) return named;
  if (host.endsWith('.localhost')) return 'a loopback name (*.localhost)';
  return undefined;
}
