// The requests a connection pool has queued: each holds one of the cluster's 'pending' breaker slots until it is served, failed or cancelled.
import type { CircuitBreaker } from '../upstream/circuit-breaker.js';
import type { PoolFailure, UpstreamStream } from './upstream-stream.js';

export type AcquireCallback = (failure: PoolFailure | null, stream?: UpstreamStream) => void;

export class PendingRequests {
  private readonly queue: AcquireCallback[] = [];

  constructor(private readonly breaker: CircuitBreaker) {}

  get length(): number {
    return this.queue.length;
  }

  /** Queues `cb`, whose 'pending' slot the caller holds; returns its cancel function (idempotent). */
  add(cb: AcquireCallback): () => void {
    this.queue.push(cb);
    return () => {
      const i = this.queue.indexOf(cb);
      if (i < 0) return;
      this.queue.splice(i, 1);
      this.breaker.release('pending');
    };
  }

  /** The oldest queued request, out of the queue with its slot released; undefined when none waits. */
  next(): AcquireCallback | undefined {
    const cb = this.queue.shift();
    if (cb) this.breaker.release('pending');
    return cb;
  }

  /** Fails every queued request. */
  failAll(failure: PoolFailure): void {
    for (let cb = this.next(); cb; cb = this.next()) cb(failure);
  }
}
