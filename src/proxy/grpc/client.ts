// The proxy's gRPC client (its ADS stream and its CSR to the CA) on Meltemi's own HTTP/2 codec: length-prefixed messages, status from trailers or a Trailers-Only head, deadlines, and HTTP and stream errors mapped to gRPC codes as the gRPC spec says.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { parseHostPort } from '../../shared/host-port.js';
import { HeaderList } from '../http1/index.js';
import { ErrorCode } from '../http2/frames.js';
import { Http2ClientSession, type Http2ClientStream, type Http2ResponseListener } from '../http2/client-session.js';

/** gRPC status codes (grpc/doc/statuscodes.md). */
export const GrpcStatus = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
});

const STATUS_NAMES: readonly string[] = Object.keys(GrpcStatus);

/** `UNAVAILABLE` for 14; the number itself when it has no name. */
export function grpcStatusName(code: number): string {
  return STATUS_NAMES[code] ?? String(code);
}

/** How a call ended. */
export interface GrpcStatusObject {
  code: number;
  details: string;
}

/** A call that did not end OK. */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${grpcStatusName(code)}: ${details}`);
  }
}

/** Where a channel connects and how. */
export interface GrpcChannelOptions {
  /** `host:port` (`[v6]:port` for an IPv6 literal). */
  address: string;
  /** TLS with ALPN h2; without it, h2c with prior knowledge. */
  tls?: {
    /** Roots the server's chain must verify against. */
    ca: string | Buffer;
    /** The client's chain and key, for mutual TLS. */
    cert?: string | Buffer;
    key?: string | Buffer;
    /** The name the server's certificate must carry (and the SNI sent). */
    serverName: string;
  };
  /** `:authority` (default: the TLS server name, else the address). */
  authority?: string;
  userAgent?: string;
  /** Largest message accepted; a larger one ends the call with RESOURCE_EXHAUSTED. */
  maxReceiveMessageBytes: number;
  /** A connection not established (TCP, TLS and ALPN) in this long fails its calls with UNAVAILABLE (default 10 s). */
  connectTimeoutMs?: number;
}

/** What a call tells its owner. `status` comes exactly once, last, and never synchronously inside a method of the call or channel. */
export interface GrpcCallListener {
  /** The server's response headers (the stream is up). */
  headers?(): void;
  message(bytes: Buffer): void;
  status(status: GrpcStatusObject): void;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Receive windows: xDS responses run to megabytes, so more than HTTP/2's 64 KiB default. */
const STREAM_WINDOW = 1024 * 1024;
const CONNECTION_WINDOW = 4 * 1024 * 1024;
const MAX_HEADER_LIST_BYTES = 64 * 1024;
/** A long-lived stream notices a peer that vanished without a FIN (Istio's bootstrap gives its xds-grpc cluster TCP keepalive with keepalive_time 300 s). */
const TCP_KEEPALIVE = { keepAlive: true, keepAliveInitialDelay: 300_000 } as const;
/** The 5-byte prefix of each message: compressed flag, then the length (big-endian). */
const PREFIX_BYTES = 5;

/** The gRPC code for a response whose HTTP status is not 200 (grpc/doc/http-grpc-status-mapping.md). */
function statusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/** The gRPC code for a stream the server reset (gRPC's PROTOCOL-HTTP2 mapping). */
function statusOfReset(code: number): number {
  switch (code) {
    case ErrorCode.REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case ErrorCode.CANCEL:
      return GrpcStatus.CANCELLED;
    case ErrorCode.ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case ErrorCode.INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/** `grpc-message` is percent-encoded UTF-8. */
function decodeMessage(value: string | undefined): string {
  if (value === undefined) return '';
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** `grpc-timeout`: at most 8 digits and a unit. */
function timeoutHeader(ms: number): string {
  const n = Math.max(1, Math.ceil(ms));
  return n < 1e8 ? `${n}m` : `${Math.ceil(n / 1000)}S`;
}

/**
 * One HTTP/2 connection to a gRPC server, made when created. Calls started before it is up wait
 * for it; when it fails or closes, every call on it ends with UNAVAILABLE. It does not reconnect:
 * its owner makes a new channel (the xDS client's backoff decides when).
 */
export class GrpcChannel {
  private session: Http2ClientSession | undefined;
  private readonly socket: net.Socket;
  private readonly waiting: GrpcCall[] = [];
  private readonly calls = new Set<GrpcCall>();
  private failure: string | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  readonly authority: string;
  readonly scheme: 'http' | 'https';

  constructor(readonly options: GrpcChannelOptions) {
    const { host, port } = parseHostPort(options.address, 'the gRPC address');
    this.authority = options.authority ?? options.tls?.serverName ?? options.address;
    this.scheme = options.tls ? 'https' : 'http';
    const t = options.tls;
    let ready: string;
    if (t) {
      this.socket = tls.connect({
        host,
        port,
        servername: net.isIP(t.serverName) === 0 ? t.serverName : undefined,
        // The server's name is checked against the configured name, not the dialed host.
        checkServerIdentity: (_host, cert) => tls.checkServerIdentity(t.serverName, cert),
        ca: t.ca,
        ...(t.cert !== undefined ? { cert: t.cert } : {}),
        ...(t.key !== undefined ? { key: t.key } : {}),
        ALPNProtocols: ['h2'],
        ...TCP_KEEPALIVE,
      });
      ready = 'secureConnect';
    } else {
      this.socket = net.connect({ host, port, ...TCP_KEEPALIVE });
      ready = 'connect';
    }
    this.connectTimer = setTimeout(() => this.fail(`no connection to ${options.address} within ${options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS} ms`), options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    this.socket.once(ready, () => this.onConnected());
    this.socket.on('error', (e: Error) => {
      this.failure ??= `${options.address}: ${e.message}`;
    });
    this.socket.once('close', () => this.fail(this.failure ?? `connection to ${options.address} closed`));
  }

  private onConnected(): void {
    clearTimeout(this.connectTimer);
    if (this.failure !== undefined) return;
    if (this.socket instanceof tls.TLSSocket && this.socket.alpnProtocol !== 'h2') {
      this.fail(`${this.options.address} did not negotiate HTTP/2 (ALPN h2)`);
      return;
    }
    this.session = new Http2ClientSession(
      this.socket,
      { maxHeaderListBytes: MAX_HEADER_LIST_BYTES, idleTimeoutMs: 0, initialStreamWindow: STREAM_WINDOW, connectionWindow: CONNECTION_WINDOW },
      { remoteSettings: () => undefined, goaway: () => undefined },
    );
    const waiting = this.waiting.splice(0);
    for (const call of waiting) this.open(call);
  }

  /** Starts a call of `path` (`/package.Service/Method`) with extra request metadata. */
  call(path: string, metadata: ReadonlyArray<readonly [string, string]>, listener: GrpcCallListener, deadlineMs?: number): GrpcCall {
    const call = new GrpcCall(this, path, metadata, listener, this.options.maxReceiveMessageBytes, deadlineMs);
    this.calls.add(call);
    if (this.failure !== undefined) call.finish(GrpcStatus.UNAVAILABLE, this.failure);
    else if (this.session) this.open(call);
    else this.waiting.push(call);
    return call;
  }

  /** One request message, one response message. */
  unary(path: string, request: Buffer, metadata: ReadonlyArray<readonly [string, string]>, deadlineMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let response: Buffer | undefined;
      let extra = false;
      const call = this.call(
        path,
        metadata,
        {
          message: (bytes) => {
            if (response !== undefined) extra = true;
            response = bytes;
          },
          status: (s) => {
            if (s.code !== GrpcStatus.OK) reject(new GrpcError(s.code, s.details));
            else if (response === undefined || extra) reject(new GrpcError(GrpcStatus.UNIMPLEMENTED, `${response === undefined ? 'no' : 'more than one'} response message to a unary call`));
            else resolve(response);
          },
        },
        deadlineMs,
      );
      call.write(request);
      call.end();
    });
  }

  /** Ends the connection; calls still running end with UNAVAILABLE. */
  close(): void {
    this.fail('channel closed');
  }

  private open(call: GrpcCall): void {
    const session = this.session!;
    if (session.draining) {
      call.finish(GrpcStatus.UNAVAILABLE, `connection to ${this.options.address} is going away`);
      return;
    }
    call.start(session);
  }

  /** A call ended: it leaves the channel's books. */
  forget(call: GrpcCall): void {
    this.calls.delete(call);
  }

  private fail(why: string): void {
    clearTimeout(this.connectTimer);
    this.failure ??= why;
    this.waiting.length = 0;
    for (const call of [...this.calls]) call.finish(GrpcStatus.UNAVAILABLE, this.failure);
    this.socket.destroy();
  }
}

/** One call: messages out with `write`, the half-close with `end`; messages and the status in through the listener. */
export class GrpcCall implements Http2ResponseListener {
  private stream: Http2ClientStream | undefined;
  /** Messages written before the stream opened. */
  private pending: Buffer[] = [];
  private halfClosed = false;
  private done = false;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly deadlineAt: number | undefined;
  // The message being assembled from DATA: its parts, and the bytes of the prefix or body still wanted.
  private parts: Buffer[] = [];
  private partBytes = 0;
  private wanted = PREFIX_BYTES;
  private inBody = false;

  constructor(
    private readonly channel: GrpcChannel,
    private readonly path: string,
    private readonly metadata: ReadonlyArray<readonly [string, string]>,
    private readonly listener: GrpcCallListener,
    private readonly maxMessageBytes: number,
    deadlineMs: number | undefined,
  ) {
    if (deadlineMs !== undefined) {
      this.deadlineAt = Date.now() + deadlineMs;
      this.deadlineTimer = setTimeout(() => this.abort(GrpcStatus.DEADLINE_EXCEEDED, `deadline of ${deadlineMs} ms exceeded`), deadlineMs);
    }
  }

  /** Opens the stream on a live session (called by the channel). */
  start(session: Http2ClientSession): void {
    if (this.done) return;
    const headers = new HeaderList();
    headers.add('content-type', 'application/grpc', 'content-type');
    headers.add('te', 'trailers', 'te');
    if (this.channel.options.userAgent) headers.add('user-agent', this.channel.options.userAgent, 'user-agent');
    if (this.deadlineAt !== undefined) headers.add('grpc-timeout', timeoutHeader(this.deadlineAt - Date.now()), 'grpc-timeout');
    for (const [name, value] of this.metadata) headers.add(name, value, name.toLowerCase());
    const pseudo = [':method', 'POST', ':scheme', this.channel.scheme, ':path', this.path, ':authority', this.channel.authority];
    const pending = this.pending;
    this.pending = [];
    const endNow = this.halfClosed && pending.length === 0;
    this.stream = session.request(pseudo, headers, endNow, this);
    for (const m of pending) this.stream.write(m);
    if (this.halfClosed && !endNow) this.stream.end(undefined);
  }

  /** Sends one message (already serialized). */
  write(message: Buffer): void {
    if (this.done || this.halfClosed) return;
    const framed = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
    framed[0] = 0;
    framed.writeUInt32BE(message.length, 1);
    message.copy(framed, PREFIX_BYTES);
    if (this.stream) this.stream.write(framed);
    else this.pending.push(framed);
  }

  /** No more messages from this side. */
  end(): void {
    if (this.done || this.halfClosed) return;
    this.halfClosed = true;
    this.stream?.end(undefined);
  }

  /** Ends the call from this side: CANCELLED. */
  cancel(): void {
    this.abort(GrpcStatus.CANCELLED, 'cancelled by the client');
  }

  private abort(code: number, details: string): void {
    if (this.done) return;
    this.finish(code, details);
    this.stream?.reset(ErrorCode.CANCEL);
  }

  /** Ends the call; its status is reported once, on a later tick (never inside `write`, `end`, `cancel` or `GrpcChannel.call`). */
  finish(code: number, details: string): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.deadlineTimer);
    this.parts = [];
    this.channel.forget(this);
    process.nextTick(() => this.listener.status({ code, details }));
  }

  // ---- Http2ResponseListener ----

  informational(): void {
    // 1xx heads carry nothing for gRPC.
  }

  response(status: number, headers: HeaderList, endStream: boolean): void {
    if (status !== 200) {
      this.abort(statusOfHttp(status), `HTTP status ${status}`);
      return;
    }
    if (endStream) {
      // Trailers-Only: the status is in the head.
      this.statusFrom(headers);
      return;
    }
    const type = headers.get('content-type') ?? '';
    if (!/^application\/grpc(?:$|[+;])/.test(type)) {
      this.abort(GrpcStatus.UNKNOWN, `response content-type "${type}" is not application/grpc`);
      return;
    }
    this.listener.headers?.();
  }

  body(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.done) {
      const take = Math.min(this.wanted - this.partBytes, chunk.length - at);
      this.parts.push(take === chunk.length ? chunk : chunk.subarray(at, at + take));
      this.partBytes += take;
      at += take;
      if (this.partBytes < this.wanted) return;
      const whole = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partBytes);
      this.parts = [];
      this.partBytes = 0;
      if (!this.inBody) {
        if (whole[0] !== 0) return this.abort(GrpcStatus.INTERNAL, 'compressed message, and no compression was negotiated');
        const length = whole.readUInt32BE(1);
        if (length > this.maxMessageBytes) return this.abort(GrpcStatus.RESOURCE_EXHAUSTED, `received message larger than max (${length} vs. ${this.maxMessageBytes})`);
        if (length === 0) {
          this.listener.message(Buffer.alloc(0));
          continue;
        }
        this.inBody = true;
        this.wanted = length;
      } else {
        this.inBody = false;
        this.wanted = PREFIX_BYTES;
        this.listener.message(whole);
      }
    }
  }

  bodyEnd(trailers: HeaderList | undefined): void {
    if (this.done) return;
    if (this.partBytes > 0 || this.inBody) {
      this.abort(GrpcStatus.INTERNAL, 'the stream ended inside a message');
      return;
    }
    if (!trailers) {
      this.abort(GrpcStatus.INTERNAL, 'the stream ended without trailers (no grpc-status)');
      return;
    }
    this.statusFrom(trailers);
  }

  closed(code: number): void {
    if (this.done) return;
    const s = this.stream;
    if (s?.resetByPeer) this.finish(statusOfReset(code), `stream reset by the server (HTTP/2 error ${code})`);
    else this.finish(GrpcStatus.UNAVAILABLE, `connection to ${this.channel.options.address} closed`);
  }

  private statusFrom(fields: HeaderList): void {
    const raw = fields.get('grpc-status');
    const code = raw !== undefined && /^\d{1,2}$/.test(raw) ? Number(raw) : undefined;
    if (code === undefined) this.finish(GrpcStatus.UNKNOWN, raw === undefined ? 'no grpc-status in the response' : `invalid grpc-status "${raw}"`);
    else this.finish(code, decodeMessage(fields.get('grpc-message')));
    // The server's side is complete; ours ends too, so the stream closes.
    if (!this.halfClosed) {
      this.halfClosed = true;
      this.stream?.reset(ErrorCode.NO_ERROR);
    }
  }
}
