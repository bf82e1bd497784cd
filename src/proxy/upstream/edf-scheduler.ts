// Earliest-deadline-first scheduler over weighted entries: Envoy's weighted round-robin (hosts, localities) and weighted least-request schedule.
//
// Each entry is due every 1/weight units of virtual time; a pick takes the entry with the earliest
// deadline (ties: the one queued first), moves virtual time to that deadline and queues the entry
// again 1/weight later. Over any stretch of Σweights picks from the start, integer weights are honoured
// exactly, and the picks are interleaved (a, b, a, c, a, b…) rather than bunched.
// See Envoy's EdfScheduler (source/common/upstream/edf_scheduler.h) for the same design.

/**
 * A binary min-heap of entry indices ordered by (deadline, queue order). Built once per host list
 * (config or health change); `pick` allocates nothing.
 */
export class EdfScheduler {
  private readonly deadline: Float64Array;
  private readonly order: Float64Array;
  private readonly heap: Int32Array;
  private size = 0;
  private seq = 0;

  /** `weights[i]` is entry i's weight; entries with a weight ≤ 0 (or not finite) are never picked. */
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.deadline = new Float64Array(n);
    this.order = new Float64Array(n);
    this.heap = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      if (!(w > 0) || !Number.isFinite(w)) continue;
      this.deadline[i] = 1 / w;
      this.order[i] = this.seq++;
      this.heap[this.size++] = i;
    }
    for (let k = (this.size >> 1) - 1; k >= 0; k--) this.siftDown(k);
  }

  /** Number of entries that can be picked. */
  get length(): number {
    return this.size;
  }

  /** The next entry, re-queued with its weight `weight` (its due time moves 1/weight later); -1 when empty. */
  pick(weight: number): number {
    if (this.size === 0) return -1;
    const i = this.heap[0]!;
    // A weight that collapsed to 0 (or below) parks the entry far in the future rather than dropping it.
    this.deadline[i] = this.deadline[i]! + (weight > 0 ? 1 / weight : 1e9);
    this.order[i] = this.seq++;
    this.siftDown(0);
    return i;
  }

  /** The entry `pick` would return, without advancing. */
  peek(): number {
    return this.size === 0 ? -1 : this.heap[0]!;
  }

  private siftDown(k: number): void {
    const heap = this.heap;
    const deadline = this.deadline;
    const order = this.order;
    const n = this.size;
    const item = heap[k]!;
    const itemDeadline = deadline[item]!;
    const itemOrder = order[item]!;
    for (;;) {
      let child = 2 * k + 1;
      if (child >= n) break;
      let c = heap[child]!;
      let cd = deadline[c]!;
      if (child + 1 < n) {
        const r = heap[child + 1]!;
        const rd = deadline[r]!;
        if (rd < cd || (rd === cd && order[r]! < order[c]!)) {
          child++;
          c = r;
          cd = rd;
        }
      }
      // Stop when the item is due no later than its earliest child (ties: queued first goes first).
      if (itemDeadline < cd || (itemDeadline === cd && itemOrder < order[c]!)) break;
      heap[k] = c;
      k = child;
    }
    heap[k] = item;
  }
}
