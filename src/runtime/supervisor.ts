// One container of a local pod as a supervised process: started (in the pod's network namespace, as its user), logged to a file, probed for readiness, restarted with backoff, stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';

/** How readiness is checked (Kubernetes' readinessProbe, the forms the runtime supports). */
export type Probe = ProbeTiming &
  (
    | { kind: 'http'; host: string; port: number; path: string; scheme?: 'HTTP' | 'HTTPS'; headers?: ReadonlyArray<readonly [string, string]> }
    | { kind: 'tcp'; host: string; port: number }
    | { kind: 'exec'; command: readonly string[] }
  );

export interface ProbeTiming {
  periodMs: number;
  timeoutMs: number;
  initialDelayMs: number;
  failureThreshold: number;
  successThreshold: number;
}

export interface ContainerSpec {
  /** `namespace/pod/container`, for logs and errors. */
  id: string;
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  cwd: string;
  /** Run inside this network namespace (`ip netns exec`, which also mounts /etc/netns/NAME/hosts over /etc/hosts). */
  netns?: string;
  /** Run as this UID/GID (the sidecar's 1337, which the interception rules exclude). */
  user?: { uid: number; gid: number };
  /** stdout and stderr are appended here. */
  logFile: string;
  /** None: ready once running. */
  readiness?: Probe;
  /** Failing it `failureThreshold` times in a row restarts the container, as the kubelet does. */
  liveness?: Probe;
}

export type ContainerState = 'starting' | 'running' | 'ready' | 'backoff' | 'stopped';

export interface ContainerStatus {
  state: ContainerState;
  pid: number | undefined;
  restarts: number;
  /** The last exit, e.g. "exit 1" or "signal SIGKILL". */
  lastExit?: string;
}

/** Kubernetes' CrashLoopBackOff, shortened for a laptop: 1 s doubling to 30 s; a run of 60 s resets it. */
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const BACKOFF_RESET_AFTER_MS = 60_000;
/** A container failing its liveness probe gets SIGTERM, then SIGKILL after this long (a short terminationGracePeriodSeconds). */
const LIVENESS_KILL_GRACE_MS = 5_000;

/**
 * Runs a container until `stop()`: a process that exits is started again after a backoff that
 * grows with each quick failure, as the kubelet does. Readiness follows the probe; `onChange` hears
 * every state change (the runtime turns them into the Pod's Ready condition).
 */
export class SupervisedContainer {
  private child: ChildProcess | undefined;
  private status: ContainerStatus = { state: 'stopped', pid: undefined, restarts: 0 };
  private stopping = false;
  private backoffMs = BACKOFF_BASE_MS;
  private timers = new Set<NodeJS.Timeout>();
  private startedAt = 0;
  private probeRun = 0;
  /** Restarts the liveness probe asked for (they also count in `restarts`). */
  livenessKills = 0;

  constructor(
    readonly spec: ContainerSpec,
    private readonly onChange: (status: ContainerStatus) => void = () => undefined,
  ) {}

  get current(): ContainerStatus {
    return { ...this.status };
  }

  start(): void {
    this.stopping = false;
    this.launch();
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.set({ state: 'stopped', pid: undefined });
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(killer);
    this.set({ state: 'stopped', pid: undefined });
  }

  private set(change: Partial<ContainerStatus>): void {
    const before = this.status.state;
    this.status = { ...this.status, ...change };
    if (before !== this.status.state || change.restarts !== undefined) this.onChange(this.current);
  }

  /** `command` as this container runs it: in its network namespace, as its user. */
  private argv(command: readonly string[] = this.spec.argv): string[] {
    const s = this.spec;
    const user = s.user ? ['setpriv', `--reuid=${s.user.uid}`, `--regid=${s.user.gid}`, '--clear-groups', '--'] : [];
    return [...(s.netns ? ['ip', 'netns', 'exec', s.netns] : []), ...user, ...command];
  }

  /**
   * An exec probe: `command` run as the container runs (namespace, user, environment, directory);
   * it passes when it exits 0 within the timeout. A command still running then is killed, with its
   * process group, and fails, as the kubelet's probe times out.
   */
  private runExec(command: readonly string[], timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const argv = this.argv(command);
      const child = spawn(argv[0]!, argv.slice(1), { cwd: this.spec.cwd, env: { ...this.spec.env }, stdio: 'ignore', detached: true });
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, timeoutMs);
      child.once('error', () => undefined); // 'close' follows
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve(code === 0);
      });
    });
  }

  private launch(): void {
    if (this.stopping) return;
    const argv = this.argv();
    const log = openSync(this.spec.logFile, 'a');
    let child: ChildProcess;
    try {
      // Its own process group: a Ctrl-C at the terminal (or `timeout`) signals `meltemi up`, which
      // stops the containers in order, instead of reaching them all at once.
      child = spawn(argv[0]!, argv.slice(1), { cwd: this.spec.cwd, env: { ...this.spec.env }, stdio: ['ignore', log, log], detached: true });
    } finally {
      closeSync(log);
    }
    this.child = child;
    this.startedAt = Date.now();
    const run = ++this.probeRun;
    let killedForLiveness = false;
    child.on('error', () => undefined); // 'exit' follows a failed spawn
    child.once('exit', (code, signal) => {
      this.child = undefined;
      if (this.stopping) return;
      const ranMs = Date.now() - this.startedAt;
      if (ranMs >= BACKOFF_RESET_AFTER_MS) this.backoffMs = BACKOFF_BASE_MS;
      const delay = this.backoffMs;
      this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
      const how = signal ? `signal ${signal}` : `exit ${code}`;
      this.set({ state: 'backoff', pid: undefined, lastExit: killedForLiveness ? `liveness probe failed (${how})` : how, restarts: this.status.restarts + 1 });
      this.later(delay, () => this.launch());
    });
    this.set({ state: this.spec.readiness ? 'running' : 'ready', pid: child.pid });
    const readiness = this.spec.readiness;
    if (readiness) {
      this.probe(readiness, run, (passed, inARow) => {
        if (passed && inARow >= readiness.successThreshold && this.status.state !== 'ready') this.set({ state: 'ready' });
        if (!passed && inARow >= readiness.failureThreshold && this.status.state === 'ready') this.set({ state: 'running' });
      });
    }
    const liveness = this.spec.liveness;
    if (liveness) {
      this.probe(liveness, run, (passed, inARow) => {
        if (passed || inARow < liveness.failureThreshold || child.exitCode !== null || child.signalCode !== null) return;
        // The kubelet kills a container that fails its liveness probe; the exit handler restarts it.
        if (killedForLiveness) return;
        killedForLiveness = true;
        this.livenessKills++;
        child.kill('SIGTERM');
        this.later(LIVENESS_KILL_GRACE_MS, () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        });
      });
    }
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Probes every period while this run lives; `onResult` hears each result and how many of that result came in a row. */
  private probe(p: Probe, run: number, onResult: (passed: boolean, inARow: number) => void): void {
    let ok = 0;
    let failed = 0;
    const tick = () => {
      if (this.stopping || run !== this.probeRun || !this.child) return;
      void check(p, (command, timeoutMs) => this.runExec(command, timeoutMs)).then((passed) => {
        if (this.stopping || run !== this.probeRun || !this.child) return;
        if (passed) failed = 0;
        else ok = 0;
        onResult(passed, passed ? ++ok : ++failed);
        this.later(p.periodMs, tick);
      });
    };
    this.later(p.initialDelayMs, tick);
  }
}

/**
 * One probe attempt within the timeout: an HTTP(S) GET answered 200–399 (an HTTPS probe does not
 * verify the certificate, as the kubelet's does not), a TCP connect, or a command (run by `exec`)
 * exiting 0.
 */
export function check(p: Probe, exec?: (command: readonly string[], timeoutMs: number) => Promise<boolean>): Promise<boolean> {
  if (p.kind === 'exec') return exec ? exec(p.command, p.timeoutMs) : Promise.resolve(false);
  return new Promise((resolve) => {
    if (p.kind === 'tcp') {
      const s = net.connect({ host: p.host, port: p.port });
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(p.timeoutMs, () => done(false));
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
      return;
    }
    const options = { host: p.host, port: p.port, path: p.path, timeout: p.timeoutMs, agent: false as const, headers: { 'user-agent': 'kube-probe/meltemi', ...Object.fromEntries(p.headers ?? []) } };
    const answered = (res: http.IncomingMessage) => {
      res.resume();
      resolve(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 400);
    };
    const req = p.scheme === 'HTTPS' ? https.get({ ...options, rejectUnauthorized: false }, answered) : http.get(options, answered);
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}
