// `host:port` as gRPC targets, command flags, logs and Envoy's address fields write it: an IPv6 address in brackets.
import { MeshError } from './errors.js';

/** `host:port`, with an IPv6 address bracketed (`[::1]:15010`). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `HOST:PORT`, `[v6]:PORT` or `:PORT` (host 127.0.0.1); throws MESH_USAGE naming `what` (a flag, an option) otherwise. */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new MeshError('MESH_USAGE', `${what} must be HOST:PORT (e.g. 127.0.0.1:15010), got "${value}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}
