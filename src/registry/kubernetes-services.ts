// Kubernetes Services and Pods → registry Services, workload instances and endpoints, as Istio 1.6's Kubernetes registry builds them.
import type { Resource } from '../api/kind.js';
import { servicePortProtocol, type ServiceSpec } from '../api/kinds/kubernetes.js';
import type { PodSpec } from '../api/kinds/kubernetes-pod.js';
import type { Endpoint, Service, ServicePort } from './types.js';
import { TLS_MODE_LABEL, endpointOrder, selectorMatches, stringMap, type WorkloadInstance } from './workload-instance.js';

/** Service annotation restricting where the service is visible (comma-separated namespaces, `.`, `*`, `~`). */
export const EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';
/** Pod annotation the sidecar injector writes once it has injected the proxy. */
export const SIDECAR_STATUS_ANNOTATION = 'sidecar.istio.io/status';
/** Pod annotation (Maistra: opt-in) asking for injection. */
export const SIDECAR_INJECT_ANNOTATION = 'sidecar.istio.io/inject';
/** Pod label overriding the node locality, `region.zone.subzone` (Istio's LocalityLabel). */
export const LOCALITY_LABEL = 'istio-locality';
export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const SUBZONE_LABEL = 'topology.istio.io/subzone';


/** `name.namespace.svc.<clusterDomain>`, the FQDN Kubernetes DNS gives a Service. */
export function serviceHostname(name: string, namespace: string, clusterDomain: string): string {
  return `${name}.${namespace}.svc.${clusterDomain}`.toLowerCase();
}

/** Istio's exportTo annotation: a comma-separated list; absent or empty means the mesh default (everywhere). */
export function exportToAnnotation(annotations: Readonly<Record<string, string>> | undefined): string[] {
  const raw = annotations?.[EXPORT_TO_ANNOTATION];
  if (!raw) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * A Kubernetes Service as a registry Service (Istio's ConvertService):
 * - addresses: `clusterIPs`/`clusterIP` unless `None` or empty;
 * - resolution STATIC (endpoints over EDS); a headless Service (`clusterIP: None`) is NONE
 *   (original destination: clients already picked a pod IP); an ExternalName Service is DNS and
 *   MESH_EXTERNAL. A Service with an empty clusterIP (not yet allocated, as in a local manifest
 *   folder) stays STATIC without a VIP; Istio, which only ever sees allocated Services, would call
 *   that headless;
 * - ports with the protocol `servicePortProtocol` decides (appProtocol, name prefix, else TCP);
 * - exportTo from the `networking.istio.io/exportTo` annotation.
 */
export function serviceFromKubernetes(r: Resource, clusterDomain: string): Service {
  const spec = (r.spec ?? {}) as ServiceSpec;
  const namespace = r.metadata.namespace ?? 'default';
  const name = r.metadata.name ?? '';
  const ips = (spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : [spec.clusterIP ?? '']).filter((ip) => ip !== '' && ip !== 'None');
  const external = spec.type === 'ExternalName' && (spec.externalName ?? '') !== '';
  const headless = spec.clusterIP === 'None';
  const ports: ServicePort[] = (spec.ports ?? []).map((p) => Object.freeze({ name: p.name ?? '', port: p.port ?? 0, protocol: servicePortProtocol(p).protocol }));
  const service: Service = {
    hostname: serviceHostname(name, namespace, clusterDomain),
    namespace,
    origin: 'kubernetes',
    sourceName: name,
    addresses: external ? [] : ips,
    ports,
    resolution: external ? 'DNS' : headless ? 'NONE' : 'STATIC',
    location: external ? 'MESH_EXTERNAL' : 'MESH_INTERNAL',
    exportTo: exportToAnnotation(r.metadata.annotations),
    labels: { ...(r.metadata.labels ?? {}) },
    subjectAltNames: [],
    ...(r.metadata.creationTimestamp ? { creationTimestamp: r.metadata.creationTimestamp } : {}),
  };
  return service;
}

/** The label selector of a Service; undefined when it has none (such a Service gets no endpoints from pods). */
export function serviceSelector(r: Resource): Record<string, string> | undefined {
  const sel = (r.spec as ServiceSpec | undefined)?.selector;
  return sel && Object.keys(sel).length > 0 ? { ...sel } : undefined;
}

/** `region/zone/subzone` from the `istio-locality` label (dots as separators), else the topology labels; '' when none. */
export function podLocality(labels: Readonly<Record<string, string>>): string {
  const override = labels[LOCALITY_LABEL];
  if (override) return override.includes('/') ? override : override.replace(/\./g, '/');
  const region = labels[REGION_LABEL] ?? '';
  const zone = labels[ZONE_LABEL] ?? '';
  const subzone = labels[SUBZONE_LABEL] ?? '';
  return region === '' && zone === '' && subzone === '' ? '' : `${region}/${zone}/${subzone}`;
}

interface PodStatus {
  phase?: string;
  podIP?: string;
  conditions?: Array<{ type?: string; status?: string }>;
}

/**
 * Whether a pod runs a sidecar: what injection wrote, never what the pod asked for (an annotated pod
 * outside the member roll is not injected). The injector's `security.istio.io/tlsMode` label decides
 * when present (that is what Istio 1.6 reads), else its `sidecar.istio.io/status` annotation.
 * Auto-mTLS only sends ISTIO_MUTUAL to endpoints for which this is true.
 */
export function podHasSidecar(labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>): boolean {
  const mode = labels[TLS_MODE_LABEL];
  if (mode !== undefined) return mode === 'istio';
  return annotations[SIDECAR_STATUS_ANNOTATION] !== undefined;
}

/**
 * A Pod as a workload instance, or undefined when it cannot serve traffic: no `status.podIP` yet,
 * or finished (phase Succeeded/Failed), as the Kubernetes endpoints controller skips those.
 * Healthy = its Ready condition is True; with no conditions reported, phase Running or no phase
 * (a manifest-only pod) counts as ready; a terminating pod (deletionTimestamp) is not ready.
 */
export function podInstance(r: Resource): WorkloadInstance | undefined {
  const status = (r.status ?? {}) as PodStatus;
  const address = typeof status.podIP === 'string' ? status.podIP : '';
  if (address === '' || status.phase === 'Succeeded' || status.phase === 'Failed') return undefined;
  const spec = (r.spec ?? {}) as PodSpec;
  const labels = { ...(r.metadata.labels ?? {}) };
  const annotations = stringMap(r.metadata.annotations);
  const ready = (status.conditions ?? []).find((c) => c.type === 'Ready');
  const healthy = r.metadata.deletionTimestamp === undefined && (ready ? ready.status === 'True' : status.phase === undefined || status.phase === 'Running');
  const ports: Record<string, number> = {};
  for (const c of spec.containers ?? []) for (const p of c.ports ?? []) if (p.name && typeof p.containerPort === 'number' && !(p.name in ports)) ports[p.name] = p.containerPort;
  return {
    kind: 'Pod',
    name: r.metadata.name ?? '',
    namespace: r.metadata.namespace ?? 'default',
    address,
    labels,
    serviceAccount: spec.serviceAccountName || spec.serviceAccount || 'default',
    locality: podLocality(labels),
    sidecar: podHasSidecar(labels, annotations),
    ports,
    healthy,
    weight: 1,
  };
}

/**
 * The port a workload listens on for one Service port: a numeric targetPort as is; a named one
 * looked up in the workload's named ports (container ports of a Pod, the port map of a
 * WorkloadEntry) — undefined when the workload has no such port, and then it serves nothing on
 * that Service port (as the Kubernetes endpoints controller decides); absent → the service port.
 */
export function resolveTargetPort(targetPort: number | string | undefined, servicePort: number, named: Readonly<Record<string, number>>): number | undefined {
  if (targetPort === undefined || targetPort === 0 || targetPort === '') return servicePort;
  if (typeof targetPort === 'number') return targetPort;
  if (/^[0-9]+$/.test(targetPort)) return Number(targetPort);
  return named[targetPort];
}

/**
 * Endpoints of a Kubernetes Service: for every instance in its namespace whose labels satisfy its
 * selector, one endpoint per Service port (Pods, and WorkloadEntries as Istio 1.8+ lets a Service
 * select them). An ExternalName Service has one endpoint per port at the external name. With
 * `publishNotReadyAddresses`, unready pods count as healthy, as Kubernetes publishes them.
 */
export function kubernetesEndpoints(r: Resource, service: Service, instances: Iterable<WorkloadInstance>): Endpoint[] {
  const spec = (r.spec ?? {}) as ServiceSpec;
  if (service.resolution === 'DNS') {
    return service.ports.map((p) =>
      Object.freeze({
        hostname: service.hostname,
        servicePort: p.port,
        address: spec.externalName ?? '',
        port: p.port,
        labels: service.labels,
        namespace: service.namespace,
        workloadName: '',
        serviceAccount: '',
        locality: '',
        weight: 1,
        healthy: true,
        sidecar: false,
      }),
    );
  }
  const selector = serviceSelector(r);
  if (!selector) return [];
  const out: Endpoint[] = [];
  for (const i of instances) {
    if (i.namespace !== service.namespace || !selectorMatches(selector, i.labels)) continue;
    for (const sp of spec.ports ?? []) {
      const servicePort = sp.port ?? 0;
      const port = resolveTargetPort(sp.targetPort, servicePort, i.ports);
      if (port === undefined) continue;
      out.push(
        Object.freeze({
          hostname: service.hostname,
          servicePort,
          address: i.address,
          port,
          labels: i.labels,
          namespace: i.namespace,
          workloadName: i.name,
          serviceAccount: i.serviceAccount,
          locality: i.locality,
          weight: i.weight,
          healthy: i.healthy || spec.publishNotReadyAddresses === true,
          sidecar: i.sidecar,
        }),
      );
    }
  }
  return out.sort(endpointOrder);
}
