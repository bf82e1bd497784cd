// A workload instance (Pod or WorkloadEntry) as the registry selects it for services: address, labels, named ports, health.
import type { Workload } from './types.js';

/** Label the sidecar injector sets on pods with a sidecar, and that ServiceEntry endpoints use to say so (Istio's TLSModeLabelName). */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

/** Everything the registry needs from a Pod or WorkloadEntry to turn it into endpoints. */
export interface WorkloadInstance extends Workload {
  /** Ready (Pods) or always true (WorkloadEntries: Istio has no health for them in 1.6). */
  healthy: boolean;
  /** Load-balancing weight, ≥ 1. */
  weight: number;
}

/** The public view (without health and weight). */
export function toWorkload(i: WorkloadInstance): Workload {
  return Object.freeze({
    kind: i.kind,
    name: i.name,
    namespace: i.namespace,
    address: i.address,
    labels: i.labels,
    serviceAccount: i.serviceAccount,
    locality: i.locality,
    sidecar: i.sidecar,
    ports: i.ports,
  });
}

/** Whether every selector label is present in `labels` with the same value (an empty selector matches everything). */
export function selectorMatches(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const k of Object.keys(selector)) if (labels[k] !== selector[k]) return false;
  return true;
}

/** Sorts endpoints so that equal content compares equal regardless of the order objects were listed in. */
export function endpointOrder(a: { address: string; port: number; workloadName: string }, b: { address: string; port: number; workloadName: string }): number {
  if (a.address !== b.address) return a.address < b.address ? -1 : 1;
  if (a.port !== b.port) return a.port - b.port;
  return a.workloadName < b.workloadName ? -1 : a.workloadName > b.workloadName ? 1 : 0;
}

export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}
