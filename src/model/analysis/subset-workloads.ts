// MLT0103: DestinationRule subsets whose labels match none of the service's workloads.
import { asArray, asObject, asString } from '../../api/diagnostics.js';
import { formatLabels, labelsMatch, stringMap, type AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

/**
 * Reports a subset whose labels select none of the workloads behind the DestinationRule's
 * Kubernetes Service (the Service's selector, in the Service's namespace): its cluster has no
 * endpoints and routes to it fail with 503. Checked only when the input holds at least one
 * workload behind that Service, so that partial inputs stay quiet; ServiceEntry hosts and subsets
 * without labels are not checked.
 */
export function analyzeSubsetWorkloads(ctx: AnalysisContext): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const dr of ctx.ofKind('networking.istio.io', 'DestinationRule')) {
    const spec = asObject(dr.spec);
    const host = asString(spec?.host);
    if (host === undefined || host.startsWith('*')) continue;
    const { fqdn, entries } = ctx.lookupHost(host, ctx.namespaceOf(dr));
    const services = entries.filter((e) => e.source === 'Service' && e.selector !== undefined && e.host === fqdn);
    const backing = services.flatMap((s) => ctx.workloadsMatching(s.selector!, s.namespace));
    if (backing.length === 0) continue;
    asArray(spec?.subsets).forEach((raw, i) => {
      const subset = asObject(raw);
      const labels = stringMap(subset?.labels);
      if (Object.keys(labels).length === 0) return;
      if (backing.some((w) => labelsMatch(labels, w.labels))) return;
      const names = [...new Set(backing.map((w) => w.name))].sort().join(', ');
      out.push(ctx.message('SubsetMatchesNoWorkload', dr, ['spec', 'subsets', i, 'labels'], `Subset "${asString(subset?.name) ?? i}" (${formatLabels(labels)}) matches none of the workloads behind ${fqdn} (${names}); traffic routed to it fails with 503 (no healthy upstream)`));
    });
  }
  return out;
}
