// Test helper: a workload key the test holds and a CSR for it, built with @peculiar/x509.
import { x509 } from '../../src/ca/pki.js';

export interface WorkloadKey {
  csrPem: string;
  /** PKCS#8 PEM, for node:tls. */
  keyPem: string;
}

/** An EC P-256 key and a CSR signed by it; `sanUri`, if given, is the identity the CSR asks for. */
export async function workloadCsr(sanUri?: string): Promise<WorkloadKey> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: sanUri === undefined ? [] : [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: sanUri }])],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { csrPem: csr.toString('pem'), keyPem };
}
