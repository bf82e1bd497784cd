// The proxy admin API: Envoy's endpoints on loopback, config dump of the active config, POST-only quit, 15021 readiness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer, HealthServer, type AdminSource, type ServerState } from '../../src/proxy/admin/admin-server.js';
import { buildProxyConfig, type ProxyConfig } from '../../src/proxy/config/proxy-config.js';

const cluster = { name: 'outbound|80||web.default.svc.cluster.local', type: 'STATIC', connect_timeout: '1s' };

function source(): AdminSource & { quits: number; setState(s: ServerState): void; setConfig(c: ProxyConfig): void } {
  let state: ServerState = 'INITIALIZING';
  let config: ProxyConfig | undefined;
  const s = {
    quits: 0,
    setState: (x: ServerState) => void (state = x),
    setConfig: (c: ProxyConfig) => void (config = c),
    config: () => config,
    state: () => state,
    clusters: () => `${cluster.name}::127.0.0.1:8080::health_flags::healthy\n`,
    stats: () => 'cluster_manager.active_clusters: 1\n',
    prometheus: () => '# TYPE istio_requests_total counter\n',
    serverInfo: () => ({ version: 'meltemi-test' }),
    quit: () => void s.quits++,
  };
  return s;
}

test('admin endpoints answer as Envoy does; quit needs POST', async () => {
  const src = source();
  const admin = new AdminServer(src, { port: 0 });
  const { port } = await admin.listen();
  const get = async (path: string, method = 'GET') => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
    return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
  };
  try {
    assert.deepEqual(await get('/ready'), { status: 503, type: 'text/plain; charset=utf-8', body: 'INITIALIZING\n' });
    src.setConfig(buildProxyConfig({ listeners: new Map(), routes: new Map(), clusters: new Map([[cluster.name, cluster]]), endpoints: new Map() }, 4));
    src.setState('LIVE');
    assert.equal((await get('/ready')).body, 'LIVE\n');
    const dump = JSON.parse((await get('/config_dump')).body) as { configs: { '@type': string; version_info?: string; dynamic_active_clusters?: { cluster: { name: string } }[] }[] };
    assert.equal(dump.configs[0]!['@type'], 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump');
    assert.equal(dump.configs[0]!.version_info, '4');
    assert.deepEqual(dump.configs[0]!.dynamic_active_clusters!.map((c) => c.cluster.name), [cluster.name]);
    assert.match((await get('/clusters')).body, /::health_flags::healthy/);
    assert.equal((await get('/stats/prometheus')).type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(JSON.parse((await get('/server_info')).body).state, 'LIVE');
    assert.equal((await get('/quitquitquit')).status, 405);
    assert.equal(src.quits, 0);
    assert.equal((await get('/quitquitquit', 'POST')).status, 200);
    assert.equal(src.quits, 1);
    assert.equal((await get('/nope')).status, 404);
  } finally {
    await admin.close();
  }
});

test('the admin API refuses a non-loopback address unless allowed', async () => {
  await assert.rejects(new AdminServer(source(), { host: '0.0.0.0', port: 0 }).listen(), /not loopback/);
});

test('15021 /healthz/ready follows readiness and reveals nothing else', async () => {
  let ready = false;
  const health = new HealthServer(() => ready, { host: '127.0.0.1', port: 0 });
  const { port } = await health.listen();
  try {
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz/ready`)).status, 503);
    ready = true;
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz/ready`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/config_dump`)).status, 404);
  } finally {
    await health.close();
  }
});
