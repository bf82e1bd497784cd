// MLT0102: RequestAuthentication without an AuthorizationPolicy that requires a request principal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { authorizationPolicy, deployment, requestAuthentication, summary } from '../../helpers/resources.js';

const PP = { app: 'productpage' };
const app = deployment('productpage-v1', 'bookinfo', { app: 'productpage', version: 'v1' });
const requirePrincipal = { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] };

test('request-authentication: warns that tokenless requests are still allowed when no policy requires a principal', () => {
  const msgs = analyze([app, requestAuthentication('jwt', 'bookinfo', PP)]);
  assert.deepEqual(summary(msgs), ['MLT0102 RequestAuthentication bookinfo/jwt @ spec.jwtRules']);
  assert.equal(msgs[0]!.level, 'Warning');
  assert.match(msgs[0]!.message, /requests without a token are still allowed/);
});

test('request-authentication: a policy that allows without a principal, or covers other workloads, does not count', () => {
  assert.equal(analyze([app, requestAuthentication('jwt', 'bookinfo', PP), authorizationPolicy('allow-all', 'bookinfo', PP, { rules: [{}] })]).length, 1);
  assert.equal(analyze([app, requestAuthentication('jwt', 'bookinfo', PP), authorizationPolicy('ratings', 'bookinfo', { app: 'ratings' }, requirePrincipal)]).filter((m) => m.code === 'MLT0102').length, 1);
  const mixed = { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }, { to: [{ operation: { paths: ['/health'] } }] }] };
  assert.equal(analyze([app, requestAuthentication('jwt', 'bookinfo', PP), authorizationPolicy('mixed', 'bookinfo', PP, mixed)]).length, 1);
});

test('request-authentication: is quiet with an ALLOW policy on requestPrincipals or request.auth claims', () => {
  assert.deepEqual(summary(analyze([app, requestAuthentication('jwt', 'bookinfo', PP), authorizationPolicy('require-jwt', 'bookinfo', PP, requirePrincipal)])), []);
  const claims = { rules: [{ when: [{ key: 'request.auth.claims[groups]', values: ['group1'] }] }] };
  assert.deepEqual(summary(analyze([app, requestAuthentication('jwt', 'bookinfo', PP), authorizationPolicy('groups', 'bookinfo', PP, claims)])), []);
});

test('request-authentication: is quiet with a DENY policy on notRequestPrincipals, namespace-wide or in the root namespace', () => {
  const deny = { action: 'DENY', rules: [{ from: [{ source: { notRequestPrincipals: ['*'] } }] }] };
  assert.deepEqual(summary(analyze([app, requestAuthentication('jwt', 'bookinfo', PP), authorizationPolicy('deny-anon', 'bookinfo', undefined, deny)])), []);
  assert.deepEqual(summary(analyze([app, requestAuthentication('jwt', 'bookinfo', PP), authorizationPolicy('deny-anon', 'istio-system', undefined, deny)])), []);
});

test('request-authentication: a policy with another selector covering the same workloads counts', () => {
  assert.deepEqual(summary(analyze([app, requestAuthentication('jwt', 'bookinfo', PP), authorizationPolicy('by-version', 'bookinfo', { version: 'v1' }, requirePrincipal)])), []);
});
