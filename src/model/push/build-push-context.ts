// buildPushContext: one immutable PushContext from a config store, a registry snapshot and the mesh config.
import type { Resource } from '../../api/kind.js';
import { NETWORKING_GROUP } from '../../api/kinds/networking-types.js';
import { SECURITY_GROUP } from '../../api/kinds/security-types.js';
import type { ConfigStore } from '../../config/store.js';
import type { Endpoint, RegistrySnapshot, Service } from '../../registry/types.js';
import { NO_JWKS, type JwksSnapshot } from '../jwks.js';
import type { MeshConfig } from '../mesh-config.js';
import type { Proxy } from '../proxy.js';
import type { DestinationRuleConfig, EffectivePeerAuthentication, MergedGateway, PeerMtlsMode, PushContext, PushMessage, RequestAuthenticationConfig, SecretConfig, SidecarScope, VirtualServiceConfig, WorkloadAuthorizationPolicies } from '../push-context.js';
import { AuthorizationPolicyIndex } from './authorization-policy.js';
import { compareByCreation, isVisible, labelsKey, selectorMatches, visibilityOf, type Visibility } from './config-meta.js';
import { DestinationRuleIndex } from './destination-rule-index.js';
import { GatewayIndex } from './gateway-merge.js';
import { PeerAuthenticationIndex } from './peer-authentication.js';
import { RequestAuthenticationIndex } from './request-authentication.js';
import { SecretIndex } from './secret-index.js';
import { SidecarIndex, defaultScope, scopeKey, sidecarScope, type ScopeInputs, type ScopeState } from './sidecar-scope.js';
import { MESH_GATEWAY, VirtualServiceIndex } from './virtual-service-index.js';

const EMPTY: readonly Endpoint[] = Object.freeze([]);

/**
 * Builds the PushContext for one push. Reads `store` once (VirtualService, DestinationRule,
 * Gateway, Sidecar of networking.istio.io; PeerAuthentication and AuthorizationPolicy of
 * security.istio.io; core/v1 Secrets) and keeps no reference to it, so later store changes never show through;
 * `registry` is an immutable snapshot. Indexes are built eagerly; per-proxy
 * answers are computed on first use and cached per (namespace, Sidecar) or per label set, so many
 * proxies share the work. Everything returned is frozen. `version` must differ between pushes.
 * RequestAuthentications are read too; `options.jwks` is the JWKS resolver's snapshot of the
 * remote key sets they name (without it every remote key set fails closed).
 */
export function buildPushContext(store: ConfigStore, registry: RegistrySnapshot, mesh: MeshConfig, version: string, options: { jwks?: JwksSnapshot } = {}): PushContext {
  const list = (kind: string) => store.list({ kind, group: NETWORKING_GROUP });
  const frozenMesh = Object.freeze({ ...mesh, trustDomainAliases: Object.freeze([...mesh.trustDomainAliases]) as string[] });
  const configs = {
    virtualServices: list('VirtualService'),
    destinationRules: list('DestinationRule'),
    gateways: list('Gateway'),
    sidecars: list('Sidecar'),
    peerAuthentications: store.list({ kind: 'PeerAuthentication', group: SECURITY_GROUP }),
    authorizationPolicies: store.list({ kind: 'AuthorizationPolicy', group: SECURITY_GROUP }),
    requestAuthentications: store.list({ kind: 'RequestAuthentication', group: SECURITY_GROUP }),
    secrets: store.list({ kind: 'Secret', group: '' }),
    jwks: options.jwks,
  };
  return new PushContextImpl(new ConfigView(configs, registry.services, frozenMesh), registry, frozenMesh, version);
}

/** The config a push is built from (already validated by the store). */
export interface PushConfigs {
  virtualServices: readonly Resource[];
  destinationRules: readonly Resource[];
  gateways: readonly Resource[];
  sidecars: readonly Resource[];
  peerAuthentications: readonly Resource[];
  authorizationPolicies: readonly Resource[];
  requestAuthentications?: readonly Resource[];
  /** Kubernetes Secrets (core/v1): gateway credentials served over SDS. */
  secrets?: readonly Resource[];
  /** The remote JWT key sets as of this push (default: none fetched, every one fails closed). */
  jwks?: JwksSnapshot;
}

/**
 * The PushContext for an endpoint-only change: `previous`'s config indexes and Sidecar scopes,
 * `registry`'s endpoints (Istio 1.6 likewise keeps the PushContext on an EDS-only push).
 * Undefined when `previous` was not built here or `registry` holds other services than the
 * registry `previous` was built from (a service change not yet pushed): build a full one then.
 */
export function withEndpointsOf(previous: PushContext, registry: RegistrySnapshot, version: string): PushContext | undefined {
  if (!(previous instanceof PushContextImpl) || previous.registry.services !== registry.services) return undefined;
  return new PushContextImpl(previous.view, registry, previous.mesh, version);
}

/**
 * What a push derives from config and services, not endpoints: indexes and per-scope caches.
 * Shared by the pushes of endpoint-only changes; its caches fill lazily, so they are not frozen.
 */
class ConfigView {
  readonly messages: readonly PushMessage[];
  readonly vs: VirtualServiceIndex;
  readonly dr: DestinationRuleIndex;
  readonly gw: GatewayIndex;
  readonly sidecars: SidecarIndex;
  readonly peerAuthn: PeerAuthenticationIndex;
  readonly authz: AuthorizationPolicyIndex;
  readonly requestAuthn: RequestAuthenticationIndex;
  readonly secrets: SecretIndex;
  readonly jwks: JwksSnapshot;
  /**
   * The registry's services by hostname, one per namespace that defines it, in precedence order
   * (Kubernetes first, then oldest): who a namespace gets when it sees several is `pick`'s choice.
   */
  readonly byHostname = new Map<string, Array<{ service: Service; visibility: Visibility }>>();
  readonly visibleByNamespace = new Map<string, readonly Service[]>();
  private sortedHostnames: readonly string[] | undefined;
  readonly scopes = new Map<string, ScopeState>();
  readonly scopeByProxy = new WeakMap<Proxy, { key: string; state: ScopeState }>();
  readonly meshVsByScope = new Map<string, readonly VirtualServiceConfig[]>();
  readonly scopeInputs: ScopeInputs;

  constructor(configs: PushConfigs, services: readonly Service[], mesh: MeshConfig) {
    for (const s of [...services].sort(servicePrecedence)) {
      const entries = this.byHostname.get(s.hostname) ?? [];
      // A registry other than ServiceRegistry may hand one namespace's hostname twice: the first counts.
      if (!entries.some((e) => e.service.namespace === s.namespace)) entries.push({ service: s, visibility: visibilityOf(s.exportTo, s.namespace) });
      this.byHostname.set(s.hostname, entries);
    }
    this.vs = new VirtualServiceIndex(configs.virtualServices, mesh.clusterDomain);
    this.dr = new DestinationRuleIndex(configs.destinationRules, mesh.rootNamespace, mesh.clusterDomain);
    this.gw = new GatewayIndex(configs.gateways);
    this.sidecars = new SidecarIndex(configs.sidecars, mesh.rootNamespace);
    this.peerAuthn = new PeerAuthenticationIndex(configs.peerAuthentications, mesh.rootNamespace);
    this.authz = new AuthorizationPolicyIndex(configs.authorizationPolicies, mesh.rootNamespace);
    this.requestAuthn = new RequestAuthenticationIndex(configs.requestAuthentications ?? [], mesh.rootNamespace);
    this.secrets = new SecretIndex(configs.secrets ?? []);
    this.jwks = configs.jwks ?? NO_JWKS;
    this.messages = Object.freeze([...this.vs.messages, ...this.dr.messages, ...this.gw.messages].map((m) => Object.freeze(m)));
    this.scopeInputs = {
      mesh,
      visibleServices: (ns) => this.visibleServices(ns),
      meshVirtualServices: (ns) => this.vs.visible(ns, MESH_GATEWAY),
    };
  }

  /**
   * The service `hostname` as `namespace` sees it: its own namespace's definition when that is
   * visible to it, else the first visible one in precedence order (Istio 1.8+ prefers the
   * namespace-local service; 1.6 let the last one listed win, which depended on listing order).
   */
  pick(hostname: string, namespace: string): Service | undefined {
    const entries = this.byHostname.get(hostname);
    if (!entries) return undefined;
    let first: Service | undefined;
    for (const e of entries) {
      if (!isVisible(e.visibility, namespace)) continue;
      if (e.service.namespace === namespace) return e.service;
      first ??= e.service;
    }
    return first;
  }

  /**
   * Every service exported to `namespace`, sorted by hostname; where several namespaces define one
   * hostname, all visible ones are listed, the one `pick` prefers first (a Sidecar's `ns/host`
   * import may choose another).
   */
  visibleServices(namespace: string): readonly Service[] {
    let out = this.visibleByNamespace.get(namespace);
    if (!out) {
      const list: Service[] = [];
      this.sortedHostnames ??= [...this.byHostname.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const h of this.sortedHostnames) {
        const entries = this.byHostname.get(h)!;
        if (entries.length === 1) {
          if (isVisible(entries[0]!.visibility, namespace)) list.push(entries[0]!.service);
          continue;
        }
        const preferred = this.pick(h, namespace);
        if (!preferred) continue;
        list.push(preferred);
        for (const e of entries) if (e.service !== preferred && isVisible(e.visibility, namespace)) list.push(e.service);
      }
      out = Object.freeze(list);
      this.visibleByNamespace.set(namespace, out);
    }
    return out;
  }

  scopeState(proxy: Proxy): { key: string; state: ScopeState } {
    // Optimization: generators ask ~6 times per proxy per push; selecting the Sidecar and building
    // its key each time was 7% of a push. A Proxy object is immutable for its connection.
    const known = this.scopeByProxy.get(proxy);
    if (known) return known;
    const found = this.selectScope(proxy);
    this.scopeByProxy.set(proxy, found);
    return found;
  }

  private selectScope(proxy: Proxy): { key: string; state: ScopeState } {
    // Sidecar resources configure sidecars only; a router gets its namespace's default view (Istio 1.6).
    const sidecar = proxy.type === 'sidecar' ? this.sidecars.select(proxy.namespace, proxy.labels) : undefined;
    const key = scopeKey(proxy.namespace, sidecar);
    let state = this.scopes.get(key);
    if (!state) {
      state = sidecar ? sidecarScope(proxy.namespace, sidecar, this.scopeInputs) : defaultScope(proxy.namespace, this.scopeInputs);
      this.scopes.set(key, state);
    }
    return { key, state };
  }
}

class PushContextImpl implements PushContext {
  readonly messages: readonly PushMessage[];
  readonly jwks: JwksSnapshot;
  private readonly subsetCache = new Map<string, readonly Endpoint[]>();
  /** Built on first use; a holder object, since the context itself is frozen. */
  private readonly lazy: { inboundByAddress?: ReadonlyMap<string, readonly Endpoint[]> } = {};
  private readonly inboundCache = new Map<string, readonly Endpoint[]>();

  constructor(
    readonly view: ConfigView,
    readonly registry: RegistrySnapshot,
    readonly mesh: MeshConfig,
    readonly version: string,
  ) {
    this.messages = view.messages;
    this.jwks = view.jwks;
    Object.freeze(this);
  }

  service(hostname: string, namespace: string): Service | undefined {
    return this.view.pick(hostname.toLowerCase(), namespace);
  }

  sidecarScope(proxy: Proxy): SidecarScope {
    return this.view.scopeState(proxy).state.scope;
  }

  endpoints(service: Service, port: number, subsetLabels?: Readonly<Record<string, string>>): readonly Endpoint[] {
    const all = this.registry.endpoints(service.hostname, port, service.namespace);
    if (!subsetLabels || Object.keys(subsetLabels).length === 0) return all;
    const key = `${service.hostname}\u0000${service.namespace}\u0000${port}\u0000${labelsKey(subsetLabels)}`;
    let out = this.subsetCache.get(key);
    if (!out) {
      out = Object.freeze(all.filter((e) => selectorMatches(subsetLabels, e.labels)));
      this.subsetCache.set(key, out);
    }
    return out;
  }

  destinationRule(proxy: Proxy, hostname: string): DestinationRuleConfig | undefined {
    const h = hostname.toLowerCase();
    // The service's namespace decides step 2 of the lookup: the definition the proxy sees, else (like
    // Istio) the first one even when it is not exported to the proxy (the rule's own exportTo still
    // has to admit the proxy).
    const serviceNamespace = (this.view.pick(h, proxy.namespace) ?? this.view.byHostname.get(h)?.[0]?.service)?.namespace ?? '';
    return this.view.dr.lookup(proxy.namespace, h, serviceNamespace);
  }

  virtualServices(proxy: Proxy, gateway: string): readonly VirtualServiceConfig[] {
    if (gateway !== MESH_GATEWAY) return this.view.vs.visible(proxy.namespace, gateway);
    const { key, state } = this.view.scopeState(proxy);
    let out = this.view.meshVsByScope.get(key);
    if (!out) {
      out = Object.freeze(VirtualServiceIndex.firstClaimWins(state.meshVirtualServices));
      this.view.meshVsByScope.set(key, out);
    }
    return out;
  }

  mergedGateway(proxy: Proxy): MergedGateway | undefined {
    if (proxy.type !== 'router') return undefined;
    return this.view.gw.merged(proxy.labels);
  }

  peerAuthentication(namespace: string, labels: Readonly<Record<string, string>>): EffectivePeerAuthentication {
    return this.view.peerAuthn.forWorkload(namespace, labels);
  }

  namespaceMtlsMode(namespace: string): PeerMtlsMode {
    return this.view.peerAuthn.namespaceMode(namespace);
  }

  requestAuthentications(namespace: string, labels: Readonly<Record<string, string>>): readonly RequestAuthenticationConfig[] {
    return this.view.requestAuthn.forWorkload(namespace, labels);
  }

  authorizationPolicies(namespace: string, labels: Readonly<Record<string, string>>): WorkloadAuthorizationPolicies {
    return this.view.authz.forWorkload(namespace, labels);
  }

  secret(namespace: string, name: string): SecretConfig | undefined {
    return this.view.secrets.get(namespace, name);
  }

  inboundEndpoints(proxy: Proxy): readonly Endpoint[] {
    const key = proxy.ipAddresses.join(',');
    let out = this.inboundCache.get(key);
    if (!out) {
      const index = this.addressIndex();
      const found: Endpoint[] = [];
      for (const ip of new Set(proxy.ipAddresses)) found.push(...(index.get(ip) ?? EMPTY));
      out = Object.freeze(found);
      this.inboundCache.set(key, out);
    }
    return out;
  }

  /** Endpoint address → endpoints of every service port, built on first use. */
  private addressIndex(): ReadonlyMap<string, readonly Endpoint[]> {
    if (this.lazy.inboundByAddress) return this.lazy.inboundByAddress;
    const index = new Map<string, Endpoint[]>();
    for (const { service } of [...this.view.byHostname.values()].flat()) {
      for (const p of service.ports) {
        for (const e of this.registry.endpoints(service.hostname, p.port, service.namespace)) {
          const list = index.get(e.address) ?? [];
          list.push(e);
          index.set(e.address, list);
        }
      }
    }
    this.lazy.inboundByAddress = index;
    return index;
  }
}

/**
 * Kubernetes Services before ServiceEntries, then oldest first: the order in which the definitions
 * of one hostname by several namespaces are offered to a namespace that sees more than one.
 */
function servicePrecedence(a: Service, b: Service): number {
  if (a.origin !== b.origin) return a.origin === 'kubernetes' ? -1 : 1;
  return compareByCreation(
    { namespace: a.namespace, name: a.sourceName, creationTimestamp: a.creationTimestamp ?? '' },
    { namespace: b.namespace, name: b.sourceName, creationTimestamp: b.creationTimestamp ?? '' },
  );
}
