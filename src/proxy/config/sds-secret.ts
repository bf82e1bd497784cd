// Envoy Secret resources (SDS over ADS: a gateway's credentials) checked and converted into the proxy's secret store form: a certificate with its key, or a CA bundle.
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import type { Secret } from '../security/secret-store.js';
import { ConfigError, obj, optObj, str, type Json } from './xds-json.js';

/** Fields of envoy.extensions.transport_sockets.tls.v3.Secret this proxy does not act on; refused rather than ignored. */
const UNSUPPORTED = ['session_ticket_keys', 'generic_secret'] as const;

/** The PEM text of an inline DataSource (`inline_bytes`, base64 in decoded JSON, or `inline_string`). */
function inlinePem(v: unknown, path: string): string {
  const d = obj(v, path);
  let pem: string;
  if (d.inline_bytes !== undefined) pem = Buffer.from(str(d.inline_bytes, `${path}.inline_bytes`), 'base64').toString('utf8');
  else if (d.inline_string !== undefined) pem = str(d.inline_string, `${path}.inline_string`);
  // A file would be read from this proxy's disk at the control plane's say-so: not taken over xDS.
  else if (d.filename !== undefined || d.environment_variable !== undefined) throw new ConfigError(path, 'a secret from the control plane must carry its data inline');
  else throw new ConfigError(path, 'needs inline_bytes or inline_string');
  if (pem.trim() === '') throw new ConfigError(path, 'is empty');
  return pem;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Compiles one decoded Secret: exactly one of `tls_certificate` (a PEM chain and the PEM key that
 * belongs to it) or `validation_context` (PEM roots in `trusted_ca`). Throws ConfigError naming
 * the field for anything else, so a bad secret is NACKed and the previous one keeps serving.
 * The error never quotes key material.
 */
export function compileSecret(d: Json): Secret {
  const name = str(d.name, 'name', '');
  if (name === '') throw new ConfigError('name', 'a secret needs a name');
  for (const f of UNSUPPORTED) if (d[f] !== undefined) throw new ConfigError(f, 'is not supported');
  const cert = optObj(d.tls_certificate, 'tls_certificate');
  const validation = optObj(d.validation_context, 'validation_context');
  if (cert && validation) throw new ConfigError('tls_certificate', 'a secret is either a certificate or a validation context, not both');
  if (cert) {
    const certificateChain = inlinePem(cert.certificate_chain, 'tls_certificate.certificate_chain');
    const privateKey = inlinePem(cert.private_key, 'tls_certificate.private_key');
    try {
      // OpenSSL checks that the key belongs to the leaf certificate.
      tls.createSecureContext({ cert: certificateChain, key: privateKey });
    } catch (e) {
      throw new ConfigError('tls_certificate', `not a usable certificate and key: ${errorMessage(e)}`);
    }
    return { kind: 'certificate', certificateChain, privateKey };
  }
  if (validation) {
    const trustedCa = inlinePem(validation.trusted_ca, 'validation_context.trusted_ca');
    try {
      new X509Certificate(trustedCa);
    } catch (e) {
      throw new ConfigError('validation_context.trusted_ca', `not PEM certificates: ${errorMessage(e)}`);
    }
    return { kind: 'validation', trustedCa };
  }
  throw new ConfigError('tls_certificate', 'a secret needs tls_certificate or validation_context');
}
