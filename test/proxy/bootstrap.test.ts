// The proxy's node identity is what the control plane parses, and a bad update is refused with the resource and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { proxyFromNode } from '../../src/model/proxy.js';
import { xdsNode } from '../../src/proxy/bootstrap.js';
import { buildProxyConfig, validateResources } from '../../src/proxy/config/proxy-config.js';
import { TypeUrl } from '../../src/xds/types.js';

test('the node id and metadata round-trip through the control plane parser', () => {
  const node = xdsNode({ type: 'sidecar', ips: ['10.1.0.7', 'fd00::7'], podName: 'reviews-v1-abc12', namespace: 'bookinfo', labels: { app: 'reviews', version: 'v1' }, serviceAccount: 'bookinfo-reviews', meshId: 'm1' });
  assert.equal(node.id, 'sidecar~10.1.0.7~reviews-v1-abc12.bookinfo~bookinfo.svc.cluster.local');
  assert.equal(node.cluster, 'reviews.bookinfo');
  const p = proxyFromNode(node.id, node.metadata);
  assert.ok(typeof p !== 'string');
  assert.deepEqual(
    { type: p.type, ips: p.ipAddresses, ns: p.namespace, labels: p.labels, sa: p.serviceAccount, mesh: p.meshId, workload: p.workloadName },
    { type: 'sidecar', ips: ['10.1.0.7', 'fd00::7'], ns: 'bookinfo', labels: { app: 'reviews', version: 'v1' }, sa: 'bookinfo-reviews', mesh: 'm1', workload: 'reviews-v1-abc12' },
  );
});

test('a malformed identity is refused before connecting', () => {
  const base = { type: 'router' as const, ips: ['10.0.0.1'], podName: 'gw-1', namespace: 'istio-system', labels: {} };
  assert.throws(() => xdsNode({ ...base, namespace: 'Istio_System' }), /not a DNS label/);
  assert.throws(() => xdsNode({ ...base, ips: ['10.0.0'] }), /not an IP address/);
  assert.throws(() => xdsNode({ ...base, podName: 'a~b' }), /not a DNS subdomain/);
});

test('validation names the resource and field of a bad update; a good set compiles into one config', () => {
  const bad = new Map([['r1', { name: 'r1', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { safe_regex: { regex: '(' } }, route: { cluster: 'c' } }] }] }]]);
  assert.match(validateResources(TypeUrl.RouteConfiguration, bad)!, /^RouteConfiguration "r1": virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: .*not a valid RE2 regex/);
  const cluster = { name: 'c', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } }] }] } };
  assert.equal(validateResources(TypeUrl.Cluster, new Map([['c', cluster]])), undefined);
  const cfg = buildProxyConfig({ listeners: new Map(), routes: new Map(), clusters: new Map([['c', cluster]]), endpoints: new Map() }, 3);
  assert.equal(cfg.version, 3);
  assert.equal(cfg.endpoints.get('c')?.[0]?.port, 8080);
  assert.ok(Object.isFrozen(cfg));
});
