// LDS: the listeners of a sidecar (outbound per service port, the HTTP proxy port, virtualOutbound, virtualInbound) or of a gateway (per server port).
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { TypeUrl, type Generator, type XdsResource } from '../types.js';
import type { Msg } from './envoy-values.js';
import { gatewayListeners } from './gateway-listeners.js';
import { Filters } from './envoy-values.js';
import { httpProxyListener } from './http-proxy.js';
import { boundInboundListeners, virtualInboundListener } from './inbound-listeners.js';
import { outboundListeners } from './outbound-listeners.js';
import { outboundViewKey, pushMemo } from './push-memo.js';
import { virtualOutboundListener } from './virtual-outbound-listener.js';

/**
 * A sidecar's per-service-port outbound listeners.
 * Optimization: shared by every sidecar with the same outbound view (push-memo.ts).
 */
export function sidecarOutboundListeners(proxy: Proxy, push: PushContext): Msg[] {
  return pushMemo(push, `lds-outbound|${outboundViewKey(proxy, push)}`, () => outboundListeners(proxy, push));
}

/** Every listener of `proxy`, names unique; a sidecar's in Istio's order: inbound, outbound, HTTP proxy, virtualOutbound, virtualInbound. */
export function buildListeners(proxy: Proxy, push: PushContext): Msg[] {
  if (proxy.type === 'router') return gatewayListeners(proxy, push);
  const view = outboundViewKey(proxy, push);
  const outbound = sidecarOutboundListeners(proxy, push);
  const virtualOutbound = pushMemo(push, `lds-virtual-outbound|${view}`, () => virtualOutboundListener(proxy, push));
  const httpProxy = httpProxyListener(push);
  const all = [...boundInboundListeners(proxy, push), ...outbound, ...(httpProxy ? [httpProxy] : []), virtualOutbound, virtualInboundListener(proxy, push)];
  const seen = new Set<string>();
  return all.filter((l) => {
    const name = l.name as string;
    if (seen.has(name)) return false;
    seen.add(name);
    return true;
  });
}

/** Names of the route configurations the listeners fetch over RDS, in first-use order. */
export function rdsRouteNames(listeners: readonly Msg[]): string[] {
  const out = new Set<string>();
  for (const l of listeners) {
    for (const fc of (l.filterChains as Msg[] | undefined) ?? []) {
      for (const f of (fc.filters as Msg[] | undefined) ?? []) {
        if (f.name !== Filters.httpConnectionManager.name) continue;
        const rds = (f.typedConfig as Msg | undefined)?.rds as Msg | undefined;
        if (typeof rds?.routeConfigName === 'string') out.add(rds.routeConfigName);
      }
    }
  }
  return [...out];
}

/** The LDS generator (listeners are not subscribed to by name). */
export const generateListeners: Generator = (proxy, push): XdsResource[] =>
  buildListeners(proxy, push).map((l) => ({ name: l.name as string, typeUrl: TypeUrl.Listener, resource: l }));
