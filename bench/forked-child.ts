// A benchmark's child process: forked with tsx, called over IPC request/response, pinned to CPUs if asked, and always stopped by its PID (also when the orchestrator exits or is interrupted).
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');

export interface ForkOptions {
  /** Extra Node flags (after `--import tsx`). */
  execArgv?: string[];
  /** Pin every thread of the child to these CPUs (`taskset -a`) once it is ready. */
  cpus?: string;
  timeoutMs: number;
}

/** A forked child speaking request/response over IPC. Stopped by its PID, always. */
export class Child<Ready> {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
    readonly ready: Ready,
  ) {
    this.exit = new Promise((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', () => resolve())));
    proc.on('exit', (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`${name} exited (code ${code}, signal ${signal}) with a request pending`));
      }
      this.pending.clear();
    });
    proc.on('message', (m: { id?: number; result?: unknown; error?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error !== undefined) p.reject(new Error(`${name}: ${m.error}`));
      else p.resolve(m.result);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /**
   * Forks `script` (a path) with tsx, waits (bounded) until it reports `{type: 'ready'}`, then pins
   * every thread it has to `cpus` (threads it starts later inherit it).
   */
  static async start<R>(name: string, script: string, args: string[], o: ForkOptions): Promise<Child<R>> {
    const { cpus, timeoutMs } = o;
    const proc = fork(script, args, { cwd: ROOT, execArgv: ['--import', 'tsx', ...(o.execArgv ?? [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    if (proc.pid !== undefined) live.add(proc.pid);
    proc.once('exit', () => live.delete(proc.pid!));
    let ready: R;
    try {
      ready = await new Promise<R>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name} not ready within ${timeoutMs} ms`)), timeoutMs);
        proc.on('message', (m: { type?: string; error?: string }) => {
          if (m.type === 'ready') {
            clearTimeout(timer);
            resolve(m as R);
          } else if (m.type === 'failed') {
            clearTimeout(timer);
            reject(new Error(`${name} failed to start: ${m.error}`));
          }
        });
        proc.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited with code ${code} before it was ready`));
        });
      });
    } catch (e) {
      if (proc.pid !== undefined) killPid(proc.pid, 'SIGKILL');
      throw e;
    }
    if (cpus !== undefined) spawnSync('taskset', ['-a', '-p', '-c', cpus, String(proc.pid)], { stdio: 'ignore', timeout: 10_000 });
    return new Child(name, proc, ready);
  }

  call<T>(command: Record<string, unknown>, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} did not answer ${String(command.cmd)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.send({ ...command, id });
    });
  }

  /** Asks it to exit (giving it `graceMs`, e.g. to write a CPU profile), then SIGTERM, then SIGKILL, by PID; bounded. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    await this.call({ cmd: 'exit' }, graceMs + 2000).catch(() => undefined);
    if (await exitedWithin(this.exit, graceMs)) return;
    killPid(this.pid, 'SIGTERM');
    if (await exitedWithin(this.exit, 3000)) return;
    killPid(this.pid, 'SIGKILL');
    await exitedWithin(this.exit, 3000);
  }
}

/** PIDs of children still running, for the backstop. */
const live = new Set<number>();

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function exitedWithin(exit: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void exit.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

let installed = false;
/** On exit, SIGINT and SIGTERM, SIGKILLs every child still running, by PID. Idempotent. */
export function installChildCleanup(): void {
  if (installed) return;
  installed = true;
  const killAll = () => {
    for (const pid of live) killPid(pid, 'SIGKILL');
    live.clear();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

