// The proxy's xDS identity in Istio's form: node id `TYPE~IP~POD.NS~NS.svc.DOMAIN` and the metadata istiod reads.
import { isIP } from 'node:net';
import { MeshError } from '../shared/errors.js';

export interface NodeIdentity {
  type: 'sidecar' | 'router';
  /** The workload's IP addresses; the first is the primary (INSTANCE_IP). */
  ips: readonly string[];
  /** Pod name, without the namespace. */
  podName: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  workloadName?: string;
  serviceAccount?: string;
  meshId?: string;
  clusterId?: string;
  /** Cluster DNS domain (`cluster.local`). */
  domain?: string;
  /** `region/zone/subzone` where the workload runs (Envoy's node.locality; locality load balancing reads it). */
  locality?: string;
}

export interface XdsNodeInfo {
  id: string;
  /** Envoy's --service-cluster: Istio uses `APP.NAMESPACE`. */
  cluster: string;
  metadata: Record<string, unknown>;
  locality?: { region?: string; zone?: string; sub_zone?: string };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Builds the node the proxy announces. Refuses what istiod would refuse (a malformed id makes the
 * ADS stream fail): the pod name and namespace are DNS labels and every IP parses.
 */
export function xdsNode(n: NodeIdentity): XdsNodeInfo {
  if (!DNS_LABEL.test(n.namespace)) throw new MeshError('MESH_USAGE', `namespace "${n.namespace}" is not a DNS label`);
  if (!/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(n.podName)) throw new MeshError('MESH_USAGE', `pod name "${n.podName}" is not a DNS subdomain`);
  if (n.ips.length === 0) throw new MeshError('MESH_USAGE', 'the proxy needs its workload IP');
  for (const ip of n.ips) if (isIP(ip) === 0) throw new MeshError('MESH_USAGE', `"${ip}" is not an IP address`);
  const domain = n.domain ?? 'cluster.local';
  const app = n.labels.app ?? n.workloadName ?? n.podName;
  const metadata: Record<string, unknown> = {
    NAMESPACE: n.namespace,
    NAME: n.podName,
    LABELS: { ...n.labels },
    INSTANCE_IPS: n.ips.join(','),
    WORKLOAD_NAME: n.workloadName ?? n.podName,
    CLUSTER_ID: n.clusterId ?? 'Kubernetes',
    INTERCEPTION_MODE: 'REDIRECT',
  };
  if (n.serviceAccount) metadata.SERVICE_ACCOUNT = n.serviceAccount;
  if (n.meshId) metadata.MESH_ID = n.meshId;
  const node: XdsNodeInfo = { id: `${n.type}~${n.ips[0]}~${n.podName}.${n.namespace}~${n.namespace}.svc.${domain}`, cluster: `${app}.${n.namespace}`, metadata };
  if (n.locality) {
    const [region = '', zone = '', subZone = ''] = n.locality.split('/');
    node.locality = { ...(region ? { region } : {}), ...(zone ? { zone } : {}), ...(subZone ? { sub_zone: subZone } : {}) };
  }
  return node;
}
