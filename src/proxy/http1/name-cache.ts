// A small process-wide cache of header-name strings (as received and lower-cased), so the names every request repeats are neither sliced nor lower-cased again.

const SIZE = 1024;
const MASK = SIZE - 1;
const PROBES = 4;
const cachedName: Array<string | undefined> = new Array<string | undefined>(SIZE).fill(undefined);
const cachedLower: string[] = new Array<string>(SIZE).fill('');

/**
 * The cached [name, lower-case name] for the bytes `buf[start, end)` (validated token bytes), via
 * `out`; returns false on a miss. Optimization: a head carries ~10 names, nearly always the same
 * few dozen per service; looking one up costs a short hash and a byte comparison, where building it
 * costs a string allocation and, for capitalised names, a lower-casing (~40 ns each).
 *
 * The cache is bounded (1024 slots, 4 probes) and a miss may evict: names chosen by a client can
 * only cost the cache its hit rate, never memory or correctness (every hit is verified byte by byte).
 */
export function lookupName(buf: Buffer, start: number, end: number, out: [string, string]): boolean {
  const n = end - start;
  const slot0 = slotOf(buf, start, end, n);
  for (let p = 0; p < PROBES; p++) {
    const slot = (slot0 + p) & MASK;
    const name = cachedName[slot];
    if (name === undefined) return false;
    if (name.length !== n) continue;
    let i = 0;
    while (i < n && name.charCodeAt(i) === buf[start + i]) i++;
    if (i === n) {
      out[0] = name;
      out[1] = cachedLower[slot]!;
      return true;
    }
  }
  return false;
}

/** Remembers `name` (the string of `buf[start, end)`) and its lower-case form, evicting within the probe window when full. */
export function rememberName(buf: Buffer, start: number, end: number, name: string, lower: string): void {
  const slot0 = slotOf(buf, start, end, end - start);
  let victim = slot0;
  for (let p = 0; p < PROBES; p++) {
    const slot = (slot0 + p) & MASK;
    if (cachedName[slot] === undefined) {
      victim = slot;
      break;
    }
  }
  cachedName[victim] = name;
  cachedLower[victim] = lower;
}

function slotOf(buf: Buffer, start: number, end: number, n: number): number {
  let h = Math.imul(n, 0x9e3779b1) ^ buf[start]!;
  h = Math.imul(h ^ buf[start + (n >> 1)]!, 0x85ebca6b) ^ buf[end - 1]!;
  h = Math.imul(h ^ (n > 2 ? buf[start + 1]! : 0), 0xc2b2ae35);
  return (h ^ (h >>> 15)) & MASK;
}
