// The names Istio gives clusters, SNI values, listeners and route configurations, and their parsing.

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const INBOUND_PASSTHROUGH_CLUSTER_IPV4 = 'InboundPassthroughClusterIpv4';
/** Source address of connections from the inbound passthrough cluster, so the app sees them as local but iptables skips them. */
export const INBOUND_PASSTHROUGH_BIND_IPV4 = '127.0.0.6';

export const VIRTUAL_OUTBOUND_LISTENER = 'virtualOutbound';
export const VIRTUAL_INBOUND_LISTENER = 'virtualInbound';

/** Name of the filter chain and virtual host that send unknown traffic to PassthroughCluster. */
export const PASSTHROUGH_FILTER_CHAIN = 'PassthroughFilterChain';
export const ALLOW_ANY_VHOST = 'allow_any';
export const BLOCK_ALL_VHOST = 'block_all';
/** Name of routes built without a VirtualService. */
export const DEFAULT_ROUTE_NAME = 'default';

export type Direction = 'outbound' | 'inbound';

/**
 * Istio's subset key: `outbound|9080|v1|reviews.bookinfo.svc.cluster.local`, `outbound|9080||reviews…`
 * without a subset. Used as cluster name and EDS service name.
 */
export function subsetKey(direction: Direction, subset: string, hostname: string, port: number): string {
  return `${direction}|${port}|${subset}|${hostname}`;
}

export function outboundCluster(hostname: string, port: number, subset = ''): string {
  return subsetKey('outbound', subset, hostname, port);
}

/**
 * Inbound cluster of a workload port: `inbound|9080||`. Keyed by the port the application listens
 * on (as Istio ≥1.8 names it), so two Services selecting the same container port share one cluster.
 */
export function inboundCluster(port: number): string {
  return `inbound|${port}||`;
}

/** The SNI Istio sends for ISTIO_MUTUAL: `outbound_.9080_.v1_.reviews.bookinfo.svc.cluster.local`. */
export function istioMtlsSni(hostname: string, port: number, subset = ''): string {
  return `outbound_.${port}_.${subset}_.${hostname}`;
}

export interface ParsedSubsetKey {
  direction: Direction;
  port: number;
  subset: string;
  hostname: string;
}

/** Parses a subset key; undefined for any other cluster name (PassthroughCluster, inbound|9080||…). */
export function parseSubsetKey(name: string): ParsedSubsetKey | undefined {
  const parts = name.split('|');
  if (parts.length !== 4) return undefined;
  const [direction, port, subset, hostname] = parts as [string, string, string, string];
  if ((direction !== 'outbound' && direction !== 'inbound') || !/^[0-9]+$/.test(port) || hostname === '') return undefined;
  return { direction, port: Number(port), subset, hostname };
}

/** Listener names: `0.0.0.0_9080`, `10.96.0.12_3306`. */
export function listenerName(bind: string, port: number): string {
  return `${bind}_${port}`;
}

/** Route configuration of a gateway HTTP server: `http.80`. */
export function gatewayHttpRouteName(port: number): string {
  return `http.${port}`;
}

/** Route configuration of a gateway HTTPS server that terminates TLS: `https.443.https.mygateway.istio-system`. */
export function gatewayHttpsRouteName(port: number, portName: string, gatewayName: string, gatewayNamespace: string): string {
  return `https.${port}.${portName}.${gatewayName}.${gatewayNamespace}`;
}

/** `host:port`, the name of a virtual host. */
export function domainName(host: string, port: number): string {
  return `${host}:${port}`;
}
