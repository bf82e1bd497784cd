// AuthorizationPolicy (security.istio.io): who may call selected workloads, validated as Istio 1.6 and Maistra 2.0 do (incl. request.regex.headers).
import { Issues, asArray, asObject, asString, isObject, type PathSegment } from '../diagnostics.js';
import { checkRegex, cidrProblem } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { arr, enumOf, freeform, obj, str, type Static } from '../schema.js';
import { SECURITY_GROUP, SecuritySelectorSchema, checkSecuritySelector, parseConditionKey, parseValuePattern, type ParsedConditionKey } from './security-types.js';

/** ALLOW and DENY are Istio 1.6; AUDIT is accepted as an extension; CUSTOM (1.8+) is refused with its own message. */
export const AUTHZ_ACTIONS = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const;
export type AuthzAction = (typeof AUTHZ_ACTIONS)[number];

const list = (description: string) => arr(str(), description);

export const SourceSchema = obj({
  principals: list('Peer identities (mTLS), e.g. cluster.local/ns/default/sa/productpage.'),
  notPrincipals: list('Peer identities that do not match.'),
  requestPrincipals: list('JWT identities as iss/sub, e.g. testing@secure.istio.io/testing@secure.istio.io.'),
  notRequestPrincipals: list('JWT identities that do not match.'),
  namespaces: list('Namespaces of the peer identity (mTLS).'),
  notNamespaces: list('Namespaces that do not match.'),
  ipBlocks: list('Source IP addresses or CIDR blocks.'),
  notIpBlocks: list('Source IP addresses or CIDR blocks that do not match.'),
});

export const OperationSchema = obj({
  hosts: list('Host (authority) values; HTTP only.'),
  notHosts: list('Hosts that do not match.'),
  ports: list('Destination ports, as strings, e.g. "8080".'),
  notPorts: list('Ports that do not match.'),
  methods: list('HTTP methods, e.g. GET (gRPC: always POST); HTTP only.'),
  notMethods: list('Methods that do not match.'),
  paths: list('Request paths, e.g. /api/* (gRPC: /package.Service/Method); HTTP only.'),
  notPaths: list('Paths that do not match.'),
});

export const ConditionSchema = obj({
  key: str('Attribute name, e.g. request.headers[User-Agent], source.ip, request.auth.claims[groups], request.regex.headers[x-user].'),
  values: list('Values of which one must match.'),
  notValues: list('Values of which none may match.'),
});

export const AuthzRuleSchema = obj({
  from: arr(obj({ source: SourceSchema }), 'Sources; any may match. Omitted: any source.'),
  to: arr(obj({ operation: OperationSchema }), 'Operations; any may match. Omitted: any operation.'),
  when: arr(ConditionSchema, 'Conditions; all must match.'),
});

export const AuthorizationPolicySpecSchema = obj({
  selector: SecuritySelectorSchema,
  rules: arr(AuthzRuleSchema, 'A request matches the policy when it matches any rule. Omitted: matches nothing.'),
  action: enumOf(AUTHZ_ACTIONS, 'ALLOW (default), DENY, or AUDIT (an extension: log the match, decide nothing).'),
});

export type AuthorizationPolicySpec = Static<typeof AuthorizationPolicySpecSchema>;

const schema = obj({ spec: AuthorizationPolicySpecSchema, status: freeform() });

type Path = PathSegment[];

const SOURCE_FIELDS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks'] as const;
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

/** Go's net/http method list, the methods Envoy and every client send in upper case. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE']);
const HTTP_TOKEN = /^[!#$%&'+\-.^_`|~0-9A-Za-z]+$/;
/** Literal part of a namespace pattern: Istio 1.6 pastes it into a regex, so only label characters are safe. */
const NAMESPACE_PART = /^[a-z0-9-]*$/;

/** A value with the exact / prefix* / *suffix / * syntax; returns the literal part, or undefined when refused. */
function checkPattern(issues: Issues, path: Path, v: string): { literal: string; wildcard: boolean } | undefined {
  const p = parseValuePattern(v);
  if ('problem' in p) {
    issues.error(path, 'ap.value-pattern', p.problem);
    return undefined;
  }
  return p.type === 'present' ? { literal: '', wildcard: true } : { literal: p.value, wildcard: p.type !== 'exact' };
}

function checkNamespaceValue(issues: Issues, path: Path, v: string): void {
  const p = checkPattern(issues, path, v);
  if (!p) return;
  const ok = NAMESPACE_PART.test(p.literal) && p.literal.length <= 63 && (p.wildcard || (p.literal !== '' && !p.literal.startsWith('-') && !p.literal.endsWith('-')));
  // Istio 1.6 matches namespaces with the regex `.*/ns/<value>/.*`: "a|b" or "." would widen the match.
  if (!ok) issues.error(path, 'ap.namespace', `namespace "${v}" is not a namespace name: use lower-case letters, digits and "-", optionally with one "*" at the start or end`);
}

function checkIpValue(issues: Issues, path: Path, v: string): void {
  // Node's isIP accepts IPv6 zone indices (fe80::1%eth0); Envoy's CIDR ranges do not.
  const p = v.includes('%') ? `"${v}" has a zone index, which is not supported` : cidrProblem(v);
  if (p) issues.error(path, 'ap.ip', `${p}; use an IPv4/IPv6 address or CIDR block such as 10.0.0.0/16`);
}

function checkPortValue(issues: Issues, path: Path, v: string): void {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > 65535) issues.error(path, 'ap.port', `port "${v}" must be a number in the range 1..65535`);
}

function checkMethodValue(issues: Issues, path: Path, v: string): void {
  const p = checkPattern(issues, path, v);
  if (!p || p.literal === '') return;
  if (!HTTP_TOKEN.test(p.literal)) {
    issues.error(path, 'ap.method', `method "${v}" is not a valid HTTP method name`);
    return;
  }
  if (!p.wildcard && !KNOWN_METHODS.has(p.literal)) {
    const upper = p.literal.toUpperCase();
    const hint = KNOWN_METHODS.has(upper) ? `; methods are case-sensitive, did you mean "${upper}"?` : ` (known: ${[...KNOWN_METHODS].join(', ')})`;
    issues.warn(path, 'ap.method-unknown', `method "${v}" is not a standard HTTP method${hint}`);
  }
}

function checkPathValue(issues: Issues, path: Path, v: string): void {
  const p = checkPattern(issues, path, v);
  if (!p) return;
  if (v !== '*' && !v.startsWith('*') && !v.startsWith('/')) issues.error(path, 'ap.path', `path "${v}" must start with "/" (or be "*" or a "*suffix" pattern)`);
}

function checkFieldValue(issues: Issues, path: Path, field: string, v: string): void {
  switch (field) {
    case 'ipBlocks':
    case 'notIpBlocks':
      return checkIpValue(issues, path, v);
    case 'namespaces':
    case 'notNamespaces':
      return checkNamespaceValue(issues, path, v);
    case 'ports':
    case 'notPorts':
      return checkPortValue(issues, path, v);
    case 'methods':
    case 'notMethods':
      return checkMethodValue(issues, path, v);
    case 'paths':
    case 'notPaths':
      return checkPathValue(issues, path, v);
    default:
      checkPattern(issues, path, v);
  }
}

/** A source or operation: not empty, no empty strings, every value in its field's syntax. */
function checkFields(issues: Issues, path: Path, o: unknown, fields: readonly string[], what: 'source' | 'operation', rule: string): void {
  if (o === undefined || o === null) {
    issues.error(path, rule, `each ${what === 'source' ? 'from' : 'to'} entry needs a ${what}`);
    return;
  }
  if (!isObject(o)) return;
  if (!fields.some((f) => Array.isArray(o[f]) && (o[f] as unknown[]).length > 0)) {
    issues.error(path, rule, `${what} must not be empty: set at least one of ${fields.join(', ')}`);
  }
  for (const f of fields) {
    asArray(o[f]).forEach((v, k) => {
      if (typeof v !== 'string') return;
      if (v === '') issues.error([...path, f, k], 'ap.empty-value', `empty value not allowed in ${f}`);
      else checkFieldValue(issues, [...path, f, k], f, v);
    });
  }
}

function checkConditionValue(issues: Issues, path: Path, parsed: ParsedConditionKey, v: string): void {
  switch (parsed.kind) {
    case 'regexHeader':
      // Maistra (SEC-01): a whole-value RE2 match via Envoy safe_regex, bounded like every user regex.
      return checkRegex(issues, path, v);
    case 'experimental':
      // "[v]" asks for a list match of v.
      checkPattern(issues, path, v.length >= 2 && v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v);
      return;
    case 'simple':
      if (parsed.key === 'source.ip' || parsed.key === 'destination.ip') return checkIpValue(issues, path, v);
      if (parsed.key === 'destination.port') return checkPortValue(issues, path, v);
      if (parsed.key === 'source.namespace') return checkNamespaceValue(issues, path, v);
      checkPattern(issues, path, v);
      return;
    default:
      checkPattern(issues, path, v);
  }
}

function validateCondition(issues: Issues, path: Path, cond: Record<string, unknown>): void {
  let parsed: ParsedConditionKey | undefined;
  const key = cond.key;
  if (key === undefined || key === '') issues.error([...path, 'key'], 'ap.condition-key', 'key is required (e.g. request.headers[User-Agent], source.ip, request.auth.claims[groups])');
  else if (typeof key === 'string') {
    const r = parseConditionKey(key);
    if ('problem' in r) issues.error([...path, 'key'], 'ap.condition-key', r.problem);
    else parsed = r;
  }
  const values = asArray(cond.values);
  const notValues = asArray(cond.notValues);
  if (values.length === 0 && notValues.length === 0) {
    issues.error([...path, 'values'], 'ap.condition-values', `at least one of values or notValues must be set${typeof key === 'string' && key !== '' ? ` for key ${key}` : ''}`);
  }
  for (const field of ['values', 'notValues'] as const) {
    asArray(cond[field]).forEach((v, k) => {
      if (typeof v !== 'string') return;
      if (v === '') issues.error([...path, field, k], 'ap.empty-value', `empty value not allowed in ${field}`);
      else if (parsed) checkConditionValue(issues, [...path, field, k], parsed, v);
    });
  }
}

function validateRule(issues: Issues, path: Path, rule: Record<string, unknown>): void {
  if (Array.isArray(rule.from) && rule.from.length === 0) issues.error([...path, 'from'], 'ap.from-empty', '`from` must not be empty: omit it to match any source');
  asArray(rule.from).forEach((f, j) => {
    if (isObject(f)) checkFields(issues, [...path, 'from', j, 'source'], f.source, SOURCE_FIELDS, 'source', 'ap.source-empty');
  });
  if (Array.isArray(rule.to) && rule.to.length === 0) issues.error([...path, 'to'], 'ap.to-empty', '`to` must not be empty: omit it to match any operation');
  asArray(rule.to).forEach((t, j) => {
    if (isObject(t)) checkFields(issues, [...path, 'to', j, 'operation'], t.operation, OPERATION_FIELDS, 'operation', 'ap.operation-empty');
  });
  asArray(rule.when).forEach((c, j) => {
    if (isObject(c)) validateCondition(issues, [...path, 'when', j], c);
  });
}

function validateAuthorizationPolicy(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec) ?? {};
  checkSecuritySelector(issues, ['spec', 'selector'], spec.selector, 'ap.selector-empty');

  const action = asString(spec.action) ?? 'ALLOW';
  if (action === 'CUSTOM') issues.error(['spec', 'action'], 'ap.action', 'action CUSTOM (external authorization) is not available in this release; use ALLOW, DENY or AUDIT');

  const rules = spec.rules;
  const noRules = rules === undefined || rules === null || (Array.isArray(rules) && rules.length === 0);
  if (noRules && (action === 'DENY' || action === 'AUDIT')) {
    issues.error(['spec', 'rules'], 'ap.rules-required', `a ${action} policy without rules is meaningless and has no effect; add rules (rules: [{}] matches every request)`);
  } else if (noRules && action === 'ALLOW') {
    issues.warn(['spec', 'rules'], 'ap.allow-nothing', 'an ALLOW policy without rules matches no request, so it denies all requests to the selected workloads; if you meant to allow everything, use rules: [{}]');
  }
  asArray(rules).forEach((r, i) => {
    if (isObject(r)) validateRule(issues, ['spec', 'rules', i], r);
  });
}

export const authorizationPolicyKind: KindDef = {
  group: SECURITY_GROUP,
  kind: 'AuthorizationPolicy',
  plural: 'authorizationpolicies',
  singular: 'authorizationpolicy',
  shortNames: ['ap'],
  namespaced: true,
  nameFormat: 'dns1123-subdomain',
  description:
    'Access control for selected workloads: DENY policies are evaluated first, then, if any ALLOW policy applies, a request must match one. Rules match sources (from), operations (to) and conditions (when).',
  versions: [{ name: 'v1beta1', schema, validate: validateAuthorizationPolicy, storage: true }],
};

const ap = (body: string, head = '  selector: {matchLabels: {app: httpbin}}\n') =>
  `apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: httpbin, namespace: foo}\nspec:\n${head}${body}`;
const when = (cond: string) => ap(`  rules:\n  - when:\n    - ${cond}\n`);
const from = (source: string) => ap(`  rules:\n  - from:\n    - source: ${source}\n`);
const to = (operation: string) => ap(`  rules:\n  - to:\n    - operation: ${operation}\n`);

defineRules('AuthorizationPolicy', [
  { id: 'ap.action', severity: 'error', summary: 'action is ALLOW, DENY or AUDIT; CUSTOM (external authorization) is not available in this release.', examples: [{ yaml: ap('  action: CUSTOM\n  rules: [{}]\n'), field: 'spec.action' }] },
  { id: 'ap.rules-required', severity: 'error', summary: 'A DENY or AUDIT policy has rules (without them it would match nothing and do nothing).', examples: [{ yaml: ap('  action: DENY\n'), field: 'spec.rules' }, { yaml: ap('  action: AUDIT\n  rules: []\n'), field: 'spec.rules' }] },
  { id: 'ap.allow-nothing', severity: 'warning', summary: 'An ALLOW policy without rules matches nothing, so it denies all requests to the selected workloads — say so explicitly so nobody is surprised.', examples: [{ yaml: ap('  action: ALLOW\n'), field: 'spec.rules' }] },
  { id: 'ap.from-empty', severity: 'error', summary: '`from`, when present, is not an empty list (omit it to match any source).', examples: [{ yaml: ap('  rules:\n  - from: []\n'), field: 'spec.rules[0].from' }] },
  { id: 'ap.source-empty', severity: 'error', summary: 'Each `from` entry has a source that sets at least one field.', examples: [{ yaml: from('{}'), field: 'spec.rules[0].from[0].source' }, { yaml: ap('  rules:\n  - from:\n    - {}\n'), field: 'spec.rules[0].from[0].source' }] },
  { id: 'ap.to-empty', severity: 'error', summary: '`to`, when present, is not an empty list (omit it to match any operation).', examples: [{ yaml: ap('  rules:\n  - to: []\n'), field: 'spec.rules[0].to' }] },
  { id: 'ap.operation-empty', severity: 'error', summary: 'Each `to` entry has an operation that sets at least one field.', examples: [{ yaml: to('{paths: []}'), field: 'spec.rules[0].to[0].operation' }] },
  { id: 'ap.empty-value', severity: 'error', summary: 'No list of a source, an operation or a condition contains an empty string.', examples: [{ yaml: from('{principals: [""]}'), field: 'spec.rules[0].from[0].source.principals[0]' }, { yaml: when('{key: source.namespace, values: [foo, ""]}'), field: 'spec.rules[0].when[0].values[1]' }] },
  {
    id: 'ap.value-pattern',
    severity: 'error',
    summary: 'String values are exact ("abc"), prefix ("abc*"), suffix ("*abc") or presence ("*") matches: a "*" elsewhere, or twice, is refused (Istio 1.6 would match it literally).',
    examples: [{ yaml: from('{principals: ["cluster.local/ns/*/sa/sleep"]}'), field: 'spec.rules[0].from[0].source.principals[0]' }, { yaml: when('{key: "request.headers[version]", values: ["*v1*"]}'), field: 'spec.rules[0].when[0].values[0]' }],
  },
  { id: 'ap.namespace', severity: 'error', summary: 'Namespace values are namespace names (lower-case letters, digits, "-") with at most one "*" at the start or end.', examples: [{ yaml: from('{namespaces: ["foo|bar"]}'), field: 'spec.rules[0].from[0].source.namespaces[0]' }] },
  { id: 'ap.ip', severity: 'error', summary: 'ipBlocks, notIpBlocks and source.ip / destination.ip values are IPv4 or IPv6 addresses or CIDR blocks.', examples: [{ yaml: from('{ipBlocks: ["10.0.0.0/33"]}'), field: 'spec.rules[0].from[0].source.ipBlocks[0]' }, { yaml: when('{key: source.ip, notValues: [example.com]}'), field: 'spec.rules[0].when[0].notValues[0]' }] },
  { id: 'ap.port', severity: 'error', summary: 'ports, notPorts and destination.port values are port numbers 1..65535 (written as strings).', examples: [{ yaml: to('{ports: ["0"]}'), field: 'spec.rules[0].to[0].operation.ports[0]' }, { yaml: when('{key: destination.port, values: [http]}'), field: 'spec.rules[0].when[0].values[0]' }] },
  { id: 'ap.method', severity: 'error', summary: 'Methods are HTTP method tokens (optionally with a leading or trailing "*").', examples: [{ yaml: to('{methods: ["GET POST"]}'), field: 'spec.rules[0].to[0].operation.methods[0]' }] },
  { id: 'ap.method-unknown', severity: 'warning', summary: 'A method that is not a standard HTTP method (methods are case-sensitive: "get" never matches).', examples: [{ yaml: to('{methods: [get]}'), field: 'spec.rules[0].to[0].operation.methods[0]' }] },
  { id: 'ap.path', severity: 'error', summary: 'Paths start with "/", or are "*" or a "*suffix" pattern.', examples: [{ yaml: to('{paths: ["api/v1/*"]}'), field: 'spec.rules[0].to[0].operation.paths[0]' }] },
  {
    id: 'ap.condition-key',
    severity: 'error',
    summary:
      'A condition key is one of request.headers[NAME], request.regex.headers[NAME] (Maistra), source.ip, source.namespace, source.principal, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[NAME], destination.ip, destination.port, connection.sni, experimental.envoy.filters.<filter>[NAME]; destination.labels, destination.name, destination.namespace and destination.user are refused.',
    examples: [
      { yaml: when('{key: "request.header[User-Agent]", values: ["curl*"]}'), field: 'spec.rules[0].when[0].key' },
      { yaml: when('{key: "request.headers[]", values: [x]}'), field: 'spec.rules[0].when[0].key' },
      { yaml: when('{key: "destination.labels[version]", values: [v1]}'), field: 'spec.rules[0].when[0].key' },
    ],
  },
  { id: 'ap.condition-values', severity: 'error', summary: 'A condition sets values or notValues (or both).', examples: [{ yaml: when('{key: source.ip}'), field: 'spec.rules[0].when[0].values' }] },
  { id: 'ap.selector-empty', severity: 'warning', summary: 'A selector without matchLabels selects every workload of the namespace, as if absent.', examples: [{ yaml: ap('  rules: [{}]\n', '  selector: {matchLabels: {}}\n'), field: 'spec.selector.matchLabels' }] },
]);
