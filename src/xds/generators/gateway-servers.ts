// Facts about a Gateway server the listener and route builders share: its route name, SNI hosts, and the hosts a VirtualService may bind.
import { hostSubsetOf, hostsOverlap } from '../../api/hosts.js';
import type { GatewayServerConfig } from '../../model/push-context.js';
import { gatewayHttpRouteName, gatewayHttpsRouteName } from './cluster-names.js';
import { isHttp, protocolOf, type Protocol } from './port-protocol.js';

/** `namespace/name` of the Gateway a server belongs to (how VirtualServices and match blocks name it). */
export function gatewayRef(sc: GatewayServerConfig): string {
  return `${sc.gateway.namespace}/${sc.gateway.name}`;
}

export function serverProtocol(sc: GatewayServerConfig): Protocol {
  return protocolOf(sc.server.port?.protocol);
}

/** PASSTHROUGH and AUTO_PASSTHROUGH servers forward TLS untouched; the others terminate it. */
export function isPassthrough(sc: GatewayServerConfig): boolean {
  const mode = sc.server.tls?.mode;
  return mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH';
}

/** An HTTPS server that terminates TLS and routes HTTP (its own route configuration). */
export function isHttpsTerminating(sc: GatewayServerConfig): boolean {
  return serverProtocol(sc) === 'HTTPS' && sc.server.tls !== undefined && !isPassthrough(sc);
}

/**
 * The RDS name of a server (Istio's gatewayRDSRouteName): `http.PORT` for plaintext HTTP servers
 * (all of a port share it), `https.PORT.PORTNAME.GATEWAY.NAMESPACE` for terminating HTTPS servers,
 * '' for servers without HTTP routing.
 */
export function serverRouteName(sc: GatewayServerConfig): string {
  const port = sc.server.port?.number ?? 0;
  if (isHttp(serverProtocol(sc))) return gatewayHttpRouteName(port);
  if (isHttpsTerminating(sc)) return gatewayHttpsRouteName(port, sc.server.port?.name ?? '', sc.gateway.name, sc.gateway.namespace);
  return '';
}

/** Server hosts without their `namespace/` part, deduplicated and sorted (SNI values of its filter chain). */
export function sniHosts(sc: GatewayServerConfig): string[] {
  const out = new Set<string>();
  for (const h of sc.server.hosts ?? []) out.add((h.includes('/') ? h.slice(h.indexOf('/') + 1) : h).toLowerCase());
  return [...out].sort();
}

/**
 * Istio's NamesForNamespace: the server hosts a VirtualService in `vsNamespace` may bind — unqualified
 * and `*\/` hosts, and `ns/` hosts of its own namespace (`./` meaning the Gateway's namespace).
 */
export function serverHostsFor(sc: GatewayServerConfig, vsNamespace: string): string[] {
  const out: string[] = [];
  for (const raw of sc.server.hosts ?? []) {
    const h = raw.toLowerCase();
    const slash = h.indexOf('/');
    if (slash < 0) {
      out.push(h);
      continue;
    }
    let ns = h.slice(0, slash);
    if (ns === '.') ns = sc.gateway.namespace;
    if (ns === '*' || ns === vsNamespace) out.push(h.slice(slash + 1));
  }
  return out;
}

/** Istio's Names.Intersection: for each pair where one host covers the other, the narrower one, once. */
export function intersectHosts(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  for (const x of a) {
    for (const y of b) {
      const pick = hostSubsetOf(x, y) ? x : hostSubsetOf(y, x) ? y : undefined;
      if (pick !== undefined && !out.includes(pick)) out.push(pick);
    }
  }
  return out;
}

/** Whether a VirtualService host is exposed by a server (Istio's pickMatchingGatewayHosts, for TCP/TLS servers). */
export function serverExposes(sc: GatewayServerConfig, vsNamespace: string, vsHosts: readonly string[]): boolean {
  const serverHosts = serverHostsFor(sc, vsNamespace);
  return vsHosts.some((v) => serverHosts.some((s) => hostsOverlap(s, v)));
}
