// One request on an upstream connection, whatever its codec (HTTP/1.1 connection or HTTP/2 stream): what the router sends and the events it gets back.
import type * as net from 'node:net';
import type { HeaderList, ResponseHead } from '../http1/index.js';

/** An upstream connection turned into a byte tunnel (after a 101): its socket, and where its bytes and its close go. */
export interface UpstreamTunnel {
  readonly socket: net.Socket;
  onData: ((chunk: Buffer) => void) | null;
  onEnd: ((error: Error | undefined) => void) | null;
}

/**
 * What an upstream stream reports to the request that owns it. Bodies arrive as payload (no
 * HTTP/1.1 chunk framing). A response head's `framing` tells the downstream writer how the body
 * that follows is delimited: `length`, `none`, `until-close` (HTTP/1.1 upstream closes at the end)
 * or `chunked` (length unknown: an HTTP/1.1 writer chunk-encodes it).
 */
export interface UpstreamEvents {
  /** A 1xx response before the final one (100 Continue, 103 Early Hints). */
  interim(head: ResponseHead): void;
  head(head: ResponseHead): void;
  data(payload: Buffer): void;
  /** The response is complete; `trailers` when the upstream sent some (gRPC's grpc-status). */
  end(trailers: HeaderList | undefined): void;
  /**
   * No complete response will come: `reset` (the connection closed), `remote-reset` (the upstream
   * reset the HTTP/2 stream), `refused-stream` (HTTP/2 REFUSED_STREAM: the upstream did not process
   * it) or `protocol-error` (a malformed response).
   */
  failed(reason: UpstreamFailure): void;
  /** An upstream read is about to deliver events: what they write downstream may wait for the batch of I/O events to end, and leave in one syscall. */
  reading(): void;
}

export type UpstreamFailure = 'reset' | 'remote-reset' | 'refused-stream' | 'protocol-error';

export interface UpstreamStream {
  readonly protocol: 'http1' | 'http2';
  /**
   * Sends the request head. `bodyLength`: the payload's length when known, 0 for none, -1 when
   * unknown (HTTP/1.1 then chunk-encodes it). `mayHaveTrailers`: the request body may end with
   * trailers (an HTTP/2 client's), so an HTTP/2 stream keeps its end open until `sendEnd` says.
   * Events go to `events` from now until `release`.
   */
  sendHead(method: string, target: string, headers: HeaderList, bodyLength: number, events: UpstreamEvents, mayHaveTrailers?: boolean): void;
  /** Request payload; false when the connection's buffer is full (wait for `onDrain`). */
  sendData(payload: Buffer): boolean;
  onDrain(cb: () => void): void;
  /**
   * The request is complete. `trailers` go out on HTTP/2 (when the head said `mayHaveTrailers`);
   * an HTTP/1.1 upstream drops them, as Envoy does unless `enable_trailers` is set.
   */
  sendEnd(trailers?: HeaderList): void;
  /** Downstream back-pressure: stop and restart reading the response. */
  pause(): void;
  resume(): void;
  /** Hands the stream back to its pool: `reusable` when request and response both ended cleanly. Idempotent. */
  release(reusable: boolean): void;
  /** After a 101 on HTTP/1.1: the raw connection and the bytes after the head, for a tunnel (the stream is then spent). */
  detach(): { conn: UpstreamTunnel; rest: Buffer | undefined } | undefined;
}

/** Why no stream could be had: Envoy's `UF` (connection failure) and `UO` (overflow). */
export type PoolFailure = 'connect-failure' | 'connect-timeout' | 'overflow';

/** The connection pool of one upstream host, whatever its codec. */
export interface UpstreamPool {
  /** Calls `cb` exactly once with a stream or a failure; returns a cancel function for a request that gives up while it waits. */
  acquire(cb: (failure: PoolFailure | null, stream?: UpstreamStream) => void): () => void;
  /** Closes idle connections and refuses new work. */
  close(): void;
}
