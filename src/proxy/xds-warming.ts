// Resource warming, as Envoy does it: which received clusters and listeners may become active, and which names to subscribe to for EDS, RDS and SDS.

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

/** SDS names the local agent serves (the workload certificate and trust bundle), never fetched over ADS. */
const LOCAL_SECRETS: ReadonlySet<string> = new Set(['default', 'ROOTCA']);

/** Whether an SdsSecretConfig fetches over the ADS stream: `sds_config.ads`, or no other source named. */
function fetchedOverAds(config: unknown): config is { name: string } {
  if (!isRecord(config) || typeof config.name !== 'string' || config.name === '' || LOCAL_SECRETS.has(config.name)) return false;
  const source = config.sds_config;
  if (!isRecord(source)) return true;
  if (source.ads !== undefined) return true;
  return source.api_config_source === undefined && source.path === undefined && source.path_config_source === undefined;
}

/** The ADS-fetched SDS names of one transport_socket's common_tls_context, added to `out`. */
function transportSocketSecrets(socket: unknown, out: Set<string>): void {
  if (!isRecord(socket) || !isRecord(socket.typed_config)) return;
  const common = socket.typed_config.common_tls_context;
  if (!isRecord(common)) return;
  const configs: unknown[] = [];
  if (Array.isArray(common.tls_certificate_sds_secret_configs)) configs.push(...common.tls_certificate_sds_secret_configs);
  configs.push(common.validation_context_sds_secret_config);
  if (isRecord(common.combined_validation_context)) configs.push(common.combined_validation_context.validation_context_sds_secret_config);
  for (const c of configs) if (fetchedOverAds(c)) out.add(c.name);
}

const secretNamesCache = new WeakMap<XdsJson, readonly string[]>();

/**
 * The SDS secrets a listener or cluster fetches over ADS (a gateway's `kubernetes://` credentials):
 * those named by the transport sockets of its filter chains (listener) or of itself and its
 * transport_socket_matches (cluster), except the local agent's `default` and `ROOTCA`. Sorted.
 * Optimization: remembered per resource object (decoded resources are frozen and shared while
 * unchanged), since every flush asks for every listener and cluster.
 */
export function adsSecretNames(resource: XdsJson): readonly string[] {
  const hit = secretNamesCache.get(resource);
  if (hit) return hit;
  const out = new Set<string>();
  const chains: unknown[] = [];
  if (Array.isArray(resource.filter_chains)) chains.push(...resource.filter_chains);
  if (resource.default_filter_chain !== undefined) chains.push(resource.default_filter_chain);
  for (const chain of chains) if (isRecord(chain)) transportSocketSecrets(chain.transport_socket, out);
  transportSocketSecrets(resource.transport_socket, out);
  if (Array.isArray(resource.transport_socket_matches)) for (const m of resource.transport_socket_matches) if (isRecord(m)) transportSocketSecrets(m.transport_socket, out);
  const names = Object.freeze([...out].sort());
  secretNamesCache.set(resource, names);
  return names;
}

/**
 * The SDS names to subscribe to over ADS: those of received and of active listeners and clusters.
 * Secrets never hold warming back: a TLS context whose secret has not arrived refuses connections
 * until it does (what Envoy's warming listener amounts to for its clients).
 */
export function wantedSecretNames(received: ResourceSet, active: ResourceSet | undefined): Set<string> {
  const names = new Set<string>();
  const add = (m: ReadonlyMap<string, XdsJson> | undefined) => {
    if (m) for (const r of m.values()) for (const n of adsSecretNames(r)) names.add(n);
  };
  add(received.listeners);
  add(received.clusters);
  add(active?.listeners);
  add(active?.clusters);
  return names;
}
