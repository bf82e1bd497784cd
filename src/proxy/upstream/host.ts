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
 * address:port (its other attributes are updated in place, as Envoy does), so outlier-detection
 * state, active-request counts and connection pools survive endpoint pushes. `activeRequests` is
 * maintained by the router (increment when a request is sent, decrement when it ends);
 * `ejectedUntil` by the outlier detector.
 */
export class Host {
  readonly address: string;
  readonly port: number;
  /** Requests in flight to this host (least-request balancing reads it on every pick). */
  activeRequests = 0;
  private weightValue = 1;
  private priorityValue = 0;
  private localityKeyValue = '';
  private localityWeightValue = 1;
  private metadataValue: Readonly<Record<string, string>> = EMPTY;
  private healthValue: HostHealth = 'healthy';
  private ejectedUntilMs = 0;
  private readonly keyValue: string;

  constructor(init: HostInit) {
    this.address = init.address;
    this.port = init.port;
    this.keyValue = `${init.address}:${init.port}`;
    this.update(init);
  }

  /**
   * Takes an endpoint update for this address:port: weight, priority, locality, metadata and health
   * (the address and port are ignored). Throws MESH_INVALID_CONFIG, changing nothing, when a value is
   * out of range. Load balancers built before keep what they computed from the old values; the
   * cluster builds a new one with each update.
   */
  update(init: HostInit): void {
    const weight = init.weight ?? 1;
    if (!Number.isInteger(weight) || weight < 1) throw new MeshError('MESH_INVALID_CONFIG', `host ${this.keyValue}: weight must be an integer ≥ 1, not ${weight}`);
    const localityWeight = init.localityWeight ?? 1;
    if (!Number.isFinite(localityWeight) || localityWeight < 0) throw new MeshError('MESH_INVALID_CONFIG', `host ${this.keyValue}: locality weight must be ≥ 0, not ${localityWeight}`);
    const priority = init.priority ?? 0;
    if (!Number.isInteger(priority) || priority < 0) throw new MeshError('MESH_INVALID_CONFIG', `host ${this.keyValue}: priority must be an integer ≥ 0, not ${priority}`);
    this.weightValue = weight;
    this.priorityValue = priority;
    const l = init.locality;
    this.localityKeyValue = `${l?.region ?? ''}/${l?.zone ?? ''}/${l?.subZone ?? ''}`;
    this.localityWeightValue = localityWeight;
    this.metadataValue = init.metadata ?? EMPTY;
    this.health = init.health ?? 'healthy';
  }

  /** LbEndpoint.load_balancing_weight (≥ 1). */
  get weight(): number {
    return this.weightValue;
  }

  /** LocalityLbEndpoints.priority (0 is the highest). */
  get priority(): number {
    return this.priorityValue;
  }

  /** "region/zone/subZone" (empty parts kept), the identity of the host's locality. */
  get localityKey(): string {
    return this.localityKeyValue;
  }

  /** LocalityLbEndpoints.load_balancing_weight (0 takes the locality out of locality-weighted balancing). */
  get localityWeight(): number {
    return this.localityWeightValue;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.metadataValue;
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
