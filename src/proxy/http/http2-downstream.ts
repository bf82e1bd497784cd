// Downstream HTTP/2 (cleartext prior knowledge, or TLS with ALPN h2): each stream of a session becomes one exchange, on Meltemi's own HTTP/2 codec; Envoy's stream limits and premature-reset guard apply.
import type * as net from 'node:net';
import { HeaderList, RequestHead, type ResponseHead } from '../http1/index.js';
import { Exchange, type DownstreamSink, type ExchangeContext } from './exchange.js';
import { ErrorCode, HTTP2_PREFACE } from '../http2/frames.js';
import { Http2ServerSession, type Http2RequestHead, type Http2ServerOptions, type Http2ServerStream, type Http2StreamListener } from '../http2/server-session.js';
import { PLAINTEXT, type DownstreamSecurity } from '../security/tls-transport.js';
import type { LocalDestination, OriginalDestination } from '../network/original-dst.js';

export { HTTP2_PREFACE };

export type Http2DownstreamOptions = Http2ServerOptions;

export const DEFAULT_HTTP2_DOWNSTREAM_OPTIONS: Http2DownstreamOptions = Object.freeze({
  maxConcurrentStreams: 100,
  maxHeaderListBytes: 60 * 1024,
  idleTimeoutMs: 3_600_000,
  resetGuardMinStreams: 500,
  resetGuardRatio: 0.5,
  resetGuardWindowMs: 1000,
  // Envoy's hardened defaults (reliability-security §2.2): 64 KiB per stream, 1 MiB per connection.
  initialStreamWindow: 65_536,
  connectionWindow: 1024 * 1024,
});

/** Serves HTTP/2 sessions on sockets accepted by a listener (after the preface was seen). */
export class Http2Downstream {
  private readonly sessions = new Set<Http2ServerSession>();
  /** Premature resets detected (a counter for /stats). */
  prematureResetCloses = 0;

  constructor(private readonly options: Http2DownstreamOptions = DEFAULT_HTTP2_DOWNSTREAM_OPTIONS) {}

  /** Takes over `socket` (its unread bytes, the preface first, included) as an HTTP/2 session routed with `context()`. */
  serve(socket: net.Socket, context: () => ExchangeContext, security: DownstreamSecurity = PLAINTEXT, local?: LocalDestination): void {
    const addresses: Http2Addresses = {
      remoteAddress: socket.remoteAddress ?? '',
      localAddress: local?.destination.address ?? socket.localAddress ?? '',
      localPort: local?.destination.port ?? socket.localPort ?? 0,
      originalDestination: local?.captured ? local.destination : undefined,
      security,
    };
    const session = new Http2ServerSession(socket, this.options, {
      stream: (stream, head, endStream) => onStream(stream, head, endStream, context(), addresses),
      prematureResetClose: () => this.prematureResetCloses++,
    });
    this.sessions.add(session);
    socket.once('close', () => this.sessions.delete(session));
  }

  /** Closes every session (shutdown): GOAWAY, then streams in flight finish. */
  close(): void {
    for (const s of this.sessions) s.shutdown();
  }
}

/** Starts the stream's exchange (or answers it locally); returns its sink, which hears the request body and the stream's close. */
function onStream(stream: Http2ServerStream, h: Http2RequestHead, endStream: boolean, ctx: ExchangeContext, addresses: Http2Addresses): Http2StreamListener {
  const sink = new Http2StreamSink(stream, addresses);
  if (h.method === 'CONNECT') {
    sink.localReply(501, 'CONNECT is not supported', [], false);
    return sink;
  }
  const length = h.contentLength;
  const framing = endStream ? 'none' : length >= 0 ? 'length' : 'chunked';
  const head = new RequestHead(h.method, h.path, 'origin', h.path, h.authority, 1, h.headers, framing, length, true, '', false, h.size);
  const ex = new Exchange(ctx, head, sink);
  sink.exchange = ex;
  if (endStream) ex.requestEnd();
  ex.start();
  return sink;
}

interface Http2Addresses {
  remoteAddress: string;
  localAddress: string;
  localPort: number;
  originalDestination: OriginalDestination | undefined;
  security: DownstreamSecurity;
}

/** One HTTP/2 stream as the downstream of an exchange. */
class Http2StreamSink implements DownstreamSink, Http2StreamListener {
  readonly protocol = 'http2';
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly originalDestination: OriginalDestination | undefined;
  readonly security: DownstreamSecurity;
  /** The exchange answering this stream, until the response ends or is reset. */
  exchange: Exchange | undefined;

  constructor(
    private readonly stream: Http2ServerStream,
    a: Http2Addresses,
  ) {
    this.remoteAddress = a.remoteAddress;
    this.localAddress = a.localAddress;
    this.localPort = a.localPort;
    this.originalDestination = a.originalDestination;
    this.security = a.security;
  }

  // ---- Http2StreamListener: the request body, its end, the stream's close ----

  body(chunk: Buffer): void {
    this.exchange?.requestData(chunk);
  }

  bodyEnd(trailers: HeaderList | undefined): void {
    this.exchange?.requestEnd(trailers);
  }

  closed(code: number): void {
    const ex = this.exchange;
    this.exchange = undefined;
    // A stream closed by our own complete response is not a lost client.
    if (ex && !(code === ErrorCode.NO_ERROR && this.stream.localEnded)) ex.abort();
  }

  // ---- DownstreamSink ----

  writeHead(head: ResponseHead, _close: boolean): number {
    this.stream.respond(head.status, head.headers, head.framing === 'none');
    return head.headBytes;
  }

  end(trailers: HeaderList | undefined, _close: boolean): void {
    this.exchange = undefined;
    this.stream.end(trailers);
  }

  writeContinue(): void {
    this.stream.informational(100);
  }

  writeData(payload: Buffer): boolean {
    return this.stream.write(payload);
  }

  onDrain(cb: () => void): void {
    this.stream.onDrain(cb);
  }

  localReply(status: number, body: string, headers: ReadonlyArray<readonly [string, string]>, _close: boolean): number {
    const list = new HeaderList();
    for (const [n, v] of headers) list.add(n, v);
    return this.stream.respond(status, list, false, body);
  }

  reset(): void {
    this.exchange = undefined;
    this.stream.reset(ErrorCode.INTERNAL_ERROR);
  }

  pauseRequestBody(): void {
    this.stream.pause();
  }

  resumeRequestBody(): void {
    this.stream.resume();
  }

  holdWrites(): void {
    // The session writes what a batch of events queued in one write already (io/flush-batch.ts).
  }

  tunnel(): void {
    // Only HTTP/1.1 upgrades tunnel; an HTTP/2 request never carries one (Exchange checks the head).
    this.reset();
  }
}
