// WorkloadEntry validation: accepted for compatibility with a warning (no VMs in OpenShift Service Mesh 2.0), with Istio 1.6's address rule and port/label checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, expectError, expectValid, expectWarning } from '../helpers/validation.js';

const we = (spec: string, version = 'v1beta1') => `apiVersion: networking.istio.io/${version}\nkind: WorkloadEntry\nmetadata: {name: details-vm, namespace: bookinfo}\nspec:\n${spec}`;

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  { name: 'no address', yaml: we('  labels: {app: details}\n'), rule: 'we.address-required', field: 'spec.address' },
  { name: 'an empty address', yaml: we('  address: ""\n'), rule: 'we.address-required', field: 'spec.address' },
  { name: 'an address with a port', yaml: we('  address: "2.2.2.2:9080"\n'), rule: 'we.address', field: 'spec.address' },
  { name: 'a relative unix socket', yaml: we('  address: unix://run/app.sock\n'), rule: 'we.address', field: 'spec.address', message: 'absolute path' },
  { name: 'an address with a space', yaml: we('  address: "vm 1.example.com"\n'), rule: 'we.address', field: 'spec.address' },
  { name: 'a port over 65535', yaml: we('  address: 2.2.2.2\n  ports: {http: 99999}\n'), rule: 'we.port', field: 'spec.ports.http' },
  { name: 'a port named with an underscore', yaml: we('  address: 2.2.2.2\n  ports: {http_alt: 8080}\n'), rule: 'we.port', field: 'spec.ports.http_alt' },
  { name: 'a label value too long', yaml: we(`  address: 2.2.2.2\n  labels: {app: ${'a'.repeat(64)}}\n`), rule: 'common.labels', field: 'spec.labels.app' },
  { name: 'an invalid service account', yaml: we('  address: 2.2.2.2\n  serviceAccount: bookinfo/details\n'), rule: 'we.service-account', field: 'spec.serviceAccount' },
  { name: 'a negative weight', yaml: we('  address: 2.2.2.2\n  weight: -1\n'), rule: 'schema.range', field: 'spec.weight' },
];

for (const c of invalid) {
  test(`refuses ${c.name}`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

for (const [name, spec] of [
  ['an IPv4 VM', '  address: 2.2.2.2\n  ports: {http: 9080}\n  labels: {app: details, version: v1}\n  network: vm-network\n  locality: us-east/zone1\n  weight: 10\n  serviceAccount: bookinfo-details\n'],
  ['an IPv6 VM', '  address: "2001:db8::5"\n'],
  ['a DNS name', '  address: details.vm.example.com\n'],
  ['a unix socket', '  address: unix:///var/run/details.sock\n'],
] as const) {
  test(`accepts ${name}, warning that WorkloadEntry is unsupported`, () => {
    const yaml = we(spec);
    expectValid(yaml);
    expectWarning(yaml, 'we.unsupported', 'kind');
    assert.equal(check(yaml).warnings.length, 1);
  });
}

test('is served as v1alpha3 too', () => {
  expectValid(we('  address: 2.2.2.2\n', 'v1alpha3'));
  expectError(we('  address: "bad address"\n', 'v1alpha3'), 'we.address', 'spec.address');
});
