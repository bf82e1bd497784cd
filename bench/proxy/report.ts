// Turning raw measurements into the published numbers: added latency over direct, ratios to nginx, the goals, and the printed table.
import type { Measurement } from './measure.js';

/** A target's slot in a scenario: measured, skipped (with why), or failed (with the error). */
export type Outcome = { measurement: Measurement } | { skipped: string } | { error: string };

export interface TargetResult {
  maxRps: number | null;
  cpuUsPerReq: number | null;
  /** Target's latency percentile at the fixed rate minus direct's same percentile in the same run, µs. */
  addedP50Us: number | null;
  addedP90Us: number | null;
  addedP99Us: number | null;
  /**
   * The median over the latency rounds of each round's p99, minus direct's: a burst of other work on the
   * machine in one round moves the pooled p99 of whichever targets it hit, not this.
   */
  addedP99MedianOfRoundsUs: number | null;
  rssMiB: { idle: number | null; load: number | null };
  /** target ÷ nginx, same scenario and run; null where nginx was not measured or its value is not positive. */
  ratiosToNginx: Ratios | null;
  /** target ÷ each target it is a variant of (`Target.compareTo`) that was measured in the same scenario and run. */
  ratiosTo?: Record<string, Ratios>;
  /** The goals for `meltemi proxy`, applied to this target (null for direct and nginx). */
  goals: Goals | null;
  detail: Record<string, unknown>;
}

export interface Ratios {
  cpuUsPerReq: number | null;
  addedP99Us: number | null;
  addedP99MedianOfRoundsUs: number | null;
  maxRps: number | null;
}

export interface Goals {
  cpuPerReqAtMost2xNginx: boolean | null;
  addedP99AtMost1_5xNginx: boolean | null;
  rssUnderLoadAtMost50MiB: boolean | null;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || !(b > 0)) return null;
  return r2(a / b);
}

function ratios(a: TargetResult, b: TargetResult): Ratios {
  return {
    cpuUsPerReq: ratio(a.cpuUsPerReq, b.cpuUsPerReq),
    addedP99Us: ratio(a.addedP99Us, b.addedP99Us),
    addedP99MedianOfRoundsUs: ratio(a.addedP99MedianOfRoundsUs, b.addedP99MedianOfRoundsUs),
    maxRps: ratio(a.maxRps, b.maxRps),
  };
}

/**
 * Results for one scenario, keyed by target name, in `order`. `direct` is the latency reference; a
 * scenario without a measured direct has no added latency. `compareTo` names, per target, the
 * targets it is a variant of (its ratios to each measured one are added).
 */
export function scenarioResults(outcomes: Map<string, Outcome>, order: readonly string[], compareTo: ReadonlyMap<string, readonly string[]> = new Map()): Record<string, TargetResult | { skipped: string } | { error: string }> {
  const m = (name: string) => {
    const o = outcomes.get(name);
    return o && 'measurement' in o ? o.measurement : undefined;
  };
  const direct = m('direct');
  const added = (x: Measurement, q: 'p50' | 'p90' | 'p99') => (direct?.latency && x.latency ? r1(x.latency.latencyUs[q] - direct.latency.latencyUs[q]) : null);
  const results: Record<string, TargetResult | { skipped: string } | { error: string }> = {};
  const base = new Map<string, TargetResult>();
  for (const name of order) {
    const o = outcomes.get(name);
    if (!o) continue;
    if (!('measurement' in o)) {
      results[name] = o;
      continue;
    }
    const x = o.measurement;
    const l = x.latency;
    const res: TargetResult = {
      maxRps: x.max ? Math.round(x.max.rps) : null,
      cpuUsPerReq: x.cpuUsPerReq,
      addedP50Us: name === 'direct' ? 0 : added(x, 'p50'),
      addedP90Us: name === 'direct' ? 0 : added(x, 'p90'),
      addedP99Us: name === 'direct' ? 0 : added(x, 'p99'),
      addedP99MedianOfRoundsUs: name === 'direct' ? 0 : direct?.latency && l ? r1(l.p99MedianOfRoundsUs - direct.latency.p99MedianOfRoundsUs) : null,
      rssMiB: { idle: x.rssMiB.idle, load: x.rssMiB.load },
      ratiosToNginx: null,
      goals: null,
      detail: {
        wire: x.wire,
        processes: x.processes,
        ...(x.errors.length > 0 ? { errors: x.errors } : {}),
        latencyUs: l ? l.latencyUs : null,
        latencyRun: l ? { scheduled: l.scheduled, completed: l.completed, errors: l.errors, timeouts: l.timeouts, firstError: l.firstError, achievedRps: l.achievedRps, sendLagUs: l.sendLagUs, fromDueUs: l.fromDueUs, p99ByRoundUs: l.p99ByRoundUs } : null,
        // Per interleaved round of the maximum run; the row's maxRps, cpuUsPerReq and targetCores are their medians.
        maxRounds: x.maxRounds,
        // Rounds the host paused the guest in, run again and left out of the figures.
        ...(x.maxRoundsRerun.length > 0 ? { maxRoundsRerun: x.maxRoundsRerun } : {}),
        maxRun: x.max ? { succeeded: x.max.succeeded, failed: x.max.failed, errored: x.max.errored, timeout: x.max.timeout, non2xx: x.max.non2xx, seconds: x.max.seconds, meanRequestUs: x.max.meanRequestUs } : null,
        targetCores: x.targetCores,
        // What one fully used core would serve at this cost: the proxy's capacity even when the load side limited maxRps.
        rpsPerCoreFromCpu: x.cpuUsPerReq ? Math.round(1e6 / x.cpuUsPerReq) : null,
        foreignCpu: x.foreignCpu,
        rssHwmSumMiB: x.rssMiB.hwmSum,
      },
    };
    base.set(name, res);
    results[name] = res;
  }
  const nginx = base.get('nginx');
  for (const [name, res] of base) {
    if (name === 'direct' || !nginx) continue;
    res.ratiosToNginx = ratios(res, nginx);
    if (name === 'nginx') continue;
    const q = res.ratiosToNginx;
    res.goals = {
      cpuPerReqAtMost2xNginx: q.cpuUsPerReq === null ? null : q.cpuUsPerReq <= 2,
      addedP99AtMost1_5xNginx: q.addedP99Us === null ? null : q.addedP99Us <= 1.5,
      rssUnderLoadAtMost50MiB: res.rssMiB.load === null ? null : res.rssMiB.load <= 50,
    };
  }
  for (const [name, res] of base) {
    const bases = (compareTo.get(name) ?? []).flatMap((b) => (base.has(b) ? [[b, ratios(res, base.get(b)!)] as const] : []));
    if (bases.length > 0) res.ratiosTo = Object.fromEntries(bases);
  }
  return results;
}

/** A fixed-width table of one scenario for the terminal. */
export function formatScenario(title: string, results: Record<string, TargetResult | { skipped: string } | { error: string }>): string {
  const header = ['target', 'max rps', 'cores', 'CPU µs/req', '×nginx', 'added p50/p90/p99 µs', '×nginx p99', 'p99 med. rounds (×nginx)', 'RSS idle/load MiB', 'foreign CPU'];
  const rows: string[][] = [header];
  const f = (x: number | null | undefined, digits = 1) => (x == null ? '-' : x.toFixed(digits));
  for (const [name, r] of Object.entries(results)) {
    if ('skipped' in r) {
      rows.push([name, `skipped: ${r.skipped}`]);
      continue;
    }
    if ('error' in r) {
      rows.push([name, `failed: ${r.error.split('\n')[0]}`]);
      continue;
    }
    const d = r.detail as { targetCores: number | null; foreignCpu: number | null; errors?: string[] };
    rows.push([
      name + (d.errors ? ' (!)' : ''),
      f(r.maxRps, 0),
      f(d.targetCores, 2),
      f(r.cpuUsPerReq),
      f(r.ratiosToNginx?.cpuUsPerReq, 2),
      `${f(r.addedP50Us, 0)}/${f(r.addedP90Us, 0)}/${f(r.addedP99Us, 0)}`,
      f(r.ratiosToNginx?.addedP99Us, 2),
      `${f(r.addedP99MedianOfRoundsUs, 0)} (${f(r.ratiosToNginx?.addedP99MedianOfRoundsUs, 2)})`,
      `${f(r.rssMiB.idle)}/${f(r.rssMiB.load)}`,
      f(d.foreignCpu, 2),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...rows.filter((row) => row.length === header.length).map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => (row.length === header.length ? row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ') : `${row[0]!.padEnd(widths[0]!)}  ${row[1]}`);
  const variants = Object.entries(results).flatMap(([name, r]) =>
    'ratiosTo' in r && r.ratiosTo ? Object.entries(r.ratiosTo).map(([b, q]) => `  ${name} ÷ ${b}: CPU µs/req ×${f(q.cpuUsPerReq, 2)}, added p99 ×${f(q.addedP99Us, 2)}, max rps ×${f(q.maxRps, 2)}`) : [],
  );
  return [`== ${title}`, ...rows.map(line), ...variants].join('\n');
}
