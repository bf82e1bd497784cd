// createCsr: requests the CA's parser, Meltemi's CA and the openssl CLI accept; tampering and unsupported keys refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createCsr } from '../../src/shared/csr.js';
import { isMeshError } from '../../src/shared/errors.js';
import { x509 } from '../../src/ca/pki.js';
import { generateRootCa } from '../../src/ca/ca-bundle.js';
import { signWorkloadCsr } from '../../src/ca/sign.js';

const ID = 'spiffe://cluster.local/ns/foo/sa/a';
const keys = {
  ecP256: () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }),
  rsa2048: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
};
const root = generateRootCa({ trustDomain: 'cluster.local', keyType: 'ecP256' });

/** `openssl req -verify` on `pem`: true/false, or undefined when there is no openssl binary. */
function opensslVerifies(pem: string): boolean | undefined {
  const r = spawnSync('openssl', ['req', '-verify', '-noout'], { input: pem, encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  return r.status === 0 && /verify OK/.test(r.stdout + r.stderr);
}

function uriSansOf(csr: x509.Pkcs10CertificateRequest): string[] | undefined {
  // peculiar's getExtension() does not find CSR extensions; look through the list instead.
  const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
  return san?.names.items.map((n) => `${n.type}:${n.value}`);
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** The DER of a PEM request, with `from` (ASCII, found once) replaced by `to` of the same length, back as PEM. */
function tamper(pem: string, from: string, to: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const at = der.indexOf(Buffer.from(from, 'ascii'));
  assert.ok(at >= 0 && der.indexOf(Buffer.from(from, 'ascii'), at + 1) < 0, `${from} occurs once`);
  Buffer.from(to, 'ascii').copy(der, at);
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE REQUEST-----\n`;
}

for (const [keyType, generate] of Object.entries(keys)) {
  test(`${keyType}: the CA's parser verifies it, the key and SAN are ours, the subject is empty, and the CA signs it`, { timeout: 30_000 }, async () => {
    const { privateKey, publicKey } = generate();
    const pem = createCsr({ privateKey, publicKey, uriSans: [ID] });
    assert.match(pem, /^-----BEGIN CERTIFICATE REQUEST-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE REQUEST-----\n$/);
    const csr = new x509.Pkcs10CertificateRequest(pem);
    assert.equal(await csr.verify(), true);
    assert.deepEqual(Buffer.from(csr.publicKey.rawData), spkiOf(publicKey));
    assert.equal(csr.subject, '');
    assert.deepEqual(uriSansOf(csr), [`url:${ID}`]);
    const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
    assert.equal(san?.critical, true, 'the subject is empty, so the SAN is critical');
    assert.equal(csr.signatureAlgorithm.name, keyType === 'ecP256' ? 'ECDSA' : 'RSASSA-PKCS1-v1_5');

    const chain = await signWorkloadCsr(await root, pem, { trustDomain: 'cluster.local', namespace: 'bar', serviceAccount: 'b' });
    const leaf = new X509Certificate(chain[0]!);
    assert.deepEqual(leaf.publicKey.export({ type: 'spki', format: 'der' }), spkiOf(publicKey));
  });

  test(`${keyType}: openssl req -verify accepts it, with and without SANs`, { timeout: 30_000 }, (t) => {
    const { privateKey, publicKey } = generate();
    const withSan = createCsr({ privateKey, publicKey, uriSans: [ID] });
    const verdict = opensslVerifies(withSan);
    if (verdict === undefined) {
      t.skip('no openssl binary');
      return;
    }
    assert.equal(verdict, true);
    assert.equal(opensslVerifies(createCsr({ privateKey, publicKey })), true);
  });

  test(`${keyType}: a tampered request fails verification everywhere`, { timeout: 30_000 }, async () => {
    const { privateKey, publicKey } = generate();
    const bad = tamper(createCsr({ privateKey, publicKey, uriSans: [ID] }), 'ns/foo', 'ns/fop');
    const csr = new x509.Pkcs10CertificateRequest(bad);
    assert.deepEqual(uriSansOf(csr), ['url:spiffe://cluster.local/ns/fop/sa/a'], 'the request still parses');
    assert.equal(await csr.verify(), false);
    assert.notEqual(opensslVerifies(bad), true);
    await assert.rejects(signWorkloadCsr(await root, bad, { trustDomain: 'cluster.local', namespace: 'foo', serviceAccount: 'a' }), (e) => isMeshError(e, 'MESH_CSR_REJECTED'));
  });
}

test('no SANs: no attributes; several and long SANs (multi-byte DER lengths) round-trip', async () => {
  const { privateKey, publicKey } = keys.ecP256();
  const plain = new x509.Pkcs10CertificateRequest(createCsr({ privateKey, publicKey }));
  assert.equal(await plain.verify(), true);
  assert.equal(plain.attributes.length, 0);
  assert.equal(uriSansOf(plain), undefined);

  const long = `spiffe://cluster.local/ns/foo/sa/${'a'.repeat(300)}`;
  const pem = createCsr({ privateKey, publicKey, uriSans: [ID, long] });
  const csr = new x509.Pkcs10CertificateRequest(pem);
  assert.equal(await csr.verify(), true);
  assert.deepEqual(uriSansOf(csr), [`url:${ID}`, `url:${long}`]);
  assert.notEqual(opensslVerifies(pem), false);
});

test('unsupported keys, mismatched keys and non-ASCII URIs are refused with MESH_USAGE', () => {
  const ec = keys.ecP256();
  const refused: [string, () => string][] = [
    ['EC P-384', () => createCsr(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }))],
    ['Ed25519', () => createCsr(generateKeyPairSync('ed25519'))],
    ['RSA 1024', () => createCsr(generateKeyPairSync('rsa', { modulusLength: 1024 }))],
    ['keys of two pairs', () => createCsr({ privateKey: ec.privateKey, publicKey: keys.ecP256().publicKey })],
    ['public key as private', () => createCsr({ privateKey: ec.publicKey, publicKey: ec.publicKey })],
    ['non-ASCII URI', () => createCsr({ ...ec, uriSans: ['spiffe://cluster.local/ns/föo/sa/a'] })],
    ['URI with a space', () => createCsr({ ...ec, uriSans: ['spiffe://cluster.local/ns/foo/sa/a b'] })],
    ['empty URI', () => createCsr({ ...ec, uriSans: [''] })],
  ];
  for (const [name, make] of refused) assert.throws(make, (e) => isMeshError(e, 'MESH_USAGE'), name);
  assert.ok(createCsr(ec).length > 0, 'the good key still works');
});
