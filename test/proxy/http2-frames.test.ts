// HTTP/2 downstream conformance and attacks at the frame level (RFC 9113, reliability-security.md G1–G8): raw frames, malformed on purpose, against the sidecar's h2c port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import type * as net from 'node:net';
import type { Http2DownstreamOptions } from '../../src/proxy/http/http2-downstream.js';
import { HOST, httpMesh, startUpstream, type Behaviour, type HttpMesh, type Upstream } from './http-mesh.js';
import {
  ErrorCode,
  Flag,
  FrameType,
  H2Client,
  Setting,
  dataFrames,
  dataPayload,
  frame,
  goawayFrame,
  headerBlock,
  pingFrame,
  rstCode,
  rstStreamFrame,
  windowUpdateFrame,
  type Field,
  type H2ClientOptions,
  type StreamResponse,
} from './h2-wire.js';

const CODE_NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([k, v]) => [v, k]));
const codeName = (code: number | undefined) => (code === undefined ? 'none' : (CODE_NAMES.get(code) ?? `0x${code.toString(16)}`));

/** A deterministic body of `n` bytes, so a reordered or truncated body shows. */
const bodyOf = (n: number) => Buffer.alloc(n, 'abcdefghijklmnopqrstuvwxyz0123456789').toString('latin1');

/** `/size/N`: N bytes; `/slow…`: "slow" after 300 ms; anything else: "up". */
const answer: Behaviour = (req) => {
  const url = req.url ?? '/';
  const size = /^\/size\/(\d+)$/.exec(url);
  if (size) return { status: 200, body: bodyOf(Number(size[1])) };
  if (url.startsWith('/slow')) return { status: 200, body: 'slow', delayMs: 300 };
  return { status: 200, body: 'up' };
};

interface Scenario {
  m: HttpMesh;
  up: Upstream;
  /** A client connected, its preface and SETTINGS written and the server's SETTINGS received (and ACKed). */
  connect(options?: H2ClientOptions): Promise<H2Client>;
  /** A client connected with its preface (and `options.after`) written; no wait for the server. */
  open(options?: H2ClientOptions): Promise<H2Client>;
}

interface Setup {
  http2?: Partial<Http2DownstreamOptions>;
  behaviour?: Behaviour;
  /** Routing config for `web` (VirtualService…), as `httpMesh` takes it. */
  yaml?: string;
}

/** A mesh whose `web` service is one HTTP/1.1 upstream; every client and server is closed after `run`. */
async function scenario(setup: Setup, run: (s: Scenario) => Promise<void>): Promise<void> {
  const up = await startUpstream('up', setup.behaviour ?? answer);
  const m = await httpMesh([up], setup.yaml ?? '', { http2: setup.http2 ?? {} });
  const clients: H2Client[] = [];
  const open = async (o: H2ClientOptions = {}) => {
    const c = new H2Client(m.servicePort, { authority: `${HOST}:${m.servicePort}`, ...o });
    clients.push(c);
    await c.ready;
    return c;
  };
  let failed = true;
  try {
    await run({
      m,
      up,
      open,
      connect: async (o) => {
        const c = await open(o);
        await c.handshake();
        return c;
      },
    });
    failed = false;
  } finally {
    for (const c of clients) c.close();
    // A failed test may have left a session the proxy will not close: free it without diagnosing a leak too.
    if (failed) destroyProxySockets(m);
    await closeMesh(m);
  }
}

/** The data plane's accepted sockets (a private field: only for freeing what a broken server leaked). */
function destroyProxySockets(m: HttpMesh): number {
  const sockets = (m.plane as unknown as { sockets?: Set<net.Socket> }).sockets ?? new Set<net.Socket>();
  const n = sockets.size;
  for (const s of sockets) s.destroy();
  return n;
}

/**
 * Closes the mesh once every client is gone. A proxy that still holds a downstream socket then (a
 * session that stopped reading after its GOAWAY never sees the client's FIN) would hang `close()`
 * for good: after 2 s its sockets are destroyed and the leak is reported as a failure.
 */
async function closeMesh(m: HttpMesh): Promise<void> {
  const closed = m.close();
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 2000)))]);
  clearTimeout(timer);
  if (inTime) return;
  const leaked = destroyProxySockets(m);
  await closed;
  throw new Error(`the proxy still held ${leaked} downstream connection(s) 2 s after every client had closed`);
}

/** A GET of `path` on `streamId` answered 200 with `body` by the upstream, through `c`. */
async function expectServed(c: H2Client, streamId: number, path = '/ok', body = 'up'): Promise<StreamResponse> {
  const r = await c.fetch(streamId, path);
  assert.equal(r.end, 'stream', `stream ${streamId} ended by ${r.end} (${codeName(r.rstCode)}), not END_STREAM`);
  assert.equal(r.status, 200, `stream ${streamId}: status`);
  assert.equal(r.body.toString('latin1'), body, `stream ${streamId}: body`);
  return r;
}

/**
 * Bound on the close that must follow a GOAWAY for an error (RFC 9113 §5.4.1): the server closes
 * right after writing it, so this is only a safety net — kept short because a server that never
 * closes would otherwise cost the full wait in every connection-error test.
 */
const CLOSE_AFTER_GOAWAY_MS = 2000;

/**
 * A connection error (RFC 9113 §5.4.1): GOAWAY with `code`, then the server closes the connection.
 * Call it right after writing the offending frames: it writes a PING behind them, and a server
 * that answers that PING went on past the error.
 */
async function expectConnectionError(c: H2Client, code: number): Promise<void> {
  const probe = Buffer.from('probe!!!', 'latin1');
  c.write(pingFrame(probe));
  const f = await c
    .next((x) => x.type === FrameType.GOAWAY || (x.type === FrameType.PING && (x.flags & Flag.ACK) !== 0 && x.payload.equals(probe)), undefined, `GOAWAY ${codeName(code)}`)
    .catch(() => undefined);
  assert.ok(f, `expected GOAWAY ${codeName(code)}; the connection closed without one`);
  assert.ok(f.type === FrameType.GOAWAY, `expected GOAWAY ${codeName(code)}; the server answered a PING sent after the offending frame instead`);
  const goaway = c.goaway!;
  assert.equal(codeName(goaway.code), codeName(code), `GOAWAY code (debug: ${goaway.debug})`);
  await c.whenClosed(CLOSE_AFTER_GOAWAY_MS).catch(() => assert.fail(`GOAWAY ${codeName(goaway.code)} was not followed by closing the connection (RFC 9113 §5.4.1)`));
}

/** Resolves when `n` requests have reached the upstream (its behaviour is wrapped to tell). */
function arrivals(up: Upstream, n: number): Promise<void> {
  const inner = up.behaviour;
  return new Promise((resolve) => {
    up.behaviour = (req, count) => {
      if (count >= n) resolve();
      return inner(req, count);
    };
  });
}

/** A PING and its ACK: everything the server sent before the ACK has arrived. */
async function pingRoundTrip(c: H2Client, tag: number): Promise<void> {
  const data = Buffer.alloc(8);
  data.writeUInt32BE(tag, 4);
  c.write(pingFrame(data));
  await c.next((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.equals(data), undefined, `PING ACK ${tag}`);
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

// --- connection setup, PING, requests ----------------------------------------------------------

test('the server answers the preface with its SETTINGS (our stream limit, no push), ACKs ours, and echoes a PING', async () => {
  await scenario({ http2: { maxConcurrentStreams: 7 } }, async ({ connect }) => {
    const c = await connect();
    const settings = c.serverSettings!;
    assert.equal(settings.get(Setting.MAX_CONCURRENT_STREAMS), 7);
    const push = settings.get(Setting.ENABLE_PUSH);
    assert.ok(push === undefined || push === 0, `ENABLE_PUSH ${push}`);
    await c.next((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK && f.streamId === 0, undefined, 'the ACK of our SETTINGS');
    const data = Buffer.from('8bytes!!', 'latin1');
    c.write(pingFrame(data));
    const ack = await c.next((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0, undefined, 'PING ACK');
    assert.deepEqual(ack.payload, data);
    assert.equal(ack.streamId, 0);
  });
});

test('a GET with a literal header block is served on stream 1, then on stream 3 of the same connection', async () => {
  await scenario({}, async ({ connect, up }) => {
    const c = await connect();
    const first = await expectServed(c, 1, '/first');
    assert.ok(first.fields.some(([n, v]) => n === 'x-upstream' && v === 'up'), 'the upstream header is in the response');
    await expectServed(c, 3, '/second');
    assert.deepEqual(
      up.seen.map((s) => s.url),
      ['/first', '/second'],
    );
    assert.equal(c.hpackError, undefined);
  });
});

// --- connection errors ---------------------------------------------------------------

test('a first frame after the preface that is not SETTINGS is a connection error PROTOCOL_ERROR (or a close)', async (t) => {
  await scenario({}, async ({ open }) => {
    const c = await open({ settings: null, after: pingFrame(Buffer.alloc(8)) });
    const { goaway } = await c.goawayOrClose();
    t.diagnostic(goaway ? `GOAWAY ${codeName(goaway.code)}` : 'closed without GOAWAY');
    if (goaway) assert.equal(codeName(goaway.code), 'PROTOCOL_ERROR');
    await c.whenClosed();
  });
});

test('HEADERS on an even (server-initiated) stream id is a connection error PROTOCOL_ERROR', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    c.get(2, '/even');
    await expectConnectionError(c, ErrorCode.PROTOCOL_ERROR);
  });
});

test('HEADERS on a stream id lower than one already opened is a connection error PROTOCOL_ERROR', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    await expectServed(c, 5);
    // Stream 3 was never used: opening 5 closed it (RFC 9113 §5.1.1).
    c.get(3, '/lower');
    await expectConnectionError(c, ErrorCode.PROTOCOL_ERROR);
  });
});

test('DATA on stream 0 is a connection error PROTOCOL_ERROR', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    c.send(FrameType.DATA, 0, 0, Buffer.from('hello'));
    await expectConnectionError(c, ErrorCode.PROTOCOL_ERROR);
  });
});

test('DATA on an idle stream is a connection error PROTOCOL_ERROR', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    c.send(FrameType.DATA, Flag.END_STREAM, 7, Buffer.from('hello'));
    await expectConnectionError(c, ErrorCode.PROTOCOL_ERROR);
  });
});

test('a PING with a 7-byte payload is a connection error FRAME_SIZE_ERROR', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    c.write(pingFrame(Buffer.alloc(7)));
    await expectConnectionError(c, ErrorCode.FRAME_SIZE_ERROR);
  });
});

test('a frame longer than the default SETTINGS_MAX_FRAME_SIZE (16384) is a connection error FRAME_SIZE_ERROR', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    // A HEADERS frame: a size error in a frame carrying a field block is always a connection error (RFC 9113 §4.2).
    const block = headerBlock(c.fields('/big', [['x-big', 'a'.repeat(20_000)]]));
    c.send(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, block);
    await expectConnectionError(c, ErrorCode.FRAME_SIZE_ERROR);
  });
});

test('a connection WINDOW_UPDATE past 2^31-1 is a connection error FLOW_CONTROL_ERROR and the socket is closed (G6)', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    c.write(windowUpdateFrame(0, 0x7fffffff));
    await expectConnectionError(c, ErrorCode.FLOW_CONTROL_ERROR);
    assert.ok(c.closedByPeer, 'the server closed the socket');
  });
});

test('a connection WINDOW_UPDATE with increment 0 is a connection error PROTOCOL_ERROR', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    c.write(windowUpdateFrame(0, 0));
    await expectConnectionError(c, ErrorCode.PROTOCOL_ERROR);
  });
});

test('a PING inside an open header block (between HEADERS and CONTINUATION) is a connection error PROTOCOL_ERROR', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    const block = headerBlock(c.fields('/split'));
    c.write(frame(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 10)), pingFrame(Buffer.alloc(8)), frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(10)));
    await expectConnectionError(c, ErrorCode.PROTOCOL_ERROR);
  });
});

// --- extension frames (G8) --------------------------------------------------------------------

test('frames of an unknown type (0x4d), empty or not, are ignored between requests (G8)', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    await expectServed(c, 1);
    c.send(0x4d, 0, 0);
    c.send(0x4d, 0xff, 0, Buffer.from('metadata'));
    c.send(0x4d, 0, 1, Buffer.from('on a closed stream'));
    await pingRoundTrip(c, 6);
    await expectServed(c, 3);
    assert.equal(c.goaway, undefined);
  });
});

// --- CONTINUATION flood (G2) ------------------------------------------------------------------

test('an endless CONTINUATION sequence gets the connection closed long before 200 frames (3 MB), and others are still served (G2)', async (t) => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    c.write(frame(FrameType.HEADERS, Flag.END_STREAM, 1, headerBlock(c.fields('/flood'))));
    // Each CONTINUATION carries whole literal fields (16 × 1 KB, under 16384 bytes).
    const filler = headerBlock(Array.from({ length: 16 }, (_, i): Field => [`x-flood-${i}`, 'a'.repeat(1000)]));
    assert.ok(filler.length <= 16_384);
    let sent = 0;
    // One frame per turn of the event loop, so the count reflects when the server reacted.
    while (sent < 200 && !c.goaway && !c.closed) {
      if (!c.send(FrameType.CONTINUATION, 0, 1, filler)) await c.drained();
      sent++;
      await yieldToLoop();
      await yieldToLoop();
    }
    const { goaway } = await c.goawayOrClose();
    t.diagnostic(`${goaway ? `GOAWAY ${codeName(goaway.code)}` : 'closed without GOAWAY'} after ${sent} CONTINUATION frames; RST_STREAM ${codeName(c.frames.find((f) => f.type === FrameType.RST_STREAM)?.payload.readUInt32BE(0))}`);
    assert.ok(sent < 200, `the server still read header data after ${sent} CONTINUATION frames (GOAWAY: ${codeName(goaway?.code)})`);
    await c.whenClosed();
    const other = await connect();
    await expectServed(other, 1);
  });
});

test('a connection closed in the middle of a header block does not hurt the proxy; the next connection is served (G2)', async () => {
  await scenario({}, async ({ connect }) => {
    for (const how of ['reset', 'fin'] as const) {
      const c = await connect();
      const block = headerBlock(c.fields('/abrupt', [['x-a', 'b'.repeat(100)]]));
      // The PING goes first (inside the block it would be an error); its ACK tells the server has
      // read the write, the block's first frames included.
      const data = Buffer.from('mid-blk!', 'latin1');
      c.write(pingFrame(data), frame(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 20)), frame(FrameType.CONTINUATION, 0, 1, block.subarray(20, 60)));
      await c.next((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.equals(data), undefined, 'PING ACK');
      if (how === 'reset') c.socket.resetAndDestroy();
      else c.socket.end();
      await c.whenClosed();
      const next = await connect();
      await expectServed(next, 1);
    }
  });
});

// --- malformed requests are stream errors --------------------------------------------------------

interface MalformedCase {
  what: string;
  fields: (c: H2Client) => Field[];
}

const SMUGGLE = 'v\r\nx-injected: 1\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: web\r\n\r\n';

const MALFORMED: MalformedCase[] = [
  { what: 'a request without :path', fields: (c) => c.fields('/bad').filter(([n]) => n !== ':path') },
  { what: 'an upper-case field name', fields: (c) => c.fields('/bad', [['X-Upper', '1']]) },
  { what: 'a connection: keep-alive field', fields: (c) => c.fields('/bad', [['connection', 'keep-alive']]) },
  { what: 'te: gzip', fields: (c) => c.fields('/bad', [['te', 'gzip']]) },
  {
    what: 'a field value with CR LF (smuggling toward HTTP/1.1)',
    fields: (c) => c.fields('/bad', [['x-a', SMUGGLE]]),
  },
  {
    what: 'a pseudo-header after a regular field',
    fields: (c) => [...c.fields('/bad').filter(([n]) => n !== ':path'), ['x-a', '1'], [':path', '/bad']],
  },
  { what: 'a duplicate :path', fields: (c) => c.fields('/bad', [[':path', '/bad2']]) },
];

for (const k of MALFORMED) {
  test(`${k.what} is a stream error (RST_STREAM PROTOCOL_ERROR or 400) and the connection keeps serving`, async (t) => {
    await scenario({}, async ({ connect, up }) => {
      const c = await connect();
      c.request(1, k.fields(c));
      const r = await c.response(1);
      t.diagnostic(`stream 1: ${r.end} ${codeName(r.rstCode)}, status ${r.status}`);
      const refused = (r.end === 'reset' && r.rstCode === ErrorCode.PROTOCOL_ERROR) || r.status === 400;
      assert.ok(refused, `stream 1 ended by ${r.end} (${codeName(r.rstCode)}) with status ${r.status}`);
      await expectServed(c, 3);
      assert.equal(c.goaway, undefined);
      assert.deepEqual(
        up.seen.map((s) => s.url),
        ['/ok'],
        'the upstream saw only the good request',
      );
      for (const s of up.seen) assert.equal(s.headers['x-injected'], undefined);
    });
  });
}

// --- header list and stream limits -----------------------------------------------------------

test('a header list over maxHeaderListBytes is refused on its stream (431 or RST_STREAM); a new connection is served', async (t) => {
  await scenario({ http2: { maxHeaderListBytes: 4096 } }, async ({ connect, up }) => {
    const c = await connect();
    const big = Array.from({ length: 6 }, (_, i): Field => [`x-big-${i}`, 'h'.repeat(1000)]);
    c.request(1, c.fields('/big', big));
    const r = await c.response(1);
    t.diagnostic(`stream 1: ${r.end} ${codeName(r.rstCode)}, status ${r.status}; GOAWAY ${codeName(c.goaway?.code)}`);
    const refused = r.status === 431 || r.end === 'reset' || r.end === 'closed';
    assert.ok(refused, `stream 1 ended by ${r.end} with status ${r.status}`);
    if (!c.goaway && !c.closed) await expectServed(c, 3);
    const other = await connect();
    await expectServed(other, 1);
    assert.ok(!up.seen.some((s) => s.url === '/big'), 'the oversized request never reached the upstream');
  });
});

test('a stream beyond SETTINGS_MAX_CONCURRENT_STREAMS is refused (RST_STREAM REFUSED_STREAM or PROTOCOL_ERROR); the others are served', async (t) => {
  await scenario({ http2: { maxConcurrentStreams: 2 } }, async ({ connect, up }) => {
    const c = await connect();
    for (const id of [1, 3, 5]) c.get(id, `/slow/${id}`);
    const third = await c.response(5);
    t.diagnostic(`stream 5: ${third.end} ${codeName(third.rstCode)}, status ${third.status}; GOAWAY ${codeName(c.goaway?.code)}`);
    assert.equal(third.end, 'reset', `stream 5 ended by ${third.end} with status ${third.status}`);
    assert.ok(third.rstCode === ErrorCode.REFUSED_STREAM || third.rstCode === ErrorCode.PROTOCOL_ERROR, codeName(third.rstCode));
    for (const id of [1, 3]) {
      const r = await c.response(id);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'slow');
    }
    assert.deepEqual(up.seen.map((s) => s.url).sort(), ['/slow/1', '/slow/3']);
    assert.equal(c.goaway, undefined);
  });
});

// --- flow control and framing of bodies ------------------------------------------------------

/**
 * Reads stream `streamId`'s DATA, checking after every frame that the server never sent more than
 * the window granted (a frame received was sent, and sent only within the window granted when it
 * was). When the window is used up, a PING round trip gives the server the chance to overrun it;
 * then `grant` opens it further.
 */
async function readWithinWindow(c: H2Client, streamId: number, window: { stream: number; connection: number }, grant: () => void): Promise<Buffer> {
  const body: Buffer[] = [];
  let streamBytes = 0;
  let connectionBytes = 0;
  for (let turn = 0; turn < 10_000; turn++) {
    if (streamBytes === window.stream || connectionBytes === window.connection) {
      await pingRoundTrip(c, turn);
      grant();
      continue;
    }
    const f = await c.next((x) => x.streamId === streamId && (x.type === FrameType.DATA || x.type === FrameType.RST_STREAM), undefined, `DATA on stream ${streamId}`);
    assert.equal(f.type, FrameType.DATA, `stream ${streamId} reset (${codeName(f.type === FrameType.RST_STREAM ? rstCode(f) : undefined)})`);
    streamBytes += f.payload.length;
    connectionBytes += f.payload.length;
    assert.ok(streamBytes <= window.stream, `the server sent ${streamBytes} bytes on stream ${streamId}, its window was ${window.stream}`);
    assert.ok(connectionBytes <= window.connection, `the server sent ${connectionBytes} bytes on the connection, its window was ${window.connection}`);
    body.push(dataPayload(f));
    if (f.flags & Flag.END_STREAM) return Buffer.concat(body);
  }
  throw new Error('the body did not end');
}

test('response DATA stays within the stream window the client advertised (SETTINGS_INITIAL_WINDOW_SIZE=100) until WINDOW_UPDATE', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, 100]] });
    c.get(1, '/size/10240');
    const window = { stream: 100, connection: 65_535 };
    const body = await readWithinWindow(c, 1, window, () => {
      c.write(windowUpdateFrame(1, 1000));
      window.stream += 1000;
    });
    assert.equal(body.toString('latin1'), bodyOf(10_240));
  });
});

test('response DATA stays within the connection window (65535) until a connection WINDOW_UPDATE', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0x7fffffff]] });
    c.get(1, '/size/102400');
    const window = { stream: 0x7fffffff, connection: 65_535 };
    let grants = 0;
    const body = await readWithinWindow(c, 1, window, () => {
      grants++;
      c.write(windowUpdateFrame(0, 1 << 20));
      window.connection += 1 << 20;
    });
    assert.equal(grants, 1, 'the first 65535 bytes used up the connection window');
    assert.equal(body.toString('latin1'), bodyOf(102_400));
  });
});

/** `/held…` waits 10 s in the fault filter, which holds the request body (the server must stop granting window). */
const HELD = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http:
  - match: [{ uri: { prefix: /held } }]
    fault: { delay: { fixedDelay: 10s, percentage: { value: 100 } } }
    route: [{ destination: { host: ${HOST} } }]
  - route: [{ destination: { host: ${HOST} } }]
`;

test('request DATA beyond the advertised stream window is a flow-control error (RST_STREAM or GOAWAY FLOW_CONTROL_ERROR)', async (t) => {
  await scenario({ yaml: HELD }, async ({ connect }) => {
    const c = await connect();
    const window = c.serverSettings!.get(Setting.INITIAL_WINDOW_SIZE) ?? 65_535;
    // The route holds the body, so the server has no reason to grant more than its initial window;
    // the client sends 16 KiB beyond it without waiting for a WINDOW_UPDATE.
    const body = Buffer.alloc(window + 16_384, 'z');
    c.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, headerBlock(c.fields('/held', [], 'POST'))), ...dataFrames(1, body, false));
    const f = await c.next((x) => (x.type === FrameType.RST_STREAM && x.streamId === 1) || x.type === FrameType.GOAWAY, undefined, 'RST_STREAM on stream 1 or GOAWAY');
    const granted = c.frames.filter((x) => x.type === FrameType.WINDOW_UPDATE && x.streamId === 1).reduce((n, x) => n + x.payload.readUInt32BE(0), 0);
    t.diagnostic(`${f.type === FrameType.GOAWAY ? 'GOAWAY' : 'RST_STREAM'} ${codeName(f.payload.readUInt32BE(f.type === FrameType.GOAWAY ? 4 : 0))}; stream window granted beyond the initial ${window}: ${granted}`);
    assert.ok(granted < 16_384, `the server granted ${granted} more bytes to a held request`);
    assert.equal(codeName(f.payload.readUInt32BE(f.type === FrameType.GOAWAY ? 4 : 0)), 'FLOW_CONTROL_ERROR');
  });
});

test('a body shorter than its content-length is a stream error (RST_STREAM PROTOCOL_ERROR or 400); the upstream never gets the request whole', async (t) => {
  await scenario({}, async ({ connect, up }) => {
    const c = await connect();
    c.request(1, c.fields('/cl', [['content-length', '10']], 'POST'), Buffer.from('hello'));
    const r = await c.response(1);
    t.diagnostic(`stream 1: ${r.end} ${codeName(r.rstCode)}, status ${r.status}`);
    const refused = (r.end === 'reset' && r.rstCode === ErrorCode.PROTOCOL_ERROR) || r.status === 400;
    assert.ok(refused, `stream 1 ended by ${r.end} (${codeName(r.rstCode)}) with status ${r.status}`);
    await expectServed(c, 3);
    assert.deepEqual(
      up.seen.map((s) => s.url),
      ['/ok'],
    );
  });
});

// --- resets and GOAWAY ------------------------------------------------------------------------

test('a client RST_STREAM while the upstream is still answering leaves the proxy serving the next stream', async () => {
  await scenario({}, async ({ connect, up }) => {
    const c = await connect();
    const arrived = arrivals(up, 1);
    c.get(1, '/slow');
    await arrived;
    c.write(rstStreamFrame(1, ErrorCode.CANCEL));
    await expectServed(c, 3);
    assert.equal(c.goaway, undefined);
  });
});

test('rapid reset (HEADERS + RST_STREAM pairs) gets GOAWAY ENHANCE_YOUR_CALM; another connection is still served (G1)', async (t) => {
  await scenario({ http2: { resetGuardMinStreams: 50, maxConcurrentStreams: 1000 } }, async ({ connect }) => {
    const victim = await connect();
    const attacker = await connect();
    const block = headerBlock(attacker.fields('/slow/reset'));
    let streams = 0;
    // Bounded: 2000 streams at most, 50 pairs per write.
    while (streams < 2000 && !attacker.goaway && !attacker.closed) {
      const out: Buffer[] = [];
      for (let i = 0; i < 50; i++, streams++) {
        const id = 2 * streams + 1;
        out.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, block), rstStreamFrame(id, ErrorCode.CANCEL));
      }
      if (!attacker.write(...out)) await attacker.drained();
      await yieldToLoop();
    }
    const { goaway } = await attacker.goawayOrClose();
    t.diagnostic(`GOAWAY ${codeName(goaway?.code)} (last stream ${goaway?.lastStreamId}) after ${streams} streams written`);
    assert.ok(goaway, `no GOAWAY after ${streams} reset streams`);
    assert.equal(codeName(goaway.code), 'ENHANCE_YOUR_CALM');
    await attacker.whenClosed();
    await expectServed(victim, 1);
  });
});

test('a PING flood from a client that does not read gets its connection closed (G3)', async (t) => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    c.socket.pause();
    const chunk = Buffer.concat(Array.from({ length: 1000 }, (_, i) => pingFrame(Buffer.from(`p${String(i).padStart(7, '0')}`, 'latin1'))));
    let pings = 0;
    // Loopback sockets hold megabytes in flight (about 4 MB measured, more where tcp_rmem allows),
    // so 100 000 PINGs (1.7 MB of ACKs) would never make the server queue anything. Bounded at
    // 2 000 000 PINGs (34 MB); stop once the server closes or stops reading.
    while (pings < 2_000_000 && !c.closed) {
      pings += 1000;
      if (!c.write(chunk) && !(await c.drained(2000))) break;
    }
    c.socket.resume();
    const { goaway } = await c.goawayOrClose();
    await c.whenClosed();
    const acks = c.frames.filter((f) => f.type === FrameType.PING).length;
    t.diagnostic(`closed after ${pings} PINGs written, ${acks} ACKs read, GOAWAY ${codeName(goaway?.code)}`);
    assert.ok(acks < pings, `${acks} PING ACKs for ${pings} PINGs`);
  });
});

test('a GOAWAY from the client lets its in-flight stream complete', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    c.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, headerBlock(c.fields('/slow'))), goawayFrame(0, ErrorCode.NO_ERROR));
    const r = await c.response(1);
    assert.equal(r.end, 'stream');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'slow');
  });
});

// --- bodies, trailers, cookies, HPACK state ----------------------------------------------------

test('a request body followed by trailers reaches an HTTP/1.1 upstream with its body', async () => {
  await scenario({}, async ({ connect, up }) => {
    const c = await connect();
    c.write(
      frame(FrameType.HEADERS, Flag.END_HEADERS, 1, headerBlock(c.fields('/upload', [['content-type', 'text/plain']], 'POST'))),
      frame(FrameType.DATA, 0, 1, Buffer.from('hello, ')),
      frame(FrameType.DATA, 0, 1, Buffer.from('world')),
      frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, headerBlock([['x-checksum', 'abc']])),
    );
    const r = await c.response(1);
    assert.equal(r.status, 200);
    assert.equal(up.seen.length, 1);
    assert.equal(up.seen[0]!.method, 'POST');
    assert.equal(up.seen[0]!.body, 'hello, world');
  });
});

test('cookie crumbs reach an HTTP/1.1 upstream as one cookie header joined with "; " (RFC 9113 §8.2.3)', async () => {
  const raw: string[][] = [];
  const record: Behaviour = (req: http.IncomingMessage, n) => {
    raw.push(req.rawHeaders);
    return answer(req, n);
  };
  await scenario({ behaviour: record }, async ({ connect }) => {
    const c = await connect();
    c.get(1, '/cookies', [
      ['cookie', 'a=1'],
      ['cookie', 'b=2'],
    ]);
    const r = await c.response(1);
    assert.equal(r.status, 200);
    const headers = raw[0]!;
    const cookies = headers.filter((_, i) => i % 2 === 1 && headers[i - 1]!.toLowerCase() === 'cookie');
    assert.deepEqual(cookies, ['a=1; b=2'], 'the cookie header lines the upstream received');
  });
});

test('two responses on one connection decode with the same HPACK decoder (dynamic table carried over)', async () => {
  await scenario({}, async ({ connect }) => {
    const c = await connect();
    const first = await expectServed(c, 1, '/one');
    const second = await expectServed(c, 3, '/two');
    for (const r of [first, second]) {
      assert.equal(r.fields[0]?.[0], ':status', 'the pseudo-header comes first');
      assert.ok(r.fields.some(([n, v]) => n === 'x-upstream' && v === 'up'));
      assert.ok(r.fields.some(([n, v]) => n === 'content-type' && v === 'text/plain'));
    }
    assert.equal(c.hpackError, undefined);
  });
});
