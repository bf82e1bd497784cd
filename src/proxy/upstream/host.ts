// One upstream endpoint of a cluster: its address, weights, priority, locality and live health, shared by the load balancer and the outlier detector.
import { MeshError } from '../../shared/errors.js';

/**
 * EDS health_status as the data path sees it (UNKNOWN → healthy, TIMEOUT → unhealthy, as Envoy maps
 * them). Only `healthy` and `degraded` hosts take traffic outside panic mode; `draining` is treated as
 * unhealthy for new requests, as Envoy does for EDS DRAINING.
 */
export type HostHealth = 'healthy' | 'unhealthy' | 'degraded' | 'draining';

export interface HostInit {
  address: string;
  port: number;
  /** LbEndpoint.load_balancing_weight; 1 when unset. An integer ≥ 1. */
  weight?: number;
  /** LocalityLbEndpoints.priority; 0 (the highest) when unset. */
  priority?: number;
  locality?: { region?: string; zone?: string; subZone?: string };
  /** LocalityLbEndpoints.load_balancing_weight; 1 when unset, 0 takes the locality out of locality-weighted balancing. */
  localityWeight?: number;
  health?: HostHealth;
  metadata?: Readonly<Record<string, string>>;
}

/**
 * Bumped whenever a host's health or ejection changes, so a load balancer can tell in one comparison
 * whether the availability it computed is still current (Envoy recomputes on member-update
 * callbacks; this is the same idea without subscriptions). One counter for the whole process:
 * health changes are rare, and a spurious refresh only costs one O(hosts) pass.
 */
let stateGeneration = 0;

/** The current host-state generation (see above); changes whenever any Host's `health` or `ejectedUntil` is assigned. */
export function hostStateGeneration(): number {
  return stateGeneration;
}

/**
 * An upstream host. Owned by the cluster: the same object lives across EDS updates for the same
 * address:port (only `health` is replaced), so outlier-detection state and active-request counts
 * survive endpoint pushes. `activeRequests` is maintained by the router (increment when a request is
 * sent, decrement when it ends); `ejectedUntil` by the outlier detector.
 */
export class Host {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly priority: number;
  /** "region/zone/subZone" (empty parts kept), the identity of the host's locality. */
  readonly localityKey: string;
  readonly localityWeight: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** Requests in flight to this host (least-request balancing reads it on every pick). */
  activeRequests = 0;
  private healthValue: HostHealth;
  private ejectedUntilMs = 0;
  private readonly keyValue: string;

  constructor(init: HostInit) {
    const weight = init.weight ?? 1;
    if (!Number.isInteger(weight) || weight < 1) throw new MeshError('MESH_INVALID_CONFIG', `host ${init.address}:${init.port}: weight must be an integer ≥ 1, not ${weight}`);
    const localityWeight = init.localityWeight ?? 1;
    if (!Number.isFinite(localityWeight) || localityWeight < 0) throw new MeshError('MESH_INVALID_CONFIG', `host ${init.address}:${init.port}: locality weight must be ≥ 0, not ${localityWeight}`);
    const priority = init.priority ?? 0;
    if (!Number.isInteger(priority) || priority < 0) throw new MeshError('MESH_INVALID_CONFIG', `host ${init.address}:${init.port}: priority must be an integer ≥ 0, not ${priority}`);
    this.address = init.address;
    this.port = init.port;
    this.weight = weight;
    this.priority = priority;
    const l = init.locality;
    this.localityKey = `${l?.region ?? ''}/${l?.zone ?? ''}/${l?.subZone ?? ''}`;
    this.localityWeight = localityWeight;
    this.metadata = init.metadata ?? EMPTY;
    this.healthValue = init.health ?? 'healthy';
    this.keyValue = `${init.address}:${init.port}`;
  }

  /** "address:port": the host's identity, and what consistent-hash balancers hash. */
  get key(): string {
    return this.keyValue;
  }

  /** Health from EDS (or active health checking); replaced on endpoint updates for the same address:port. */
  get health(): HostHealth {
    return this.healthValue;
  }
  set health(h: HostHealth) {
    if (h === this.healthValue) return;
    this.healthValue = h;
    stateGeneration++;
  }

  /**
   * Outlier ejection: the host is out of the load-balancing set until this time (ms, on the injected
   * clock); 0 = not ejected. Set by the outlier detector when it ejects, reset to 0 when it unejects.
   */
  get ejectedUntil(): number {
    return this.ejectedUntilMs;
  }
  set ejectedUntil(ms: number) {
    if (ms === this.ejectedUntilMs) return;
    this.ejectedUntilMs = ms;
    stateGeneration++;
  }

  /** Whether the host may take traffic outside panic mode: healthy or degraded, and not ejected at `now` (ms). */
  available(now: number): boolean {
    return (this.healthValue === 'healthy' || this.healthValue === 'degraded') && now >= this.ejectedUntilMs;
  }
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});
