// ServiceMeshMemberRoll validation (MT-02, MT-03) and the mutating webhook's removal of the control plane namespace (MT-04).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { expectError, expectValid, expectWarning } from '../helpers/validation.js';
import { normalizeMemberRoll } from '../../src/api/kinds/service-mesh-member-roll.js';

const smmr = (members: string, meta = '{name: default, namespace: istio-system}') => `apiVersion: maistra.io/v1\nkind: ServiceMeshMemberRoll\nmetadata: ${meta}\nspec:\n  members: ${members}\n`;

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  { name: 'a member roll not named default', yaml: smmr('[bookinfo]', '{name: members, namespace: istio-system}'), rule: 'smmr.name', field: 'metadata.name', message: "must be named 'default'" },
  { name: 'an upper-case member', yaml: smmr('[bookinfo, Reviews]'), rule: 'smmr.member-name', field: 'spec.members[1]', message: 'Must be a valid namespace name' },
  { name: 'a member with a dot', yaml: smmr('[book.info]'), rule: 'smmr.member-name', field: 'spec.members[0]' },
  { name: 'an empty member', yaml: smmr('[""]'), rule: 'smmr.member-name', field: 'spec.members[0]' },
  { name: 'a member longer than 63 characters', yaml: smmr(`[${'a'.repeat(64)}]`), rule: 'smmr.member-name', field: 'spec.members[0]' },
  { name: 'a wildcard member', yaml: smmr('["*"]'), rule: 'smmr.member-name', field: 'spec.members[0]' },
  { name: 'a duplicate member', yaml: smmr('[bookinfo, reviews, bookinfo]'), rule: 'smmr.member-duplicate', field: 'spec.members[2]', message: 'duplicate namespaces' },
  { name: 'a member that is not a string', yaml: smmr('[bookinfo, 42]'), rule: 'schema.type', field: 'spec.members[1]' },
  { name: 'members as a single string', yaml: smmr('bookinfo'), rule: 'schema.type', field: 'spec.members' },
  { name: 'a misspelt members field', yaml: 'apiVersion: maistra.io/v1\nkind: ServiceMeshMemberRoll\nmetadata: {name: default, namespace: istio-system}\nspec:\n  member: [bookinfo]\n', rule: 'schema.unknown-field', field: 'spec.member', message: 'did you mean "members"' },
];

for (const c of invalid) {
  test(`refuses ${c.name} (${c.rule} at ${c.field})`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

test('accepts a member roll of valid, distinct namespaces, and an empty one', () => {
  expectValid(smmr('[bookinfo, reviews-v2, a1]'), { noWarnings: true });
  expectValid(smmr('[]'), { noWarnings: true });
  expectValid('apiVersion: maistra.io/v1\nkind: ServiceMeshMemberRoll\nmetadata: {name: default, namespace: istio-system}\nspec: {}\n', { noWarnings: true });
});

test('warns that the control plane namespace is always a member, and only then', () => {
  const w = expectWarning(smmr('[bookinfo, istio-system]'), 'smmr.control-plane-member', 'spec.members[1]');
  assert.match(w.message, /always a member; entry ignored/);
  expectValid(smmr('[istio-system]', '{name: default, namespace: mesh-a}'), { noWarnings: true });
});

test('normalizeMemberRoll drops the control plane namespace without touching the input', () => {
  const input = parse(smmr('[istio-system, bookinfo, istio-system]')) as { spec: { members: string[] } };
  const before = structuredClone(input);
  const out = normalizeMemberRoll(input);
  assert.deepEqual(out.spec.members, ['bookinfo']);
  assert.deepEqual(input, before);
  // Nothing to do without a namespace or without members; odd shapes come back as copies.
  const noNs = { apiVersion: 'maistra.io/v1', kind: 'ServiceMeshMemberRoll', metadata: { name: 'default' }, spec: { members: ['istio-system'] } };
  assert.deepEqual(normalizeMemberRoll(noNs), noNs);
  assert.notEqual(normalizeMemberRoll(noNs), noNs);
  assert.equal(normalizeMemberRoll(null), null);
  assert.deepEqual(normalizeMemberRoll({ metadata: { namespace: 'x' }, spec: { members: 'x' } }), { metadata: { namespace: 'x' }, spec: { members: 'x' } });
});

test('after normalisation the warning is gone', () => {
  const input = parse(smmr('[bookinfo, istio-system]')) as object;
  expectValid(JSON.stringify(normalizeMemberRoll(input)), { noWarnings: true });
});
