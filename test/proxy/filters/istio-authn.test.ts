// istio_authn as Istio 1.6 configures it: the source.* and request.auth.* attributes it records, and when it refuses a request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/proxy/config/xds-json.js';
import { compileIstioAuthn, IstioAuthnKeys } from '../../../src/proxy/filters/istio-authn.js';
import type { FilterRequest } from '../../../src/proxy/http/http-filters.js';
import { certificateWith, mtls, request, type RequestOptions } from './fixtures.js';

const ISS = 'https://issuer.example';

/** What Istio 1.6 sends for a sidecar with PeerAuthentication `mode` and RequestAuthentication issuers. */
function istio16(mode: 'STRICT' | 'PERMISSIVE' | undefined, issuers: string[] = []) {
  const policy: Record<string, unknown> = {};
  if (mode) policy.peers = [{ mtls: mode === 'STRICT' ? {} : { mode } }];
  if (issuers.length > 0) {
    policy.origins = issuers.map((issuer) => ({ jwt: { issuer } }));
    policy.origin_is_optional = true;
    policy.principal_binding = 'USE_ORIGIN';
  }
  return { policy, skip_validate_trust_domain: true };
}

function jwtMetadata(payload: Record<string, unknown>, issuer = ISS) {
  return new Map<string, Record<string, unknown>>([['envoy.filters.http.jwt_authn', { [issuer]: payload }]]);
}

function decode(config: unknown, o: RequestOptions): { req: FilterRequest; verdict: unknown } {
  const f = compileIstioAuthn(config, 'authn');
  const req = request(o);
  return { req, verdict: f.decode(req) };
}

test('mTLS peer: source.principal is the SPIFFE ID without spiffe://, with source.user and source.namespace', () => {
  const { req, verdict } = decode(istio16('STRICT'), { security: mtls('bar', 'sleep') });
  assert.equal(verdict, undefined);
  assert.deepEqual(req.metadata.get('istio_authn'), {
    'source.user': 'cluster.local/ns/bar/sa/sleep',
    'source.principal': 'cluster.local/ns/bar/sa/sleep',
    'source.namespace': 'bar',
    // Istio 1.6 binds the principal to the peer unless a RequestAuthentication says USE_ORIGIN.
    'request.auth.principal': 'cluster.local/ns/bar/sa/sleep',
  });
});

test('STRICT refuses plaintext with Istio’s 401; PERMISSIVE lets it through with no identity', () => {
  assert.deepEqual(decode(istio16('STRICT'), {}).verdict, { status: 401, body: 'Peer authentication failed.', details: 'istio_authn_access_denied' });
  const { req, verdict } = decode(istio16('PERMISSIVE'), {});
  assert.equal(verdict, undefined);
  assert.deepEqual(req.metadata.get('istio_authn'), {});
});

test('the peer’s trust domain must be ours unless skip_validate_trust_domain', () => {
  const checked = { policy: { peers: [{ mtls: {} }] } };
  assert.equal(decode(checked, { security: mtls('bar', 'sleep') }).verdict, undefined);
  assert.deepEqual((decode(checked, { security: mtls('bar', 'sleep', 'evil.org') }).verdict as { status: number }).status, 401);
  assert.equal(decode({ ...checked, skip_validate_trust_domain: true }, { security: mtls('bar', 'sleep', 'evil.org') }).verdict, undefined);
  assert.equal(decode(checked, { security: { ...mtls('bar', 'sleep'), localIdentity: undefined } }).verdict !== undefined, true);
});

test('a peer certificate without a SPIFFE ID yields its first URI SAN as the principal', () => {
  const cert = certificateWith('legacy', 'URI:https://legacy.example/id, DNS:legacy.example');
  const { req } = decode(istio16('PERMISSIVE'), { security: { tls: true, peerCertificate: cert } });
  assert.equal(req.metadata.get('istio_authn')?.[IstioAuthnKeys.sourcePrincipal], 'https://legacy.example/id');
  assert.equal(req.metadata.get('istio_authn')?.[IstioAuthnKeys.sourceNamespace], undefined);
});

test('origin: a payload jwt_authn verified becomes request.auth.* (principal iss/sub, first audience, presenter, claims as string lists)', () => {
  const payload = { iss: ISS, sub: 'alice', aud: ['svc-a', 'svc-b'], azp: 'web', scope: 'read  write', groups: ['dev', 'admin'], exp: 1, nested: { a: 1 }, mixed: ['a', 1] };
  const { req, verdict } = decode(istio16('PERMISSIVE', [ISS]), { security: mtls('bar', 'sleep'), metadata: jwtMetadata(payload) });
  assert.equal(verdict, undefined);
  const md = req.metadata.get('istio_authn')!;
  assert.equal(md['request.auth.principal'], `${ISS}/alice`);
  assert.equal(md['request.auth.audiences'], 'svc-a');
  assert.equal(md['request.auth.presenter'], 'web');
  assert.deepEqual(md['request.auth.claims'], { iss: [ISS], sub: ['alice'], aud: ['svc-a', 'svc-b'], azp: ['web'], scope: ['read', 'write'], groups: ['dev', 'admin'] });
  assert.deepEqual(JSON.parse(md['request.auth.raw_claims'] as string), payload);
  assert.equal(md['source.principal'], 'cluster.local/ns/bar/sa/sleep');
});

test('origin with USE_ORIGIN and no token: no request principal, and Istio 1.6’s optional origin does not refuse', () => {
  const { req, verdict } = decode(istio16('PERMISSIVE', [ISS]), { security: mtls('bar', 'sleep') });
  assert.equal(verdict, undefined);
  assert.equal(req.metadata.get('istio_authn')?.['request.auth.principal'], undefined);
  assert.equal(req.metadata.get('istio_authn')?.['source.principal'], 'cluster.local/ns/bar/sa/sleep');
});

test('a required origin refuses a request whose JWT did not verify (jwt_authn with allow_missing_or_failed left no payload)', () => {
  const config = { policy: { origins: [{ jwt: { issuer: ISS } }], principal_binding: 'USE_ORIGIN' } };
  assert.deepEqual(decode(config, {}).verdict, { status: 401, body: 'Origin authentication failed.', details: 'istio_authn_access_denied' });
  assert.deepEqual((decode(config, { metadata: jwtMetadata({ iss: 'other' }, 'other') }).verdict as { status: number }).status, 401);
  assert.equal(decode(config, { metadata: jwtMetadata({ iss: ISS, sub: 's' }) }).verdict, undefined);
  // A CORS preflight carries no credentials and passes.
  assert.equal(decode(config, { method: 'OPTIONS', headers: [['origin', 'https://a'], ['access-control-request-method', 'GET']] }).verdict, undefined);
});

test('trigger rules: an excluded path is not checked, an included one is', () => {
  const config = {
    policy: {
      origins: [{ jwt: { issuer: ISS, trigger_rules: [{ excluded_paths: [{ exact: '/health' }], included_paths: [{ prefix: '/api' }, { regex: '/v[0-9]+/.*' }] }] } }],
      principal_binding: 'USE_ORIGIN',
    },
  };
  assert.equal(decode(config, { path: '/health' }).verdict, undefined);
  assert.equal(decode(config, { path: '/other' }).verdict, undefined);
  assert.equal((decode(config, { path: '/api/x' }).verdict as { status: number }).status, 401);
  assert.equal((decode(config, { path: '/v2/x' }).verdict as { status: number }).status, 401);
});

test('USE_ORIGIN without origins fails origin authentication (Istio refuses such a policy at runtime)', () => {
  assert.equal((decode({ policy: { principal_binding: 'USE_ORIGIN' } }, {}).verdict as { status: number }).status, 401);
  assert.equal(decode({ policy: { principal_binding: 'USE_ORIGIN', origin_is_optional: true } }, {}).verdict, undefined);
});

test('a TypedStruct value in lowerCamelCase reads the same', () => {
  const config = { policy: { peers: [{ mtls: { mode: 'PERMISSIVE' } }], originIsOptional: true, principalBinding: 'USE_ORIGIN', origins: [{ jwt: { issuer: ISS } }] }, skipValidateTrustDomain: true };
  const { req } = decode(config, { security: mtls('bar', 'sleep', 'other.org'), metadata: jwtMetadata({ iss: ISS, sub: 'bob' }) });
  assert.equal(req.metadata.get('istio_authn')?.['request.auth.principal'], `${ISS}/bob`);
  assert.equal(req.metadata.get('istio_authn')?.['source.principal'], 'other.org/ns/bar/sa/sleep');
});

test('bad configs are refused with the field path', () => {
  assert.throws(() => compileIstioAuthn({ policy: { principal_binding: 'USE_SOMEONE' } }, 'authn'), (e: unknown) => e instanceof ConfigError && e.path === 'authn.policy.principal_binding');
  assert.throws(() => compileIstioAuthn({ policy: { peers: [{}] } }, 'authn'), (e: unknown) => e instanceof ConfigError && e.path === 'authn.policy.peers[0]');
  assert.throws(() => compileIstioAuthn({ policy: { origins: [{ jwt: { issuer: ISS, trigger_rules: [{ included_paths: [{ regex: '(' }] }] } }] } }, 'authn'), ConfigError);
  assert.throws(() => compileIstioAuthn({ policy: {}, unknown_field: 1 }, 'authn'), (e: unknown) => e instanceof ConfigError && e.path === 'authn.unknown_field');
});
