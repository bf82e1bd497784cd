// PeerAuthentication validation: Istio 1.6's rules (port-level mTLS needs a selector, ports 1..65535) and selector checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, expectError, expectValid, expectWarning } from '../helpers/validation.js';

const pa = (spec: string, ns = 'foo') => `apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: ${ns}}\nspec:\n${spec}`;
const workload = (portLevel: string) => pa(`  selector:\n    matchLabels: {app: finance}\n  mtls: {mode: STRICT}\n  portLevelMtls:\n${portLevel}`);

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  { name: 'portLevelMtls without a selector', yaml: pa('  mtls: {mode: STRICT}\n  portLevelMtls:\n    "8080": {mode: DISABLE}\n'), rule: 'pa.port-level-selector', field: 'spec.portLevelMtls', message: 'cannot have portLevelMtls' },
  { name: 'portLevelMtls with empty matchLabels', yaml: pa('  selector: {matchLabels: {}}\n  portLevelMtls:\n    "8080": {mode: DISABLE}\n'), rule: 'pa.port-level-selector', field: 'spec.portLevelMtls' },
  { name: 'portLevelMtls with a selector that has no matchLabels', yaml: pa('  selector: {}\n  portLevelMtls:\n    "8080": {mode: DISABLE}\n'), rule: 'pa.port-level-selector', field: 'spec.portLevelMtls' },
  { name: 'an empty portLevelMtls', yaml: workload('    {}\n'), rule: 'pa.port-level-empty', field: 'spec.portLevelMtls' },
  { name: 'port 0', yaml: workload('    "0": {mode: DISABLE}\n'), rule: 'pa.port-level-port', field: 'spec.portLevelMtls["0"]', message: 'cannot be 0' },
  { name: 'port 65536', yaml: workload('    "65536": {mode: DISABLE}\n'), rule: 'pa.port-level-port', field: 'spec.portLevelMtls["65536"]', message: '1..65535' },
  { name: 'a port name instead of a number', yaml: workload('    http: {mode: DISABLE}\n'), rule: 'pa.port-level-port', field: 'spec.portLevelMtls.http' },
  { name: 'a negative port', yaml: workload('    "-1": {mode: DISABLE}\n'), rule: 'pa.port-level-port', field: 'spec.portLevelMtls["-1"]' },
  { name: 'a port with leading zeros', yaml: workload('    "080": {mode: DISABLE}\n'), rule: 'pa.port-level-port', field: 'spec.portLevelMtls["080"]', message: 'leading zeros' },
  { name: 'a port range', yaml: workload('    "8000-8080": {mode: DISABLE}\n'), rule: 'pa.port-level-port', field: 'spec.portLevelMtls["8000-8080"]' },
  { name: 'an unknown mTLS mode', yaml: pa('  mtls: {mode: MUTUAL}\n'), rule: 'schema.type', field: 'spec.mtls.mode' },
  { name: 'an unknown port-level mTLS mode', yaml: workload('    "8080": {mode: strict}\n'), rule: 'schema.type', field: 'spec.portLevelMtls["8080"].mode' },
  { name: 'a misspelt mtls field', yaml: pa('  mTLS: {mode: STRICT}\n'), rule: 'schema.unknown-field', field: 'spec.mTLS' },
  { name: 'a v1alpha1 peers field', yaml: pa('  peers:\n  - mtls: {}\n'), rule: 'schema.unknown-field', field: 'spec.peers' },
  { name: 'a wildcard selector value', yaml: pa('  selector: {matchLabels: {app: "*"}}\n  mtls: {mode: STRICT}\n'), rule: 'common.labels', field: 'spec.selector.matchLabels.app', message: 'wildcard' },
  { name: 'an invalid selector label key', yaml: pa('  selector: {matchLabels: {"app/": finance}}\n  mtls: {mode: STRICT}\n'), rule: 'common.labels', field: 'spec.selector.matchLabels["app/"]' },
  { name: 'an empty selector label key', yaml: pa('  selector: {matchLabels: {"": finance}}\n  mtls: {mode: STRICT}\n'), rule: 'common.labels', field: 'spec.selector.matchLabels[""]' },
  { name: 'a numeric selector label value', yaml: pa('  selector: {matchLabels: {version: 2}}\n  mtls: {mode: STRICT}\n'), rule: 'schema.type', field: 'spec.selector.matchLabels.version' },
  { name: 'a v1beta1 workloadSelector-style labels field', yaml: pa('  selector: {labels: {app: finance}}\n  mtls: {mode: STRICT}\n'), rule: 'schema.unknown-field', field: 'spec.selector.labels' },
];

for (const c of invalid) {
  test(`PeerAuthentication: refuses ${c.name}`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

test('PeerAuthentication: reports every bad port of one policy, not only the first', () => {
  const r = check(workload('    "0": {mode: DISABLE}\n    "99999": {mode: DISABLE}\n    "8080": {mode: PERMISSIVE}\n'));
  assert.deepEqual(r.errors.map((e) => e.rule), ['pa.port-level-port', 'pa.port-level-port']);
});

test('PeerAuthentication: accepts mesh-wide STRICT in the root namespace', () => {
  expectValid(pa('  mtls: {mode: STRICT}\n', 'istio-system'), { noWarnings: true });
});

test('PeerAuthentication: accepts a policy with only a selector and port-level modes, including UNSET', () => {
  expectValid(workload('    "8080": {mode: DISABLE}\n    "9090": {mode: UNSET}\n    "65535": {mode: PERMISSIVE}\n    "1": {}\n'), { noWarnings: true });
});

test('PeerAuthentication: accepts an empty spec (inherits everything)', () => {
  expectValid(pa('  {}\n'), { noWarnings: true });
});

test('PeerAuthentication: warns that a selector without labels selects the whole namespace', () => {
  expectWarning(pa('  selector: {matchLabels: {}}\n  mtls: {mode: STRICT}\n'), 'pa.selector-empty', 'spec.selector.matchLabels');
  expectValid(pa('  selector: {matchLabels: {}}\n  mtls: {mode: STRICT}\n'));
});

test('PeerAuthentication: is served only as security.istio.io/v1beta1', () => {
  expectError(pa('  mtls: {mode: STRICT}\n').replace('v1beta1', 'v1alpha1'), 'resource.api-version', 'apiVersion');
});
