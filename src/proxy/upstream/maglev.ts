// MAGLEV: Google's Maglev consistent-hash lookup table (65537 entries) over the hosts of one priority, weighted as Envoy builds it.
import { hashMod } from './hash.js';
import type { Host } from './host.js';
import type { HashTable } from './picker.js';

/** Envoy's default (and the paper's suggested) table size: a prime, so every skip visits every slot. */
export const MAGLEV_TABLE_SIZE = 65537;
/** Step between the start slots of successive host-avoiding attempts (any value coprime with the prime table size). */
const ATTEMPT_STRIDE = 40503;

/**
 * A Maglev table (https://research.google/pubs/pub44824/ §3.4): host i has a permutation of the slots
 * given by offset = XXH64(key, 0) mod M and skip = XXH64(key, 1) mod (M − 1) + 1; hosts take turns
 * claiming their next free slot until the table is full. Weights, as in Envoy, make a host take a turn
 * only every (maxWeight / weight) rounds (every host claims at least one slot). A request hash h looks
 * up slot ⌊h / 2^21⌋ mod M. Built per config or endpoint update — about M × ln(M) probes — never per request.
 */
export class MaglevTable implements HashTable {
  readonly size: number;
  /** Slot → index of the owning host in the list the table was built from; -1 when there are no hosts. */
  private readonly table: Int32Array;

  /** `keys[i]` is host i's hash key ("address:port"), `weights[i]` its weight (≤ 0 keeps it out). */
  constructor(keys: readonly string[], weights: readonly number[], size = MAGLEV_TABLE_SIZE) {
    this.size = size;
    this.table = new Int32Array(size).fill(-1);
    const ids: number[] = [];
    for (let i = 0; i < keys.length; i++) if (weights[i]! > 0) ids.push(i);
    if (ids.length === 0) return;
    let maxWeight = 0;
    for (const i of ids) maxWeight = Math.max(maxWeight, weights[i]!);
    const k = ids.length;
    const pos = new Float64Array(k);
    const skip = new Float64Array(k);
    const target = new Float64Array(k);
    for (let e = 0; e < k; e++) {
      const key = keys[ids[e]!]!;
      pos[e] = hashMod(key, 0, size);
      skip[e] = hashMod(key, 1, size - 1) + 1;
    }
    const table = this.table;
    let filled = 0;
    for (let iteration = 1; filled < size; iteration++) {
      for (let e = 0; e < k && filled < size; e++) {
        const w = weights[ids[e]!]!;
        if (iteration * w < target[e]!) continue;
        target[e] = target[e]! + maxWeight;
        let c = pos[e]!;
        while (table[c] !== -1) c = (c + skip[e]!) % size;
        table[c] = ids[e]!;
        pos[e] = (c + skip[e]!) % size;
        filled++;
      }
    }
  }

  select(h: number, state: Uint8Array, want: number, hosts: readonly Host[], avoid: ((host: Host) => boolean) | undefined, maxAvoid: number): number {
    const size = this.size;
    const table = this.table;
    if (table[0] === -1) return -1;
    // Optimization: the slot comes from the hash's top 32 bits as an integer remainder, not a float
    // one. Top, not low: a random() with 32 bits of resolution leaves the low bits of h constant.
    const base = ((h / 2097152) >>> 0) % size;
    // Only allocated on retries that avoid hosts: the hosts already refused, skipped like ineligible ones.
    let rejected: number[] | undefined;
    for (let attempt = 0; ; attempt++) {
      // Attempt 0 is the slot of h; a retry that avoids a host starts at another, pseudo-random slot
      // (Envoy rehashes h with the attempt number to the same end).
      let slot = (base + attempt * ATTEMPT_STRIDE) % size;
      let o = -1;
      // An ineligible host's slot falls through to the next slots, whose owners are spread over all
      // hosts, so its keys are shared out rather than piled onto one neighbour.
      for (let step = 0; step < size; step++, slot = slot + 1 === size ? 0 : slot + 1) {
        const t = table[slot]!;
        if ((want === 0 || state[t] === want) && (rejected === undefined || !rejected.includes(t))) {
          o = t;
          break;
        }
      }
      // Every eligible host was refused: accept the last one, as Envoy returns its last attempt.
      if (o < 0) return rejected === undefined ? -1 : rejected[rejected.length - 1]!;
      if (avoid === undefined || attempt >= maxAvoid || !avoid(hosts[o]!)) return o;
      (rejected ??= []).push(o);
    }
  }
}
