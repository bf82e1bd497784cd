// Every way the HTTP/1.1 codec refuses input: one registry of codes with the status a listener answers, and the Envoy response-code detail it logs.

/** HTTP status the proxy answers a refused message with (502 for anything wrong in an upstream's response). */
export type Http1ErrorStatus = 400 | 413 | 414 | 431 | 501 | 502 | 505;

interface CodeInfo {
  /** Status when a downstream request is refused. Responses from upstreams always map to 502. */
  status: Exclude<Http1ErrorStatus, 502>;
  /** Envoy's `%RESPONSE_CODE_DETAILS%` for the same refusal, so access logs read like Envoy's. */
  details: string;
  message: string;
}

/**
 * The codes. Names follow Envoy's `http1.*` response code details where Envoy has one
 * (https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/response_code_details),
 * and are more specific where Envoy lumps refusals into `http1.codec_error`.
 */
export const HTTP1_ERROR_CODES = {
  'http1.bare_lf': { status: 400, details: 'http1.codec_error', message: 'line ends in LF without CR' },
  'http1.bare_cr': { status: 400, details: 'http1.codec_error', message: 'CR not followed by LF' },
  'http1.invalid_method': { status: 400, details: 'http1.codec_error', message: 'method is not a token or is not followed by one space' },
  'http1.invalid_url': { status: 400, details: 'http1.invalid_url', message: 'request-target is malformed or does not fit the method' },
  'http1.uri_too_long': { status: 414, details: 'http1.headers_too_large', message: 'request-target exceeds the URL length limit' },
  'http1.invalid_version': { status: 400, details: 'http1.codec_error', message: 'HTTP version is malformed' },
  'http1.unsupported_version': { status: 505, details: 'http1.codec_error', message: 'only HTTP/1.0 and HTTP/1.1 are supported' },
  'http1.invalid_status_line': { status: 400, details: 'http1.codec_error', message: 'status line is malformed' },
  'http1.invalid_header_name': { status: 400, details: 'http1.invalid_characters', message: 'header name is not a token or has no colon' },
  'http1.whitespace_before_colon': { status: 400, details: 'http1.invalid_characters', message: 'whitespace between header name and colon' },
  'http1.obs_fold': { status: 400, details: 'http1.codec_error', message: 'header line starts with whitespace (obsolete line folding)' },
  'http1.invalid_header_value': { status: 400, details: 'http1.invalid_characters', message: 'header value contains a control character' },
  'http1.headers_too_large': { status: 431, details: 'http1.headers_too_large', message: 'header section exceeds the size limit' },
  'http1.too_many_headers': { status: 431, details: 'http1.too_many_headers', message: 'more header fields than the limit' },
  'http1.missing_host': { status: 400, details: 'http1.codec_error', message: 'HTTP/1.1 request without a Host header' },
  'http1.duplicate_host': { status: 400, details: 'http1.codec_error', message: 'more than one Host header' },
  'http1.invalid_host': { status: 400, details: 'http1.invalid_authority', message: 'Host / authority is malformed' },
  'http1.invalid_content_length': { status: 400, details: 'http1.invalid_content_length', message: 'Content-Length is not a non-negative decimal integer' },
  'http1.conflicting_content_length': { status: 400, details: 'http1.invalid_content_length', message: 'Content-Length headers disagree' },
  'http1.content_length_and_chunked': { status: 400, details: 'http1.content_length_not_allowed', message: 'both Content-Length and Transfer-Encoding' },
  'http1.invalid_transfer_encoding': { status: 501, details: 'http1.invalid_transfer_encoding', message: 'Transfer-Encoding other than exactly "chunked"' },
  'http1.transfer_encoding_http10': { status: 400, details: 'http1.invalid_transfer_encoding', message: 'Transfer-Encoding in an HTTP/1.0 message' },
  'http1.body_disallowed': { status: 400, details: 'http1.body_disallowed', message: 'CONNECT request with a body' },
  'http1.body_too_large': { status: 413, details: 'request_payload_too_large', message: 'body exceeds the size limit' },
  'http1.invalid_chunk_size': { status: 400, details: 'http1.codec_error', message: 'chunk size is not hexadecimal' },
  'http1.chunk_size_overflow': { status: 400, details: 'http1.codec_error', message: 'chunk size overflows' },
  'http1.invalid_chunk_extension': { status: 400, details: 'http1.codec_error', message: 'chunk extension is malformed' },
  'http1.chunk_line_too_long': { status: 400, details: 'http1.codec_error', message: 'chunk size line (with extensions) exceeds the limit' },
  'http1.invalid_chunk_terminator': { status: 400, details: 'http1.codec_error', message: 'chunk data not followed by CRLF' },
  'http1.truncated_message': { status: 400, details: 'http1.codec_error', message: 'connection closed before the message ended' },
} as const satisfies Record<string, CodeInfo>;

export type Http1ErrorCode = keyof typeof HTTP1_ERROR_CODES;

/**
 * A refusal. Immutable and shared (one object per code and side), so refusing costs no
 * allocation; the message never echoes the input. After any refusal the connection's framing is
 * unknown: answer (`status`) and close.
 */
export interface Http1ParseError {
  readonly status: Http1ErrorStatus;
  readonly code: Http1ErrorCode;
  readonly details: string;
  readonly message: string;
}

export type Http1ErrorTable = Readonly<Record<Http1ErrorCode, Http1ParseError>>;

function errorTable(side: 'request' | 'response'): Http1ErrorTable {
  const t = {} as Record<Http1ErrorCode, Http1ParseError>;
  for (const code of Object.keys(HTTP1_ERROR_CODES) as Http1ErrorCode[]) {
    const info: CodeInfo = HTTP1_ERROR_CODES[code];
    t[code] = Object.freeze({
      status: side === 'request' ? info.status : 502,
      code,
      details: info.details,
      message: side === 'request' ? info.message : `upstream response: ${info.message}`,
    });
  }
  return Object.freeze(t);
}

/** Refusals of a downstream request (4xx/5xx as listed in HTTP1_ERROR_CODES). */
export const REQUEST_ERRORS: Http1ErrorTable = errorTable('request');
/** Refusals of an upstream response: all 502, like Envoy's upstream protocol errors. */
export const RESPONSE_ERRORS: Http1ErrorTable = errorTable('response');
