// Decision experiment: a minimal HTTP/1.1 reverse proxy on raw node:net sockets and the proxy's own codec (src/proxy/http1) — what a request costs when Node's HTTP stack is bypassed.
// Usage: node --import tsx bench/proxy/raw-forwarder.ts LISTEN_PORT UPSTREAM      (UPSTREAM: PORT or HOST:PORT)
//
// Downstream: keep-alive connections; pipelined requests are served one at a time, in order (the
// next request is parsed only once the previous response has been sent). Upstream: one host, a pool
// of idle keep-alive connections. Bodies stream both ways with backpressure; chunked bodies pass
// through as they came (de-chunked only for HTTP/1.0 clients); CONNECT and 101 upgrades become
// byte tunnels. No timeouts, no retries beyond one replay of a body-less request on a stale pooled
// connection: it is a measuring instrument, not the product (the router is built elsewhere).
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  BODY_DATA,
  BODY_END,
  BODY_ERROR,
  BodyDecoder,
  HEAD_ERROR,
  HEAD_INCOMPLETE,
  RequestHeadParser,
  ResponseHeadParser,
  errorReply,
  localReply,
  serializeRequestHead,
  serializeResponseHead,
  DEFAULT_HTTP1_LIMITS,
  REQUEST_ERRORS,
  type HeaderList,
  type Http1Limits,
  type RequestHead,
  type ResponseHead,
} from '../../src/proxy/http1/index.js';

export interface RawForwarderOptions {
  /** Listen port on `host` (0: any free port). */
  port: number;
  host?: string;
  upstreamHost: string;
  upstreamPort: number;
  /** Idle upstream connections kept for reuse. */
  maxIdle?: number;
  limits?: Http1Limits;
}

export interface RawForwarder {
  readonly port: number;
  /** Requests whose response was completely sent. */
  readonly completed: () => number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/** Pending pipelined bytes above which the downstream socket stops being read. */
const PENDING_HIGH_WATER = 64 * 1024;

/** Gathered output above which pieces are written with writev instead of being concatenated. */
const CONCAT_MAX = 16 * 1024;

/**
 * Output produced while handling one read, written with one syscall (a request head and its body,
 * a response head and its body). Small pieces are concatenated: measured here, one `write` of the
 * copy costs the same CPU as cork() + writev (43 µs/request either way), and keeps one code path.
 */
class Gather {
  private readonly parts: Buffer[] = [];
  private bytes = 0;

  push(b: Buffer): void {
    this.parts.push(b);
    this.bytes += b.length;
  }

  /** Writes what was gathered to `sock`; returns what `write` returned (false: the socket is above its high-water mark). */
  flush(sock: net.Socket): boolean {
    const parts = this.parts;
    const n = parts.length;
    if (n === 0) return true;
    let ok: boolean;
    if (n === 1) ok = sock.write(parts[0]!);
    else if (this.bytes <= CONCAT_MAX) ok = sock.write(Buffer.concat(parts, this.bytes));
    else {
      sock.cork();
      ok = true;
      for (let i = 0; i < n; i++) ok = sock.write(parts[i]!);
      sock.uncork();
    }
    parts.length = 0;
    this.bytes = 0;
    return ok;
  }

  clear(): void {
    this.parts.length = 0;
    this.bytes = 0;
  }
}

// Exchange phases.
const REQ_HEAD = 0;
const REQ_BODY = 1;
const REQ_DONE = 2;
const RES_HEAD = 0;
const RES_BODY = 1;
const RES_DONE = 2;

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1) dropped in both directions. Transfer-Encoding stays: chunked
 * bodies are forwarded as they came. Upgrade stays on an upgrade request (the upstream must see it).
 */
function stripHopByHop(h: HeaderList, keepUpgrade: boolean): void {
  const { names, lowerNames, values } = h;
  let w = 0;
  for (let r = 0; r < lowerNames.length; r++) {
    const l = lowerNames[r]!;
    const drop =
      (l.length === 10 && (l === 'connection' || l === 'keep-alive')) ||
      (l.length === 16 && l === 'proxy-connection') ||
      (l.length === 7 && l === 'upgrade' && !keepUpgrade);
    if (drop) continue;
    if (w !== r) {
      names[w] = names[r]!;
      lowerNames[w] = l;
      values[w] = values[r]!;
    }
    w++;
  }
  names.length = lowerNames.length = values.length = w;
}

class UpstreamConn {
  readonly sock: net.Socket;
  readonly parser: ResponseHeadParser;
  owner: Downstream | null = null;
  /** Served a request before: a failure before any response byte may be a stale keep-alive connection. */
  reused = false;
  gotBytes = false;
  closed = false;

  constructor(
    readonly pool: UpstreamPool,
    limits: Http1Limits,
  ) {
    this.parser = new ResponseHeadParser(limits);
    this.sock = net.connect({ host: pool.host, port: pool.port, noDelay: true });
    this.sock.on('data', this.onData);
    this.sock.on('drain', this.onDrain);
    this.sock.on('error', this.onClose);
    this.sock.on('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.gotBytes = true;
    if (this.owner !== null) this.owner.onUpstreamData(chunk);
    else this.sock.destroy(); // bytes on an idle connection: the upstream is confused; never reuse it
  };

  private readonly onDrain = (): void => {
    this.owner?.onUpstreamDrain();
  };

  private readonly onClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    if (this.owner !== null) this.owner.onUpstreamClosed(this);
    else this.pool.forget(this);
  };
}

class UpstreamPool {
  private readonly idle: UpstreamConn[] = [];

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly maxIdle: number,
    private readonly limits: Http1Limits,
  ) {}

  acquire(owner: Downstream, fresh: boolean): UpstreamConn {
    let c: UpstreamConn | undefined;
    while (!fresh && (c = this.idle.pop()) !== undefined && c.closed);
    if (c === undefined || c.closed) c = new UpstreamConn(this, this.limits);
    c.owner = owner;
    c.gotBytes = false;
    return c;
  }

  release(c: UpstreamConn): void {
    c.owner = null;
    c.reused = true;
    if (c.closed) return;
    if (this.idle.length >= this.maxIdle) c.sock.destroy();
    else this.idle.push(c);
  }

  forget(c: UpstreamConn): void {
    const i = this.idle.indexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
  }

  destroyAll(): void {
    for (const c of this.idle.splice(0)) c.sock.destroy();
  }
}

/** One client connection and the exchange in flight on it (at most one). */
class Downstream {
  private readonly req: RequestHeadParser;
  private readonly reqBody: BodyDecoder;
  private readonly resBody: BodyDecoder;
  private readonly toUpstream = new Gather();
  private readonly toClient = new Gather();
  private up: UpstreamConn | null = null;
  private head: RequestHead | null = null;
  private reqHead: Buffer | null = null;
  private reqState = REQ_HEAD;
  private resState = RES_HEAD;
  /** Downstream bytes received while an exchange is in flight (pipelined requests), not parsed yet. */
  private pending: Buffer | null = null;
  /** Close the client connection once the current response is sent. */
  private closeAfter = false;
  /** The upstream connection may serve another request after this exchange. */
  private upReusable = true;
  /** Forward only the payload of a chunked response (HTTP/1.0 client). */
  private dechunk = false;
  private responseStarted = false;
  private closed = false;
  private readEnded = false;

  constructor(
    private readonly sock: net.Socket,
    private readonly fwd: Forwarder,
  ) {
    this.req = new RequestHeadParser(fwd.limits);
    this.reqBody = new BodyDecoder('request', fwd.limits);
    this.resBody = new BodyDecoder('response', fwd.limits);
    sock.setNoDelay(true);
    sock.on('data', this.onData);
    sock.on('drain', this.onDrain);
    sock.on('end', this.onEnd);
    sock.on('error', this.onError);
    sock.on('close', this.onError);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.fwd.conns.delete(this);
    this.sock.destroy();
    if (this.up !== null) {
      this.up.owner = null;
      this.up.sock.destroy();
      this.up = null;
    }
  }

  private readonly onError = (): void => this.destroy();

  private readonly onEnd = (): void => {
    this.readEnded = true;
    if (this.reqState === REQ_HEAD && this.up === null) {
      if (this.req.pending) this.replyAndClose(errorReply(REQUEST_ERRORS['http1.truncated_message']));
      else this.sock.end();
      return;
    }
    if (this.reqState === REQ_BODY && this.reqBody.finish() === BODY_ERROR) {
      // The client went away mid-body: the upstream request can never complete.
      this.destroy();
      return;
    }
    this.closeAfter = true;
  };

  private readonly onDrain = (): void => {
    if (this.up !== null && this.resState === RES_BODY) this.up.sock.resume();
  };

  onUpstreamDrain(): void {
    if (this.reqState === REQ_BODY) this.sock.resume();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.closed) return;
    if (this.reqState === REQ_DONE) {
      // Pipelined: keep for after the current response (Buffer.concat only on this rare path).
      this.pending = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
      if (this.pending.length > PENDING_HIGH_WATER) this.sock.pause();
      return;
    }
    this.consume(chunk, 0);
  };

  /** Parses request heads and forwards request bodies from `chunk[pos…]`, then writes what goes upstream at once. */
  private consume(chunk: Buffer, pos: number): void {
    this.consumeInto(chunk, pos);
    const up = this.up;
    if (up !== null) {
      if (!this.toUpstream.flush(up.sock) && this.reqState === REQ_BODY) this.sock.pause();
    } else this.toUpstream.clear();
  }

  private consumeInto(chunk: Buffer, pos: number): void {
    const len = chunk.length;
    for (;;) {
      if (this.reqState === REQ_HEAD) {
        if (pos >= len) return;
        const r = this.req.execute(chunk, pos);
        if (r === HEAD_INCOMPLETE) return;
        if (r === HEAD_ERROR) {
          this.replyAndClose(errorReply(this.req.error!));
          return;
        }
        pos = r;
        this.startExchange(this.req.head!);
        if (this.head!.framing === 'tunnel') {
          // CONNECT: what follows is for the tunnel, once the upstream accepts it.
          this.reqState = REQ_DONE;
          if (pos < len) this.pending = chunk.subarray(pos);
          return;
        }
        this.reqBody.start(this.head!.framing, this.head!.contentLength);
        this.reqState = REQ_BODY;
      }
      // REQ_BODY: forward the raw bytes of the body (framing included): one write per read.
      const from = pos;
      const body = this.reqBody;
      let ev = body.read(chunk, pos, len);
      while (ev === BODY_DATA) ev = body.read(chunk, body.next, len);
      if (ev === BODY_ERROR) {
        this.replyAndClose(errorReply(body.error!));
        return;
      }
      const to = body.next;
      if (to > from) this.toUpstream.push(chunk.subarray(from, to));
      if (ev !== BODY_END) return;
      this.reqState = REQ_DONE;
      pos = to;
      if (pos < len) {
        this.pending = chunk.subarray(pos);
        if (this.pending.length > PENDING_HIGH_WATER) this.sock.pause();
      }
      return;
    }
  }

  private startExchange(h: RequestHead): void {
    this.head = h;
    this.resState = RES_HEAD;
    this.closeAfter = !h.keepAlive;
    this.upReusable = true;
    this.dechunk = false;
    this.responseStarted = false;
    const headers = h.headers;
    stripHopByHop(headers, h.upgrade !== '');
    if (h.targetForm === 'absolute') headers.set('host', h.authority, 'host');
    else if (h.authority === '') headers.add('host', this.fwd.upstreamAuthority, 'host');
    if (h.upgrade !== '') {
      headers.add('connection', 'upgrade', 'connection');
    }
    const target = h.targetForm === 'absolute' ? h.path : h.target;
    this.reqHead = serializeRequestHead(h.method, target, headers);
    this.up = this.fwd.pool.acquire(this, false);
    this.up.parser.forRequest(h.method);
    this.toUpstream.push(this.reqHead);
  }

  onUpstreamData(chunk: Buffer): void {
    const up = this.up!;
    const len = chunk.length;
    let pos = 0;
    try {
      for (;;) {
        if (this.resState === RES_HEAD) {
          if (pos >= len) return;
          const r = up.parser.execute(chunk, pos);
          if (r === HEAD_INCOMPLETE) return;
          if (r === HEAD_ERROR) {
            this.upstreamFailed(up.parser.error!.status);
            return;
          }
          pos = r;
          const rh = up.parser.head!;
          if (rh.interim) {
            stripHopByHop(rh.headers, false);
            this.toClient.push(serializeResponseHead(rh.status, rh.reason, rh.headers, false, this.head!.versionMinor));
            continue;
          }
          if (rh.framing === 'tunnel') {
            this.flushClient();
            this.tunnel(rh, chunk.subarray(pos));
            return;
          }
          this.startResponse(rh);
        }
        if (this.resState === RES_BODY) {
          const from = pos;
          const body = this.resBody;
          let ev = body.read(chunk, pos, len);
          if (this.dechunk) {
            while (ev === BODY_DATA) {
              this.toClient.push(chunk.subarray(body.dataStart, body.dataEnd));
              ev = body.read(chunk, body.next, len);
            }
          } else {
            while (ev === BODY_DATA) ev = body.read(chunk, body.next, len);
            const to = ev === BODY_ERROR ? from : body.next;
            if (to > from) this.toClient.push(chunk.subarray(from, to));
          }
          if (ev === BODY_ERROR) {
            this.upstreamFailed(502);
            return;
          }
          if (ev !== BODY_END) return;
          // Bytes after the response's end: the upstream is out of step; do not reuse the connection.
          if (body.next < len) this.upReusable = false;
          this.resState = RES_DONE;
          this.fwd.done++;
          this.flushClient();
          if (this.reqState === REQ_DONE) this.finishExchange();
          else {
            // The upstream answered before the request body ended (e.g. an early 413): close after.
            this.closeAfter = true;
            this.upReusable = false;
            this.finishExchange();
          }
          return;
        }
        return;
      }
    } finally {
      this.flushClient();
    }
  }

  private flushClient(): void {
    if (this.closed) {
      this.toClient.clear();
      return;
    }
    if (!this.toClient.flush(this.sock) && this.up !== null) this.up.sock.pause();
  }

  private startResponse(rh: ResponseHead): void {
    const h = this.head!;
    const headers = rh.headers;
    stripHopByHop(headers, false);
    if (!rh.keepAlive) this.upReusable = false;
    if (rh.framing === 'until-close') this.closeAfter = true;
    if (rh.framing === 'chunked' && h.versionMinor === 0) {
      // HTTP/1.0 clients do not know chunked: send the payload and close to delimit it.
      this.dechunk = true;
      this.closeAfter = true;
      headers.remove('transfer-encoding');
    }
    if (this.closeAfter) headers.add('connection', 'close', 'connection');
    else if (h.versionMinor === 0) headers.add('connection', 'keep-alive', 'connection');
    this.responseStarted = true;
    this.toClient.push(serializeResponseHead(rh.status, rh.reason, headers, false, h.versionMinor));
    this.resBody.start(rh.framing, rh.contentLength);
    this.resState = RES_BODY;
  }

  /** Response and request are both complete: release the upstream, then close or serve the next pipelined request. */
  private finishExchange(): void {
    const up = this.up!;
    this.up = null;
    up.sock.resume();
    if (this.upReusable) this.fwd.pool.release(up);
    else {
      up.owner = null;
      up.sock.destroy();
    }
    if (this.closeAfter || this.readEnded) {
      this.sock.end();
      this.closed = true; // what the client still sends is ignored
      this.fwd.conns.delete(this);
      return;
    }
    this.reqState = REQ_HEAD;
    this.resState = RES_HEAD;
    this.head = null;
    const p = this.pending;
    this.pending = null;
    this.sock.resume();
    if (p !== null) this.consume(p, 0);
  }

  /** The upstream connection closed while this exchange used it. */
  onUpstreamClosed(up: UpstreamConn): void {
    if (this.up !== up) return;
    if (this.resState === RES_BODY && this.resBody.finish() === BODY_END) {
      // A response read until close has ended.
      this.fwd.done++;
      this.up = null;
      this.sock.end();
      return;
    }
    if (!up.gotBytes && up.reused && this.head !== null && this.head.framing === 'none' && this.reqState === REQ_DONE) {
      // A pooled connection the upstream had already closed: replay the body-less request once, on a fresh connection.
      const fresh = this.fwd.pool.acquire(this, true);
      fresh.parser.forRequest(this.head.method);
      this.up = fresh;
      fresh.sock.write(this.reqHead!); // a body-less request: the head is all of it
      return;
    }
    this.up = null;
    this.upstreamFailed(up.gotBytes ? 502 : 503);
  }

  private upstreamFailed(status: number): void {
    this.toClient.clear();
    if (this.up !== null) {
      this.up.owner = null;
      this.up.sock.destroy();
      this.up = null;
    }
    if (this.responseStarted) this.destroy();
    else this.replyAndClose(localReply(status, { body: status === 503 ? 'upstream connect error or disconnect/reset before headers' : 'upstream protocol error', close: true }));
  }

  private replyAndClose(reply: Buffer): void {
    this.sock.end(reply);
    this.closed = true;
    this.fwd.conns.delete(this);
    if (this.up !== null) {
      this.up.owner = null;
      this.up.sock.destroy();
      this.up = null;
    }
  }

  /** 101 / 2xx to CONNECT: from here on, bytes flow both ways unparsed. */
  private tunnel(rh: ResponseHead, rest: Buffer): void {
    const up = this.up!;
    this.up = null;
    up.owner = null;
    if (rh.status === 101) rh.headers.add('connection', 'upgrade', 'connection');
    this.sock.write(serializeResponseHead(rh.status, rh.reason, rh.headers, false, this.head!.versionMinor));
    if (rest.length > 0) this.sock.write(rest);
    if (this.pending !== null) up.sock.write(this.pending);
    this.pending = null;
    this.sock.removeAllListeners('data');
    this.sock.removeAllListeners('drain');
    up.sock.removeAllListeners('data');
    up.sock.removeAllListeners('drain');
    this.sock.pipe(up.sock);
    up.sock.pipe(this.sock);
    up.sock.on('close', () => this.destroy());
    this.sock.on('close', () => up.sock.destroy());
    this.fwd.done++;
  }
}

class Forwarder {
  readonly conns = new Set<Downstream>();
  readonly pool: UpstreamPool;
  readonly upstreamAuthority: string;
  done = 0;

  constructor(
    readonly limits: Http1Limits,
    upstreamHost: string,
    upstreamPort: number,
    maxIdle: number,
  ) {
    this.pool = new UpstreamPool(upstreamHost, upstreamPort, maxIdle, limits);
    this.upstreamAuthority = `${upstreamHost}:${upstreamPort}`;
  }
}

/** Starts the forwarder; resolves once it listens. The caller owns it and must `close()` it. */
export async function startRawForwarder(o: RawForwarderOptions): Promise<RawForwarder> {
  const fwd = new Forwarder(o.limits ?? DEFAULT_HTTP1_LIMITS, o.upstreamHost, o.upstreamPort, o.maxIdle ?? 256);
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (sock) => {
    fwd.conns.add(new Downstream(sock, fwd));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    completed: () => fwd.done,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of [...fwd.conns]) c.destroy();
        fwd.pool.destroyAll();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2]);
  const target = process.argv[3] ?? '';
  const colon = target.lastIndexOf(':');
  const upstreamHost = colon === -1 ? '127.0.0.1' : target.slice(0, colon);
  const upstreamPort = Number(colon === -1 ? target : target.slice(colon + 1));
  if (!Number.isInteger(port) || !Number.isInteger(upstreamPort) || upstreamPort <= 0) {
    process.stderr.write('usage: raw-forwarder.ts LISTEN_PORT UPSTREAM_PORT|UPSTREAM_HOST:PORT\n');
    process.exit(2);
  }
  const f = await startRawForwarder({ port, upstreamHost, upstreamPort });
  process.stdout.write(`raw-forwarder listening on 127.0.0.1:${f.port} → ${upstreamHost}:${upstreamPort}\n`);
  process.on('SIGTERM', () => process.exit(0));
}
