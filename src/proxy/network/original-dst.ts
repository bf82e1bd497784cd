// The original destination of a connection iptables REDIRECTed to a capture listener (15001/15006), read through Meltemi's N-API addon (build/original-dst.node).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a connection was addressed before NAT rewrote it. */
export interface OriginalDestination {
  address: string;
  port: number;
}

/** The destination of a downstream connection as its listener resolved it (see Dispatch). */
export interface LocalDestination {
  destination: OriginalDestination;
  /** Redirected by iptables: `destination` is the original destination. */
  captured: boolean;
}

type Lookup = (fd: number) => OriginalDestination & { family: string };

const ADDON = join('build', 'original-dst.node');

/** The addon, looked up from this file towards the package root (src/… under tsx, dist/src/… when compiled). */
function findAddon(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

let loaded: { lookup: Lookup } | { reason: string } | undefined;

function load(): { lookup: Lookup } | { reason: string } {
  if (loaded) return loaded;
  const path = findAddon();
  if (!path) {
    loaded = { reason: `the original-destination addon (${ADDON}) is not built: run \`npm run build:native\` (needs gcc and Node's headers)` };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as { originalDst?: unknown };
    if (typeof addon.originalDst !== 'function') throw new Error('it exports no originalDst function');
    loaded = { lookup: addon.originalDst as Lookup };
  } catch (e) {
    loaded = { reason: `the original-destination addon ${path} does not load: ${e instanceof Error ? e.message : String(e)}` };
  }
  return loaded;
}

/** Why iptables capture cannot work in this process, or undefined when it can. */
export function captureUnavailable(): string | undefined {
  const l = load();
  return 'reason' in l ? l.reason : undefined;
}

/**
 * The address a captured connection was sent to (SO_ORIGINAL_DST), read synchronously from the
 * accepted socket before anything wraps it. Undefined when the connection was not redirected (the
 * kernel keeps no NAT entry for it: a direct connection to the listener) or the socket is gone.
 */
export function originalDestination(socket: net.Socket): OriginalDestination | undefined {
  const l = load();
  if ('reason' in l) return undefined;
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return undefined;
  try {
    const d = l.lookup(fd);
    return { address: d.address, port: d.port };
  } catch {
    return undefined;
  }
}
