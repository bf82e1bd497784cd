// Reads the control plane's debug API (loopback HTTP) for proxy-status and proxy-config.
import { MeshError } from '../shared/errors.js';

/** GETs `path` from the debug address and parses JSON; a clear error when discovery is not there. */
export async function debugGet(debugAddr: string, path: string): Promise<unknown> {
  const url = `http://${debugAddr}${path}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new MeshError('MESH_IO', `cannot reach the control plane's debug API at ${debugAddr} (is \`meltemi discovery\` running? use --debug-addr): ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
  }
  const text = await res.text();
  if (res.status === 404) throw new MeshError('MESH_NOT_FOUND', text.trim() || `${path}: not found`);
  if (!res.ok) throw new MeshError('MESH_IO', `${url}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text) as unknown;
}
