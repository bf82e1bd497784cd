// The proxy's upstream HTTP/2 client (src/proxy/http2/client-session.ts, src/proxy/http/http2-pool.ts) against a fake upstream that speaks raw frames: framing, GOAWAY and refused streams, malformed responses, flow control both ways, trailers, push and abrupt closes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { HpackDecoder } from '../../src/proxy/http2/hpack.js';
import {
  ErrorCode,
  Flag,
  FrameSplitter,
  FrameType,
  H2Client,
  PREFACE,
  Setting,
  WAIT_MS,
  dataFrames,
  dataPayload,
  frame,
  goawayFrame,
  headerBlock,
  headerFragment,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
  type Field,
  type Frame,
} from './h2-wire.js';
import { HOST, httpMesh, type Endpoint, type HttpMesh } from './http-mesh.js';

/** The mesh port that makes the cluster, and so proxy → upstream, HTTP/2. */
const H2_PORT = { name: 'http2', protocol: 'HTTP2' };
const GRPC_PORT = { name: 'grpc', protocol: 'GRPC' };
/** RFC 9113 §6.5.2 defaults: each window before SETTINGS or WINDOW_UPDATE, and the largest frame the proxy takes. */
const DEFAULT_WINDOW = 65_535;
const MAX_FRAME = 16_384;
const EMPTY = Buffer.alloc(0);

// --- the fake upstream ------------------------------------------------------------------------------

/** One request stream as the fake upstream saw it. */
interface FakeStream {
  id: number;
  /** The request head's fields, pseudo-headers included, in order. */
  fields: Field[];
  /** The request HEADERS frame carried END_STREAM. */
  headEndsStream: boolean;
  body: Buffer[];
  /** END_STREAM arrived (on HEADERS, DATA or trailers). */
  ended: boolean;
  /** The RST_STREAM code the proxy sent on it, if it did. */
  rstCode?: number;
  /** What we may still send on it: the proxy's stream window as we track it. */
  sendWindow: number;
  /** DATA octets received (flow-controlled length) and window octets we granted beyond the initial window. */
  received: number;
  granted: number;
  /** WINDOW_UPDATE frames the proxy sent on this stream, and their increments in total. */
  windowUpdates: number;
  windowGranted: number;
}

interface Script {
  /** Our SETTINGS entries, sent as the server preface when a connection is accepted. */
  settings?: ReadonlyArray<readonly [number, number]>;
  /** Grant window back (connection and stream) for every DATA frame received, as a reader would (default true). */
  autoGrant?: boolean;
  /** A request is complete (END_STREAM from the proxy). Default: `answer` 200 with a short body. */
  onRequest?: (c: FakeConn, s: FakeStream) => void;
}

/** Waits on a condition re-checked at every event of the fake (frame, connection, close), with a bound. */
class Signal {
  private readonly waiters = new Set<() => boolean>();

  /** Resolves with the first value `check` returns that is not undefined; rejects if `check` throws or after `timeoutMs`. */
  wait<T>(what: string, check: () => T | undefined, timeoutMs = WAIT_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter = () => {
        let v: T | undefined;
        try {
          v = check();
        } catch (e) {
          clearTimeout(timer);
          reject(e as Error);
          return true;
        }
        if (v === undefined) return false;
        clearTimeout(timer);
        resolve(v);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      if (!waiter()) this.waiters.add(waiter);
    });
  }

  notify(): void {
    for (const w of [...this.waiters]) if (w()) this.waiters.delete(w);
  }
}

/**
 * One connection the proxy opened to the fake: the frames it sent (header blocks decoded with one
 * HPACK decoder for the connection, as the proxy's encoder indexes), its streams, and both ends'
 * flow-control windows. `violations` lists every DATA frame beyond the windows we advertised.
 */
class FakeConn {
  readonly frames: Frame[] = [];
  readonly streams = new Map<number, FakeStream>();
  /** Whether the connection opened with the client preface (undefined until 24 octets arrived). */
  prefaceOk: boolean | undefined;
  /** The proxy's first SETTINGS (identifier → value). */
  settings: Map<number, number> | undefined;
  /** The proxy acknowledged our SETTINGS: DATA it sends from here on is bound by our initial window. */
  settingsAcked = false;
  /** The proxy's GOAWAY, if it sent one. */
  goaway: { lastStreamId: number; code: number } | undefined;
  /** The proxy ended (FIN) or reset the socket. */
  closedByPeer = false;
  closed = false;
  /** What we may send on the connection: the proxy's connection window as we track it. */
  sendWindow = DEFAULT_WINDOW;
  /** The proxy's SETTINGS_INITIAL_WINDOW_SIZE: each stream's send window at its start. */
  peerInitialWindow = DEFAULT_WINDOW;
  /** Flow-control violations by the proxy (DATA beyond what we advertised and granted). */
  readonly violations: string[] = [];
  private received = 0;
  private granted = 0;
  private readonly decoder = new HpackDecoder();
  /** The client preface while it is still arriving. */
  private prefaceBytes: Buffer = EMPTY;
  private readonly splitter = new FrameSplitter();
  private block: { streamId: number; flags: number; parts: Buffer[] } | undefined;

  constructor(
    private readonly fake: FakeUpstream,
    readonly socket: net.Socket,
    /** 0 for the first connection the fake accepted, 1 for the next… */
    readonly index: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.closedByPeer = true;
      fake.notify();
    });
    socket.on('error', () => (this.closedByPeer = true)); // 'close' follows
    socket.on('close', () => {
      this.closed = true;
      fake.notify();
    });
  }

  /** Our SETTINGS_INITIAL_WINDOW_SIZE (what the proxy may send on a stream before our WINDOW_UPDATE). */
  private get ourInitialWindow(): number {
    return this.fake.script.settings?.find(([id]) => id === Setting.INITIAL_WINDOW_SIZE)?.[1] ?? DEFAULT_WINDOW;
  }

  /** Writes frames in one socket write. */
  write(...frames: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  headers(streamId: number, fields: readonly Field[], endStream: boolean): Buffer {
    return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, headerBlock(fields));
  }

  /** A whole response in one write: HEADERS (`:status`, content-length, `extra`), then `body` as DATA ending the stream. Small bodies only: no flow control. */
  answer(streamId: number, status: number, body: string | Buffer, extra: readonly Field[] = []): void {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    const head: Field[] = [[':status', String(status)], ['content-type', 'text/plain'], ['content-length', String(b.length)], ['x-fake-conn', String(this.index)], ['x-fake-stream', String(streamId)], ...extra];
    if (b.length === 0) return this.write(this.headers(streamId, head, true));
    this.write(this.headers(streamId, head, false), ...dataFrames(streamId, b, true));
  }

  /** Sends `body` on stream `id` in DATA frames of at most 16 KiB, as far as the proxy's windows allow, waiting for its WINDOW_UPDATEs; never beyond the windows. */
  async sendBody(streamId: number, body: Buffer, endStream: boolean): Promise<void> {
    const s = this.streams.get(streamId)!;
    let at = 0;
    while (at < body.length) {
      await this.fake.wait(`window to send on stream ${streamId} (${at} of ${body.length} octets sent)`, () => {
        if (this.closed || s.rstCode !== undefined) throw new Error(`stream ${streamId} ended while ${body.length - at} octets were still to send`);
        return Math.min(this.sendWindow, s.sendWindow) > 0 ? true : undefined;
      });
      const out: Buffer[] = [];
      // Everything the windows allow now, in one write.
      while (at < body.length && Math.min(this.sendWindow, s.sendWindow) > 0) {
        const n = Math.min(MAX_FRAME, this.sendWindow, s.sendWindow, body.length - at);
        const last = at + n === body.length;
        out.push(frame(FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, streamId, body.subarray(at, at + n)));
        this.sendWindow -= n;
        s.sendWindow -= n;
        at += n;
      }
      this.write(...out);
    }
    if (body.length === 0 && endStream) this.write(frame(FrameType.DATA, Flag.END_STREAM, streamId));
  }

  /** The frames of `type` the proxy sent, optionally on `streamId` only. */
  framesOf(type: number, streamId?: number): Frame[] {
    return this.frames.filter((f) => f.type === type && (streamId === undefined || f.streamId === streamId));
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.prefaceOk === undefined) {
      buf = this.prefaceBytes.length > 0 ? Buffer.concat([this.prefaceBytes, chunk]) : chunk;
      if (buf.length < PREFACE.length) {
        this.prefaceBytes = Buffer.from(buf);
        return;
      }
      this.prefaceOk = buf.subarray(0, PREFACE.length).equals(PREFACE);
      if (!this.prefaceOk) {
        this.socket.destroy();
        return;
      }
      buf = buf.subarray(PREFACE.length);
    }
    for (const f of this.splitter.push(buf)) {
      this.frames.push(f);
      this.onFrame(f);
    }
    this.fake.notify();
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.SETTINGS:
        if (f.flags & Flag.ACK) {
          this.settingsAcked = true;
          return;
        }
        this.settings ??= new Map();
        for (let i = 0; i + 6 <= f.payload.length; i += 6) {
          const id = f.payload.readUInt16BE(i);
          const value = f.payload.readUInt32BE(i + 2);
          if (!this.settings.has(id)) this.settings.set(id, value);
          if (id === Setting.INITIAL_WINDOW_SIZE) {
            const delta = value - this.peerInitialWindow;
            this.peerInitialWindow = value;
            for (const s of this.streams.values()) s.sendWindow += delta;
          }
        }
        this.write(settingsFrame([], true));
        return;
      case FrameType.PING:
        if (!(f.flags & Flag.ACK)) this.write(frame(FrameType.PING, Flag.ACK, 0, f.payload));
        return;
      case FrameType.GOAWAY:
        this.goaway ??= { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
        return;
      case FrameType.WINDOW_UPDATE: {
        const increment = f.payload.readUInt32BE(0) & 0x7fffffff;
        if (f.streamId === 0) {
          this.sendWindow += increment;
          return;
        }
        const s = this.streams.get(f.streamId);
        if (!s) return;
        s.sendWindow += increment;
        s.windowUpdates++;
        s.windowGranted += increment;
        return;
      }
      case FrameType.RST_STREAM: {
        const s = this.streams.get(f.streamId);
        if (s) s.rstCode = f.payload.readUInt32BE(0);
        return;
      }
      case FrameType.DATA:
        return this.onDataFrame(f);
      case FrameType.HEADERS:
        this.block = { streamId: f.streamId, flags: f.flags, parts: [headerFragment(f)] };
        break;
      case FrameType.CONTINUATION:
        this.block?.parts.push(f.payload);
        break;
      default:
        return;
    }
    if (!(f.flags & Flag.END_HEADERS) || !this.block) return;
    const b = this.block;
    this.block = undefined;
    const fields: Field[] = [];
    this.decoder.decode(Buffer.concat(b.parts), 1 << 20, (name, value) => fields.push([name, value]));
    f.fields = fields;
    const endStream = (b.flags & Flag.END_STREAM) !== 0;
    f.blockEndsStream = endStream;
    const existing = this.streams.get(b.streamId);
    if (existing) {
      // Request trailers.
      existing.ended = endStream;
      if (endStream) this.requestDone(existing);
      return;
    }
    const s: FakeStream = { id: b.streamId, fields, headEndsStream: endStream, body: [], ended: endStream, sendWindow: this.peerInitialWindow, received: 0, granted: 0, windowUpdates: 0, windowGranted: 0 };
    this.streams.set(s.id, s);
    if (endStream) this.requestDone(s);
  }

  private onDataFrame(f: Frame): void {
    const n = f.payload.length;
    const s = this.streams.get(f.streamId);
    // Before the proxy acknowledged our SETTINGS it may still count on the default stream window (RFC 9113 §6.9.2).
    const initial = this.settingsAcked ? this.ourInitialWindow : Math.max(this.ourInitialWindow, DEFAULT_WINDOW);
    this.received += n;
    if (this.received > DEFAULT_WINDOW + this.granted) this.violations.push(`connection: ${this.received} octets received, ${DEFAULT_WINDOW + this.granted} allowed`);
    if (!s) {
      this.violations.push(`DATA on stream ${f.streamId}, which the proxy never opened`);
      return;
    }
    s.received += n;
    if (s.received > initial + s.granted) this.violations.push(`stream ${s.id}: ${s.received} octets received, ${initial + s.granted} allowed`);
    s.body.push(dataPayload(f));
    const end = (f.flags & Flag.END_STREAM) !== 0;
    if (n > 0 && this.fake.script.autoGrant !== false) {
      const grants = [windowUpdateFrame(0, n)];
      this.granted += n;
      if (!end) {
        grants.push(windowUpdateFrame(s.id, n));
        s.granted += n;
      }
      this.write(...grants);
    }
    if (end) {
      s.ended = true;
      this.requestDone(s);
    }
  }

  private requestDone(s: FakeStream): void {
    const onRequest = this.fake.script.onRequest ?? ((c: FakeConn, r: FakeStream) => c.answer(r.id, 200, `ok ${field(r.fields, ':path')}`));
    onRequest(this, s);
  }
}

/** A cleartext HTTP/2 server on 127.0.0.1 that does only what its script says. The mesh closes it. */
class FakeUpstream implements Endpoint {
  port = 0;
  readonly conns: FakeConn[] = [];
  private readonly server: net.Server;
  private readonly signal = new Signal();

  private constructor(public script: Script) {
    this.server = net.createServer((socket) => {
      const c = new FakeConn(this, socket, this.conns.length);
      this.conns.push(c);
      // The server preface: our SETTINGS, at once.
      c.write(settingsFrame(this.script.settings ?? []));
      this.notify();
    });
  }

  static async start(script: Script = {}): Promise<FakeUpstream> {
    const f = new FakeUpstream(script);
    f.server.listen(0, '127.0.0.1');
    await once(f.server, 'listening');
    f.port = (f.server.address() as net.AddressInfo).port;
    return f;
  }

  /** Every request stream received, in order of arrival per connection, with its connection. */
  get streams(): { conn: FakeConn; stream: FakeStream }[] {
    return this.conns.flatMap((conn) => [...conn.streams.values()].map((stream) => ({ conn, stream })));
  }

  wait<T>(what: string, check: () => T | undefined, timeoutMs = WAIT_MS): Promise<T> {
    return this.signal.wait(what, check, timeoutMs);
  }

  notify(): void {
    this.signal.notify();
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function field(fields: readonly Field[], name: string): string | undefined {
  return fields.find(([n]) => n === name)?.[1];
}

// --- clients ------------------------------------------------------------------------------------------

interface H1Result {
  /** 0 when the request failed before any response head. */
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** The whole response arrived (false when the connection ended mid-body). */
  complete: boolean;
  error?: string;
}

/**
 * One HTTP/1.1 request through the client sidecar, on a connection of its own unless `agent` is
 * given; never rejects (a failure shows in the result). `onHead` runs when the response head
 * arrives (it may destroy the response).
 */
function h1(m: HttpMesh<FakeUpstream>, path: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer; onHead?: (res: http.IncomingMessage) => void; agent?: http.Agent } = {}): Promise<H1Result> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: m.servicePort, path, method: opts.method ?? 'GET', headers: { host: `${HOST}:${m.servicePort}`, ...(opts.headers ?? {}) }, agent: opts.agent ?? false }, (res) => {
      opts.onHead?.(res);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => undefined); // 'close' follows, with `complete` false
      res.on('close', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), complete: res.complete }));
    });
    req.on('error', (e) => resolve({ status: 0, headers: {}, rawHeaders: [], body: EMPTY, complete: false, error: e.message }));
    req.setTimeout(2 * WAIT_MS, () => req.destroy(new Error('test request timed out')));
    req.end(opts.body);
  });
}

/** A mesh whose `web` service is the fake upstream, on an HTTP/2 port. */
function meshOf(fake: FakeUpstream, yaml = '', port = H2_PORT): Promise<HttpMesh<FakeUpstream>> {
  return httpMesh<FakeUpstream>([fake], yaml, { port });
}

/** A route without retries (Istio otherwise retries refused streams, connect failures and 503s twice). */
const NO_RETRIES = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http: [{ route: [{ destination: { host: ${HOST} } }], retries: { attempts: 0 } }]
`;

/** Asserts the proxy still serves: a GET answered normally by the fake; returns the fake connection that served it. */
async function stillServes(m: HttpMesh<FakeUpstream>, fake: FakeUpstream, path = '/after'): Promise<FakeConn> {
  fake.script = { ...fake.script, onRequest: undefined };
  const r = await h1(m, path);
  assert.equal(r.status, 200, `the next request is served (${r.error ?? r.body.toString()})`);
  assert.equal(r.body.toString(), `ok ${path}`);
  return fake.conns[Number(r.headers['x-fake-conn'])]!;
}

// --- 1. framing ------------------------------------------------------------------------------------

test('raw frames: preface, SETTINGS with ENABLE_PUSH 0, a GET head without connection-specific fields; two requests on one connection as streams 1 and 3', async () => {
  const fake = await FakeUpstream.start();
  const m = await meshOf(fake);
  try {
    const r1 = await h1(m, '/hello?x=1', { headers: { 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive', te: 'gzip', connection: 'close, x-hop', 'x-hop': 'dropped', 'x-custom': 'kept' } });
    assert.equal(r1.status, 200, r1.error);
    assert.equal(r1.body.toString(), 'ok /hello?x=1');
    const r2 = await h1(m, '/second');
    assert.equal(r2.status, 200, r2.error);
    assert.equal(r2.body.toString(), 'ok /second');

    assert.equal(fake.conns.length, 1, 'both requests on one upstream connection');
    const c = fake.conns[0]!;
    assert.equal(c.prefaceOk, true);
    assert.equal(c.frames[0]?.type, FrameType.SETTINGS, 'SETTINGS is the first frame after the preface');
    assert.equal(c.frames[0]!.flags & Flag.ACK, 0);
    assert.equal(c.settings?.get(Setting.ENABLE_PUSH), 0);
    assert.deepEqual([...c.streams.keys()], [1, 3]);

    const s = c.streams.get(1)!;
    assert.ok(s.headEndsStream, 'a GET without a body ends the stream on HEADERS');
    const names = s.fields.map(([n]) => n);
    assert.deepEqual(names.slice(0, 4).sort(), [':authority', ':method', ':path', ':scheme'], 'the four request pseudo-headers, first');
    assert.ok(!names.slice(4).some((n) => n.startsWith(':')), `no pseudo-header after a regular field: ${names.join(', ')}`);
    assert.equal(field(s.fields, ':method'), 'GET');
    assert.equal(field(s.fields, ':scheme'), 'http');
    assert.equal(field(s.fields, ':authority'), `${HOST}:${m.servicePort}`);
    assert.equal(field(s.fields, ':path'), '/hello?x=1');
    for (const n of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'x-hop']) assert.ok(!names.includes(n), `${n} is not sent over HTTP/2`);
    assert.ok(field(s.fields, 'te') === undefined || field(s.fields, 'te') === 'trailers', 'te only as "trailers"');
    assert.equal(field(s.fields, 'x-custom'), 'kept');
    assert.ok(names.every((n) => n === n.toLowerCase()), 'field names are lower case');
    assert.deepEqual(c.violations, []);
  } finally {
    await m.close();
  }
});

test('a stream whose request and response both ended is closed, not reset: no RST_STREAM after a GET or a POST with a body', async () => {
  const fake = await FakeUpstream.start();
  const m = await meshOf(fake);
  try {
    assert.equal((await h1(m, '/one')).status, 200);
    const post = await h1(m, '/two', { method: 'POST', body: Buffer.from('x'.repeat(5000)) });
    assert.equal(post.status, 200, post.error);
    assert.equal((await h1(m, '/three')).status, 200);
    // The third response was delivered after the first two streams ended: a reset of either would have arrived by now.
    const c = fake.conns[0]!;
    assert.deepEqual([...c.streams.keys()], [1, 3, 5]);
    const resets = c.frames.filter((f) => f.type === FrameType.RST_STREAM && f.streamId < 5).map((f) => `stream ${f.streamId}: code ${f.payload.readUInt32BE(0)}`);
    assert.deepEqual(resets, [], 'the proxy cancelled streams that had finished');
    assert.deepEqual(c.violations, []);
  } finally {
    await m.close();
  }
});

// --- 2. GOAWAY and refused streams ----------------------------------------------------------------

test('G7: GOAWAY(last 0) and SETTINGS MAX_CONCURRENT_STREAMS=0 in one write: the proxy closes that connection, retries on a new one, and keeps serving', async () => {
  const fake = await FakeUpstream.start({
    onRequest: (c, s) => {
      if (c.index === 0) c.write(goawayFrame(0, ErrorCode.NO_ERROR), settingsFrame([[Setting.MAX_CONCURRENT_STREAMS, 0]]));
      else c.answer(s.id, 200, 'second connection');
    },
  });
  const m = await meshOf(fake);
  try {
    const r = await h1(m, '/g7');
    // Stream 1 was above the GOAWAY's last stream: unprocessed, so retried (Istio's default retry_on has refused-stream).
    assert.equal(r.status, 200, `retried on a new connection (${r.error ?? r.body.toString()})`);
    assert.equal(r.body.toString(), 'second connection');
    assert.ok(fake.conns.length >= 2, 'the proxy opened a second connection');
    const first = fake.conns[0]!;
    await fake.wait('the proxy to close the connection it got GOAWAY on', () => (first.closedByPeer || first.closed ? true : undefined));
    assert.equal(first.framesOf(FrameType.HEADERS).length, 1, 'no new stream on the connection after GOAWAY');
    assert.ok(first.goaway === undefined || first.goaway.code === ErrorCode.NO_ERROR, `the proxy closes cleanly (GOAWAY code ${first.goaway?.code})`);
    assert.equal(m.records[0]!.attempts, 2);
    const next = await stillServes(m, fake);
    assert.notEqual(next.index, 0, 'not on the connection that went away');
  } finally {
    await m.close();
  }
});

test('an upstream RST_STREAM REFUSED_STREAM: retried under Istio\'s default policy (same connection), a 503 on a route without retries', async () => {
  const refuseFirst = (c: FakeConn, s: FakeStream) => (s.id === 1 ? c.write(rstStreamFrame(s.id, ErrorCode.REFUSED_STREAM)) : c.answer(s.id, 200, `ok after refusal on ${s.id}`));
  const fake = await FakeUpstream.start({ onRequest: refuseFirst });
  const m = await meshOf(fake);
  try {
    const r = await h1(m, '/refused');
    assert.equal(r.status, 200, r.error ?? r.body.toString());
    assert.equal(r.body.toString(), 'ok after refusal on 3');
    assert.deepEqual(
      fake.streams.map(({ conn, stream }) => [conn.index, stream.id]),
      [
        [0, 1],
        [0, 3],
      ],
      'the refusal keeps the connection; the retry is its next stream',
    );
    assert.equal(m.records[0]!.attempts, 2);
  } finally {
    await m.close();
  }

  const fake2 = await FakeUpstream.start({ onRequest: refuseFirst });
  const m2 = await meshOf(fake2, NO_RETRIES);
  try {
    const r = await h1(m2, '/refused');
    assert.equal(r.status, 503, r.error ?? r.body.toString());
    assert.equal(fake2.streams.length, 1, 'not retried');
    await stillServes(m2, fake2);
  } finally {
    await m2.close();
  }
});

// --- 3. malformed responses ---------------------------------------------------------------------------

/** Response heads RFC 9113 §8.1.1, §8.2 and §8.3.2 call malformed: the proxy must reset the stream, never forward them. */
const MALFORMED_HEADS: readonly { why: string; fields: Field[] }[] = [
  { why: 'CR LF in a value (response splitting toward HTTP/1.1)', fields: [[':status', '200'], ['x-evil', 'ok\r\nx-injected: yes'], ['content-length', '0']] },
  { why: 'a bare LF in a value', fields: [[':status', '200'], ['x-evil', 'ok\nx-injected: yes']] },
  { why: 'NUL in a value', fields: [[':status', '200'], ['x-evil', 'a\0b']] },
  { why: 'an upper-case field name', fields: [[':status', '200'], ['X-Upper', 'v']] },
  { why: 'a field name with a space', fields: [[':status', '200'], ['x bad', 'v']] },
  { why: 'connection: close', fields: [[':status', '200'], ['connection', 'close']] },
  { why: 'keep-alive', fields: [[':status', '200'], ['keep-alive', 'timeout=5']] },
  { why: 'proxy-connection', fields: [[':status', '200'], ['proxy-connection', 'keep-alive']] },
  { why: 'transfer-encoding: chunked', fields: [[':status', '200'], ['transfer-encoding', 'chunked']] },
  { why: 'upgrade', fields: [[':status', '200'], ['upgrade', 'websocket']] },
  { why: ':status missing', fields: [['content-type', 'text/plain']] },
  { why: ':status "2000"', fields: [[':status', '2000']] },
  { why: ':status "20"', fields: [[':status', '20']] },
  { why: ':status "abc"', fields: [[':status', 'abc']] },
  { why: ':status twice', fields: [[':status', '200'], [':status', '204']] },
  { why: ':status after a regular field', fields: [['content-type', 'text/plain'], [':status', '200']] },
  { why: 'a request pseudo-header (:path) in a response', fields: [[':status', '200'], [':path', '/']] },
  { why: '101 (no meaning in HTTP/2)', fields: [[':status', '101']] },
];

test('malformed response heads (CR LF, upper case, connection-specific fields, bad :status…) are reset, answered 502, never forwarded; the next request is served', async () => {
  const fake = await FakeUpstream.start();
  const m = await meshOf(fake);
  try {
    for (const { why, fields } of MALFORMED_HEADS) {
      fake.script = { onRequest: (c, s) => c.write(c.headers(s.id, fields, false), ...dataFrames(s.id, Buffer.from('SMUGGLED-BODY'), true)) };
      const before = fake.streams.length;
      const r = await h1(m, '/malformed');
      assert.ok(r.status === 502 || r.status === 503, `${why}: an error status, got ${r.status} ${r.error ?? ''}`);
      assert.equal(r.headers['x-injected'], undefined, `${why}: no injected header line`);
      assert.ok(!r.rawHeaders.some((h) => /x-injected|x-upper|x-evil/i.test(h)), `${why}: nothing of the head reaches the client: ${r.rawHeaders.join(' | ')}`);
      assert.ok(!r.body.toString().includes('SMUGGLED'), `${why}: the body is not forwarded`);
      assert.equal(fake.streams.length, before + 1, `${why}: not retried`);
      const { conn, stream } = fake.streams[before]!;
      await fake.wait(`${why}: the proxy's RST_STREAM`, () => (stream.rstCode !== undefined ? true : conn.closed ? false : undefined));
      assert.equal(stream.rstCode, ErrorCode.PROTOCOL_ERROR, `${why}: the stream is reset as malformed (RFC 9113 §8.1.1)`);
      assert.deepEqual(m.records.at(-1)!.responseFlags, ['UPE'], why);
      await stillServes(m, fake);
    }
    assert.equal(fake.conns.length, 1, 'a malformed response costs its stream, not the connection');
  } finally {
    await m.close();
  }
});

test('DATA before any HEADERS on the stream: an error status, never the bytes as a body', async () => {
  const fake = await FakeUpstream.start({
    onRequest: (c, s) => c.write(...dataFrames(s.id, Buffer.from('SMUGGLED-DATA'), false), c.headers(s.id, [[':status', '200']], false), ...dataFrames(s.id, Buffer.from('SMUGGLED-LATER'), true)),
  });
  const m = await meshOf(fake);
  try {
    const r = await h1(m, '/data-first');
    assert.ok(r.status === 502 || r.status === 503 || r.status === 0, `an error status or a reset, got ${r.status}`);
    assert.ok(!r.body.toString().includes('SMUGGLED'), `the DATA is not forwarded: ${r.body.toString()}`);
    const stream = fake.streams[0]!.stream;
    await fake.wait("the proxy's RST_STREAM", () => (stream.rstCode !== undefined ? true : undefined));
    assert.equal(stream.rstCode, ErrorCode.PROTOCOL_ERROR);
    await stillServes(m, fake);
  } finally {
    await m.close();
  }
});

test('an empty DATA frame with END_STREAM before any HEADERS (also after a 1xx head, also all padding): an error status, the proxy does not crash', async () => {
  const cases: { why: string; frames: (id: number) => Buffer[] }[] = [
    { why: 'empty END_STREAM DATA first', frames: (id) => [frame(FrameType.DATA, Flag.END_STREAM, id)] },
    { why: 'END_STREAM DATA of padding only', frames: (id) => [frame(FrameType.DATA, Flag.END_STREAM | Flag.PADDED, id, Buffer.from([3, 0, 0, 0]))] },
    { why: 'empty END_STREAM DATA after 103 Early Hints', frames: (id) => [frame(FrameType.HEADERS, Flag.END_HEADERS, id, headerBlock([[':status', '103'], ['link', '</a.css>; rel=preload']])), frame(FrameType.DATA, Flag.END_STREAM, id)] },
  ];
  const fake = await FakeUpstream.start();
  const m = await meshOf(fake);
  try {
    for (const { why, frames } of cases) {
      fake.script = { onRequest: (c, s) => c.write(...frames(s.id)) };
      const r = await h1(m, '/empty-end-first');
      assert.ok(r.status === 502 || r.status === 503, `${why}: an error status, got ${r.status} ${r.error ?? ''}`);
      await stillServes(m, fake);
    }
  } finally {
    await m.close();
  }
});

test('a final response head with END_STREAM but content-length 10 is malformed (RFC 9113 §8.1.1): 502, never a head promising a body that will not come', async () => {
  const fake = await FakeUpstream.start({ onRequest: (c, s) => c.write(c.headers(s.id, [[':status', '200'], ['content-length', '10']], true)) });
  const m = await meshOf(fake);
  try {
    // A HEAD's response has no content whatever content-length says: forwarded as is.
    const head = await h1(m, '/cl', { method: 'HEAD' });
    assert.equal(head.status, 200, head.error);
    assert.ok(head.complete);
    assert.equal(head.headers['content-length'], '10');
    // A GET's is malformed. Forwarded, it leaves the HTTP/1.1 client waiting for 10 octets and a
    // pipelining client reading the next response as this one's body (desync).
    const r = await h1(m, '/cl', { onHead: (res) => (res.statusCode === 200 ? res.destroy() : undefined) });
    assert.ok(r.status === 502 || r.status === 503, `an error status, got ${r.status} with content-length ${r.headers['content-length']}`);
    await stillServes(m, fake);
  } finally {
    await m.close();
  }
});

// --- 4. flow control ---------------------------------------------------------------------------------

test('flow control downstream of the upstream: a 1 MiB body sent only within the proxy\'s windows arrives whole; its WINDOW_UPDATEs let all of it through', async () => {
  const body = randomBytes(1024 * 1024);
  let sending: Promise<void> | undefined;
  const fake = await FakeUpstream.start({
    onRequest: (c, s) => {
      c.write(c.headers(s.id, [[':status', '200'], ['content-type', 'application/octet-stream'], ['content-length', String(body.length)]], false));
      sending = c.sendBody(s.id, body, true);
    },
  });
  const m = await meshOf(fake);
  try {
    const r = await h1(m, '/big');
    assert.equal(r.status, 200, r.error);
    assert.ok(r.complete, 'the whole response arrived');
    assert.equal(r.body.length, body.length);
    assert.ok(r.body.equals(body), 'the body arrives intact');
    await sending;
    const c = fake.conns[0]!;
    const s = c.streams.get(1)!;
    const initial = c.settings?.get(Setting.INITIAL_WINDOW_SIZE) ?? DEFAULT_WINDOW;
    assert.ok(initial < body.length, `the proxy's stream window (${initial}) is smaller than the body: it had to grant more`);
    assert.ok(s.windowUpdates > 0, 'the proxy sent stream WINDOW_UPDATEs');
    assert.ok(initial + s.windowGranted >= body.length, `granted ${initial} + ${s.windowGranted} for ${body.length}`);
    assert.ok(c.framesOf(FrameType.WINDOW_UPDATE, 0).length > 0, 'and connection WINDOW_UPDATEs');
    assert.ok(c.sendWindow >= 0 && s.sendWindow >= 0, 'never beyond the windows');
  } finally {
    await m.close();
  }
});

test('an upstream that ignores the stream window: the proxy resets the stream FLOW_CONTROL_ERROR (or closes the connection), the client sees the response fail, the proxy keeps serving', async () => {
  const FLOOD = 40 * MAX_FRAME; // 640 KiB, beyond the proxy's stream window
  const fake = await FakeUpstream.start({
    onRequest: (c, s) => c.write(c.headers(s.id, [[':status', '200'], ['content-type', 'application/octet-stream']], false), ...dataFrames(s.id, randomBytes(FLOOD), true)),
  });
  const m = await meshOf(fake);
  // A downstream HTTP/2 client with a stream window of 0 that never opens it: the proxy cannot pass the body on, stops reading the upstream stream and gives no window back.
  const client = new H2Client(m.servicePort, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]], authority: `${HOST}:${m.servicePort}` });
  try {
    await client.handshake();
    client.get(1, '/flood');
    const c = await fake.wait('the upstream connection', () => fake.conns[0]);
    const stream = await fake.wait('the request', () => c.streams.get(1));
    await fake.wait('the proxy to reset the stream or the connection', () => (stream.rstCode !== undefined || c.goaway || c.closed ? true : undefined));
    if (stream.rstCode !== undefined) assert.equal(stream.rstCode, ErrorCode.FLOW_CONTROL_ERROR);
    else assert.equal(c.goaway?.code, ErrorCode.FLOW_CONTROL_ERROR, `GOAWAY ${c.goaway?.code}, closed ${c.closed}`);
    const initial = c.settings?.get(Setting.INITIAL_WINDOW_SIZE) ?? DEFAULT_WINDOW;
    assert.ok(initial < FLOOD, 'the flood exceeded the window the proxy advertised');
    const res = await client.response(1);
    assert.notEqual(res.end, 'stream', 'the client does not get a complete response');
    assert.ok(res.body.length < FLOOD);
    await stillServes(m, fake);
  } finally {
    client.close();
    await m.close();
  }
});

test('a request body of 100 KB to an upstream advertising a 1000-octet stream window: never more than the window ahead of its WINDOW_UPDATEs, all of it arrives', async () => {
  const body = randomBytes(100 * 1000);
  const fake = await FakeUpstream.start({
    settings: [[Setting.INITIAL_WINDOW_SIZE, 1000]],
    onRequest: (c, s) => {
      const got = Buffer.concat(s.body);
      c.answer(s.id, 200, got.equals(body) ? 'intact' : `got ${got.length} octets`);
    },
  });
  const m = await meshOf(fake);
  try {
    // First a GET, so the SETTINGS exchange is done and the upload's stream starts with a 1000-octet window.
    assert.equal((await h1(m, '/warm-up')).status, 200);
    const c = fake.conns[0]!;
    assert.ok(c.settingsAcked, 'the proxy acknowledged our SETTINGS');
    const r = await h1(m, '/upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(r.status, 200, r.error);
    assert.equal(r.body.toString(), 'intact');
    assert.deepEqual(c.violations, [], 'the proxy stayed within the windows we advertised');
    const s = c.streams.get(3)!;
    const dataFramesSent = c.framesOf(FrameType.DATA, 3);
    assert.ok(dataFramesSent.every((f) => f.payload.length <= 1000), 'no DATA frame larger than the stream window');
    assert.ok(s.granted >= body.length - 1000, `the body needed our grants (granted ${s.granted})`);
    assert.equal(s.received, body.length);
  } finally {
    await m.close();
  }

  // The same upload as a new connection's first request: the proxy may send up to the default 65,535
  // octets before our SETTINGS arrive; once it applies them its window goes negative (RFC 9113
  // §6.9.2) and nothing more may leave before our grants bring it above zero.
  const fake2 = await FakeUpstream.start({ settings: [[Setting.INITIAL_WINDOW_SIZE, 1000]], onRequest: (c, st) => c.answer(st.id, 200, Buffer.concat(st.body).equals(body) ? 'intact' : 'damaged') });
  const m2 = await meshOf(fake2);
  try {
    const r = await h1(m2, '/upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(r.status, 200, r.error);
    assert.equal(r.body.toString(), 'intact');
    assert.deepEqual(fake2.conns[0]!.violations, []);
  } finally {
    await m2.close();
  }
});

test('a response whose DATA disagrees with its content-length: the HTTP/1.1 client never gets a complete-looking response, and its connection is not reused out of step', async () => {
  const fake = await FakeUpstream.start();
  const m = await meshOf(fake);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (const { why, declared, sent } of [
      { why: 'fewer octets than content-length', declared: 100, sent: 'short body' },
      { why: 'more octets than content-length', declared: 5, sent: 'a body longer than declared' },
    ]) {
      fake.script = { onRequest: (c, s) => c.write(c.headers(s.id, [[':status', '200'], ['content-length', String(declared)]], false), ...dataFrames(s.id, Buffer.from(sent), true)) };
      const r = await h1(m, '/mismatch', { agent });
      assert.ok(!(r.status === 200 && r.complete && r.body.toString() === sent), `${why}: not passed off as a complete response`);
      assert.ok(r.body.length <= declared, `${why}: no more than content-length reaches the client (${r.body.length})`);
      // On the same keep-alive agent: a connection left out of step would hand the next response to the wrong request.
      fake.script = {};
      const next = await h1(m, '/after', { agent });
      assert.equal(next.status, 200, `${why}: ${next.error ?? ''}`);
      assert.ok(next.complete);
      assert.equal(next.body.toString(), 'ok /after');
    }
  } finally {
    agent.destroy();
    await m.close();
  }
});

// --- 5. trailers -------------------------------------------------------------------------------------

test('response trailers (HEADERS, DATA, then HEADERS with END_STREAM carrying grpc-status 0) reach an HTTP/2 client as trailers', async () => {
  const message = Buffer.from([0, 0, 0, 0, 5, ...Buffer.from('hello')]);
  const fake = await FakeUpstream.start({
    onRequest: (c, s) =>
      c.write(
        c.headers(s.id, [[':status', '200'], ['content-type', 'application/grpc']], false),
        ...dataFrames(s.id, message, false),
        c.headers(
          s.id,
          [
            ['grpc-status', '0'],
            ['grpc-message', 'fine'],
          ],
          true,
        ),
      ),
  });
  const m = await meshOf(fake, '', GRPC_PORT);
  const session = http2.connect(`http://127.0.0.1:${m.servicePort}`);
  session.on('error', () => undefined);
  try {
    const r = await new Promise<{ status: number; body: Buffer; trailers: http2.IncomingHttpHeaders | undefined }>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/meltemi.test.Echo/Unary', ':authority': `${HOST}:${m.servicePort}`, 'content-type': 'application/grpc', te: 'trailers' });
      let status = 0;
      let trailers: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('trailers', (t) => (trailers = t));
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => resolve({ status, body: Buffer.concat(chunks), trailers }));
      req.on('error', reject);
      req.setTimeout(2 * WAIT_MS, () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.end(message);
    });
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(message), 'the message crosses');
    assert.equal(r.trailers?.['grpc-status'], '0');
    assert.equal(r.trailers?.['grpc-message'], 'fine');
    assert.equal(m.records[0]!.grpcStatus, 0);
  } finally {
    session.destroy();
    await m.close();
  }
});

// --- 6. connection failures ---------------------------------------------------------------------------

test('an upstream connection that dies mid-response: the client\'s response is cut short; the next request opens a new connection and is served', async () => {
  const fake = await FakeUpstream.start({
    onRequest: (c, s) => c.write(c.headers(s.id, [[':status', '200'], ['content-length', '100000']], false), ...dataFrames(s.id, Buffer.alloc(1000, 0x61), false)),
  });
  const m = await meshOf(fake);
  try {
    // The upstream goes away (TCP RST) once the client has the head: the proxy can no longer answer with a status.
    const r = await h1(m, '/dies', { onHead: () => fake.conns[0]!.socket.resetAndDestroy() });
    assert.equal(r.status, 200);
    assert.equal(r.complete, false, 'the response is cut short, not passed off as complete');
    assert.ok(r.body.length < 100_000);
    assert.deepEqual(m.records[0]!.responseFlags, ['UC']);
    const next = await stillServes(m, fake);
    assert.equal(next.index, 1, 'on a new connection');
  } finally {
    await m.close();
  }
});

test('an upstream connection that dies before the response head: a 503, and the next request is served', async () => {
  const fake = await FakeUpstream.start({ onRequest: (c) => c.socket.resetAndDestroy() });
  const m = await meshOf(fake, NO_RETRIES);
  try {
    const r = await h1(m, '/dies-early');
    assert.equal(r.status, 503, r.error ?? r.body.toString());
    const next = await stillServes(m, fake);
    assert.equal(next.index, 1, 'on a new connection');
  } finally {
    await m.close();
  }
});

test('PUSH_PROMISE from the upstream (push was disabled) is a connection error: GOAWAY PROTOCOL_ERROR or a close; the next request works on a new connection', async () => {
  const fake = await FakeUpstream.start({
    onRequest: (c, s) => {
      const promised = Buffer.alloc(4);
      promised.writeUInt32BE(2);
      const block = headerBlock([
        [':method', 'GET'],
        [':scheme', 'http'],
        [':authority', HOST],
        [':path', '/pushed'],
      ]);
      c.write(frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, s.id, Buffer.concat([promised, block])), c.headers(s.id, [[':status', '200']], false), ...dataFrames(s.id, Buffer.from('after push'), true));
    },
  });
  const m = await meshOf(fake);
  try {
    const r = await h1(m, '/push');
    assert.ok(r.status === 502 || r.status === 503, `an error status, got ${r.status} ${r.error ?? r.body.toString()}`);
    assert.ok(!r.body.toString().includes('after push'));
    const c = fake.conns[0]!;
    await fake.wait('GOAWAY or a close from the proxy', () => (c.goaway || c.closedByPeer || c.closed ? true : undefined));
    if (c.goaway) assert.equal(c.goaway.code, ErrorCode.PROTOCOL_ERROR);
    await fake.wait('the proxy to close the connection', () => (c.closedByPeer || c.closed ? true : undefined));
    const next = await stillServes(m, fake);
    assert.equal(next.index, 1, 'on a new connection');
  } finally {
    await m.close();
  }
});
