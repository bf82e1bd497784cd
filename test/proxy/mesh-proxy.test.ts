// `meltemi proxy` end to end: configured only by xDS from a running Discovery, serving through its loss, picking up changes after it returns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Discovery } from '../../src/xds/discovery.js';
import { MeshProxy } from '../../src/proxy/mesh-proxy.js';
import { HOST, freePort, startGrpcUpstream, startUpstream, until, webServiceEntry } from './http-mesh.js';
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';

function configYaml(servicePort: number, ports: number[], subset: 'v1' | 'v2'): string {
  return `${webServiceEntry(servicePort)}${ports.map((p, i) => `---\napiVersion: networking.istio.io/v1beta1\nkind: WorkloadEntry\nmetadata: { name: web-${i + 1}, namespace: default }\nspec: { address: 127.0.0.1, ports: { http: ${p} }, labels: { app: web, version: v${i + 1} } }\n`).join('')}---
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
      statsPort: 0,
      mergedMetricsPort: 0,
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
      // Istio's standard metrics on 15090, source-reported by this client sidecar.
      const prom = await (await fetch(`http://${proxy.statsAddress}/stats/prometheus`)).text();
      const line = prom.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="200"'))!;
      assert.ok(line, prom.slice(0, 500));
      assert.match(line, /reporter="source"/);
      assert.match(line, /source_workload="client-1"/);
      assert.match(line, /source_app="client"/);
      assert.match(line, new RegExp(`destination_service="${HOST.replaceAll('.', '\\.')}"`));
      assert.match(line, /destination_service_name="web"/);
      assert.match(line, /destination_workload="unknown"/, 'the upstream is not a sidecar: no peer metadata');
      assert.ok(Number(line.split(' ').pop()) >= results.length);
      assert.match(prom, /istio_request_duration_milliseconds_bucket\{[^}]*le="0\.5"\}/);
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

test('two sidecars exchange metadata: both report the request with each other\'s workload labels', { timeout: 60_000 }, async () => {
  const appPort = await freePort();
  const servicePort = await freePort();
  // The app listens on 127.0.0.1:appPort (Istio's inbound cluster target); its sidecar on the pod address 127.0.0.2.
  const app = await startUpstream('app', undefined, appPort);
  const xdsPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-proxy-'));
  writeFileSync(
    join(dir, 'mesh.yaml'),
    `${webServiceEntry(servicePort)}---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-1, namespace: default }
spec: { address: 127.0.0.2, ports: { http: ${appPort} }, labels: { app: web, version: v1 } }
`,
  );
  const discovery = await new Discovery({ configDir: dir, xdsPort, debugPort: 0, debounceAfterMs: 10 }).start();
  const common = { discovery: `127.0.0.1:${xdsPort}`, adminPort: 0, healthPort: 0, statsPort: 0, mergedMetricsPort: 0, healthHost: '127.0.0.1', drainMs: 100, backoff: { baseMs: 50, maxMs: 200 } };
  const server = new MeshProxy({ ...common, node: { type: 'sidecar', ips: ['127.0.0.2'], podName: 'web-1', namespace: 'default', labels: { app: 'web', version: 'v1' } }, plan: { mode: 'sidecar', inboundAddress: '127.0.0.2' } });
  const client = new MeshProxy({ ...common, node: { type: 'sidecar', ips: ['127.0.0.1'], podName: 'client-1', namespace: 'default', labels: { app: 'client', version: 'v9' } }, plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' } });
  try {
    await server.start();
    await client.start();
    await until('both proxies LIVE', () => server.serverState === 'LIVE' && client.serverState === 'LIVE');
    await until('the inbound listener', () => server.plane.listeners.bound.includes(`127.0.0.2:${appPort}`));
    await until('the outbound listener', () => client.plane.listeners.bound.includes(`127.0.0.1:${servicePort}`));
    for (let i = 0; i < 5; i++) {
      // (fetch cannot set Host; the route is chosen by it.)
      const text = await new Promise<string>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: servicePort, path: '/x', headers: { host: HOST } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        }).on('error', reject);
      });
      assert.equal(text, 'app');
    }
    assert.equal(app.seen.length, 5);
    assert.equal(app.seen[0]!.headers['x-envoy-peer-metadata'], undefined, 'the app never sees the exchange headers');
    const requests = async (p: MeshProxy) => (await (await fetch(`http://${p.statsAddress}/stats/prometheus`)).text()).split('\n').find((l) => l.startsWith('istio_requests_total{'))!;
    const src = await requests(client);
    const dst = await requests(server);
    for (const [line, reporter] of [
      [src, 'source'],
      [dst, 'destination'],
    ] as const) {
      assert.match(line, new RegExp(`reporter="${reporter}"`));
      assert.match(line, /source_workload="client-1".*source_app="client",source_version="v9"/);
      assert.match(line, /destination_workload="web-1".*destination_app="web",destination_version="v1"/);
      assert.match(line, / 5$/);
    }
  } finally {
    await client.stop();
    await server.stop();
    await discovery.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A string-message gRPC service (no .proto): a unary call that can fail, and a bidi echo. */
const utf8 = { serialize: (s: string) => Buffer.from(s), deserialize: (b: Buffer) => b.toString() };
const PING = {
  unary: { path: '/meltemi.test.Ping/Unary', requestStream: false, responseStream: false, requestSerialize: utf8.serialize, requestDeserialize: utf8.deserialize, responseSerialize: utf8.serialize, responseDeserialize: utf8.deserialize },
  bidi: { path: '/meltemi.test.Ping/Bidi', requestStream: true, responseStream: true, requestSerialize: utf8.serialize, requestDeserialize: utf8.deserialize, responseSerialize: utf8.serialize, responseDeserialize: utf8.deserialize },
} satisfies grpc.ServiceDefinition;

test('gRPC across two sidecars: bidi streaming round trips and a NOT_FOUND with trailing metadata, counted by both reporters', { timeout: 60_000 }, async () => {
  const app = await startGrpcUpstream('app', PING, {
    unary: (call: grpc.ServerUnaryCall<string, string>, cb: grpc.sendUnaryData<string>) => {
      if (call.request === 'missing') {
        const md = new grpc.Metadata();
        md.set('x-detail', 'no such thing');
        return cb({ code: grpc.status.NOT_FOUND, details: 'not here', metadata: md });
      }
      cb(null, `pong:${call.request}`);
    },
    bidi: (call: grpc.ServerDuplexStream<string, string>) => {
      call.on('data', (m: string) => call.write(`pong:${m}`));
      call.on('end', () => call.end());
    },
  });
  const servicePort = await freePort();
  const xdsPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-proxy-'));
  // The app listens on 127.0.0.1; its sidecar's inbound listener on the pod address 127.0.0.2, same port.
  writeFileSync(
    join(dir, 'mesh.yaml'),
    `${webServiceEntry(servicePort, { name: 'grpc', protocol: 'GRPC' })}---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-1, namespace: default }
spec: { address: 127.0.0.2, ports: { grpc: ${app.port} }, labels: { app: web, version: v1 } }
`,
  );
  const discovery = await new Discovery({ configDir: dir, xdsPort, debugPort: 0, debounceAfterMs: 10 }).start();
  const common = { discovery: `127.0.0.1:${xdsPort}`, adminPort: 0, healthPort: 0, statsPort: 0, mergedMetricsPort: 0, healthHost: '127.0.0.1', drainMs: 100, backoff: { baseMs: 50, maxMs: 200 } };
  const server = new MeshProxy({ ...common, node: { type: 'sidecar', ips: ['127.0.0.2'], podName: 'web-1', namespace: 'default', labels: { app: 'web', version: 'v1' } }, plan: { mode: 'sidecar', inboundAddress: '127.0.0.2' } });
  const client = new MeshProxy({ ...common, node: { type: 'sidecar', ips: ['127.0.0.1'], podName: 'client-1', namespace: 'default', labels: { app: 'client', version: 'v9' } }, plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' } });
  const Client = grpc.makeGenericClientConstructor(PING, 'Ping');
  let stub: grpc.Client | undefined;
  try {
    await server.start();
    await client.start();
    await until('the inbound listener', () => server.plane.listeners.bound.includes(`127.0.0.2:${app.port}`));
    await until('the outbound listener', () => client.plane.listeners.bound.includes(`127.0.0.1:${servicePort}`));
    stub = new Client(`127.0.0.1:${servicePort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': `${HOST}:${servicePort}` });
    const c = stub as unknown as { bidi(): grpc.ClientDuplexStream<string, string>; unary(m: string, cb: (e: grpc.ServiceError | null, r?: string) => void): void };
    const deadline = Date.now() + 15_000;
    // Ping-pong: each ping leaves only after the previous pong came back through both sidecars.
    const call = c.bidi();
    const pongs: string[] = [];
    for (let i = 0; i < 5 && Date.now() < deadline; i++) {
      const pong = new Promise<string>((resolve, reject) => {
        call.once('data', resolve);
        call.once('error', reject);
      });
      call.write(`ping${i}`);
      pongs.push(await pong);
    }
    call.end();
    assert.deepEqual(pongs, ['pong:ping0', 'pong:ping1', 'pong:ping2', 'pong:ping3', 'pong:ping4']);
    const failure = await new Promise<grpc.ServiceError>((resolve, reject) => c.unary('missing', (e) => (e ? resolve(e) : reject(new Error('expected NOT_FOUND')))));
    assert.equal(failure.code, grpc.status.NOT_FOUND);
    assert.equal(failure.details, 'not here');
    assert.deepEqual(failure.metadata.get('x-detail'), ['no such thing']);
    const lines = async (p: MeshProxy) => (await (await fetch(`http://${p.statsAddress}/stats/prometheus`)).text()).split('\n').filter((l) => l.startsWith('istio_requests_total{'));
    for (const [p, reporter] of [
      [client, 'source'],
      [server, 'destination'],
    ] as const) {
      const found = await lines(p);
      const notFound = found.find((l) => l.includes('grpc_response_status="5"'));
      assert.ok(notFound, `${reporter}: ${found.join('\n')}`);
      assert.match(notFound, new RegExp(`reporter="${reporter}".*destination_workload="web-1".*request_protocol="grpc",response_code="200"`));
      assert.ok(found.some((l) => l.includes('grpc_response_status="0"')), `${reporter}: the bidi call is counted OK`);
    }
  } finally {
    stub?.close();
    await client.stop();
    await server.stop();
    await discovery.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
