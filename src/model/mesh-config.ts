// Mesh-wide settings the control plane applies (Istio's MeshConfig subset that Meltemi reads), with defaults.
import { parseDuration as parseGoDurationMs } from '../api/common.js';
import type { LocalityLbSetting } from '../api/kinds/destination-rule.js';

export interface MeshConfig {
  /** Where mesh-wide policies live; in Maistra the control-plane namespace. */
  rootNamespace: string;
  trustDomain: string;
  trustDomainAliases: string[];
  /** Kubernetes DNS suffix: `svc.<clusterDomain>`. */
  clusterDomain: string;
  /** ALLOW_ANY sends unknown destinations to PassthroughCluster; REGISTRY_ONLY to BlackHoleCluster. */
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** Upstream connect timeout when no DestinationRule sets one. */
  connectTimeoutMs: number;
  /** Auto mTLS: ISTIO_MUTUAL toward endpoints with sidecars when no DestinationRule sets TLS (Maistra default on). */
  enableAutoMtls: boolean;
  /** Sidecar ports (Istio's numbers). */
  outboundPort: number;
  inboundPort: number;
  /** Idle timeout of upstream HTTP connections when no DestinationRule sets one. */
  defaultIdleTimeoutMs: number;
  /**
   * How long a sidecar's listener filters (the TLS inspector) wait for the client's first bytes before
   * the connection goes on as plain TCP (Istio's protocolDetectionTimeout, 100 ms in 1.6; 0: no limit).
   */
  protocolDetectionTimeoutMs: number;
  /** Mesh-wide locality load balancing (Istio's meshConfig.localityLbSetting); unset: on, with failover by proximity. */
  localityLbSetting?: LocalityLbSetting;
  /**
   * How request paths are normalized before policy and routing see them (Istio's
   * meshConfig.pathNormalization). Meltemi defaults to MERGE_SLASHES (Istio: BASE, which leaves
   * `//admin` past a `/admin` policy); every mode but DECODE_AND_MERGE_SLASHES refuses escaped slashes.
   */
  pathNormalization: PathNormalizationMode;
  /**
   * TLS parameters of the mesh's mutual TLS (SMCP `security.controlPlane.tls`): Envoy's
   * TLS_AUTO/TLSv1_2/TLSv1_3 names, OpenSSL cipher and curve names. Unset: TLS 1.2 at least and
   * OpenSSL's defaults.
   */
  meshTls: MeshTlsParams;
  /**
   * Istio's meshConfig.proxyHttpPort: the port on which each sidecar takes HTTP proxy requests
   * (an app's `HTTP_PROXY=http://127.0.0.1:PORT` sends `GET http://reviews:9080/… HTTP/1.1`),
   * listening on 127.0.0.1 with every outbound HTTP route it has. 0 (the default): no such listener.
   */
  proxyHttpPort: number;
}

export interface MeshTlsParams {
  minProtocolVersion?: string;
  maxProtocolVersion?: string;
  cipherSuites?: string[];
  ecdhCurves?: string[];
}

/** Node TLS options for a server of the control plane (the CA and secure-xDS ports). */
export interface NodeTlsOptions {
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list (TLS 1.2 ciphers and TLS 1.3 suites), colon-separated. */
  ciphers?: string;
  /** OpenSSL curve list, colon-separated. */
  ecdhCurve?: string;
}

/**
 * SMCP `security.controlPlane.tls` as Node server options, for the control plane's own TLS ports
 * (the mesh's data-plane mTLS gets the same parameters through xDS). Envoy's version names map to
 * Node's; `TLS_AUTO` and versions below 1.2 (never offered) leave Node's default, TLS 1.2 at least.
 */
export function nodeTlsOptions(t: MeshTlsParams): NodeTlsOptions {
  const version = (v: string | undefined) => (v === 'TLSv1_2' ? 'TLSv1.2' : v === 'TLSv1_3' ? 'TLSv1.3' : undefined);
  const out: NodeTlsOptions = {};
  const min = version(t.minProtocolVersion);
  const max = version(t.maxProtocolVersion);
  if (min) out.minVersion = min;
  if (max && !(min === 'TLSv1.3' && max === 'TLSv1.2')) out.maxVersion = max;
  if (t.cipherSuites?.length) out.ciphers = t.cipherSuites.join(':');
  if (t.ecdhCurves?.length) out.ecdhCurve = t.ecdhCurves.join(':');
  return out;
}

export type PathNormalizationMode = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';
const PATH_NORMALIZATION_MODES: ReadonlySet<string> = new Set(['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES']);

export const DEFAULT_MESH_CONFIG: Readonly<MeshConfig> = Object.freeze({
  rootNamespace: 'istio-system',
  trustDomain: 'cluster.local',
  trustDomainAliases: [],
  clusterDomain: 'cluster.local',
  outboundTrafficPolicy: 'ALLOW_ANY',
  connectTimeoutMs: 10_000,
  enableAutoMtls: true,
  outboundPort: 15001,
  inboundPort: 15006,
  defaultIdleTimeoutMs: 3_600_000,
  protocolDetectionTimeoutMs: 100,
  pathNormalization: 'MERGE_SLASHES',
  meshTls: Object.freeze({}),
  proxyHttpPort: 0,
});

export function meshConfig(overrides: Partial<MeshConfig> = {}): MeshConfig {
  return { ...DEFAULT_MESH_CONFIG, trustDomainAliases: [...DEFAULT_MESH_CONFIG.trustDomainAliases], ...overrides };
}

/** A TCP port (1–65535) or 0, from a number or a decimal string; undefined for anything else. */
function portNumber(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]{1,5}$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

/**
 * The mesh config a ServiceMeshControlPlane (maistra.io/v2 spec, profiles already applied with
 * `applyProfiles`) implies, over the defaults: its namespace is the root namespace; trust domain
 * and aliases, cluster domain, connect timeout, outbound policy and auto-mTLS come from the spec;
 * path normalization and the HTTP proxy port from `techPreview.meshConfig`, which Maistra passes
 * through to Istio's mesh config.
 */
export function meshConfigFromControlPlane(namespace: string, spec: unknown): MeshConfig {
  const get = (path: string[]): unknown => path.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), spec);
  const str = (path: string[]) => {
    const v = get(path);
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const out = meshConfig({ rootNamespace: namespace });
  out.trustDomain = str(['security', 'trust', 'domain']) ?? out.trustDomain;
  const aliases = get(['security', 'trust', 'additionalDomains']);
  if (Array.isArray(aliases)) out.trustDomainAliases = aliases.filter((a): a is string => typeof a === 'string');
  out.clusterDomain = str(['proxy', 'networking', 'clusterDomain']) ?? out.clusterDomain;
  const policy = str(['proxy', 'networking', 'trafficControl', 'outbound', 'policy']);
  if (policy === 'ALLOW_ANY' || policy === 'REGISTRY_ONLY') out.outboundTrafficPolicy = policy;
  const automtls = get(['security', 'dataPlane', 'automtls']);
  if (typeof automtls === 'boolean') out.enableAutoMtls = automtls;
  const timeout = str(['proxy', 'networking', 'connectionTimeout']);
  const ms = timeout === undefined ? undefined : parseGoDurationMs(timeout);
  if (ms !== undefined && ms > 0) out.connectTimeoutMs = ms;
  const tls = get(['security', 'controlPlane', 'tls']);
  if (tls && typeof tls === 'object') {
    const t = tls as Record<string, unknown>;
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : []);
    const meshTls: MeshTlsParams = {};
    if (typeof t.minProtocolVersion === 'string' && t.minProtocolVersion !== '') meshTls.minProtocolVersion = t.minProtocolVersion;
    if (typeof t.maxProtocolVersion === 'string' && t.maxProtocolVersion !== '') meshTls.maxProtocolVersion = t.maxProtocolVersion;
    if (strings(t.cipherSuites).length > 0) meshTls.cipherSuites = strings(t.cipherSuites);
    if (strings(t.ecdhCurves).length > 0) meshTls.ecdhCurves = strings(t.ecdhCurves);
    out.meshTls = meshTls;
  }
  // Maistra passes techPreview.meshConfig through to Istio's mesh config.
  const normalization = str(['techPreview', 'meshConfig', 'pathNormalization', 'normalization']);
  if (normalization !== undefined && PATH_NORMALIZATION_MODES.has(normalization)) out.pathNormalization = normalization as PathNormalizationMode;
  // No SMCP v2 field names the HTTP proxy port; Helm values may carry it as a number or a numeric string.
  const httpProxyPort = portNumber(get(['techPreview', 'meshConfig', 'proxyHttpPort']));
  if (httpProxyPort !== undefined) out.proxyHttpPort = httpProxyPort;
  return out;
}
