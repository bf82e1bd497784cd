// MLT0108: a DENY rule on caller identity where plaintext callers (who have none) still get in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { authorizationPolicy, res, summary } from '../../helpers/resources.js';

const SEC = 'security.istio.io/v1beta1';
const denyFoo = { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['foo'] } }] }] };
const peer = (name: string, ns: string, mode: string, labels?: Record<string, string>) =>
  res(SEC, 'PeerAuthentication', name, ns, { spec: { ...(labels ? { selector: { matchLabels: labels } } : {}), mtls: { mode } } });

test('plaintext-deny-bypass: a DENY on source namespaces under the default PERMISSIVE mode is reported at the field', () => {
  const msgs = analyze([authorizationPolicy('deny-foo', 'bar', undefined, denyFoo)]);
  assert.deepEqual(summary(msgs), ['MLT0108 AuthorizationPolicy bar/deny-foo @ spec.rules[0].from[0].source.namespaces']);
  assert.equal(msgs[0]!.level, 'Warning');
  assert.match(msgs[0]!.message, /plaintext caller has no identity/);
  const when = { action: 'DENY', rules: [{ when: [{ key: 'source.principal', values: ['cluster.local/ns/foo/sa/x'] }] }] };
  assert.deepEqual(summary(analyze([authorizationPolicy('deny-p', 'bar', undefined, when)])), ['MLT0108 AuthorizationPolicy bar/deny-p @ spec.rules[0].when[0]']);
});

test('plaintext-deny-bypass: quiet when mTLS is STRICT for the namespace or the whole mesh, and for ALLOW policies', () => {
  assert.deepEqual(summary(analyze([authorizationPolicy('deny-foo', 'bar', undefined, denyFoo), peer('default', 'bar', 'STRICT')])), []);
  assert.deepEqual(summary(analyze([authorizationPolicy('deny-foo', 'bar', undefined, denyFoo), peer('default', 'istio-system', 'STRICT')])), []);
  assert.deepEqual(summary(analyze([authorizationPolicy('allow-foo', 'bar', undefined, { rules: [{ from: [{ source: { namespaces: ['foo'] } }] }] })])), []);
});

test('plaintext-deny-bypass: a namespace policy that is PERMISSIVE overrides a STRICT mesh, and a workload-only STRICT does not cover the namespace', () => {
  const permissiveNs = analyze([authorizationPolicy('deny-foo', 'bar', undefined, denyFoo), peer('default', 'istio-system', 'STRICT'), peer('default', 'bar', 'PERMISSIVE')]);
  assert.deepEqual(summary(permissiveNs), ['MLT0108 AuthorizationPolicy bar/deny-foo @ spec.rules[0].from[0].source.namespaces']);
  const workloadOnly = analyze([authorizationPolicy('deny-foo', 'bar', undefined, denyFoo), peer('web', 'bar', 'STRICT', { app: 'web' })]);
  assert.equal(summary(workloadOnly).filter((s) => s.startsWith('MLT0108')).length, 1);
});
