// Gateway route configurations (`http.80`, `https.443.…`): virtual hosts from the VirtualServices bound to the gateway, per server host.
import type { Proxy } from '../../model/proxy.js';
import type { GatewayServerConfig, PushContext } from '../../model/push-context.js';
import type { Service } from '../../registry/types.js';
import { DEFAULT_ROUTE_NAME, domainName } from './cluster-names.js';
import { boolValue, type Msg } from './envoy-values.js';
import { gatewayRef, intersectHosts, serverHostsFor, serverRouteName } from './gateway-servers.js';
import { combineRoutes, virtualServiceRoutes } from './virtual-service-routes.js';

/**
 * Domains of a gateway virtual host: the host and `host:*` (any port, since a load balancer in
 * front may rewrite it); a wildcard host cannot take a second wildcard, so it keeps the server
 * port instead; `*` alone matches everything.
 */
export function gatewayDomains(host: string, port: number): string[] {
  if (host === '*') return ['*'];
  return host.startsWith('*') ? [host, domainName(host, port)] : [host, `${host}:*`];
}

/** Servers of the merged gateway whose route configuration is `routeName`. */
export function serversForRoute(proxy: Proxy, push: PushContext, routeName: string): GatewayServerConfig[] {
  const merged = push.mergedGateway(proxy);
  if (!merged) return [];
  const out: GatewayServerConfig[] = [];
  for (const servers of merged.serversByPort.values()) for (const sc of servers) if (serverRouteName(sc) === routeName) out.push(sc);
  return out;
}

/**
 * Istio's buildGatewayHTTPRouteConfig: for each server of the route, each VirtualService bound to
 * its Gateway whose hosts intersect the server's hosts contributes its routes to a virtual host
 * per intersecting host; routes of several VirtualServices for one host are combined with
 * catch-alls last. `httpsRedirect` servers require TLS on their virtual hosts (a 301 to https).
 * With no virtual host at all, a `*` host answers 404.
 */
export function gatewayRouteConfiguration(proxy: Proxy, push: PushContext, routeName: string): Msg {
  const servers = serversForRoute(proxy, push, routeName);
  const empty = { name: routeName, virtualHosts: [], validateClusters: boolValue(false) };
  if (servers.length === 0) return empty;
  const port = servers[0]!.server.port?.number ?? 0;
  const byName = new Map<string, Service>();
  for (const s of push.sidecarScope(proxy).services) if (!byName.has(s.hostname)) byName.set(s.hostname, s);
  const lookup = (h: string) => byName.get(h);

  const vhosts = new Map<string, Msg>();
  for (const sc of servers) {
    const gw = gatewayRef(sc);
    for (const vs of push.virtualServices(proxy, gw)) {
      const hosts = intersectHosts(serverHostsFor(sc, vs.namespace), vs.hosts);
      if (hosts.length === 0) continue;
      const routes = virtualServiceRoutes({ proxy, push, vs, port, gateways: new Set([gw]), lookup });
      if (routes.length === 0) continue;
      for (const host of hosts) {
        const existing = vhosts.get(host);
        if (existing) {
          existing.routes = combineRoutes(existing.routes as Msg[], routes);
          continue;
        }
        const vh: Msg = { name: domainName(host, port), domains: gatewayDomains(host, port), routes };
        if (sc.server.tls?.httpsRedirect) vh.requireTls = 'ALL';
        vhosts.set(host, vh);
      }
    }
  }
  let virtualHosts = [...vhosts.values()];
  if (virtualHosts.length === 0) {
    virtualHosts = [{ name: domainName('blackhole', port), domains: ['*'], routes: [{ name: DEFAULT_ROUTE_NAME, match: { prefix: '/' }, directResponse: { status: 404 } }] }];
  }
  virtualHosts.sort((a, b) => ((a.name as string) < (b.name as string) ? -1 : (a.name as string) > (b.name as string) ? 1 : 0));
  return { name: routeName, virtualHosts, validateClusters: boolValue(false) };
}
