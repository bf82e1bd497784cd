// Downstream HTTP/2 (cleartext, prior knowledge): each stream of a session becomes one exchange; Envoy's stream limits and premature-reset guard apply.
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import { RequestHead, type HeaderList, type ResponseHead } from '../http1/index.js';
import { Exchange, type DownstreamSink, type ExchangeContext } from './exchange.js';
import { contentLengthOf, fromRawHeaders, headerListOf, toHttp2Headers } from './h2-headers.js';
import { PLAINTEXT, type DownstreamSecurity } from '../security/tls-transport.js';
import type { LocalDestination, OriginalDestination } from '../network/original-dst.js';

/** The client connection preface (RFC 9113 §3.4): a connection starting with it speaks HTTP/2. */
export const HTTP2_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface Http2DownstreamOptions {
  /** Streams a client may have open at once (Envoy's hardened default: 100). */
  maxConcurrentStreams: number;
  /** Bytes of a header block we accept (HTTP/1.1's head limit applies here too). */
  maxHeaderListBytes: number;
  /** Close a session with no open stream after this long; 0: never. */
  idleTimeoutMs: number;
  /** Premature-reset guard (CVE-2023-44487, Envoy 1.27.1): after this many streams… */
  resetGuardMinStreams: number;
  /** …close the session when more than this share of them were reset by the client within `resetGuardWindowMs` of opening. */
  resetGuardRatio: number;
  resetGuardWindowMs: number;
}

export const DEFAULT_HTTP2_DOWNSTREAM_OPTIONS: Http2DownstreamOptions = Object.freeze({
  maxConcurrentStreams: 100,
  maxHeaderListBytes: 60 * 1024,
  idleTimeoutMs: 3_600_000,
  resetGuardMinStreams: 500,
  resetGuardRatio: 0.5,
  resetGuardWindowMs: 1000,
});

const { NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/**
 * Serves HTTP/2 sessions on sockets accepted by a listener (after the preface was seen). One
 * Node HTTP/2 server object does the session setup; it never listens itself.
 */
export class Http2Downstream {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Premature resets detected (a counter for /stats). */
  prematureResetCloses = 0;

  constructor(private readonly options: Http2DownstreamOptions = DEFAULT_HTTP2_DOWNSTREAM_OPTIONS) {
    this.server = http2.createServer({
      settings: { maxConcurrentStreams: options.maxConcurrentStreams, maxHeaderListSize: options.maxHeaderListBytes, enablePush: false, initialWindowSize: 65_535 },
      // Node's own guards stay at their defaults: 1000 invalid frames, 100 refused streams per session.
      maxHeaderListPairs: Math.max(4, Math.floor(options.maxHeaderListBytes / 32)),
    });
  }

  /** Takes over `socket` (its unread bytes included) as an HTTP/2 session routed with `context()`. */
  serve(socket: net.Socket, context: () => ExchangeContext, security: DownstreamSecurity = PLAINTEXT, local?: LocalDestination): void {
    let session: http2.ServerHttp2Session | undefined;
    const capture = (s: http2.ServerHttp2Session) => (session = s);
    this.server.once('session', capture);
    this.server.emit('connection', socket);
    this.server.removeListener('session', capture);
    if (!session) {
      socket.destroy();
      return;
    }
    const s = session;
    this.sessions.add(s);
    const addresses: Http2Addresses = {
      remoteAddress: socket.remoteAddress ?? '',
      localAddress: local?.destination.address ?? socket.localAddress ?? '',
      localPort: local?.destination.port ?? socket.localPort ?? 0,
      originalDestination: local?.captured ? local.destination : undefined,
      security,
    };
    const guard = { opened: 0, premature: 0 };
    s.on('error', () => undefined); // 'close' follows
    s.once('close', () => this.sessions.delete(s));
    if (this.options.idleTimeoutMs > 0) s.setTimeout(this.options.idleTimeoutMs, () => s.close());
    s.on('stream', (stream: http2.ServerHttp2Stream, _headers: http2.IncomingHttpHeaders, flags: number, raw: string[]) => {
      guard.opened++;
      const openedAt = Date.now();
      const sink = this.onStream(stream, flags, raw, context(), addresses);
      stream.once('close', () => {
        sink.streamClosed();
        if (stream.rstCode !== NGHTTP2_NO_ERROR && !stream.sentHeaders && Date.now() - openedAt < this.options.resetGuardWindowMs) guard.premature++;
        const o = this.options;
        if (guard.opened >= o.resetGuardMinStreams && guard.premature / guard.opened > o.resetGuardRatio && !s.destroyed) {
          this.prematureResetCloses++;
          s.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
          s.destroy();
        }
      });
    });
  }

  /** Closes every session (shutdown): GOAWAY, then streams in flight finish. */
  close(): void {
    for (const s of this.sessions) s.close();
  }

  /** Starts the stream's exchange (or answers it locally); returns its sink, which the stream's close is reported to. */
  private onStream(stream: http2.ServerHttp2Stream, flags: number, raw: string[], ctx: ExchangeContext, addresses: Http2Addresses): Http2StreamSink {
    stream.on('error', () => undefined); // 'close' follows
    const f = fromRawHeaders(raw);
    // Trailers are sent only to clients that take them (gRPC's `te: trailers`): an empty trailer
    // frame after every response would cost a frame and a callback for nothing.
    const sink = new Http2StreamSink(stream, addresses, f.headers.get('te')?.toLowerCase() === 'trailers');
    if (f.method === 'CONNECT') {
      sink.localReply(501, 'CONNECT is not supported', [], false);
      return sink;
    }
    const headers = f.headers;
    if (f.authority) headers.set('host', f.authority, 'host');
    const authority = f.authority || (headers.get('host') ?? '');
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    const length = contentLengthOf(headers);
    const framing = endStream ? 'none' : length >= 0 ? 'length' : 'chunked';
    const head = new RequestHead(f.method, f.path, 'origin', f.path, authority, 1, headers, framing, length, true, '', false, f.size);
    const ex = new Exchange(ctx, head, sink);
    sink.exchange = ex;
    if (endStream) ex.requestEnd();
    else {
      let trailers: HeaderList | undefined;
      stream.on('data', (chunk: Buffer) => ex.requestData(chunk));
      stream.once('trailers', (t: http2.IncomingHttpHeaders) => (trailers = headerListOf(t)));
      stream.once('end', () => ex.requestEnd(trailers));
    }
    ex.start();
    return sink;
  }
}

interface Http2Addresses {
  remoteAddress: string;
  localAddress: string;
  localPort: number;
  originalDestination: OriginalDestination | undefined;
  security: DownstreamSecurity;
}

/** One HTTP/2 stream as the downstream of an exchange. */
class Http2StreamSink implements DownstreamSink {
  readonly protocol = 'http2';
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly originalDestination: OriginalDestination | undefined;
  readonly security: DownstreamSecurity;
  /** The exchange answering this stream, until the response ends or is reset. */
  exchange: Exchange | undefined;
  private trailers: HeaderList | undefined;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    a: Http2Addresses,
    private readonly acceptsTrailers: boolean,
  ) {
    this.remoteAddress = a.remoteAddress;
    this.localAddress = a.localAddress;
    this.localPort = a.localPort;
    this.originalDestination = a.originalDestination;
    this.security = a.security;
  }

  writeHead(head: ResponseHead, _close: boolean): number {
    const out = toHttp2Headers(head.headers, { ':status': head.status });
    const endStream = head.framing === 'none';
    const waitForTrailers = !endStream && this.acceptsTrailers;
    try {
      this.stream.respond(out, { endStream, waitForTrailers });
    } catch {
      // A head HTTP/2 cannot carry (e.g. a repeated single-value field): the stream is reset.
      this.reset();
      return 0;
    }
    if (waitForTrailers) this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.trailers ? toHttp2Headers(this.trailers, {}) : {}));
    return head.headBytes;
  }

  writeContinue(): void {
    if (!this.stream.headersSent) this.stream.additionalHeaders({ ':status': 100 });
  }

  writeData(payload: Buffer): boolean {
    if (this.stream.destroyed) return true;
    return this.stream.write(payload);
  }

  onDrain(cb: () => void): void {
    this.stream.once('drain', cb);
  }

  end(trailers: HeaderList | undefined, _close: boolean): void {
    this.exchange = undefined;
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.trailers = trailers;
    this.stream.end();
  }

  /** The stream closed: an exchange still answering it lost its client. */
  streamClosed(): void {
    const ex = this.exchange;
    this.exchange = undefined;
    ex?.abort();
  }

  localReply(status: number, body: string, headers: ReadonlyArray<readonly [string, string]>, _close: boolean): number {
    const out: http2.OutgoingHttpHeaders = { ':status': status };
    let size = 0;
    for (const [n, v] of headers) {
      out[n] = v;
      size += n.length + v.length;
    }
    const bytes = Buffer.from(body, 'utf8');
    if (bytes.length > 0 && out['content-type'] === undefined) out['content-type'] = 'text/plain';
    if (status >= 200 && status !== 204 && status !== 304) out['content-length'] = String(bytes.length);
    if (this.stream.destroyed || this.stream.headersSent) return 0;
    this.stream.respond(out, { endStream: bytes.length === 0 });
    if (bytes.length > 0) this.stream.end(bytes);
    return size + bytes.length;
  }

  reset(): void {
    this.exchange = undefined;
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  pauseRequestBody(): void {
    this.stream.pause();
  }

  resumeRequestBody(): void {
    this.stream.resume();
  }

  cork(): void {
    // nghttp2 batches the frames of one session write already
  }

  uncork(): void {
    // see cork
  }

  tunnel(): void {
    // Only HTTP/1.1 upgrades tunnel; an HTTP/2 request never carries one (Exchange checks the head).
    this.reset();
  }
}
