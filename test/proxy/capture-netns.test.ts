// `meltemi proxy --capture` in a real network namespace with Istio's iptables REDIRECT rules: outbound connections reach 15001 and are routed by their original destination, inbound ones reach 15006 and the app behind it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { Discovery } from '../../src/xds/discovery.js';
import { DEFAULT_INTERCEPTION, interceptionRules } from '../../src/cni/iptables.js';
import { captureUnavailable } from '../../src/proxy/network/original-dst.js';
import { createNetnsPair, ensureIptables, execInNetns, rootNetnsSupport, spawnInNetns, type NetnsPair } from '../helpers/netns.js';
import { until } from './http-mesh.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SERVICE_VIP = '10.199.0.10';
const APP_PORT = 8080;
/** A port the app listens on that no service declares: inbound traffic to it passes through. */
const UNDECLARED_PORT = 9999;

function meshYaml(pod: NetnsPair, echoPort: number): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: echo, namespace: default }
spec:
  hosts: [echo.default.svc.cluster.local]
  addresses: [${SERVICE_VIP}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: ${pod.hostIp}, ports: { http: ${echoPort} }, labels: { app: echo } }]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [echo.default.svc.cluster.local]
  http:
  - route: [{ destination: { host: echo.default.svc.cluster.local } }]
    headers: { response: { set: { x-routed-by: echo-virtual-service } } }
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: client, namespace: default }
spec:
  hosts: [client.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${APP_PORT}, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: client } }
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: client-1, namespace: default }
spec: { address: ${pod.podIp}, labels: { app: client } }
`;
}

/** A client run inside the pod as root (not the proxy's UID, so its connections are redirected). */
const POD_CLIENT = `
const [mode, host, port, extra] = process.argv.slice(1);
const done = (o) => { process.stdout.write(JSON.stringify(o)); process.exit(0); };
if (mode === 'http') {
  const http = await import('node:http');
  const req = http.get({ host, port: Number(port), path: '/hello', headers: { host: extra } }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => done({ status: res.statusCode, headers: res.headers, body }));
  });
  req.on('error', (e) => done({ error: e.code ?? e.message }));
  req.setTimeout(5000, () => req.destroy(new Error('timeout')));
} else {
  const net = await import('node:net');
  const s = net.connect({ host, port: Number(port) });
  let got = '';
  s.on('data', (c) => { got += c; if (got.includes('\\n')) { s.end(); done({ reply: got.trim() }); } });
  s.on('error', (e) => done({ error: e.code ?? e.message }));
  s.on('close', () => done({ reply: got.trim(), closed: true }));
  s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  s.write(extra + '\\n');
}
`;

function skipReason(): string | undefined {
  return rootNetnsSupport() ?? ensureIptables() ?? captureUnavailable();
}

test('a captured sidecar routes outbound connections by their original destination and serves inbound ones through 15006', { timeout: 120_000 }, async (t) => {
  const reason = skipReason();
  if (reason) {
    t.skip(reason);
    return;
  }
  const pod = createNetnsPair('mcap');
  t.after(() => pod.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-capture-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // Outside the pod (root namespace, on the veth's host address): the echo service's endpoint and a
  // TCP server no service declares (reached through PassthroughCluster, the ORIGINAL_DST cluster).
  const echo = http.createServer((req, res) => res.end(JSON.stringify({ url: req.url, requestId: req.headers['x-request-id'] ?? null })));
  echo.listen(0, pod.hostIp);
  await once(echo, 'listening');
  t.after(() => echo.close());
  const plain = net.createServer((s) => s.on('data', (d) => s.end(`plain:${String(d).trim()}\n`)));
  plain.listen(0, pod.hostIp);
  await once(plain, 'listening');
  t.after(() => plain.close());
  const echoPort = (echo.address() as net.AddressInfo).port;
  const plainPort = (plain.address() as net.AddressInfo).port;

  writeFileSync(join(dir, 'mesh.yaml'), meshYaml(pod, echoPort));
  const discovery = await new Discovery({ configDir: dir, xdsHost: pod.hostIp, allowRemoteXds: true, xdsPort: 0, debugPort: 0, debounceAfterMs: 10 }).start();
  t.after(() => discovery.close());

  // Inside the pod: Istio's REDIRECT rules, the app on 127.0.0.1, and the sidecar as UID 1337.
  const rules = await execInNetns(pod.name, ['iptables-restore', '--noflush'], { input: interceptionRules(DEFAULT_INTERCEPTION).ipv4 });
  assert.equal(rules.code, 0, rules.stderr);
  const appScript = join(dir, 'app.mjs');
  // The app: its declared HTTP port on 127.0.0.1 (where Istio's inbound clusters point), and an
  // undeclared TCP port on every address that answers with the peer's address.
  writeFileSync(
    appScript,
    `import http from 'node:http';\nimport net from 'node:net';\n` +
      `http.createServer((req, res) => res.end(JSON.stringify({ app: 'client', url: req.url, requestId: req.headers['x-request-id'] ?? null }))).listen(${APP_PORT}, '127.0.0.1');\n` +
      `net.createServer((s) => s.on('data', () => s.end('from ' + s.remoteAddress + '\\n'))).listen(${UNDECLARED_PORT}, '0.0.0.0');\n`,
  );
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
  const app = spawnInNetns(pod.name, [process.execPath, appScript]);
  children.push(app);
  const proxyLog: string[] = [];
  const proxy = spawnInNetns(pod.name, [
    'setpriv', '--reuid=1337', '--regid=1337', '--clear-groups', '--',
    process.execPath, join(ROOT, 'bin', 'meltemi.js'), 'proxy', '--capture',
    '--discovery', discovery.xdsAddress,
    '--node-id', `sidecar~${pod.podIp}~client-1.default~default.svc.cluster.local`,
    '--labels', 'app=client', '--access-log', 'json', '--drain-seconds', '0',
  ], { cwd: ROOT, env: { ...process.env, HOME: dir } });
  children.push(proxy);
  for (const stream of [proxy.stdout!, proxy.stderr!]) stream.setEncoding('utf8').on('data', (d: string) => proxyLog.push(d));
  t.after(() => {
    if (proxy.exitCode === null) proxy.kill('SIGTERM');
  });

  const ready = async () => {
    try {
      return (await fetch(`http://${pod.podIp}:15021/healthz/ready`, { signal: AbortSignal.timeout(2000) })).status === 200;
    } catch {
      return false;
    }
  };
  await until('the captured sidecar to be ready', ready, 60_000).catch((e: Error) => {
    throw new Error(`${e.message}; its log: ${proxyLog.join('').slice(-1500)}`);
  });

  const podClient = async (...args: string[]) => {
    const r = await execInNetns(pod.name, [process.execPath, '--input-type=module', '-e', POD_CLIENT, ...args], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  // Outbound HTTP to the service's virtual IP: 15001 hands it to 0.0.0.0_80 and the VirtualService's route.
  const viaVip = await podClient('http', SERVICE_VIP, '80', 'echo.default.svc.cluster.local');
  assert.equal(viaVip.status, 200, JSON.stringify(viaVip));
  assert.equal((viaVip.headers as Record<string, string>)['x-routed-by'], 'echo-virtual-service');
  const echoed = JSON.parse(viaVip.body as string) as { url: string; requestId: string | null };
  assert.equal(echoed.url, '/hello');
  assert.match(echoed.requestId ?? '', /^[0-9a-f-]{36}$/, 'the sidecar gave the request an x-request-id');

  // Outbound TCP to an address no service declares: ALLOW_ANY passes it through to that very address.
  assert.deepEqual(await podClient('tcp', pod.hostIp, String(plainPort), 'ping'), { reply: 'plain:ping' });

  // Inbound: a connection to the pod's port 8080 is redirected to 15006 and reaches the app on 127.0.0.1.
  const inbound = await new Promise<{ status: number; body: string }>((resolvePromise, reject) => {
    const req = http.get({ host: pod.podIp, port: APP_PORT, path: '/inside', headers: { host: 'client.default.svc.cluster.local' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolvePromise({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
  assert.equal(inbound.status, 200);
  const seen = JSON.parse(inbound.body) as { app: string; url: string; requestId: string | null };
  assert.equal(seen.app, 'client');
  assert.equal(seen.url, '/inside');
  assert.match(seen.requestId ?? '', /^[0-9a-f-]{36}$/, 'the request went through the sidecar, which set x-request-id');

  // Inbound to a port no service declares: InboundPassthroughClusterIpv4 connects to the original
  // destination from 127.0.0.6 (its upstream_bind_config), which the rules leave alone, so it cannot loop.
  const raw = await new Promise<string>((resolvePromise, reject) => {
    const s = net.connect({ host: pod.podIp, port: UNDECLARED_PORT });
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString()));
    s.on('end', () => resolvePromise(got.trim()));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.write('hi\n');
  });
  assert.equal(raw, 'from 127.0.0.6');

  // The access log shows each connection under the cluster its original destination chose.
  await until('four access log lines', () => proxyLog.join('').split('\n').filter((l) => l.startsWith('{')).length >= 4, 10_000);
  const entries = proxyLog.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const clusters = entries.map((e) => e.upstream_cluster);
  assert.ok(clusters.includes('outbound|80||echo.default.svc.cluster.local'), JSON.stringify(clusters));
  assert.ok(clusters.includes('PassthroughCluster'), JSON.stringify(clusters));
  assert.ok(clusters.includes(`inbound|${APP_PORT}||`), JSON.stringify(clusters));
  assert.ok(clusters.includes('InboundPassthroughClusterIpv4'), JSON.stringify(clusters));
  const passthrough = entries.find((e) => e.upstream_cluster === 'PassthroughCluster')!;
  assert.equal(passthrough.upstream_host, `${pod.hostIp}:${plainPort}`, 'the original destination is the host');
  assert.equal(passthrough.downstream_local_address, `${pod.hostIp}:${plainPort}`);

  proxy.kill('SIGTERM');
  await once(proxy, 'exit');
});
