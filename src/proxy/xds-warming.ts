// Resource warming, as Envoy does it: which received clusters and listeners may become active, and which names to subscribe to for EDS and RDS.

/** A decoded xDS resource (Envoy JSON, proto field names), frozen. */
export type XdsJson = Readonly<Record<string, unknown>>;

/** The four resource types by name. Listeners, routes and clusters by their `name`; endpoints by `cluster_name`. */
export interface ResourceSet {
  listeners: ReadonlyMap<string, XdsJson>;
  routes: ReadonlyMap<string, XdsJson>;
  clusters: ReadonlyMap<string, XdsJson>;
  endpoints: ReadonlyMap<string, XdsJson>;
}

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The EDS service name a cluster's endpoints come from (`eds_cluster_config.service_name`, else the
 * cluster name), or undefined when the cluster is not of type EDS (its endpoints are inline, or
 * resolved by DNS or the original destination, and it needs nothing more to be active).
 */
export function edsServiceName(cluster: XdsJson): string | undefined {
  if (cluster.type !== 'EDS') return undefined;
  const eds = cluster.eds_cluster_config;
  const service = isRecord(eds) ? eds.service_name : undefined;
  if (typeof service === 'string' && service !== '') return service;
  return typeof cluster.name === 'string' ? cluster.name : undefined;
}

/**
 * The route configurations a listener's HTTP connection managers load over RDS
 * (`rds.route_config_name` of every `http_connection_manager` in `filter_chains[].filters[]` and in
 * `default_filter_chain`), deduplicated, in order of appearance.
 */
export function routeConfigNames(listener: XdsJson): string[] {
  const names: string[] = [];
  const chains: unknown[] = [];
  if (Array.isArray(listener.filter_chains)) chains.push(...listener.filter_chains);
  if (listener.default_filter_chain !== undefined) chains.push(listener.default_filter_chain);
  for (const chain of chains) {
    if (!isRecord(chain) || !Array.isArray(chain.filters)) continue;
    for (const filter of chain.filters) {
      if (!isRecord(filter) || !isRecord(filter.typed_config) || filter.typed_config['@type'] !== HCM_TYPE) continue;
      const rds = filter.typed_config.rds;
      const name = isRecord(rds) ? rds.route_config_name : undefined;
      if (typeof name === 'string' && name !== '' && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

export interface WarmingInput {
  /** Everything accepted from the control plane and still subscribed to, per type. */
  received: ResourceSet;
  /** What was active before (undefined before the first computation). */
  active: ResourceSet | undefined;
  /**
   * EDS service names the client stopped waiting for: their initial fetch timed out
   * (`initial_fetch_timeout`), or the server said they do not exist (Delta removal). A cluster
   * waiting only on these becomes active without endpoints, as in Envoy.
   */
  settledEndpoints: ReadonlySet<string>;
  /** Route configuration names the client stopped waiting for, likewise. */
  settledRoutes: ReadonlySet<string>;
}

export interface WarmingResult {
  active: ResourceSet;
  /** Received clusters not active at their received version (waiting for their load assignment). */
  warmingClusters: string[];
  /** Received listeners not active at their received version (waiting for route configurations). */
  warmingListeners: string[];
  /** Whether `active` differs from `input.active` (by the identity of its objects). */
  changed: boolean;
}

/**
 * The next active resources, by Envoy's warming rules
 * (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#resource-warming):
 * - a received cluster of type EDS is active once its ClusterLoadAssignment has been received (or
 *   given up on); until then the version active before (if any) stays active. Other clusters are
 *   active at once. A cluster no longer received is gone (CDS is state of the world).
 * - a received listener is active once every route configuration it names has been received (or
 *   given up on); until then its previous version stays active.
 * - endpoints and routes are those received that an active cluster or listener uses; updates to
 *   them apply at once (they are what warming waits for, not something that warms).
 * A cluster already active whose assignment disappears stays active with no endpoints (Envoy:
 * the cluster has no hosts). Pure: objects are compared and passed on by identity.
 */
export function nextActive(input: WarmingInput): WarmingResult {
  const { received, active: prev } = input;
  const clusters = new Map<string, XdsJson>();
  const warmingClusters: string[] = [];
  for (const [name, cluster] of received.clusters) {
    const service = edsServiceName(cluster);
    const warm = service === undefined || received.endpoints.has(service) || input.settledEndpoints.has(service);
    if (warm) {
      clusters.set(name, cluster);
      continue;
    }
    warmingClusters.push(name);
    const old = prev?.clusters.get(name);
    if (old) clusters.set(name, old);
  }
  const endpoints = new Map<string, XdsJson>();
  for (const cluster of clusters.values()) {
    const service = edsServiceName(cluster);
    const cla = service === undefined ? undefined : received.endpoints.get(service);
    if (cla && service !== undefined) endpoints.set(service, cla);
  }

  const listeners = new Map<string, XdsJson>();
  const warmingListeners: string[] = [];
  for (const [name, listener] of received.listeners) {
    const warm = routeConfigNames(listener).every((r) => received.routes.has(r) || input.settledRoutes.has(r));
    if (warm) {
      listeners.set(name, listener);
      continue;
    }
    warmingListeners.push(name);
    const old = prev?.listeners.get(name);
    if (old) listeners.set(name, old);
  }
  const routes = new Map<string, XdsJson>();
  for (const listener of listeners.values()) {
    for (const r of routeConfigNames(listener)) {
      const rc = received.routes.get(r);
      if (rc) routes.set(r, rc);
    }
  }

  const active: ResourceSet = { listeners, routes, clusters, endpoints };
  const changed = !prev || !sameMap(prev.clusters, clusters) || !sameMap(prev.endpoints, endpoints) || !sameMap(prev.listeners, listeners) || !sameMap(prev.routes, routes);
  return { active, warmingClusters, warmingListeners, changed };
}

/** Same names mapped to the same objects. */
export function sameMap<V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/**
 * The EDS service names to subscribe to: those of received clusters (to warm them) and of active
 * ones (a previous version kept active while its update warms still needs its endpoint updates).
 */
export function wantedEndpointNames(received: ResourceSet, active: ResourceSet | undefined): Set<string> {
  const names = new Set<string>();
  for (const c of received.clusters.values()) {
    const s = edsServiceName(c);
    if (s !== undefined) names.add(s);
  }
  if (active) {
    for (const c of active.clusters.values()) {
      const s = edsServiceName(c);
      if (s !== undefined) names.add(s);
    }
  }
  return names;
}

/** The route configuration names to subscribe to: those of received and of active listeners. */
export function wantedRouteNames(received: ResourceSet, active: ResourceSet | undefined): Set<string> {
  const names = new Set<string>();
  for (const l of received.listeners.values()) for (const r of routeConfigNames(l)) names.add(r);
  if (active) for (const l of active.listeners.values()) for (const r of routeConfigNames(l)) names.add(r);
  return names;
}
