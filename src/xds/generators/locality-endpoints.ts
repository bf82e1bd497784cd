// Registry endpoints → Envoy LocalityLbEndpoints, grouped by locality, with the tlsMode metadata auto-mTLS matches on.
import type { Endpoint } from '../../registry/types.js';
import { address, struct, uint32, type Msg } from './envoy-values.js';

/** Metadata key Envoy reads to pick a cluster's transport_socket_match. */
export const TRANSPORT_SOCKET_MATCH_KEY = 'envoy.transport_socket_match';
/** `tlsMode` value of endpoints whose workload runs a sidecar (Istio's `security.istio.io/tlsMode: istio`). */
export const TLS_MODE_ISTIO = 'istio';

/**
 * Largest weight one endpoint gets. Envoy and gRPC refuse a locality whose endpoint weights (and an
 * assignment whose locality weights) add up past uint32; capping each endpoint keeps any realistic
 * group (up to ~4000 endpoints) under that, whatever weights a ServiceEntry declares.
 */
export const MAX_ENDPOINT_WEIGHT = 1_000_000;

/** An endpoint's load-balancing weight: at least 1, at most MAX_ENDPOINT_WEIGHT. */
export function endpointWeight(ep: Endpoint): number {
  return Math.min(MAX_ENDPOINT_WEIGHT, Math.max(1, Math.floor(ep.weight)));
}

/**
 * The canonical `region/zone/subzone` of a label: trailing and repeated slashes do not make a
 * different locality (`us-east/a/` is `us-east/a`), so they never yield two groups Envoy or gRPC
 * would see as duplicates.
 */
export function localityKey(label: string): string {
  const [region = '', zone = '', subZone = ''] = label.split('/');
  return [region, zone, subZone].join('/').replace(/\/+$/, '');
}

/** `envoy.config.core.v3.Locality` from `region/zone/subzone` ('' → no locality). */
export function locality(label: string): Msg | undefined {
  if (label === '') return undefined;
  const [region = '', zone = '', subZone = ''] = label.split('/');
  const out: Msg = {};
  if (region !== '') out.region = region;
  if (zone !== '') out.zone = zone;
  if (subZone !== '') out.subZone = subZone;
  return out;
}

/** One LbEndpoint: address, health, weight and, for sidecar workloads, `tlsMode: istio`. */
export function lbEndpoint(ep: Endpoint): Msg {
  const out: Msg = {
    endpoint: { address: address(ep.address, ep.port) },
    healthStatus: ep.healthy ? 'HEALTHY' : 'UNHEALTHY',
    loadBalancingWeight: uint32(endpointWeight(ep)),
  };
  if (ep.sidecar) out.metadata = { filterMetadata: { [TRANSPORT_SOCKET_MATCH_KEY]: struct({ tlsMode: TLS_MODE_ISTIO }) } };
  return out;
}

/**
 * Groups endpoints by locality, in a stable order (localities by label, endpoints by address and
 * port), each group weighted by the sum of its endpoints' weights as Istio does.
 */
export function localityLbEndpoints(endpoints: readonly Endpoint[]): Msg[] {
  const groups = new Map<string, Endpoint[]>();
  for (const ep of endpoints) {
    const key = localityKey(ep.locality);
    const list = groups.get(key);
    if (list) list.push(ep);
    else groups.set(key, [ep]);
  }
  return [...groups.keys()].sort().map((label) => {
    const eps = [...groups.get(label)!].sort((a, b) => (a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1));
    const out: Msg = {
      lbEndpoints: eps.map(lbEndpoint),
      loadBalancingWeight: uint32(eps.reduce((sum, e) => sum + endpointWeight(e), 0)),
    };
    const loc = locality(label);
    if (loc) out.locality = loc;
    return out;
  });
}
