// Connection pools by upstream host and codec, rebuilt when the cluster's connection settings or the host's TLS change.
import { endpointTls } from '../config/clusters.js';
import type { TlsContextConfig } from '../config/tls-context.js';
import type { Http1Limits } from '../http1/index.js';
import type { TlsTransport } from '../security/tls-transport.js';
import type { ClusterRuntime } from '../upstream/cluster-manager.js';
import type { Host } from '../upstream/host.js';
import { Http2Pool, type Http2PoolLimits } from './http2-pool.js';
import { Http1Pool } from './upstream-pool.js';
import type { UpstreamPool } from './upstream-stream.js';

interface Entry {
  pool: UpstreamPool;
  cluster: ClusterRuntime;
  /** The host's TLS when the pool was made (its endpoint metadata may change it). */
  tls: TlsContextConfig | undefined;
}

/**
 * One pool per Host object and codec (a Host lives as long as its address stays in the cluster).
 * The codec is the cluster's (HTTP/1.1 or HTTP/2), or the downstream's when the cluster says to use
 * it. A pool made under an older cluster config is closed and replaced on first use under the new
 * one, so timeouts and limits follow config pushes. The pools of a host that left its cluster are
 * closed by `retire`.
 */
export class PoolRegistry {
  private readonly pools = new WeakMap<Host, { http1?: Entry; http2?: Entry }>();
  /** Pools `close` shuts; a retired host's pools are not among them (they keep no idle connection). */
  private readonly all = new Set<UpstreamPool>();
  /** Hosts that left their cluster (a Host never comes back: a re-added address gets a new one). */
  private readonly retired = new WeakSet<Host>();

  constructor(
    private readonly limits: Http1Limits,
    private readonly http2: Http2PoolLimits,
    private readonly transport?: TlsTransport,
  ) {}

  pool(cluster: ClusterRuntime, host: Host, downstream: 'http1' | 'http2'): UpstreamPool {
    const c = cluster.config;
    const codec = c.upstreamProtocol === 'downstream' ? downstream : c.upstreamProtocol;
    let byCodec = this.pools.get(host);
    if (!byCodec) this.pools.set(host, (byCodec = {}));
    const hit = byCodec[codec];
    const tls = endpointTls(c, host.metadata);
    if (hit && hit.cluster.config === c && hit.cluster.breaker === cluster.breaker && hit.tls === tls) return hit.pool;
    if (hit) {
      hit.pool.close();
      this.all.delete(hit.pool);
    }
    // A retry routed on a cluster snapshot from before an update may still pick a retired host: it is
    // served, but each connection closes after its one request, so none lingers idle.
    const retired = this.retired.has(host);
    const maxRequestsPerConnection = retired ? 1 : c.maxRequestsPerConnection;
    const options = {
      connectTimeoutMs: c.connectTimeoutMs,
      idleTimeoutMs: c.idleTimeoutMs,
      maxRequestsPerConnection,
      breaker: cluster.breaker,
      stats: cluster.stats,
      ...(tls ? { tls } : {}),
      ...(this.transport ? { transport: this.transport } : {}),
      ...(c.sourceAddress !== undefined ? { sourceAddress: c.sourceAddress } : {}),
    };
    const pool = codec === 'http2' ? new Http2Pool(host, { ...options, limits: this.http2 }) : new Http1Pool(host, { ...options, limits: this.limits });
    byCodec[codec] = { pool, cluster, tls };
    if (!retired) this.all.add(pool);
    return pool;
  }

  /**
   * Drains the pools of hosts that left their cluster, as Envoy drains a removed host's pools:
   * idle connections close now, busy ones when their request ends, queued requests fail.
   */
  retire(hosts: Iterable<Host>): void {
    for (const host of hosts) {
      this.retired.add(host);
      const byCodec = this.pools.get(host);
      if (!byCodec) continue;
      this.pools.delete(host);
      for (const hit of [byCodec.http1, byCodec.http2]) {
        if (!hit) continue;
        hit.pool.close();
        this.all.delete(hit.pool);
      }
    }
  }

  /** Closes every idle connection (shutdown). */
  close(): void {
    for (const p of this.all) p.close();
    this.all.clear();
  }
}
