// A raw HTTP/2 client for conformance tests: writes any frame (malformed ones on purpose) over a TCP socket and parses the server's frames as they arrive.
import * as net from 'node:net';
import { HpackDecoder } from '../../src/proxy/http2/hpack.js';

/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Frame types (RFC 9113 §6). */
export const FrameType = Object.freeze({
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
});

/** Frame flags; ACK shares END_STREAM's bit (SETTINGS and PING only). */
export const Flag = Object.freeze({ END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 });

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 §7). */
export const ErrorCode = Object.freeze({
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
});

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const Setting = Object.freeze({
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
});

export type Field = readonly [name: string, value: string];

/** One frame the server sent. */
export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  /** The payload as sent (padding included). */
  payload: Buffer;
  /** On the frame that ends a header block (END_HEADERS): the block's decoded fields, in order. */
  fields?: Field[];
  /** On that frame too: whether the block's HEADERS frame carried END_STREAM. */
  blockEndsStream?: boolean;
}

export interface Goaway {
  lastStreamId: number;
  code: number;
  debug: string;
}

/** A response as read off one stream. */
export interface StreamResponse {
  /** The final (non-1xx) :status; 0 when the stream ended without one. */
  status: number;
  /** The final response's fields, pseudo-headers included. */
  fields: Field[];
  body: Buffer;
  /** A header block after the final response's, if any. */
  trailers?: Field[];
  /** How the stream ended: END_STREAM, RST_STREAM (`rstCode`), or the connection closing first. */
  end: 'stream' | 'reset' | 'closed';
  rstCode?: number;
}

const EMPTY = Buffer.alloc(0);
/** Safety net for every wait; tests wait on events, never on time. */
export const WAIT_MS = 5000;

/** One frame's bytes: the 9-byte header (length from `payload`) and the payload, as is. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId >>> 0, 5);
  payload.copy(out, 9);
  return out;
}

/** A SETTINGS frame carrying `entries` ([identifier, value]), or an empty ACK. */
export function settingsFrame(entries: ReadonlyArray<readonly [number, number]>, ack = false): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value >>> 0, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, ack ? Flag.ACK : 0, 0, payload);
}

export function pingFrame(data: Buffer, ack = false): Buffer {
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, data);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment >>> 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code >>> 0);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function goawayFrame(lastStreamId: number, code: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(lastStreamId >>> 0);
  payload.writeUInt32BE(code >>> 0, 4);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

/** DATA frames of at most `maxFrame` bytes carrying `body`; the last one carries END_STREAM if `endStream`. */
export function dataFrames(streamId: number, body: Buffer, endStream: boolean, maxFrame = 16_384): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length || out.length === 0; at += maxFrame) {
    const chunk = body.subarray(at, at + maxFrame);
    const last = at + maxFrame >= body.length;
    out.push(frame(FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, streamId, chunk));
  }
  return out;
}

/** RFC 7541 §5.1: `value` as an integer with an N-bit prefix, `high` holding the first byte's other bits. */
function hpackInteger(value: number, prefixBits: number, high: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(high | value);
    return;
  }
  out.push(high | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/**
 * A header block of `fields`, each a "literal header field without indexing — new name"
 * (RFC 7541 §6.2.2) with no Huffman coding: it touches no dynamic table, so it needs no HPACK
 * state and can carry what an encoder would refuse (upper case, CR LF, duplicates…). Names
 * and values are taken as latin1 bytes.
 */
export function headerBlock(fields: readonly Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    const prefix: number[] = [0x00];
    hpackInteger(n.length, 7, 0x00, prefix);
    parts.push(Buffer.from(prefix), n);
    const len: number[] = [];
    hpackInteger(v.length, 7, 0x00, len);
    parts.push(Buffer.from(len), v);
  }
  return Buffer.concat(parts);
}

export interface H2ClientOptions {
  /** The client's SETTINGS entries sent right after the preface; `null`: no SETTINGS (the test writes its own first frame). */
  settings?: ReadonlyArray<readonly [number, number]> | null;
  /** Bytes written with the preface (after SETTINGS, if any), in the same write. */
  after?: Buffer;
  /** ACK every SETTINGS the server sends (default true; false when `settings` is null). */
  autoAck?: boolean;
  /** `:authority` of requests made with `request`/`get`. */
  authority?: string;
}

type Waiter = () => boolean;

/**
 * One raw HTTP/2 connection to 127.0.0.1:`port`. Construct it, then `await ready` (socket
 * connected, preface written). Every frame received is kept in `frames`, in order; header blocks
 * are decoded with one HPACK decoder per connection, as the dynamic table requires. The test owns
 * the socket: `close()` it in `finally`.
 */
export class H2Client {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  /** Resolves once connected and the preface (and SETTINGS, `after`) is written. */
  readonly ready: Promise<void>;
  /** The first SETTINGS the server sent (identifier → value), once it arrived. */
  serverSettings: Map<number, number> | undefined;
  goaway: Goaway | undefined;
  closed = false;
  /** Whether the server sent FIN or reset the socket (as opposed to our own `close()`). */
  closedByPeer = false;
  /** A header block the HPACK decoder refused (the server's encoding or our decoder is wrong). */
  hpackError: string | undefined;
  private readonly taken = new WeakSet<Frame>();
  private readonly waiters = new Set<Waiter>();
  private readonly decoder = new HpackDecoder();
  private readonly splitter = new FrameSplitter();
  private block: { streamId: number; endStream: boolean; parts: Buffer[] } | undefined;
  private readonly autoAck: boolean;
  readonly authority: string;

  constructor(port: number, options: H2ClientOptions = {}) {
    const settings = options.settings === undefined ? [] : options.settings;
    this.autoAck = options.autoAck ?? settings !== null;
    this.authority = options.authority ?? `127.0.0.1:${port}`;
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', () => {
      this.closedByPeer = true; // ECONNRESET/EPIPE: the server reset the connection; 'close' follows
    });
    this.socket.on('end', () => (this.closedByPeer = true));
    this.socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => {
        const out = [PREFACE];
        if (settings !== null) out.push(settingsFrame(settings));
        if (options.after) out.push(options.after);
        this.socket.write(Buffer.concat(out));
        resolve();
      });
      this.socket.once('error', reject);
    });
  }

  /** Writes raw bytes (frames built with the helpers above); false once the socket buffer is full. */
  write(...chunks: Buffer[]): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  }

  send(type: number, flags: number, streamId: number, payload: Buffer = EMPTY): boolean {
    return this.write(frame(type, flags, streamId, payload));
  }

  /** Waits for the server's first SETTINGS (ACKed automatically unless `autoAck` is off). */
  async handshake(timeoutMs = WAIT_MS): Promise<Map<number, number>> {
    await this.ready;
    await this.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0, timeoutMs, 'the server SETTINGS');
    return this.serverSettings!;
  }

  /**
   * The first frame received (already or later) that matches `predicate` and no earlier `next`
   * returned. Rejects once the connection closed without one, or after `timeoutMs`.
   */
  next(predicate: (f: Frame) => boolean, timeoutMs = WAIT_MS, what = 'a frame'): Promise<Frame> {
    return this.wait<Frame>(what, timeoutMs, () => {
      const f = this.frames.find((x) => !this.taken.has(x) && predicate(x));
      if (f) {
        this.taken.add(f);
        return { done: true, value: f };
      }
      if (this.closed) throw new Error(`connection closed before ${what}`);
      return { done: false };
    });
  }

  /** Resolves when a GOAWAY arrives or the connection closes, whichever is first. */
  goawayOrClose(timeoutMs = WAIT_MS): Promise<{ goaway: Goaway | undefined; closed: boolean }> {
    return this.wait<{ goaway: Goaway | undefined; closed: boolean }>('GOAWAY or close', timeoutMs, () =>
      this.goaway || this.closed ? { done: true, value: { goaway: this.goaway, closed: this.closed } } : { done: false },
    );
  }

  /** Resolves when the socket has closed (the server closing it, having sent GOAWAY or not). */
  whenClosed(timeoutMs = WAIT_MS): Promise<void> {
    return this.wait<void>('the connection to close', timeoutMs, () => (this.closed ? { done: true, value: undefined } : { done: false }));
  }

  /** Sends HEADERS (one frame, END_HEADERS) carrying `fields` on `streamId`, then `body` as DATA. */
  request(streamId: number, fields: readonly Field[], body?: Buffer, endStream = true): void {
    const hasBody = body !== undefined && body.length > 0;
    const flags = Flag.END_HEADERS | (endStream && !hasBody ? Flag.END_STREAM : 0);
    const out = [frame(FrameType.HEADERS, flags, streamId, headerBlock(fields))];
    if (hasBody) out.push(...dataFrames(streamId, body, endStream));
    this.write(...out);
  }

  /** The pseudo-headers of a request for `path` with `method`, then `extra` fields. */
  fields(path: string, extra: readonly Field[] = [], method = 'GET'): Field[] {
    return [[':method', method], [':scheme', 'http'], [':authority', this.authority], [':path', path], ...extra];
  }

  /** A GET of `path` on `streamId`, ending the stream. */
  get(streamId: number, path: string, extra: readonly Field[] = []): void {
    this.request(streamId, this.fields(path, extra));
  }

  /** Reads `streamId`'s response until END_STREAM, RST_STREAM or the connection closing. */
  response(streamId: number, timeoutMs = WAIT_MS): Promise<StreamResponse> {
    return this.wait<StreamResponse>(`the response on stream ${streamId}`, timeoutMs, () => {
      const r = this.collect(streamId);
      return r ? { done: true, value: r } : { done: false };
    });
  }

  /** A GET of `path` on `streamId` and its response. */
  async fetch(streamId: number, path: string, extra: readonly Field[] = []): Promise<StreamResponse> {
    this.get(streamId, path, extra);
    return this.response(streamId);
  }

  /** Resolves on 'drain' (true), or false if the connection closed or `timeoutMs` passed first. */
  drained(timeoutMs = WAIT_MS): Promise<boolean> {
    if (this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        resolve(v);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
    });
  }

  /** Destroys the socket (idempotent). */
  close(): void {
    this.socket.destroy();
  }

  private collect(streamId: number): StreamResponse | undefined {
    let status = 0;
    let fields: Field[] = [];
    let trailers: Field[] | undefined;
    const body: Buffer[] = [];
    for (const f of this.frames) {
      if (f.streamId !== streamId) continue;
      if (f.fields) {
        const s = Number(f.fields.find(([n]) => n === ':status')?.[1] ?? 0);
        if (status === 0 && s >= 100 && s < 200) continue; // informational
        if (status === 0) {
          status = s;
          fields = f.fields;
        } else trailers = f.fields;
        if (f.blockEndsStream) return { status, fields, body: Buffer.concat(body), ...(trailers ? { trailers } : {}), end: 'stream' };
      } else if (f.type === FrameType.DATA) {
        body.push(dataPayload(f));
        if (f.flags & Flag.END_STREAM) return { status, fields, body: Buffer.concat(body), end: 'stream' };
      } else if (f.type === FrameType.RST_STREAM) {
        return { status, fields, body: Buffer.concat(body), end: 'reset', rstCode: f.payload.readUInt32BE(0) };
      }
    }
    return this.closed ? { status, fields, body: Buffer.concat(body), end: 'closed' } : undefined;
  }

  private wait<T>(what: string, timeoutMs: number, check: () => { done: true; value: T } | { done: false }): Promise<T> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = () => {
        try {
          const r = check();
          if (!r.done) return false;
          resolve(r.value);
        } catch (e) {
          reject(e as Error);
        }
        clearTimeout(timer);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      if (!waiter()) this.waiters.add(waiter);
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) if (w()) this.waiters.delete(w);
  }

  private onData(chunk: Buffer): void {
    const frames = this.splitter.push(chunk);
    for (const f of frames) {
      this.onFrame(f);
      this.frames.push(f);
    }
    if (frames.length > 0) this.notify();
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.SETTINGS:
        if (f.flags & Flag.ACK) return;
        if (!this.serverSettings) {
          this.serverSettings = new Map();
          for (let i = 0; i + 6 <= f.payload.length; i += 6) this.serverSettings.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
        }
        if (this.autoAck) this.write(settingsFrame([], true));
        return;
      case FrameType.GOAWAY:
        this.goaway ??= { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString('latin1') };
        return;
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE:
        this.block = { streamId: f.streamId, endStream: f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0, parts: [headerFragment(f)] };
        break;
      case FrameType.CONTINUATION:
        this.block?.parts.push(f.payload);
        break;
      default:
        return;
    }
    if (!(f.flags & Flag.END_HEADERS) || !this.block) return;
    const fields: Field[] = [];
    try {
      this.decoder.decode(Buffer.concat(this.block.parts), 1 << 20, (name, value) => fields.push([name, value]));
    } catch (e) {
      this.hpackError ??= (e as Error).message;
    }
    f.fields = fields;
    f.blockEndsStream = this.block.endStream;
    this.block = undefined;
  }
}

/** Whole frames out of a byte stream: a frame may span reads, a read may hold many. */
export class FrameSplitter {
  private pending: Buffer = EMPTY;

  /** The frames `chunk` completes, in order (payloads copied: they outlive the read). */
  push(chunk: Buffer): Frame[] {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Frame[] = [];
    while (buf.length >= 9) {
      const length = buf.readUIntBE(0, 3);
      if (buf.length < 9 + length) break;
      out.push({ type: buf[3]!, flags: buf[4]!, streamId: buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(buf.subarray(9, 9 + length)) });
      buf = buf.subarray(9 + length);
    }
    this.pending = buf.length > 0 ? Buffer.from(buf) : EMPTY;
    return out;
  }
}

/** A HEADERS or PUSH_PROMISE frame's header block fragment: padding, priority fields and the promised stream id removed. */
export function headerFragment(f: Frame): Buffer {
  let p = f.payload;
  const pad = f.flags & Flag.PADDED ? p[0]! : 0;
  if (f.flags & Flag.PADDED) p = p.subarray(1);
  if (f.type === FrameType.HEADERS && f.flags & Flag.PRIORITY) p = p.subarray(5);
  if (f.type === FrameType.PUSH_PROMISE) p = p.subarray(4);
  return p.subarray(0, p.length - pad);
}

/** A DATA frame's data, padding removed. */
export function dataPayload(f: Frame): Buffer {
  if (!(f.flags & Flag.PADDED)) return f.payload;
  const pad = f.payload[0]!;
  return f.payload.subarray(1, f.payload.length - pad);
}

/** The error code of a RST_STREAM frame. */
export function rstCode(f: Frame): number {
  return f.payload.readUInt32BE(0);
}
