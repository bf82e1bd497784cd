// ServiceMeshMember validation (MT-15): the name, the control plane reference, and its immutability on update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { Issues, formatPath } from '../../src/api/diagnostics.js';
import { ruleById } from '../../src/api/rules.js';
import { expectError, expectValid } from '../helpers/validation.js';
import { checkMemberUpdate } from '../../src/api/kinds/service-mesh-member.js';

const smm = (spec: string, meta = '{name: default, namespace: bookinfo}') => `apiVersion: maistra.io/v1\nkind: ServiceMeshMember\nmetadata: ${meta}\nspec:\n${spec}`;
const ref = (r: string) => smm(`  controlPlaneRef: ${r}\n`);

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  { name: 'a member not named default', yaml: smm('  controlPlaneRef: {name: basic, namespace: istio-system}\n', '{name: bookinfo, namespace: bookinfo}'), rule: 'smm.name', field: 'metadata.name', message: 'must be named "default"' },
  { name: 'no control plane reference', yaml: smm('  {}\n'), rule: 'smm.control-plane-ref', field: 'spec.controlPlaneRef' },
  { name: 'a reference without a namespace', yaml: ref('{name: basic}'), rule: 'smm.control-plane-ref', field: 'spec.controlPlaneRef.namespace', message: 'is required' },
  { name: 'a reference without a name', yaml: ref('{namespace: istio-system}'), rule: 'smm.control-plane-ref', field: 'spec.controlPlaneRef.name' },
  { name: 'a reference with an empty name', yaml: ref('{name: "", namespace: istio-system}'), rule: 'smm.control-plane-ref', field: 'spec.controlPlaneRef.name' },
  { name: 'a control plane name that is not a DNS label', yaml: ref('{name: Basic_CP, namespace: istio-system}'), rule: 'smm.control-plane-ref', field: 'spec.controlPlaneRef.name' },
  { name: 'a control plane namespace with a dot', yaml: ref('{name: basic, namespace: istio.system}'), rule: 'smm.control-plane-ref', field: 'spec.controlPlaneRef.namespace' },
  { name: 'a reference given as a string', yaml: ref('istio-system/basic'), rule: 'schema.type', field: 'spec.controlPlaneRef' },
  { name: 'an unknown reference field', yaml: ref('{name: basic, namespace: istio-system, kind: ServiceMeshControlPlane}'), rule: 'schema.unknown-field', field: 'spec.controlPlaneRef.kind' },
];

for (const c of invalid) {
  test(`refuses ${c.name} (${c.rule} at ${c.field})`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

test('accepts a member that names its control plane', () => {
  expectValid(ref('{name: basic, namespace: istio-system}'), { noWarnings: true });
});

const member = (name: string, namespace: string) => parse(ref(`{name: ${name}, namespace: ${namespace}}`)) as unknown;

test('refuses changing the control plane reference on update', () => {
  for (const [before, after] of [[member('basic', 'istio-system'), member('other', 'istio-system')], [member('basic', 'istio-system'), member('basic', 'mesh-b')], [member('basic', 'istio-system'), parse(smm('  {}\n'))]]) {
    const issues = new Issues();
    checkMemberUpdate(before, after, issues);
    assert.equal(issues.errors.length, 1);
    const e = issues.errors[0]!;
    assert.equal(e.rule, 'smm.control-plane-ref-immutable');
    assert.equal(formatPath(e.path), 'spec.controlPlaneRef');
    assert.match(e.message, /Mutation of \.spec\.controlPlaneRef isn't allowed/);
    assert.ok(ruleById(e.rule), 'the rule is declared');
  }
});

test('accepts an update that keeps the reference, whatever else changes', () => {
  const before = member('basic', 'istio-system') as { metadata: { labels?: Record<string, string> } };
  const after = structuredClone(before);
  after.metadata.labels = { team: 'bookinfo' };
  const issues = new Issues();
  checkMemberUpdate(before, after, issues);
  assert.deepEqual(issues.errors, []);
  checkMemberUpdate('not an object', 42, issues);
  assert.deepEqual(issues.errors, [], 'two objects without a reference have the same (absent) one');
});
