// RDS: how VirtualService HTTP rules become Envoy routes — matches, redirects, rewrites, headers, CORS, retries, mirrors — checked as traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { routeConfiguration } from '../../src/xds/generators/index.js';
import { applyYaml, proxy, pushOf } from '../helpers/bookinfo-mesh.js';
import { simulate, type Call, type Result } from './simulation.js';
import { NS, assertIncludes, host, testMesh } from './mesh.js';

type Msg = Record<string, unknown>;
const R = (subset: string) => `outbound|9080|${subset}|${host('reviews')}`;
const DR = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
`;

function reviewsVs(http: string) {
  const m = testMesh();
  applyYaml(m.store, `${DR}---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http:
${http}`);
  return m;
}

function table(cfgCall: (c: Call) => Result, rows: Array<[Call, Partial<Result>]>): void {
  for (const [call, want] of rows) assertIncludes(cfgCall(call), want, `${call.method ?? 'GET'} ${call.authority}${call.path} ${JSON.stringify(call.headers ?? {})}`);
}

test('URI, method, authority, scheme, header, withoutHeaders and query matches select routes in order', () => {
  const m = reviewsVs(`  - name: regex
    match: [{uri: {regex: '/reviews/[0-9]+'}, method: {exact: GET}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: nocase
    match: [{uri: {prefix: /API/}, ignoreUriCase: true}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: no-debug
    match: [{withoutHeaders: {x-debug: {}}, queryParams: {version: {exact: "3"}}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: canary
    match: [{headers: {cookie: {regex: '.*canary=1.*'}}, name: by-cookie}, {authority: {prefix: reviews.bookinfo}, name: by-host}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: tls-only
    match: [{scheme: {exact: https}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`);
  const cfg = m.config(m.sidecar('productpage-v1'));
  const sim = (c: Call) => simulate(cfg, { authority: 'reviews:9080', ...c });
  table(sim, [
    [{ port: 9080, path: '/reviews/12' }, { route: 'regex', cluster: R('v2') }],
    [{ port: 9080, path: '/reviews/12/x' }, { route: '', cluster: R('v1') }],
    [{ port: 9080, path: '/reviews/12', method: 'POST' }, { cluster: R('v1') }],
    [{ port: 9080, path: '/Api/products' }, { route: 'nocase', cluster: R('v3') }],
    [{ port: 9080, path: '/other?version=3' }, { route: 'no-debug', cluster: R('v3') }],
    [{ port: 9080, path: '/other?version=3', headers: { 'x-debug': '1' } }, { cluster: R('v1') }],
    [{ port: 9080, path: '/other?version=33' }, { cluster: R('v1') }],
    [{ port: 9080, path: '/x', headers: { cookie: 'a=b; canary=1; c=d' } }, { route: 'canary.by-cookie', cluster: R('v2') }],
    [{ port: 9080, path: '/x', authority: 'reviews.bookinfo:9080' }, { route: 'canary.by-host', cluster: R('v2') }],
    [{ port: 9080, path: '/x', authority: 'reviews:9080' }, { cluster: R('v1') }],
    [{ port: 9080, path: '/x', scheme: 'https' }, { route: 'tls-only', cluster: R('v3') }],
  ]);
  const rc = cfg.routes.get('9080')!;
  const vh = (rc.virtualHosts as Msg[]).find((v) => v.name === `${host('reviews')}:9080`)!;
  const regexRoute = (vh.routes as Msg[])[0]!;
  assert.deepEqual(regexRoute.match, {
    safeRegex: { regex: '/reviews/[0-9]+' },
    caseSensitive: { value: true },
    headers: [{ name: ':method', stringMatch: { exact: 'GET' } }],
  });
  assert.deepEqual((vh.routes as Msg[])[2]!.match, {
    prefix: '/',
    caseSensitive: { value: true },
    headers: [{ name: 'x-debug', presentMatch: true, invertMatch: true }],
    queryParameters: [{ name: 'version', stringMatch: { exact: '3' } }],
  });
});

test('match blocks that cannot apply to this proxy (source labels, source namespace, port, gateways) are left out', () => {
  const m = reviewsVs(`  - match: [{sourceLabels: {app: productpage}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{sourceNamespace: other}]
    route: [{destination: {host: reviews, subset: v3}}]
  - match: [{port: 8080}]
    route: [{destination: {host: reviews, subset: v3}}]
  - match: [{gateways: [bookinfo-gateway]}]
    route: [{destination: {host: reviews, subset: v3}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`);
  const call: Call = { port: 9080, authority: 'reviews:9080', path: '/' };
  assertIncludes(simulate(m.config(m.sidecar('productpage-v1')), call), { cluster: R('v2'), routeIndex: 0 });
  const fromRatings = m.config(m.sidecar('ratings-v1'));
  assertIncludes(simulate(fromRatings, call), { cluster: R('v1'), routeIndex: 0 });
  const other = m.config(proxy('other', { app: 'x' }, { ip: '10.7.0.1' }));
  assertIncludes(simulate(other, { ...call, authority: `reviews.${NS}:9080` }), { cluster: R('v3') });
});

test('a catch-all match block ends the rule list: later rules are never built', () => {
  const m = reviewsVs(`  - match: [{uri: {prefix: /}}, {headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`);
  const rc = m.config(m.sidecar('productpage-v1')).routes.get('9080')!;
  const vh = (rc.virtualHosts as Msg[]).find((v) => v.name === `${host('reviews')}:9080`)!;
  assert.equal((vh.routes as Msg[]).length, 1);
});

test('redirects, rewrites and header operations', () => {
  const m = reviewsVs(`  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new, authority: reviews.example.com, redirectCode: 308}
  - match: [{uri: {prefix: /v1/}}]
    rewrite: {uri: /, authority: reviews-internal}
    headers:
      request: {set: {x-b: two, x-a: one}, add: {x-c: three}, remove: [x-secret]}
      response: {remove: [server]}
    route:
    - destination: {host: reviews, subset: v1}
      headers: {request: {set: {x-subset: v1}}}
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 90, headers: {response: {add: {x-via: v1}}}}
    - {destination: {host: reviews, subset: v2}, weight: 10}
`);
  const cfg = m.config(m.sidecar('productpage-v1'));
  const call = (path: string) => simulate(cfg, { port: 9080, authority: 'reviews:9080', path });
  assertIncludes(call('/old'), { redirect: { responseCode: 'PERMANENT_REDIRECT', hostRedirect: 'reviews.example.com', pathRedirect: '/new' }, cluster: undefined });
  const rw = call('/v1/reviews/1');
  assertIncludes(rw, { cluster: R('v1'), prefixRewrite: '/', hostRewrite: 'reviews-internal', requestHeadersToRemove: ['x-secret'] });
  assert.deepEqual(rw.requestHeadersToAdd, [
    { header: { key: 'x-a', value: 'one' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-b', value: 'two' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-c', value: 'three' }, appendAction: 'APPEND_IF_EXISTS_OR_ADD' },
    // A single destination's headers move onto the route.
    { header: { key: 'x-subset', value: 'v1' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' },
  ]);
  const rc = cfg.routes.get('9080')!;
  const vh = (rc.virtualHosts as Msg[]).find((v) => v.name === `${host('reviews')}:9080`)!;
  const weighted = (((vh.routes as Msg[])[2]!.route as Msg).weightedClusters as Msg).clusters as Msg[];
  assert.deepEqual(weighted[0], { name: R('v1'), weight: { value: 90 }, responseHeadersToAdd: [{ header: { key: 'x-via', value: 'v1' }, appendAction: 'APPEND_IF_EXISTS_OR_ADD' }] });
});

test('CORS and retries: allowOrigins, methods and maxAge per route; attempts 0 disables retries; status codes in retryOn are retried; remote localities are preferred on retry', () => {
  const m = reviewsVs(`  - match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: https://example.com}, {regex: 'https://.*\\.example\\.org'}]
      allowMethods: [GET, POST]
      allowHeaders: [x-a]
      maxAge: 24h
      allowCredentials: true
    retries: {attempts: 0}
    route: [{destination: {host: reviews, subset: v1}}]
  - route: [{destination: {host: reviews, subset: v1}}]
    retries: {attempts: 4, retryOn: '5xx,502,reset,429', perTryTimeout: 250ms, retryRemoteLocalities: true}
`);
  const cfg = m.config(m.sidecar('productpage-v1'));
  const cors = simulate(cfg, { port: 9080, authority: 'reviews:9080', path: '/cors' });
  assert.equal(cors.retry, undefined);
  assert.deepEqual(cors.cors, {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
    allowOriginStringMatch: [{ exact: 'https://example.com' }, { safeRegex: { regex: 'https://.*\\.example\\.org' } }],
    allowMethods: 'GET,POST',
    allowHeaders: 'x-a',
    maxAge: '86400',
    allowCredentials: { value: true },
    filterEnabled: { defaultValue: { numerator: 100, denominator: 'HUNDRED' } },
  });
  const r = simulate(cfg, { port: 9080, authority: 'reviews:9080', path: '/x' }).retry!;
  assert.deepEqual([r.numRetries, r.retryOn, r.retriableStatusCodes, r.perTryTimeout], [{ value: 4 }, '5xx,reset,retriable-status-codes', [502, 429], { seconds: 0, nanos: 250_000_000 }]);
  // retryRemoteLocalities: prefer other localities (priorities) on retries.
  assert.deepEqual(r.retryPriority, {
    name: 'envoy.retry_priorities.previous_priorities',
    typedConfig: {
      '@type': 'type.googleapis.com/xds.type.v3.TypedStruct',
      typeUrl: 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig',
      value: { fields: { update_frequency: { numberValue: 2 } } },
    },
  });
});

test('an unknown destination host or subset routes to a cluster that does not exist (Envoy answers 503 NC), as Istio does', () => {
  const m = reviewsVs(`  - match: [{uri: {prefix: /gone}}]
    route: [{destination: {host: no-such-service}}]
  - route: [{destination: {host: reviews, subset: v9}}]
`);
  const cfg = m.config(m.sidecar('productpage-v1'));
  assertIncludes(simulate(cfg, { port: 9080, authority: 'reviews:9080', path: '/gone' }), { cluster: `outbound|9080||${host('no-such-service')}`, clusterFound: false });
  assertIncludes(simulate(cfg, { port: 9080, authority: 'reviews:9080', path: '/' }), { cluster: R('v9'), clusterFound: false });
});

test('route configurations: unknown names get an empty configuration; a VirtualService for a non-registry host serves port 80 only', () => {
  const m = testMesh();
  applyYaml(m.store, `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: alias, namespace: ${NS}}
spec:
  hosts: [bookinfo.com]
  http:
  - route: [{destination: {host: productpage, port: {number: 9080}}}]
`);
  const push = pushOf(m.store);
  const p = m.sidecar('productpage-v1');
  assert.deepEqual(routeConfiguration(p, push, 'http.80'), { name: 'http.80', virtualHosts: [], validateClusters: { value: false } });
  const cfg = m.config(p);
  assertIncludes(simulate(cfg, { port: 80, authority: 'bookinfo.com', path: '/' }), { virtualHost: 'bookinfo.com:80', cluster: `outbound|9080||${host('productpage')}` });
  assertIncludes(simulate(cfg, { port: 9080, authority: 'bookinfo.com', path: '/' }), { virtualHost: 'allow_any' });
});

test('a service with a cluster IP is also reachable by that IP as Host, with and without the port', () => {
  const m = testMesh();
  applyYaml(m.store, `apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${NS}}
spec:
  clusterIP: 10.96.0.30
  selector: {app: web}
  ports: [{name: http, port: 8000}]
`);
  const cfg = m.config(m.sidecar('productpage-v1'));
  for (const authority of ['10.96.0.30', '10.96.0.30:8000', 'web:8000', `${host('web')}`]) {
    assertIncludes(simulate(cfg, { port: 8000, authority, path: '/' }), { virtualHost: `${host('web')}:8000`, cluster: `outbound|8000||${host('web')}` }, authority);
  }
});

test('docs/xds-names.md: the domains of reviews seen from bookinfo are exactly the documented list', () => {
  const doc = readFileSync('docs/xds-names.md', 'utf8');
  const block = doc.slice(doc.indexOf('name: reviews.bookinfo.svc.cluster.local:9080'));
  const documented = block.slice(block.indexOf('domains:\n') + 'domains:\n'.length, block.indexOf('```')).trim().split('\n').map((l) => l.replace(/^- /, ''));
  const m = testMesh();
  const rc = m.config(m.sidecar('productpage-v1')).routes.get('9080')!;
  const vh = (rc.virtualHosts as Msg[]).find((v) => v.name === `${host('reviews')}:9080`)!;
  assert.deepEqual(vh.domains, documented);
});
