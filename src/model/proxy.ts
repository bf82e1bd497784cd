// A connected proxy as the control plane sees it: identity and metadata from its xDS node.

export type ProxyType = 'sidecar' | 'router';

/** Parsed from the xDS Node (id `TYPE~IP~POD.NS~NS.svc.cluster.local` and metadata), immutable. */
export interface Proxy {
  /** The full node id. */
  id: string;
  type: ProxyType;
  /** IP addresses of the workload (first is primary). */
  ipAddresses: string[];
  /** `POD.NS` as in the node id. */
  podName: string;
  namespace: string;
  /** Metadata LABELS (the workload's labels). */
  labels: Record<string, string>;
  /** Metadata WORKLOAD_NAME, else the pod name. */
  workloadName: string;
  /** Metadata SERVICE_ACCOUNT ('' when absent). */
  serviceAccount: string;
  /** Metadata GENERATOR: `grpc` for proxyless gRPC clients, else undefined (Envoy-style sidecar/router). */
  generator?: 'grpc';
  /** `region/zone/subzone` (node.locality, else the `istio-locality` label, else the topology labels); '' when unknown. */
  locality: string;
  /** Metadata CLUSTER_ID and MESH_ID. */
  clusterId: string;
  meshId: string;
  /** Everything else in the node metadata, as sent. */
  metadata: Readonly<Record<string, unknown>>;
}

/** Parses `sidecar~10.1.1.5~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local`; undefined when malformed. */
export function parseNodeId(id: string): { type: ProxyType; ip: string; podName: string; namespace: string; domain: string } | undefined {
  const parts = id.split('~');
  if (parts.length !== 4) return undefined;
  const [type, ip, podName, domain] = parts as [string, string, string, string];
  if (type !== 'sidecar' && type !== 'router') return undefined;
  const dot = podName.lastIndexOf('.');
  const namespace = dot >= 0 ? podName.slice(dot + 1) : domain.split('.')[0] ?? '';
  if (namespace === '') return undefined;
  return { type, ip, podName, namespace, domain };
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/**
 * Builds a Proxy from an xDS node (id + metadata, metadata already converted from Struct to plain
 * JSON). Returns an error string when the id is not in Istio's form.
 */
/** Envoy's node.locality as it arrives in a request. */
export interface NodeLocality {
  region?: string;
  zone?: string;
  sub_zone?: string;
}

/**
 * Where the workload runs, as Istio reads it: the node's locality, else the pod label
 * `istio-locality` (`region.zone.subzone`), else the Kubernetes topology labels.
 */
function proxyLocality(node: NodeLocality | undefined, labels: Record<string, string>): string {
  let region = node?.region ?? '';
  let zone = node?.zone ?? '';
  let subZone = node?.sub_zone ?? '';
  if (region === '' && labels['istio-locality']) [region = '', zone = '', subZone = ''] = labels['istio-locality'].split('.');
  if (region === '') {
    region = labels['topology.kubernetes.io/region'] ?? '';
    zone = labels['topology.kubernetes.io/zone'] ?? '';
    subZone = labels['topology.istio.io/subzone'] ?? '';
  }
  return [region, zone, subZone].join('/').replace(/\/+$/, '');
}

export function proxyFromNode(id: string, metadata: Record<string, unknown> = {}, locality?: NodeLocality): Proxy | string {
  const parsed = parseNodeId(id);
  if (!parsed) return `node id "${id}" is not of the form sidecar|router~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN`;
  const ns = typeof metadata.NAMESPACE === 'string' && metadata.NAMESPACE !== '' ? metadata.NAMESPACE : parsed.namespace;
  const ips = typeof metadata.INSTANCE_IPS === 'string' && metadata.INSTANCE_IPS !== '' ? metadata.INSTANCE_IPS.split(',') : [parsed.ip];
  const podShort = parsed.podName.endsWith(`.${ns}`) ? parsed.podName.slice(0, -(ns.length + 1)) : parsed.podName;
  const labels = stringMap(metadata.LABELS);
  return Object.freeze({
    id,
    type: parsed.type,
    ipAddresses: ips,
    podName: parsed.podName,
    namespace: ns,
    labels,
    workloadName: typeof metadata.WORKLOAD_NAME === 'string' ? metadata.WORKLOAD_NAME : podShort,
    serviceAccount: typeof metadata.SERVICE_ACCOUNT === 'string' ? metadata.SERVICE_ACCOUNT : '',
    generator: metadata.GENERATOR === 'grpc' ? 'grpc' : undefined,
    locality: proxyLocality(locality, labels),
    clusterId: typeof metadata.CLUSTER_ID === 'string' ? metadata.CLUSTER_ID : 'Kubernetes',
    meshId: typeof metadata.MESH_ID === 'string' ? metadata.MESH_ID : '',
    metadata: Object.freeze({ ...metadata }),
  });
}
