// Who gets a sidecar (INJ-01..03, INJ-07): the annotation's spellings, selectors, the policy, namespace membership and labels, hard exclusions and already injected pods.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { injectionRequired } from '../../src/injector/policy.js';
import type { InjectionPolicyContext, NamespaceObject, Pod } from '../../src/injector/context.js';

function pod(opts: { ns?: string; annotations?: Record<string, string>; labels?: Record<string, string>; hostNetwork?: boolean } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'ratings-v1-7d9f-abcde', namespace: opts.ns ?? 'bookinfo', labels: { app: 'ratings', version: 'v1', ...(opts.labels ?? {}) }, annotations: opts.annotations ?? {} },
    spec: { containers: [{ name: 'ratings', image: 'ratings:1', ports: [{ containerPort: 9080 }] }], ...(opts.hostNetwork ? { hostNetwork: true } : {}) },
  };
}
const ns = (name: string, labels: Record<string, string> = {}): NamespaceObject => ({ metadata: { name, labels } });
const all: InjectionPolicyContext = { members: 'all' };
const inject = (value: string) => ({ 'sidecar.istio.io/inject': value });

test('INJ-01: every YAML 1.1 truthy spelling of sidecar.istio.io/inject injects, in any case', () => {
  for (const v of ['y', 'Y', 'yes', 'YES', 'Yes', 'true', 'TRUE', 'True', 'tRuE', 'on', 'ON', 'On']) {
    const d = injectionRequired(pod({ annotations: inject(v) }), undefined, all);
    assert.equal(d.inject, true, v);
    assert.equal(d.reason, `annotation sidecar.istio.io/inject is "${v}"`);
  }
});

test('INJ-01: any other value does not inject, and the reason quotes it', () => {
  for (const v of ['false', 'no', 'n', 'off', '1', 't', 'enabled', 'true ', ' yes', 'truee']) {
    const d = injectionRequired(pod({ annotations: inject(v) }), undefined, all);
    assert.equal(d.inject, false, v);
    assert.equal(d.reason, `annotation sidecar.istio.io/inject is "${v}" (only y, yes, true or on ask for a sidecar)`);
  }
});

test('INJ-01: absent or empty means the policy decides; the default policy (disabled) does not inject', () => {
  const absent = injectionRequired(pod(), undefined, all);
  assert.deepEqual(absent, { inject: false, reason: 'annotation sidecar.istio.io/inject is absent (Maistra injects only pods annotated sidecar.istio.io/inject: "true")' });
  const empty = injectionRequired(pod({ annotations: inject('') }), undefined, all);
  assert.equal(empty.inject, false);
  assert.match(empty.reason, /^annotation sidecar\.istio\.io\/inject is empty/);
  assert.equal(injectionRequired(pod(), undefined, { members: 'all', policy: 'disabled' }).inject, false);
});

test('policy enabled (autoInject: true): absent injects, an explicit false still does not', () => {
  const ctx: InjectionPolicyContext = { members: 'all', policy: 'enabled' };
  const d = injectionRequired(pod(), undefined, ctx);
  assert.deepEqual(d, { inject: true, reason: 'annotation sidecar.istio.io/inject is absent and the injection policy is enabled (spec.proxy.injection.autoInject: true)' });
  assert.equal(injectionRequired(pod({ annotations: inject('false') }), undefined, ctx).inject, false);
});

test('INJ-02: alwaysInjectSelector injects an unannotated pod; neverInjectSelector wins over it', () => {
  const always = { members: 'all' as const, alwaysInjectSelector: [{ matchLabels: { app: 'details' } }, { matchLabels: { app: 'ratings' } }] };
  assert.deepEqual(injectionRequired(pod(), undefined, always), { inject: true, reason: 'annotation sidecar.istio.io/inject is absent and the pod\'s labels match alwaysInjectSelector[1]' });
  const both = { ...always, neverInjectSelector: [{ matchExpressions: [{ key: 'version', operator: 'In' as const, values: ['v1'] }] }] };
  assert.deepEqual(injectionRequired(pod(), undefined, both), { inject: false, reason: 'annotation sidecar.istio.io/inject is absent and the pod\'s labels match neverInjectSelector[0]' });
  // Never also beats the enabled policy.
  assert.equal(injectionRequired(pod(), undefined, { ...both, policy: 'enabled' }).inject, false);
  // A selector that does not match leaves the policy to decide.
  assert.equal(injectionRequired(pod({ labels: { version: 'v2' } }), undefined, both).inject, true);
});

test('INJ-02: selectors are consulted only when the annotation is absent', () => {
  const ctx = { members: 'all' as const, alwaysInjectSelector: [{ matchLabels: { app: 'ratings' } }], neverInjectSelector: [{ matchLabels: { app: 'ratings' } }] };
  assert.equal(injectionRequired(pod({ annotations: inject('true') }), undefined, ctx).inject, true, 'annotation true beats neverInjectSelector');
  assert.equal(injectionRequired(pod({ annotations: inject('false') }), undefined, { members: 'all', alwaysInjectSelector: ctx.alwaysInjectSelector }).inject, false, 'annotation false beats alwaysInjectSelector');
});

test('INJ-02: empty and malformed selectors match nothing (Istio skips them) instead of every pod', () => {
  const ctx: InjectionPolicyContext = {
    members: 'all',
    neverInjectSelector: [{}, { matchExpressions: [{ key: 'app', operator: 'NotIn', values: [] }] }, { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] }],
    alwaysInjectSelector: [{ matchLabels: {} }, { matchExpressions: [{ key: 'app', operator: 'In', values: ['ratings'] }] }],
  };
  assert.deepEqual(injectionRequired(pod(), undefined, ctx), { inject: true, reason: 'annotation sidecar.istio.io/inject is absent and the pod\'s labels match alwaysInjectSelector[1]' });
});

test('INJ-03: namespaces outside the member roll are not injected; without a member roll every namespace is in the mesh', () => {
  const roll: InjectionPolicyContext = { members: new Set(['bookinfo']) };
  assert.equal(injectionRequired(pod({ annotations: inject('true') }), undefined, roll).inject, true);
  assert.deepEqual(injectionRequired(pod({ ns: 'outside', annotations: inject('true') }), undefined, roll), {
    inject: false,
    reason: 'namespace outside is not a member of the mesh (it is not listed in the ServiceMeshMemberRoll)',
  });
  assert.equal(injectionRequired(pod({ ns: 'outside', annotations: inject('true') }), undefined, all).inject, true);
  // A pod without metadata.namespace is in `default`.
  const p = pod({ annotations: inject('true') });
  delete p.metadata.namespace;
  assert.equal(injectionRequired(p, undefined, { members: new Set(['default']) }).inject, true);
  assert.equal(injectionRequired(p, undefined, roll).inject, false);
});

test('INJ-03: a namespace label never turns injection on', () => {
  const roll: InjectionPolicyContext = { members: new Set(['bookinfo']) };
  const labelSets: Array<Record<string, string>> = [{ 'istio-injection': 'enabled' }, { 'maistra.io/member-of': 'istio-system' }];
  for (const labels of labelSets) {
    assert.equal(injectionRequired(pod(), ns('bookinfo', labels), roll).inject, false, JSON.stringify(labels));
    assert.equal(injectionRequired(pod({ ns: 'outside', annotations: inject('true') }), ns('outside', labels), roll).inject, false, JSON.stringify(labels));
  }
});

test('INJ-03: the control plane namespace and namespaces labelled ignore-namespace, istio-injection=disabled or istio-env are excluded', () => {
  const ctx: InjectionPolicyContext = { members: new Set(['bookinfo', 'istio-system']), controlPlaneNamespace: 'istio-system' };
  const annotated = (n: string) => pod({ ns: n, annotations: inject('true') });
  assert.deepEqual(injectionRequired(annotated('istio-system'), undefined, ctx), {
    inject: false,
    reason: "namespace istio-system is the control plane's namespace, where Maistra never injects (it labels it maistra.io/ignore-namespace)",
  });
  const cases: Array<[Record<string, string>, string]> = [
    [{ 'maistra.io/ignore-namespace': '' }, 'namespace bookinfo is labelled maistra.io/ignore-namespace'],
    [{ 'maistra.io/ignore-namespace': 'ignore' }, 'namespace bookinfo is labelled maistra.io/ignore-namespace'],
    [{ 'istio-injection': 'disabled' }, 'namespace bookinfo is labelled istio-injection=disabled'],
    [{ 'istio-env': 'istio-system' }, "namespace bookinfo has the label istio-env, which Maistra's injector excludes"],
  ];
  for (const [labels, reason] of cases) assert.deepEqual(injectionRequired(annotated('bookinfo'), ns('bookinfo', labels), ctx), { inject: false, reason });
  // Other values of istio-injection do not exclude.
  assert.equal(injectionRequired(annotated('bookinfo'), ns('bookinfo', { 'istio-injection': 'enabled' }), ctx).inject, true);
});

test('INJ-03: hostNetwork pods and the Kubernetes system namespaces are never injected, whatever the annotation says', () => {
  assert.deepEqual(injectionRequired(pod({ annotations: inject('true'), hostNetwork: true }), undefined, all), {
    inject: false,
    reason: 'the pod uses the host network (hostNetwork: true), whose traffic a sidecar cannot intercept without redirecting the whole host',
  });
  for (const n of ['kube-system', 'kube-public']) {
    assert.deepEqual(injectionRequired(pod({ ns: n, annotations: inject('true') }), undefined, all), { inject: false, reason: `namespace ${n} is a Kubernetes system namespace` });
    assert.equal(injectionRequired(pod({ ns: n }), undefined, { members: 'all', policy: 'enabled' }).inject, false);
  }
});

test('a pod that already has a sidecar is not injected again', () => {
  const d = injectionRequired(pod({ annotations: { ...inject('true'), 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' } }), undefined, all);
  assert.deepEqual(d, { inject: false, reason: 'the pod already has a sidecar (annotation sidecar.istio.io/status is present)' });
});

test('INJ-07: with the object selector, only pods labelled sidecar.istio.io/inject=true reach the injector (policy disabled)', () => {
  const ctx: InjectionPolicyContext = { members: 'all', objectSelector: true };
  assert.equal(injectionRequired(pod({ annotations: inject('true') }), undefined, ctx).inject, false);
  assert.equal(injectionRequired(pod({ annotations: inject('true'), labels: { 'sidecar.istio.io/inject': 'true' } }), undefined, ctx).inject, true);
  // The label only lets the webhook see the pod: the annotation still decides.
  assert.equal(injectionRequired(pod({ labels: { 'sidecar.istio.io/inject': 'true' } }), undefined, ctx).inject, false);
  const enabled: InjectionPolicyContext = { members: 'all', objectSelector: true, policy: 'enabled' };
  assert.equal(injectionRequired(pod(), undefined, enabled).inject, true);
  assert.equal(injectionRequired(pod({ labels: { 'sidecar.istio.io/inject': 'false' } }), undefined, enabled).inject, false);
});
