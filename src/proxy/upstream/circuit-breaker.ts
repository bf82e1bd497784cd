// A cluster's circuit breakers: Envoy's default-priority limits on connections, pending requests, requests and retries, as counters with overflow.
import type { CircuitBreakerThresholds } from '../config/clusters.js';
import { list, obj } from '../config/xds-json.js';
import { uint32 } from './wrappers.js';

export type { CircuitBreakerThresholds };

/** What a circuit breaker limits (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/circuit_breaking). */
export type BreakerResource = 'connection' | 'pending' | 'request' | 'retry';

/** Envoy's defaults for the DEFAULT routing priority: 1024 connections, pending and active requests, 3 concurrent retries. */
export const DEFAULT_THRESHOLDS: CircuitBreakerThresholds = Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });

/** uint32 max: the value Istio sends for "no limit"; read as Infinity. */
const UINT32_MAX = 4294967295;

/**
 * Reads a decoded Cluster.circuit_breakers (snake_case JSON). Only the DEFAULT-priority thresholds
 * apply (Istio routes nothing at HIGH priority); unset fields take Envoy's defaults; 4294967295
 * means unlimited. Numbers may arrive as numbers, decimal strings or `{ value }` wrappers. Throws
 * ConfigError (with the field path) for anything else.
 */
export function thresholdsFromXds(json: Record<string, unknown> | undefined): CircuitBreakerThresholds {
  if (json === undefined) return DEFAULT_THRESHOLDS;
  const cb = obj(json, 'circuit_breakers');
  const entries = list(cb.thresholds, 'circuit_breakers.thresholds');
  let t: Readonly<Record<string, unknown>> | undefined;
  for (let i = 0; i < entries.length && t === undefined; i++) {
    const e = obj(entries[i], `circuit_breakers.thresholds[${i}]`);
    if ((e.priority ?? 'DEFAULT') === 'DEFAULT') t = e;
  }
  if (t === undefined) return DEFAULT_THRESHOLDS;
  const field = (name: string, fallback: number): number => {
    const n = uint32(t[name], `circuit_breakers.thresholds.${name}`);
    if (n === undefined) return fallback;
    return n >= UINT32_MAX ? Number.POSITIVE_INFINITY : n;
  };
  return Object.freeze({
    maxConnections: field('max_connections', DEFAULT_THRESHOLDS.maxConnections),
    maxPendingRequests: field('max_pending_requests', DEFAULT_THRESHOLDS.maxPendingRequests),
    maxRequests: field('max_requests', DEFAULT_THRESHOLDS.maxRequests),
    maxRetries: field('max_retries', DEFAULT_THRESHOLDS.maxRetries),
  });
}

const KINDS: readonly BreakerResource[] = ['connection', 'pending', 'request', 'retry'];

/**
 * Counts a cluster's open connections, queued requests, active requests and active retries against
 * its thresholds. Shared by every route and worker of the cluster for its life (a config update that
 * leaves the thresholds unchanged keeps the same breaker, so in-flight counts stay right).
 *
 * Usage: `tryAcquire(kind)` before opening/queuing/sending; false means the limit is reached — the
 * router answers 503 with response flag UO (and counts upstream_rq_pending_overflow or
 * upstream_rq_retry_overflow); on true, call `release(kind)` exactly once when that resource ends.
 */
export class CircuitBreaker {
  private readonly limits: Float64Array;
  private readonly counts = new Float64Array(4);
  /**
   * Releases that found nothing to release. Always 0 in a correct router: a non-zero value is a
   * double release, which the counter survives (it is clamped at 0 rather than going negative and
   * silently raising the limit); tests assert it stays 0.
   */
  underflows = 0;

  constructor(readonly thresholds: CircuitBreakerThresholds = DEFAULT_THRESHOLDS) {
    this.limits = Float64Array.of(thresholds.maxConnections, thresholds.maxPendingRequests, thresholds.maxRequests, thresholds.maxRetries);
  }

  /** Takes one unit of `kind` if below its limit (true), or reports overflow (false) and takes nothing. */
  tryAcquire(kind: BreakerResource): boolean {
    const i = index(kind);
    if (this.counts[i]! >= this.limits[i]!) return false;
    this.counts[i]! += 1;
    return true;
  }

  /** Gives back one unit taken by a successful tryAcquire. */
  release(kind: BreakerResource): void {
    const i = index(kind);
    if (this.counts[i]! <= 0) {
      this.underflows++;
      return;
    }
    this.counts[i]! -= 1;
  }

  /** Units of `kind` in use. */
  active(kind: BreakerResource): number {
    return this.counts[index(kind)]!;
  }

  /** Units of `kind` still available (Envoy's `remaining_*` gauges); Infinity when unlimited. */
  remaining(kind: BreakerResource): number {
    const i = index(kind);
    return Math.max(0, this.limits[i]! - this.counts[i]!);
  }

  /** Whether `kind` is at its limit, so the next tryAcquire fails (Envoy's `circuit_breakers.default.*_open` gauges). */
  open(kind: BreakerResource): boolean {
    const i = index(kind);
    return this.counts[i]! >= this.limits[i]!;
  }

  /** Every kind's usage, for the admin interface. */
  snapshot(): Record<BreakerResource, { active: number; limit: number }> {
    const out = {} as Record<BreakerResource, { active: number; limit: number }>;
    KINDS.forEach((k, i) => (out[k] = { active: this.counts[i]!, limit: this.limits[i]! }));
    return out;
  }
}

function index(kind: BreakerResource): number {
  switch (kind) {
    case 'connection':
      return 0;
    case 'pending':
      return 1;
    case 'request':
      return 2;
    case 'retry':
      return 3;
  }
}
