// The open streams of one HTTP/2 connection, by id.
//
// Not a Map: a Map is an insertion-ordered hash table that appends every insert and rebuilds itself
// into a new table once its slots are used up, deleted ones included, and a replaced table keeps its
// entries and a link to its successor. A connection that opens and closes a stream per request
// replaces its table every few dozen requests; once one replaced table had been promoted to V8's
// old generation, it and its successors kept every stream they had held alive through young
// collections, so every stream object was promoted (measured: ~200 bytes per request, full
// collections every few seconds under load). A dictionary-mode object reuses its slots in place.

export class StreamTable<S extends { readonly id: number }> {
  private readonly byId: Record<number, S> = Object.create(null) as Record<number, S>;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): S | undefined {
    return this.byId[id];
  }

  set(id: number, s: S): void {
    if (this.byId[id] === undefined) this.count++;
    this.byId[id] = s;
  }

  delete(id: number): void {
    if (this.byId[id] === undefined) return;
    delete this.byId[id];
    this.count--;
  }

  /** A snapshot of the open streams, in id order: safe to close them while iterating. */
  values(): S[] {
    const out: S[] = [];
    for (const k in this.byId) out.push(this.byId[k as unknown as number]!);
    return out;
  }
}
