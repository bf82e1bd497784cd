// VirtualServices indexed by the gateways they bind to, with Istio's visibility (exportTo) and first-claim-wins host ownership for sidecars.
import type { Resource } from '../../api/kind.js';
import { resolveGatewayRef, resolveShortName } from '../../api/hosts.js';
import type { VirtualServiceSpec } from '../../api/kinds/virtual-service.js';
import type { PushMessage, VirtualServiceConfig } from '../push-context.js';
import { deepFreeze, isVisible, refOf, sortByCreation, typedConfig, visibilitiesOverlap, visibilityOf, type Visibility } from './config-meta.js';

/** The reserved gateway name binding a VirtualService to every sidecar. */
export const MESH_GATEWAY = 'mesh';

interface IndexedVirtualService {
  config: VirtualServiceConfig;
  visibility: Visibility;
  /** Resolved `ns/name` gateway references and/or `mesh`. */
  gateways: ReadonlySet<string>;
}

/** `ns/name` for a gateway reference written in a VirtualService of `namespace` (`mesh` stays `mesh`). */
export function resolveGatewayName(ref: string, namespace: string): string {
  const r = resolveGatewayRef(ref, namespace);
  return r ? `${r.namespace}/${r.name}` : MESH_GATEWAY;
}

/**
 * The gateways a VirtualService binds to: its top-level `gateways` (default `mesh` only), plus the
 * gateways named in any http/tls/tcp match. The API documents match-level `gateways` as overriding
 * the top-level list, so a route that names a gateway must be able to reach it; Istio 1.6 indexed
 * top-level names only and later releases (1.10+) count match-level names too, which is what we do.
 */
export function boundGateways(spec: VirtualServiceSpec, namespace: string): Set<string> {
  const out = new Set<string>();
  const top = spec.gateways ?? [];
  if (top.length === 0) out.add(MESH_GATEWAY);
  for (const g of top) out.add(resolveGatewayName(g, namespace));
  const routes = [...(spec.http ?? []), ...(spec.tls ?? []), ...(spec.tcp ?? [])];
  for (const r of routes) for (const m of r.match ?? []) for (const g of m.gateways ?? []) out.add(resolveGatewayName(g, namespace));
  return out;
}

/**
 * Every VirtualService of a push, oldest first (Istio's sortConfigByCreationTime), answering which
 * apply to a gateway as seen from a namespace. Built once per push; query results are cached.
 */
export class VirtualServiceIndex {
  readonly messages: readonly PushMessage[];
  private readonly all: readonly IndexedVirtualService[];
  private readonly byGateway = new Map<string, IndexedVirtualService[]>();
  private readonly visibleCache = new Map<string, readonly VirtualServiceConfig[]>();

  constructor(resources: readonly Resource[], clusterDomain: string) {
    const configs = sortByCreation(resources.map((r) => typedConfig<VirtualServiceSpec>(r)));
    this.all = configs.map((c) => {
      const config: VirtualServiceConfig = deepFreeze({ ...c, hosts: (c.spec.hosts ?? []).map((h) => resolveShortName(h, c.namespace, clusterDomain)) });
      return { config, visibility: visibilityOf(c.spec.exportTo, c.namespace), gateways: boundGateways(c.spec, c.namespace) };
    });
    for (const vs of this.all) {
      for (const g of vs.gateways) {
        const list = this.byGateway.get(g) ?? [];
        list.push(vs);
        this.byGateway.set(g, list);
      }
    }
    this.messages = Object.freeze(this.duplicateHostMessages());
  }

  /**
   * VirtualServices bound to `gateway` (`mesh` or `ns/name`) and exported to `namespace`, oldest
   * first, as written (no host de-duplication: a gateway concatenates the routes of all of them).
   */
  visible(namespace: string, gateway: string): readonly VirtualServiceConfig[] {
    const key = `${namespace}\u0000${gateway}`;
    let out = this.visibleCache.get(key);
    if (!out) {
      out = Object.freeze((this.byGateway.get(gateway) ?? []).filter((vs) => isVisible(vs.visibility, namespace)).map((vs) => vs.config));
      this.visibleCache.set(key, out);
    }
    return out;
  }

  /**
   * The sidecar view: `candidates` (already filtered for visibility and Sidecar egress, oldest
   * first) with each host kept only by the first VirtualService claiming it; a VirtualService left
   * with no host is dropped. Istio 1.6 drops the later duplicates the same way when it builds
   * virtual hosts (pilot_vservice_dup_domain); IST0109 reports them.
   */
  static firstClaimWins(candidates: readonly VirtualServiceConfig[]): VirtualServiceConfig[] {
    const claimed = new Set<string>();
    const out: VirtualServiceConfig[] = [];
    for (const vs of candidates) {
      const hosts = vs.hosts.filter((h) => !claimed.has(h));
      for (const h of hosts) claimed.add(h);
      if (hosts.length === vs.hosts.length) out.push(vs);
      else if (hosts.length > 0) out.push(Object.freeze({ ...vs, hosts: Object.freeze(hosts) as string[] }));
    }
    return out;
  }

  /** A message per host a mesh-bound VirtualService loses to an older one that some namespace also sees. */
  private duplicateHostMessages(): PushMessage[] {
    const claims = new Map<string, IndexedVirtualService[]>();
    const out: PushMessage[] = [];
    for (const vs of this.byGateway.get(MESH_GATEWAY) ?? []) {
      for (const h of new Set(vs.config.hosts)) {
        const earlier = claims.get(h) ?? [];
        const winner = earlier.find((e) => visibilitiesOverlap(e.visibility, vs.visibility));
        if (winner) {
          out.push({
            level: 'Warning',
            resource: `VirtualService ${refOf(vs.config)}`,
            message: `host "${h}" is already claimed for sidecars by the older VirtualService ${refOf(winner.config)}; its rules for this host are ignored (IST0109)`,
          });
        }
        earlier.push(vs);
        claims.set(h, earlier);
      }
    }
    return out;
  }
}
