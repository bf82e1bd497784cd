// Opaque TCP through a filter chain's tcp_proxy: weighted cluster, host from the balancer, connect with a timeout, bytes both ways with half-close, idle timeout.
import * as net from 'node:net';
import { endpointTls } from '../config/clusters.js';
import type { TcpProxyConfig } from '../config/listeners.js';
import { corkUntilBatchEnd } from '../io/flush-batch.js';
import { PLAINTEXT, dialUpstream, type DownstreamSecurity, type TlsTransport } from '../security/tls-transport.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import type { Host } from '../upstream/host.js';
import { pickWeighted } from '../upstream/weighted-pick.js';

/** What one finished TCP connection reports (istio_tcp_* metrics, access log). */
export interface TcpRecord {
  cluster: string;
  upstreamHost?: string;
  /** Downstream → upstream bytes. */
  bytesReceived: number;
  /** Upstream → downstream bytes. */
  bytesSent: number;
  startMs: number;
  durationMs: number;
  /** Envoy response flags: UH (no host), UF (connect failure), UO (overflow), NC (no cluster). */
  responseFlags: readonly string[];
  /** The downstream connection's TLS and verified peer. */
  security: DownstreamSecurity;
}

export interface TcpProxyContext {
  clusters: ClusterManager;
  /** Makes the TLS connections of clusters that originate TLS. */
  transport?: TlsTransport;
  random(): number;
  now(): number;
  /** A captured connection's original destination (the host of an ORIGINAL_DST cluster). */
  originalDestination?: { address: string; port: number };
  onOpen?(cluster: string, host: Host): void;
  onComplete(record: TcpRecord): void;
  /** The downstream connection's TLS (plaintext when absent). */
  security?: DownstreamSecurity;
}

/**
 * Proxies one accepted connection. `initial` holds bytes already read from it (protocol sniffing).
 * Envoy's semantics: BlackHoleCluster (no hosts) closes at once; a connect failure closes the
 * downstream (UF); each direction's FIN is passed on (half-close) and the connection ends when both
 * sides have; no traffic for `idleTimeoutMs` closes both.
 */
export function proxyTcp(downstream: net.Socket, config: TcpProxyConfig, ctx: TcpProxyContext, initial?: Buffer): void {
  const startMs = ctx.now();
  const clusterName = pickWeighted(config.clusters, config.totalWeight, ctx.random).name;
  const cluster = ctx.clusters.get(clusterName);
  const flags: string[] = [];
  let bytesReceived = initial?.length ?? 0;
  let bytesSent = 0;
  let reported = false;
  const host: Host | undefined = cluster?.pick(cluster.config.type === 'ORIGINAL_DST' && ctx.originalDestination ? { originalDestination: ctx.originalDestination } : {});
  const report = () => {
    if (reported) return;
    reported = true;
    ctx.onComplete({ cluster: clusterName, ...(host ? { upstreamHost: host.key } : {}), bytesReceived, bytesSent, startMs, durationMs: ctx.now() - startMs, responseFlags: flags, security: ctx.security ?? PLAINTEXT });
  };
  const refuse = (flag: string) => {
    flags.push(flag);
    downstream.destroy();
    report();
  };
  downstream.on('error', () => undefined);
  if (!cluster) return refuse('NC');
  if (!host) return refuse('UH');
  if (!cluster.breaker.tryAcquire('connection')) {
    cluster.stats.upstream_rq_pending_overflow++;
    return refuse('UO');
  }
  const chosen = host;
  cluster.stats.upstream_cx_total++;
  chosen.activeRequests++;
  downstream.pause();
  // Half-close: each side's FIN is passed on, and the other direction keeps flowing.
  downstream.allowHalfOpen = true;
  const { socket: upstream, ready } = dialUpstream(chosen, endpointTls(cluster.config, chosen.metadata), ctx.transport, { allowHalfOpen: true, ...(cluster.config.sourceAddress !== undefined ? { localAddress: cluster.config.sourceAddress } : {}) });
  let connected = false;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    chosen.activeRequests--;
    cluster.breaker.release('connection');
  };
  const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), cluster.config.connectTimeoutMs);
  let idle: NodeJS.Timeout | undefined;
  const touch = () => {
    if (config.idleTimeoutMs <= 0) return;
    if (idle) idle.refresh();
    else {
      idle = setTimeout(() => {
        downstream.destroy();
        upstream.destroy();
      }, config.idleTimeoutMs);
      idle.unref();
    }
  };
  upstream.once(ready, () => {
    connected = true;
    clearTimeout(connectTimer);
    cluster.outlier?.report(chosen, { status: 200 });
    ctx.onOpen?.(clusterName, chosen);
    if (initial && initial.length > 0) upstream.write(initial);
    touch();
    downstream.resume();
  });
  downstream.on('data', (chunk: Buffer) => {
    bytesReceived += chunk.length;
    touch();
    corkUntilBatchEnd(upstream);
    if (!upstream.write(chunk)) {
      downstream.pause();
      upstream.once('drain', () => downstream.resume());
    }
  });
  upstream.on('data', (chunk: Buffer) => {
    bytesSent += chunk.length;
    touch();
    corkUntilBatchEnd(downstream);
    if (!downstream.write(chunk)) {
      upstream.pause();
      downstream.once('drain', () => upstream.resume());
    }
  });
  // Half-close: a FIN from one side is passed to the other.
  downstream.on('end', () => upstream.end());
  upstream.on('end', () => downstream.end());
  upstream.on('error', () => undefined);
  upstream.once('close', () => {
    clearTimeout(connectTimer);
    if (idle) clearTimeout(idle);
    release();
    if (!connected) {
      cluster.stats.upstream_cx_connect_fail++;
      cluster.outlier?.report(chosen, { localOriginFailure: 'connect-failure' });
      flags.push('UF');
      downstream.destroy();
    } else if (!downstream.destroyed) downstream.end();
    if (downstream.destroyed || downstream.closed) report();
  });
  downstream.once('close', () => {
    if (idle) clearTimeout(idle);
    if (!upstream.destroyed) upstream.destroy();
    report();
  });
}
