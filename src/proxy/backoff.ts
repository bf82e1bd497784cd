// Reconnect delays: exponential growth with full jitter and a cap, reset once a connection proved healthy.
import { MeshError } from '../shared/errors.js';

export interface BackoffOptions {
  /** Ceiling of the first delay, ms (Envoy's xDS stream: 500). */
  baseMs?: number;
  /** Largest ceiling, ms (Envoy's xDS stream: 30 000). */
  maxMs?: number;
  /** Uniform in [0, 1); Math.random by default (tests inject their own). */
  random?: () => number;
}

/** Envoy's defaults for a failed xDS stream (source/common/config/grpc_stream.h). */
export const DEFAULT_BACKOFF_BASE_MS = 500;
export const DEFAULT_BACKOFF_MAX_MS = 30_000;

/**
 * "Full jitter" exponential backoff (Envoy's JitteredExponentialBackOffStrategy; see
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): attempt n waits a
 * uniform random time in [0, min(maxMs, baseMs·2ⁿ)). The jitter spreads the reconnects of many
 * proxies after a control plane restart instead of having them arrive in lockstep; the cap keeps a
 * proxy that was cut off for long from waiting longer than `maxMs` once the server is back.
 */
export class Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  private readonly random: () => number;
  private ceiling: number;
  private count = 0;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
    this.maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    if (!Number.isFinite(this.baseMs) || this.baseMs <= 0) throw new MeshError('MESH_USAGE', `backoff base must be a positive number of ms, got ${this.baseMs}`);
    if (!Number.isFinite(this.maxMs) || this.maxMs < this.baseMs) throw new MeshError('MESH_USAGE', `backoff max (${this.maxMs} ms) must be at least its base (${this.baseMs} ms)`);
    this.random = options.random ?? Math.random;
    this.ceiling = this.baseMs;
  }

  /** Delays handed out since the last reset. */
  get attempts(): number {
    return this.count;
  }

  /** The delay before the next attempt, in whole ms, and one step up the curve. */
  next(): number {
    const r = this.random();
    // A misbehaving random source must not escape the interval (NaN or ≥ 1 would exceed the cap).
    const u = r >= 0 && r < 1 ? r : 0;
    const delay = Math.floor(u * this.ceiling);
    this.count++;
    // Doubling stops at the cap, so the ceiling never overflows however long the outage.
    this.ceiling = Math.min(this.maxMs, this.ceiling * 2);
    return delay;
  }

  /** Back to the first step: call when a connection proved healthy. */
  reset(): void {
    this.count = 0;
    this.ceiling = this.baseMs;
  }
}
