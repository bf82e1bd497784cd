// Names in X.509 certificates as Node prints them: subject alternative names as typed entries, and the one SPIFFE ID of a mesh workload, read strictly (no PKI library).
import type { X509Certificate } from 'node:crypto';

export type SanType = 'URI' | 'DNS' | 'IP_ADDRESS' | 'EMAIL';

export interface SubjectAltName {
  type: SanType;
  value: string;
}

/** Node's labels in `X509Certificate.subjectAltName` for the SAN types Envoy matches. */
const NODE_LABELS: ReadonlyMap<string, SanType> = new Map([
  ['URI', 'URI'],
  ['DNS', 'DNS'],
  ['IP Address', 'IP_ADDRESS'],
  ['email', 'EMAIL'],
]);

/**
 * The SANs of a certificate, or undefined when they cannot be read without guessing. Node quotes a
 * value that holds a comma, a quote or a control character (a NUL inside a URI is the classic way
 * to make one name read as another), and a quoted value is refused outright rather than unescaped.
 * Entries of other types (otherName, directory names) are skipped.
 */
export function subjectAltNames(cert: X509Certificate): SubjectAltName[] | undefined {
  return parseSubjectAltNames(cert.subjectAltName);
}

/** `subjectAltNames` over the text Node prints (`URI:…, DNS:…`). */
export function parseSubjectAltNames(text: string | undefined): SubjectAltName[] | undefined {
  if (text === undefined || text === '') return [];
  if (text.includes('"')) return undefined;
  const out: SubjectAltName[] = [];
  for (const entry of text.split(', ')) {
    const colon = entry.indexOf(':');
    if (colon <= 0) return undefined;
    const type = NODE_LABELS.get(entry.slice(0, colon));
    if (type) out.push({ type, value: entry.slice(colon + 1) });
  }
  return out;
}

/**
 * Istio's workload identity form, `spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT`, with the
 * character rules Meltemi's CA issues under (lower-case DNS-label-like names). Nothing else — a
 * query, a fragment, extra segments, upper case, percent escapes — is an identity, so one identity
 * has exactly one spelling.
 */
const SPIFFE_ID = /^spiffe:\/\/([a-z0-9._-]{1,255})\/ns\/([a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?)\/sa\/([a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?)$/;

export interface PeerIdentity {
  /** The whole URI SAN, `spiffe://…`. */
  spiffeId: string;
  /** Istio's principal: the SPIFFE ID without `spiffe://` (what `source.principal` compares against). */
  principal: string;
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/** Parses one SPIFFE ID strictly; undefined when it is not one. */
export function parseSpiffeId(uri: string): PeerIdentity | undefined {
  const m = SPIFFE_ID.exec(uri);
  if (!m) return undefined;
  return { spiffeId: uri, principal: uri.slice('spiffe://'.length), trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}

/** The one SPIFFE ID in Node's SAN text, or why there is not exactly one well-formed one. */
export function identityOfSubjectAltName(text: string | undefined): PeerIdentity | string {
  const sans = parseSubjectAltNames(text);
  if (!sans) return 'the peer certificate has subject alternative names that cannot be read unambiguously, not exactly one SPIFFE ID';
  const uris = sans.filter((s) => s.type === 'URI');
  if (uris.length !== 1) return `the peer certificate has ${uris.length} URI names, not exactly one SPIFFE ID`;
  const id = parseSpiffeId(uris[0]!.value);
  return id ?? `the peer name ${JSON.stringify(uris[0]!.value)} is not exactly one SPIFFE ID of Istio's form`;
}
