// IST0109: several VirtualServices bound to the mesh gateway for one host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { created, route, service, summary, virtualService } from '../../helpers/resources.js';

test('mesh-gateway-hosts: reports both VirtualServices for one host and says the oldest wins', () => {
  const msgs = analyze([
    service('reviews', 'bookinfo'),
    created(route('reviews-canary', 'bookinfo', 'reviews.bookinfo.svc.cluster.local'), '2021-02-01T00:00:00Z'),
    created(route('reviews', 'bookinfo', 'reviews'), '2021-01-01T00:00:00Z'),
  ]);
  assert.deepEqual(summary(msgs), ['IST0109 VirtualService bookinfo/reviews @ spec.hosts[0]', 'IST0109 VirtualService bookinfo/reviews-canary @ spec.hosts[0]']);
  assert.match(msgs[0]!.message, /bookinfo\/reviews,bookinfo\/reviews-canary .* reviews\.bookinfo\.svc\.cluster\.local .*this one is the oldest and takes effect/);
  assert.match(msgs[1]!.message, /bookinfo\/reviews is older and takes effect, this one is ignored/);
});

test('mesh-gateway-hosts: without timestamps the tie is broken by name.namespace', () => {
  const msgs = analyze([route('b', 'bookinfo', 'reviews'), route('a', 'bookinfo', 'reviews')]);
  assert.match(msgs.find((m) => m.code === 'IST0109' && m.resource.name === 'b')!.message, /bookinfo\/a is older/);
});

test('mesh-gateway-hosts: counts a VirtualService without gateways as bound to mesh, and ignores gateway-only ones', () => {
  assert.deepEqual(summary(analyze([route('a', 'bookinfo', 'reviews'), route('b', 'bookinfo', 'reviews', undefined, ['bookinfo-gateway'])])).filter((s) => s.startsWith('IST0109')), []);
  assert.deepEqual(summary(analyze([route('a', 'bookinfo', 'reviews'), route('b', 'bookinfo', 'reviews', undefined, ['mesh', 'bookinfo-gateway'])])).filter((s) => s.startsWith('IST0109')), ['IST0109 VirtualService bookinfo/a @ spec.hosts[0]', 'IST0109 VirtualService bookinfo/b @ spec.hosts[0]']);
});

test('mesh-gateway-hosts: VirtualServices exported only to their own, different namespaces do not clash', () => {
  const a = virtualService('r', 'team-a', { hosts: ['ratings.shared.svc.cluster.local'], exportTo: ['.'], http: [{ route: [{ destination: { host: 'ratings.shared.svc.cluster.local' } }] }] });
  const b = virtualService('r', 'team-b', { hosts: ['ratings.shared.svc.cluster.local'], exportTo: ['.'], http: [{ route: [{ destination: { host: 'ratings.shared.svc.cluster.local' } }] }] });
  assert.deepEqual(summary(analyze([service('ratings', 'shared'), a, b])), []);
  const pub = virtualService('r', 'team-c', { hosts: ['ratings.shared.svc.cluster.local'], http: [{ route: [{ destination: { host: 'ratings.shared.svc.cluster.local' } }] }] });
  assert.equal(summary(analyze([service('ratings', 'shared'), a, pub])).length, 2);
});

test('mesh-gateway-hosts: one VirtualService per host is quiet', () => {
  assert.deepEqual(summary(analyze([service('reviews', 'bookinfo'), service('ratings', 'bookinfo'), route('reviews', 'bookinfo', 'reviews'), route('ratings', 'bookinfo', 'ratings')])), []);
});
