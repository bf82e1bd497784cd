// Unit tests of the parsers shared by security validation and the (future) policy compiler: condition keys, value patterns, JWKS addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forbiddenAddressProblem, forbiddenHostProblem, parseConditionKey, parseValuePattern, SIMPLE_CONDITION_KEYS } from '../../src/api/kinds/security-types.js';

test('parseConditionKey: every simple Istio 1.6 attribute parses as simple with no name', () => {
  assert.equal(SIMPLE_CONDITION_KEYS.length, 9);
  for (const k of SIMPLE_CONDITION_KEYS) assert.deepEqual(parseConditionKey(k), { kind: 'simple', key: k });
});

test('parseConditionKey: bracketed attributes give their kind, base key and name', () => {
  assert.deepEqual(parseConditionKey('request.headers[User-Agent]'), { kind: 'header', key: 'request.headers', name: 'User-Agent' });
  assert.deepEqual(parseConditionKey('request.headers[:authority]'), { kind: 'header', key: 'request.headers', name: ':authority' });
  assert.deepEqual(parseConditionKey('request.regex.headers[x-user]'), { kind: 'regexHeader', key: 'request.regex.headers', name: 'x-user' });
  assert.deepEqual(parseConditionKey('request.auth.claims[groups]'), { kind: 'claim', key: 'request.auth.claims', name: 'groups' });
  assert.deepEqual(parseConditionKey('request.auth.claims[https://example.com/roles]'), { kind: 'claim', key: 'request.auth.claims', name: 'https://example.com/roles' });
  assert.deepEqual(parseConditionKey('experimental.envoy.filters.network.mysql_proxy[db.table]'), {
    kind: 'experimental',
    key: 'experimental.envoy.filters.network.mysql_proxy',
    name: 'db.table',
  });
});

test('parseConditionKey: request.regex.headers is not mistaken for request.headers (MAISTRA-2010)', () => {
  const r = parseConditionKey('request.regex.headers[x-user]');
  assert.ok(!('problem' in r));
  assert.equal(r.kind, 'regexHeader');
});

const problems: Array<[string, RegExp]> = [
  ['', /must not be empty/],
  [' source.ip', /leading or trailing spaces/],
  ['source.ip ', /leading or trailing spaces/],
  ['request.headers', /needs a name in brackets/],
  ['request.headers[]', /must not be empty/],
  ['request.headers[x', /should have the form request\.headers\[NAME\]/],
  ['request.headers[x]y', /should have the form/],
  ['request.headersX[x]', /unknown attribute/],
  ['request.headers[a b]', /not a valid HTTP header name/],
  ['request.regex.headers', /needs a name in brackets/],
  ['request.regex.headers[]', /must not be empty/],
  ['request.auth.claims[a][b]', /nested claims/],
  ['request.auth.claims', /needs a name/],
  ['source.ip[x]', /takes no \[name\]/],
  ['source.port', /unknown attribute/],
  ['Source.IP', /unknown attribute/],
  ['experimental.envoy.filters.', /name the Envoy filter/],
  ['experimental.envoy.filters.[x]', /name the Envoy filter/],
  ['experimental.envoy.filters.a..b[x]', /name the Envoy filter/],
  ['experimental.envoy.filters.network.mysql_proxy', /needs a name in brackets/],
  ['destination.labels[version]', /replaced by the workload selector/],
  ['destination.labels', /replaced by the workload selector/],
  ['destination.namespace', /metadata\.namespace/],
  ['destination.name', /v1alpha1/],
  ['destination.user', /v1alpha1/],
];
for (const [key, re] of problems) {
  test(`parseConditionKey: refuses ${JSON.stringify(key)}`, () => {
    const r = parseConditionKey(key);
    assert.ok('problem' in r, `expected a problem for ${key}, got ${JSON.stringify(r)}`);
    assert.match(r.problem, re);
  });
}

test('parseValuePattern: exact, prefix, suffix and presence', () => {
  assert.deepEqual(parseValuePattern('GET'), { type: 'exact', value: 'GET' });
  assert.deepEqual(parseValuePattern('/api/*'), { type: 'prefix', value: '/api/' });
  assert.deepEqual(parseValuePattern('*.html'), { type: 'suffix', value: '.html' });
  assert.deepEqual(parseValuePattern('*'), { type: 'present' });
});

test('parseValuePattern: refuses a "*" in the middle, twice, or at both ends', () => {
  for (const v of ['a*b', '**', '*a*', 'a**', '/api/*/x*']) assert.ok('problem' in parseValuePattern(v), v);
});

test('forbiddenAddressProblem: loopback, unspecified, link-local and metadata addresses of both families', () => {
  for (const ip of ['127.0.0.1', '127.255.255.254', '0.0.0.0', '0.1.2.3', '169.254.0.1', '169.254.169.254', '100.100.100.200', '::1', '::', 'fe80::1', 'fe80::1%eth0', 'febf::ffff', 'fd00:ec2::254', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe']) {
    assert.ok(forbiddenAddressProblem(ip), `${ip} should be forbidden`);
  }
  for (const ip of ['10.0.0.1', '128.0.0.1', '169.253.255.255', '169.255.0.0', '100.100.100.199', 'fec0::1', 'fd00:ec2::253', '2001:db8::1', '::2', '::ffff:10.0.0.1', 'not-an-ip']) {
    assert.equal(forbiddenAddressProblem(ip), undefined, `${ip} should be allowed`);
  }
});

test('forbiddenHostProblem: names and bracketed IPv6 as WHATWG URL hostnames give them', () => {
  for (const h of ['localhost', 'LOCALHOST', 'localhost.', 'a.b.localhost', 'metadata.google.internal', 'metadata.google.internal.', 'metadata', '[::1]', '[fd00:ec2::254]']) {
    assert.ok(forbiddenHostProblem(h), `${h} should be forbidden`);
  }
  for (const h of ['example.com', 'localhost.example.com', 'mylocalhost', 'metadata.example.com', '[2001:db8::1]']) {
    assert.equal(forbiddenHostProblem(h), undefined, `${h} should be allowed`);
  }
});
