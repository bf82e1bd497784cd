// IST0109: several VirtualServices bound to the mesh gateway for one host.
import { asArray, asObject } from '../../api/diagnostics.js';
import type { Resource } from '../../api/kind.js';
import { oldestFirst, type AnalysisContext } from './context.js';
import { visibleFrom } from '../../api/hosts.js';
import type { AnalysisMessage } from './types.js';
import { boundGateways } from './virtual-service-routes.js';

interface Claim {
  vs: Resource;
  ns: string;
  exportTo: string[];
  hostIndex: number;
}

/**
 * Reports every VirtualService bound to `mesh` that shares a host (after short-name resolution, see
 * AnalysisContext.lookupHost) with another one visible in the same namespace. Sidecars do not
 * merge them: the oldest
 * (creationTimestamp, ties by name.namespace as Istio sorts) takes the host, the others are
 * ignored for it — the message says which one wins.
 */
export function analyzeMeshGatewayHosts(ctx: AnalysisContext): AnalysisMessage[] {
  const byHost = new Map<string, Claim[]>();
  for (const vs of ctx.ofKind('networking.istio.io', 'VirtualService')) {
    if (!boundGateways(vs).includes('mesh')) continue;
    const ns = ctx.namespaceOf(vs);
    const spec = asObject(vs.spec);
    const exportTo = asArray(spec?.exportTo).filter((e): e is string => typeof e === 'string');
    asArray(spec?.hosts).forEach((h, i) => {
      if (typeof h !== 'string' || h === '') return;
      const fqdn = ctx.lookupHost(h, ns).fqdn;
      const list = byHost.get(fqdn) ?? [];
      if (!list.some((c) => c.vs === vs)) list.push({ vs, ns, exportTo, hostIndex: i });
      byHost.set(fqdn, list);
    });
  }
  const out: AnalysisMessage[] = [];
  for (const [fqdn, claims] of byHost) {
    if (claims.length < 2) continue;
    // Two claims clash when some namespace sees both: each exports to the other's namespace.
    const clashes = (a: Claim, b: Claim) => visibleFrom(a.exportTo, a.ns, b.ns) || visibleFrom(b.exportTo, b.ns, a.ns);
    const involved = claims.filter((c) => claims.some((o) => o !== c && clashes(c, o)));
    if (involved.length < 2) continue;
    const ordered = oldestFirst(involved.map((c) => c.vs), (r) => `${ctx.nameOf(r)}.${ctx.namespaceOf(r)}`);
    const names = ordered.map((r) => ctx.fullName(r)).join(',');
    for (const c of involved) {
      const winner = ordered.find((r) => r === c.vs || clashes(c, involved.find((o) => o.vs === r)!))!;
      const verdict = winner === c.vs ? 'this one is the oldest and takes effect' : `${ctx.fullName(winner)} is older and takes effect, this one is ignored for that host`;
      out.push(ctx.message('ConflictingMeshGatewayVirtualServiceHosts', c.vs, ['spec', 'hosts', c.hostIndex], `The VirtualServices ${names} associated with mesh gateway define the same host ${fqdn} which can lead to undefined behavior (${verdict}). This can be fixed by merging the conflicting VirtualServices into a single resource.`));
    }
  }
  return out;
}
