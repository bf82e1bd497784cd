// A proxy's outbound listeners as its Sidecar declares them: which services and VirtualServices each egress listener imports.
import { hostsOverlap } from '../../api/hosts.js';
import type { Proxy } from '../../model/proxy.js';
import type { PushContext, SidecarScope, VirtualServiceConfig } from '../../model/push-context.js';
import type { Service } from '../../registry/types.js';
import { protocolOf, type Protocol } from './port-protocol.js';

export type CaptureMode = 'DEFAULT' | 'IPTABLES' | 'NONE';

/** One egress listener of the proxy's Sidecar (or the implicit catch-all one). */
export interface EgressListenerView {
  /** Port of an explicit egress listener; undefined for the catch-all (one listener per service port). */
  port?: { number: number; protocol: Protocol; name: string };
  /** Address to bind; '' when the Sidecar gives none. */
  bind: string;
  captureMode: CaptureMode;
  services: readonly Service[];
  virtualServices: readonly VirtualServiceConfig[];
}

/** `ns/host` entries of a Sidecar egress listener, grouped by namespace (`.` resolved to `ownNamespace`). */
function importedHosts(hosts: readonly string[], ownNamespace: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const h of hosts) {
    const slash = h.indexOf('/');
    if (slash < 0) continue;
    let ns = h.slice(0, slash);
    if (ns === '.') ns = ownNamespace;
    const list = out.get(ns);
    if (list) list.push(h.slice(slash + 1).toLowerCase());
    else out.set(ns, [h.slice(slash + 1).toLowerCase()]);
  }
  return out;
}

/** Whether something in `namespace` named by any of `names` is imported (`~` imports nothing: no host matches it). */
function imports(imported: Map<string, string[]>, namespace: string, names: readonly string[]): boolean {
  for (const ns of [namespace, '*']) {
    const hosts = imported.get(ns);
    if (hosts && hosts.some((i) => names.some((n) => hostsOverlap(i, n)))) return true;
  }
  return false;
}

/**
 * The egress listeners of `proxy` in Sidecar order, the catch-all last. Without a Sidecar (or one
 * with no egress section) there is one catch-all listener importing every service of the scope
 * and every VirtualService bound to `mesh`. With one, each listener imports the scope's services
 * and VirtualServices whose host one of its `namespace/host` entries covers (Istio's
 * IstioEgressListenerWrapper).
 */
export function egressListeners(proxy: Proxy, push: PushContext, scope: SidecarScope = push.sidecarScope(proxy)): EgressListenerView[] {
  const virtualServices = push.virtualServices(proxy, 'mesh');
  const egress = scope.config?.spec.egress ?? [];
  if (!scope.config || egress.length === 0) {
    return [{ bind: '', captureMode: 'DEFAULT', services: scope.services, virtualServices }];
  }
  return egress.map((e) => {
    // `.` is the namespace of the proxy the Sidecar applies to (a root-namespace Sidecar applies to every namespace).
    const imported = importedHosts(e.hosts ?? [], proxy.namespace);
    const view: EgressListenerView = {
      bind: e.bind ?? '',
      captureMode: e.captureMode ?? 'DEFAULT',
      services: scope.services.filter((s) => imports(imported, s.namespace, [s.hostname])),
      virtualServices: virtualServices.filter((vs) => imports(imported, vs.namespace, vs.hosts)),
    };
    if (e.port?.number !== undefined && e.port.number > 0) {
      view.port = { number: e.port.number, protocol: protocolOf(e.port.protocol), name: e.port.name ?? '' };
    }
    return view;
  });
}

/**
 * The egress listener whose routes RDS config `port` carries: the explicit listener on that port,
 * else the catch-all (Istio's GetEgressListenerForRDS).
 */
export function egressListenerForPort(listeners: readonly EgressListenerView[], port: number): EgressListenerView | undefined {
  return listeners.find((l) => l.port === undefined || l.port.number === port);
}
