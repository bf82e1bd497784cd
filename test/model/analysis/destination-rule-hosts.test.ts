// MLT0101: a DestinationRule for a host the mesh does not know.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { destinationRule, service, serviceEntry, summary } from '../../helpers/resources.js';

test('destination-rule-hosts: warns about a DestinationRule whose short host resolves to no Service, at spec.host', () => {
  const msgs = analyze([service('reviews', 'bookinfo'), destinationRule('reviews', 'default', 'reviews', ['v1'])]);
  assert.deepEqual(summary(msgs), ['MLT0101 DestinationRule default/reviews @ spec.host']);
  assert.equal(msgs[0]!.level, 'Warning');
  assert.match(msgs[0]!.message, /"reviews" \(reviews\.default\.svc\.cluster\.local\) matches no Service or ServiceEntry/);
});

test('destination-rule-hosts: is quiet for Services, ServiceEntry hosts, wildcards and the API server', () => {
  assert.deepEqual(
    summary(analyze([
      service('reviews', 'bookinfo'),
      serviceEntry('google', 'bookinfo', ['www.google.com']),
      destinationRule('reviews', 'bookinfo', 'reviews'),
      destinationRule('google', 'bookinfo', 'www.google.com'),
      destinationRule('default', 'istio-system', '*.local'),
      destinationRule('api-server', 'istio-system', 'kubernetes.default.svc.cluster.local'),
    ])),
    [],
  );
});
