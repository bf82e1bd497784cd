// Gateways selecting a router proxy, merged per port with deterministic conflict resolution (oldest keeps a host; MAISTRA-158).
import type { Resource } from '../../api/kind.js';
import type { GatewayServer, GatewaySpec } from '../../api/kinds/gateway.js';
import { isHttpProtocol, parseProtocol, type Protocol } from '../../api/kinds/networking-types.js';
import type { ConfigMeta, GatewayConflict, GatewayServerConfig, MergedGateway, PushMessage } from '../push-context.js';
import { deepFreeze, labelsKey, metaOf, refOf, selectorMatches, sortByCreation, typedConfig, type TypedConfig } from './config-meta.js';

/**
 * Istio's sanitizeServerHostNamespace: `./host` becomes `<gateway ns>/host`, `*\/host` becomes
 * `host`, and a `*\/*` entry makes the server expose every host (`*`).
 */
export function sanitizeServerHosts(hosts: readonly string[], namespace: string): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    const slash = h.indexOf('/');
    if (slash < 0) {
      out.push(h);
      continue;
    }
    const ns = h.slice(0, slash);
    const name = h.slice(slash + 1);
    if (ns === '*' && name === '*') return ['*'];
    out.push(ns === '.' ? `${namespace}/${name}` : ns === '*' ? name : h);
  }
  return out;
}

/** The DNS name of a server host (`ns/name` → `name`), lower-case: what Envoy matches (SNI, :authority). */
export function serverHostName(h: string): string {
  const slash = h.indexOf('/');
  return (slash >= 0 ? h.slice(slash + 1) : h).toLowerCase();
}

function protocolOf(s: GatewayServer): Protocol {
  return parseProtocol(s.port?.protocol ?? '') ?? 'TCP';
}

/** Istio's gateway.IsTLSServer: a non-HTTP server with TLS settings (HTTPS, TLS), matched by SNI. */
function isTlsServer(s: GatewayServer): boolean {
  return s.tls !== undefined && !isHttpProtocol(protocolOf(s));
}

/** Istio's canMergeProtocols: plaintext servers share a port only when both speak HTTP (one HTTP connection manager). */
function canMergePlaintext(current: Protocol, next: Protocol): boolean {
  return (isHttpProtocol(current) || current === next) && isHttpProtocol(next);
}

interface PortState {
  tls: boolean;
  firstProtocol: Protocol;
  servers: GatewayServerConfig[];
  /** Host name → the gateway (and its server) that claimed it first on this port. */
  claims: Map<string, ConfigMeta>;
}

/**
 * Merges Gateways (any order; they are sorted oldest first here) into the servers one router
 * proxy serves. On one port:
 * - plaintext servers merge only if all speak HTTP, TLS servers only with TLS servers; a server
 *   that cannot share its port is skipped with a message (as Istio 1.6 does);
 * - on a TLS port, a host already exposed by an older Gateway stays with it: the newer server loses
 *   that host only (recorded as a GatewayConflict), keeps its other hosts, and is dropped only if
 *   none remain; on a plaintext HTTP port the servers share one route configuration and merge. Istio 1.6 instead let both through (or dropped the whole TLS server), which is how
 *   two Gateways on one host broke each other (MAISTRA-158); IST0145 reports the same conflicts.
 * Within one Gateway, a TLS server repeating a host of an earlier server on the port is trimmed the
 * same way, since Envoy refuses two filter chains with one SNI.
 */
export function mergeGateways(gateways: ReadonlyArray<TypedConfig<GatewaySpec>>): { merged: MergedGateway; messages: PushMessage[] } {
  const ordered = sortByCreation(gateways);
  const ports = new Map<number, PortState>();
  const conflicts: GatewayConflict[] = [];
  const messages: PushMessage[] = [];
  for (const gw of ordered) {
    const meta: ConfigMeta = { namespace: gw.namespace, name: gw.name, creationTimestamp: gw.creationTimestamp };
    const resource = `Gateway ${refOf(meta)}`;
    (gw.spec.servers ?? []).forEach((raw, index) => {
      const number = raw.port?.number;
      if (number === undefined) return;
      const server: GatewayServer = { ...raw, hosts: sanitizeServerHosts(raw.hosts ?? [], gw.namespace) };
      const protocol = protocolOf(server);
      const tls = isTlsServer(server);
      let state = ports.get(number);
      if (state) {
        if (!state.tls && (tls || !canMergePlaintext(state.firstProtocol, protocol))) {
          messages.push({ level: 'Warning', resource, message: `server ${index} (port ${number}, ${protocol}) is ignored: port ${number} already serves ${state.firstProtocol} from ${describe(state)}, and the two cannot share one listener` });
          return;
        }
        if (state.tls && !tls) {
          messages.push({ level: 'Warning', resource, message: `server ${index} (port ${number}, ${protocol}) is ignored: port ${number} already serves TLS from ${describe(state)}; plaintext and TLS servers cannot share a port` });
          return;
        }
      } else {
        state = { tls, firstProtocol: protocol, servers: [], claims: new Map() };
        ports.set(number, state);
      }
      const kept: string[] = [];
      for (const h of server.hosts ?? []) {
        const name = serverHostName(h);
        const owner = state.claims.get(name);
        // Plaintext HTTP servers on one port share one route configuration, so two Gateways exposing
        // the same host there merge as in Istio (e.g. bookinfo and httpbin both on `*:80`). Only TLS
        // ports conflict: Envoy refuses two filter chains for one SNI, which broke both (MAISTRA-158).
        if (owner && refOf(owner) !== refOf(meta) && tls) {
          conflicts.push({ port: number, host: name, winner: owner, loser: meta });
          messages.push({ level: 'Warning', resource, message: `host "${name}" on port ${number} is already exposed by the older Gateway ${refOf(owner)}, which keeps it; this Gateway's server ${index} no longer serves it (MAISTRA-158)` });
          continue;
        }
        if (owner && tls) {
          messages.push({ level: 'Warning', resource, message: `host "${name}" appears twice on TLS port ${number}; the repeat in server ${index} is ignored (one SNI, one filter chain)` });
          continue;
        }
        if (!owner) state.claims.set(name, meta);
        kept.push(h);
      }
      if (kept.length === 0) return;
      state.servers.push({ gateway: meta, server: { ...server, hosts: kept }, index });
    });
  }
  const serversByPort = new Map<number, readonly GatewayServerConfig[]>();
  for (const n of [...ports.keys()].sort((a, b) => a - b)) {
    const servers = ports.get(n)!.servers;
    if (servers.length > 0) serversByPort.set(n, Object.freeze(servers.map((s) => deepFreeze(s))));
  }
  const merged: MergedGateway = Object.freeze({
    gateways: Object.freeze(ordered.map((g) => refOf(g))),
    serversByPort,
    conflicts: Object.freeze(conflicts.map((c) => deepFreeze(c))),
  });
  return { merged, messages };
}

function describe(state: PortState): string {
  return [...new Set(state.servers.map((s) => `Gateway ${refOf(s.gateway)}`))].join(', ') || 'an earlier server';
}

/**
 * All Gateways of a push. A router proxy gets every Gateway whose `selector` its labels satisfy,
 * in any namespace (Istio 1.6 without PILOT_SCOPE_GATEWAY_TO_NAMESPACE); a Gateway without a
 * selector applies to every router. Merges are cached per label set.
 */
export class GatewayIndex {
  readonly messages: readonly PushMessage[];
  private readonly all: ReadonlyArray<TypedConfig<GatewaySpec>>;
  private readonly cache = new Map<string, MergedGateway | null>();

  constructor(resources: readonly Resource[]) {
    this.all = sortByCreation(resources.map((r) => ({ ...metaOf(r), spec: typedConfig<GatewaySpec>(r).spec })));
    this.messages = Object.freeze(this.conflictMessages());
  }

  selecting(labels: Readonly<Record<string, string>>): Array<TypedConfig<GatewaySpec>> {
    return this.all.filter((g) => selectorMatches(g.spec.selector, labels));
  }

  merged(labels: Readonly<Record<string, string>>): MergedGateway | undefined {
    const key = labelsKey(labels);
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const selected = this.selecting(labels);
    const out = selected.length === 0 ? undefined : mergeGateways(selected).merged;
    this.cache.set(key, out ?? null);
    return out;
  }

  /**
   * Conflicts are reported once per push, without waiting for a proxy to connect: for each distinct
   * selector, the Gateways a proxy labelled exactly so would receive are merged and their problems
   * collected. (A proxy whose labels satisfy two unrelated selectors still sees its own conflicts in
   * `mergedGateway(proxy).conflicts`.)
   */
  private conflictMessages(): PushMessage[] {
    const seen = new Set<string>();
    const out: PushMessage[] = [];
    const selectors = new Map<string, Record<string, string>>();
    for (const g of this.all) selectors.set(labelsKey(g.spec.selector ?? {}), g.spec.selector ?? {});
    for (const sel of selectors.values()) {
      const selected = this.selecting(sel);
      if (selected.length < 2) continue;
      for (const m of mergeGateways(selected).messages) {
        const k = `${m.resource}\u0000${m.message}`;
        if (!seen.has(k)) {
          seen.add(k);
          out.push(m);
        }
      }
    }
    return out;
  }
}
