// Live clusters: hosts reconciled across config updates (so health, ejections and load survive EDS pushes), their balancer, breaker, outlier detector and DNS refresh.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ClusterConfig, EndpointInit } from '../config/clusters.js';
import type { ProxyConfig } from '../config/proxy-config.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { Host } from './host.js';
import { createLoadBalancer, type LoadBalancer, type PickContext } from './load-balancer.js';
import { OutlierDetector, outlierConfigFromXds } from './outlier-detector.js';
import { DEFAULT_MAX_ORIGINAL_DST_HOSTS, OriginalDstHosts } from './original-dst-hosts.js';

/** Counters Envoy shows per cluster (`cluster.NAME.upstream_rq_total` …). */
export interface ClusterStats {
  upstream_rq_total: number;
  upstream_rq_active: number;
  upstream_rq_pending_overflow: number;
  upstream_rq_retry: number;
  upstream_rq_retry_overflow: number;
  upstream_rq_timeout: number;
  upstream_cx_total: number;
  upstream_cx_connect_fail: number;
  upstream_rq_2xx: number;
  upstream_rq_3xx: number;
  upstream_rq_4xx: number;
  upstream_rq_5xx: number;
}

/** One cluster as the data path uses it. Replaced whole when its config changes; hosts carry over. */
export interface ClusterRuntime {
  readonly config: ClusterConfig;
  readonly hosts: readonly Host[];
  /** Undefined for ORIGINAL_DST clusters (the connection's original destination is the host). */
  readonly lb: LoadBalancer | undefined;
  readonly breaker: CircuitBreaker;
  readonly outlier: OutlierDetector | undefined;
  readonly stats: ClusterStats;
  pick(ctx?: PickContext): Host | undefined;
}

export interface ClusterManagerOptions {
  now?: () => number;
  random?: () => number;
  /** Resolves a DNS cluster's hostname to addresses (tests pass a fake). */
  resolve?: (hostname: string) => Promise<string[]>;
  logger?: { warn(msg: string, fields?: object): void };
  /**
   * Called with the hosts whose address:port left their cluster (endpoint removed, cluster removed),
   * once per Host, after the update that removed them is in place. The data plane drains their
   * connection pools. A Host never comes back: an address added again gets a new one.
   */
  onHostsRemoved?: (hosts: readonly Host[]) => void;
}

function newStats(): ClusterStats {
  return {
    upstream_rq_total: 0,
    upstream_rq_active: 0,
    upstream_rq_pending_overflow: 0,
    upstream_rq_retry: 0,
    upstream_rq_retry_overflow: 0,
    upstream_rq_timeout: 0,
    upstream_cx_total: 0,
    upstream_cx_connect_fail: 0,
    upstream_rq_2xx: 0,
    upstream_rq_3xx: 0,
    upstream_rq_4xx: 0,
    upstream_rq_5xx: 0,
  };
}

const NO_HOSTS: readonly Host[] = [];

const sameJson = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

async function systemResolve(hostname: string): Promise<string[]> {
  return (await lookup(hostname, { all: true })).map((a) => a.address);
}

interface Entry {
  runtime: ClusterRuntime;
  /** ORIGINAL_DST: the hosts made from connections' original destinations. */
  originalDst?: OriginalDstHosts;
  endpoints: readonly EndpointInit[] | undefined;
  timers: NodeJS.Timeout[];
  /** DNS clusters: the last resolved endpoints. */
  resolved?: EndpointInit[];
}

/**
 * Owns every cluster of the active config. `apply` is called with each new ProxyConfig; clusters
 * whose config and endpoints did not change are kept as they are (the same objects), changed ones
 * are rebuilt reusing (and updating) Host objects by address:port, removed ones are dropped and their timers stopped.
 * Hosts that leave are reported to `onHostsRemoved`.
 */
export class ClusterManager {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly resolve: (hostname: string) => Promise<string[]>;
  private closed = false;

  constructor(private readonly options: ClusterManagerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.resolve = options.resolve ?? systemResolve;
  }

  get(name: string): ClusterRuntime | undefined {
    return this.entries.get(name)?.runtime;
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  apply(config: ProxyConfig): void {
    const removed: Host[] = [];
    for (const [name, entry] of this.entries) {
      if (!config.clusters.has(name)) {
        for (const t of entry.timers) clearInterval(t);
        this.entries.delete(name);
        for (const h of entry.runtime.hosts) removed.push(h);
        if (entry.originalDst) for (const h of entry.originalDst.all) removed.push(h);
      }
    }
    for (const cluster of config.clusters.values()) {
      const endpoints = cluster.type === 'EDS' ? (config.endpoints.get(cluster.edsServiceName ?? cluster.name) ?? []) : cluster.inlineEndpoints;
      const old = this.entries.get(cluster.name);
      if (old && old.runtime.config === cluster && old.endpoints === endpoints) continue;
      const entry = this.build(cluster, endpoints, old);
      this.entries.set(cluster.name, entry);
      if (old) for (const h of hostsLeft(old.runtime.hosts, entry.runtime.hosts)) removed.push(h);
      if (old?.originalDst && !entry.originalDst) for (const h of old.originalDst.all) removed.push(h);
    }
    if (removed.length > 0) this.options.onHostsRemoved?.(removed);
  }

  /** Stops outlier and DNS timers. */
  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) for (const t of e.timers) clearInterval(t);
    this.entries.clear();
  }

  /** Envoy's /clusters text. */
  clustersText(): string {
    const lines: string[] = [];
    for (const [name, e] of [...this.entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const b = e.runtime.config.circuitBreakers;
      const lim = (n: number) => (Number.isFinite(n) ? String(n) : '4294967295');
      lines.push(`${name}::default_priority::max_connections::${lim(b.maxConnections)}`, `${name}::default_priority::max_pending_requests::${lim(b.maxPendingRequests)}`);
      lines.push(`${name}::default_priority::max_requests::${lim(b.maxRequests)}`, `${name}::default_priority::max_retries::${lim(b.maxRetries)}`);
      const now = this.now();
      for (const h of e.runtime.hosts) {
        const flags = h.ejectedUntil > now ? '/failed_outlier_check' : h.health === 'healthy' ? 'healthy' : `/failed_eds_health`;
        lines.push(`${name}::${h.key}::rq_active::${h.activeRequests}`, `${name}::${h.key}::weight::${h.weight}`, `${name}::${h.key}::health_flags::${flags}`);
        lines.push(`${name}::${h.key}::region::${h.localityKey.split('/')[0]}`, `${name}::${h.key}::priority::${h.priority}`);
      }
    }
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }

  /** Envoy-style `cluster.NAME.stat: value` lines. */
  statsText(): string {
    const lines: string[] = [];
    for (const [name, e] of this.entries) for (const [k, v] of Object.entries(e.runtime.stats)) lines.push(`cluster.${name}.${k}: ${v}`);
    return lines.sort().join('\n') + (lines.length > 0 ? '\n' : '');
  }

  private build(cluster: ClusterConfig, endpoints: readonly EndpointInit[] | undefined, old: Entry | undefined): Entry {
    if (old) for (const t of old.timers) clearInterval(t);
    const previous = new Map((old?.runtime.hosts ?? []).map((h) => [h.key, h]));
    const isDns = cluster.type === 'STRICT_DNS' || cluster.type === 'LOGICAL_DNS';
    const source = isDns ? (old?.resolved ?? (endpoints ?? []).filter((e) => isIP(e.address) !== 0)) : (endpoints ?? []);
    const hosts = reconcileHosts(source, previous);
    const breaker = old && sameJson(old.runtime.config.circuitBreakers, cluster.circuitBreakers) ? old.runtime.breaker : new CircuitBreaker(cluster.circuitBreakers);
    const outlierConfig = outlierConfigFromXds(cluster.outlierDetection as Record<string, unknown> | undefined);
    const stats = old?.runtime.stats ?? newStats();
    const entry: Entry = { runtime: undefined as unknown as ClusterRuntime, endpoints, timers: [] };
    if (isDns && old?.resolved) entry.resolved = old.resolved;
    const holder: { hosts: readonly Host[] } = { hosts };
    const outlier = outlierConfig
      ? new OutlierDetector(outlierConfig, () => holder.hosts, { now: this.now, random: this.random })
      : undefined;
    if (outlier && outlierConfig) entry.timers.push(unref(setInterval(() => outlier.tick(), outlierConfig.intervalMs)));
    if (cluster.type === 'ORIGINAL_DST') {
      // Hosts (and their pools) carry over an update of the same cluster; the sweep follows the new interval.
      const originalDst =
        old?.originalDst ??
        new OriginalDstHosts({ now: this.now, cleanupIntervalMs: cluster.cleanupIntervalMs, maxHosts: DEFAULT_MAX_ORIGINAL_DST_HOSTS, onRemoved: (h) => this.options.onHostsRemoved?.(h) });
      entry.originalDst = originalDst;
      entry.timers.push(unref(setInterval(() => originalDst.sweep(cluster.cleanupIntervalMs), cluster.cleanupIntervalMs)));
      entry.runtime = Object.freeze({ config: cluster, hosts: NO_HOSTS, lb: undefined, breaker, outlier: undefined, stats, pick: (ctx?: PickContext) => (ctx?.originalDestination ? originalDst.host(ctx.originalDestination) : undefined) });
      return entry;
    }
    entry.runtime = this.runtime(cluster, hosts, breaker, outlier, stats);
    if (isDns) this.startDns(cluster, endpoints ?? [], entry, holder);
    return entry;
  }

  private runtime(cluster: ClusterConfig, hosts: readonly Host[], breaker: CircuitBreaker, outlier: OutlierDetector | undefined, stats: ClusterStats): ClusterRuntime {
    const lb =
      cluster.lbPolicy === 'CLUSTER_PROVIDED'
        ? undefined
        : createLoadBalancer(cluster.lbPolicy, hosts, {
            random: this.random,
            now: this.now,
            healthyPanicThresholdPercent: cluster.healthyPanicThresholdPercent,
            ringHash: cluster.ringHash,
            leastRequestChoiceCount: cluster.leastRequestChoiceCount,
            localityWeighted: cluster.localityWeighted,
          });
    return Object.freeze({ config: cluster, hosts, lb, breaker, outlier, stats, pick: (ctx?: PickContext) => lb?.pick(ctx) });
  }

  /** STRICT_DNS / LOGICAL_DNS: resolve every endpoint hostname now and every dns_refresh_rate; a failed lookup keeps the last addresses. */
  private startDns(cluster: ClusterConfig, endpoints: readonly EndpointInit[], entry: Entry, holder: { hosts: readonly Host[] }): void {
    const names = endpoints.filter((e) => isIP(e.address) === 0);
    if (names.length === 0) return;
    const refresh = async () => {
      const resolved: EndpointInit[] = endpoints.filter((e) => isIP(e.address) !== 0);
      for (const e of names) {
        try {
          // LOGICAL_DNS uses only the first address, as Envoy does.
          const addrs = await this.resolve(e.address);
          for (const a of cluster.type === 'LOGICAL_DNS' ? addrs.slice(0, 1) : addrs) resolved.push({ ...e, address: a });
        } catch (err) {
          this.options.logger?.warn('DNS resolution failed; keeping the last addresses', { cluster: cluster.name, host: e.address, error: err instanceof Error ? err.message : String(err) });
          return;
        }
      }
      if (this.closed || this.entries.get(cluster.name) !== entry) return;
      entry.resolved = resolved;
      const before = holder.hosts;
      const hosts = reconcileHosts(resolved, new Map(before.map((h) => [h.key, h])));
      holder.hosts = hosts;
      entry.runtime = this.runtime(cluster, hosts, entry.runtime.breaker, entry.runtime.outlier, entry.runtime.stats);
      const removed = hostsLeft(before, hosts);
      if (removed.length > 0) this.options.onHostsRemoved?.(removed);
    };
    void refresh();
    entry.timers.push(unref(setInterval(() => void refresh(), Math.max(1000, cluster.dnsRefreshMs))));
  }
}

function unref(t: NodeJS.Timeout): NodeJS.Timeout {
  t.unref();
  return t;
}

/** The hosts of `before` that are not in `after` (by identity). */
function hostsLeft(before: readonly Host[], after: readonly Host[]): Host[] {
  const kept = new Set(after);
  return before.filter((h) => !kept.has(h));
}

/** A new Host only for a new address:port; a host that stays is updated in place (weight, priority, locality, health). */
function reconcileHosts(endpoints: readonly EndpointInit[], previous: ReadonlyMap<string, Host>): Host[] {
  const out: Host[] = [];
  const seen = new Set<string>();
  for (const e of endpoints) {
    const key = `${e.address}:${e.port}`;
    if (seen.has(key)) continue; // Envoy keeps the first of duplicate addresses
    seen.add(key);
    const old = previous.get(key);
    if (old) {
      old.update(e);
      out.push(old);
    } else {
      out.push(new Host(e));
    }
  }
  return out;
}
