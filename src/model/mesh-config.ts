// Mesh-wide settings the control plane applies (Istio's MeshConfig subset that Meltemi reads), with defaults.

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
}

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
});

export function meshConfig(overrides: Partial<MeshConfig> = {}): MeshConfig {
  return { ...DEFAULT_MESH_CONFIG, trustDomainAliases: [...DEFAULT_MESH_CONFIG.trustDomainAliases], ...overrides };
}
