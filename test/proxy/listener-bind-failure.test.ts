// A listener whose port is held by another process: the proxy reports it, is not ready (15021 answers 503) until the port is free, then binds it on a retry and is ready.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import { MeshProxy } from '../../src/proxy/mesh-proxy.js';
import { TEST_PROXY_SERVERS, freePort, until, webWorkloadDiscovery } from './http-mesh.js';

test('a listener that cannot bind keeps the proxy unready until a retry binds it', { timeout: 60_000 }, async (t) => {
  const appPort = await freePort();
  const app = http.createServer((_req, res) => res.end('app'));
  app.listen(appPort, '127.0.0.1');
  await once(app, 'listening');
  t.after(() => app.close());
  // Something else holds the workload address and port the inbound listener wants.
  const squatter = net.createServer();
  squatter.listen(appPort, '127.0.0.2');
  await once(squatter, 'listening');
  const discovery = await webWorkloadDiscovery(t, appPort);
  const proxy = new MeshProxy({
    discovery: discovery.xdsAddress,
    node: { type: 'sidecar', ips: ['127.0.0.2'], podName: 'web-1', namespace: 'default', labels: { app: 'web' } },
    plan: { mode: 'sidecar', inboundAddress: '127.0.0.2' },
    ...TEST_PROXY_SERVERS,
  });
  t.after(() => proxy.stop());
  await proxy.start();
  const ready = async () => (await fetch(`http://${proxy.healthAddress}/healthz/ready`)).status;
  await until('the bind failure to be known', () => proxy.plane.listeners.failedBindings.has(`127.0.0.2:${appPort}`));
  assert.equal(proxy.serverState, 'LIVE', 'configured');
  assert.equal(await ready(), 503, 'not ready while a listener is missing');
  assert.match(await (await fetch(`http://${proxy.adminAddress}/stats`)).text(), /listener_manager\.listener_create_failure: [1-9]/);

  await new Promise<void>((r) => squatter.close(() => r()));
  await until('the retry to bind it', () => proxy.plane.listeners.bound.includes(`127.0.0.2:${appPort}`), 15_000);
  assert.equal(await ready(), 200);
  assert.equal(await (await fetch(`http://127.0.0.2:${appPort}/`)).text(), 'app');
});
