// The contract of a PushContext: one immutable, indexed view of config + registry per push, read by every generator.
import type { AuthorizationPolicySpec } from '../api/kinds/authorization-policy.js';
import type { DestinationRuleSpec } from '../api/kinds/destination-rule.js';
import type { GatewayServer } from '../api/kinds/gateway.js';
import type { RequestAuthenticationSpec } from '../api/kinds/request-authentication.js';
import type { SidecarSpec } from '../api/kinds/sidecar.js';
import type { VirtualServiceSpec } from '../api/kinds/virtual-service.js';
import type { Endpoint, RegistrySnapshot, Service } from '../registry/types.js';
import type { JwksSnapshot } from './jwks.js';
import type { MeshConfig } from './mesh-config.js';
import type { Proxy } from './proxy.js';

/** Identity of the resource a piece of config came from (for names, debug output and precedence). */
export interface ConfigMeta {
  namespace: string;
  name: string;
  /** RFC 3339, '' when unknown (then it sorts as newest). */
  creationTimestamp: string;
}

export interface VirtualServiceConfig extends ConfigMeta {
  spec: VirtualServiceSpec;
  /** `spec.hosts` resolved to FQDNs against the VirtualService's namespace (short names expanded). */
  hosts: string[];
}

/**
 * The DestinationRule in force for a host as seen from one proxy, after Istio's lookup (proxy
 * namespace, then service namespace if exported, then root namespace) and merging of several rules
 * for the same host (subsets concatenated, first top-level policy wins).
 */
export interface DestinationRuleConfig extends ConfigMeta {
  spec: DestinationRuleSpec;
  /** `spec.host` resolved to an FQDN. */
  host: string;
}

/** A Sidecar's effect on one proxy: what it may reach and how unknown traffic is treated. */
export interface SidecarScope {
  /** The Sidecar resource applied, or undefined for the mesh default (everything visible). */
  config?: ConfigMeta & { spec: SidecarSpec };
  /** Services this proxy gets outbound config for (exportTo and egress hosts applied), sorted by hostname, one per hostname. */
  services: readonly Service[];
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

/** One server of a Gateway that applies to a router proxy, with where it came from. */
export interface GatewayServerConfig {
  gateway: ConfigMeta;
  server: GatewayServer;
  /** Index of the server in the Gateway's spec.servers. */
  index: number;
}

/** A host:port two Gateways both claimed; the oldest keeps it (MAISTRA-158). */
export interface GatewayConflict {
  port: number;
  host: string;
  winner: ConfigMeta;
  loser: ConfigMeta;
}

/** The servers of all Gateways selecting one router proxy, grouped by port, conflicts resolved. */
export interface MergedGateway {
  /** Gateway references (`ns/name`) that select this proxy. */
  gateways: readonly string[];
  /** Servers by port number, in precedence order; a losing server keeps only its non-conflicting hosts. */
  serversByPort: ReadonlyMap<number, readonly GatewayServerConfig[]>;
  conflicts: readonly GatewayConflict[];
}

/** The mutual TLS a sidecar accepts on an inbound port, once PeerAuthentication inheritance is resolved. */
export type PeerMtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

/**
 * The PeerAuthentication in force for one workload (mesh, namespace and workload levels composed;
 * UNSET inherited). `mode` is the workload-wide mode (ports no policy names, the passthrough of
 * undeclared ports); `portModes` holds the workload policy's `portLevelMtls`, keyed by the
 * workload's own (container) port, UNSET already replaced by `mode`.
 */
export interface EffectivePeerAuthentication {
  mode: PeerMtlsMode;
  portModes: ReadonlyMap<number, PeerMtlsMode>;
  /** The mode of one workload (container) port: its port-level mode, else `mode`. */
  modeFor(port: number): PeerMtlsMode;
  /** The policies that took part, mesh level first (for debug output). */
  policies: readonly ConfigMeta[];
}

/** An AuthorizationPolicy as generators read it. */
export interface AuthorizationPolicyConfig extends ConfigMeta {
  spec: AuthorizationPolicySpec;
}

/**
 * The AuthorizationPolicies in force for one workload, by action (`action` absent is ALLOW). Each
 * list holds root-namespace policies first, then the workload namespace's, oldest first within a
 * namespace. All lists empty: no policy applies, so nothing is checked and everything is allowed.
 */
export interface WorkloadAuthorizationPolicies {
  deny: readonly AuthorizationPolicyConfig[];
  allow: readonly AuthorizationPolicyConfig[];
  /** Meltemi extension (AUDIT is Istio 1.7+ API): matches are logged, nothing is decided. */
  audit: readonly AuthorizationPolicyConfig[];
}

/** A RequestAuthentication as generators read it. */
export interface RequestAuthenticationConfig extends ConfigMeta {
  spec: RequestAuthenticationSpec;
}

/**
 * A Kubernetes Secret (core/v1) as generators read it: its type and its values, decoded (base64
 * `data`, with `stringData` over it) as UTF-8 text. Key material: never logged or shown.
 */
export interface SecretConfig extends ConfigMeta {
  /** `kubernetes.io/tls`, `Opaque` (the default)… */
  type: string;
  data: Readonly<Record<string, string>>;
}

/** Something worth telling an operator about a push (a conflict, an unresolvable reference). */
export interface PushMessage {
  level: 'Warning' | 'Error';
  resource: string;
  message: string;
}

/**
 * Everything generators need, computed once per push and never mutated. Methods that take a proxy
 * answer for that proxy's namespace, labels and Sidecar scope; results are cached per scope, so
 * asking twice is cheap.
 */
export interface PushContext {
  /** Distinct for every push. */
  readonly version: string;
  readonly mesh: MeshConfig;
  readonly registry: RegistrySnapshot;
  readonly messages: readonly PushMessage[];

  /**
   * The service with this hostname as `namespace` sees it: `namespace`'s own definition when it is
   * visible there, else the first visible one (Kubernetes first, then oldest).
   */
  service(hostname: string, namespace: string): Service | undefined;
  sidecarScope(proxy: Proxy): SidecarScope;
  /** Endpoints of one port of `service` (its hostname in its namespace), filtered by subset labels when given. */
  endpoints(service: Service, port: number, subsetLabels?: Readonly<Record<string, string>>): readonly Endpoint[];
  destinationRule(proxy: Proxy, hostname: string): DestinationRuleConfig | undefined;
  /**
   * VirtualServices bound to `gateway` (`mesh`, or `ns/name` of a Gateway) and visible to the proxy,
   * in precedence order (oldest first). For `mesh`, a host belongs to the first VirtualService that
   * claims it; later claims are dropped as Istio drops them.
   */
  virtualServices(proxy: Proxy, gateway: string): readonly VirtualServiceConfig[];
  /** For a router proxy: the Gateways whose selector matches its labels, merged; undefined when none. */
  mergedGateway(proxy: Proxy): MergedGateway | undefined;
  /**
   * The PeerAuthentication in force for a workload of `namespace` with `labels` (a sidecar's
   * inbound side). Routers ignore PeerAuthentication, as in Istio.
   */
  peerAuthentication(namespace: string, labels: Readonly<Record<string, string>>): EffectivePeerAuthentication;
  /**
   * The mode PeerAuthentication gives workloads of `namespace` from the mesh and namespace levels
   * alone (workload-level policies ignored): what a client can infer about a service's servers.
   */
  namespaceMtlsMode(namespace: string): PeerMtlsMode;
  /**
   * The AuthorizationPolicies in force for a workload of `namespace` with `labels`: a sidecar's
   * inbound side or a gateway (Istio 1.6 applies them to both). Frozen; workloads selected by the
   * same policies get the same object.
   */
  authorizationPolicies(namespace: string, labels: Readonly<Record<string, string>>): WorkloadAuthorizationPolicies;
  /**
   * The RequestAuthentications applying to a workload of `namespace` with `labels` (a sidecar's
   * inbound side or a gateway): the workload namespace's, then the root namespace's, oldest first
   * within each; a policy with a selector applies when its labels are among the workload's.
   * Every one contributes its JWT rules. Frozen.
   */
  requestAuthentications(namespace: string, labels: Readonly<Record<string, string>>): readonly RequestAuthenticationConfig[];
  /**
   * The remote JWT key sets as the control plane held them when this push was built (fetched
   * off the push path by the JWKS resolver); a key set not fetched reads as one that verifies no
   * token.
   */
  readonly jwks: JwksSnapshot;
  /**
   * The Kubernetes Secret `name` of `namespace` (a gateway's `credentialName`), decoded; undefined
   * when there is none. Generators ask only for the requesting gateway's own namespace: a Secret
   * is never served across namespaces.
   */
  secret(namespace: string, name: string): SecretConfig | undefined;
  /** Endpoints whose address is one of the proxy's IPs (the services it serves, for inbound config). */
  inboundEndpoints(proxy: Proxy): readonly Endpoint[];
}
