// VirtualService destinations → cluster names (Istio's GetDestinationCluster), and the consistent-hash policy their DestinationRule asks for.
import { resolveShortName } from '../../api/hosts.js';
import type { PushContext } from '../../model/push-context.js';
import type { Proxy } from '../../model/proxy.js';
import type { Service } from '../../registry/types.js';
import { outboundCluster } from './cluster-names.js';
import { durationFrom, type Msg } from './envoy-values.js';
import type { ConsistentHash } from './traffic-policy.js';
import type { Destination } from './vs-types.js';

/** Finds the service a destination host names, among those the route may use. */
export type ServiceLookup = (hostname: string) => Service | undefined;

/** The FQDN a destination host stands for: short names resolve against the VirtualService's namespace. */
export function destinationHost(dest: Destination, vsNamespace: string, clusterDomain: string): string {
  return resolveShortName(dest.host ?? '', vsNamespace, clusterDomain);
}

/**
 * `outbound|PORT|SUBSET|HOST` for a destination. The port is the destination's own, else the
 * service's only port, else the listener port. An unknown host still yields its cluster name:
 * the cluster does not exist, so Envoy answers 503 with response flag NC, exactly as with Istio.
 */
export function destinationCluster(dest: Destination, vsNamespace: string, clusterDomain: string, lookup: ServiceLookup, listenerPort: number): string {
  const host = destinationHost(dest, vsNamespace, clusterDomain);
  let port = listenerPort;
  if (dest.port?.number !== undefined && dest.port.number > 0) port = dest.port.number;
  else {
    const svc = lookup(host);
    if (svc && svc.ports.length === 1) port = svc.ports[0]!.port;
  }
  return outboundCluster(host, port, dest.subset ?? '');
}

/** Route hash policy for a consistent-hash load balancer: header, cookie, source IP or query parameter. */
export function hashPolicy(ch: ConsistentHash | undefined): Msg | undefined {
  if (!ch) return undefined;
  if (ch.httpHeaderName) return { header: { headerName: ch.httpHeaderName } };
  if (ch.httpCookie) {
    const cookie: Msg = { name: ch.httpCookie.name ?? '' };
    const ttl = durationFrom(ch.httpCookie.ttl);
    if (ttl) cookie.ttl = ttl;
    if (ch.httpCookie.path) cookie.path = ch.httpCookie.path;
    return { cookie };
  }
  if (ch.useSourceIp) return { connectionProperties: { sourceIp: true } };
  if (ch.httpQueryParameterName) return { queryParameter: { name: ch.httpQueryParameterName } };
  return undefined;
}

/**
 * The hash policy for a route destination (Istio's getHashPolicy): the subset's port-level
 * consistentHash, else the subset's, else the rule's port-level one (destination port given),
 * else the rule's.
 */
export function destinationHashPolicy(proxy: Proxy, push: PushContext, host: string, dest: Destination): Msg | undefined {
  const rule = push.destinationRule(proxy, host)?.spec;
  if (!rule) return undefined;
  const port = dest.port?.number;
  const plsHash = (pls: NonNullable<NonNullable<typeof rule.trafficPolicy>['portLevelSettings']> | undefined) =>
    port === undefined ? undefined : pls?.find((p) => p.port?.number === port)?.loadBalancer?.consistentHash;
  let ch = rule.trafficPolicy?.loadBalancer?.consistentHash;
  const top = plsHash(rule.trafficPolicy?.portLevelSettings);
  const subset = dest.subset ? rule.subsets?.find((s) => s.name === dest.subset) : undefined;
  const subHash = subset?.trafficPolicy?.loadBalancer?.consistentHash;
  const subPls = plsHash(subset?.trafficPolicy?.portLevelSettings);
  ch = subPls ?? subHash ?? top ?? ch;
  return hashPolicy(ch);
}

/** The hash policy of a service port's default route (no VirtualService): port-level, else rule-level consistentHash. */
export function serviceHashPolicy(proxy: Proxy, push: PushContext, service: Service, port: number): Msg | undefined {
  const tp = push.destinationRule(proxy, service.hostname)?.spec.trafficPolicy;
  const pls = tp?.portLevelSettings?.find((p) => p.port?.number === port);
  return hashPolicy(pls ? pls.loadBalancer?.consistentHash : tp?.loadBalancer?.consistentHash);
}
