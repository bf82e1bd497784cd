// The ports a sidecar accepts inbound traffic on: its workload's service endpoints, or its Sidecar's ingress listeners.
import type { PushContext } from '../../model/push-context.js';
import type { Proxy } from '../../model/proxy.js';
import type { Service } from '../../registry/types.js';
import { UNIX_PREFIX } from './envoy-values.js';
import type { CaptureMode } from './egress-listeners.js';
import { protocolOf, type Protocol } from './port-protocol.js';

/** Where the application listens: Istio 1.6 always reaches it over loopback. */
export const LOCALHOST = '127.0.0.1';

export interface InboundPort {
  /** Port inbound connections are addressed to: names the cluster `inbound|PORT||` and keys the filter chain. */
  port: number;
  protocol: Protocol;
  /** The service (and its port number) this port serves, when the registry knows one. */
  service?: Service;
  servicePort?: number;
  /** Application address: 127.0.0.1 or a `unix://` socket. */
  endpointAddress: string;
  endpointPort: number;
  /** Sidecar ingress listener settings (custom ingress only). */
  bind?: string;
  captureMode?: CaptureMode;
}

/** Parses a Sidecar ingress `defaultEndpoint` (`127.0.0.1:8080`, `:8080`, `unix:///path`); Istio dials loopback for IP forms. */
function parseDefaultEndpoint(s: string | undefined): { address: string; port: number } | undefined {
  if (!s) return undefined;
  if (s.startsWith(UNIX_PREFIX)) return { address: s, port: 0 };
  const colon = s.lastIndexOf(':');
  const port = Number(s.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port <= 0) return undefined;
  return { address: LOCALHOST, port };
}

/**
 * The inbound ports of a sidecar, sorted by port. With a Sidecar that declares `ingress`, exactly
 * those listeners; otherwise one per distinct port of the endpoints the registry places on the
 * proxy's IPs (the first service by hostname wins a port two services share), forwarding to
 * 127.0.0.1 on the same port.
 */
export function inboundPorts(proxy: Proxy, push: PushContext): InboundPort[] {
  if (proxy.type !== 'sidecar') return [];
  const ingress = push.sidecarScope(proxy).config?.spec.ingress ?? [];
  const byPort = new Map<number, InboundPort>();
  if (ingress.length > 0) {
    for (const l of ingress) {
      const port = l.port?.number;
      const target = parseDefaultEndpoint(l.defaultEndpoint);
      if (port === undefined || port <= 0 || !target || byPort.has(port)) continue;
      // The service instance on this port, if any, still supplies the DestinationRule connection pool (Istio's findOrCreateServiceInstance).
      const ep = push.inboundEndpoints(proxy).find((e) => e.port === port);
      byPort.set(port, {
        port,
        protocol: protocolOf(l.port?.protocol),
        service: ep ? push.service(ep.hostname, ep.namespace) : undefined,
        servicePort: ep?.servicePort,
        endpointAddress: target.address,
        endpointPort: target.port,
        bind: l.bind ?? '',
        captureMode: l.captureMode ?? 'DEFAULT',
      });
    }
  } else {
    const endpoints = [...push.inboundEndpoints(proxy)].sort((a, b) => a.port - b.port || (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.servicePort - b.servicePort));
    for (const ep of endpoints) {
      if (byPort.has(ep.port) || ep.address.startsWith(UNIX_PREFIX)) continue;
      const service = push.service(ep.hostname, ep.namespace);
      const sp = service?.ports.find((p) => p.port === ep.servicePort);
      const protocol = sp?.protocol ?? 'TCP';
      if (protocol === 'UDP') continue;
      byPort.set(ep.port, { port: ep.port, protocol, service, servicePort: ep.servicePort, endpointAddress: LOCALHOST, endpointPort: ep.port });
    }
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}
