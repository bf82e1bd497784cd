// RING_HASH: Envoy's Ketama-style consistent-hash ring over the hosts of one priority, sized by minimum/maximum_ring_size.
import { hashKey } from './hash.js';
import type { Host } from './host.js';
import type { HashTable } from './picker.js';

/** RingHashLbConfig.maximum_ring_size's upper bound (and default) in Envoy: 8M entries. */
export const MAX_RING_SIZE = 8 * 1024 * 1024;
/** RingHashLbConfig.minimum_ring_size's default. */
export const DEFAULT_MIN_RING_SIZE = 1024;

/**
 * A ring of (hash, host) entries sorted by hash. As in Envoy
 * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#ring-hash):
 * weights are normalized to sum to 1; the ring holds `scale` entries in all, where
 * scale = min(ceil(minWeight × minRingSize) / minWeight, maxRingSize), so the lightest host still gets
 * about minRingSize × its share; host i gets scale × weight_i entries (cumulatively rounded), the j-th
 * hashed from "address:port_j". A request hash takes the first entry at or after it, clockwise.
 * Built per config or endpoint update — O(ring size × log) — never per request.
 */
export class RingHash implements HashTable {
  /** Number of entries. */
  readonly size: number;
  /** Entry hashes, ascending, in hashKey's [0, 2^53) space. */
  private readonly hashes: Float64Array;
  /** Entry owners: an index into the host list the ring was built from. */
  private readonly owners: Int32Array;
  /**
   * Optimization: `starts[b]` is the first entry in bucket b or later, where an entry's bucket is the
   * top `bucketBits` of its hash (about one entry per bucket), so a lookup is one table read and a
   * step or two instead of a ~10-step binary search with unpredictable branches.
   */
  private readonly starts: Uint32Array;
  /** 2^(53 − bucketBits): dividing a hash by it gives its bucket. */
  private readonly bucketDivisor: number;

  /**
   * `keys[i]` is host i's hash key (its "address:port"), `weights[i]` its weight (any scale; ≤ 0 keeps
   * it off the ring). Ring sizes are assumed validated (1 ≤ min ≤ max ≤ MAX_RING_SIZE).
   */
  constructor(keys: readonly string[], weights: readonly number[], minRingSize: number, maxRingSize: number) {
    let sum = 0;
    for (const w of weights) if (w > 0) sum += w;
    let minWeight = Infinity;
    for (const w of weights) if (w > 0) minWeight = Math.min(minWeight, w / sum);
    if (sum === 0) {
      this.size = 0;
      this.hashes = new Float64Array(0);
      this.owners = new Int32Array(0);
      this.starts = new Uint32Array(2);
      this.bucketDivisor = 2 ** 53;
      return;
    }
    const scale = Math.min(Math.ceil(minWeight * minRingSize) / minWeight, maxRingSize);
    const hashes: number[] = [];
    const owners: number[] = [];
    let target = 0;
    let current = 0;
    for (let i = 0; i < keys.length; i++) {
      const w = weights[i]!;
      if (!(w > 0)) continue;
      target += (scale * w) / sum;
      // The epsilon absorbs floating-point fuzz (1026.0000000000001) that would add a stray entry.
      for (let j = 0; current < target - 1e-7; j++, current++) {
        hashes.push(hashKey(`${keys[i]!}_${j}`));
        owners.push(i);
      }
    }
    const n = hashes.length;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => hashes[a]! - hashes[b]! || owners[a]! - owners[b]!);
    this.size = n;
    this.hashes = new Float64Array(n);
    this.owners = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.hashes[i] = hashes[order[i]!]!;
      this.owners[i] = owners[order[i]!]!;
    }
    const bucketBits = Math.min(24, Math.max(1, Math.ceil(Math.log2(n))));
    const buckets = 2 ** bucketBits;
    this.bucketDivisor = 2 ** (53 - bucketBits);
    this.starts = new Uint32Array(buckets + 1);
    let e = 0;
    for (let b = 0; b <= buckets; b++) {
      while (e < n && Math.floor(this.hashes[e]! / this.bucketDivisor) < b) e++;
      this.starts[b] = e;
    }
  }

  /** Index of the first entry whose hash is ≥ h, wrapping to 0 past the last. */
  private first(h: number): number {
    const hashes = this.hashes;
    const b = Math.floor(h / this.bucketDivisor);
    // Entries of bucket b are the only candidates below starts[b + 1], which is itself ≥ h.
    let i = this.starts[b]!;
    const end = this.starts[b + 1]!;
    while (i < end && hashes[i]! < h) i++;
    return i === this.size ? 0 : i;
  }

  select(h: number, state: Uint8Array, want: number, hosts: readonly Host[], avoid: ((host: Host) => boolean) | undefined, maxAvoid: number): number {
    const n = this.size;
    if (n === 0) return -1;
    const owners = this.owners;
    let idx = this.first(h);
    // Only allocated on retries that avoid hosts: the hosts already refused, walked past like absent ones.
    let rejected: number[] | undefined;
    for (let step = 0; step < n; step++, idx = idx + 1 === n ? 0 : idx + 1) {
      const o = owners[idx]!;
      if (want !== 0 && state[o] !== want) continue;
      if (avoid === undefined) return o;
      if (rejected !== undefined && rejected.includes(o)) continue;
      if ((rejected?.length ?? 0) >= maxAvoid || !avoid(hosts[o]!)) return o;
      (rejected ??= []).push(o);
    }
    // Every eligible host was refused: accept the last one, as Envoy returns its last attempt.
    return rejected === undefined ? -1 : rejected[rejected.length - 1]!;
  }
}
