// Gateway server TLS settings → Envoy DownstreamTlsContext (credentialName over SDS, mounted files, or ISTIO_MUTUAL).
import type { GatewayServerConfig } from '../../model/push-context.js';
import { any, boolValue, Filters, sdsSecret, workloadSecret, type Msg } from './envoy-values.js';
import { isPassthrough } from './gateway-servers.js';
import { sanMatchers, SDS_DEFAULT, SDS_ROOTCA } from './upstream-tls.js';

/** ALPN a terminating gateway offers: HTTP/2 first, then HTTP/1.1. */
const ALPN_HTTP = ['h2', 'http/1.1'];

/** SDS name of a Kubernetes secret holding a gateway certificate (Istio's `kubernetes://` resource names). */
export function credentialSecretName(credentialName: string): string {
  return `kubernetes://${credentialName}`;
}

/** The CA of a MUTUAL credential: the same secret's `cacert`, served under `-cacert`. */
export function credentialCaSecretName(credentialName: string): string {
  return `kubernetes://${credentialName}-cacert`;
}

const TLS_VERSIONS: Record<string, string> = { TLSV1_0: 'TLSv1_0', TLSV1_1: 'TLSv1_1', TLSV1_2: 'TLSv1_2', TLSV1_3: 'TLSv1_3' };

/** Client-certificate checks beyond the CA: SANs, SPKI pins, certificate hashes. */
function clientCertChecks(tls: NonNullable<GatewayServerConfig['server']['tls']>): Msg {
  const vc: Msg = {};
  if (tls.subjectAltNames?.length) vc.matchTypedSubjectAltNames = sanMatchers(tls.subjectAltNames);
  if (tls.verifyCertificateSpki?.length) vc.verifyCertificateSpki = [...tls.verifyCertificateSpki];
  if (tls.verifyCertificateHash?.length) vc.verifyCertificateHash = [...tls.verifyCertificateHash];
  return vc;
}

/**
 * The DownstreamTlsContext of a terminating server (undefined for PASSTHROUGH and servers without
 * TLS). `credentialName` → certificate from SDS `kubernetes://NAME` (and, for MUTUAL, the CA from
 * `kubernetes://NAME-cacert`); ISTIO_MUTUAL → the workload certificate and mesh root; otherwise
 * the mounted files. MUTUAL and ISTIO_MUTUAL require a client certificate.
 */
export function downstreamTlsContext(sc: GatewayServerConfig): Msg | undefined {
  const tls = sc.server.tls;
  if (!tls || isPassthrough(sc) || !tls.mode) return undefined;
  const common: Msg = { alpnProtocols: [...ALPN_HTTP] };
  const params: Msg = {};
  if (tls.minProtocolVersion && TLS_VERSIONS[tls.minProtocolVersion]) params.tlsMinimumProtocolVersion = TLS_VERSIONS[tls.minProtocolVersion];
  if (tls.maxProtocolVersion && TLS_VERSIONS[tls.maxProtocolVersion]) params.tlsMaximumProtocolVersion = TLS_VERSIONS[tls.maxProtocolVersion];
  if (tls.cipherSuites?.length) params.cipherSuites = [...tls.cipherSuites];
  if (Object.keys(params).length > 0) common.tlsParams = params;
  const mutual = tls.mode === 'MUTUAL' || tls.mode === 'ISTIO_MUTUAL';

  if (tls.credentialName) {
    common.tlsCertificateSdsSecretConfigs = [sdsSecret(credentialSecretName(tls.credentialName))];
    if (tls.mode === 'MUTUAL') {
      common.combinedValidationContext = { defaultValidationContext: clientCertChecks(tls), validationContextSdsSecretConfig: sdsSecret(credentialCaSecretName(tls.credentialName)) };
    }
  } else if (tls.mode === 'ISTIO_MUTUAL') {
    common.tlsCertificateSdsSecretConfigs = [workloadSecret(SDS_DEFAULT)];
    common.combinedValidationContext = { defaultValidationContext: clientCertChecks(tls), validationContextSdsSecretConfig: workloadSecret(SDS_ROOTCA) };
  } else {
    if (tls.serverCertificate && tls.privateKey) common.tlsCertificates = [{ certificateChain: { filename: tls.serverCertificate }, privateKey: { filename: tls.privateKey } }];
    const vc = clientCertChecks(tls);
    if (tls.caCertificates) vc.trustedCa = { filename: tls.caCertificates };
    if (Object.keys(vc).length > 0) common.validationContext = vc;
  }
  return { commonTlsContext: common, requireClientCertificate: boolValue(mutual) };
}

/** The `envoy.transport_sockets.tls` socket of a terminating server. */
export function downstreamTransportSocket(sc: GatewayServerConfig): Msg | undefined {
  const ctx = downstreamTlsContext(sc);
  return ctx ? { name: Filters.tlsSocket.name, typedConfig: any(Filters.tlsSocket.downstream, ctx) } : undefined;
}
