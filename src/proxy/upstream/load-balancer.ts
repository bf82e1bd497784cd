// A cluster's load balancer: Envoy's priority levels (overprovisioning spill-over, degraded hosts, panic threshold), locality weighting and the retry host predicate, over one policy's host picker.
//
// Pick order, as in Envoy (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/overview):
//   1. a priority level and whether its healthy or its degraded hosts serve, from the "priority load"
//      (priority.rst, degraded.rst);
//   2. if that level is in panic (panic_threshold.rst), all of its hosts regardless of health;
//   3. otherwise, with locality weighting, a locality by effective weight (locality_weight.rst);
//   4. a host inside that set by the policy (round robin, least request, random), or, for RING_HASH
//      and MAGLEV, by the request hash on the level's table, which also chose the level in step 1.
// Everything that depends only on the endpoints is built in the constructor (one per config or
// endpoint update). Availability (health, outlier ejection) is recomputed lazily when a host's state
// changes or an ejection expires — never per pick.
import { ConfigError } from '../config/xds-json.js';
import { EdfScheduler } from './edf-scheduler.js';
import { HASH_SPACE, toHash53 } from './hash.js';
import { hostStateGeneration, type Host } from './host.js';
import { leastRequestPicker } from './least-request.js';
import { MaglevTable } from './maglev.js';
import type { HashTable, HostPicker } from './picker.js';
import { randomPicker } from './random.js';
import { DEFAULT_MIN_RING_SIZE, MAX_RING_SIZE, RingHash } from './ring-hash.js';
import { roundRobinPicker } from './round-robin.js';

export { hashKey } from './hash.js';

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV';

export interface LbOptions {
  /** Uniform in [0, 1). Injected so tests are deterministic. */
  random: () => number;
  /** Milliseconds on the clock outlier ejections (Host.ejectedUntil) are measured on. */
  now: () => number;
  /** CommonLbConfig.healthy_panic_threshold, percent in [0, 100]; default 50; 0 disables panic mode. */
  healthyPanicThresholdPercent?: number;
  /** RingHashLbConfig sizes; defaults 1024 and 8M (the most Envoy allows). */
  ringHash?: { minRingSize?: number; maxRingSize?: number };
  /** LeastRequestLbConfig.choice_count, ≥ 2; default 2 (power of two choices). */
  leastRequestChoiceCount?: number;
  /** CommonLbConfig.locality_weighted_lb_config is set: choose a locality by its weight before a host. */
  localityWeighted?: boolean;
}

export interface PickContext {
  /** The request's hash from the route's hash policy (hashKey of a header, cookie, source IP…); undefined → random, for hash policies. Ignored by other policies. */
  hash?: number | bigint;
  /** The retry policy's host predicate (e.g. previous hosts): a host it returns true for is re-picked… */
  avoid?: (h: Host) => boolean;
  /** …at most this many times (host_selection_retry_max_attempts, default 1), after which the last pick is used anyway. */
  avoidAttempts?: number;
  /** ORIGINAL_DST clusters: the captured connection's original destination, which is the host. */
  originalDestination?: { address: string; port: number };
}

/**
 * Chooses an upstream host for each request. Built per cluster config or endpoint update (hosts are
 * fixed for its life; their health and ejection may change), used for every request until replaced.
 * `pick` returns undefined when no host can be chosen (the router answers 503, flag UH).
 */
export interface LoadBalancer {
  pick(ctx?: PickContext): Host | undefined;
  readonly hosts: readonly Host[];
}

/** Envoy's default overprovisioning factor, 1.4, as the integer percent Envoy computes with. */
const OVERPROVISIONING_PERCENT = 140;

/** Hosts of one priority level, counted for the priority-load computation. */
export interface PriorityCounts {
  total: number;
  healthy: number;
  degraded: number;
}

/** Percent of traffic per priority level for its healthy and its degraded hosts (all sum to 100), and which levels are in panic. */
export interface PriorityLoad {
  healthy: number[];
  degraded: number[];
  panic: boolean[];
}

/**
 * Envoy's priority load, with its integer arithmetic (LoadBalancerBase::recalculatePerPriorityState
 * and recalculatePerPriorityPanic):
 * - a level's health is min(100, 140 × healthy / total), likewise its degraded availability;
 * - the normalized total availability is min(100, Σ health + Σ degraded);
 * - 100 % of the load is handed to the levels' healthy hosts in priority order, each taking
 *   health × 100 / normalized total (at most what is left), then what is left to degraded hosts the
 *   same way; a rounding remainder goes to the first level with healthy hosts (else degraded);
 * - a level is in panic when the normalized total is below 100 and its (healthy + degraded) share of
 *   hosts is below the threshold; if every level is, the load is spread by host count instead;
 * - with panic disabled (0) and nothing available, level 0 nominally takes 100 % — and finds no host.
 * Note: the docs' tables round differently in a few rows (e.g. 5 %/65 % healthy gives 8/92 here and
 * in Envoy's code, 7/93 in panic_threshold.rst); this follows the code.
 */
export function computePriorityLoad(levels: readonly PriorityCounts[], panicThresholdPercent: number): PriorityLoad {
  const n = levels.length;
  const healthy: number[] = new Array<number>(n).fill(0);
  const degraded: number[] = new Array<number>(n).fill(0);
  const panic: boolean[] = new Array<boolean>(n).fill(false);
  if (n === 0) return { healthy, degraded, panic };
  const health = levels.map((l) => (l.total > 0 ? Math.min(100, Math.floor((OVERPROVISIONING_PERCENT * l.healthy) / l.total)) : 0));
  const degradedAvailability = levels.map((l) => (l.total > 0 ? Math.min(100, Math.floor((OVERPROVISIONING_PERCENT * l.degraded) / l.total)) : 0));
  let sum = 0;
  for (let i = 0; i < n; i++) sum += health[i]! + degradedAvailability[i]!;
  const normalized = Math.min(100, sum);
  if (normalized > 0) {
    let remaining = 100;
    let firstHealthy = -1;
    let firstDegraded = -1;
    for (let i = 0; i < n; i++) {
      if (firstHealthy < 0 && health[i]! > 0) firstHealthy = i;
      healthy[i] = Math.min(remaining, Math.floor((health[i]! * 100) / normalized));
      remaining -= healthy[i]!;
    }
    for (let i = 0; i < n; i++) {
      if (firstDegraded < 0 && degradedAvailability[i]! > 0) firstDegraded = i;
      degraded[i] = Math.min(remaining, Math.floor((degradedAvailability[i]! * 100) / normalized));
      remaining -= degraded[i]!;
    }
    if (remaining > 0) {
      if (firstHealthy >= 0) healthy[firstHealthy]! += remaining;
      else degraded[firstDegraded]! += remaining;
    }
  }
  const threshold = Math.min(100, panicThresholdPercent);
  if (threshold === 0 && normalized === 0) {
    healthy[0] = 100;
    return { healthy, degraded, panic };
  }
  let totalPanic = true;
  for (let i = 0; i < n; i++) {
    const l = levels[i]!;
    const availablePercent = l.total > 0 ? (100 * (l.healthy + l.degraded)) / l.total : 0;
    panic[i] = normalized === 100 ? false : availablePercent < threshold;
    totalPanic &&= panic[i]!;
  }
  if (totalPanic) {
    // Every level is short of hosts: spread the load by host count, health disregarded.
    let total = 0;
    for (const l of levels) total += l.total;
    let remaining = 100;
    let firstNonEmpty = -1;
    for (let i = 0; i < n; i++) {
      if (firstNonEmpty < 0 && levels[i]!.total > 0) firstNonEmpty = i;
      healthy[i] = total > 0 ? Math.floor((100 * levels[i]!.total) / total) : 0;
      degraded[i] = 0;
      remaining -= healthy[i]!;
    }
    healthy[Math.max(0, firstNonEmpty)]! += remaining;
  }
  return { healthy, degraded, panic };
}

/**
 * Builds the load balancer for one cluster's hosts (all priorities). Throws ConfigError for options
 * Envoy would refuse (ring sizes over 8M or min > max, choice_count < 2, a threshold outside
 * 0–100), so the caller can NACK the update and keep the previous balancer.
 */
export function createLoadBalancer(policy: LbPolicy, hosts: readonly Host[], options: LbOptions): LoadBalancer {
  const threshold = options.healthyPanicThresholdPercent ?? 50;
  if (!(threshold >= 0 && threshold <= 100)) throw new ConfigError('common_lb_config.healthy_panic_threshold', `must be a percent in 0..100, not ${threshold}`);
  const choiceCount = options.leastRequestChoiceCount ?? 2;
  if (!Number.isInteger(choiceCount) || choiceCount < 2) throw new ConfigError('least_request_lb_config.choice_count', `must be an integer ≥ 2, not ${choiceCount}`);
  const minRing = options.ringHash?.minRingSize ?? DEFAULT_MIN_RING_SIZE;
  const maxRing = options.ringHash?.maxRingSize ?? MAX_RING_SIZE;
  if (!Number.isInteger(maxRing) || maxRing < 1 || maxRing > MAX_RING_SIZE) throw new ConfigError('ring_hash_lb_config.maximum_ring_size', `must be in 1..${MAX_RING_SIZE}, not ${maxRing}`);
  if (!Number.isInteger(minRing) || minRing < 0 || minRing > maxRing) throw new ConfigError('ring_hash_lb_config.minimum_ring_size', `must be in 0..maximum_ring_size (${maxRing}), not ${minRing}`);
  switch (policy) {
    case 'ROUND_ROBIN':
      return new PriorityLoadBalancer(hosts, options, threshold, (list) => roundRobinPicker(list, options.random));
    case 'LEAST_REQUEST':
      return new PriorityLoadBalancer(hosts, options, threshold, (list) => leastRequestPicker(list, options.random, choiceCount));
    case 'RANDOM':
      return new PriorityLoadBalancer(hosts, options, threshold, (list) => randomPicker(list, options.random));
    case 'RING_HASH':
      // A minimum of 0 would leave the ring empty; one entry per host is the least that works.
      return new PriorityLoadBalancer(hosts, options, threshold, undefined, (keys, weights) => new RingHash(keys, weights, Math.max(1, minRing), maxRing));
    case 'MAGLEV':
      return new PriorityLoadBalancer(hosts, options, threshold, undefined, (keys, weights) => new MaglevTable(keys, weights));
    default:
      throw new ConfigError('lb_policy', `load balancing policy ${String(policy)} is not supported`);
  }
}

/** Host state codes in Level.state: what a host may serve as right now. */
const UNAVAILABLE = 0;
const HEALTHY = 1;
const DEGRADED = 2;

/** A list of hosts and its picker, built on first use after each availability refresh. */
interface Source {
  hosts: Host[];
  picker: HostPicker | undefined;
}

/** Localities of one level, chosen by effective weight (locality weight × min(1, 1.4 × eligible share)). */
interface LocalityChooser {
  scheduler: EdfScheduler;
  weights: Float64Array;
  sources: Source[];
}

/** One priority level: fixed membership, and availability recomputed on refresh. */
interface Level {
  hosts: Host[];
  /** Host index → locality index. */
  localityOf: Int32Array;
  localityWeights: number[];
  localityCount: number;
  /** Ring or Maglev table over all hosts (hash policies only). */
  table: HashTable | undefined;
  /** Host index → UNAVAILABLE | HEALTHY | DEGRADED, as of the last refresh. */
  state: Uint8Array;
  panic: boolean;
  all: Source;
  healthy: Source;
  degraded: Source;
  healthyLocalities: LocalityChooser | undefined;
  degradedLocalities: LocalityChooser | undefined;
}

type PickerFactory = (hosts: readonly Host[]) => HostPicker;
type TableFactory = (keys: readonly string[], weights: readonly number[]) => HashTable;

class PriorityLoadBalancer implements LoadBalancer {
  private readonly levels: Level[] = [];
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly localityWeighted: boolean;
  /**
   * (level << 1 | degraded) for each of the 100 load percents: choosing a level is one table read.
   * Optimization: when one entry has all 100 %, `only` holds it and no random number is drawn.
   */
  private readonly choice = new Int32Array(100);
  private only = -1;
  private generation = -1;
  /** Earliest future ejection expiry among the hosts (ms); availability must be recomputed then. */
  private nextExpiry = Infinity;

  constructor(
    readonly hosts: readonly Host[],
    options: LbOptions,
    private readonly panicThreshold: number,
    private readonly makePicker: PickerFactory | undefined,
    makeTable?: TableFactory,
  ) {
    this.random = options.random;
    this.now = options.now;
    this.localityWeighted = options.localityWeighted === true;
    const priorities = [...new Set(hosts.map((h) => h.priority))].sort((a, b) => a - b);
    for (const p of priorities) {
      const members = hosts.filter((h) => h.priority === p);
      const localityIndex = new Map<string, number>();
      const localityWeights: number[] = [];
      const localityOf = new Int32Array(members.length);
      members.forEach((h, i) => {
        let li = localityIndex.get(h.localityKey);
        if (li === undefined) {
          li = localityWeights.length;
          localityIndex.set(h.localityKey, li);
          localityWeights.push(h.localityWeight);
        }
        localityOf[i] = li;
      });
      const level: Level = {
        hosts: members,
        localityOf,
        localityWeights,
        localityCount: localityWeights.length,
        table: undefined,
        state: new Uint8Array(members.length),
        panic: false,
        all: { hosts: members, picker: undefined },
        healthy: { hosts: [], picker: undefined },
        degraded: { hosts: [], picker: undefined },
        healthyLocalities: undefined,
        degradedLocalities: undefined,
      };
      if (makeTable) level.table = makeTable(members.map((h) => h.key), this.tableWeights(level));
      this.levels.push(level);
    }
  }

  /**
   * Host weights for a hash table. With locality weighting, as Envoy normalizes them for ring hash and
   * Maglev: host weight / Σ host weights of its locality × locality weight / Σ locality weights.
   */
  private tableWeights(level: Level): number[] {
    const hosts = level.hosts;
    if (!this.localityWeighted) return hosts.map((h) => h.weight);
    const inLocality = new Float64Array(level.localityCount);
    hosts.forEach((h, i) => (inLocality[level.localityOf[i]!]! += h.weight));
    let localitySum = 0;
    for (const w of level.localityWeights) localitySum += w;
    if (localitySum === 0) return hosts.map(() => 0);
    return hosts.map((h, i) => {
      const li = level.localityOf[i]!;
      return (h.weight / inLocality[li]!) * (level.localityWeights[li]! / localitySum);
    });
  }

  pick(ctx?: PickContext): Host | undefined {
    if (this.levels.length === 0) return undefined;
    if (this.generation !== hostStateGeneration() || (this.nextExpiry !== Infinity && this.now() >= this.nextExpiry)) this.refresh();
    if (this.makePicker === undefined) return this.pickHashed(ctx);
    let host = this.pickOnce();
    const avoid = ctx?.avoid;
    if (avoid === undefined || host === undefined) return host;
    const attempts = ctx!.avoidAttempts ?? 1;
    // Envoy's host_selection_retry_max_attempts: re-pick while the predicate refuses, then take the last.
    for (let i = 0; i < attempts && avoid(host); i++) {
      const next = this.pickOnce();
      if (next === undefined) break;
      host = next;
    }
    return host;
  }

  /** Steps 1–4 for the non-hash policies. */
  private pickOnce(): Host | undefined {
    const code = this.only >= 0 ? this.only : this.choice[Math.min(99, Math.floor(this.random() * 100))]!;
    const level = this.levels[code >> 1]!;
    if (level.panic) return this.pickFrom(level.all);
    const degraded = (code & 1) === 1;
    if (this.localityWeighted) {
      const chooser = degraded ? level.degradedLocalities : level.healthyLocalities;
      if (chooser !== undefined) {
        const li = chooser.scheduler.peek();
        chooser.scheduler.pick(chooser.weights[li]!);
        return this.pickFrom(chooser.sources[li]!);
      }
    }
    return this.pickFrom(degraded ? level.degraded : level.healthy);
  }

  private pickFrom(source: Source): Host | undefined {
    return (source.picker ??= this.makePicker!(source.hosts)).pick();
  }

  /** RING_HASH and MAGLEV: the hash chooses the level (as in Envoy), then the host on that level's table. */
  private pickHashed(ctx: PickContext | undefined): Host | undefined {
    const h = ctx?.hash !== undefined ? toHash53(ctx.hash) : Math.floor(this.random() * HASH_SPACE);
    // Optimization: the level comes from the hash's top 32 bits as an integer remainder rather than a
    // float one (Envoy takes hash mod 100). Top bits, as random hashes may have constant low bits.
    const code = this.only >= 0 ? this.only : this.choice[((h / 2097152) >>> 0) % 100]!;
    const level = this.levels[code >> 1]!;
    const want = level.panic ? 0 : (code & 1) === 1 ? DEGRADED : HEALTHY;
    const avoid = ctx?.avoid;
    const i = level.table!.select(h, level.state, want, level.hosts, avoid, avoid === undefined ? 0 : (ctx!.avoidAttempts ?? 1));
    return i < 0 ? undefined : level.hosts[i];
  }

  /** Recomputes availability, priority load, panic and the host lists after a health or ejection change. */
  private refresh(): void {
    this.generation = hostStateGeneration();
    const now = this.now();
    let nextExpiry = Infinity;
    const counts: PriorityCounts[] = [];
    for (const level of this.levels) {
      const healthy: Host[] = [];
      const degraded: Host[] = [];
      level.hosts.forEach((h, i) => {
        const ejectedUntil = h.ejectedUntil;
        if (ejectedUntil > now && ejectedUntil < nextExpiry) nextExpiry = ejectedUntil;
        let s = UNAVAILABLE;
        if (h.available(now)) s = h.health === 'degraded' ? DEGRADED : HEALTHY;
        level.state[i] = s;
        if (s === HEALTHY) healthy.push(h);
        else if (s === DEGRADED) degraded.push(h);
      });
      level.healthy = { hosts: healthy, picker: undefined };
      level.degraded = { hosts: degraded, picker: undefined };
      if (this.localityWeighted && this.makePicker !== undefined) {
        level.healthyLocalities = this.localities(level, HEALTHY);
        level.degradedLocalities = this.localities(level, DEGRADED);
      }
      counts.push({ total: level.hosts.length, healthy: healthy.length, degraded: degraded.length });
    }
    this.nextExpiry = nextExpiry;
    const load = computePriorityLoad(counts, this.panicThreshold);
    let slot = 0;
    this.only = -1;
    const fill = (code: number, percent: number) => {
      if (percent === 100) this.only = code;
      for (let k = 0; k < percent && slot < 100; k++) this.choice[slot++] = code;
    };
    this.levels.forEach((level, i) => {
      level.panic = load.panic[i]!;
      fill(i << 1, load.healthy[i]!);
    });
    this.levels.forEach((_, i) => fill((i << 1) | 1, load.degraded[i]!));
    // The loads always sum to 100; should rounding ever leave a gap, level 0 takes it (Envoy's fallback too).
    while (slot < 100) this.choice[slot++] = 0;
  }

  /**
   * The locality chooser of one level for hosts in state `want`: Envoy's effective locality weight,
   * weight × min(1, 1.4 × eligible / total in the locality). Undefined when no locality has any
   * weight left (the level's whole list is used then, as Envoy falls back).
   */
  private localities(level: Level, want: number): LocalityChooser | undefined {
    const k = level.localityCount;
    const members: Host[][] = Array.from({ length: k }, () => []);
    const totals = new Float64Array(k);
    level.hosts.forEach((h, i) => {
      const li = level.localityOf[i]!;
      totals[li]! += 1;
      if (level.state[i] === want) members[li]!.push(h);
    });
    const weights = new Float64Array(k);
    let any = false;
    for (let li = 0; li < k; li++) {
      const ratio = Math.min(1, ((OVERPROVISIONING_PERCENT / 100) * members[li]!.length) / totals[li]!);
      weights[li] = level.localityWeights[li]! * ratio;
      if (weights[li]! > 0) any = true;
    }
    if (!any) return undefined;
    return { scheduler: new EdfScheduler(weights), weights, sources: members.map((hosts) => ({ hosts, picker: undefined })) };
  }
}
