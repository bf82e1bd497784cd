// docs/injection.md stays true: its example is what injection returns, its reasons are the policy's sentences, its error is the injector's, and every annotation without effect is listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { WITHOUT_EFFECT } from '../../src/injector/annotations.js';
import type { InjectionContext, InjectionPolicyContext, NamespaceObject, Pod } from '../../src/injector/context.js';
import { injectIfRequired, injectPod } from '../../src/injector/inject.js';
import { injectionRequired } from '../../src/injector/policy.js';

const doc = readFileSync('docs/injection.md', 'utf8');

/** The fenced block that follows `<!-- example: NAME -->`. */
function block(name: string): string {
  const marker = doc.indexOf(`<!-- example: ${name} -->`);
  assert.ok(marker >= 0, `marker "example: ${name}" missing in docs/injection.md`);
  const start = doc.indexOf('\n', doc.indexOf('```', marker)) + 1;
  return doc.slice(start, doc.indexOf('```', start));
}

test('the injected pod shown in docs/injection.md is what injectIfRequired returns for the input and context shown', () => {
  const input = parse(block('input')) as Pod;
  const ctx = JSON.parse(block('context')) as InjectionContext;
  const result = injectIfRequired(input, undefined, ctx);
  assert.equal(result.injected, true, result.reason);
  assert.equal(block('output'), stringify(result.pod));
});

test('every reason in the docs table is a sentence the policy produces', () => {
  const pod = (ns: string, annotations: Record<string, string> = {}, hostNetwork = false): Pod => ({
    metadata: { name: 'p', namespace: ns, labels: { app: 'ratings' }, annotations },
    spec: { containers: [{ name: 'c', image: 'c' }], ...(hostNetwork ? { hostNetwork } : {}) },
  });
  const yes = { 'sidecar.istio.io/inject': 'true' };
  const all: InjectionPolicyContext = { members: 'all' };
  const nsWith = (labels: Record<string, string>): NamespaceObject => ({ metadata: { name: 'bookinfo', labels } });
  const decisions = [
    injectionRequired(pod('bookinfo', yes), undefined, all),
    injectionRequired(pod('bookinfo', { 'sidecar.istio.io/inject': 'false' }), undefined, all),
    injectionRequired(pod('bookinfo'), undefined, all),
    injectionRequired(pod('bookinfo'), undefined, { members: 'all', policy: 'enabled' }),
    injectionRequired(pod('bookinfo'), undefined, { members: 'all', neverInjectSelector: [{ matchLabels: { app: 'ratings' } }] }),
    injectionRequired(pod('outside', yes), undefined, { members: new Set(['bookinfo']) }),
    injectionRequired(pod('istio-system', yes), undefined, { members: 'all', controlPlaneNamespace: 'istio-system' }),
    injectionRequired(pod('bookinfo', yes), nsWith({ 'maistra.io/ignore-namespace': 'ignore' }), all),
    injectionRequired(pod('bookinfo', yes), nsWith({ 'istio-injection': 'disabled' }), all),
    injectionRequired(pod('bookinfo', yes), nsWith({ 'istio-env': 'x' }), all),
    injectionRequired(pod('bookinfo', yes), undefined, { members: 'all', objectSelector: true }),
    injectionRequired(pod('bookinfo', yes, true), undefined, all),
    injectionRequired(pod('kube-system', yes), undefined, all),
    injectionRequired(pod('bookinfo', { ...yes, 'sidecar.istio.io/status': '{}' }), undefined, all),
  ];
  for (const d of decisions) assert.ok(doc.includes(`\`${d.reason}\``), `docs/injection.md lacks the reason: ${d.reason}`);
});

test('the error shown in docs/injection.md is the injector\'s', () => {
  const start = doc.indexOf('```text\n') + '```text\n'.length;
  const shown = doc.slice(start, doc.indexOf('```', start)).trimEnd();
  const pod: Pod = {
    metadata: {
      name: 'reviews-v1-545db77b95-8pk2l',
      namespace: 'bookinfo',
      annotations: { 'sidecar.istio.io/inject': 'true', 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.0.0.0/33', 'sidecar.istio.io/proxyUID': 'istio' },
    },
    spec: { containers: [{ name: 'reviews', image: 'reviews' }] },
  };
  assert.throws(() => injectPod(pod, { members: 'all', discoveryAddress: '127.0.0.1:15010', cni: true }), (e: unknown) => (e as Error).message === shown);
});

test('every annotation accepted without effect is listed in docs/injection.md with its reason', () => {
  for (const [name, why] of Object.entries(WITHOUT_EFFECT)) {
    const short = name.replace(/^sidecar\.istio\.io\//, '');
    const row = doc.split('\n').find((l) => l.startsWith('| ') && (l.includes(`\`${name}\``) || l.includes(`\`${short}\``)) && l.includes(why));
    assert.ok(row, `docs/injection.md does not list ${name} with "${why}"`);
  }
});
