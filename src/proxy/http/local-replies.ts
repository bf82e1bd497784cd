// The one table turning a data-path failure into Envoy's response (HTTP status, response flag, body), and the HTTP → gRPC status mapping of local replies to gRPC requests.

/** Failures the router answers itself. */
export type LocalFailure =
  | 'no-route'
  | 'no-cluster'
  | 'no-healthy-upstream'
  | 'overflow'
  | 'connect-failure'
  | 'upstream-reset'
  | 'upstream-remote-reset'
  | 'upstream-timeout'
  | 'upstream-protocol-error'
  | 'fault-abort'
  | 'downstream-protocol-error'
  | 'direct-response';

export interface LocalReplyRule {
  status: number;
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
  'no-route': { status: 404, flag: 'NR', body: '' },
  'no-cluster': { status: 503, flag: 'NC', body: '' },
  'no-healthy-upstream': { status: 503, flag: 'UH', body: 'no healthy upstream' },
  overflow: { status: 503, flag: 'UO', body: `${RESET_PREFIX}overflow` },
  'connect-failure': { status: 503, flag: 'UF', body: `${RESET_PREFIX}connection failure` },
  'upstream-reset': { status: 503, flag: 'UC', body: `${RESET_PREFIX}connection termination` },
  'upstream-remote-reset': { status: 503, flag: 'UR', body: `${RESET_PREFIX}remote reset` },
  'upstream-timeout': { status: 504, flag: 'UT', body: 'upstream request timeout' },
  'upstream-protocol-error': { status: 502, flag: 'UPE', body: `${RESET_PREFIX}protocol error` },
  'fault-abort': { status: 503, flag: 'FI', body: 'fault filter abort' },
  'downstream-protocol-error': { status: 400, flag: 'DPE', body: 'Bad Request' },
  'direct-response': { status: 200, flag: '', body: '' },
});

/**
 * The gRPC status of a local reply to a gRPC request, from its HTTP status as Envoy maps it
 * (Grpc::Utility::httpToGrpcStatus): an upstream timeout (504) is UNAVAILABLE, not DEADLINE_EXCEEDED.
 */
export function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 200:
      return 0; // OK (a direct response)
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}
