// IST0110 / IST0111: Sidecars that compete for the same workloads.
import { asObject } from '../../api/diagnostics.js';
import type { Resource } from '../../api/kind.js';
import { labelsMatch, stringMap, type AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

/**
 * A workload gets exactly one Sidecar: the one selecting it, else the namespace's selector-less
 * one. Reports every selector-less Sidecar of a namespace that has several (IST0111), and every
 * Sidecar that selects a known workload another Sidecar also selects (IST0110): which one applies
 * is undefined.
 */
export function analyzeSidecarSelectors(ctx: AnalysisContext): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  const defaults = new Map<string, Resource[]>();
  const scoped = new Map<string, Array<{ sc: Resource; labels: Record<string, string> }>>();
  for (const sc of ctx.ofKind('networking.istio.io', 'Sidecar')) {
    const ns = ctx.namespaceOf(sc);
    const labels = stringMap(asObject(asObject(sc.spec)?.workloadSelector)?.labels);
    if (Object.keys(labels).length === 0) defaults.set(ns, [...(defaults.get(ns) ?? []), sc]);
    else scoped.set(ns, [...(scoped.get(ns) ?? []), { sc, labels }]);
  }
  for (const [ns, list] of defaults) {
    if (list.length < 2) continue;
    const names = list.map((s) => ctx.nameOf(s)).sort().join(', ');
    for (const sc of list) out.push(ctx.message('MultipleSidecarsWithoutWorkloadSelectors', sc, ['metadata', 'name'], `The Sidecars ${names} in namespace "${ns}" have no workload selector, which can lead to undefined behavior.`));
  }
  for (const [ns, list] of scoped) {
    for (const w of ctx.workloads.filter((x) => x.namespace === ns)) {
      const selecting = list.filter((s) => labelsMatch(s.labels, w.labels));
      if (selecting.length < 2) continue;
      const names = selecting.map((s) => ctx.nameOf(s.sc)).sort().join(', ');
      for (const s of selecting) out.push(ctx.message('ConflictingSidecarWorkloadSelectors', s.sc, ['spec', 'workloadSelector', 'labels'], `The Sidecars ${names} in namespace "${ns}" select the same workload ${w.kind} ${w.name}, which can lead to undefined behavior.`));
    }
  }
  return out;
}
