// IST0145: two Gateways on one gateway workload claiming the same host and port (MAISTRA-158).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { created, deployment, gateway, summary } from '../../helpers/resources.js';

const INGRESS = { istio: 'ingressgateway' };

test('conflicting-gateways: reports the newer Gateway on the shared host, naming both and the winner', () => {
  const msgs = analyze([
    created(gateway('shop-gateway', 'shop', INGRESS, [{ port: 443, protocol: 'HTTPS', hosts: ['api.example.com', 'shop.example.com'] }]), '2021-03-01T00:00:00Z'),
    created(gateway('api-gateway', 'api', INGRESS, [{ port: 443, protocol: 'HTTPS', hosts: ['api/api.example.com'] }]), '2021-01-01T00:00:00Z'),
  ]);
  assert.deepEqual(summary(msgs), ['IST0145 Gateway shop/shop-gateway @ spec.servers[0].hosts[0]']);
  assert.equal(msgs[0]!.level, 'Error');
  assert.match(msgs[0]!.message, /Conflict with gateway api\/api-gateway .*port 443, host "api\.example\.com".*api\/api-gateway is older and wins; this server host of shop\/shop-gateway is ignored/);
});

test('conflicting-gateways: without timestamps the loser is the later namespace/name', () => {
  const msgs = analyze([gateway('b', 'bookinfo', INGRESS, [{ port: 443, protocol: 'HTTPS', hosts: ['*'] }]), gateway('a', 'bookinfo', INGRESS, [{ port: 443, protocol: 'HTTPS', hosts: ['*'] }])]);
  assert.deepEqual(summary(msgs), ['IST0145 Gateway bookinfo/b @ spec.servers[0].hosts[0]']);
});

test('conflicting-gateways: different selectors share a proxy when one workload matches both', () => {
  const gw1 = gateway('a', 'x', { istio: 'ingressgateway' }, [{ port: 443, protocol: 'TLS', hosts: ['a.example.com'] }]);
  const gw2 = gateway('b', 'x', { app: 'istio-ingressgateway' }, [{ port: 443, protocol: 'TLS', hosts: ['a.example.com'] }]);
  assert.deepEqual(summary(analyze([gw1, gw2])), []);
  assert.deepEqual(summary(analyze([deployment('istio-ingressgateway', 'istio-system', { app: 'istio-ingressgateway', istio: 'ingressgateway' }), gw1, gw2])), ['IST0145 Gateway x/b @ spec.servers[0].hosts[0]']);
});

test('conflicting-gateways: plaintext HTTP servers sharing a host and port merge and are not reported', () => {
  assert.deepEqual(summary(analyze([gateway('bookinfo', 'x', INGRESS, [{ port: 80, hosts: ['*'] }]), gateway('httpbin', 'y', INGRESS, [{ port: 80, hosts: ['*'] }])])), []);
});

test('conflicting-gateways: is quiet for other ports, other hosts and other gateway workloads', () => {
  assert.deepEqual(
    summary(analyze([
      gateway('a', 'x', INGRESS, [{ port: 80, hosts: ['a.example.com'] }]),
      gateway('b', 'x', INGRESS, [{ port: 8080, hosts: ['a.example.com'] }, { port: 80, hosts: ['b.example.com'] }]),
      gateway('c', 'x', { istio: 'egressgateway' }, [{ port: 80, hosts: ['a.example.com'] }]),
    ])),
    [],
  );
});
