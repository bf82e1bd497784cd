// An ordered list of header fields as received (original-case names, lower-case names, values in parallel arrays) with the few lookups and edits a proxy needs.
import { lowerName } from './chars.js';

/**
 * Header fields in wire order. `names[i]` is the name as received, `lowerNames[i]` its ASCII
 * lower-case form (often the same string), `values[i]` the value with surrounding whitespace removed.
 * Repeated fields stay separate entries, in order. Parallel arrays rather than one object per
 * field: three allocations per message instead of one per field, and lookups scan one array.
 *
 * A parser hands over a fresh list per message: the caller owns it and may edit it in place.
 * Edits do not validate (configuration is validated when it is compiled; see `isToken`/`isFieldValue`).
 */
export class HeaderList {
  readonly names: string[] = [];
  readonly lowerNames: string[] = [];
  readonly values: string[] = [];

  get length(): number {
    return this.names.length;
  }

  /** Index of the first field named `lower` (lower-case) at or after `from`, or -1. */
  indexOf(lower: string, from = 0): number {
    const ln = this.lowerNames;
    for (let i = from; i < ln.length; i++) if (ln[i] === lower) return i;
    return -1;
  }

  has(lower: string): boolean {
    return this.indexOf(lower) !== -1;
  }

  /** First value of `lower`, or undefined. */
  get(lower: string): string | undefined {
    const i = this.indexOf(lower);
    return i === -1 ? undefined : this.values[i];
  }

  /** Every value of `lower` joined with "," (RFC 9110 §5.3 list semantics; Envoy joins the same way), or undefined when absent. */
  joined(lower: string): string | undefined {
    let i = this.indexOf(lower);
    if (i === -1) return undefined;
    let v = this.values[i]!;
    while ((i = this.indexOf(lower, i + 1)) !== -1) v += `,${this.values[i]!}`;
    return v;
  }

  /** Every value of `lower`, in order (allocates: not for the hot path). */
  getAll(lower: string): string[] {
    const out: string[] = [];
    for (let i = this.indexOf(lower); i !== -1; i = this.indexOf(lower, i + 1)) out.push(this.values[i]!);
    return out;
  }

  /** Appends a field. Pass `lower` when it is known (compiled config) to skip lower-casing. */
  add(name: string, value: string, lower: string = lowerName(name)): void {
    this.names.push(name);
    this.lowerNames.push(lower);
    this.values.push(value);
  }

  /** Replaces every field named like `name` with one field at the position of the first (appended when absent). */
  set(name: string, value: string, lower: string = lowerName(name)): void {
    const i = this.indexOf(lower);
    if (i === -1) {
      this.add(name, value, lower);
      return;
    }
    this.names[i] = name;
    this.values[i] = value;
    this.removeFrom(lower, i + 1);
  }

  /** Removes every field named `lower`; returns how many were removed. */
  remove(lower: string): number {
    return this.removeFrom(lower, 0);
  }

  private removeFrom(lower: string, from: number): number {
    const { names, lowerNames, values } = this;
    let w = from;
    for (let r = from; r < lowerNames.length; r++) {
      if (lowerNames[r] === lower) continue;
      if (w !== r) {
        names[w] = names[r]!;
        lowerNames[w] = lowerNames[r]!;
        values[w] = values[r]!;
      }
      w++;
    }
    const removed = lowerNames.length - w;
    // Optimization: the usual call removes nothing, and an array's length setter is a runtime call.
    if (removed === 0) return 0;
    names.length = w;
    lowerNames.length = w;
    values.length = w;
    return removed;
  }

  clone(): HeaderList {
    const c = new HeaderList();
    c.names.push(...this.names);
    c.lowerNames.push(...this.lowerNames);
    c.values.push(...this.values);
    return c;
  }

  /** [name, value] pairs as received (for tests and debugging; allocates). */
  entries(): Array<[string, string]> {
    return this.names.map((n, i) => [n, this.values[i]!]);
  }
}
