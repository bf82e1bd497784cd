// `host:port` as gRPC targets, logs and Envoy's address fields write it: an IPv6 address in brackets.

/** `host:port`, with an IPv6 address bracketed (`[::1]:15010`). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
