// ServiceMeshExtension validation (WASM-02): image reference, phase, priority, workload selector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectError, expectValid } from '../helpers/validation.js';
import { imageReferenceProblem } from '../../src/api/kinds/service-mesh-extension.js';

const sme = (spec: string) => `apiVersion: maistra.io/v1alpha1\nkind: ServiceMeshExtension\nmetadata: {name: header-append, namespace: bookinfo}\nspec:\n${spec}`;
const withImage = (image: string) => sme(`  image: ${JSON.stringify(image)}\n  phase: PostAuthZ\n`);
const digest = 'a'.repeat(64);

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  { name: 'no image', yaml: sme('  phase: PostAuthZ\n  priority: 100\n'), rule: 'sme.image-required', field: 'spec.image' },
  { name: 'an empty image', yaml: withImage(''), rule: 'sme.image-required', field: 'spec.image' },
  { name: 'an upper-case repository', yaml: withImage('quay.io/maistra-dev/Header-Append:latest'), rule: 'sme.image-reference', field: 'spec.image', message: 'lower-case repository' },
  { name: 'an upper-case first path component', yaml: withImage('Maistra/header-append:2.0'), rule: 'sme.image-reference', field: 'spec.image', message: 'must be lower case' },
  { name: 'a short digest', yaml: withImage('quay.io/maistra-dev/header-append@sha256:abc'), rule: 'sme.image-reference', field: 'spec.image', message: '64 lower-case hex digits' },
  { name: 'a digest of another algorithm', yaml: withImage(`quay.io/maistra-dev/header-append@md5:${digest}`), rule: 'sme.image-reference', field: 'spec.image' },
  { name: 'a tag with a slash', yaml: withImage('quay.io/maistra-dev/header-append:2.0/x'), rule: 'sme.image-reference', field: 'spec.image' },
  { name: 'an empty tag', yaml: withImage('quay.io/maistra-dev/header-append:'), rule: 'sme.image-reference', field: 'spec.image' },
  { name: 'a URL instead of an image', yaml: withImage('https://example.com/filter.wasm'), rule: 'sme.image-reference', field: 'spec.image' },
  { name: 'spaces in the image', yaml: withImage('quay.io/maistra dev/filter'), rule: 'sme.image-reference', field: 'spec.image' },
  { name: 'an unknown phase', yaml: sme('  image: quay.io/maistra-dev/header-append:2.0\n  phase: PreRouting\n'), rule: 'schema.type', field: 'spec.phase', message: 'PreAuthN, PostAuthN, PreAuthZ, PostAuthZ, PreStats, PostStats' },
  { name: 'a phase in the wrong case', yaml: sme('  image: quay.io/maistra-dev/header-append:2.0\n  phase: postauthz\n'), rule: 'schema.type', field: 'spec.phase' },
  { name: 'a priority beyond int32', yaml: sme('  image: quay.io/maistra-dev/header-append:2.0\n  priority: 2147483648\n'), rule: 'schema.range', field: 'spec.priority' },
  { name: 'a fractional priority', yaml: sme('  image: quay.io/maistra-dev/header-append:2.0\n  priority: 1.5\n'), rule: 'schema.type', field: 'spec.priority' },
  { name: 'an object config in v1alpha1', yaml: sme('  image: quay.io/maistra-dev/header-append:2.0\n  config: {header: x}\n'), rule: 'schema.type', field: 'spec.config' },
  { name: 'an invalid selector label', yaml: sme('  image: quay.io/maistra-dev/header-append:2.0\n  workloadSelector:\n    labels: {app: "-httpbin"}\n'), rule: 'common.labels', field: 'spec.workloadSelector.labels.app' },
  { name: 'a v1 maistra.io version', yaml: 'apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {name: x}\nspec: {image: quay.io/a/b}\n', rule: 'resource.api-version', field: 'apiVersion' },
];

for (const c of invalid) {
  test(`refuses ${c.name} (${c.rule} at ${c.field})`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

test('accepts every phase, negative priorities, and references with registries, ports, tags and digests', () => {
  for (const phase of ['PreAuthN', 'PostAuthN', 'PreAuthZ', 'PostAuthZ', 'PreStats', 'PostStats']) {
    expectValid(sme(`  image: quay.io/maistra-dev/header-append:2.0\n  phase: ${phase}\n  priority: -10\n`), { noWarnings: true });
  }
  for (const image of [
    'header-append',
    'maistra/header-append',
    'quay.io/maistra-dev/header-append-filter:2.0',
    'localhost/filters/a_b__c.d-e:v1',
    'localhost:5000/filters/header-append',
    'image-registry.openshift-image-registry.svc:5000/bookinfo/header-append:latest',
    'Quay.IO/maistra/header-append',
    `quay.io/maistra-dev/header-append@sha256:${digest}`,
    `quay.io/maistra-dev/header-append:2.0@sha256:${digest}`,
    '[fd00::1]:5000/filters/x',
  ]) {
    assert.equal(imageReferenceProblem(image), undefined, image);
    expectValid(withImage(image), { noWarnings: true });
  }
});

test('an extension without phase or priority takes them from the image manifest', () => {
  expectValid(sme('  image: quay.io/maistra-dev/header-append:2.0\n'), { noWarnings: true });
});
