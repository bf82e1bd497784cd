// EDS: ClusterLoadAssignments of a proxy's EDS clusters, endpoints filtered by subset labels and grouped by locality.
import type { PushContext } from '../../model/push-context.js';
import type { Proxy } from '../../model/proxy.js';
import type { Service } from '../../registry/types.js';
import { TypeUrl, type Generator, type XdsResource } from '../types.js';
import { buildClusters } from './cds.js';
import { parseSubsetKey } from './cluster-names.js';
import type { Msg } from './envoy-values.js';
import { localityLbEndpoints } from './locality-endpoints.js';
import { applyLocalityLb, localityLbSettingFor } from './locality-lb.js';
import { frozen, objectId, pushMemo, pushTable } from './push-memo.js';
import { effectiveComponents, subsetLabels } from './traffic-policy.js';

/**
 * The load assignment of one cluster name. Names that are not outbound clusters of a service this
 * proxy can see, or that name a subset its DestinationRule lacks, get an empty assignment: Envoy
 * then stops waiting for them instead of hanging its initialisation (Istio does the same).
 */
export function clusterLoadAssignment(proxy: Proxy, push: PushContext, clusterName: string, visible: ReadonlyMap<string, Service>): Msg {
  const empty = { clusterName, endpoints: [] };
  const key = parseSubsetKey(clusterName);
  const service = key && key.direction === 'outbound' ? visible.get(key.hostname) : undefined;
  if (!key || !service) return empty;
  // Optimization: past the visibility check only the service definition seen (a hostname several
  // namespaces define), the DestinationRule (subset labels, locality settings) and the proxy's
  // locality depend on the proxy, so every proxy that sees the same service and rule from the same
  // locality shares one frozen assignment (push-memo.ts).
  const rule = push.destinationRule(proxy, key.hostname);
  const base = pushMemo(push, `eds|${service.namespace}|${objectId(rule)}|${clusterName}`, () => {
    let labels: Record<string, string> | undefined;
    if (key.subset !== '') {
      labels = subsetLabels(rule?.spec, key.subset);
      if (!labels) return empty;
    }
    return { clusterName, endpoints: localityLbEndpoints(push.endpoints(service, key.port, labels)) };
  });
  if (proxy.locality === '') return base;
  const comps = effectiveComponents(rule?.spec, key.port, key.subset);
  const setting = localityLbSettingFor(push.mesh, comps.loadBalancer?.localityLbSetting);
  // Failover needs outlier detection: without it Envoy never sees a host fail, so Istio leaves priorities alone.
  const failover = comps.outlierDetection !== undefined;
  if (!setting || (!failover && !(setting.distribute && setting.distribute.length > 0))) return base;
  return pushMemo(push, `eds-locality|${service.namespace}|${objectId(rule)}|${proxy.locality}|${clusterName}`, () => ({ clusterName, endpoints: applyLocalityLb(base.endpoints as Msg[], proxy.locality, setting, failover) }));
}

/** The services in the proxy's scope by hostname, once per push and scope. */
function visibleHosts(proxy: Proxy, push: PushContext): ReadonlyMap<string, Service> {
  const scope = push.sidecarScope(proxy);
  return pushMemo(push, `eds-visible|${objectId(scope)}`, () => new Map(scope.services.map((s) => [s.hostname, s])));
}

/** Names of the proxy's clusters that take endpoints over EDS. */
export function edsClusterNames(proxy: Proxy, push: PushContext): string[] {
  return buildClusters(proxy, push)
    .filter((c) => c.type === 'EDS')
    .map((c) => c.name as string);
}

/**
 * The EDS generator: the requested cluster names (or all EDS clusters of the proxy). Optimization:
 * an assignment depends on the proxy only through its scope (visibility), namespace
 * (DestinationRule lookup) and locality (locality load balancing), so each name is answered once
 * per such view and push, and the resource objects themselves are shared.
 */
export const generateEndpoints: Generator = (proxy, push, names): XdsResource[] => {
  const table = pushTable<XdsResource>(push, `eds-view|${objectId(push.sidecarScope(proxy))}|${proxy.namespace}|${proxy.locality}`);
  const wanted = names ?? edsClusterNames(proxy, push);
  const out: XdsResource[] = new Array(wanted.length);
  for (let i = 0; i < wanted.length; i++) {
    const name = wanted[i]!;
    let r = table.get(name);
    if (!r) {
      r = frozen({ name, typeUrl: TypeUrl.ClusterLoadAssignment, resource: clusterLoadAssignment(proxy, push, name, visibleHosts(proxy, push)) });
      table.set(name, r);
    }
    out[i] = r;
  }
  return out;
};
