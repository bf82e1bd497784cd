// INJ-06 on the sidecar's side: 15020 answers the kubelet's rewritten probes by replaying the app's original httpGet over loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { MergedMetricsServer } from '../../src/proxy/admin/admin-server.js';
import { parseAppProbers } from '../../src/proxy/admin/app-probers.js';
import { freePort, until } from './http-mesh.js';

interface App {
  port: number;
  seen: { url: string; headers: http.IncomingHttpHeaders }[];
  status: number;
  hang: boolean;
  close(): Promise<void>;
}

/** An app whose /health answers `status` (or never answers while `hang`). */
async function app(): Promise<App> {
  const hanging: http.ServerResponse[] = [];
  const a: App = { port: 0, seen: [], status: 200, hang: false, close: async () => undefined };
  const server = http.createServer((req, res) => {
    a.seen.push({ url: req.url ?? '', headers: req.headers });
    if (a.hang) return void hanging.push(res);
    res.writeHead(a.status).end('app body');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  a.port = (server.address() as AddressInfo).port;
  a.close = async () => {
    for (const r of hanging) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return a;
}

async function get(address: { host: string; port: number }, path: string): Promise<number> {
  const res = await fetch(`http://${address.host}:${address.port}${path}`, { signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return res.status;
}

test('15020 replays a rewritten probe against the app: its status passes through, headers are sent, an unreachable or slow app is 500', async () => {
  const a = await app();
  const probes = parseAppProbers(
    JSON.stringify({
      '/app-health/reviews/readyz': { httpGet: { path: '/health?deep=1', port: a.port, scheme: 'HTTP', httpHeaders: [{ name: 'x-probe', value: 'kubelet' }] }, timeoutSeconds: 1 },
      '/app-health/reviews/livez': { httpGet: { path: '/live', port: await freePort(), scheme: 'HTTP' }, timeoutSeconds: 1 },
    }),
  );
  const server = new MergedMetricsServer(() => '', undefined, { host: '127.0.0.1', port: 0, appProbes: probes, appHost: '127.0.0.1' });
  const address = await server.listen();
  try {
    assert.equal(await get(address, '/app-health/reviews/readyz'), 200);
    assert.deepEqual([a.seen[0]!.url, a.seen[0]!.headers['x-probe'], a.seen[0]!.headers['user-agent']], ['/health?deep=1', 'kubelet', 'kube-probe/meltemi']);
    a.status = 503;
    assert.equal(await get(address, '/app-health/reviews/readyz'), 503, 'the app\'s own status, so the kubelet sees the app not ready');
    a.hang = true;
    assert.equal(await get(address, '/app-health/reviews/readyz'), 500, 'no answer within timeoutSeconds');
    assert.equal(await get(address, '/app-health/reviews/livez'), 500, 'nothing listens on the liveness port');
    assert.equal(await get(address, '/app-health/other/readyz'), 404, 'only the probes injection wrote are answered');
    assert.equal(await get(address, '/app-health/reviews/startupz'), 404);
  } finally {
    await server.close();
    await a.close();
  }
});

test('ISTIO_KUBE_APP_PROBERS is checked: bad paths, ports, schemes, headers and timeouts are refused with the entry named', () => {
  const bad = (v: unknown) => () => parseAppProbers(JSON.stringify(v));
  assert.throws(() => parseAppProbers('{'), /ISTIO_KUBE_APP_PROBERS: not JSON/);
  assert.throws(bad({ '/stats/prometheus': { httpGet: { port: 80 } } }), /"\/stats\/prometheus" is not \/app-health\/CONTAINER/);
  assert.throws(bad({ '/app-health/c/readyz': { tcpSocket: { port: 80 } } }), /only httpGet probes/);
  assert.throws(bad({ '/app-health/c/readyz': { httpGet: { port: 'http' } } }), /httpGet.port must be a port number/);
  assert.throws(bad({ '/app-health/c/readyz': { httpGet: { port: 80, path: 'health' } } }), /absolute path/);
  assert.throws(bad({ '/app-health/c/readyz': { httpGet: { port: 80, scheme: 'GOPHER' } } }), /scheme must be HTTP or HTTPS/);
  assert.throws(bad({ '/app-health/c/readyz': { httpGet: { port: 80, httpHeaders: [{ name: 'x', value: 'a\r\nInjected: 1' }] } } }), /valid header names and values/);
  assert.throws(bad({ '/app-health/c/readyz': { httpGet: { port: 80 }, timeoutSeconds: 0 } }), /timeoutSeconds must be positive/);
  const ok = parseAppProbers(JSON.stringify({ '/app-health/c/livez': { httpGet: { port: 80 } } }));
  assert.deepEqual(ok.get('/app-health/c/livez'), { path: '/', port: 80, scheme: 'HTTP', headers: [], timeoutMs: 1000 });
});

test('15020 replays at most 16 probes at once: more concurrent probe requests get 503 without reaching the app', async () => {
  const a = await app();
  a.hang = true;
  const probes = parseAppProbers(JSON.stringify({ '/app-health/web/readyz': { httpGet: { path: '/health', port: a.port }, timeoutSeconds: 2 } }));
  const server = new MergedMetricsServer(() => '', undefined, { host: '127.0.0.1', port: 0, appProbes: probes, appHost: '127.0.0.1' });
  const address = await server.listen();
  try {
    const statuses = await Promise.all(Array.from({ length: 20 }, () => get(address, '/app-health/web/readyz')));
    assert.deepEqual(
      [statuses.filter((s) => s === 500).length, statuses.filter((s) => s === 503).length],
      [16, 4],
      'sixteen probes reached the hanging app and timed out; four were refused at once',
    );
    await until('the app saw only sixteen', () => a.seen.length === 16);
  } finally {
    await server.close();
    await a.close();
  }
});
