// Sidecar inbound listeners: virtualInbound (15006) with filter chains per workload port and passthrough chains (per PeerAuthentication mode), plus bound Sidecar ingress listeners.
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { authorizationFilters, type AuthorizationFilters } from './authorization.js';
import { BLACKHOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER_IPV4, VIRTUAL_INBOUND_LISTENER, domainName, inboundCluster, listenerName } from './cluster-names.js';
import { address, boolValue, Filters, typedFilter, uint32, type Msg } from './envoy-values.js';
import { filterChain } from './filter-chains.js';
import { httpConnectionManager } from './http-connection-manager.js';
import { inboundPorts, type InboundPort } from './inbound-ports.js';
import { inboundChainsFor, inboundListenerFilters, type InboundDestination } from './inbound-tls.js';
import { isHttp, isHttp2 } from './port-protocol.js';
import { requestAuthenticationFilters } from './request-authentication.js';
import { defaultInboundRoute } from './route-action.js';
import { tcpProxy } from './tcp-proxy.js';

const WILDCARD = '0.0.0.0';

/** The inline route configuration of an inbound HTTP port: every request to the local application. */
export function inboundRouteConfiguration(proxy: Proxy, p: InboundPort): Msg {
  const cluster = inboundCluster(p.port);
  const op = p.service && p.servicePort !== undefined ? domainName(p.service.hostname, p.servicePort) : domainName(`${proxy.workloadName}.${proxy.namespace}`, p.port);
  return {
    name: cluster,
    virtualHosts: [{ name: `inbound|http|${p.port}`, domains: ['*'], routes: [defaultInboundRoute(cluster, `${op}/*`)] }],
    validateClusters: boolValue(false),
  };
}

/**
 * The network filters of one inbound port: an HTTP connection manager (with the RBAC HTTP filters)
 * for HTTP protocols, else the RBAC network filters then tcp_proxy.
 */
function inboundFilters(proxy: Proxy, push: PushContext, p: InboundPort, statPrefix: string, authz: AuthorizationFilters, authn: readonly Msg[]): Msg[] {
  if (isHttp(p.protocol)) {
    return [
      httpConnectionManager({ kind: 'inbound', statPrefix, routeConfig: inboundRouteConfiguration(proxy, p), http2: isHttp2(p.protocol), authz: authz.http, authn, pathNormalization: push.mesh.pathNormalization }),
    ];
  }
  return [...authz.tcp, tcpProxy(inboundCluster(p.port))];
}

/**
 * A workload port as an inbound destination: its protocol's filters, or tcp_proxy to the
 * application for opaque TLS, which AuthorizationPolicy guards as TCP (HTTP-only rules of ALLOW
 * policies then match nothing).
 */
function portDestination(proxy: Proxy, push: PushContext, p: InboundPort, name: string, statPrefix: string, match: Msg, authz: AuthorizationFilters, authn: readonly Msg[]): InboundDestination {
  return {
    name,
    match,
    http: isHttp(p.protocol),
    filters: () => inboundFilters(proxy, push, p, statPrefix, authz, authn),
    opaqueFilters: () => [...authz.tcp, tcpProxy(inboundCluster(p.port))],
  };
}

/**
 * virtualInbound: every connection iptables redirects to 15006, with its original destination
 * restored by the original_dst listener filter, picks the chains of its destination port; ports no
 * service declares pass through to the original destination (InboundPassthroughClusterIpv4). A
 * chain for 15006 itself blackholes traffic that would loop.
 *
 * PeerAuthentication decides each port's chains (inbound-tls.ts): the port's own mode for declared
 * ports, the workload-wide mode (never a port-level one) for the passthrough, whose port is
 * unknown until the connection arrives. When a chain selects by transport protocol or ALPN the
 * TLS inspector runs, with the mesh's protocol detection timeout.
 */
export function virtualInboundListener(proxy: Proxy, push: PushContext): Msg {
  const peer = push.peerAuthentication(proxy.namespace, proxy.labels);
  const authz = authorizationFilters(proxy, push);
  const chains: Msg[] = [filterChain({ name: 'virtualInbound-blackhole', destinationPort: push.mesh.inboundPort, filters: [tcpProxy(BLACKHOLE_CLUSTER)] })];
  for (const p of inboundPorts(proxy, push)) {
    if (p.captureMode === 'NONE') continue;
    const name = `inbound_${WILDCARD}_${p.port}`;
    chains.push(...inboundChainsFor(peer.modeFor(p.port), portDestination(proxy, push, p, name, name, { destinationPort: uint32(p.port) }, authz, requestAuthenticationFilters(proxy, push, p.port)), push.mesh));
  }
  // The passthrough chains match every IPv4 destination explicitly, as Istio's do; Istio 1.6
  // guards them with the RBAC network filters too, or an undeclared port would bypass policy.
  const passthrough: InboundDestination = {
    name: VIRTUAL_INBOUND_LISTENER,
    match: { prefixRanges: [{ addressPrefix: WILDCARD, prefixLen: uint32(0) }] },
    http: false,
    filters: () => [...authz.tcp, tcpProxy(INBOUND_PASSTHROUGH_CLUSTER_IPV4)],
    opaqueFilters: () => [...authz.tcp, tcpProxy(INBOUND_PASSTHROUGH_CLUSTER_IPV4)],
  };
  chains.push(...inboundChainsFor(peer.mode, passthrough, push.mesh));
  return {
    name: VIRTUAL_INBOUND_LISTENER,
    address: address(WILDCARD, push.mesh.inboundPort),
    ...inboundListenerFilters(chains, push.mesh, [typedFilter(Filters.originalDst)]),
    filterChains: chains,
    trafficDirection: 'INBOUND',
  };
}

/**
 * Sidecar ingress listeners with captureMode NONE: bound on their own `bind` address (else the
 * workload's first IP) and port, outside virtualInbound, since no iptables rule brings traffic to
 * 15006 for them. Their chains follow the port's PeerAuthentication mode like virtualInbound's.
 */
export function boundInboundListeners(proxy: Proxy, push: PushContext): Msg[] {
  const bound = inboundPorts(proxy, push).filter((p) => p.captureMode === 'NONE');
  if (bound.length === 0) return [];
  const peer = push.peerAuthentication(proxy.namespace, proxy.labels);
  const authz = authorizationFilters(proxy, push);
  return bound.map((p) => {
    const bind = p.bind || proxy.ipAddresses[0] || WILDCARD;
    const name = listenerName(bind, p.port);
    const chains = inboundChainsFor(peer.modeFor(p.port), portDestination(proxy, push, p, name, `inbound_${name}`, {}, authz, requestAuthenticationFilters(proxy, push, p.port)), push.mesh);
    return { name, address: address(bind, p.port), ...inboundListenerFilters(chains, push.mesh), filterChains: chains, trafficDirection: 'INBOUND' };
  });
}
