// One downstream HTTP/1.1 connection: parse requests in order (pipelining), stream bodies to their exchange, write responses back, enforce the connection's limits and timeouts.
import type * as net from 'node:net';
import { BODY_DATA, BODY_END, BODY_ERROR, BodyDecoder, HEAD_ERROR, HEAD_INCOMPLETE, RequestHeadParser, errorReply, localReply, type Http1Limits } from '../http1/index.js';
import { Exchange, type DownstreamSink, type ExchangeContext } from './exchange.js';
import type { UpstreamConnection } from './upstream-pool.js';

export interface DownstreamOptions {
  limits: Http1Limits;
  /** A request head must arrive within this (slowloris); Node's and the hardening guide's 60 s. */
  headersTimeoutMs: number;
  /** Close a connection with no request in flight after this long (Envoy's idle_timeout, 1 h). */
  idleTimeoutMs: number;
}

export const DEFAULT_DOWNSTREAM_OPTIONS: Omit<DownstreamOptions, 'limits'> = Object.freeze({ headersTimeoutMs: 60_000, idleTimeoutMs: 3_600_000 });

const S_HEAD = 0;
const S_BODY = 1;
/** The request is read; its response is not finished. Later bytes are the next (pipelined) request. */
const S_WAIT = 2;
const S_CLOSED = 3;
const S_TUNNEL = 4;

/**
 * Serves one accepted socket. `context()` is read once per request, so a request sees one config
 * version even if a push arrives while it is in flight.
 */
export class DownstreamConnection implements DownstreamSink {
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
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;

  constructor(
    private readonly socket: net.Socket,
    private readonly context: () => ExchangeContext,
    private readonly options: DownstreamOptions,
  ) {
    this.parser = new RequestHeadParser(options.limits);
    this.body = new BodyDecoder('request', options.limits);
    this.remoteAddress = socket.remoteAddress ?? '';
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined); // 'close' follows
    socket.once('close', () => this.onClose());
    this.armIdle();
  }

  // ---- DownstreamSink ----

  write(buf: Buffer): boolean {
    if (this.state === S_CLOSED) return true;
    return this.socket.write(buf);
  }

  onDrain(cb: () => void): void {
    this.socket.once('drain', cb);
  }

  finish(close: boolean): void {
    this.exchange = undefined;
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

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
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
  tunnel(upstream: UpstreamConnection, rest: Buffer | undefined): void {
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
            this.context().onComplete({ startMs: Date.now(), durationMs: 0, responseCode: err.status, responseFlags: ['DPE'], bytesReceived: pos, bytesSent: 0, attempts: 0 });
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
          const start = pos;
          let ended = false;
          for (;;) {
            const ev = this.body.read(chunk, pos, chunk.length);
            if (ev === BODY_DATA) {
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
          if (pos > start) ex?.requestData(chunk.subarray(start, pos));
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
