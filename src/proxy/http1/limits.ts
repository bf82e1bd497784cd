// Size and count bounds of the HTTP/1.1 codec, with secure defaults (Envoy's where Envoy has one); every parser allocation is bounded by these.
import { MeshError } from '../../shared/errors.js';

export interface Http1Limits {
  /**
   * Bytes of the header section: the field lines and the empty line, not the request line (which
   * `maxUrlBytes` bounds) — for a response, status line included. Also bounds a chunked trailer
   * section. Envoy's `max_request_headers_kb` default is 60 KiB. Over it: 431.
   */
  readonly maxHeadBytes: number;
  /** Header fields per message (and per trailer section). Envoy's `max_headers_count` default is 100. Over it: 431. */
  readonly maxHeaders: number;
  /** Bytes of the request-target. Over it: 414. */
  readonly maxUrlBytes: number;
  /** Bytes of one chunk-size line including chunk extensions, which are parsed and discarded. */
  readonly maxChunkLineBytes: number;
  /** Body bytes per message (Content-Length or the sum of chunk sizes); Infinity: unbounded (streamed). Over it: 413. */
  readonly maxBodyBytes: number;
}

export const DEFAULT_HTTP1_LIMITS: Http1Limits = Object.freeze({
  maxHeadBytes: 60 * 1024,
  maxHeaders: 100,
  maxUrlBytes: 64 * 1024,
  maxChunkLineBytes: 4096,
  maxBodyBytes: Infinity,
});

/** Longest method token accepted: WebDAV's are the longest registered (≈16 bytes); 64 leaves room without letting a "method" be a URL. */
export const MAX_METHOD_BYTES = 64;

/**
 * Defaults overridden by `overrides`; throws MESH_INVALID_CONFIG for a bound that is not a positive
 * integer (maxBodyBytes may be Infinity). Call once per listener config, not per connection.
 */
export function http1Limits(overrides: Partial<Http1Limits> = {}): Http1Limits {
  const l: Http1Limits = { ...DEFAULT_HTTP1_LIMITS, ...overrides };
  for (const key of ['maxHeadBytes', 'maxHeaders', 'maxUrlBytes', 'maxChunkLineBytes'] as const) {
    const v = l[key];
    if (!Number.isInteger(v) || v < 1 || v > 16 * 1024 * 1024) throw new MeshError('MESH_INVALID_CONFIG', `http1 limit ${key} must be an integer in [1, 16 MiB], got ${v}`);
  }
  if (!(l.maxBodyBytes === Infinity || (Number.isSafeInteger(l.maxBodyBytes) && l.maxBodyBytes >= 0))) {
    throw new MeshError('MESH_INVALID_CONFIG', `http1 limit maxBodyBytes must be a non-negative integer or Infinity, got ${l.maxBodyBytes}`);
  }
  return Object.freeze(l);
}
