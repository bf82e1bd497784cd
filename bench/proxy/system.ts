// What the proxy benchmark needs from the machine: Debian packages (installed when missing), tool versions, CPU layout, and /proc readings of CPU time and memory.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sleep, spawnPinned } from './processes.js';

/** The repository root: the working directory for Node children, so `--import tsx` resolves. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A binary the benchmark runs and the Debian package that ships it. */
export const TOOLS = {
  nginx: { binary: 'nginx', pkg: 'nginx' },
  haproxy: { binary: 'haproxy', pkg: 'haproxy' },
  h2load: { binary: 'h2load', pkg: 'nghttp2-client' },
} as const;
export type ToolName = keyof typeof TOOLS;

export interface ToolStatus {
  path?: string;
  version?: string;
  /** Why it is not usable, when it is not. */
  missing?: string;
  installedNow?: boolean;
}

export function which(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = `${dir}/${binary}`;
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Makes sure each tool exists; installs the missing ones in one `apt-get install -y
 * --no-install-recommends` when running as root (after `apt-get update` if the first try fails).
 * Never throws: a tool that cannot be had is returned with the reason.
 */
export function ensureTools(names: ToolName[], log: (s: string) => void): Record<ToolName, ToolStatus> {
  const missing = names.filter((n) => !which(TOOLS[n].binary));
  const installedNow = new Set<ToolName>();
  let installError: string | undefined;
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((n) => TOOLS[n].pkg))];
    if (process.getuid?.() !== 0) {
      installError = `not installed, and not running as root to install Debian package(s) ${pkgs.join(' ')}`;
    } else {
      log(`installing ${pkgs.join(' ')} (apt-get install -y --no-install-recommends)…`);
      installError = aptInstall(pkgs);
      for (const n of missing) if (which(TOOLS[n].binary)) installedNow.add(n);
    }
  }
  const out = {} as Record<ToolName, ToolStatus>;
  for (const n of names) {
    const path = which(TOOLS[n].binary);
    out[n] = path
      ? { path, version: toolVersion(n, path), ...(installedNow.has(n) ? { installedNow: true } : {}) }
      : { missing: installError ?? `${TOOLS[n].binary} not found after installing ${TOOLS[n].pkg}` };
  }
  return out;
}

function aptInstall(pkgs: string[]): string | undefined {
  // Debian's nginx and haproxy packages start their service on install unless policy-rc.d says no;
  // the benchmark starts its own instances, so a stray daemon on port 80 would only steal CPU.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\n# Written by bench/proxy while it installs packages; removed after.\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env, encoding: 'utf8', timeout: 600_000 });
    let r = install();
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { env, encoding: 'utf8', timeout: 600_000 });
      r = install();
    }
    if (r.status !== 0) return `apt-get install ${pkgs.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
    return undefined;
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

function toolVersion(n: ToolName, path: string): string {
  const args = n === 'nginx' ? ['-v'] : n === 'haproxy' ? ['-v'] : ['--version'];
  const r = spawnSync(path, args, { encoding: 'utf8', timeout: 10_000 });
  return (`${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '').replace(/^nginx version: /, '');
}

/**
 * Which cores do what. With two or more CPUs the proxy under test gets the last core to itself and
 * the load generator, the latency client, the upstream and this orchestrator share the others.
 */
export interface CpuLayout {
  count: number;
  /** Core every process of the target is pinned to. */
  proxyCpu: number;
  /** `taskset -c` list for everything else. */
  loadCpus: string;
  pinned: boolean;
}

export function cpuLayout(): CpuLayout {
  const count = cpus().length;
  if (count < 2) return { count, proxyCpu: 0, loadCpus: '0', pinned: false };
  return { count, proxyCpu: count - 1, loadCpus: count === 2 ? '0' : `0-${count - 2}`, pinned: true };
}

/** Pins this process (all its threads) to `cpuList`, so the orchestrator stays off the proxy's core. */
export function pinSelf(cpuList: string): void {
  spawnSync('taskset', ['-a', '-p', '-c', cpuList, String(process.pid)], { stdio: 'ignore', timeout: 10_000 });
}

export function machineInfo(): Record<string, unknown> {
  return {
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    kernel: release(),
    node: process.version,
    memTotalGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    memFreeGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

// ---- /proc ----

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * utime + stime of a process (all its threads), in microseconds; 0 if it has gone. With
 * `reapedChildren`, plus the time of the children it has waited for (cutime + cstime).
 */
export function cpuTimeUs(pid: number, reapedChildren = false): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm) ": state is index 0, utime 11, stime 12, cutime 13, cstime 14 (proc(5) fields 14–17).
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]) + (reapedChildren ? Number(f[13]) + Number(f[14]) : 0);
    return (ticks * 1e6) / CLK_TCK;
  } catch {
    return 0;
  }
}

export function sumCpuTimeUs(pids: readonly number[]): number {
  let t = 0;
  for (const p of pids) t += cpuTimeUs(p);
  return t;
}

const VM_RSS = /^VmRSS:\s+(\d+) kB$/m;
const VM_HWM = /^VmHWM:\s+(\d+) kB$/m;

/** VmRSS and VmHWM (peak) of a process, in KiB; zeros if it has gone. */
export function memoryKiB(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rss: Number(VM_RSS.exec(s)?.[1] ?? 0), hwm: Number(VM_HWM.exec(s)?.[1] ?? 0) };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

export function sumRssKiB(pids: readonly number[]): number {
  let t = 0;
  for (const p of pids) t += memoryKiB(p).rss;
  return t;
}

/** Direct children of `pid`, found by scanning /proc (this kernel has no /proc/PID/task/TID/children). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // exited while scanning
    }
  }
  return out;
}

/** Busy and total jiffies per CPU from /proc/stat, to tell which core was saturated during a run. */
export function coreTimes(): Array<{ busy: number; total: number }> {
  const out: Array<{ busy: number; total: number }> = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    out[Number(m[1])] = { busy: total - idle, total };
  }
  return out;
}

/** Fraction of time each core was busy between two `coreTimes()` readings. */
export function coreBusy(before: ReturnType<typeof coreTimes>, after: ReturnType<typeof coreTimes>): number[] {
  return after.map((a, i) => {
    const b = before[i] ?? { busy: 0, total: 0 };
    const dt = a.total - b.total;
    return dt > 0 ? Math.round(((a.busy - b.busy) / dt) * 100) / 100 : 0;
  });
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it; the caller binds it soon after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * RSS of an idle `node` and of an idle `node --import tsx` on this machine, MiB: what the runtime and
 * the TypeScript loader cost before any proxy code (the Node targets, like bin/meltemi.js, run through
 * tsx, whose loader thread holds its own V8 isolate).
 */
export async function nodeIdleRssMiB(workDir: string, cpus: string | undefined): Promise<{ plain: number; tsx: number }> {
  const script = 'setInterval(() => {}, 1000)';
  const plain = spawnPinned('node-idle', process.execPath, ['-e', script], { cpus, logFile: `${workDir}/node-idle.log`, cwd: REPO_ROOT });
  const tsx = spawnPinned('node-tsx-idle', process.execPath, ['--import', 'tsx', '-e', script], { cpus, logFile: `${workDir}/node-tsx-idle.log`, cwd: REPO_ROOT });
  try {
    await sleep(1500);
    const mib = (pid: number) => Math.round((memoryKiB(pid).rss / 1024) * 10) / 10;
    return { plain: mib(plain.pid), tsx: mib(tsx.pid) };
  } finally {
    await plain.stop();
    await tsx.stop();
  }
}
