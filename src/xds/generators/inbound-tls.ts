// Sidecar inbound mutual TLS: the server-side TLS context PeerAuthentication asks for, and the filter chains of each mode.
import type { MeshConfig } from '../../model/mesh-config.js';
import type { PeerMtlsMode } from '../../model/push-context.js';
import { any, boolValue, durationMs, Filters, typedFilter, workloadSecret, type Msg } from './envoy-values.js';
import { ALPN_IN_MESH, SDS_DEFAULT, SDS_ROOTCA } from './upstream-tls.js';

/** What an HTTP port offers once TLS is terminated: HTTP/2 first, then HTTP/1.1. */
const ALPN_HTTP = Object.freeze(['h2', 'http/1.1']);

/**
 * ALPN values that mark a TLS connection as mesh mTLS on a PERMISSIVE port: Meltemi's own clients
 * send ALPN_IN_MESH; Istio 1.6 client sidecars send `istio-http/*` / `istio-h2` for HTTP instead
 * (its istio-alpn filter), matched too so such clients are not mistaken for outsiders.
 */
export const IN_MESH_ALPN_MATCH: readonly string[] = Object.freeze([...ALPN_IN_MESH, 'istio-http/1.0', 'istio-http/1.1', 'istio-h2']);

/** FilterChainMatch.transport_protocol the TLS inspector sets for a ClientHello. */
export const TLS_TRANSPORT = 'tls';

/**
 * URI SAN matchers accepting any SPIFFE identity of the mesh's trust domain or one of its aliases
 * (`spiffe://DOMAIN/` prefixes). Always set, aliases or not: a root shared with another mesh (or a
 * plugged-in CA that also signs for another domain) must not let that domain's workloads in
 * (reliability-security §1 H3); Istio 1.6 left this to its authn filter.
 */
export function trustDomainSanMatchers(mesh: MeshConfig): Msg[] {
  const domains = [...new Set([mesh.trustDomain, ...mesh.trustDomainAliases].filter((d) => d !== ''))];
  return domains.map((d) => ({ sanType: 'URI', matcher: { prefix: `spiffe://${d}/` } }));
}

/**
 * Envoy TlsParameters for the mesh's mutual TLS from SMCP `security.controlPlane.tls` (versions as
 * Envoy names them, OpenSSL cipher and curve names), with `floor` as the minimum when none is set.
 * Both sides of mesh mTLS use them.
 */
export function meshTlsParams(mesh: MeshConfig, floor?: string): Msg {
  const t = mesh.meshTls;
  const out: Msg = {};
  const min = t.minProtocolVersion ?? floor;
  if (min !== undefined && min !== 'TLS_AUTO') out.tlsMinimumProtocolVersion = min;
  if (t.maxProtocolVersion !== undefined && t.maxProtocolVersion !== 'TLS_AUTO') out.tlsMaximumProtocolVersion = t.maxProtocolVersion;
  if (t.cipherSuites) out.cipherSuites = [...t.cipherSuites];
  if (t.ecdhCurves) out.ecdhCurves = [...t.ecdhCurves];
  return out;
}

/**
 * The DownstreamTlsContext of a sidecar's inbound mTLS: the workload certificate (SDS `default`)
 * and the mesh root (SDS `ROOTCA`) from the local agent, a client certificate required, TLS 1.2 at
 * least. HTTP ports offer h2 and http/1.1 by ALPN; TCP ports offer none (the bytes are opaque).
 */
export function inboundMtlsContext(mesh: MeshConfig, http: boolean): Msg {
  const sans = trustDomainSanMatchers(mesh);
  const common: Msg = {
    // Istio ≥1.7 sets the same floor on the inbound path; every mesh client speaks TLS 1.2.
    tlsParams: meshTlsParams(mesh, 'TLSv1_2'),
    tlsCertificateSdsSecretConfigs: [workloadSecret(SDS_DEFAULT)],
    combinedValidationContext: {
      defaultValidationContext: sans.length > 0 ? { matchTypedSubjectAltNames: sans } : {},
      validationContextSdsSecretConfig: workloadSecret(SDS_ROOTCA),
    },
  };
  if (http) common.alpnProtocols = [...ALPN_HTTP];
  return { commonTlsContext: common, requireClientCertificate: boolValue(true) };
}

/** The `envoy.transport_sockets.tls` socket terminating inbound mTLS. */
export function inboundMtlsSocket(mesh: MeshConfig, http: boolean): Msg {
  return { name: Filters.tlsSocket.name, typedConfig: any(Filters.tlsSocket.downstream, inboundMtlsContext(mesh, http)) };
}

/** One inbound destination (a workload port, or the passthrough of undeclared ports) before its mTLS mode is applied. */
export interface InboundDestination {
  /** Name of the plaintext chain; the TLS chains add `-mtls` and `-tls`. */
  name: string;
  /** The match every chain of the destination shares (destination port, or prefix ranges); empty for a listener of its own. */
  match: Msg;
  /** HTTP port (ALPN offered after termination). */
  http: boolean;
  /** Network filters for the port's own protocol: plaintext, or what mTLS carries once terminated. */
  filters: () => Msg[];
  /** Network filters for TLS from outside the mesh on a PERMISSIVE port: the bytes go to the application untouched. */
  opaqueFilters: () => Msg[];
}

function chain(name: string, match: Msg, filters: Msg[], transportSocket?: Msg): Msg {
  const out: Msg = { name };
  if (Object.keys(match).length > 0) out.filterChainMatch = match;
  out.filters = filters;
  if (transportSocket) out.transportSocket = transportSocket;
  return out;
}

/**
 * The filter chains of one inbound destination under `mode` (Istio 1.6's inbound chains per mTLS
 * mode, with Envoy's filter chain matching in mind: port, then address, then transport protocol,
 * then ALPN, the most specific surviving at each step and no backtracking):
 *
 * - DISABLE: the plaintext chain alone.
 * - STRICT: one chain that terminates mTLS, matched on transport protocol `tls`. A plaintext
 *   connection matches no chain of the port and is closed before a byte reaches the application
 *   (Envoy would not fall back to a chain of another port).
 * - PERMISSIVE: three chains. mTLS is recognised by `tls` plus a mesh ALPN and terminated. TLS
 *   without a mesh ALPN (a client outside the mesh speaking TLS to the application itself) gets a
 *   `tls` chain of its own that passes the bytes through untouched: once a `tls` chain exists for
 *   the port, a TLS connection can no longer reach the plaintext chain, so without it such a
 *   client would be cut off. Everything else takes the plaintext chain.
 *
 * Chains come in a fixed order: mTLS, outside TLS, plaintext.
 */
export function inboundChainsFor(mode: PeerMtlsMode, d: InboundDestination, mesh: MeshConfig): Msg[] {
  if (mode === 'DISABLE') return [chain(d.name, d.match, d.filters())];
  if (mode === 'STRICT') return [chain(`${d.name}-mtls`, { ...d.match, transportProtocol: TLS_TRANSPORT }, d.filters(), inboundMtlsSocket(mesh, d.http))];
  return [
    chain(`${d.name}-mtls`, { ...d.match, transportProtocol: TLS_TRANSPORT, applicationProtocols: [...IN_MESH_ALPN_MATCH] }, d.filters(), inboundMtlsSocket(mesh, d.http)),
    chain(`${d.name}-tls`, { ...d.match, transportProtocol: TLS_TRANSPORT }, d.opaqueFilters()),
    chain(d.name, d.match, d.filters()),
  ];
}

/** Whether some chain selects by what the TLS inspector reads (transport protocol, ALPN or SNI). */
export function needsTlsInspector(chains: readonly Msg[]): boolean {
  return chains.some((c) => {
    const m = c.filterChainMatch as Msg | undefined;
    return m !== undefined && (m.transportProtocol !== undefined || m.applicationProtocols !== undefined || m.serverNames !== undefined);
  });
}

/**
 * The listener filter fields of an inbound listener: `first` (original_dst on virtualInbound),
 * then the TLS inspector when a chain needs it, with the mesh's protocol detection timeout after
 * which a silent client (a server-first protocol) goes on as plaintext, as on the outbound side.
 */
export function inboundListenerFilters(chains: readonly Msg[], mesh: MeshConfig, first: readonly Msg[] = []): Msg {
  const out: Msg = {};
  const filters = [...first];
  const inspect = needsTlsInspector(chains);
  if (inspect) filters.push(typedFilter(Filters.tlsInspector));
  if (filters.length > 0) out.listenerFilters = filters;
  if (inspect && mesh.protocolDetectionTimeoutMs > 0) {
    out.listenerFiltersTimeout = durationMs(mesh.protocolDetectionTimeoutMs);
    out.continueOnListenerFiltersTimeout = true;
  }
  return out;
}
