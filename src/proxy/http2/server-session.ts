// The server end of an HTTP/2 connection: requests validated as RFC 9113 §8.3.1 asks and handed to a handler, the client's stream limit, and the premature-reset guard (CVE-2023-44487).
import type * as net from 'node:net';
import { HeaderList, isFieldValue, isToken } from '../http1/index.js';
import { ErrorCode, Flag, Setting } from './frames.js';
import { CONNECTION_SPECIFIC, ConnectionError, contentLengthValue, Http2Session, Http2Stream, validName, type Http2SessionOptions, type Http2StreamListener } from './session.js';

export type { Http2StreamListener };

export interface Http2ServerOptions extends Http2SessionOptions {
  /** Streams a client may have open at once (Envoy's hardened default: 100). */
  maxConcurrentStreams: number;
  /** Premature-reset guard (CVE-2023-44487, Envoy 1.27.1): after this many streams… */
  resetGuardMinStreams: number;
  /** …close the session when more than this share of them were reset by the client within `resetGuardWindowMs` of opening. */
  resetGuardRatio: number;
  resetGuardWindowMs: number;
}

/** A request head as the client sent it, validated (RFC 9113 §8.3.1); `headers` has no pseudo-header, and `host` set from `:authority`. */
export interface Http2RequestHead {
  method: string;
  scheme: string;
  path: string;
  authority: string;
  headers: HeaderList;
  /** `content-length` when given (validated), else -1. */
  contentLength: number;
  /** Bytes of the decoded fields, names plus values (for byte metrics). */
  size: number;
}

export interface Http2SessionHandler {
  /** A new request stream; returns who hears its body and its end. */
  stream(stream: Http2ServerStream, head: Http2RequestHead, endStream: boolean): Http2StreamListener;
  /** The premature-reset guard closed this session. */
  prematureResetClose?(): void;
}

/** Serves one HTTP/2 connection; the socket's first bytes must be the client preface. */
export class Http2ServerSession extends Http2Session<Http2ServerStream> {
  private premature = 0;

  constructor(
    socket: net.Socket,
    protected override readonly options: Http2ServerOptions,
    private readonly handler: Http2SessionHandler,
  ) {
    super(socket, options, true, [
      [Setting.MAX_CONCURRENT_STREAMS, options.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, options.initialStreamWindow],
      [Setting.MAX_HEADER_LIST_SIZE, options.maxHeaderListBytes],
      [Setting.ENABLE_PUSH, 0],
    ]);
  }

  protected isIdle(id: number): boolean {
    return id > this.lastPeerStreamId;
  }

  /** A new request, trailers, or (on a stream already gone) decoded and dropped. */
  protected onHeaderBlock(id: number, flags: number, block: Buffer): void {
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = this.streams.get(id);
    const collector = new FieldCollector();
    // Decoded whatever becomes of the stream: the decoder's table must follow the client's encoder.
    const size = this.decoder.decode(block, this.options.maxHeaderListBytes, collector.onField);
    if (existing) {
      if (existing.remoteEnded) throw new ConnectionError(ErrorCode.STREAM_CLOSED, 'HEADERS after END_STREAM');
      // Trailers: no pseudo-header, and they end the stream.
      if (!endStream || collector.pseudo || collector.error || size > this.options.maxHeaderListBytes) return this.malformedStream(existing);
      if (existing.contentLength >= 0 && existing.received !== existing.contentLength) return this.malformedStream(existing);
      existing.receiveTrailers(collector.headers);
      return;
    }
    if (id <= this.lastPeerStreamId) {
      if (this.recentResets.has(id)) return;
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on a closed stream');
    }
    if ((id & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a client stream id must be odd');
    this.lastPeerStreamId = id;
    if (this.goingAway || this.peerGoingAway) return this.resetStream(id, ErrorCode.REFUSED_STREAM);
    this.opened++;
    if (this.streams.size >= this.options.maxConcurrentStreams) {
      // A client past our advertised limit: refused, and counted like a premature reset.
      this.premature++;
      this.resetStream(id, ErrorCode.REFUSED_STREAM);
      this.checkResetGuard();
      return;
    }
    const head = collector.requestHead();
    const stream = new Http2ServerStream(this, id, this.options.initialStreamWindow, this.peerInitialWindow);
    this.streams.set(id, stream);
    if (!head) {
      this.malformedStream(stream);
      return;
    }
    if (size > this.options.maxHeaderListBytes) {
      stream.remoteEnded = endStream;
      stream.respond(431, undefined, true, 'Request Header Fields Too Large');
      return;
    }
    stream.contentLength = head.contentLength;
    if (endStream && head.contentLength > 0) return this.malformedStream(stream);
    stream.remoteEnded = endStream;
    const listener = this.handler.stream(stream, head, endStream);
    // The handler may have answered and closed the stream already (a local reply to a complete request).
    if (stream.isClosed) listener.closed(ErrorCode.NO_ERROR);
    else stream.listener = listener;
  }

  protected override onPeerReset(s: Http2ServerStream): void {
    if (!s.headersSent && Date.now() - s.openedAt < this.options.resetGuardWindowMs) this.premature++;
    this.checkResetGuard();
  }

  private checkResetGuard(): void {
    const o = this.options;
    if (this.opened >= o.resetGuardMinStreams && this.premature / this.opened > o.resetGuardRatio && !this.closed) {
      this.handler.prematureResetClose?.();
      this.terminate(ErrorCode.ENHANCE_YOUR_CALM);
    }
  }
}

/** A request stream; its owner answers with `respond`, then `write` and `end`. */
export class Http2ServerStream extends Http2Stream {
  /** Sends the response head (`status` ≥ 200), or a local reply with `body` when given. */
  respond(status: number, headers: HeaderList | undefined, endStream: boolean, body?: string): number {
    if (this.isClosed || this.headersSent) return 0;
    this.headersSent = true;
    const pseudo = [':status', String(status)];
    if (body !== undefined) {
      const bytes = Buffer.from(body, 'utf8');
      const h = headers ?? new HeaderList();
      if (bytes.length > 0 && !h.has('content-type')) h.add('content-type', 'text/plain', 'content-type');
      if (status !== 204 && status !== 304 && !h.has('content-length')) h.add('content-length', String(bytes.length), 'content-length');
      const size = this.session.writeHeaders(this.id, pseudo, h, bytes.length === 0);
      if (bytes.length === 0) this.localEnd();
      else {
        this.write(bytes);
        this.end(undefined);
      }
      return size + bytes.length;
    }
    const size = this.session.writeHeaders(this.id, pseudo, headers, endStream);
    if (endStream) this.localEnd();
    return size;
  }

  /** An interim (1xx) head, e.g. 100 Continue. */
  informational(status: number): void {
    if (this.isClosed || this.headersSent) return;
    this.session.writeHeaders(this.id, [':status', String(status)], undefined, false);
  }
}

/**
 * Collects a header block's fields as they are decoded, checking them against RFC 9113 §8.2–8.3.
 * Pseudo-headers go to their own slots, regular fields to a HeaderList; `cookie` crumbs are joined.
 */
class FieldCollector {
  readonly headers = new HeaderList();
  method = '';
  scheme = '';
  path = '';
  authority = '';
  /** A pseudo-header was seen (trailers must have none). */
  pseudo = false;
  /** What made the block malformed, if anything. */
  error: string | undefined;
  /** Names plus values of every field, pseudo-headers included, as decoded. */
  bytes = 0;
  private regularSeen = false;
  private cookie = -1;
  private contentLength = -1;

  readonly onField = (name: string, value: string): void => {
    if (this.error) return;
    this.bytes += name.length + value.length;
    if (!isFieldValue(value)) return this.fail('invalid field value');
    if (name.charCodeAt(0) === 0x3a) {
      this.pseudo = true;
      if (this.regularSeen) return this.fail('pseudo-header after a field');
      return this.pseudoField(name, value);
    }
    this.regularSeen = true;
    if (!validName(name)) return this.fail('invalid field name');
    if (CONNECTION_SPECIFIC.has(name)) return this.fail('connection-specific field');
    if (name === 'te' && value !== 'trailers') return this.fail('te other than trailers');
    if (name === 'cookie') {
      if (this.cookie >= 0) {
        this.headers.values[this.cookie] += `; ${value}`;
        return;
      }
      this.cookie = this.headers.length;
    } else if (name === 'content-length') {
      const n = contentLengthValue(value, this.contentLength);
      if (n === undefined) return this.fail('invalid or conflicting content-length');
      // A repeat of the same length is one field.
      if (this.contentLength >= 0) return;
      this.contentLength = n;
    }
    this.headers.add(name, value, name);
  };

  private pseudoField(name: string, value: string): void {
    switch (name) {
      case ':method':
        if (this.method !== '') return this.fail('repeated :method');
        this.method = value;
        return;
      case ':scheme':
        if (this.scheme !== '') return this.fail('repeated :scheme');
        this.scheme = value;
        return;
      case ':path':
        if (this.path !== '') return this.fail('repeated :path');
        if (value === '') return this.fail('empty :path');
        this.path = value;
        return;
      case ':authority':
        if (this.authority !== '') return this.fail('repeated :authority');
        this.authority = value;
        return;
      default:
        return this.fail(`pseudo-header ${name} not allowed in a request`);
    }
  }

  private fail(why: string): void {
    this.error = why;
  }

  /** The request head, or undefined when the block is malformed. */
  requestHead(): Http2RequestHead | undefined {
    if (this.error) return undefined;
    const m = this.method;
    if (m === '' || !isToken(m)) return undefined;
    if (m === 'CONNECT') {
      if (this.authority === '' || this.scheme !== '' || this.path !== '') return undefined;
    } else {
      if (this.scheme === '' || this.path === '') return undefined;
      if (this.path.charCodeAt(0) !== 0x2f && !(this.path === '*' && m === 'OPTIONS')) return undefined;
    }
    if (this.authority !== '') this.headers.set('host', this.authority, 'host');
    const authority = this.authority || (this.headers.get('host') ?? '');
    return { method: m, scheme: this.scheme, path: this.path, authority, headers: this.headers, contentLength: this.contentLength, size: this.bytes };
  }
}

