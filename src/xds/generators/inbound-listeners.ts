// Sidecar inbound listeners: virtualInbound (15006) with a filter chain per workload port and a passthrough chain, plus bound Sidecar ingress listeners.
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { BLACKHOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER_IPV4, VIRTUAL_INBOUND_LISTENER, domainName, inboundCluster, listenerName } from './cluster-names.js';
import { address, boolValue, Filters, typedFilter, uint32, type Msg } from './envoy-values.js';
import { filterChain, type ChainSpec } from './filter-chains.js';
import { httpConnectionManager } from './http-connection-manager.js';
import { inboundPorts, type InboundPort } from './inbound-ports.js';
import { isHttp, isHttp2 } from './port-protocol.js';
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

/** The network filters of one inbound port: an HTTP connection manager for HTTP protocols, else tcp_proxy. */
function inboundFilters(proxy: Proxy, p: InboundPort, statPrefix: string): Msg[] {
  if (isHttp(p.protocol)) {
    return [httpConnectionManager({ kind: 'inbound', statPrefix, routeConfig: inboundRouteConfiguration(proxy, p), http2: isHttp2(p.protocol) })];
  }
  return [tcpProxy(inboundCluster(p.port))];
}

/**
 * virtualInbound: every connection iptables redirects to 15006, with its original destination
 * restored by the original_dst listener filter, picks the chain of its destination port; ports no
 * service declares pass through to the original destination (InboundPassthroughClusterIpv4). A
 * chain for 15006 itself blackholes traffic that would loop.
 */
export function virtualInboundListener(proxy: Proxy, push: PushContext): Msg {
  const chains: ChainSpec[] = [{ name: 'virtualInbound-blackhole', destinationPort: push.mesh.inboundPort, filters: [tcpProxy(BLACKHOLE_CLUSTER)] }];
  for (const p of inboundPorts(proxy, push)) {
    if (p.captureMode === 'NONE') continue;
    chains.push({ name: `inbound_${WILDCARD}_${p.port}`, destinationPort: p.port, filters: inboundFilters(proxy, p, `inbound_${WILDCARD}_${p.port}`) });
  }
  // The passthrough chain matches every IPv4 destination explicitly, as Istio's does.
  const passthrough: Msg = {
    name: VIRTUAL_INBOUND_LISTENER,
    filterChainMatch: { prefixRanges: [{ addressPrefix: WILDCARD, prefixLen: uint32(0) }] },
    filters: [tcpProxy(INBOUND_PASSTHROUGH_CLUSTER_IPV4)],
  };
  const filterChains = [...chains.map(filterChain), passthrough];
  return {
    name: VIRTUAL_INBOUND_LISTENER,
    address: address(WILDCARD, push.mesh.inboundPort),
    listenerFilters: [typedFilter(Filters.originalDst)],
    filterChains,
    trafficDirection: 'INBOUND',
  };
}

/**
 * Sidecar ingress listeners with captureMode NONE: bound on their own `bind` address (else the
 * workload's first IP) and port, outside virtualInbound, since no iptables rule brings traffic to
 * 15006 for them.
 */
export function boundInboundListeners(proxy: Proxy, push: PushContext): Msg[] {
  return inboundPorts(proxy, push)
    .filter((p) => p.captureMode === 'NONE')
    .map((p) => {
      const bind = p.bind || proxy.ipAddresses[0] || WILDCARD;
      const name = listenerName(bind, p.port);
      return { name, address: address(bind, p.port), filterChains: [filterChain({ filters: inboundFilters(proxy, p, `inbound_${name}`) })], trafficDirection: 'INBOUND' };
    });
}
