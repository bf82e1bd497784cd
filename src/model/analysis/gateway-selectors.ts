// IST0101: Gateway whose selector matches no gateway workload.
import { asObject } from '../../api/diagnostics.js';
import { formatLabels, stringMap, type AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

/**
 * Reports a Gateway whose `spec.selector` matches the pod labels of no workload in any namespace
 * (Istio 1.6 binds Gateways to gateway pods cluster-wide): its servers are never programmed.
 * Runs only when the input describes the gateway workloads — a ServiceMeshControlPlane (whose
 * gateways Meltemi infers) or workloads in the root namespace — so that analysing application
 * manifests alone does not flag every Gateway.
 */
export function analyzeGatewaySelectors(ctx: AnalysisContext): AnalysisMessage[] {
  const describesGateways = ctx.ofKind('maistra.io', 'ServiceMeshControlPlane').length > 0 || ctx.knowsWorkloadsIn(ctx.rootNamespace);
  if (!describesGateways || ctx.hasGatewaysOfUnknownLabels) return [];
  const out: AnalysisMessage[] = [];
  for (const gw of ctx.ofKind('networking.istio.io', 'Gateway')) {
    const selector = stringMap(asObject(gw.spec)?.selector);
    if (Object.keys(selector).length === 0) continue;
    if (ctx.workloadsMatching(selector).length > 0) continue;
    out.push(ctx.message('ReferencedResourceNotFound', gw, ['spec', 'selector'], `Referenced selector not found: "${formatLabels(selector)}" (no gateway workload in any namespace has these labels)`));
  }
  return out;
}
