// One HTTP request through the router, whatever the codecs on either side: route, fault, cluster and host choice, retries with backoff, timeouts, mirroring, and the response back.
import { randomUUID } from 'node:crypto';
import type { HeaderList, RequestHead, ResponseHead } from '../http1/index.js';
import type { HttpConnectionManagerConfig } from '../config/listeners.js';
import type { ForwardAction, HeaderMutation, RouteEntry, RouteRequest, RouteSelection, RouteTable } from '../config/route-table.js';
import type { ClusterManager, ClusterRuntime } from '../upstream/cluster-manager.js';
import { hashKey, type PickContext } from '../upstream/load-balancer.js';
import type { Host } from '../upstream/host.js';
import { pickWeighted } from '../upstream/weighted-pick.js';
import { LOCAL_REPLIES, grpcStatusOfHttp, type LocalFailure } from './local-replies.js';
import type { PoolRegistry } from './pool-registry.js';
import type { UpstreamEvents, UpstreamFailure, UpstreamStream, UpstreamTunnel } from './upstream-stream.js';
import type { DownstreamSecurity } from '../security/tls-transport.js';
import { applyClientCertHeader } from './client-cert-header.js';
import type { FilterReply, FilterRequest } from './http-filters.js';
import { normalizePath } from './path-normalization.js';
import type { OriginalDestination } from '../network/original-dst.js';

/** How much of a request body is kept for retries and mirrors (Envoy's per-request buffer limit is similar in spirit). */
const RETRY_BUFFER_BYTES = 64 * 1024;
/** Request headers a proxy never forwards (RFC 9110 §7.6.1), besides those `Connection` names; `te: trailers` (gRPC) is kept. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade'];

/**
 * Where an exchange writes its response and how it controls the downstream request body: an
 * HTTP/1.1 connection's current request, or one HTTP/2 stream. Bodies are payload; each codec
 * frames them.
 */
export interface DownstreamSink {
  readonly protocol: 'http1' | 'http2';
  /**
   * Writes the response head; returns its size on the wire. `head.framing` and `contentLength`
   * describe the body that follows; `close`: the connection closes after this response (HTTP/1.1).
   */
  writeHead(head: ResponseHead, close: boolean): number;
  /** A 100 Continue the client asked for. */
  writeContinue(): void;
  /** Response payload; false when the client's buffer is full (wait for `onDrain`). */
  writeData(payload: Buffer): boolean;
  onDrain(cb: () => void): void;
  /** The response is complete (trailers, when the codec carries them); `close` closes the connection once written. */
  end(trailers: HeaderList | undefined, close: boolean): void;
  /** A whole response made by the proxy; returns its size. The exchange then calls `end`. */
  localReply(status: number, body: string, headers: ReadonlyArray<readonly [string, string]>, close: boolean): number;
  /** The response cannot be completed (reset mid-body): reset the stream or close the connection now. */
  reset(): void;
  pauseRequestBody(): void;
  resumeRequestBody(): void;
  /** Writes from now until the current batch of I/O events ends leave together, after it (io/flush-batch.ts). */
  holdWrites(): void;
  readonly remoteAddress: string;
  /** Where the client addressed the connection (for a captured connection, its original destination). */
  readonly localAddress: string;
  readonly localPort: number;
  /** A captured connection's original destination, the host an ORIGINAL_DST cluster connects to; undefined otherwise. */
  readonly originalDestination: OriginalDestination | undefined;
  /** The connection's TLS and verified peer (plaintext: `{ tls: false }`). */
  readonly security: DownstreamSecurity;
  /** For tunnels (WebSocket over HTTP/1.1): hands the raw connection over once the upstream accepts. */
  tunnel(upstream: UpstreamTunnel, rest: Buffer | undefined): void;
}

/** What one finished exchange reports (metrics and the access log read it). */
export interface ExchangeRecord {
  /** Undefined when the request head itself was refused (a protocol error). */
  request?: RequestHead;
  /** The downstream codec. */
  protocol: 'http1' | 'http2';
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
  /** grpc-status of a gRPC response (trailers, trailers-only head, or the local reply's). */
  grpcStatus?: number;
  /** The downstream connection's TLS and verified peer. */
  security: DownstreamSecurity;
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

/** gRPC statuses Envoy's `retry_on` names (checked on a response head that carries grpc-status: a trailers-only answer). */
const GRPC_RETRY_ON: ReadonlyMap<number, string> = new Map([
  [1, 'cancelled'],
  [4, 'deadline-exceeded'],
  [8, 'resource-exhausted'],
  [13, 'internal'],
  [14, 'unavailable'],
]);

/** Envoy's retry conditions on an upstream response: its status, and the grpc-status of a trailers-only answer (NaN when none). */
function retriableResponse(action: ForwardAction, status: number, grpcStatus: number): boolean {
  const r = action.retry;
  if (!r) return false;
  if (r.retryOn.has('5xx') && status >= 500) return true;
  if (r.retryOn.has('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
  if (r.retryOn.has('retriable-4xx') && status === 409) return true;
  if (r.retryOn.has('retriable-status-codes') && r.retriableStatusCodes.has(status)) return true;
  const condition = GRPC_RETRY_ON.get(grpcStatus);
  return condition !== undefined && r.retryOn.has(condition);
}

/** Envoy's retry conditions on a failure without a response (connect failure, reset, refused stream, per-try timeout). */
function retriableFailure(action: ForwardAction, failure: 'connect-failure' | 'reset' | 'remote-reset' | 'refused-stream' | 'timeout'): boolean {
  const on = action.retry?.retryOn;
  if (!on) return false;
  if (on.has('5xx') || on.has('gateway-error')) return true;
  if (failure === 'connect-failure') return on.has('connect-failure') || on.has('reset');
  if (failure === 'refused-stream') return on.has('refused-stream') || on.has('reset');
  if (failure === 'reset' || failure === 'remote-reset') return on.has('reset');
  return false;
}

function applyMutation(headers: HeaderList, m: HeaderMutation): void {
  for (const name of m.remove) headers.remove(name);
  for (const h of m.add) {
    if (h.append) headers.add(h.name, h.value, h.name);
    else headers.set(h.name, h.value, h.name);
  }
}

export class Exchange implements RouteRequest, UpstreamEvents {
  // RouteRequest
  readonly method: string;
  readonly authority: string;
  /** Path and query as routed, checked and forwarded: normalized per the connection manager before anything reads it. */
  path: string;
  readonly scheme: 'http' | 'https';

  private readonly startMs: number;
  private selection: RouteSelection | undefined;
  private action: ForwardAction | undefined;
  private clusterName: string | undefined;
  private cluster: ClusterRuntime | undefined;
  private readonly flags: string[] = [];
  /** Every request payload byte so far, while the body is small enough to replay (retries, mirrors). */
  private kept: Buffer[] = [];
  private keptBytes = 0;
  private replayable = true;
  /** Payload received while no stream could take it. */
  private unsent: Buffer[] = [];
  private unsentBytes = 0;
  private requestEnded = false;
  private requestTrailers: HeaderList | undefined;
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
  private grpcStatus: number | undefined;
  /** The route table this request was routed with (a push during the request does not change it). */
  private routes: RouteTable | undefined;
  /** The request's body length for the upstream: known, 0 for none, -1 unknown. */
  private readonly bodyLength: number;

  constructor(
    private readonly ctx: ExchangeContext,
    readonly request: RequestHead,
    private readonly sink: DownstreamSink,
  ) {
    this.method = request.method;
    this.authority = request.authority;
    this.path = request.path;
    this.scheme = sink.security.tls ? 'https' : ctx.scheme;
    this.startMs = ctx.now();
    this.upstreamHeaders = request.headers;
    // An absolute-form target goes upstream in origin-form, as Envoy's codec turns it into :path.
    this.upstreamTarget = request.forwardTarget;
    const f = request.framing;
    this.bodyLength = f === 'length' ? request.contentLength : f === 'chunked' ? -1 : 0;
  }

  header(lowerName: string): string | undefined {
    return this.request.headers.joined(lowerName);
  }

  /**
   * Normalizes the path, runs the decoder filters (JWT, authn, RBAC), then routes and starts the
   * first attempt — or answers locally at any of these steps.
   */
  start(): void {
    this.guarded(() => this.begin());
  }

  /**
   * Runs one step of this exchange so that a bug in it fails this request only: 500 (or a reset once
   * the response started) instead of an exception that would take every connection of the proxy down.
   */
  private guarded(step: () => void): void {
    try {
      step();
    } catch {
      if (this.done) return;
      if (this.attempt) this.dropAttempt(this.attempt, false);
      if (this.responseStarted) this.failMidResponse();
      else this.reply(500, 'internal error', [], true);
    }
  }

  private begin(): void {
    if (this.request.targetForm === 'absolute') {
      // Envoy answers 404 to a non-relative path where the codec was told not to take absolute URLs.
      if (!this.ctx.hcm.allowAbsoluteUrl) return this.reply(404, '', []);
      // RFC 9112 §3.2.2: the Host header is ignored and replaced with the target's authority, so
      // policy, routing and the upstream all see the host the request was routed by — not the
      // proxy's own address the client put in Host.
      this.upstreamHeaders.set('host', this.authority, 'host');
    }
    // Header names with `_`, which many apps read as `-` (x_role vs x-role): refused or dropped when
    // the connection manager says so, before any policy reads the headers (§1 B7).
    const underscores = this.ctx.hcm.underscoreHeaders;
    if (underscores !== 'ALLOW') {
      const h = this.upstreamHeaders;
      // remove() takes every field of a name, so the list may shrink by more than one.
      for (let i = h.length - 1; i >= 0; i--) {
        const name = h.lowerNames[i];
        if (name === undefined || !name.includes('_')) continue;
        if (underscores === 'REJECT_REQUEST') return this.reply(400, 'Bad Request', [], true);
        h.remove(name);
      }
    }
    const n = normalizePath(this.path, this.ctx.hcm.pathNormalization);
    if (n.kind === 'reject') return this.reply(400, 'Bad Request', [], true);
    if (n.kind === 'redirect') return this.reply(307, '', [['location', n.path]]);
    if (n.changed) {
      this.path = n.path;
      this.upstreamTarget = n.path;
    }
    if (this.ctx.hcm.decoderFilters.length > 0) this.runFilters(this.filterRequest(), 0);
    else this.route();
  }

  /** The decoder filters from `i` on, in order; the first reply ends the request. A filter's promise settles on this exchange only if it is still running. */
  private runFilters(request: FilterRequest, from: number): void {
    const filters = this.ctx.hcm.decoderFilters;
    for (let i = from; i < filters.length; i++) {
      const verdict = filters[i]!.decode(request);
      if (verdict instanceof Promise) {
        verdict.then(
          (v) => {
            if (this.done) return;
            this.guarded(() => (v ? this.filterReply(v) : this.runFilters(request, i + 1)));
          },
          () => {
            if (!this.done) this.filterReply({ status: 500, body: 'filter failed' });
          },
        );
        return;
      }
      if (verdict) return this.filterReply(verdict);
    }
    this.route();
  }

  /** The request as the decoder filters see it, once the path is normalized. */
  private filterRequest(): FilterRequest {
    const q = this.path.indexOf('?');
    const sink = this.sink;
    return {
      method: this.method,
      path: q < 0 ? this.path : this.path.slice(0, q),
      query: q < 0 ? '' : this.path.slice(q + 1),
      authority: this.authority,
      headers: this.upstreamHeaders,
      security: sink.security,
      remoteAddress: sink.remoteAddress,
      localAddress: sink.localAddress,
      localPort: sink.localPort,
      ...(sink.security.serverName !== undefined ? { serverName: sink.security.serverName } : {}),
      metadata: new Map(),
    };
  }

  private filterReply(r: FilterReply): void {
    if (r.flag) this.flags.push(r.flag);
    this.reply(r.status, r.body, r.headers ? r.headers.map(([n, v]) => [n, v]) : []);
  }

  /** Routes the request and starts the first attempt (or answers locally). */
  private route(): void {
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
        this.guarded(() => this.afterDelay(route));
      }, fault.delay.delayMs);
      return;
    }
    this.afterDelay(route);
  }

  /** Request payload from the client (no framing). */
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
    const stream = this.attempt?.stream;
    if (stream && this.attempt!.headSent) {
      if (!stream.sendData(buf)) {
        this.sink.pauseRequestBody();
        stream.onDrain(() => this.sink.resumeRequestBody());
      }
      return;
    }
    // No stream yet (connecting, fault delay, retry backoff): hold the bytes, and the client once they add up.
    this.unsent.push(buf);
    this.unsentBytes += buf.length;
    if (this.unsentBytes > RETRY_BUFFER_BYTES) this.sink.pauseRequestBody();
  }

  /** The request is complete; `trailers` when an HTTP/2 client sent some (forwarded to HTTP/2 upstreams, kept for retries and mirrors). */
  requestEnd(trailers?: HeaderList): void {
    if (this.requestEnded) return;
    this.requestEnded = true;
    if (trailers && trailers.length > 0) this.requestTrailers = trailers;
    const a = this.attempt;
    if (a?.stream && a.headSent && !this.done) a.stream.sendEnd(this.requestTrailers);
  }

  /** The client went away: stop everything. */
  abort(): void {
    if (this.done) return;
    this.flags.push('DC');
    if (this.attempt) this.dropAttempt(this.attempt, false);
    this.finish(this.upstreamHead?.status ?? 0, false, true, undefined);
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
    const named = h.joined('connection');
    for (const name of HOP_BY_HOP) h.remove(name);
    if (named) for (const n of named.split(',')) h.remove(n.trim().toLowerCase());
    const te = h.get('te');
    if (te !== undefined && te.toLowerCase() !== 'trailers') h.remove('te');
    if (this.ctx.hcm.useRemoteAddress) {
      // Edge: the client is untrusted. Envoy drops its x-envoy-* control headers and appends it to XFF.
      // remove() takes every field of a name, so the list may shrink by more than one.
      for (let i = h.length - 1; i >= 0; i--) {
        const name = h.lowerNames[i];
        if (name !== undefined && name.startsWith('x-envoy-')) h.remove(name);
      }
      const xff = h.joined('x-forwarded-for');
      h.set('x-forwarded-for', xff ? `${xff}, ${this.sink.remoteAddress}` : this.sink.remoteAddress, 'x-forwarded-for');
    }
    applyClientCertHeader(h, this.ctx.hcm.forwardClientCert, this.ctx.hcm.clientCertDetails, this.sink.security);
    // Mixer's attribute header is never trusted from a client (CVE-2020-8843, §1 C1).
    h.remove('x-istio-attributes');
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
      const q = this.path.indexOf('?');
      const pathOnly = q < 0 ? this.path : this.path.slice(0, q);
      const query = q < 0 ? '' : this.path.slice(q);
      let rewritten = pathOnly;
      if (action.regexRewrite) rewritten = action.regexRewrite.matcher(pathOnly);
      else {
        const prefix = prefixOf(route);
        rewritten = prefix !== undefined && pathOnly.toLowerCase().startsWith(prefix.toLowerCase()) ? action.prefixRewrite! + pathOnly.slice(prefix.length) : pathOnly;
      }
      if (rewritten !== pathOnly) {
        h.set('x-envoy-original-path', this.path, 'x-envoy-original-path');
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
    if (cluster.config.type === 'ORIGINAL_DST' && this.sink.originalDestination) pick.originalDestination = this.sink.originalDestination;
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
    const attempt: Attempt = { host, cluster, stream: undefined, headSent: false, head: undefined, startedMs: this.ctx.now(), cancel: undefined, perTryTimer: undefined, released: false };
    this.attempt = attempt;
    const pool = this.ctx.pools.pool(cluster, host, this.sink.protocol);
    attempt.cancel = pool.acquire((failure, stream) => {
      attempt.cancel = undefined;
      if (this.attempt !== attempt || this.done) {
        stream?.release(true);
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
      this.sendOn(attempt, stream!);
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

  private sendOn(attempt: Attempt, stream: UpstreamStream): void {
    attempt.stream = stream;
    const h = this.upstreamHeaders;
    if (this.selection!.virtualHost.includeAttemptCount) h.set('x-envoy-attempt-count', String(this.attempts), 'x-envoy-attempt-count');
    // A retry replays the whole body kept so far; the first attempt sends what arrived while it connected.
    const parts = this.attempts > 1 ? this.kept : this.unsent;
    this.unsent = [];
    this.unsentBytes = 0;
    attempt.headSent = true;
    stream.sendHead(this.method, this.upstreamTarget, h, this.bodyLength, this, this.sink.protocol === 'http2');
    let ok = true;
    for (const p of parts) ok = stream.sendData(p);
    if (this.requestEnded) stream.sendEnd(this.requestTrailers);
    if (!ok) {
      this.sink.pauseRequestBody();
      stream.onDrain(() => this.sink.resumeRequestBody());
    } else this.sink.resumeRequestBody();
  }

  // ---- UpstreamEvents (of the current attempt's stream) ----

  reading(): void {
    // Optimization: the response head and the body bytes of one read (and of the other reads of the
    // same batch) leave in one write; separate writes were a syscall each, 40% of the proxy's busy CPU.
    this.sink.holdWrites();
  }

  interim(head: ResponseHead): void {
    // 100 Continue: passed through only when the client asked for it; other 1xx are dropped.
    if (head.status === 100 && this.request.expectContinue && !this.responseStarted && !this.done) this.sink.writeContinue();
  }

  head(head: ResponseHead): void {
    const attempt = this.attempt;
    if (!attempt || this.done) return;
    attempt.head = head;
    this.onResponseHead(attempt, head);
  }

  data(payload: Buffer): void {
    const attempt = this.attempt;
    if (!attempt || this.done || payload.length === 0) return;
    this.bytesSent += payload.length;
    if (!this.sink.writeData(payload)) {
      const stream = attempt.stream!;
      stream.pause();
      this.sink.onDrain(() => stream.resume());
    }
  }

  end(trailers: HeaderList | undefined): void {
    const attempt = this.attempt;
    if (!attempt || this.done) return;
    if (trailers) {
      const g = trailers.get('grpc-status');
      if (g !== undefined) this.grpcStatus = Number(g);
    }
    this.completeAttempt(attempt, trailers);
  }

  failed(reason: UpstreamFailure): void {
    const attempt = this.attempt;
    if (!attempt || this.done) return;
    if (reason === 'protocol-error') {
      this.dropAttempt(attempt, false);
      if (!attempt.head) return this.localFailure('upstream-protocol-error');
      this.flags.push('UPE');
      return this.failMidResponse();
    }
    if (!attempt.head) {
      attempt.cluster.outlier?.report(attempt.host, { localOriginFailure: 'reset' });
      return this.attemptFailed(attempt, reason);
    }
    // Reset mid-response: the client cannot be told with a status any more.
    this.flags.push(reason === 'remote-reset' ? 'UR' : 'UC');
    this.dropAttempt(attempt, false);
    this.failMidResponse();
  }

  /** Decides on the response head: retry, tunnel, or forward it. */
  private onResponseHead(attempt: Attempt, head: ResponseHead): void {
    const action = this.action!;
    const cluster = attempt.cluster;
    if (attempt.perTryTimer) clearTimeout(attempt.perTryTimer);
    attempt.perTryTimer = undefined;
    cluster.outlier?.report(attempt.host, { status: head.status });
    const grpcStatus = Number(head.headers.get('grpc-status') ?? NaN);
    const retriable = retriableResponse(action, head.status, grpcStatus);
    if (retriable && this.canRetry()) {
      this.dropAttempt(attempt, false);
      this.scheduleRetry();
      return;
    }
    if (this.attempts > 1 && retriable) this.flags.push('URX');
    if (head.framing === 'tunnel') return this.startTunnel(attempt, head);
    this.upstreamHead = head;
    this.upstreamServiceTimeMs = Math.round(this.ctx.now() - attempt.startedMs);
    if (!Number.isNaN(grpcStatus)) this.grpcStatus = grpcStatus;
    const sc = Math.floor(head.status / 100);
    if (sc === 2) cluster.stats.upstream_rq_2xx++;
    else if (sc === 3) cluster.stats.upstream_rq_3xx++;
    else if (sc === 4) cluster.stats.upstream_rq_4xx++;
    else if (sc === 5) cluster.stats.upstream_rq_5xx++;
    this.writeResponseHead(head);
    if (head.framing === 'none' || (head.framing === 'length' && head.contentLength === 0)) this.completeAttempt(attempt, undefined);
  }

  /** A 101 (WebSocket): the client and upstream connections are joined byte for byte. */
  private startTunnel(attempt: Attempt, head: ResponseHead): void {
    const detached = head.status === 101 && this.ctx.hcm.websocket ? attempt.stream!.detach() : undefined;
    if (!detached) {
      this.dropAttempt(attempt, false);
      return this.localFailure('upstream-protocol-error');
    }
    this.upstreamHead = head;
    this.writeResponseHead(head);
    this.endAttemptAccounting(attempt);
    attempt.stream = undefined;
    this.done = true;
    this.clearTimers();
    this.sink.tunnel(detached.conn, detached.rest);
    this.report(head.status);
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
    this.responseStarted = true;
    this.bytesSent += this.sink.writeHead(head, !this.request.keepAlive);
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

  private attemptFailed(attempt: Attempt, failure: 'connect-failure' | 'reset' | 'remote-reset' | 'refused-stream'): void {
    this.dropAttempt(attempt, false);
    if (retriableFailure(this.action!, failure) && this.canRetry()) return this.scheduleRetry();
    if (this.attempts > 1) this.flags.push('URX');
    this.localFailure(failure === 'connect-failure' ? 'connect-failure' : failure === 'remote-reset' ? 'upstream-remote-reset' : 'upstream-reset');
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

  /** Gives up on an attempt: stop its timers, return or close its stream, release its slots. */
  private dropAttempt(attempt: Attempt, reusable: boolean): void {
    if (attempt.perTryTimer) clearTimeout(attempt.perTryTimer);
    attempt.perTryTimer = undefined;
    if (attempt.cancel) attempt.cancel();
    attempt.cancel = undefined;
    attempt.stream?.release(reusable);
    attempt.stream = undefined;
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

  /** The response has ended: hand the stream back and finish. */
  private completeAttempt(attempt: Attempt, trailers: HeaderList | undefined): void {
    const head = attempt.head!;
    // An upstream that answered before the client finished sending (e.g. 413) leaves the rest of
    // the request body unread: neither HTTP/1.1 connection can carry another request.
    const close = !this.request.keepAlive || head.framing === 'until-close' || !this.requestEnded;
    this.dropAttempt(attempt, this.requestEnded);
    if (this.requestEnded) this.startMirrors();
    this.finish(head.status, close, false, trailers);
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
      const body = this.kept;
      const trailers = this.requestTrailers;
      const length = this.bodyLength < 0 ? -1 : this.keptBytes;
      // Fire and forget: the response is read and dropped; failures only count.
      this.ctx.pools.pool(cluster, host, this.sink.protocol).acquire((failure, stream) => {
        if (failure || !stream) return;
        stream.sendHead(this.method, this.upstreamTarget, headers, length, mirrorEvents(stream), trailers !== undefined);
        for (const p of body) stream.sendData(p);
        stream.sendEnd(trailers);
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

  /** A response made here. gRPC requests get it as gRPC statuses, in a trailers-only response (Envoy's local reply for gRPC). */
  private reply(status: number, body: string, headers: Array<[string, string]>, forceClose = false): void {
    if (this.done) return;
    const close = forceClose || !this.request.keepAlive;
    const all: Array<[string, string]> = [...headers, ['server', this.ctx.hcm.serverName]];
    let wireStatus = status;
    let wireBody = body;
    if (isGrpc(this.request)) {
      this.grpcStatus = grpcStatusOfHttp(status);
      all.push(['content-type', 'application/grpc'], ['grpc-status', String(this.grpcStatus)]);
      if (body) all.push(['grpc-message', encodeURIComponent(body)]);
      wireStatus = 200;
      wireBody = '';
    }
    this.responseStarted = true;
    this.bytesSent += this.sink.localReply(wireStatus, wireBody, all, close);
    // A request whose body was not read cannot be followed by another on this connection.
    this.finish(status, close || !this.requestEnded, false, undefined);
  }

  private failMidResponse(): void {
    this.finish(this.upstreamHead?.status ?? 503, true, true, undefined);
  }

  private clearTimers(): void {
    if (this.globalTimer) clearTimeout(this.globalTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.faultTimer) clearTimeout(this.faultTimer);
    this.globalTimer = this.retryTimer = this.faultTimer = undefined;
  }

  private finish(status: number, close: boolean, reset: boolean, trailers: HeaderList | undefined): void {
    if (this.done) return;
    this.done = true;
    this.clearTimers();
    if (reset) this.sink.reset();
    else this.sink.end(trailers, close);
    this.report(status);
  }

  private report(status: number): void {
    const lastHost = this.triedHosts[this.triedHosts.length - 1];
    const route = this.selection?.route;
    // Every field in one literal (absent ones undefined): one object shape for every request.
    this.ctx.onComplete({
      request: this.request,
      protocol: this.sink.protocol,
      startMs: this.startMs,
      durationMs: this.ctx.now() - this.startMs,
      responseCode: status,
      responseFlags: this.flags,
      responseHeaders: this.upstreamHead?.headers,
      upstreamHost: lastHost?.key,
      upstreamCluster: this.clusterName || undefined,
      routeName: route?.name || undefined,
      operation: route?.operation || undefined,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      attempts: this.attempts,
      upstreamServiceTimeMs: this.upstreamServiceTimeMs,
      peerMetadata: this.peerMetadata,
      grpcStatus: this.grpcStatus !== undefined && Number.isInteger(this.grpcStatus) ? this.grpcStatus : undefined,
      security: this.sink.security,
    });
  }
}

interface Attempt {
  host: Host;
  cluster: ClusterRuntime;
  stream: UpstreamStream | undefined;
  headSent: boolean;
  head: ResponseHead | undefined;
  startedMs: number;
  cancel: (() => void) | undefined;
  perTryTimer: NodeJS.Timeout | undefined;
  released: boolean;
}

/** Whether a request is gRPC (content-type application/grpc, +proto, +json…). */
export function isGrpc(request: RequestHead): boolean {
  return request.headers.get('content-type')?.startsWith('application/grpc') === true;
}

/** A mirror's events: the response is read and dropped, the stream handed back. */
function mirrorEvents(stream: UpstreamStream): UpstreamEvents {
  return {
    interim: noop,
    head: noop,
    data: noop,
    end: () => stream.release(true),
    failed: () => stream.release(false),
    reading: noop,
  };
}

function noop(): void {
  // a mirror ignores its response
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
