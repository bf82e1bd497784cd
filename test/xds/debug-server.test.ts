import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '../../src/api/kind.js';
import { DebugServer } from '../../src/xds/debug-server.js';
import type { RegistrySnapshot, Service, Endpoint } from '../../src/registry/types.js';
import { MetricsRegistry } from '../../src/shared/metrics.js';
import { isMeshError } from '../../src/shared/errors.js';

const svc: Service = {
  hostname: 'echo.default.svc.cluster.local',
  namespace: 'default',
  origin: 'serviceentry',
  sourceName: 'echo',
  addresses: [],
  ports: [{ name: 'grpc', port: 7070, protocol: 'GRPC' }],
  resolution: 'STATIC',
  location: 'MESH_INTERNAL',
  exportTo: [],
  labels: {},
  subjectAltNames: [],
};
const ep: Endpoint = {
  hostname: svc.hostname,
  servicePort: 7070,
  address: '127.0.0.1',
  port: 40001,
  labels: { version: 'v1' },
  namespace: 'default',
  workloadName: 'echo-v1',
  serviceAccount: '',
  locality: '',
  weight: 1,
  healthy: true,
  sidecar: false,
};
const snapshot: RegistrySnapshot = { version: 7, services: [svc], workloads: [], endpoints: (h, p) => (h === svc.hostname && p === 7070 ? [ep] : []) };

async function withServer<T>(providers: ConstructorParameters<typeof DebugServer>[0], fn: (base: string) => Promise<T>): Promise<T> {
  const s = new DebugServer(providers, { port: 0 });
  const { port, host } = await s.listen();
  assert.equal(host, '127.0.0.1');
  try {
    return await fn(`http://127.0.0.1:${port}`);
  } finally {
    await s.close();
  }
}

test('serves syncz, config_dump, registryz, configz, push_status and metrics', async () => {
  const metrics = new MetricsRegistry();
  metrics.gauge('pilot_xds', 'Number of endpoints connected to this pilot using XDS.', ['version']).set({ version: 'meltemi' }, 1);
  const config: Resource = { apiVersion: 'networking.istio.io/v1beta1', kind: 'VirtualService', metadata: { name: 'echo', namespace: 'default' }, spec: { hosts: ['echo'] } };
  await withServer(
    {
      syncz: () => [{ proxy: 'sidecar~1.2.3.4~a.default~default.svc.cluster.local' }],
      configDump: (id) => (id === 'a.default' ? { configs: [] } : undefined),
      registry: () => snapshot,
      configs: () => [config],
      push: () => ({ version: 'v9', messages: [{ level: 'Warning', resource: 'x', message: 'm' }] }) as never,
      metrics,
    },
    async (base) => {
      const syncz = await fetch(`${base}/debug/syncz`);
      assert.equal(syncz.status, 200);
      assert.match(syncz.headers.get('content-type')!, /^application\/json/);
      assert.deepEqual(await syncz.json(), [{ proxy: 'sidecar~1.2.3.4~a.default~default.svc.cluster.local' }]);
      assert.deepEqual(await (await fetch(`${base}/debug/config_dump?proxyID=a.default`)).json(), { configs: [] });
      const missing = await fetch(`${base}/debug/config_dump?proxyID=b.default`);
      assert.equal(missing.status, 404);
      assert.equal((await fetch(`${base}/debug/config_dump`)).status, 400);
      const reg = (await (await fetch(`${base}/debug/registryz`)).json()) as { version: number; services: (Service & { endpoints: Record<string, Endpoint[]> })[] };
      assert.equal(reg.version, 7);
      assert.equal(reg.services[0]!.hostname, svc.hostname);
      assert.deepEqual(reg.services[0]!.endpoints, { '7070': [ep] });
      assert.deepEqual(await (await fetch(`${base}/debug/configz`)).json(), [config]);
      assert.deepEqual(await (await fetch(`${base}/debug/push_status`)).json(), { version: 'v9', messages: [{ level: 'Warning', resource: 'x', message: 'm' }] });
      const m = await fetch(`${base}/metrics`);
      assert.equal(m.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      assert.match(await m.text(), /^pilot_xds\{version="meltemi"\} 1$/m);
      const index = (await (await fetch(`${base}/debug`)).json()) as Record<string, string>;
      assert.ok('/debug/syncz' in index);
      assert.equal((await fetch(`${base}/debug/nope`)).status, 404);
      assert.equal((await fetch(`${base}/debug/syncz`, { method: 'POST' })).status, 405);
    },
  );
});

test('configz redacts the values of Kubernetes Secrets', async () => {
  const secret: Resource = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cacerts', namespace: 'istio-system' }, data: { 'ca-key.pem': 'LS0tLS1CRUdJTi...' }, stringData: { token: 'hunter2' } };
  await withServer({ configs: () => [secret] }, async (base) => {
    const text = await (await fetch(`${base}/debug/configz`)).text();
    assert.doesNotMatch(text, /LS0tLS1CRUdJTi|hunter2/);
    const [s] = JSON.parse(text) as Resource[];
    assert.deepEqual(s!.data, { 'ca-key.pem': '[redacted]' });
    assert.deepEqual(s!.stringData, { token: '[redacted]' });
  });
});

test('works with no providers: empty answers, not errors', async () => {
  await withServer({}, async (base) => {
    assert.deepEqual(await (await fetch(`${base}/debug/syncz`)).json(), []);
    assert.deepEqual(await (await fetch(`${base}/debug/registryz`)).json(), { version: 0, services: [] });
    assert.equal((await fetch(`${base}/debug/config_dump?proxyID=x`)).status, 404);
  });
});

test('refuses to bind a non-loopback address unless asked', async () => {
  await assert.rejects(new DebugServer({}, { host: '0.0.0.0', port: 0 }).listen(), (e: unknown) => isMeshError(e, 'MESH_USAGE') && /not loopback/.test(e.message));
  const s = new DebugServer({}, { host: '0.0.0.0', port: 0, allowRemote: true });
  const { port } = await s.listen();
  assert.ok(port > 0);
  await s.close();
});

test('a provider that throws gives a 500 with the message', async () => {
  await withServer({ syncz: () => { throw new Error('boom'); } }, async (base) => {
    const r = await fetch(`${base}/debug/syncz`);
    assert.equal(r.status, 500);
    assert.deepEqual(await r.json(), { error: 'boom' });
  });
});
