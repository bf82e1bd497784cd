// MLT0104: more than one ServiceMeshControlPlane in a namespace (OP-03).
import type { Resource } from '../../api/kind.js';
import { oldestFirst, type AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

/**
 * The operator admits one control plane per namespace ("only one service mesh may be installed
 * per project/namespace") and the member roll of a namespace with several cannot reconcile
 * (ErrMultipleSMCPs). Reports every ServiceMeshControlPlane but the oldest of its namespace.
 */
export function analyzeControlPlanes(ctx: AnalysisContext): AnalysisMessage[] {
  const byNs = new Map<string, Resource[]>();
  for (const smcp of ctx.ofKind('maistra.io', 'ServiceMeshControlPlane')) {
    const ns = ctx.namespaceOf(smcp);
    byNs.set(ns, [...(byNs.get(ns) ?? []), smcp]);
  }
  const out: AnalysisMessage[] = [];
  for (const [ns, list] of byNs) {
    if (list.length < 2) continue;
    const [first, ...rest] = oldestFirst(list, (r) => ctx.nameOf(r));
    for (const smcp of rest) {
      out.push(ctx.message('MultipleControlPlanesInNamespace', smcp, ['metadata', 'name'], `Namespace ${ns} already has ServiceMeshControlPlane ${ctx.nameOf(first!)}; only one service mesh may be installed per namespace, so this newer one is refused`));
    }
  }
  return out;
}
