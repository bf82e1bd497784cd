// IST0101 host / host:port and IST0112: VirtualService destinations the mesh does not know.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { serviceEntry, service, summary, virtualService } from '../../helpers/resources.js';

const ist = (msgs: ReturnType<typeof analyze>, code: string) => summary(msgs.filter((m) => m.code === code));

test('destination-hosts: reports a route to a host no Service or ServiceEntry declares, at the host field', () => {
  const msgs = analyze([
    service('reviews', 'bookinfo'),
    virtualService('reviews', 'bookinfo', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' }, weight: 50 }, { destination: { host: 'reviewz' }, weight: 50 }] }] }),
  ]);
  assert.deepEqual(ist(msgs, 'IST0101'), ['IST0101 VirtualService bookinfo/reviews @ spec.http[0].route[1].destination.host']);
  assert.equal(msgs[0]!.level, 'Error');
  assert.match(msgs[0]!.message, /Referenced host not found: "reviewz"/);
});

test('destination-hosts: resolves short names in the VirtualService namespace, not the Service one', () => {
  const msgs = analyze([service('ratings', 'other'), virtualService('r', 'bookinfo', { hosts: ['ratings'], tcp: [{ route: [{ destination: { host: 'ratings' } }] }] })]);
  assert.deepEqual(ist(msgs, 'IST0101'), ['IST0101 VirtualService bookinfo/r @ spec.tcp[0].route[0].destination.host']);
});

test('destination-hosts: accepts short, name.namespace and fully qualified names of a Service', () => {
  const msgs = analyze([
    service('ratings', 'other'),
    service('reviews', 'bookinfo'),
    virtualService('r', 'bookinfo', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }, { destination: { host: 'ratings.other' } }, { destination: { host: 'ratings.other.svc.cluster.local' } }] }] }),
  ]);
  assert.deepEqual(summary(msgs), []);
});

test('destination-hosts: a wildcard ServiceEntry host covers the destination; exportTo "." hides it from other namespaces', () => {
  const se = serviceEntry('apis', 'egress', ['*.example.com'], [443]);
  const vs = (ns: string) => virtualService('ext', ns, { hosts: ['api.example.com'], tls: [{ match: [{ sniHosts: ['api.example.com'] }], route: [{ destination: { host: 'api.example.com', port: { number: 443 } } }] }] });
  assert.deepEqual(summary(analyze([se, vs('bookinfo')])), []);
  const privateSe = serviceEntry('apis', 'egress', ['*.example.com'], [443], { exportTo: ['.'] });
  assert.deepEqual(summary(analyze([privateSe, vs('bookinfo')])), ['IST0101 VirtualService bookinfo/ext @ spec.tls[0].route[0].destination.host']);
  assert.deepEqual(summary(analyze([privateSe, vs('egress')])), []);
});

test('destination-hosts: reports a mirror host that does not exist as "mirror host"', () => {
  const msgs = analyze([service('reviews', 'bookinfo'), virtualService('r', 'bookinfo', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }], mirror: { host: 'reviews-shadow' } }] })]);
  assert.deepEqual(summary(msgs), ['IST0101 VirtualService bookinfo/r @ spec.http[0].mirror.host']);
  assert.match(msgs[0]!.message, /mirror host not found: "reviews-shadow"/);
});

test('destination-hosts: reports a destination port the Service does not have, at port.number', () => {
  const msgs = analyze([service('reviews', 'bookinfo', [9080]), virtualService('r', 'bookinfo', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', port: { number: 9090 } } }] }] })]);
  assert.deepEqual(summary(msgs), ['IST0101 VirtualService bookinfo/r @ spec.http[0].route[0].destination.port.number']);
  assert.match(msgs[0]!.message, /host:port not found: "reviews:9090".*9080/);
});

test('destination-hosts: a gateway VirtualService must pick a port of a multi-port service (IST0112), a mesh one need not', () => {
  const svc = service('productpage', 'bookinfo', [9080, 9443]);
  const onGateway = virtualService('pp', 'bookinfo', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: 'productpage' } }] }] });
  assert.deepEqual(ist(analyze([svc, onGateway]), 'IST0112'), ['IST0112 VirtualService bookinfo/pp @ spec.http[0].route[0].destination.port']);
  const inMesh = virtualService('pp', 'bookinfo', { hosts: ['productpage'], http: [{ route: [{ destination: { host: 'productpage' } }] }] });
  assert.deepEqual(summary(analyze([svc, inMesh])), []);
});

test('destination-hosts: the Kubernetes API server is always known', () => {
  assert.deepEqual(summary(analyze([virtualService('api', 'default', { hosts: ['kubernetes.default.svc.cluster.local'], tls: [{ match: [{ sniHosts: ['kubernetes.default.svc.cluster.local'] }], route: [{ destination: { host: 'kubernetes.default.svc.cluster.local', port: { number: 443 } } }] }] })])), []);
});
