// What sidecar injection needs to know besides the pod: mesh membership, the injector's policy and selectors, the SMCP's proxy defaults, and where the proxy finds discovery and the CA.
import type { ObjectMeta } from '../api/kind.js';
import type { LabelSelector, PodSpec } from '../api/kinds/kubernetes-pod.js';
import type { SmcpV2Spec } from '../api/kinds/service-mesh-control-plane.js';

/** The name Maistra 2.0 gives its CNI network (NetworkAttachmentDefinition) in every member namespace (MT-14). */
export const MAISTRA_CNI_NETWORK = 'v2-0-istio-cni';

/** A Kubernetes Pod as injection reads and writes it. */
export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: unknown;
}

/** The pod's Namespace object, when there is one (a manifest folder need not declare `default`): only its name and labels are read. */
export interface NamespaceObject {
  metadata?: { name?: string; labels?: Readonly<Record<string, string>> };
}

/** Resource requests and limits as Kubernetes writes them (`cpu: 100m`, `memory: 128Mi`). */
export interface ProxyResources {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

/**
 * Defaults for every injected sidecar, from the SMCP's `spec.proxy` (OP-13); pod annotations
 * override them one by one. List-valued settings are the comma-separated strings the injection
 * template writes into the traffic annotations.
 */
export interface ProxyDefaults {
  /** `sidecar.istio.io/interceptionMode` when the pod does not say: REDIRECT or NONE (TPROXY is refused: not implemented). */
  interceptionMode: string;
  /** Outbound CIDR blocks redirected (`*`: all). SMCP `trafficControl.outbound.includedIPRanges`. */
  includeIPRanges: string;
  /** Outbound CIDR blocks never redirected. SMCP `trafficControl.outbound.excludedIPRanges`. */
  excludeIPRanges: string;
  /** Outbound ports never redirected. SMCP `trafficControl.outbound.excludedPorts`. */
  excludeOutboundPorts: string;
  /** Inbound ports redirected (`*`: all; empty: the pod's container ports). SMCP `trafficControl.inbound.includedPorts`. */
  includeInboundPorts: string;
  /** Inbound ports never redirected. SMCP `trafficControl.inbound.excludedPorts`. */
  excludeInboundPorts: string;
  /** The status port excluded from inbound capture; 0 also drops the sidecar's readiness probe. SMCP `runtime.readiness.statusPort`. */
  statusPort: number;
  /** The sidecar's readiness probe (on 15021 /healthz/ready): delay, period in seconds, and failures tolerated. */
  readinessInitialDelaySeconds: number;
  readinessPeriodSeconds: number;
  readinessFailureThreshold: number;
  /** The sidecar's resources when the pod gives no `sidecar.istio.io/proxyCPU…` annotation. SMCP `runtime.container.resources`. */
  resources: ProxyResources;
  /** Access log file; any non-empty name turns on `meltemi proxy --access-log` (which writes to standard output). SMCP `accessLogging.file.name`. */
  accessLogFile: string;
  /** TEXT or JSON. SMCP `accessLogging.file.encoding`. */
  accessLogEncoding: 'TEXT' | 'JSON';
  /** Merge the app's Prometheus metrics into the sidecar's (Istio's enablePrometheusMerge; Maistra 2.0 turns it off mesh-wide). */
  prometheusMerge: boolean;
  /** How long the sidecar lets connections finish after SIGTERM, in seconds (Istio's terminationDrainDuration, 5s). */
  drainSeconds: number;
  /**
   * Rewrite the app's httpGet probes to go through the sidecar's status port (INJ-06), so they work
   * under STRICT mTLS. SMCP `runtime.readiness.rewriteApplicationProbes` (default false);
   * `sidecar.istio.io/rewriteAppHTTPProbers` decides per pod.
   */
  rewriteAppProbes: boolean;
  /** The image written into the sidecar container; the local runtime ignores it. */
  image: string;
}

/**
 * Maistra 2.0's values (`resources/helm/v2.0/global.yaml` of the operator): capture everything,
 * status port 15021, readiness 1 s / 2 s / 30 failures, requests 100m/128Mi, limits 2000m/1024Mi.
 */
export const DEFAULT_PROXY_DEFAULTS: Readonly<ProxyDefaults> = Object.freeze({
  interceptionMode: 'REDIRECT',
  includeIPRanges: '*',
  excludeIPRanges: '',
  excludeOutboundPorts: '',
  includeInboundPorts: '*',
  excludeInboundPorts: '',
  statusPort: 15021,
  readinessInitialDelaySeconds: 1,
  readinessPeriodSeconds: 2,
  readinessFailureThreshold: 30,
  resources: Object.freeze({ requests: Object.freeze({ cpu: '100m', memory: '128Mi' }), limits: Object.freeze({ cpu: '2000m', memory: '1024Mi' }) }) as ProxyResources,
  accessLogFile: '',
  accessLogEncoding: 'TEXT',
  prometheusMerge: false,
  drainSeconds: 5,
  rewriteAppProbes: false,
  image: 'meltemi-proxy',
});

/** What the injection policy (`injectionRequired`) reads. */
export interface InjectionPolicyContext {
  /** Namespaces in the mesh: the ServiceMeshMemberRoll's members, or `'all'` when there is no member roll. */
  members: ReadonlySet<string> | 'all';
  /** The control plane's namespace: Maistra labels it `maistra.io/ignore-namespace`, so nothing there is injected. */
  controlPlaneNamespace?: string;
  /** `disabled` (Maistra's default: only annotated pods) or `enabled` (SMCP `spec.proxy.injection.autoInject: true`). */
  policy?: 'disabled' | 'enabled';
  /** Label selectors consulted only when the pod has no `sidecar.istio.io/inject` annotation; never wins over always. */
  neverInjectSelector?: readonly LabelSelector[];
  alwaysInjectSelector?: readonly LabelSelector[];
  /**
   * INJ-07 (tech preview `sidecarInjectorWebhook.objectSelector.enabled`): the webhook is only called
   * for pods labelled `sidecar.istio.io/inject=true` (policy disabled) or not labelled `false` (enabled).
   */
  objectSelector?: boolean;
}

/** Where the sidecar gets its workload certificate: the CA, the roots that verify it, and the workload's token. */
export interface ProxyIdentity {
  /** host:port of the mesh CA (`meltemi discovery --ca-addr`); written as the CA_ADDR environment variable, as Istio does. */
  caAddress: string;
  /** PEM file of the mesh roots (`--ca-root`). */
  rootCertFile: string;
  /** File holding the workload's token for the CA (`--token-file`). */
  tokenFile: string;
}

/** Everything `injectPod` reads besides the pod. Plain data: the same context and pod give the same result. */
export interface InjectionContext extends InjectionPolicyContext {
  /** host:port of the control plane's xDS server (`meltemi proxy --discovery`). */
  discoveryAddress: string;
  /** The sidecar's certificate source; without it the sidecar runs without a workload identity (plain-text mesh). */
  identity?: ProxyIdentity;
  /**
   * Traffic is intercepted by the CNI plugin (Maistra 2.0's default): the pod's
   * `k8s.v1.cni.cncf.io/networks` gets the mesh's network, and the sidecar runs with `--capture`.
   * Off, nothing redirects the pod's traffic and the sidecar runs without `--capture` (Meltemi has
   * no `istio-init` container).
   */
  cni: boolean;
  /** The network appended to `k8s.v1.cni.cncf.io/networks` (default `v2-0-istio-cni`). */
  cniNetwork?: string;
  /** The SMCP's `spec.proxy` defaults; unset fields take Maistra 2.0's values. */
  proxy?: Partial<ProxyDefaults>;
  /** Added to every injected pod (SMCP `spec.proxy.injection.injectedAnnotations`); they replace the pod's own values. */
  injectedAnnotations?: Readonly<Record<string, string>>;
  /** The control plane revision (Maistra: the SMCP's name), written as the `istio.io/rev` label; unset, no label. */
  revision?: string;
  /** How to run Meltemi: the sidecar's command is this followed by `proxy` (default `['meltemi']`). */
  proxyCommand?: readonly string[];
  /** Extra `meltemi proxy` flags appended after the injected ones (e.g. a runtime's addresses). */
  extraProxyArgs?: readonly string[];
}

/** The proxy defaults with Maistra's values filled in. */
export function proxyDefaults(ctx: Pick<InjectionContext, 'proxy'>): ProxyDefaults {
  return { ...DEFAULT_PROXY_DEFAULTS, ...(ctx.proxy ?? {}) };
}

/**
 * The injection settings a ServiceMeshControlPlane implies (OP-13), from its namespace, name and v2
 * spec with profiles already applied (`applyProfiles`): the policy (autoInject; absent means
 * disabled, as the base profile says), selectors, injected annotations, the object selector (INJ-07)
 * and the proxy defaults from `spec.proxy` (traffic control ranges and ports, readiness, container
 * resources, access log). The caller adds members, addresses and the CNI switch.
 */
export function injectionSettingsFromControlPlane(namespace: string, name: string, spec: SmcpV2Spec): Omit<InjectionContext, 'members' | 'discoveryAddress' | 'cni'> {
  const proxy = spec.proxy ?? {};
  const out: Partial<ProxyDefaults> = {};
  const tc = proxy.networking?.trafficControl;
  const joinPorts = (ps: readonly number[] | undefined) => (ps && ps.length > 0 ? ps.join(',') : undefined);
  // As the operator converts them: only non-empty lists are set; [""] sets an empty string.
  // trafficControl.inbound.interceptionMode is not read: Maistra 2.0's template takes the mode from the
  // mesh config's proxy defaults, which the operator never sets from it (its own "XXX" note says so).
  if (tc?.inbound?.includedPorts && tc.inbound.includedPorts.length > 0) out.includeInboundPorts = tc.inbound.includedPorts.join(',');
  const exIn = joinPorts(tc?.inbound?.excludedPorts);
  if (exIn !== undefined) out.excludeInboundPorts = exIn;
  if (tc?.outbound?.includedIPRanges && tc.outbound.includedIPRanges.length > 0) out.includeIPRanges = tc.outbound.includedIPRanges.join(',');
  if (tc?.outbound?.excludedIPRanges && tc.outbound.excludedIPRanges.length > 0) out.excludeIPRanges = tc.outbound.excludedIPRanges.join(',');
  const exOut = joinPorts(tc?.outbound?.excludedPorts);
  if (exOut !== undefined) out.excludeOutboundPorts = exOut;
  const rd = proxy.runtime?.readiness;
  if (rd?.statusPort) out.statusPort = rd.statusPort;
  if (rd?.initialDelaySeconds !== undefined) out.readinessInitialDelaySeconds = rd.initialDelaySeconds;
  if (rd?.periodSeconds !== undefined) out.readinessPeriodSeconds = rd.periodSeconds;
  if (rd?.failureThreshold !== undefined) out.readinessFailureThreshold = rd.failureThreshold;
  if (rd?.rewriteApplicationProbes !== undefined) out.rewriteAppProbes = rd.rewriteApplicationProbes;
  const res = proxy.runtime?.container?.resources;
  if (res && (res.requests || res.limits)) {
    const strings = (m: Record<string, unknown> | undefined) => (m ? Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)])) : undefined);
    const requests = strings(res.requests as Record<string, unknown> | undefined);
    const limits = strings(res.limits as Record<string, unknown> | undefined);
    out.resources = { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
  }
  const file = proxy.accessLogging?.file;
  if (file?.name !== undefined) out.accessLogFile = file.name;
  if (file?.encoding) out.accessLogEncoding = file.encoding;

  const inj = proxy.injection;
  const techPreview = spec.techPreview as Record<string, unknown> | undefined;
  const objectSelector = ((techPreview?.sidecarInjectorWebhook as Record<string, unknown> | undefined)?.objectSelector as Record<string, unknown> | undefined)?.enabled === true;
  return {
    controlPlaneNamespace: namespace,
    revision: name,
    policy: inj?.autoInject === true ? 'enabled' : 'disabled',
    ...(inj?.neverInjectSelector ? { neverInjectSelector: inj.neverInjectSelector } : {}),
    ...(inj?.alwaysInjectSelector ? { alwaysInjectSelector: inj.alwaysInjectSelector } : {}),
    ...(inj?.injectedAnnotations ? { injectedAnnotations: inj.injectedAnnotations } : {}),
    ...(objectSelector ? { objectSelector } : {}),
    proxy: out,
  };
}

