// Strict parsing of a downstream HTTP/1.1 request head (RFC 9112 §3, §6): request line, Host, message framing, connection options — refusing anything two parsers could read differently.
import { HOST_CHAR } from './chars.js';
import type { BodyFraming } from './body-framing.js';
import { REQUEST_ERRORS, type Http1ParseError } from './errors.js';
import { FIELD_NAME, HeadKind, HeadScanner } from './head-scanner.js';
import { HeaderList } from './header-list.js';
import { DEFAULT_HTTP1_LIMITS, type Http1Limits } from './limits.js';
import { connectionOptions, equalsIgnoreCase, knownMethod, parseContentLength, CONN_CLOSE, CONN_KEEP_ALIVE, CONN_UPGRADE } from './field-semantics.js';

/** RFC 9112 §3.2: origin-form `/p?q`, absolute-form `http://h/p`, authority-form `h:443` (CONNECT), asterisk-form `*` (OPTIONS). */
export type TargetForm = 'origin' | 'absolute' | 'authority' | 'asterisk';

/** A parsed, validated request head. Immutable except `headers`, which the caller owns and may edit. */
export class RequestHead {
  constructor(
    /** As received (case-sensitive token); common methods are interned literals (`'GET'`). */
    readonly method: string,
    /** The request-target exactly as received. */
    readonly target: string,
    readonly targetForm: TargetForm,
    /**
     * Path and query for routing: the target for origin-form; the part after the authority for
     * absolute-form (`/` when empty); `*` for asterisk-form; `''` for CONNECT.
     */
    readonly path: string,
    /**
     * The authority the request is for: the target's for absolute-form (RFC 9112 §3.2.2: the Host
     * header is then ignored) and CONNECT, else the Host header (`''` for HTTP/1.0 without Host).
     */
    readonly authority: string,
    readonly versionMinor: 0 | 1,
    /** Fields in order. Identical duplicate Content-Length lines are collapsed into the first. */
    readonly headers: HeaderList,
    /**
     * How the body is delimited: `length` (contentLength bytes, maybe 0), `chunked`, `none` (no
     * Content-Length, no Transfer-Encoding: no body), or `tunnel` for CONNECT (bytes after the head
     * belong to the tunnel once the upstream accepts it with a 2xx; otherwise close).
     */
    readonly framing: BodyFraming,
    /** Content-Length, or -1 when absent. */
    readonly contentLength: number,
    /** Whether the client allows another request on this connection (RFC 9112 §9.3). */
    readonly keepAlive: boolean,
    /** The Upgrade header when `Connection: upgrade` asks for one (e.g. `websocket`), else `''`. On a 101 the connection becomes a tunnel. */
    readonly upgrade: string,
    /** `Expect: 100-continue`. */
    readonly expectContinue: boolean,
    /** Bytes of the head on the wire, start line to the final CRLF (a tolerated leading CRLF excluded). */
    readonly headBytes: number,
  ) {}

  /**
   * The target as forwarded upstream and logged as Envoy's `:path`: an absolute-form target
   * (`http://reviews:9080/r`, a client using the proxy as its HTTP proxy) in origin-form (`/r`);
   * any other form as received.
   */
  get forwardTarget(): string {
    return this.targetForm === 'absolute' ? this.path : this.target;
  }
}

/**
 * Parses request heads from a downstream connection, one after another (pipelining): create one per
 * connection, feed it with `execute`, read `head` when it returns an offset, hand the body bytes
 * from that offset to a BodyDecoder, and call `execute` again for the next request once the body
 * has ended. On HEAD_ERROR answer `error.status` (see `localReply`) and close the connection.
 */
export class RequestHeadParser extends HeadScanner {
  /** The head completed by the last `execute` that returned an offset; replaced by the next one. */
  head: RequestHead | null = null;

  constructor(limits: Http1Limits = DEFAULT_HTTP1_LIMITS) {
    super(HeadKind.Request, limits, REQUEST_ERRORS);
  }

  protected complete(buf: Buffer, headEnd: number): Http1ParseError | null {
    const E = this.errors;
    const base = this.headStart;
    // Optimization: one string for the whole head, then slices of it — one native call per head
    // instead of one per field (a latin1 decode costs ~50 ns of call overhead, a slice ~5).
    const hs = buf.toString('latin1', base, headEnd);
    const method = knownMethod(buf, base, this.methodEnd) ?? hs.slice(0, this.methodEnd - base);
    // Methods are case-sensitive, and one spelled in lower case is how a request slips past a
    // policy on `GET` while the backend reads it as GET: refused, as Envoy's codec does
    // (reliability-security §1 A10).
    if (/[a-z]/.test(method)) return E['http1.invalid_method'];
    const target = hs.slice(this.targetStart - base, this.targetEnd - base);
    const minor = this.versionMinor as 0 | 1;

    const headers = new HeaderList();
    const names = headers.names;
    const lowers = headers.lowerNames;
    const values = headers.values;
    let host: string | undefined;
    let hostCount = 0;
    let contentLength = -1;
    let te: string | undefined;
    let teCount = 0;
    let conn = 0;
    let upgrade = '';
    let expectContinue = false;
    const f = this.fields;
    for (let i = 0, k = 0; i < this.count; i++, k += 4) {
      this.fieldName(buf, hs, i);
      const name = FIELD_NAME[0];
      const lower = FIELD_NAME[1];
      const value = hs.slice(f[k + 2]! - base, f[k + 3]! - base);
      switch (lower.length) {
        case 4:
          if (lower === 'host') {
            host = value;
            hostCount++;
          }
          break;
        case 6:
          if (lower === 'expect' && equalsIgnoreCase(value, '100-continue')) expectContinue = true;
          break;
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
              // RFC 9110 §8.6: identical repeats may be folded into one; different ones are fatal.
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

    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one ever, and it must be an authority.
    if (hostCount > 1) return E['http1.duplicate_host'];
    if (hostCount === 0 && minor === 1) return E['http1.missing_host'];
    // An empty Host names no virtual host; refused rather than routed to a default one (§1 B8).
    if (host !== undefined && (host === '' || !isAuthorityChars(host, 0, host.length))) return E['http1.invalid_host'];

    const isConnect = method === 'CONNECT';
    if (teCount > 0) {
      // Envoy accepts exactly `chunked` (any case) and answers 501 to anything else — `chunked, identity`,
      // `gzip, chunked`, two Transfer-Encoding lines — and to CONNECT with a body.
      if (teCount > 1 || !equalsIgnoreCase(te!, 'chunked') || isConnect) return E['http1.invalid_transfer_encoding'];
      // The classic CL.TE / TE.CL smuggling pair (RFC 9112 §6.3 ¶3: "ought to be handled as an error"); Envoy's default.
      if (contentLength >= 0) return E['http1.content_length_and_chunked'];
      // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
      if (minor === 0) return E['http1.transfer_encoding_http10'];
    }
    if (isConnect && contentLength > 0) return E['http1.body_disallowed'];
    if (contentLength > this.limits.maxBodyBytes) return E['http1.body_too_large'];

    let form: TargetForm;
    let path = target;
    let authority = host ?? '';
    const t0 = target.charCodeAt(0);
    if (isConnect) {
      if (!isAuthorityForm(target)) return E['http1.invalid_url'];
      form = 'authority';
      path = '';
      authority = target;
    } else if (t0 === 0x2f) {
      form = 'origin';
    } else if (target === '*') {
      if (method !== 'OPTIONS') return E['http1.invalid_url'];
      form = 'asterisk';
    } else {
      const a = authorityOfAbsolute(target);
      if (a < 0) return E['http1.invalid_url'];
      const aStart = target.indexOf('://') + 3;
      authority = target.slice(aStart, a);
      path = a === target.length ? '/' : target.charCodeAt(a) === 0x3f ? `/${target.slice(a)}` : target.slice(a);
      form = 'absolute';
    }

    const framing: BodyFraming = isConnect ? 'tunnel' : teCount > 0 ? 'chunked' : contentLength >= 0 ? 'length' : 'none';
    const keepAlive = (conn & CONN_CLOSE) === 0 && (minor === 1 || (conn & CONN_KEEP_ALIVE) !== 0);
    this.head = new RequestHead(method, target, form, path, authority, minor, headers, framing, contentLength, keepAlive, (conn & CONN_UPGRADE) !== 0 ? upgrade : '', expectContinue, headEnd - base);
    return null;
  }
}

/** `s[from, to)` is made of authority characters (reg-name / IP-literal / port). Empty is allowed (RFC 9112 §3.2 permits an empty Host). */
function isAuthorityChars(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || HOST_CHAR[c] === 0) return false;
  }
  return true;
}

/** CONNECT's authority-form (RFC 9112 §3.2.3): `host:port`, a non-empty host and a decimal port, no userinfo. */
function isAuthorityForm(t: string): boolean {
  const colon = t.lastIndexOf(':');
  if (colon <= 0 || colon === t.length - 1 || t.length - colon - 1 > 5) return false;
  for (let i = colon + 1; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  // An IPv6 literal must be bracketed, so the last colon is the port's.
  if (t.charCodeAt(0) === 0x5b ? t.charCodeAt(colon - 1) !== 0x5d : t.indexOf(':') !== colon) return false;
  return isAuthorityChars(t, 0, colon);
}

/**
 * For absolute-form `scheme://authority[path-abempty][?query]`: the index where the authority ends
 * (the start of the path or query, or the target's length), or -1 when the target is not a valid
 * absolute URI for a proxy to route: bad scheme, empty authority, or userinfo (RFC 9110 §4.2.4:
 * `user@host` is deprecated and a known way to disguise the real host).
 */
function authorityOfAbsolute(t: string): number {
  const c0 = t.charCodeAt(0) | 0x20;
  if (c0 < 0x61 || c0 > 0x7a) return -1;
  let i = 1;
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    const l = c | 0x20;
    if (!((l >= 0x61 && l <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) break;
  }
  if (t.charCodeAt(i) !== 0x3a || t.charCodeAt(i + 1) !== 0x2f || t.charCodeAt(i + 2) !== 0x2f) return -1;
  const aStart = i + 3;
  let a = aStart;
  for (; a < t.length; a++) {
    const c = t.charCodeAt(a);
    if (c === 0x2f || c === 0x3f) break;
    if (c === 0x40 || HOST_CHAR[c] === 0) return -1;
  }
  return a === aStart ? -1 : a;
}
