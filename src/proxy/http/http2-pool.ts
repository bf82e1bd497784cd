// HTTP/2 (cleartext) connections to one upstream host: requests multiplexed as streams, a new connection when the peer's stream limit or the per-connection request limit is reached.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { ResponseHead, type HeaderList } from '../http1/index.js';
import type { TlsContextConfig } from '../config/tls-context.js';
import { dialUpstream, type TlsTransport } from '../security/tls-transport.js';
import type { CircuitBreaker } from '../upstream/circuit-breaker.js';
import type { ClusterStats } from '../upstream/cluster-manager.js';
import type { Host } from '../upstream/host.js';
import { contentLengthOf, fromRawHeaders, headerListOf, toHttp2Headers } from './h2-headers.js';
import { PendingRequests, type AcquireCallback } from './pending-requests.js';
import type { UpstreamEvents, UpstreamFailure, UpstreamPool, UpstreamStream } from './upstream-stream.js';

/** HTTP/2 settings the proxy applies to its sessions (both directions). */
export interface Http2PoolLimits {
  /** SETTINGS_MAX_HEADER_LIST_SIZE we accept. */
  maxHeaderListBytes: number;
  /** Streams we let a peer open at once (our SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
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

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;
/** Before the peer's SETTINGS arrive, assume the RFC's recommended minimum. */
const INITIAL_PEER_STREAMS = 100;

/** One HTTP/2 connection and its stream accounting. */
class Connection {
  active = 0;
  /** Streams opened so far. */
  opened = 0;
  ready = false;
  closed = false;
  /** No new streams (request limit reached, GOAWAY, or closing). */
  draining = false;
  constructor(readonly session: http2.ClientHttp2Session) {}

  capacity(maxRequests: number): number {
    if (!this.ready || this.closed || this.draining) return 0;
    const peer = this.session.remoteSettings.maxConcurrentStreams ?? INITIAL_PEER_STREAMS;
    let room = Math.min(peer, 2 ** 31) - this.active;
    if (maxRequests > 0) room = Math.min(room, maxRequests - this.opened);
    return Math.max(0, room);
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
      if (c.active === 0) c.session.close();
    }
    this.waiters.failAll('connect-failure');
  }

  /** A stream ended: its connection may take a waiter, drain, or go idle. */
  streamDone(conn: Connection): void {
    conn.active--;
    if (conn.draining && conn.active === 0) conn.session.close();
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
    const host = this.host;
    const session = http2.connect(`http://${net.isIPv6(host.address) ? `[${host.address}]` : host.address}:${host.port}`, {
      createConnection: () => dialUpstream(host, this.options.tls, this.options.transport, this.options.sourceAddress !== undefined ? { localAddress: this.options.sourceAddress } : {}).socket,
      settings: { enablePush: false, maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListBytes },
      maxHeaderListPairs: Math.max(4, Math.floor(limits.maxHeaderListBytes / 32)),
    });
    const conn = new Connection(session);
    this.connections.push(conn);
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.connecting--;
      if (ok) {
        conn.ready = true;
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
      session.destroy();
    }, this.options.connectTimeoutMs);
    session.once('connect', () => settle(true));
    session.on('remoteSettings', () => this.dispatch());
    session.on('error', () => undefined); // 'close' follows
    session.on('goaway', () => {
      conn.draining = true;
    });
    if (this.options.idleTimeoutMs > 0) {
      session.setTimeout(this.options.idleTimeoutMs, () => {
        if (conn.active === 0) {
          conn.draining = true;
          session.close();
        }
      });
    }
    session.once('close', () => {
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
class Http2UpstreamStream implements UpstreamStream {
  readonly protocol = 'http2';
  private req: http2.ClientHttp2Stream | undefined;
  private events: UpstreamEvents | undefined;
  private trailers: HeaderList | undefined;
  /** Trailers of the request, sent when the stream asks for them ('wantTrailers'). */
  private requestTrailers: HeaderList | undefined;
  private ended = false;
  private released = false;
  /** The pool was told this stream's slot is free. */
  private doneCalled = false;

  constructor(
    private readonly pool: Http2Pool,
    private readonly conn: Connection,
    private readonly host: Host,
  ) {}

  sendHead(method: string, target: string, headers: HeaderList, bodyLength: number, events: UpstreamEvents, mayHaveTrailers = false): void {
    this.events = events;
    const h2: http2.OutgoingHttpHeaders = { ':method': method, ':path': target, ':scheme': 'http', ':authority': headers.get('host') ?? this.host.key };
    toHttp2Headers(headers, h2);
    let req: http2.ClientHttp2Stream;
    // Optimization: only a body that may end with trailers keeps the stream's end open (Node then
    // needs sendTrailers, an extra frame when there are none); the rest end on their last DATA frame.
    const waitForTrailers = mayHaveTrailers && bodyLength !== 0;
    try {
      req = this.conn.session.request(h2, { endStream: bodyLength === 0, waitForTrailers });
    } catch {
      // The session went away between the pick and the request (GOAWAY, close).
      queueMicrotask(() => this.fail());
      return;
    }
    this.req = req;
    req.on('response', (_h: http2.IncomingHttpHeaders, flags: number, raw: string[]) => {
      if (this.released) return;
      const f = fromRawHeaders(raw);
      const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      const length = contentLengthOf(f.headers);
      if (endStream) this.ended = true;
      const framing = endStream || method === 'HEAD' || f.status === 204 || f.status === 304 ? 'none' : length >= 0 ? 'length' : 'chunked';
      events.head(new ResponseHead(1, f.status, '', f.headers, framing, length, true, false, '', f.size));
    });
    req.on('headers', (_h: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
      if (this.released) return;
      const f = fromRawHeaders(raw);
      if (f.status >= 100 && f.status < 200) events.interim(new ResponseHead(1, f.status, '', f.headers, 'none', -1, true, true, '', f.size));
    });
    req.on('data', (chunk: Buffer) => {
      if (this.released) return;
      events.readStart();
      try {
        events.data(chunk);
      } finally {
        events.readEnd();
      }
    });
    req.on('trailers', (t: http2.IncomingHttpHeaders) => {
      this.trailers = headerListOf(t);
    });
    req.on('end', () => {
      this.ended = true;
      if (!this.released) events.end(this.trailers);
    });
    if (waitForTrailers) {
      req.once('wantTrailers', () => {
        try {
          req.sendTrailers(this.requestTrailers ? toHttp2Headers(this.requestTrailers, {}) : {});
        } catch {
          // Trailers Node refuses to send (a forbidden field) end this stream, not the proxy.
          req.close(NGHTTP2_INTERNAL_ERROR);
        }
      });
    }
    req.on('error', () => undefined); // 'close' follows
    req.once('close', () => {
      if (!this.ended) this.fail();
      this.done();
    });
  }

  sendData(payload: Buffer): boolean {
    if (!this.req || this.req.destroyed) return true;
    return this.req.write(payload);
  }

  onDrain(cb: () => void): void {
    if (this.req) this.req.once('drain', cb);
  }

  sendEnd(trailers?: HeaderList): void {
    if (!this.req || this.req.writableEnded) return;
    if (trailers && trailers.length > 0) this.requestTrailers = trailers;
    this.req.end();
  }

  pause(): void {
    this.req?.pause();
  }

  resume(): void {
    this.req?.resume();
  }

  release(reusable: boolean): void {
    if (this.released) return;
    this.released = true;
    // A stream given up before its end is cancelled; the connection stays for others either way.
    if (this.req && !this.req.closed && !(reusable && this.ended)) this.req.close(NGHTTP2_CANCEL);
    if (!this.req) this.done();
  }

  detach(): undefined {
    return undefined;
  }

  private fail(): void {
    if (!this.released) this.events?.failed(this.failure());
    if (!this.req) this.done();
  }

  /** Why the stream ended without a response: refused, reset by the upstream, or its connection gone. */
  private failure(): UpstreamFailure {
    const code = this.req?.rstCode;
    if (code === NGHTTP2_REFUSED_STREAM) return 'refused-stream';
    const session = this.conn.session;
    return code === undefined || session.destroyed || session.closed ? 'reset' : 'remote-reset';
  }

  private done(): void {
    if (this.doneCalled) return;
    this.doneCalled = true;
    this.pool.streamDone(this.conn);
  }
}

function noop(): void {
  // nothing to cancel
}
