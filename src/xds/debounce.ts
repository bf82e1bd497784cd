// Merges bursts of push requests into one push: a quiet period after the last change, bounded by a maximum delay.
import { Tunables, tunable } from '../shared/tunables.js';
import type { PushRequest } from './types.js';

/** The clock the debouncer reads and the timers it sets; tests pass a fake. */
export interface Timers {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * One request that covers both: full if either is; endpoint hosts united; the changed config
 * kinds united, and unknown ("anything") as soon as one full request does not say; listeners
 * unaffected only when every full request says they are.
 */
export function mergePushRequests(a: PushRequest | undefined, b: PushRequest): PushRequest {
  if (!a) return { full: b.full, ...(b.edsHosts ? { edsHosts: new Set(b.edsHosts) } : {}), ...(b.full && b.configKinds ? { configKinds: new Set(b.configKinds) } : {}), ...(b.full && b.listenersUnaffected ? { listenersUnaffected: true } : {}) };
  const hosts = new Set<string>([...(a.edsHosts ?? []), ...(b.edsHosts ?? [])]);
  const full = a.full || b.full;
  // A non-full request changes no config; a full one without kinds may have changed any.
  const kindsOf = (r: PushRequest): ReadonlySet<string> | undefined => (r.full ? r.configKinds : new Set<string>());
  const ka = kindsOf(a);
  const kb = kindsOf(b);
  const kinds = full && ka && kb ? new Set([...ka, ...kb]) : undefined;
  // Listeners are unaffected only if every full request says so; an endpoint-only one changes no config.
  const listenersUnaffected = full && (!a.full || a.listenersUnaffected === true) && (!b.full || b.listenersUnaffected === true);
  return { full, ...(hosts.size > 0 ? { edsHosts: hosts } : {}), ...(kinds ? { configKinds: kinds } : {}), ...(listenersUnaffected ? { listenersUnaffected: true } : {}) };
}

export interface DebounceOptions {
  /** Quiet period: push once no change arrived for this long (Istio PILOT_DEBOUNCE_AFTER). */
  afterMs?: number;
  /** Push anyway once the first unpushed change is this old (Istio PILOT_DEBOUNCE_MAX). */
  maxMs?: number;
  /** Quiet period when only endpoints changed (an EDS-only push). */
  edsAfterMs?: number;
  timers?: Timers;
}

/**
 * Istio's debounce (pilot/pkg/xds/discovery.go `debounce`): every `enqueue` restarts the quiet
 * period; the merged request is flushed when the quiet period elapses or the burst has lasted
 * `maxMs`. Only one flush runs at a time: requests arriving while `flush`'s promise is pending
 * are merged and flushed after it settles, so pushes never overlap.
 */
export class Debouncer {
  private readonly afterMs: number;
  private readonly edsAfterMs: number;
  private readonly maxMs: number;
  private readonly timers: Timers;
  private pending: PushRequest | undefined;
  private events = 0;
  private firstAt = 0;
  private lastAt = 0;
  private timer: unknown;
  private flushing = false;
  private closed = false;

  constructor(
    private readonly flush: (request: PushRequest, mergedEvents: number) => void | Promise<void>,
    options: DebounceOptions = {},
  ) {
    this.afterMs = options.afterMs ?? tunable(Tunables.debounceAfterMs);
    this.maxMs = options.maxMs ?? tunable(Tunables.debounceMaxMs);
    this.edsAfterMs = Math.min(options.edsAfterMs ?? tunable(Tunables.debounceEdsAfterMs), this.afterMs);
    this.timers = options.timers ?? realTimers;
  }

  /** Adds a change. Cheap; never calls `flush` synchronously. */
  enqueue(request: PushRequest): void {
    if (this.closed) return;
    const now = this.timers.now();
    this.lastAt = now;
    this.pending = mergePushRequests(this.pending, request);
    if (this.events === 0) {
      this.firstAt = now;
      this.arm(this.quietMs());
    }
    this.events++;
  }

  /** The quiet period for what is pending: shorter when only endpoints changed. */
  private quietMs(): number {
    return this.pending && !this.pending.full ? this.edsAfterMs : this.afterMs;
  }

  /** Changes merged but not yet flushed (0 when idle). */
  get pendingEvents(): number {
    return this.events;
  }

  /** Stops timers; pending changes are dropped. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    this.events = 0;
  }

  private arm(ms: number): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.check();
    }, Math.max(0, ms));
  }

  private check(): void {
    if (this.closed || this.flushing || !this.pending) return;
    const now = this.timers.now();
    const quiet = now - this.lastAt;
    const age = now - this.firstAt;
    const afterMs = this.quietMs();
    if (quiet >= afterMs || age >= this.maxMs) {
      const request = this.pending;
      const events = this.events;
      this.pending = undefined;
      this.events = 0;
      this.run(request, events);
    } else {
      // Wake when the quiet period would end, or at the max delay, whichever is first.
      this.arm(Math.min(afterMs - quiet, this.maxMs - age));
    }
  }

  private run(request: PushRequest, events: number): void {
    this.flushing = true;
    const done = (): void => {
      this.flushing = false;
      // Changes that arrived during the push: their quiet period may already be over.
      if (this.pending && this.timer === undefined) this.check();
    };
    let result: void | Promise<void>;
    try {
      result = this.flush(request, events);
    } catch (e) {
      done();
      throw e;
    }
    if (result && typeof (result as Promise<void>).then === 'function') (result as Promise<void>).then(done, done);
    else done();
  }
}
