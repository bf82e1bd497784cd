// PushContext.requestAuthentications(): which RequestAuthentications apply to a workload (namespace, root namespace, selectors) and in what order; the remote key sets they need.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '../../src/api/kind.js';
import { MemoryStore } from '../../src/config/memory-store.js';
import { FAIL_CLOSED_JWKS } from '../../src/model/jwks.js';
import { jwksSourcesOf } from '../../src/model/push/request-authentication.js';
import type { PushContext } from '../../src/model/push-context.js';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';

const ROOT = 'istio-system';

/** A RequestAuthentication document; `ts` pins its creationTimestamp. */
function ra(ns: string, name: string, opts: { selector?: string; rules?: string; ts?: string } = {}): string {
  return `apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${opts.ts ?? '2024-01-01T00:00:00Z'}"}
spec:
${opts.selector ? `  selector: {matchLabels: ${opts.selector}}\n` : ''}  jwtRules:
${opts.rules ?? `  - {issuer: "${name}@example.com", jwksUri: "https://keys.example.com/${name}.json"}`}
---
`;
}

function pushWith(yaml: string): { push: PushContext; store: MemoryStore } {
  const store = new MemoryStore();
  if (yaml !== '') applyYaml(store, yaml);
  return { push: pushOf(store), store };
}

const applied = (push: PushContext, ns: string, labels: Record<string, string>) => push.requestAuthentications(ns, labels).map((c) => `${c.namespace}/${c.name}`);

test('without RequestAuthentication no workload has any', () => {
  const { push } = pushWith('');
  assert.deepEqual(applied(push, 'bookinfo', { app: 'reviews' }), []);
  assert.deepEqual(applied(push, ROOT, {}), []);
});

test('a policy without selector covers its own namespace only; one in the root namespace covers every namespace', () => {
  const { push } = pushWith(ra('bookinfo', 'ns-wide') + ra(ROOT, 'mesh-wide'));
  assert.deepEqual(applied(push, 'bookinfo', { app: 'reviews' }), ['bookinfo/ns-wide', `${ROOT}/mesh-wide`]);
  assert.deepEqual(applied(push, 'other', { app: 'reviews' }), [`${ROOT}/mesh-wide`], 'another namespace sees only the mesh-wide policy');
  assert.deepEqual(applied(push, ROOT, { istio: 'ingressgateway' }), [`${ROOT}/mesh-wide`], 'the root namespace lists its policy once');
});

test('a selector applies when all its labels are among the workload\'s; an empty matchLabels is namespace-wide', () => {
  const { push } = pushWith(ra('bookinfo', 'reviews-only', { selector: '{app: reviews}' }) + ra('bookinfo', 'v2-only', { selector: '{app: reviews, version: v2}', ts: '2024-01-02T00:00:00Z' }) + ra('bookinfo', 'empty', { selector: '{}', ts: '2024-01-03T00:00:00Z' }));
  assert.deepEqual(applied(push, 'bookinfo', { app: 'reviews', version: 'v2' }), ['bookinfo/reviews-only', 'bookinfo/v2-only', 'bookinfo/empty']);
  assert.deepEqual(applied(push, 'bookinfo', { app: 'reviews', version: 'v1' }), ['bookinfo/reviews-only', 'bookinfo/empty']);
  assert.deepEqual(applied(push, 'bookinfo', { app: 'ratings' }), ['bookinfo/empty']);
  assert.deepEqual(applied(push, 'bookinfo', {}), ['bookinfo/empty'], 'a workload without labels is matched by no selector');
  assert.deepEqual(applied(push, 'other', { app: 'reviews', version: 'v2' }), [], 'a selector never reaches another namespace');
});

test('as in Istio 1.6, a root-namespace policy with a selector applies to matching workloads of every namespace', () => {
  const { push } = pushWith(ra(ROOT, 'gateways', { selector: '{istio: ingressgateway}' }));
  assert.deepEqual(applied(push, ROOT, { istio: 'ingressgateway' }), [`${ROOT}/gateways`]);
  assert.deepEqual(applied(push, 'edge', { istio: 'ingressgateway' }), [`${ROOT}/gateways`]);
  assert.deepEqual(applied(push, 'bookinfo', { app: 'reviews' }), []);
});

test('order: the workload namespace oldest first (ties by name), then the root namespace oldest first — whatever the store order', () => {
  const yaml =
    ra(ROOT, 'z-root-old', { ts: '2023-06-01T00:00:00Z' }) +
    ra('bookinfo', 'b-young', { ts: '2024-03-01T00:00:00Z' }) +
    ra(ROOT, 'a-root-young', { ts: '2024-05-01T00:00:00Z' }) +
    ra('bookinfo', 'c-old', { ts: '2024-01-01T00:00:00Z' }) +
    ra('bookinfo', 'a-old', { ts: '2024-01-01T00:00:00Z' });
  const expected = ['bookinfo/a-old', 'bookinfo/c-old', 'bookinfo/b-young', `${ROOT}/z-root-old`, `${ROOT}/a-root-young`];
  assert.deepEqual(applied(pushWith(yaml).push, 'bookinfo', { app: 'x' }), expected);
  // The same objects applied in reverse order give the same answer.
  const reversed = yaml.split('---\n').filter((d) => d.trim() !== '').reverse().join('---\n');
  assert.deepEqual(applied(pushWith(reversed).push, 'bookinfo', { app: 'x' }), expected);
});

test('answers are frozen and shared between workloads with the same labels; later store changes do not show through', () => {
  const { push, store } = pushWith(ra('bookinfo', 'ns-wide'));
  const a = push.requestAuthentications('bookinfo', { app: 'reviews' });
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a[0]) && Object.isFrozen(a[0]!.spec.jwtRules));
  assert.equal(push.requestAuthentications('bookinfo', { app: 'reviews' }), a);
  applyYaml(store, ra('bookinfo', 'added-later'));
  assert.deepEqual(applied(push, 'bookinfo', { app: 'reviews' }), ['bookinfo/ns-wide'], 'the push was built before the change');
  assert.deepEqual(applied(pushOf(store), 'bookinfo', { app: 'reviews' }), ['bookinfo/added-later', 'bookinfo/ns-wide']);
});

test('a push built without a resolver reads every remote key set as pending: the empty, fail-closed key set', () => {
  const { push } = pushWith(ra('bookinfo', 'ns-wide'));
  const k = push.jwks.keysFor({ issuer: 'ns-wide@example.com', jwksUri: 'https://keys.example.com/ns-wide.json' });
  assert.deepEqual(k, { jwks: FAIL_CLOSED_JWKS, state: 'pending' });
  assert.deepEqual(JSON.parse(k.jwks), { keys: [] });
});

test('jwksSourcesOf: one source per jwksUri, one per issuer without jwksUri (OpenID discovery), none for inline jwks; sorted', () => {
  const store = new MemoryStore();
  applyYaml(
    store,
    ra('a', 'one', {
      rules: `  - {issuer: "https://accounts.example.com", jwksUri: "https://keys.example.com/shared.json"}
  - {issuer: "other-issuer", jwksUri: "https://keys.example.com/shared.json"}
  - {issuer: "https://discover.example.com"}
  - issuer: inline
    jwks: '{"keys": [{"kty": "RSA", "e": "AQAB", "n": "xyz"}]}'`,
    }) + ra('b', 'two', { rules: '  - {issuer: "https://discover.example.com"}\n  - {issuer: "x", jwksUri: "https://a.example.com/k.json"}' }),
  );
  const sources = jwksSourcesOf(store.list({ kind: 'RequestAuthentication' }) as Resource[]);
  assert.deepEqual(sources, [
    { issuer: 'https://discover.example.com' },
    { issuer: 'x', jwksUri: 'https://a.example.com/k.json' },
    { issuer: 'https://accounts.example.com', jwksUri: 'https://keys.example.com/shared.json' },
  ]);
});
