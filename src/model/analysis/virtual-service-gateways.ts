// IST0101: VirtualService bound to a Gateway that does not exist.
import type { AnalysisContext } from './context.js';
import { resolveGatewayRef } from '../../api/hosts.js';
import type { AnalysisMessage } from './types.js';
import { gatewayBindingsOf } from './virtual-service-routes.js';

/**
 * Reports each `gateways` entry (VirtualService-level or per match) naming no Gateway. `mesh` is
 * the sidecars, not a resource; `ns/name`, `./name`, bare names and the legacy `name.ns` form
 * resolve as in Istio 1.6.
 */
export function analyzeVirtualServiceGateways(ctx: AnalysisContext): AnalysisMessage[] {
  const known = new Set(ctx.ofKind('networking.istio.io', 'Gateway').map((g) => `${ctx.namespaceOf(g)}/${ctx.nameOf(g)}`));
  const out: AnalysisMessage[] = [];
  for (const vs of ctx.ofKind('networking.istio.io', 'VirtualService')) {
    for (const b of gatewayBindingsOf(vs)) {
      const ref = resolveGatewayRef(b.gateway, ctx.namespaceOf(vs));
      if (!ref || known.has(`${ref.namespace}/${ref.name}`)) continue;
      out.push(ctx.message('ReferencedResourceNotFound', vs, b.path, `Referenced gateway not found: "${b.gateway}" (no Gateway ${ref.namespace}/${ref.name})`));
    }
  }
  return out;
}
