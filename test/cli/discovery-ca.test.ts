// `meltemi discovery --ca-dir`: the CA serves CreateCertificate over TLS next to xDS; a root generated on the first start is kept by the next.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { runDiscovery, type DiscoveryCommandOptions } from '../../src/cli/commands/discovery.js';
import { runToken } from '../../src/cli/commands/token.js';
import { generateRootCa, writeCacerts } from '../../src/ca/ca-bundle.js';
import { TOKEN_KEY_FILE } from '../../src/ca/ca-directory.js';
import { istioCaServiceDefinition, type IstioCertificateResponse } from '../../src/ca/ca-server.js';
import { LocalTokenAuthenticator } from '../../src/ca/caller-auth.js';
import { workloadCsr } from '../ca/csr.js';
import { fakeKubeApi, serviceAccountUser } from '../ca/fake-kube-api.js';

function memoryIO() {
  const io = { stdout: '', stderr: '', out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t), stdin: Readable.from([]) };
  return io;
}

/** Runs discovery with the CA until `body` is done; returns what it printed. */
async function withDiscovery(configDir: string, caDir: string, body: (caPort: number) => Promise<void>, extra: Partial<DiscoveryCommandOptions> = {}): Promise<string> {
  let stop!: () => void;
  const stopSignal = new Promise<void>((r) => (stop = r));
  const io = memoryIO();
  const running = runDiscovery({ configDir, xdsAddr: '127.0.0.1:0', debugAddr: '127.0.0.1:0', caDir, caAddr: '127.0.0.1:0', xdsTlsAddr: '127.0.0.1:0', stopSignal, ...extra }, io);
  try {
    const deadline = Date.now() + 15_000;
    let m: RegExpExecArray | null = null;
    while (!(m = /CA on 127\.0\.0\.1:(\d+)/.exec(io.stdout)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(m, io.stdout + io.stderr);
    await body(Number(m[1]));
  } finally {
    stop();
    assert.equal(await running, 0);
  }
  return io.stdout;
}

function createCertificate(port: number, rootPem: string, token: string, csr: string): Promise<IstioCertificateResponse> {
  const method = istioCaServiceDefinition().CreateCertificate!;
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(rootPem)), { 'grpc.ssl_target_name_override': 'istiod.istio-system.svc' });
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return new Promise<IstioCertificateResponse>((resolve, reject) =>
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { csr }, metadata, { deadline: Date.now() + 10_000 }, (err, res) => {
      client.close();
      if (err || res === undefined) reject(err ?? new Error('no response'));
      else resolve(res as IstioCertificateResponse);
    }),
  );
}

test('discovery --ca-dir generates a root on first start, signs a token holder\'s CSR over TLS, and keeps the root across restarts', { timeout: 60_000 }, async () => {
  const configDir = mkdtempSync(join(tmpdir(), 'meltemi-config-'));
  const caDir = join(mkdtempSync(join(tmpdir(), 'meltemi-ca-')), 'ca');
  try {
    let firstRoot = '';
    const out = await withDiscovery(configDir, caDir, async (port) => {
      firstRoot = readFileSync(join(caDir, 'root-cert.pem'), 'utf8');
      assert.equal(statSync(join(caDir, 'ca-key.pem')).mode & 0o777, 0o600);
      assert.equal(statSync(join(caDir, TOKEN_KEY_FILE)).mode & 0o777, 0o600);
      // The local runtime hands each workload a token made with the directory's key.
      const tokens = new LocalTokenAuthenticator({ key: Buffer.from(readFileSync(join(caDir, TOKEN_KEY_FILE), 'utf8').trim(), 'base64'), trustDomain: 'cluster.local' });
      const { csrPem } = await workloadCsr('spiffe://cluster.local/ns/istio-system/sa/istiod');
      const { cert_chain } = await createCertificate(port, firstRoot, tokens.issueToken({ namespace: 'bookinfo', serviceAccount: 'reviews' }, 60_000), csrPem);
      const leaf = new X509Certificate(cert_chain[0]!);
      assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/bookinfo/sa/reviews');
      assert.equal(leaf.verify(new X509Certificate(firstRoot).publicKey), true);
    });
    assert.match(out, /new root in /);
    const again = await withDiscovery(configDir, caDir, async () => {
      assert.equal(readFileSync(join(caDir, 'root-cert.pem'), 'utf8'), firstRoot);
    });
    assert.match(again, /, root in /);
  } finally {
    rmSync(configDir, { recursive: true, force: true });
    rmSync(join(caDir, '..'), { recursive: true, force: true });
  }
});

test('meltemi token issues a token the CA accepts; a new CA written to the directory is loaded and signs, a broken one is refused and the previous keeps signing', { timeout: 60_000 }, async () => {
  const configDir = mkdtempSync(join(tmpdir(), 'meltemi-config-'));
  const base = mkdtempSync(join(tmpdir(), 'meltemi-ca-'));
  const caDir = join(base, 'ca');
  try {
    const out = await withDiscovery(configDir, caDir, async (port) => {
      const root = readFileSync(join(caDir, 'root-cert.pem'), 'utf8');
      const io = memoryIO();
      assert.equal(await runToken({ caDir, namespace: 'bookinfo', serviceAccount: 'ratings', ttl: '1h' }, io), 0);
      const token = io.stdout.trim();
      const { csrPem } = await workloadCsr();
      const first = await createCertificate(port, root, token, csrPem);
      assert.equal(new X509Certificate(first.cert_chain[0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/bookinfo/sa/ratings');
      // A broken directory is refused; the CA keeps signing with what it has.
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(caDir, 'cert-chain.pem'), 'garbage');
      await new Promise((r) => setTimeout(r, 6_000));
      const still = await createCertificate(port, root, token, csrPem);
      assert.equal(new X509Certificate(still.cert_chain[0]!).verify(new X509Certificate(root).publicKey), true);
      // A new CA (both roots published, the new one signing) is loaded within the poll interval.
      const next = await generateRootCa({ trustDomain: 'cluster.local', keyType: 'ecP256' });
      const newDir = join(base, 'next');
      await writeCacerts(newDir, { ...next, trustBundlePem: next.rootCertPem + root });
      for (const f of ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem']) writeFileSync(join(caDir, f), readFileSync(join(newDir, f)));
      const deadline = Date.now() + 15_000;
      let signedByNew = false;
      while (!signedByNew && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          // The CA's own TLS certificate now comes from the new root; trust both, as proxies do during the overlap.
          const res = await createCertificate(port, root + next.rootCertPem, token, csrPem);
          signedByNew = new X509Certificate(res.cert_chain[0]!).verify(new X509Certificate(next.rootCertPem).publicKey);
        } catch {
          // rebinding with the new serving certificate
        }
      }
      assert.ok(signedByNew, 'the CA signs with the new root');
    });
    assert.match(out, /xDS over mTLS on 127\.0\.0\.1:\d+/);
  } finally {
    rmSync(configDir, { recursive: true, force: true });
    rmSync(base, { recursive: true, force: true });
  }
});

test('discovery --ca-auth kubernetes signs for the ServiceAccount the API server reviews; its own tokens no longer count', { timeout: 60_000 }, async () => {
  const configDir = mkdtempSync(join(tmpdir(), 'meltemi-config-'));
  const work = mkdtempSync(join(tmpdir(), 'meltemi-kube-'));
  const caDir = join(work, 'ca');
  const api = await fakeKubeApi(work);
  try {
    writeFileSync(join(work, 'ca.crt'), api.caPem);
    writeFileSync(join(work, 'istiod-token'), 'istiod-sa-token');
    api.answer = (t) => (t === 'reviews.sa.jwt' ? { authenticated: true, user: serviceAccountUser('bookinfo', 'reviews'), audiences: ['istio-ca'] } : { authenticated: false, error: 'unknown token' });
    await withDiscovery(
      configDir,
      caDir,
      async (port) => {
        const root = readFileSync(join(caDir, 'root-cert.pem'), 'utf8');
        const { csrPem } = await workloadCsr();
        const { cert_chain } = await createCertificate(port, root, 'reviews.sa.jwt', csrPem);
        assert.equal(new X509Certificate(cert_chain[0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/bookinfo/sa/reviews');
        assert.equal(api.reviews[0]!.authorization, 'Bearer istiod-sa-token');
        const local = new LocalTokenAuthenticator({ key: Buffer.from(readFileSync(join(caDir, TOKEN_KEY_FILE), 'utf8').trim(), 'base64'), trustDomain: 'cluster.local' });
        await assert.rejects(createCertificate(port, root, local.issueToken({ namespace: 'bookinfo', serviceAccount: 'reviews' }, 60_000), csrPem), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
      },
      { caAuth: 'kubernetes', kubeApi: api.url, kubeCa: join(work, 'ca.crt'), kubeTokenFile: join(work, 'istiod-token') },
    );
    const io = memoryIO();
    const base = { configDir, xdsAddr: '127.0.0.1:0', debugAddr: '127.0.0.1:0', caDir, caAddr: '127.0.0.1:0', xdsTlsAddr: '127.0.0.1:0', stopSignal: Promise.resolve() };
    await assert.rejects(runDiscovery({ ...base, caAuth: 'oidc' }, io), /--ca-auth: "oidc" is not local or kubernetes/);
    // Found after xDS is already serving: the command fails and closes what it started (this file would not end otherwise).
    await assert.rejects(runDiscovery({ ...base, caAuth: 'kubernetes', kubeApi: api.url, kubeTokenFile: join(work, 'missing') }, io), /cannot read the control plane's token/);
  } finally {
    await api.close();
    rmSync(configDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});
