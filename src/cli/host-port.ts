// Parses the HOST:PORT address flags (`--xds-addr`, `--discovery`, …) of the commands.
import { MeshError } from '../shared/errors.js';

/** `HOST:PORT`, `[v6]:PORT` or `:PORT` (host 127.0.0.1); throws MESH_USAGE naming `flag` otherwise. */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new MeshError('MESH_USAGE', `${flag} must be HOST:PORT (e.g. 127.0.0.1:15010), got "${value}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}
