// HTTP/1.1 keep-alive connections to one upstream host: connect with a timeout, reuse idle sockets, queue when the cluster's connection limit is reached.
import * as net from 'node:net';
import { BodyDecoder, ResponseHeadParser, type Http1Limits } from '../http1/index.js';
import type { CircuitBreaker } from '../upstream/circuit-breaker.js';
import type { ClusterStats } from '../upstream/cluster-manager.js';
import type { Host } from '../upstream/host.js';

/** Why no connection could be had: Envoy's `UF` (connection failure) and `UO` (overflow). */
export type PoolFailure = 'connect-failure' | 'connect-timeout' | 'overflow';

export interface PoolOptions {
  connectTimeoutMs: number;
  /** Close an idle connection after this long; 0: never. */
  idleTimeoutMs: number;
  /** 0: unlimited. */
  maxRequestsPerConnection: number;
  breaker: CircuitBreaker;
  stats: ClusterStats;
  limits: Http1Limits;
}

/** One upstream connection. The exchange using it installs `onData` / `onEnd` while it owns it. */
export class UpstreamConnection {
  readonly parser: ResponseHeadParser;
  readonly body: BodyDecoder;
  /** Requests sent on this connection so far. */
  requests = 0;
  /** Set by the current owner; idle connections have none. */
  onData: ((chunk: Buffer) => void) | null = null;
  onEnd: ((error: Error | undefined) => void) | null = null;
  closed = false;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly host: Host,
    limits: Http1Limits,
  ) {
    this.parser = new ResponseHeadParser(limits);
    this.body = new BodyDecoder('response', limits);
  }
}

interface Waiter {
  cb: (failure: PoolFailure | null, conn?: UpstreamConnection) => void;
  cancelled: boolean;
}

/**
 * The connection pool of one host. `acquire` hands a connection (idle, new, or the next one released)
 * to its callback exactly once; `release` returns it (reusable or not). The cluster's circuit
 * breaker bounds connections across its hosts and the requests queued for one.
 */
export class Http1Pool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly waiters: Waiter[] = [];
  private connections = 0;
  private closed = false;

  constructor(
    readonly host: Host,
    private readonly options: PoolOptions,
  ) {}

  /** Connections open (busy and idle). */
  get size(): number {
    return this.connections;
  }

  /** Returns a cancel function (for a request that gives up while queued). */
  acquire(cb: (failure: PoolFailure | null, conn?: UpstreamConnection) => void): () => void {
    const idle = this.idle.pop();
    if (idle) {
      if (idle.idleTimer) clearTimeout(idle.idleTimer);
      idle.idleTimer = undefined;
      cb(null, idle);
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
    const w: Waiter = { cb, cancelled: false };
    this.waiters.push(w);
    return () => {
      if (w.cancelled) return;
      w.cancelled = true;
      const i = this.waiters.indexOf(w);
      if (i >= 0) this.waiters.splice(i, 1);
      this.options.breaker.release('pending');
    };
  }

  /** Returns a connection after an exchange; `reusable` when its request and response both ended cleanly and both sides allow keep-alive. */
  release(conn: UpstreamConnection, reusable: boolean): void {
    conn.onData = null;
    conn.onEnd = null;
    const max = this.options.maxRequestsPerConnection;
    if (!reusable || conn.closed || this.closed || (max > 0 && conn.requests >= max)) {
      this.destroy(conn);
      this.dispatchWaiterWithNewConnection();
      return;
    }
    const w = this.nextWaiter();
    if (w) {
      w.cb(null, conn);
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
    for (const w of this.waiters.splice(0)) {
      if (w.cancelled) continue;
      this.options.breaker.release('pending');
      w.cb('connect-failure');
    }
  }

  private nextWaiter(): Waiter | undefined {
    for (;;) {
      const w = this.waiters.shift();
      if (!w) return undefined;
      if (w.cancelled) continue;
      this.options.breaker.release('pending');
      return w;
    }
  }

  /** A connection slot freed: a queued request may open a new connection. */
  private dispatchWaiterWithNewConnection(): void {
    if (this.waiters.length === 0 || this.closed) return;
    if (!this.options.breaker.tryAcquire('connection')) return;
    const w = this.nextWaiter();
    if (!w) {
      this.options.breaker.release('connection');
      return;
    }
    this.connect(w.cb);
  }

  private destroy(conn: UpstreamConnection): void {
    if (conn.idleTimer) clearTimeout(conn.idleTimer);
    conn.idleTimer = undefined;
    if (!conn.closed) conn.socket.destroy();
  }

  /** Opens a connection; the caller holds a 'connection' breaker slot, released when the socket closes. */
  private connect(cb: (failure: PoolFailure | null, conn?: UpstreamConnection) => void): void {
    this.connections++;
    this.options.stats.upstream_cx_total++;
    const socket = net.connect({ host: this.host.address, port: this.host.port });
    socket.setNoDelay(true);
    const conn = new UpstreamConnection(socket, this.host, this.options.limits);
    let connected = false;
    let reported = false;
    const report = (failure: PoolFailure | null) => {
      if (reported) return;
      reported = true;
      if (failure) {
        this.options.stats.upstream_cx_connect_fail++;
        cb(failure);
      } else cb(null, conn);
    };
    const timer = setTimeout(() => {
      report('connect-timeout');
      socket.destroy();
    }, this.options.connectTimeoutMs);
    socket.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      report(null);
    });
    socket.on('data', (chunk: Buffer) => {
      if (conn.onData) conn.onData(chunk);
      else {
        // Bytes from an idle upstream (a late or unsolicited response): the connection cannot be trusted.
        socket.destroy();
      }
    });
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
      else if (conn.onEnd) {
        const end = conn.onEnd;
        conn.onEnd = null;
        conn.onData = null;
        end(hadError ? new Error('upstream connection reset') : undefined);
      }
      this.dispatchWaiterWithNewConnection();
    });
  }
}

function noop(): void {
  // nothing to cancel
}
