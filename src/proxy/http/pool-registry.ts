// Connection pools by upstream host and codec, rebuilt when the cluster's connection settings change.
import type { Http1Limits } from '../http1/index.js';
import type { ClusterRuntime } from '../upstream/cluster-manager.js';
import type { Host } from '../upstream/host.js';
import { Http2Pool, type Http2PoolLimits } from './http2-pool.js';
import { Http1Pool } from './upstream-pool.js';
import type { UpstreamPool } from './upstream-stream.js';

interface Entry {
  pool: UpstreamPool;
  cluster: ClusterRuntime;
}

/**
 * One pool per Host object and codec (a Host lives as long as its address stays in the cluster).
 * The codec is the cluster's (HTTP/1.1 or HTTP/2), or the downstream's when the cluster says to use
 * it. A pool made under an older cluster config is closed and replaced on first use under the new
 * one, so timeouts and limits follow config pushes.
 */
export class PoolRegistry {
  private readonly pools = new WeakMap<Host, { http1?: Entry; http2?: Entry }>();
  private readonly all = new Set<UpstreamPool>();

  constructor(
    private readonly limits: Http1Limits,
    private readonly http2: Http2PoolLimits,
  ) {}

  pool(cluster: ClusterRuntime, host: Host, downstream: 'http1' | 'http2'): UpstreamPool {
    const c = cluster.config;
    const codec = c.upstreamProtocol === 'downstream' ? downstream : c.upstreamProtocol;
    let byCodec = this.pools.get(host);
    if (!byCodec) this.pools.set(host, (byCodec = {}));
    const hit = byCodec[codec];
    if (hit && hit.cluster.config === c && hit.cluster.breaker === cluster.breaker) return hit.pool;
    if (hit) {
      hit.pool.close();
      this.all.delete(hit.pool);
    }
    const options = { connectTimeoutMs: c.connectTimeoutMs, idleTimeoutMs: c.idleTimeoutMs, maxRequestsPerConnection: c.maxRequestsPerConnection, breaker: cluster.breaker, stats: cluster.stats };
    const pool = codec === 'http2' ? new Http2Pool(host, { ...options, limits: this.http2 }) : new Http1Pool(host, { ...options, limits: this.limits });
    byCodec[codec] = { pool, cluster };
    this.all.add(pool);
    return pool;
  }

  /** Closes every idle connection (shutdown). */
  close(): void {
    for (const p of this.all) p.close();
    this.all.clear();
  }
}
