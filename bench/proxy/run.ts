// Proxy benchmark (issue 4): direct, nginx, haproxy and Node baselines side by side — max requests/s, CPU µs per request, added latency at a fixed rate, RSS — for 1 and 2 hops over HTTP/1.1 and h2c.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureScenario, type ScenarioOptions, type ScenarioStalls } from './measure.js';
import { opensslVersion } from './openssl.js';
import { installCleanup, killAll, spawnPinned, type Proc } from './processes.js';
import { formatScenario, scenarioResults, type Outcome } from './report.js';
import { startStallWatch } from '../stall-watch.js';
import { cpuLayout, ensureTools, machineInfo, nodeIdleRssMiB, pinSelf, type CpuLayout } from './system.js';
import { PathCheckError, type Protocol, type RunningTarget, type TargetContext } from './target.js';
import { TARGETS } from './targets.js';
import { startUpstream, type Upstream } from './upstream.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Options {
  quick: boolean;
  targets: string[];
  hops: Array<1 | 2>;
  protocols: Protocol[];
  /** Seconds of each target's closed-loop maximum run. */
  durationS: number;
  /** Closed-loop warm-up of each target, requests. */
  warmupRequests: number;
  /** Latency: per target, `latencyRounds` segments of `latencyWarmupS` + `latencyDurationS` seconds. */
  latencyWarmupS: number;
  latencyDurationS: number;
  latencyRounds: number;
  rate: number;
  connections: number;
  /** Keep every core out of its idle state with SCHED_IDLE busy loops (off by default; see README). */
  spinners: boolean;
  outDir: string;
}

const ALL_TARGETS = TARGETS.map((t) => t.name);
const USAGE = `usage: npm run bench -- proxy [--quick] [--targets ${ALL_TARGETS.join(',')}] [--hops 1,2]
  [--protocols http1,http2] [--duration S] [--rate RPS] [--connections N] [--spinners] [--out DIR]
Each target runs pinned to the last core (load generator, latency client and upstream on the others).
Per scenario (hops × protocol), all targets are started, then: latency added over direct at a fixed
rate (open loop, coordinated-omission-free, targets interleaved in rounds); max requests/s and CPU µs
per request (h2load, closed loop, one target at a time, targets interleaved in the same number of
rounds, medians of each target's rounds); RSS idle and under load. direct always runs
(it is the latency reference); ratios are to nginx when it runs. nginx-mtls, meltemi-s2s and
meltemi-mtls run at 2 hops only (TLS between the two hops; see bench/README.md).
defaults: all targets, hops 1,2, protocols http1,http2, 16 connections; a 30000-request warm-up per
target, 10 s of max run per target (5 rounds of 2 s), latency at 1000 rps in 5 rounds of 2 s per target. --duration S sets the max
run to S and the measured latency time per target to S. --quick: a 10000-request warm-up, 1.25 s of max
run in 2 rounds, 2 latency rounds of 0.6 s (about 1.5 minutes in all).
Writes bench/results/proxy.json (proxy-quick.json with --quick).`;

/** A bad flag: reported with the usage, without a stack trace. */
class UsageError extends Error {}

function parseOptions(argv: string[]): Options {
  const o: Options = { quick: false, targets: [...ALL_TARGETS], hops: [1, 2], protocols: ['http1', 'http2'], durationS: 10, warmupRequests: 30_000, latencyWarmupS: 0.5, latencyDurationS: 2, latencyRounds: 5, rate: 1000, connections: 16, spinners: false, outDir: join(ROOT, 'bench', 'results') };
  let duration: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const num = (min: number, max: number): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} must be a number in [${min}, ${max}]`);
      return n;
    };
    const list = <T extends string>(allowed: readonly T[]): T[] => {
      const xs = value().split(',').map((s) => s.trim()).filter(Boolean);
      const bad = xs.filter((x) => !allowed.includes(x as T));
      if (bad.length > 0 || xs.length === 0) throw new UsageError(`${flag}: unknown ${bad.join(', ') || '(empty)'}; one or more of ${allowed.join(', ')}`);
      return xs as T[];
    };
    switch (flag) {
      case '--quick': o.quick = true; break;
      case '--targets': o.targets = list(ALL_TARGETS); break;
      case '--hops': o.hops = list(['1', '2'] as const).map((h) => (h === '1' ? 1 : 2)); break;
      case '--protocols': o.protocols = list(['http1', 'http2'] as const); break;
      case '--duration': duration = num(1, 600); break;
      case '--rate': o.rate = num(1, 20_000); break;
      case '--connections': o.connections = Math.round(num(1, 1024)); break;
      case '--spinners': o.spinners = true; break;
      case '--out': o.outDir = value(); break;
      case '--help': case '-h': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: throw new UsageError(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  if (o.quick) {
    o.durationS = 1.25;
    o.warmupRequests = 10_000;
    o.latencyWarmupS = 0.15;
    o.latencyDurationS = 0.6;
    o.latencyRounds = 2;
  }
  if (duration !== undefined) {
    // The latency run keeps its share: the same measured seconds per target as the max run.
    o.durationS = duration;
    o.latencyDurationS = duration / o.latencyRounds;
  }
  // direct is the latency reference: every scenario needs it.
  o.targets = ALL_TARGETS.filter((t) => t === 'direct' || o.targets.includes(t));
  return o;
}

function log(s: string): void {
  process.stdout.write(`${s}\n`);
}

/**
 * One SCHED_IDLE busy loop per core (`--spinners`). An idle vCPU of this guest halts and waking it
 * costs hundreds of µs; a SCHED_IDLE task keeps the core running and yields at once to any normal task
 * that wakes. Off by default: with every vCPU busy all the time the host caps the guest and pauses it
 * for 100 ms at a time (bench/stall-watch.ts), which costs the measurements far more than the wake-ups.
 */
function startSpinners(layout: CpuLayout, workDir: string): Proc[] {
  const procs: Proc[] = [];
  for (let c = 0; c < layout.count; c++) procs.push(spawnPinned(`spinner-${c}`, 'chrt', ['--idle', '0', 'sh', '-c', 'while :; do :; done'], { cpus: String(c), logFile: join(workDir, `spinner-${c}.log`) }));
  return procs;
}

async function main(): Promise<void> {
  installCleanup();
  const o = parseOptions(process.argv.slice(2));
  const started = performance.now();
  const layout = cpuLayout();
  if (layout.pinned) pinSelf(layout.loadCpus);
  else log(`warning: ${layout.count} CPU: the proxy cannot have a core of its own; results mix it with the load generator`);
  const loadAtStart = loadavg()[0]!;
  if (loadAtStart > 0.5) log(`warning: 1-minute load average is ${loadAtStart.toFixed(2)}: other work competes with the benchmark (see "foreign CPU" per row)`);

  const tools = ensureTools(['nginx', 'haproxy', 'h2load'], log);
  if (!tools.h2load.path) throw new Error(`h2load (Debian package nghttp2-client) is required: ${tools.h2load.missing}`);
  for (const [name, t] of Object.entries(tools)) log(`${name}: ${t.path ? `${t.version}${t.installedNow ? ' (installed now)' : ''}` : `unavailable — ${t.missing}`}`);

  const workDir = mkdtempSync(join(tmpdir(), 'meltemi-bench-proxy-'));
  const cpus = layout.pinned ? layout.loadCpus : undefined;
  let upstream: Upstream | undefined;
  let spinners: Proc[] = [];
  const stalls = startStallWatch();
  let ok = false;
  try {
    upstream = await startUpstream(workDir, cpus, tools.nginx);
    log(`upstream: ${upstream.description}; HTTP/1.1 :${upstream.http1Port}, h2c :${upstream.h2cPort}`);
    const nodeRss = await nodeIdleRssMiB(workDir, cpus);
    log(`idle RSS: node ${nodeRss.plain} MiB, node --import tsx ${nodeRss.tsx} MiB`);
    if (o.spinners) spinners = startSpinners(layout, workDir);
    const scenarioBase: Omit<ScenarioOptions, 'protocol' | 'logDir'> = {
      connections: o.connections,
      warmupRequests: o.warmupRequests,
      latencyRate: o.rate,
      latencyWarmupS: o.latencyWarmupS,
      latencyDurationS: o.latencyDurationS,
      latencyRounds: o.latencyRounds,
      latencyPrime: o.quick ? 10_000 : 50_000,
      maxDurationS: o.durationS,
      maxRounds: o.latencyRounds,
      loadCpus: cpus,
      otherPids: [...upstream.pids, ...spinners.map((s) => s.pid)],
      stalls,
      maxRoundRetries: 2,
      log,
    };

    const scenarios: Array<Record<string, unknown>> = [];
    for (const hops of o.hops) {
      for (const protocol of o.protocols) {
        const scenario = `${hops}hop-${protocol}`;
        const title = `${hops} hop${hops > 1 ? 's' : ''}, ${protocol === 'http1' ? 'HTTP/1.1' : 'HTTP/2 (h2c)'}`;
        log(`\n${title}`);
        const scenarioDir = join(workDir, scenario);
        mkdirSync(scenarioDir, { recursive: true });
        const outcomes = new Map<string, Outcome>();
        const running = new Map<string, RunningTarget>();
        const checks: Record<string, Record<string, unknown>> = {};
        let hostPauses: ScenarioStalls | undefined;
        try {
          // Every target of the scenario is started up front and stays idle while the others are
          // loaded, so the latency client can interleave them (see latency-client.ts).
          for (const target of TARGETS.filter((t) => o.targets.includes(t.name))) {
            const dir = join(scenarioDir, target.name);
            mkdirSync(dir, { recursive: true });
            const ctx: TargetContext = { upstream, cpu: layout.pinned ? layout.proxyCpu : undefined, hops, protocol, workDir: dir, tools };
            const skip = target.skipReason(ctx);
            if (skip) {
              outcomes.set(target.name, { skipped: skip });
              log(`  ${target.name}: skipped — ${skip}`);
              continue;
            }
            try {
              const t = await target.start(ctx);
              running.set(target.name, t);
              log(`  ${target.name}: ${t.wire} (${t.pids.length} process${t.pids.length === 1 ? '' : 'es'})`);
            } catch (e) {
              // A target whose path is not what it claims stops the run: its rows would be mislabelled.
              if (e instanceof PathCheckError) throw e;
              outcomes.set(target.name, { error: e instanceof Error ? e.message : String(e) });
              log(`  ${target.name}: FAILED to start — ${e instanceof Error ? e.message : String(e)}`);
            }
          }
          const { measurements: measured, stalls: paused } = await measureScenario(running, { ...scenarioBase, protocol, logDir: scenarioDir });
          hostPauses = paused;
          for (const [name, m] of measured) {
            outcomes.set(name, { measurement: m });
            for (const err of m.errors) log(`  ${name}: FAILED ${err}`);
          }
          // After the load, targets that can show which path the requests took do (mTLS between hops).
          for (const [name, t] of running) {
            if (!t.verify) continue;
            try {
              checks[name] = await t.verify(measured.get(name)?.max?.succeeded ?? 0);
              log(`  ${name}: path checked — ${JSON.stringify(checks[name])}`);
            } catch (e) {
              if (e instanceof PathCheckError) throw e;
              // The counters could not be read (the target died?): recorded, and its rows stand unverified.
              checks[name] = { error: e instanceof Error ? e.message : String(e) };
              log(`  ${name}: FAILED to check its path — ${String(checks[name].error)}`);
            }
          }
        } finally {
          for (const t of [...running.values()].reverse()) await t.stop();
        }
        const results = scenarioResults(outcomes, o.targets, new Map(TARGETS.flatMap((t) => (t.compareTo ? [[t.name, t.compareTo] as const] : []))));
        const wires = Object.fromEntries([...outcomes].flatMap(([n, x]) => ('measurement' in x ? [[n, x.measurement.wire]] : [])));
        scenarios.push({ scenario, hops, protocol, title, wires, ...(Object.keys(checks).length > 0 ? { pathChecks: checks } : {}), ...(hostPauses ? { hostPauses } : {}), targets: results });
        log(formatScenario(title, results));
      }
    }

    const result = {
      benchmark: 'proxy',
      quick: o.quick,
      date: new Date().toISOString(),
      machine: { ...machineInfo(), loadAverage1mAtStart: Math.round(loadAtStart * 100) / 100, nodeIdleRssMiB: nodeRss },
      tools: { ...Object.fromEntries(Object.entries(tools).map(([k, v]) => [k, v.version ?? `unavailable: ${v.missing}`])), openssl: opensslVersion() ?? 'unavailable', nodeOpenssl: process.versions.openssl },
      pinning: layout.pinned ? { proxyCpu: layout.proxyCpu, loadGeneratorLatencyClientUpstreamAndOrchestratorCpus: layout.loadCpus } : 'none (one CPU)',
      upstream: upstream.description,
      options: { targets: o.targets, hops: o.hops, protocols: o.protocols, durationS: o.durationS, warmupRequests: o.warmupRequests, latencyRatePerS: o.rate, latencyRounds: o.latencyRounds, latencySegmentS: { warmup: o.latencyWarmupS, measured: o.latencyDurationS }, connections: o.connections, idleSpinners: o.spinners },
      method: {
        maxRps: `h2load closed loop, ${o.connections} keep-alive connections, 1 request in flight each (-m 1), ${o.durationS} s per target in ${o.latencyRounds} interleaved rounds (the order rotating each round) after a warm-up run of ${o.warmupRequests} requests; maxRps is the median of the rounds' rates`,
        cpuUsPerReq: 'utime+stime of every process of the target (/proc/PID/stat, workers and both hops included) during each round of the max run, divided by the requests it completed; the median of the rounds (detail.maxRounds has each)',
        addedLatency: `open loop at ${o.rate} req/s over ${o.connections} keep-alive connections (latency-client.ts); all targets of a scenario in ${o.latencyRounds} interleaved rounds of ${o.latencyWarmupS} s warm-up + ${o.latencyDurationS} s measured each, samples pooled; the target's percentile minus direct's. addedP99MedianOfRoundsUs: the median of the rounds' own p99s, minus direct's (one round hit by other work on the machine does not move it)`,
        rssMiB: 'sum of VmRSS of the target\'s processes: idle 300 ms after start; under load the largest sum sampled every 100 ms through warm-up, latency and max runs',
        targetCores: 'cores the target used during its max run: near 1.0 its core was the bottleneck; lower, the load side (h2load + upstream on the other core) was, and maxRps understates it (see rpsPerCoreFromCpu)',
        foreignCpu: 'CPU used by processes other than this benchmark\'s during the max run, as a fraction of all cores, the largest of the rounds (non-zero means the machine was shared)',
        hostPauses: 'times the host paused the whole guest (a 20 ms timer in the orchestrator late by more than 60 ms; bench/stall-watch.ts), per scenario during the latency rounds and the max rounds, and per max round as hostPauseMs. A max round with a pause is run again, up to twice; the rounds run again are in detail.maxRoundsRerun and not in the figures',
        goals: 'issue 4, applied to every non-reference target: CPU µs/req ≤ 2× nginx, added p99 ≤ 1.5× nginx, RSS under load ≤ 50 MiB',
        ratiosTo: 'for a target that is a variant of others (nginx-mtls of nginx; meltemi-mtls of meltemi-s2s and meltemi; meltemi-s2s of meltemi): its CPU µs/req, added p99 and max rps divided by theirs, same scenario and run',
        pathChecks: 'meltemi-s2s and meltemi-mtls: after the load, the server sidecar\'s istio_requests_total summed by connection_security_policy must show only "none" (s2s) or only "mutual_tls" from the client\'s SPIFFE ID (mtls), at least as many as the max run completed; nginx-mtls: hop 1 must refuse a plaintext request. A failed check stops the run',
      },
      targets: Object.fromEntries(TARGETS.filter((t) => o.targets.includes(t.name)).map((t) => [t.name, t.description])),
      scenarios,
      elapsedS: Math.round((performance.now() - started) / 100) / 10,
    };
    mkdirSync(o.outDir, { recursive: true });
    const file = join(o.outDir, o.quick ? 'proxy-quick.json' : 'proxy.json');
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    log(`\nwrote ${relative(process.cwd(), file)} in ${result.elapsedS} s`);
    ok = true;
  } finally {
    stalls.stop();
    for (const s of spinners) await s.stop();
    await upstream?.stop();
    if (ok) rmSync(workDir, { recursive: true, force: true });
    else log(`configs and logs kept in ${workDir}`);
  }
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  killAll();
  process.exit(1);
});
