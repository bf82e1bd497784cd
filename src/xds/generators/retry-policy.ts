// VirtualService retries → Envoy RetryPolicy, with Istio's default policy when none is given.
import { any, durationFrom, Filters, struct, uint32, type Msg } from './envoy-values.js';
import type { HTTPRetry } from './vs-types.js';

/** Istio's retry conditions when a route sets none. */
export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
export const DEFAULT_RETRY_ATTEMPTS = 2;
/** How many times Envoy re-picks a host to avoid ones already tried (Istio's fixed value). */
const HOST_SELECTION_RETRY_MAX_ATTEMPTS = 5;

/** Status codes Go's net/http names: Istio treats a retryOn token as a status code only when it is one. */
const KNOWN_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405,
  406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504,
  505, 506, 507, 508, 510, 511,
]);

/**
 * Istio's default: 2 retries on connect failures, refused streams, `unavailable`/`cancelled` gRPC
 * statuses and HTTP 503, preferring hosts not tried yet.
 */
export function defaultRetryPolicy(): Msg {
  return {
    retryOn: DEFAULT_RETRY_ON,
    numRetries: uint32(DEFAULT_RETRY_ATTEMPTS),
    retryHostPredicate: [{ name: Filters.previousHosts.name, typedConfig: any(Filters.previousHosts.type) }],
    hostSelectionRetryMaxAttempts: HOST_SELECTION_RETRY_MAX_ATTEMPTS,
    retriableStatusCodes: [503],
  };
}

/** Splits `retryOn` into Envoy conditions and status codes. */
export function parseRetryOn(retryOn: string): { retryOn: string; codes: number[] } {
  const conditions: string[] = [];
  const codes: number[] = [];
  for (const raw of retryOn.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const n = /^[0-9]+$/.test(part) ? Number(part) : NaN;
    if (KNOWN_STATUS.has(n)) codes.push(n);
    else conditions.push(part);
  }
  return { retryOn: conditions.join(','), codes };
}

/**
 * The route's retry policy: Istio's default when `retries` is absent, none when `attempts` ≤ 0,
 * otherwise the default with `attempts`, `perTryTimeout` and `retryOn` replaced. Status codes in
 * `retryOn` become retriable status codes, and `retriable-status-codes` is added to the conditions
 * so that Envoy actually retries on them (Istio 1.6 forgot this; later releases add it too).
 * `retryRemoteLocalities` enables the previous-priorities retry priority.
 */
export function retryPolicy(r: HTTPRetry | undefined): Msg | undefined {
  if (!r) return defaultRetryPolicy();
  if (r.attempts === undefined || r.attempts <= 0) return undefined;
  const out = defaultRetryPolicy();
  out.numRetries = uint32(r.attempts);
  if (r.retryOn !== undefined && r.retryOn !== '') {
    const parsed = parseRetryOn(r.retryOn);
    let conditions = parsed.retryOn;
    if (parsed.codes.length > 0 && !conditions.split(',').includes('retriable-status-codes')) conditions = conditions === '' ? 'retriable-status-codes' : `${conditions},retriable-status-codes`;
    out.retryOn = conditions;
    if (parsed.codes.length > 0) out.retriableStatusCodes = parsed.codes;
    else delete out.retriableStatusCodes;
  }
  const perTry = durationFrom(r.perTryTimeout);
  if (perTry) out.perTryTimeout = perTry;
  if (r.retryRemoteLocalities === true) {
    // Carried as a TypedStruct (JSON config plus the real type URL), which Envoy unpacks into the
    // extension's message; the control plane then needs no compiled copy of that proto.
    out.retryPriority = {
      name: Filters.previousPriorities.name,
      typedConfig: any('xds.type.v3.TypedStruct', { typeUrl: `type.googleapis.com/${Filters.previousPriorities.type}`, value: struct({ update_frequency: 2 }) }),
    };
  }
  return out;
}
