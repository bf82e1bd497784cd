// Test support for network namespaces: whether the machine allows them, iptables installed on demand, a named netns with a veth pair to the root namespace, and running commands inside it.
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of `binary` on PATH or in the sbin directories (root's tools live there), if any. */
export function which(binary: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SEARCH_PATH]) {
    if (dir && existsSync(`${dir}/${binary}`)) return `${dir}/${binary}`;
  }
  return undefined;
}

let support: { reason: string | undefined } | undefined;

/**
 * Why network-namespace tests cannot run here (not Linux, not root, `ip`/`nsenter` missing, or the
 * kernel refuses `ip netns add`), or undefined when they can. Probed once per process.
 */
export function rootNetnsSupport(): string | undefined {
  if (support) return support.reason;
  const reason = ((): string | undefined => {
    if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
    if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as root to include them)';
    for (const tool of ['ip', 'nsenter']) if (!which(tool)) return `${tool} is not installed`;
    const probe = `mprobe-${process.pid}`;
    const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) return `cannot create a network namespace: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`;
    spawnSync('ip', ['netns', 'del', probe], { timeout: 10_000 });
    return undefined;
  })();
  support = { reason };
  return reason;
}

/**
 * Makes sure `iptables-restore`/`iptables-save` exist and work, installing Debian's `iptables` when
 * missing and running as root. Returns why iptables cannot be had, or undefined. (The runtime's own
 * check, shared so the tests and `meltemi up` agree.)
 */
export { ensureIptables } from '../../src/runtime/host-packages.js';

/** A network namespace joined to the root namespace by a veth pair. */
export interface NetnsPair {
  /** The netns name (`ip netns`); its path is `path`. */
  name: string;
  /** `/var/run/netns/NAME`, what CNI_NETNS would be. */
  path: string;
  /** The veth end in the root namespace. */
  hostIf: string;
  /** The veth end inside the namespace (always `eth0`). */
  podIf: string;
  /** Host-side address (x.y.z.1), no prefix length. */
  hostIp: string;
  /** Pod-side address (x.y.z.2), no prefix length; the pod's default route goes via hostIp. */
  podIp: string;
  /** Deletes the namespace (which deletes the veth), ending any process still inside it. Safe to call twice. */
  cleanup(): void;
}

let pairCounter = 0;

function run(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
}

/** A /24 ("10.A.B") no route of the root namespace already covers, derived from the pid and a counter so parallel test processes differ. */
export function freeSubnet(): string {
  const routes = execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' });
  for (let i = 0; i < 64; i++) {
    const x = (process.pid * 64 + pairCounter * 7 + i) % 32768;
    const subnet = `10.${128 + (x >> 8)}.${x & 255}`;
    if (!routes.includes(`${subnet}.`)) return subnet;
  }
  throw new Error('no free 10.x.y.0/24 subnet for a test namespace');
}

/**
 * Creates netns `PREFIX-PID-N` with `lo` up and `eth0` (a veth to the root namespace) at
 * SUBNET.2/24, the root side at SUBNET.1/24, and a default route via SUBNET.1 inside. `subnet` is
 * the first three octets ("10.77.3"); by default a free one is chosen. The caller must register
 * `cleanup` with `t.after` before anything else can fail.
 */
export function createNetnsPair(prefix: string, subnet?: string): NetnsPair {
  const n = pairCounter++;
  const name = `${prefix}-${process.pid}-${n}`;
  // veth names are at most 15 characters: "m" + pid in base 36 (≤ 5) + "h" + counter.
  const hostIf = `m${process.pid.toString(36)}h${n}`;
  const tmpPodIf = `m${process.pid.toString(36)}p${n}`;
  const net = subnet ?? freeSubnet();
  const pair: NetnsPair = {
    name,
    path: `/var/run/netns/${name}`,
    hostIf,
    podIf: 'eth0',
    hostIp: `${net}.1`,
    podIp: `${net}.2`,
    cleanup: () => {
      if (!existsSync(`/var/run/netns/${name}`)) return;
      const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
      for (const pid of pids.split('\n').map((s) => Number(s.trim())).filter((p) => p > 0)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      spawnSync('ip', ['netns', 'del', name], { timeout: 10_000 });
      spawnSync('ip', ['link', 'del', hostIf], { timeout: 10_000, stdio: 'ignore' });
    },
  };
  try {
    run(['ip', 'netns', 'add', name]);
    run(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', tmpPodIf]);
    run(['ip', 'link', 'set', tmpPodIf, 'netns', name]);
    run(['ip', 'addr', 'add', `${pair.hostIp}/24`, 'dev', hostIf]);
    run(['ip', 'link', 'set', hostIf, 'up']);
    const inNs = ['ip', '-n', name];
    run([...inNs, 'link', 'set', tmpPodIf, 'name', 'eth0']);
    run([...inNs, 'addr', 'add', `${pair.podIp}/24`, 'dev', 'eth0']);
    run([...inNs, 'link', 'set', 'eth0', 'up']);
    run([...inNs, 'link', 'set', 'lo', 'up']);
    run([...inNs, 'route', 'add', 'default', 'via', pair.hostIp]);
  } catch (e) {
    pair.cleanup();
    throw e;
  }
  return pair;
}

export interface NetnsExecOptions {
  /** Kill the command after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface NetnsExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `argv` prefixed so it runs in netns `name` (by `nsenter --net`), for callers that spawn themselves. */
export function netnsArgv(name: string, argv: string[]): string[] {
  return ['nsenter', `--net=/var/run/netns/${name}`, '--', ...argv];
}

/** Runs `argv` inside netns `name` to completion (bounded by `timeoutMs`); never rejects on a non-zero exit. */
export function execInNetns(name: string, argv: string[], opts: NetnsExecOptions = {}): Promise<NetnsExecResult> {
  return new Promise((resolve, reject) => {
    const full = netnsArgv(name, argv);
    const child = spawn(full[0]!, full.slice(1), { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 10_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.on('error', () => {}); // a command that exits without reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** Starts `argv` inside netns `name` and returns the child; the caller stops it (or `cleanup` kills it). */
export function spawnInNetns(name: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
  const full = netnsArgv(name, argv);
  return spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}
