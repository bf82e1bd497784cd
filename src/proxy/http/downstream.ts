// One downstream HTTP/1.1 connection: parse requests in order (pipelining), stream bodies to their exchange, write responses back, enforce the connection's limits and timeouts; a connection that opens with HTTP/2's preface is handed to the HTTP/2 server.
import type * as net from 'node:net';
import {
  BODY_DATA,
  BODY_END,
  BODY_ERROR,
  BodyDecoder,
  CHUNK_DATA_END,
  HEAD_ERROR,
  HEAD_INCOMPLETE,
  LAST_CHUNK,
  RequestHeadParser,
  chunkHeader,
  errorReply,
  localReply,
  reasonPhrase,
  serializeResponseHead,
  type HeaderList,
  type Http1Limits,
  type RequestHead,
  type ResponseHead,
} from '../http1/index.js';
import { corkUntilBatchEnd } from '../io/flush-batch.js';
import { Exchange, type DownstreamSink, type ExchangeContext } from './exchange.js';
import { HTTP2_PREFACE, type Http2Downstream } from './http2-downstream.js';
import type { UpstreamTunnel } from './upstream-stream.js';
import type { LocalDestination, OriginalDestination } from '../network/original-dst.js';
import { PLAINTEXT, type DownstreamSecurity } from '../security/tls-transport.js';

export interface DownstreamOptions {
  limits: Http1Limits;
  /** A request head must arrive within this (slowloris); Node's and the hardening guide's 60 s. */
  headersTimeoutMs: number;
  /** Close a connection with no request in flight after this long (Envoy's idle_timeout, 1 h). */
  idleTimeoutMs: number;
  /** Where connections that open with the HTTP/2 preface go (codec AUTO); absent: HTTP/1.1 only. */
  http2?: Http2Downstream;
}

export const DEFAULT_DOWNSTREAM_OPTIONS: Omit<DownstreamOptions, 'limits'> = Object.freeze({ headersTimeoutMs: 60_000, idleTimeoutMs: 3_600_000 });

const S_HEAD = 0;
const S_BODY = 1;
/** The request is read; its response is not finished. Later bytes are the next (pipelined) request. */
const S_WAIT = 2;
const S_CLOSED = 3;
const S_TUNNEL = 4;
/** Handed to the HTTP/2 server. */
const S_HTTP2 = 5;

/**
 * Serves one accepted socket. `context()` is read once per request, so a request sees one config
 * version even if a push arrives while it is in flight.
 */
export class DownstreamConnection implements DownstreamSink {
  readonly protocol = 'http1';
  private readonly parser: RequestHeadParser;
  private readonly body: BodyDecoder;
  private state = S_HEAD;
  private exchange: Exchange | undefined;
  /** Bytes received while a response was pending (the next pipelined request). */
  private leftover: Buffer | undefined;
  private processing = false;
  private headTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private paused = false;
  /** The request being answered. */
  private request: RequestHead | undefined;
  /** The response body is chunk-encoded here (its length is unknown). */
  private chunkedOut = false;
  /** The response's framing requires closing after it (until-close, or HTTP/1.0 without a length). */
  private closeAfter = false;
  /** The first bytes, while they may still be the HTTP/2 preface. */
  private sniffed: Buffer | undefined;
  private sniffing: boolean;
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly originalDestination: OriginalDestination | undefined;

  /** `local`: where the client addressed the connection, when the listener knows better than the socket (a captured connection). */
  constructor(
    private readonly socket: net.Socket,
    private readonly context: () => ExchangeContext,
    private readonly options: DownstreamOptions,
    readonly security: DownstreamSecurity = PLAINTEXT,
    private readonly local?: LocalDestination,
  ) {
    this.parser = new RequestHeadParser(options.limits);
    this.body = new BodyDecoder('request', options.limits);
    this.remoteAddress = socket.remoteAddress ?? '';
    this.localAddress = local?.destination.address ?? socket.localAddress ?? '';
    this.localPort = local?.destination.port ?? socket.localPort ?? 0;
    this.originalDestination = local?.captured ? local.destination : undefined;
    this.sniffing = options.http2 !== undefined;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined); // 'close' follows
    socket.once('close', () => this.onClose());
    this.armIdle();
  }

  // ---- DownstreamSink ----

  writeHead(head: ResponseHead, close: boolean): number {
    const h = head.headers;
    let closeAfter = close || head.framing === 'until-close';
    this.chunkedOut = false;
    if (head.framing === 'chunked') {
      if (this.request?.versionMinor === 1) {
        this.chunkedOut = true;
        if (!h.has('transfer-encoding')) h.add('transfer-encoding', 'chunked', 'transfer-encoding');
      } else {
        // HTTP/1.0 has no chunking: the end of the body is the end of the connection.
        h.remove('transfer-encoding');
        closeAfter = true;
      }
    }
    this.closeAfter = closeAfter;
    if (head.status === 101) {
      h.set('connection', 'upgrade', 'connection');
      if (head.upgrade) h.set('upgrade', head.upgrade, 'upgrade');
    } else if (closeAfter) h.set('connection', 'close', 'connection');
    const bytes = serializeResponseHead(head.status, head.reason || reasonPhrase(head.status), h);
    this.write(bytes);
    return bytes.length;
  }

  writeContinue(): void {
    this.write(CONTINUE);
  }

  writeData(payload: Buffer): boolean {
    if (!this.chunkedOut) return this.write(payload);
    this.write(chunkHeader(payload.length));
    this.write(payload);
    return this.write(CHUNK_DATA_END);
  }

  onDrain(cb: () => void): void {
    this.socket.once('drain', cb);
  }

  end(_trailers: HeaderList | undefined, close: boolean): void {
    // HTTP/1.1 trailers are dropped, as Envoy does unless enabled.
    if (this.chunkedOut) this.write(LAST_CHUNK);
    this.chunkedOut = false;
    const closeAfter = close || this.closeAfter;
    this.closeAfter = false;
    this.finish(closeAfter);
  }

  localReply(status: number, body: string, headers: ReadonlyArray<readonly [string, string]>, close: boolean): number {
    const bytes = localReply(status, { body, headers, close, headRequest: this.request?.method === 'HEAD' });
    this.write(bytes);
    return bytes.length;
  }

  private write(buf: Buffer): boolean {
    if (this.state === S_CLOSED) return true;
    return this.socket.write(buf);
  }

  private finish(close: boolean): void {
    this.exchange = undefined;
    this.request = undefined;
    if (this.state === S_CLOSED) return;
    if (close) {
      this.state = S_CLOSED;
      this.socket.end();
      return;
    }
    this.state = S_HEAD;
    this.resumeRequestBody();
    this.armIdle();
    // The next pipelined request may already be here.
    if (!this.processing && this.leftover) {
      const rest = this.leftover;
      this.leftover = undefined;
      setImmediate(() => this.process(rest, 0));
    }
  }

  reset(): void {
    this.exchange = undefined;
    this.state = S_CLOSED;
    this.socket.destroy();
  }

  holdWrites(): void {
    corkUntilBatchEnd(this.socket);
  }

  pauseRequestBody(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resumeRequestBody(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  /** After a 101: the two sockets are piped both ways until either closes. */
  tunnel(upstream: UpstreamTunnel, rest: Buffer | undefined): void {
    this.exchange = undefined;
    this.state = S_TUNNEL;
    this.clearTimers();
    const up = upstream.socket;
    if (rest) this.socket.write(rest);
    if (this.leftover) up.write(this.leftover);
    this.leftover = undefined;
    upstream.onData = (chunk) => {
      if (!this.socket.write(chunk)) {
        up.pause();
        this.socket.once('drain', () => up.resume());
      }
    };
    upstream.onEnd = () => this.socket.end();
    this.socket.removeAllListeners('data');
    this.socket.on('data', (chunk: Buffer) => {
      if (!up.write(chunk)) {
        this.socket.pause();
        up.once('drain', () => this.socket.resume());
      }
    });
    this.socket.once('close', () => up.destroy());
    this.resumeRequestBody();
  }

  // ---- input ----

  private onData(chunk: Buffer): void {
    if (this.sniffing) {
      const seen = this.sniffed ? Buffer.concat([this.sniffed, chunk]) : chunk;
      const n = Math.min(seen.length, HTTP2_PREFACE.length);
      if (seen.compare(HTTP2_PREFACE, 0, n, 0, n) === 0) {
        if (n < HTTP2_PREFACE.length) {
          this.sniffed = seen;
          return;
        }
        return this.toHttp2(seen);
      }
      this.sniffing = false;
      this.sniffed = undefined;
      chunk = seen;
    }
    if (this.state === S_WAIT || this.state === S_CLOSED) {
      if (this.state === S_WAIT) {
        // Pipelined: keep it until the current response is done; hold the client meanwhile.
        this.leftover = this.leftover ? Buffer.concat([this.leftover, chunk]) : chunk;
        if (this.leftover.length > this.options.limits.maxHeadBytes) this.pauseRequestBody();
      }
      return;
    }
    this.process(chunk, 0);
  }

  private process(chunk: Buffer, pos: number): void {
    this.processing = true;
    try {
      while (pos <= chunk.length) {
        if (this.state === S_HEAD) {
          if (pos === chunk.length) break;
          if (this.idleTimer) {
            clearTimeout(this.idleTimer);
            this.idleTimer = undefined;
          }
          const r = this.parser.execute(chunk, pos);
          if (r === HEAD_INCOMPLETE) {
            this.armHeadTimer();
            break;
          }
          if (this.headTimer) clearTimeout(this.headTimer);
          this.headTimer = undefined;
          if (r === HEAD_ERROR) {
            const err = this.parser.error!;
            this.state = S_CLOSED;
            this.socket.end(errorReply(err));
            this.context().onComplete({ protocol: 'http1', startMs: Date.now(), durationMs: 0, responseCode: err.status, responseFlags: ['DPE'], bytesReceived: pos, bytesSent: 0, attempts: 0, security: this.security });
            return;
          }
          pos = r;
          const head = this.parser.head!;
          if (head.framing === 'tunnel' && !head.upgrade) {
            // CONNECT is not routed by this proxy (Istio 1.6 sidecars do not terminate it).
            this.state = S_CLOSED;
            this.socket.end(localReply(501, { body: 'CONNECT is not supported', close: true }));
            return;
          }
          const ex = new Exchange(this.context(), head, this);
          this.exchange = ex;
          this.request = head;
          this.state = S_BODY;
          const bodiless = head.framing === 'none' || head.framing === 'tunnel' || (head.framing === 'length' && head.contentLength === 0);
          if (bodiless) {
            this.state = S_WAIT;
            ex.requestEnd();
            ex.start();
            continue;
          }
          this.body.start(head.framing, head.contentLength);
          ex.start();
          continue;
        }
        if (this.state === S_BODY) {
          let ended = false;
          for (;;) {
            const ev = this.body.read(chunk, pos, chunk.length);
            if (ev === BODY_DATA) {
              this.exchange?.requestData(chunk.subarray(this.body.dataStart, this.body.dataEnd));
              pos = this.body.next;
              continue;
            }
            if (ev === BODY_END) {
              pos = this.body.next;
              ended = true;
              break;
            }
            if (ev === BODY_ERROR) {
              const ex = this.exchange;
              this.state = S_CLOSED;
              ex?.abort();
              this.socket.end(errorReply(this.body.error!));
              return;
            }
            pos = chunk.length;
            break;
          }
          const ex = this.exchange;
          if (!ended) break;
          if (this.state === S_BODY) this.state = S_WAIT;
          ex?.requestEnd();
          continue;
        }
        if (this.state === S_WAIT) {
          if (pos < chunk.length) {
            const rest = chunk.subarray(pos);
            this.leftover = this.leftover ? Buffer.concat([this.leftover, rest]) : rest;
          }
          break;
        }
        break; // closed or tunnel
      }
    } finally {
      this.processing = false;
    }
    // A response finished while this chunk was being processed, and a pipelined request is waiting.
    if (this.state === S_HEAD && this.leftover) {
      const rest = this.leftover;
      this.leftover = undefined;
      this.process(rest, 0);
    }
  }

  /** The client speaks HTTP/2 (prior knowledge): the HTTP/2 server takes the socket and what was read. */
  private toHttp2(read: Buffer): void {
    this.sniffing = false;
    this.sniffed = undefined;
    this.state = S_HTTP2;
    this.clearTimers();
    this.socket.removeAllListeners('data');
    this.socket.pause();
    this.socket.unshift(read);
    this.options.http2!.serve(this.socket, this.context, this.security, this.local);
  }

  private onClose(): void {
    const wasOpen = this.state !== S_CLOSED;
    this.state = S_CLOSED;
    this.clearTimers();
    const ex = this.exchange;
    this.exchange = undefined;
    if (wasOpen && ex) ex.abort();
  }

  private armHeadTimer(): void {
    if (this.headTimer) return;
    this.headTimer = setTimeout(() => {
      this.headTimer = undefined;
      if (this.state !== S_HEAD) return;
      this.state = S_CLOSED;
      this.socket.end(localReply(408, { body: 'Request Timeout', close: true }));
    }, this.options.headersTimeoutMs);
    this.headTimer.unref();
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.options.idleTimeoutMs <= 0) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.state === S_HEAD && !this.parser.pending) {
        this.state = S_CLOSED;
        this.socket.end();
      }
    }, this.options.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private clearTimers(): void {
    if (this.headTimer) clearTimeout(this.headTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.headTimer = this.idleTimer = undefined;
  }
}

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
