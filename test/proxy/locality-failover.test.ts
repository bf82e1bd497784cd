// Locality failover end to end: a sidecar that announces its locality gets its own zone's endpoints first from the control plane, and moves to the next zone when its own is ejected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Discovery } from '../../src/xds/discovery.js';
import { MeshProxy } from '../../src/proxy/mesh-proxy.js';
import { HOST, freePort, startUpstream, until, webServiceEntry } from './http-mesh.js';

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers: { host: HOST }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

test('a sidecar in us-east/zone-a uses zone-a, then fails over to zone-b once zone-a is ejected', { timeout: 60_000 }, async () => {
  let nearFails = false;
  const near = await startUpstream('near', () => (nearFails ? { status: 503, body: 'down' } : { status: 200, body: 'near' }));
  const far = await startUpstream('far');
  const servicePort = await freePort();
  const xdsPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-locality-'));
  writeFileSync(
    join(dir, 'mesh.yaml'),
    `${webServiceEntry(servicePort)}---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-near, namespace: default }
spec: { address: 127.0.0.1, ports: { http: ${near.port} }, labels: { app: web }, locality: us-east/zone-a }
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-far, namespace: default }
spec: { address: 127.0.0.1, ports: { http: ${far.port} }, labels: { app: web }, locality: us-east/zone-b }
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec:
  host: ${HOST}
  trafficPolicy:
    outlierDetection: { consecutive5xxErrors: 2, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 100 }
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http: [{ route: [{ destination: { host: ${HOST} } }], retries: { attempts: 0 } }]
`,
  );
  const discovery = await new Discovery({ configDir: dir, xdsPort, debugPort: 0, debounceAfterMs: 10 }).start();
  const proxy = new MeshProxy({
    discovery: `127.0.0.1:${xdsPort}`,
    node: { type: 'sidecar', ips: ['127.0.0.1'], podName: 'client-1', namespace: 'default', labels: { app: 'client' }, locality: 'us-east/zone-a' },
    plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' },
    adminPort: 0,
    healthPort: -1,
    statsPort: -1,
    mergedMetricsPort: -1,
    drainMs: 50,
    backoff: { baseMs: 50, maxMs: 200 },
  });
  try {
    await proxy.start();
    await until('the outbound listener', () => proxy.plane.listeners.bound.includes(`127.0.0.1:${servicePort}`));
    const before: string[] = [];
    for (let i = 0; i < 10; i++) before.push((await get(servicePort)).body);
    assert.deepEqual(new Set(before), new Set(['near']), 'the own zone takes all traffic while healthy');
    nearFails = true;
    // Two 503s eject zone-a's only host; from then on zone-b (priority 1) serves.
    const during: number[] = [];
    for (let i = 0; i < 2; i++) during.push((await get(servicePort)).status);
    assert.deepEqual(during, [503, 503]);
    const after: string[] = [];
    for (let i = 0; i < 10; i++) after.push((await get(servicePort)).body);
    assert.deepEqual(new Set(after), new Set(['far']));
    assert.equal(far.seen.length, 10);
  } finally {
    await proxy.stop();
    await discovery.close();
    await near.close();
    await far.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
