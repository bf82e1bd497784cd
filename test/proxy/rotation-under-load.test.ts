// Hitless rotation under load: two sidecars with CA-issued certificates serve a steady request rate over mutual TLS while their certificates renew every few seconds and the mesh root rotates once (publish both roots, sign with the new one, drop the old) — not one request may fail.
// Short in `npm test`; MELTEMI_ROTATION_SOAK=1 runs the full case (60 s at 500 requests/s, certificates rotating every 10 s).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateRootCa, type CaBundle } from '../../src/ca/ca-bundle.js';
import { caServerCredentials } from '../../src/ca/ca-server.js';
import { MeshProxy } from '../../src/proxy/mesh-proxy.js';
import { ROOT_BUNDLE, WORKLOAD_CERTIFICATE } from '../../src/proxy/security/secret-store.js';
import { Discovery } from '../../src/xds/discovery.js';
import { HOST, freePort, startUpstream, until } from './http-mesh.js';
import { CA_NAMES, mtlsWebYaml, startMeshCa } from './mesh-ca.js';

const SOAK = process.env.MELTEMI_ROTATION_SOAK === '1';
const DURATION_MS = SOAK ? 60_000 : 9_000;
const RATE = SOAK ? 500 : 100;
/** Renewal at half the lifetime (minus up to 10 % jitter): every ~10 s in the soak, ~2 s here. */
const CERT_TTL_MS = SOAK ? 20_000 : 4_000;

function signedBy(pemChain: string, root: CaBundle): boolean {
  const leaf = new X509Certificate(pemChain.slice(0, pemChain.indexOf('-----END CERTIFICATE-----') + 25));
  const issuerChain = root.certChainPem;
  return leaf.verify(new X509Certificate(issuerChain[0]!).publicKey);
}

test(`rotation under load: ${DURATION_MS / 1000} s at ${RATE} requests/s through two mTLS sidecars, certificates renewed every ~${CERT_TTL_MS / 2000} s, the root rotated once — zero failures`, { timeout: DURATION_MS + 90_000 }, async () => {
  const appPort = await freePort();
  const servicePort = await freePort();
  const app = await startUpstream('app', undefined, appPort);
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-rotation-'));
  const config = join(dir, 'config');
  mkdirSync(config);
  // STRICT, and at most 20 requests per upstream connection, so new mTLS handshakes happen all along.
  writeFileSync(
    join(config, 'mesh.yaml'),
    mtlsWebYaml(
      servicePort,
      appPort,
      'STRICT',
      `---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec: { host: ${HOST}, trafficPolicy: { connectionPool: { http: { maxRequestsPerConnection: 20 } } } }
`,
    ),
  );
  const [oldRoot, newRoot] = await Promise.all([generateRootCa({ trustDomain: 'cluster.local', keyType: 'ecP256' }), generateRootCa({ trustDomain: 'cluster.local', keyType: 'ecP256' })]);
  const ca = await startMeshCa(dir, oldRoot);
  const rootsFile = ca.rootsFile;
  const identity = (sa: string) => ca.identity(sa, 'default', { requestedTtlMs: CERT_TTL_MS, rootsPollMs: 100 });

  const xdsPort = await freePort();
  const discovery = await new Discovery({ configDir: config, xdsPort, debugPort: 0, debounceAfterMs: 10 }).start();
  const common = { discovery: `127.0.0.1:${xdsPort}`, adminPort: 0, healthPort: 0, statsPort: 0, mergedMetricsPort: 0, healthHost: '127.0.0.1', drainMs: 100, backoff: { baseMs: 50, maxMs: 200 } };
  const server = new MeshProxy({ ...common, identity: identity('web'), node: { type: 'sidecar', ips: ['127.0.0.2'], podName: 'web-1', namespace: 'default', serviceAccount: 'web', labels: { app: 'web' } }, plan: { mode: 'sidecar', inboundAddress: '127.0.0.2' } });
  const client = new MeshProxy({ ...common, identity: identity('client'), node: { type: 'sidecar', ips: ['127.0.0.1'], podName: 'client-1', namespace: 'default', serviceAccount: 'client', labels: { app: 'client' } }, plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const failures: string[] = [];
  let ok = 0;
  try {
    await server.start();
    await client.start();
    await until('both proxies LIVE', () => server.serverState === 'LIVE' && client.serverState === 'LIVE');
    await until('listeners', () => server.plane.listeners.bound.includes(`127.0.0.2:${appPort}`) && client.plane.listeners.bound.includes(`127.0.0.1:${servicePort}`));
    const issuedAtStart = [server.certificates!.issued, client.certificates!.issued];

    const one = () =>
      new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: servicePort, path: '/', headers: { host: HOST }, agent }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) ok++;
            else failures.push(`status ${res.statusCode} ${String(res.headers['x-envoy-response-flags'] ?? '')}`);
            resolve();
          });
        });
        req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
        req.on('error', (e) => {
          failures.push(e.message);
          resolve();
        });
      });
    // A steady rate: one request every 1000/RATE ms, bounded by count and time.
    const total = Math.round((DURATION_MS / 1000) * RATE);
    const started = Date.now();
    const inflight: Promise<void>[] = [];
    const load = (async () => {
      for (let i = 0; i < total && Date.now() - started < DURATION_MS + 30_000; i++) {
        const due = started + (i * 1000) / RATE;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        inflight.push(one());
        if (inflight.length > 2000) await Promise.all(inflight.splice(0, 1000));
      }
      await Promise.all(inflight);
    })();

    // The root rotation, a third of the way in: publish both roots, wait until both proxies trust the new one…
    await new Promise((r) => setTimeout(r, DURATION_MS / 3));
    writeFileSync(rootsFile, oldRoot.rootCertPem + newRoot.rootCertPem);
    const trustsNew = (p: MeshProxy) => (p.secrets.validation(ROOT_BUNDLE)?.trustedCa ?? '').includes(newRoot.rootCertPem.trim());
    await until('both proxies trust the new root', () => trustsNew(server) && trustsNew(client), 10_000);
    // …then the CA signs with the new root (and serves TLS from it)…
    const rotated: CaBundle = { ...newRoot, trustBundlePem: newRoot.rootCertPem + oldRoot.rootCertPem };
    await ca.server.rotate(rotated, await caServerCredentials(rotated, CA_NAMES));
    const onNew = (p: MeshProxy) => signedBy(p.secrets.certificate(WORKLOAD_CERTIFICATE)!.certificateChain, newRoot);
    await until('both proxies hold certificates from the new root', () => onNew(server) && onNew(client), CERT_TTL_MS * 2);
    // …and once every certificate is from the new root, the old one is dropped.
    writeFileSync(rootsFile, newRoot.rootCertPem);
    const trustsOnlyNew = (p: MeshProxy) => trustsNew(p) && !(p.secrets.validation(ROOT_BUNDLE)?.trustedCa ?? '').includes(oldRoot.rootCertPem.trim());
    await until('both proxies trust only the new root', () => trustsOnlyNew(server) && trustsOnlyNew(client), 10_000);

    await load;
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${ok + failures.length} requests failed`);
    assert.equal(ok, total);
    // Rotations really happened: about one per half-lifetime on each side.
    const renewals = [server.certificates!.issued - issuedAtStart[0]!, client.certificates!.issued - issuedAtStart[1]!];
    // At 45–50 % of the lifetime: no fewer than one per lifetime, and no renewal loop either.
    const atLeast = Math.floor(DURATION_MS / CERT_TTL_MS);
    const atMost = Math.ceil(DURATION_MS / (0.4 * CERT_TTL_MS)) + 2;
    for (const n of renewals) assert.ok(n >= atLeast && n <= atMost, `renewals ${renewals.join('/')}, expected ${atLeast}..${atMost} each`);
    assert.ok(server.plane.tls.stats.handshake > total / 20 / 2, `server handshakes ${server.plane.tls.stats.handshake}`);
    if (SOAK) process.stderr.write(`rotation soak: ${ok} requests ok in ${((Date.now() - started) / 1000).toFixed(1)} s, ${failures.length} failed, renewals ${renewals.join('/')}, server handshakes ${server.plane.tls.stats.handshake}\n`);
  } finally {
    agent.destroy();
    await client.stop();
    await server.stop();
    await discovery.close();
    await ca.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
