// Sidecar outbound route configurations: one virtual host per service (and VirtualService host) on a port, its domains, and the catch-all host.
import { hostsOverlap } from '../../api/hosts.js';
import type { PushContext, SidecarScope, VirtualServiceConfig } from '../../model/push-context.js';
import type { Proxy } from '../../model/proxy.js';
import type { Service } from '../../registry/types.js';
import { ALLOW_ANY_VHOST, BLOCK_ALL_VHOST, PASSTHROUGH_CLUSTER, domainName, outboundCluster } from './cluster-names.js';
import { destinationCluster, serviceHashPolicy } from './destinations.js';
import { boolValue, isIpAddress, ZERO_DURATION, type Msg } from './envoy-values.js';
import { egressListenerForPort, egressListeners } from './egress-listeners.js';
import { isHttp } from './port-protocol.js';
import { defaultOutboundRoute } from './route-action.js';
import { virtualServiceRoutes } from './virtual-service-routes.js';

/** Routes for some hosts on one port: from a VirtualService, or the default route of a service without one. */
interface VirtualHostWrapper {
  port: number;
  services: Service[];
  /** VirtualService hosts that are not registry services (e.g. `bookinfo.com`): only the name and name:port match. */
  vsHosts: string[];
  routes: Msg[];
}

/** The DNS domain of a proxy: `<namespace>.svc.<cluster domain>`. */
export function proxyDnsDomain(proxy: Proxy, push: PushContext): string {
  return `${proxy.namespace}.svc.${push.mesh.clusterDomain}`;
}

/**
 * Istio's generateAltVirtualHosts: the shorter names a client in `proxyDomain` may use for
 * `hostname`. For reviews.bookinfo.svc.cluster.local from bookinfo.svc.cluster.local: `reviews`,
 * `reviews.bookinfo.svc.cluster`, `reviews.bookinfo.svc`, `reviews.bookinfo` (each also with
 * `:port`); from another namespace only the forms that keep `.bookinfo`. Hosts sharing no suffix
 * with the proxy's domain (external names) get none.
 */
export function altVirtualHosts(hostname: string, port: number, proxyDomain: string): string[] {
  const h = hostname.split('.').reverse();
  const d = proxyDomain.split('.').reverse();
  let shared = 0;
  while (shared < Math.min(h.length, d.length) && h[shared] === d[shared]) shared++;
  if (shared === 0) return [];
  const uniq = h.slice(shared).reverse().join('.');
  const sharedDomain = h.slice(0, shared).reverse().join('.');
  const out = [uniq, domainName(uniq, port)];
  for (let i = sharedDomain.length - 1; i > 0; i--) {
    if (sharedDomain[i] === '.') {
      const variant = `${uniq}.${sharedDomain.slice(0, i)}`;
      out.push(variant, domainName(variant, port));
    }
  }
  return out;
}

/**
 * Every Host header that reaches `service` on `port` from this proxy: FQDN (and `:port`), the
 * short forms above, `*.`-prefixed copies for headless Kubernetes services (pods are addressed
 * as `pod.svc.ns…`), and the VIP (and `:port`) when it is a single address.
 */
export function serviceDomains(service: Service, port: number, proxyDomain: string): string[] {
  const domains = [service.hostname, domainName(service.hostname, port), ...altVirtualHosts(service.hostname, port, proxyDomain)];
  if (service.resolution === 'NONE' && service.origin === 'kubernetes') domains.push(...domains.map((d) => `*.${d}`));
  const vip = service.addresses[0];
  if (vip !== undefined && vip !== '0.0.0.0' && isIpAddress(vip)) domains.push(vip, domainName(vip, port));
  return domains;
}

/** The catch-all virtual host: PassthroughCluster (or the Sidecar's egressProxy) for ALLOW_ANY, a 502 for REGISTRY_ONLY. */
export function catchAllVirtualHost(scope: SidecarScope, push: PushContext): Msg {
  if (scope.outboundTrafficPolicy === 'ALLOW_ANY') {
    const egressProxy = scope.config?.spec.outboundTrafficPolicy?.egressProxy;
    const cluster = egressProxy?.host ? destinationCluster(egressProxy, scope.config!.namespace, push.mesh.clusterDomain, () => undefined, 0) : PASSTHROUGH_CLUSTER;
    return {
      name: ALLOW_ANY_VHOST,
      domains: ['*'],
      routes: [
        {
          name: ALLOW_ANY_VHOST,
          match: { prefix: '/' },
          route: { cluster, timeout: { ...ZERO_DURATION }, maxStreamDuration: { grpcTimeoutHeaderMax: { ...ZERO_DURATION } } },
        },
      ],
      includeRequestAttemptCount: true,
    };
  }
  return {
    name: BLOCK_ALL_VHOST,
    domains: ['*'],
    routes: [{ name: BLOCK_ALL_VHOST, match: { prefix: '/' }, directResponse: { status: 502 } }],
    includeRequestAttemptCount: true,
  };
}

/** Splits a VirtualService's hosts into registry services on this port and other names (Istio's separateVSHostsAndServices). */
function separateHosts(vs: VirtualServiceConfig, byName: ReadonlyMap<string, Service>): { hosts: string[]; services: Service[] } {
  const hosts: string[] = [];
  const services: Service[] = [];
  for (const h of vs.hosts) {
    if (!h.startsWith('*')) {
      const svc = byName.get(h);
      if (svc) services.push(svc);
      else hosts.push(h);
      continue;
    }
    const matched = [...byName.values()].filter((s) => hostsOverlap(s.hostname, h));
    if (matched.length > 0) services.push(...matched);
    else hosts.push(h);
  }
  return { hosts, services };
}

/**
 * The virtual hosts of sidecar route configuration `port` (without the catch-all), sorted by name.
 * Services come from the egress listener serving the port, restricted to that port; each
 * VirtualService (in precedence order) yields a virtual host per service it names and per other
 * host; services without a VirtualService get a default route. A virtual-host name or domain
 * already taken is dropped, since Envoy rejects duplicates (Istio's DuplicatedDomains).
 */
export function sidecarVirtualHosts(proxy: Proxy, push: PushContext, port: number): Msg[] {
  const listener = egressListenerForPort(egressListeners(proxy, push), port);
  if (!listener) return [];
  const byName = new Map<string, Service>();
  for (const svc of listener.services) {
    const sp = svc.ports.find((p) => p.port === port);
    if (sp && !byName.has(svc.hostname)) byName.set(svc.hostname, { ...svc, ports: [sp] });
  }
  const lookup = (h: string) => byName.get(h);

  const wrappers: VirtualHostWrapper[] = [];
  for (const vs of listener.virtualServices) {
    const { hosts, services } = separateHosts(vs, byName);
    const ports = new Map<number, Service[]>();
    for (const svc of services) for (const p of svc.ports) if (isHttp(p.protocol)) ports.set(p.port, [...(ports.get(p.port) ?? []), svc]);
    // A VirtualService naming only non-registry hosts is served on port 80, as Istio does.
    if (ports.size === 0) ports.set(80, []);
    const routes = virtualServiceRoutes({ proxy, push, vs, port, gateways: new Set(['mesh']), lookup });
    if (routes.length === 0) continue;
    for (const [p, svcs] of ports) wrappers.push({ port: p, services: svcs, vsHosts: hosts, routes });
  }
  const covered = new Set(wrappers.flatMap((w) => w.services.map((s) => s.hostname)));
  for (const svc of [...byName.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : 1))) {
    if (covered.has(svc.hostname)) continue;
    for (const p of svc.ports) {
      if (!isHttp(p.protocol)) continue;
      const cluster = outboundCluster(svc.hostname, p.port);
      wrappers.push({ port: p.port, services: [svc], vsHosts: [], routes: [defaultOutboundRoute(cluster, `${svc.hostname}:${p.port}/*`, serviceHashPolicy(proxy, push, svc, p.port))] });
    }
  }

  const names = new Set<string>();
  const domainsTaken = new Set<string>();
  const out: Msg[] = [];
  const add = (name: string, domains: string[], routes: Msg[]) => {
    if (names.has(name)) return;
    names.add(name);
    const fresh = domains.filter((d) => !domainsTaken.has(d));
    fresh.forEach((d) => domainsTaken.add(d));
    if (fresh.length > 0) out.push({ name, domains: fresh, routes, includeRequestAttemptCount: true });
  };
  const proxyDomain = proxyDnsDomain(proxy, push);
  for (const w of wrappers) {
    if (w.port !== port) continue;
    for (const h of w.vsHosts) add(domainName(h, w.port), [h, domainName(h, w.port)], w.routes);
    for (const svc of w.services) add(domainName(svc.hostname, w.port), serviceDomains(svc, w.port, proxyDomain), w.routes);
  }
  return out.sort((a, b) => ((a.name as string) < (b.name as string) ? -1 : (a.name as string) > (b.name as string) ? 1 : 0));
}

/** Sidecar route configuration named after a port (`9080`); any other name gets an empty configuration. */
export function sidecarRouteConfiguration(proxy: Proxy, push: PushContext, name: string): Msg {
  const empty = { name, virtualHosts: [], validateClusters: boolValue(false) };
  if (!/^[0-9]+$/.test(name)) return empty;
  const scope = push.sidecarScope(proxy);
  return { name, virtualHosts: [...sidecarVirtualHosts(proxy, push, Number(name)), catchAllVirtualHost(scope, push)], validateClusters: boolValue(false) };
}

