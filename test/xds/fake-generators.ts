// A tiny world for ADS server tests: a fake PushContext carrying clusters/endpoints/listeners, and generators over it.
import type { PushContext } from '../../src/model/push-context.js';
import { TypeUrl, type GeneratorSet, type XdsResource } from '../../src/xds/types.js';

export interface FakeWorld {
  version: string;
  /** Cluster name → endpoint "ip:port" list. */
  clusters: Record<string, string[]>;
  /** Listener name → route config name. */
  listeners: Record<string, string>;
  /** Route config name → cluster. */
  routes: Record<string, string>;
  /** Makes the CDS generator emit something that does not encode. */
  brokenCds?: boolean;
}

export function fakePush(w: FakeWorld): PushContext {
  return { version: w.version, world: w } as unknown as PushContext;
}

function world(push: PushContext): FakeWorld {
  return (push as unknown as { world: FakeWorld }).world;
}

const ADS = { ads: {}, resourceApiVersion: 'V3' };
const pick = (all: string[], names?: readonly string[]) => (names ? all.filter((n) => names.includes(n)) : all).sort();

export const fakeGenerators: GeneratorSet = {
  [TypeUrl.Cluster]: (_proxy, push, names) =>
    pick(Object.keys(world(push).clusters), names).map(
      (name): XdsResource => ({
        name,
        typeUrl: TypeUrl.Cluster,
        resource: world(push).brokenCds
          ? { name, type: 'EDS', lbPolicy: 'NOT_A_POLICY' }
          : { name, type: 'EDS', edsClusterConfig: { edsConfig: ADS, serviceName: name }, connectTimeout: { seconds: 1 } },
      }),
    ),
  [TypeUrl.ClusterLoadAssignment]: (_proxy, push, names) =>
    pick(Object.keys(world(push).clusters), names ?? []).map(
      (name): XdsResource => ({
        name,
        typeUrl: TypeUrl.ClusterLoadAssignment,
        resource: {
          clusterName: name,
          endpoints: [
            {
              locality: {},
              loadBalancingWeight: { value: 1 },
              lbEndpoints: world(push).clusters[name]!.map((ep) => {
                const [address, port] = ep.split(':');
                return { endpoint: { address: { socketAddress: { address, portValue: Number(port) } } }, loadBalancingWeight: { value: 1 } };
              }),
            },
          ],
        },
      }),
    ),
  [TypeUrl.Listener]: (_proxy, push, names) =>
    pick(Object.keys(world(push).listeners), names).map(
      (name): XdsResource => ({
        name,
        typeUrl: TypeUrl.Listener,
        resource: {
          name,
          apiListener: {
            apiListener: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              statPrefix: name,
              rds: { configSource: ADS, routeConfigName: world(push).listeners[name] },
              httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
            },
          },
        },
      }),
    ),
  [TypeUrl.RouteConfiguration]: (_proxy, push, names) =>
    pick(Object.keys(world(push).routes), names ?? []).map(
      (name): XdsResource => ({
        name,
        typeUrl: TypeUrl.RouteConfiguration,
        resource: {
          name,
          virtualHosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: world(push).routes[name] } }] }],
        },
      }),
    ),
};
