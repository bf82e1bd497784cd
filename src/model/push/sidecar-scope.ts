// Sidecar resources → the scope of one workload: which Sidecar applies, which services and mesh VirtualServices its proxy sees.
import type { Resource } from '../../api/kind.js';
import { hostsOverlap, resolveShortName } from '../../api/hosts.js';
import { parseProtocol } from '../../api/kinds/networking-types.js';
import type { SidecarSpec } from '../../api/kinds/sidecar.js';
import type { VirtualServiceSpec } from '../../api/kinds/virtual-service.js';
import type { Service } from '../../registry/types.js';
import type { MeshConfig } from '../mesh-config.js';
import type { SidecarScope, VirtualServiceConfig } from '../push-context.js';
import { deepFreeze, refOf, selectorMatches, sortByCreation, typedConfig, type TypedConfig } from './config-meta.js';

type EgressListener = NonNullable<SidecarSpec['egress']>[number];

/** A computed scope plus what RDS needs besides the contract's fields. */
export interface ScopeState {
  scope: SidecarScope;
  /** Mesh-bound VirtualServices this scope imports (visibility and egress hosts applied), oldest first, before host de-duplication. */
  meshVirtualServices: readonly VirtualServiceConfig[];
}

/**
 * Picks the Sidecar for a workload as Istio 1.6 does: in the workload's namespace, the oldest
 * Sidecar whose workloadSelector matches its labels; else that namespace's selector-less Sidecar;
 * else the root namespace's selector-less Sidecar; else none (the mesh default).
 */
export class SidecarIndex {
  private readonly withSelector = new Map<string, Array<TypedConfig<SidecarSpec>>>();
  private readonly withoutSelector = new Map<string, TypedConfig<SidecarSpec>>();

  constructor(
    resources: readonly Resource[],
    private readonly rootNamespace: string,
  ) {
    for (const c of sortByCreation(resources.map((r) => deepFreeze(typedConfig<SidecarSpec>(r))))) {
      if (c.spec.workloadSelector) {
        const list = this.withSelector.get(c.namespace) ?? [];
        list.push(c);
        this.withSelector.set(c.namespace, list);
      } else if (!this.withoutSelector.has(c.namespace)) {
        // Only one selector-less Sidecar per namespace is meaningful; the oldest is used.
        this.withoutSelector.set(c.namespace, c);
      }
    }
  }

  select(namespace: string, labels: Readonly<Record<string, string>>): TypedConfig<SidecarSpec> | undefined {
    for (const c of this.withSelector.get(namespace) ?? []) if (selectorMatches(c.spec.workloadSelector?.labels ?? {}, labels)) return c;
    return this.withoutSelector.get(namespace) ?? this.withoutSelector.get(this.rootNamespace);
  }
}

/** What scope construction reads from the rest of the push. */
export interface ScopeInputs {
  mesh: MeshConfig;
  /**
   * Services exported to `namespace`, sorted by hostname; a hostname several namespaces define is
   * listed once per visible definition, the one the namespace prefers first.
   */
  visibleServices(namespace: string): readonly Service[];
  /** Mesh-bound VirtualServices exported to `namespace`, oldest first. */
  meshVirtualServices(namespace: string): readonly VirtualServiceConfig[];
}

/** The mesh default for a namespace: every exported service, every exported mesh VirtualService, the mesh outbound policy. */
export function defaultScope(namespace: string, inputs: ScopeInputs): ScopeState {
  return {
    scope: Object.freeze({ services: preferredPerHostname(inputs.visibleServices(namespace)), outboundTrafficPolicy: inputs.mesh.outboundTrafficPolicy }),
    meshVirtualServices: inputs.meshVirtualServices(namespace),
  };
}

/** The first service of each hostname (`visibleServices` lists the preferred definition first). */
function preferredPerHostname(services: readonly Service[]): readonly Service[] {
  const out = services.filter((s, i) => i === 0 || services[i - 1]!.hostname !== s.hostname);
  return out.length === services.length ? services : Object.freeze(out);
}

/** Egress `hosts` grouped by namespace: `.` becomes the Sidecar's namespace; `*` any; `~` matches no namespace. */
function importedHosts(listener: EgressListener, namespace: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const h of listener.hosts ?? []) {
    const slash = h.indexOf('/');
    if (slash < 0) continue;
    const ns = h.slice(0, slash) === '.' ? namespace : h.slice(0, slash);
    const list = out.get(ns) ?? [];
    list.push(h.slice(slash + 1).toLowerCase());
    out.set(ns, list);
  }
  return out;
}

function anyHostImported(imported: Map<string, string[]>, namespace: string, hosts: readonly string[]): boolean {
  for (const key of [namespace, '*']) {
    for (const pattern of imported.get(key) ?? []) if (hosts.some((h) => hostsOverlap(pattern, h))) return true;
  }
  return false;
}

/**
 * Istio's matchingService: a listener with a port (other than an HTTP_PROXY listener) imports only
 * that port of a service, and not the service at all if it lacks the port.
 */
function trimToListenerPort(service: Service, listener: EgressListener): Service | undefined {
  const n = listener.port?.number ?? 0;
  if (n === 0 || parseProtocol(listener.port?.protocol ?? '') === 'HTTP_PROXY') return service;
  const port = service.ports.find((p) => p.port === n);
  return port ? { ...service, ports: [port] } : undefined;
}

/** Hosts of every destination (routes, mirrors) of a VirtualService, short names resolved against its namespace. */
export function destinationHosts(vs: VirtualServiceConfig, clusterDomain: string): string[] {
  const spec: VirtualServiceSpec = vs.spec;
  const out: string[] = [];
  const add = (h: string | undefined) => {
    if (h) out.push(resolveShortName(h, vs.namespace, clusterDomain));
  };
  for (const r of spec.http ?? []) {
    for (const d of r.route ?? []) add(d.destination?.host);
    add(r.mirror?.host);
  }
  for (const r of [...(spec.tcp ?? []), ...(spec.tls ?? [])]) for (const d of r.route ?? []) add(d.destination?.host);
  return out;
}

/**
 * A Sidecar's scope for workloads of `namespace` (Istio's ConvertToSidecarScope):
 * - each egress listener imports the visible services its `ns/host` entries match (`*\/*`: all
 *   visible; `./x`: this namespace; `~/*`: nothing), trimmed to the listener port if it has one;
 * - it also imports the visible mesh VirtualServices whose hosts those entries match, and then the
 *   services those VirtualServices route to, so a route never points at a missing cluster. Unlike
 *   Istio 1.6, a destination service not exported to the namespace is not pulled in (exportTo is a
 *   boundary; Istio's default scope already respects it, only its Sidecar path leaked);
 * - services imported by several listeners merge their ports;
 * - outboundTrafficPolicy comes from the Sidecar (an empty policy means REGISTRY_ONLY, the enum's
 *   zero value), else from the mesh.
 * A Sidecar without egress listeners (refused by validation) imports like `*\/*`.
 */
export function sidecarScope(namespace: string, sidecar: TypedConfig<SidecarSpec>, inputs: ScopeInputs): ScopeState {
  const visible = inputs.visibleServices(namespace);
  const visibleVs = inputs.meshVirtualServices(namespace);
  const listeners: EgressListener[] = sidecar.spec.egress && sidecar.spec.egress.length > 0 ? sidecar.spec.egress : [{ hosts: ['*/*'] }];
  const services = new Map<string, Service>();
  const addService = (s: Service) => {
    const found = services.get(s.hostname);
    if (!found) services.set(s.hostname, s);
    else if (found.namespace === s.namespace) {
      const missing = s.ports.filter((p) => !found.ports.some((q) => q.port === p.port));
      if (missing.length > 0) services.set(s.hostname, { ...found, ports: [...found.ports, ...missing] });
    }
  };
  const vsImported = new Set<VirtualServiceConfig>();
  for (const listener of listeners) {
    const imported = importedHosts(listener, namespace);
    for (const s of visible) {
      if (!anyHostImported(imported, s.namespace, [s.hostname])) continue;
      const trimmed = trimToListenerPort(s, listener);
      if (trimmed) addService(trimmed);
    }
    const listenerVs = visibleVs.filter((vs) => anyHostImported(imported, vs.namespace, vs.hosts));
    for (const vs of listenerVs) vsImported.add(vs);
    // Explicitly imported services take priority; these only fill in the rest.
    const byHost = new Map(preferredPerHostname(visible).map((s) => [s.hostname, s]));
    for (const vs of listenerVs) {
      for (const h of destinationHosts(vs, inputs.mesh.clusterDomain)) {
        const s = byHost.get(h);
        if (s && !services.has(h)) addService(s);
      }
    }
  }
  const policy = sidecar.spec.outboundTrafficPolicy;
  const scope: SidecarScope = {
    config: sidecar,
    services: Object.freeze([...services.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0)).map((s) => Object.freeze(s))),
    outboundTrafficPolicy: policy === undefined ? inputs.mesh.outboundTrafficPolicy : (policy.mode ?? 'REGISTRY_ONLY'),
  };
  return { scope: Object.freeze(scope), meshVirtualServices: Object.freeze(visibleVs.filter((vs) => vsImported.has(vs))) };
}

/** Cache key of the scope a workload gets: its namespace and the Sidecar applied. */
export function scopeKey(namespace: string, sidecar: TypedConfig<SidecarSpec> | undefined): string {
  return `${namespace}\u0000${sidecar ? refOf(sidecar) : ''}`;
}
