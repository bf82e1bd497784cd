// PushContext.peerAuthentication(): mesh → namespace → workload → port precedence, UNSET inheritance, oldest wins, selectors, the root namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/config/memory-store.js';
import type { EffectivePeerAuthentication } from '../../src/model/push-context.js';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';

const ROOT = 'istio-system';

/** A PeerAuthentication document; `ts` pins its creationTimestamp. */
function pa(ns: string, name: string, spec: string, ts = '2024-01-01T00:00:00Z'): string {
  return `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${ts}"}
spec:
${spec}
---
`;
}

function effective(yaml: string, ns: string, labels: Record<string, string>, mesh = {}): EffectivePeerAuthentication {
  const store = new MemoryStore();
  if (yaml !== '') applyYaml(store, yaml);
  return pushOf(store, mesh).peerAuthentication(ns, labels);
}

const names = (e: EffectivePeerAuthentication) => e.policies.map((p) => `${p.namespace}/${p.name}`);

test('without any PeerAuthentication every workload and port is PERMISSIVE', () => {
  const e = effective('', 'bookinfo', { app: 'reviews' });
  assert.equal(e.mode, 'PERMISSIVE');
  assert.equal(e.modeFor(9080), 'PERMISSIVE');
  assert.equal(e.portModes.size, 0);
  assert.deepEqual(e.policies, []);
});

test('precedence: the workload policy beats the namespace policy, which beats the mesh policy; port-level beats them all', () => {
  const yaml =
    pa(ROOT, 'default', '  mtls: {mode: STRICT}') +
    pa('legacy', 'default', '  mtls: {mode: DISABLE}') +
    pa('bookinfo', 'reviews', '  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: PERMISSIVE}\n  portLevelMtls:\n    "9080": {mode: DISABLE}\n    "9443": {mode: STRICT}');
  // Mesh level only.
  assert.equal(effective(yaml, 'bookinfo', { app: 'ratings' }).mode, 'STRICT');
  assert.equal(effective(yaml, 'bookinfo', { app: 'ratings' }).modeFor(9080), 'STRICT', 'port-level of another workload does not leak');
  // Namespace level over mesh.
  const legacy = effective(yaml, 'legacy', { app: 'reviews' });
  assert.equal(legacy.mode, 'DISABLE');
  assert.deepEqual(names(legacy), [`${ROOT}/default`, 'legacy/default']);
  // Workload over mesh, ports over workload.
  const reviews = effective(yaml, 'bookinfo', { app: 'reviews', version: 'v2' });
  assert.equal(reviews.mode, 'PERMISSIVE');
  assert.equal(reviews.modeFor(9080), 'DISABLE');
  assert.equal(reviews.modeFor(9443), 'STRICT');
  assert.equal(reviews.modeFor(7000), 'PERMISSIVE', 'a port the policy does not name takes the workload mode');
  assert.deepEqual([...reviews.portModes], [[9080, 'DISABLE'], [9443, 'STRICT']]);
  assert.deepEqual(names(reviews), [`${ROOT}/default`, 'bookinfo/reviews']);
});

test('UNSET (or no mtls at all) inherits from the level above; an UNSET port takes the workload\'s resolved mode', () => {
  const yaml =
    pa(ROOT, 'default', '  mtls: {mode: STRICT}') +
    pa('bookinfo', 'default', '  mtls: {mode: UNSET}') +
    pa('bookinfo', 'reviews', '  selector: {matchLabels: {app: reviews}}\n  portLevelMtls:\n    "8080": {mode: UNSET}\n    "9080": {mode: DISABLE}');
  const reviews = effective(yaml, 'bookinfo', { app: 'reviews' });
  assert.equal(reviews.mode, 'STRICT', 'workload (no mtls) → namespace (UNSET) → mesh STRICT');
  assert.equal(reviews.modeFor(8080), 'STRICT', 'UNSET port → the workload mode');
  assert.equal(reviews.modeFor(9080), 'DISABLE');
  assert.equal(effective(yaml, 'bookinfo', { app: 'ratings' }).mode, 'STRICT');

  // An UNSET chain all the way up ends in PERMISSIVE.
  const allUnset = pa(ROOT, 'default', '  mtls: {}') + pa('bookinfo', 'reviews', '  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: UNSET}\n  portLevelMtls:\n    "8080": {}');
  const e = effective(allUnset, 'bookinfo', { app: 'reviews' });
  assert.deepEqual([e.mode, e.modeFor(8080)], ['PERMISSIVE', 'PERMISSIVE']);

  // The namespace level inherits too when the workload level is absent.
  const nsOnly = pa(ROOT, 'default', '  mtls: {mode: DISABLE}') + pa('bookinfo', 'default', '  mtls: {}');
  assert.equal(effective(nsOnly, 'bookinfo', {}).mode, 'DISABLE');
});

test('several policies at one level: only the oldest counts, ties broken by name, and it is not merged with the others', () => {
  const older = '2024-01-01T00:00:00Z';
  const newer = '2024-06-01T00:00:00Z';
  const ns = (a: string, b: string) => pa('bookinfo', 'a', '  mtls: {mode: STRICT}', a) + pa('bookinfo', 'b', '  mtls: {mode: DISABLE}', b);
  assert.equal(effective(ns(older, newer), 'bookinfo', {}).mode, 'STRICT');
  assert.equal(effective(ns(newer, older), 'bookinfo', {}).mode, 'DISABLE');
  assert.equal(effective(ns(older, older), 'bookinfo', {}).mode, 'STRICT', 'same time: name a before b');

  const mesh = pa(ROOT, 'x', '  mtls: {mode: DISABLE}', newer) + pa(ROOT, 'y', '  mtls: {mode: STRICT}', older);
  assert.equal(effective(mesh, 'bookinfo', {}).mode, 'STRICT');

  // Two workload policies select the pod: the older one decides, ports of the newer one are ignored.
  const workload =
    pa('bookinfo', 'new', '  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: DISABLE}\n  portLevelMtls:\n    "9080": {mode: STRICT}', newer) +
    pa('bookinfo', 'old', '  selector: {matchLabels: {version: v1}}\n  mtls: {mode: STRICT}', older);
  const e = effective(workload, 'bookinfo', { app: 'reviews', version: 'v1' });
  assert.deepEqual([e.mode, e.modeFor(9080), e.portModes.size], ['STRICT', 'STRICT', 0]);
  assert.deepEqual(names(e), ['bookinfo/old']);
  // Without the older policy's label, the newer one applies.
  const v2 = effective(workload, 'bookinfo', { app: 'reviews', version: 'v2' });
  assert.deepEqual([v2.mode, v2.modeFor(9080)], ['DISABLE', 'STRICT']);
});

test('a selector applies only when all its labels are on the workload, in the policy\'s own namespace; an empty selector is namespace-wide', () => {
  const yaml = pa('bookinfo', 'reviews-v2', '  selector: {matchLabels: {app: reviews, version: v2}}\n  mtls: {mode: STRICT}');
  assert.equal(effective(yaml, 'bookinfo', { app: 'reviews', version: 'v2', extra: 'x' }).mode, 'STRICT');
  assert.equal(effective(yaml, 'bookinfo', { app: 'reviews' }).mode, 'PERMISSIVE', 'one label missing');
  assert.equal(effective(yaml, 'bookinfo', { app: 'reviews', version: 'v1' }).mode, 'PERMISSIVE', 'value differs');
  assert.equal(effective(yaml, 'other', { app: 'reviews', version: 'v2' }).mode, 'PERMISSIVE', 'another namespace');

  const empty = pa('bookinfo', 'all', '  selector: {matchLabels: {}}\n  mtls: {mode: DISABLE}');
  assert.equal(effective(empty, 'bookinfo', { app: 'anything' }).mode, 'DISABLE');
  assert.equal(effective(empty, 'other', { app: 'anything' }).mode, 'PERMISSIVE');
  // As a namespace-level policy it competes with the selector-less one by age, instead of overriding it.
  const both = pa('bookinfo', 'plain', '  mtls: {mode: STRICT}', '2024-01-01T00:00:00Z') + pa('bookinfo', 'all', '  selector: {matchLabels: {}}\n  mtls: {mode: DISABLE}', '2024-02-01T00:00:00Z');
  const e = effective(both, 'bookinfo', { app: 'anything' });
  assert.deepEqual([e.mode, names(e)], ['STRICT', ['bookinfo/plain']]);
});

test('the root namespace: without a selector it is mesh-wide; with one it is a workload policy for its own workloads only', () => {
  const yaml = pa(ROOT, 'default', '  mtls: {mode: STRICT}') + pa(ROOT, 'ingress', '  selector: {matchLabels: {app: tool}}\n  mtls: {mode: DISABLE}');
  // A matching workload of another namespace gets the mesh policy, not the selector's.
  assert.equal(effective(yaml, 'bookinfo', { app: 'tool' }).mode, 'STRICT');
  // A matching workload of the root namespace gets it as its workload policy.
  const inRoot = effective(yaml, ROOT, { app: 'tool' });
  assert.equal(inRoot.mode, 'DISABLE');
  assert.deepEqual(names(inRoot), [`${ROOT}/default`, `${ROOT}/ingress`]);
  assert.equal(effective(yaml, ROOT, { app: 'other' }).mode, 'STRICT');
  // The root namespace follows the mesh config.
  assert.equal(effective(pa('mesh-cp', 'default', '  mtls: {mode: DISABLE}'), 'bookinfo', {}, { rootNamespace: 'mesh-cp' }).mode, 'DISABLE');
  assert.equal(effective(pa(ROOT, 'default', '  mtls: {mode: DISABLE}'), 'bookinfo', {}, { rootNamespace: 'mesh-cp' }).mode, 'PERMISSIVE', 'istio-system is an ordinary namespace then');
});

test('namespaceMtlsMode reads the mesh and namespace levels only', () => {
  const store = new MemoryStore();
  applyYaml(store, pa(ROOT, 'default', '  mtls: {mode: STRICT}') + pa('legacy', 'default', '  mtls: {mode: DISABLE}') + pa('bookinfo', 'w', '  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: DISABLE}'));
  const push = pushOf(store);
  assert.equal(push.namespaceMtlsMode('bookinfo'), 'STRICT');
  assert.equal(push.namespaceMtlsMode('legacy'), 'DISABLE');
  assert.equal(push.peerAuthentication('bookinfo', { app: 'reviews' }).mode, 'DISABLE');
});

test('answers are frozen and shared by workloads that get the same policies', () => {
  const store = new MemoryStore();
  applyYaml(store, pa('bookinfo', 'w', '  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: STRICT}'));
  const push = pushOf(store);
  const a = push.peerAuthentication('bookinfo', { app: 'reviews', 'pod-template-hash': '1' });
  const b = push.peerAuthentication('bookinfo', { app: 'reviews', 'pod-template-hash': '2' });
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
  assert.notEqual(push.peerAuthentication('bookinfo', { app: 'ratings' }), a);
});
