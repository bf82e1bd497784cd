// PushContext.authorizationPolicies(): which AuthorizationPolicies apply to a workload (root namespace, namespace, selectors), grouped by action, in a fixed order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/config/memory-store.js';
import type { PushContext, WorkloadAuthorizationPolicies } from '../../src/model/push-context.js';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';

const ROOT = 'istio-system';

/** An AuthorizationPolicy document; `ts` pins its creationTimestamp. */
function ap(ns: string, name: string, spec: string, ts = '2024-01-01T00:00:00Z'): string {
  return `apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${ts}"}
spec:
${spec}
---
`;
}

function pushWith(yaml: string, mesh = {}): PushContext {
  const store = new MemoryStore();
  if (yaml !== '') applyYaml(store, yaml);
  return pushOf(store, mesh);
}

const refs = (w: WorkloadAuthorizationPolicies) => ({
  deny: w.deny.map((p) => `${p.namespace}/${p.name}`),
  allow: w.allow.map((p) => `${p.namespace}/${p.name}`),
  audit: w.audit.map((p) => `${p.namespace}/${p.name}`),
});

test('without any AuthorizationPolicy no workload has a policy, and the answer is one shared empty object', () => {
  const push = pushWith('');
  const a = push.authorizationPolicies('bookinfo', { app: 'reviews' });
  assert.deepEqual(refs(a), { deny: [], allow: [], audit: [] });
  assert.equal(push.authorizationPolicies('other', {}), a);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.allow));
});

test('scope: a root-namespace policy without selector is mesh-wide, a namespace policy covers its namespace, a selector narrows to matching workloads', () => {
  const yaml =
    ap(ROOT, 'mesh-deny', '  action: DENY\n  rules: [{from: [{source: {namespaces: [evil]}}]}]') +
    ap('bookinfo', 'ns-allow', '  rules: [{}]') +
    ap('bookinfo', 'reviews-only', '  selector: {matchLabels: {app: reviews}}\n  action: DENY\n  rules: [{to: [{operation: {paths: [/admin]}}]}]') +
    ap('other', 'other-ns', '  rules: [{}]');
  const push = pushWith(yaml);
  assert.deepEqual(refs(push.authorizationPolicies('bookinfo', { app: 'reviews', version: 'v1' })), {
    deny: [`${ROOT}/mesh-deny`, 'bookinfo/reviews-only'],
    allow: ['bookinfo/ns-allow'],
    audit: [],
  });
  assert.deepEqual(refs(push.authorizationPolicies('bookinfo', { app: 'ratings' })), { deny: [`${ROOT}/mesh-deny`], allow: ['bookinfo/ns-allow'], audit: [] });
  // A workload of another namespace with the same labels is not selected by bookinfo's policies.
  assert.deepEqual(refs(push.authorizationPolicies('third', { app: 'reviews' })), { deny: [`${ROOT}/mesh-deny`], allow: [], audit: [] });
  // A gateway in the root namespace gets the mesh-wide policy once, not twice.
  assert.deepEqual(refs(push.authorizationPolicies(ROOT, { istio: 'ingressgateway' })), { deny: [`${ROOT}/mesh-deny`], allow: [], audit: [] });
});

test('a selector needs every one of its labels; an empty matchLabels selects every workload of the namespace', () => {
  const yaml =
    ap('bookinfo', 'v2', '  selector: {matchLabels: {app: reviews, version: v2}}\n  rules: [{}]') +
    ap('bookinfo', 'empty-selector', '  selector: {matchLabels: {}}\n  action: DENY\n  rules: [{}]');
  const push = pushWith(yaml);
  assert.deepEqual(refs(push.authorizationPolicies('bookinfo', { app: 'reviews', version: 'v2', extra: 'x' })).allow, ['bookinfo/v2']);
  assert.deepEqual(refs(push.authorizationPolicies('bookinfo', { app: 'reviews', version: 'v1' })).allow, []);
  assert.deepEqual(refs(push.authorizationPolicies('bookinfo', { app: 'reviews' })).allow, [], 'a missing label does not match');
  assert.deepEqual(refs(push.authorizationPolicies('bookinfo', {})).deny, ['bookinfo/empty-selector']);
});

test('a root-namespace policy with a selector applies to matching workloads of every namespace (Istio 1.6)', () => {
  const push = pushWith(ap(ROOT, 'all-reviews', '  selector: {matchLabels: {app: reviews}}\n  action: DENY\n  rules: [{}]'));
  assert.deepEqual(refs(push.authorizationPolicies('bookinfo', { app: 'reviews' })).deny, [`${ROOT}/all-reviews`]);
  assert.deepEqual(refs(push.authorizationPolicies('other', { app: 'reviews' })).deny, [`${ROOT}/all-reviews`]);
  assert.deepEqual(refs(push.authorizationPolicies('other', { app: 'ratings' })).deny, []);
});

test('grouped by action: absent means ALLOW; AUDIT has its own list', () => {
  const yaml = ap('bookinfo', 'a', '  rules: [{}]') + ap('bookinfo', 'b', '  action: ALLOW\n  rules: [{}]') + ap('bookinfo', 'c', '  action: DENY\n  rules: [{}]') + ap('bookinfo', 'd', '  action: AUDIT\n  rules: [{}]');
  assert.deepEqual(refs(pushWith(yaml).authorizationPolicies('bookinfo', {})), { deny: ['bookinfo/c'], allow: ['bookinfo/a', 'bookinfo/b'], audit: ['bookinfo/d'] });
});

test('order: root namespace first, then the workload namespace; oldest first, equal times by name — whatever order they were applied in', () => {
  const yaml =
    ap('bookinfo', 'zeta', '  rules: [{}]', '2024-01-01T00:00:00Z') +
    ap('bookinfo', 'late', '  rules: [{}]', '2024-03-01T00:00:00Z') +
    ap('bookinfo', 'alpha', '  rules: [{}]', '2024-01-01T00:00:00Z') +
    ap(ROOT, 'root-new', '  rules: [{}]', '2024-06-01T00:00:00Z') +
    ap(ROOT, 'root-old', '  rules: [{}]', '2023-01-01T00:00:00Z') +
    ap('bookinfo', 'early', '  rules: [{}]', '2023-06-01T00:00:00Z');
  const expected = [`${ROOT}/root-old`, `${ROOT}/root-new`, 'bookinfo/early', 'bookinfo/alpha', 'bookinfo/zeta', 'bookinfo/late'];
  assert.deepEqual(refs(pushWith(yaml).authorizationPolicies('bookinfo', {})).allow, expected);
  // Applied in the reverse order: same answer.
  const reversed = yaml.split('---\n').filter((d) => d !== '').reverse().join('---\n');
  assert.deepEqual(refs(pushWith(reversed).authorizationPolicies('bookinfo', {})).allow, expected);
});

test('workloads selected by the same policies share one frozen answer; different selections do not', () => {
  const yaml = ap('bookinfo', 'ns', '  rules: [{}]') + ap('bookinfo', 'reviews', '  selector: {matchLabels: {app: reviews}}\n  action: DENY\n  rules: [{}]');
  const push = pushWith(yaml);
  const a = push.authorizationPolicies('bookinfo', { app: 'reviews', 'pod-template-hash': '1' });
  const b = push.authorizationPolicies('bookinfo', { app: 'reviews', 'pod-template-hash': '2' });
  assert.equal(a, b);
  assert.notEqual(push.authorizationPolicies('bookinfo', { app: 'ratings' }), a);
  assert.ok(Object.isFrozen(a.deny[0]!.spec), 'the spec generators read is frozen');
});

test('a root namespace set in the mesh config decides what is mesh-wide', () => {
  const yaml = ap('custom-root', 'mesh', '  action: DENY\n  rules: [{}]') + ap(ROOT, 'not-root', '  action: DENY\n  rules: [{}]');
  const push = pushWith(yaml, { rootNamespace: 'custom-root' });
  assert.deepEqual(refs(push.authorizationPolicies('bookinfo', {})).deny, ['custom-root/mesh']);
});
