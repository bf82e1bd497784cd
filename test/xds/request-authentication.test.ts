// RequestAuthentication → jwt_authn + istio_authn: shapes (Istio 1.6), placement in inbound and gateway connection managers, Envoy encoding, the D-table outcomes under Envoy's requirement semantics, and pushes when keys change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { FAIL_CLOSED_JWKS, jwksSourceKey, type JwksSnapshot, type ResolvedJwks } from '../../src/model/jwks.js';
import { meshConfig } from '../../src/model/mesh-config.js';
import type { Proxy } from '../../src/model/proxy.js';
import type { PushContext } from '../../src/model/push-context.js';
import { buildPushContext } from '../../src/model/push/build-push-context.js';
import { ServiceRegistry } from '../../src/registry/registry.js';
import { Discovery } from '../../src/xds/discovery.js';
import { checkMessage, decodeResource, encodeResource } from '../../src/xds/encode.js';
import { clustersMayChange } from '../../src/xds/generators/index.js';
import { JwksResolver } from '../../src/xds/jwks-resolver.js';
import { TypeUrl } from '../../src/xds/types.js';
import { applyYaml } from '../helpers/bookinfo-mesh.js';
import { AdsTestClient } from './ads-test-client.js';
import { NS, testMesh, type TestMesh } from './mesh.js';
import { configFor } from './simulation.js';

type Json = Record<string, unknown>;

const ISSUER = 'testing@secure.istio.io';
const HCM = 'envoy.filters.network.http_connection_manager';

function publicJwk(kid: string): Json {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid };
}

const K1 = publicJwk('k1');
const JWKS = JSON.stringify({ keys: [K1] });

/** A RequestAuthentication in `ns`; `rules` is YAML of the jwtRules list items. */
function ra(ns: string, name: string, rules: string, selector = '', ts = '2024-01-01T00:00:00Z'): string {
  return `apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${ts}"}
spec:
${selector ? `  selector: {matchLabels: ${selector}}\n` : ''}  jwtRules:
${rules}
---
`;
}

/** P-JWT (reliability-security.md §1): issuer testing@secure.istio.io with an inline JWKS. */
const P_JWT = ra(NS, 'jwt-example', `  - issuer: "${ISSUER}"\n    jwks: '${JWKS}'`, '{app: reviews}');

/** A snapshot as the resolver would give: `table` by jwksUri (or issuer), everything else pending. */
function snapshotOf(table: Record<string, ResolvedJwks>): JwksSnapshot {
  return { keysFor: (s) => table[s.jwksUri || s.issuer] ?? { jwks: FAIL_CLOSED_JWKS, state: 'pending' } };
}

let pushes = 0;
function pushOf(m: TestMesh, jwks?: JwksSnapshot): PushContext {
  const registry = new ServiceRegistry(m.store);
  const push = buildPushContext(m.store, registry.snapshot(), meshConfig(), `ra-${++pushes}`, { jwks });
  registry.close();
  return push;
}

/** The listeners of `p` as Envoy receives them (strictly encoded, decoded to proto-JSON). */
function listeners(p: Proxy, push: PushContext): Json[] {
  return configFor(p, push)
    .resources.filter((r) => r.typeUrl === TypeUrl.Listener)
    .map((r) => decodeResource(r.typeUrl, encodeResource(r)));
}

/** Every connection manager's http_filters, by listener and filter-chain name. */
function hcmFilters(ls: Json[]): Map<string, Json[]> {
  const out = new Map<string, Json[]>();
  for (const l of ls) {
    for (const fc of (l.filter_chains as Json[] | undefined) ?? []) {
      for (const f of (fc.filters as Json[] | undefined) ?? []) {
        if (f.name === HCM) out.set(`${l.name as string}/${(fc.name as string | undefined) ?? ''}`, (f.typed_config as Json).http_filters as Json[]);
      }
    }
  }
  return out;
}

const names = (filters: Json[]) => filters.map((f) => f.name);
const jwtConfig = (filters: Json[]) => filters.find((f) => f.name === 'envoy.filters.http.jwt_authn')!.typed_config as Json;
const authnConfig = (filters: Json[]) => filters.find((f) => f.name === 'istio_authn')!.typed_config as Json;

test('P-JWT on reviews: every inbound HTTP connection manager of reviews starts with jwt_authn, istio_authn; other workloads and outbound are untouched', () => {
  const m = testMesh();
  applyYaml(m.store, P_JWT);
  const push = pushOf(m);
  const reviews = hcmFilters(listeners(m.sidecar('reviews-v2'), push));
  const inbound = [...reviews].filter(([k]) => k.startsWith('virtualInbound/inbound_'));
  assert.ok(inbound.length >= 2, `PERMISSIVE gives a plaintext and an mTLS HTTP chain: ${[...reviews.keys()].join(', ')}`);
  for (const [chain, filters] of inbound) {
    assert.deepEqual(names(filters), ['envoy.filters.http.jwt_authn', 'istio_authn', 'envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router'], chain);
  }
  for (const [chain, filters] of reviews) if (!chain.startsWith('virtualInbound/')) assert.ok(!names(filters).includes('envoy.filters.http.jwt_authn'), `outbound ${chain}`);
  for (const [chain, filters] of hcmFilters(listeners(m.sidecar('ratings-v1'), push))) assert.ok(!names(filters).includes('istio_authn'), `ratings ${chain}`);
});

test('jwt_authn for one rule is Istio 1.6\'s: provider origins-0, inline keys, payload under the issuer, requires_any [origins-0, allow_missing] on "/"', () => {
  const m = testMesh();
  applyYaml(m.store, P_JWT);
  const filters = hcmFilters(listeners(m.sidecar('reviews-v2'), pushOf(m))).get('virtualInbound/inbound_0.0.0.0_9080')!;
  assert.deepEqual(jwtConfig(filters), {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
    providers: { 'origins-0': { issuer: ISSUER, local_jwks: { inline_string: JWKS }, payload_in_metadata: ISSUER } },
    rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }],
  });
  assert.deepEqual(authnConfig(filters), {
    '@type': 'type.googleapis.com/xds.type.v3.TypedStruct',
    type_url: 'type.googleapis.com/istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig',
    value: {
      policy: { peers: [{ mtls: { mode: 'PERMISSIVE' } }], origins: [{ jwt: { issuer: ISSUER } }], origin_is_optional: true, principal_binding: 'USE_ORIGIN' },
      skip_validate_trust_domain: true,
    },
  });
});

test('every JWTRule field maps to its provider field; no locations means Envoy\'s defaults (no from_headers, no from_params)', () => {
  const m = testMesh();
  applyYaml(
    m.store,
    ra(
      NS,
      'full',
      `  - issuer: "https://accounts.example.com"
    jwks: '${JWKS}'
    audiences: [bookinfo.com, reviews]
    fromHeaders: [{name: x-jwt-assertion, prefix: "Bearer "}, {name: x-goog-iap-jwt-assertion}]
    fromParams: [my_token]
    outputPayloadToHeader: x-jwt-payload
    forwardOriginalToken: true`,
    ),
  );
  const filters = hcmFilters(listeners(m.sidecar('reviews-v1'), pushOf(m))).get('virtualInbound/inbound_0.0.0.0_9080')!;
  assert.deepEqual((jwtConfig(filters).providers as Json)['origins-0'], {
    issuer: 'https://accounts.example.com',
    audiences: ['bookinfo.com', 'reviews'],
    local_jwks: { inline_string: JWKS },
    forward: true,
    from_headers: [{ name: 'x-jwt-assertion', value_prefix: 'Bearer ' }, { name: 'x-goog-iap-jwt-assertion' }],
    from_params: ['my_token'],
    forward_payload_header: 'x-jwt-payload',
    payload_in_metadata: 'https://accounts.example.com',
  });
});

test('rules of all applying policies are sorted by issuer (ties keep policy order), one provider each, with Istio\'s multi-provider requirement', () => {
  const m = testMesh();
  applyYaml(
    m.store,
    ra(NS, 'ns-wide', `  - {issuer: "c-issuer", jwks: '${JWKS}'}\n  - {issuer: "a-issuer", jwks: '${JWKS}', fromHeaders: [{name: x-first}]}`, '', '2024-01-01T00:00:00Z') +
      ra('istio-system', 'mesh', `  - {issuer: "a-issuer", jwks: '${JWKS}', fromHeaders: [{name: x-second}]}\n  - {issuer: "b-issuer", jwks: '${JWKS}'}`, '', '2023-01-01T00:00:00Z') +
      ra('other', 'elsewhere', `  - {issuer: "0-not-here", jwks: '${JWKS}'}`),
  );
  const cfg = jwtConfig(hcmFilters(listeners(m.sidecar('details-v1'), pushOf(m))).get('virtualInbound/inbound_0.0.0.0_9080')!);
  const providers = cfg.providers as Record<string, Json>;
  // Namespace policies come before root ones, so bookinfo's a-issuer (x-first) precedes the mesh's (x-second).
  assert.deepEqual(
    Object.keys(providers).sort().map((k) => [k, providers[k]!.issuer, (providers[k]!.from_headers as Json[] | undefined)?.[0]?.name]),
    [
      ['origins-0', 'a-issuer', 'x-first'],
      ['origins-1', 'a-issuer', 'x-second'],
      ['origins-2', 'b-issuer', undefined],
      ['origins-3', 'c-issuer', undefined],
    ],
  );
  const one = (i: number) => ({ provider_name: `origins-${i}` });
  const optional = (i: number) => ({ requires_any: { requirements: [one(i), { allow_missing: {} }] } });
  assert.deepEqual(cfg.rules, [
    { match: { prefix: '/' }, requires: { requires_any: { requirements: [one(0), one(1), one(2), one(3), { requires_all: { requirements: [optional(0), optional(1), optional(2), optional(3)] } }] } } },
  ]);
  const authn = (authnConfig(hcmFilters(listeners(m.sidecar('details-v1'), pushOf(m))).get('virtualInbound/inbound_0.0.0.0_9080')!).value as Json).policy as Json;
  assert.deepEqual(authn.origins, ['a-issuer', 'a-issuer', 'b-issuer', 'c-issuer'].map((issuer) => ({ jwt: { issuer } })));
});

test('a jwksUri rule inlines the keys of the push\'s JWKS snapshot; keys not fetched inline the empty key set, never a key', () => {
  const m = testMesh();
  const uri = 'https://keys.example.com/jwks.json';
  applyYaml(m.store, ra(NS, 'remote', `  - {issuer: "${ISSUER}", jwksUri: "${uri}"}\n  - {issuer: "https://discovered.example.com"}`, '{app: reviews}'));
  const inline = (push: PushContext) => {
    const providers = jwtConfig(hcmFilters(listeners(m.sidecar('reviews-v1'), push)).get('virtualInbound/inbound_0.0.0.0_9080')!).providers as Record<string, Json>;
    return Object.values(providers).map((p) => [p.issuer, (p.local_jwks as Json).inline_string]);
  };
  const fetched = '{"keys":[{"kty":"EC","kid":"remote"}]}';
  const discovered = '{"keys":[{"kty":"EC","kid":"disc"}]}';
  assert.deepEqual(inline(pushOf(m, snapshotOf({ [uri]: { jwks: fetched, state: 'fetched' }, 'https://discovered.example.com': { jwks: discovered, state: 'fetched' } }))), [
    ['https://discovered.example.com', discovered],
    [ISSUER, fetched],
  ]);
  for (const state of ['pending', 'failed'] as const) {
    assert.deepEqual(inline(pushOf(m, snapshotOf({ [uri]: { jwks: FAIL_CLOSED_JWKS, state, error: 'status 500' } }))), [
      ['https://discovered.example.com', '{"keys":[]}'],
      [ISSUER, '{"keys":[]}'],
    ]);
  }
  assert.equal(jwksSourceKey({ issuer: ISSUER, jwksUri: uri }), `uri ${uri}`);
});

test('istio_authn carries each inbound port\'s PeerAuthentication mode (none when DISABLE); gateways get no peers', () => {
  const m = testMesh();
  applyYaml(
    m.store,
    P_JWT +
      `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: reviews, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: reviews}}
  mtls: {mode: STRICT}
  portLevelMtls: {"9080": {mode: DISABLE}}
---
` +
      ra('istio-system', 'edge', `  - {issuer: "${ISSUER}", jwks: '${JWKS}'}`, '{istio: ingressgateway}') +
      `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: ${NS}}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
`,
  );
  const push = pushOf(m);
  const reviews = hcmFilters(listeners(m.sidecar('reviews-v2'), push)).get('virtualInbound/inbound_0.0.0.0_9080')!;
  assert.deepEqual(Object.keys(((authnConfig(reviews).value as Json).policy as Json)), ['origins', 'origin_is_optional', 'principal_binding'], 'DISABLE: no peers');

  applyYaml(m.store, `apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: reviews, namespace: ${NS}}\nspec:\n  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: STRICT}\n`);
  const strict = hcmFilters(listeners(m.sidecar('reviews-v2'), pushOf(m)));
  const chains = [...strict].filter(([k]) => k.startsWith('virtualInbound/inbound_'));
  assert.ok(chains.length > 0);
  for (const [chain, filters] of chains) assert.deepEqual(((authnConfig(filters).value as Json).policy as Json).peers, [{ mtls: { mode: 'STRICT' } }], chain);

  const gateway = hcmFilters(listeners(m.gateway(), push));
  assert.ok(gateway.size > 0);
  for (const [chain, filters] of gateway) {
    assert.deepEqual(names(filters).slice(0, 2), ['envoy.filters.http.jwt_authn', 'istio_authn'], chain);
    assert.deepEqual((authnConfig(filters).value as Json).policy, { origins: [{ jwt: { issuer: ISSUER } }], origin_is_optional: true, principal_binding: 'USE_ORIGIN' }, chain);
  }
});

test('authentication runs before the AuthorizationPolicy RBAC filter, which reads its metadata', () => {
  const m = testMesh();
  applyYaml(
    m.store,
    P_JWT +
      `apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: reviews}}
  rules: [{from: [{source: {requestPrincipals: ["*"]}}]}]
`,
  );
  const filters = names(hcmFilters(listeners(m.sidecar('reviews-v2'), pushOf(m))).get('virtualInbound/inbound_0.0.0.0_9080')!);
  const rbac = filters.indexOf('envoy.filters.http.rbac');
  assert.ok(rbac > 0, `RBAC present: ${filters.join(', ')}`);
  assert.ok(filters.indexOf('envoy.filters.http.jwt_authn') === 0 && filters.indexOf('istio_authn') === 1 && rbac > 1);
});

test('the JwtAuthentication passes Envoy\'s proto and validation rules (requires_any/requires_all need two or more requirements)', () => {
  const m = testMesh();
  for (const rules of [`  - {issuer: a, jwks: '${JWKS}'}`, `  - {issuer: a, jwks: '${JWKS}'}\n  - {issuer: b, jwks: '${JWKS}'}\n  - {issuer: c, jwks: '${JWKS}'}`]) {
    applyYaml(m.store, ra(NS, 'p', rules));
    const push = pushOf(m);
    const cfg = configFor(m.sidecar('reviews-v1'), push);
    const vi = cfg.listeners.find((l) => l.name === 'virtualInbound')!;
    for (const fc of vi.filterChains as Json[]) {
      for (const f of fc.filters as Json[]) {
        if (f.name !== HCM) continue;
        const jwt = ((f.typedConfig as Json).httpFilters as Json[]).find((h) => h.name === 'envoy.filters.http.jwt_authn')!;
        const { '@type': _t, ...body } = jwt.typedConfig as Json;
        assert.deepEqual(checkMessage('envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication', body), []);
      }
    }
  }
});

// ---- The D table (reliability-security.md §1 D) under Envoy's requirement semantics ----------

/** A simulated token: `iss~kid`, verifiable iff the provider's keys hold `kid`; anything else is malformed. */
const token = (iss: string, kid: string) => `${iss}~${kid}`;
type Status = 'ok' | 'missing' | 'failed';

/** Envoy's extraction: the provider's locations, else Authorization: Bearer and ?access_token. */
function extract(p: Json, req: { headers: Record<string, string>; params: Record<string, string> }): string | undefined {
  const headers = (p.from_headers as Json[] | undefined) ?? [];
  const params = (p.from_params as string[] | undefined) ?? [];
  const locations = headers.length + params.length === 0 ? { headers: [{ name: 'authorization', value_prefix: 'Bearer ' }], params: ['access_token'] } : { headers, params };
  for (const h of locations.headers) {
    const v = req.headers[(h.name as string).toLowerCase()];
    const prefix = (h.value_prefix as string | undefined) ?? '';
    if (v !== undefined && v.startsWith(prefix)) return v.slice(prefix.length);
  }
  for (const q of locations.params) if (req.params[q] !== undefined) return req.params[q];
  return undefined;
}

function providerStatus(p: Json, req: { headers: Record<string, string>; params: Record<string, string> }): Status {
  const t = extract(p, req);
  if (t === undefined) return 'missing';
  const [iss, kid, extra] = t.split('~');
  if (kid === undefined || extra !== undefined) return 'failed'; // malformed
  if (iss !== p.issuer) return 'failed'; // unknown issuer: not "missing" (ISTIO-SECURITY-2021-001)
  const keys = (JSON.parse((p.local_jwks as Json).inline_string as string) as { keys: Json[] }).keys;
  return keys.some((k) => k.kid === kid) ? 'ok' : 'failed';
}

/** JwtRequirement evaluation: requires_any is met by one child, or by allow_missing when every other child found no token. */
function evaluate(r: Json, providers: Record<string, Json>, req: { headers: Record<string, string>; params: Record<string, string> }): Status {
  if (typeof r.provider_name === 'string') return providerStatus(providers[r.provider_name]!, req);
  if (r.requires_any) {
    const children = (r.requires_any as Json).requirements as Json[];
    const allowMissing = children.some((c) => 'allow_missing' in c);
    const results = children.filter((c) => !('allow_missing' in c)).map((c) => evaluate(c, providers, req));
    if (results.includes('ok')) return 'ok';
    if (allowMissing && results.every((s) => s === 'missing')) return 'ok';
    return results.includes('failed') ? 'failed' : 'missing';
  }
  if (r.requires_all) {
    const results = ((r.requires_all as Json).requirements as Json[]).map((c) => evaluate(c, providers, req));
    return results.every((s) => s === 'ok') ? 'ok' : results.includes('failed') ? 'failed' : 'missing';
  }
  throw new Error(`unexpected requirement ${JSON.stringify(r)}`);
}

/** The status jwt_authn answers for a request to `path`: 200 (continue) or 401. */
function jwtAuthnStatus(cfg: Json, req: { headers?: Record<string, string>; params?: Record<string, string> }): number {
  const rule = (cfg.rules as Json[])[0]!;
  assert.deepEqual(rule.match, { prefix: '/' }, 'one rule for every path: no path tricks (CVE-2020-8595)');
  const r = { headers: req.headers ?? {}, params: req.params ?? {} };
  return evaluate(rule.requires as Json, cfg.providers as Record<string, Json>, r) === 'ok' ? 200 : 401;
}

test('D table, one issuer (P-JWT): no token passes (D6); a valid token passes; malformed, unknown-key, foreign-issuer tokens get 401 (D1, D3, D5); unfetched keys fail every token (D8)', () => {
  const m = testMesh();
  applyYaml(m.store, P_JWT + ra(NS, 'remote', `  - {issuer: "https://remote.example.com", jwksUri: "https://keys.example.com/jwks.json"}`, '{app: ratings}'));
  const cfg = jwtConfig(hcmFilters(listeners(m.sidecar('reviews-v2'), pushOf(m))).get('virtualInbound/inbound_0.0.0.0_9080')!);
  const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
  assert.equal(jwtAuthnStatus(cfg, {}), 200, 'D6: no credentials → accepted without identity');
  assert.equal(jwtAuthnStatus(cfg, bearer(token(ISSUER, 'k1'))), 200);
  assert.equal(jwtAuthnStatus(cfg, { params: { access_token: token(ISSUER, 'k1') } }), 200, 'the default ?access_token= location');
  assert.equal(jwtAuthnStatus(cfg, bearer('a.b')), 401, 'D1 malformed');
  assert.equal(jwtAuthnStatus(cfg, bearer(token(ISSUER, 'attacker-key'))), 401, 'D3: a key the issuer did not publish');
  assert.equal(jwtAuthnStatus(cfg, bearer(token('attacker@evil.example', 'k1'))), 401, 'D5: foreign issuer is not "missing"');
  assert.equal(jwtAuthnStatus(cfg, { headers: { 'x-other': `Bearer ${token('x', 'y')}` } }), 200, 'a token where no rule looks is no token');

  // D8: the resolver could not fetch the keys → the empty key set → every token of that issuer fails, tokenless requests still pass.
  const remote = jwtConfig(hcmFilters(listeners(m.sidecar('ratings-v1'), pushOf(m, snapshotOf({})))).get('virtualInbound/inbound_0.0.0.0_9080')!);
  assert.equal(jwtAuthnStatus(remote, bearer(token('https://remote.example.com', 'k1'))), 401);
  assert.equal(jwtAuthnStatus(remote, bearer(token('https://remote.example.com', 'abc'))), 401, 'not even the kid of Istio\'s old placeholder key');
  assert.equal(jwtAuthnStatus(remote, {}), 200);
});

test('D table, several issuers sharing and not sharing a location: each valid token passes; any foreign or invalid token gets 401', () => {
  const m = testMesh();
  applyYaml(
    m.store,
    ra(NS, 'multi', `  - {issuer: a, jwks: '${JWKS}'}\n  - {issuer: b, jwks: '${JWKS}'}\n  - {issuer: c, jwks: '${JWKS}', fromHeaders: [{name: x-jwt}]}`, '{app: reviews}'),
  );
  const cfg = jwtConfig(hcmFilters(listeners(m.sidecar('reviews-v2'), pushOf(m))).get('virtualInbound/inbound_0.0.0.0_9080')!);
  const bearer = (t: string) => `Bearer ${t}`;
  assert.equal(jwtAuthnStatus(cfg, {}), 200);
  assert.equal(jwtAuthnStatus(cfg, { headers: { authorization: bearer(token('a', 'k1')) } }), 200, 'a shares Authorization with b');
  assert.equal(jwtAuthnStatus(cfg, { headers: { authorization: bearer(token('b', 'k1')) } }), 200);
  assert.equal(jwtAuthnStatus(cfg, { headers: { 'x-jwt': token('c', 'k1') } }), 200);
  assert.equal(jwtAuthnStatus(cfg, { headers: { authorization: bearer(token('a', 'k1')), 'x-jwt': token('c', 'k1') } }), 200);
  assert.equal(jwtAuthnStatus(cfg, { headers: { authorization: bearer(token('zz', 'k1')) } }), 401, 'D5 in a shared location');
  assert.equal(jwtAuthnStatus(cfg, { headers: { 'x-jwt': token('a', 'k1') } }), 401, 'D5 in c\'s own location');
  assert.equal(jwtAuthnStatus(cfg, { headers: { authorization: bearer('garbage') } }), 401);
  assert.equal(jwtAuthnStatus(cfg, { headers: { 'x-jwt': token('c', 'nope') } }), 401);
});

test('a RequestAuthentication change (or a key change reported as one) leaves clusters and endpoints alone', () => {
  assert.equal(clustersMayChange({ full: true, configKinds: new Set(['RequestAuthentication']) }, [], []), false);
  assert.equal(clustersMayChange({ full: true, configKinds: new Set(['RequestAuthentication', 'DestinationRule']) }, [], []), true);
});

// ---- End to end: Discovery + resolver + ADS --------------------------------------------------

test('Discovery pushes LDS with the fetched keys once they arrive, and again when they rotate; never any other key', { timeout: 30_000 }, async () => {
  const k1 = publicJwk('rot-1');
  const k2 = publicJwk('rot-2');
  let served: Json[] = [k1];
  const sockets = new Set<Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: served }));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const m = testMesh();
  // Namespace-wide: the test client's node carries no labels.
  applyYaml(m.store, ra(NS, 'remote', `  - {issuer: "${ISSUER}", jwksUri: "http://keys.test:${port}/jwks.json"}`));
  const jwks = new JwksResolver({ allowLoopback: true, refreshIntervalMs: 0, retryMs: 0, ownAddresses: [], lookup: async (h) => (h === 'keys.test' ? [{ address: '127.0.0.1', family: 4 }] : []) });
  const discovery = new Discovery({ store: m.store, xdsPort: 0, debugPort: 0, debounceAfterMs: 5, debounceMaxMs: 50, jwksResolver: jwks });
  await discovery.start();
  const c = new AdsTestClient(Number(discovery.xdsAddress.split(':').pop()), 'sotw', { id: `sidecar~${m.ips['reviews-v2']}~reviews-v2-abc12.${NS}~${NS}.svc.cluster.local` });
  const seen = new Set<string>();
  /** The kids inlined in reviews' virtualInbound jwt_authn, from an LDS response. */
  const kids = (r: { resources: { name: string; body: Json }[] }): string => {
    const vi = r.resources.find((x) => x.name === 'virtualInbound')?.body;
    const filters = [...hcmFilters(vi ? [vi] : []).values()][0] ?? [];
    const jwt = filters.find((f) => f.name === 'envoy.filters.http.jwt_authn');
    const inline = ((((jwt?.typed_config as Json | undefined)?.providers as Record<string, Json> | undefined)?.['origins-0']?.local_jwks as Json | undefined)?.inline_string as string | undefined) ?? '';
    seen.add(inline);
    return inline === '' ? '' : (JSON.parse(inline) as { keys: Json[] }).keys.map((k) => k.kid).join(',');
  };
  /** Reads LDS responses (acking each) until one carries `want`; bounded. */
  const until = async (want: string): Promise<void> => {
    let last = '';
    for (let i = 0; i < 10; i++) {
      const r = await c.next();
      if (r.typeUrl !== TypeUrl.Listener) continue;
      c.ack(r);
      last = kids(r);
      if (last === want) return;
    }
    assert.fail(`no LDS push with keys "${want}" (last: "${last}")`);
  };
  try {
    c.request(TypeUrl.Listener);
    await until('rot-1');
    served = [k2, k1];
    await jwks.refresh();
    await until('rot-1,rot-2');
    for (const s of seen) {
      const ks = (JSON.parse(s) as { keys: Json[] }).keys.map((k) => k.kid);
      assert.ok(ks.every((k) => k === 'rot-1' || k === 'rot-2'), `only the issuer's keys (or none) were ever pushed: ${s}`);
    }
  } finally {
    c.close();
    await discovery.close();
    jwks.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
