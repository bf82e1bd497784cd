// Starts a local mesh as `meltemi up` does: picks the network mode, makes sure the host has what it needs, clears what a crashed run left, then runs the mesh and its control socket.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MeshError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { ControlServer } from './control-server.js';
import { LocalMesh, loadMeshManifests, type HostPorts, type PodNetworkProvider } from './local-mesh.js';
import { LOOPBACK_PROXY_HTTP_PORT, LoopbackNetworks } from './loopback-network.js';
import { PodNetworks, ensureCniPlugins, sweepStale } from './pod-network.js';

export interface LaunchOptions {
  paths: string[];
  runDir: string;
  ingressPort: number;
  mode?: 'netns' | 'loopback';
  log: (line: string) => void;
  /** The pod network's bridge and subnet (default meltemi0, 10.77.0.0/16); tests use their own. */
  bridge?: string;
  subnet?: string;
  hostPorts?: Partial<HostPorts>;
}

/** A running mesh as `meltemi up` holds it. */
export interface LaunchedMesh {
  readonly mode: 'netns' | 'loopback';
  readonly ingressUrl: string;
  readonly ready: boolean;
  readonly podCount: number;
  readonly mesh: LocalMesh;
  /** Called when `meltemi down` asks the mesh to stop. */
  onShutdown(cb: () => void): void;
  stop(): Promise<void>;
}

/** The package root (where bin/meltemi.js is), from this file under src/ or dist/src/. */
function packageRoot(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'meltemi.js'))) return dir;
    dir = dirname(dir);
  }
  throw new MeshError('MESH_INTERNAL', `cannot find Meltemi's package root above ${import.meta.dirname}`);
}

/** The netns pod networks as the mesh uses them: traffic captured by iptables, nothing else to add. */
function netnsProvider(networks: PodNetworks): PodNetworkProvider {
  return {
    get gateway() {
      return networks.gateway;
    },
    capture: true,
    prepare: () => networks.prepare(),
    add: (pod) => networks.add(pod),
    remove: (pod) => networks.remove(pod),
    writeHosts: (netns, namespace, services) => networks.writeHosts(netns, namespace, services),
    close: () => networks.close(),
    sidecarArgs: () => [],
    appEnv: () => ({}),
  };
}

/** The UID sidecars run as (Istio's 1337), which the interception rules exclude. */
const SIDECAR_UID = 1337;

/** Why `uid` cannot read `path` (every parent directory searchable, the file readable), or undefined when it can. */
function unreadableBy(uid: number, path: string): string | undefined {
  const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', 'test', '-r', path], { timeout: 10_000 });
  if (r.error) return `setpriv failed: ${r.error.message}`;
  return r.status === 0 ? undefined : 'permission denied';
}

/**
 * The `meltemi` the mesh's processes run: the compiled build (`npm run build`, dist/) when it is
 * newer than every source file — it starts in a third of the time and with less memory than
 * compiling on the fly — else the sources through tsx.
 */
export function meltemiEntry(root: string): string {
  const compiled = join(root, 'dist', 'bin', 'meltemi.js');
  const sources = join(root, 'bin', 'meltemi.js');
  if (!existsSync(compiled)) return sources;
  const built = statSync(compiled).mtimeMs;
  const newest = (dir: string): number => {
    let max = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      max = Math.max(max, e.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    }
    return max;
  };
  return newest(join(root, 'src')) <= built ? compiled : sources;
}

/** netns when root on Linux (the Kubernetes node's path), else loopback. */
export function defaultMode(): 'netns' | 'loopback' {
  return process.platform === 'linux' && process.getuid?.() === 0 ? 'netns' : 'loopback';
}

export async function startLocalMesh(o: LaunchOptions): Promise<LaunchedMesh> {
  await loadMeshManifests(o.paths); // bad manifests are reported before anything on the host changes
  const mode = o.mode ?? defaultMode();
  if (mode === 'netns') {
    const missing = ensureCniPlugins();
    if (missing) throw new MeshError('MESH_USAGE', `netns mode cannot run here: ${missing}`);
  }
  const runDir = resolve(o.runDir);
  mkdirSync(runDir, { recursive: true, mode: 0o755 });
  const root = packageRoot();
  if (mode === 'netns') {
    // Sidecars run as UID 1337: they must be able to read the package and their files in the run directory.
    chmodSync(runDir, 0o755);
    for (const path of [join(root, 'bin', 'meltemi.js'), runDir]) {
      const why = unreadableBy(SIDECAR_UID, path);
      if (why) throw new MeshError('MESH_USAGE', `the sidecars run as UID ${SIDECAR_UID} and cannot read ${path} (${why}); use a checkout and a --run-dir that UID ${SIDECAR_UID} can read (a parent directory such as /root is often private)`);
    }
  }
  const logger: Logger = {
    info: () => undefined,
    warn: (m, f) => o.log(`warn\t${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
    error: (m, f) => o.log(`error\t${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
  };
  if (mode === 'netns') await sweepStale(runDir, logger);
  const meltemi = [process.execPath, meltemiEntry(root)];
  const network: PodNetworkProvider =
    mode === 'netns'
      ? netnsProvider(new PodNetworks({ runDir, meltemiCni: [...meltemi, 'cni'], log: logger, ...(o.bridge ? { bridge: o.bridge } : {}), ...(o.subnet ? { subnet: o.subnet } : {}) }))
      : new LoopbackNetworks();
  // Containers get a small, explicit environment (as a pod would): PATH with the package's tools first.
  const env: Record<string, string> = {
    PATH: [join(root, 'node_modules', '.bin'), process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(':'),
    HOME: '/tmp',
    ...(process.env.LANG ? { LANG: process.env.LANG } : {}),
  };
  const mesh = new LocalMesh({
    paths: o.paths,
    runDir,
    ingressPort: o.ingressPort,
    network,
    meltemi,
    env,
    log: o.log,
    ...(o.hostPorts ? { hostPorts: o.hostPorts } : {}),
    ...(mode === 'loopback' ? { mesh: { proxyHttpPort: LOOPBACK_PROXY_HTTP_PORT } } : {}),
  });
  const shutdownHandlers: (() => void)[] = [];
  const control = new ControlServer(mesh, runDir, () => shutdownHandlers.forEach((h) => h()));
  try {
    await mesh.start();
    await control.listen();
  } catch (e) {
    await control.close().catch(() => undefined);
    await mesh.stop().catch(() => undefined);
    throw e;
  }
  const pidFile = join(runDir, 'up.pid');
  writeFileSync(pidFile, `${process.pid}\n`);
  return {
    mode,
    mesh,
    get ingressUrl() {
      return mesh.ingressUrl;
    },
    get ready() {
      return mesh.ready;
    },
    get podCount() {
      return mesh.podRows().length;
    },
    onShutdown: (cb) => shutdownHandlers.push(cb),
    stop: async () => {
      await control.close();
      await mesh.stop();
      rmSync(pidFile, { force: true });
    },
  };
}
