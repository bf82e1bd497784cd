// The incremental, strict scanner of an HTTP/1.1 message head (start line and field lines, RFC 9112 §2–§5): validates every byte once and records where each part lies.
import { COLON, CR, FIELD_VALUE, HTAB, LF, SP, TCHAR, URL_CHAR } from './chars.js';
import type { Http1ErrorTable, Http1ParseError } from './errors.js';
import { MAX_METHOD_BYTES, type Http1Limits } from './limits.js';
import { lookupName, rememberName } from './name-cache.js';

/** `execute` result: every byte was consumed (buffered) and the head is not complete yet. */
export const HEAD_INCOMPLETE = -1;
/** `execute` result: the input was refused; `error` says why. The connection must be closed. */
export const HEAD_ERROR = -2;

/** What the scanner's start line is: a request line, a status line, or none (a chunked trailer section: field lines only). */
export type HeadKind = 0 | 1 | 2;
export const HeadKind = { Request: 0, Response: 1, Trailers: 2 } as const;

// Scanner states. Each is a point between bytes; the loop below advances through them.
const S_REQ_START = 0;
const S_REQ_LEADING_LF = 1;
const S_METHOD = 2;
const S_TARGET = 3;
const S_VERSION = 4;
const S_START_LF = 5;
const S_RES_START = 6;
const S_RES_VERSION = 7;
const S_STATUS = 8;
const S_REASON = 9;
const S_TRAILERS_START = 10;
const S_FIELD_START = 11;
const S_NAME = 12;
const S_VALUE_LEAD = 13;
const S_VALUE = 14;
const S_FIELD_LF = 15;
const S_END_LF = 16;
const S_FAILED = 17;

/** Scratch output of `fieldName`: [name as received, lower-case name]. */
export const FIELD_NAME: [string, string] = ['', ''];

/** Growth step of the accumulator: a split head is copied this much at a time, so a head followed by a large body copies little of the body. */
const ACC_STEP = 4096;

/**
 * Scans one head at a time, over as many chunks as it takes.
 *
 * Optimization: when a whole head lies in one chunk (the common case) it is scanned and decoded
 * in place, with no copy. Only a head split across reads is copied, into an accumulator that grows
 * in 4 KiB steps up to the limits, and is scanned from where the previous read stopped (never
 * rescanned: a client trickling one byte per packet costs linear, not quadratic, time).
 *
 * Subclasses turn the recorded positions into a head in `complete`, which runs once per head with
 * the buffer holding all of it (the chunk, or the accumulator).
 */
export abstract class HeadScanner {
  /** Why the last `execute` returned HEAD_ERROR; null otherwise. */
  error: Http1ParseError | null = null;

  protected readonly limits: Http1Limits;
  protected readonly errors: Http1ErrorTable;
  private readonly kind: HeadKind;
  private readonly initialState: number;

  // Positions, in the buffer being scanned, of what `complete` needs.
  /** First byte of the start line (after a tolerated leading CRLF); first trailer byte for trailers. */
  protected headStart = 0;
  protected methodEnd = 0;
  protected targetStart = 0;
  protected targetEnd = 0;
  /** Minor version (0 or 1) once the start line is scanned. */
  protected versionMinor = 1;
  /** Response status code once the status line is scanned. */
  protected status = 0;
  protected reasonStart = 0;
  protected reasonEnd = 0;
  /** Number of field lines recorded in `fields`. */
  protected count = 0;
  /** Per field: nameStart, nameEnd, valueStart, valueEnd (value without surrounding whitespace). */
  protected readonly fields: Int32Array;
  /** Per field: 1 when the name has an upper-case letter (and so needs lower-casing). */
  protected readonly upper: Uint8Array;

  private state: number;
  private skippedLeadingCrlf = false;
  /** Where the header-section size limit starts counting. */
  private sectionStart = 0;
  private nameStart = 0;
  private nameEnd = 0;
  private nameUpper = 0;
  private valueStart = 0;
  private versionStart = 0;
  private statusStart = 0;

  private acc: Buffer | null = null;
  private accLen = 0;

  protected constructor(kind: HeadKind, limits: Http1Limits, errors: Http1ErrorTable) {
    this.kind = kind;
    this.limits = limits;
    this.errors = errors;
    this.initialState = kind === HeadKind.Request ? S_REQ_START : kind === HeadKind.Response ? S_RES_START : S_TRAILERS_START;
    this.state = this.initialState;
    this.fields = new Int32Array(limits.maxHeaders * 4);
    this.upper = new Uint8Array(limits.maxHeaders);
  }

  /** True while part of a head has been received: end of input now means a truncated message. */
  get pending(): boolean {
    // A lone CRLF between messages (tolerated before a request line) is not a message begun.
    return this.accLen > 0 || (this.state !== this.initialState && this.state !== S_FAILED);
  }

  /** Forgets any partial head and error: the next byte starts a new head. */
  reset(): void {
    this.state = this.initialState;
    this.skippedLeadingCrlf = false;
    this.count = 0;
    this.accLen = 0;
    this.error = null;
  }

  /**
   * Feeds `chunk[start, end)`. Returns the offset in `chunk` just past the head — where the body or
   * the next message starts — when a head completes (the subclass then exposes it); HEAD_INCOMPLETE
   * when every byte was consumed and more are needed (the chunk may be reused by the caller: what
   * is needed was copied); HEAD_ERROR when the input is refused. After a completed head the scanner
   * is ready for the next one; after an error it stays failed until `reset`.
   */
  execute(chunk: Buffer, start = 0, end = chunk.length): number {
    if (this.state === S_FAILED) return HEAD_ERROR;
    if (this.accLen === 0) {
      const r = this.scan(chunk, start, end);
      if (r >= 0) return this.finish(chunk, r) ? r : HEAD_ERROR;
      // Nothing of a head yet (no bytes, or only a tolerated leading CRLF): nothing to keep.
      if (r === HEAD_ERROR || this.state === this.initialState) return r;
      // Split head: restart in the accumulator, where positions stay valid across reads.
      this.state = this.initialState;
      this.skippedLeadingCrlf = false;
      this.count = 0;
    }
    const cap = this.capacity();
    while (start < end) {
      const prev = this.accLen;
      const n = Math.min(end - start, ACC_STEP, cap - prev);
      if (n <= 0) return this.fail(this.errors['http1.headers_too_large']);
      const acc = this.reserve(prev + n);
      chunk.copy(acc, prev, start, start + n);
      this.accLen = prev + n;
      const r = this.scan(acc, prev, prev + n);
      if (r >= 0) {
        this.accLen = 0;
        return this.finish(acc, r) ? start + (r - prev) : HEAD_ERROR;
      }
      if (r === HEAD_ERROR) return r;
      if (this.state === this.initialState) this.accLen = 0;
      start += n;
    }
    return HEAD_INCOMPLETE;
  }

  /** Turns the scanned head in `buf[headStart, headEnd)` into the subclass's result; returns the refusal, or null. */
  protected abstract complete(buf: Buffer, headEnd: number): Http1ParseError | null;

  /**
   * The name of field `i` as received and lower-cased, into FIELD_NAME (scratch, read it at once).
   * `hs` is the head decoded from `buf[headStart…]`.
   */
  protected fieldName(buf: Buffer, hs: string, i: number): void {
    const s = this.fields[i * 4]!;
    const e = this.fields[i * 4 + 1]!;
    if (lookupName(buf, s, e, FIELD_NAME)) return;
    const name = hs.slice(s - this.headStart, e - this.headStart);
    const lower = this.upper[i] === 0 ? name : name.toLowerCase();
    rememberName(buf, s, e, name, lower);
    FIELD_NAME[0] = name;
    FIELD_NAME[1] = lower;
  }

  private finish(buf: Buffer, headEnd: number): boolean {
    const err = this.complete(buf, headEnd);
    this.state = this.initialState;
    this.skippedLeadingCrlf = false;
    this.count = 0;
    if (err !== null) {
      this.fail(err);
      return false;
    }
    return true;
  }

  private fail(err: Http1ParseError): number {
    this.error = err;
    this.state = S_FAILED;
    this.accLen = 0;
    return HEAD_ERROR;
  }

  /** Largest head the limits allow, in bytes: the accumulator never grows past it. */
  private capacity(): number {
    const l = this.limits;
    return this.kind === HeadKind.Request ? 2 + MAX_METHOD_BYTES + 1 + l.maxUrlBytes + 10 + l.maxHeadBytes + 1 : l.maxHeadBytes + 1;
  }

  private reserve(size: number): Buffer {
    let acc = this.acc;
    if (acc === null || acc.length < size) {
      let n = acc === null ? ACC_STEP * 2 : acc.length * 2;
      while (n < size) n *= 2;
      const grown = Buffer.allocUnsafe(Math.min(n, this.capacity()));
      if (acc !== null && this.accLen > 0) acc.copy(grown, 0, 0, this.accLen);
      this.acc = acc = grown;
    }
    return acc;
  }

  /**
   * The state machine: scans `buf[pos, end)` from the saved state. Returns the position just past
   * the head's final CRLF, HEAD_INCOMPLETE (state saved), or HEAD_ERROR. Every byte is checked
   * exactly once against the grammar, so nothing downstream re-validates.
   */
  private scan(buf: Buffer, pos: number, end: number): number {
    const E = this.errors;
    const limits = this.limits;
    let state = this.state;
    while (pos < end) {
      switch (state) {
        case S_REQ_START: {
          const c = buf[pos]!;
          if (c === CR && !this.skippedLeadingCrlf) {
            // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request-line.
            state = S_REQ_LEADING_LF;
            pos++;
            continue;
          }
          if (TCHAR[c] === 0) return this.fail(c === LF ? E['http1.bare_lf'] : E['http1.invalid_method']);
          this.headStart = pos;
          state = S_METHOD;
          continue;
        }
        case S_REQ_LEADING_LF:
          if (buf[pos] !== LF) return this.fail(E['http1.bare_cr']);
          this.skippedLeadingCrlf = true;
          pos++;
          state = S_REQ_START;
          continue;
        case S_METHOD: {
          while (pos < end && TCHAR[buf[pos]!] !== 0) pos++;
          if (pos - this.headStart > MAX_METHOD_BYTES) return this.fail(E['http1.invalid_method']);
          if (pos === end) break;
          if (buf[pos] !== SP) return this.fail(buf[pos] === LF ? E['http1.bare_lf'] : E['http1.invalid_method']);
          this.methodEnd = pos;
          pos++;
          this.targetStart = pos;
          state = S_TARGET;
          continue;
        }
        case S_TARGET: {
          while (pos < end && URL_CHAR[buf[pos]!] !== 0) pos++;
          if (pos - this.targetStart > limits.maxUrlBytes) return this.fail(E['http1.uri_too_long']);
          if (pos === end) break;
          const c = buf[pos]!;
          // One SP exactly, and a non-empty target: `GET  / HTTP/1.1` and `GET / HTTP/1.1 ` are refused.
          if (c !== SP || pos === this.targetStart) return this.fail(c === LF ? E['http1.bare_lf'] : E['http1.invalid_url']);
          this.targetEnd = pos;
          pos++;
          this.versionStart = pos;
          state = S_VERSION;
          continue;
        }
        case S_VERSION: {
          const vEnd = this.versionStart + 8;
          if (end < vEnd + 1) {
            pos = end;
            break;
          }
          const err = this.checkVersion(buf, this.versionStart);
          if (err !== null) return this.fail(err);
          if (buf[vEnd] !== CR) return this.fail(buf[vEnd] === LF ? E['http1.bare_lf'] : E['http1.invalid_version']);
          pos = vEnd + 1;
          state = S_START_LF;
          continue;
        }
        case S_START_LF:
          if (buf[pos] !== LF) return this.fail(E['http1.bare_cr']);
          pos++;
          if (this.kind === HeadKind.Request) this.sectionStart = pos;
          state = S_FIELD_START;
          continue;
        case S_RES_START:
          this.headStart = pos;
          this.sectionStart = pos;
          this.versionStart = pos;
          state = S_RES_VERSION;
          continue;
        case S_RES_VERSION: {
          const vEnd = this.versionStart + 8;
          if (end < vEnd + 1) {
            pos = end;
            break;
          }
          const err = this.checkVersion(buf, this.versionStart);
          if (err !== null) return this.fail(err === E['http1.invalid_version'] ? E['http1.invalid_status_line'] : err);
          if (buf[vEnd] !== SP) return this.fail(E['http1.invalid_status_line']);
          pos = vEnd + 1;
          this.statusStart = pos;
          state = S_STATUS;
          continue;
        }
        case S_STATUS: {
          const sStart = this.statusStart;
          if (end < sStart + 4) {
            pos = end;
            break;
          }
          const d0 = buf[sStart]! - 0x30;
          const d1 = buf[sStart + 1]! - 0x30;
          const d2 = buf[sStart + 2]! - 0x30;
          if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.fail(E['http1.invalid_status_line']);
          this.status = d0 * 100 + d1 * 10 + d2;
          const c = buf[sStart + 3]!;
          pos = sStart + 4;
          if (c === SP) {
            this.reasonStart = pos;
            state = S_REASON;
          } else if (c === CR) {
            // `HTTP/1.1 200\r\n`: the grammar wants the SP before an empty reason, but servers omit it and it cannot change framing.
            this.reasonStart = this.reasonEnd = sStart + 3;
            state = S_START_LF;
          } else {
            return this.fail(E['http1.invalid_status_line']);
          }
          continue;
        }
        case S_REASON: {
          while (pos < end && FIELD_VALUE[buf[pos]!] !== 0) pos++;
          if (pos === end) break;
          if (buf[pos] !== CR) return this.fail(buf[pos] === LF ? E['http1.bare_lf'] : E['http1.invalid_status_line']);
          this.reasonEnd = pos;
          pos++;
          state = S_START_LF;
          continue;
        }
        case S_TRAILERS_START:
          this.headStart = pos;
          this.sectionStart = pos;
          state = S_FIELD_START;
          continue;
        case S_FIELD_START: {
          const c = buf[pos]!;
          if (c === CR) {
            pos++;
            state = S_END_LF;
            continue;
          }
          if (TCHAR[c] === 0) {
            // A line starting with whitespace is obs-fold (RFC 9112 §5.2) — or, on the first line,
            // whitespace between the start line and the fields (§2.2); both are refused: they are
            // how `Transfer-Encoding` hides from one parser and not another.
            return this.fail(c === SP || c === HTAB ? E['http1.obs_fold'] : c === LF ? E['http1.bare_lf'] : E['http1.invalid_header_name']);
          }
          if (this.count === limits.maxHeaders) return this.fail(E['http1.too_many_headers']);
          this.nameStart = pos;
          this.nameUpper = 0;
          state = S_NAME;
          continue;
        }
        case S_NAME: {
          let up = this.nameUpper;
          let t = 0;
          while (pos < end && (t = TCHAR[buf[pos]!]!) !== 0) {
            up |= t;
            pos++;
          }
          this.nameUpper = up;
          if (pos === end) break;
          const c = buf[pos]!;
          if (c !== COLON) {
            return this.fail(c === SP || c === HTAB ? E['http1.whitespace_before_colon'] : c === LF ? E['http1.bare_lf'] : E['http1.invalid_header_name']);
          }
          this.nameEnd = pos;
          pos++;
          state = S_VALUE_LEAD;
          continue;
        }
        case S_VALUE_LEAD: {
          let c = buf[pos]!;
          while ((c === SP || c === HTAB) && ++pos < end) c = buf[pos]!;
          if (pos === end) break;
          this.valueStart = pos;
          state = S_VALUE;
          continue;
        }
        case S_VALUE: {
          while (pos < end && FIELD_VALUE[buf[pos]!] !== 0) pos++;
          if (pos === end) break;
          const c = buf[pos]!;
          if (c !== CR) return this.fail(c === LF ? E['http1.bare_lf'] : E['http1.invalid_header_value']);
          let vEnd = pos;
          const vStart = this.valueStart;
          while (vEnd > vStart && (buf[vEnd - 1] === SP || buf[vEnd - 1] === HTAB)) vEnd--;
          const k = this.count * 4;
          const f = this.fields;
          f[k] = this.nameStart;
          f[k + 1] = this.nameEnd;
          f[k + 2] = vStart;
          f[k + 3] = vEnd;
          this.upper[this.count] = this.nameUpper & 2;
          this.count++;
          pos++;
          state = S_FIELD_LF;
          continue;
        }
        case S_FIELD_LF:
          if (buf[pos] !== LF) return this.fail(E['http1.bare_cr']);
          pos++;
          if (pos - this.sectionStart > limits.maxHeadBytes) return this.fail(E['http1.headers_too_large']);
          state = S_FIELD_START;
          continue;
        case S_END_LF:
          if (buf[pos] !== LF) return this.fail(E['http1.bare_cr']);
          pos++;
          if (pos - this.sectionStart > limits.maxHeadBytes) return this.fail(E['http1.headers_too_large']);
          this.state = state;
          return pos;
        default:
          return HEAD_ERROR;
      }
    }
    this.state = state;
    // Still inside the field section (or a status line): bound what is buffered.
    if (state > S_START_LF && state !== S_RES_START && state !== S_TRAILERS_START && end - this.sectionStart > limits.maxHeadBytes) return this.fail(E['http1.headers_too_large']);
    return HEAD_INCOMPLETE;
  }

  /** `HTTP/1.0` or `HTTP/1.1` at `at` (sets versionMinor); 505 for another well-formed `HTTP/d.d`; 400 otherwise. */
  private checkVersion(buf: Buffer, at: number): Http1ParseError | null {
    const E = this.errors;
    if (buf[at] !== 0x48 || buf[at + 1] !== 0x54 || buf[at + 2] !== 0x54 || buf[at + 3] !== 0x50 || buf[at + 4] !== 0x2f || buf[at + 6] !== 0x2e) return E['http1.invalid_version'];
    const major = buf[at + 5]! - 0x30;
    const minor = buf[at + 7]! - 0x30;
    if (major < 0 || major > 9 || minor < 0 || minor > 9) return E['http1.invalid_version'];
    if (major !== 1 || minor > 1) return E['http1.unsupported_version'];
    this.versionMinor = minor;
    return null;
  }
}
