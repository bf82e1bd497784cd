// Kind lookup: mesh groups are owned (an unknown kind there is an error); other Kubernetes kinds are only warned about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kindsByName, lookupKind } from '../../src/api/registry.js';
import { expectError, expectValid, expectWarning } from '../helpers/validation.js';

test('a misspelt kind in a mesh group is an error', () => {
  expectError('apiVersion: security.istio.io/v1beta1\nkind: AuthorisationPolicy\nmetadata: {name: x}\n', 'resource.unknown-kind', 'kind', 'AuthorizationPolicy');
});

test('real Kubernetes kinds Meltemi does not read (StatefulSet, Endpoints, Role) load with a warning', () => {
  for (const [apiVersion, kind] of [['apps/v1', 'StatefulSet'], ['v1', 'Endpoints'], ['rbac.authorization.k8s.io/v1', 'Role']]) {
    const doc = `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: x}\n`;
    expectValid(doc);
    expectWarning(doc, 'resource.unknown-kind', 'kind');
  }
});

test('a served kind in an unserved version is an error naming the served versions', () => {
  expectError('apiVersion: security.istio.io/v1alpha1\nkind: PeerAuthentication\nmetadata: {name: x}\n', 'resource.api-version', 'apiVersion', 'security.istio.io/v1beta1');
});

test('kinds resolve from the names users type: plural, singular, short name, group-qualified', () => {
  for (const name of ['vs', 'virtualservices', 'VirtualService', 'virtualservice.networking.istio.io', 'smcp', 'smmr', 'ap', 'gw']) {
    assert.equal(kindsByName(name).length, 1, name);
  }
  assert.equal(kindsByName('nope').length, 0);
  const found = lookupKind('networking.istio.io/v1alpha3', 'Gateway');
  assert.ok(!('problem' in found) && found.version.name === 'v1alpha3');
});
