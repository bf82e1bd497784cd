// RDS: route configurations by name — `PORT` and `http_proxy` for sidecars, `http.PORT` / `https.PORT.NAME.GW.NS` for gateways.
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { TypeUrl, type Generator, type XdsResource } from '../types.js';
import type { Msg } from './envoy-values.js';
import { gatewayRouteConfiguration } from './gateway-virtual-hosts.js';
import { HTTP_PROXY_ROUTE, httpProxyRouteConfiguration } from './http-proxy.js';
import { buildListeners, rdsRouteNames, sidecarOutboundListeners } from './lds.js';
import { outboundViewKey, pushMemo } from './push-memo.js';
import { sidecarRouteConfiguration } from './virtual-hosts.js';

/** One route configuration; names the proxy has no listener for get an empty configuration, so Envoy does not wait for them. */
export function routeConfiguration(proxy: Proxy, push: PushContext, name: string): Msg {
  if (proxy.type === 'router') return gatewayRouteConfiguration(proxy, push, name);
  // Optimization: shared by every sidecar with the same outbound view (push-memo.ts).
  return pushMemo(push, `rds|${outboundViewKey(proxy, push)}|${name}`, () =>
    name === HTTP_PROXY_ROUTE && push.mesh.proxyHttpPort > 0 ? httpProxyRouteConfiguration(proxy, push, outboundHttpPorts(proxy, push)) : sidecarRouteConfiguration(proxy, push, name),
  );
}

/** The ports of a sidecar's outbound HTTP listeners: the numeric route configurations they fetch. */
function outboundHttpPorts(proxy: Proxy, push: PushContext): number[] {
  return rdsRouteNames(sidecarOutboundListeners(proxy, push))
    .filter((n) => /^[0-9]+$/.test(n))
    .map(Number);
}

/** The RDS generator: the requested names, or every name the proxy's listeners reference. */
export const generateRoutes: Generator = (proxy, push, names): XdsResource[] => {
  const wanted = names ?? rdsRouteNames(buildListeners(proxy, push));
  return wanted.map((name) => ({ name, typeUrl: TypeUrl.RouteConfiguration, resource: routeConfiguration(proxy, push, name) }));
};
