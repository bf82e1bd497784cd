import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRootCa } from '../../src/ca/ca-bundle.js';
import { DEFAULT_WORKLOAD_TTL_MS, MAX_WORKLOAD_TTL_MS, signServerCsr, signWorkloadCsr } from '../../src/ca/sign.js';
import { isMeshError } from '../../src/shared/errors.js';
import { createCsr } from '../../src/shared/csr.js';
import { x509 } from '../../src/ca/pki.js';
import { workloadCsr } from './csr.js';

const trustDomain = 'cluster.local';
const foo = { trustDomain, namespace: 'foo', serviceAccount: 'a' };
const now = new Date('2026-06-01T12:00:00Z');

const root = generateRootCa({ trustDomain, now, keyType: 'ecP256' });

test('the self-signed root is a 10-year CA for the trust domain', async () => {
  const cert = new X509Certificate((await root).rootCertPem);
  assert.equal(cert.ca, true);
  assert.equal(cert.subject, 'O=cluster.local');
  assert.equal(cert.checkIssued(cert), true);
  assert.equal(cert.verify(cert.publicKey), true);
  const years = (Date.parse(cert.validTo) - now.getTime()) / (365 * 24 * 3600 * 1000);
  assert.ok(years > 9.9 && years < 10.1, `lifetime ${years} years`);
});

test('each generated root has its own key', async () => {
  const other = await generateRootCa({ trustDomain, keyType: 'ecP256' });
  assert.notEqual(other.caKeyPem, (await root).caKeyPem);
});

test('a CSR asking for another identity gets exactly the caller SPIFFE ID, 24 h by default, verifying to the root', async () => {
  const bundle = await root;
  const { csrPem } = await workloadCsr('spiffe://cluster.local/ns/other/sa/admin');
  const chain = await signWorkloadCsr(bundle, csrPem, foo, { now });
  assert.equal(chain.length, 2);
  assert.equal(chain[1], bundle.rootCertPem);
  const leaf = new X509Certificate(chain[0]!);
  const rootCert = new X509Certificate(bundle.rootCertPem);
  assert.equal(leaf.checkIssued(rootCert), true);
  assert.equal(leaf.verify(rootCert.publicKey), true);
  assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/foo/sa/a');
  assert.equal(leaf.ca, false);
  assert.equal(leaf.subject, undefined);
  assert.deepEqual(leaf.keyUsage?.slice().sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(Date.parse(leaf.validTo) - now.getTime(), DEFAULT_WORKLOAD_TTL_MS);
  assert.ok(Date.parse(leaf.validFrom) < now.getTime(), 'backdated for clock skew');
});

test('a TTL above 90 days is refused; 90 days is allowed', async () => {
  const bundle = await root;
  const { csrPem } = await workloadCsr();
  await assert.rejects(signWorkloadCsr(bundle, csrPem, foo, { now, ttlMs: MAX_WORKLOAD_TTL_MS + 1 }), (e) => isMeshError(e, 'MESH_CSR_REJECTED') && /exceeds the maximum of 90 days/.test(e.message));
  const [leafPem] = await signWorkloadCsr(bundle, csrPem, foo, { now, ttlMs: MAX_WORKLOAD_TTL_MS });
  assert.equal(Date.parse(new X509Certificate(leafPem!).validTo) - now.getTime(), MAX_WORKLOAD_TTL_MS);
});

test('a CSR whose signature is broken is refused', async () => {
  const { csrPem } = await workloadCsr();
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  der[der.length - 5]! ^= 0x01; // inside the signature value
  const broken = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(signWorkloadCsr(await root, broken, foo, { now }), (e) => isMeshError(e, 'MESH_CSR_REJECTED') && /signature/.test(e.message));
});

test('garbage instead of a CSR, and an identity with path characters, are refused', async () => {
  const bundle = await root;
  await assert.rejects(signWorkloadCsr(bundle, 'not a csr', foo, { now }), (e) => isMeshError(e, 'MESH_CSR_REJECTED'));
  const { csrPem } = await workloadCsr();
  await assert.rejects(signWorkloadCsr(bundle, csrPem, { ...foo, serviceAccount: 'a/../../x' }, { now }), (e) => isMeshError(e, 'MESH_CSR_REJECTED') && /SPIFFE/.test(e.message));
});

test('a server certificate carries exactly the DNS names given, whatever the CSR asks for', async () => {
  const bundle = await root;
  const { csrPem } = await workloadCsr('spiffe://cluster.local/ns/foo/sa/a');
  const [leafPem] = await signServerCsr(bundle, csrPem, ['istiod.istio-system.svc', 'istiod'], { now });
  const leaf = new X509Certificate(leafPem!);
  assert.equal(leaf.subjectAltName, 'DNS:istiod.istio-system.svc, DNS:istiod');
  assert.equal(leaf.verify(new X509Certificate(bundle.rootCertPem).publicKey), true);
  await assert.rejects(signServerCsr(bundle, csrPem, [], { now }), (e) => isMeshError(e, 'MESH_CSR_REJECTED'));
  await assert.rejects(signServerCsr(bundle, csrPem, ['Evil Name'], { now }), (e) => isMeshError(e, 'MESH_CSR_REJECTED') && /DNS name/.test(e.message));
});

test('the leaf as openssl reads it: v3, critical SAN, basicConstraints and keyUsage, both EKUs, the AKI naming the CA key; RSA CSRs and RSA CAs work too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-leaf-'));
  try {
    for (const [caKey, csrKey] of [
      ['ecP256', 'ec'],
      ['rsa2048', 'rsa'],
    ] as const) {
      const bundle = await generateRootCa({ trustDomain, now, keyType: caKey });
      const { privateKey, publicKey } = csrKey === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
      const csrPem = createCsr({ privateKey, publicKey, uriSans: ['spiffe://cluster.local/ns/other/sa/admin'] });
      const [leafPem] = await signWorkloadCsr(bundle, csrPem, foo);
      writeFileSync(join(dir, 'leaf.pem'), leafPem!);
      writeFileSync(join(dir, 'root.pem'), bundle.rootCertPem);
      const text = execFileSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text'], { encoding: 'utf8' });
      assert.match(text, /Version: 3 \(0x2\)/);
      assert.match(text, /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/foo\/sa\/a\s/);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
      assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
      assert.match(text, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
      const rootText = execFileSync('openssl', ['x509', '-in', join(dir, 'root.pem'), '-noout', '-text'], { encoding: 'utf8' });
      const ski = /X509v3 Subject Key Identifier:\s+([0-9A-F:]+)/.exec(rootText)![1]!;
      assert.match(text, new RegExp(`X509v3 Authority Key Identifier:\\s+(keyid:)?${ski}`));
      for (const purpose of ['sslclient', 'sslserver']) {
        const out = execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', join(dir, 'root.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
        assert.match(out, /: OK/, `${caKey} CA, ${csrKey} key, ${purpose}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a CSR with a key type the CA does not issue for, or signed by another key, is refused', async () => {
  const bundle = await root;
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]) };
  const weak = await x509.Pkcs10CertificateRequestGenerator.create({ keys: (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair, signingAlgorithm: alg });
  await assert.rejects(signWorkloadCsr(bundle, weak.toString('pem'), foo, { now }), (e) => isMeshError(e, 'MESH_CSR_REJECTED') && /key type is not allowed \(rsa 1024\)/.test(e.message));

  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const mine = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const good = createCsr({ privateKey: mine.privateKey, publicKey: mine.publicKey });
  // Swap in another public key: the signature no longer verifies under the key the request carries.
  const spkiMine = mine.publicKey.export({ type: 'spki', format: 'der' });
  const spkiOther = other.publicKey.export({ type: 'spki', format: 'der' });
  const der = Buffer.from(good.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  const at = der.indexOf(spkiMine);
  assert.ok(at > 0);
  spkiOther.copy(der, at);
  const swapped = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(signWorkloadCsr(bundle, swapped, foo, { now }), (e) => isMeshError(e, 'MESH_CSR_REJECTED') && /proof of possession/.test(e.message));
});
