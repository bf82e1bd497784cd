import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRootCa, loadCacerts, writeCacerts } from '../../src/ca/ca-bundle.js';
import { signWorkloadCsr } from '../../src/ca/sign.js';
import { isMeshError } from '../../src/shared/errors.js';
import { workloadCsr } from './csr.js';

const OPENSSL_CNF = `[req]
distinguished_name = dn
[dn]
[v3_root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_int]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_leaf]
basicConstraints = critical, CA:FALSE
`;

let work: string;
/** A plugged-in CA made with the openssl CLI, as Istio's docs do: RSA root (PKCS#1 key), EC P-256 intermediate (SEC1 key). */
let plugged: string;

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

async function makeRoot(dir: string, name: string): Promise<void> {
  openssl(dir, 'genrsa', '-traditional', '-out', `${name}-key.pem`, '2048');
  openssl(dir, 'req', '-x509', '-new', '-config', 'openssl.cnf', '-extensions', 'v3_root', '-key', `${name}-key.pem`, '-sha256', '-days', '3650', '-subj', `/O=Istio/CN=${name}`, '-out', `${name}-cert.pem`);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'meltemi-cacerts-'));
  plugged = join(work, 'plugged');
  await mkdir(plugged);
  await writeFile(join(plugged, 'openssl.cnf'), OPENSSL_CNF);
  await makeRoot(plugged, 'root');
  await makeRoot(plugged, 'other-root');
  openssl(plugged, 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca-key.pem');
  openssl(plugged, 'req', '-new', '-config', 'openssl.cnf', '-key', 'ca-key.pem', '-subj', '/O=Istio/CN=Intermediate CA/L=cluster1', '-out', 'ca.csr');
  openssl(plugged, 'x509', '-req', '-in', 'ca.csr', '-CA', 'root-cert.pem', '-CAkey', 'root-key.pem', '-CAcreateserial', '-days', '730', '-sha256', '-extfile', 'openssl.cnf', '-extensions', 'v3_int', '-out', 'ca-cert.pem');
  openssl(plugged, 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'leaf-key.pem');
  openssl(plugged, 'req', '-new', '-config', 'openssl.cnf', '-key', 'leaf-key.pem', '-subj', '/O=Istio/CN=leaf', '-out', 'leaf.csr');
  openssl(plugged, 'x509', '-req', '-in', 'leaf.csr', '-CA', 'root-cert.pem', '-CAkey', 'root-key.pem', '-CAcreateserial', '-days', '30', '-sha256', '-extfile', 'openssl.cnf', '-extensions', 'v3_leaf', '-out', 'leaf-cert.pem');
  const caCert = await readFile(join(plugged, 'ca-cert.pem'), 'utf8');
  const rootCert = await readFile(join(plugged, 'root-cert.pem'), 'utf8');
  await writeFile(join(plugged, 'cert-chain.pem'), caCert + rootCert);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A copy of the good plugged-in directory, for breaking one thing. */
async function copyOfPlugged(name: string): Promise<string> {
  const dir = join(work, name);
  await cp(plugged, dir, { recursive: true });
  return dir;
}

const foo = { trustDomain: 'cluster.local', namespace: 'foo', serviceAccount: 'a' };

test('an openssl-made plugged-in CA loads and signs a leaf whose chain verifies to its root', async () => {
  const bundle = await loadCacerts(plugged);
  const { csrPem } = await workloadCsr();
  const chain = await signWorkloadCsr(bundle, csrPem, foo);
  assert.equal(chain.length, 3);
  const [leaf, intermediate, root] = chain.map((pem) => new X509Certificate(pem));
  assert.equal(root!.fingerprint256, new X509Certificate(await readFile(join(plugged, 'root-cert.pem'))).fingerprint256);
  assert.equal(leaf!.checkIssued(intermediate!), true);
  assert.equal(leaf!.verify(intermediate!.publicKey), true);
  assert.equal(intermediate!.verify(root!.publicKey), true);
  assert.equal(leaf!.subjectAltName, 'URI:spiffe://cluster.local/ns/foo/sa/a');
  // OpenSSL's own path validation, including the client-auth purpose, agrees.
  await writeFile(join(work, 'leaf.pem'), chain[0]!);
  await writeFile(join(work, 'untrusted.pem'), chain[1]!);
  openssl(work, 'verify', '-CAfile', join(plugged, 'root-cert.pem'), '-untrusted', 'untrusted.pem', '-purpose', 'sslclient', 'leaf.pem');
});

test('a self-signed root written with writeCacerts loads back as the same CA, key file 0600', async () => {
  const dir = join(work, 'self-signed');
  const bundle = await generateRootCa({ trustDomain: 'cluster.local', keyType: 'ecP256' });
  await writeCacerts(dir, bundle);
  assert.equal((await stat(join(dir, 'ca-key.pem'))).mode & 0o777, 0o600);
  const loaded = await loadCacerts(dir);
  assert.equal(loaded.rootCertPem, bundle.rootCertPem);
  assert.equal(loaded.caCertPem, bundle.caCertPem);
  const { csrPem } = await workloadCsr();
  const [leafPem] = await signWorkloadCsr(loaded, csrPem, foo);
  assert.equal(new X509Certificate(leafPem!).verify(new X509Certificate(bundle.rootCertPem).publicKey), true);
  await assert.rejects(writeCacerts(dir, await generateRootCa({ trustDomain: 'cluster.local', keyType: 'ecP256' })), (e) => isMeshError(e, 'MESH_IO') && /refusing to overwrite/.test(e.message));
  assert.equal((await loadCacerts(dir)).rootCertPem, bundle.rootCertPem);
});

const broken: [string, (dir: string) => Promise<void>, RegExp][] = [
  ['a missing file', (dir) => unlink(join(dir, 'cert-chain.pem')), /cert-chain\.pem: file is missing/],
  ['a key that does not match ca-cert', (dir) => cp(join(dir, 'other-root-key.pem'), join(dir, 'ca-key.pem')), /ca-key\.pem: does not match the public key of ca-cert\.pem/],
  ['a chain that stops before the root', (dir) => cp(join(dir, 'ca-cert.pem'), join(dir, 'cert-chain.pem')), /cert-chain\.pem: must end with a certificate of root-cert\.pem/],
  [
    'a chain ending at a root that did not issue ca-cert',
    async (dir) => {
      await cp(join(dir, 'other-root-cert.pem'), join(dir, 'root-cert.pem'));
      await writeFile(join(dir, 'cert-chain.pem'), (await readFile(join(dir, 'ca-cert.pem'), 'utf8')) + (await readFile(join(dir, 'root-cert.pem'), 'utf8')));
    },
    /cert-chain\.pem: certificate 1 .* is not issued and signed by certificate 2/,
  ],
  [
    'a ca-cert that is not a CA',
    async (dir) => {
      await cp(join(dir, 'leaf-cert.pem'), join(dir, 'ca-cert.pem'));
      await cp(join(dir, 'leaf-key.pem'), join(dir, 'ca-key.pem'));
    },
    /ca-cert\.pem: is not a CA certificate/,
  ],
  ['a root-cert that holds no certificate', (dir) => writeFile(join(dir, 'root-cert.pem'), 'garbage'), /root-cert\.pem: holds no PEM certificate/],
];

for (const [name, breakIt, message] of broken) {
  test(`cacerts with ${name} is refused with a clear error`, async () => {
    const dir = await copyOfPlugged(name.replace(/\W+/g, '-'));
    await breakIt(dir);
    await assert.rejects(loadCacerts(dir), (e) => isMeshError(e, 'MESH_CA_INVALID') && message.test(e.message) && e.message.includes(dir));
  });
}

test('root-cert.pem with two roots (a rotation overlap): the chain may end at either, and both are the trust bundle with the signing root first', async () => {
  const dir = await copyOfPlugged('two-roots');
  const signing = await readFile(join(dir, 'root-cert.pem'), 'utf8');
  const other = await readFile(join(dir, 'other-root-cert.pem'), 'utf8');
  await writeFile(join(dir, 'root-cert.pem'), other + signing);
  const bundle = await loadCacerts(dir);
  assert.equal(new X509Certificate(bundle.rootCertPem).fingerprint256, new X509Certificate(signing).fingerprint256);
  const roots = bundle.trustBundlePem.match(/-----BEGIN CERTIFICATE-----/g) ?? [];
  assert.equal(roots.length, 2);
  assert.ok(bundle.trustBundlePem.startsWith(bundle.rootCertPem.trim().slice(0, 80)), 'the signing root comes first');
  await writeFile(join(dir, 'root-cert.pem'), `${other}garbage`);
  await assert.rejects(loadCacerts(dir), (e) => isMeshError(e, 'MESH_CA_INVALID') && /must end with a certificate of root-cert\.pem/.test(e.message));
});

test('an expired plugged-in CA is refused', async () => {
  await assert.rejects(loadCacerts(plugged, { now: new Date(Date.now() + 5 * 365 * 24 * 3600 * 1000) }), (e) => isMeshError(e, 'MESH_CA_INVALID') && /ca-cert\.pem: certificate expired/.test(e.message));
});
