// CA benchmark (issue 5): Meltemi's CA (CreateCertificate over TLS, token-authenticated) in its own process, loaded by a client process at 1, 16 and 64 calls in flight — CSRs signed per second, latency, CA CPU per CSR, peak RSS — for an EC P-256 and an RSA 2048 root, beside openssl's own signing.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { leafExtensions, makeRoot, opensslVersion } from '../proxy/openssl.js';
import { coreBusy, coreTimes, cpuLayout, cpuTimeUs, machineInfo, memoryKiB, nodeIdleRssMiB, pinSelf } from '../proxy/system.js';
import { Child, installChildCleanup } from '../forked-child.js';
import { CONNECTION_MODES, ROOT_KEY_TYPES, type CaReady, type ClientRunResult, type ConnectionMode, type RootKeyType, type SignLoopResult } from './ipc.js';
import { workloadCsrs } from './workload-csrs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));

interface Options {
  quick: boolean;
  keys: RootKeyType[];
  modes: ConnectionMode[];
  concurrency: number[];
  /** Seconds of each measured run (one per key × mode × concurrency). */
  durationS: number;
  /** Seconds of unrecorded load before a key type's runs (JIT, TLS session, pools). */
  warmupS: number;
  outDir: string;
}

/** Upper bound on calls per run, whatever the duration: every loop is bounded in count as well as time. */
const MAX_CALLS_PER_RUN = 1_000_000;
const MAX_OPENSSL_CERTS = 5000;

const USAGE = `usage: npm run bench -- ca [--quick] [--keys ecP256,rsa2048] [--modes shared,per-call]
  [--concurrency 1,16,64] [--duration S] [--out DIR]
The CA runs alone in a child process pinned to the last core; the load client (another process) and
this orchestrator share the other cores. Per root key type: a warm-up, then for each connection mode
(shared: one TLS connection for every call; per-call: a new TLS connection per call, as each proxy's
certificate agent does) and each concurrency, a closed-loop run of S seconds. Then, on the CA's core:
signWorkloadCsr alone in the CA process (no gRPC/TLS), \`openssl x509 -req\` in a shell loop, and
\`openssl speed\` for the raw signature.
defaults: both key types, both modes, concurrency 1,16,64, 10 s per run, 3 s warm-up.
--quick: 2 s per run, 1 s warm-up (about a minute in all).
Writes bench/results/ca.json (ca-quick.json with --quick).`;

class UsageError extends Error {}

function parseOptions(argv: string[]): Options {
  const o: Options = { quick: false, keys: [...ROOT_KEY_TYPES], modes: [...CONNECTION_MODES], concurrency: [1, 16, 64], durationS: 10, warmupS: 3, outDir: join(ROOT, 'bench', 'results') };
  let duration: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const list = <T extends string>(allowed: readonly T[]): T[] => {
      const xs = value().split(',').map((s) => s.trim()).filter(Boolean);
      const bad = xs.filter((x) => !allowed.includes(x as T));
      if (bad.length > 0 || xs.length === 0) throw new UsageError(`${flag}: unknown ${bad.join(', ') || '(empty)'}; one or more of ${allowed.join(', ')}`);
      return xs as T[];
    };
    switch (flag) {
      case '--quick': o.quick = true; break;
      case '--keys': o.keys = list(ROOT_KEY_TYPES); break;
      case '--modes': o.modes = list(CONNECTION_MODES); break;
      case '--concurrency': {
        const xs = value().split(',').map(Number);
        if (xs.length === 0 || xs.some((n) => !Number.isInteger(n) || n < 1 || n > 1024)) throw new UsageError('--concurrency takes integers from 1 to 1024, comma-separated');
        o.concurrency = xs;
        break;
      }
      case '--duration': {
        const n = Number(value());
        if (!Number.isFinite(n) || n < 0.5 || n > 600) throw new UsageError('--duration must be a number of seconds in [0.5, 600]');
        duration = n;
        break;
      }
      case '--out': o.outDir = value(); break;
      case '--help': case '-h': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: throw new UsageError(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  if (o.quick) {
    o.durationS = 2;
    o.warmupS = 1;
  }
  if (duration !== undefined) o.durationS = duration;
  return o;
}

function log(s: string): void {
  process.stdout.write(`${s}\n`);
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const MiB = (kib: number) => r1(kib / 1024);

/** CPU of the measured processes over one phase, and how busy the machine was besides them. */
interface PhaseCpu {
  caCpuS: number;
  clientCpuS: number;
  wallS: number;
  /** CPU used by processes that are not this benchmark's, as a fraction of all cores (non-zero: the machine was shared). */
  foreignCpu: number;
}

async function measured<T>(caPid: number, clientPid: number | undefined, body: () => Promise<T>): Promise<{ result: T; cpu: PhaseCpu }> {
  const ours = () => cpuTimeUs(caPid) + (clientPid === undefined ? 0 : cpuTimeUs(clientPid)) + cpuTimeUs(process.pid, true);
  const ca0 = cpuTimeUs(caPid);
  const cl0 = clientPid === undefined ? 0 : cpuTimeUs(clientPid);
  const ours0 = ours();
  const cores0 = coreTimes();
  const t0 = performance.now();
  const result = await body();
  const wallUs = (performance.now() - t0) * 1000;
  const busy = coreBusy(cores0, coreTimes());
  const allBusyUs = busy.reduce((a, b) => a + b, 0) * wallUs;
  return {
    result,
    cpu: {
      caCpuS: (cpuTimeUs(caPid) - ca0) / 1e6,
      clientCpuS: clientPid === undefined ? 0 : (cpuTimeUs(clientPid) - cl0) / 1e6,
      wallS: wallUs / 1e6,
      foreignCpu: Math.max(0, r2((allBusyUs - (ours() - ours0)) / (wallUs * busy.length))),
    },
  };
}

interface RunRow {
  mode: ConnectionMode;
  concurrency: number;
  csrsPerS: number;
  completed: number;
  errors: number;
  firstError?: string;
  checked: number;
  latencyMs: ClientRunResult['latencyMs'];
  caCpuMsPerCsr: number | null;
  /** 1000 ÷ caCpuMsPerCsr: what one fully used core would sign at this cost, whatever else the machine ran. */
  csrsPerCoreS: number | null;
  /** CA CPU seconds per wall second: near 1.0 its core was the limit; lower, the client or latency was. */
  caCores: number;
  clientCores: number;
  foreignCpu: number;
}

/** openssl's signing on the CA's core: `x509 -req` once per process in a bash loop, bounded by time and count. */
function opensslX509Loop(dir: string, keyType: RootKeyType, csrPem: string, seconds: number, cpu: string | undefined): { certs: number; wallS: number; perS: number } {
  const root = makeRoot(dir, `openssl-${keyType}`, keyType);
  const csr = join(dir, 'workload.csr');
  const ext = join(dir, 'workload.ext');
  writeFileSync(csr, csrPem);
  writeFileSync(ext, leafExtensions(['URI:spiffe://cluster.local/ns/bench/sa/w0']));
  // EPOCHREALTIME is a bash builtin: the clock costs no process per iteration, only openssl does.
  const script = `end=$(( \${EPOCHREALTIME/./} + ${Math.round(seconds * 1e6)} )); n=0
while [ $n -lt ${MAX_OPENSSL_CERTS} ] && [ \${EPOCHREALTIME/./} -lt $end ]; do
  openssl x509 -req -in '${csr}' -CA '${root.cert}' -CAkey '${root.key}' -set_serial $((n + 1)) -days 1 -extfile '${ext}' -out /dev/null 2>/dev/null || exit 1
  n=$((n + 1))
done
echo $n`;
  const argv = cpu === undefined ? ['bash', '-c', script] : ['taskset', '-c', cpu, 'bash', '-c', script];
  const t0 = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: (seconds + 60) * 1000 });
  const wallS = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`openssl x509 -req loop failed (exit ${r.status ?? r.signal}): ${r.stderr}`);
  const certs = Number(r.stdout.trim());
  return { certs, wallS: r2(wallS), perS: r1(certs / wallS) };
}

/** `openssl speed` sign/s for ECDSA P-256 and RSA 2048 on the CA's core: the raw signature, no certificate around it. */
function opensslSpeed(seconds: number, cpu: string | undefined): { ecdsaP256SignPerS: number | null; rsa2048SignPerS: number | null } {
  const args = ['speed', '-seconds', String(seconds), 'ecdsap256', 'rsa2048'];
  const argv = cpu === undefined ? ['openssl', ...args] : ['taskset', '-c', cpu, 'openssl', ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: (seconds * 8 + 60) * 1000 });
  const out = r.stdout ?? '';
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : null;
  };
  return { ecdsaP256SignPerS: num(/256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)/), rsa2048SignPerS: num(/rsa 2048 bits\s+\S+s\s+\S+s\s+([\d.]+)/) };
}

function formatKey(keyType: RootKeyType, k: Record<string, unknown>, rows: RunRow[]): string {
  const header = ['mode', 'in flight', 'CSRs/s', 'p50 ms', 'p99 ms', 'CA CPU ms/CSR', 'CSRs/core-s', 'CA cores', 'client cores', 'errors', 'foreign CPU'];
  const f = (x: number | null | undefined, d = 1) => (x == null ? '-' : x.toFixed(d));
  const table = [header, ...rows.map((x) => [x.mode, String(x.concurrency), f(x.csrsPerS), f(x.latencyMs?.p50, 2), f(x.latencyMs?.p99, 2), f(x.caCpuMsPerCsr, 3), f(x.csrsPerCoreS), f(x.caCores, 2), f(x.clientCores, 2), String(x.errors), f(x.foreignCpu, 2)])];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const lines = table.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  return [`== ${keyType} root (${String(k.caKey)})`, ...lines, ...(k.summary as string[]).map((s) => `  ${s}`)].join('\n');
}

async function main(): Promise<void> {
  installChildCleanup();
  const o = parseOptions(process.argv.slice(2));
  const started = performance.now();
  const layout = cpuLayout();
  if (layout.pinned) pinSelf(layout.loadCpus);
  else log(`warning: ${layout.count} CPU: the CA cannot have a core of its own; results mix it with the client`);
  const caCpus = layout.pinned ? String(layout.proxyCpu) : undefined;
  const loadCpus = layout.pinned ? layout.loadCpus : undefined;
  const loadAtStart = loadavg()[0]!;
  if (loadAtStart > 0.5) log(`warning: 1-minute load average is ${loadAtStart.toFixed(2)}: other work competes with the benchmark (see "foreign CPU")`);
  const opensslCli = opensslVersion();
  log(`node ${process.version} (OpenSSL ${process.versions.openssl}); openssl CLI: ${opensslCli ?? 'not found'}`);

  const workDir = mkdtempSync(join(tmpdir(), 'meltemi-bench-ca-run-'));
  const nodeRss = await nodeIdleRssMiB(workDir, loadCpus);
  log(`idle RSS: node ${nodeRss.plain} MiB, node --import tsx ${nodeRss.tsx} MiB (the CA process runs under tsx)`);
  const client = await Child.start<{ type: 'ready' }>('ca-client', join(HERE, 'client.ts'), [], { ...(loadCpus !== undefined ? { cpus: loadCpus } : {}), timeoutMs: 30_000 });
  const keys: Record<string, Record<string, unknown>> = {};
  try {
    for (const keyType of o.keys) {
      log(`\n${keyType} root: starting the CA…`);
      const ca = await Child.start<CaReady>(`ca-${keyType}`, join(HERE, 'ca-child.ts'), [keyType], { ...(caCpus !== undefined ? { cpus: caCpus } : {}), timeoutMs: 60_000 });
      let peakKiB = 0;
      const sampler = setInterval(() => (peakKiB = Math.max(peakKiB, memoryKiB(ca.pid).rss)), 100);
      const rows: RunRow[] = [];
      let inProcess: { signed: number; perS: number; caCpuMsPerCert: number | null; concurrency: number; foreignCpu: number } | undefined;
      let idleMiB = 0;
      try {
        await client.call({ cmd: 'prepare', ca: ca.ready }, 60_000);
        await new Promise((r) => setTimeout(r, 300));
        idleMiB = MiB(memoryKiB(ca.pid).rss);
        log(`  CA ${ca.ready.caKey}, ready in ${ca.ready.setupMs} ms, idle RSS ${idleMiB} MiB; warm-up ${o.warmupS} s…`);
        const callTimeout = (o.durationS + 60) * 1000;
        await client.call({ cmd: 'run', mode: 'shared', concurrency: 16, durationS: o.warmupS, maxCalls: MAX_CALLS_PER_RUN }, callTimeout);
        for (const mode of o.modes) {
          for (const concurrency of o.concurrency) {
            const { result: x, cpu } = await measured(ca.pid, client.pid, () => client.call<ClientRunResult>({ cmd: 'run', mode, concurrency, durationS: o.durationS, maxCalls: MAX_CALLS_PER_RUN }, callTimeout));
            const row: RunRow = {
              mode,
              concurrency,
              csrsPerS: r1(x.completed / x.wallS),
              completed: x.completed,
              errors: x.errors,
              ...(x.firstError !== undefined ? { firstError: x.firstError } : {}),
              checked: x.checked,
              latencyMs: x.latencyMs,
              caCpuMsPerCsr: x.completed > 0 ? r3((cpu.caCpuS * 1000) / x.completed) : null,
              csrsPerCoreS: x.completed > 0 && cpu.caCpuS > 0 ? r1(x.completed / cpu.caCpuS) : null,
              caCores: r2(cpu.caCpuS / cpu.wallS),
              clientCores: r2(cpu.clientCpuS / cpu.wallS),
              foreignCpu: cpu.foreignCpu,
            };
            rows.push(row);
            log(`  ${mode} × ${concurrency}: ${row.csrsPerS} CSRs/s, p50 ${x.latencyMs?.p50 ?? '-'} ms, p99 ${x.latencyMs?.p99 ?? '-'} ms, CA ${row.caCpuMsPerCsr ?? '-'} ms CPU/CSR (${row.caCores} cores), client ${row.clientCores} cores${x.errors > 0 ? `, ${x.errors} errors (${x.firstError})` : ''}`);
          }
        }
        const loopS = Math.max(1, o.durationS / 2);
        const { result: s, cpu } = await measured(ca.pid, undefined, () => ca.call<SignLoopResult>({ cmd: 'sign-loop', durationS: loopS, concurrency: 16, maxSigned: MAX_CALLS_PER_RUN }, (loopS + 60) * 1000));
        inProcess = { signed: s.signed, perS: r1(s.signed / s.wallS), caCpuMsPerCert: s.signed > 0 ? r3((cpu.caCpuS * 1000) / s.signed) : null, concurrency: 16, foreignCpu: cpu.foreignCpu };
        log(`  in-process signWorkloadCsr × 16: ${inProcess.perS}/s, ${inProcess.caCpuMsPerCert} ms CPU per certificate`);
      } finally {
        clearInterval(sampler);
        peakKiB = Math.max(peakKiB, memoryKiB(ca.pid).rss);
        const hwm = memoryKiB(ca.pid).hwm;
        await ca.stop();
        keys[keyType] = { caKey: ca.ready.caKey, setupMs: ca.ready.setupMs, rssMiB: { idle: idleMiB, peakSampled: MiB(peakKiB), vmHwm: MiB(hwm) }, runs: rows };
      }
      // The CA has stopped: openssl gets its core.
      const csrPem = workloadCsrs(1)[0]!;
      const x509Loop = opensslCli ? opensslX509Loop(workDir, keyType, csrPem, Math.max(1, o.durationS / 2), caCpus) : null;
      if (x509Loop) log(`  openssl x509 -req loop (one process per certificate): ${x509Loop.perS}/s`);
      const k = keys[keyType]!;
      k.inProcess = inProcess;
      k.opensslX509ReqLoop = x509Loop;
      k.summary = summarize(keyType, rows, inProcess?.perS, x509Loop?.perS);
      log(formatKey(keyType, k, rows));
    }
  } finally {
    await client.stop();
  }
  const speed = opensslCli ? opensslSpeed(o.quick ? 1 : 2, caCpus) : null;
  if (speed) log(`\nopenssl speed on the CA's core: ECDSA P-256 ${speed.ecdsaP256SignPerS} sign/s, RSA 2048 ${speed.rsa2048SignPerS} sign/s`);
  // What the signing code costs beyond the signature itself.
  for (const [keyType, k] of Object.entries(keys)) {
    const perCert = (k.inProcess as { caCpuMsPerCert: number | null } | undefined)?.caCpuMsPerCert;
    const raw = keyType === 'ecP256' ? speed?.ecdsaP256SignPerS : speed?.rsa2048SignPerS;
    if (perCert && raw) {
      k.inProcessCpuOverRawSignature = r1(perCert / (1000 / raw));
      log(`${keyType}: signWorkloadCsr costs ${perCert} ms CPU per certificate, ${k.inProcessCpuOverRawSignature}× openssl's raw signature (${r3(1000 / raw)} ms)`);
    }
  }

  const result = {
    benchmark: 'ca',
    quick: o.quick,
    date: new Date().toISOString(),
    machine: { ...machineInfo(), loadAverage1mAtStart: r2(loadAtStart), nodeIdleRssMiB: nodeRss },
    versions: { node: process.version, nodeOpenssl: process.versions.openssl, opensslCli: opensslCli ?? 'not found' },
    pinning: layout.pinned ? { caCpu: layout.proxyCpu, clientAndOrchestratorCpus: layout.loadCpus } : 'none (one CPU)',
    options: { keys: o.keys, modes: o.modes, concurrency: o.concurrency, durationS: o.durationS, warmupS: o.warmupS, maxCallsPerRun: MAX_CALLS_PER_RUN },
    method: {
      ca: 'bench/ca/ca-child.ts: openCaDirectory on a temp dir (an RSA 2048 root generated there, or an EC P-256 root written first in the cacerts layout and loaded), CaServer over TLS with caServerCredentials (EC P-256 serving key, as istiod.istio-system.svc), LocalTokenAuthenticator with 64 workload tokens; nothing else runs in the process (node --import tsx, so its RSS includes the tsx loader: compare machine.nodeIdleRssMiB)',
      client: 'bench/ca/client.ts: 256 CSRs for EC P-256 keys made before the load (src/shared/csr.ts createCsr); closed loop with N calls in flight, each worker with its own token; the first 16 answers of every run are parsed and checked (SPIFFE ID, signed by the root)',
      modes: 'shared: every call on one TLS connection (HTTP/2 streams); per-call: a new gRPC client (private subchannel pool) per call, closed after it — a TLS handshake per certificate, as the proxy\'s certificate agent makes',
      csrsPerS: 'answers completed ÷ wall time of the run',
      caCpuMsPerCsr: 'utime+stime of the CA process (all threads, /proc/PID/stat) during the run ÷ answers completed',
      csrsPerCoreS: 'answers completed ÷ CA CPU seconds: the rate one whole core would give at this cost (the least noisy number on a shared machine)',
      caCores: 'CA CPU seconds per wall second: near 1.0 the CA\'s core was the limit; below, the client or the round trip was',
      rssMiB: 'CA process VmRSS: idle after start, the largest sampled every 100 ms, and VmHWM at the end',
      inProcess: 'signWorkloadCsr in the CA process, 16 at a time, no gRPC, TLS or token check: the signing code alone',
      opensslX509ReqLoop: '`openssl x509 -req -CA … -extfile` once per certificate in a bash loop on the CA\'s core (the same CSR, the same extensions): one process start, key load and signature per certificate',
      opensslSpeed: '`openssl speed -seconds N ecdsap256 rsa2048` on the CA\'s core: the raw signature only',
      inProcessCpuOverRawSignature: 'inProcess.caCpuMsPerCert ÷ (1000 ÷ openssl speed sign/s for the root\'s key type): how many raw signatures one issued certificate costs',
    },
    rootKeyTypes: keys,
    opensslSpeed: speed,
    reference:
      'No public CSR/s figure for Istio\'s CA (istiod) was found (shared/reference/perf-anchors.md §5); the nearest is indirect: one istiod absorbed 31–42 new sidecars/s under churn in AKS\'s scale test (each needs a certificate), on 15–16 vCPU doing everything else a control plane does.',
    elapsedS: r1((performance.now() - started) / 1000),
  };
  mkdirSync(o.outDir, { recursive: true });
  const file = join(o.outDir, o.quick ? 'ca-quick.json' : 'ca.json');
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  rmSync(workDir, { recursive: true, force: true });
  log(`\nwrote ${relative(process.cwd(), file)} in ${result.elapsedS} s`);
}

/** The lines a reader wants: rate at 16 in flight per mode, against the in-process signer and openssl's loop. */
function summarize(keyType: RootKeyType, rows: RunRow[], inProcessPerS: number | undefined, opensslPerS: number | undefined): string[] {
  const out: string[] = [];
  for (const row of rows.filter((x) => x.concurrency === 16)) {
    const vs = [inProcessPerS ? `${r2(row.csrsPerS / inProcessPerS)}× the in-process signer (${inProcessPerS}/s)` : '', opensslPerS ? `${r2(row.csrsPerS / opensslPerS)}× openssl x509 -req in a loop (${opensslPerS}/s)` : ''].filter(Boolean);
    out.push(`${keyType}, ${row.mode} connection, 16 in flight: ${row.csrsPerS} CSRs/s${vs.length > 0 ? ` — ${vs.join(', ')}` : ''}`);
  }
  return out;
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
