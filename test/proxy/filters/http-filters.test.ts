// http_filters as they travel (encoded by the xDS encoder, decoded to Envoy JSON) compiled into the decoder chain: jwt_authn → istio_authn → rbac enforce Istio 1.6's "require a JWT" and "claims" policies end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/proxy/config/xds-json.js';
import { compileHttpFilters } from '../../../src/proxy/filters/index.js';
import { decodeMessage, encodeMessage } from '../../../src/xds/encode.js';
import { any, struct } from '../../../src/xds/generators/envoy-values.js';
import { clock, jwks, mtls, request, rsaKey, runChain, sign } from './fixtures.js';

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ISS = 'https://issuer.example';
const key = rsaKey('k1');

const principalPolicy = (regex: string) => ({
  permissions: [{ any: true }],
  principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { stringMatch: { safeRegex: { regex } } } } }],
});

/** The inbound HCM filters of a sidecar with a RequestAuthentication and two AuthorizationPolicies, as Istio 1.6 orders them, through the wire. */
function wireFilters(): unknown[] {
  const hcm = {
    statPrefix: 'inbound_0.0.0.0_8000',
    routeConfig: { name: 'inbound|8000||' },
    httpFilters: [
      { name: 'istio.metadata_exchange', typedConfig: any('udpa.type.v1.TypedStruct', { typeUrl: 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm', value: struct({ config: { vm_config: { runtime: 'envoy.wasm.runtime.null' } } }) }) },
      {
        name: 'envoy.filters.http.jwt_authn',
        typedConfig: any('envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication', {
          providers: { 'origins-0': { issuer: ISS, localJwks: { inlineString: jwks(key) }, payloadInMetadata: ISS } },
          rules: [{ match: { prefix: '/' }, requires: { requiresAny: { requirements: [{ providerName: 'origins-0' }, { allowMissing: {} }] } } }],
        }),
      },
      {
        name: 'istio_authn',
        typedConfig: any('udpa.type.v1.TypedStruct', {
          typeUrl: 'type.googleapis.com/istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig',
          value: struct({ policy: { peers: [{ mtls: { mode: 'PERMISSIVE' } }], origins: [{ jwt: { issuer: ISS } }], origin_is_optional: true, principal_binding: 'USE_ORIGIN' }, skip_validate_trust_domain: true }),
        }),
      },
      {
        name: 'envoy.filters.http.rbac',
        typedConfig: any('envoy.extensions.filters.http.rbac.v3.RBAC', {
          rules: {
            policies: {
              'ns[foo]-policy[require-jwt]-rule[0]': principalPolicy('.+'),
              'ns[foo]-policy[admins]-rule[0]': {
                permissions: [{ urlPath: { path: { prefix: '/admin' } } }],
                principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { listMatch: { oneOf: { stringMatch: { exact: 'admin' } } } } } }],
              },
            },
          },
        }),
      },
      { name: 'envoy.filters.http.cors', typedConfig: any('envoy.extensions.filters.http.cors.v3.Cors') },
      { name: 'envoy.filters.http.fault', typedConfig: any('envoy.extensions.filters.http.fault.v3.HTTPFault') },
      { name: 'istio.stats', typedConfig: any('udpa.type.v1.TypedStruct', { typeUrl: 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm', value: struct({}) }) },
      { name: 'envoy.filters.http.router', typedConfig: any('envoy.extensions.filters.http.router.v3.Router') },
    ],
  };
  return decodeMessage(HCM, encodeMessage(HCM, hcm)).http_filters as unknown[];
}

test('the decoded Istio 1.6 inbound filter list compiles to jwt_authn, istio_authn, rbac in that order', () => {
  const filters = compileHttpFilters(wireFilters(), 'hcm.http_filters', { jwt: clock });
  assert.deepEqual(
    filters.map((f) => f.name),
    ['envoy.filters.http.jwt_authn', 'istio_authn', 'envoy.filters.http.rbac'],
  );
});

test('requestPrincipals "*": a verified JWT is required; a forged or missing one is refused by the right filter', async () => {
  const filters = compileHttpFilters(wireFilters(), 'hcm.http_filters', { jwt: clock });
  const withToken = (t: string | undefined, path = '/') => request({ path, security: mtls('bar', 'sleep'), headers: t === undefined ? [] : [['authorization', `Bearer ${t}`]] });

  const ok = withToken(await sign(key, { iss: ISS, sub: 'alice' }));
  assert.equal(await runChain(filters, ok), undefined);
  assert.equal(ok.metadata.get('istio_authn')?.['request.auth.principal'], `${ISS}/alice`);
  assert.equal(ok.metadata.get('istio_authn')?.['source.principal'], 'cluster.local/ns/bar/sa/sleep');

  // No token: jwt_authn lets it through (allow_missing), RBAC finds no request principal.
  const none = await runChain(filters, withToken(undefined));
  assert.equal(none?.status, 403);
  assert.equal(none?.details, 'rbac_access_denied_matched_policy[none]');

  // A token from an unlisted issuer never reaches RBAC.
  const evil = await runChain(filters, withToken(await sign(key, { iss: 'https://evil.example', sub: 'alice' })));
  assert.equal(evil?.status, 401);
  assert.equal(evil?.body, 'Jwt issuer is not configured');
});

test('claims: a groups claim containing admin satisfies the admin policy even without a principal match', async () => {
  const filters = compileHttpFilters(wireFilters(), 'hcm.http_filters', { jwt: clock });
  const admin = request({ path: '/admin/x', headers: [['authorization', `Bearer ${await sign(key, { iss: ISS, groups: ['dev', 'admin'] })}`]] });
  // No sub: request.auth.principal stays unset, so only the claims policy can allow it.
  assert.equal(await runChain(filters, admin), undefined);
  assert.equal(admin.metadata.get('istio_authn')?.['request.auth.principal'], undefined);
  const dev = request({ path: '/admin/x', headers: [['authorization', `Bearer ${await sign(key, { iss: ISS, groups: ['dev'] })}`]] });
  assert.equal((await runChain(filters, dev))?.status, 403);
});

test('unknown filters are refused with their path; optional, disabled and passive ones are skipped', () => {
  const unknown = [{ name: 'envoy.filters.http.ext_authz', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz' } }];
  assert.throws(() => compileHttpFilters(unknown, 'hcm.http_filters'), (e: unknown) => e instanceof ConfigError && e.path === 'hcm.http_filters[0]');
  assert.deepEqual(compileHttpFilters([{ ...unknown[0], is_optional: true }], 'f'), []);
  assert.deepEqual(compileHttpFilters([{ ...unknown[0], disabled: true }], 'f'), []);
  // A Wasm filter is arbitrary code: only Istio's stats and metadata exchange names pass as passive.
  const wasm = { '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct', type_url: 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm', value: {} };
  assert.throws(() => compileHttpFilters([{ name: 'my.authz', typed_config: wasm }], 'f'), ConfigError);
  assert.deepEqual(compileHttpFilters([{ name: 'istio.stats', typed_config: wasm }, { name: 'envoy.filters.http.router' }], 'f'), []);
  // An Any whose type the decoder did not know arrives as bytes and cannot be read.
  const opaque = { name: 'istio_authn', typed_config: { '@type': 'type.googleapis.com/istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig', value: 'CgA=' } };
  assert.throws(() => compileHttpFilters([opaque], 'f'), (e: unknown) => e instanceof ConfigError && e.path === 'f[0].typed_config');
  // A compiler's error carries the full path.
  const badRbac = { name: 'envoy.filters.http.rbac', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC', rules: { action: 'NOPE' } } };
  assert.throws(() => compileHttpFilters([badRbac], 'f'), (e: unknown) => e instanceof ConfigError && e.path === 'f[0].typed_config.rules.action');
});
