// Strict parsing of an upstream's HTTP/1.1 response head (RFC 9112 §4, §6.3): status line, interim 1xx, and how the body is delimited given the request it answers.
import type { BodyFraming } from './body-framing.js';
import { RESPONSE_ERRORS, type Http1ParseError } from './errors.js';
import { connectionOptions, equalsIgnoreCase, parseContentLength, CONN_CLOSE, CONN_KEEP_ALIVE, CONN_UPGRADE } from './field-semantics.js';
import { FIELD_NAME, HeadKind, HeadScanner } from './head-scanner.js';
import { HeaderList } from './header-list.js';
import { DEFAULT_HTTP1_LIMITS, type Http1Limits } from './limits.js';

/** A parsed, validated response head. Immutable except `headers`, which the caller owns and may edit. */
export class ResponseHead {
  constructor(
    readonly versionMinor: 0 | 1,
    /** 100–599. */
    readonly status: number,
    /** As received (may be empty). */
    readonly reason: string,
    readonly headers: HeaderList,
    /**
     * How the body is delimited (RFC 9112 §6.3): `none` for 1xx, 204, 304 and any response to HEAD;
     * `tunnel` for 101 and a 2xx to CONNECT (the rest of the connection is opaque bytes);
     * `chunked`; `length`; else `until-close` (the body ends when the upstream closes).
     */
    readonly framing: BodyFraming,
    /** Content-Length, or -1 when absent (for HEAD/304 it describes the representation, not this message). */
    readonly contentLength: number,
    /** Whether the upstream connection can carry another request after this response. */
    readonly keepAlive: boolean,
    /**
     * A 1xx other than 101 (100 Continue, 102, 103 Early Hints): an interim response, to forward (or
     * drop) before the final one, which the same parser reads next.
     */
    readonly interim: boolean,
    /** The Upgrade header of a 101 (`websocket`), else `''`. */
    readonly upgrade: string,
    /** Bytes of the head on the wire. */
    readonly headBytes: number,
  ) {}
}

/**
 * Parses the responses of one upstream connection. Before feeding the bytes of each response, call
 * `forRequest(method)` with the method of the request it answers (HEAD and CONNECT change the
 * framing). After an interim (1xx) head keep calling `execute` for the final one. On HEAD_ERROR
 * the upstream connection is unusable: close it and answer 502 (Envoy: upstream protocol error).
 */
export class ResponseHeadParser extends HeadScanner {
  /** The head completed by the last `execute` that returned an offset; replaced by the next one. */
  head: ResponseHead | null = null;
  private requestMethod = 'GET';

  constructor(limits: Http1Limits = DEFAULT_HTTP1_LIMITS) {
    super(HeadKind.Response, limits, RESPONSE_ERRORS);
  }

  /** Sets the method of the request the next response answers. Returns this. */
  forRequest(method: string): this {
    this.requestMethod = method;
    return this;
  }

  protected complete(buf: Buffer, headEnd: number): Http1ParseError | null {
    const E = this.errors;
    const base = this.headStart;
    const hs = buf.toString('latin1', base, headEnd);
    const status = this.status;
    const minor = this.versionMinor as 0 | 1;
    const reason = this.reasonEnd - this.reasonStart === 2 && buf[this.reasonStart] === 0x4f && buf[this.reasonStart + 1] === 0x4b ? 'OK' : hs.slice(this.reasonStart - base, this.reasonEnd - base);

    const headers = new HeaderList();
    const names = headers.names;
    const lowers = headers.lowerNames;
    const values = headers.values;
    let contentLength = -1;
    let te: string | undefined;
    let teCount = 0;
    let conn = 0;
    let upgrade = '';
    const f = this.fields;
    for (let i = 0, k = 0; i < this.count; i++, k += 4) {
      this.fieldName(buf, hs, i);
      const name = FIELD_NAME[0];
      const lower = FIELD_NAME[1];
      const value = hs.slice(f[k + 2]! - base, f[k + 3]! - base);
      switch (lower.length) {
        case 7:
          if (lower === 'upgrade') upgrade = value;
          break;
        case 10:
          if (lower === 'connection') conn |= connectionOptions(value);
          break;
        case 14:
          if (lower === 'content-length') {
            const n = parseContentLength(value);
            if (n < 0) return E['http1.invalid_content_length'];
            if (contentLength >= 0) {
              if (n !== contentLength) return E['http1.conflicting_content_length'];
              continue;
            }
            contentLength = n;
          }
          break;
        case 17:
          if (lower === 'transfer-encoding') {
            te = value;
            teCount++;
          }
          break;
      }
      names.push(name);
      lowers.push(lower);
      values.push(value);
    }

    // The same framing rules as requests, applied to upstreams too: an upstream that frames
    // ambiguously could desynchronize a pooled connection shared by many clients (response splitting).
    if (teCount > 0) {
      if (teCount > 1 || !equalsIgnoreCase(te!, 'chunked')) return E['http1.invalid_transfer_encoding'];
      if (contentLength >= 0) return E['http1.content_length_and_chunked'];
      if (minor === 0) return E['http1.transfer_encoding_http10'];
    }

    const method = this.requestMethod;
    const interim = status < 200 && status !== 101;
    let framing: BodyFraming;
    if (status === 101 || (method === 'CONNECT' && status < 300 && status >= 200)) framing = 'tunnel';
    else if (status < 200 || status === 204 || status === 304 || method === 'HEAD') framing = 'none';
    else if (teCount > 0) framing = 'chunked';
    else if (contentLength >= 0) {
      if (contentLength > this.limits.maxBodyBytes) return E['http1.body_too_large'];
      framing = 'length';
    } else framing = 'until-close';

    const keepAlive = framing !== 'until-close' && framing !== 'tunnel' && (conn & CONN_CLOSE) === 0 && (minor === 1 || (conn & CONN_KEEP_ALIVE) !== 0);
    this.head = new ResponseHead(minor, status, reason, headers, framing, contentLength, keepAlive, interim, status === 101 && (conn & CONN_UPGRADE) !== 0 ? upgrade : '', headEnd - base);
    return null;
  }
}
