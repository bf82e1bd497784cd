// Connection pools by upstream host, rebuilt when the cluster's connection settings change.
import type { Http1Limits } from '../http1/index.js';
import type { ClusterRuntime } from '../upstream/cluster-manager.js';
import type { Host } from '../upstream/host.js';
import { Http1Pool } from './upstream-pool.js';

/**
 * One pool per Host object (a Host lives as long as its address stays in the cluster). A pool made
 * under an older cluster config is closed and replaced on first use under the new one, so timeouts
 * and limits follow config pushes.
 */
export class PoolRegistry {
  private readonly pools = new WeakMap<Host, { pool: Http1Pool; cluster: ClusterRuntime }>();
  private readonly all = new Set<Http1Pool>();

  constructor(private readonly limits: Http1Limits) {}

  pool(cluster: ClusterRuntime, host: Host): Http1Pool {
    const hit = this.pools.get(host);
    if (hit && hit.cluster.config === cluster.config && hit.cluster.breaker === cluster.breaker) return hit.pool;
    if (hit) {
      hit.pool.close();
      this.all.delete(hit.pool);
    }
    const c = cluster.config;
    const pool = new Http1Pool(host, { connectTimeoutMs: c.connectTimeoutMs, idleTimeoutMs: c.idleTimeoutMs, maxRequestsPerConnection: c.maxRequestsPerConnection, breaker: cluster.breaker, stats: cluster.stats, limits: this.limits });
    this.pools.set(host, { pool, cluster });
    this.all.add(pool);
    return pool;
  }

  /** Closes every idle connection (shutdown). */
  close(): void {
    for (const p of this.all) p.close();
    this.all.clear();
  }
}
