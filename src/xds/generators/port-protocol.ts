// How a port's declared protocol decides the listener stack (HCM or tcp_proxy) and the upstream codec (Istio's protocol.Instance helpers).
import { isHttpProtocol, parseProtocol, type Protocol } from '../../api/kinds/networking-types.js';

export type { Protocol };

/** HTTP, HTTP2, gRPC, gRPC-Web, HTTP_PROXY: routed by an HTTP connection manager. */
export const isHttp = (p: Protocol): boolean => isHttpProtocol(p);

/** Upstream connections speak HTTP/2 (Istio's IsHTTP2). */
export const isHttp2 = (p: Protocol): boolean => p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB';

/** TLS-carrying ports, routed by SNI (Istio's IsTLS). */
export const isTls = (p: Protocol): boolean => p === 'HTTPS' || p === 'TLS';

/**
 * Everything else is proxied as opaque TCP: Maistra 2.0 never sniffs protocols, so an unnamed port
 * is TCP. UDP is not proxied at all.
 */
export const isTcpLike = (p: Protocol): boolean => !isHttp(p) && p !== 'UDP';

/** Protocol from a free-form string (Sidecar/Gateway ports); unknown strings are opaque TCP. */
export function protocolOf(s: string | undefined): Protocol {
  return (s !== undefined ? parseProtocol(s) : undefined) ?? 'TCP';
}
