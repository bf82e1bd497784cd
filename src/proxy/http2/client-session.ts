// The client end of an HTTP/2 connection (the proxy to an upstream): requests as streams with odd ids, responses validated before they reach the router (RFC 9113 §8.3.2), the server's stream limit, and GOAWAY's unprocessed streams reported as refused so they can be retried.
import type * as net from 'node:net';
import { HeaderList, isFieldValue } from '../http1/index.js';
import { ErrorCode, Flag, Setting } from './frames.js';
import { CONNECTION_SPECIFIC, ConnectionError, contentLengthValue, Http2Session, Http2Stream, validName, type Http2SessionOptions, type Http2StreamListener } from './session.js';

/** What a request stream hears besides its body: the response heads. */
export interface Http2ResponseListener extends Http2StreamListener {
  /** A 1xx head before the final one. */
  informational(status: number, headers: HeaderList, size: number): void;
  /** The final response head; `contentLength` -1 when not given. */
  response(status: number, headers: HeaderList, endStream: boolean, contentLength: number, size: number): void;
}

export interface Http2ClientEvents {
  /** The server's SETTINGS arrived (its stream limit may have changed). */
  remoteSettings(): void;
  /** The server sent GOAWAY: no new streams on this connection. */
  goaway(): void;
}

/** Stream ids stop at 2^31-1 (RFC 9113 §5.1.1): a connection that used them all takes no more streams. */
const MAX_STREAM_ID = 2 ** 31 - 1;

export class Http2ClientSession extends Http2Session<Http2ClientStream> {
  private nextStreamId = 1;
  /** The server's first SETTINGS arrived. */
  settingsReceived = false;

  constructor(
    socket: net.Socket,
    options: Http2SessionOptions,
    private readonly events: Http2ClientEvents,
  ) {
    super(socket, options, false, [
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, options.initialStreamWindow],
      [Setting.MAX_HEADER_LIST_SIZE, options.maxHeaderListBytes],
    ]);
  }

  /** No new stream may start here: GOAWAY either way, closed, or out of stream ids. */
  get draining(): boolean {
    return this.closed || this.goingAway || this.peerGoingAway || this.nextStreamId > MAX_STREAM_ID;
  }

  /**
   * Opens a stream and sends the request head: `pseudo` is `:method`, `:scheme`, `:authority` and
   * `:path` as name, value pairs. The caller checked `draining` and the server's stream limit.
   */
  request(pseudo: readonly string[], headers: HeaderList, endStream: boolean, listener: Http2ResponseListener): Http2ClientStream {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    this.opened++;
    const s = new Http2ClientStream(this, id, this.options.initialStreamWindow, this.peerInitialWindow);
    s.listener = listener;
    s.headRequest = pseudo[1] === 'HEAD';
    this.streams.set(id, s);
    s.sendHead(pseudo, headers, endStream);
    return s;
  }

  protected isIdle(id: number): boolean {
    // Even ids would be the server's pushes, which we disabled.
    return (id & 1) === 0 || id >= this.nextStreamId;
  }

  protected onHeaderBlock(id: number, flags: number, block: Buffer): void {
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const fields = new ResponseFields();
    // Decoded whatever becomes of the stream: the decoder's table must follow the server's encoder.
    const size = this.decoder.decode(block, this.options.maxHeaderListBytes, fields.onField);
    const s = this.streams.get(id);
    if (!s) {
      if (this.isIdle(id)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on a stream the client did not open');
      // A stream we reset or finished: its late frames are dropped.
      return;
    }
    if (s.remoteEnded) throw new ConnectionError(ErrorCode.STREAM_CLOSED, 'HEADERS after END_STREAM');
    if (fields.error || size > this.options.maxHeaderListBytes) return this.malformedStream(s);
    const listener = s.responseListener!;
    if (s.gotHead) {
      // Trailers: no pseudo-header, and they end the stream.
      if (!endStream || fields.status !== 0) return this.malformedStream(s);
      if (s.contentLength >= 0 && s.received !== s.contentLength) return this.malformedStream(s);
      s.receiveTrailers(fields.headers);
      return;
    }
    const status = fields.status;
    if (status < 100 || status > 999) return this.malformedStream(s);
    if (status < 200) {
      // 101 has no meaning in HTTP/2; other 1xx heads precede the final one and never end the stream.
      if (status === 101 || endStream) return this.malformedStream(s);
      listener.informational(status, fields.headers, fields.bytes);
      return;
    }
    s.gotHead = true;
    // A response to HEAD, a 204 and a 304 carry no body whatever content-length says.
    s.contentLength = s.headRequest || status === 204 || status === 304 ? -1 : fields.contentLength;
    // A head that ends the stream but promises a body is malformed (RFC 9113 §8.1.1).
    if (endStream && s.contentLength > 0) return this.malformedStream(s);
    listener.response(status, fields.headers, endStream, fields.contentLength, fields.bytes);
    if (endStream && !s.isClosed) s.receive(EMPTY, 0, true);
  }

  protected override onGoaway(lastStreamId: number): void {
    // Streams above the server's last were not processed: refused, so the router may retry them.
    for (const s of this.streams.values()) {
      if (s.id <= lastStreamId) continue;
      s.resetByPeer = true;
      this.closeStream(s, ErrorCode.REFUSED_STREAM);
    }
    this.events.goaway();
  }

  protected override onRemoteSettings(): void {
    this.settingsReceived = true;
    this.events.remoteSettings();
  }
}

const EMPTY = Buffer.alloc(0);

/** One request: its head sent at open, body and end through `write` and `end`. */
export class Http2ClientStream extends Http2Stream {
  /**
   * The owner, as the stream was opened with it; gone once the stream closes (the base class drops
   * `listener` then). It used to be a field of its own that outlived the stream: a stream open across
   * two young-generation collections is promoted, and until a full collection every young object it
   * points at survives too. Through this field one promoted stream kept its exchange alive, whose
   * successors were then promoted the same way: on an HTTP/2 upstream every request ended up in the
   * old generation (16% of the young generation surviving each scavenge instead of 1-3%; CPU per
   * request 53 -> 43 µs by hand). What was left of it went with the stream table (stream-table.ts).
   */
  get responseListener(): Http2ResponseListener | undefined {
    return this.listener as Http2ResponseListener | undefined;
  }
  /** The final response head arrived. */
  gotHead = false;
  /** The request is a HEAD (`pseudo` starts with `:method HEAD`). */
  headRequest = false;

  sendHead(pseudo: readonly string[], headers: HeaderList, endStream: boolean): void {
    this.headersSent = true;
    this.session.writeHeaders(this.id, pseudo, headers, endStream);
    if (endStream) this.localEnd();
  }

  override receive(chunk: Buffer, frameLength: number, end: boolean): void {
    // DATA before the response head, even an empty one that ends the stream, is malformed (RFC 9113 §8.1).
    if (!this.gotHead) {
      this.reset(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    super.receive(chunk, frameLength, end);
  }
}

/** A response header block's fields, checked as RFC 9113 §8.2–8.3.2 asks: only `:status`, valid names and values, no connection-specific field. */
class ResponseFields {
  readonly headers = new HeaderList();
  status = 0;
  contentLength = -1;
  /** Names plus values of every field, as decoded. */
  bytes = 0;
  error: string | undefined;
  private regularSeen = false;

  readonly onField = (name: string, value: string): void => {
    if (this.error) return;
    this.bytes += name.length + value.length;
    if (!isFieldValue(value)) return this.fail('invalid field value');
    if (name.charCodeAt(0) === 0x3a) {
      if (name !== ':status' || this.status !== 0 || this.regularSeen || !/^\d{3}$/.test(value)) return this.fail(`pseudo-header ${name} not allowed here`);
      this.status = Number(value);
      return;
    }
    this.regularSeen = true;
    if (!validName(name)) return this.fail('invalid field name');
    if (CONNECTION_SPECIFIC.has(name)) return this.fail('connection-specific field');
    if (name === 'content-length') {
      const n = contentLengthValue(value, this.contentLength);
      if (n === undefined) return this.fail('invalid or conflicting content-length');
      // A repeat of the same length is one field.
      if (this.contentLength >= 0) return;
      this.contentLength = n;
    }
    this.headers.add(name, value, name);
  };

  private fail(why: string): void {
    this.error = why;
  }
}
