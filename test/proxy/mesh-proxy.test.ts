// `meltemi proxy` end to end: configured only by xDS from a running Discovery, serving through its loss, picking up changes after it returns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Discovery } from '../../src/xds/discovery.js';
import { MeshProxy } from '../../src/proxy/mesh-proxy.js';
import { HOST, freePort, startUpstream } from './http-mesh.js';
import * as http from 'node:http';

function configYaml(servicePort: number, ports: number[], subset: 'v1' | 'v2'): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${servicePort}, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: web } }
${ports.map((p, i) => `---\napiVersion: networking.istio.io/v1beta1\nkind: WorkloadEntry\nmetadata: { name: web-${i + 1}, namespace: default }\nspec: { address: 127.0.0.1, ports: { http: ${p} }, labels: { app: web, version: v${i + 1} } }\n`).join('')}---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec:
  host: ${HOST}
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http: [{ route: [{ destination: { host: ${HOST}, subset: ${subset} } }] }]
`;
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

for (const protocol of ['sotw', 'delta'] as const) {
  test(`${protocol}: the proxy serves from xDS, keeps serving when discovery is killed under load, and applies a change after it returns`, { timeout: 60_000 }, async () => {
    const v1 = await startUpstream('v1');
    const v2 = await startUpstream('v2');
    const servicePort = await freePort();
    const xdsPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'meltemi-proxy-'));
    writeFileSync(join(dir, 'mesh.yaml'), configYaml(servicePort, [v1.port, v2.port], 'v1'));
    const discoveryOptions = { configDir: dir, xdsPort, debugPort: 0, debounceAfterMs: 10 };
    let discovery = await new Discovery(discoveryOptions).start();
    const proxy = new MeshProxy({
      discovery: `127.0.0.1:${xdsPort}`,
      protocol,
      node: { type: 'sidecar', ips: ['127.0.0.1'], podName: 'client-1', namespace: 'default', labels: { app: 'client' } },
      plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' },
      adminPort: 0,
      healthPort: 0,
      healthHost: '127.0.0.1',
      drainMs: 200,
      backoff: { baseMs: 50, maxMs: 200 },
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const get = () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: servicePort, path: '/', headers: { host: HOST }, agent }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
      });
    try {
      await proxy.start();
      const health = `http://${proxy.healthAddress}/healthz/ready`;
      assert.equal((await fetch(health)).status, 503, 'not ready before configuration');
      await until('the proxy to be LIVE', () => proxy.serverState === 'LIVE');
      assert.equal((await fetch(health)).status, 200);
      assert.deepEqual(await get(), { status: 200, body: 'v1' });

      // Load while the control plane dies: every request still succeeds on the last config.
      let stop = false;
      const results: { status: number; body: string }[] = [];
      const load = (async () => {
        for (let i = 0; i < 5000 && !stop; i++) results.push(await get());
      })();
      await new Promise((r) => setTimeout(r, 200));
      await discovery.close();
      await new Promise((r) => setTimeout(r, 500));
      stop = true;
      await load;
      assert.ok(results.length > 20, `${results.length} requests under load`);
      assert.ok(
        results.every((r) => r.status === 200 && r.body === 'v1'),
        'no request failed',
      );
      assert.equal(proxy.serverState, 'LIVE');

      // It comes back (same port) with a change: the proxy reconnects and applies it.
      writeFileSync(join(dir, 'mesh.yaml'), configYaml(servicePort, [v1.port, v2.port], 'v2'));
      discovery = await new Discovery(discoveryOptions).start();
      await until('the route change to reach the proxy', async () => (await get()).body === 'v2');
      const dump = (await (await fetch(`http://${proxy.adminAddress}/config_dump`)).json()) as { configs: { '@type': string }[] };
      assert.equal(dump.configs.length, 5);
    } finally {
      agent.destroy();
      await proxy.stop();
      await discovery.close();
      for (const u of [v1, v2]) {
        u.server.closeAllConnections();
        await new Promise<void>((r) => u.server.close(() => r()));
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
