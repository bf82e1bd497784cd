// IST0127: workload-scoped policies whose selector matches no workload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { authorizationPolicy, deployment, envoyFilter, extension, peerAuthentication, pod, sidecar, summary } from '../../helpers/resources.js';

const apps = [deployment('ratings-v1', 'bookinfo', { app: 'ratings', version: 'v1' }), pod('details-v1-abcde', 'bookinfo', { app: 'details' })];

test('policy-selectors: warns about each kind of policy selecting no workload of its namespace, at the selector labels', () => {
  const msgs = analyze([
    ...apps,
    peerAuthentication('pa', 'bookinfo', { app: 'ratings', version: 'v2' }),
    authorizationPolicy('ap', 'bookinfo', { app: 'ratinsg' }, { rules: [{}] }),
    sidecar('sc', 'bookinfo', { app: 'reviews' }),
    envoyFilter('ef', 'bookinfo', { app: 'productpage' }),
    extension('ext', 'bookinfo', { app: 'gone' }),
  ]);
  assert.deepEqual(summary(msgs), [
    'IST0127 AuthorizationPolicy bookinfo/ap @ spec.selector.matchLabels',
    'IST0127 EnvoyFilter bookinfo/ef @ spec.workloadSelector.labels',
    'IST0127 PeerAuthentication bookinfo/pa @ spec.selector.matchLabels',
    'IST0127 ServiceMeshExtension bookinfo/ext @ spec.workloadSelector.labels',
    'IST0127 Sidecar bookinfo/sc @ spec.workloadSelector.labels',
  ]);
  assert.ok(msgs.every((m) => m.level === 'Warning'));
  assert.match(msgs[2]!.message, /app=ratings,version=v2 \(in namespace bookinfo\)/);
});

test('policy-selectors: a workload of another namespace does not count, except for root-namespace policies', () => {
  const other = [...apps, deployment('reviews-v1', 'other', { app: 'reviews' })];
  assert.deepEqual(summary(analyze([...other, sidecar('sc', 'bookinfo', { app: 'reviews' })])), ['IST0127 Sidecar bookinfo/sc @ spec.workloadSelector.labels']);
  assert.deepEqual(summary(analyze([...other, peerAuthentication('pa', 'istio-system', { app: 'reviews' })])), []);
  assert.deepEqual(summary(analyze([...other, peerAuthentication('pa', 'mesh-cp', { app: 'reviews' })], { rootNamespace: 'mesh-cp' })), []);
});

test('policy-selectors: is quiet for matching selectors (Pods and Deployment templates), selector-less policies, and namespaces without known workloads', () => {
  assert.deepEqual(
    summary(analyze([
      ...apps,
      peerAuthentication('pa', 'bookinfo', { app: 'ratings' }),
      authorizationPolicy('ap', 'bookinfo', { app: 'details' }, { rules: [{}] }),
      peerAuthentication('ns-wide', 'bookinfo'),
      sidecar('default', 'bookinfo'),
      peerAuthentication('elsewhere', 'unknown-ns', { app: 'x' }),
    ])),
    [],
  );
});
