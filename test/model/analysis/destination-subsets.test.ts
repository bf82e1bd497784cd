// IST0101 host+subset: a VirtualService routes to a subset no applicable DestinationRule defines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { destinationRule, route, service, summary, virtualService } from '../../helpers/resources.js';

test('destination-subsets: reports a subset the DestinationRule does not define, at the subset field', () => {
  const msgs = analyze([
    service('reviews', 'bookinfo'),
    destinationRule('reviews', 'bookinfo', 'reviews', ['v1', 'v2']),
    virtualService('reviews', 'bookinfo', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 90 }, { destination: { host: 'reviews', subset: 'v4' }, weight: 10 }] }] }),
  ]);
  assert.deepEqual(summary(msgs), ['IST0101 VirtualService bookinfo/reviews @ spec.http[0].route[1].destination.subset']);
  assert.match(msgs[0]!.message, /host\+subset in destinationrule not found: "reviews\+v4" \(DestinationRule bookinfo\/reviews defines subsets v1, v2\)/);
});

test('destination-subsets: reports a subset when no DestinationRule exists for the host', () => {
  const msgs = analyze([service('reviews', 'bookinfo'), route('reviews', 'bookinfo', 'reviews', 'v1')]);
  assert.deepEqual(summary(msgs), ['IST0101 VirtualService bookinfo/reviews @ spec.http[0].route[0].destination.subset']);
  assert.match(msgs[0]!.message, /no DestinationRule applies/);
});

test('destination-subsets: is quiet when the DestinationRule (FQDN host, other namespace, exported) defines the subset', () => {
  assert.deepEqual(summary(analyze([service('reviews', 'bookinfo'), destinationRule('reviews', 'bookinfo', 'reviews.bookinfo.svc.cluster.local', ['v1']), route('reviews', 'frontend', 'reviews.bookinfo.svc.cluster.local', 'v1')])), []);
});

test('destination-subsets: merges the subsets of every DestinationRule with the same host in one namespace', () => {
  assert.deepEqual(summary(analyze([service('reviews', 'bookinfo'), destinationRule('reviews-a', 'bookinfo', 'reviews', ['v1']), destinationRule('reviews-b', 'bookinfo', 'reviews', ['v2']), route('reviews', 'bookinfo', 'reviews', 'v2')])), []);
});

test('destination-subsets: a specific DestinationRule hides the subsets of a wildcard one', () => {
  const msgs = analyze([
    service('reviews', 'bookinfo'),
    destinationRule('all', 'bookinfo', '*.bookinfo.svc.cluster.local', ['v3']),
    destinationRule('reviews', 'bookinfo', 'reviews', ['v1']),
    route('reviews', 'bookinfo', 'reviews', 'v3'),
  ]);
  assert.deepEqual(summary(msgs), ['IST0101 VirtualService bookinfo/reviews @ spec.http[0].route[0].destination.subset']);
  assert.deepEqual(summary(analyze([service('reviews', 'bookinfo'), destinationRule('all', 'bookinfo', '*.bookinfo.svc.cluster.local', ['v3']), route('reviews', 'bookinfo', 'reviews', 'v3')])), []);
});

test('destination-subsets: a DestinationRule exported only to its own namespace does not serve other namespaces', () => {
  const dr = destinationRule('reviews', 'bookinfo', 'reviews.bookinfo.svc.cluster.local', ['v1'], { exportTo: ['.'] });
  assert.deepEqual(summary(analyze([service('reviews', 'bookinfo'), dr, route('r', 'frontend', 'reviews.bookinfo.svc.cluster.local', 'v1')])), ['IST0101 VirtualService frontend/r @ spec.http[0].route[0].destination.subset']);
});

test('destination-subsets: a name.namespace host in the DestinationRule and the VirtualService names the same service', () => {
  assert.deepEqual(summary(analyze([service('reviews', 'bookinfo'), destinationRule('reviews', 'bookinfo', 'reviews.bookinfo', ['v1']), route('reviews', 'frontend', 'reviews.bookinfo.svc.cluster.local', 'v1')])), []);
});
