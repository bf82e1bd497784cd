// `meltemi proxy --app-address`: pods that share the host's loopback cannot each have 127.0.0.1:PORT, so the sidecar sends inbound traffic to the address the app listens on instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { once } from 'node:events';
import { MeshProxy } from '../../src/proxy/mesh-proxy.js';
import { TEST_PROXY_SERVERS, freePort, until, webWorkloadDiscovery } from './http-mesh.js';

test('inbound clusters reach the app on --app-address instead of 127.0.0.1', { timeout: 60_000 }, async (t) => {
  const appPort = await freePort();
  const app = http.createServer((req, res) => res.end(`app on ${req.socket.localAddress}`));
  app.listen(appPort, '127.0.0.3');
  await once(app, 'listening');
  t.after(() => app.close());
  const discovery = await webWorkloadDiscovery(t, appPort, { version: 'v1' });
  const proxy = new MeshProxy({
    discovery: discovery.xdsAddress,
    node: { type: 'sidecar', ips: ['127.0.0.2'], podName: 'web-1', namespace: 'default', labels: { app: 'web', version: 'v1' } },
    plan: { mode: 'sidecar', inboundAddress: '127.0.0.2', appAddress: '127.0.0.3' },
    ...TEST_PROXY_SERVERS,
  });
  t.after(() => proxy.stop());
  await proxy.start();
  await until('the inbound listener', () => proxy.plane.listeners.bound.includes(`127.0.0.2:${appPort}`));
  const body = await (await fetch(`http://127.0.0.2:${appPort}/x`)).text();
  assert.equal(body, 'app on 127.0.0.3');
  const cluster = proxy.plane.config!.clusters.get(`inbound|${appPort}||`)!;
  assert.deepEqual(cluster.inlineEndpoints?.map((e) => `${e.address}:${e.port}`), [`127.0.0.3:${appPort}`]);
  assert.equal(proxy.plane.config!.source.clusters.get(`inbound|${appPort}||`) !== undefined, true, 'the received config is kept as sent');
});
