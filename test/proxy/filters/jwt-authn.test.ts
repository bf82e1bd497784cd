// jwt_authn as Istio 1.6 configures it and as Envoy documents it: which tokens pass, which are refused with which message, what a verified token leaves behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { ConfigError } from '../../../src/proxy/config/xds-json.js';
import { compileJwtAuthn, jsonNestsDeeperThan, parseJwt, type JwtAuthnFilter } from '../../../src/proxy/filters/jwt-authn.js';
import type { FilterReply, FilterVerdict } from '../../../src/proxy/http/http-filters.js';
import { NOW_S, b64url, clock, ecKey, jwks, request, rsaKey, sign, type RequestOptions } from './fixtures.js';

const ISS = 'https://issuer.example';
const ISS2 = 'issuer-two@example';
const key = rsaKey('k1');
const key2 = ecKey('k2');
const stranger = rsaKey('k1'); // same kid, different key

/** One provider the way Istio 1.6 writes it for a RequestAuthentication jwtRule. */
function istioProvider(issuer: string, keys: string, extra: Record<string, unknown> = {}) {
  return { issuer, local_jwks: { inline_string: keys }, payload_in_metadata: issuer, ...extra };
}

/** Istio 1.6's single-rule form: `requires_any: [origins-0, allow_missing]` for every path. */
function istioConfig(providerExtra: Record<string, unknown> = {}) {
  return {
    providers: { 'origins-0': istioProvider(ISS, jwks(key), providerExtra) },
    rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }],
  };
}

function compile(config: unknown): JwtAuthnFilter {
  return compileJwtAuthn(config, 'jwt', clock);
}

async function run(f: JwtAuthnFilter, token: string | undefined, o: RequestOptions = {}) {
  const req = request({ ...o, headers: [...(token !== undefined ? ([['authorization', `Bearer ${token}`]] as const) : []), ...(o.headers ?? [])] });
  const verdict: FilterVerdict = await f.decode(req);
  return { verdict, req };
}

function denied(v: FilterVerdict): FilterReply {
  assert.ok(v, 'expected a local reply');
  return v;
}

const good = () => sign(key, { iss: ISS, sub: 'alice', aud: 'svc' });

test('Istio 1.6 requirement: a valid token passes, its payload lands in metadata under the issuer, the token is not forwarded', async () => {
  const f = compile(istioConfig());
  const token = await good();
  const { verdict, req } = await run(f, token);
  assert.equal(verdict, undefined);
  const md = req.metadata.get('envoy.filters.http.jwt_authn');
  assert.deepEqual(md?.[ISS], { iss: ISS, sub: 'alice', aud: 'svc', iat: NOW_S, exp: NOW_S + 3600 });
  assert.equal(req.headers.get('authorization'), undefined, 'forward defaults to false');
  assert.equal(f.stats.allowed, 1);
});

test('D6: no token passes allow_missing without metadata; the same config refuses a bad token', async () => {
  const f = compile(istioConfig());
  const { verdict, req } = await run(f, undefined);
  assert.equal(verdict, undefined);
  assert.equal(req.metadata.get('envoy.filters.http.jwt_authn'), undefined);
  const bad = denied((await run(f, 'garbage')).verdict);
  assert.equal(bad.status, 401);
});

/** Every way a token may be wrong, each refused with Envoy's message. */
test('refused tokens: D1–D5 and D11, each a 401 with Envoy’s message and an invalid_token challenge', async () => {
  const none = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify({ iss: ISS, sub: 'mallory', exp: NOW_S + 3600 }))}`;
  const pem = key.publicKey.export({ format: 'pem', type: 'spki' }) as string;
  const hsWithPem = await new SignJWT({ iss: ISS, sub: 'mallory', exp: NOW_S + 3600 }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(pem));
  const hsWithPemNoKid = await new SignJWT({ iss: ISS, sub: 'mallory', exp: NOW_S + 3600 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(pem));
  let deep: unknown = 'x';
  for (let i = 0; i < 200; i++) deep = [deep];
  const cases: Array<[string, string | Promise<string>, string]> = [
    ['D1 garbage', 'garbage', 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
    ['D1 two parts', 'a.b', 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
    ['D1 four parts', 'a.b.c.d', 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
    ['D1 header not base64url', 'a*b.c.d', 'Jwt header is an invalid Base64url encoded'],
    ['D1 header not JSON', `${b64url('not json')}.${b64url('{}')}.sig`, 'Jwt header is an invalid JSON'],
    ['D2 alg none, empty signature', `${none}.`, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
    ['D2 alg none, some signature', `${none}.AAAA`, 'Jwt header [alg] is not supported'],
    ['D3 HS256 with the RSA public PEM as secret', hsWithPem, 'Jwks doesn\'t have key to match kid or alg from Jwt'],
    ['D3 HS256 without kid', hsWithPemNoKid, 'Jwks doesn\'t have key to match kid or alg from Jwt'],
    ['D4 expired 120 s ago', sign(key, { iss: ISS, exp: NOW_S - 120 }), 'Jwt is expired'],
    ['D4 not before in 120 s', sign(key, { iss: ISS, nbf: NOW_S + 120 }), 'Jwt not yet valid'],
    ['D4 exp not an integer', sign(key, { iss: ISS, exp: 'tomorrow' as unknown as number }), 'Jwt payload [exp] field is not an integer'],
    ['D5 unlisted issuer, validly signed', sign(key, { iss: 'https://evil.example', sub: 'x' }), 'Jwt issuer is not configured'],
    ['D5 no issuer at all', sign(key, { sub: 'x' }), 'Jwt issuer is not configured'],
    ['signed by another key with the same kid', sign(stranger, { iss: ISS, sub: 'x' }), 'Jwt verification fails'],
    ['kid not in the JWKS', sign(key, { iss: ISS }, { kid: 'nope' }), 'Jwks doesn\'t have key to match kid or alg from Jwt'],
    ['signature tampered', good().then((t) => t.slice(0, -4) + (t.endsWith('AAAA') ? 'BBBB' : 'AAAA')), 'Jwt verification fails'],
    ['payload tampered', good().then((t) => { const [h, , s] = t.split('.'); return `${h}.${b64url(JSON.stringify({ iss: ISS, sub: 'admin' }))}.${s}`; }), 'Jwt verification fails'],
    ['D11 deeply nested payload, validly signed', sign(key, { iss: ISS, deep }), 'Jwt payload is an invalid JSON'],
    ['D11 1 MB token', 'a'.repeat(1 << 20), 'Jwt is too large'],
    ['D11 9 KiB of nesting', `${b64url('{"alg":"RS256"}')}.${b64url('['.repeat(7000))}.sig`, 'Jwt is too large'],
  ];
  const f = compile(istioConfig());
  for (const [name, t, message] of cases) {
    const reply = denied((await run(f, await t)).verdict);
    assert.equal(reply.status, 401, name);
    assert.equal(reply.body, message, name);
    assert.equal(reply.details, `jwt_authn_access_denied{${message.replace(/ /g, '_')}}`, name);
    assert.deepEqual(reply.headers, [['www-authenticate', 'Bearer realm="http://httpbin.foo:8000/", error="invalid_token"']], name);
  }
  assert.equal(f.stats.denied, cases.length);
});

test('D3: with a JWKS whose RSA key names no alg, an HS256 token is still never checked against it as a secret', async () => {
  const { alg: _alg, ...noAlg } = key.jwk;
  const f = compile({ providers: { p: istioProvider(ISS, JSON.stringify({ keys: [noAlg] })) }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }] });
  const pem = key.publicKey.export({ format: 'pem', type: 'spki' }) as string;
  for (const secret of [pem, JSON.stringify(key.jwk), Buffer.from(key.jwk.n as string, 'base64url').toString('latin1')]) {
    const t = await new SignJWT({ iss: ISS, sub: 'mallory' }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(secret));
    assert.equal(denied((await run(f, t)).verdict).body, 'Jwt verification fails');
  }
  assert.equal((await run(f, await good())).verdict, undefined);
});

test('D4: clock skew is 60 s — a token expired 30 s ago or valid from 30 s on still passes', async () => {
  const f = compile(istioConfig());
  for (const claims of [{ exp: NOW_S - 30 }, { nbf: NOW_S + 30 }, { exp: NOW_S - 60 }]) {
    const { verdict } = await run(f, await sign(key, { iss: ISS, ...claims }));
    assert.equal(verdict, undefined, JSON.stringify(claims));
  }
  assert.equal(denied((await run(f, await sign(key, { iss: ISS, exp: NOW_S - 61 }))).verdict).body, 'Jwt is expired');
});

test('D11: the nesting check counts brackets outside strings only', () => {
  assert.equal(jsonNestsDeeperThan('{"a":"[[[[[[[[[[[[[["}', 3), false);
  assert.equal(jsonNestsDeeperThan('{"a":[[[1]]]}', 3), true);
  assert.equal(jsonNestsDeeperThan('{"a":[[1]]}', 3), false);
  assert.equal(jsonNestsDeeperThan('{"a":"\\"[[[[["}', 1), false);
  assert.equal(typeof parseJwt('a'.repeat(10_000)), 'string');
});

test('provider_name alone: a missing token is refused with no error attribute in the challenge', async () => {
  const f = compile({ providers: { p: istioProvider(ISS, jwks(key)) }, rules: [{ match: { prefix: '/api' }, requires: { provider_name: 'p' } }] });
  const reply = denied((await run(f, undefined, { path: '/api/x', query: 'a=1' })).verdict);
  assert.equal(reply.status, 401);
  assert.equal(reply.body, 'Jwt is missing');
  assert.deepEqual(reply.headers, [['www-authenticate', 'Bearer realm="http://httpbin.foo:8000/api/x?a=1"']]);
  // Paths no rule matches are not checked at all.
  assert.equal((await run(f, 'garbage', { path: '/public' })).verdict, undefined);
  // Rules match the path without its query.
  assert.equal((await run(f, undefined, { path: '/public', query: 'x=/api' })).verdict, undefined);
});

test('allow_missing_or_failed passes anything but records only verified payloads', async () => {
  const f = compile({ providers: { p: istioProvider(ISS, jwks(key)) }, rules: [{ match: { prefix: '/' }, requires: { allow_missing_or_failed: {} } }] });
  const bad = await run(f, await sign(key, { iss: ISS, exp: NOW_S - 3600 }));
  assert.equal(bad.verdict, undefined);
  assert.equal(bad.req.metadata.get('envoy.filters.http.jwt_authn'), undefined);
  const ok = await run(f, await good());
  assert.equal(ok.verdict, undefined);
  assert.equal((ok.req.metadata.get('envoy.filters.http.jwt_authn')?.[ISS] as { sub: string }).sub, 'alice');
});

test('Istio 1.6 with two issuers: either issuer passes, an unknown issuer or a bad token does not, none passes', async () => {
  const config = {
    providers: { 'origins-0': istioProvider(ISS, jwks(key)), 'origins-1': istioProvider(ISS2, jwks(key2)) },
    rules: [
      {
        match: { prefix: '/' },
        requires: {
          requires_any: {
            requirements: [
              { provider_name: 'origins-0' },
              { provider_name: 'origins-1' },
              {
                requires_all: {
                  requirements: [
                    { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } },
                    { requires_any: { requirements: [{ provider_name: 'origins-1' }, { allow_missing: {} }] } },
                  ],
                },
              },
            ],
          },
        },
      },
    ],
  };
  const f = compile(config);
  const second = await run(f, await sign(key2, { iss: ISS2, sub: 'bob' }));
  assert.equal(second.verdict, undefined);
  assert.equal((second.req.metadata.get('envoy.filters.http.jwt_authn')?.[ISS2] as { sub: string }).sub, 'bob');
  assert.equal((await run(f, await good())).verdict, undefined);
  assert.equal((await run(f, undefined)).verdict, undefined);
  assert.equal(denied((await run(f, await sign(key, { iss: 'https://evil.example' }))).verdict).body, 'Jwt issuer is not configured');
  // Issuer two's name on a token signed with issuer one's key.
  assert.equal(denied((await run(f, await sign(key, { iss: ISS2 }, { kid: 'k2' }))).verdict).status, 401);
});

test('audiences: a provider’s audiences must include one of the token’s (scheme and trailing slash ignored), else 403', async () => {
  const f = compile(istioConfig({ audiences: ['https://svc.example/', 'other'] }));
  assert.equal((await run(f, await sign(key, { iss: ISS, aud: ['x', 'svc.example'] }))).verdict, undefined);
  const reply = denied((await run(f, await sign(key, { iss: ISS, aud: 'elsewhere' }))).verdict);
  assert.equal(reply.status, 403);
  assert.equal(reply.body, 'Audiences in Jwt are not allowed');
  const noAud = denied((await run(f, await sign(key, { iss: ISS }))).verdict);
  assert.equal(noAud.status, 403);
});

test('provider_and_audiences overrides the provider’s audiences', async () => {
  const f = compile({
    providers: { p: istioProvider(ISS, jwks(key), { audiences: ['a'] }) },
    rules: [{ match: { prefix: '/' }, requires: { provider_and_audiences: { provider_name: 'p', audiences: ['b'] } } }],
  });
  assert.equal((await run(f, await sign(key, { iss: ISS, aud: 'b' }))).verdict, undefined);
  assert.equal(denied((await run(f, await sign(key, { iss: ISS, aud: 'a' }))).verdict).status, 403);
});

test('forward keeps the token; forward_payload_header carries the base64url payload and a client cannot forge it', async () => {
  const f = compile(istioConfig({ forward: true, forward_payload_header: 'x-jwt-payload' }));
  const token = await good();
  const { verdict, req } = await run(f, token, { headers: [['x-jwt-payload', b64url('{"sub":"admin"}')]] });
  assert.equal(verdict, undefined);
  assert.equal(req.headers.get('authorization'), `Bearer ${token}`);
  assert.deepEqual(req.headers.getAll('x-jwt-payload'), [token.split('.')[1]]);
  const anon = await run(f, undefined, { headers: [['x-jwt-payload', b64url('{"sub":"admin"}')]] });
  assert.equal(anon.verdict, undefined);
  assert.equal(anon.req.headers.get('x-jwt-payload'), undefined, 'a forged payload header is removed');
});

test('from_params and from_headers with a prefix: tokens are found where configured and nowhere else', async () => {
  const f = compile({
    providers: { p: istioProvider(ISS, jwks(key), { from_headers: [{ name: 'X-Auth', value_prefix: 'Token ' }], from_params: ['jwt'] }) },
    rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }],
  });
  const token = await good();
  const byParam = await run(f, undefined, { query: `a=1&jwt=${token}` });
  assert.equal(byParam.verdict, undefined);
  const byHeader = await run(f, undefined, { headers: [['x-auth', `Token ${token}`]] });
  assert.equal(byHeader.verdict, undefined);
  assert.equal(byHeader.req.headers.get('x-auth'), undefined, 'the token header is removed when not forwarded');
  // Authorization is not a configured location for this provider.
  assert.equal(denied((await run(f, token)).verdict).body, 'Jwt is missing');
  assert.equal(denied((await run(f, undefined, { query: `access_token=${token}` })).verdict).body, 'Jwt is missing');
});

test('default locations: ?access_token is read when no location is configured', async () => {
  const f = compile({ providers: { p: istioProvider(ISS, jwks(key)) }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }] });
  assert.equal((await run(f, undefined, { query: `access_token=${await good()}` })).verdict, undefined);
});

test('every token a request carries must verify: a good one does not carry a bad one', async () => {
  const f = compile(istioConfig());
  const req = request({ headers: [['authorization', `Bearer ${await good()}`], ['authorization', 'Bearer garbage']] });
  assert.equal(denied(await f.decode(req)).status, 401);
});

test('ES256 keys verify too, and a JWKS of several keys picks by kid', async () => {
  const f = compile({ providers: { p: istioProvider(ISS, jwks(key, key2)) }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }] });
  assert.equal((await run(f, await sign(key2, { iss: ISS }))).verdict, undefined);
  assert.equal((await run(f, await sign(key, { iss: ISS }))).verdict, undefined);
});

test('a JWKS that gives no key fails closed for its provider and is reported; the other provider still works', async () => {
  const f = compile({
    providers: { broken: istioProvider(ISS2, ''), p: istioProvider(ISS, jwks(key)) },
    rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'broken' }, { provider_name: 'p' }, { allow_missing: {} }] } } }],
  });
  assert.deepEqual(f.jwksProblems, ['provider broken: Jwks is an invalid JSON']);
  assert.equal(denied((await run(f, await sign(key, { iss: ISS2 }))).verdict).body, "Jwks doesn't have any valid public key");
  assert.equal((await run(f, await good())).verdict, undefined);
});

test('bypass_cors_preflight lets a preflight through without a token', async () => {
  const f = compile({ ...istioConfig({ forward_payload_header: 'x-jwt-payload' }), bypass_cors_preflight: true, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'origins-0' } }] });
  const headers = [['origin', 'https://app.example'], ['access-control-request-method', 'POST']] as const;
  const preflight = await run(f, undefined, { method: 'OPTIONS', headers: [...headers, ['x-jwt-payload', 'forged']] });
  assert.equal(preflight.verdict, undefined);
  assert.equal(preflight.req.headers.get('x-jwt-payload'), undefined, 'a forged payload header is removed from a preflight too');
  assert.equal(denied((await run(f, undefined, { method: 'GET', headers })).verdict).body, 'Jwt is missing');
});

test('rule matches: path, safe_regex, case_sensitive false and header conditions', async () => {
  const f = compile({
    providers: { p: istioProvider(ISS, jwks(key)) },
    rules: [
      { match: { path: '/exact' }, requires: { provider_name: 'p' } },
      { match: { safe_regex: { regex: '/re/[0-9]+' } }, requires: { provider_name: 'p' } },
      { match: { prefix: '/CI', case_sensitive: false }, requires: { provider_name: 'p' } },
      { match: { prefix: '/h', headers: [{ name: 'x-secure', exact_match: 'yes' }] }, requires: { provider_name: 'p' } },
    ],
  });
  const needs = async (o: RequestOptions) => (await run(f, undefined, o)).verdict !== undefined;
  assert.equal(await needs({ path: '/exact' }), true);
  assert.equal(await needs({ path: '/exact/more' }), false);
  assert.equal(await needs({ path: '/re/42' }), true);
  assert.equal(await needs({ path: '/re/4x' }), false);
  assert.equal(await needs({ path: '/ci/x' }), true);
  assert.equal(await needs({ path: '/h', headers: [['x-secure', 'yes']] }), true);
  assert.equal(await needs({ path: '/h', headers: [['x-secure', 'no']] }), false);
});

test('strip_failure_response sends an empty body and no challenge', async () => {
  const f = compile({ ...istioConfig(), strip_failure_response: true });
  const reply = denied((await run(f, 'garbage')).verdict);
  assert.equal(reply.status, 401);
  assert.equal(reply.body, '');
  assert.equal(reply.headers, undefined);
});

test('the realm escapes quotes so the challenge stays one header value', async () => {
  const f = compile(istioConfig());
  const reply = denied((await run(f, 'garbage', { authority: 'a"b' })).verdict);
  assert.deepEqual(reply.headers, [['www-authenticate', 'Bearer realm="http://a%22b/", error="invalid_token"']]);
});

test('configs Meltemi cannot honor are refused with the field path', () => {
  const refused: Array<[string, unknown, string]> = [
    ['remote_jwks', { providers: { p: { issuer: ISS, remote_jwks: { http_uri: { uri: 'https://x' } } } } }, 'jwt.providers["p"].remote_jwks'],
    ['unknown provider', { providers: { p: istioProvider(ISS, jwks(key)) }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'q' } }] }, 'jwt.rules[0].requires.provider_name'],
    ['unknown provider field', { providers: { p: istioProvider(ISS, jwks(key), { subjects: { prefix: 'x' } }) } }, 'jwt.providers["p"].subjects'],
    ['JWKS from a file', { providers: { p: { issuer: ISS, local_jwks: { filename: '/etc/jwks.json' } } } }, 'jwt.providers["p"].local_jwks'],
    ['two requirement kinds', { providers: { p: istioProvider(ISS, jwks(key)) }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p', allow_missing: {} } }] }, 'jwt.rules[0].requires'],
    ['rule without path', { rules: [{ match: {} }] }, 'jwt.rules[0].match'],
    ['filter_state_rules', { filter_state_rules: { name: 'x' } }, 'jwt.filter_state_rules'],
  ];
  for (const [name, config, path] of refused) {
    assert.throws(() => compile(config), (e: unknown) => e instanceof ConfigError && e.path === path, name);
  }
  // The next good config still compiles and works.
  assert.ok(compile(istioConfig()));
});

test('inline_bytes JWKS are read as base64', async () => {
  const f = compile({ providers: { p: { issuer: ISS, local_jwks: { inline_bytes: Buffer.from(jwks(key)).toString('base64') } } }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }] });
  assert.equal((await run(f, await good())).verdict, undefined);
});
