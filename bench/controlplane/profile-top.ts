// Summarises a V8 .cpuprofile (from `--profile`): the functions with the most self time, and with the most total time.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function frameName(n: ProfileNode): string {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const file = url === '' ? '(native)' : url.includes('node_modules') ? url.slice(url.lastIndexOf('node_modules') + 13) : relative(process.cwd(), url);
  return `${n.callFrame.functionName || '(anonymous)'} ${file}:${n.callFrame.lineNumber + 1}`;
}

function main(): void {
  const args = process.argv.slice(2);
  const u = args.indexOf('--under');
  // --under NAME: only samples with a frame whose function name is NAME on the stack (e.g. pushConnection).
  const under = u >= 0 ? args.splice(u, 2)[1] : undefined;
  const [file, countArg] = args;
  if (!file) throw new Error('usage: npx tsx bench/controlplane/profile-top.ts FILE.cpuprofile [N] [--under FUNCTION]');
  const top = Number(countArg ?? 25);
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    if (under !== undefined) {
      let found = false;
      for (let cur: number | undefined = id; cur !== undefined && !found; cur = parent.get(cur)) found = byId.get(cur)!.callFrame.functionName === under;
      if (!found) return;
    }
    all += dt;
    const n = byId.get(id)!;
    const name = frameName(n);
    self.set(name, (self.get(name) ?? 0) + dt);
    // Total time: every distinct frame on the stack once (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = frameName(byId.get(cur)!);
      if (seen.has(f)) continue;
      seen.add(f);
      total.set(f, (total.get(f) ?? 0) + dt);
    }
  });
  const print = (title: string, m: Map<string, number>) => {
    process.stdout.write(`\n${title} (of ${(all / 1e6).toFixed(1)} s sampled)\n`);
    for (const [name, us] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${(us / 1e6).toFixed(2).padStart(8)} s ${((100 * us) / all).toFixed(1).padStart(5)}%  ${name}\n`);
    }
  };
  print('self time', self);
  print('total time', total);
}

main();
