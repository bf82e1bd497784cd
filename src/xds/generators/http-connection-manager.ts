// The HTTP connection manager network filter of sidecar outbound, sidecar inbound and gateway filter chains.
import { adsConfigSource, boolValue, Filters, typedFilter, ZERO_DURATION, type Msg } from './envoy-values.js';

/** Server header Istio's proxies send. */
export const SERVER_NAME = 'istio-envoy';

/** The HTTP filters every connection manager runs: CORS and fault act only on routes that configure them, then the router. */
export function httpFilters(): Msg[] {
  return [typedFilter(Filters.cors), typedFilter(Filters.fault), typedFilter(Filters.router)];
}

export interface HcmOptions {
  statPrefix: string;
  /** Route configuration fetched over ADS by name (outbound and gateways)… */
  rds?: string;
  /** …or carried inline (inbound). */
  routeConfig?: Msg;
  kind: 'outbound' | 'inbound' | 'gateway';
  /** Inbound HTTP/2 and gRPC ports accept HTTP/2 explicitly. */
  http2?: boolean;
}

/**
 * An `envoy.filters.network.http_connection_manager` filter as Istio builds it: codec AUTO,
 * normalized paths, websocket upgrades, no stream idle timeout. Sidecars trust the local caller's
 * headers (`use_remote_address` false); gateways are the edge (true) and sanitize client
 * certificate headers; inbound sidecars append the peer certificate details for the app.
 */
export function httpConnectionManager(o: HcmOptions): Msg {
  const hcm: Msg = {
    statPrefix: o.statPrefix,
    codecType: 'AUTO',
    httpFilters: httpFilters(),
    normalizePath: boolValue(true),
    useRemoteAddress: boolValue(o.kind === 'gateway'),
    upgradeConfigs: [{ upgradeType: 'websocket' }],
    streamIdleTimeout: { ...ZERO_DURATION },
  };
  if (o.rds !== undefined) hcm.rds = { configSource: adsConfigSource(), routeConfigName: o.rds };
  else hcm.routeConfig = o.routeConfig ?? { name: o.statPrefix, virtualHosts: [] };
  if (o.kind === 'inbound') {
    hcm.forwardClientCertDetails = 'APPEND_FORWARD';
    hcm.setCurrentClientCertDetails = { subject: boolValue(true), uri: true, dns: true };
    hcm.serverName = SERVER_NAME;
    if (o.http2) hcm.http2ProtocolOptions = {};
  } else if (o.kind === 'gateway') {
    hcm.xffNumTrustedHops = 0;
    hcm.forwardClientCertDetails = 'SANITIZE_SET';
    hcm.setCurrentClientCertDetails = { subject: boolValue(true), cert: true, uri: true, dns: true };
    hcm.serverName = SERVER_NAME;
    hcm.httpProtocolOptions = {};
  }
  return typedFilter(Filters.httpConnectionManager, hcm);
}
