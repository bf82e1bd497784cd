// HTTP/1.1 keep-alive connections to one upstream host: connect with a timeout, reuse idle sockets, queue when the cluster's connection limit is reached.
import * as net from 'node:net';
import { BODY_DATA, BODY_END, BODY_ERROR, BodyDecoder, CHUNK_DATA_END, HEAD_ERROR, HEAD_INCOMPLETE, LAST_CHUNK, ResponseHeadParser, chunkHeader, serializeRequestHead, type HeaderList, type Http1Limits, type ResponseHead } from '../http1/index.js';
import type { TlsContextConfig } from '../config/tls-context.js';
import { corkUntilBatchEnd } from '../io/flush-batch.js';
import { dialUpstream, type TlsTransport } from '../security/tls-transport.js';
import type { CircuitBreaker } from '../upstream/circuit-breaker.js';
import type { ClusterStats } from '../upstream/cluster-manager.js';
import type { Host } from '../upstream/host.js';
import { PendingRequests, type AcquireCallback } from './pending-requests.js';
import type { PoolFailure, UpstreamEvents, UpstreamPool, UpstreamStream } from './upstream-stream.js';

export interface PoolOptions {
  connectTimeoutMs: number;
  /** Close an idle connection after this long; 0: never. */
  idleTimeoutMs: number;
  /** 0: unlimited. */
  maxRequestsPerConnection: number;
  breaker: CircuitBreaker;
  stats: ClusterStats;
  limits: Http1Limits;
  /** The TLS this host is reached with (undefined: plaintext), and the transport that makes it. */
  tls?: TlsContextConfig;
  transport?: TlsTransport;
  /** Connect from this address (the cluster's upstream_bind_config). */
  sourceAddress?: string;
}

/**
 * One HTTP/1.1 upstream connection, and the stream of the one request it carries at a time: it
 * writes the request (chunk-encoding a body of unknown length) and parses the response into
 * payload events for its current owner.
 */
export class UpstreamConnection implements UpstreamStream {
  readonly protocol = 'http1';
  private readonly parser: ResponseHeadParser;
  private readonly body: BodyDecoder;
  /** Requests sent on this connection so far. */
  requests = 0;
  /** Handed out by the pool and not yet released. */
  private leased = false;
  /** The owner's events once it sent a request; null before and when idle. */
  private events: UpstreamEvents | null = null;
  private head: ResponseHead | undefined;
  /** The request body is chunk-encoded (its length was unknown). */
  private chunked = false;
  /** No request was sent, or its response ended cleanly and nothing followed it. */
  private reusable = false;
  /** Bytes after a 101's head: the start of the tunnel. */
  private rest: Buffer | undefined;
  /** Set by a tunnel (after `detach`): raw bytes and the close. */
  onData: ((chunk: Buffer) => void) | null = null;
  onEnd: ((error: Error | undefined) => void) | null = null;
  closed = false;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly host: Host,
    limits: Http1Limits,
    private readonly pool: Http1Pool,
  ) {
    this.parser = new ResponseHeadParser(limits);
    this.body = new BodyDecoder('response', limits);
  }

  /** Marks the connection as handed to a request (the pool calls this); returns it. */
  lease(): this {
    this.leased = true;
    this.reusable = true;
    return this;
  }

  sendHead(method: string, target: string, headers: HeaderList, bodyLength: number, events: UpstreamEvents): void {
    this.events = events;
    this.requests++;
    this.head = undefined;
    this.rest = undefined;
    this.reusable = false;
    this.parser.reset();
    this.parser.forRequest(method);
    this.chunked = bodyLength < 0;
    if (this.chunked && !headers.has('transfer-encoding')) headers.add('transfer-encoding', 'chunked', 'transfer-encoding');
    corkUntilBatchEnd(this.socket);
    this.socket.write(serializeRequestHead(method, target, headers));
  }

  sendData(payload: Buffer): boolean {
    if (payload.length === 0) return true;
    if (!this.chunked) return this.socket.write(payload);
    // A chunk's size line, data and CRLF leave in one segment.
    this.socket.cork();
    this.socket.write(chunkHeader(payload.length));
    this.socket.write(payload);
    const ok = this.socket.write(CHUNK_DATA_END);
    this.socket.uncork();
    return ok;
  }

  onDrain(cb: () => void): void {
    this.socket.once('drain', cb);
  }

  sendEnd(): void {
    if (this.chunked) this.socket.write(LAST_CHUNK);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  release(reusable: boolean): void {
    if (!this.leased) return;
    this.leased = false;
    this.events = null;
    this.pool.release(this, reusable && this.reusable);
  }

  detach(): { conn: UpstreamConnection; rest: Buffer | undefined } | undefined {
    if (this.head?.framing !== 'tunnel') return undefined;
    this.leased = false;
    this.events = null;
    return { conn: this, rest: this.rest };
  }

  /** Bytes from the socket. */
  receive(chunk: Buffer): void {
    if (this.onData) return this.onData(chunk);
    const ev = this.events;
    if (!ev) {
      // Bytes from an idle upstream (a late or unsolicited response): the connection cannot be trusted.
      this.socket.destroy();
      return;
    }
    ev.reading();
    this.parse(ev, chunk);
  }

  /** The socket closed while a request owned it. */
  closedUnder(hadError: boolean): void {
    if (this.onEnd) {
      const end = this.onEnd;
      this.onEnd = this.onData = null;
      end(hadError ? new Error('upstream connection reset') : undefined);
      return;
    }
    const ev = this.events;
    if (!ev) return;
    if (this.head && !hadError && this.body.finish() === BODY_END) {
      // A body delimited by the close has ended.
      ev.end(undefined);
      return;
    }
    ev.failed('reset');
  }

  private parse(ev: UpstreamEvents, chunk: Buffer): void {
    let pos = 0;
    if (this.head === undefined) {
      for (;;) {
        const r = this.parser.execute(chunk, pos);
        if (r === HEAD_INCOMPLETE) return;
        if (r === HEAD_ERROR) return ev.failed('protocol-error');
        const head = this.parser.head!;
        pos = r;
        if (head.interim) {
          ev.interim(head);
          if (this.events !== ev) return;
          continue;
        }
        this.head = head;
        if (head.framing === 'tunnel') {
          this.rest = pos < chunk.length ? chunk.subarray(pos) : undefined;
          return ev.head(head);
        }
        this.body.start(head.framing, head.contentLength);
        ev.head(head);
        if (this.events !== ev) return;
        break;
      }
    }
    const body = this.body;
    for (;;) {
      const e = body.read(chunk, pos, chunk.length);
      if (e === BODY_DATA) {
        ev.data(chunk.subarray(body.dataStart, body.dataEnd));
        if (this.events !== ev) return;
        pos = body.next;
        continue;
      }
      if (e === BODY_END) {
        // Bytes after the end would be an unsolicited response: the connection is not reused then.
        this.reusable = this.head.keepAlive && this.head.framing !== 'until-close' && body.next === chunk.length;
        return ev.end(body.trailers ?? undefined);
      }
      if (e === BODY_ERROR) return ev.failed('protocol-error');
      return;
    }
  }
}

/**
 * The connection pool of one host. `acquire` hands a connection (idle, new, or the next one released)
 * to its callback exactly once; `release` returns it (reusable or not). The cluster's circuit
 * breaker bounds connections across its hosts and the requests queued for one.
 */
export class Http1Pool implements UpstreamPool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly waiters: PendingRequests;
  private connections = 0;
  private closed = false;

  constructor(
    readonly host: Host,
    private readonly options: PoolOptions,
  ) {
    this.waiters = new PendingRequests(options.breaker);
  }

  /** Connections open (busy and idle). */
  get size(): number {
    return this.connections;
  }

  /** Returns a cancel function (for a request that gives up while queued). */
  acquire(cb: AcquireCallback): () => void {
    const idle = this.idle.pop();
    if (idle) {
      if (idle.idleTimer) clearTimeout(idle.idleTimer);
      idle.idleTimer = undefined;
      cb(null, idle.lease());
      return noop;
    }
    if (this.options.breaker.tryAcquire('connection')) {
      this.connect(cb);
      return noop;
    }
    // At the connection limit: wait for a connection to be released, within the pending limit.
    if (!this.options.breaker.tryAcquire('pending')) {
      this.options.stats.upstream_rq_pending_overflow++;
      cb('overflow');
      return noop;
    }
    return this.waiters.add(cb);
  }

  /** Returns a connection after an exchange; `reusable` when its request and response both ended cleanly and both sides allow keep-alive. */
  release(conn: UpstreamConnection, reusable: boolean): void {
    const max = this.options.maxRequestsPerConnection;
    if (!reusable || conn.closed || this.closed || (max > 0 && conn.requests >= max)) {
      this.destroy(conn);
      this.dispatchWaiterWithNewConnection();
      return;
    }
    const waiting = this.waiters.next();
    if (waiting) {
      waiting(null, conn.lease());
      return;
    }
    this.idle.push(conn);
    if (this.options.idleTimeoutMs > 0) {
      conn.idleTimer = setTimeout(() => {
        const i = this.idle.indexOf(conn);
        if (i >= 0) this.idle.splice(i, 1);
        this.destroy(conn);
      }, this.options.idleTimeoutMs);
      conn.idleTimer.unref();
    }
  }

  /** Closes idle connections and refuses new work (busy ones close when released). */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) this.destroy(c);
    this.waiters.failAll('connect-failure');
  }

  /** A connection slot freed: a queued request may open a new connection. */
  private dispatchWaiterWithNewConnection(): void {
    if (this.waiters.length === 0 || this.closed) return;
    if (!this.options.breaker.tryAcquire('connection')) return;
    const waiting = this.waiters.next();
    if (!waiting) {
      this.options.breaker.release('connection');
      return;
    }
    this.connect(waiting);
  }

  private destroy(conn: UpstreamConnection): void {
    if (conn.idleTimer) clearTimeout(conn.idleTimer);
    conn.idleTimer = undefined;
    if (!conn.closed) conn.socket.destroy();
  }

  /** Opens a connection; the caller holds a 'connection' breaker slot, released when the socket closes. */
  private connect(cb: AcquireCallback): void {
    this.connections++;
    this.options.stats.upstream_cx_total++;
    const { socket, ready } = dialUpstream(this.host, this.options.tls, this.options.transport, this.options.sourceAddress !== undefined ? { localAddress: this.options.sourceAddress } : {});
    const conn = new UpstreamConnection(socket, this.host, this.options.limits, this);
    let connected = false;
    let reported = false;
    const report = (failure: PoolFailure | null) => {
      if (reported) return;
      reported = true;
      if (failure) {
        this.options.stats.upstream_cx_connect_fail++;
        cb(failure);
      } else cb(null, conn.lease());
    };
    const timer = setTimeout(() => {
      report('connect-timeout');
      socket.destroy();
    }, this.options.connectTimeoutMs);
    socket.once(ready, () => {
      connected = true;
      clearTimeout(timer);
      report(null);
    });
    socket.on('data', (chunk: Buffer) => conn.receive(chunk));
    socket.on('error', () => {
      // 'close' follows with hadError; handled there.
    });
    socket.once('close', (hadError) => {
      clearTimeout(timer);
      conn.closed = true;
      if (conn.idleTimer) clearTimeout(conn.idleTimer);
      const i = this.idle.indexOf(conn);
      if (i >= 0) this.idle.splice(i, 1);
      this.connections--;
      this.options.breaker.release('connection');
      if (!connected) report('connect-failure');
      else conn.closedUnder(hadError);
      this.dispatchWaiterWithNewConnection();
    });
  }
}

function noop(): void {
  // nothing to cancel
}
