// ServiceEntry → one registry Service per host, and its endpoints (inline, selected workloads, or the host itself for DNS).
import type { Resource } from '../api/kind.js';
import { parseProtocol } from '../api/kinds/networking-types.js';
import type { ServiceEntrySpec } from '../api/kinds/service-entry.js';
import { UNIX_ADDRESS_PREFIX, type WorkloadEntrySpec } from '../api/kinds/workload-entry.js';
import type { Endpoint, Service, ServicePort } from './types.js';
import { entryHasSidecar } from './workload-entries.js';
import { endpointOrder, selectorMatches, type WorkloadInstance } from './workload-instance.js';

/** A single-address CIDR (`/32`, `/128`) is the address itself, as Istio's convertServices treats it. */
function normaliseAddress(a: string): string {
  return a.endsWith('/32') || a.endsWith('/128') ? a.slice(0, a.lastIndexOf('/')) : a;
}

/**
 * The Services of a ServiceEntry, one per host (Istio's convertServices). Hosts are taken as
 * written, lower-cased: Istio 1.6 does not expand a short name in a ServiceEntry (unlike in a
 * VirtualService or DestinationRule), so `foo` stays `foo`. Resolution defaults to NONE (the
 * enum's zero value) and location to MESH_EXTERNAL.
 */
export function servicesFromServiceEntry(r: Resource): Service[] {
  const spec = (r.spec ?? {}) as ServiceEntrySpec;
  const ports: ServicePort[] = (spec.ports ?? []).map((p) => Object.freeze({ name: p.name ?? '', port: p.number ?? 0, protocol: parseProtocol(p.protocol ?? '') ?? 'TCP' }));
  const hosts = [...new Set((spec.hosts ?? []).map((h) => h.toLowerCase()))];
  return hosts.map((hostname) => ({
    hostname,
    namespace: r.metadata.namespace ?? 'default',
    origin: 'serviceentry' as const,
    sourceName: r.metadata.name ?? '',
    addresses: (spec.addresses ?? []).map(normaliseAddress),
    ports,
    resolution: spec.resolution ?? 'NONE',
    location: spec.location ?? 'MESH_EXTERNAL',
    exportTo: [...(spec.exportTo ?? [])],
    labels: { ...(r.metadata.labels ?? {}) },
    subjectAltNames: [...(spec.subjectAltNames ?? [])],
    ...(r.metadata.creationTimestamp ? { creationTimestamp: r.metadata.creationTimestamp } : {}),
  }));
}

/** The workloadSelector labels of a ServiceEntry, when it selects workloads instead of listing endpoints. */
export function serviceEntrySelector(r: Resource): Record<string, string> | undefined {
  const labels = (r.spec as ServiceEntrySpec | undefined)?.workloadSelector?.labels;
  return labels ? { ...labels } : undefined;
}

function inlineEndpoint(service: Service, port: ServicePort, e: WorkloadEntrySpec): Endpoint {
  const address = e.address ?? '';
  // A Unix socket has no port (Istio sets 0).
  const unix = address.startsWith(UNIX_ADDRESS_PREFIX);
  return Object.freeze({
    hostname: service.hostname,
    servicePort: port.port,
    address,
    port: unix ? 0 : (e.ports?.[port.name] ?? port.port),
    labels: { ...(e.labels ?? {}) },
    namespace: service.namespace,
    workloadName: '',
    serviceAccount: e.serviceAccount ?? '',
    locality: e.locality ?? '',
    weight: e.weight && e.weight > 0 ? e.weight : 1,
    healthy: true,
    // Istio's GetTLSModeFromEndpointLabels: only the tlsMode label says an inline endpoint has a sidecar.
    sidecar: entryHasSidecar(e, false),
  });
}

function instanceEndpoint(service: Service, port: ServicePort, i: WorkloadInstance): Endpoint {
  return Object.freeze({
    hostname: service.hostname,
    servicePort: port.port,
    address: i.address,
    // A selected workload listens on its port of the same name (container port / WorkloadEntry port map), else the service port.
    port: i.ports[port.name] ?? port.port,
    labels: i.labels,
    namespace: i.namespace,
    workloadName: i.name,
    serviceAccount: i.serviceAccount,
    locality: i.locality,
    weight: i.weight,
    healthy: i.healthy,
    sidecar: i.sidecar,
  });
}

/**
 * Endpoints of one Service (host) of a ServiceEntry, per Istio's convertInstances:
 * - resolution NONE: none (traffic goes to the original destination);
 * - `workloadSelector`: every Pod and WorkloadEntry in the ServiceEntry's namespace whose labels
 *   include the selector, one endpoint per port;
 * - inline `endpoints`: one per endpoint and port, the port from the endpoint's `ports` map by
 *   port name, else the service port; weight defaults to 1;
 * - resolution DNS without endpoints: the host itself, resolved by the proxy (not for wildcards,
 *   which validation refuses with DNS).
 */
export function serviceEntryEndpoints(r: Resource, service: Service, instances: Iterable<WorkloadInstance>): Endpoint[] {
  const spec = (r.spec ?? {}) as ServiceEntrySpec;
  if (service.resolution === 'NONE') return [];
  const out: Endpoint[] = [];
  const selector = serviceEntrySelector(r);
  if (selector) {
    for (const i of instances) {
      if (i.namespace !== service.namespace || !selectorMatches(selector, i.labels)) continue;
      for (const p of service.ports) out.push(instanceEndpoint(service, p, i));
    }
  } else if ((spec.endpoints ?? []).length > 0) {
    for (const e of spec.endpoints ?? []) for (const p of service.ports) out.push(inlineEndpoint(service, p, e));
  } else if (service.resolution === 'DNS' && !service.hostname.startsWith('*')) {
    for (const p of service.ports) {
      out.push(
        Object.freeze({
          hostname: service.hostname,
          servicePort: p.port,
          address: service.hostname,
          port: p.port,
          labels: {},
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
  }
  return out.sort(endpointOrder);
}
