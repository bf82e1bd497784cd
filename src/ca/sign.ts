// Issues workload certificates: the identity comes from the authenticated caller, only the public key from the CSR.
import type { KeyObject } from 'node:crypto';
import { MeshError } from '../shared/errors.js';
import { CLOCK_SKEW_GRACE_MS, type CaBundle } from './ca-bundle.js';
import { readCsr, writeLeaf, type LeafName, type VerifiedCsr } from './leaf.js';
import { randomSerial } from './pki.js';

/** The caller as the CA authenticated it (token, not CSR). */
export interface WorkloadIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export const DEFAULT_WORKLOAD_TTL_MS = 24 * 3600 * 1000;
export const MAX_WORKLOAD_TTL_MS = 90 * 24 * 3600 * 1000;
/** A CSR is a few hundred bytes to a few KiB; anything far larger is refused before parsing. */
const MAX_CSR_CHARS = 16 * 1024;

const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function rejected(message: string, cause?: unknown): MeshError {
  return new MeshError('MESH_CSR_REJECTED', message, cause === undefined ? undefined : { cause });
}

/** `spiffe://TRUST_DOMAIN/ns/NS/sa/SA`; refuses parts that could smuggle extra path segments or query text. */
export function spiffeId(identity: WorkloadIdentity): string {
  const { trustDomain, namespace, serviceAccount } = identity;
  if (!TRUST_DOMAIN.test(trustDomain) || !DNS_NAME.test(namespace) || !DNS_NAME.test(serviceAccount)) {
    throw rejected(`caller identity ${JSON.stringify(identity)} does not form a valid SPIFFE ID`);
  }
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

function checkCsrKey(key: KeyObject): void {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return;
  if (key.asymmetricKeyType === 'ec' && (details?.namedCurve === 'prime256v1' || details?.namedCurve === 'secp384r1')) return;
  throw rejected(`CSR key type is not allowed (${key.asymmetricKeyType} ${details?.modulusLength ?? details?.namedCurve ?? ''}); use RSA >= 2048 or EC P-256/P-384`);
}

/** Parses `csrPem` and requires proof of possession and an allowed key type; returns the CSR's key (all that is used). */
function verifiedCsr(csrPem: string): VerifiedCsr {
  if (csrPem.length > MAX_CSR_CHARS) throw rejected(`CSR is larger than ${MAX_CSR_CHARS} characters`);
  let csr: VerifiedCsr;
  try {
    csr = readCsr(csrPem);
  } catch (e) {
    throw rejected(`CSR refused: ${(e as Error).message}`, e);
  }
  checkCsrKey(csr.publicKey);
  return csr;
}

function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw rejected(`requested TTL ${ttlMs} ms is not a positive whole number of milliseconds`);
  if (ttlMs > MAX_WORKLOAD_TTL_MS) throw rejected(`requested TTL ${ttlMs} ms exceeds the maximum of 90 days (${MAX_WORKLOAD_TTL_MS} ms)`);
}

/** Signs an end-entity certificate for `csr`'s key with exactly `names` as its critical SAN; returns leaf … root. */
function issueLeaf(bundle: CaBundle, csr: VerifiedCsr, names: readonly LeafName[], ttlMs: number, now: Date): string[] {
  const ca = bundle.caCert;
  if (ca.notAfter.getTime() <= now.getTime()) throw new MeshError('MESH_CA_INVALID', `CA certificate expired at ${ca.notAfter.toISOString()}`);
  const notBefore = new Date(Math.max(now.getTime() - CLOCK_SKEW_GRACE_MS, ca.notBefore.getTime()));
  const notAfter = new Date(Math.min(now.getTime() + ttlMs, ca.notAfter.getTime()));
  return [writeLeaf(bundle, csr.spki, names, randomSerial(), notBefore, notAfter) + '\n', ...bundle.certChainPem];
}

/**
 * Signs a workload certificate for `identity` and returns the chain Istio's CreateCertificate
 * returns: leaf, then ca-cert … root, one PEM each.
 *
 * The CSR must verify under its own key (proof of possession); only that key is used. Its subject
 * and extensions, including any SAN it asks for, are ignored: the single URI SAN is
 * `spiffeId(identity)`. The subject is empty and so the SAN is critical (RFC 5280 §4.2.1.6), as
 * Istio issues them. `ttlMs` (default 24 h) must be at most 90 days; the leaf never outlives
 * ca-cert. notBefore is `now` minus 2 minutes so peers whose clocks lag accept a fresh
 * certificate at once, as later Istio versions do. Throws MESH_CSR_REJECTED or MESH_CA_INVALID.
 */
export async function signWorkloadCsr(
  bundle: CaBundle,
  csrPem: string,
  identity: WorkloadIdentity,
  options: { ttlMs?: number; now?: Date } = {},
): Promise<string[]> {
  const ttlMs = options.ttlMs ?? DEFAULT_WORKLOAD_TTL_MS;
  checkTtl(ttlMs);
  const uri = spiffeId(identity);
  const csr = verifiedCsr(csrPem);
  return issueLeaf(bundle, csr, [{ type: 'uri', value: uri }], ttlMs, options.now ?? new Date());
}

/**
 * Signs the control plane's own serving certificate (for example the CA's TLS port) with
 * `dnsNames` as its only SANs (DNS names, lower case). The same rules as `signWorkloadCsr` apply:
 * proof of possession, only the CSR's key used, TTL at most 90 days (default 24 h).
 * Throws MESH_CSR_REJECTED or MESH_CA_INVALID.
 */
export async function signServerCsr(
  bundle: CaBundle,
  csrPem: string,
  dnsNames: readonly string[],
  options: { ttlMs?: number; now?: Date } = {},
): Promise<string[]> {
  const ttlMs = options.ttlMs ?? DEFAULT_WORKLOAD_TTL_MS;
  checkTtl(ttlMs);
  if (dnsNames.length === 0) throw rejected('a server certificate needs at least one DNS name');
  const bad = dnsNames.find((n) => !DNS_NAME.test(n));
  if (bad !== undefined) throw rejected(`${JSON.stringify(bad)} is not a lower-case DNS name`);
  const csr = verifiedCsr(csrPem);
  return issueLeaf(bundle, csr, dnsNames.map((value) => ({ type: 'dns' as const, value })), ttlMs, options.now ?? new Date());
}
