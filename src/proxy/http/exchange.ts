// One HTTP/1.1 request through the router: route, fault, cluster and host choice, retries with backoff, timeouts, mirroring, and the response back.
import { randomUUID } from 'node:crypto';
import {
  BODY_DATA,
  BODY_END,
  BODY_ERROR,
  HEAD_ERROR,
  HEAD_INCOMPLETE,
  HeaderList,
  localReply,
  reasonPhrase,
  serializeRequestHead,
  serializeResponseHead,
  type RequestHead,
  type ResponseHead,
} from '../http1/index.js';
import type { HttpConnectionManagerConfig } from '../config/listeners.js';
import type { ForwardAction, HeaderMutation, RouteEntry, RouteRequest, RouteSelection, RouteTable } from '../config/route-table.js';
import type { ClusterManager, ClusterRuntime } from '../upstream/cluster-manager.js';
import { hashKey, type PickContext } from '../upstream/load-balancer.js';
import type { Host } from '../upstream/host.js';
import { pickWeighted } from '../upstream/weighted-pick.js';
import { LOCAL_REPLIES, type LocalFailure } from './local-replies.js';
import type { PoolRegistry } from './pool-registry.js';
import type { UpstreamConnection } from './upstream-pool.js';

/** How much of a request body is kept for retries and mirrors (Envoy's per-request buffer limit is similar in spirit). */
const RETRY_BUFFER_BYTES = 64 * 1024;
/** Request headers a proxy never forwards (RFC 9110 §7.6.1), besides those `Connection` names. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te'];

/** Where an exchange writes its response and how it controls the downstream request body. */
export interface DownstreamSink {
  /** Writes to the client; false when the socket's buffer is full (wait for `onDrain`). */
  write(buf: Buffer): boolean;
  onDrain(cb: () => void): void;
  /** The response is complete; `close` closes the connection once written. */
  finish(close: boolean): void;
  /** The response cannot be completed (reset mid-body): close the connection now. */
  reset(): void;
  pauseRequestBody(): void;
  resumeRequestBody(): void;
  /** Batches the writes of one upstream read into one syscall (socket cork/uncork). */
  cork(): void;
  uncork(): void;
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
  /** For tunnels (WebSocket): hands the raw connection over once the upstream accepts. */
  tunnel(upstream: UpstreamConnection, rest: Buffer | undefined): void;
}

/** What one finished exchange reports (metrics and the access log read it). */
export interface ExchangeRecord {
  /** Undefined when the request head itself was refused (a protocol error). */
  request?: RequestHead;
  startMs: number;
  durationMs: number;
  responseCode: number;
  responseFlags: readonly string[];
  responseHeaders?: HeaderList;
  upstreamHost?: string;
  upstreamCluster?: string;
  routeName?: string;
  /** The route's decorator operation (`reviews.bookinfo.svc.cluster.local:9080/*`). */
  operation?: string;
  bytesReceived: number;
  bytesSent: number;
  attempts: number;
  /** Upstream time to the response head, ms (x-envoy-upstream-service-time). */
  upstreamServiceTimeMs?: number;
  /** The peer's x-envoy-peer-metadata (from the request on inbound, the response on outbound). */
  peerMetadata?: string;
}

/** Istio's HTTP metadata exchange: what this proxy announces, and from which side the peer's arrives. */
export interface MetadataExchange {
  /** x-envoy-peer-metadata and -id of this proxy. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** `request`: inbound (the caller announced itself, we answer with ours); `response`: outbound. */
  peerFrom: 'request' | 'response';
}

const PEER_HEADERS = ['x-envoy-peer-metadata', 'x-envoy-peer-metadata-id'];

export interface ExchangeContext {
  hcm: HttpConnectionManagerConfig;
  /** The route table of this HCM (inline, or RDS from the active config), undefined if RDS has not arrived; read once per request. */
  readonly routes: RouteTable | undefined;
  clusters: ClusterManager;
  pools: PoolRegistry;
  scheme: 'http' | 'https';
  now(): number;
  random(): number;
  onComplete(record: ExchangeRecord): void;
  metadataExchange?: MetadataExchange;
}

/** Envoy's retry conditions on an upstream response status. */
function retriableStatus(action: ForwardAction, status: number): boolean {
  const r = action.retry;
  if (!r) return false;
  if (r.retryOn.has('5xx') && status >= 500) return true;
  if (r.retryOn.has('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
  if (r.retryOn.has('retriable-4xx') && status === 409) return true;
  if (r.retryOn.has('retriable-status-codes') && r.retriableStatusCodes.has(status)) return true;
  return false;
}

/** Envoy's retry conditions on a failure without a response (connect failure, reset, per-try timeout). */
function retriableFailure(action: ForwardAction, failure: 'connect-failure' | 'reset' | 'timeout'): boolean {
  const on = action.retry?.retryOn;
  if (!on) return false;
  if (on.has('5xx') || on.has('gateway-error')) return true;
  if (failure === 'connect-failure') return on.has('connect-failure') || on.has('reset');
  if (failure === 'reset') return on.has('reset');
  return false;
}

function applyMutation(headers: HeaderList, m: HeaderMutation): void {
  for (const name of m.remove) headers.remove(name);
  for (const h of m.add) {
    if (h.append) headers.add(h.name, h.value, h.name);
    else headers.set(h.name, h.value, h.name);
  }
}

export class Exchange implements RouteRequest {
  // RouteRequest
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly scheme: 'http' | 'https';

  private readonly startMs: number;
  private selection: RouteSelection | undefined;
  private action: ForwardAction | undefined;
  private clusterName: string | undefined;
  private cluster: ClusterRuntime | undefined;
  private readonly flags: string[] = [];
  /** Raw request body bytes kept for the next attempt; undefined once too large to keep. */
  /** Every request body byte so far, while the body is small enough to replay (retries, mirrors). */
  private kept: Buffer[] = [];
  private keptBytes = 0;
  private replayable = true;
  /** Body bytes received while no connection could take them. */
  private unsent: Buffer[] = [];
  private unsentBytes = 0;
  private requestEnded = false;
  private bytesReceived = 0;
  private bytesSent = 0;
  private attempts = 0;
  private triedHosts: Host[] = [];
  private attempt: Attempt | undefined;
  private responseStarted = false;
  private done = false;
  private globalTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private faultTimer: NodeJS.Timeout | undefined;
  private upstreamHead: ResponseHead | undefined;
  private upstreamServiceTimeMs: number | undefined;
  private readonly upstreamHeaders: HeaderList;
  private upstreamTarget: string;
  private peerMetadata: string | undefined;
  /** The route table this request was routed with (a push during the request does not change it). */
  private routes: RouteTable | undefined;

  constructor(
    private readonly ctx: ExchangeContext,
    readonly request: RequestHead,
    private readonly sink: DownstreamSink,
  ) {
    this.method = request.method;
    this.authority = request.authority;
    this.path = request.path;
    this.scheme = ctx.scheme;
    this.startMs = ctx.now();
    this.upstreamHeaders = request.headers;
    this.upstreamTarget = request.target;
  }

  header(lowerName: string): string | undefined {
    return this.request.headers.joined(lowerName);
  }

  /** Routes the request and starts the first attempt (or answers locally). */
  start(): void {
    const table = this.ctx.routes;
    this.routes = table;
    const sel = table?.select(this);
    if (!sel) return this.localFailure('no-route');
    this.selection = sel;
    const route = sel.route;
    const action = route.action;
    if (action.kind === 'direct') return this.reply(action.status, action.body ?? '', []);
    if (action.kind === 'redirect') return this.redirect(action);
    this.action = action;
    if (action.timeoutMs > 0) {
      this.globalTimer = setTimeout(() => this.onGlobalTimeout(), action.timeoutMs);
    }
    const fault = route.fault;
    if (fault?.delay && this.ctx.random() < fault.delay.fraction) {
      this.flags.push('DI');
      this.sink.pauseRequestBody();
      this.faultTimer = setTimeout(() => {
        this.faultTimer = undefined;
        this.sink.resumeRequestBody();
        this.afterDelay(route);
      }, fault.delay.delayMs);
      return;
    }
    this.afterDelay(route);
  }

  /** Raw body bytes of the downstream request (framing included, forwarded as received). */
  requestData(buf: Buffer): void {
    if (this.done) return;
    this.bytesReceived += buf.length;
    if (this.replayable) {
      this.kept.push(buf);
      this.keptBytes += buf.length;
      if (this.keptBytes > RETRY_BUFFER_BYTES) {
        // Too large to replay: this request gets no further retry or mirror.
        this.replayable = false;
        this.kept = [];
      }
    }
    const conn = this.attempt?.conn;
    if (conn && this.attempt!.headSent) {
      if (!conn.socket.write(buf)) {
        this.sink.pauseRequestBody();
        conn.socket.once('drain', () => this.sink.resumeRequestBody());
      }
      return;
    }
    // No connection yet (connecting, fault delay, retry backoff): hold the bytes, and the client once they add up.
    this.unsent.push(buf);
    this.unsentBytes += buf.length;
    if (this.unsentBytes > RETRY_BUFFER_BYTES) this.sink.pauseRequestBody();
  }

  requestEnd(): void {
    this.requestEnded = true;
  }

  /** The client went away: stop everything. */
  abort(): void {
    if (this.done) return;
    this.flags.push('DC');
    if (this.attempt) this.dropAttempt(this.attempt, false);
    this.finish(this.upstreamHead?.status ?? 0, false, true);
  }

  // ---- routing ----

  private afterDelay(route: RouteEntry): void {
    if (this.done) return;
    const abort = route.fault?.abort;
    if (abort && abort.httpStatus !== undefined && this.ctx.random() < abort.fraction) {
      this.flags.push('FI');
      return this.reply(abort.httpStatus, LOCAL_REPLIES['fault-abort'].body, []);
    }
    const action = this.action!;
    this.clusterName = pickWeighted(action.clusters, action.totalWeight, this.ctx.random).name;
    this.cluster = this.ctx.clusters.get(this.clusterName);
    if (!this.cluster) return this.localFailure('no-cluster');
    this.prepareUpstreamHead(route, action);
    this.startAttempt();
  }

  /** Header changes Envoy's router makes before the first attempt (each attempt then adds its attempt count). */
  private prepareUpstreamHead(route: RouteEntry, action: ForwardAction): void {
    const h = this.upstreamHeaders;
    const req = this.request;
    const named = h.joined('connection');
    for (const name of HOP_BY_HOP) h.remove(name);
    if (named) for (const n of named.split(',')) h.remove(n.trim().toLowerCase());
    if (this.ctx.hcm.useRemoteAddress) {
      // Edge: the client is untrusted. Envoy drops its x-envoy-* control headers and appends it to XFF.
      for (let i = h.length - 1; i >= 0; i--) if (h.lowerNames[i]!.startsWith('x-envoy-')) h.remove(h.lowerNames[i]!);
      const xff = h.joined('x-forwarded-for');
      h.set('x-forwarded-for', xff ? `${xff}, ${this.sink.remoteAddress}` : this.sink.remoteAddress, 'x-forwarded-for');
    }
    const mx = this.ctx.metadataExchange;
    if (mx) {
      // The peer's announcement is read and removed (the app never sees it); ours goes upstream on outbound.
      if (mx.peerFrom === 'request') this.peerMetadata = h.get(PEER_HEADERS[0]!);
      for (const n of PEER_HEADERS) h.remove(n);
      if (mx.peerFrom === 'response') for (const [n, v] of mx.headers) h.set(n, v, n);
    }
    if (!h.has('x-forwarded-proto')) h.add('x-forwarded-proto', this.scheme, 'x-forwarded-proto');
    if (!h.has('x-request-id')) h.add('x-request-id', randomUUID(), 'x-request-id');
    if (action.prefixRewrite !== undefined || action.regexRewrite) {
      const q = req.path.indexOf('?');
      const pathOnly = q < 0 ? req.path : req.path.slice(0, q);
      const query = q < 0 ? '' : req.path.slice(q);
      let rewritten = pathOnly;
      if (action.regexRewrite) rewritten = action.regexRewrite.matcher(pathOnly);
      else {
        const prefix = prefixOf(route);
        rewritten = prefix !== undefined && pathOnly.toLowerCase().startsWith(prefix.toLowerCase()) ? action.prefixRewrite! + pathOnly.slice(prefix.length) : pathOnly;
      }
      if (rewritten !== pathOnly) {
        h.set('x-envoy-original-path', req.path, 'x-envoy-original-path');
        this.upstreamTarget = rewritten + query;
      }
    }
    if (action.hostRewrite !== undefined) h.set('host', action.hostRewrite, 'host');
    const sel = this.selection!;
    const weighted = action.clusters.find((c) => c.name === this.clusterName);
    // Envoy's order: route, then virtual host, then route configuration (the last writer wins).
    if (weighted) applyMutation(h, weighted.requestHeaders);
    applyMutation(h, route.requestHeaders);
    applyMutation(h, sel.virtualHost.requestHeaders);
    if (this.routes) applyMutation(h, this.routes.requestHeaders);
  }

  private redirect(a: Extract<RouteEntry['action'], { kind: 'redirect' }>): void {
    const q = this.path.indexOf('?');
    let path = q < 0 ? this.path : this.path.slice(0, q);
    const query = a.stripQuery || q < 0 ? '' : this.path.slice(q);
    if (a.path !== undefined) path = a.path;
    else if (a.prefixRewrite !== undefined) {
      const prefix = prefixOf(this.selection!.route);
      if (prefix !== undefined && path.startsWith(prefix)) path = a.prefixRewrite + path.slice(prefix.length);
    }
    let host = a.host ?? this.authority;
    if (a.port !== undefined) host = `${host.replace(/:\d+$/, '')}:${a.port}`;
    const scheme = a.scheme ?? this.scheme;
    this.reply(a.status, '', [['location', `${scheme}://${host}${path}${query}`]]);
  }

  // ---- attempts ----

  private startAttempt(): void {
    if (this.done) return;
    const cluster = this.cluster!;
    const action = this.action!;
    this.attempts++;
    const pick: PickContext = {};
    const hash = this.requestHash(action);
    if (hash !== undefined) pick.hash = hash;
    if (action.retry?.avoidPreviousHosts && this.triedHosts.length > 0) {
      const tried = this.triedHosts;
      pick.avoid = (h) => tried.includes(h);
      pick.avoidAttempts = action.retry.hostSelectionRetryMaxAttempts;
    }
    const host = cluster.pick(pick);
    if (!host) return this.localFailure('no-healthy-upstream');
    if (!cluster.breaker.tryAcquire('request')) {
      cluster.stats.upstream_rq_pending_overflow++;
      return this.localFailure('overflow');
    }
    cluster.stats.upstream_rq_total++;
    cluster.stats.upstream_rq_active++;
    host.activeRequests++;
    this.triedHosts.push(host);
    const attempt: Attempt = { host, cluster, conn: undefined, headSent: false, responseEnded: false, startedMs: this.ctx.now(), cancel: undefined, perTryTimer: undefined, released: false };
    this.attempt = attempt;
    const pool = this.ctx.pools.pool(cluster, host);
    attempt.cancel = pool.acquire((failure, conn) => {
      attempt.cancel = undefined;
      if (this.attempt !== attempt || this.done) {
        if (conn) pool.release(conn, true);
        return;
      }
      if (failure === 'overflow') {
        this.endAttemptAccounting(attempt);
        return this.localFailure('overflow');
      }
      if (failure) {
        cluster.outlier?.report(host, { localOriginFailure: 'connect-failure' });
        return this.attemptFailed(attempt, 'connect-failure');
      }
      this.sendOn(attempt, conn!);
    });
    const perTry = action.retry?.perTryTimeoutMs ?? 0;
    if (perTry > 0) attempt.perTryTimer = setTimeout(() => this.onPerTryTimeout(attempt), perTry);
  }

  private requestHash(action: ForwardAction): bigint | number | undefined {
    for (const p of action.hashPolicy) {
      let key: string | undefined;
      if (p.kind === 'header') key = this.request.headers.joined(p.name);
      else if (p.kind === 'source-ip') key = this.sink.remoteAddress;
      else if (p.kind === 'query') {
        const q = this.path.indexOf('?');
        if (q >= 0) key = new URLSearchParams(this.path.slice(q + 1)).get(p.name) ?? undefined;
      } else if (p.kind === 'cookie') {
        const cookies = this.request.headers.joined('cookie');
        if (cookies) for (const part of cookies.split(';')) {
          const eq = part.indexOf('=');
          if (eq > 0 && part.slice(0, eq).trim() === p.name) key = part.slice(eq + 1).trim();
        }
      }
      if (key !== undefined) return hashKey(key);
    }
    return undefined;
  }

  private sendOn(attempt: Attempt, conn: UpstreamConnection): void {
    attempt.conn = conn;
    conn.requests++;
    const h = this.upstreamHeaders;
    if (this.selection!.virtualHost.includeAttemptCount) h.set('x-envoy-attempt-count', String(this.attempts), 'x-envoy-attempt-count');
    conn.parser.reset();
    conn.parser.forRequest(this.method);
    conn.onData = (chunk) => this.onUpstreamData(attempt, chunk);
    conn.onEnd = (err) => this.onUpstreamEnd(attempt, err);
    const head = serializeRequestHead(this.method, this.upstreamTarget, h);
    // A retry replays the whole body kept so far; the first attempt sends what arrived while it connected.
    const parts = this.attempts > 1 ? this.kept : this.unsent;
    this.unsent = [];
    this.unsentBytes = 0;
    attempt.headSent = true;
    const ok = conn.socket.write(parts.length === 0 ? head : Buffer.concat([head, ...parts]));
    if (!ok) {
      this.sink.pauseRequestBody();
      conn.socket.once('drain', () => this.sink.resumeRequestBody());
    } else this.sink.resumeRequestBody();
  }

  private onUpstreamData(attempt: Attempt, chunk: Buffer): void {
    if (this.attempt !== attempt || this.done) return;
    // Optimization: the response head and the body bytes of one read leave in one write; separate
    // writes were a syscall each, 40% of the proxy's busy CPU.
    this.sink.cork();
    try {
      this.onUpstreamBytes(attempt, chunk);
    } finally {
      this.sink.uncork();
    }
  }

  private onUpstreamBytes(attempt: Attempt, chunk: Buffer): void {
    const conn = attempt.conn!;
    let pos = 0;
    if (attempt.head === undefined) {
      for (;;) {
        const r = conn.parser.execute(chunk, pos);
        if (r === HEAD_INCOMPLETE) return;
        if (r === HEAD_ERROR) {
          this.dropAttempt(attempt, false);
          return this.localFailure('upstream-protocol-error');
        }
        const head = conn.parser.head!;
        pos = r;
        if (head.interim) {
          // 100 Continue and friends: pass through only when the client asked for it.
          if (head.status === 100 && this.request.expectContinue && !this.responseStarted) this.sink.write(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1'));
          continue;
        }
        attempt.head = head;
        attempt.rest = r < chunk.length ? chunk.subarray(r) : undefined;
        if (this.onResponseHead(attempt, head)) return;
        break;
      }
    }
    this.forwardBody(attempt, chunk, pos);
  }

  /** Decides on the response head; true when the attempt was abandoned (retry or local reply). */
  private onResponseHead(attempt: Attempt, head: ResponseHead): boolean {
    const action = this.action!;
    const cluster = attempt.cluster;
    if (attempt.perTryTimer) clearTimeout(attempt.perTryTimer);
    attempt.perTryTimer = undefined;
    cluster.outlier?.report(attempt.host, { status: head.status });
    if (retriableStatus(action, head.status) && this.canRetry()) {
      this.dropAttempt(attempt, false);
      this.scheduleRetry();
      return true;
    }
    if (this.attempts > 1 && retriableStatus(action, head.status)) this.flags.push('URX');
    if (head.framing === 'tunnel') {
      if (head.status === 101 && this.ctx.hcm.websocket) {
        this.upstreamHead = head;
        this.writeResponseHead(head);
        this.endAttemptAccounting(attempt);
        const conn = attempt.conn!;
        conn.onData = null;
        conn.onEnd = null;
        this.done = true;
        this.clearTimers();
        this.sink.tunnel(conn, attempt.rest);
        this.report(head.status);
        return true;
      }
      this.dropAttempt(attempt, false);
      this.localFailure('upstream-protocol-error');
      return true;
    }
    this.upstreamHead = head;
    this.upstreamServiceTimeMs = Math.round(this.ctx.now() - attempt.startedMs);
    const sc = Math.floor(head.status / 100);
    if (sc === 2) cluster.stats.upstream_rq_2xx++;
    else if (sc === 3) cluster.stats.upstream_rq_3xx++;
    else if (sc === 4) cluster.stats.upstream_rq_4xx++;
    else if (sc === 5) cluster.stats.upstream_rq_5xx++;
    this.writeResponseHead(head);
    attempt.conn!.body.start(head.framing, head.contentLength);
    if (head.framing === 'none' || (head.framing === 'length' && head.contentLength === 0)) {
      attempt.responseEnded = true;
      this.completeAttempt(attempt);
      return true;
    }
    return false;
  }

  private writeResponseHead(head: ResponseHead): void {
    const h = head.headers;
    const sel = this.selection!;
    const route = sel.route;
    const weighted = this.action?.clusters.find((c) => c.name === this.clusterName);
    h.remove('connection');
    h.remove('keep-alive');
    h.remove('proxy-connection');
    const mx = this.ctx.metadataExchange;
    if (mx) {
      if (mx.peerFrom === 'response') this.peerMetadata = h.get(PEER_HEADERS[0]!);
      for (const n of PEER_HEADERS) h.remove(n);
      if (mx.peerFrom === 'request') for (const [n, v] of mx.headers) h.set(n, v, n);
    }
    if (weighted) applyMutation(h, weighted.responseHeaders);
    applyMutation(h, route.responseHeaders);
    applyMutation(h, sel.virtualHost.responseHeaders);
    if (this.routes) applyMutation(h, this.routes.responseHeaders);
    if (this.upstreamServiceTimeMs !== undefined) h.set('x-envoy-upstream-service-time', String(this.upstreamServiceTimeMs), 'x-envoy-upstream-service-time');
    h.set('server', this.ctx.hcm.serverName, 'server');
    // A body delimited by the upstream closing cannot keep the client connection: close it after.
    if (head.framing === 'until-close' || !this.request.keepAlive) h.set('connection', 'close', 'connection');
    if (head.status === 101) h.set('connection', 'upgrade', 'connection');
    if (head.status === 101 && head.upgrade) h.set('upgrade', head.upgrade, 'upgrade');
    const bytes = serializeResponseHead(head.status, head.reason || reasonPhrase(head.status), h);
    this.responseStarted = true;
    this.bytesSent += bytes.length;
    this.sink.write(bytes);
  }

  private forwardBody(attempt: Attempt, chunk: Buffer, pos: number): void {
    const dec = attempt.conn!.body;
    const start = pos;
    for (;;) {
      const ev = dec.read(chunk, pos, chunk.length);
      if (ev === BODY_DATA) {
        pos = dec.next;
        continue;
      }
      if (ev === BODY_END) {
        this.writeDownstream(attempt, chunk.subarray(start, dec.next));
        attempt.responseEnded = true;
        // Bytes after the end would be an unsolicited response: the connection is not reused then.
        attempt.extraBytes = dec.next < chunk.length;
        this.completeAttempt(attempt);
        return;
      }
      if (ev === BODY_ERROR) {
        this.flags.push('UPE');
        this.dropAttempt(attempt, false);
        this.failMidResponse();
        return;
      }
      break;
    }
    if (start < chunk.length) this.writeDownstream(attempt, start === 0 ? chunk : chunk.subarray(start));
  }

  private writeDownstream(attempt: Attempt, bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.bytesSent += bytes.length;
    if (!this.sink.write(bytes)) {
      const socket = attempt.conn!.socket;
      socket.pause();
      this.sink.onDrain(() => socket.resume());
    }
  }

  private onUpstreamEnd(attempt: Attempt, err: Error | undefined): void {
    if (this.attempt !== attempt || this.done) return;
    const head = attempt.head;
    if (head && !err && head.framing === 'until-close') {
      attempt.responseEnded = true;
      attempt.conn!.body.finish();
      this.completeAttempt(attempt);
      return;
    }
    attempt.conn = undefined;
    if (!head) {
      attempt.cluster.outlier?.report(attempt.host, { localOriginFailure: 'reset' });
      this.attemptFailed(attempt, 'reset');
      return;
    }
    // Reset mid-response: the client cannot be told with a status any more.
    this.flags.push('UC');
    this.endAttemptAccounting(attempt);
    this.failMidResponse();
  }

  private onPerTryTimeout(attempt: Attempt): void {
    attempt.perTryTimer = undefined;
    if (this.attempt !== attempt || this.done || attempt.head) return;
    attempt.cluster.outlier?.report(attempt.host, { localOriginFailure: 'timeout' });
    attempt.cluster.stats.upstream_rq_timeout++;
    this.dropAttempt(attempt, false);
    if (retriableFailure(this.action!, 'timeout') && this.canRetry()) return this.scheduleRetry();
    this.localFailure('upstream-timeout');
  }

  private onGlobalTimeout(): void {
    this.globalTimer = undefined;
    if (this.done) return;
    if (this.cluster) this.cluster.stats.upstream_rq_timeout++;
    if (this.attempt) this.dropAttempt(this.attempt, false);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.responseStarted) {
      this.flags.push('UT');
      return this.failMidResponse();
    }
    this.localFailure('upstream-timeout');
  }

  private attemptFailed(attempt: Attempt, failure: 'connect-failure' | 'reset'): void {
    this.dropAttempt(attempt, false);
    if (retriableFailure(this.action!, failure) && this.canRetry()) return this.scheduleRetry();
    if (this.attempts > 1) this.flags.push('URX');
    this.localFailure(failure === 'connect-failure' ? 'connect-failure' : 'upstream-reset');
  }

  private canRetry(): boolean {
    const r = this.action?.retry;
    if (!r || this.attempts > r.numRetries || this.responseStarted) return false;
    // The body must be replayable: all of it kept so far.
    if (!this.replayable) return false;
    const cluster = this.cluster!;
    if (!cluster.breaker.tryAcquire('retry')) {
      cluster.stats.upstream_rq_retry_overflow++;
      return false;
    }
    cluster.stats.upstream_rq_retry++;
    return true;
  }

  /** Exponential backoff with full jitter (Envoy: base × 2^(n-1), capped), then the next attempt. */
  private scheduleRetry(): void {
    const r = this.action!.retry!;
    const cluster = this.cluster!;
    const ceiling = Math.min(r.backoffMaxMs, r.backoffBaseMs * 2 ** (this.attempts - 1));
    const delay = Math.floor(this.ctx.random() * ceiling);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      cluster.breaker.release('retry');
      this.startAttempt();
    }, delay);
  }

  /** Gives up on an attempt: stop its timers, return or close its connection, release its slots. */
  private dropAttempt(attempt: Attempt, reusable: boolean): void {
    if (attempt.perTryTimer) clearTimeout(attempt.perTryTimer);
    attempt.perTryTimer = undefined;
    if (attempt.cancel) attempt.cancel();
    attempt.cancel = undefined;
    if (attempt.conn) this.ctx.pools.pool(attempt.cluster, attempt.host).release(attempt.conn, reusable);
    attempt.conn = undefined;
    this.endAttemptAccounting(attempt);
    if (this.attempt === attempt) this.attempt = undefined;
  }

  private endAttemptAccounting(attempt: Attempt): void {
    if (attempt.released) return;
    attempt.released = true;
    attempt.host.activeRequests--;
    attempt.cluster.stats.upstream_rq_active--;
    attempt.cluster.breaker.release('request');
  }

  /** Both the response and the request have ended: hand the connection back and finish. */
  private completeAttempt(attempt: Attempt): void {
    const head = attempt.head!;
    if (!this.requestEnded) {
      // The upstream answered before the client finished sending (e.g. 413): the rest of the
      // request body is unread, so neither connection can carry another request.
      this.dropAttempt(attempt, false);
      this.finish(head.status, true, false);
      return;
    }
    const reusable = head.keepAlive && head.framing !== 'until-close' && !attempt.extraBytes;
    this.dropAttempt(attempt, reusable);
    this.startMirrors();
    this.finish(head.status, !this.request.keepAlive || head.framing === 'until-close', false);
  }

  private startMirrors(): void {
    const action = this.action;
    if (!action || action.mirrors.length === 0 || !this.replayable) return;
    for (const m of action.mirrors) {
      if (this.ctx.random() >= m.fraction) continue;
      const cluster = this.ctx.clusters.get(m.cluster);
      const host = cluster?.pick({});
      if (!cluster || !host) continue;
      const headers = this.upstreamHeaders.clone();
      const host0 = headers.get('host') ?? this.authority;
      headers.set('host', shadowHost(host0), 'host');
      const body = Buffer.concat(this.kept);
      const pool = this.ctx.pools.pool(cluster, host);
      // Fire and forget: the response is read and dropped; failures only count.
      pool.acquire((failure, conn) => {
        if (failure || !conn) return;
        conn.parser.reset();
        conn.parser.forRequest(this.method);
        let head: ResponseHead | undefined;
        conn.onEnd = () => undefined;
        conn.onData = (chunk) => {
          let pos = 0;
          if (!head) {
            const r = conn.parser.execute(chunk);
            if (r < 0) {
              if (r === HEAD_ERROR) pool.release(conn, false);
              return;
            }
            if (conn.parser.head!.interim) return;
            head = conn.parser.head!;
            conn.body.start(head.framing, head.contentLength);
            pos = r;
          }
          for (;;) {
            const ev = conn.body.read(chunk, pos, chunk.length);
            if (ev === BODY_DATA) {
              pos = conn.body.next;
              continue;
            }
            if (ev === BODY_END) pool.release(conn, head.keepAlive && conn.body.next === chunk.length);
            else if (ev === BODY_ERROR) pool.release(conn, false);
            return;
          }
        };
        conn.requests++;
        conn.socket.write(Buffer.concat([serializeRequestHead(this.method, this.upstreamTarget, headers), body]));
      });
    }
  }

  // ---- endings ----

  private localFailure(kind: LocalFailure): void {
    const rule = LOCAL_REPLIES[kind];
    if (rule.flag) this.flags.push(rule.flag);
    if (this.responseStarted) return this.failMidResponse();
    this.reply(rule.status, rule.body, []);
  }

  private reply(status: number, body: string, headers: Array<[string, string]>): void {
    if (this.done) return;
    const close = !this.request.keepAlive;
    const bytes = localReply(status, { body, headers: [...headers, ['server', this.ctx.hcm.serverName]], close, headRequest: this.method === 'HEAD' });
    this.responseStarted = true;
    this.bytesSent += bytes.length;
    this.sink.write(bytes);
    // A request whose body was not read cannot be followed by another on this connection.
    this.finish(status, close || !this.requestEnded, false);
  }

  private failMidResponse(): void {
    this.finish(this.upstreamHead?.status ?? 503, true, true);
  }

  private clearTimers(): void {
    if (this.globalTimer) clearTimeout(this.globalTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.faultTimer) clearTimeout(this.faultTimer);
    this.globalTimer = this.retryTimer = this.faultTimer = undefined;
  }

  private finish(status: number, close: boolean, reset: boolean): void {
    if (this.done) return;
    this.done = true;
    this.clearTimers();
    if (reset) this.sink.reset();
    else this.sink.finish(close);
    this.report(status);
  }

  private report(status: number): void {
    const lastHost = this.triedHosts[this.triedHosts.length - 1];
    const record: ExchangeRecord = {
      request: this.request,
      startMs: this.startMs,
      durationMs: this.ctx.now() - this.startMs,
      responseCode: status,
      responseFlags: this.flags,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      attempts: this.attempts,
    };
    if (this.upstreamHead) record.responseHeaders = this.upstreamHead.headers;
    if (lastHost) record.upstreamHost = lastHost.key;
    if (this.clusterName) record.upstreamCluster = this.clusterName;
    if (this.selection?.route.name) record.routeName = this.selection.route.name;
    if (this.selection?.route.operation) record.operation = this.selection.route.operation;
    if (this.upstreamServiceTimeMs !== undefined) record.upstreamServiceTimeMs = this.upstreamServiceTimeMs;
    if (this.peerMetadata !== undefined) record.peerMetadata = this.peerMetadata;
    this.ctx.onComplete(record);
  }
}

interface Attempt {
  host: Host;
  cluster: ClusterRuntime;
  conn: UpstreamConnection | undefined;
  headSent: boolean;
  head?: ResponseHead;
  responseEnded: boolean;
  extraBytes?: boolean;
  /** Bytes after a 101's head: the start of the tunnel. */
  rest?: Buffer;
  startedMs: number;
  cancel: (() => void) | undefined;
  perTryTimer: NodeJS.Timeout | undefined;
  released: boolean;
}

/** The prefix a route matched on (for prefix rewrites), if it is a prefix route. */
function prefixOf(route: RouteEntry): string | undefined {
  return route.prefix;
}

/** Envoy's mirror authority: `host-shadow`, before any port. */
function shadowHost(authority: string): string {
  const m = /^(.*?)(:\d+)?$/.exec(authority)!;
  return `${m[1]}-shadow${m[2] ?? ''}`;
}
