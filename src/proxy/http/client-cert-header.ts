// x-forwarded-client-cert as Envoy writes it: removed unless the connection is mutual TLS (or the mode says to pass it through), and set or appended from the verified client certificate.
import { createHash } from 'node:crypto';
import type { ClientCertDetails, ForwardClientCert } from '../config/listeners.js';
import type { HeaderList } from '../http1/index.js';
import { subjectAltNames } from '../../shared/spiffe.js';
import type { DownstreamSecurity } from '../security/tls-transport.js';

const XFCC = 'x-forwarded-client-cert';

/** A value for one XFCC key: quoted when it holds a separator, with quotes and backslashes escaped. */
function quoted(v: string): string {
  return /[",;=]/.test(v) ? `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"` : v;
}

/** RFC 2253 order (most specific first) from Node's one-attribute-per-line subject. */
function subjectOf(subject: string): string {
  return subject === '' ? '' : subject.split('\n').reverse().join(',');
}

/**
 * Optimization: the element depends only on the connection and the configured details, so it is
 * built once per connection (a SHA-256 of the certificate and its names cost ~5 % of a busy
 * server sidecar when rebuilt per request).
 */
const elements = new WeakMap<DownstreamSecurity, WeakMap<ClientCertDetails, string>>();

/** The element this proxy adds for the current client: By, Hash, then the details configured. */
export function clientCertElement(security: DownstreamSecurity, details: ClientCertDetails): string | undefined {
  if (!security.peerCertificate) return undefined;
  let byDetails = elements.get(security);
  if (!byDetails) elements.set(security, (byDetails = new WeakMap()));
  let element = byDetails.get(details);
  if (element === undefined) byDetails.set(details, (element = buildElement(security, details)));
  return element;
}

function buildElement(security: DownstreamSecurity, details: ClientCertDetails): string {
  const cert = security.peerCertificate!;
  const parts: string[] = [];
  if (security.localIdentity !== undefined) parts.push(`By=${quoted(security.localIdentity)}`);
  parts.push(`Hash=${createHash('sha256').update(cert.raw).digest('hex')}`);
  if (details.cert) parts.push(`Cert=${quoted(encodeURIComponent(cert.toString()))}`);
  if (details.subject) parts.push(`Subject="${subjectOf(cert.subject ?? '').replace(/["\\]/g, (c) => `\\${c}`)}"`);
  const sans = subjectAltNames(cert) ?? [];
  if (details.uri) for (const s of sans) if (s.type === 'URI') parts.push(`URI=${quoted(s.value)}`);
  if (details.dns) for (const s of sans) if (s.type === 'DNS') parts.push(`DNS=${quoted(s.value)}`);
  return parts.join(';');
}

/**
 * Applies `mode` to the request headers. Envoy's rules: SANITIZE removes the header; FORWARD_ONLY
 * passes it on over mTLS only; APPEND_FORWARD and SANITIZE_SET append to / replace it over mTLS and
 * remove it otherwise; ALWAYS_FORWARD_ONLY passes it on always. A client that is not a verified
 * mTLS peer therefore never gets a header it wrote to the backend under the other modes.
 */
export function applyClientCertHeader(h: HeaderList, mode: ForwardClientCert, details: ClientCertDetails, security: DownstreamSecurity): void {
  if (mode === 'ALWAYS_FORWARD_ONLY') return;
  const mtls = security.peerCertificate !== undefined;
  if (mode === 'SANITIZE' || !mtls) {
    h.remove(XFCC);
    return;
  }
  if (mode === 'FORWARD_ONLY') return;
  const element = clientCertElement(security, details);
  if (element === undefined) return;
  const previous = mode === 'APPEND_FORWARD' ? h.joined(XFCC) : undefined;
  h.set(XFCC, previous ? `${previous},${element}` : element, XFCC);
}
