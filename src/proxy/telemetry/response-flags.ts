// Envoy's response flags: one bit each (Envoy's own bit values) and the `%RESPONSE_FLAGS%` short-code text.

/**
 * Envoy's `StreamInfo::ResponseFlag` bits, with Envoy's values, so a flags word means the same here,
 * in Envoy and in Istio's stats filter (which reads the raw `response.flags` attribute).
 * https://github.com/envoyproxy/envoy/blob/v1.14.0/include/envoy/stream_info/stream_info.h
 */
export const ResponseFlag = {
  /** LH: local service failed its health check (503). */
  FailedLocalHealthCheck: 0x1,
  /** UH: no healthy upstream host (503). */
  NoHealthyUpstream: 0x2,
  /** UT: upstream request timeout (504). */
  UpstreamRequestTimeout: 0x4,
  /** LR: connection local reset (503). */
  LocalReset: 0x8,
  /** UR: upstream remote reset (503). */
  UpstreamRemoteReset: 0x10,
  /** UF: upstream connection failure (503). */
  UpstreamConnectionFailure: 0x20,
  /** UC: upstream connection termination (503). */
  UpstreamConnectionTermination: 0x40,
  /** UO: upstream overflow, i.e. circuit breaking (503). */
  UpstreamOverflow: 0x80,
  /** NR: no route configured for the request (404), or no matching filter chain (TCP). */
  NoRouteFound: 0x100,
  /** DI: the request was delayed by fault injection. */
  DelayInjected: 0x200,
  /** FI: the request was aborted by fault injection. */
  FaultInjected: 0x400,
  /** RL: rate limited locally (429). */
  RateLimited: 0x800,
  /** UAEX: denied by the external authorization service. */
  UnauthorizedExternalService: 0x1000,
  /** RLSE: the rate limit service failed. */
  RateLimitServiceError: 0x2000,
  /** DC: downstream connection termination. */
  DownstreamConnectionTermination: 0x4000,
  /** URX: upstream retry limit (HTTP) or connect attempts (TCP) exceeded. */
  UpstreamRetryLimitExceeded: 0x8000,
  /** SI: stream idle timeout (408). */
  StreamIdleTimeout: 0x10000,
  /** IH: invalid `x-envoy-*` request header values (400). */
  InvalidEnvoyRequestHeaders: 0x20000,
  /** DPE: downstream HTTP protocol error. */
  DownstreamProtocolError: 0x40000,
  /** UMSDR: upstream max stream duration reached. */
  UpstreamMaxStreamDurationReached: 0x80000,
  /** RFCF: response served from the cache filter. */
  ResponseFromCacheFilter: 0x100000,
  /** NFCF: no filter config found within the warming deadline. */
  NoFilterConfigFound: 0x200000,
  /** DT: request or connection exceeded its max duration. */
  DurationTimeout: 0x400000,
  /** UPE: upstream HTTP protocol error. */
  UpstreamProtocolError: 0x800000,
  /** NC: no cluster found for the request. */
  NoClusterFound: 0x1000000,
  /** OM: terminated by the overload manager. */
  OverloadManager: 0x2000000,
} as const;

export type ResponseFlagName = keyof typeof ResponseFlag;

/**
 * Every flag with its short code, in Envoy's printing order: ascending bit, as Envoy's
 * `ResponseFlagUtils::toShortString` (and Istio's copy, `parseResponseFlag`, in
 * istio/proxy `extensions/common/util.cc`) test them.
 */
export const RESPONSE_FLAG_CODES: ReadonlyArray<{ readonly bit: number; readonly code: string; readonly name: ResponseFlagName }> = (
  [
    ['FailedLocalHealthCheck', 'LH'],
    ['NoHealthyUpstream', 'UH'],
    ['UpstreamRequestTimeout', 'UT'],
    ['LocalReset', 'LR'],
    ['UpstreamRemoteReset', 'UR'],
    ['UpstreamConnectionFailure', 'UF'],
    ['UpstreamConnectionTermination', 'UC'],
    ['UpstreamOverflow', 'UO'],
    ['NoRouteFound', 'NR'],
    ['DelayInjected', 'DI'],
    ['FaultInjected', 'FI'],
    ['RateLimited', 'RL'],
    ['UnauthorizedExternalService', 'UAEX'],
    ['RateLimitServiceError', 'RLSE'],
    ['DownstreamConnectionTermination', 'DC'],
    ['UpstreamRetryLimitExceeded', 'URX'],
    ['StreamIdleTimeout', 'SI'],
    ['InvalidEnvoyRequestHeaders', 'IH'],
    ['DownstreamProtocolError', 'DPE'],
    ['UpstreamMaxStreamDurationReached', 'UMSDR'],
    ['ResponseFromCacheFilter', 'RFCF'],
    ['NoFilterConfigFound', 'NFCF'],
    ['DurationTimeout', 'DT'],
    ['UpstreamProtocolError', 'UPE'],
    ['NoClusterFound', 'NC'],
    ['OverloadManager', 'OM'],
  ] as const
).map(([name, code]) => Object.freeze({ bit: ResponseFlag[name], code, name }));

/** Every bit this module knows; other bits are ignored when formatting. */
export const ALL_RESPONSE_FLAGS: number = RESPONSE_FLAG_CODES.reduce((all, f) => all | f.bit, 0);

const BIT_BY_CODE: ReadonlyMap<string, number> = new Map(RESPONSE_FLAG_CODES.map((f) => [f.code, f.bit]));

/** The bit for a short code (`"UH"`), or 0 for a code Envoy does not define. */
export function flagBit(code: string): number {
  return BIT_BY_CODE.get(code) ?? 0;
}

/** Bits from `%RESPONSE_FLAGS%` text (`"UH,URX"`; `"-"` or `""` is 0). Unknown codes are ignored. Not for the hot path. */
export function parseFlags(text: string): number {
  let bits = 0;
  if (text === '-' || text === '') return 0;
  for (const code of text.split(',')) bits |= flagBit(code.trim());
  return bits;
}

/** Distinct flag words remembered by `formatFlags`; a handful occur in practice. */
const FORMAT_CACHE_MAX = 256;
const formatted = new Map<number, string>();

/**
 * Envoy's `%RESPONSE_FLAGS%` text for a flags word: the short codes of the set bits, comma-joined in
 * Envoy's order, or `-` when none is set. Bits Envoy does not define are ignored (Envoy's formatter
 * does the same). Returns the same string object for the same word, so callers may key maps on it.
 */
export function formatFlags(bits: number): string {
  if (bits === 0) return '-';
  // Optimization: a flags word's text is computed once; the cache is bounded (2^26 words exist).
  const hit = formatted.get(bits);
  if (hit !== undefined) return hit;
  let text = '';
  for (const f of RESPONSE_FLAG_CODES) {
    if ((bits & f.bit) !== 0) text = text === '' ? f.code : `${text},${f.code}`;
  }
  if (text === '') text = '-';
  if (formatted.size < FORMAT_CACHE_MAX) formatted.set(bits, text);
  return text;
}
