// Envoy's TLS transport socket (UpstreamTlsContext, DownstreamTlsContext) compiled into what the TLS layer needs: where the certificate and roots come from, which peer names are accepted, ALPN, SNI and protocol limits.
import type { SanType } from '../../shared/spiffe.js';
import { compileStringMatcher, type ValueMatcher } from './string-matcher.js';
import { ConfigError, bool, isObject, list, obj, optObj, str, type Json } from './xds-json.js';

const TLS_SOCKET_NAMES: ReadonlySet<string> = new Set(['envoy.transport_sockets.tls', 'tls']);
const RAW_BUFFER_NAMES: ReadonlySet<string> = new Set(['envoy.transport_sockets.raw_buffer', 'raw_buffer']);
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const RAW_BUFFER = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';

/** Envoy's DataSource: a file read when a context is built, or the PEM inline. */
export type PemSource = { kind: 'file'; path: string } | { kind: 'inline'; pem: string };

/** A certificate and key: from a named SDS secret (resolved by this proxy), or given directly. */
export type CertificateSource = { kind: 'sds'; name: string } | { kind: 'static'; chain: PemSource; key: PemSource };

export type { SanType } from '../../shared/spiffe.js';

/** One accepted subject alternative name: a type and a matcher on its value. */
export interface SanMatcher {
  type: SanType;
  matches: ValueMatcher;
}

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** One side's TLS as configured; frozen, and the identity of this object keys the TLS contexts built from it. */
export interface TlsContextConfig {
  side: 'upstream' | 'downstream';
  certificate?: CertificateSource;
  /** Roots that verify the peer: a named SDS secret, or a PEM source; none: the peer is not verified. */
  trustedCa?: { kind: 'sds'; name: string } | PemSource;
  /** Empty: any name (only the chain is checked). */
  sanMatchers: readonly SanMatcher[];
  alpn: readonly string[];
  /** Upstream: the server name sent. */
  sni?: string;
  /** Downstream: a client certificate is required (mTLS). */
  requireClientCertificate: boolean;
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
  /** OpenSSL cipher list (TLS 1.2 suites; TLS 1.3 suites are fixed by OpenSSL's defaults). */
  ciphers?: string;
  /** OpenSSL curve list, `:`-separated. */
  ecdhCurves?: string;
  /** The SDS names this context needs before it can be used. */
  secretNames: readonly string[];
}

const VERSIONS: Readonly<Record<string, TlsVersion | undefined>> = { TLS_AUTO: undefined, TLSv1_2: 'TLSv1.2', TLSv1_3: 'TLSv1.3' };
const SAN_TYPES: ReadonlySet<string> = new Set(['URI', 'DNS', 'IP_ADDRESS', 'EMAIL']);

function pemSource(v: unknown, path: string): PemSource {
  const d = obj(v, path);
  if (d.filename !== undefined) return { kind: 'file', path: str(d.filename, `${path}.filename`) };
  if (d.inline_string !== undefined) return { kind: 'inline', pem: str(d.inline_string, `${path}.inline_string`) };
  if (d.inline_bytes !== undefined) return { kind: 'inline', pem: Buffer.from(str(d.inline_bytes, `${path}.inline_bytes`), 'base64').toString('utf8') };
  throw new ConfigError(path, 'needs filename, inline_string or inline_bytes');
}

/**
 * An SDS secret reference. The proxy resolves names in its own secret store: Istio's `default` and
 * `ROOTCA` are filled by its certificate agent (what the pod's `sds-grpc` agent does for Envoy);
 * a context whose secrets are not all there refuses connections, as Envoy keeps such a listener
 * or cluster warming.
 */
function sdsName(v: unknown, path: string): string {
  return str(obj(v, path).name, `${path}.name`);
}

function sanMatchers(vc: Json, path: string): SanMatcher[] {
  const out: SanMatcher[] = [];
  list(vc.match_typed_subject_alt_names, `${path}.match_typed_subject_alt_names`).forEach((m, i) => {
    const p = `${path}.match_typed_subject_alt_names[${i}]`;
    const o = obj(m, p);
    const type = str(o.san_type, `${p}.san_type`);
    if (!SAN_TYPES.has(type)) throw new ConfigError(`${p}.san_type`, 'must be URI, DNS, IP_ADDRESS or EMAIL');
    out.push({ type: type as SanType, matches: compileStringMatcher(o.matcher, `${p}.matcher`) });
  });
  // The deprecated untyped form matched any SAN type.
  list(vc.match_subject_alt_names, `${path}.match_subject_alt_names`).forEach((m, i) => {
    const matches = compileStringMatcher(m, `${path}.match_subject_alt_names[${i}]`);
    for (const type of SAN_TYPES) out.push({ type: type as SanType, matches });
  });
  return out;
}

function tlsParams(common: Json, path: string): Pick<TlsContextConfig, 'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurves'> {
  const p = optObj(common.tls_params, `${path}.tls_params`);
  if (!p) return {};
  const out: Pick<TlsContextConfig, 'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurves'> = {};
  for (const [field, key] of [
    ['tls_minimum_protocol_version', 'minVersion'],
    ['tls_maximum_protocol_version', 'maxVersion'],
  ] as const) {
    const v = p[field];
    if (v === undefined) continue;
    const name = str(v, `${path}.tls_params.${field}`);
    if (!(name in VERSIONS)) throw new ConfigError(`${path}.tls_params.${field}`, 'TLS versions before 1.2 are not offered; use TLSv1_2, TLSv1_3 or TLS_AUTO');
    const version = VERSIONS[name];
    if (version) out[key] = version;
  }
  if (out.minVersion === 'TLSv1.3' && out.maxVersion === 'TLSv1.2') throw new ConfigError(`${path}.tls_params`, 'the minimum version is above the maximum');
  const ciphers = list(p.cipher_suites, `${path}.tls_params.cipher_suites`).map((c, i) => str(c, `${path}.tls_params.cipher_suites[${i}]`));
  if (ciphers.length > 0) out.ciphers = ciphers.join(':');
  const curves = list(p.ecdh_curves, `${path}.tls_params.ecdh_curves`).map((c, i) => str(c, `${path}.tls_params.ecdh_curves[${i}]`));
  if (curves.length > 0) out.ecdhCurves = curves.join(':');
  return out;
}

function commonContext(side: 'upstream' | 'downstream', common: Json, path: string): TlsContextConfig {
  const secretNames: string[] = [];
  const out: TlsContextConfig = { side, sanMatchers: [], alpn: [], requireClientCertificate: false, secretNames, ...tlsParams(common, path) };
  const sdsCerts = list(common.tls_certificate_sds_secret_configs, `${path}.tls_certificate_sds_secret_configs`);
  const staticCerts = list(common.tls_certificates, `${path}.tls_certificates`);
  if (sdsCerts.length + staticCerts.length > 1) throw new ConfigError(path, 'at most one certificate is supported');
  if (sdsCerts.length === 1) {
    const name = sdsName(sdsCerts[0], `${path}.tls_certificate_sds_secret_configs[0]`);
    out.certificate = { kind: 'sds', name };
    secretNames.push(name);
  } else if (staticCerts.length === 1) {
    const c = obj(staticCerts[0], `${path}.tls_certificates[0]`);
    out.certificate = { kind: 'static', chain: pemSource(c.certificate_chain, `${path}.tls_certificates[0].certificate_chain`), key: pemSource(c.private_key, `${path}.tls_certificates[0].private_key`) };
  }
  let vc: Json | undefined;
  if (common.combined_validation_context !== undefined) {
    const combined = obj(common.combined_validation_context, `${path}.combined_validation_context`);
    vc = optObj(combined.default_validation_context, `${path}.combined_validation_context.default_validation_context`) ?? {};
    const name = sdsName(combined.validation_context_sds_secret_config, `${path}.combined_validation_context.validation_context_sds_secret_config`);
    out.trustedCa = { kind: 'sds', name };
    secretNames.push(name);
    if (vc.trusted_ca !== undefined) throw new ConfigError(`${path}.combined_validation_context.default_validation_context.trusted_ca`, 'roots come from the SDS secret');
    out.sanMatchers = sanMatchers(vc, `${path}.combined_validation_context.default_validation_context`);
  } else if (common.validation_context_sds_secret_config !== undefined) {
    const name = sdsName(common.validation_context_sds_secret_config, `${path}.validation_context_sds_secret_config`);
    out.trustedCa = { kind: 'sds', name };
    secretNames.push(name);
  } else if (common.validation_context !== undefined) {
    vc = obj(common.validation_context, `${path}.validation_context`);
    if (vc.trusted_ca !== undefined) out.trustedCa = pemSource(vc.trusted_ca, `${path}.validation_context.trusted_ca`);
    out.sanMatchers = sanMatchers(vc, `${path}.validation_context`);
  }
  if (out.sanMatchers.length > 0 && !out.trustedCa) throw new ConfigError(`${path}.validation_context`, 'subject alt name matchers need trusted_ca: a name is only worth checking on a verified chain');
  out.alpn = list(common.alpn_protocols, `${path}.alpn_protocols`).map((a, i) => str(a, `${path}.alpn_protocols[${i}]`));
  return out;
}

/**
 * Compiles a transport_socket. Returns undefined for raw_buffer (plaintext); throws ConfigError for
 * anything else this proxy cannot honour.
 */
export function compileTransportSocket(v: unknown, path: string, side: 'upstream' | 'downstream'): TlsContextConfig | undefined {
  const ts = obj(v, path);
  const name = str(ts.name, `${path}.name`, '');
  const tc = optObj(ts.typed_config, `${path}.typed_config`);
  const type = tc?.['@type'];
  if (RAW_BUFFER_NAMES.has(name) || type === RAW_BUFFER) return undefined;
  if (!TLS_SOCKET_NAMES.has(name) && type !== UPSTREAM_TLS && type !== DOWNSTREAM_TLS) throw new ConfigError(`${path}.name`, `transport socket ${name || String(type)} is not supported`);
  const want = side === 'upstream' ? UPSTREAM_TLS : DOWNSTREAM_TLS;
  if (!tc || type !== want) throw new ConfigError(`${path}.typed_config`, `must be a ${want.slice(want.lastIndexOf('.') + 1)}`);
  const tp = `${path}.typed_config`;
  const common = optObj(tc.common_tls_context, `${tp}.common_tls_context`) ?? {};
  const out = commonContext(side, common, `${tp}.common_tls_context`);
  if (side === 'upstream') {
    const sni = str(tc.sni, `${tp}.sni`, '');
    if (sni !== '') out.sni = sni;
  } else {
    const require = tc.require_client_certificate;
    out.requireClientCertificate = require === undefined ? false : isObject(require) ? bool(require.value, `${tp}.require_client_certificate.value`, false) : bool(require, `${tp}.require_client_certificate`, false);
    if (!out.certificate) throw new ConfigError(`${tp}.common_tls_context`, 'a server needs a certificate');
    if (out.requireClientCertificate && !out.trustedCa) throw new ConfigError(`${tp}.require_client_certificate`, 'requiring a client certificate needs roots to verify it');
  }
  return Object.freeze(out);
}
