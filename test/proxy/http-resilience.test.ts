// Circuit breaking, outlier ejection, mirroring, request bodies across retries, and pipelining — through the data path against real upstreams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import { HOST, httpMesh, startUpstream } from './http-mesh.js';

const vs = (extra: string) => `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http: [{ route: [{ destination: { host: ${HOST} } }]${extra} }]
`;

test('the circuit breaker answers 503 UO at its limit while the upstream is busy', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = await startUpstream('slow', () => ({ status: 200, body: 'ok', delayMs: 1 }));
  // Hold every request until released.
  slow.behaviour = () => ({ status: 200, body: 'ok', delayMs: 0 });
  slow.server.removeAllListeners('request');
  slow.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    slow.seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: '' });
    req.resume();
    void gate.then(() => res.end('ok'));
  });
  const dr = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec:
  host: ${HOST}
  trafficPolicy: { connectionPool: { tcp: { maxConnections: 2 }, http: { http1MaxPendingRequests: 1, http2MaxRequests: 2 } } }
`;
  const m = await httpMesh([slow], `${dr}---\n${vs(', retries: { attempts: 0 }')}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
  try {
    const inflight = [0, 1, 2, 3, 4].map(() => m.request('/', { agent }));
    // Two requests hold the two allowed requests/connections; the rest overflow.
    const overflowed = await Promise.race([Promise.all(inflight.slice(2)), new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
    assert.notEqual(overflowed, 'timeout');
    for (const r of overflowed as { status: number; body: string }[]) {
      assert.equal(r.status, 503);
      assert.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: overflow');
    }
    release();
    for (const r of await Promise.all(inflight.slice(0, 2))) assert.equal(r.status, 200);
    assert.equal(m.records.filter((r) => r.responseFlags.includes('UO')).length, 3);
  } finally {
    agent.destroy();
    await m.close();
  }
});

test('an endpoint answering 5xx is ejected by outlier detection and traffic moves to the healthy one', async () => {
  const bad = await startUpstream('bad', () => ({ status: 500, body: 'bad' }));
  const good = await startUpstream('good');
  const dr = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec:
  host: ${HOST}
  trafficPolicy:
    loadBalancer: { simple: ROUND_ROBIN }
    outlierDetection: { consecutive5xxErrors: 3, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 100 }
`;
  const m = await httpMesh([bad, good], `${dr}---\n${vs(', retries: { attempts: 0 }')}`);
  try {
    for (let i = 0; i < 10; i++) await m.request('/');
    assert.equal(bad.seen.length, 3, 'three consecutive 5xx, then ejected');
    const after: string[] = [];
    for (let i = 0; i < 20; i++) after.push((await m.request('/')).body);
    assert.ok(after.every((b) => b === 'good'));
    const clusters = m.plane.clusters.clustersText();
    assert.match(clusters, new RegExp(`127\\.0\\.0\\.1:${bad.port}::health_flags::/failed_outlier_check`));
  } finally {
    await m.close();
  }
});

test('the mirror receives a copy of each request with the -shadow host; its answers are ignored', async () => {
  const main = await startUpstream('main');
  const mirror = await startUpstream('mirror', () => ({ status: 500, body: 'ignored' }));
  const m = await httpMesh([main], '');
  try {
    // A second service for the mirror, on its own port.
    const mirrorHost = 'mirror.default.svc.cluster.local';
    m.store.apply({
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'ServiceEntry',
      metadata: { name: 'mirror', namespace: 'default' },
      spec: { hosts: [mirrorHost], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: m.servicePort, name: 'http', protocol: 'HTTP' }], endpoints: [{ address: '127.0.0.1', ports: { http: mirror.port } }] },
    });
    m.store.apply({ apiVersion: 'networking.istio.io/v1beta1', kind: 'VirtualService', metadata: { name: 'web', namespace: 'default' }, spec: { hosts: [HOST], http: [{ route: [{ destination: { host: HOST } }], mirror: { host: mirrorHost } }] } });
    await m.push();
    for (let i = 0; i < 5; i++) {
      const r = await m.request(`/m${i}`, { method: 'POST', body: `body-${i}` });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'main');
    }
    const deadline = Date.now() + 5000;
    while (mirror.seen.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(mirror.seen.length, 5);
    assert.equal(mirror.seen[0]!.headers.host, `${HOST}-shadow:${m.servicePort}`);
    assert.deepEqual(mirror.seen.map((s) => s.body).sort(), ['body-0', 'body-1', 'body-2', 'body-3', 'body-4']);
  } finally {
    await m.close();
    mirror.server.closeAllConnections();
    await new Promise<void>((r) => mirror.server.close(() => r()));
  }
});

test('a POST body is replayed on retry, chunked or with a length', async () => {
  const flaky = await startUpstream('flaky', (_req, n) => (n % 2 === 1 ? 'reset' : { status: 200, body: 'ok' }));
  const m = await httpMesh([flaky], vs(', retries: { attempts: 2, retryOn: "reset,connect-failure" }'));
  try {
    const r = await m.request('/upload', { method: 'POST', body: 'x'.repeat(5000), headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 200);
    assert.equal(flaky.seen.length, 2);
    assert.equal(flaky.seen[1]!.body.length, 5000);
    // Chunked (no content-length): write a body in pieces through a raw socket.
    const s = net.connect(m.servicePort, '127.0.0.1');
    await once(s, 'connect');
    s.write(`POST /chunked HTTP/1.1\r\nhost: ${HOST}:${m.servicePort}\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    await new Promise((res) => setTimeout(res, 50));
    s.write('6\r\n world\r\n0\r\n\r\n');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    const deadline = Date.now() + 5000;
    while (!Buffer.concat(chunks).toString().includes('ok') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    s.destroy();
    assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 200 OK/);
    assert.equal(flaky.seen[flaky.seen.length - 1]!.body, 'hello world');
  } finally {
    await m.close();
  }
});

test('pipelined requests on one connection are answered in order', async () => {
  const echo = await startUpstream('echo', (req) => ({ status: 200, body: `path=${req.url}` }));
  const m = await httpMesh([echo], '');
  try {
    const s = net.connect(m.servicePort, '127.0.0.1');
    await once(s, 'connect');
    const req = (p: string) => `GET ${p} HTTP/1.1\r\nhost: ${HOST}:${m.servicePort}\r\n\r\n`;
    s.write(req('/one') + req('/two') + req('/three'));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    const deadline = Date.now() + 5000;
    while ((Buffer.concat(chunks).toString().match(/HTTP\/1\.1 200/g) ?? []).length < 3 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    s.destroy();
    const text = Buffer.concat(chunks).toString();
    const bodies = text.match(/path=\/[a-z]+/g);
    assert.deepEqual(bodies, ['path=/one', 'path=/two', 'path=/three']);
  } finally {
    await m.close();
  }
});

test('smuggling attempts are refused with 400 and never reach the upstream; the next connection works', async () => {
  const up = await startUpstream('up');
  const m = await httpMesh([up], '');
  try {
    const raw = async (text: string) => {
      const s = net.connect(m.servicePort, '127.0.0.1');
      await once(s, 'connect');
      s.write(text);
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      await once(s, 'close');
      return Buffer.concat(chunks).toString();
    };
    const h = `host: ${HOST}:${m.servicePort}`;
    assert.match(await raw(`POST / HTTP/1.1\r\n${h}\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`), /^HTTP\/1\.1 400/);
    assert.match(await raw(`POST / HTTP/1.1\r\n${h}\r\ncontent-length: 4\r\ncontent-length: 5\r\n\r\nabcde`), /^HTTP\/1\.1 400/);
    assert.match(await raw(`GET / HTTP/1.1\r\n${h}\r\nx-bad : 1\r\n\r\n`), /^HTTP\/1\.1 400/);
    assert.equal(up.seen.length, 0);
    assert.equal((await m.request('/')).status, 200);
  } finally {
    await m.close();
  }
});
