// What generators produce and the ADS server sends: named resources of one xDS type.
import type { Proxy } from '../model/proxy.js';
import type { PushContext } from '../model/push-context.js';

export const TypeUrl = {
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type TypeUrlValue = (typeof TypeUrl)[keyof typeof TypeUrl];

/**
 * One xDS resource. `resource` is the message in protobufjs object form (camelCase field names;
 * `google.protobuf.Any` as `{ '@type': url, ...fields }`; Duration as `{ seconds, nanos }`;
 * wrappers as `{ value }`), checked and encoded with Envoy's protos before it is sent.
 */
export interface XdsResource {
  name: string;
  typeUrl: TypeUrlValue;
  resource: Record<string, unknown>;
}

/** What a push may change, so that an endpoint-only change sends only EDS. */
export interface PushRequest {
  /** True when config (not only endpoints) changed: every type is regenerated. */
  full: boolean;
  /** Hostnames whose endpoints changed (for an EDS-only push). */
  edsHosts?: ReadonlySet<string>;
  /**
   * On a full push, the kinds of the config objects that changed (Istio's ConfigsUpdated), so
   * that types they cannot affect are not regenerated. Absent: anything may have changed.
   */
  configKinds?: ReadonlySet<string>;
  /**
   * On a full push: every changed object was a VirtualService with no `tcp` or `tls` routes before
   * or after the change. Listeners read only those (HTTP routes are served by RDS), so an
   * Envoy-style proxy's listeners stay as they were unless its scope imports other services.
   */
  listenersUnaffected?: boolean;
}

/**
 * A pure function of proxy and push: no I/O, no clock, no globals. `names` narrows the result
 * for types the client subscribes to by name (RDS, EDS); undefined means "all for this proxy".
 */
export type Generator = (proxy: Proxy, push: PushContext, names?: readonly string[]) => XdsResource[];

/** The generators for one kind of client (Envoy-style proxies, proxyless gRPC). */
export type GeneratorSet = Partial<Record<TypeUrlValue, Generator>>;
