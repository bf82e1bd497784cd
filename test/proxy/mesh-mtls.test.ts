// Mutual TLS end to end: a Discovery, its CA, and two sidecars that fetch their own certificates with their tokens; auto-mTLS between them, PeerAuthentication STRICT refusing plaintext and PERMISSIVE accepting both, the caller's identity in x-forwarded-client-cert and in the server's metrics.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { caServerCredentials } from '../../src/ca/ca-server.js';
import { MeshProxy } from '../../src/proxy/mesh-proxy.js';
import { Discovery } from '../../src/xds/discovery.js';
import { HOST, freePort, startUpstream, until, webServiceEntry, TEST_PROXY_SERVERS } from './http-mesh.js';
import { CA_NAMES, mtlsWebYaml, startMeshCa } from './mesh-ca.js';

const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/web';

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/x', headers: { host: HOST }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** A plaintext HTTP/1.1 request straight to the server sidecar's inbound port: answered, or refused (closed without an answer). */
function plaintext(host: string, port: number): Promise<'answered' | 'refused'> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect(port, host, () => socket.write(`GET /x HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`));
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (answer += c));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer.startsWith('HTTP/1.1 200') ? 'answered' : 'refused'));
  });
}

test('two sidecars with CA-issued identities: auto-mTLS, STRICT refuses plaintext, PERMISSIVE takes both, the caller is named to the app and in the metrics', { timeout: 90_000 }, async () => {
  const appPort = await freePort();
  const servicePort = await freePort();
  const app = await startUpstream('app', undefined, appPort);
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-mtls-'));
  const config = join(dir, 'config');
  const writeConfig = (mode: 'STRICT' | 'PERMISSIVE') => writeFileSync(join(config, 'mesh.yaml'), mtlsWebYaml(servicePort, appPort, mode));
  mkdirSync(config);
  writeConfig('STRICT');
  const ca = await startMeshCa(dir);

  const xdsPort = await freePort();
  const discovery = await new Discovery({ configDir: config, xdsPort, debugPort: 0, debounceAfterMs: 10 }).start();
  const common = { discovery: `127.0.0.1:${xdsPort}`, adminPort: 0, healthPort: 0, statsPort: 0, mergedMetricsPort: 0, healthHost: '127.0.0.1', drainMs: 100, backoff: { baseMs: 50, maxMs: 200 } };
  const server = new MeshProxy({
    ...common,
    identity: ca.identity('web'),
    node: { type: 'sidecar', ips: ['127.0.0.2'], podName: 'web-1', namespace: 'default', serviceAccount: 'web', labels: { app: 'web', version: 'v1' } },
    plan: { mode: 'sidecar', inboundAddress: '127.0.0.2' },
  });
  const client = new MeshProxy({
    ...common,
    identity: ca.identity('client'),
    node: { type: 'sidecar', ips: ['127.0.0.1'], podName: 'client-1', namespace: 'default', serviceAccount: 'client', labels: { app: 'client' } },
    plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' },
  });
  try {
    await server.start();
    await client.start();
    await until('both proxies LIVE (configuration and certificate)', () => server.serverState === 'LIVE' && client.serverState === 'LIVE');
    assert.equal(server.certificates?.identity, SERVER_ID);
    assert.equal(client.certificates?.identity, CLIENT_ID);
    await until('the inbound listener', () => server.plane.listeners.bound.includes(`127.0.0.2:${appPort}`));
    await until('the outbound listener', () => client.plane.listeners.bound.includes(`127.0.0.1:${servicePort}`));

    for (let i = 0; i < 3; i++) assert.deepEqual(await get(servicePort), { status: 200, body: 'app' });
    assert.equal(app.seen.length, 3);
    const xfcc = app.seen[0]!.headers['x-forwarded-client-cert'];
    assert.equal(typeof xfcc, 'string');
    assert.match(xfcc as string, new RegExp(`^By=${SERVER_ID};Hash=[0-9a-f]{64};Subject="";URI=${CLIENT_ID}$`));
    assert.ok(server.plane.tls.stats.handshake >= 1 && client.plane.tls.stats.handshake >= 1);

    // STRICT: a plaintext caller is refused and never reaches the app.
    assert.equal(await plaintext('127.0.0.2', appPort), 'refused');
    assert.equal(app.seen.length, 3);

    const serverMetrics = async () => (await (await fetch(`http://${server.statsAddress}/stats/prometheus`)).text()).split('\n').filter((l) => l.startsWith('istio_requests_total{'));
    const mtlsLine = (await serverMetrics()).find((l) => l.includes('connection_security_policy="mutual_tls"'));
    assert.ok(mtlsLine, (await serverMetrics()).join('\n'));
    assert.match(mtlsLine, new RegExp(`source_principal="${CLIENT_ID}"`));
    assert.match(mtlsLine, new RegExp(`destination_principal="${SERVER_ID}"`));
    assert.match(mtlsLine, / 3$/);

    // PERMISSIVE: plaintext is answered too, and counted without an identity; mTLS keeps working.
    writeConfig('PERMISSIVE');
    await until('PERMISSIVE in effect', async () => (await plaintext('127.0.0.2', appPort)) === 'answered');
    assert.equal(app.seen[app.seen.length - 1]!.headers['x-forwarded-client-cert'], undefined, 'a plaintext caller gets no identity');
    assert.deepEqual(await get(servicePort), { status: 200, body: 'app' });
    const plainLine = (await serverMetrics()).find((l) => l.includes('connection_security_policy="none"'));
    assert.ok(plainLine);
    assert.match(plainLine, /source_principal="unknown"/);
  } finally {
    await client.stop();
    await server.stop();
    await discovery.close();
    await ca.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('xDS over mutual TLS: a proxy connects with its workload certificate; a certificate from another namespace gets no configuration', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-xds-mtls-'));
  const config = join(dir, 'config');
  mkdirSync(config);
  writeFileSync(join(config, 'mesh.yaml'), webServiceEntry(await freePort()));
  const ca = await startMeshCa(dir);
  const discovery = await new Discovery({ configDir: config, xdsPort: 0, debugPort: 0, debounceAfterMs: 10 }).start();
  const secure = await discovery.serveSecureXds('127.0.0.1', 0, await caServerCredentials(ca.bundle, CA_NAMES, { requireClientCertificate: true }));
  const proxy = (namespace: string, pod: string) =>
    new MeshProxy({
      discovery: secure,
      ...TEST_PROXY_SERVERS,
      backoff: { baseMs: 50, maxMs: 200 },
      identity: ca.identity('client', namespace, { xdsServerName: CA_NAMES[0]! }),
      node: { type: 'sidecar', ips: ['127.0.0.1'], podName: pod, namespace: 'default', labels: { app: 'client' } },
      plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' },
    });
  const good = proxy('default', 'good-1');
  const impostor = proxy('other', 'impostor-1');
  try {
    await good.start();
    await impostor.start();
    await until('the proxy with a default-namespace certificate is LIVE over mTLS', () => good.serverState === 'LIVE');
    await until('the impostor has its certificate', () => impostor.certificates?.identity === 'spiffe://cluster.local/ns/other/sa/client');
    // Give the impostor several attempts; it must never be configured.
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(impostor.serverState, 'INITIALIZING');
    assert.equal(impostor.plane.config, undefined);
    // Plaintext to the secure port is refused too: no TLS, no configuration.
    const plain = new MeshProxy({ discovery: secure, adminPort: 0, healthPort: -1, statsPort: -1, mergedMetricsPort: -1, drainMs: 50, backoff: { baseMs: 50, maxMs: 200 }, node: { type: 'sidecar', ips: ['127.0.0.1'], podName: 'plain-1', namespace: 'default', labels: {} }, plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' } });
    await plain.start();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(plain.serverState, 'INITIALIZING');
    await plain.stop();
  } finally {
    await good.stop();
    await impostor.stop();
    await discovery.close();
    await ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
