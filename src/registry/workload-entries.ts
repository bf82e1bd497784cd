// WorkloadEntry → workload instance (a VM or other non-Kubernetes workload that ServiceEntries and Services can select).
import type { Resource } from '../api/kind.js';
import type { WorkloadEntrySpec } from '../api/kinds/workload-entry.js';
import { TLS_MODE_LABEL, type WorkloadInstance } from './workload-instance.js';

/**
 * Whether traffic to a WorkloadEntry (or a ServiceEntry inline endpoint of the same shape) may use
 * mesh mTLS, as Istio decides it: the `security.istio.io/tlsMode` label when present (`istio` →
 * yes), else — for WorkloadEntries only — whether it names a service account (a workload with a
 * mesh identity runs a proxy).
 */
export function entryHasSidecar(spec: WorkloadEntrySpec, serviceAccountImpliesSidecar: boolean): boolean {
  const mode = spec.labels?.[TLS_MODE_LABEL];
  if (mode !== undefined) return mode === 'istio';
  return serviceAccountImpliesSidecar && (spec.serviceAccount ?? '') !== '';
}

/**
 * A WorkloadEntry as a workload instance. It is always healthy (Istio 1.6 has no health checking
 * for them) and weighs `weight` (default 1). Its `ports` map serves named target ports.
 *
 * Which services it backs: ServiceEntries with a matching `workloadSelector` in its namespace
 * (Istio 1.6), and — a later Istio behaviour (1.8+, kube controller WorkloadInstanceHandler) that
 * Maistra 2.0 lacks — Kubernetes Services in its namespace whose selector matches its labels. We
 * include the latter because a VM joining a Kubernetes Service is the reason WorkloadEntry exists;
 * Maistra 2.0 itself lists WorkloadEntry as unsupported (LIM-02).
 */
export function workloadEntryInstance(r: Resource): WorkloadInstance {
  const spec = (r.spec ?? {}) as WorkloadEntrySpec;
  return {
    kind: 'WorkloadEntry',
    name: r.metadata.name ?? '',
    namespace: r.metadata.namespace ?? 'default',
    address: spec.address ?? '',
    labels: { ...(spec.labels ?? {}) },
    serviceAccount: spec.serviceAccount ?? '',
    locality: spec.locality ?? '',
    sidecar: entryHasSidecar(spec, true),
    ports: { ...(spec.ports ?? {}) },
    healthy: true,
    weight: spec.weight && spec.weight > 0 ? spec.weight : 1,
  };
}
