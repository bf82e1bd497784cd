// Measuring one scenario's started targets: idle RSS, a warm-up, latency at a fixed rate (open loop, targets interleaved), then each target's maximum throughput (closed loop) with its CPU time and peak RSS.
import { join } from 'node:path';
import { closedLoop, openLoop, type MaxRpsResult, type OpenLoopResult } from './load.js';
import { median } from './median.js';
import { sleep } from './processes.js';
import type { StallWatch } from '../stall-watch.js';
import { coreBusy, coreTimes, cpuTimeUs, memoryKiB, sumCpuTimeUs, sumRssKiB } from './system.js';
import type { Protocol, RunningTarget } from './target.js';

export interface ScenarioOptions {
  protocol: Protocol;
  connections: number;
  /**
   * Closed-loop warm-up of each target before anything is measured, in requests: V8 optimises the
   * Node proxies' hot paths only after thousands of calls, and a cold one queues up under the fixed
   * rate. Counted in requests rather than seconds so a slow target gets as many.
   */
  warmupRequests: number;
  /** Open-loop rate for the latency run, requests per second. */
  latencyRate: number;
  /** Per latency segment: warm-up on fresh connections, then the measured part, seconds; `latencyRounds` segments per target. */
  latencyWarmupS: number;
  latencyDurationS: number;
  latencyRounds: number;
  /** Requests the latency client sends closed loop to the first target (direct) before its rounds, to warm itself up. */
  latencyPrime: number;
  /** Closed-loop maximum-throughput time per target, seconds, split into `maxRounds` interleaved runs. */
  maxDurationS: number;
  maxRounds: number;
  /** `taskset -c` list of the load side. */
  loadCpus: string | undefined;
  /** Processes of ours that are not targets (upstream, idle spinners), for the foreign-load estimate. */
  otherPids: number[];
  /** Pauses of the whole guest by its host (bench/stall-watch.ts). */
  stalls: StallWatch;
  /** How many times a max round that the host paused is run again before its figures are kept anyway. */
  maxRoundRetries: number;
  logDir: string;
  log: (s: string) => void;
}

/** What one target measured, before comparison with direct and nginx. A failed phase leaves its part null with the error. */
export interface Measurement {
  wire: string;
  processes: number;
  latency: OpenLoopResult | null;
  max: MaxRpsResult | null;
  errors: string[];
  /** Target CPU time during the closed-loop run divided by the requests it completed, µs; null for no process. */
  cpuUsPerReq: number | null;
  /** Cores the target used during the closed-loop run (near 1: the target's core was the bottleneck; below: the load side was). */
  targetCores: number | null;
  /**
   * CPU used by processes that are not this benchmark's during the closed-loop run, as a fraction of
   * all cores: other work on the machine competes with the measured processes and skews every number.
   */
  foreignCpu: number | null;
  rssMiB: { idle: number | null; load: number | null; hwmSum: number | null };
  /** Each closed-loop round of this target, in the order run. */
  maxRounds: MaxRound[];
  /** Rounds the host paused the guest in and that were run again: not part of the figures. */
  maxRoundsRerun: MaxRound[];
}

/** What one scenario saw of the host pausing the guest (bench/stall-watch.ts). */
export interface ScenarioStalls {
  /** During the latency rounds (all targets interleaved, so not attributable to one). */
  latency: { count: number; ms: number };
  /** During max rounds, kept or rerun. */
  max: { count: number; ms: number };
}

/** One closed-loop round of one target. */
export interface MaxRound {
  rps: number;
  succeeded: number;
  cpuUsPerReq: number | null;
  targetCores: number | null;
  foreignCpu: number;
  /** How long the host paused the whole guest during the round, ms (0: not at all). */
  hostPauseMs: number;
}

const MiB = (kib: number) => Math.round((kib / 1024) * 10) / 10;
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Runs the phases over every target in `running` (all started, idle but for the one being loaded):
 * idle RSS after 300 ms; a closed-loop warm-up of each; one open-loop latency client over all of them
 * in interleaved rounds; a closed-loop maximum run of each with its CPU time. RSS under load is the
 * largest sum of a target's VmRSS sampled every 100 ms from its warm-up to the end. Stops nothing.
 */
export async function measureScenario(running: ReadonlyMap<string, RunningTarget>, o: ScenarioOptions): Promise<{ measurements: Map<string, Measurement>; stalls: ScenarioStalls }> {
  const out = new Map<string, Measurement>();
  const stalls: ScenarioStalls = { latency: { count: 0, ms: 0 }, max: { count: 0, ms: 0 } };
  await sleep(300);
  const peakKiB = new Map<string, number>();
  for (const [name, t] of running) {
    const idle = t.pids.length > 0 ? sumRssKiB(t.pids) : null;
    if (idle !== null) peakKiB.set(name, idle);
    out.set(name, { wire: t.wire, processes: t.pids.length, latency: null, max: null, errors: [], cpuUsPerReq: null, targetCores: null, foreignCpu: null, rssMiB: { idle: idle === null ? null : MiB(idle), load: null, hwmSum: null }, maxRounds: [], maxRoundsRerun: [] });
  }
  const sampler = setInterval(() => {
    for (const [name, t] of running) if (t.pids.length > 0) peakKiB.set(name, Math.max(peakKiB.get(name) ?? 0, sumRssKiB(t.pids)));
  }, 100);
  try {
    const load = (t: RunningTarget) => ({ port: t.port, protocol: o.protocol, connections: o.connections, cpus: o.loadCpus });
    for (const [name, t] of running) {
      if (t.pids.length === 0 || o.warmupRequests <= 0) continue;
      try {
        await closedLoop({ ...load(t), durationS: 60, requests: o.warmupRequests, logFile: join(o.logDir, `${name}-warmup.log`) });
      } catch (e) {
        out.get(name)!.errors.push(`warm-up: ${message(e)}`);
      }
    }

    const ready = [...running].filter(([name]) => out.get(name)!.errors.length === 0);
    o.log(`  latency at ${o.latencyRate} rps: ${ready.map(([n]) => n).join(', ')} × ${o.latencyRounds} round(s) of ${o.latencyDurationS} s…`);
    const latencyStart = performance.now();
    try {
      const lat = await openLoop({
        targets: ready.map(([name, t]) => ({ name, port: t.port })),
        protocol: o.protocol,
        ratePerS: o.latencyRate,
        connections: o.connections,
        warmupS: o.latencyWarmupS,
        durationS: o.latencyDurationS,
        rounds: o.latencyRounds,
        prime: o.latencyPrime,
        cpus: o.loadCpus,
        logFile: join(o.logDir, 'latency.log'),
      });
      for (const [name] of ready) out.get(name)!.latency = lat[name] ?? null;
    } catch (e) {
      for (const [name] of ready) out.get(name)!.errors.push(`latency: ${message(e)}`);
    }
    stalls.latency = o.stalls.between(latencyStart, performance.now());
    if (stalls.latency.count > 0) o.log(`  the host paused this machine ${stalls.latency.count} time(s), ${stalls.latency.ms} ms in all, during the latency rounds`);

    // The maximum runs in interleaved rounds, the order rotating, as the latency rounds do: a burst of
    // other work on the machine (this guest's neighbours) then lands in one round of several targets
    // instead of in the whole run of one, and each figure is the median of a target's rounds.
    const roundS = o.maxDurationS / o.maxRounds;
    // h2load's own counts of each round, summed into the target's `max`.
    const runs = new Map<string, MaxRpsResult[]>(ready.map(([name]) => [name, []]));
    let going = ready;
    const maxStart = performance.now();
    for (let round = 0; round < o.maxRounds && going.length > 0; round++) {
      for (let k = 0; k < going.length; k++) {
        const [name, t] = going[(k + round) % going.length]!;
        const m = out.get(name)!;
        try {
          // A round the host paused is run again (up to maxRoundRetries times): the pause is charged
          // to whichever process was on the CPU and says nothing about the target.
          for (let attempt = 0; ; attempt++) {
            const { run, measured } = await maxRound(t, o, roundS, join(o.logDir, `${name}-max-${round + 1}${attempt > 0 ? `-again-${attempt}` : ''}.log`));
            if (measured.hostPauseMs === 0 || attempt >= o.maxRoundRetries) {
              m.maxRounds.push(measured);
              runs.get(name)!.push(run);
              break;
            }
            o.log(`  ${name}, max round ${round + 1}: the host paused this machine for ${measured.hostPauseMs} ms; running the round again`);
            m.maxRoundsRerun.push(measured);
          }
        } catch (e) {
          m.errors.push(`max, round ${round + 1}: ${message(e)}`);
        }
      }
      going = going.filter(([name]) => out.get(name)!.errors.length === 0);
    }
    stalls.max = o.stalls.between(maxStart, performance.now());
    for (const [name, t] of ready) {
      const m = out.get(name)!;
      const rounds = m.maxRounds;
      const done = runs.get(name)!;
      if (rounds.length === 0) continue;
      const sum = (f: (r: MaxRpsResult) => number) => done.reduce((s, r) => s + f(r), 0);
      const means = done.flatMap((r) => (r.meanRequestUs === null ? [] : [r.meanRequestUs]));
      m.max = {
        rps: median(rounds.map((r) => r.rps)),
        succeeded: sum((r) => r.succeeded),
        failed: sum((r) => r.failed),
        errored: sum((r) => r.errored),
        timeout: sum((r) => r.timeout),
        non2xx: sum((r) => r.non2xx),
        seconds: sum((r) => r.seconds),
        meanRequestUs: means.length > 0 ? median(means) : null,
      };
      m.foreignCpu = Math.max(...rounds.map((r) => r.foreignCpu));
      if (t.pids.length > 0) {
        const cpu = rounds.flatMap((r) => (r.cpuUsPerReq === null ? [] : [r.cpuUsPerReq]));
        m.cpuUsPerReq = cpu.length > 0 ? Math.round(median(cpu) * 10) / 10 : null;
        m.targetCores = Math.round(median(rounds.map((r) => r.targetCores ?? 0)) * 100) / 100;
      }
    }
  } finally {
    clearInterval(sampler);
  }
  for (const [name, t] of running) {
    if (t.pids.length === 0) continue;
    const m = out.get(name)!;
    m.rssMiB.load = MiB(Math.max(peakKiB.get(name) ?? 0, sumRssKiB(t.pids)));
    m.rssMiB.hwmSum = MiB(t.pids.reduce((s, p) => s + memoryKiB(p).hwm, 0));
  }
  return { measurements: out, stalls };
}

/**
 * One closed-loop h2load run of `seconds` against `t`, with the CPU time its processes used and the
 * share of both cores that processes other than the benchmark's used meanwhile.
 */
async function maxRound(t: RunningTarget, o: ScenarioOptions, seconds: number, logFile: string): Promise<{ run: MaxRpsResult; measured: MaxRound }> {
  const ours0 = sumCpuTimeUs(o.otherPids) + cpuTimeUs(process.pid, true);
  const cpu0 = sumCpuTimeUs(t.pids);
  const cores0 = coreTimes();
  const wall0 = performance.now();
  const run = await closedLoop({ port: t.port, protocol: o.protocol, connections: o.connections, cpus: o.loadCpus, durationS: seconds, logFile });
  const wall1 = performance.now();
  const wallUs = (wall1 - wall0) * 1000;
  const paused = o.stalls.between(wall0, wall1);
  const cores1 = coreTimes();
  const cpuUs = sumCpuTimeUs(t.pids) - cpu0;
  // This process's own time includes h2load's once it has been reaped (cutime/cstime).
  const oursUs = cpuUs + sumCpuTimeUs(o.otherPids) + cpuTimeUs(process.pid, true) - ours0;
  const busy = coreBusy(cores0, cores1);
  const allBusyUs = busy.reduce((a, b) => a + b, 0) * wallUs;
  const hasProcess = t.pids.length > 0;
  return {
    run,
    measured: {
      rps: Math.round(run.rps),
      succeeded: run.succeeded,
      cpuUsPerReq: hasProcess && run.succeeded > 0 ? Math.round((cpuUs / run.succeeded) * 10) / 10 : null,
      targetCores: hasProcess ? Math.round((cpuUs / wallUs) * 100) / 100 : null,
      foreignCpu: Math.max(0, Math.round(((allBusyUs - oursUs) / (wallUs * busy.length)) * 100) / 100),
      hostPauseMs: paused.ms,
    },
  };
}
