// IST0101 gateway: a VirtualService bound to a Gateway that does not exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { gateway, service, summary, virtualService } from '../../helpers/resources.js';

const vs = (gateways: string[], matchGateways?: string[]) =>
  virtualService('bookinfo', 'bookinfo', { hosts: ['*'], gateways, http: [{ ...(matchGateways ? { match: [{ gateways: matchGateways }] } : {}), route: [{ destination: { host: 'productpage' } }] }] });
const base = [service('productpage', 'bookinfo'), gateway('bookinfo-gateway', 'bookinfo', { istio: 'ingressgateway' }, [{ port: 80, hosts: ['*'] }]), gateway('shared', 'istio-system', { istio: 'ingressgateway' }, [{ port: 8080, hosts: ['*'] }])];

test('virtual-service-gateways: reports a gateway that does not exist, at its entry', () => {
  const msgs = analyze([...base, vs(['mesh', 'bookinfo-gateway', 'bogus-gateway'])]);
  assert.deepEqual(summary(msgs), ['IST0101 VirtualService bookinfo/bookinfo @ spec.gateways[2]']);
  assert.match(msgs[0]!.message, /Referenced gateway not found: "bogus-gateway"/);
});

test('virtual-service-gateways: reports an ns/name gateway in the wrong namespace and per-match gateways', () => {
  assert.deepEqual(summary(analyze([...base, vs(['bookinfo/shared'], ['istio-system/bookinfo-gateway'])])), ['IST0101 VirtualService bookinfo/bookinfo @ spec.gateways[0]', 'IST0101 VirtualService bookinfo/bookinfo @ spec.http[0].match[0].gateways[0]']);
});

test('virtual-service-gateways: accepts mesh, bare names, ns/name, ./name and the legacy name.namespace form', () => {
  assert.deepEqual(summary(analyze([...base, vs(['mesh', 'bookinfo-gateway', 'istio-system/shared', './bookinfo-gateway', 'shared.istio-system.svc.cluster.local'], ['mesh', 'shared.istio-system'])])), []);
});
