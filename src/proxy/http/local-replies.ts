// The one table turning a data-path failure into Envoy's response: HTTP status, gRPC status, response flag and body.

/** Failures the router answers itself. */
export type LocalFailure =
  | 'no-route'
  | 'no-cluster'
  | 'no-healthy-upstream'
  | 'overflow'
  | 'connect-failure'
  | 'upstream-reset'
  | 'upstream-timeout'
  | 'upstream-protocol-error'
  | 'fault-abort'
  | 'downstream-protocol-error'
  | 'direct-response';

export interface LocalReplyRule {
  status: number;
  /** gRPC status for gRPC requests (UNAVAILABLE 14, UNIMPLEMENTED 12, DEADLINE_EXCEEDED 4, INTERNAL 13). */
  grpcStatus: number;
  /** Envoy's %RESPONSE_FLAGS% short code. */
  flag: string;
  body: string;
}

const RESET_PREFIX = 'upstream connect error or disconnect/reset before headers. reset reason: ';

/**
 * Envoy's bodies, word for word, because users grep for them
 * (https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/response_code_details).
 */
export const LOCAL_REPLIES: Readonly<Record<LocalFailure, LocalReplyRule>> = Object.freeze({
  'no-route': { status: 404, grpcStatus: 12, flag: 'NR', body: '' },
  'no-cluster': { status: 503, grpcStatus: 14, flag: 'NC', body: '' },
  'no-healthy-upstream': { status: 503, grpcStatus: 14, flag: 'UH', body: 'no healthy upstream' },
  overflow: { status: 503, grpcStatus: 14, flag: 'UO', body: `${RESET_PREFIX}overflow` },
  'connect-failure': { status: 503, grpcStatus: 14, flag: 'UF', body: `${RESET_PREFIX}connection failure` },
  'upstream-reset': { status: 503, grpcStatus: 14, flag: 'UC', body: `${RESET_PREFIX}connection termination` },
  'upstream-timeout': { status: 504, grpcStatus: 4, flag: 'UT', body: 'upstream request timeout' },
  'upstream-protocol-error': { status: 502, grpcStatus: 13, flag: 'UPE', body: `${RESET_PREFIX}protocol error` },
  'fault-abort': { status: 503, grpcStatus: 14, flag: 'FI', body: 'fault filter abort' },
  'downstream-protocol-error': { status: 400, grpcStatus: 13, flag: 'DPE', body: 'Bad Request' },
  'direct-response': { status: 200, grpcStatus: 0, flag: '', body: '' },
});
