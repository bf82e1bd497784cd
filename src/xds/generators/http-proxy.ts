// The sidecar's HTTP proxy port (MeshConfig proxyHttpPort): a listener on 127.0.0.1 that apps use as HTTP_PROXY, and its route configuration over every outbound HTTP service port.
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { listenerName } from './cluster-names.js';
import { address, boolValue, type Msg } from './envoy-values.js';
import { filterChain } from './filter-chains.js';
import { httpConnectionManager } from './http-connection-manager.js';
import { catchAllVirtualHost, sidecarVirtualHosts } from './virtual-hosts.js';

/** The route configuration the HTTP proxy listener fetches over RDS (Istio's RDSHttpProxy). */
export const HTTP_PROXY_ROUTE = 'http_proxy';

/** Where the HTTP proxy listener binds: only the pod itself may use it. */
const LOCALHOST = '127.0.0.1';

/** HTTP's default port: a request for `http://reviews/` carries no port, so only port 80's hosts keep their port-less names. */
const DEFAULT_HTTP_PORT = 80;

/**
 * The listener `127.0.0.1_<proxyHttpPort>` (Istio's buildHTTPProxy), or undefined when the mesh sets
 * no proxy port. It binds its port (there is no redirect to hand it connections), takes absolute-form
 * requests, and routes them by the target's authority through RDS `http_proxy`. It depends on the
 * mesh config only.
 */
export function httpProxyListener(push: PushContext): Msg | undefined {
  const port = push.mesh.proxyHttpPort;
  if (!port) return undefined;
  const name = listenerName(LOCALHOST, port);
  return {
    name,
    address: address(LOCALHOST, port),
    filterChains: [filterChain({ filters: [httpConnectionManager({ kind: 'outbound', statPrefix: `outbound_${name}`, rds: HTTP_PROXY_ROUTE, allowAbsoluteUrl: true })] })],
    trafficDirection: 'OUTBOUND',
  };
}

/**
 * Route configuration `http_proxy`: the virtual hosts of every per-port sidecar route configuration
 * in `ports` (the numeric RDS names of the sidecar's outbound HTTP listeners), so a request through
 * the proxy port gets exactly the routes the same request to `host:port` would get, then the
 * catch-all host of the outbound traffic policy. Port 80 is always looked at, because a
 * VirtualService naming only non-registry hosts (`bookinfo.com`) is served there.
 *
 * A client names the port in the request target unless it is 80, so a virtual host of any other
 * port keeps only its `host:port` domains: `reviews` alone must not reach reviews' 9080 routes,
 * which would answer a request meant for port 80 (Istio's mergeAllVirtualHosts). Istio 1.6 builds
 * VirtualService routes here once with no port; Meltemi reuses the per-port ones, so a match block
 * with `port: 9080` still applies to requests for port 9080.
 */
export function httpProxyRouteConfiguration(proxy: Proxy, push: PushContext, ports: readonly number[]): Msg {
  const all = [...new Set([...ports, DEFAULT_HTTP_PORT])].sort((a, b) => a - b);
  const names = new Set<string>();
  const taken = new Set<string>();
  const virtualHosts: Msg[] = [];
  for (const port of all) {
    const suffix = `:${port}`;
    for (const vh of sidecarVirtualHosts(proxy, push, port)) {
      const name = vh.name as string;
      if (names.has(name)) continue;
      // Envoy refuses a domain named by two virtual hosts; the first port keeps it.
      const domains = (vh.domains as string[]).filter((d) => (port === DEFAULT_HTTP_PORT || d.endsWith(suffix)) && !taken.has(d));
      if (domains.length === 0) continue;
      names.add(name);
      for (const d of domains) taken.add(d);
      virtualHosts.push({ ...vh, domains });
    }
  }
  virtualHosts.sort((a, b) => ((a.name as string) < (b.name as string) ? -1 : (a.name as string) > (b.name as string) ? 1 : 0));
  return { name: HTTP_PROXY_ROUTE, virtualHosts: [...virtualHosts, catchAllVirtualHost(push.sidecarScope(proxy), push)], validateClusters: boolValue(false) };
}
