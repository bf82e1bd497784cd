// The local runtime's loopback mode (no root): every pod on addresses of its own in 127.0.0.0/8, sharing the host's network; its app calls services through its sidecar as an HTTP proxy.
import { chmodSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeshError } from '../shared/errors.js';
import type { PodNetwork } from './pod-network.js';

/** The port of the sidecar's HTTP proxy listener (Istio's proxyHttpPort) that apps' HTTP_PROXY names. */
export const LOOPBACK_PROXY_HTTP_PORT = 15080;

/**
 * Pod `n` has three addresses: 127.77.x.y, its endpoint (where its sidecar's inbound listeners
 * are, or its app when it has no sidecar); 127.78.x.y, where its app listens when it has a sidecar
 * (no two pods can have 127.0.0.1:9080); 127.79.x.y, its sidecar's outbound side (the HTTP proxy
 * port and the per-port listeners). Nothing is created on the host, so nothing needs root.
 *
 * Those addresses are the whole host's, so several meshes (two `meltemi up`, parallel tests) must
 * not hand out the same pod number: each number is claimed with a lock file holding the claiming
 * PID in a directory every mesh of the host shares; a claim whose process is gone is taken over.
 */
export class LoopbackNetworks {
  readonly gateway = '127.0.0.1';
  /** No iptables: the sidecar runs as the invoking user and is reached explicitly. */
  readonly capture = false;
  private readonly byUid = new Map<string, number>();
  private readonly claimed = new Set<number>();

  constructor(private readonly lockDir = join(tmpdir(), 'meltemi-loopback')) {}

  async prepare(): Promise<void> {
    mkdirSync(this.lockDir, { recursive: true, mode: 0o1777 });
    try {
      chmodSync(this.lockDir, 0o1777); // shared by every user's meshes, like /tmp; the mode at creation is filtered by the umask
    } catch {
      // another user's directory: usable as it is
    }
  }

  async add(pod: { uid: string }): Promise<PodNetwork> {
    let n = 1;
    while (n <= MAX_PODS && (this.claimed.has(n) || !this.claim(n))) n++;
    if (n > MAX_PODS) throw new MeshError('MESH_USAGE', `loopback mode has room for ${MAX_PODS} pods on this host`);
    this.claimed.add(n);
    this.byUid.set(pod.uid, n);
    return { netns: '', netnsPath: '', ip: address(77, n), gateway: this.gateway, hostInterface: undefined };
  }

  async remove(pod: { uid: string }): Promise<void> {
    const n = this.byUid.get(pod.uid);
    if (n === undefined) return;
    this.byUid.delete(pod.uid);
    this.release(n);
  }

  writeHosts(): void {}

  async close(): Promise<void> {
    this.byUid.clear();
    for (const n of [...this.claimed]) this.release(n);
  }

  /** Takes pod number `n` for this process unless a live process holds it. */
  private claim(n: number): boolean {
    const file = join(this.lockDir, String(n));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o644);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new MeshError('MESH_IO', `loopback mode: cannot claim ${file}`, { cause: e });
      }
      if (holderAlive(file)) return false;
      try {
        unlinkSync(file); // the holder is gone: a crashed mesh's claim
      } catch {
        return false;
      }
    }
    return false;
  }

  private release(n: number): void {
    if (!this.claimed.delete(n)) return;
    const file = join(this.lockDir, String(n));
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // already gone
    }
  }

  /** The sidecar's flags for this pod: where it listens, and where its app is. */
  sidecarArgs(pod: PodNetwork): string[] {
    const outbound = sibling(pod.ip, 79);
    return ['--inbound-address', pod.ip, '--outbound-address', outbound, '--app-address', sibling(pod.ip, 78), '--admin-address', outbound];
  }

  /** The app's environment: where to listen, and (with a sidecar) the HTTP proxy that reaches services by name. */
  appEnv(pod: PodNetwork, injected: boolean): Record<string, string> {
    if (!injected) return { MELTEMI_LISTEN_ADDRESS: pod.ip };
    const proxy = `http://${sibling(pod.ip, 79)}:${LOOPBACK_PROXY_HTTP_PORT}`;
    return { MELTEMI_LISTEN_ADDRESS: sibling(pod.ip, 78), HTTP_PROXY: proxy, http_proxy: proxy, NO_PROXY: 'localhost,127.0.0.1', no_proxy: 'localhost,127.0.0.1' };
  }
}

const MAX_PODS = 65_279;

/** Whether the process named in a claim file still runs (a file that cannot be read counts as held). */
function holderAlive(file: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return true;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function address(second: number, n: number): string {
  return `127.${second}.${n >> 8}.${n & 255}`;
}

/** The pod's address with its second octet replaced (127.77.0.5 → 127.78.0.5). */
function sibling(ip: string, second: number): string {
  const parts = ip.split('.');
  return `127.${second}.${parts[2]}.${parts[3]}`;
}
