// Passive health checking: Envoy's consecutive-5xx / gateway-failure / local-origin outlier detection, ejecting hosts for a growing, capped time.
//
// Mirrors Envoy's DetectorImpl (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier):
// - every attempt's result is reported; 5xx responses count toward consecutive_5xx, 502/503/504 also
//   toward consecutive_gateway_failure, any other status resets both. Local-origin failures (connect
//   failure, reset → 503; timeout → 504) count as gateway errors, unless
//   split_external_local_origin_errors is set, when they count toward consecutive_local_origin_failure
//   only (and any response proves the connection worked, resetting that counter);
// - reaching a threshold ejects at once (enforced with the type's enforcing_* percent chance) unless
//   the ejected share of the cluster, before this ejection, is already at max_ejection_percent — so the
//   first host can always be ejected when the percent is above 0, and the share may end one host above it;
// - an ejection lasts base_ejection_time × the host's ejection multiplier, capped at
//   max_ejection_time; the multiplier grows by one per ejection (until base × multiplier reaches
//   max + base) and shrinks by one per interval the host spends un-ejected;
// - the owner calls tick() every interval: it returns hosts whose time is up (resetting their
//   counters) and decays the multipliers. A host is back in the balancer's rotation as soon as its
//   ejection time has passed (Host.available), at most one interval before tick() does the bookkeeping.
// Not implemented: success-rate and failure-percentage ejection (statistical, per interval). Istio
// (and so Meltemi's generator) turns success-rate ejection off and never sets failure percentage; a
// third-party control plane relying on Envoy's default enforcing_success_rate would get only the
// consecutive-error detectors here.
import { ConfigError, bool, durationMs, obj } from '../config/xds-json.js';
import { uint32 } from './wrappers.js';
import type { Host } from './host.js';

export interface OutlierConfig {
  /** Consecutive 5xx (and, unsplit, local-origin failures) before ejection; 0 disables. Envoy default 5. */
  consecutive5xx: number;
  /** Consecutive 502/503/504 (and, unsplit, local-origin failures) before ejection; 0 disables. Default 5. */
  consecutiveGatewayFailure: number;
  /** Percent chance a consecutive-5xx detection is enforced. Default 100. */
  enforcingConsecutive5xx: number;
  /** Percent chance a gateway-failure detection is enforced. Default 0 (detected, counted, not ejected). */
  enforcingConsecutiveGatewayFailure: number;
  /** The owner's tick period (ms). Default 10 s. */
  intervalMs: number;
  /** Ejection time per multiplier step (ms). Default 30 s. */
  baseEjectionTimeMs: number;
  /** Cap on one ejection (ms). Default 300 s, or the base ejection time when that is larger. */
  maxEjectionTimeMs: number;
  /** Most of the cluster that may be ejected at once, percent. Default 10. */
  maxEjectionPercent: number;
  /** split_external_local_origin_errors: count local-origin failures apart from HTTP errors. Default false. */
  splitExternalLocalOriginErrors?: boolean;
  /** Split mode only: consecutive local-origin failures before ejection; 0 disables. Default 5. */
  consecutiveLocalOriginFailure?: number;
  /** Split mode only: percent chance such a detection is enforced. Default 100. */
  enforcingConsecutiveLocalOriginFailure?: number;
}

/** Envoy's defaults (outlier_detection.proto), for a cluster with an empty outlier_detection. */
export const DEFAULT_OUTLIER_CONFIG: Readonly<OutlierConfig> = Object.freeze({
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  enforcingConsecutive5xx: 100,
  enforcingConsecutiveGatewayFailure: 0,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionPercent: 10,
  splitExternalLocalOriginErrors: false,
  consecutiveLocalOriginFailure: 5,
  enforcingConsecutiveLocalOriginFailure: 100,
});

/**
 * Reads a decoded Cluster.outlier_detection (snake_case JSON, durations as "5s", UInt32Value fields
 * as numbers, decimal strings or `{ value }`) and fills Envoy's defaults; undefined when the cluster
 * has none (outlier detection off). Throws ConfigError with the field path for values Envoy's
 * validation refuses (percents over 100, durations ≤ 0).
 */
export function outlierConfigFromXds(json: Record<string, unknown> | undefined): OutlierConfig | undefined {
  if (json === undefined) return undefined;
  const od = obj(json, 'outlier_detection');
  const d = DEFAULT_OUTLIER_CONFIG;
  const count = (field: string, fallback: number) => uint32(od[field], `outlier_detection.${field}`) ?? fallback;
  const percent = (field: string, fallback: number) => {
    const n = count(field, fallback);
    if (n > 100) throw new ConfigError(`outlier_detection.${field}`, 'must be a percent in 0..100');
    return n;
  };
  const duration = (field: string): number | undefined => {
    const ms = durationMs(od[field], `outlier_detection.${field}`);
    if (ms !== undefined && ms <= 0) throw new ConfigError(`outlier_detection.${field}`, 'must be greater than 0');
    return ms;
  };
  const baseEjectionTimeMs = duration('base_ejection_time') ?? d.baseEjectionTimeMs;
  return {
    consecutive5xx: count('consecutive_5xx', d.consecutive5xx),
    consecutiveGatewayFailure: count('consecutive_gateway_failure', d.consecutiveGatewayFailure),
    enforcingConsecutive5xx: percent('enforcing_consecutive_5xx', d.enforcingConsecutive5xx),
    enforcingConsecutiveGatewayFailure: percent('enforcing_consecutive_gateway_failure', d.enforcingConsecutiveGatewayFailure),
    intervalMs: duration('interval') ?? d.intervalMs,
    baseEjectionTimeMs,
    // "If not specified, the default value (300000ms or 300s) or base_ejection_time value is applied, whatever is larger."
    maxEjectionTimeMs: duration('max_ejection_time') ?? Math.max(d.maxEjectionTimeMs, baseEjectionTimeMs),
    maxEjectionPercent: percent('max_ejection_percent', d.maxEjectionPercent),
    splitExternalLocalOriginErrors: bool(od.split_external_local_origin_errors, 'outlier_detection.split_external_local_origin_errors', false),
    consecutiveLocalOriginFailure: count('consecutive_local_origin_failure', d.consecutiveLocalOriginFailure!),
    enforcingConsecutiveLocalOriginFailure: percent('enforcing_consecutive_local_origin_failure', d.enforcingConsecutiveLocalOriginFailure!),
  };
}

/** The outcome of one request or connection attempt to a host. */
export interface AttemptResult {
  /** The upstream's HTTP status (or a gRPC/TCP outcome mapped to one). */
  status?: number;
  /** The attempt failed on our side of the wire, without a response. */
  localOriginFailure?: 'connect-failure' | 'timeout' | 'reset';
}

export type EjectionType = 'consecutive_5xx' | 'consecutive_gateway_failure' | 'consecutive_local_origin_failure';

/** Envoy's `cluster.NAME.outlier_detection.*` counters (and the ejections_active gauge). */
export interface OutlierStats {
  ejections_active: number;
  ejections_overflow: number;
  ejections_enforced_total: number;
  ejections_detected_consecutive_5xx: number;
  ejections_enforced_consecutive_5xx: number;
  ejections_detected_consecutive_gateway_failure: number;
  ejections_enforced_consecutive_gateway_failure: number;
  ejections_detected_consecutive_local_origin_failure: number;
  ejections_enforced_consecutive_local_origin_failure: number;
}

/** Per-host detector state (Envoy's DetectorHostMonitorImpl). */
interface Monitor {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocal: number;
  ejected: boolean;
  /** When the current (or last) ejection began (ms). */
  ejectedAt: number;
  /** The ejection time multiplier ("eject time backoff"). */
  multiplier: number;
  /** Ejections over the host's life. */
  ejections: number;
}

export interface OutlierDetectorOptions {
  now: () => number;
  /** Uniform in [0, 1): decides enforcement when an enforcing_* percent is strictly between 0 and 100. */
  random: () => number;
  onEject?: (h: Host) => void;
  onUneject?: (h: Host) => void;
}

/**
 * The outlier detector of one cluster. `hosts()` returns the cluster's current hosts (all
 * priorities) and is read at ejection and tick time, so EDS updates need no notification; per-host
 * state is kept by Host object (hosts that leave are forgotten with them). `report` is called by the
 * router after every attempt; `tick` by the owner every `config.intervalMs`.
 */
export class OutlierDetector {
  readonly stats: OutlierStats = {
    ejections_active: 0,
    ejections_overflow: 0,
    ejections_enforced_total: 0,
    ejections_detected_consecutive_5xx: 0,
    ejections_enforced_consecutive_5xx: 0,
    ejections_detected_consecutive_gateway_failure: 0,
    ejections_enforced_consecutive_gateway_failure: 0,
    ejections_detected_consecutive_local_origin_failure: 0,
    ejections_enforced_consecutive_local_origin_failure: 0,
  };
  private readonly monitors = new WeakMap<Host, Monitor>();
  private readonly split: boolean;
  private readonly localThreshold: number;
  private readonly maxEjectionMs: number;

  constructor(
    readonly config: OutlierConfig,
    private readonly hosts: () => readonly Host[],
    private readonly options: OutlierDetectorOptions,
  ) {
    this.split = config.splitExternalLocalOriginErrors === true;
    this.localThreshold = config.consecutiveLocalOriginFailure ?? 5;
    this.maxEjectionMs = Math.max(config.baseEjectionTimeMs, config.maxEjectionTimeMs);
  }

  /** Result of one request/connection attempt to a host. A result with neither field is a success without an HTTP status (a TCP session). */
  report(host: Host, result: AttemptResult): void {
    const m = this.monitor(host);
    if (result.status !== undefined) {
      // A response means the connection worked.
      if (this.split) m.consecutiveLocal = 0;
      this.httpStatus(host, m, result.status);
    } else if (result.localOriginFailure !== undefined) {
      if (this.split) {
        if (++m.consecutiveLocal === this.localThreshold) this.detected(host, m, 'consecutive_local_origin_failure');
      } else {
        // Envoy's router reports a timeout as LocalOriginTimeout (→ 504) and connect failures and
        // resets as LocalOriginConnectFailed (→ 503): both gateway errors.
        this.httpStatus(host, m, result.localOriginFailure === 'timeout' ? 504 : 503);
      }
    } else if (this.split) {
      m.consecutiveLocal = 0;
    } else {
      this.httpStatus(host, m, 200);
    }
  }

  /** The interval work: unejects hosts whose ejection time is up and decays the multiplier of hosts not ejected. */
  tick(): void {
    const now = this.options.now();
    const base = this.config.baseEjectionTimeMs;
    for (const host of this.hosts()) {
      const m = this.monitors.get(host);
      if (m === undefined) continue;
      if (!m.ejected) {
        if (m.multiplier > 0) m.multiplier--;
        continue;
      }
      if (Math.min(base * m.multiplier, this.maxEjectionMs) <= now - m.ejectedAt) {
        m.ejected = false;
        // Counters close to their threshold would re-eject the host on very few new errors.
        m.consecutive5xx = 0;
        m.consecutiveGateway = 0;
        m.consecutiveLocal = 0;
        host.ejectedUntil = 0;
        this.options.onUneject?.(host);
      }
    }
    // Recounted rather than decremented, so hosts that left the cluster while ejected drop out of it.
    let active = 0;
    for (const host of this.hosts()) if (this.monitors.get(host)?.ejected === true) active++;
    this.stats.ejections_active = active;
  }

  /** A host's detector state, for the admin interface and tests. */
  hostState(host: Host): { consecutive5xx: number; consecutiveGatewayFailure: number; consecutiveLocalOriginFailure: number; ejected: boolean; ejectionMultiplier: number; ejections: number } {
    const m = this.monitors.get(host);
    return {
      consecutive5xx: m?.consecutive5xx ?? 0,
      consecutiveGatewayFailure: m?.consecutiveGateway ?? 0,
      consecutiveLocalOriginFailure: m?.consecutiveLocal ?? 0,
      ejected: m?.ejected ?? false,
      ejectionMultiplier: m?.multiplier ?? 0,
      ejections: m?.ejections ?? 0,
    };
  }

  private monitor(host: Host): Monitor {
    let m = this.monitors.get(host);
    if (m === undefined) {
      m = { consecutive5xx: 0, consecutiveGateway: 0, consecutiveLocal: 0, ejected: false, ejectedAt: 0, multiplier: 0, ejections: 0 };
      this.monitors.set(host, m);
    }
    return m;
  }

  private httpStatus(host: Host, m: Monitor, status: number): void {
    if (status >= 500 && status <= 599) {
      if (status === 502 || status === 503 || status === 504) {
        if (++m.consecutiveGateway === this.config.consecutiveGatewayFailure) this.detected(host, m, 'consecutive_gateway_failure');
      } else {
        m.consecutiveGateway = 0;
      }
      if (++m.consecutive5xx === this.config.consecutive5xx) this.detected(host, m, 'consecutive_5xx');
    } else {
      m.consecutive5xx = 0;
      m.consecutiveGateway = 0;
    }
  }

  /** A detector reached its threshold: try to eject, then restart that counter (Envoy's onConsecutiveErrorWorker). */
  private detected(host: Host, m: Monitor, type: EjectionType): void {
    // Already out: nothing to do, and the counter keeps running (it cannot hit its threshold again until reset).
    if (m.ejected) return;
    this.stats[`ejections_detected_${type}`]++;
    this.eject(host, m, type);
    if (type === 'consecutive_5xx') m.consecutive5xx = 0;
    else if (type === 'consecutive_gateway_failure') m.consecutiveGateway = 0;
    else m.consecutiveLocal = 0;
  }

  private eject(host: Host, m: Monitor, type: EjectionType): void {
    const hosts = this.hosts();
    let active = 0;
    for (const h of hosts) if (this.monitors.get(h)?.ejected === true) active++;
    const maxPercent = Math.min(100, this.config.maxEjectionPercent);
    // Envoy compares the share already ejected, before this host: the first ejection always passes.
    const ejectedPercent = hosts.length === 0 ? 0 : (100 * active) / hosts.length;
    if (!(ejectedPercent < maxPercent)) {
      this.stats.ejections_overflow++;
      return;
    }
    if (!this.enforced(type)) return;
    const now = this.options.now();
    const base = this.config.baseEjectionTimeMs;
    m.ejected = true;
    m.ejectedAt = now;
    m.ejections++;
    if (m.multiplier * base < this.maxEjectionMs + base) m.multiplier++;
    host.ejectedUntil = now + Math.min(base * m.multiplier, this.maxEjectionMs);
    this.stats.ejections_active++;
    this.stats.ejections_enforced_total++;
    this.stats[`ejections_enforced_${type}`]++;
    this.options.onEject?.(host);
  }

  private enforced(type: EjectionType): boolean {
    const percent =
      type === 'consecutive_5xx'
        ? this.config.enforcingConsecutive5xx
        : type === 'consecutive_gateway_failure'
          ? this.config.enforcingConsecutiveGatewayFailure
          : (this.config.enforcingConsecutiveLocalOriginFailure ?? 100);
    if (percent >= 100) return true;
    if (percent <= 0) return false;
    return this.options.random() * 100 < percent;
  }
}
