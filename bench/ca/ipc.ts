// The CA benchmark's processes: the messages between the orchestrator and its two children (the CA, the load client), and a forked child that is called over IPC and stopped by its PID.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..', '..');

/** Root key types the CA is measured with (Istio's self-signed CA uses RSA 2048; EC P-256 is the other common choice). */
export type RootKeyType = 'rsa2048' | 'ecP256';
export const ROOT_KEY_TYPES: readonly RootKeyType[] = ['ecP256', 'rsa2048'];

/**
 * How the client reaches the CA: `shared`, every call on one TLS connection (HTTP/2 streams, as a
 * node agent serving many workloads would); `per-call`, a new TLS connection per call, closed after
 * it, as each Meltemi proxy's certificate agent does (src/proxy/security/cert-agent.ts).
 */
export type ConnectionMode = 'shared' | 'per-call';
export const CONNECTION_MODES: readonly ConnectionMode[] = ['shared', 'per-call'];

/** The CA child is listening: where, the root to trust, and one token per simulated workload. */
export interface CaReady {
  type: 'ready';
  port: number;
  rootCertPem: string;
  /** The name the CA's TLS certificate carries (callers set it as the target name). */
  serverName: string;
  tokens: Array<{ token: string; spiffeId: string }>;
  /** The CA's signing key as loaded (openCaDirectory): `rsa` or `ec` and its size. */
  caKey: string;
  setupMs: number;
}

/** Result of the CA child's in-process signing loop (signWorkloadCsr, no gRPC, no TLS). */
export interface SignLoopResult {
  signed: number;
  wallS: number;
}

/** One closed-loop run of the client. */
export interface ClientRunResult {
  completed: number;
  errors: number;
  firstError?: string;
  /** Responses whose leaf was parsed and checked (SPIFFE ID, issuer) — the first few of each run. */
  checked: number;
  wallS: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number } | null;
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
   * Forks `script` (in this folder) with tsx, pins every thread it has to `cpus` (`taskset -a`; threads
   * it starts later inherit it) once it reports `{type: 'ready'}`, bounded by `timeoutMs`.
   */
  static async start<R>(name: string, script: string, args: string[], cpus: string | undefined, timeoutMs: number): Promise<Child<R>> {
    const proc = fork(join(HERE, script), args, { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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

  /** Asks it to exit, then SIGTERM, then SIGKILL, by PID; bounded. */
  async stop(): Promise<void> {
    if (this.exited) return;
    await this.call({ cmd: 'exit' }, 5000).catch(() => undefined);
    if (await exitedWithin(this.exit, 3000)) return;
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

/**
 * Serves IPC commands in a child: each `{id, cmd, …}` is answered with `{id, result}` or
 * `{id, error}`; `exit` answers, then ends the process after `onExit`.
 */
export function serveCommands(handle: (m: { cmd: string } & Record<string, unknown>) => Promise<unknown>, onExit: () => Promise<void>): void {
  process.on('message', (m: { id: number; cmd: string } & Record<string, unknown>) => {
    const reply = (r: { result?: unknown; error?: string }) => process.send!({ id: m.id, ...r });
    if (m.cmd === 'exit') {
      reply({ result: null });
      void onExit().finally(() => process.exit(0));
      return;
    }
    handle(m).then(
      (result) => reply({ result }),
      (e: unknown) => reply({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
  // The orchestrator gone (even SIGKILLed) closes the channel: do not outlive it.
  process.on('disconnect', () => process.exit(0));
}

/** Quantile of an ascending array (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
