// Sidecar outbound filter chains for TCP and TLS service ports: VirtualService `tls` routes by SNI, `tcp` routes by destination subnet, else straight to the service.
import { hostsOverlap } from '../../api/hosts.js';
import type { Proxy } from '../../model/proxy.js';
import type { PushContext, VirtualServiceConfig } from '../../model/push-context.js';
import type { Service } from '../../registry/types.js';
import { outboundCluster } from './cluster-names.js';
import type { ServiceLookup } from './destinations.js';
import { configMetadata } from './envoy-values.js';
import type { ChainSpec } from './filter-chains.js';
import { isTls, type Protocol } from './port-protocol.js';
import { sourceMatches } from './route-action.js';
import { tcpProxy, tcpProxyForRoutes } from './tcp-proxy.js';
import type { L4MatchAttributes } from './vs-types.js';

export interface TcpChainInput {
  proxy: Proxy;
  push: PushContext;
  /** Service the listener is built for. */
  service: Service;
  /** Listener port and its protocol (a Sidecar egress port may differ from the service's). */
  port: number;
  protocol: Protocol;
  /** The service's CIDR address when it has one (the listener is then 0.0.0.0 and matches it). */
  destinationCidr: string;
  /** VirtualServices of the egress listener. */
  virtualServices: readonly VirtualServiceConfig[];
  lookup: ServiceLookup;
}

const MESH = new Set(['mesh']);

/** Static L4 predicates of a match block (Istio's matchTCP / matchTLS): gateways, source labels and namespace, port. */
function l4Applies(inp: TcpChainInput, vs: VirtualServiceConfig, m: L4MatchAttributes | undefined): boolean {
  if (!m) return true;
  if (m.port !== undefined && m.port !== 0 && m.port !== inp.port) return false;
  const gateways = m.gateways ?? [];
  if (gateways.length > 0 && !sourceMatches({ proxy: inp.proxy, vs, gateways: MESH }, { gateways })) return false;
  return sourceMatches({ proxy: inp.proxy, vs, gateways: MESH }, { sourceLabels: m.sourceLabels, sourceNamespace: m.sourceNamespace });
}

/** The cluster a port without routes sends to: the service's only port, else the listener port. */
function defaultCluster(inp: TcpChainInput): string {
  const port = inp.service.ports.length === 1 ? inp.service.ports[0]!.port : inp.port;
  return outboundCluster(inp.service.hostname, port);
}

function tlsChains(inp: TcpChainInput, configs: readonly VirtualServiceConfig[]): ChainSpec[] {
  const out: ChainSpec[] = [];
  const handled = new Set<string>();
  for (const vs of configs) {
    for (const tls of vs.spec.tls ?? []) {
      for (const m of tls.match ?? []) {
        if (!l4Applies(inp, vs, m)) continue;
        const cidrs = m.destinationSubnets && m.destinationSubnets.length > 0 ? m.destinationSubnets : [inp.destinationCidr];
        // A later match with the same SNI and subnets could never be reached: build the first only.
        const key = `${(m.sniHosts ?? []).join(',')}|${(m.destinationSubnets ?? []).join(',')}`;
        if (handled.has(key)) continue;
        handled.add(key);
        const filter = tcpProxyForRoutes(tls.route ?? [], vs, inp.port, inp.push.mesh.clusterDomain, inp.lookup);
        if (filter) out.push({ serverNames: m.sniHosts ?? [], destinationCidrs: cidrs, filters: [filter], metadata: configMetadata('virtual-service', vs.namespace, vs.name) });
      }
    }
  }
  if (out.length > 0) return out;
  // No TLS route: forward to the service. Without a VIP of its own (0.0.0.0 listener or CIDR) the
  // SNI is the only way to tell services on this port apart.
  const vip = inp.service.addresses[0];
  const ownVip = vip !== undefined && vip !== '0.0.0.0' && !vip.includes('/');
  const cluster = defaultCluster(inp);
  return [{ serverNames: inp.destinationCidr !== '' || !ownVip ? [inp.service.hostname] : [], destinationCidrs: [inp.destinationCidr], filters: [tcpProxy(cluster)] }];
}

function tcpChains(inp: TcpChainInput, configs: readonly VirtualServiceConfig[]): ChainSpec[] {
  const out: ChainSpec[] = [];
  const domain = inp.push.mesh.clusterDomain;
  let defaultAdded = false;
  outer: for (const vs of configs) {
    for (const tcp of vs.spec.tcp ?? []) {
      const meta = configMetadata('virtual-service', vs.namespace, vs.name);
      const matches = tcp.match ?? [];
      if (matches.length === 0) {
        const f = tcpProxyForRoutes(tcp.route ?? [], vs, inp.port, domain, inp.lookup);
        if (f) {
          out.push({ destinationCidrs: [inp.destinationCidr], filters: [f], metadata: meta });
          defaultAdded = true;
          break outer;
        }
        continue;
      }
      const subnets: string[] = [];
      for (const m of matches) {
        if (!l4Applies(inp, vs, m)) continue;
        if (!m.destinationSubnets || m.destinationSubnets.length === 0) {
          const f = tcpProxyForRoutes(tcp.route ?? [], vs, inp.port, domain, inp.lookup);
          if (f) {
            out.push({ destinationCidrs: [inp.destinationCidr], filters: [f], metadata: meta });
            defaultAdded = true;
            break outer;
          }
        } else subnets.push(...m.destinationSubnets);
      }
      if (subnets.length > 0) {
        const f = tcpProxyForRoutes(tcp.route ?? [], vs, inp.port, domain, inp.lookup);
        if (f) out.push({ destinationCidrs: subnets, filters: [f], metadata: meta });
        // A route for exactly the service's own address already covers the default.
        if ([...subnets].sort().join(',') === inp.destinationCidr) defaultAdded = true;
      }
    }
  }
  if (!defaultAdded) out.push({ destinationCidrs: [inp.destinationCidr], filters: [tcpProxy(defaultCluster(inp))] });
  return out;
}

/**
 * Istio's buildSidecarOutboundTCPTLSFilterChainOpts: the VirtualServices whose hosts cover the
 * service contribute `tls` routes (TLS ports) or `tcp` routes (other ports); a port they do not
 * fully cover sends to the service's own cluster.
 */
export function outboundTcpChains(inp: TcpChainInput): ChainSpec[] {
  const configs = inp.virtualServices.filter((vs) => vs.hosts.some((h) => hostsOverlap(h, inp.service.hostname)));
  return isTls(inp.protocol) ? tlsChains(inp, configs) : tcpChains(inp, configs);
}
