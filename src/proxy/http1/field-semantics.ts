// The few header values the codec itself must understand — Content-Length, Connection options, methods — parsed without allocating.

/** ASCII case-insensitive equality with a lower-case literal. */
export function equalsIgnoreCase(s: string, lowerLiteral: string): boolean {
  return s.length === lowerLiteral.length && equalsIgnoreCaseAt(s, 0, lowerLiteral);
}

/** `s` at `at` spells `lowerLiteral` (made of lower-case letters, digits and punctuation) ignoring ASCII case. */
function equalsIgnoreCaseAt(s: string, at: number, lowerLiteral: string): boolean {
  for (let i = 0; i < lowerLiteral.length; i++) {
    const l = lowerLiteral.charCodeAt(i);
    let c = s.charCodeAt(at + i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== l) return false;
  }
  return true;
}

/**
 * Content-Length (RFC 9110 §8.6): 1*DIGIT and nothing else — no sign, no inner space, no hex, no
 * list — as a safe integer; -1 when invalid. A lenient parse here (`+5`, `0x5`, `5, 5`, ` 5 6`) is
 * exactly what CL.CL smuggling relies on.
 */
export function parseContentLength(v: string): number {
  const n = v.length;
  if (n === 0) return -1;
  let x = 0;
  for (let i = 0; i < n; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    x = x * 10 + d;
    if (x > Number.MAX_SAFE_INTEGER) return -1;
  }
  return x;
}

/** Connection option bits (RFC 9110 §7.6.1). */
export const CONN_CLOSE = 1;
export const CONN_KEEP_ALIVE = 2;
export const CONN_UPGRADE = 4;

/** The options of one Connection header value that the codec acts on (`close`, `keep-alive`, `upgrade`), as bits; others are ignored. */
export function connectionOptions(v: string): number {
  // Optimization: the usual values are a single option.
  if (v.length === 10 && equalsIgnoreCaseAt(v, 0, 'keep-alive')) return CONN_KEEP_ALIVE;
  if (v.length === 5 && equalsIgnoreCaseAt(v, 0, 'close')) return CONN_CLOSE;
  let bits = 0;
  let i = 0;
  const n = v.length;
  while (i <= n) {
    let j = v.indexOf(',', i);
    if (j === -1) j = n;
    let a = i;
    let b = j;
    while (a < b && (v.charCodeAt(a) === 0x20 || v.charCodeAt(a) === 0x09)) a++;
    while (b > a && (v.charCodeAt(b - 1) === 0x20 || v.charCodeAt(b - 1) === 0x09)) b--;
    const len = b - a;
    if (len === 5 && equalsIgnoreCaseAt(v, a, 'close')) bits |= CONN_CLOSE;
    else if (len === 10 && equalsIgnoreCaseAt(v, a, 'keep-alive')) bits |= CONN_KEEP_ALIVE;
    else if (len === 7 && equalsIgnoreCaseAt(v, a, 'upgrade')) bits |= CONN_UPGRADE;
    i = j + 1;
  }
  return bits;
}

const METHODS: readonly string[] = ['GET', 'PUT', 'POST', 'HEAD', 'PATCH', 'TRACE', 'DELETE', 'OPTIONS', 'CONNECT'];
/** Known methods by length, so a comparison is a few byte checks. */
const METHODS_BY_LENGTH: ReadonlyArray<readonly string[]> = (() => {
  const t: string[][] = [];
  for (let n = 0; n <= 7; n++) t.push(METHODS.filter((m) => m.length === n));
  return t;
})();

/**
 * The interned literal for a common method in `buf[start, end)` (case-sensitive, RFC 9110 §9.1), or
 * undefined. Optimization: no string allocation for the method of almost every request, and later
 * comparisons (`method === 'HEAD'`) compare one pointer.
 */
export function knownMethod(buf: Buffer, start: number, end: number): string | undefined {
  const n = end - start;
  if (n > 7) return undefined;
  const candidates = METHODS_BY_LENGTH[n]!;
  for (let m = 0; m < candidates.length; m++) {
    const lit = candidates[m]!;
    let i = 0;
    while (i < n && buf[start + i] === lit.charCodeAt(i)) i++;
    if (i === n) return lit;
  }
  return undefined;
}
