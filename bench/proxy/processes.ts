// Every process the proxy benchmark starts: spawned pinned to a CPU set, tracked by PID, and stopped by PID — at the end, on error and on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { connect } from 'node:net';

/** A started process. `extraPids` are processes it forked (nginx workers) that are stopped with it. */
export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly extraPids: number[];
  /** Resolves with the exit code (or null after a signal) when the process has exited. */
  readonly exited: Promise<number | null>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; then SIGKILL to every extra pid still alive. Bounded. */
  stop(graceMs?: number): Promise<void>;
}

/** PIDs of every live process this benchmark started, including adopted children. */
const live = new Set<number>();

export interface SpawnOptions {
  /** `taskset -c` CPU list (e.g. "1" or "0-2"); undefined runs unpinned. */
  cpus: string | undefined;
  /** stdout and stderr go here, so a failed start can show why. */
  logFile: string;
  cwd?: string;
  /** Collect stdout in memory as well (the latency client prints its result there). */
  captureStdout?: boolean;
  /** Added to this process's environment. */
  env?: Readonly<Record<string, string>>;
}

/**
 * Starts `command args` pinned with `taskset -c` (taskset execs the command, so the PID is the
 * command's). The caller owns the returned process and must `stop()` it; `stopAll()` is the backstop.
 */
export function spawnPinned(name: string, command: string, args: string[], o: SpawnOptions): Proc & { stdout(): string } {
  const argv = o.cpus === undefined ? [command, ...args] : ['taskset', '-c', o.cpus, command, ...args];
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(o.env ? { env: { ...process.env, ...o.env } } : {}) });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${argv.join(' ')}`);
  const pid = child.pid;
  live.add(pid);
  const log: WriteStream = createWriteStream(o.logFile);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => {
    log.write(b);
    if (o.captureStdout) out += b.toString('utf8');
  });
  child.stderr!.on('data', (b: Buffer) => log.write(b));
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      done = true;
      live.delete(pid);
      resolve(code);
    });
    child.once('error', () => {
      done = true;
      live.delete(pid);
      resolve(null);
    });
  });
  // The log stream is closed after the process's pipes have ended, so nothing is lost.
  child.once('close', () => log.end());
  const extraPids: number[] = [];
  return {
    name,
    pid,
    logFile: o.logFile,
    extraPids,
    exited,
    hasExited: () => done,
    stdout: () => out,
    async stop(graceMs = 3000): Promise<void> {
      if (!done) {
        killPid(pid, 'SIGTERM');
        if (!(await within(exited, graceMs))) {
          killPid(pid, 'SIGKILL');
          await within(exited, 3000);
        }
      }
      for (const p of extraPids) {
        if (isAlive(p)) killPid(p, 'SIGKILL');
        live.delete(p);
      }
    },
  };
}

/** Tracks a process forked by one of ours (an nginx worker) so the backstop kills it too. */
export function adopt(proc: Proc, pid: number): void {
  if (!proc.extraPids.includes(pid)) proc.extraPids.push(pid);
  live.add(pid);
}

export function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGKILLs every tracked PID, synchronously (usable from an 'exit' handler). */
export function killAll(): void {
  for (const pid of live) killPid(pid, 'SIGKILL');
  live.clear();
}

let installed = false;
/** Installs the backstop once: on exit, SIGINT and SIGTERM every process still tracked is killed by PID. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: stopping ${live.size} benchmark process(es)\n`);
      killAll();
      process.exit(130);
    });
  }
}

/**
 * Waits until 127.0.0.1:port accepts a TCP connection, polling every 50 ms, bounded by `timeoutMs`.
 * Fails early, with the tail of the process's log, if `proc` exits first.
 */
export async function waitForPort(port: number, proc: Proc, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.hasExited()) throw new Error(`${proc.name} exited before listening on ${port}:\n${tail(proc.logFile)}`);
    if (await canConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`${proc.name} not listening on ${port} after ${timeoutMs} ms:\n${tail(proc.logFile)}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 500);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
