// Envoy RBAC as Istio 1.6 generates it: each permission and principal kind, their combinations, ALLOW/DENY/LOG and shadow rules, and the network filter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/proxy/config/xds-json.js';
import { compileHttpRbac, compileNetworkRbac } from '../../../src/proxy/filters/rbac.js';
import type { FilterRequest } from '../../../src/proxy/http/http-filters.js';
import { certificateWith, mtls, request, type RequestOptions } from './fixtures.js';

type Json = Record<string, unknown>;

const exact = (s: string) => ({ exact: s });
const ANY = { any: true };

/** An ALLOW engine with one policy: `permission` and `principal`. */
function allowOne(permission: Json, principal: Json = ANY, action = 'ALLOW') {
  return compileHttpRbac({ rules: { action, policies: { 'ns[foo]-policy[p]-rule[0]': { permissions: [permission], principals: [principal] } } } }, 'rbac');
}

function allowed(f: ReturnType<typeof compileHttpRbac>, req: FilterRequest): boolean {
  const v = f.decode(req);
  assert.ok(!(v instanceof Promise));
  return v === undefined;
}

const istioAuthn = (attrs: Record<string, unknown>) => new Map([['istio_authn', attrs]]);

test('permissions: each kind matches what it names and nothing else', () => {
  const cases: Array<[string, Json, RequestOptions, RequestOptions | undefined]> = [
    ['any', ANY, { method: 'ANYTHING' }, undefined],
    ['header :method', { header: { name: ':method', exact_match: 'GET' } }, { method: 'GET' }, { method: 'POST' }],
    ['header :authority exact is case-sensitive', { header: { name: ':authority', exact_match: 'httpbin.foo' } }, { authority: 'httpbin.foo' }, { authority: 'HTTPBIN.foo' }],
    ['header :authority with ignore_case', { header: { name: ':authority', string_match: { exact: 'httpbin.foo', ignore_case: true } } }, { authority: 'HTTPBIN.foo' }, { authority: 'other' }],
    ['host reads the authority', { header: { name: 'host', prefix_match: 'httpbin' } }, { authority: 'httpbin.foo' }, { authority: 'x.httpbin' }],
    ['header :path carries the query', { header: { name: ':path', exact_match: '/a?b=1' } }, { path: '/a', query: 'b=1' }, { path: '/a' }],
    ['header suffix', { header: { name: 'x-env', suffix_match: '-prod' } }, { headers: [['x-env', 'eu-prod']] }, { headers: [['x-env', 'eu-dev']] }],
    ['header safe_regex', { header: { name: 'x-id', safe_regex_match: { regex: '[0-9]+' } } }, { headers: [['x-id', '123']] }, { headers: [['x-id', '12a']] }],
    ['header present', { header: { name: 'x-token', present_match: true } }, { headers: [['x-token', '']] }, {}],
    ['header inverted', { header: { name: 'x-env', exact_match: 'dev', invert_match: true } }, { headers: [['x-env', 'prod']] }, { headers: [['x-env', 'dev']] }],
    ['header values joined with ","', { header: { name: 'x-a', exact_match: '1,2' } }, { headers: [['x-a', '1'], ['x-a', '2']] }, { headers: [['x-a', '1']] }],
    ['url_path ignores the query', { url_path: { path: exact('/api') } }, { path: '/api', query: 'x=1' }, { path: '/api/' }],
    ['url_path prefix', { url_path: { path: { prefix: '/api/' } } }, { path: '/api/v1' }, { path: '/apix' }],
    ['destination_ip', { destination_ip: { address_prefix: '10.1.0.0', prefix_len: 16 } }, { localAddress: '10.1.200.1' }, { localAddress: '10.2.0.1' }],
    ['destination_ip v4-mapped', { destination_ip: { address_prefix: '10.1.0.9', prefix_len: 32 } }, { localAddress: '::ffff:10.1.0.9' }, { localAddress: '::1' }],
    ['destination_port', { destination_port: 8000 }, { localPort: 8000 }, { localPort: 8001 }],
    ['destination_port_range', { destination_port_range: { start: 8000, end: 8002 } }, { localPort: 8001 }, { localPort: 8002 }],
    ['requested_server_name', { requested_server_name: { suffix: '.svc.cluster.local' } }, { serverName: 'a.foo.svc.cluster.local' }, {}],
    ['metadata string', { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { string_match: exact('iss/alice') } } }, { metadata: istioAuthn({ 'request.auth.principal': 'iss/alice' }) }, { metadata: istioAuthn({}) }],
  ];
  for (const [name, permission, yes, no] of cases) {
    const f = allowOne(permission);
    assert.equal(allowed(f, request(yes)), true, `${name}: should match`);
    if (no) assert.equal(allowed(f, request(no)), false, `${name}: should not match`);
  }
});

test('principals: each kind matches what it names and nothing else', () => {
  const cert = certificateWith('client', 'URI:spiffe://example.org/ns/a/sa/b, DNS:client.example');
  const cases: Array<[string, Json, RequestOptions, RequestOptions]> = [
    ['authenticated exact SPIFFE ID', { authenticated: { principal_name: exact('spiffe://cluster.local/ns/bar/sa/sleep') } }, { security: mtls('bar', 'sleep') }, { security: mtls('bar', 'other') }],
    ['authenticated without a name: any verified peer', { authenticated: {} }, { security: mtls('bar', 'sleep') }, { security: { tls: true } }],
    ['authenticated prefix (namespace wildcard)', { authenticated: { principal_name: { prefix: 'spiffe://cluster.local/ns/bar/' } } }, { security: mtls('bar', 'x') }, { security: mtls('baz', 'x') }],
    ['authenticated suffix (H13 "*/sa/sleep")', { authenticated: { principal_name: { suffix: '/sa/sleep' } } }, { security: mtls('any', 'sleep') }, { security: mtls('any', 'sleepy') }],
    ['authenticated regex (Istio’s namespace form)', { authenticated: { principal_name: { safe_regex: { regex: '.*/ns/bar/.*' } } } }, { security: mtls('bar', 'x') }, { security: mtls('foo', 'x') }],
    ['authenticated: certificate URI SAN', { authenticated: { principal_name: exact('spiffe://example.org/ns/a/sa/b') } }, { security: { tls: true, peerCertificate: cert } }, { security: { tls: false, peerCertificate: cert } }],
    ['authenticated: certificate DNS SAN', { authenticated: { principal_name: exact('client.example') } }, { security: { tls: true, peerCertificate: cert } }, { security: mtls('a', 'b') }],
    ['authenticated: certificate subject', { authenticated: { principal_name: exact('CN=client,O=meltemi') } }, { security: { tls: true, peerCertificate: cert } }, { security: mtls('a', 'b') }],
    ['source_ip', { source_ip: { address_prefix: '10.1.0.0', prefix_len: 24 } }, { remoteAddress: '10.1.0.200' }, { remoteAddress: '10.1.1.1' }],
    ['direct_remote_ip', { direct_remote_ip: { address_prefix: '10.1.0.7' } }, { remoteAddress: '0.0.0.1' }, { remoteAddress: '::1' }],
    ['remote_ip v6', { remote_ip: { address_prefix: 'fd00::', prefix_len: 8 } }, { remoteAddress: 'fd12::1' }, { remoteAddress: '10.0.0.1' }],
    ['header', { header: { name: 'x-user', exact_match: 'jason' } }, { headers: [['x-user', 'jason']] }, { headers: [['x-user', 'JASON']] }],
    ['url_path', { url_path: { path: exact('/p') } }, { path: '/p' }, { path: '/q' }],
    ['metadata source.principal', { metadata: { filter: 'istio_authn', path: [{ key: 'source.principal' }], value: { string_match: exact('cluster.local/ns/bar/sa/sleep') } } }, { metadata: istioAuthn({ 'source.principal': 'cluster.local/ns/bar/sa/sleep' }) }, { metadata: istioAuthn({ 'source.principal': 'spiffe://cluster.local/ns/bar/sa/sleep' }) }],
    ['metadata request.auth.principal "*"', { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { string_match: { safe_regex: { regex: '.+' } } } } }, { metadata: istioAuthn({ 'request.auth.principal': 'iss/sub' }) }, { metadata: istioAuthn({ 'source.principal': 'x' }) }],
    ['metadata claims list contains', { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: exact('admin') } } } } }, { metadata: istioAuthn({ 'request.auth.claims': { groups: ['dev', 'admin'] } }) }, { metadata: istioAuthn({ 'request.auth.claims': { groups: ['dev'] } }) }],
    ['metadata claims: a list matcher never matches a string', { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: exact('admin') } } } } }, { metadata: istioAuthn({ 'request.auth.claims': { groups: ['admin'] } }) }, { metadata: istioAuthn({ 'request.auth.claims': { groups: 'admin' } }) }],
    ['metadata bool and present', { metadata: { filter: 'f', path: [{ key: 'ok' }], value: { bool_match: true } } }, { metadata: new Map([['f', { ok: true }]]) }, { metadata: new Map([['f', { ok: 'true' }]]) }],
    ['metadata inverted', { metadata: { filter: 'f', path: [{ key: 'k' }], value: { present_match: true }, invert: true } }, { metadata: new Map([['f', {}]]) }, { metadata: new Map([['f', { k: 1 }]]) }],
    ['metadata double range', { metadata: { filter: 'f', path: [{ key: 'n' }], value: { double_match: { range: { start: 1, end: 3 } } } } }, { metadata: new Map([['f', { n: 2 }]]) }, { metadata: new Map([['f', { n: 3 }]]) }],
  ];
  for (const [name, principal, yes, no] of cases) {
    const f = allowOne(ANY, principal);
    assert.equal(allowed(f, request(yes)), true, `${name}: should match`);
    assert.equal(allowed(f, request(no)), false, `${name}: should not match`);
  }
});

test('a plaintext request never matches an authenticated principal, whatever the matcher', () => {
  for (const principal_name of [{ safe_regex: { regex: '.*' } }, { prefix: '' }, { suffix: '' }, undefined]) {
    const f = allowOne(ANY, { authenticated: principal_name === undefined ? {} : { principal_name } });
    assert.equal(allowed(f, request({ security: { tls: false } })), false);
    // TLS without a client certificate authenticates no one either.
    assert.equal(allowed(f, request({ security: { tls: true } })), false);
  }
});

test('and / or / not compose as Envoy’s sets', () => {
  const get = { header: { name: ':method', exact_match: 'GET' } };
  const api = { url_path: { path: { prefix: '/api' } } };
  const and = allowOne({ and_rules: { rules: [get, api] } });
  assert.equal(allowed(and, request({ method: 'GET', path: '/api/x' })), true);
  assert.equal(allowed(and, request({ method: 'POST', path: '/api/x' })), false);
  const or = allowOne({ or_rules: { rules: [get, api] } });
  assert.equal(allowed(or, request({ method: 'POST', path: '/api/x' })), true);
  assert.equal(allowed(or, request({ method: 'POST', path: '/x' })), false);
  const not = allowOne({ not_rule: get });
  assert.equal(allowed(not, request({ method: 'POST' })), true);
  assert.equal(allowed(not, request({ method: 'GET' })), false);
  const ids = allowOne(ANY, { and_ids: { ids: [{ not_id: { source_ip: { address_prefix: '10.0.0.0', prefix_len: 8 } } }, { or_ids: { ids: [{ header: { name: 'a', present_match: true } }, { header: { name: 'b', present_match: true } }] } }] } });
  assert.equal(allowed(ids, request({ remoteAddress: '192.168.0.1', headers: [['b', '1']] })), true);
  assert.equal(allowed(ids, request({ remoteAddress: '10.0.0.1', headers: [['b', '1']] })), false);
  assert.equal(allowed(ids, request({ remoteAddress: '192.168.0.1' })), false);
});

test('a policy needs a matching permission and a matching principal', () => {
  const f = allowOne({ header: { name: ':method', exact_match: 'GET' } }, { authenticated: { principal_name: exact('spiffe://cluster.local/ns/bar/sa/sleep') } });
  assert.equal(allowed(f, request({ method: 'GET', security: mtls('bar', 'sleep') })), true);
  assert.equal(allowed(f, request({ method: 'POST', security: mtls('bar', 'sleep') })), false);
  assert.equal(allowed(f, request({ method: 'GET' })), false);
});

test('ALLOW admits only on a match, DENY refuses only on a match, LOG never refuses but hints the access log', () => {
  const perm = { header: { name: ':method', exact_match: 'DELETE' } };
  const allow = allowOne(perm, ANY, 'ALLOW');
  const deny = allowOne(perm, ANY, 'DENY');
  const log = allowOne(perm, ANY, 'LOG');
  const del = () => request({ method: 'DELETE' });
  const get = () => request({ method: 'GET' });
  assert.equal(allowed(allow, del()), true);
  assert.equal(allowed(allow, get()), false);
  assert.equal(allowed(deny, del()), false);
  assert.equal(allowed(deny, get()), true);
  const r1 = del();
  const r2 = get();
  assert.equal(allowed(log, r1), true);
  assert.equal(allowed(log, r2), true);
  assert.deepEqual(r1.metadata.get('envoy.common'), { access_log_hint: true });
  assert.deepEqual(r2.metadata.get('envoy.common'), { access_log_hint: false });
  assert.deepEqual([log.stats.logged, log.stats.not_logged], [1, 1]);
});

test('a denial is Envoy’s 403 with the matched policy (or none) in the details', () => {
  const deny = allowOne({ header: { name: ':method', exact_match: 'DELETE' } }, ANY, 'DENY');
  assert.deepEqual(deny.decode(request({ method: 'DELETE' })), { status: 403, body: 'RBAC: access denied', details: 'rbac_access_denied_matched_policy[ns[foo]-policy[p]-rule[0]]' });
  const allow = allowOne({ header: { name: ':method', exact_match: 'GET' } });
  assert.deepEqual(allow.decode(request({ method: 'POST' })), { status: 403, body: 'RBAC: access denied', details: 'rbac_access_denied_matched_policy[none]' });
  // ALLOW with no policies refuses everything; no rules at all allows everything.
  assert.equal(allowed(compileHttpRbac({ rules: {} }, 'rbac'), request()), false);
  assert.equal(allowed(compileHttpRbac({}, 'rbac'), request()), true);
});

test('policies are tried in name order: the first match names the decision', () => {
  const f = compileHttpRbac({ rules: { action: 'DENY', policies: { zeta: { permissions: [ANY], principals: [ANY] }, alpha: { permissions: [ANY], principals: [ANY] } } } }, 'rbac');
  assert.equal((f.decode(request()) as { details: string }).details, 'rbac_access_denied_matched_policy[alpha]');
});

test('shadow rules are evaluated and recorded but never decide', () => {
  const f = compileHttpRbac(
    {
      shadow_rules: { action: 'ALLOW', policies: { 'only-get': { permissions: [{ header: { name: ':method', exact_match: 'GET' } }], principals: [ANY] } } },
    },
    'rbac',
  );
  const post = request({ method: 'POST' });
  assert.equal(allowed(f, post), true);
  assert.deepEqual(post.metadata.get('envoy.filters.http.rbac'), { shadow_engine_result: 'denied' });
  const get = request({ method: 'GET' });
  assert.equal(allowed(f, get), true);
  assert.deepEqual(get.metadata.get('envoy.filters.http.rbac'), { shadow_engine_result: 'allowed', shadow_effective_policy_id: 'only-get' });
  assert.deepEqual([f.stats.shadow_allowed, f.stats.shadow_denied, f.stats.allowed, f.stats.denied], [1, 1, 0, 0]);
});

test('network RBAC: identities, addresses and SNI decide a connection; HTTP rules never match there', () => {
  const rbac = compileNetworkRbac({
    stat_prefix: 'tcp.',
    rules: {
      policies: {
        'ns[foo]-policy[tcp]-rule[0]': {
          permissions: [{ and_rules: { rules: [{ destination_port: 9000 }, { requested_server_name: { prefix: 'db' } }] } }],
          principals: [{ authenticated: { principal_name: { prefix: 'spiffe://cluster.local/ns/bar/' } } }],
        },
        'ns[foo]-policy[http-only]-rule[0]': { permissions: [{ header: { name: ':method', present_match: true } }], principals: [ANY] },
      },
    },
  });
  const conn = (o: Partial<{ security: ReturnType<typeof mtls> | { tls: false }; localPort: number; serverName: string }>) => ({ security: mtls('bar', 'client'), remoteAddress: '10.0.0.1', localAddress: '10.0.0.2', localPort: 9000, serverName: 'db.foo', ...o });
  assert.deepEqual(rbac(conn({})), { allowed: true, policy: 'ns[foo]-policy[tcp]-rule[0]' });
  assert.deepEqual(rbac(conn({ security: { tls: false } })), { allowed: false, details: 'rbac_access_denied_matched_policy[none]' });
  assert.equal(rbac(conn({ localPort: 9001 })).allowed, false);
  assert.equal(rbac(conn({ serverName: 'web.foo' })).allowed, false);
  assert.equal(rbac.stats.allowed, 1);
  assert.equal(rbac.stats.denied, 3);
  const deny = compileNetworkRbac({ stat_prefix: 't', rules: { action: 'DENY', policies: { p: { permissions: [ANY], principals: [{ source_ip: { address_prefix: '192.168.0.0', prefix_len: 16 } }] } } } });
  assert.deepEqual(deny({ security: { tls: false }, remoteAddress: '192.168.1.1', localAddress: '10.0.0.2', localPort: 1 }), { allowed: false, policy: 'p', details: 'rbac_access_denied_matched_policy[p]' });
  assert.deepEqual(deny({ security: { tls: false }, remoteAddress: '10.0.0.1', localAddress: '10.0.0.2', localPort: 1 }), { allowed: true });
});

test('configs RBAC cannot honor are refused with the field path, and the next good one compiles', () => {
  const refused: Array<[string, unknown, string]> = [
    ['condition', { rules: { policies: { p: { permissions: [ANY], principals: [ANY], condition: {} } } } }, 'rbac.rules.policies["p"].condition'],
    ['unknown permission', { rules: { policies: { p: { permissions: [{ uri_template: {} }], principals: [ANY] } } } }, 'rbac.rules.policies["p"].permissions[0].uri_template'],
    ['unknown principal', { rules: { policies: { p: { permissions: [ANY], principals: [{ filter_state: {} }] } } } }, 'rbac.rules.policies["p"].principals[0].filter_state'],
    ['v2 regex_match', { rules: { policies: { p: { permissions: [{ header: { name: 'a', regex_match: '.*' } }], principals: [ANY] } } } }, 'rbac.rules.policies["p"].permissions[0].header.regex_match'],
    ['two rules in one', { rules: { policies: { p: { permissions: [{ any: true, destination_port: 1 }], principals: [ANY] } } } }, 'rbac.rules.policies["p"].permissions[0]'],
    ['no principals', { rules: { policies: { p: { permissions: [ANY] } } } }, 'rbac.rules.policies["p"].principals'],
    ['empty and_rules', { rules: { policies: { p: { permissions: [{ and_rules: { rules: [] } }], principals: [ANY] } } } }, 'rbac.rules.policies["p"].permissions[0].and_rules.rules'],
    ['bad action', { rules: { action: 'MAYBE' } }, 'rbac.rules.action'],
    ['bad cidr', { rules: { policies: { p: { permissions: [ANY], principals: [{ source_ip: { address_prefix: '10.0.0.0', prefix_len: 33 } }] } } } }, 'rbac.rules.policies["p"].principals[0].source_ip.prefix_len'],
    ['any false', { rules: { policies: { p: { permissions: [{ any: false }], principals: [ANY] } } } }, 'rbac.rules.policies["p"].permissions[0].any'],
    ['matcher API', { matcher: {} }, 'rbac.matcher'],
  ];
  for (const [name, config, path] of refused) {
    assert.throws(() => compileHttpRbac(config, 'rbac'), (e: unknown) => e instanceof ConfigError && e.path === path, name);
  }
  assert.throws(() => compileNetworkRbac({ stat_prefix: 'x', enforcement_type: 'CONTINUOUS' }), ConfigError);
  assert.ok(allowOne(ANY));
});
