// Workload certificate requests for the CA benchmark, made ahead of the load so the client spends nothing on keys: EC P-256 keys (the proxy's default) and PKCS#10 requests from src/shared/csr.ts, as a sidecar sends them.
import { generateKeyPairSync } from 'node:crypto';
import { createCsr } from '../../src/shared/csr.js';

/** `n` PEM requests, each for a fresh EC P-256 key, asking for `spiffe://cluster.local/ns/bench/sa/w<i>` (the CA ignores what is asked and signs the caller's identity). */
export function workloadCsrs(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    out.push(createCsr({ privateKey, publicKey, uriSans: [`spiffe://cluster.local/ns/bench/sa/w${i}`] }));
  }
  return out;
}
