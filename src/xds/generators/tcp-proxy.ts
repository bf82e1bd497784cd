// The tcp_proxy network filter: to one cluster, or split by weight across a VirtualService's TCP/TLS route destinations.
import type { VirtualServiceConfig } from '../../model/push-context.js';
import { destinationCluster, type ServiceLookup } from './destinations.js';
import { Filters, typedFilter, type Msg } from './envoy-values.js';
import type { RouteDestination } from './vs-types.js';

/** tcp_proxy to one cluster; the stat prefix defaults to the cluster name, as Istio's. */
export function tcpProxy(cluster: string, statPrefix = cluster): Msg {
  return typedFilter(Filters.tcpProxy, { statPrefix, cluster });
}

/**
 * Istio's buildOutboundNetworkFilters: one destination → tcp_proxy to its cluster; several →
 * weighted clusters (zero weights dropped) with stat prefix `name.namespace` of the
 * VirtualService. Undefined when no destination carries weight.
 */
export function tcpProxyForRoutes(routes: readonly RouteDestination[], vs: VirtualServiceConfig, port: number, clusterDomain: string, lookup: ServiceLookup): Msg | undefined {
  const dests = routes.filter((r) => r.destination);
  if (dests.length === 0) return undefined;
  const cluster = (r: RouteDestination) => destinationCluster(r.destination!, vs.namespace, clusterDomain, lookup, port);
  if (dests.length === 1) return tcpProxy(cluster(dests[0]!));
  const clusters = dests.filter((r) => (r.weight ?? 0) > 0).map((r) => ({ name: cluster(r), weight: r.weight! }));
  if (clusters.length === 0) return undefined;
  return typedFilter(Filters.tcpProxy, { statPrefix: `${vs.name}.${vs.namespace}`, weightedClusters: { clusters } });
}
