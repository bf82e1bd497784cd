// The HTTP connection manager network filter of sidecar outbound, sidecar inbound and gateway filter chains.
import { DEFAULT_MESH_CONFIG, type PathNormalizationMode } from '../../model/mesh-config.js';
import { adsConfigSource, boolValue, Filters, typedFilter, ZERO_DURATION, type Msg } from './envoy-values.js';

/** Server header Istio's proxies send. */
export const SERVER_NAME = 'istio-envoy';

/**
 * The HTTP filters of a connection manager: `authn` first (jwt_authn and istio_authn of sidecar
 * inbound and gateway chains, request-authentication.ts), so that `authz` (their RBAC filters,
 * authorization.ts) can read the request principal; then the ones every connection manager runs:
 * CORS and fault, which act only on routes that configure them, then the router.
 */
export function httpFilters(authz: readonly Msg[] = [], authn: readonly Msg[] = []): Msg[] {
  return [...authn, ...authz, typedFilter(Filters.cors), typedFilter(Filters.fault), typedFilter(Filters.router)];
}

export interface HcmOptions {
  statPrefix: string;
  /** Route configuration fetched over ADS by name (outbound and gateways)… */
  rds?: string;
  /** …or carried inline (inbound). */
  routeConfig?: Msg;
  kind: 'outbound' | 'inbound' | 'gateway';
  /** Inbound HTTP/2 and gRPC ports accept HTTP/2 explicitly. */
  http2?: boolean;
  /** RBAC HTTP filters (inbound and gateway only), placed before cors, fault and the router. */
  authz?: readonly Msg[];
  /** RequestAuthentication's jwt_authn and istio_authn (inbound and gateway only), placed before everything. */
  authn?: readonly Msg[];
  /** The mesh's path normalization (inbound and gateway, where policy is enforced); outbound only resolves dot segments. */
  pathNormalization?: PathNormalizationMode;
  /** Say explicitly that absolute-form requests (`GET http://host/path`) are taken: the HTTP proxy port's connection manager. */
  allowAbsoluteUrl?: boolean;
}

/**
 * Envoy's path settings for Istio's pathNormalization modes. Escaped slashes are refused unless the
 * mode decodes them, so a policy on `/admin` cannot be walked around with `%2F` (CVE-2021-31920);
 * NONE is the operator's explicit opt-out.
 */
function pathFields(mode: PathNormalizationMode): Msg {
  switch (mode) {
    case 'NONE':
      return { normalizePath: boolValue(false), mergeSlashes: false, pathWithEscapedSlashesAction: 'KEEP_UNCHANGED' };
    case 'BASE':
      return { normalizePath: boolValue(true), mergeSlashes: false, pathWithEscapedSlashesAction: 'REJECT_REQUEST' };
    case 'MERGE_SLASHES':
      return { normalizePath: boolValue(true), mergeSlashes: true, pathWithEscapedSlashesAction: 'REJECT_REQUEST' };
    case 'DECODE_AND_MERGE_SLASHES':
      return { normalizePath: boolValue(true), mergeSlashes: true, pathWithEscapedSlashesAction: 'UNESCAPE_AND_FORWARD' };
  }
}

/**
 * An `envoy.filters.network.http_connection_manager` filter as Istio builds it: codec AUTO,
 * normalized paths, websocket upgrades, no stream idle timeout. Sidecars trust the local caller's
 * headers (`use_remote_address` false); gateways are the edge (true) and sanitize client
 * certificate headers; inbound sidecars append the peer certificate details for the app.
 */
export function httpConnectionManager(o: HcmOptions): Msg {
  const hcm: Msg = {
    statPrefix: o.statPrefix,
    codecType: 'AUTO',
    httpFilters: httpFilters(o.authz, o.authn),
    ...(o.kind === 'outbound' ? { normalizePath: boolValue(true) } : pathFields(o.pathNormalization ?? DEFAULT_MESH_CONFIG.pathNormalization)),
    useRemoteAddress: boolValue(o.kind === 'gateway'),
    upgradeConfigs: [{ upgradeType: 'websocket' }],
    streamIdleTimeout: { ...ZERO_DURATION },
  };
  if (o.rds !== undefined) hcm.rds = { configSource: adsConfigSource(), routeConfigName: o.rds };
  else hcm.routeConfig = o.routeConfig ?? { name: o.statPrefix, virtualHosts: [] };
  if (o.kind === 'inbound') {
    hcm.forwardClientCertDetails = 'APPEND_FORWARD';
    hcm.setCurrentClientCertDetails = { subject: boolValue(true), uri: true, dns: true };
    hcm.serverName = SERVER_NAME;
    if (o.http2) hcm.http2ProtocolOptions = {};
  } else if (o.kind === 'gateway') {
    hcm.xffNumTrustedHops = 0;
    // Envoy's edge guidance: header names with `_` are refused at the edge, where apps behind may
    // read x_role as x-role (reliability-security §1 B7); sidecars keep Istio's ALLOW.
    hcm.commonHttpProtocolOptions = { headersWithUnderscoresAction: 'REJECT_REQUEST' };
    hcm.forwardClientCertDetails = 'SANITIZE_SET';
    hcm.setCurrentClientCertDetails = { subject: boolValue(true), cert: true, uri: true, dns: true };
    hcm.serverName = SERVER_NAME;
    hcm.httpProtocolOptions = {};
  }
  if (o.allowAbsoluteUrl) hcm.httpProtocolOptions = { allowAbsoluteUrl: boolValue(true) };
  return typedFilter(Filters.httpConnectionManager, hcm);
}
