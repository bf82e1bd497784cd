// Sidecar outbound listeners: one per service port (HTTP on 0.0.0.0:PORT via RDS, TCP/TLS on the service VIP), as the Sidecar's egress listeners allow.
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import type { Service } from '../../registry/types.js';
import { BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER, PASSTHROUGH_FILTER_CHAIN, listenerName } from './cluster-names.js';
import { address, boolValue, durationMs, type Msg } from './envoy-values.js';
import type { ServiceLookup } from './destinations.js';
import { egressListeners, type EgressListenerView } from './egress-listeners.js';
import { filterChain, hasCatchAll, listenerFiltersFor, mergeChains, type ChainSpec } from './filter-chains.js';
import { httpConnectionManager } from './http-connection-manager.js';
import { outboundTcpChains } from './outbound-tcp-chains.js';
import { isHttp, type Protocol } from './port-protocol.js';
import { tcpProxy } from './tcp-proxy.js';

const WILDCARD = '0.0.0.0';
const LOCALHOST = '127.0.0.1';

/** One outbound listener being assembled (Istio's outboundListenerEntry). */
interface ListenerEntry {
  bind: string;
  port: number;
  http: boolean;
  bindToPort: boolean;
  /** Built for an explicit Sidecar egress port: the catch-all egress listener may not add to it. */
  locked: boolean;
  chains: ChainSpec[];
}

/** The cluster unknown traffic goes to: PassthroughCluster under ALLOW_ANY, BlackHoleCluster under REGISTRY_ONLY. */
export function catchAllCluster(proxy: Proxy, push: PushContext): string {
  return push.sidecarScope(proxy).outboundTrafficPolicy === 'ALLOW_ANY' ? PASSTHROUGH_CLUSTER : BLACKHOLE_CLUSTER;
}

class OutboundListenerSet {
  readonly entries = new Map<string, ListenerEntry>();
  constructor(
    private readonly proxy: Proxy,
    private readonly push: PushContext,
  ) {}

  /**
   * Adds `service` on `port`. HTTP ports share one 0.0.0.0:PORT listener whose virtual hosts come
   * from RDS; TCP/TLS ports listen on the service VIP (a CIDR address listens on 0.0.0.0 and
   * matches it; no address means 0.0.0.0) and merge filter chains with other services on the same
   * address. An HTTP and a TCP service on one address conflict: the first one keeps it (Maistra
   * never sniffs protocols, so both cannot share it).
   */
  add(el: EgressListenerView, lookup: ServiceLookup, service: Service, port: number, protocol: Protocol, bind: string, bindToPort: boolean): void {
    if (protocol === 'UDP') return;
    if (isHttp(protocol)) {
      const b = bind || WILDCARD;
      const key = `${b}:${port}`;
      const existing = this.entries.get(key);
      if (existing) return; // locked, another HTTP service (virtual hosts come from RDS), or a TCP conflict
      this.entries.set(key, {
        bind: b,
        port,
        http: true,
        bindToPort,
        locked: false,
        chains: [{ filters: [httpConnectionManager({ kind: 'outbound', statPrefix: `outbound_${b}_${port}`, rds: String(port) })] }],
      });
      return;
    }
    let b = bind;
    let destinationCidr = '';
    if (b === '') {
      const vip = service.addresses[0] ?? WILDCARD;
      if (vip.includes('/')) {
        destinationCidr = vip;
        b = WILDCARD;
      } else b = vip;
    }
    const key = `${b}:${port}`;
    const existing = this.entries.get(key);
    if (existing && (existing.locked || existing.http)) return;
    const chains = outboundTcpChains({
      proxy: this.proxy,
      push: this.push,
      service,
      port,
      protocol,
      destinationCidr,
      virtualServices: el.virtualServices,
      lookup,
    });
    if (existing) existing.chains = mergeChains(existing.chains, chains);
    else this.entries.set(key, { bind: b, port, http: false, bindToPort, locked: false, chains: mergeChains([], chains) });
  }

  lock(): void {
    for (const e of this.entries.values()) e.locked = true;
  }

  /** The listeners, TCP ones first then HTTP (as Istio), each sorted by name. */
  listeners(): Msg[] {
    const fallthrough: ChainSpec = { name: PASSTHROUGH_FILTER_CHAIN, filters: [tcpProxy(catchAllCluster(this.proxy, this.push))], fallthrough: true };
    const build = (e: ListenerEntry): Msg => {
      // Traffic to this address that no chain claims (another TLS host on a shared port) follows the outbound traffic policy.
      const chains = !e.http && !hasCatchAll(e.chains) ? [...e.chains, fallthrough] : e.chains;
      const l: Msg = { name: listenerName(e.bind, e.port), address: address(e.bind, e.port), filterChains: chains.map(filterChain) };
      const lf = listenerFiltersFor(chains);
      if (lf) {
        l.listenerFilters = lf;
        // A server-first protocol (MySQL…) sends nothing for the TLS inspector to read: after the
        // mesh's protocol detection timeout the connection goes on as plain TCP (Istio: sidecars only).
        const timeoutMs = this.push.mesh.protocolDetectionTimeoutMs;
        if (timeoutMs > 0) {
          l.listenerFiltersTimeout = durationMs(timeoutMs);
          l.continueOnListenerFiltersTimeout = true;
        }
      }
      l.trafficDirection = 'OUTBOUND';
      if (!e.bindToPort) l.bindToPort = boolValue(false);
      return l;
    };
    const sorted = [...this.entries.values()].sort((a, b) => (listenerName(a.bind, a.port) < listenerName(b.bind, b.port) ? -1 : 1));
    return [...sorted.filter((e) => !e.http).map(build), ...sorted.filter((e) => e.http).map(build)];
  }
}

/**
 * The outbound listeners of a sidecar (Istio's buildSidecarOutboundListeners). They are not bound
 * (`bind_to_port: false`): virtualOutbound hands each captured connection to the listener of its
 * original destination. A Sidecar egress listener with captureMode NONE binds its port (on its
 * `bind` address, or 127.0.0.1) instead.
 */
export function outboundListeners(proxy: Proxy, push: PushContext): Msg[] {
  const set = new OutboundListenerSet(proxy, push);
  for (const el of egressListeners(proxy, push)) {
    const byName = new Map<string, Service>();
    for (const s of el.services) if (!byName.has(s.hostname)) byName.set(s.hostname, s);
    const lookup: ServiceLookup = (h) => byName.get(h) ?? push.service(h, proxy.namespace);
    const bindToPort = el.captureMode === 'NONE';
    const bind = el.bind !== '' ? el.bind : bindToPort ? LOCALHOST : '';
    if (el.port) {
      for (const svc of el.services) set.add(el, lookup, svc, el.port.number, el.port.protocol, bind, bindToPort);
    } else {
      // Ports an explicit egress listener declared stay as the user trimmed them.
      set.lock();
      for (const svc of el.services) for (const p of svc.ports) set.add(el, lookup, svc, p.port, p.protocol, bind, bindToPort);
    }
  }
  return set.listeners();
}
