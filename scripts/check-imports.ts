// Import discipline: components import only downward (DESIGN.md §2) and no file-level import cycles exist.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Lower rank = lower layer. A component may import itself and strictly lower ranks. */
const RANK: Record<string, number> = {
  shared: 0,
  api: 1,
  config: 2,
  registry: 2,
  model: 3,
  xds: 4,
  security: 4,
  ca: 4,
  telemetry: 4,
  injector: 5,
  cni: 5,
  proxy: 6,
  operator: 6,
  runtime: 7,
  console: 7,
  cli: 8,
};
/** Same-rank edges DESIGN.md allows. */
const EXTRA_ALLOWED = new Set(['registry->config', 'injector->cni']);

/**
 * Packages a sidecar must not load at start: each costs megabytes of RSS in every pod (protobufjs
 * and the Envoy protos ~26 MiB, grpc-js ~12 MiB, jose ~7 MiB, re2js ~2.5 MiB). `meltemi proxy` decodes xDS with
 * src/xds/wire, speaks gRPC with src/proxy/grpc, imports jose dynamically when a JWT filter is compiled, and requires re2js when a regex is.
 */
const SIDECAR_ENTRY = 'cli/commands/proxy.ts';
const SIDECAR_FORBIDDEN = /^(?:protobufjs|@grpc\/|jose$|re2js$|yaml$|@peculiar\/|@sinclair\/)/;

const root = resolve(process.argv[2] ?? 'src');
const files: string[] = [];
(function walk(d: string) {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.endsWith('.ts') && !n.endsWith('.test.ts')) files.push(p);
  }
})(root);

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/g;
const DYNAMIC = /import\(\s*['"]([^'"]+)['"]\s*\)/g;

function component(file: string): string {
  return relative(root, file).split('/')[0]!.replace(/\.ts$/, '');
}

const graph = new Map<string, string[]>();
/** Per file: what it loads when it is loaded (static imports that are not type-only): files and packages. */
const loads = new Map<string, { files: string[]; packages: string[] }>();
const problems: string[] = [];
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  const deps: string[] = [];
  const loaded = { files: [] as string[], packages: [] as string[] };
  loads.set(f, loaded);
  for (const re of [IMPORT, DYNAMIC]) {
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      const typeOnly = re === IMPORT && m[1] !== undefined;
      const spec = re === IMPORT ? m[2]! : m[1]!;
      const atStart = re === IMPORT && !typeOnly;
      if (!spec.startsWith('.')) {
        if (atStart && !spec.startsWith('node:')) loaded.packages.push(spec);
        continue;
      }
      const target = resolve(dirname(f), spec.replace(/\.js$/, '.ts'));
      if (atStart) loaded.files.push(target);
      deps.push(target);
      const from = component(f);
      const to = component(target);
      if (from === to) continue;
      const rf = RANK[from];
      const rt = RANK[to];
      if (rf === undefined) problems.push(`${relative(root, f)}: component "${from}" is not in the layer table (scripts/check-imports.ts)`);
      else if (rt === undefined) problems.push(`${relative(root, f)}: imports "${to}", which is not in the layer table`);
      else if (!(rt < rf || EXTRA_ALLOWED.has(`${from}->${to}`))) problems.push(`${relative(root, f)}: ${from} may not import ${to} (imports flow downward: see DESIGN.md §2)`);
    }
  }
  graph.set(f, deps);
}

// Tarjan's strongly connected components: any component with more than one file is a cycle.
let index = 0;
const idx = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
function strong(v: string): void {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue;
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
  }
  if (low.get(v) === idx.get(v)) {
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1) problems.push(`import cycle: ${scc.map((s) => relative(root, s)).sort().join(' -> ')}`);
  }
}
for (const f of graph.keys()) if (!idx.has(f)) strong(f);

// What `meltemi proxy` loads at start, file by file: no forbidden package on the way.
(function sidecarStartup(): void {
  const entry = join(root, SIDECAR_ENTRY);
  if (!loads.has(entry)) return;
  const via = new Map<string, string>([[entry, '']]);
  const queue = [entry];
  while (queue.length > 0) {
    const f = queue.shift()!;
    const l = loads.get(f);
    if (!l) continue;
    for (const p of l.packages) {
      if (!SIDECAR_FORBIDDEN.test(p)) continue;
      const chain: string[] = [];
      for (let at: string | undefined = f; at; at = via.get(at) || undefined) chain.unshift(relative(root, at));
      problems.push(`${relative(root, f)}: loads "${p}" at sidecar start (${chain.join(' -> ')}); a sidecar must not (see SIDECAR_FORBIDDEN in scripts/check-imports.ts)`);
    }
    for (const t of l.files) {
      if (via.has(t)) continue;
      via.set(t, f);
      queue.push(t);
    }
  }
})();

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`check-imports: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`check-imports: ${files.length} files, no cycles, imports flow downward`);
