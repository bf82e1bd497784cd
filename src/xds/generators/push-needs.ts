// Which types a full push must regenerate for an Envoy-style proxy, given what changed (Istio's ConfigsUpdated).
import type { Resource } from '../../api/kind.js';
import type { Service } from '../../registry/types.js';
import type { PushRequest } from '../types.js';

/**
 * Config kinds that can change an Envoy-style proxy's clusters and endpoints only by changing
 * which services its scope imports (a Sidecar pulls in the destinations of the VirtualServices it
 * imports). CDS and EDS otherwise read the registry, DestinationRules, the Sidecar scope, the
 * mesh config and (for auto-mTLS) PeerAuthentication, never routes, gateway servers or
 * AuthorizationPolicies (cds.ts, eds.ts); an AuthorizationPolicy changes listeners only (its RBAC
 * filters), and never the scope; so does a RequestAuthentication (its JWT filters), or a change of
 * the keys it names, which the JWKS resolver reports as a RequestAuthentication change. A Secret
 * changes gateway credentials (SDS) only.
 */
const ROUTING_KINDS: ReadonlySet<string> = new Set(['VirtualService', 'Gateway', 'AuthorizationPolicy', 'RequestAuthentication', 'Secret']);

/**
 * Whether a push may change the clusters and endpoints (CDS, EDS) of a proxy served by
 * `envoyGenerators`. `before` is the proxy's scope services when its clusters were last
 * generated, `after` the scope in the push being made. True unless the request is a full push
 * that says every changed object was of a routing kind, carries no endpoint change, and the
 * scope imports the same service ports as before. The registry cannot have changed in such a
 * push: a registry change is a request without kinds, and merging it forgets the kinds
 * (debounce.ts mergePushRequests).
 */
export function clustersMayChange(request: PushRequest, before: readonly Service[] | undefined, after: readonly Service[]): boolean {
  if (!request.full || !request.configKinds || request.edsHosts) return true;
  for (const kind of request.configKinds) if (!ROUTING_KINDS.has(kind)) return true;
  return before === undefined || !sameServicePorts(before, after);
}

/**
 * Whether a push changes nothing but Kubernetes Secrets, which only gateway credentials (SDS)
 * read: then only the Secret type needs regenerating, and only for proxies subscribed to it.
 */
export function secretsOnly(request: PushRequest): boolean {
  if (!request.full || !request.configKinds || request.configKinds.size === 0 || request.edsHosts) return false;
  for (const kind of request.configKinds) if (kind !== 'Secret') return false;
  return true;
}

/** Same services (by hostname and namespace) with the same ports, in the same order. */
function sameServicePorts(a: readonly Service[], b: readonly Service[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (x.hostname !== y.hostname || x.namespace !== y.namespace || x.ports.length !== y.ports.length) return false;
    for (let j = 0; j < x.ports.length; j++) {
      const p = x.ports[j]!;
      const q = y.ports[j]!;
      if (p.port !== q.port || p.name !== q.name || p.protocol !== q.protocol) return false;
    }
  }
  return true;
}

/**
 * The full push a config change asks for. A VirtualService that had and has no `tcp` or `tls`
 * routes cannot change listeners: those are the only parts of it that listener generators read
 * (outbound-tcp-chains.ts, gateway-listeners.ts); its HTTP routes are in RDS. `resource` is the
 * new object (for a deletion, the object as it was); an update must come with its `previous`, or
 * nothing is assumed.
 */
export function configChangeRequest(change: 'added' | 'updated' | 'deleted', resource: Resource, previous: Resource | undefined): PushRequest {
  const kind = resource.kind;
  const previousKnown = change !== 'updated' || previous !== undefined;
  const httpOnly = kind === 'VirtualService' && previousKnown && !hasL4Routes(resource) && (previous === undefined || !hasL4Routes(previous));
  return { full: true, configKinds: new Set([kind]), ...(httpOnly ? { listenersUnaffected: true } : {}) };
}

function hasL4Routes(r: Resource): boolean {
  const spec = (r.spec ?? {}) as { tcp?: unknown; tls?: unknown };
  return (Array.isArray(spec.tcp) && spec.tcp.length > 0) || (Array.isArray(spec.tls) && spec.tls.length > 0);
}
