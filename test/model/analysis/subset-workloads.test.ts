// MLT0103: DestinationRule subsets whose labels match none of the service's workloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { deployment, destinationRule, service, serviceEntry, summary } from '../../helpers/resources.js';

const reviews = [service('reviews', 'bookinfo'), deployment('reviews-v1', 'bookinfo', { app: 'reviews', version: 'v1' }), deployment('reviews-v2', 'bookinfo', { app: 'reviews', version: 'v2' })];

test('subset-workloads: warns about a subset no workload behind the service carries, at its labels', () => {
  const msgs = analyze([...reviews, destinationRule('reviews', 'bookinfo', 'reviews', ['v1', 'v2', 'v3'])]);
  assert.deepEqual(summary(msgs), ['MLT0103 DestinationRule bookinfo/reviews @ spec.subsets[2].labels']);
  assert.equal(msgs[0]!.level, 'Warning');
  assert.match(msgs[0]!.message, /Subset "v3" \(version=v3\) matches none of the workloads behind reviews\.bookinfo\.svc\.cluster\.local \(reviews-v1, reviews-v2\)/);
});

test('subset-workloads: a workload with the labels but outside the service selector does not count', () => {
  const msgs = analyze([...reviews, deployment('ratings-v3', 'bookinfo', { app: 'ratings', version: 'v3' }), destinationRule('reviews', 'bookinfo', 'reviews', ['v3'])]);
  assert.deepEqual(summary(msgs), ['MLT0103 DestinationRule bookinfo/reviews @ spec.subsets[0].labels']);
});

test('subset-workloads: is quiet when every subset matches, when no workload of the service is known, and for ServiceEntry hosts', () => {
  assert.deepEqual(summary(analyze([...reviews, destinationRule('reviews', 'bookinfo', 'reviews', ['v1', 'v2'])])), []);
  assert.deepEqual(summary(analyze([service('reviews', 'bookinfo'), destinationRule('reviews', 'bookinfo', 'reviews', ['v9'])])), []);
  assert.deepEqual(summary(analyze([...reviews, serviceEntry('ext', 'bookinfo', ['ext.example.com']), destinationRule('ext', 'bookinfo', 'ext.example.com', ['v9'])])), []);
});
