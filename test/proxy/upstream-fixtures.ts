// Shared fakes for the upstream policy tests: a seeded RNG, a scripted RNG, a manual clock and a host builder.
import { Host, type HostInit } from '../../src/proxy/upstream/host.js';

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)), so statistical tests are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns the given values in order, then fails the test: every random draw is accounted for. */
export function scripted(...values: number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error(`scripted RNG exhausted after ${values.length} values`);
    return values[i++]!;
  };
}

/** A manual clock in ms. */
export class FakeClock {
  t = 1_000_000;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Host 10.0.0.i:8080 with the given overrides. */
export function host(i: number, init: Partial<HostInit> = {}): Host {
  return new Host({ address: `10.0.0.${i}`, port: 8080, ...init });
}

/** Counts picks per host key over `n` calls of `pick`. */
export function tally(n: number, pick: () => Host | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = pick();
    const k = h === undefined ? 'none' : h.key;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/** Asserts a binomial count is within 4 standard deviations of n·p. */
export function withinSigma(count: number, n: number, p: number, message: string): void {
  const mean = n * p;
  const sigma = Math.sqrt(n * p * (1 - p));
  if (Math.abs(count - mean) > 4 * sigma) throw new Error(`${message}: ${count} is not within 4σ (${(4 * sigma).toFixed(1)}) of ${mean}`);
}
