// Streaming body framing (RFC 9112 §6–§7): Content-Length counting and a strict chunked decoder that reports byte ranges, so bodies are forwarded without copies and the next pipelined message is found exactly.
import { CR, DQUOTE, EQUALS, HEX_VALUE, HTAB, LF, QDTEXT, SEMI, SP, TCHAR, BACKSLASH } from './chars.js';
import { REQUEST_ERRORS, RESPONSE_ERRORS, type Http1ErrorTable, type Http1ParseError } from './errors.js';
import { FIELD_NAME, HEAD_ERROR, HEAD_INCOMPLETE, HeadKind, HeadScanner } from './head-scanner.js';
import { HeaderList } from './header-list.js';
import { DEFAULT_HTTP1_LIMITS, type Http1Limits } from './limits.js';

/**
 * How a message body is delimited: `none` (no body), `length` (Content-Length bytes), `chunked`,
 * `until-close` (a response body that ends when the upstream closes), `tunnel` (CONNECT / 101: not
 * HTTP any more; bytes flow both ways until either side closes).
 */
export type BodyFraming = 'none' | 'length' | 'chunked' | 'until-close' | 'tunnel';

/** `read` results. */
/** Every input byte was consumed (framing only, or nothing); feed the next chunk. */
export const BODY_NEED_MORE = 0;
/** `buf[dataStart, dataEnd)` is body payload. */
export const BODY_DATA = 1;
/** The message has ended at `next` (exclusive): bytes from there on belong to the next message. `trailers` holds a chunked message's trailers. */
export const BODY_END = 2;
/** The body is malformed; `error` says why. The connection must be closed. */
export const BODY_ERROR = 3;

export type BodyEvent = typeof BODY_NEED_MORE | typeof BODY_DATA | typeof BODY_END | typeof BODY_ERROR;

// Modes.
const M_NONE = 0;
const M_LENGTH = 1;
const M_CHUNKED = 2;
const M_UNTIL_CLOSE = 3;
const M_DONE = 4;
const M_FAILED = 5;

// Chunked states (RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF).
const C_SIZE_START = 0;
const C_SIZE = 1;
const C_SIZE_BWS = 2;
const C_EXT_NAME_START = 3;
const C_EXT_NAME = 4;
const C_EXT_NAME_BWS = 5;
const C_EXT_VALUE_START = 6;
const C_EXT_TOKEN = 7;
const C_EXT_QUOTED = 8;
const C_EXT_QUOTED_PAIR = 9;
const C_EXT_AFTER_QUOTED = 10;
const C_SIZE_LF = 11;
const C_DATA = 12;
const C_DATA_CR = 13;
const C_DATA_LF = 14;
const C_TRAILERS = 15;

/** 2^53 / 16: a size above this cannot take another hex digit and stay a safe integer. */
const SIZE_SHIFT_LIMIT = Math.floor(Number.MAX_SAFE_INTEGER / 16);

/**
 * Reads one message body after another from a connection's bytes, reporting ranges of the input
 * rather than copying. Create one per connection direction; call `start` with the head's framing
 * before each body, then call `read` in a loop:
 *
 *     let pos = bodyStart;
 *     for (;;) {
 *       const ev = dec.read(chunk, pos, chunk.length);
 *       if (ev === BODY_DATA) { deliver(chunk.subarray(dec.dataStart, dec.dataEnd)); pos = dec.next; continue; }
 *       if (ev === BODY_END) { nextMessageStartsAt(dec.next); break; }
 *       if (ev === BODY_ERROR) { fail(dec.error); break; }
 *       break; // BODY_NEED_MORE: wait for the next chunk
 *     }
 *
 * To forward a chunked body as it came (no re-chunking), send `chunk[pos0, next)` of each read
 * instead of the data ranges: everything up to `next` on BODY_END is the message's framing and data.
 * To de-chunk, send only the data ranges. At end of input call `finish`.
 */
export class BodyDecoder {
  /** Payload range of the last BODY_DATA. */
  dataStart = 0;
  dataEnd = 0;
  /** Where the next `read` should start: after the last DATA, or just past the message on BODY_END. */
  next = 0;
  /** Trailer fields of the chunked message that just ended (null when it had none, or for other framings). */
  trailers: HeaderList | null = null;
  /** Why the last read returned BODY_ERROR. */
  error: Http1ParseError | null = null;
  /** Payload bytes of the current message so far. */
  bodyBytes = 0;

  private readonly limits: Http1Limits;
  private readonly errors: Http1ErrorTable;
  private mode = M_DONE;
  private remaining = 0;
  private cstate = C_SIZE_START;
  private chunkSize = 0;
  private lineBytes = 0;
  private trailerParser: TrailerParser | null = null;

  /** `side` selects the statuses of refusals: 4xx for a downstream request body, 502 for an upstream response body. */
  constructor(side: 'request' | 'response', limits: Http1Limits = DEFAULT_HTTP1_LIMITS) {
    this.limits = limits;
    this.errors = side === 'request' ? REQUEST_ERRORS : RESPONSE_ERRORS;
  }

  /**
   * Prepares for the body of a new message. `contentLength` is used for `length`. For `tunnel`
   * use no decoder: the bytes are not HTTP. Call only when the previous body has ended (or failed).
   */
  start(framing: BodyFraming, contentLength = -1): void {
    this.trailers = null;
    this.error = null;
    this.bodyBytes = 0;
    switch (framing) {
      case 'length':
        this.mode = contentLength > 0 ? M_LENGTH : M_NONE;
        this.remaining = contentLength;
        break;
      case 'chunked':
        this.mode = M_CHUNKED;
        this.cstate = C_SIZE_START;
        this.lineBytes = 0;
        if (this.trailerParser !== null) this.trailerParser.reset();
        break;
      case 'until-close':
        this.mode = M_UNTIL_CLOSE;
        break;
      default:
        this.mode = M_NONE;
    }
  }

  /** True once the body has ended (BODY_END returned or nothing to read). */
  get done(): boolean {
    return this.mode === M_DONE;
  }

  /** Reads `buf[pos, end)`; see the class comment. Never reads past `end`, never copies payload. */
  read(buf: Buffer, pos: number, end: number): BodyEvent {
    switch (this.mode) {
      case M_LENGTH: {
        const n = Math.min(this.remaining, end - pos);
        if (n === 0) {
          this.next = pos;
          return BODY_NEED_MORE;
        }
        this.dataStart = pos;
        this.dataEnd = this.next = pos + n;
        this.bodyBytes += n;
        if ((this.remaining -= n) === 0) this.mode = M_NONE;
        return BODY_DATA;
      }
      case M_NONE:
        this.mode = M_DONE;
        this.next = pos;
        return BODY_END;
      case M_DONE:
        this.next = pos;
        return BODY_END;
      case M_CHUNKED:
        return this.readChunked(buf, pos, end);
      case M_UNTIL_CLOSE:
        if (pos === end) {
          this.next = pos;
          return BODY_NEED_MORE;
        }
        this.dataStart = pos;
        this.dataEnd = this.next = end;
        this.bodyBytes += end - pos;
        return BODY_DATA;
      default:
        return BODY_ERROR;
    }
  }

  /**
   * The input has ended (the peer closed). Returns BODY_END when that completes the message (a body
   * read until close, or one already ended), BODY_ERROR (`http1.truncated_message`) when the body
   * was cut short.
   */
  finish(): BodyEvent {
    if (this.mode === M_DONE || this.mode === M_NONE || this.mode === M_UNTIL_CLOSE) {
      this.mode = M_DONE;
      return BODY_END;
    }
    if (this.mode !== M_FAILED) this.fail(this.errors['http1.truncated_message']);
    return BODY_ERROR;
  }

  private fail(err: Http1ParseError): BodyEvent {
    this.error = err;
    this.mode = M_FAILED;
    return BODY_ERROR;
  }

  private readChunked(buf: Buffer, pos: number, end: number): BodyEvent {
    const E = this.errors;
    let st = this.cstate;
    // Where the current chunk-size line started (before this call when it began in an earlier chunk).
    let lineBase = pos - this.lineBytes;
    const maxLine = this.limits.maxChunkLineBytes;
    while (pos < end) {
      // The size line's content (before its CR) is at most maxChunkLineBytes; a byte past that which is not the CR fails.
      if (st < C_SIZE_LF && pos - lineBase > maxLine) return this.fail(E['http1.chunk_line_too_long']);
      const c = buf[pos]!;
      switch (st) {
        case C_SIZE_START: {
          const h = HEX_VALUE[c]!;
          if (h === 255) return this.fail(c === LF ? E['http1.bare_lf'] : E['http1.invalid_chunk_size']);
          this.chunkSize = h;
          st = C_SIZE;
          break;
        }
        case C_SIZE: {
          const h = HEX_VALUE[c]!;
          if (h !== 255) {
            // `ffffffffffffffffff` must not wrap around to a small size (a 64-bit overflow once let
            // two parsers disagree on where a chunk ends).
            if (this.chunkSize > SIZE_SHIFT_LIMIT) return this.fail(E['http1.chunk_size_overflow']);
            this.chunkSize = this.chunkSize * 16 + h;
          } else if (c === CR) st = C_SIZE_LF;
          else if (c === SEMI) st = C_EXT_NAME_START;
          else if (c === SP || c === HTAB) st = C_SIZE_BWS;
          else return this.fail(c === LF ? E['http1.bare_lf'] : E['http1.invalid_chunk_size']);
          break;
        }
        // Extensions (RFC 9112 §7.1.1) are parsed to the grammar and discarded: skipping to the next
        // LF instead is what let `1;a\nX` read as two different lines by two proxies.
        case C_SIZE_BWS:
          if (c === SEMI) st = C_EXT_NAME_START;
          else if (c !== SP && c !== HTAB) return this.fail(E['http1.invalid_chunk_extension']);
          break;
        case C_EXT_NAME_START:
          if (TCHAR[c] !== 0) st = C_EXT_NAME;
          else if (c !== SP && c !== HTAB) return this.fail(E['http1.invalid_chunk_extension']);
          break;
        case C_EXT_NAME:
          if (TCHAR[c] !== 0) break;
          if (c === EQUALS) st = C_EXT_VALUE_START;
          else if (c === SEMI) st = C_EXT_NAME_START;
          else if (c === CR) st = C_SIZE_LF;
          else if (c === SP || c === HTAB) st = C_EXT_NAME_BWS;
          else return this.fail(E['http1.invalid_chunk_extension']);
          break;
        case C_EXT_NAME_BWS:
          if (c === EQUALS) st = C_EXT_VALUE_START;
          else if (c === SEMI) st = C_EXT_NAME_START;
          else if (c !== SP && c !== HTAB) return this.fail(E['http1.invalid_chunk_extension']);
          break;
        case C_EXT_VALUE_START:
          if (TCHAR[c] !== 0) st = C_EXT_TOKEN;
          else if (c === DQUOTE) st = C_EXT_QUOTED;
          else if (c !== SP && c !== HTAB) return this.fail(E['http1.invalid_chunk_extension']);
          break;
        case C_EXT_TOKEN:
          if (TCHAR[c] !== 0) break;
          if (c === SEMI) st = C_EXT_NAME_START;
          else if (c === CR) st = C_SIZE_LF;
          else if (c === SP || c === HTAB) st = C_SIZE_BWS;
          else return this.fail(E['http1.invalid_chunk_extension']);
          break;
        case C_EXT_QUOTED:
          if (c === DQUOTE) st = C_EXT_AFTER_QUOTED;
          else if (c === BACKSLASH) st = C_EXT_QUOTED_PAIR;
          else if (QDTEXT[c] === 0) return this.fail(E['http1.invalid_chunk_extension']);
          break;
        case C_EXT_QUOTED_PAIR:
          if (c !== HTAB && (c < 0x20 || c === 0x7f)) return this.fail(E['http1.invalid_chunk_extension']);
          st = C_EXT_QUOTED;
          break;
        case C_EXT_AFTER_QUOTED:
          if (c === SEMI) st = C_EXT_NAME_START;
          else if (c === CR) st = C_SIZE_LF;
          else if (c === SP || c === HTAB) st = C_SIZE_BWS;
          else return this.fail(E['http1.invalid_chunk_extension']);
          break;
        case C_SIZE_LF:
          if (c !== LF) return this.fail(E['http1.bare_cr']);
          pos++;
          if (this.chunkSize === 0) {
            st = C_TRAILERS;
            continue;
          }
          if ((this.bodyBytes += this.chunkSize) > this.limits.maxBodyBytes) return this.fail(E['http1.body_too_large']);
          this.remaining = this.chunkSize;
          st = C_DATA;
          continue;
        case C_DATA: {
          const n = Math.min(this.remaining, end - pos);
          this.dataStart = pos;
          this.dataEnd = this.next = pos + n;
          if ((this.remaining -= n) === 0) st = C_DATA_CR;
          this.cstate = st;
          return BODY_DATA;
        }
        case C_DATA_CR:
          if (c !== CR) return this.fail(E['http1.invalid_chunk_terminator']);
          st = C_DATA_LF;
          break;
        case C_DATA_LF:
          if (c !== LF) return this.fail(E['http1.invalid_chunk_terminator']);
          pos++;
          st = C_SIZE_START;
          lineBase = pos;
          continue;
        case C_TRAILERS: {
          const tp = (this.trailerParser ??= new TrailerParser(this.limits, this.errors));
          const r = tp.execute(buf, pos, end);
          if (r === HEAD_INCOMPLETE) {
            pos = end;
            continue;
          }
          if (r === HEAD_ERROR) return this.fail(tp.error!);
          this.trailers = tp.take();
          this.mode = M_DONE;
          this.next = r;
          return BODY_END;
        }
      }
      pos++;
    }
    this.cstate = st;
    this.lineBytes = st < C_DATA ? pos - lineBase : 0;
    this.next = end;
    return BODY_NEED_MORE;
  }
}

/** A chunked message's trailer section: field lines under the header rules and limits, no semantics (RFC 9110 §6.5). */
class TrailerParser extends HeadScanner {
  private result: HeaderList | null = null;

  constructor(limits: Http1Limits, errors: Http1ErrorTable) {
    super(HeadKind.Trailers, limits, errors);
  }

  /** The trailers just parsed (null when the section was empty); clears them. */
  take(): HeaderList | null {
    const r = this.result;
    this.result = null;
    return r;
  }

  protected complete(buf: Buffer, headEnd: number): Http1ParseError | null {
    if (this.count === 0) {
      this.result = null;
      return null;
    }
    const base = this.headStart;
    const hs = buf.toString('latin1', base, headEnd);
    const list = new HeaderList();
    const f = this.fields;
    for (let i = 0, k = 0; i < this.count; i++, k += 4) {
      this.fieldName(buf, hs, i);
      list.add(FIELD_NAME[0], hs.slice(f[k + 2]! - base, f[k + 3]! - base), FIELD_NAME[1]);
    }
    this.result = list;
    return null;
  }
}
