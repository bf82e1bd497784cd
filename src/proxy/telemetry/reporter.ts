// Turns what the data path reports (finished HTTP exchanges, TCP connections) into Istio's standard metrics and the access log.
import type { Dispatch } from '../listener-manager.js';
import { isGrpc, type ExchangeRecord } from '../http/exchange.js';
import type { TcpRecord as TcpConnectionRecord } from '../network/tcp-proxy.js';
import type { DownstreamSecurity } from '../security/tls-transport.js';
import { compileAccessLogFormat, compileJsonAccessLogFormat, ISTIO_JSON_ACCESS_LOG_FORMAT, ISTIO_TEXT_ACCESS_LOG_FORMAT, type AccessLogFormatter, type AccessLogRecord } from './access-log.js';
import { IstioMetrics, type SecurityPolicy, type ServiceRef, type TcpRecord } from './istio-metrics.js';
import { PeerMetadataDecoder, type LocalPeerMetadata } from './peer-metadata.js';
import { parseFlags } from './response-flags.js';
import { joinHostPort } from '../../shared/host-port.js';

export interface ReporterOptions {
  /** This proxy's identity (source of outbound reports, destination of inbound ones). */
  local: LocalPeerMetadata;
  proxyType: 'sidecar' | 'router';
  /** Access log lines (one per request), or undefined for none (Istio 1.6's default). */
  accessLog?: { encoding: 'text' | 'json'; write(line: string): void };
}

const SERVICES_CAP = 10_000;

/** `outbound|9080|v1|reviews.bookinfo.svc.cluster.local` or an operation `host:port/path` → the service. */
function serviceHost(cluster: string | undefined, operation: string | undefined): string | undefined {
  if (cluster?.startsWith('outbound|')) {
    const host = cluster.split('|')[3];
    if (host) return host;
  }
  if (operation) {
    const colon = operation.indexOf(':');
    const host = colon > 0 ? operation.slice(0, colon) : undefined;
    if (host && host.includes('.')) return host;
  }
  return undefined;
}

/**
 * Reports with Istio's conventions: the client-side proxy (and gateways) report as `source`, the
 * server-side proxy as `destination`; the peer is known from the metadata exchange, `unknown`
 * otherwise. PeerInfo and ServiceRef objects are reused, so the metrics find their series by identity.
 */
export class TelemetryReporter {
  readonly metrics = new IstioMetrics();
  private readonly peers = new PeerMetadataDecoder();
  private readonly services = new Map<string, ServiceRef>();
  private readonly serviceByKey = new Map<string, ServiceRef | null>();
  private readonly log: AccessLogFormatter | undefined;

  constructor(private readonly options: ReporterOptions) {
    if (options.accessLog) this.log = options.accessLog.encoding === 'json' ? compileJsonAccessLogFormat(ISTIO_JSON_ACCESS_LOG_FORMAT, { typed: false }) : compileAccessLogFormat(ISTIO_TEXT_ACCESS_LOG_FORMAT);
  }

  http(r: ExchangeRecord, d: Dispatch): void {
    const inbound = d.listener.direction === 'INBOUND';
    const peer = this.peers.decode(r.peerMetadata);
    const self = this.options.local.info;
    const flags = r.responseFlags.length === 0 ? 0 : parseFlags(r.responseFlags.join(','));
    const s = r.security;
    // One object literal with every field (absent ones undefined): the same shape for every request, built without spreads.
    this.metrics.recordHttp({
      reporter: inbound ? 'destination' : 'source',
      source: inbound ? peer : self,
      destination: inbound ? self : peer,
      sourcePrincipal: sourcePrincipalOf(inbound, s),
      destinationPrincipal: destinationPrincipalOf(inbound, s),
      service: this.serviceOf(r.upstreamCluster, r.operation),
      protocol: r.request && isGrpc(r.request) ? 'grpc' : 'http',
      responseCode: r.responseCode,
      grpcStatus: r.grpcStatus,
      responseFlags: flags,
      security: securityOf(inbound, s),
      durationMs: r.durationMs,
      requestBytes: (r.request?.headBytes ?? 0) + r.bytesReceived,
      responseBytes: r.bytesSent,
    });
    if (this.log && this.options.accessLog) this.options.accessLog.write(this.log.format(accessRecord(r, flags, d)));
  }

  tcp(r: TcpConnectionRecord, d: Dispatch): void {
    const inbound = d.listener.direction === 'INBOUND';
    const self = this.options.local.info;
    const s = r.security;
    // No metadata exchange on TCP here: the peer is unknown.
    const rec: TcpRecord = {
      reporter: inbound ? 'destination' : 'source',
      source: inbound ? undefined : self,
      destination: inbound ? self : undefined,
      sourcePrincipal: sourcePrincipalOf(inbound, s),
      destinationPrincipal: destinationPrincipalOf(inbound, s),
      service: this.service(serviceHost(r.cluster, undefined)),
      responseFlags: r.responseFlags.length === 0 ? 0 : parseFlags(r.responseFlags.join(',')),
      security: securityOf(inbound, s),
    };
    this.metrics.recordTcpOpen(rec);
    this.metrics.recordTcpBytes(rec, r.bytesSent, r.bytesReceived);
    this.metrics.recordTcpClose(rec);
    // One line per connection, as Istio's access log on tcp_proxy writes (HTTP fields print "-").
    if (this.log && this.options.accessLog) this.options.accessLog.write(this.log.format(tcpAccessRecord(r, rec.responseFlags, d)));
  }

  /** The destination service of a request, cached by the cluster (or route operation) naming it: no string splitting per request. */
  private serviceOf(cluster: string | undefined, operation: string | undefined): ServiceRef | undefined {
    const key = cluster?.startsWith('outbound|') ? cluster : operation;
    if (key === undefined) return undefined;
    let s = this.serviceByKey.get(key);
    if (s === undefined) {
      if (this.serviceByKey.size >= SERVICES_CAP) this.serviceByKey.clear();
      s = this.service(serviceHost(cluster, operation)) ?? null;
      this.serviceByKey.set(key, s);
    }
    return s ?? undefined;
  }

  private service(host: string | undefined): ServiceRef | undefined {
    if (!host) return undefined;
    let s = this.services.get(host);
    if (!s) {
      if (this.services.size >= SERVICES_CAP) this.services.clear();
      const [name = host, namespace = 'unknown'] = host.split('.');
      s = Object.freeze({ host, name, namespace });
      this.services.set(host, s);
    }
    return s;
  }
}

/**
 * Istio 1.6's security labels: a destination report says `mutual_tls` with the verified client's
 * SPIFFE ID as source_principal and this proxy's own as destination_principal, or `none` for
 * plaintext (no principal: a plaintext caller never gets an identity); a source report says `unknown`.
 */
function securityOf(inbound: boolean, s: DownstreamSecurity): SecurityPolicy {
  if (!inbound) return 'unknown';
  return s.peer ? 'mutual_tls' : 'none';
}

function sourcePrincipalOf(inbound: boolean, s: DownstreamSecurity): string | undefined {
  return inbound ? s.peer?.spiffeId : undefined;
}

function destinationPrincipalOf(inbound: boolean, s: DownstreamSecurity): string | undefined {
  return inbound && s.peer ? s.localIdentity : undefined;
}

function tcpAccessRecord(r: TcpConnectionRecord, flags: number, d: Dispatch): AccessLogRecord {
  return {
    startTimeMs: r.startMs,
    requestHeader: () => undefined,
    responseHeader: () => undefined,
    responseTrailer: () => undefined,
    responseCode: 0,
    responseFlags: flags,
    bytesReceived: r.bytesReceived,
    bytesSent: r.bytesSent,
    durationMs: Math.round(r.durationMs),
    ...(r.upstreamHost ? { upstreamHost: r.upstreamHost } : {}),
    upstreamCluster: r.cluster,
    ...(d.serverName ? { requestedServerName: d.serverName } : {}),
    downstreamLocalAddress: joinHostPort(d.destination.address, d.destination.port),
  };
}

function accessRecord(r: ExchangeRecord, flags: number, d: Dispatch): AccessLogRecord {
  const req = r.request;
  const pseudo = (name: string): string | undefined => {
    if (!req) return undefined;
    if (name === ':method') return req.method;
    if (name === ':path') return req.forwardTarget;
    if (name === ':authority') return req.authority;
    if (name === ':scheme') return 'http';
    return undefined;
  };
  return {
    startTimeMs: r.startMs,
    requestHeader: (n) => (n.startsWith(':') ? pseudo(n) : req?.headers.get(n)),
    responseHeader: (n) => r.responseHeaders?.get(n),
    responseTrailer: () => undefined,
    protocol: !req ? undefined : r.protocol === 'http2' ? 'HTTP/2' : `HTTP/1.${req.versionMinor}`,
    responseCode: r.responseCode,
    responseFlags: flags,
    bytesReceived: r.bytesReceived,
    bytesSent: r.bytesSent,
    durationMs: Math.round(r.durationMs),
    ...(r.upstreamHost ? { upstreamHost: r.upstreamHost } : {}),
    ...(r.upstreamCluster ? { upstreamCluster: r.upstreamCluster } : {}),
    ...(r.routeName ? { routeName: r.routeName } : {}),
    ...(d.serverName ? { requestedServerName: d.serverName } : {}),
    downstreamLocalAddress: joinHostPort(d.destination.address, d.destination.port),
  };
}
