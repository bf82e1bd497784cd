// Client-side TLS of outbound clusters: DestinationRule tls (SIMPLE, MUTUAL, ISTIO_MUTUAL) and auto-mTLS transport socket matches.
import { isIP } from 'node:net';
import { any, Filters, struct, workloadSecret, type Msg } from './envoy-values.js';
import { TLS_MODE_ISTIO } from './locality-endpoints.js';
import type { ClientTls } from './traffic-policy.js';

/** SDS resource names of the workload certificate and the mesh root, served over ADS by the control plane. */
export const SDS_DEFAULT = 'default';
export const SDS_ROOTCA = 'ROOTCA';

/**
 * ALPN Istio sends inside the mesh: peer metadata exchange first, then Istio's marker, then h2 for
 * HTTP/2 clusters. A PERMISSIVE server tells mesh mTLS from other TLS by these (inbound-tls.ts).
 */
export const ALPN_IN_MESH: readonly string[] = Object.freeze(['istio-peer-exchange', 'istio']);
const ALPN_H2 = ['h2'];

export interface UpstreamTlsContext {
  /** Cluster being built (for its SNI default). */
  clusterName: string;
  /** Service hostname (SNI default for SIMPLE/MUTUAL when it is not a wildcard). */
  hostname: string;
  /** `outbound_.PORT_.SUBSET_.HOST`, the SNI of ISTIO_MUTUAL. */
  istioSni: string;
  /** SPIFFE identities of the endpoints (and ServiceEntry subjectAltNames), verified for ISTIO_MUTUAL. */
  serviceAccounts: readonly string[];
  http2: boolean;
  meshExternal: boolean;
  /** Envoy cluster type; auto-mTLS is never applied to ORIGINAL_DST clusters (sidecar presence is unknown). */
  type: string;
  enableAutoMtls: boolean;
  /** TlsParameters of the mesh's mutual TLS (meshTlsParams), for ISTIO_MUTUAL; empty: OpenSSL's defaults. */
  meshTlsParams?: Msg;
}

/** The TLS fields of a cluster: one transport socket, or auto-mTLS transport socket matches, or nothing (plaintext). */
export interface UpstreamTlsFields {
  transportSocket?: Msg;
  transportSocketMatches?: Msg[];
}

/**
 * SAN matchers: `spiffe://…` and other URIs match URI SANs, IP literals IP SANs, anything else DNS
 * SANs (the typed form replaces Envoy's deprecated match_subject_alt_names).
 */
export function sanMatchers(sans: readonly string[]): Msg[] {
  return sans.map((san) => ({ sanType: san.includes('://') ? 'URI' : isIP(san) ? 'IP_ADDRESS' : 'DNS', matcher: { exact: san } }));
}

function tlsSocket(ctx: Msg): Msg {
  return { name: Filters.tlsSocket.name, typedConfig: any(Filters.tlsSocket.upstream, ctx) };
}

/** Validation context from files: CA bundle and SANs; undefined when neither is given (no server verification, as Istio 1.6). */
function fileValidationContext(tls: ClientTls): Msg | undefined {
  const sans = tls.subjectAltNames ?? [];
  if (!tls.caCertificates && sans.length === 0) return undefined;
  const vc: Msg = {};
  if (tls.caCertificates) vc.trustedCa = { filename: tls.caCertificates };
  if (sans.length > 0) vc.matchTypedSubjectAltNames = sanMatchers(sans);
  return vc;
}

/** The UpstreamTlsContext of ISTIO_MUTUAL: workload cert and root from SDS, SPIFFE SANs, mesh ALPN. */
export function istioMutualContext(sans: readonly string[], sni: string, http2: boolean, tlsParams?: Msg): Msg {
  const defaultValidationContext: Msg = sans.length > 0 ? { matchTypedSubjectAltNames: sanMatchers(sans) } : {};
  return {
    commonTlsContext: {
      ...(tlsParams && Object.keys(tlsParams).length > 0 ? { tlsParams } : {}),
      tlsCertificateSdsSecretConfigs: [workloadSecret(SDS_DEFAULT)],
      combinedValidationContext: { defaultValidationContext, validationContextSdsSecretConfig: workloadSecret(SDS_ROOTCA) },
      alpnProtocols: http2 ? [...ALPN_IN_MESH, ...ALPN_H2] : [...ALPN_IN_MESH],
    },
    sni,
  };
}

/**
 * Applies a DestinationRule `tls` setting (already selected for port and subset) to a cluster.
 * Without one, auto-mTLS (mesh `enableAutoMtls`) sends ISTIO_MUTUAL to endpoints labelled
 * `tlsMode: istio` and plaintext to the others, except for MESH_EXTERNAL services and ORIGINAL_DST
 * clusters. MUTUAL without a client certificate and key is dropped (no TLS), as Istio does.
 */
export function upstreamTls(tls: ClientTls | undefined, ctx: UpstreamTlsContext): UpstreamTlsFields {
  if (!tls) {
    if (ctx.meshExternal || !ctx.enableAutoMtls || ctx.type === 'ORIGINAL_DST') return {};
    const mtls = tlsSocket(istioMutualContext(ctx.serviceAccounts, ctx.istioSni, ctx.http2, ctx.meshTlsParams));
    return {
      transportSocketMatches: [
        { name: `tlsMode-${TLS_MODE_ISTIO}`, match: struct({ tlsMode: TLS_MODE_ISTIO }), transportSocket: mtls },
        { name: 'tlsMode-disabled', match: struct({}), transportSocket: { name: Filters.rawBufferSocket.name, typedConfig: any(Filters.rawBufferSocket.type) } },
      ],
    };
  }
  // SNI for origination defaults to the service's own name: servers behind shared front ends need it
  // (Istio ≥1.8 does the same; 1.6 sent none unless `sni` was set).
  const originationSni = tls.sni || (ctx.hostname.startsWith('*') ? '' : ctx.hostname);
  switch (tls.mode) {
    case 'SIMPLE':
    case 'MUTUAL': {
      // MUTUAL is SIMPLE plus the client certificate; without one there is nothing to originate with.
      if (tls.mode === 'MUTUAL' && (!tls.clientCertificate || !tls.privateKey)) return {};
      const common: Msg = tls.mode === 'MUTUAL' ? { tlsCertificates: [{ certificateChain: { filename: tls.clientCertificate }, privateKey: { filename: tls.privateKey } }] } : {};
      const vc = fileValidationContext(tls);
      if (vc) common.validationContext = vc;
      if (ctx.http2) common.alpnProtocols = [...ALPN_H2];
      const out: Msg = { commonTlsContext: common };
      if (originationSni) out.sni = originationSni;
      return { transportSocket: tlsSocket(out) };
    }
    case 'ISTIO_MUTUAL': {
      const sans = tls.subjectAltNames && tls.subjectAltNames.length > 0 ? tls.subjectAltNames : ctx.serviceAccounts;
      return { transportSocket: tlsSocket(istioMutualContext(sans, tls.sni || ctx.istioSni, ctx.http2, ctx.meshTlsParams)) };
    }
    default:
      // DISABLE (or no mode): plaintext.
      return {};
  }
}
