// Gateway listeners: one bound listener per server port, with HTTP, terminated-HTTPS, TLS-passthrough and TCP filter chains.
import type { Proxy } from '../../model/proxy.js';
import type { GatewayServerConfig, PushContext } from '../../model/push-context.js';
import type { Service } from '../../registry/types.js';
import { authorizationFilters, type AuthorizationFilters } from './authorization.js';
import { listenerName } from './cluster-names.js';
import { downstreamTransportSocket } from './downstream-tls.js';
import { address, type Msg } from './envoy-values.js';
import { filterChain, listenerFiltersFor, mergeChains, type ChainSpec } from './filter-chains.js';
import { gatewayRef, isHttpsTerminating, isPassthrough, serverExposes, serverProtocol, serverRouteName, sniHosts } from './gateway-servers.js';
import { httpConnectionManager } from './http-connection-manager.js';
import { isHttp } from './port-protocol.js';
import { requestAuthenticationFilters } from './request-authentication.js';
import { sourceMatches } from './route-action.js';
import { tcpProxyForRoutes } from './tcp-proxy.js';
import type { VirtualServiceConfig } from '../../model/push-context.js';

const WILDCARD = '0.0.0.0';

/** L4 match of a gateway TCP/TLS route: port (if given) is the server's, gateways (if given) include this one. */
function l4Applies(sc: GatewayServerConfig, vs: VirtualServiceConfig, m: { port?: number; gateways?: string[] } | undefined, proxy: Proxy): boolean {
  if (!m) return true;
  if (m.port !== undefined && m.port !== 0 && m.port !== sc.server.port?.number) return false;
  if (!m.gateways || m.gateways.length === 0) return true;
  return sourceMatches({ proxy, vs, gateways: new Set([gatewayRef(sc)]) }, { gateways: m.gateways });
}

interface Ctx {
  proxy: Proxy;
  push: PushContext;
  lookup: (host: string) => Service | undefined;
  /** The gateway's RBAC filters: HTTP ones in every connection manager, network ones before every tcp_proxy. */
  authz: AuthorizationFilters;
}

/** Istio's buildGatewayNetworkFiltersFromTCPRoutes: the first `tcp` rule of a bound VirtualService exposed by this server that applies. */
function tcpRouteFilter(ctx: Ctx, sc: GatewayServerConfig): Msg | undefined {
  const port = sc.server.port?.number ?? 0;
  for (const vs of ctx.push.virtualServices(ctx.proxy, gatewayRef(sc))) {
    if (!serverExposes(sc, vs.namespace, vs.hosts)) continue;
    for (const tcp of vs.spec.tcp ?? []) {
      const matches = tcp.match ?? [];
      if (matches.length === 0 || matches.some((m) => l4Applies(sc, vs, m, ctx.proxy))) {
        return tcpProxyForRoutes(tcp.route ?? [], vs, port, ctx.push.mesh.clusterDomain, ctx.lookup);
      }
    }
  }
  return undefined;
}

/** Istio's buildGatewayNetworkFiltersFromTLSRoutes: a chain per applicable `tls` match, selected by its SNI hosts. */
function passthroughChains(ctx: Ctx, sc: GatewayServerConfig): ChainSpec[] {
  const port = sc.server.port?.number ?? 0;
  const out: ChainSpec[] = [];
  for (const vs of ctx.push.virtualServices(ctx.proxy, gatewayRef(sc))) {
    if (!serverExposes(sc, vs.namespace, vs.hosts)) continue;
    for (const tls of vs.spec.tls ?? []) {
      for (const m of tls.match ?? []) {
        if (!l4Applies(sc, vs, m, ctx.proxy)) continue;
        const f = tcpProxyForRoutes(tls.route ?? [], vs, port, ctx.push.mesh.clusterDomain, ctx.lookup);
        if (f) out.push({ serverNames: m.sniHosts ?? [], filters: [...ctx.authz.tcp, f] });
      }
    }
  }
  return out;
}

function hcmChain(ctx: Ctx, sc: GatewayServerConfig, listenPort: number, tls: boolean): ChainSpec {
  const chain: ChainSpec = { filters: [httpConnectionManager({ kind: 'gateway', statPrefix: `outbound_${WILDCARD}_${listenPort}`, rds: serverRouteName(sc), authz: ctx.authz.http, authn: requestAuthenticationFilters(ctx.proxy, ctx.push), pathNormalization: ctx.push.mesh.pathNormalization })] };
  if (tls) {
    chain.serverNames = sniHosts(sc);
    chain.transportSocket = downstreamTransportSocket(sc);
  }
  return chain;
}

/**
 * The chains one non-HTTP server contributes. AUTO_PASSTHROUGH (multi-network SNI-DNAT) is not
 * supported: Maistra 2.0 has no multi-cluster.
 */
function serverChains(ctx: Ctx, sc: GatewayServerConfig, listenPort: number): ChainSpec[] {
  if (isHttpsTerminating(sc)) return [hcmChain(ctx, sc, listenPort, true)];
  if (!sc.server.tls) {
    const f = tcpRouteFilter(ctx, sc);
    return f ? [{ filters: [...ctx.authz.tcp, f] }] : [];
  }
  if (!isPassthrough(sc)) {
    // TLS terminated, then opaque TCP to the VirtualService's tcp route.
    const f = tcpRouteFilter(ctx, sc);
    return f ? [{ serverNames: sniHosts(sc), transportSocket: downstreamTransportSocket(sc), filters: [...ctx.authz.tcp, f] }] : [];
  }
  if (sc.server.tls.mode === 'AUTO_PASSTHROUGH') return [];
  const chains = passthroughChains(ctx, sc);
  if (chains.length > 0) return chains;
  // Meltemi extension: Istio 1.6 reads only `tls` routes for a PASSTHROUGH server and leaves the
  // port dead when a VirtualService gives it a `tcp` route instead (the form older Istio egress
  // tasks use). Forward the server's SNI hosts along that route rather than dropping the traffic.
  const f = tcpRouteFilter(ctx, sc);
  return f ? [{ serverNames: sniHosts(sc), filters: [...ctx.authz.tcp, f] }] : [];
}

/**
 * The port a gateway listens on for server port `port`: the targetPort of the gateway's own
 * Service port with that number (Maistra maps 80→8080, 443→8443 so gateways run unprivileged),
 * else the port itself.
 */
export function gatewayListenPort(proxy: Proxy, push: PushContext, port: number): number {
  const ep = push.inboundEndpoints(proxy).find((e) => e.servicePort === port);
  return ep ? ep.port : port;
}

/**
 * Istio's buildGatewayListeners: per server port, a listener on 0.0.0.0 and the target port.
 * Plaintext HTTP servers share one connection manager (RDS `http.PORT`); otherwise every server
 * adds chains: terminating HTTPS by SNI with its certificate (RDS `https.…`), TLS passthrough by
 * SNI to its `tls` routes, TCP to its `tcp` route. Chains whose match repeats an earlier one are
 * dropped (Envoy rejects the listener otherwise), and a port left without chains gets no listener.
 * AuthorizationPolicies selecting the gateway guard every chain: RBAC HTTP filters in connection
 * managers, RBAC network filters before tcp_proxy.
 */
export function gatewayListeners(proxy: Proxy, push: PushContext): Msg[] {
  const merged = push.mergedGateway(proxy);
  if (!merged) return [];
  const byName = new Map<string, Service>();
  for (const s of push.sidecarScope(proxy).services) if (!byName.has(s.hostname)) byName.set(s.hostname, s);
  const ctx: Ctx = { proxy, push, lookup: (h) => byName.get(h), authz: authorizationFilters(proxy, push) };
  const out: Msg[] = [];
  const ports = [...merged.serversByPort.keys()].sort((a, b) => a - b);
  const unprivileged = typeof proxy.metadata.UNPRIVILEGED_POD === 'string' && proxy.metadata.UNPRIVILEGED_POD !== '';
  const seenListeners = new Set<string>();
  for (const port of ports) {
    const servers = merged.serversByPort.get(port) ?? [];
    if (servers.length === 0) continue;
    const listenPort = gatewayListenPort(proxy, push, port);
    // An unprivileged gateway pod cannot bind below 1024: skip ports its Service does not map higher (Istio's UNPRIVILEGED_POD).
    if (unprivileged && listenPort < 1024) continue;
    let chains: ChainSpec[] = [];
    if (isHttp(serverProtocol(servers[0]!))) chains = [hcmChain(ctx, servers[0]!, listenPort, false)];
    else for (const sc of servers) chains = mergeChains(chains, serverChains(ctx, sc, listenPort));
    const name = listenerName(WILDCARD, listenPort);
    if (chains.length === 0 || seenListeners.has(name)) continue;
    seenListeners.add(name);
    const l: Msg = { name, address: address(WILDCARD, listenPort), filterChains: chains.map(filterChain) };
    const lf = listenerFiltersFor(chains);
    if (lf) l.listenerFilters = lf;
    l.trafficDirection = 'OUTBOUND';
    out.push(l);
  }
  return out;
}
