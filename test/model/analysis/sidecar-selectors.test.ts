// IST0110 / IST0111: Sidecars that compete for the same workloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { deployment, sidecar, summary } from '../../helpers/resources.js';

test('sidecar-selectors: reports every selector-less Sidecar of a namespace that has two (IST0111)', () => {
  const msgs = analyze([sidecar('default', 'bookinfo'), sidecar('egress', 'bookinfo'), sidecar('default', 'other')]);
  assert.deepEqual(summary(msgs), ['IST0111 Sidecar bookinfo/default @ metadata.name', 'IST0111 Sidecar bookinfo/egress @ metadata.name']);
  assert.match(msgs[0]!.message, /The Sidecars default, egress in namespace "bookinfo" have no workload selector/);
});

test('sidecar-selectors: reports Sidecars selecting the same workload (IST0110)', () => {
  const msgs = analyze([deployment('reviews-v1', 'bookinfo', { app: 'reviews', version: 'v1' }), sidecar('by-app', 'bookinfo', { app: 'reviews' }), sidecar('by-version', 'bookinfo', { version: 'v1' })]);
  assert.deepEqual(summary(msgs), ['IST0110 Sidecar bookinfo/by-app @ spec.workloadSelector.labels', 'IST0110 Sidecar bookinfo/by-version @ spec.workloadSelector.labels']);
  assert.match(msgs[0]!.message, /select the same workload Deployment reviews-v1/);
});

test('sidecar-selectors: one default Sidecar plus disjoint workload Sidecars is quiet', () => {
  assert.deepEqual(
    summary(analyze([deployment('reviews-v1', 'bookinfo', { app: 'reviews' }), deployment('ratings-v1', 'bookinfo', { app: 'ratings' }), sidecar('default', 'bookinfo'), sidecar('reviews', 'bookinfo', { app: 'reviews' }), sidecar('ratings', 'bookinfo', { app: 'ratings' })])),
    [],
  );
});
