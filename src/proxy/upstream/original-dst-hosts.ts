// The hosts of an ORIGINAL_DST cluster: made on demand from each connection's original destination, forgotten once unused for the cluster's cleanup_interval.
import { Host } from './host.js';

export interface OriginalDstHostsOptions {
  now: () => number;
  /** cleanup_interval: a host without requests and unused for this long is forgotten. */
  cleanupIntervalMs: number;
  /** At most this many hosts at once; past it (after a sweep) a pick fails (UH) instead of growing without bound. */
  maxHosts: number;
  /** Called with the hosts a sweep forgets, so their connection pools are drained. */
  onRemoved: (hosts: readonly Host[]) => void;
}

/** Envoy's original_dst cluster keeps no fixed limit; this one keeps memory bounded when a workload dials many addresses. */
export const DEFAULT_MAX_ORIGINAL_DST_HOSTS = 10_000;

/**
 * Envoy's ORIGINAL_DST cluster: the host of a connection is the address it was sent to before iptables
 * redirected it, so hosts exist only while connections use them. The same address:port reuses one
 * Host (and so its connection pool) until a sweep finds it idle.
 */
export class OriginalDstHosts {
  private readonly hosts = new Map<string, { host: Host; usedAt: number }>();

  constructor(private readonly options: OriginalDstHostsOptions) {}

  /** The host for `to` (made when new); undefined when the cluster already holds maxHosts busy hosts. */
  host(to: { address: string; port: number }): Host | undefined {
    const key = `${to.address}:${to.port}`;
    const now = this.options.now();
    const known = this.hosts.get(key);
    if (known) {
      known.usedAt = now;
      return known.host;
    }
    if (this.hosts.size >= this.options.maxHosts) {
      this.sweep(0);
      if (this.hosts.size >= this.options.maxHosts) return undefined;
    }
    const host = new Host({ address: to.address, port: to.port });
    this.hosts.set(key, { host, usedAt: now });
    return host;
  }

  /** Forgets hosts with no request in flight that were last used at least `idleMs` ago (default: cleanup_interval). */
  sweep(idleMs = this.options.cleanupIntervalMs): void {
    const now = this.options.now();
    const removed: Host[] = [];
    for (const [key, e] of this.hosts) {
      if (e.host.activeRequests === 0 && now - e.usedAt >= idleMs) {
        this.hosts.delete(key);
        removed.push(e.host);
      }
    }
    if (removed.length > 0) this.options.onRemoved(removed);
  }

  /** Every host held now. */
  get all(): Host[] {
    return [...this.hosts.values()].map((e) => e.host);
  }
}
