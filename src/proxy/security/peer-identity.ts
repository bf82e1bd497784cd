// A TLS peer's names read from its verified certificate: the workload identity a mesh peer must carry, and Envoy's subject-alt-name matchers.
import type { X509Certificate } from 'node:crypto';
import { identityOfSubjectAltName, type PeerIdentity, type SubjectAltName } from '../../shared/spiffe.js';
import type { SanMatcher } from '../config/tls-context.js';

/**
 * The workload identity of a verified mesh peer certificate, or the reason there is none: the leaf
 * must not be a CA, and must carry exactly one URI SAN, which must be a SPIFFE ID (Istio's
 * certificates carry only that one).
 */
export function workloadIdentity(cert: X509Certificate): PeerIdentity | string {
  if (cert.ca) return 'the peer certificate is a CA certificate';
  return identityOfSubjectAltName(cert.subjectAltName);
}

/** Envoy's rule: with matchers configured, some SAN of a matcher's type must match it; with none, any verified peer passes. */
export function sansAccepted(sans: readonly SubjectAltName[], matchers: readonly SanMatcher[]): boolean {
  if (matchers.length === 0) return true;
  for (const m of matchers) for (const s of sans) if (s.type === m.type && m.matches(s.value)) return true;
  return false;
}
