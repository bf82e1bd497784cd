// AuthorizationPolicy → Envoy RBAC filters: each key's matcher, rule/policy shapes, HTTP-only keys on TCP (Istio 1.6), filter placement and order, encoding, and the push a change causes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv4 } from 'node:net';
import { RE2JS } from 're2js';
import type { AuthzRuleSchema } from '../../src/api/kinds/authorization-policy.js';
import type { Static } from '../../src/api/schema.js';
import type { AuthorizationPolicyConfig } from '../../src/model/push-context.js';
import { Discovery } from '../../src/xds/discovery.js';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { rbacPolicyForRule, rbacRules, withTrustDomainAliases, type RbacAction } from '../../src/xds/generators/authorization.js';
import { clustersMayChange, envoyGenerators } from '../../src/xds/generators/index.js';
import { TypeUrl } from '../../src/xds/types.js';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';
import { AdsTestClient } from './ads-test-client.js';
import { NS, testMesh, type TestMesh } from './mesh.js';
import type { ProxyConfig } from './simulation.js';

type Msg = Record<string, unknown>;
type Rule = Static<typeof AuthzRuleSchema>;

const TD = ['cluster.local'];
const HTTP_RBAC = 'envoy.filters.http.rbac';
const NET_RBAC = 'envoy.filters.network.rbac';
const HTTP_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const NET_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';

/** The RBAC policy of one rule, which must not be dropped. */
function policy(rule: Rule, action: RbacAction = 'ALLOW', tcp = false, trustDomains = TD): Msg {
  const p = rbacPolicyForRule(rule, { action, tcp, trustDomains });
  assert.ok(!('problem' in p), `rule dropped: ${JSON.stringify(p)}`);
  return p;
}

/** The single term a one-key rule produces on the principal side (inside `and_ids`). */
function principalTerms(rule: Rule, action: RbacAction = 'ALLOW', tcp = false): Msg[] {
  const p = policy(rule, action, tcp);
  assert.deepEqual(p.permissions, [{ andRules: { rules: [{ any: true }] } }], 'no permission-side term');
  const principals = p.principals as Msg[];
  assert.equal(principals.length, 1);
  return (principals[0]!.andIds as { ids: Msg[] }).ids;
}

/** The terms a one-key rule produces on the permission side (inside `and_rules`). */
function permissionTerms(rule: Rule, action: RbacAction = 'ALLOW', tcp = false): Msg[] {
  const p = policy(rule, action, tcp);
  assert.deepEqual(p.principals, [{ andIds: { ids: [{ any: true }] } }], 'no principal-side term');
  const permissions = p.permissions as Msg[];
  assert.equal(permissions.length, 1);
  return (permissions[0]!.andRules as { rules: Msg[] }).rules;
}

const orIds = (...ids: Msg[]): Msg => ({ orIds: { ids } });
const orRules = (...rules: Msg[]): Msg => ({ orRules: { rules } });
const authn = (principalName: Msg): Msg => ({ authenticated: { principalName } });
const meta = (path: string[], value: Msg): Msg => ({ metadata: { filter: 'istio_authn', path: path.map((key) => ({ key })), value } });
const when = (key: string, values?: string[], notValues?: string[]): Rule => ({ when: [{ key, ...(values ? { values } : {}), ...(notValues ? { notValues } : {}) }] });

// ---------------------------------------------------------------------------------------------
// Every key → the matcher emitted (HTTP, ALLOW).

const principalCases: Array<[string, Rule, Msg[]]> = [
  ['principals exact', { from: [{ source: { principals: ['cluster.local/ns/foo/sa/bar'] } }] }, [orIds(authn({ exact: 'spiffe://cluster.local/ns/foo/sa/bar' }))]],
  ['principals prefix*', { from: [{ source: { principals: ['cluster.local/ns/foo/*'] } }] }, [orIds(authn({ prefix: 'spiffe://cluster.local/ns/foo/' }))]],
  ['principals *suffix (regex, never a bare suffix: CVE-2020-16844)', { from: [{ source: { principals: ['*/ns/foo/sa/bar'] } }] }, [orIds(authn({ safeRegex: { regex: 'spiffe://.*/ns/foo/sa/bar' } }))]],
  ['principals *suffix escapes the literal', { from: [{ source: { principals: ['*.local/ns/foo/sa/bar'] } }] }, [orIds(authn({ safeRegex: { regex: 'spiffe://.*\\.local/ns/foo/sa/bar' } }))]],
  ['principals * (any authenticated identity)', { from: [{ source: { principals: ['*'] } }] }, [orIds(authn({ safeRegex: { regex: '.+' } }))]],
  [
    'principals and notPrincipals: or, then not(or)',
    { from: [{ source: { principals: ['a/ns/x/sa/y', 'cluster.local/ns/foo/*'], notPrincipals: ['cluster.local/ns/foo/sa/admin'] } }] },
    [orIds(authn({ exact: 'spiffe://a/ns/x/sa/y' }), authn({ prefix: 'spiffe://cluster.local/ns/foo/' })), { notId: orIds(authn({ exact: 'spiffe://cluster.local/ns/foo/sa/admin' })) }],
  ],
  ['requestPrincipals', { from: [{ source: { requestPrincipals: ['issuer.example.com/alice'] } }] }, [orIds(meta(['request.auth.principal'], { stringMatch: { exact: 'issuer.example.com/alice' } }))]],
  ['requestPrincipals * (any JWT)', { from: [{ source: { requestPrincipals: ['*'] } }] }, [orIds(meta(['request.auth.principal'], { stringMatch: { safeRegex: { regex: '.+' } } }))]],
  ['notRequestPrincipals prefix', { from: [{ source: { notRequestPrincipals: ['issuer.example.com/*'] } }] }, [{ notId: orIds(meta(['request.auth.principal'], { stringMatch: { prefix: 'issuer.example.com/' } })) }]],
  ['namespaces', { from: [{ source: { namespaces: ['foo'] } }] }, [orIds(authn({ safeRegex: { regex: '.*/ns/foo/.*' } }))]],
  ['namespaces with a wildcard', { from: [{ source: { namespaces: ['team-*'] } }] }, [orIds(authn({ safeRegex: { regex: '.*/ns/team-.*/.*' } }))]],
  ['notNamespaces * (rejects plaintext: the H2 workaround)', { from: [{ source: { notNamespaces: ['*'] } }] }, [{ notId: orIds(authn({ safeRegex: { regex: '.*/ns/.*/.*' } })) }]],
  ['ipBlocks CIDR and bare IP', { from: [{ source: { ipBlocks: ['10.0.0.0/8', '192.168.1.7'] } }] }, [orIds({ directRemoteIp: { addressPrefix: '10.0.0.0', prefixLen: { value: 8 } } }, { directRemoteIp: { addressPrefix: '192.168.1.7', prefixLen: { value: 32 } } })]],
  ['notIpBlocks IPv6', { from: [{ source: { notIpBlocks: ['fd00::/8'] } }] }, [{ notId: orIds({ directRemoteIp: { addressPrefix: 'fd00::', prefixLen: { value: 8 } } }) }]],
  ['when request.headers[x-role]', when('request.headers[x-role]', ['admin', 'ops*']), [orIds({ header: { name: 'x-role', stringMatch: { exact: 'admin' } } }, { header: { name: 'x-role', stringMatch: { prefix: 'ops' } } })]],
  ['when request.headers[x-role] * (present)', when('request.headers[x-role]', ['*']), [orIds({ header: { name: 'x-role', presentMatch: true } })]],
  ['when request.headers notValues suffix', when('request.headers[user-agent]', undefined, ['*bot']), [{ notId: orIds({ header: { name: 'user-agent', stringMatch: { suffix: 'bot' } } }) }]],
  ['when request.regex.headers[x-user] (Maistra, whole value)', when('request.regex.headers[x-user]', ['user-[0-9]+']), [orIds({ header: { name: 'x-user', stringMatch: { safeRegex: { regex: 'user-[0-9]+' } } } })]],
  ['when source.ip', when('source.ip', ['10.1.0.0/16']), [orIds({ directRemoteIp: { addressPrefix: '10.1.0.0', prefixLen: { value: 16 } } })]],
  ['when source.namespace', when('source.namespace', ['foo']), [orIds(authn({ safeRegex: { regex: '.*/ns/foo/.*' } }))]],
  ['when source.principal', when('source.principal', ['cluster.local/ns/foo/sa/bar']), [orIds(authn({ exact: 'spiffe://cluster.local/ns/foo/sa/bar' }))]],
  ['when request.auth.principal', when('request.auth.principal', ['iss/sub']), [orIds(meta(['request.auth.principal'], { stringMatch: { exact: 'iss/sub' } }))]],
  ['when request.auth.audiences', when('request.auth.audiences', ['aud-*']), [orIds(meta(['request.auth.audiences'], { stringMatch: { prefix: 'aud-' } }))]],
  ['when request.auth.presenter', when('request.auth.presenter', ['client']), [orIds(meta(['request.auth.presenter'], { stringMatch: { exact: 'client' } }))]],
  ['when request.auth.claims[groups] (a list; one element matches)', when('request.auth.claims[groups]', ['admins']), [orIds(meta(['request.auth.claims', 'groups'], { listMatch: { oneOf: { stringMatch: { exact: 'admins' } } } }))]],
];

for (const [name, rule, expected] of principalCases) {
  test(`principal: ${name}`, () => assert.deepEqual(principalTerms(rule), expected));
}

const permissionCases: Array<[string, Rule, Msg[]]> = [
  ['hosts: :authority, case-insensitive (CVE-2021-39155)', { to: [{ operation: { hosts: ['Secret.com', '*.example.com', 'api.*'] } }] }, [orRules(
    { header: { name: ':authority', stringMatch: { exact: 'Secret.com', ignoreCase: true } } },
    { header: { name: ':authority', stringMatch: { suffix: '.example.com', ignoreCase: true } } },
    { header: { name: ':authority', stringMatch: { prefix: 'api.', ignoreCase: true } } },
  )]],
  ['hosts * (present)', { to: [{ operation: { hosts: ['*'] } }] }, [orRules({ header: { name: ':authority', presentMatch: true } })]],
  ['methods: :method, case-sensitive', { to: [{ operation: { methods: ['GET', 'HEAD'] } }] }, [orRules({ header: { name: ':method', stringMatch: { exact: 'GET' } } }, { header: { name: ':method', stringMatch: { exact: 'HEAD' } } })]],
  ['paths: url_path (query excluded), exact / prefix / suffix / any, case-sensitive', { to: [{ operation: { paths: ['/admin', '/admin/*', '*.png', '*'] } }] }, [orRules(
    { urlPath: { path: { exact: '/admin' } } },
    { urlPath: { path: { prefix: '/admin/' } } },
    { urlPath: { path: { suffix: '.png' } } },
    { urlPath: { path: { safeRegex: { regex: '.+' } } } },
  )]],
  ['notPaths', { to: [{ operation: { notPaths: ['/admin'] } }] }, [{ notRule: orRules({ urlPath: { path: { exact: '/admin' } } }) }]],
  ['ports and notPorts', { to: [{ operation: { ports: ['8080'], notPorts: ['9090'] } }] }, [orRules({ destinationPort: 8080 }), { notRule: orRules({ destinationPort: 9090 }) }]],
  ['when destination.ip', when('destination.ip', ['10.0.0.1']), [orRules({ destinationIp: { addressPrefix: '10.0.0.1', prefixLen: { value: 32 } } })]],
  ['when destination.port', when('destination.port', ['443']), [orRules({ destinationPort: 443 })]],
  ['when connection.sni', when('connection.sni', ['*.example.com']), [orRules({ requestedServerName: { suffix: '.example.com' } })]],
  [
    'when experimental.envoy.filters.*: metadata of that filter; [v] matches a list element',
    when('experimental.envoy.filters.network.mysql_proxy[db.table]', ['[update]', 'users']),
    [orRules(
      { metadata: { filter: 'envoy.filters.network.mysql_proxy', path: [{ key: 'db.table' }], value: { listMatch: { oneOf: { stringMatch: { exact: 'update' } } } } } },
      { metadata: { filter: 'envoy.filters.network.mysql_proxy', path: [{ key: 'db.table' }], value: { stringMatch: { exact: 'users' } } } },
    )],
  ],
];

for (const [name, rule, expected] of permissionCases) {
  test(`permission: ${name}`, () => assert.deepEqual(permissionTerms(rule), expected));
}

test('an empty rule {} matches everything: and[any] on both sides', () => {
  assert.deepEqual(policy({}), { permissions: [{ andRules: { rules: [{ any: true }] } }], principals: [{ andIds: { ids: [{ any: true }] } }] });
});

test('term order follows Istio: principals, requestPrincipals, namespaces, ipBlocks, then when; hosts, methods, paths, ports, then when', () => {
  const p = policy({
    from: [{ source: { ipBlocks: ['1.2.3.4'], namespaces: ['ns'], requestPrincipals: ['i/s'], principals: ['td/ns/a/sa/b'] } }, { source: { namespaces: ['other'] } }],
    to: [{ operation: { ports: ['80'], paths: ['/p'], methods: ['GET'], hosts: ['h'] } }],
    when: [
      { key: 'destination.port', values: ['80'] },
      { key: 'request.headers[x]', values: ['y'] },
    ],
  });
  const kinds = (m: Msg): string => {
    const inner = ((m.orIds as { ids: Msg[] } | undefined)?.ids ?? (m.orRules as { rules: Msg[] }).rules)[0]!;
    if (inner.authenticated) return JSON.stringify(inner).includes('/ns/') && JSON.stringify(inner).includes('safeRegex') ? 'namespace' : 'principal';
    if (inner.metadata) return 'requestPrincipal';
    if (inner.header) return `header ${(inner.header as Msg).name as string}`;
    return Object.keys(inner)[0]!;
  };
  const principals = p.principals as Msg[];
  assert.equal(principals.length, 2, 'one principal per from entry');
  assert.deepEqual(((principals[0]!.andIds as { ids: Msg[] }).ids).map(kinds), ['principal', 'requestPrincipal', 'namespace', 'directRemoteIp', 'header x']);
  assert.deepEqual(((principals[1]!.andIds as { ids: Msg[] }).ids).map(kinds), ['namespace', 'header x'], 'the when conditions join every from entry');
  assert.deepEqual((((p.permissions as Msg[])[0]!.andRules as { rules: Msg[] }).rules).map(kinds), ['header :authority', 'header :method', 'urlPath', 'destinationPort', 'destinationPort']);
});

test('trust domain aliases: principals of the trust domain (or cluster.local) are expanded to every alias; others stay as written', () => {
  const tds = ['new-td', 'old-td'];
  assert.deepEqual(withTrustDomainAliases(['cluster.local/ns/foo/sa/bar'], tds), ['new-td/ns/foo/sa/bar', 'old-td/ns/foo/sa/bar']);
  assert.deepEqual(withTrustDomainAliases(['old-td/ns/foo/sa/bar'], tds), ['new-td/ns/foo/sa/bar', 'old-td/ns/foo/sa/bar']);
  assert.deepEqual(withTrustDomainAliases(['*/ns/foo/sa/bar', 'foreign/ns/foo/sa/bar', 'cluster.local/ns/foo/*'], tds), ['*/ns/foo/sa/bar', 'foreign/ns/foo/sa/bar', 'cluster.local/ns/foo/*']);
  // In a policy: the source principal and the source.principal condition, values and notValues.
  const p = policy({ from: [{ source: { notPrincipals: ['cluster.local/ns/foo/sa/bar'] } }] }, 'ALLOW', false, tds);
  assert.deepEqual((p.principals as Msg[])[0], {
    andIds: { ids: [{ notId: orIds(authn({ exact: 'spiffe://new-td/ns/foo/sa/bar' }), authn({ exact: 'spiffe://old-td/ns/foo/sa/bar' })) }] },
  });
  // A mesh whose trust domain is not cluster.local still honours policies written for cluster.local.
  assert.deepEqual(principalTermsWith(when('source.principal', ['cluster.local/ns/a/sa/b']), ['example.org']), [orIds(authn({ exact: 'spiffe://example.org/ns/a/sa/b' }))]);
});

function principalTermsWith(rule: Rule, trustDomains: string[]): Msg[] {
  return ((policy(rule, 'ALLOW', false, trustDomains).principals as Msg[])[0]!.andIds as { ids: Msg[] }).ids;
}

// ---------------------------------------------------------------------------------------------
// HTTP-only keys on a TCP filter chain (Istio 1.6 model.go checkError, verified in release-1.6
// and maistra-2.0): for ALLOW the whole rule is dropped (it can never match: less is allowed);
// for DENY and AUDIT only the HTTP-only values are left out (the rule matches more: more is denied).

function config(policies: Array<{ name: string; rules?: Rule[] }>, action: RbacAction, tcp: boolean): Msg {
  const list = policies.map((p) => ({ namespace: 'foo', name: p.name, creationTimestamp: '', spec: { rules: p.rules } }) as AuthorizationPolicyConfig);
  return rbacRules(list, action, tcp, TD);
}

test('TCP, ALLOW: a rule with an HTTP-only key is dropped entirely; the other rules stay', () => {
  const rules: Rule[] = [{ to: [{ operation: { ports: ['9000'], paths: ['/public'] } }] }, { to: [{ operation: { ports: ['9001'] } }] }, { from: [{ source: { requestPrincipals: ['*'] } }] }, when('request.headers[x]', ['y'])];
  const tcp = config([{ name: 'p', rules }], 'ALLOW', true);
  assert.deepEqual(Object.keys(tcp.policies as Msg), ['ns[foo]-policy[p]-rule[1]']);
  assert.deepEqual(((tcp.policies as Msg)['ns[foo]-policy[p]-rule[1]'] as Msg).permissions, [{ andRules: { rules: [orRules({ destinationPort: 9001 })] } }]);
  // The same rules on HTTP: all four are kept.
  assert.equal(Object.keys(config([{ name: 'p', rules }], 'ALLOW', false).policies as Msg).length, 4);
});

test('TCP, DENY: HTTP-only values are removed so the rule matches more; a rule of only HTTP keys denies every connection', () => {
  const rules: Rule[] = [{ to: [{ operation: { ports: ['9000'], paths: ['/admin'] } }] }, { to: [{ operation: { methods: ['POST'] } }] }, { from: [{ source: { requestPrincipals: ['*'], namespaces: ['foo'] } }] }];
  const tcp = config([{ name: 'd', rules }], 'DENY', true);
  assert.equal(tcp.action, 'DENY');
  const pol = tcp.policies as Record<string, Msg>;
  assert.deepEqual(pol['ns[foo]-policy[d]-rule[0]']!.permissions, [{ andRules: { rules: [orRules({ destinationPort: 9000 })] } }], 'the port stays, the path goes');
  assert.deepEqual(pol['ns[foo]-policy[d]-rule[1]']!.permissions, [{ andRules: { rules: [{ any: true }] } }], 'methods only: every connection');
  assert.deepEqual(pol['ns[foo]-policy[d]-rule[2]']!.principals, [{ andIds: { ids: [orIds(authn({ safeRegex: { regex: '.*/ns/foo/.*' } }))] } }], 'namespaces stay, requestPrincipals go');
  // AUDIT behaves like DENY.
  assert.deepEqual(((config([{ name: 'a', rules }], 'LOG', true).policies as Record<string, Msg>)['ns[foo]-policy[a]-rule[1]']!).permissions, [{ andRules: { rules: [{ any: true }] } }]);
});

test('a condition key validation refuses (never stored, but never fail open): ALLOW drops the rule, DENY ignores the condition', () => {
  const rule: Rule = { to: [{ operation: { ports: ['80'] } }], when: [{ key: 'destination.labels[app]', values: ['x'] }] };
  assert.ok('problem' in rbacPolicyForRule(rule, { action: 'ALLOW', tcp: false, trustDomains: TD }));
  assert.deepEqual(policy(rule, 'DENY').permissions, [{ andRules: { rules: [orRules({ destinationPort: 80 })] } }]);
});

test('policies without rules: an ALLOW filter with no policies (denies all); a DENY filter with none (denies nothing)', () => {
  assert.deepEqual(config([{ name: 'nothing' }], 'ALLOW', false), { action: 'ALLOW', policies: {} });
  assert.deepEqual(config([{ name: 'nothing', rules: [] }], 'DENY', true), { action: 'DENY', policies: {} });
});

// ---------------------------------------------------------------------------------------------
// What the emitted matchers mean, evaluated the way Envoy's RBAC filter does (a reference reading
// for the fields used here: principals against the peer's URI SAN, headers, url_path, ports).

interface Conn {
  /** The peer certificate's URI SAN; absent for plaintext. */
  peer?: string;
  remoteIp?: string;
  port?: number;
  headers?: Record<string, string>;
  /** :path with the query. */
  path?: string;
  metadata?: Record<string, unknown>;
}

const fullMatch = (regex: string, s: string) => RE2JS.compile(regex).matches(s);

function stringMatches(m: Msg, v: string | undefined): boolean {
  if (v === undefined) return false;
  const ic = m.ignoreCase === true;
  const norm = (s: string) => (ic ? s.toLowerCase() : s);
  if (typeof m.exact === 'string') return norm(v) === norm(m.exact);
  if (typeof m.prefix === 'string') return norm(v).startsWith(norm(m.prefix));
  if (typeof m.suffix === 'string') return norm(v).endsWith(norm(m.suffix));
  if (m.safeRegex) return fullMatch((m.safeRegex as Msg).regex as string, v);
  throw new Error(`unsupported string matcher ${JSON.stringify(m)}`);
}

function inCidr(c: Msg, ip: string | undefined): boolean {
  if (!ip || !isIPv4(ip) || !isIPv4(c.addressPrefix as string)) return false;
  const n = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const len = (c.prefixLen as { value: number }).value;
  const div = 2 ** (32 - len);
  return Math.floor(n(ip) / div) === Math.floor(n(c.addressPrefix as string) / div);
}

function header(h: Msg, c: Conn): boolean {
  const name = h.name as string;
  const v = name === ':path' ? c.path : c.headers?.[name];
  if (h.presentMatch === true) return v !== undefined;
  return stringMatches(h.stringMatch as Msg, v);
}

function metadataValue(m: Msg, c: Conn): unknown {
  let v: unknown = (c.metadata ?? {})[m.filter as string];
  for (const seg of m.path as Array<{ key: string }>) v = (v as Record<string, unknown> | undefined)?.[seg.key];
  return v;
}

function valueMatches(vm: Msg, v: unknown): boolean {
  if (vm.stringMatch) return typeof v === 'string' && stringMatches(vm.stringMatch as Msg, v);
  if (vm.listMatch) return Array.isArray(v) && v.some((x) => valueMatches((vm.listMatch as Msg).oneOf as Msg, x));
  throw new Error(`unsupported value matcher ${JSON.stringify(vm)}`);
}

function principalMatches(p: Msg, c: Conn): boolean {
  if (p.any) return true;
  if (p.andIds) return (p.andIds as { ids: Msg[] }).ids.every((x) => principalMatches(x, c));
  if (p.orIds) return (p.orIds as { ids: Msg[] }).ids.some((x) => principalMatches(x, c));
  if (p.notId) return !principalMatches(p.notId as Msg, c);
  if (p.authenticated) return c.peer !== undefined && stringMatches((p.authenticated as Msg).principalName as Msg, c.peer);
  if (p.directRemoteIp) return inCidr(p.directRemoteIp as Msg, c.remoteIp);
  if (p.header) return header(p.header as Msg, c);
  if (p.metadata) return valueMatches((p.metadata as Msg).value as Msg, metadataValue(p.metadata as Msg, c));
  throw new Error(`unsupported principal ${JSON.stringify(p)}`);
}

function permissionMatches(p: Msg, c: Conn): boolean {
  if (p.any) return true;
  if (p.andRules) return (p.andRules as { rules: Msg[] }).rules.every((x) => permissionMatches(x, c));
  if (p.orRules) return (p.orRules as { rules: Msg[] }).rules.some((x) => permissionMatches(x, c));
  if (p.notRule) return !permissionMatches(p.notRule as Msg, c);
  if (p.header) return header(p.header as Msg, c);
  if (p.urlPath) return c.path !== undefined && stringMatches((p.urlPath as Msg).path as Msg, c.path.split('?')[0]!);
  if (p.destinationPort !== undefined) return c.port === p.destinationPort;
  throw new Error(`unsupported permission ${JSON.stringify(p)}`);
}

/** Whether a rule's RBAC policy matches a connection/request. */
function ruleMatches(rule: Rule, c: Conn, tcp = false, action: RbacAction = 'DENY'): boolean {
  const p = policy(rule, action, tcp);
  return (p.permissions as Msg[]).some((x) => permissionMatches(x, c)) && (p.principals as Msg[]).some((x) => principalMatches(x, c));
}

test('H13: TCP DENY principals ["*/ns/ns1/sa/foo"] matches caller cluster.local/ns/ns1/sa/foo, on TCP as on HTTP — and nothing merely ending alike', () => {
  const rule: Rule = { from: [{ source: { principals: ['*/ns/ns1/sa/foo'] } }] };
  for (const tcp of [true, false]) {
    assert.ok(ruleMatches(rule, { peer: 'spiffe://cluster.local/ns/ns1/sa/foo' }, tcp), `tcp=${tcp}`);
    assert.ok(!ruleMatches(rule, { peer: 'spiffe://cluster.local/ns/ns1/sa/foo2' }, tcp));
    assert.ok(!ruleMatches(rule, { peer: 'https://evil/ns/ns1/sa/foo' }, tcp), 'the scheme is still checked');
    assert.ok(!ruleMatches(rule, {}, tcp), 'plaintext has no principal');
  }
});

test('P-NS / H2: namespaces match the peer identity; plaintext is not "from foo" (Istio), and notNamespaces ["*"] catches it', () => {
  const deny: Rule = { from: [{ source: { namespaces: ['foo'] } }] };
  assert.ok(ruleMatches(deny, { peer: 'spiffe://cluster.local/ns/foo/sa/sleep' }));
  assert.ok(!ruleMatches(deny, { peer: 'spiffe://cluster.local/ns/foobar/sa/sleep' }));
  assert.ok(!ruleMatches(deny, {}), 'PERMISSIVE plaintext is not denied by a namespace rule (ISTIO-SECURITY-2021-004)');
  const workaround: Rule = { from: [{ source: { notNamespaces: ['*'] } }] };
  assert.ok(ruleMatches(workaround, {}), 'plaintext is denied by notNamespaces ["*"]');
  assert.ok(!ruleMatches(workaround, { peer: 'spiffe://cluster.local/ns/foo/sa/sleep' }));
});

test('P-DENY-ADMIN / A4 / A9: paths compare without the query and case-sensitively', () => {
  const rule: Rule = { to: [{ operation: { paths: ['/admin', '/admin/*'] } }] };
  for (const path of ['/admin', '/admin?x=1', '/admin?', '/admin/users']) assert.ok(ruleMatches(rule, { path }), path);
  for (const path of ['/ADMIN', '/administrator', '/public']) assert.ok(!ruleMatches(rule, { path }), path);
});

test('P-DENY-HOST / B1: hosts compare case-insensitively', () => {
  const rule: Rule = { to: [{ operation: { hosts: ['secret.com'] } }] };
  for (const h of ['secret.com', 'Secret.com', 'SECRET.COM']) assert.ok(ruleMatches(rule, { headers: { ':authority': h } }), h);
  assert.ok(!ruleMatches(rule, { headers: { ':authority': 'secret.com.evil' } }));
});

test('request.regex.headers: the regex must match the whole value', () => {
  const rule = when('request.regex.headers[x-user]', ['user-[0-9]+']);
  assert.ok(ruleMatches(rule, { headers: { 'x-user': 'user-42' } }));
  assert.ok(!ruleMatches(rule, { headers: { 'x-user': 'user-42-admin' } }), 'no partial match');
  assert.ok(!ruleMatches(rule, { headers: { 'x-user': 'xuser-42' } }));
  assert.ok(!ruleMatches(rule, {}), 'absent header');
});

test('P-JWT: requestPrincipals ["*"] needs a request principal in istio_authn metadata; claims match one element of the list', () => {
  const rule: Rule = { from: [{ source: { requestPrincipals: ['*'] } }] };
  assert.ok(ruleMatches(rule, { metadata: { istio_authn: { 'request.auth.principal': 'testing@secure.istio.io/testing@secure.istio.io' } } }));
  assert.ok(!ruleMatches(rule, { metadata: {} }), 'no token, no principal');
  const groups = when('request.auth.claims[groups]', ['group1']);
  assert.ok(ruleMatches(groups, { metadata: { istio_authn: { 'request.auth.claims': { groups: ['group2', 'group1'] } } } }));
  assert.ok(!ruleMatches(groups, { metadata: { istio_authn: { 'request.auth.claims': { groups: ['group2'] } } } }));
});

// ---------------------------------------------------------------------------------------------
// Placement in generated listeners.

const ap = (ns: string, name: string, spec: string) => `apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec}
---
`;

const DENY_ADMIN = ap(NS, 'deny-admin', '  selector: {matchLabels: {app: reviews}}\n  action: DENY\n  rules: [{to: [{operation: {paths: [/admin, /admin/*]}}]}]');
const ALLOW_GET = ap(NS, 'allow-get', '  selector: {matchLabels: {app: reviews}}\n  rules: [{to: [{operation: {methods: [GET]}}]}]');

const listener = (cfg: ProxyConfig, name: string): Msg => {
  const l = cfg.listeners.find((x) => x.name === name);
  assert.ok(l, `listener ${name}`);
  return l;
};
const chainsOf = (l: Msg) => l.filterChains as Msg[];
const hcmOf = (chain: Msg): Msg | undefined => ((chain.filters as Msg[]).find((f) => f.name === 'envoy.filters.network.http_connection_manager')?.typedConfig as Msg | undefined);
const httpFilterNames = (chain: Msg) => ((hcmOf(chain)?.httpFilters as Msg[] | undefined) ?? []).map((f) => f.name);
const rbacActions = (filters: Msg[]) => filters.filter((f) => f.name === HTTP_RBAC || f.name === NET_RBAC).map((f) => ((f.typedConfig as Msg).rules as Msg).action);
const allFilters = (cfg: ProxyConfig): Msg[] =>
  cfg.listeners.flatMap((l) => chainsOf(l).flatMap((c) => [...(c.filters as Msg[]), ...((hcmOf(c)?.httpFilters as Msg[] | undefined) ?? [])]));

function addTcpPort(m: TestMesh): void {
  applyYaml(m.store, `apiVersion: v1
kind: Service
metadata: {name: reviews-tcp, namespace: ${NS}}
spec:
  selector: {app: reviews}
  ports: [{name: tcp, port: 9000}]
`);
}

test('without a policy nothing changes: no RBAC filter anywhere, http_filters stay cors, fault, router', () => {
  const m = testMesh();
  for (const p of [m.sidecar('reviews-v1'), m.gateway()]) {
    const cfg = m.config(p);
    assert.deepEqual(allFilters(cfg).filter((f) => f.name === HTTP_RBAC || f.name === NET_RBAC), []);
  }
  const vi = listener(m.config(m.sidecar('reviews-v1')), 'virtualInbound');
  assert.deepEqual(httpFilterNames(chainsOf(vi).find((c) => c.name === 'inbound_0.0.0.0_9080')!), ['envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
});

test('sidecar inbound HTTP: the DENY filter, then the ALLOW filter, before cors, fault and router — on every chain of the port; outbound untouched', () => {
  const m = testMesh();
  applyYaml(m.store, ALLOW_GET + DENY_ADMIN);
  const cfg = m.config(m.sidecar('reviews-v1'));
  const vi = listener(cfg, 'virtualInbound');
  const httpChains = chainsOf(vi).filter((c) => hcmOf(c));
  assert.deepEqual(httpChains.map((c) => c.name), ['inbound_0.0.0.0_9080-mtls', 'inbound_0.0.0.0_9080']);
  for (const c of httpChains) {
    assert.deepEqual(httpFilterNames(c), [HTTP_RBAC, HTTP_RBAC, 'envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
    const filters = hcmOf(c)!.httpFilters as Msg[];
    assert.deepEqual(rbacActions(filters), ['DENY', 'ALLOW']);
  }
  const [deny, allow] = hcmOf(httpChains[0]!)!.httpFilters as Msg[];
  assert.deepEqual(deny, {
    name: HTTP_RBAC,
    typedConfig: {
      '@type': HTTP_RBAC_TYPE,
      rules: {
        action: 'DENY',
        policies: {
          'ns[bookinfo]-policy[deny-admin]-rule[0]': {
            permissions: [{ andRules: { rules: [orRules({ urlPath: { path: { exact: '/admin' } } }, { urlPath: { path: { prefix: '/admin/' } } })] } }],
            principals: [{ andIds: { ids: [{ any: true }] } }],
          },
        },
      },
    },
  });
  assert.deepEqual(Object.keys((((allow!.typedConfig as Msg).rules as Msg).policies as Msg)), ['ns[bookinfo]-policy[allow-get]-rule[0]']);
  // Outbound listeners never get authorization filters.
  for (const l of cfg.listeners.filter((x) => x.trafficDirection !== 'INBOUND')) {
    for (const c of chainsOf(l)) assert.ok(!httpFilterNames(c).includes(HTTP_RBAC) && !(c.filters as Msg[]).some((f) => f.name === NET_RBAC), `${l.name as string}`);
  }
  // A workload the policies do not select has none.
  assert.deepEqual(allFilters(m.config(m.sidecar('ratings-v1'))).filter((f) => f.name === HTTP_RBAC || f.name === NET_RBAC), []);
});

test('only DENY policies: a DENY filter and no ALLOW filter (what is not denied stays allowed)', () => {
  const m = testMesh();
  applyYaml(m.store, DENY_ADMIN);
  const vi = listener(m.config(m.sidecar('reviews-v2')), 'virtualInbound');
  const c = chainsOf(vi).find((x) => x.name === 'inbound_0.0.0.0_9080')!;
  assert.deepEqual(httpFilterNames(c), [HTTP_RBAC, 'envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
  assert.deepEqual(rbacActions(hcmOf(c)!.httpFilters as Msg[]), ['DENY']);
});

test('AUDIT policies: a LOG filter runs first, before DENY', () => {
  const m = testMesh();
  applyYaml(m.store, DENY_ADMIN + ap(NS, 'audit', '  action: AUDIT\n  rules: [{to: [{operation: {methods: [DELETE]}}]}]'));
  const c = chainsOf(listener(m.config(m.sidecar('reviews-v1')), 'virtualInbound')).find((x) => x.name === 'inbound_0.0.0.0_9080')!;
  assert.deepEqual(rbacActions(hcmOf(c)!.httpFilters as Msg[]), ['LOG', 'DENY']);
});

test('sidecar inbound TCP and the passthrough: network RBAC (stat prefix tcp.) before tcp_proxy, ALLOW rules with HTTP-only keys dropped', () => {
  const m = testMesh();
  addTcpPort(m);
  applyYaml(m.store, ALLOW_GET + DENY_ADMIN);
  const vi = listener(m.config(m.sidecar('reviews-v1')), 'virtualInbound');
  const names = (c: Msg) => (c.filters as Msg[]).map((f) => f.name);
  const tcpChains = chainsOf(vi).filter((c) => c.name !== 'virtualInbound-blackhole' && !hcmOf(c));
  assert.deepEqual(tcpChains.map((c) => c.name), ['inbound_0.0.0.0_9000-mtls', 'inbound_0.0.0.0_9000-tls', 'inbound_0.0.0.0_9000', 'inbound_0.0.0.0_9080-tls', 'virtualInbound-mtls', 'virtualInbound-tls', 'virtualInbound']);
  for (const c of tcpChains) assert.deepEqual(names(c), [NET_RBAC, NET_RBAC, 'envoy.filters.network.tcp_proxy'], `${c.name as string}`);
  const [deny, allow] = (tcpChains.find((c) => c.name === 'inbound_0.0.0.0_9000')!.filters as Msg[]).map((f) => f.typedConfig as Msg);
  assert.equal(deny!['@type'], NET_RBAC_TYPE);
  assert.equal(deny!.statPrefix, 'tcp.');
  // DENY paths on TCP: the HTTP-only path is removed, so the rule denies every connection (fail closed).
  assert.deepEqual(deny!.rules, {
    action: 'DENY',
    policies: { 'ns[bookinfo]-policy[deny-admin]-rule[0]': { permissions: [{ andRules: { rules: [{ any: true }] } }], principals: [{ andIds: { ids: [{ any: true }] } }] } },
  });
  // ALLOW methods on TCP: the rule is dropped, so nothing is allowed.
  assert.deepEqual(allow!.rules, { action: 'ALLOW', policies: {} });
  assert.equal(allow!.statPrefix, 'tcp.');
});

test('gateway: mesh-wide policies in the root namespace apply to its HTTP connection managers and, as network RBAC, to its TCP chains', () => {
  const m = testMesh();
  applyYaml(
    m.store,
    `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: ${NS}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}
  - {port: {number: 31400, name: tcp, protocol: TCP}, hosts: ["*"]}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: tcp, namespace: ${NS}}
spec:
  hosts: ["*"]
  gateways: [gw]
  tcp: [{route: [{destination: {host: ratings, port: {number: 9080}}}]}]
---
` + ap('istio-system', 'mesh-deny', '  action: DENY\n  rules: [{from: [{source: {ipBlocks: [203.0.113.0/24]}}]}]'),
  );
  const cfg = m.config(m.gateway());
  const http = chainsOf(listener(cfg, '0.0.0.0_8080'))[0]!;
  assert.deepEqual(httpFilterNames(http), [HTTP_RBAC, 'envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
  const tcp = chainsOf(listener(cfg, '0.0.0.0_31400'))[0]!;
  assert.deepEqual((tcp.filters as Msg[]).map((f) => f.name), [NET_RBAC, 'envoy.filters.network.tcp_proxy']);
  assert.deepEqual(((tcp.filters as Msg[])[0]!.typedConfig as Msg).rules, {
    action: 'DENY',
    policies: {
      'ns[istio-system]-policy[mesh-deny]-rule[0]': {
        permissions: [{ andRules: { rules: [{ any: true }] } }],
        principals: [{ andIds: { ids: [orIds({ directRemoteIp: { addressPrefix: '203.0.113.0', prefixLen: { value: 24 } } })] } }],
      },
    },
  });
  // The sidecars of every namespace get the mesh-wide policy too.
  assert.deepEqual(rbacActions(allFilters(m.config(m.sidecar('productpage-v1')))).slice(0, 1), ['DENY']);
});

test('every key, HTTP and TCP, ALLOW, DENY and AUDIT: the listeners encode with Envoy\'s protos, decode back, and use no deprecated field', () => {
  const m = testMesh();
  addTcpPort(m);
  const everything = `rules:
  - from:
    - source: {principals: ["cluster.local/ns/a/sa/b", "*/sa/c", "cluster.local/*", "*"], notPrincipals: [x/ns/y/sa/z], requestPrincipals: ["iss/sub", "*"], notRequestPrincipals: ["iss/*"], namespaces: [foo, "bar*"], notNamespaces: ["*"], ipBlocks: [10.0.0.0/8, "fd00::1"], notIpBlocks: [10.1.2.3]}
    to:
    - operation: {hosts: [Example.com, "*.example.com"], notHosts: ["*"], ports: ["9080"], notPorts: ["9000"], methods: [GET], notMethods: [DELETE], paths: [/a, "/b/*", "*.png", "*"], notPaths: [/admin]}
    when:
    - {key: "request.headers[x-a]", values: [v, "*"], notValues: ["p*"]}
    - {key: "request.regex.headers[x-b]", values: ["[a-z]+"]}
    - {key: source.ip, values: [10.0.0.1]}
    - {key: source.namespace, notValues: [evil]}
    - {key: source.principal, values: ["cluster.local/ns/a/sa/b"]}
    - {key: request.auth.principal, values: ["iss/sub"]}
    - {key: request.auth.audiences, values: [aud]}
    - {key: request.auth.presenter, values: [pres]}
    - {key: "request.auth.claims[groups]", values: [g1]}
    - {key: destination.ip, values: [10.1.0.0/16]}
    - {key: destination.port, values: ["9080"]}
    - {key: connection.sni, values: ["*.svc"]}
    - {key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"]}
  - {}`;
  const indent = (s: string) => s.split('\n').map((l) => `  ${l}`).join('\n');
  applyYaml(m.store, ['ALLOW', 'DENY', 'AUDIT'].map((a) => ap(NS, `all-${a.toLowerCase()}`, `  action: ${a}\n${indent(everything)}`)).join(''));
  // m.config encodes every resource with the strict encoder and refuses deprecated fields.
  const cfg = m.config(m.sidecar('reviews-v1'));
  const vi = cfg.resources.find((r) => r.name === 'virtualInbound')!;
  const decoded = decodeResource(TypeUrl.Listener, encodeResource(vi)) as Msg;
  const chain = (decoded.filter_chains as Msg[]).find((c) => c.name === 'inbound_0.0.0.0_9080')!;
  const hcm = (chain.filters as Msg[])[0]!.typed_config as Msg;
  const filters = hcm.http_filters as Msg[];
  assert.deepEqual(filters.map((f) => f.name).slice(0, 3), [HTTP_RBAC, HTTP_RBAC, HTTP_RBAC]);
  const allow = (filters[2]!.typed_config as Msg).rules as Msg;
  assert.deepEqual(Object.keys(allow.policies as Msg).sort(), ['ns[bookinfo]-policy[all-allow]-rule[0]', 'ns[bookinfo]-policy[all-allow]-rule[1]']);
  const tcpChain = (decoded.filter_chains as Msg[]).find((c) => c.name === 'inbound_0.0.0.0_9000')!;
  const tcpAllow = ((tcpChain.filters as Msg[])[2]!.typed_config as Msg).rules as Msg;
  assert.deepEqual(Object.keys(tcpAllow.policies as Msg), ['ns[bookinfo]-policy[all-allow]-rule[1]'], 'on TCP the HTTP-keyed ALLOW rule is dropped, the empty rule stays');
  // The gateway encodes too.
  m.config(m.gateway());
});

test('an AuthorizationPolicy change needs no CDS/EDS, and the ADS server pushes new listeners to the sidecars it selects', { timeout: 30_000 }, async () => {
  const m = testMesh();
  const before = pushOf(m.store);
  applyYaml(m.store, DENY_ADMIN);
  const after = pushOf(m.store);
  const p = m.sidecar('reviews-v2');
  assert.equal(clustersMayChange({ full: true, configKinds: new Set(['AuthorizationPolicy']) }, before.sidecarScope(p).services, after.sidecarScope(p).services), false);
  const out = (push: typeof before, t: typeof TypeUrl.Cluster | typeof TypeUrl.Listener) => JSON.stringify(envoyGenerators[t]!(p, push).map((r) => r.resource));
  assert.equal(out(before, TypeUrl.Cluster), out(after, TypeUrl.Cluster));
  assert.notEqual(out(before, TypeUrl.Listener), out(after, TypeUrl.Listener));

  const m2 = testMesh();
  const discovery = new Discovery({ store: m2.store, xdsPort: 0, debugPort: 0, debounceAfterMs: 5, debounceMaxMs: 50 });
  await discovery.start();
  const port = Number(discovery.xdsAddress.split(':').pop());
  const c = new AdsTestClient(port, 'sotw', { id: `sidecar~${m2.ips['reviews-v2']}~reviews-v2-abc12.${NS}~${NS}.svc.cluster.local` });
  try {
    const rbacIn = (r: { resources: { name: string; body: Msg }[] }) => {
      const vi = r.resources.find((x) => x.name === 'virtualInbound')?.body;
      const chain = ((vi?.filter_chains as Msg[] | undefined) ?? []).find((fc) => fc.name === 'inbound_0.0.0.0_9080');
      const hcm = ((chain?.filters as Msg[] | undefined) ?? [])[0]?.typed_config as Msg | undefined;
      return ((hcm?.http_filters as Msg[] | undefined) ?? []).map((f) => f.name);
    };
    c.request(TypeUrl.Listener);
    const first = await c.next();
    assert.equal(first.typeUrl, TypeUrl.Listener);
    assert.deepEqual(rbacIn(first), ['envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
    c.ack(first);

    // A namespace-wide policy: this test client sends no LABELS metadata, so a selector would not match it.
    applyYaml(m2.store, ap(NS, 'deny-admin', '  action: DENY\n  rules: [{to: [{operation: {paths: [/admin]}}]}]'));
    let pushed = await c.next();
    for (let i = 0; i < 5 && pushed.typeUrl !== TypeUrl.Listener; i++) pushed = await c.next();
    assert.equal(pushed.typeUrl, TypeUrl.Listener);
    assert.deepEqual(rbacIn(pushed), [HTTP_RBAC, 'envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
    c.ack(pushed);
  } finally {
    c.close();
    await discovery.close();
  }
});
