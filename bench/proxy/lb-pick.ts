// Micro-benchmark of the upstream load balancers: ns per pick for each policy with 3 and 100 hosts, plus hashKey, and table build times. `npx tsx bench/proxy/lb-pick.ts [--picks N]`
//
// Each case runs in its own child process, so one policy's call sites do not turn megamorphic and
// slow the next (in the router a cluster has one policy).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLoadBalancer, hashKey, type LbPolicy, type LoadBalancer, type PickContext } from '../../src/proxy/upstream/load-balancer.js';
import { Host } from '../../src/proxy/upstream/host.js';

const args = process.argv.slice(2);
const picksArg = args.indexOf('--picks');
const PICKS = picksArg >= 0 ? Number(args[picksArg + 1]) : 2_000_000;
const ROUNDS = 5;

/** mulberry32, so runs are comparable. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hosts(n: number, weighted: boolean): Host[] {
  return Array.from(
    { length: n },
    (_, i) => new Host({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: weighted ? 1 + (i % 3) : 1, locality: { region: 'r', zone: `z${i % 3}` } }),
  );
}

/** Best of ROUNDS runs of PICKS picks, in ns per pick (the first round warms the JIT). */
function measure(pick: () => Host | undefined): number {
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < PICKS; i++) sink += pick()!.port;
    const ns = Number(process.hrtime.bigint() - t0) / PICKS;
    if (r > 0) best = Math.min(best, ns);
  }
  if (sink === 0) throw new Error('no picks');
  return best;
}

interface Row {
  case: string;
  hosts: number;
  nsPerPick: number;
  buildMs: number;
}

const rows: Row[] = [];
const now = () => 0;

function run(name: string, policy: LbPolicy, n: number, options: { weighted?: boolean; localityWeighted?: boolean; hashed?: boolean } = {}): void {
  const list = hosts(n, options.weighted === true);
  const t0 = performance.now();
  const lb: LoadBalancer = createLoadBalancer(policy, list, { random: seeded(n), now, localityWeighted: options.localityWeighted === true });
  const buildMs = performance.now() - t0;
  let pick: () => Host | undefined;
  if (options.hashed === true) {
    // Precomputed request hashes, cycled: what a router passes after hashing a header once.
    const hashes = Array.from({ length: 1024 }, (_, i) => hashKey(`user-${i}`));
    const ctx: PickContext = { hash: 0 };
    let i = 0;
    pick = () => {
      ctx.hash = hashes[i++ & 1023]!;
      return lb.pick(ctx);
    };
  } else {
    pick = () => lb.pick();
  }
  rows.push({ case: name, hosts: n, nsPerPick: measure(pick), buildMs });
}

interface Case {
  name: string;
  policy: LbPolicy | 'hashKey';
  n: number;
  options?: { weighted?: boolean; localityWeighted?: boolean; hashed?: boolean };
}
const CASES: Case[] = [];
for (const n of [3, 100]) {
  CASES.push(
    { name: 'ROUND_ROBIN', policy: 'ROUND_ROBIN', n },
    { name: 'ROUND_ROBIN weighted', policy: 'ROUND_ROBIN', n, options: { weighted: true } },
    { name: 'ROUND_ROBIN locality-weighted', policy: 'ROUND_ROBIN', n, options: { localityWeighted: true } },
    { name: 'LEAST_REQUEST (P2C)', policy: 'LEAST_REQUEST', n },
    { name: 'LEAST_REQUEST weighted', policy: 'LEAST_REQUEST', n, options: { weighted: true } },
    { name: 'RANDOM', policy: 'RANDOM', n },
    { name: 'RING_HASH (request hash)', policy: 'RING_HASH', n, options: { hashed: true } },
    { name: 'RING_HASH (no hash: random)', policy: 'RING_HASH', n },
    { name: 'MAGLEV (request hash)', policy: 'MAGLEV', n, options: { hashed: true } },
  );
}
CASES.push({ name: 'hashKey (14-45 byte keys)', policy: 'hashKey', n: 0 });

const caseArg = args.indexOf('--case');
if (caseArg >= 0) {
  // Child: run one case and print it as JSON.
  const c = CASES[Number(args[caseArg + 1])]!;
  if (c.policy === 'hashKey') {
    const inputs = ['user-8c1f0d2e', 'session=3fa85f64-5717-4562-b3fc-2c963f66afa6', '192.168.10.77'];
    const HOST = new Host({ address: '127.0.0.1', port: 1 });
    let j = 0;
    rows.push({ case: c.name, hosts: 0, nsPerPick: measure(() => (hashKey(inputs[j++ % 3]!) >= 0 ? HOST : undefined)), buildMs: 0 });
  } else {
    run(c.name, c.policy, c.n, c.options);
  }
  process.stdout.write(`${JSON.stringify(rows[0])}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  const width = Math.max(...CASES.map((c) => c.name.length));
  process.stdout.write(`${'case'.padEnd(width)}  hosts  ns/pick  build ms\n`);
  for (let i = 0; i < CASES.length; i++) {
    const child = spawnSync(process.execPath, [...process.execArgv, self, '--case', String(i), '--picks', String(PICKS)], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`case ${CASES[i]!.name} failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').pop()!) as Row;
    process.stdout.write(`${r.case.padEnd(width)}  ${String(r.hosts).padStart(5)}  ${r.nsPerPick.toFixed(1).padStart(7)}  ${r.buildMs.toFixed(2).padStart(8)}\n`);
  }
  process.stdout.write(`node ${process.version}, ${PICKS} picks per round, best of ${ROUNDS - 1} rounds after a warm-up, one process per case\n`);
}
