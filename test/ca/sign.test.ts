import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { generateRootCa } from '../../src/ca/ca-bundle.js';
import { DEFAULT_WORKLOAD_TTL_MS, MAX_WORKLOAD_TTL_MS, signServerCsr, signWorkloadCsr } from '../../src/ca/sign.js';
import { isMeshError } from '../../src/shared/errors.js';
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
