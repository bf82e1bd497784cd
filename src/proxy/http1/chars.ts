// Byte-class lookup tables for the HTTP/1.1 codec (RFC 9110 §5.6.2 tokens, §5.5 field values, RFC 9112 request targets), built once at module load.

/** Byte values the codec's state machines compare against. */
export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
export const SEMI = 0x3b;
export const EQUALS = 0x3d;
export const DQUOTE = 0x22;
export const BACKSLASH = 0x5c;

function table(pick: (c: number) => number): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pick(c);
  return t;
}

const TCHAR_PUNCT = "!#$%&'*+-.^_`|~";
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;

/**
 * tchar (RFC 9110 §5.6.2): 0 = not a token character, 1 = token character, 2 = upper-case letter
 * (a token character whose presence means the name needs lower-casing). Header names and methods
 * are tokens; anything else there is refused, which is what stops `Transfer-Encoding\t:` and
 * friends from being read differently by two parsers.
 */
export const TCHAR = table((c) => (isUpper(c) ? 2 : isLower(c) || isDigit(c) || TCHAR_PUNCT.includes(String.fromCharCode(c)) ? 1 : 0));

/**
 * field-vchar / OWS (RFC 9110 §5.5): HTAB, SP, VCHAR and obs-text are 1; every other control
 * (NUL, bare CR, bare LF, DEL…) is 0. A field value made of 1s cannot end a line early, which is the
 * whole point: CR/LF/NUL inside a value are how header injection and smuggling start.
 */
export const FIELD_VALUE = table((c) => (c === HTAB || (c >= 0x20 && c !== 0x7f) ? 1 : 0));

/**
 * Bytes allowed in a request-target: visible ASCII only (no SP, no controls, no DEL, no obs-text)
 * and no `#` — a fragment is never part of a request-target (RFC 9112 §3.2), and one that reaches
 * path-based authorization is a classic bypass. RFC 3986 is stricter still (no `"<>\^`{|}`), but
 * real clients send those raw and nginx, Node and Envoy accept them; none of them can change where
 * the request line ends.
 */
export const URL_CHAR = table((c) => (c > 0x20 && c < 0x7f && c !== 0x23 ? 1 : 0));

/** Hex digit value, or 255 when the byte is not a hex digit (chunk sizes, RFC 9112 §7.1). */
export const HEX_VALUE = table((c) => (isDigit(c) ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : 255));

/**
 * qdtext (RFC 9110 §5.6.4) inside a quoted chunk-extension value: HTAB, SP, `!`, `#`-`[`, `]`-`~`,
 * obs-text. DQUOTE and backslash are handled by the state machine; controls are refused.
 */
export const QDTEXT = table((c) => (c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80 ? 1 : 0));

/**
 * Characters of a Host value / authority (RFC 3986 reg-name, IP-literal and port): unreserved,
 * pct-encoded, sub-delims, `:`, `[`, `]`. `/ ? # @` and spaces are refused: a Host that carries a
 * path or userinfo is how routing confusion is smuggled past host-based rules.
 */
export const HOST_CHAR = table((c) => (isUpper(c) || isLower(c) || isDigit(c) || "-._~%!$&'()*+,;=:[]".includes(String.fromCharCode(c)) ? 1 : 0));

/** Strings made of tokens only (header names from configuration, methods). */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] === 0) return false;
  }
  return true;
}

/** A valid field value: no leading/trailing whitespace, no controls other than HTAB, latin1 only. */
export function isFieldValue(s: string): boolean {
  const n = s.length;
  if (n === 0) return true;
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(n - 1);
  if (first === SP || first === HTAB || last === SP || last === HTAB) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] === 0) return false;
  }
  return true;
}

const LOWER_CACHE = new Map<string, string>();
const LOWER_CACHE_MAX = 1024;

/**
 * ASCII lower-case of a header name. Optimization: the few names clients send capitalised
 * (`Host`, `User-Agent`, `Content-Type`…) repeat on every request, so their lower-case form is
 * cached (bounded, so hostile clients cannot grow it) instead of allocated per request.
 */
export function lowerName(name: string): string {
  let lower = LOWER_CACHE.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (LOWER_CACHE.size < LOWER_CACHE_MAX) LOWER_CACHE.set(name, lower);
  }
  return lower;
}
