// HTTP/2 connections to one upstream host, on Meltemi's own HTTP/2 codec: requests multiplexed as streams, a new connection when the peer's stream limit or the per-connection request limit is reached.
import { ResponseHead, type HeaderList } from '../http1/index.js';
import type { TlsContextConfig } from '../config/tls-context.js';
import { dialUpstream, type TlsTransport } from '../security/tls-transport.js';
import type { CircuitBreaker } from '../upstream/circuit-breaker.js';
import type { ClusterStats } from '../upstream/cluster-manager.js';
import type { Host } from '../upstream/host.js';
import { ErrorCode } from '../http2/frames.js';
import { Http2ClientSession, type Http2ClientStream, type Http2ResponseListener } from '../http2/client-session.js';
import { PendingRequests, type AcquireCallback } from './pending-requests.js';
import type { UpstreamEvents, UpstreamFailure, UpstreamPool, UpstreamStream } from './upstream-stream.js';

/** HTTP/2 settings the proxy applies to its upstream sessions. */
export interface Http2PoolLimits {
  /** SETTINGS_MAX_HEADER_LIST_SIZE we accept. */
  maxHeaderListBytes: number;
}

export interface Http2PoolOptions {
  connectTimeoutMs: number;
  /** Close a connection with no stream after this long; 0: never. */
  idleTimeoutMs: number;
  /** Streams per connection before it is drained and replaced; 0: unlimited. */
  maxRequestsPerConnection: number;
  breaker: CircuitBreaker;
  stats: ClusterStats;
  limits: Http2PoolLimits;
  /** The TLS this host is reached with (undefined: plaintext), and the transport that makes it. */
  tls?: TlsContextConfig;
  transport?: TlsTransport;
  /** Connect from this address (the cluster's upstream_bind_config). */
  sourceAddress?: string;
}

/** Before the peer's SETTINGS arrive, assume the RFC's recommended minimum. */
const INITIAL_PEER_STREAMS = 100;
/** Receive windows toward an upstream: per stream, and for the connection (given back as bytes arrive). */
const UPSTREAM_STREAM_WINDOW = 256 * 1024;
const UPSTREAM_CONNECTION_WINDOW = 1024 * 1024;

/** One HTTP/2 connection and its stream accounting. */
class Connection {
  active = 0;
  /** Streams opened so far. */
  opened = 0;
  session: Http2ClientSession | undefined;
  closed = false;
  /** No new streams (request limit reached, or closing). */
  draining = false;

  capacity(maxRequests: number): number {
    const s = this.session;
    if (!s || this.closed || this.draining || s.draining) return 0;
    const peer = s.settingsReceived ? s.peerMaxConcurrentStreams : INITIAL_PEER_STREAMS;
    let room = peer - this.active;
    if (maxRequests > 0) room = Math.min(room, maxRequests - this.opened);
    return Math.max(0, room);
  }

  /** GOAWAY once its streams are done. */
  close(): void {
    this.draining = true;
    this.session?.shutdown();
  }
}

/**
 * The HTTP/2 pool of one host. A connection holds the cluster's 'connection' breaker slot while it
 * is open; requests waiting for a connection or a stream slot hold a 'pending' slot.
 */
export class Http2Pool implements UpstreamPool {
  private readonly connections: Connection[] = [];
  private readonly waiters: PendingRequests;
  private connecting = 0;
  private closed = false;

  constructor(
    readonly host: Host,
    private readonly options: Http2PoolOptions,
  ) {
    this.waiters = new PendingRequests(options.breaker);
  }

  acquire(cb: AcquireCallback): () => void {
    if (this.closed) {
      cb('connect-failure');
      return noop;
    }
    const conn = this.available();
    if (conn) {
      cb(null, this.open(conn));
      return noop;
    }
    if (!this.options.breaker.tryAcquire('pending')) {
      this.options.stats.upstream_rq_pending_overflow++;
      cb('overflow');
      return noop;
    }
    const cancel = this.waiters.add(cb);
    // One connection being set up serves many waiters; open another only when none is.
    if (this.connecting === 0 && this.options.breaker.tryAcquire('connection')) this.connect();
    return cancel;
  }

  close(): void {
    this.closed = true;
    for (const c of this.connections) {
      c.draining = true;
      if (c.active === 0) c.close();
    }
    this.waiters.failAll('connect-failure');
  }

  /** A stream ended: its connection may take a waiter, drain, or go idle. */
  streamDone(conn: Connection): void {
    conn.active--;
    if (conn.draining && conn.active === 0) conn.close();
    this.dispatch();
  }

  private available(): Connection | undefined {
    const max = this.options.maxRequestsPerConnection;
    for (const c of this.connections) if (c.capacity(max) > 0) return c;
    return undefined;
  }

  private open(conn: Connection): Http2UpstreamStream {
    conn.active++;
    conn.opened++;
    const max = this.options.maxRequestsPerConnection;
    if (max > 0 && conn.opened >= max) conn.draining = true;
    return new Http2UpstreamStream(this, conn, this.host);
  }

  /** Hands free stream slots to waiters; opens a connection when they still wait. */
  private dispatch(): void {
    for (let conn = this.available(); conn && this.waiters.length > 0; conn = this.available()) this.waiters.next()!(null, this.open(conn));
    if (this.waiters.length > 0 && this.connecting === 0 && !this.closed && this.options.breaker.tryAcquire('connection')) this.connect();
  }

  /** Opens a connection; the caller holds a 'connection' breaker slot, released when it closes. */
  private connect(): void {
    const { stats, limits } = this.options;
    this.connecting++;
    stats.upstream_cx_total++;
    const dial = dialUpstream(this.host, this.options.tls, this.options.transport, this.options.sourceAddress !== undefined ? { localAddress: this.options.sourceAddress } : {});
    const socket = dial.socket;
    const conn = new Connection();
    this.connections.push(conn);
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.connecting--;
      if (ok) {
        this.dispatch();
        return;
      }
      stats.upstream_cx_connect_fail++;
      // Requests queued on this connection attempt fail with it (Envoy: UF), unless another connection can serve them.
      if (this.available() === undefined) this.waiters.failAll('connect-failure');
      else this.dispatch();
    };
    const timer = setTimeout(() => {
      settle(false);
      socket.destroy();
    }, this.options.connectTimeoutMs);
    socket.once(dial.ready, () => {
      if (this.closed) {
        // The pool closed while this connection was being made: nobody will use it.
        socket.destroy();
        return;
      }
      conn.session = new Http2ClientSession(
        socket,
        { maxHeaderListBytes: limits.maxHeaderListBytes, idleTimeoutMs: this.options.idleTimeoutMs, initialStreamWindow: UPSTREAM_STREAM_WINDOW, connectionWindow: UPSTREAM_CONNECTION_WINDOW },
        { remoteSettings: () => this.dispatch(), goaway: () => this.dispatch() },
      );
      settle(true);
    });
    socket.on('error', () => undefined); // 'close' follows
    socket.once('close', () => {
      settle(false);
      conn.closed = true;
      const i = this.connections.indexOf(conn);
      if (i >= 0) this.connections.splice(i, 1);
      this.options.breaker.release('connection');
      this.dispatch();
    });
  }
}

/** One request as an HTTP/2 stream of a pooled connection. */
class Http2UpstreamStream implements UpstreamStream, Http2ResponseListener {
  readonly protocol = 'http2';
  private stream: Http2ClientStream | undefined;
  private events: UpstreamEvents | undefined;
  private method = '';
  private ended = false;
  private released = false;
  /** The pool was told this stream's slot is free. */
  private doneCalled = false;

  constructor(
    private readonly pool: Http2Pool,
    private readonly conn: Connection,
    private readonly host: Host,
  ) {}

  sendHead(method: string, target: string, headers: HeaderList, bodyLength: number, events: UpstreamEvents): void {
    this.events = events;
    this.method = method;
    const session = this.conn.session;
    if (!session || session.draining) {
      // The connection went away between the pick and the request (GOAWAY, close).
      queueMicrotask(() => this.closed(ErrorCode.CANCEL));
      return;
    }
    const pseudo = [':method', method, ':scheme', 'http', ':authority', headers.get('host') ?? this.host.key, ':path', target];
    this.stream = session.request(pseudo, headers, bodyLength === 0, this);
  }

  sendData(payload: Buffer): boolean {
    if (!this.stream || this.stream.isClosed) return true;
    return this.stream.write(payload);
  }

  onDrain(cb: () => void): void {
    this.stream?.onDrain(cb);
  }

  sendEnd(trailers?: HeaderList): void {
    this.stream?.end(trailers && trailers.length > 0 ? trailers : undefined);
  }

  pause(): void {
    this.stream?.pause();
  }

  resume(): void {
    this.stream?.resume();
  }

  release(_reusable: boolean): void {
    if (this.released) return;
    this.released = true;
    // A stream given up before both ends finished is cancelled; the connection stays for others either way.
    // One whose ends both finished closes by itself once the response's end has been delivered: no RST_STREAM.
    const s = this.stream;
    if (s && !s.isClosed && !(this.ended && s.localEnded)) s.reset(ErrorCode.CANCEL);
    else this.done();
  }

  detach(): undefined {
    return undefined;
  }

  // ---- Http2ResponseListener ----

  informational(status: number, headers: HeaderList, size: number): void {
    this.deliver()?.interim(new ResponseHead(1, status, '', headers, 'none', -1, true, true, '', size));
  }

  response(status: number, headers: HeaderList, endStream: boolean, contentLength: number, size: number): void {
    const events = this.deliver();
    if (!events) return;
    const framing = endStream || this.method === 'HEAD' || status === 204 || status === 304 ? 'none' : contentLength >= 0 ? 'length' : 'chunked';
    events.head(new ResponseHead(1, status, '', headers, framing, contentLength, true, false, '', size));
  }

  body(chunk: Buffer): void {
    this.deliver()?.data(chunk);
  }

  bodyEnd(trailers: HeaderList | undefined): void {
    this.ended = true;
    this.deliver()?.end(trailers);
  }

  closed(code: number): void {
    if (!this.ended && !this.released) this.events?.failed(this.failure(code));
    this.done();
  }

  /** Why the stream ended without a response: refused, reset by the upstream, malformed, or its connection gone. */
  private failure(code: number): UpstreamFailure {
    const s = this.stream;
    if (s?.resetByPeer) return code === ErrorCode.REFUSED_STREAM ? 'refused-stream' : 'remote-reset';
    return code === ErrorCode.PROTOCOL_ERROR ? 'protocol-error' : 'reset';
  }

  /**
   * The exchange's events for one event of the upstream connection, undefined once released. Each
   * comes from a read of that connection, so the downstream may hold what it writes until the batch of
   * reads ends: a response's head, body and end leave in one write.
   */
  private deliver(): UpstreamEvents | undefined {
    if (this.released) return undefined;
    const events = this.events!;
    events.reading();
    return events;
  }

  private done(): void {
    if (this.doneCalled) return;
    this.doneCalled = true;
    this.pool.streamDone(this.conn);
    // A finished stream holds nothing of its exchange (see Http2ClientStream.responseListener).
    this.events = undefined;
    this.stream = undefined;
  }
}

function noop(): void {
  // nothing to cancel
}
