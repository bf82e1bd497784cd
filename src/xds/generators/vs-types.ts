// Shorthand types for the parts of a VirtualService spec the route builders read.
import type { VirtualServiceSpec } from '../../api/kinds/virtual-service.js';

export type HTTPRoute = NonNullable<VirtualServiceSpec['http']>[number];
export type HTTPMatchRequest = NonNullable<HTTPRoute['match']>[number];
export type HTTPRouteDestination = NonNullable<HTTPRoute['route']>[number];
export type HTTPRetry = NonNullable<HTTPRoute['retries']>;
export type HTTPFaultInjection = NonNullable<HTTPRoute['fault']>;
export type CorsPolicy = NonNullable<HTTPRoute['corsPolicy']>;
export type Headers = NonNullable<HTTPRoute['headers']>;
export type Destination = NonNullable<HTTPRouteDestination['destination']>;
export type TCPRoute = NonNullable<VirtualServiceSpec['tcp']>[number];
export type TLSRoute = NonNullable<VirtualServiceSpec['tls']>[number];
export type RouteDestination = NonNullable<TCPRoute['route']>[number];
export type L4MatchAttributes = NonNullable<TCPRoute['match']>[number];
export type TLSMatchAttributes = NonNullable<TLSRoute['match']>[number];

/** Istio's StringMatch: exactly one of exact, prefix, regex (an empty one means "present"). */
export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}
