// The identities a client verifies for ISTIO_MUTUAL: SPIFFE IDs of a service port's endpoints plus ServiceEntry subjectAltNames.
import type { PushContext } from '../../model/push-context.js';
import type { Service } from '../../registry/types.js';

/** `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * Istio's GetIstioServiceAccounts for one port: the distinct SPIFFE IDs of the endpoints serving
 * it (endpoints without a service account contribute none) and the service's own subjectAltNames,
 * sorted.
 */
export function serviceAccounts(push: PushContext, service: Service, port: number): string[] {
  const out = new Set<string>(service.subjectAltNames);
  for (const ep of push.endpoints(service, port)) {
    if (ep.serviceAccount !== '') out.add(spiffeId(push.mesh.trustDomain, ep.namespace, ep.serviceAccount));
  }
  return [...out].sort();
}
