// An HTTP/2 connection (RFC 9113) on a socket, either end: frames in and out, stream states, flow control both ways, HPACK, and the guards against an abusive peer (CONTINUATION, empty-frame, PRIORITY and control-frame floods, malformed messages). The server and client sessions add what only their side does.
import type * as net from 'node:net';
import { HeaderList } from '../http1/index.js';
import { TCHAR } from '../http1/chars.js';
import { flushAfterBatch } from '../io/flush-batch.js';
import { StreamTable } from './stream-table.js';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.js';
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  FRAME_HEADER_BYTES,
  Flag,
  FrameType,
  HTTP2_PREFACE,
  MAX_FRAME_SIZE_LIMIT,
  MAX_WINDOW,
  Setting,
  frame,
  frameU32,
  goawayFrame,
  settingsFrame,
  writeFrameHeader,
} from './frames.js';

/** What both ends configure. */
export interface Http2SessionOptions {
  /** Decoded bytes of a header list we accept (RFC 9113 §6.5.2 accounting). */
  maxHeaderListBytes: number;
  /** Close the session when it has had no stream for this long; 0: never. */
  idleTimeoutMs: number;
  /** Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
  initialStreamWindow: number;
  /** The connection's receive window. */
  connectionWindow: number;
}

/** What a stream tells its owner. `closed` comes once, when the stream ends for any reason (also after a normal finish). */
export interface Http2StreamListener {
  /** Payload received. */
  body(chunk: Buffer): void;
  /** The peer's side is complete; with its trailers, if it sent some. */
  bodyEnd(trailers: HeaderList | undefined): void;
  closed(code: number): void;
}

/** Fields HTTP/2 forbids in a message (RFC 9113 §8.2.2); `te` is allowed only as `trailers`. */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** Fields a message we send leaves behind (`host` travels as `:authority`). */
const NOT_SENT: ReadonlySet<string> = new Set([...CONNECTION_SPECIFIC, 'host']);
const NO_PSEUDO: readonly string[] = [];

/** Compressed bytes of one header block, over the header list limit, beyond which the peer is flooding (CONTINUATION, CVE-2024-27919). */
const HEADER_BLOCK_SLACK = 1.25;
/** Frames with an empty payload in a row (empty DATA, empty CONTINUATION) before the peer counts as flooding (CVE-2019-9518). */
const MAX_CONSECUTIVE_EMPTY_FRAMES = 10;
/** PRIORITY frames per opened stream (Envoy's max_inbound_priority_frames_per_stream). */
const MAX_PRIORITY_PER_STREAM = 100;
/** Bytes the socket may hold unsent before a peer that is not reading gets no more control-frame answers (CVE-2019-9512/9515). */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;
/** Malformed messages, as a share of the streams opened, after the first 100: then the connection goes (CVE-2019-9514). */
const MALFORMED_GUARD_MIN = 100;
/** Stream ids we reset, remembered so the frames the peer sent before seeing our RST_STREAM are ignored (RFC 9113 §5.1). */
const RECENT_RESETS = 128;
/** A socket backlog at which writes report back-pressure. */
const WRITE_HIGH_WATER = 64 * 1024;

const S_PREFACE = 0;
const S_SETTINGS = 1;
const S_OPEN = 2;
const S_CLOSED = 3;

const EMPTY = Buffer.alloc(0);

/** A connection-level protocol error: GOAWAY with `code`. */
export class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/**
 * One HTTP/2 connection. A server session first reads the client preface; a client session writes
 * it. Writes made while one event is handled leave in one socket write, at the end of it (a microtask).
 */
export abstract class Http2Session<S extends Http2Stream> {
  private state: number;
  private pending: Buffer | undefined;
  protected readonly decoder = new HpackDecoder();
  private readonly encoder = new HpackEncoder();
  readonly streams = new StreamTable<S>();
  /** The last stream the peer opened that we took (the GOAWAY we send names it). */
  protected lastPeerStreamId = 0;
  /** Stream ids we reset recently (insertion order = age). */
  protected readonly recentResets = new Set<number>();
  /** A header block being assembled from HEADERS + CONTINUATION. */
  private block: { streamId: number; flags: number; parts: Buffer[]; bytes: number } | undefined;
  private readonly maxBlockBytes: number;
  private emptyFrames = 0;
  private priorityFrames = 0;
  /** Streams opened, by either end. */
  protected opened = 0;
  private malformed = 0;
  /** Our receive window for the connection, and bytes consumed since we last gave them back. */
  private recvWindow: number;
  private recvUnacked = 0;
  /** The peer's windows and limits for what we send. */
  sendWindow = DEFAULT_WINDOW;
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until it says). */
  peerMaxConcurrentStreams = 2 ** 31 - 1;
  /** GOAWAY sent (shutdown): no new streams. */
  protected goingAway = false;
  /** The peer sent GOAWAY: it opens, or takes, no new streams. */
  protected peerGoingAway = false;
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushQueued = false;
  /** Streams with DATA waiting for window, in the order they started waiting. */
  private readonly blocked = new Set<S>();
  /** Streams whose writer waits for the socket to drain. */
  private readonly drainWaiters = new Set<S>();
  private idleTimer: NodeJS.Timeout | undefined;
  private lastActive = Date.now();
  // Scratch arrays for encoding a header block (reused: one encode at a time).
  private readonly names: string[] = [];
  private readonly values: string[] = [];

  constructor(
    protected readonly socket: net.Socket,
    protected readonly options: Http2SessionOptions,
    /** A server reads the client preface first; a client sends it. */
    readonly isServer: boolean,
    settings: ReadonlyArray<readonly [number, number]>,
  ) {
    this.state = isServer ? S_PREFACE : S_SETTINGS;
    this.recvWindow = options.connectionWindow;
    this.maxBlockBytes = Math.ceil(options.maxHeaderListBytes * HEADER_BLOCK_SLACK) + 1024;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onSocketDrain());
    socket.on('error', () => undefined); // 'close' follows
    socket.once('close', () => this.onClose());
    if (!isServer) this.queue(HTTP2_PREFACE);
    this.queue(settingsFrame(settings));
    if (options.connectionWindow > DEFAULT_WINDOW) this.queue(frameU32(FrameType.WINDOW_UPDATE, 0, options.connectionWindow - DEFAULT_WINDOW));
    if (options.idleTimeoutMs > 0) this.armIdle(options.idleTimeoutMs);
    socket.resume();
  }

  get closed(): boolean {
    return this.state === S_CLOSED;
  }

  /** Graceful shutdown: GOAWAY naming the last stream taken; streams in flight finish, then the socket closes. */
  shutdown(): void {
    if (this.state === S_CLOSED || this.goingAway) return;
    this.goingAway = true;
    this.queue(goawayFrame(this.lastPeerStreamId, ErrorCode.NO_ERROR));
    this.closeIfDone();
  }

  /** Closes the connection now with GOAWAY `code`; streams in flight are reset. */
  terminate(code: number): void {
    if (this.state === S_CLOSED) return;
    this.queue(goawayFrame(this.lastPeerStreamId, code));
    this.closeSocket();
    this.closeStreams(ErrorCode.CANCEL);
  }

  /** Writes what is queued and ends the socket; a peer that never reads (so never sees the FIN) loses it a second later. */
  private closeSocket(): void {
    this.flush();
    this.state = S_CLOSED;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  // ---- input ----

  private onData(chunk: Buffer): void {
    if (this.state === S_CLOSED) return;
    let data = chunk;
    if (this.pending) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let pos = 0;
    try {
      if (this.state === S_PREFACE) {
        if (data.length < HTTP2_PREFACE.length) {
          if (data.compare(HTTP2_PREFACE, 0, data.length, 0, data.length) !== 0) return this.abandon();
          this.pending = data;
          return;
        }
        if (data.compare(HTTP2_PREFACE, 0, HTTP2_PREFACE.length, 0, HTTP2_PREFACE.length) !== 0) return this.abandon();
        pos = HTTP2_PREFACE.length;
        this.state = S_SETTINGS;
      }
      while (data.length - pos >= FRAME_HEADER_BYTES) {
        const length = (data[pos]! << 16) | (data[pos + 1]! << 8) | data[pos + 2]!;
        if (length > DEFAULT_MAX_FRAME_SIZE) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'frame larger than SETTINGS_MAX_FRAME_SIZE');
        if (data.length - pos < FRAME_HEADER_BYTES + length) break;
        const type = data[pos + 3]!;
        const flags = data[pos + 4]!;
        const id = data.readUInt32BE(pos + 5) & 0x7fffffff;
        const start = pos + FRAME_HEADER_BYTES;
        pos = start + length;
        this.onFrame(type, flags, id, data, start, length);
        if (this.state === S_CLOSED) return;
      }
    } catch (err) {
      if (err instanceof ConnectionError) return this.terminate(err.code);
      if (err instanceof HpackError) return this.terminate(ErrorCode.COMPRESSION_ERROR);
      // A defect behind this connection (the router, a filter) costs this connection, not every
      // connection of the process; it is reported as a process warning so it is not lost.
      process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'MELTEMI_HTTP2_INTERNAL' });
      return this.terminate(ErrorCode.INTERNAL_ERROR);
    }
    if (pos < data.length) this.pending = data.subarray(pos);
  }

  private onFrame(type: number, flags: number, id: number, data: Buffer, at: number, length: number): void {
    if (this.state === S_SETTINGS) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
      this.state = S_OPEN;
    }
    if (this.block && type !== FrameType.CONTINUATION) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a header block was interrupted');
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, id, data, at, length);
      case FrameType.HEADERS:
        return this.onHeaders(flags, id, data, at, length);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, id, data, at, length);
      case FrameType.PRIORITY:
        if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (length !== 5) return this.resetStream(id, ErrorCode.FRAME_SIZE_ERROR);
        if (++this.priorityFrames > MAX_PRIORITY_PER_STREAM * (this.opened + 1)) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'PRIORITY flood');
        return;
      case FrameType.RST_STREAM:
        return this.onRstStream(id, data, at, length);
      case FrameType.SETTINGS:
        return this.onSettings(flags, id, data, at, length);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a client cannot push');
      case FrameType.PING:
        if (length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING payload is 8 bytes');
        if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if ((flags & Flag.ACK) === 0) this.queueControl(frame(FrameType.PING, Flag.ACK, 0, data.subarray(at, at + 8)));
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (length < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes');
        this.peerGoingAway = true;
        this.onGoaway(data.readUInt32BE(at) & 0x7fffffff);
        this.closeIfDone();
        return;
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(id, data, at, length);
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return;
    }
  }

  private onDataFrame(flags: number, id: number, data: Buffer, at: number, length: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    if (this.isIdle(id)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on an idle stream');
    this.recvWindow -= length;
    if (this.recvWindow < 0) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window exceeded');
    // The connection window is given back as bytes arrive; each stream's own window bounds what is held for it.
    this.consumed(length);
    const payload = this.unpad(flags, data, at, length);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (payload.length === 0 && !endStream) this.countEmpty();
    else this.emptyFrames = 0;
    const s = this.streams.get(id);
    if (!s || s.remoteEnded) {
      if (!this.recentResets.has(id)) this.resetStream(id, ErrorCode.STREAM_CLOSED);
      return;
    }
    s.recvWindow -= length;
    if (s.recvWindow < 0) return this.resetStream(id, ErrorCode.FLOW_CONTROL_ERROR);
    s.received += payload.length;
    if (s.contentLength >= 0 && (s.received > s.contentLength || (endStream && s.received !== s.contentLength))) return this.malformedStream(s);
    s.receive(payload, length, endStream);
  }

  private onHeaders(flags: number, id: number, data: Buffer, at: number, length: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let fragment = this.unpad(flags, data, at, length);
    if ((flags & Flag.PRIORITY) !== 0) {
      if (fragment.length < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS priority fields missing');
      fragment = fragment.subarray(5);
    }
    if (fragment.length === 0 && (flags & Flag.END_HEADERS) === 0) this.countEmpty();
    if ((flags & Flag.END_HEADERS) !== 0) return this.onHeaderBlock(id, flags, fragment);
    this.block = { streamId: id, flags, parts: [fragment], bytes: fragment.length };
    if (fragment.length > this.maxBlockBytes) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large');
  }

  private onContinuation(flags: number, id: number, data: Buffer, at: number, length: number): void {
    const b = this.block;
    if (!b || b.streamId !== id) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without a header block');
    if (length === 0 && (flags & Flag.END_HEADERS) === 0) this.countEmpty();
    b.bytes += length;
    if (b.bytes > this.maxBlockBytes) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large');
    b.parts.push(data.subarray(at, at + length));
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.block = undefined;
    this.onHeaderBlock(id, b.flags, b.parts.length === 1 ? b.parts[0]! : Buffer.concat(b.parts, b.bytes));
  }

  /** A complete header block (HEADERS plus any CONTINUATION) on stream `id`. */
  protected abstract onHeaderBlock(id: number, flags: number, block: Buffer): void;

  /** Whether `id` names a stream that was never opened (frames other than HEADERS and PRIORITY on it are a protocol error). */
  protected abstract isIdle(id: number): boolean;

  private onRstStream(id: number, data: Buffer, at: number, length: number): void {
    if (length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload is 4 bytes');
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (this.isIdle(id)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const s = this.streams.get(id);
    if (!s) return;
    s.resetByPeer = true;
    this.closeStream(s, data.readUInt32BE(at));
    this.onPeerReset(s);
  }

  /** The peer reset stream `s` (already closed). */
  protected onPeerReset(_s: S): void {
    // nothing by default
  }

  private onSettings(flags: number, id: number, data: Buffer, at: number, length: number): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & Flag.ACK) !== 0) {
      if (length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS payload not a multiple of 6');
    for (let p = at; p < at + length; p += 6) {
      const key = data.readUInt16BE(p);
      const value = data.readUInt32BE(p + 2);
      switch (key) {
        case Setting.HEADER_TABLE_SIZE:
          this.encoder.setMaxTableSize(value);
          break;
        case Setting.ENABLE_PUSH:
          if (value > 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH must be 0 or 1');
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'a stream window above 2^31-1');
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          this.peerMaxFrameSize = value;
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.peerMaxConcurrentStreams = value;
          break;
        default:
          // MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.
          break;
      }
    }
    this.queueControl(frame(FrameType.SETTINGS, Flag.ACK, 0));
    this.unblock();
    this.onRemoteSettings();
  }

  private onWindowUpdate(id: number, data: Buffer, at: number, length: number): void {
    if (length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload is 4 bytes');
    const increment = data.readUInt32BE(at) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      this.unblock();
      return;
    }
    if (this.isIdle(id)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
    const s = this.streams.get(id);
    if (!s) return;
    if (increment === 0) return this.resetStream(id, ErrorCode.PROTOCOL_ERROR);
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW) return this.resetStream(id, ErrorCode.FLOW_CONTROL_ERROR);
    if (this.blocked.has(s)) this.unblock();
  }

  protected unpad(flags: number, data: Buffer, at: number, length: number): Buffer {
    if ((flags & Flag.PADDED) === 0) return data.subarray(at, at + length);
    if (length < 1) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PADDED frame without its pad length');
    const pad = data[at]!;
    if (pad >= length) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'padding longer than the frame');
    return data.subarray(at + 1, at + length - pad);
  }

  protected countEmpty(): void {
    if (++this.emptyFrames > MAX_CONSECUTIVE_EMPTY_FRAMES) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'empty frame flood');
  }

  /** Connection-window bytes the client may send again. */
  private consumed(n: number): void {
    this.recvUnacked += n;
    if (this.recvUnacked >= this.options.connectionWindow >>> 1) {
      this.queue(frameU32(FrameType.WINDOW_UPDATE, 0, this.recvUnacked));
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
  }

  /** A malformed message (RFC 9113 §8.1.1): the stream is reset; a peer that keeps sending them loses the connection. */
  protected malformedStream(s: S): void {
    this.malformed++;
    s.reset(ErrorCode.PROTOCOL_ERROR);
    if (this.malformed > MALFORMED_GUARD_MIN && this.malformed * 2 > this.opened) this.terminate(ErrorCode.ENHANCE_YOUR_CALM);
  }

  /** The peer sent GOAWAY naming `lastStreamId`, the last of our streams it will process. */
  protected onGoaway(_lastStreamId: number): void {
    // nothing by default
  }

  /** The peer's SETTINGS were applied. */
  protected onRemoteSettings(): void {
    // nothing by default
  }

  // ---- streams ----

  /** Resets stream `id` (open or not): RST_STREAM, and the stream, if open, is closed. */
  resetStream(id: number, code: number): void {
    const s = this.streams.get(id);
    this.rememberReset(id);
    this.queueControl(frameU32(FrameType.RST_STREAM, id, code));
    if (s) this.closeStream(s, code);
  }

  private rememberReset(id: number): void {
    this.recentResets.add(id);
    if (this.recentResets.size > RECENT_RESETS) this.recentResets.delete(this.recentResets.values().next().value!);
  }

  /** The stream is over: forgotten, its owner told once. */
  closeStream(s: S, code: number): void {
    if (s.isClosed) return;
    s.isClosed = true;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.drainWaiters.delete(s);
    this.lastActive = Date.now();
    s.listener?.closed(code);
    s.listener = undefined;
    this.closeIfDone();
  }

  private closeStreams(code: number): void {
    for (const s of this.streams.values()) this.closeStream(s, code);
  }

  protected closeIfDone(): void {
    if ((this.goingAway || this.peerGoingAway) && this.streams.size === 0 && this.state !== S_CLOSED) this.closeSocket();
  }

  // ---- output ----

  /** Queues a frame for the end of the current event. */
  queue(buf: Buffer): void {
    if (this.state === S_CLOSED) return;
    this.out.push(buf);
    this.outBytes += buf.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      flushAfterBatch(this);
    }
  }

  /** Queues a frame that answers the client (ACKs, resets); a client that sends them without reading what they produce is cut off. */
  protected queueControl(buf: Buffer): void {
    if (this.socket.writableLength + this.outBytes > MAX_UNSENT_BYTES) this.terminate(ErrorCode.ENHANCE_YOUR_CALM);
    else this.queue(buf);
  }

  flush(): void {
    this.flushQueued = false;
    const out = this.out;
    if (out.length === 0) return;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (this.socket.destroyed) return;
    // One buffer, one write syscall: small frames are copied together (cheaper than writev's bookkeeping).
    if (out.length === 1) this.socket.write(out[0]!);
    else if (bytes <= 256 * 1024) this.socket.write(Buffer.concat(out, bytes));
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
  }

  /** The socket holds too much unsent: writers should wait for 'drain'. */
  congested(): boolean {
    return this.socket.writableLength + this.outBytes > WRITE_HIGH_WATER;
  }

  waitDrain(s: S): void {
    this.drainWaiters.add(s);
  }

  waitForWindow(s: S): void {
    this.blocked.add(s);
  }

  /** Window opened: streams waiting for it send what they can, in the order they waited. */
  private unblock(): void {
    for (const s of this.blocked) {
      if (this.sendWindow <= 0) break;
      if (s.sendWindow <= 0) continue;
      this.blocked.delete(s);
      s.sendQueued();
    }
  }

  private onSocketDrain(): void {
    if (this.drainWaiters.size === 0) return;
    const waiting = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const s of waiting) s.drained();
  }

  /**
   * Encodes a header block into HEADERS (+ CONTINUATION) frames: `pseudo` (name, value, name,
   * value…) first, then `fields` without what HTTP/2 does not carry. Returns the fields' size.
   */
  writeHeaders(id: number, pseudo: readonly string[], fields: HeaderList | undefined, endStream: boolean): number {
    const names = this.names;
    const values = this.values;
    // The scratch arrays are overwritten up to `count`, never shortened (a length change is a runtime call).
    let count = 0;
    for (let i = 0; i + 1 < pseudo.length; i += 2) {
      names[count] = pseudo[i]!;
      values[count++] = pseudo[i + 1]!;
    }
    let size = 0;
    if (fields) {
      const ln = fields.lowerNames;
      const vs = fields.values;
      for (let i = 0; i < ln.length; i++) {
        const n = ln[i]!;
        if (NOT_SENT.has(n) || n.charCodeAt(0) === 0x3a) continue;
        if (n === 'te' && vs[i]!.toLowerCase() !== 'trailers') continue;
        names[count] = n;
        values[count++] = vs[i]!;
        size += n.length + vs[i]!.length;
      }
    }
    const block = this.encoder.encode(names, values, count);
    const max = this.peerMaxFrameSize;
    const endFlag = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) {
      const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
      writeFrameHeader(f, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS | endFlag, id);
      block.copy(f, FRAME_HEADER_BYTES);
      this.queue(f);
      return size;
    }
    for (let p = 0; p < block.length; p += max) {
      const part = block.subarray(p, Math.min(block.length, p + max));
      const last = p + max >= block.length;
      const type = p === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      this.queue(frame(type, (last ? Flag.END_HEADERS : 0) | (p === 0 ? endFlag : 0), id, part));
    }
    return size;
  }

  /** Stream-window bytes the peer may send again (after the owner took them). */
  giveBack(s: S, n: number): void {
    s.recvUnacked += n;
    if (!s.remoteEnded && s.recvUnacked >= this.options.initialStreamWindow >>> 1) {
      this.queue(frameU32(FrameType.WINDOW_UPDATE, s.id, s.recvUnacked));
      s.recvWindow += s.recvUnacked;
      s.recvUnacked = 0;
    }
  }

  // ---- lifecycle ----

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.state === S_CLOSED) return;
      const idleFor = Date.now() - this.lastActive;
      if (this.streams.size === 0 && idleFor >= ms) return this.shutdown();
      this.armIdle(this.streams.size === 0 ? ms - idleFor : ms);
    }, ms);
    this.idleTimer.unref();
  }

  /** Bytes that are not HTTP/2: dropped without a word. */
  private abandon(): void {
    this.state = S_CLOSED;
    this.socket.destroy();
  }

  private onClose(): void {
    this.state = S_CLOSED;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.out = [];
    this.outBytes = 0;
    this.closeStreams(ErrorCode.CANCEL);
  }
}

/**
 * One stream, either end. Its owner sends with `write` and `end`; what the peer sends arrives
 * through its listener. Writes wait for flow-control window and, when the socket backs up, for drain.
 */
export class Http2Stream {
  listener: Http2StreamListener | undefined;
  headersSent = false;
  /** The stream ended with the peer's RST_STREAM (or, on a client, the GOAWAY that left it unprocessed). */
  resetByPeer = false;
  /** The peer sent END_STREAM (or the stream is refused). */
  remoteEnded = false;
  /** We sent END_STREAM. */
  localEnded = false;
  isClosed = false;
  contentLength = -1;
  received = 0;
  recvWindow: number;
  recvUnacked = 0;
  sendWindow: number;
  readonly openedAt = Date.now();
  private paused = false;
  private held: { chunk: Buffer; length: number; end: boolean; trailers?: HeaderList }[] | undefined;
  /** DATA not yet sent for want of window. */
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  /** The end waits behind queued DATA: trailers to send (an empty list: none). */
  private endPending: HeaderList | undefined;
  private drainCallbacks: (() => void)[] = [];

  constructor(
    protected readonly session: Http2Session<Http2Stream>,
    readonly id: number,
    recvWindow: number,
    sendWindow: number,
  ) {
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  // ---- receive side (called by the session) ----

  receive(chunk: Buffer, frameLength: number, end: boolean): void {
    if (this.paused) {
      (this.held ??= []).push({ chunk, length: frameLength, end });
      if (end) this.remoteEnded = true;
      return;
    }
    if (end) this.remoteEnded = true;
    if (chunk.length > 0) this.listener?.body(chunk);
    if (end) this.ended(undefined);
    else this.session.giveBack(this, frameLength);
  }

  receiveTrailers(trailers: HeaderList): void {
    this.remoteEnded = true;
    if (this.paused) {
      (this.held ??= []).push({ chunk: EMPTY, length: 0, end: true, trailers });
      return;
    }
    this.ended(trailers);
  }

  private ended(trailers: HeaderList | undefined): void {
    this.listener?.bodyEnd(trailers);
    if (this.localEnded) this.session.closeStream(this, ErrorCode.NO_ERROR);
  }

  /** Stops delivering what the peer sends: no window is given back, so the peer stops within one window. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = undefined;
    if (!held) return;
    for (let i = 0; i < held.length && !this.isClosed; i++) {
      const h = held[i]!;
      if (this.paused) {
        (this.held ??= []).push(...held.slice(i));
        return;
      }
      if (h.chunk.length > 0) this.listener?.body(h.chunk);
      if (h.end) this.ended(h.trailers);
      else this.session.giveBack(this, h.length);
    }
  }

  // ---- send side ----

  /** Response payload; false when the writer should wait for `onDrain`. */
  write(payload: Buffer): boolean {
    if (this.isClosed || this.localEnded || this.endPending) return true;
    if (this.queuedBytes > 0) {
      this.queued.push(payload);
      this.queuedBytes += payload.length;
      return false;
    }
    const rest = this.sendData(payload, 0, false);
    if (rest < payload.length) {
      this.queued.push(rest === 0 ? payload : payload.subarray(rest));
      this.queuedBytes += payload.length - rest;
      this.session.waitForWindow(this);
      return false;
    }
    if (this.session.congested()) {
      this.session.waitDrain(this);
      return false;
    }
    return true;
  }

  onDrain(cb: () => void): void {
    this.drainCallbacks.push(cb);
  }

  /** Ends the response: trailers (HEADERS with END_STREAM) or an empty END_STREAM DATA frame, after any DATA still waiting for window. */
  end(trailers: HeaderList | undefined): void {
    if (this.isClosed || this.localEnded || this.endPending) return;
    if (this.queuedBytes > 0) {
      this.endPending = trailers ?? new HeaderList();
      return;
    }
    this.finish(trailers);
  }

  reset(code: number): void {
    if (this.isClosed) return;
    this.session.resetStream(this.id, code);
  }

  /** Sends DATA from payload[from..] as window allows; returns how far it got. */
  private sendData(payload: Buffer, from: number, end: boolean): number {
    const s = this.session;
    let at = from;
    while (at < payload.length) {
      const room = Math.min(this.sendWindow, s.sendWindow, s.peerMaxFrameSize);
      if (room <= 0) break;
      const n = Math.min(room, payload.length - at);
      const last = end && at + n === payload.length;
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(header, 0, n, FrameType.DATA, last ? Flag.END_STREAM : 0, this.id);
      s.queue(header);
      s.queue(at === 0 && n === payload.length ? payload : payload.subarray(at, at + n));
      this.sendWindow -= n;
      s.sendWindow -= n;
      at += n;
    }
    return at;
  }

  /** Window opened: send what was queued; when all of it is out, the end that waited and the writer's drain. */
  sendQueued(): void {
    while (this.queued.length > 0) {
      const head = this.queued[0]!;
      const sent = this.sendData(head, 0, false);
      this.queuedBytes -= sent;
      if (sent < head.length) {
        this.queued[0] = head.subarray(sent);
        this.session.waitForWindow(this);
        return;
      }
      this.queued.shift();
    }
    if (this.endPending) {
      const t = this.endPending;
      this.endPending = undefined;
      this.finish(t.length > 0 ? t : undefined);
    }
    if (this.session.congested()) this.session.waitDrain(this);
    else this.drained();
  }

  drained(): void {
    const cbs = this.drainCallbacks;
    if (cbs.length === 0) return;
    this.drainCallbacks = [];
    for (const cb of cbs) cb();
  }

  protected finish(trailers: HeaderList | undefined): void {
    if (trailers && trailers.length > 0) this.session.writeHeaders(this.id, NO_PSEUDO, trailers, true);
    else {
      const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(f, 0, 0, FrameType.DATA, Flag.END_STREAM, this.id);
      this.session.queue(f);
    }
    this.localEnd();
  }

  protected localEnd(): void {
    this.localEnded = true;
    if (this.remoteEnded) this.session.closeStream(this, ErrorCode.NO_ERROR);
    // A server's response is complete before the request: the client is told to stop sending (RFC 9113 §8.1).
    else if (this.session.isServer) this.session.resetStream(this.id, ErrorCode.NO_ERROR);
  }
}


/** A `content-length` value, checked against the length an earlier field gave (-1: none): the length, or undefined when it is not a number or disagrees. */
export function contentLengthValue(value: string, previous: number): number | undefined {
  if (!/^\d{1,15}$/.test(value)) return undefined;
  const n = Number(value);
  return previous >= 0 && n !== previous ? undefined : n;
}

/** A lower-case token (RFC 9113 §8.2.1: upper case in a field name is malformed). */
export function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}
