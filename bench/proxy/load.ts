// Load generation: h2load for closed-loop maximum throughput, and the open-loop latency client (latency-client.ts) at a fixed rate; both pinned off the proxy's core.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnPinned, tail, type Proc } from './processes.js';
import { REPO_ROOT } from './system.js';
import type { Protocol } from './target.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

export interface MaxRpsResult {
  /** Requests answered with a 2xx per second of the measured period. */
  rps: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  non2xx: number;
  seconds: number;
  /** h2load's mean time per request (closed loop, so it is 16 / rps, not a latency under a fixed load). */
  meanRequestUs: number | null;
}

export interface ClosedLoopOptions {
  port: number;
  protocol: Protocol;
  connections: number;
  /** Run for this long, or (when `requests` is set) until that many requests are done. */
  durationS: number;
  requests?: number;
  cpus: string | undefined;
  logFile: string;
}

/**
 * One closed-loop h2load run: `connections` keep-alive connections, one request in flight on each
 * (`-m 1`: no HTTP/1.1 pipelining, one HTTP/2 stream per connection), for `durationS` seconds or
 * `requests` requests. HTTP/2 is h2c with prior knowledge (h2load's default for an http:// URI).
 * Bounded: the process is stopped if it outlives `durationS` by 30 s.
 */
export async function closedLoop(o: ClosedLoopOptions): Promise<MaxRpsResult> {
  const amount = o.requests === undefined ? ['-D', `${Math.round(o.durationS * 1000)}ms`] : ['-n', String(o.requests)];
  const args = [...(o.protocol === 'http1' ? ['--h1'] : []), '-c', String(o.connections), '-m', '1', '-t', '1', ...amount, `http://127.0.0.1:${o.port}/`];
  const proc = spawnPinned('h2load', 'h2load', args, { cpus: o.cpus, logFile: o.logFile, captureStdout: true });
  await boundedExit(proc, (o.durationS + 30) * 1000);
  try {
    return parseH2load(proc.stdout());
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${tail(o.logFile, 5)}`);
  }
}

async function boundedExit(proc: Proc, ms: number): Promise<void> {
  const timer = setTimeout(() => void proc.stop(), ms);
  await proc.exited;
  clearTimeout(timer);
  await proc.stop();
}

/** Reads h2load's summary ("finished in 3.00s, …", "requests: …", "status codes: …", "time for request: …"). */
export function parseH2load(out: string): MaxRpsResult {
  const finished = /finished in ([\d.]+)(m?s)/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (!finished || !req || !codes) throw new Error(`could not read h2load's output: ${out.slice(-1500)}`);
  const seconds = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  const ok = Number(codes[1]);
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out);
  const unit = { us: 1, ms: 1e3, s: 1e6 } as const;
  return {
    rps: seconds > 0 ? ok / seconds : 0,
    succeeded: ok,
    failed: Number(req[5]),
    errored: Number(req[6]),
    timeout: Number(req[7]),
    non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
    seconds,
    meanRequestUs: mean ? Number(mean[1]) * unit[mean[2] as keyof typeof unit] : null,
  };
}

/** What latency-client.ts prints as its last stdout line. */
export interface OpenLoopResult {
  /** Requests scheduled in the measured period (after the warm-up). */
  scheduled: number;
  completed: number;
  errors: number;
  /** Requests still unanswered when the run's bound ran out. */
  timeouts: number;
  firstError?: string;
  /** Completed requests per second of the measured period. */
  achievedRps: number;
  /** Latency from each request's scheduled send time to the end of its response, in µs. */
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** The p99 of each round on its own, in the order run, and their median, µs. */
  p99ByRoundUs: number[];
  p99MedianOfRoundsUs: number;
  /** Latency counted from each request's due time instead (adds the client's ~1 ms timer granularity), µs. */
  fromDueUs: { p50: number; p99: number };
  /** How late the client itself sent requests (its own scheduling jitter plus waiting for a free connection), µs. */
  sendLagUs: { p50: number; p99: number; max: number };
}

export interface OpenLoopOptions {
  /** Target name → port; every one is measured in each round. */
  targets: Array<{ name: string; port: number }>;
  protocol: Protocol;
  ratePerS: number;
  connections: number;
  /** Per segment: warm-up on fresh connections, then the measured part, seconds. */
  warmupS: number;
  durationS: number;
  rounds: number;
  /** Requests sent closed loop to the first target before the rounds, to warm up the client itself. */
  prime: number;
  cpus: string | undefined;
  logFile: string;
}

/**
 * Runs the open-loop latency client in its own process (pinned to `cpus`) over all targets in
 * interleaved rounds; bounded by its schedule plus 15 s per segment.
 */
export async function openLoop(o: OpenLoopOptions): Promise<Record<string, OpenLoopResult>> {
  const args = [
    '--import', 'tsx', join(HERE, 'latency-client.ts'),
    '--targets', o.targets.map((t) => `${t.name}=${t.port}`).join(','),
    '--protocol', o.protocol, '--rate', String(o.ratePerS), '--connections', String(o.connections),
    '--warmup', String(o.warmupS), '--duration', String(o.durationS), '--rounds', String(o.rounds), '--prime', String(o.prime),
  ];
  const proc = spawnPinned('latency-client', process.execPath, args, { cpus: o.cpus, logFile: o.logFile, captureStdout: true, cwd: REPO_ROOT });
  await boundedExit(proc, (60 + o.rounds * o.targets.length * (o.warmupS + o.durationS + 15)) * 1000);
  const last = proc.stdout().trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as Record<string, OpenLoopResult>;
  } catch {
    throw new Error(`latency client gave no result: ${last.slice(0, 300)}\n${tail(o.logFile, 5)}`);
  }
}
