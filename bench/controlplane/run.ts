// Control-plane scale benchmark: Discovery (measured alone in a child process) serving S services to M simulated sidecars; connect, config-change and endpoint-change scenarios.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  monoMs,
  procMemory,
  quantile,
  type ChangeReply,
  type ClientsUsage,
  type ConnectResult,
  type DiscoveryReady,
  type PushRecord,
  type ShortType,
  type Traffic,
  type Usage,
  type WaitResult,
} from './ipc.js';
import { Child, installChildCleanup } from '../forked-child.js';
import { startStallWatch, type StallWatch } from '../stall-watch.js';
import { meshShape, services, sharedService, type BenchService } from './mesh.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');

interface Options {
  services: number;
  proxies: number;
  modes: Array<'sotw' | 'delta'>;
  channels: number;
  isolation: 'none' | 'namespace';
  configTrials: number;
  edsTrials: number;
  /** Endpoint changes before the measured ones, reported and not counted (0 by default). */
  edsWarmup: number;
  /** Services whose endpoints change together in the proportionality trial. */
  bulk: number;
  timeoutS: number;
  debounceAfterMs?: number;
  profile: boolean;
  outDir: string;
}

/**
 * Node flags of the discovery process, as docs/configuration.md ("Node flags") recommends for a control
 * plane serving thousands of proxies: a 64 MiB young generation, so a push's short-lived objects die
 * young instead of being promoted and major GCs stop landing in pushes (measured here: endpoint change →
 * 500th proxy p99 135–139 → 75–76 ms SotW, config change worst 1.2 → 0.8–0.9 s).
 */
const DISCOVERY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

const USAGE = `usage: npm run bench:controlplane -- [--services N] [--proxies M] [--mode sotw|delta|both]
  [--channels C] [--isolation namespace|none] [--config-trials N] [--eds-trials N] [--eds-warmup N] [--bulk N]
  [--timeout SECONDS] [--debounce-after-ms MS] [--profile] [--out DIR]
defaults: 1000 services, 2000 proxies, both modes, 8 channels, namespace isolation (a root Sidecar
importing ./* and istio-system/*, as istiod's published sizing assumes), 3 config and 10 endpoint
trials, bulk 10, 120 s per scenario. Results: bench/results/controlplane-<mode>-<S>x<M>[-no-isolation].json`;

function parseOptions(argv: string[]): Options {
  const o: Options = { services: 1000, proxies: 2000, modes: ['sotw', 'delta'], channels: 8, isolation: 'namespace', configTrials: 3, edsTrials: 10, edsWarmup: 0, bulk: 10, timeoutS: 120, profile: false, outDir: join(ROOT, 'bench', 'results') };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const int = (min: number): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer ≥ ${min}`);
      return n;
    };
    switch (flag) {
      case '--services': o.services = int(1); break;
      case '--proxies': o.proxies = int(1); break;
      case '--mode': {
        const m = value();
        if (m !== 'sotw' && m !== 'delta' && m !== 'both') throw new Error(`--mode is sotw, delta or both\n${USAGE}`);
        o.modes = m === 'both' ? ['sotw', 'delta'] : [m];
        break;
      }
      case '--channels': o.channels = int(1); break;
      case '--isolation': {
        const v = value();
        if (v !== 'none' && v !== 'namespace') throw new Error(`--isolation is none or namespace\n${USAGE}`);
        o.isolation = v;
        break;
      }
      case '--config-trials': o.configTrials = int(0); break;
      case '--eds-trials': o.edsTrials = int(0); break;
      case '--eds-warmup': o.edsWarmup = int(0); break;
      case '--bulk': o.bulk = int(1); break;
      case '--timeout': o.timeoutS = int(1); break;
      case '--debounce-after-ms': o.debounceAfterMs = int(0); break;
      case '--profile': o.profile = true; break;
      case '--out': o.outDir = value(); break;
      case '--help': case '-h': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: throw new Error(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  return o;
}

// ---- child processes ----

installChildCleanup();

// ---- statistics ----

interface Distribution {
  count: number;
  p50?: number;
  p90?: number;
  p99?: number;
  max?: number;
}

function dist(sorted: readonly number[]): Distribution {
  const r = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 10) / 10);
  return { count: sorted.length, p50: r(quantile(sorted, 0.5)), p90: r(quantile(sorted, 0.9)), p99: r(quantile(sorted, 0.99)), max: r(sorted[sorted.length - 1]) };
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

function totalBytes(t: Traffic): number {
  return t.cds.bytes + t.eds.bytes + t.lds.bytes + t.rds.bytes;
}

function pushBreakdown(pushes: PushRecord[], since: number, t0: number): Array<Record<string, number | boolean | string>> {
  return pushes
    .filter((p) => p.startedAt >= since)
    .map((p) => ({ full: p.full, edsHosts: p.edsHosts, adsVersion: p.adsVersion, debounceMs: round1(p.startedAt - t0), buildMs: round1(p.builtAt - p.startedAt), fanOutMs: round1(p.drainedAt - p.builtAt), endMs: round1(p.drainedAt - t0) }));
}

// ---- one run (one xDS mode) ----

async function runMode(o: Options, mode: 'sotw' | 'delta', first: boolean, watch: StallWatch): Promise<Record<string, unknown>> {
  const modeStart = performance.now();
  const timeoutMs = o.timeoutS * 1000;
  // Other work on the machine skews every number here: record the load the run started under
  // (after the first mode it includes this benchmark's own previous run, so only the first warns).
  const loadAtStart = loadavg()[0]!;
  if (first && loadAtStart > 0.5 * cpus().length) log(`warning: 1-minute load average is ${loadAtStart.toFixed(2)} on ${cpus().length} CPUs; results will be slower than on an idle machine`);
  const shape = meshShape(o.services);
  const label = `${mode} ${o.services} services × ${o.proxies} proxies, ${o.isolation === 'namespace' ? 'namespace isolation' : 'no isolation (every proxy sees every service)'}`;
  log(`\n== ${label}`);
  // One directory per process, outside the results: V8 writes one profile per thread (tsx's loader
  // runs in a worker); the main thread's is the big one.
  const profileDir = join(tmpdir(), 'meltemi-bench-profiles', `discovery-${mode}-${o.services}x${o.proxies}`);
  if (o.profile) {
    mkdirSync(profileDir, { recursive: true });
    log(`CPU profiles: ${profileDir} and ${profileDir.replace('discovery-', 'clients-')} (summarise with bench/controlplane/profile-top.ts)`);
  }
  const discoveryArgs = ['--services', String(o.services), '--isolation', o.isolation, ...(o.debounceAfterMs !== undefined ? ['--debounce-after-ms', String(o.debounceAfterMs)] : [])];
  const discovery = await Child.start<DiscoveryReady>('discovery', join(HERE, 'discovery-child.ts'), discoveryArgs, { execArgv: [...DISCOVERY_NODE_FLAGS, ...(o.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])], timeoutMs });
  const d = { child: discovery, ready: discovery.ready };
  let clients: Child<{ pid: number }> | undefined;
  try {
    log(`discovery pid ${d.ready.pid}: ${d.ready.resources} objects, set up in ${round1(d.ready.setupMs)} ms, xDS ${d.ready.xdsAddress}`);
    const clientsProfileDir = profileDir.replace('discovery-', 'clients-');
    if (o.profile) mkdirSync(clientsProfileDir, { recursive: true });
    clients = await Child.start<{ pid: number }>(
      'clients',
      join(HERE, 'clients.ts'),
      ['--address', d.ready.xdsAddress, '--services', String(o.services), '--proxies', String(o.proxies), '--mode', mode, '--channels', String(o.channels)],
      { execArgv: o.profile ? ['--cpu-prof', `--cpu-prof-dir=${clientsProfileDir}`] : [], timeoutMs },
    );
    const usage = () => d.child.call<Usage>({ cmd: 'usage' }, timeoutMs);
    const u0 = await usage();

    // (1) Initial connect.
    const connect = await clients.call<ConnectResult>({ cmd: 'connect', timeoutMs }, timeoutMs + 10_000);
    const u1 = await usage();
    log(`connect: ${connect.ready}/${connect.total} ready in ${round1(connect.allReadyMs)} ms${connect.timedOut ? ' (TIMED OUT)' : ''}${connect.failed ? `, ${connect.failed} failed: ${connect.firstError}` : ''}; ${mb(totalBytes(connect.traffic))} received; discovery CPU ${round1(cpuOf(u1) - cpuOf(u0))} s`);
    if (connect.ready === 0) throw new Error(`no client became ready: ${connect.firstError ?? 'timeout'}`);

    const idle = async (): Promise<void> => {
      if (!(await d.child.call<boolean>({ cmd: 'idle', quietMs: 250, timeoutMs }, timeoutMs + 10_000))) log('warning: discovery still pushing after the timeout');
    };
    await idle();

    // (2) Config change: the shared service's VirtualService edited; every proxy sees it, so every proxy must ACK a new RDS.
    const shared = sharedService(shape);
    const configTrials: Array<Record<string, unknown>> = [];
    for (let r = 1; r <= o.configTrials; r++) {
      await idle();
      await clients.call({ cmd: 'mark' }, timeoutMs);
      const from = performance.now();
      const ch = await d.child.call<ChangeReply>({ cmd: 'edit-vs', revision: r }, timeoutMs);
      const w = await clients.call<WaitResult>(
        { cmd: 'wait', type: 'rds', afterVersion: ch.versionBefore, since: ch.t0, timeoutMs, quietMs: 300 },
        timeoutMs + 10_000,
      );
      const paused = watch.between(from, performance.now());
      await idle();
      const pushes = await d.child.call<PushRecord[]>({ cmd: 'pushes' }, timeoutMs);
      const within1s = w.latenciesMs.filter((x) => x <= 1000).length;
      configTrials.push({ trial: r, expected: w.expected, converged: w.latenciesMs.length, timedOut: w.timedOut, latencyMs: dist(w.latenciesMs), within1s, bytes: trafficBytes(w.traffic), hostPauses: paused, pushes: pushBreakdown(pushes, ch.t0, ch.t0) });
      log(`config change ${r}: ${w.latenciesMs.length}/${w.expected} ACKed RDS; p50 ${quantile(w.latenciesMs, 0.5)?.toFixed(0)} ms, p99 ${quantile(w.latenciesMs, 0.99)?.toFixed(0)} ms, max ${w.latenciesMs.at(-1)?.toFixed(0)} ms; ${within1s} within 1 s; ${mb(totalBytes(w.traffic))} sent${pausedNote(paused)}`);
    }
    const u2 = await usage();

    // (3) Endpoint change: one Pod of the shared service moves (an EDS-only push every proxy needs);
    // then the shared service and bulk-1 application services at once.
    const withSubsets = services(shape).filter((s) => s.subsets && s !== shared);
    const edsTrials: Array<Record<string, unknown>> = [];
    let generation = 0;
    const endpointChange = async (moved: BenchService[]): Promise<Record<string, unknown>> => {
      await idle();
      await clients!.call({ cmd: 'mark' }, timeoutMs);
      const from = performance.now();
      const ch = await d.child.call<ChangeReply>({ cmd: 'move-pods', services: moved.map((s) => s.index), generation: ++generation }, timeoutMs);
      const w = await clients!.call<WaitResult>(
        { cmd: 'wait', type: 'eds', afterVersion: ch.versionBefore, since: ch.t0, timeoutMs, quietMs: 300 },
        timeoutMs + 10_000,
      );
      const paused = watch.between(from, performance.now());
      await idle();
      const pushes = await d.child.call<PushRecord[]>({ cmd: 'pushes' }, timeoutMs);
      const breakdown = pushBreakdown(pushes, ch.t0, ch.t0);
      const debounceMs = typeof breakdown[0]?.debounceMs === 'number' ? breakdown[0].debounceMs : 0;
      return {
        services: moved.length,
        expected: w.expected,
        converged: w.latenciesMs.length,
        timedOut: w.timedOut,
        latencyMs: dist(w.latenciesMs),
        to500Ms: w.latenciesMs.length >= 500 ? round1(w.latenciesMs[499]!) : null,
        toAllMs: w.latenciesMs.length > 0 ? round1(w.latenciesMs.at(-1)!) : null,
        // The same, counted from the moment the debouncer released the push (its quiet period is a setting, not work).
        to500AfterDebounceMs: w.latenciesMs.length >= 500 ? round1(w.latenciesMs[499]! - debounceMs) : null,
        bytes: trafficBytes(w.traffic),
        edsBytesPerProxy: w.expected > 0 ? Math.round(w.traffic.eds.bytes / w.expected) : 0,
        edsResourcesPerProxy: w.expected > 0 ? round1(w.traffic.eds.resources / w.expected) : 0,
        hostPauses: paused,
        pushes: breakdown,
      };
    };
    const edsWarmup: Array<Record<string, unknown>> = [];
    for (let g = 1; g <= o.edsWarmup; g++) {
      const t = await endpointChange([shared]);
      edsWarmup.push({ warmup: g, to500Ms: t.to500Ms, toAllMs: t.toAllMs });
      log(`endpoint change (warm-up ${g}, not counted): 500th at ${t.to500Ms ?? '-'} ms, all at ${t.toAllMs} ms`);
    }
    for (let g = 1; g <= o.edsTrials; g++) {
      const t = await endpointChange([shared]);
      edsTrials.push({ trial: g, ...t });
      const lat = t.latencyMs as Distribution;
      log(`endpoint change ${g}: ${t.converged}/${t.expected} ACKed EDS; 500th at ${t.to500Ms ?? '-'} ms, all at ${t.toAllMs} ms (p50 ${lat.p50}, p99 ${lat.p99}); EDS ${mb((t.bytes as Record<string, number>).eds!)} sent (${t.edsResourcesPerProxy} resources/proxy)${pausedNote(t.hostPauses as Paused)}`);
    }
    let bulk: Record<string, unknown> | undefined;
    if (o.edsTrials > 0 && o.bulk > 1) {
      // The shared service and application services spread over namespaces (every few-th with subsets).
      const step = Math.max(1, Math.floor(withSubsets.length / (o.bulk - 1)));
      const moved = [shared, ...withSubsets.filter((_, i) => i % step === 0).slice(0, o.bulk - 1)];
      bulk = await endpointChange(moved);
      log(`endpoint change of ${moved.length} services at once: all ${bulk.converged}/${bulk.expected} at ${bulk.toAllMs} ms; EDS ${mb((bulk.bytes as Record<string, number>).eds!)} sent (${bulk.edsResourcesPerProxy} resources/proxy)`);
    }
    const u3 = await usage();
    const parentView = procMemory((p) => readFileSync(p, 'utf8'), d.ready.pid);
    const clientUsage = await clients.call<ClientsUsage>({ cmd: 'usage' }, timeoutMs);

    const to500 = edsTrials.map((t) => t.to500Ms as number | null).filter((x): x is number => x !== null).sort((a, b) => a - b);
    const to500AfterDebounce = edsTrials.map((t) => t.to500AfterDebounceMs as number | null).filter((x): x is number => x !== null).sort((a, b) => a - b);
    const toAll = edsTrials.map((t) => t.toAllMs as number | null).filter((x): x is number => x !== null).sort((a, b) => a - b);
    const perProxyEds = edsTrials.flatMap((t) => [(t.latencyMs as Distribution).p99 ?? Number.NaN]).sort((a, b) => a - b);
    const configAll = configTrials.map((t) => (t.latencyMs as Distribution).max ?? Number.NaN).sort((a, b) => a - b);
    const singleEds = edsTrials.length > 0 ? median(edsTrials.map((t) => (t.bytes as Record<string, number>).eds!)) : null;

    return {
      benchmark: 'controlplane',
      mode,
      services: o.services,
      proxies: o.proxies,
      isolation: o.isolation,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, platform: process.platform, loadAverage1mAtStart: round1(loadAtStart), loadAverage1mAtEnd: round1(loadavg()[0]!) },
      date: new Date().toISOString(),
      options: { discoveryNodeFlags: DISCOVERY_NODE_FLAGS, channels: o.channels, configTrials: o.configTrials, edsTrials: o.edsTrials, edsWarmup: o.edsWarmup, bulk: o.bulk, timeoutS: o.timeoutS, debounceAfterMs: o.debounceAfterMs ?? 'default (MELTEMI_DEBOUNCE_AFTER_MS, 100)' },
      setup: { objects: d.ready.resources, setupMs: round1(d.ready.setupMs) },
      connect: { ...connect, readyMs: dist(connect.readyMs), bytes: trafficBytes(connect.traffic), bytesPerProxy: Math.round(totalBytes(connect.traffic) / Math.max(1, connect.ready)), discoveryCpuS: round1(cpuOf(u1) - cpuOf(u0)) },
      configChange: { editedVirtualService: `${shared.namespace}/${shared.name}`, trials: configTrials, maxOfTrialsMs: configAll.at(-1) ?? null, allWithin1s: configTrials.every((t) => t.within1s === t.expected && !t.timedOut), discoveryCpuS: round1(cpuOf(u2) - cpuOf(u1)) },
      endpointChange: {
        movedService: `${shared.namespace}/${shared.name}`,
        warmup: edsWarmup,
        trials: edsTrials,
        to500Ms: dist(to500),
        to500AfterDebounceMs: dist(to500AfterDebounce),
        toAllMs: dist(toAll),
        perTrialP99Ms: dist(perProxyEds),
        edsBytesPerChange: { oneService: singleEds, [`${bulk?.services ?? o.bulk}Services`]: bulk ? (bulk.bytes as Record<string, number>).eds : null, ratio: singleEds && bulk ? round1((bulk.bytes as Record<string, number>).eds! / singleEds) : null },
        bulk,
        discoveryCpuS: round1(cpuOf(u3) - cpuOf(u2)),
      },
      discovery: {
        pid: d.ready.pid,
        cpuS: { total: round1(cpuOf(u3)), setup: round1(cpuOf(u0)), connect: round1(cpuOf(u1) - cpuOf(u0)), configChanges: round1(cpuOf(u2) - cpuOf(u1)), endpointChanges: round1(cpuOf(u3) - cpuOf(u2)) },
        peakRssMB: round1(u3.peakRssBytes / 2 ** 20),
        peakRssMBFromParent: parentView ? round1(parentView.hwm / 2 ** 20) : null,
        sampledPeakRssMB: round1(u3.sampledPeakRssBytes / 2 ** 20),
        rssAfterConnectMB: round1(u1.rssBytes / 2 ** 20),
        rssEndMB: round1(u3.rssBytes / 2 ** 20),
        heapUsedEndMB: round1(u3.heapUsedBytes / 2 ** 20),
        connectedProxies: u3.connectedProxies,
        sampleProxyLabels: u3.sampleProxyLabels,
      },
      clientsProcess: { pid: clients.ready.pid, cpuS: round1(clientUsage.cpuUserS + clientUsage.cpuSystemS), rssMB: round1(clientUsage.rssBytes / 2 ** 20) },
      // Times the host stopped this whole machine (bench/stall-watch.ts) during the mode; each trial has its own.
      hostPauses: watch.between(modeStart, performance.now()),
      goals: {
        // met: null when the run did not measure it (no trials, or fewer than 500 proxies).
        configConvergedWithin1s: { goal: 'every proxy ACKs a config change within 1 s', met: configTrials.length > 0 ? configTrials.every((t) => t.within1s === t.expected && !t.timedOut) : null, worstMs: configAll.at(-1) ?? null },
        endpoint500Within100msP99: {
          goal: 'an endpoint change reaches 500 proxies within 100 ms (p99 over trials)',
          met: to500.length > 0 ? (quantile(to500, 0.99) ?? Infinity) <= 100 : null,
          p99Ms: quantile(to500, 0.99) ?? null,
          p99AfterDebounceMs: quantile(to500AfterDebounce, 0.99) ?? null,
        },
        rssAtMost500MB: { goal: 'discovery peak RSS ≤ 500 MB', met: u3.peakRssBytes <= 500 * 2 ** 20, peakMB: round1(u3.peakRssBytes / 2 ** 20) },
      },
    };
  } finally {
    await clients?.stop();
    // Five seconds to exit, so a CPU profile gets written.
    await d.child.stop(5000);
  }
}

type Paused = ReturnType<StallWatch['between']>;

/** A log line's note of host pauses during a trial (bench/stall-watch.ts), empty when there were none. */
function pausedNote(p: Paused): string {
  return p.count > 0 ? `; the host paused this machine ${p.count} time(s), ${p.ms} ms in all` : '';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

function cpuOf(u: Usage): number {
  return u.cpuUserS + u.cpuSystemS;
}

function trafficBytes(t: Traffic): Record<ShortType | 'total', number> {
  return { cds: t.cds.bytes, eds: t.eds.bytes, lds: t.lds.bytes, rds: t.rds.bytes, total: totalBytes(t) };
}

function mb(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} kB`;
}

function log(s: string): void {
  process.stdout.write(`${s}\n`);
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  mkdirSync(o.outDir, { recursive: true });
  const started = monoMs();
  const results: Record<string, unknown>[] = [];
  const watch = startStallWatch();
  for (const mode of o.modes) {
    const r = await runMode(o, mode, results.length === 0, watch);
    const suffix = `${o.isolation === 'none' ? '-no-isolation' : ''}${o.debounceAfterMs !== undefined ? `-debounce${o.debounceAfterMs}ms` : ''}`;
    const file = join(o.outDir, `controlplane-${mode}-${o.services}x${o.proxies}${suffix}.json`);
    writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
    log(`wrote ${relative(process.cwd(), file)}`);
    results.push(r);
  }
  watch.stop();
  log(`\n== summary (${round1((monoMs() - started) / 1000)} s)`);
  for (const r of results) {
    const g = r.goals as Record<string, { met: boolean | null; worstMs?: number; p99Ms?: number; peakMB?: number }>;
    const verdict = (met: boolean | null) => (met === null ? 'not measured' : met ? 'met' : 'NOT met');
    const d = r.discovery as { cpuS: { total: number }; peakRssMB: number };
    const e = r.endpointChange as { edsBytesPerChange: Record<string, number | null> };
    const cn = r.connect as { allReadyMs: number; ready: number; total: number };
    log(
      `${r.mode}: connect ${cn.ready}/${cn.total} in ${round1(cn.allReadyMs / 1000)} s | config change worst ${g.configConvergedWithin1s!.worstMs ?? '-'} ms (${verdict(g.configConvergedWithin1s!.met)}) | ` +
        `EDS to 500 p99 ${g.endpoint500Within100msP99!.p99Ms ?? '-'} ms (${verdict(g.endpoint500Within100msP99!.met)}) | EDS bytes/change ${JSON.stringify(e.edsBytesPerChange)} | ` +
        `CPU ${d.cpuS.total} s | peak RSS ${d.peakRssMB} MB (${verdict(g.rssAtMost500MB!.met)}) | host pauses ${(r.hostPauses as Paused).count} (${(r.hostPauses as Paused).ms} ms)`,
    );
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
