// AuthorizationPolicy validation: Istio 1.6 + Maistra rules, every condition key (MAISTRA-2010), value syntax and actions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, expectError, expectValid, expectWarning } from '../helpers/validation.js';

const ap = (body: string, head = '  selector:\n    matchLabels: {app: httpbin}\n') =>
  `apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: httpbin, namespace: foo}\nspec:\n${head}${body}`;
/** One ALLOW rule with one condition (a YAML flow mapping). */
const when = (cond: string, action = 'ALLOW') => ap(`  action: ${action}\n  rules:\n  - when:\n    - ${cond}\n`);
const from = (source: string) => ap(`  rules:\n  - from:\n    - source: ${source}\n`);
const to = (operation: string) => ap(`  rules:\n  - to:\n    - operation: ${operation}\n`);

const W0 = 'spec.rules[0].when[0]';
const SRC = 'spec.rules[0].from[0].source';
const OP = 'spec.rules[0].to[0].operation';

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  // actions and rules
  { name: 'action CUSTOM', yaml: ap('  action: CUSTOM\n  rules: [{}]\n'), rule: 'ap.action', field: 'spec.action', message: 'not available in this release' },
  { name: 'a lower-case action', yaml: ap('  action: deny\n  rules: [{}]\n'), rule: 'schema.type', field: 'spec.action' },
  { name: 'a DENY policy without rules', yaml: ap('  action: DENY\n'), rule: 'ap.rules-required', field: 'spec.rules', message: 'DENY policy without rules' },
  { name: 'a DENY policy with an empty rules list', yaml: ap('  action: DENY\n  rules: []\n'), rule: 'ap.rules-required', field: 'spec.rules' },
  { name: 'an AUDIT policy without rules', yaml: ap('  action: AUDIT\n'), rule: 'ap.rules-required', field: 'spec.rules' },
  { name: 'the 1.8 provider field', yaml: ap('  action: ALLOW\n  provider: {name: ext-authz}\n  rules: [{}]\n'), rule: 'schema.unknown-field', field: 'spec.provider' },
  { name: 'rules given as a mapping', yaml: ap('  rules: {from: []}\n'), rule: 'schema.type', field: 'spec.rules' },
  // from / source
  { name: 'an empty from list', yaml: ap('  rules:\n  - from: []\n'), rule: 'ap.from-empty', field: 'spec.rules[0].from' },
  { name: 'an empty source', yaml: from('{}'), rule: 'ap.source-empty', field: SRC, message: 'must not be empty' },
  { name: 'a from entry without source', yaml: ap('  rules:\n  - from:\n    - {}\n'), rule: 'ap.source-empty', field: SRC, message: 'needs a source' },
  { name: 'a source whose lists are all empty', yaml: from('{principals: [], namespaces: []}'), rule: 'ap.source-empty', field: SRC },
  { name: 'a misspelt source field', yaml: from('{principal: ["cluster.local/ns/default/sa/sleep"]}'), rule: 'schema.unknown-field', field: `${SRC}.principal`, message: 'did you mean "principals"' },
  { name: 'the 1.8 remoteIpBlocks field', yaml: from('{remoteIpBlocks: ["1.2.3.4"]}'), rule: 'schema.unknown-field', field: `${SRC}.remoteIpBlocks` },
  { name: 'an empty principal', yaml: from('{principals: ["cluster.local/ns/default/sa/sleep", ""]}'), rule: 'ap.empty-value', field: `${SRC}.principals[1]` },
  { name: 'an empty notRequestPrincipal', yaml: from('{notRequestPrincipals: [""]}'), rule: 'ap.empty-value', field: `${SRC}.notRequestPrincipals[0]` },
  { name: 'a principal with a "*" in the middle', yaml: from('{principals: ["cluster.local/ns/*/sa/sleep"]}'), rule: 'ap.value-pattern', field: `${SRC}.principals[0]`, message: 'only allowed once, at the start' },
  { name: 'a requestPrincipal with "*" at both ends', yaml: from('{requestPrincipals: ["*@example.com*"]}'), rule: 'ap.value-pattern', field: `${SRC}.requestPrincipals[0]` },
  { name: 'a namespace with regex characters', yaml: from('{namespaces: ["foo|bar"]}'), rule: 'ap.namespace', field: `${SRC}.namespaces[0]` },
  { name: 'an upper-case namespace', yaml: from('{notNamespaces: ["Foo"]}'), rule: 'ap.namespace', field: `${SRC}.notNamespaces[0]` },
  { name: 'a namespace ending in "-"', yaml: from('{namespaces: ["foo-"]}'), rule: 'ap.namespace', field: `${SRC}.namespaces[0]` },
  { name: 'an invalid IP block', yaml: from('{ipBlocks: ["10.0.0.0/33"]}'), rule: 'ap.ip', field: `${SRC}.ipBlocks[0]` },
  { name: 'a host name in notIpBlocks', yaml: from('{notIpBlocks: ["1.2.3.4", "example.com"]}'), rule: 'ap.ip', field: `${SRC}.notIpBlocks[1]` },
  { name: 'an IPv6 IP block with a zone index', yaml: from('{ipBlocks: ["fe80::1%eth0"]}'), rule: 'ap.ip', field: `${SRC}.ipBlocks[0]`, message: 'zone index' },
  { name: 'an IP block with a wildcard', yaml: from('{ipBlocks: ["10.0.*"]}'), rule: 'ap.ip', field: `${SRC}.ipBlocks[0]` },
  // to / operation
  { name: 'an empty to list', yaml: ap('  rules:\n  - to: []\n'), rule: 'ap.to-empty', field: 'spec.rules[0].to' },
  { name: 'an empty operation', yaml: to('{}'), rule: 'ap.operation-empty', field: OP },
  { name: 'a to entry without operation', yaml: ap('  rules:\n  - to:\n    - {}\n'), rule: 'ap.operation-empty', field: OP },
  { name: 'port 0', yaml: to('{ports: ["0"]}'), rule: 'ap.port', field: `${OP}.ports[0]` },
  { name: 'a notPort over 65535', yaml: to('{notPorts: ["8080", "65536"]}'), rule: 'ap.port', field: `${OP}.notPorts[1]` },
  { name: 'a port name', yaml: to('{ports: [http]}'), rule: 'ap.port', field: `${OP}.ports[0]` },
  { name: 'ports written as integers', yaml: to('{ports: [8080]}'), rule: 'schema.type', field: `${OP}.ports[0]` },
  { name: 'two methods in one value', yaml: to('{methods: ["GET POST"]}'), rule: 'ap.method', field: `${OP}.methods[0]` },
  { name: 'an empty method', yaml: to('{methods: [GET, ""]}'), rule: 'ap.empty-value', field: `${OP}.methods[1]` },
  { name: 'a relative path', yaml: to('{paths: ["api/v1/*"]}'), rule: 'ap.path', field: `${OP}.paths[0]` },
  { name: 'a relative notPath', yaml: to('{notPaths: ["/ok", "healthz"]}'), rule: 'ap.path', field: `${OP}.notPaths[1]` },
  { name: 'a path with a "*" in the middle', yaml: to('{paths: ["/api/*/reviews"]}'), rule: 'ap.value-pattern', field: `${OP}.paths[0]` },
  { name: 'a host with two wildcards', yaml: to('{hosts: ["*.*.example.com"]}'), rule: 'ap.value-pattern', field: `${OP}.hosts[0]` },
  { name: 'an empty notHost', yaml: to('{notHosts: [""]}'), rule: 'ap.empty-value', field: `${OP}.notHosts[0]` },
  // when / conditions
  { name: 'a condition without key', yaml: when('{values: ["1.2.3.4"]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'required' },
  { name: 'a condition with an empty key', yaml: when('{key: "", values: [x]}'), rule: 'ap.condition-key', field: `${W0}.key` },
  { name: 'an unknown key', yaml: when('{key: "request.header[User-Agent]", values: ["curl*"]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'unknown attribute' },
  { name: 'an unknown simple key', yaml: when('{key: source.port, values: ["80"]}'), rule: 'ap.condition-key', field: `${W0}.key` },
  { name: 'a key in the wrong case', yaml: when('{key: Source.IP, values: ["1.2.3.4"]}'), rule: 'ap.condition-key', field: `${W0}.key` },
  { name: 'request.headers with an empty name', yaml: when('{key: "request.headers[]", values: [x]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'must not be empty' },
  { name: 'request.headers without the closing bracket', yaml: when('{key: "request.headers[x-user", values: [x]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'should have the form' },
  { name: 'request.headers without brackets', yaml: when('{key: request.headers, values: [x]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'needs a name in brackets' },
  { name: 'request.headers glued to other text', yaml: when('{key: "request.headersX[x-user]", values: [x]}'), rule: 'ap.condition-key', field: `${W0}.key` },
  { name: 'request.headers with an invalid header name', yaml: when('{key: "request.headers[x user]", values: [x]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'not a valid HTTP header name' },
  { name: 'request.regex.headers with an empty name', yaml: when('{key: "request.regex.headers[]", values: ["^a$"]}'), rule: 'ap.condition-key', field: `${W0}.key` },
  { name: 'request.regex.headers without brackets', yaml: when('{key: request.regex.headers, values: ["^a$"]}'), rule: 'ap.condition-key', field: `${W0}.key` },
  { name: 'request.auth.claims with nested names', yaml: when('{key: "request.auth.claims[a][b]", values: [x]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'nested claims' },
  { name: 'source.ip with a name', yaml: when('{key: "source.ip[x]", values: ["1.2.3.4"]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'takes no [name]' },
  { name: 'experimental.envoy.filters without a filter name', yaml: when('{key: "experimental.envoy.filters.[x]", values: [y]}'), rule: 'ap.condition-key', field: `${W0}.key` },
  { name: 'experimental.envoy.filters without a metadata key', yaml: when('{key: experimental.envoy.filters.network.mysql_proxy, values: [y]}'), rule: 'ap.condition-key', field: `${W0}.key` },
  { name: 'destination.labels', yaml: when('{key: "destination.labels[version]", values: [v1]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'workload selector' },
  { name: 'destination.name', yaml: when('{key: destination.name, values: [productpage]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'v1alpha1' },
  { name: 'destination.namespace', yaml: when('{key: destination.namespace, values: [foo]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'metadata.namespace' },
  { name: 'destination.user', yaml: when('{key: destination.user, values: [bookinfo-productpage]}'), rule: 'ap.condition-key', field: `${W0}.key`, message: 'v1alpha1' },
  { name: 'a condition without values or notValues', yaml: when('{key: source.ip}'), rule: 'ap.condition-values', field: `${W0}.values`, message: 'for key source.ip' },
  { name: 'a condition with empty values and notValues', yaml: when('{key: "request.headers[x-user]", values: [], notValues: []}'), rule: 'ap.condition-values', field: `${W0}.values` },
  { name: 'an empty condition value', yaml: when('{key: "request.auth.claims[groups]", values: [admin, ""]}'), rule: 'ap.empty-value', field: `${W0}.values[1]` },
  { name: 'an empty condition notValue', yaml: when('{key: source.principal, notValues: [""]}'), rule: 'ap.empty-value', field: `${W0}.notValues[0]` },
  { name: 'a source.ip that is not an address', yaml: when('{key: source.ip, values: [10.0.0.256]}'), rule: 'ap.ip', field: `${W0}.values[0]` },
  { name: 'a destination.ip notValue that is not an address', yaml: when('{key: destination.ip, notValues: ["fe80::1/129"]}'), rule: 'ap.ip', field: `${W0}.notValues[0]` },
  { name: 'a destination.port that is not a number', yaml: when('{key: destination.port, values: ["80a"]}'), rule: 'ap.port', field: `${W0}.values[0]` },
  { name: 'destination.port 0', yaml: when('{key: destination.port, notValues: ["0"]}'), rule: 'ap.port', field: `${W0}.notValues[0]` },
  { name: 'a source.namespace regex', yaml: when('{key: source.namespace, values: [".*"]}'), rule: 'ap.namespace', field: `${W0}.values[0]` },
  { name: 'a header value with a "*" in the middle', yaml: when('{key: "request.headers[User-Agent]", values: ["curl*7.0"]}'), rule: 'ap.value-pattern', field: `${W0}.values[0]` },
  { name: 'a header value with "*" at both ends', yaml: when('{key: "request.headers[version]", notValues: ["*v1*"]}'), rule: 'ap.value-pattern', field: `${W0}.notValues[0]` },
  { name: 'a claim value with a "*" in the middle', yaml: when('{key: "request.auth.claims[iss]", values: ["https://*.example.com/x"]}'), rule: 'ap.value-pattern', field: `${W0}.values[0]` },
  { name: 'an SNI value with a "*" in the middle', yaml: when('{key: connection.sni, values: ["www.*.com"]}'), rule: 'ap.value-pattern', field: `${W0}.values[0]` },
  { name: 'a regex header value with lookahead (not RE2)', yaml: when('{key: "request.regex.headers[x-user]", values: ["^(?!admin).*$"]}'), rule: 'common.regex', field: `${W0}.values[0]`, message: 'not a valid RE2 regex' },
  { name: 'a regex header value with a backreference', yaml: when('{key: "request.regex.headers[x-user]", values: ["(a)\\\\1"]}'), rule: 'common.regex', field: `${W0}.values[0]` },
  { name: 'an unbalanced regex header notValue', yaml: when('{key: "request.regex.headers[x-user]", notValues: ["(alice|bob"]}'), rule: 'common.regex', field: `${W0}.notValues[0]` },
  { name: 'a regex header value over the program-size bound', yaml: when('{key: "request.regex.headers[x-user]", values: ["(?:abc){400}"]}'), rule: 'common.regex', field: `${W0}.values[0]`, message: 'program size' },
  { name: 'an empty regex header value', yaml: when('{key: "request.regex.headers[x-user]", values: [""]}'), rule: 'ap.empty-value', field: `${W0}.values[0]` },
  { name: 'a condition with a misspelt not_values field', yaml: when('{key: source.ip, not_values: ["1.2.3.4"]}'), rule: 'schema.unknown-field', field: `${W0}.not_values` },
  // selector
  { name: 'a wildcard selector value', yaml: ap('  rules: [{}]\n', '  selector:\n    matchLabels: {app: "http*"}\n'), rule: 'common.labels', field: 'spec.selector.matchLabels.app', message: 'wildcard' },
  { name: 'an invalid selector label value', yaml: ap('  rules: [{}]\n', '  selector:\n    matchLabels: {version: "v1 beta"}\n'), rule: 'common.labels', field: 'spec.selector.matchLabels.version' },
];

for (const c of invalid) {
  test(`AuthorizationPolicy: refuses ${c.name}`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

// MAISTRA-2010: every condition key the translator supports must pass validation.
const validConditions: Array<[string, string]> = [
  ['request.headers[User-Agent]', '{key: "request.headers[User-Agent]", values: ["curl/*", "Mozilla*"]}'],
  ['request.headers[:authority] (pseudo-header)', '{key: "request.headers[:authority]", values: ["*.example.com"]}'],
  ['request.headers presence', '{key: "request.headers[x-token]", values: ["*"]}'],
  ['request.regex.headers[x-user] (Maistra, whole-value RE2)', '{key: "request.regex.headers[x-user]", values: ["^(alice|bob)$"]}'],
  ['request.regex.headers with notValues only', '{key: "request.regex.headers[User-Agent]", notValues: [".*(curl|wget).*"]}'],
  ['source.ip', '{key: source.ip, values: ["10.1.2.3", "10.2.0.0/16", "2001:db8::/32"]}'],
  ['source.namespace', '{key: source.namespace, values: [default, "team-*", "*-prod"]}'],
  ['source.principal', '{key: source.principal, values: ["cluster.local/ns/default/sa/productpage", "*"]}'],
  ['request.auth.principal', '{key: request.auth.principal, values: ["testing@secure.istio.io/testing@secure.istio.io"]}'],
  ['request.auth.audiences', '{key: request.auth.audiences, values: [bookinfo.com]}'],
  ['request.auth.presenter', '{key: request.auth.presenter, values: ["123456789012.apps.googleusercontent.com"]}'],
  ['request.auth.claims[groups]', '{key: "request.auth.claims[groups]", values: [group1]}'],
  ['request.auth.claims[iss]', '{key: "request.auth.claims[iss]", notValues: ["https://accounts.google.com"]}'],
  ['destination.ip', '{key: destination.ip, values: ["10.1.2.3", "10.2.0.0/16"]}'],
  ['destination.port', '{key: destination.port, values: ["80", "443", "65535"]}'],
  ['connection.sni', '{key: connection.sni, values: ["www.example.com", "*.example.org"]}'],
  ['experimental.envoy.filters.* string value', '{key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"]}'],
  ['experimental.envoy.filters.* plain value', '{key: "experimental.envoy.filters.http.jwt_authn[provider]", values: ["origins-*"]}'],
];
for (const [name, cond] of validConditions) {
  test(`AuthorizationPolicy: accepts a ${name} condition`, () => {
    expectValid(when(cond), { noWarnings: true });
    expectValid(when(cond, 'DENY'), { noWarnings: true });
  });
}

test('AuthorizationPolicy: accepts every source and operation field with exact, prefix, suffix and presence values', () => {
  expectValid(
    ap(
      '  rules:\n  - from:\n    - source:\n' +
        '        principals: ["cluster.local/ns/default/sa/sleep", "cluster.local/ns/prod/*"]\n' +
        '        notPrincipals: ["*/sa/admin"]\n' +
        '        requestPrincipals: ["*"]\n' +
        '        notRequestPrincipals: ["https://evil.example.com/*"]\n' +
        '        namespaces: [foo, "team-*"]\n' +
        '        notNamespaces: [kube-system]\n' +
        '        ipBlocks: ["1.2.3.4", "5.6.7.0/24", "2001:db8::/32"]\n' +
        '        notIpBlocks: ["5.6.7.8"]\n' +
        '    to:\n    - operation:\n' +
        '        hosts: [httpbin.foo.svc.cluster.local, "*.example.com"]\n' +
        '        notHosts: ["admin.*"]\n' +
        '        ports: ["8000"]\n' +
        '        notPorts: ["15000"]\n' +
        '        methods: [GET, HEAD, "P*"]\n' +
        '        notMethods: [DELETE]\n' +
        '        paths: ["/headers", "/api/*", "*.html", "*"]\n' +
        '        notPaths: ["/admin*"]\n',
    ),
    { noWarnings: true },
  );
});

test('AuthorizationPolicy: accepts gRPC paths', () => {
  expectValid(to('{methods: [POST], paths: ["/grpc.health.v1.Health/Check", "/helloworld.Greeter/*"]}'), { noWarnings: true });
});

test('AuthorizationPolicy: warns that an ALLOW policy without rules denies every request, but accepts it', () => {
  const yaml = 'apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: deny-all, namespace: foo}\nspec: {}\n';
  const w = expectWarning(yaml, 'ap.allow-nothing', 'spec.rules');
  assert.match(w.message, /denies all requests/);
  expectValid(yaml);
  expectWarning(ap('  action: ALLOW\n  rules: []\n'), 'ap.allow-nothing', 'spec.rules');
});

test('AuthorizationPolicy: an ALLOW policy with an empty rule allows everything and is not warned about', () => {
  expectValid(ap('  rules:\n  - {}\n'), { noWarnings: true });
});

test('AuthorizationPolicy: accepts AUDIT with rules as an extension', () => {
  expectValid(ap('  action: AUDIT\n  rules:\n  - to:\n    - operation: {paths: ["/admin*"]}\n'), { noWarnings: true });
});

test('AuthorizationPolicy: warns about non-standard or lower-case methods', () => {
  const w = expectWarning(to('{methods: [get]}'), 'ap.method-unknown', `${OP}.methods[0]`);
  assert.match(w.message, /did you mean "GET"/);
  expectWarning(to('{notMethods: [PROPFIND]}'), 'ap.method-unknown', `${OP}.notMethods[0]`);
  expectValid(to('{methods: [PROPFIND]}'));
});

test('AuthorizationPolicy: reports the key problem and the value problems of one condition together', () => {
  const r = check(when('{key: "request.headers[]", values: ["", "a*b"]}'));
  assert.deepEqual(r.errors.map((e) => e.rule).sort(), ['ap.condition-key', 'ap.empty-value']);
});

test('AuthorizationPolicy: checks regex values with the shared RE2 bound and accepts a valid one that is not a wildcard pattern', () => {
  // "a*b" is refused as a plain value but is a fine regex.
  expectValid(when('{key: "request.regex.headers[x-id]", values: ["a*b", "[0-9]{3}-[0-9]{4}"]}'), { noWarnings: true });
  expectError(when('{key: "request.headers[x-id]", values: ["a*b"]}'), 'ap.value-pattern', `${W0}.values[0]`);
});

test('AuthorizationPolicy: reports every problem of a policy at once', () => {
  const r = check(
    ap('  action: DENY\n  rules:\n  - from: []\n    to:\n    - operation: {ports: ["0"]}\n    when:\n    - {key: "destination.labels[app]", values: [x]}\n  - from:\n    - source: {ipBlocks: [nope]}\n'),
  );
  assert.deepEqual(r.errors.map((e) => e.rule).sort(), ['ap.condition-key', 'ap.from-empty', 'ap.ip', 'ap.port']);
});
