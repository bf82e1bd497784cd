// IST0127: workload-scoped policies whose selector matches no workload.
import { asObject } from '../../api/diagnostics.js';
import { formatLabels, stringMap, type AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

/** The kinds checked, with the path of their selector's label map. */
const SELECTORS: ReadonlyArray<{ group: string; kind: string; path: readonly string[] }> = [
  { group: 'security.istio.io', kind: 'PeerAuthentication', path: ['spec', 'selector', 'matchLabels'] },
  { group: 'security.istio.io', kind: 'RequestAuthentication', path: ['spec', 'selector', 'matchLabels'] },
  { group: 'security.istio.io', kind: 'AuthorizationPolicy', path: ['spec', 'selector', 'matchLabels'] },
  { group: 'networking.istio.io', kind: 'Sidecar', path: ['spec', 'workloadSelector', 'labels'] },
  { group: 'networking.istio.io', kind: 'EnvoyFilter', path: ['spec', 'workloadSelector', 'labels'] },
  { group: 'maistra.io', kind: 'ServiceMeshExtension', path: ['spec', 'workloadSelector', 'labels'] },
];

/**
 * Reports a policy with a non-empty selector that matches no workload of its namespace — of any
 * namespace when it lives in the root namespace, where policies apply mesh-wide (MT-19). A policy
 * that selects nothing is silently inert, usually through a label typo. Runs only for namespaces
 * whose workloads the input describes, so that analysing policies alone stays quiet.
 */
export function analyzePolicySelectors(ctx: AnalysisContext): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const { group, kind, path } of SELECTORS) {
    for (const r of ctx.ofKind(group, kind)) {
      let labels: unknown = r;
      for (const k of path) labels = asObject(labels)?.[k];
      const selector = stringMap(labels);
      if (Object.keys(selector).length === 0) continue;
      const ns = ctx.namespaceOf(r);
      const meshWide = ns === ctx.rootNamespace;
      if (meshWide ? !ctx.workloads.some((w) => !w.synthetic) : !ctx.knowsWorkloadsIn(ns)) continue;
      if (ctx.workloadsMatching(selector, meshWide ? undefined : ns).length > 0) continue;
      out.push(ctx.message('NoMatchingWorkloadsFound', r, path, `No matching workloads for this resource with the following labels: ${formatLabels(selector)} (${meshWide ? 'in any namespace' : `in namespace ${ns}`}); the ${kind} has no effect`));
    }
  }
  return out;
}
