// ORIGINAL_DST clusters: hosts made from connections' original destinations, reused while in use, forgotten after cleanup_interval, bounded in number; upstream_bind_config compiled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OriginalDstHosts } from '../../src/proxy/upstream/original-dst-hosts.js';
import { ClusterManager } from '../../src/proxy/upstream/cluster-manager.js';
import { compileCluster } from '../../src/proxy/config/clusters.js';
import { ConfigError } from '../../src/proxy/config/xds-json.js';
import type { Host } from '../../src/proxy/upstream/host.js';
import type { ProxyConfig } from '../../src/proxy/config/proxy-config.js';

test('one host per original destination, kept while used, forgotten once idle for the interval', () => {
  let now = 0;
  const removed: Host[] = [];
  const hosts = new OriginalDstHosts({ now: () => now, cleanupIntervalMs: 5000, maxHosts: 10, onRemoved: (h) => removed.push(...h) });
  const a = hosts.host({ address: '10.0.0.1', port: 80 })!;
  assert.equal(a.key, '10.0.0.1:80');
  assert.equal(hosts.host({ address: '10.0.0.1', port: 80 }), a, 'the same destination reuses its host (and its pool)');
  const b = hosts.host({ address: '10.0.0.2', port: 80 })!;
  b.activeRequests = 1;
  now = 4000;
  hosts.sweep();
  assert.deepEqual(removed, [], 'nothing is idle for the whole interval yet');
  now = 6000;
  hosts.sweep();
  assert.deepEqual(removed, [a], 'the idle host goes; the busy one stays');
  assert.deepEqual(hosts.all, [b]);
  assert.notEqual(hosts.host({ address: '10.0.0.1', port: 80 }), a, 'a destination used again gets a new host');
});

test('at the limit an idle host makes room; with every host busy a pick fails instead of growing', () => {
  const hosts = new OriginalDstHosts({ now: () => 0, cleanupIntervalMs: 5000, maxHosts: 2, onRemoved: () => undefined });
  const a = hosts.host({ address: '10.0.0.1', port: 1 })!;
  const b = hosts.host({ address: '10.0.0.2', port: 1 })!;
  b.activeRequests = 1;
  assert.ok(hosts.host({ address: '10.0.0.3', port: 1 }), 'the idle host was swept to make room');
  assert.ok(!hosts.all.includes(a));
  for (const h of hosts.all) h.activeRequests = 1;
  assert.equal(hosts.host({ address: '10.0.0.4', port: 1 }), undefined);
});

test('the cluster manager picks the original destination for ORIGINAL_DST clusters and nothing without one', () => {
  const cluster = compileCluster({ name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '10s', cleanup_interval: '2s' });
  assert.equal(cluster.cleanupIntervalMs, 2000);
  const config = { clusters: new Map([[cluster.name, cluster]]), endpoints: new Map(), listeners: new Map(), routes: new Map() } as unknown as ProxyConfig;
  const removed: Host[] = [];
  const m = new ClusterManager({ onHostsRemoved: (h) => removed.push(...h) });
  try {
    m.apply(config);
    const runtime = m.get('PassthroughCluster')!;
    assert.equal(runtime.pick({}), undefined, 'a connection that was not captured has no destination to pass through to');
    const host = runtime.pick({ originalDestination: { address: '192.0.2.7', port: 5432 } })!;
    assert.equal(host.key, '192.0.2.7:5432');
    m.apply({ ...config, clusters: new Map() } as unknown as ProxyConfig);
    assert.deepEqual(removed, [host], 'removing the cluster drains its hosts');
  } finally {
    m.close();
  }
});

test('upstream_bind_config gives the source address; a bad one is refused with its field path', () => {
  const c = compileCluster({ name: 'InboundPassthroughClusterIpv4', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 } } });
  assert.equal(c.sourceAddress, '127.0.0.6');
  assert.throws(
    () => compileCluster({ name: 'x', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', upstream_bind_config: { source_address: { address: 'localhost' } } }),
    (e: unknown) => e instanceof ConfigError && e.path === 'upstream_bind_config.source_address.address',
  );
  assert.throws(() => compileCluster({ name: 'x', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', cleanup_interval: '0s' }), (e: unknown) => e instanceof ConfigError && e.path === 'cleanup_interval');
});
