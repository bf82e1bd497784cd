// Open-loop latency client: sends GET / at a fixed rate over N keep-alive connections (raw node:net sockets with pre-built request bytes, HTTP/1.1 or h2c) to each of several targets in interleaved rounds, and prints latency percentiles per target as one JSON line.
// Usage: node --import tsx latency-client.ts --targets name=PORT,… --protocol http1|http2 --rate R --connections N --warmup S --duration S --rounds K --prime N
//
// Rounds: each target is measured K times for `duration` seconds (after `warmup` seconds on fresh
// connections), the targets taking turns and the order rotating each round, and its samples are
// pooled. Other load on the machine comes and goes; interleaving spreads it over all targets alike,
// so the difference between a target and direct is not the difference between two moments.
//
// Open loop: request i is due at t0 + i/rate whatever happened to earlier ones, so a slow response
// makes the following requests wait for a free connection, and that wait is counted (no coordinated
// omission). Each latency runs from the request's start — its due time, or the moment this
// process's timer released it when that was later — to the last byte of its response. Node timers
// fire with ~1 ms granularity, so counting from the due time would add the client's own timer jitter
// (up to 1 ms) to every sample; starting from the release instead keeps that jitter out while any
// queueing for a busy connection, which the system under test causes, stays in. `sendLagUs` reports
// how late requests were released, and `fromDueUs` the latency counted from the due time.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { median } from './median.js';

interface Args {
  targets: Array<{ name: string; port: number }>;
  protocol: 'http1' | 'http2';
  rate: number;
  connections: number;
  warmupS: number;
  durationS: number;
  rounds: number;
  /** Requests sent closed loop to the first target before any round, to get this client's own code optimised. */
  prime: number;
}

function parseArgs(argv: string[]): Args {
  const get = (flag: string): string => {
    const i = argv.indexOf(flag);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (v === undefined) throw new Error(`missing ${flag}`);
    return v;
  };
  const a: Args = {
    targets: get('--targets')
      .split(',')
      .map((t) => {
        const [name, port] = t.split('=');
        return { name: name ?? '', port: Number(port) };
      }),
    protocol: get('--protocol') === 'http2' ? 'http2' : 'http1',
    rate: Number(get('--rate')),
    connections: Number(get('--connections')),
    warmupS: Number(get('--warmup')),
    durationS: Number(get('--duration')),
    rounds: Number(get('--rounds')),
    prime: Number(get('--prime')),
  };
  const ok =
    a.targets.length > 0 &&
    a.targets.every((t) => t.name !== '' && Number.isInteger(t.port) && t.port > 0) &&
    a.rate > 0 && a.rate <= 100_000 && a.connections > 0 && a.connections <= 1024 &&
    a.warmupS >= 0 && a.durationS > 0 && a.durationS <= 3600 && Number.isInteger(a.rounds) && a.rounds >= 1 && a.rounds <= 100 &&
    Number.isInteger(a.prime) && a.prime >= 0 && a.prime <= 10_000_000;
  if (!ok) throw new Error(`bad arguments: ${JSON.stringify(a)}`);
  return a;
}

/** Called once per request with whether it got a complete 200 response. */
type Done = (conn: Conn, ok: boolean, error?: string) => void;

interface Conn {
  /** Sends one request; the connection must be idle. */
  send(): void;
  ready: Promise<void>;
  close(): void;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CHUNKED_END = Buffer.from('\r\n0\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[ \t]*chunked/i;

/** One HTTP/1.1 keep-alive connection, one request at a time, with a minimal response parser. */
class H1Conn implements Conn {
  private readonly socket: net.Socket;
  private inFlight = false;
  private head: Buffer | null = null;
  /** Body bytes still expected (Content-Length), or -1 for a chunked body. */
  private remaining = 0;
  private status = 0;
  private chunkedTail: Buffer = Buffer.alloc(0);
  readonly ready: Promise<void>;

  constructor(
    port: number,
    private readonly request: Buffer,
    private readonly done: Done,
  ) {
    this.socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (b: Buffer) => this.onData(b));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      if (this.inFlight) this.finish(false, 'connection closed during a request');
    });
  }

  send(): void {
    this.inFlight = true;
    this.head = null;
    this.status = 0;
    // A connection the server closed fails each request sent on it, rather than leaving it unanswered.
    if (this.socket.destroyed) queueMicrotask(() => this.finish(false, 'connection closed by the server'));
    else this.socket.write(this.request);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(b: Buffer): void {
    if (!this.inFlight) return this.finish(false, 'bytes received with no request in flight');
    let body: Buffer;
    if (this.status === 0) {
      const buf = this.head ? Buffer.concat([this.head, b]) : b;
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) {
        this.head = buf;
        return;
      }
      const text = buf.toString('latin1', 0, end + 2);
      this.status = Number(text.slice(9, 12));
      const cl = CONTENT_LENGTH.exec(text);
      if (cl) this.remaining = Number(cl[1]);
      else if (CHUNKED.test(text)) {
        this.remaining = -1;
        this.chunkedTail = Buffer.alloc(0);
      } else return this.finish(false, 'response without Content-Length or chunked encoding');
      body = buf.subarray(end + 4);
    } else body = b;
    if (this.remaining >= 0) {
      this.remaining -= body.length;
      if (this.remaining === 0) this.finish(this.status === 200, this.status === 200 ? undefined : `status ${this.status}`);
      else if (this.remaining < 0) this.finish(false, 'more bytes than Content-Length');
    } else {
      // Chunked, no trailers: the body ends with "\r\n0\r\n\r\n". Keep only the last bytes to look for it.
      this.chunkedTail = Buffer.concat([this.chunkedTail, body]).subarray(-CHUNKED_END.length);
      if (this.chunkedTail.equals(CHUNKED_END)) this.finish(this.status === 200, this.status === 200 ? undefined : `status ${this.status}`);
    }
  }

  private finish(ok: boolean, error?: string): void {
    if (!this.inFlight) return;
    this.inFlight = false;
    this.done(this, ok, error);
  }
}

// ---- HTTP/2 (h2c, prior knowledge) on a raw socket ----
//
// node:http2's client stalls its event loop for milliseconds now and then (allocation and
// compilation behind each stream object), which showed up as 5–30 ms p99s even against direct, far
// above what a proxy adds. So HTTP/2 is spoken here directly: pre-built frames, no HPACK state (the
// request uses static-table indices and a literal :authority; a 200 response starts its header block
// with static index 8, 0x88, in nginx, HAProxy and node:http2 alike), one stream at a time.

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FRAME_WINDOW_UPDATE = 0x8;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

function h2Frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const f = Buffer.alloc(9 + payload.length);
  f.writeUIntBE(payload.length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(streamId & 0x7fffffff, 5);
  payload.copy(f, 9);
  return f;
}

/** Client preface, SETTINGS (no push, 1 MiB stream windows) and a 1 GiB connection window: no flow-control stalls in a bounded run. */
function h2Start(): Buffer {
  const settings = Buffer.alloc(12);
  settings.writeUInt16BE(0x2, 0); // SETTINGS_ENABLE_PUSH
  settings.writeUInt32BE(0, 2);
  settings.writeUInt16BE(0x4, 6); // SETTINGS_INITIAL_WINDOW_SIZE
  settings.writeUInt32BE(1 << 20, 8);
  const increment = Buffer.alloc(4);
  increment.writeUInt32BE(1 << 30, 0);
  return Buffer.concat([H2_PREFACE, h2Frame(FRAME_SETTINGS, 0, 0, settings), h2Frame(FRAME_WINDOW_UPDATE, 0, 0, increment)]);
}

/** GET / as one HEADERS frame (END_STREAM | END_HEADERS); the stream id at bytes 5–8 is patched per request. */
function h2Request(port: number): Buffer {
  const authority = Buffer.from(`127.0.0.1:${port}`, 'latin1');
  // :method GET (2), :scheme http (6), :path / (4); :authority as a literal without indexing, name index 1.
  const block = Buffer.concat([Buffer.from([0x82, 0x86, 0x84, 0x01, authority.length]), authority]);
  return h2Frame(FRAME_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 1, block);
}

/** One HTTP/2 cleartext connection (prior knowledge), one stream at a time like the HTTP/1.1 connections. */
class H2Conn implements Conn {
  private readonly socket: net.Socket;
  private readonly request: Buffer;
  private streamId = -1;
  private nextStreamId = 1;
  private status200 = false;
  private pending: Buffer = Buffer.alloc(0);
  private inFlight = false;
  readonly ready: Promise<void>;

  constructor(
    port: number,
    private readonly done: Done,
  ) {
    this.request = h2Request(port);
    this.socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => {
        this.socket.write(h2Start());
        resolve();
      });
      this.socket.once('error', reject);
    });
    this.socket.on('data', (b: Buffer) => this.onData(b));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => this.finish(false, 'connection closed during a request'));
  }

  send(): void {
    this.inFlight = true;
    this.status200 = false;
    this.streamId = this.nextStreamId;
    this.nextStreamId += 2;
    if (this.socket.destroyed || this.streamId > 0x7fffffff) {
      queueMicrotask(() => this.finish(false, 'connection closed by the server'));
      return;
    }
    this.request.writeUInt32BE(this.streamId, 5);
    this.socket.write(this.request);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(b: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, b]) : b;
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const type = buf[3]!;
      const flags = buf[4]!;
      const sid = buf.readUInt32BE(5) & 0x7fffffff;
      const payload = buf.subarray(9, 9 + len);
      buf = buf.subarray(9 + len);
      this.onFrame(type, flags, sid, payload);
    }
    this.pending = buf.length > 0 ? Buffer.from(buf) : Buffer.alloc(0);
  }

  private onFrame(type: number, flags: number, sid: number, payload: Buffer): void {
    switch (type) {
      case FRAME_SETTINGS:
        if (!(flags & FLAG_ACK)) this.socket.write(h2Frame(FRAME_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
        return;
      case FRAME_PING:
        if (!(flags & FLAG_ACK)) this.socket.write(h2Frame(FRAME_PING, FLAG_ACK, 0, payload));
        return;
      case FRAME_GOAWAY:
        this.finish(false, `GOAWAY (error code ${payload.length >= 8 ? payload.readUInt32BE(4) : '?'})`);
        this.socket.destroy();
        return;
      case FRAME_HEADERS: {
        if (sid !== this.streamId) return;
        let off = flags & FLAG_PADDED ? 1 : 0;
        if (flags & FLAG_PRIORITY) off += 5;
        // Only the response's first header block carries :status (trailers would not start with it).
        if (!this.status200 && payload[off] === 0x88) this.status200 = true;
        if (flags & FLAG_END_STREAM) this.complete();
        return;
      }
      case FRAME_DATA:
        if (sid === this.streamId && flags & FLAG_END_STREAM) this.complete();
        return;
      case FRAME_RST_STREAM:
        if (sid === this.streamId) this.finish(false, `RST_STREAM (error code ${payload.length >= 4 ? payload.readUInt32BE(0) : '?'})`);
        return;
      default:
        // WINDOW_UPDATE and others need nothing: requests are one small frame.
        return;
    }
  }

  private complete(): void {
    this.finish(this.status200, this.status200 ? undefined : 'response :status is not 200 (or not HPACK static index 8)');
  }

  private finish(ok: boolean, error?: string): void {
    if (!this.inFlight) return;
    this.inFlight = false;
    this.streamId = -1;
    this.done(this, ok, error);
  }
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Samples of one target, pooled over rounds (µs). */
interface Samples {
  latency: number[];
  fromDue: number[];
  lag: number[];
  scheduled: number;
  errors: number;
  timeouts: number;
  firstError?: string;
  /** The p99 of each round's own samples. */
  roundP99: number[];
}

/**
 * One segment: opens `connections` to `port`, sends `rate × (warmup + duration)` requests on the
 * open-loop schedule, and adds the post-warm-up samples to `into`. Bounded: connections must be up
 * within 10 s and answers must arrive within 10 s of the last due time, else they count as timeouts.
 */
async function segment(a: Args, port: number, into: Samples): Promise<void> {
  const total = Math.round(a.rate * (a.warmupS + a.durationS));
  const warmup = Math.round(a.rate * a.warmupS);
  const intervalMs = 1000 / a.rate;
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: meltemi-bench\r\nAccept: */*\r\n\r\n`, 'latin1');

  // Per request (ms on performance.now()): when it was due, when it was released, when it was sent, when it completed.
  const due = new Float64Array(total);
  const released = new Float64Array(total);
  const sentAt = new Float64Array(total);
  const doneAt = new Float64Array(total).fill(Number.NaN);
  let answered = 0;

  const current = new Map<Conn, number>();
  const idle: Conn[] = [];
  const queue: number[] = [];
  let queueHead = 0;
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  // Set once the segment is over: connections closed under a late request must not count in the next one.
  let over = false;

  const start = (c: Conn, i: number) => {
    current.set(c, i);
    sentAt[i] = performance.now();
    c.send();
  };
  const onDone: Done = (c, ok, error) => {
    if (over) return;
    const i = current.get(c)!;
    current.delete(c);
    answered++;
    if (ok) doneAt[i] = performance.now();
    else if (i >= warmup) {
      into.errors++;
      into.firstError ??= error;
    }
    if (queueHead < queue.length) start(c, queue[queueHead++]!);
    else idle.push(c);
    if (answered === total) finished();
  };

  const conns: Conn[] = [];
  for (let k = 0; k < a.connections; k++) conns.push(a.protocol === 'http2' ? new H2Conn(port, onDone) : new H1Conn(port, request, onDone));
  try {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(conns.map((c) => c.ready)),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('connections not ready within 10 s')), 10_000))),
    ]).finally(() => clearTimeout(timer));
    idle.push(...conns);

    const t0 = performance.now() + 5;
    let next = 0;
    let bound: NodeJS.Timeout | undefined;
    const tick = () => {
      const now = performance.now();
      while (next < total && t0 + next * intervalMs <= now) {
        const i = next++;
        due[i] = t0 + i * intervalMs;
        released[i] = now;
        const c = idle.pop();
        if (c) start(c, i);
        else queue.push(i);
      }
      if (next < total) setTimeout(tick, Math.max(0, t0 + next * intervalMs - performance.now()));
      // Bounded: whatever has not answered 10 s after the last request was due is a timeout.
      else bound = setTimeout(finished, 10_000);
    };
    setTimeout(tick, 5);
    await allDone;
    clearTimeout(bound);
  } finally {
    over = true;
    for (const c of conns) c.close();
  }

  into.scheduled += total - warmup;
  const first = into.latency.length;
  for (let i = warmup; i < total; i++) {
    if (Number.isNaN(doneAt[i]!)) continue;
    into.latency.push((doneAt[i]! - released[i]!) * 1000);
    into.fromDue.push((doneAt[i]! - due[i]!) * 1000);
    into.lag.push((sentAt[i]! - due[i]!) * 1000);
  }
  // Requests neither answered nor failed when the bound ran out.
  into.timeouts = into.scheduled - into.latency.length - into.errors;
  into.roundP99.push(round1(percentile(Float64Array.from(into.latency.slice(first)).sort(), 0.99)));
}

/**
 * Sends `count` requests closed loop (each connection sends its next request when the last one is
 * answered), bounded by 60 s. Until V8 has optimised this client's request path (tens of thousands of
 * requests), its own compilation threads share its core and stall its event loop for milliseconds —
 * more than a proxy adds; the samples would then measure this process.
 */
async function prime(a: Args, port: number, count: number): Promise<void> {
  let sent = 0;
  let answered = 0;
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: meltemi-bench\r\nAccept: */*\r\n\r\n`, 'latin1');
  const onDone: Done = (c) => {
    if (++answered >= count) finished();
    else if (sent < count) {
      sent++;
      c.send();
    }
  };
  const conns: Conn[] = [];
  for (let k = 0; k < a.connections; k++) conns.push(a.protocol === 'http2' ? new H2Conn(port, onDone) : new H1Conn(port, request, onDone));
  const bound = setTimeout(finished, 60_000);
  try {
    await Promise.all(conns.map((c) => c.ready));
    for (const c of conns) {
      if (sent < count) {
        sent++;
        c.send();
      }
    }
    await allDone;
  } finally {
    clearTimeout(bound);
    for (const c of conns) c.close();
  }
}

function summary(x: Samples, a: Args) {
  const sorted = Float64Array.from(x.latency).sort();
  const sortedDue = Float64Array.from(x.fromDue).sort();
  const sortedLag = Float64Array.from(x.lag).sort();
  return {
    scheduled: x.scheduled,
    completed: x.latency.length,
    errors: x.errors,
    timeouts: x.timeouts,
    ...(x.firstError ? { firstError: x.firstError } : {}),
    achievedRps: round1(x.latency.length / (a.durationS * a.rounds)),
    latencyUs: {
      p50: round1(percentile(sorted, 0.5)),
      p90: round1(percentile(sorted, 0.9)),
      p99: round1(percentile(sorted, 0.99)),
      p999: round1(percentile(sorted, 0.999)),
      max: round1(sorted[sorted.length - 1] ?? Number.NaN),
      mean: round1(x.latency.reduce((s, v) => s + v, 0) / Math.max(1, x.latency.length)),
    },
    // A burst of other work on the machine lands in one round: the median of the rounds' p99s leaves it out.
    p99ByRoundUs: x.roundP99,
    p99MedianOfRoundsUs: round1(median(x.roundP99)),
    fromDueUs: { p50: round1(percentile(sortedDue, 0.5)), p99: round1(percentile(sortedDue, 0.99)) },
    sendLagUs: { p50: round1(percentile(sortedLag, 0.5)), p99: round1(percentile(sortedLag, 0.99)), max: round1(sortedLag[sortedLag.length - 1] ?? Number.NaN) },
  };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const samples = a.targets.map((): Samples => ({ latency: [], fromDue: [], lag: [], scheduled: 0, errors: 0, timeouts: 0, roundP99: [] }));
  if (a.prime > 0) await prime(a, a.targets[0]!.port, a.prime);
  for (let r = 0; r < a.rounds; r++) {
    for (let k = 0; k < a.targets.length; k++) {
      // Rotate the order each round so no target always follows the same neighbour.
      const j = (k + r) % a.targets.length;
      const into = samples[j]!;
      try {
        await segment(a, a.targets[j]!.port, into);
      } catch (e) {
        const total = Math.round(a.rate * a.durationS);
        into.scheduled += total;
        into.errors += total;
        into.firstError ??= e instanceof Error ? e.message : String(e);
        into.timeouts = into.scheduled - into.latency.length - into.errors;
      }
    }
  }
  const out: Record<string, ReturnType<typeof summary>> = {};
  a.targets.forEach((t, i) => (out[t.name] = summary(samples[i]!, a)));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`latency client failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
