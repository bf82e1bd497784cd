// Messages between the benchmark's orchestrator and its two child processes (discovery, clients), and the shared clock.

/**
 * Milliseconds on CLOCK_MONOTONIC. `process.hrtime` reads the same clock in every process of the
 * machine, so a store change stamped in the discovery process and an ACK stamped in the clients
 * process can be subtracted.
 */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export type ShortType = 'cds' | 'eds' | 'lds' | 'rds';
export const SHORT_TYPES: readonly ShortType[] = ['cds', 'eds', 'lds', 'rds'];

// ---- discovery child ----

export type DiscoveryCommand =
  | { id: number; cmd: 'version' }
  | { id: number; cmd: 'edit-vs'; revision: number }
  | { id: number; cmd: 'move-pods'; services: number[]; generation: number }
  | { id: number; cmd: 'usage' }
  | { id: number; cmd: 'pushes' }
  | { id: number; cmd: 'idle'; quietMs: number; timeoutMs: number }
  | { id: number; cmd: 'exit' };

export interface DiscoveryReady {
  type: 'ready';
  pid: number;
  xdsAddress: string;
  debugAddress: string;
  /** Time to generate the mesh into the store, build the registry and the first push, and listen. */
  setupMs: number;
  resources: number;
}

export interface Usage {
  /** process.cpuUsage() since the child started, in seconds. */
  cpuUserS: number;
  cpuSystemS: number;
  rssBytes: number;
  /** VmHWM from /proc/self/status: the peak resident set size, in bytes. */
  peakRssBytes: number;
  /** Largest RSS seen by the child's own 100 ms sampler (a cross-check of VmHWM). */
  sampledPeakRssBytes: number;
  heapUsedBytes: number;
  connectedProxies: number;
  /** Labels the server parsed for one connected proxy (proves node metadata arrives). */
  sampleProxyLabels?: Record<string, string>;
}

export interface PushRecord {
  full: boolean;
  edsHosts: number;
  /** Monotonic ms: the debouncer handed the push over (the PushContext is built after this). */
  startedAt: number;
  /** Monotonic ms: the PushContext is built and the ADS fan-out starts. */
  builtAt: number;
  /** Monotonic ms: the ADS server has handled every connection. */
  drainedAt: number;
  adsVersion: string;
}

/** Reply to a change: when the store was written and which ADS version was current just before. */
export interface ChangeReply {
  t0: number;
  versionBefore: number;
}

// ---- clients process ----

export type ClientsCommand =
  | { id: number; cmd: 'connect'; timeoutMs: number }
  | { id: number; cmd: 'mark' }
  | { id: number; cmd: 'wait'; type: ShortType; afterVersion: number; since: number; timeoutMs: number; quietMs: number }
  | { id: number; cmd: 'usage' }
  | { id: number; cmd: 'exit' };

/** Bytes (serialized DiscoveryResponse / DeltaDiscoveryResponse) and responses received, per type. */
export type Traffic = Record<ShortType, { responses: number; bytes: number; resources: number }>;

export interface ConnectResult {
  /** From the connect command to the last client having ACKed CDS, EDS, LDS and RDS. */
  allReadyMs: number;
  /** Per-client time to ready, sorted ascending. */
  readyMs: number[];
  ready: number;
  total: number;
  failed: number;
  timedOut: boolean;
  traffic: Traffic;
  firstError?: string;
}

export interface WaitResult {
  /** Per converged client: its ACK time minus `since`, in ms, sorted ascending. */
  latenciesMs: number[];
  expected: number;
  timedOut: boolean;
  /** Everything received since the last `mark`, after the wait and its quiet period. */
  traffic: Traffic;
  failed: number;
}

export interface ClientsUsage {
  cpuUserS: number;
  cpuSystemS: number;
  rssBytes: number;
}

export function emptyTraffic(): Traffic {
  return { cds: { responses: 0, bytes: 0, resources: 0 }, eds: { responses: 0, bytes: 0, resources: 0 }, lds: { responses: 0, bytes: 0, resources: 0 }, rds: { responses: 0, bytes: 0, resources: 0 } };
}

/** The value at quantile q (0..1) of an ascending array, nearest-rank; undefined when empty. */
export function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** Reads VmHWM / VmRSS (kB) of a process from /proc; undefined off Linux. */
export function procMemory(readFile: (p: string) => string, pid: number | 'self'): { rss: number; hwm: number } | undefined {
  try {
    const status = readFile(`/proc/${pid}/status`);
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}
