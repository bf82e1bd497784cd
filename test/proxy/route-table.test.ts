// RDS compiled for the data path: generated Bookinfo routes, decoded from the wire, select what Envoy would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRouteConfiguration, type ForwardAction, type RouteRequest } from '../../src/proxy/config/route-table.js';
import { ConfigError } from '../../src/proxy/config/xds-json.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { TypeUrl } from '../../src/xds/types.js';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';
import { NS, host, testMesh } from '../xds/mesh.js';

function request(authority: string, path: string, headers: Record<string, string> = {}, method = 'GET'): RouteRequest {
  return { method, authority, path, scheme: 'http', header: (n) => headers[n] };
}

/** The sidecar route table `name` for productpage, as it travels: generated, encoded, decoded, compiled. */
function wireTable(yaml: string, name = '9080') {
  const m = testMesh();
  if (yaml) applyYaml(m.store, yaml);
  const [rc] = envoyGenerators[TypeUrl.RouteConfiguration]!(m.sidecar('productpage-v1'), pushOf(m.store), [name]);
  return compileRouteConfiguration(decodeResource(TypeUrl.RouteConfiguration, encodeResource(rc!)));
}

const cluster = (name: string, subset = '') => `outbound|9080|${subset}|${host(name)}`;
const forward = (a: unknown) => a as ForwardAction;

const REVIEWS = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{uri: {regex: "/v[0-9]+/ratings.*"}, queryParams: {debug: {exact: "1"}}}]
    route: [{destination: {host: reviews, subset: v3}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 25}}, delay: {fixedDelay: 1.5s, percentage: {value: 50}}}
  - route: [{destination: {host: reviews, subset: v1}, weight: 75}, {destination: {host: reviews, subset: v3}, weight: 25}]
    timeout: 2s
    retries: {attempts: 3, perTryTimeout: 0.5s, retryOn: "gateway-error,503"}
    mirror: {host: ratings}
    corsPolicy: {allowOrigins: [{prefix: "https://shop."}], allowMethods: [GET, POST], maxAge: 1m}
`;

test('the virtual host is found by every name the service answers to, case-insensitively, with or without port', () => {
  const t = wireTable('');
  for (const authority of ['reviews', 'reviews:9080', 'REVIEWS.bookinfo', `reviews.${NS}.svc.cluster.local:9080`]) {
    assert.equal(t.virtualHost(authority)?.name, `${host('reviews')}:9080`, authority);
  }
  // Another port is not this service: it falls to the mesh's ALLOW_ANY catch-all (PassthroughCluster).
  assert.equal(t.virtualHost('reviews:9081')?.name, 'allow_any');
  assert.equal(forward(t.select(request('details', '/details/0'))!.route.action).clusters[0]!.name, cluster('details'));
});

test('routes are tried in order: a header match, a regex path with a query parameter, then the weighted default', () => {
  const t = wireTable(REVIEWS);
  const pick = (path: string, headers: Record<string, string> = {}) => forward(t.select(request('reviews:9080', path, headers))!.route.action).clusters.map((c) => [c.name, c.weight]);
  assert.deepEqual(pick('/reviews/1', { 'end-user': 'jason' }), [[cluster('reviews', 'v2'), 1]]);
  assert.deepEqual(pick('/v1/ratings/7?debug=1'), [[cluster('reviews', 'v3'), 1]]);
  // The regex is a full match over the path without the query; the parameter must match exactly.
  assert.deepEqual(pick('/v1/ratings/7?debug=2'), [
    [cluster('reviews', 'v1'), 75],
    [cluster('reviews', 'v3'), 25],
  ]);
  assert.deepEqual(pick('/x/v1/ratings?debug=1').length, 2);
});

test('timeouts, retries, mirroring, faults and CORS arrive compiled', () => {
  const t = wireTable(REVIEWS);
  const dflt = t.select(request('reviews', '/'))!.route;
  const a = forward(dflt.action);
  assert.equal(a.timeoutMs, 2000);
  assert.equal(a.totalWeight, 100);
  assert.deepEqual([...a.retry!.retryOn].sort(), ['gateway-error', 'retriable-status-codes']);
  assert.equal(a.retry!.numRetries, 3);
  assert.equal(a.retry!.perTryTimeoutMs, 500);
  assert.deepEqual([...a.retry!.retriableStatusCodes], [503]);
  assert.equal(a.retry!.avoidPreviousHosts, true);
  assert.deepEqual(a.mirrors, [{ cluster: cluster('ratings'), fraction: 1 }]);
  assert.equal(dflt.cors!.allowMethods, 'GET,POST');
  assert.equal(dflt.cors!.allowOrigin[0]!('https://shop.example'), true);
  assert.equal(dflt.cors!.allowOrigin[0]!('https://evil.example'), false);
  const faulty = t.select(request('reviews', '/v2/ratings?debug=1'))!.route;
  assert.deepEqual(faulty.fault, { delay: { delayMs: 1500, fraction: 0.5 }, abort: { httpStatus: 418, fraction: 0.25 } });
  // No VirtualService: Istio's default route has no timeout (0) and the default retry policy.
  const details = forward(t.select(request('details', '/'))!.route.action);
  assert.equal(details.timeoutMs, 0);
  assert.equal(details.retry!.numRetries, 2);
});

test('the compiled objects are frozen; the arrays requests loop over are not (V8 does not inline loops over frozen arrays)', () => {
  const t = wireTable(REVIEWS);
  const vhost = t.virtualHost('reviews')!;
  const route = t.select(request('reviews', '/'))!.route;
  const a = forward(route.action);
  assert.ok(Object.isFrozen(route) && Object.isFrozen(a) && Object.isFrozen(a.clusters[0]));
  for (const [name, array] of Object.entries({ routes: vhost.routes, clusters: a.clusters, mirrors: a.mirrors, hashPolicy: a.hashPolicy, add: t.requestHeaders.add, remove: t.requestHeaders.remove })) {
    assert.ok(Array.isArray(array) && !Object.isFrozen(array), `${name} must be a plain array`);
  }
});

test('wildcard domains: exact first, then the longest suffix, then the longest prefix, then *', () => {
  const vh = (name: string, domains: string[]) => ({ name, domains, routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: name } } }] });
  const t = compileRouteConfiguration({
    name: 'r',
    virtual_hosts: [vh('exact', ['api.example.com']), vh('suffix', ['*.example.com']), vh('longer-suffix', ['*.api.example.com']), vh('prefix', ['api.*']), vh('any', ['*'])],
  });
  const name = (authority: string) => t.virtualHost(authority)?.name;
  assert.equal(name('API.example.com'), 'exact');
  assert.equal(name('v1.api.example.com'), 'longer-suffix');
  assert.equal(name('www.example.com'), 'suffix');
  assert.equal(name('api.internal'), 'prefix');
  assert.equal(name('other'), 'any');
  assert.equal(name('.example.com'), 'any', 'a wildcard needs at least one character');
});

test('header matchers: presence, absence (inverted), ranges, pseudo-headers', () => {
  const route = (match: object, body: string) => ({ match, direct_response: { status: 200, body: { inline_string: body } } });
  const t = compileRouteConfiguration({
    name: 'r',
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [
          route({ prefix: '/', headers: [{ name: 'x-canary', present_match: true }] }, 'canary'),
          route({ prefix: '/', headers: [{ name: 'x-user', string_match: { exact: 'bot' }, invert_match: true }, { name: ':method', string_match: { exact: 'POST' } }] }, 'human-post'),
          route({ prefix: '/', headers: [{ name: 'x-shard', range_match: { start: '10', end: '20' } }] }, 'shard'),
          route({ prefix: '/API', case_sensitive: false }, 'api'),
        ],
      },
    ],
  });
  const body = (headers: Record<string, string>, method = 'GET', path = '/') => {
    const a = t.select(request('h', path, headers, method))?.route.action;
    return a?.kind === 'direct' ? a.body : undefined;
  };
  assert.equal(body({ 'x-canary': '' }), 'canary');
  assert.equal(body({}, 'POST'), 'human-post');
  assert.equal(body({ 'x-user': 'bot' }, 'POST'), undefined);
  assert.equal(body({ 'x-shard': '15' }), 'shard');
  assert.equal(body({ 'x-shard': '20' }), undefined);
  assert.equal(body({}, 'GET', '/api/v1'), 'api');
});

test('config the proxy cannot honour is refused with the field path', () => {
  const bad = (rc: object, path: string, reason: RegExp) =>
    assert.throws(
      () => compileRouteConfiguration(rc),
      (e: unknown) => e instanceof ConfigError && e.path === path && reason.test(e.reason),
    );
  const vh = (routes: object[], domains = ['*']) => ({ name: 'r', virtual_hosts: [{ name: 'v', domains, routes }] });
  bad(vh([{ match: { safe_regex: { regex: '(a' } }, route: { cluster: 'c' } }]), 'virtual_hosts[0].routes[0].match.safe_regex.regex', /not a valid RE2 regex/);
  bad(vh([{ match: { safe_regex: { regex: '(?=x)' } }, route: { cluster: 'c' } }]), 'virtual_hosts[0].routes[0].match.safe_regex.regex', /RE2/);
  bad(vh([{ match: { prefix: '/' } }]), 'virtual_hosts[0].routes[0]', /needs route, redirect or direct_response/);
  bad(vh([{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: 0 }] } } }]), 'virtual_hosts[0].routes[0].route', /more than 0/);
  bad(vh([{ match: { prefix: '/' }, route: { cluster: 'c', timeout: 'soon' } }]), 'virtual_hosts[0].routes[0].route.timeout', /duration/);
  bad({ name: 'r', virtual_hosts: [{ name: 'a', domains: ['x'], routes: [] }, { name: 'b', domains: ['X'], routes: [] }] }, 'virtual_hosts[1].domains', /already used/);
  bad(vh([{ match: { prefix: '/' }, route: { cluster: 'c' }, request_headers_to_add: [{ header: { key: ':path', value: '/' } }] }]), 'virtual_hosts[0].routes[0].request_headers_to_add[0].header.key', /cannot be added/);
});

test('a regex rewrite substitutes Envoy-style group references', () => {
  const t = compileRouteConfiguration({
    name: 'r',
    virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', regex_rewrite: { pattern: { regex: '^/v1/(.*)$' }, substitution: '/v2/\\1?cost=$5' } } }] }],
  });
  assert.equal(forward(t.select(request('h', '/v1/items'))!.route.action).regexRewrite!.matcher('/v1/items'), '/v2/items?cost=$5');
});
