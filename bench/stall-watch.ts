// Notices when the whole guest stops running: a timer in the orchestrator that fires every few ms
// and records each gap far longer than its period.
//
// This machine is a VM whose host caps its CPU time: when both vCPUs stay busy (two busy loops, say),
// the host pauses the guest for 100 ms at a time, every process on every core at once. A guest
// without steal-time accounting charges that pause to whatever task was on the CPU, so a round it
// lands in shows a CPU cost per request and latencies that no target caused. The proxy bench runs a
// max round that had one again; the control-plane bench reports them per trial.
import { performance } from 'node:perf_hooks';

/** One pause: when it began and how long it lasted beyond the timer's period, ms (performance.now() clock). */
export interface Stall {
  atMs: number;
  ms: number;
}

export interface StallWatch {
  /** The pauses that overlap [fromMs, toMs], their number and the overlapping milliseconds. */
  between(fromMs: number, toMs: number): { count: number; ms: number };
  stop(): void;
}

/** Default period and threshold: a host pause is ~100 ms; a busy load core delays a timer by a few ms at most. */
const PERIOD_MS = 20;
const THRESHOLD_MS = 60;

/** Counts and sums the parts of `stalls` inside [fromMs, toMs]. */
export function overlapping(stalls: readonly Stall[], fromMs: number, toMs: number): { count: number; ms: number } {
  let count = 0;
  let ms = 0;
  for (const s of stalls) {
    const start = Math.max(s.atMs, fromMs);
    const end = Math.min(s.atMs + s.ms, toMs);
    if (end <= start) continue;
    count++;
    ms += end - start;
  }
  return { count, ms: Math.round(ms * 10) / 10 };
}

/**
 * Starts watching. The timer is unref'd (it never keeps the process alive) and cheap: 50 wake-ups a
 * second on the load core. A gap beyond `thresholdMs` records a pause of the gap minus the period.
 */
export function startStallWatch(periodMs = PERIOD_MS, thresholdMs = THRESHOLD_MS): StallWatch {
  const stalls: Stall[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const gap = now - last;
    if (gap > thresholdMs) stalls.push({ atMs: last + periodMs, ms: gap - periodMs });
    last = now;
  }, periodMs);
  timer.unref();
  return {
    // A pause that has just ended may not have reached the timer yet: the gap since its last firing counts too.
    between: (fromMs, toMs) => {
      const gap = performance.now() - last;
      return overlapping(gap > thresholdMs ? [...stalls, { atMs: last + periodMs, ms: gap - periodMs }] : stalls, fromMs, toMs);
    },
    stop: () => clearInterval(timer),
  };
}
