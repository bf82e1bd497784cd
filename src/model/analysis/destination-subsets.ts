// IST0101: VirtualService routes to a subset no DestinationRule defines for that host.
import { asArray, asObject, asString } from '../../api/diagnostics.js';
import type { AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';
import { destinationsOf } from './virtual-service-routes.js';

/**
 * Reports a destination subset that the DestinationRules applying to its host (as a client in the
 * VirtualService's namespace sees them, see AnalysisContext.destinationRulesFor) do not define;
 * such a route sends traffic to a cluster that does not exist (503 NR).
 */
export function analyzeDestinationSubsets(ctx: AnalysisContext): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const vs of ctx.ofKind('networking.istio.io', 'VirtualService')) {
    const ns = ctx.namespaceOf(vs);
    for (const d of destinationsOf(vs)) {
      if (d.subset === undefined) continue;
      const { fqdn, entries } = ctx.lookupHost(d.host, ns);
      const rules = ctx.destinationRulesFor(fqdn, ns, entries[0]?.namespace);
      const subsets = new Set(rules.flatMap((dr) => asArray(asObject(dr.spec)?.subsets).map((s) => asString(asObject(s)?.name)).filter((n): n is string => n !== undefined)));
      if (subsets.has(d.subset)) continue;
      const where = rules.length === 0 ? 'no DestinationRule applies to this host' : `DestinationRule ${rules.map((r) => ctx.fullName(r)).join(', ')} defines ${subsets.size === 0 ? 'no subsets' : `subsets ${[...subsets].join(', ')}`}`;
      out.push(ctx.message('ReferencedResourceNotFound', vs, [...d.path, 'subset'], `Referenced host+subset in destinationrule not found: "${d.host}+${d.subset}" (${where})`));
    }
  }
  return out;
}
