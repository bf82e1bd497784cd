// IST0101 / IST0112: VirtualService destinations whose host or port the mesh does not know.
import type { AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';
import { boundGateways, destinationsOf } from './virtual-service-routes.js';

/**
 * Reports, per VirtualService destination: a host matching no visible Service or ServiceEntry
 * (IST0101 "host"/"mirror host"), a port the host does not have (IST0101 "host:port"), and — for
 * VirtualServices bound to a gateway, where no listener port disambiguates — a missing port on a
 * multi-port service (IST0112). Wildcard destination hosts are not checked.
 */
export function analyzeDestinationHosts(ctx: AnalysisContext): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const vs of ctx.ofKind('networking.istio.io', 'VirtualService')) {
    const ns = ctx.namespaceOf(vs);
    const onGateway = boundGateways(vs).some((g) => g !== 'mesh');
    for (const d of destinationsOf(vs)) {
      if (d.host.startsWith('*')) continue;
      const { entries } = ctx.lookupHost(d.host, ns);
      if (entries.length === 0) {
        out.push(ctx.message('ReferencedResourceNotFound', vs, [...d.path, 'host'], `Referenced ${d.mirror ? 'mirror host' : 'host'} not found: "${d.host}"`));
        continue;
      }
      const ports = [...new Set(entries.flatMap((e) => e.ports))].sort((a, b) => a - b);
      if (d.port !== undefined) {
        if (ports.length > 0 && !ports.includes(d.port)) {
          out.push(ctx.message('ReferencedResourceNotFound', vs, [...d.path, 'port', 'number'], `Referenced host:port not found: "${d.host}:${d.port}" (${entries[0]!.declaredBy} has port${ports.length === 1 ? '' : 's'} ${ports.join(', ')})`));
        }
      } else if (onGateway && !d.mirror && ports.length > 1) {
        out.push(ctx.message('VirtualServiceDestinationPortSelectorRequired', vs, [...d.path, 'port'], `This VirtualService routes to a service "${d.host}" that exposes multiple ports [${ports.join(' ')}]. Specifying a port in the destination is required to disambiguate.`));
      }
    }
  }
  return out;
}
