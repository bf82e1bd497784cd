// The decoder side of an HTTP connection manager's http_filters that can end a request before routing (JWT authentication, Istio's authn attributes, RBAC): what they see of a request and what they may answer.
import type { HeaderList } from '../http1/index.js';
import type { DownstreamSecurity } from '../security/tls-transport.js';

/**
 * One request as the filters see it, after path normalization: the same path the router matches
 * and the backend receives. Filters may edit `headers` (they go upstream) and record what they
 * learned in `metadata` (Envoy's dynamic metadata, by filter name) for later filters.
 */
export interface FilterRequest {
  readonly method: string;
  /** The normalized path without the query. */
  readonly path: string;
  /** The query string without `?` ('' when none). */
  readonly query: string;
  /** :authority / Host, as received. */
  readonly authority: string;
  readonly headers: HeaderList;
  readonly security: DownstreamSecurity;
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
  /** The TLS SNI of the connection, when known. */
  readonly serverName?: string;
  /** Dynamic metadata by filter name (`envoy.filters.http.jwt_authn`, `istio_authn`, …). */
  readonly metadata: Map<string, Record<string, unknown>>;
}

/** A filter's local reply: the request ends here and is never forwarded. */
export interface FilterReply {
  status: number;
  body: string;
  headers?: ReadonlyArray<readonly [string, string]>;
  /** Envoy's response flag for the access log and metrics (e.g. `UAEX` for an external/RBAC denial). */
  flag?: string;
  /** Envoy's %RESPONSE_CODE_DETAILS% (e.g. `rbac_access_denied_matched_policy[ns[foo]-policy[deny]-rule[0]]`, `jwt_authn_access_denied`). */
  details?: string;
}

/** undefined: continue with the next filter. */
export type FilterVerdict = FilterReply | undefined;

/** One compiled decoder filter; `decode` may be asynchronous (a JWKS fetch). It must never throw. */
export interface HttpDecoderFilter {
  readonly name: string;
  decode(request: FilterRequest): FilterVerdict | Promise<FilterVerdict>;
}
