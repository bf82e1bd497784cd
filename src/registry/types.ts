// The service registry's model: services, their ports, and the endpoints (workload instances) behind them.
import type { Protocol } from '../api/kinds/networking-types.js';

export type { Protocol };

export interface ServicePort {
  /** Port name ('' when the Service has one unnamed port). */
  name: string;
  /** The service port (what clients dial). */
  port: number;
  /** From `appProtocol`, else the name prefix, else opaque TCP — never sniffed (Maistra 2.0). */
  protocol: Protocol;
}

/** How a client finds the addresses behind a service (Istio's Resolution). */
export type Resolution = 'STATIC' | 'DNS' | 'NONE';

/** A service as the mesh sees it: a Kubernetes Service or one host of a ServiceEntry. */
export interface Service {
  /** Fully qualified, lower case: `reviews.bookinfo.svc.cluster.local`, or a ServiceEntry host (may be `*.example.com`). */
  hostname: string;
  namespace: string;
  /** Where it came from: `kubernetes` (Service) or `serviceentry`. */
  origin: 'kubernetes' | 'serviceentry';
  /** Name of the Service or ServiceEntry object. */
  sourceName: string;
  /** Virtual IPs (Service clusterIP, ServiceEntry addresses/CIDRs); empty when it has none. */
  addresses: string[];
  ports: ServicePort[];
  /** STATIC: endpoints from the registry (EDS); DNS: resolved by the proxy; NONE: original destination. */
  resolution: Resolution;
  location: 'MESH_INTERNAL' | 'MESH_EXTERNAL';
  /** Istio exportTo; empty means every namespace. */
  exportTo: string[];
  labels: Record<string, string>;
  /** ServiceEntry subjectAltNames (SANs to verify for ISTIO_MUTUAL / SIMPLE origination). */
  subjectAltNames: string[];
  /** RFC 3339; oldest wins where two sources of one namespace define one hostname. */
  creationTimestamp?: string;
}

/** One address:port serving one port of one service (Istio's IstioEndpoint). */
export interface Endpoint {
  /** `Service.hostname` this endpoint belongs to. */
  hostname: string;
  /** The service port number it serves (the key clusters use: `outbound|PORT|…`). */
  servicePort: number;
  /** IP address, DNS name (resolution DNS) or `unix://path`. */
  address: string;
  /** Port the workload listens on (Service targetPort, WorkloadEntry port map, or the service port). */
  port: number;
  labels: Record<string, string>;
  namespace: string;
  /** Pod / WorkloadEntry name; '' for a ServiceEntry inline endpoint without one. */
  workloadName: string;
  /** Kubernetes service account name ('' when unknown). */
  serviceAccount: string;
  /** `region/zone/subzone`, '' when unknown. */
  locality: string;
  /** Load-balancing weight, ≥ 1. */
  weight: number;
  healthy: boolean;
  /** Whether the workload runs a sidecar (auto-mTLS sends ISTIO_MUTUAL only to those). */
  sidecar: boolean;
}

/** A running workload (Pod or WorkloadEntry), whether or not a Service selects it. */
export interface Workload {
  kind: 'Pod' | 'WorkloadEntry';
  name: string;
  namespace: string;
  address: string;
  labels: Record<string, string>;
  serviceAccount: string;
  locality: string;
  sidecar: boolean;
  /** Container ports by name (Pods) or the WorkloadEntry port map. */
  ports: Record<string, number>;
}

/** An immutable view of the registry at one moment. */
export interface RegistrySnapshot {
  /** Increases whenever services or endpoints change. */
  readonly version: number;
  /**
   * Services, sorted by hostname then namespace. One hostname may appear once per namespace (a
   * ServiceEntry for the same host in two namespaces is two services, told apart by `exportTo`).
   */
  readonly services: readonly Service[];
  readonly workloads: readonly Workload[];
  /** Endpoints of one port of the service `hostname` defined in `namespace`; [] when there are none. */
  endpoints(hostname: string, servicePort: number, namespace: string): readonly Endpoint[];
}
