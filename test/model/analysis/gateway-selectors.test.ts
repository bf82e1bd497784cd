// IST0101 selector: a Gateway whose selector matches no gateway workload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { controlPlane, deployment, gateway, summary } from '../../helpers/resources.js';

const gw = (selector: Record<string, string>) => gateway('bookinfo-gateway', 'bookinfo', selector, [{ port: 80, hosts: ['*'] }]);

test('gateway-selectors: reports a selector no workload in any namespace matches, at spec.selector', () => {
  const msgs = analyze([deployment('istio-ingressgateway', 'istio-system', { app: 'istio-ingressgateway', istio: 'ingressgateway' }), gw({ istio: 'ingresgateway' })]);
  assert.deepEqual(summary(msgs), ['IST0101 Gateway bookinfo/bookinfo-gateway @ spec.selector']);
  assert.match(msgs[0]!.message, /Referenced selector not found: "istio=ingresgateway"/);
});

test('gateway-selectors: is quiet when a gateway Deployment in another namespace matches', () => {
  assert.deepEqual(summary(analyze([deployment('istio-ingressgateway', 'istio-system', { app: 'istio-ingressgateway', istio: 'ingressgateway' }), gw({ istio: 'ingressgateway' })])), []);
});

test('gateway-selectors: knows the gateways a ServiceMeshControlPlane deploys, and their absence when disabled', () => {
  assert.deepEqual(summary(analyze([controlPlane('basic', 'istio-system'), gw({ istio: 'ingressgateway' }), gateway('egress', 'istio-system', { istio: 'egressgateway' }, [{ port: 80, hosts: ['*'] }])])), []);
  const noIngress = controlPlane('basic', 'istio-system', { version: 'v2.0', gateways: { ingress: { enabled: false } } });
  assert.deepEqual(summary(analyze([noIngress, gw({ istio: 'ingressgateway' })])), ['IST0101 Gateway bookinfo/bookinfo-gateway @ spec.selector']);
  const custom = controlPlane('basic', 'istio-system', { version: 'v2.0', gateways: { additionalIngress: { 'bookinfo-gw': { service: { metadata: { labels: { istio: 'bookinfo' } } } } } } });
  assert.deepEqual(summary(analyze([custom, gw({ istio: 'bookinfo' })])), []);
});

test('gateway-selectors: stays quiet when the input does not describe the gateway workloads', () => {
  assert.deepEqual(summary(analyze([deployment('reviews-v1', 'bookinfo', { app: 'reviews' }), gw({ istio: 'ingressgateway' })])), []);
  const unknownLabels = controlPlane('basic', 'istio-system', { version: 'v2.0', gateways: { additionalIngress: { 'other-gw': {} } } });
  assert.deepEqual(summary(analyze([unknownLabels, gw({ istio: 'other-gw' })])), []);
});
