// ServiceRegistry: Services, Pods, ServiceEntries and WorkloadEntries from a ConfigStore, kept incrementally, served as immutable snapshots.
import { isDeepStrictEqual } from 'node:util';
import type { Resource } from '../api/kind.js';
import type { ConfigEvent, ConfigStore } from '../config/store.js';
import { groupOf } from '../config/store.js';
import { kubernetesEndpoints, podInstance, serviceFromKubernetes, serviceSelector } from './kubernetes-services.js';
import { serviceEntryEndpoints, serviceEntrySelector, servicesFromServiceEntry } from './service-entries.js';
import type { Endpoint, RegistrySnapshot, Service, Workload } from './types.js';
import { workloadEntryInstance } from './workload-entries.js';
import { selectorMatches, toWorkload, type WorkloadInstance } from './workload-instance.js';

const NETWORKING = 'networking.istio.io';

/**
 * What changed in the registry. `endpoints`: only the endpoints of these hostnames (an EDS-only push
 * suffices); `services`: the set of services or one of their definitions changed (a full push).
 * `version` is the snapshot version that includes the change.
 */
export type RegistryChange = { kind: 'endpoints'; hostnames: ReadonlySet<string>; version: number } | { kind: 'services'; version: number };

export type RegistryChangeHandler = (change: RegistryChange) => void;

export interface ServiceRegistryOptions {
  /** Kubernetes DNS suffix (`svc.<clusterDomain>`); default `cluster.local`. */
  clusterDomain?: string;
}

/** One object that defines services: a Kubernetes Service or a ServiceEntry. */
interface Source {
  key: string;
  kind: 'kubernetes' | 'serviceentry';
  resource: Resource;
  namespace: string;
  name: string;
  creationTimestamp: string;
  services: Service[];
  /** Label selector over workload instances of its namespace (Service selector, ServiceEntry workloadSelector). */
  selector?: Record<string, string>;
}

type PortEndpoints = ReadonlyMap<number, readonly Endpoint[]>;
const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

function timeOf(ts: string): number {
  const ms = ts === '' ? NaN : Date.parse(ts);
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/**
 * Which source owns a hostname claimed by several in one namespace: a Kubernetes Service over any
 * ServiceEntry (a ServiceEntry naming the Service's host only decorates it, as in Istio); among
 * ServiceEntries the oldest (creationTimestamp), then name. Claims from different namespaces never
 * compete: each namespace's is its own service, and visibility (`exportTo`) decides who sees which.
 */
function ownerOrder(a: Source, b: Source): number {
  if (a.kind !== b.kind) return a.kind === 'kubernetes' ? -1 : 1;
  const ta = timeOf(a.creationTimestamp);
  const tb = timeOf(b.creationTimestamp);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Key of one service: its hostname in its namespace (NUL cannot occur in either). */
function serviceKey(hostname: string, namespace: string): string {
  return `${hostname}\u0000${namespace}`;
}

function hostnameOf(key: string): string {
  return key.slice(0, key.indexOf('\u0000'));
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/**
 * The service registry over a ConfigStore. It reads Services and Pods (core group) and
 * ServiceEntries and WorkloadEntries (networking.istio.io); Deployments and other controllers give
 * no endpoints (they have no addresses — their Pods do). It updates its indexes incrementally per
 * store event (a Pod change recomputes only the services selecting that pod), hands out immutable
 * snapshots whose `version` increases with every change of services, endpoints or workloads, and
 * tells subscribers synchronously whether only endpoints changed or services did.
 *
 * Services are kept per hostname and namespace, as Istio keeps them: two namespaces' ServiceEntries
 * for one host are two services with their own endpoints. Within a namespace one source owns a
 * hostname; see `ownerOrder`.
 */
export class ServiceRegistry {
  private readonly clusterDomain: string;
  private readonly sources = new Map<string, Source>();
  /** Namespace → keys of sources with a selector (those a workload change can affect). */
  private readonly selectingSources = new Map<string, Set<string>>();
  /** Service key (hostname + namespace) → keys of the sources claiming it. */
  private readonly claims = new Map<string, Set<string>>();
  /** Service key → owning source key. */
  private readonly owners = new Map<string, string>();
  /** Service key → endpoints by service port. */
  private readonly endpointsByService = new Map<string, PortEndpoints>();
  private readonly instances = new Map<string, WorkloadInstance>();
  private readonly instancesByNamespace = new Map<string, Set<string>>();
  private readonly handlers = new Set<RegistryChangeHandler>();
  private version = 0;
  private current: RegistrySnapshot | undefined;
  private servicesView: readonly Service[] | undefined;
  private workloadsView: readonly Workload[] | undefined;
  private readonly stopWatch: () => void;

  constructor(store: ConfigStore, options: ServiceRegistryOptions = {}) {
    this.clusterDomain = options.clusterDomain ?? 'cluster.local';
    // Watch first, then list: an object changing in between is seen twice, which is harmless
    // because every update is computed from the object's full state.
    this.stopWatch = store.watch((e) => this.onEvent(e));
    for (const r of store.list({ kind: 'Pod', group: '' })) this.applyInstance(`Pod/${keyOf(r)}`, podInstance(r));
    for (const r of store.list({ kind: 'WorkloadEntry', group: NETWORKING })) this.applyInstance(`WorkloadEntry/${keyOf(r)}`, workloadEntryInstance(r));
    for (const r of store.list({ kind: 'Service', group: '' })) this.applySource(`Service/${keyOf(r)}`, this.kubernetesSource(r));
    for (const r of store.list({ kind: 'ServiceEntry', group: NETWORKING })) this.applySource(`ServiceEntry/${keyOf(r)}`, this.serviceEntrySource(r));
    this.version = 1;
  }

  /** Stops following the store; snapshots already handed out stay valid. */
  close(): void {
    this.stopWatch();
    this.handlers.clear();
  }

  /** Calls `handler` after every change, synchronously, once the new snapshot is available. Returns an unsubscribe function. */
  onChange(handler: RegistryChangeHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** The registry as of now. Cheap when nothing changed since the last call (the same object is returned). */
  snapshot(): RegistrySnapshot {
    if (this.current && this.current.version === this.version) return this.current;
    this.servicesView ??= Object.freeze(
      [...this.owners.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((k) => this.ownedService(k)!),
    );
    this.workloadsView ??= Object.freeze(
      [...this.instances.values()]
        .map(toWorkload)
        .sort((a, b) => (a.namespace !== b.namespace ? (a.namespace < b.namespace ? -1 : 1) : a.kind !== b.kind ? (a.kind < b.kind ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    );
    // Per-host maps are replaced, never mutated, so a shallow copy freezes this moment.
    const endpoints = new Map(this.endpointsByService);
    this.current = Object.freeze({
      version: this.version,
      services: this.servicesView,
      workloads: this.workloadsView,
      endpoints: (hostname: string, servicePort: number, namespace: string) => endpoints.get(serviceKey(hostname, namespace))?.get(servicePort) ?? NO_ENDPOINTS,
    });
    return this.current;
  }

  // ---------------------------------------------------------------------------------------------
  // Store events.

  private onEvent(e: ConfigEvent): void {
    const r = e.resource;
    const group = groupOf(r.apiVersion);
    const deleted = e.type === 'deleted';
    const key = keyOf(r);
    let change: { services: boolean; hosts: Set<string>; workloads: boolean } | undefined;
    if (group === '' && r.kind === 'Pod') change = this.applyInstance(`Pod/${key}`, deleted ? undefined : podInstance(r));
    else if (group === NETWORKING && r.kind === 'WorkloadEntry') change = this.applyInstance(`WorkloadEntry/${key}`, deleted ? undefined : workloadEntryInstance(r));
    else if (group === '' && r.kind === 'Service') change = this.applySource(`Service/${key}`, deleted ? undefined : this.kubernetesSource(r));
    else if (group === NETWORKING && r.kind === 'ServiceEntry') change = this.applySource(`ServiceEntry/${key}`, deleted ? undefined : this.serviceEntrySource(r));
    if (!change || (!change.services && change.hosts.size === 0 && !change.workloads)) return;
    this.version++;
    if (change.services) this.emit({ kind: 'services', version: this.version });
    else if (change.hosts.size > 0) this.emit({ kind: 'endpoints', hostnames: change.hosts, version: this.version });
  }

  private emit(change: RegistryChange): void {
    const frozen = Object.freeze(change);
    for (const h of [...this.handlers]) {
      try {
        h(frozen);
      } catch {
        // One failing subscriber must not keep the others from hearing about the change.
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sources (Services, ServiceEntries).

  private kubernetesSource(r: Resource): Source {
    const service = deepFreeze(serviceFromKubernetes(r, this.clusterDomain));
    const selector = serviceSelector(r);
    return { ...sourceMeta(r, 'kubernetes'), services: [service], ...(selector ? { selector } : {}) };
  }

  private serviceEntrySource(r: Resource): Source {
    const selector = serviceEntrySelector(r);
    return { ...sourceMeta(r, 'serviceentry'), services: servicesFromServiceEntry(r).map((s) => deepFreeze(s)), ...(selector ? { selector } : {}) };
  }

  /** Replaces (or removes, when `next` is undefined) one source and recomputes the services it touches. */
  private applySource(key: string, next: Source | undefined): { services: boolean; hosts: Set<string>; workloads: boolean } {
    const prev = this.sources.get(key);
    const keysOf = (src: Source | undefined) => (src?.services ?? []).map((s) => serviceKey(s.hostname, src!.namespace));
    const touched = new Set<string>([...keysOf(prev), ...keysOf(next)]);
    const before = new Map([...touched].map((k) => [k, this.ownedService(k)]));
    if (prev?.selector) this.selectingSources.get(prev.namespace)?.delete(key);
    for (const k of keysOf(prev)) this.claims.get(k)?.delete(key);
    if (next) {
      this.sources.set(key, next);
      if (next.selector) setOf(this.selectingSources, next.namespace).add(key);
      for (const k of keysOf(next)) setOf(this.claims, k).add(key);
    } else this.sources.delete(key);

    let servicesChanged = false;
    const hosts = new Set<string>();
    for (const k of touched) {
      const claimants = [...(this.claims.get(k) ?? [])].map((c) => this.sources.get(c)!);
      if (claimants.length === 0) {
        this.claims.delete(k);
        this.owners.delete(k);
      } else this.owners.set(k, claimants.sort(ownerOrder)[0]!.key);
      if (!isDeepStrictEqual(before.get(k), this.ownedService(k))) servicesChanged = true;
      if (this.recomputeEndpoints(k)) hosts.add(hostnameOf(k));
    }
    if (servicesChanged) this.servicesView = undefined;
    return { services: servicesChanged, hosts, workloads: false };
  }

  private ownedService(serviceKeyValue: string): Service | undefined {
    const key = this.owners.get(serviceKeyValue);
    const hostname = hostnameOf(serviceKeyValue);
    return key === undefined ? undefined : this.sources.get(key)?.services.find((s) => s.hostname === hostname);
  }

  /** Recomputes the endpoints of one service (hostname + namespace) from its owner; true when they changed. */
  private recomputeEndpoints(serviceKeyValue: string): boolean {
    const before = this.endpointsByService.get(serviceKeyValue);
    const key = this.owners.get(serviceKeyValue);
    const source = key === undefined ? undefined : this.sources.get(key);
    const service = this.ownedService(serviceKeyValue);
    let after: PortEndpoints | undefined;
    if (source && service) {
      const instances = this.instancesIn(service.namespace);
      const list = source.kind === 'kubernetes' ? kubernetesEndpoints(source.resource, service, instances) : serviceEntryEndpoints(source.resource, service, instances);
      const byPort = new Map<number, Endpoint[]>();
      for (const e of list) {
        const l = byPort.get(e.servicePort) ?? [];
        l.push(e);
        byPort.set(e.servicePort, l);
      }
      const frozen = new Map<number, readonly Endpoint[]>();
      for (const [p, l] of byPort) frozen.set(p, Object.freeze(l));
      if (frozen.size > 0) after = frozen;
    }
    if (after) this.endpointsByService.set(serviceKeyValue, after);
    else this.endpointsByService.delete(serviceKeyValue);
    return !isDeepStrictEqual(before === undefined ? undefined : mapEntries(before), after === undefined ? undefined : mapEntries(after));
  }

  private *instancesIn(namespace: string): Iterable<WorkloadInstance> {
    for (const k of this.instancesByNamespace.get(namespace) ?? []) yield this.instances.get(k)!;
  }

  // ---------------------------------------------------------------------------------------------
  // Workload instances (Pods, WorkloadEntries).

  /**
   * Replaces (or removes) one workload instance. Only the sources of its namespace whose selector
   * matched its old or new labels are recomputed — a Pod's change never touches unrelated services.
   */
  private applyInstance(key: string, next: WorkloadInstance | undefined): { services: boolean; hosts: Set<string>; workloads: boolean } {
    const prev = this.instances.get(key);
    if (isDeepStrictEqual(prev, next)) return { services: false, hosts: new Set(), workloads: false };
    if (prev) this.instancesByNamespace.get(prev.namespace)?.delete(key);
    if (next) {
      this.instances.set(key, deepFreeze(next));
      setOf(this.instancesByNamespace, next.namespace).add(key);
    } else this.instances.delete(key);
    this.workloadsView = undefined;

    const affected = new Set<string>();
    for (const inst of [prev, next]) {
      if (!inst) continue;
      for (const sk of this.selectingSources.get(inst.namespace) ?? []) {
        const s = this.sources.get(sk)!;
        if (!selectorMatches(s.selector!, inst.labels)) continue;
        for (const svc of s.services) {
          const k = serviceKey(svc.hostname, s.namespace);
          if (this.owners.get(k) === sk) affected.add(k);
        }
      }
    }
    const hosts = new Set<string>();
    for (const k of affected) if (this.recomputeEndpoints(k)) hosts.add(hostnameOf(k));
    return { services: false, hosts, workloads: true };
  }
}

function keyOf(r: Resource): string {
  return `${r.metadata.namespace ?? 'default'}/${r.metadata.name ?? ''}`;
}

function sourceMeta(r: Resource, kind: Source['kind']): Omit<Source, 'services' | 'selector'> {
  return {
    key: `${kind === 'kubernetes' ? 'Service' : 'ServiceEntry'}/${keyOf(r)}`,
    kind,
    resource: r,
    namespace: r.metadata.namespace ?? 'default',
    name: r.metadata.name ?? '',
    creationTimestamp: r.metadata.creationTimestamp ?? '',
  };
}

function setOf<K, V>(m: Map<K, Set<V>>, k: K): Set<V> {
  let s = m.get(k);
  if (!s) {
    s = new Set();
    m.set(k, s);
  }
  return s;
}

function mapEntries(m: PortEndpoints): Array<[number, readonly Endpoint[]]> {
  return [...m.entries()].sort(([a], [b]) => a - b);
}
