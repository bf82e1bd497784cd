// Envoy's admin /config_dump shape (envoy.admin.v3.*ConfigDump) from decoded resources: the control plane's debug API and the proxy's admin share it.

/** The resources of one type as a proxy holds them. */
export interface TypeDump {
  version: string;
  items: readonly { name: string; resource: Record<string, unknown> }[];
  /** ISO time of the last update, if known. */
  updated?: string;
}

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';
const REDACTED = Buffer.from('[redacted]').toString('base64');

/** Envoy redacts private keys in config dumps; so do we (any `private_key` data source). */
function redactSecrets(o: unknown): unknown {
  if (Array.isArray(o)) return o.map(redactSecrets);
  if (o && typeof o === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) out[k] = k === 'private_key' && v && typeof v === 'object' ? { inline_bytes: REDACTED } : redactSecrets(v);
    return out;
  }
  return o;
}

/** `{ configs: [Clusters, Endpoints, Listeners, Routes, Secrets dumps] }` in Envoy's order and field names. */
export function envoyConfigDump(types: { clusters?: TypeDump; endpoints?: TypeDump; listeners?: TypeDump; routes?: TypeDump; secrets?: TypeDump }): { configs: Record<string, unknown>[] } {
  const none: TypeDump = { version: '', items: [] };
  const c = types.clusters ?? none;
  const ep = types.endpoints ?? none;
  const l = types.listeners ?? none;
  const r = types.routes ?? none;
  const s = types.secrets ?? none;
  return {
    configs: [
      {
        '@type': `${ADMIN}ClustersConfigDump`,
        version_info: c.version,
        dynamic_active_clusters: c.items.map((i) => ({ version_info: c.version, cluster: i.resource, last_updated: c.updated })),
      },
      {
        '@type': `${ADMIN}EndpointsConfigDump`,
        dynamic_endpoint_configs: ep.items.map((i) => ({ version_info: ep.version, endpoint_config: i.resource, last_updated: ep.updated })),
      },
      {
        '@type': `${ADMIN}ListenersConfigDump`,
        version_info: l.version,
        dynamic_listeners: l.items.map((i) => ({ name: i.name, active_state: { version_info: l.version, listener: i.resource, last_updated: l.updated } })),
      },
      {
        '@type': `${ADMIN}RoutesConfigDump`,
        dynamic_route_configs: r.items.map((i) => ({ version_info: r.version, route_config: i.resource, last_updated: r.updated })),
      },
      {
        '@type': `${ADMIN}SecretsConfigDump`,
        dynamic_active_secrets: s.items.map((i) => ({ name: i.name, version_info: s.version, last_updated: s.updated, secret: redactSecrets(i.resource) })),
      },
    ],
  };
}
