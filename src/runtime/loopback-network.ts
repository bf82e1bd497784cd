// The local runtime's loopback mode (no root): every pod on addresses of its own in 127.0.0.0/8, sharing the host's network; its app calls services through its sidecar as an HTTP proxy.
import { MeshError } from '../shared/errors.js';
import type { PodNetwork } from './pod-network.js';

/** The port of the sidecar's HTTP proxy listener (Istio's proxyHttpPort) that apps' HTTP_PROXY names. */
export const LOOPBACK_PROXY_HTTP_PORT = 15080;

/**
 * Pod `n` has three addresses: 127.77.x.y, its endpoint (where its sidecar's inbound listeners
 * are, or its app when it has no sidecar); 127.78.x.y, where its app listens when it has a sidecar
 * (no two pods can have 127.0.0.1:9080); 127.79.x.y, its sidecar's outbound side (the HTTP proxy
 * port and the per-port listeners). Nothing is created on the host, so nothing needs root.
 */
export class LoopbackNetworks {
  readonly gateway = '127.0.0.1';
  /** No iptables: the sidecar runs as the invoking user and is reached explicitly. */
  readonly capture = false;
  private next = 1;
  private readonly free: number[] = [];
  private readonly byUid = new Map<string, number>();

  async prepare(): Promise<void> {}

  async add(pod: { uid: string }): Promise<PodNetwork> {
    const n = this.free.shift() ?? this.next++;
    if (n > 65_279) throw new MeshError('MESH_USAGE', 'loopback mode has room for 65279 pods');
    this.byUid.set(pod.uid, n);
    return { netns: '', netnsPath: '', ip: address(77, n), gateway: this.gateway, hostInterface: undefined };
  }

  async remove(pod: { uid: string }): Promise<void> {
    const n = this.byUid.get(pod.uid);
    if (n === undefined) return;
    this.byUid.delete(pod.uid);
    this.free.push(n);
  }

  writeHosts(): void {}

  async close(): Promise<void> {
    this.byUid.clear();
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

function address(second: number, n: number): string {
  return `127.${second}.${n >> 8}.${n & 255}`;
}

/** The pod's address with its second octet replaced (127.77.0.5 → 127.78.0.5). */
function sibling(ip: string, second: number): string {
  const parts = ip.split('.');
  return `127.${second}.${parts[2]}.${parts[3]}`;
}
