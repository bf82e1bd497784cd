// MLT0101: DestinationRule for a host the mesh does not know.
import { asObject, asString } from '../../api/diagnostics.js';
import type { AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

/**
 * Reports a DestinationRule whose (non-wildcard) host matches no Service or ServiceEntry visible
 * from its namespace: usually a typo or a short name resolved in the wrong namespace. Istio has no
 * analyzer for this, hence a Meltemi code. Wildcard hosts (`*.local`) are policies by design.
 */
export function analyzeDestinationRuleHosts(ctx: AnalysisContext): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const dr of ctx.ofKind('networking.istio.io', 'DestinationRule')) {
    const host = asString(asObject(dr.spec)?.host);
    if (host === undefined || host === '' || host.startsWith('*')) continue;
    const { fqdn, entries } = ctx.lookupHost(host, ctx.namespaceOf(dr));
    if (entries.length > 0) continue;
    const shown = fqdn === host.toLowerCase() ? `"${host}"` : `"${host}" (${fqdn})`;
    out.push(ctx.message('DestinationRuleHostNotFound', dr, ['spec', 'host'], `DestinationRule host ${shown} matches no Service or ServiceEntry; its traffic policy and subsets apply to nothing`));
  }
  return out;
}
