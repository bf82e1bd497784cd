// ServiceMeshControlPlane (maistra.io v2 and v1): schema of every SMCP field and the single-object checks the Maistra 2.0 operator's webhook makes, plus stricter ones of our own.
import { Issues, asArray, asNumber, asObject, asString, isObject, type FieldPath } from '../diagnostics.js';
import { checkDuration, checkLabels, cidrProblem, fqdnProblem, isDNS1123Label, isDNS1123Subdomain, labelKeyProblem, portProblem, wildcardDomainProblem } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { arr, bool, duration, enumOf, freeform, int, int32, intOrString, map, obj, str, strMap, type Static } from '../schema.js';

export const MAISTRA_GROUP = 'maistra.io';

/** The control plane versions each API version accepts (OP-04). Meltemi installs only v2.0. */
export const SMCP_V2_VERSIONS = ['v2.0'] as const;
export const SMCP_V1_VERSIONS = ['v1.0', 'v1.1'] as const;
/** Every version the Maistra 2.0 operator knows, as named in its messages. */
export const SMCP_ALL_VERSIONS = ['v1.0', 'v1.1', 'v2.0'] as const;

/** Profile names shipped for v2.0 (resources/smcp-templates/v2.0 plus the build's `default`). */
export const SMCP_PROFILE_NAMES = ['base', 'small', 'default', 'servicemesh', 'maistra'] as const;
/** Template names shipped for v1.x control planes (no `small`). */
export const SMCP_V1_PROFILE_NAMES = ['base', 'default', 'servicemesh', 'maistra'] as const;

/** Keys of spec.runtime.components (OP-17, ControlPlaneComponentNames). */
export const SMCP_COMPONENT_NAMES = [
  'security', 'galley', 'pilot', 'mixer', 'mixer.policy', 'mixer.telemetry', 'global.oauthproxy', 'sidecarInjectorWebhook',
  'tracing', 'tracing.jaeger', 'tracing.jaeger.elasticsearch', 'tracing.jaeger.agent', 'tracing.jaeger.allInOne',
  'tracing.jaeger.collector', 'tracing.jaeger.query', 'prometheus', 'kiali', 'grafana', '3scale', 'wasmExtensions.cacher',
] as const;

/** Names the operator reserves for the two cluster gateways; additional gateways may not use them. */
export const RESERVED_GATEWAY_NAMES = ['istio-ingressgateway', 'istio-egressgateway'] as const;

// ---------------------------------------------------------------------------------------------
// Shared building blocks (Kubernetes types the SMCP embeds).

const enabled = () => bool('Whether this feature is enabled.');

export const MetadataConfigSchema = obj({ labels: strMap('Labels to add.'), annotations: strMap('Annotations to add.') }, 'Extra labels and annotations for a generated resource.');

const quantity = () => intOrString('A resource quantity such as 100m, 128Mi or 2 (quote decimals: "0.5").');
export const ResourceRequirementsSchema = obj(
  { limits: map(quantity(), 'Maximum resources, by resource name.'), requests: map(quantity(), 'Requested resources, by resource name.') },
  'Kubernetes ResourceRequirements.',
);

const PULL_POLICIES = ['Always', 'Never', 'IfNotPresent'] as const;
const commonContainerProps = {
  imageRegistry: str('Registry (and organisation) the image is pulled from, e.g. registry.redhat.io/openshift-service-mesh.'),
  imageTag: str('Image tag.'),
  imagePullPolicy: enumOf(PULL_POLICIES),
  imagePullSecrets: arr(obj({ name: str('Secret name.') }), 'Secrets used to pull the image.'),
  resources: ResourceRequirementsSchema,
};
export const CommonContainerConfigSchema = obj(commonContainerProps, 'Container settings that can be defaulted for every component.');
export const ContainerConfigSchema = obj({ ...commonContainerProps, imageName: str('Image name (without registry and tag).'), env: strMap('Extra environment variables.') }, 'Container settings of one component.');

const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
const requirementProps = { key: str('Label key.'), operator: enumOf(SELECTOR_OPERATORS), values: arr(str(), 'Values for In and NotIn.') };
export const LabelSelectorSchema = obj(
  { matchLabels: strMap('Labels that must all match.'), matchExpressions: arr(obj(requirementProps), 'Set-based requirements.') },
  'A Kubernetes label selector.',
);
const PodAntiAffinityTermSchema = obj({ ...requirementProps, topologyKey: str('Node label that defines co-location, e.g. kubernetes.io/hostname.') });
const AffinitySchema = obj({
  podAntiAffinity: obj({ requiredDuringScheduling: arr(PodAntiAffinityTermSchema), preferredDuringScheduling: arr(PodAntiAffinityTermSchema) }),
}, 'Pod anti-affinity (node and pod affinity are not supported by the charts).');

const commonPodProps = {
  nodeSelector: strMap('Node labels the pod must be scheduled on.'),
  tolerations: arr(freeform('A Kubernetes Toleration.'), 'Pod tolerations.'),
  priorityClassName: str('Priority class of the pod.'),
};
const PodRuntimeSchema = obj({ ...commonPodProps, metadata: MetadataConfigSchema, affinity: AffinitySchema });

const AutoScalingSchema = obj({
  enabled: enabled(),
  minReplicas: int32('Lower bound for the autoscaler, default 1.'),
  maxReplicas: int32('Upper bound for the autoscaler; not smaller than minReplicas.'),
  targetCPUUtilizationPercentage: int32('Target average CPU utilisation, as a percentage of requested CPU.'),
}, 'A HorizontalPodAutoscaler for the deployment.');
const StrategySchema = obj({
  type: enumOf(['Recreate', 'RollingUpdate'] as const),
  rollingUpdate: obj({ maxSurge: intOrString('Pods above the desired count during an update: a number or a percentage.'), maxUnavailable: intOrString('Pods that may be unavailable during an update: a number or a percentage.') }),
}, 'Kubernetes DeploymentStrategy.');
const DeploymentRuntimeSchema = obj({ replicas: int32('Number of pods, default 1.'), strategy: StrategySchema, autoScaling: AutoScalingSchema });

export const ComponentRuntimeSchema = obj({ deployment: DeploymentRuntimeSchema, pod: PodRuntimeSchema, container: ContainerConfigSchema }, 'Deployment, pod and container settings of one component.');
const PodDisruptionSchema = obj({ enabled: enabled(), minAvailable: intOrString(), maxUnavailable: intOrString() }, 'PodDisruptionBudgets for control plane deployments.');
const DefaultRuntimeSchema = obj({
  deployment: obj({ podDisruption: PodDisruptionSchema }),
  pod: obj(commonPodProps),
  container: CommonContainerConfigSchema,
}, 'Settings merged into every component.');
const RuntimeSchema = obj({
  components: map(ComponentRuntimeSchema, `Per-component settings; keys: ${SMCP_COMPONENT_NAMES.join(', ')}.`),
  defaults: DefaultRuntimeSchema,
});

const ServicePortSchema = obj({
  name: str('Port name; required when the Service has more than one port.'),
  protocol: enumOf(['TCP', 'UDP', 'SCTP'] as const),
  appProtocol: str(),
  port: int32('Service port, 1..65535.'),
  targetPort: intOrString('Container port number or name.'),
  nodePort: int32('Node port for NodePort/LoadBalancer Services.'),
});
const serviceSpecProps = {
  ports: arr(ServicePortSchema),
  type: enumOf(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const),
  clusterIP: str(),
  externalIPs: arr(str()),
  sessionAffinity: enumOf(['None', 'ClientIP'] as const),
  loadBalancerIP: str(),
  loadBalancerSourceRanges: arr(str()),
  externalName: str(),
  externalTrafficPolicy: enumOf(['Cluster', 'Local'] as const),
  healthCheckNodePort: int32(),
  publishNotReadyAddresses: bool(),
  sessionAffinityConfig: freeform(),
  ipFamily: enumOf(['IPv4', 'IPv6'] as const),
  topologyKeys: arr(str()),
  selector: strMap('Ignored by the operator.'),
};
const GatewayServiceSchema = obj({ ...serviceSpecProps, metadata: MetadataConfigSchema }, 'The gateway\'s Service: a Kubernetes ServiceSpec plus metadata.');
const GatewayVolumeSchema = obj({
  volume: obj({ configMap: freeform('A ConfigMapVolumeSource.'), secret: freeform('A SecretVolumeSource.') }, 'Exactly one of configMap or secret.'),
  volumeMount: obj({ name: str(), mountPath: str(), readOnly: bool(), subPath: str(), mountPropagation: str(), subPathExpr: str() }),
});
const gatewayProps = {
  enabled: enabled(),
  namespace: str('Namespace the gateway is installed in; default the control plane namespace. It must be a mesh member.'),
  service: GatewayServiceSchema,
  routerMode: enumOf(['sni-dnat', 'standard'] as const, 'ISTIO_META_ROUTER_MODE; default sni-dnat.'),
  volumes: arr(GatewayVolumeSchema, 'Extra Secret or ConfigMap volumes mounted in the gateway pod.'),
  runtime: ComponentRuntimeSchema,
};
const SdsSchema = obj({ enabled: enabled(), runtime: ContainerConfigSchema });
const GatewayConfigSchema = obj(gatewayProps);
const IngressGatewaySchema = obj({ ...gatewayProps, sds: SdsSchema });
const EgressGatewaySchema = obj({ ...gatewayProps, requestedNetworkView: arr(str(), 'Networks whose services the gateway sees (ISTIO_META_REQUESTED_NETWORK_VIEW).') });
const ClusterIngressSchema = obj({
  ...gatewayProps,
  sds: SdsSchema,
  ingress: bool('Also serve Kubernetes Ingress resources through this gateway (default false).'),
  meshExpansionPorts: arr(ServicePortSchema, 'Ports added for multi-cluster and mesh expansion.'),
});
const GatewaysSchema = obj({
  enabled: enabled(),
  ingress: ClusterIngressSchema,
  egress: EgressGatewaySchema,
  additionalIngress: map(IngressGatewaySchema, 'More ingress gateways, by name.'),
  additionalEgress: map(EgressGatewaySchema, 'More egress gateways, by name.'),
  openshiftRoute: obj({ enabled: enabled() }, 'Gateway to OpenShift Route integration (IOR).'),
});

const ClusterSchema = obj({
  name: str('Cluster name, default Kubernetes.'),
  network: str('Network name of this cluster.'),
  multiCluster: obj({
    enabled: enabled(),
    meshNetworks: map(obj({
      endpoints: arr(obj({ fromRegistry: str(), fromCIDR: str() }), 'Exactly one of fromRegistry or fromCIDR each.'),
      gateways: arr(obj({ service: str(), address: str(), port: int32() }), 'Exactly one of service or address each.'),
    })),
  }),
  meshExpansion: obj({ enabled: enabled(), ilbGateway: GatewayConfigSchema }),
});

const GeneralSchema = obj({
  logging: obj({ componentLevels: strMap('Log level by control plane logging scope, e.g. default: warn.'), logAsJSON: bool() }),
  validationMessages: bool('Let istiod analyse Istio resources and write status.validationMessages.'),
});

const POLICY_TYPES = ['None', 'Istiod', 'Mixer', 'Remote'] as const;
const PolicySchema = obj({
  type: enumOf(POLICY_TYPES),
  mixer: obj({
    enableChecks: bool(), failOpen: bool(), sessionAffinity: bool(),
    adapters: obj({ useAdapterCRDs: bool(), kubernetesenv: bool() }),
  }),
  remote: obj({ address: str(), createService: bool(), enableChecks: bool(), failOpen: bool() }),
});

const TELEMETRY_TYPES = ['None', 'Istiod', 'Mixer', 'Remote'] as const;
const BatchingSchema = obj({ maxEntries: int32(), maxTime: duration() });
const TelemetrySchema = obj({
  type: enumOf(TELEMETRY_TYPES),
  mixer: obj({
    sessionAffinity: bool(),
    loadshedding: obj({ mode: enumOf(['disabled', 'logonly', 'enforce'] as const), latencyThreshold: duration() }),
    batching: BatchingSchema,
    adapters: obj({ useAdapterCRDs: bool(), kubernetesenv: bool(), stdio: obj({ enabled: enabled(), outputAsJSON: bool() }) }),
  }),
  remote: obj({ address: str(), createService: bool(), batching: BatchingSchema }),
});

const TRACER_TYPES = ['None', 'Jaeger', 'Stackdriver'] as const;
const TracingSchema = obj({
  type: enumOf(TRACER_TYPES),
  sampling: int32('Mesh-wide sampling rate in hundredths of a percent: 0..10000, where 100 = 1% and 10000 = 100%.'),
});

const EnvoyServiceSchema = obj({
  enabled: enabled(),
  address: str('host:port of the service.'),
  tcpKeepalive: obj({ probes: int32(), time: duration(), interval: duration() }),
  tlsSettings: obj({
    mode: enumOf(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] as const),
    clientCertificate: str(), privateKey: str(), caCertificates: str(), sni: str(), subjectAltNames: arr(str()),
  }),
});
const ProxySchema = obj({
  logging: obj({ level: str('Envoy log level: trace, debug, info, warning, error, critical or off.'), componentLevels: strMap('Log level by Envoy component.') }),
  networking: obj({
    clusterDomain: str(),
    connectionTimeout: duration(),
    maxConnectionAge: duration(),
    initialization: obj({ type: enumOf(['CNI', 'InitContainer'] as const), initContainer: obj({ runtime: ContainerConfigSchema }) }),
    trafficControl: obj({
      inbound: obj({
        interceptionMode: enumOf(['REDIRECT', 'TPROXY'] as const),
        includedPorts: arr(str(), '"*" or port numbers.'),
        excludedPorts: arr(int32()),
      }),
      outbound: obj({
        includedIPRanges: arr(str(), '"*" or CIDR blocks.'),
        excludedIPRanges: arr(str(), 'CIDR blocks.'),
        excludedPorts: arr(int32()),
        policy: enumOf(['ALLOW_ANY', 'REGISTRY_ONLY'] as const),
      }),
    }),
    protocol: obj({ autoDetect: obj({ timeout: duration(), inbound: bool('Must be false in v2.0.'), outbound: bool('Must be false in v2.0.') }) }),
    dns: obj({ searchSuffixes: arr(str()), refreshRate: str('Refresh rate of STRICT_DNS clusters, in seconds, e.g. 300s.') }),
  }),
  runtime: obj({
    readiness: obj({ rewriteApplicationProbes: bool(), statusPort: int32(), initialDelaySeconds: int32(), periodSeconds: int32(), failureThreshold: int32() }),
    container: ContainerConfigSchema,
  }),
  injection: obj({
    autoInject: bool(),
    alwaysInjectSelector: arr(LabelSelectorSchema),
    neverInjectSelector: arr(LabelSelectorSchema),
    injectedAnnotations: strMap(),
  }),
  adminPort: int32(),
  concurrency: int32('Worker threads of the proxy; 0 = one per core.'),
  accessLogging: obj({
    file: obj({ name: str('File the proxy writes access logs to, e.g. /dev/stdout.'), encoding: enumOf(['TEXT', 'JSON'] as const), format: str() }),
    envoyService: EnvoyServiceSchema,
  }),
  envoyMetricsService: EnvoyServiceSchema,
});

const SecuritySchema = obj({
  trust: obj({ domain: str('Trust domain, default cluster.local.'), additionalDomains: arr(str(), 'Trust domain aliases.') }),
  certificateAuthority: obj({
    type: enumOf(['Istiod', 'Custom'] as const),
    istiod: obj({
      type: enumOf(['SelfSigned', 'PrivateKey'] as const),
      selfSigned: obj({ ttl: duration(), gracePeriod: str('Percentage of the root lifetime, e.g. 20%.'), checkPeriod: duration(), enableJitter: bool() }),
      privateKey: obj({ rootCADir: str('Directory holding the cacerts secret, default /etc/cacerts.') }),
      workloadCertTTLDefault: duration(),
      workloadCertTTLMax: duration(),
    }),
    custom: obj({ address: str('host:port of an Istio-compatible CA (gRPC).') }),
  }),
  identity: obj({ type: enumOf(['Kubernetes', 'ThirdParty'] as const), thirdParty: obj({ issuer: str(), audience: str() }) }),
  controlPlane: obj({
    mtls: bool(),
    certProvider: enumOf(['Istiod', 'Kubernetes', 'Custom'] as const),
    tls: obj({ cipherSuites: arr(str()), ecdhCurves: arr(str()), minProtocolVersion: str(), maxProtocolVersion: str() }),
  }),
  dataPlane: obj({ mtls: bool('Require mutual TLS between sidecars (default false).'), automtls: bool('Use mTLS automatically where possible (default true).') }),
});

const ComponentServiceSchema = obj({
  metadata: MetadataConfigSchema,
  nodePort: int32(),
  ingress: obj({ enabled: enabled(), metadata: MetadataConfigSchema, hosts: arr(str()), contextPath: str(), tls: freeform() }),
});
const PersistenceSchema = obj({
  enabled: enabled(),
  storageClassName: str(),
  accessMode: enumOf(['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany'] as const),
  capacity: ResourceRequirementsSchema,
});
const PrometheusSchema = obj({
  enabled: enabled(),
  metricsExpiryDuration: duration(),
  scrape: bool('Scrape metrics from pods (meshConfig.enablePrometheusMerge), default true.'),
  install: obj({ selfManaged: bool(), retention: str('Prometheus duration, default 6h.'), scrapeInterval: str('Prometheus duration, default 15s.'), service: ComponentServiceSchema, useTLS: bool() }),
  address: str('Address of an existing Prometheus; excludes install.'),
});
const GrafanaSchema = obj({
  enabled: enabled(),
  install: obj({
    selfManaged: bool(),
    config: obj({ env: strMap(), envSecrets: strMap() }),
    service: ComponentServiceSchema,
    persistence: PersistenceSchema,
    security: obj({ enabled: enabled(), secretName: str(), usernameKey: str(), passphraseKey: str() }),
  }),
  address: str('Address of an existing Grafana; excludes install.'),
});
const KialiSchema = obj({
  enabled: enabled(),
  name: str('Name of the Kiali resource, default kiali.'),
  install: obj({
    dashboard: obj({ viewOnly: bool(), enableGrafana: bool(), enablePrometheus: bool(), enableTracing: bool() }),
    service: ComponentServiceSchema,
    deployment: obj({ resources: ResourceRequirementsSchema, affinity: freeform('A Kubernetes Affinity.'), nodeSelector: strMap(), tolerations: arr(freeform()) }),
  }),
});
export const JAEGER_STORAGE_TYPES = ['Memory', 'Elasticsearch'] as const;
const JaegerSchema = obj({
  name: str('Name of the Jaeger resource, default jaeger.'),
  install: obj({
    storage: obj({
      type: enumOf(JAEGER_STORAGE_TYPES),
      memory: obj({ maxTraces: int() }),
      elasticsearch: obj({
        nodeCount: int32(),
        storage: freeform('Elasticsearch storage settings (Jaeger CR).'),
        redundancyPolicy: enumOf(['ZeroRedundancy', 'SingleRedundancy', 'MultipleRedundancy', 'FullRedundancy'] as const),
        indexCleaner: freeform('Index cleaner settings (Jaeger CR).'),
      }),
    }),
    ingress: obj({ enabled: enabled(), metadata: MetadataConfigSchema }),
  }, 'Jaeger to create when the named one does not exist; without it the named Jaeger must exist.'),
});
const ThreeScaleSchema = obj({
  enabled: enabled(),
  listen_addr: int32('Port of the adapter\'s gRPC server.'),
  log_grpc: bool(),
  log_json: bool(),
  log_level: enumOf(['debug', 'info', 'warn', 'error', 'none'] as const),
  metrics: obj({ port: int32(), report: bool() }),
  system: obj({ cache_max_size: int(), cache_refresh_retries: int32(), cache_refresh_interval: int32(), cache_ttl: int32() }),
  client: obj({ allow_insecure_connections: bool(), timeout: int32() }),
  grpc: obj({ max_conn_timeout: int32() }),
  backend: obj({ enable_cache: bool(), cache_flush_interval: int32(), policy_fail_closed: bool() }),
});
const StackdriverSchema = obj({
  tracer: obj({ debug: bool(), maxNumberOfAttributes: int(), maxNumberOfAnnotations: int(), maxNumberOfMessageEvents: int() }),
  telemetry: obj({
    enabled: enabled(),
    auth: obj({ appCredentials: bool(), apiKey: str(), serviceAccountPath: str() }, 'Only one of appCredentials, apiKey or serviceAccountPath.'),
    enableContextGraph: bool(),
    enableLogging: bool(),
    enableMetrics: bool(),
    accessLogging: obj({ enabled: enabled(), logWindowDuration: duration() }),
    configOverride: freeform(),
  }),
});
const AddonsSchema = obj({
  prometheus: PrometheusSchema,
  stackdriver: StackdriverSchema,
  jaeger: JaegerSchema,
  grafana: GrafanaSchema,
  kiali: KialiSchema,
  '3scale': ThreeScaleSchema,
});

export const SmcpV2SpecSchema = obj({
  version: str(`Control plane version (${SMCP_V2_VERSIONS.join(', ')}); empty means the operator's current version.`),
  profiles: arr(str(), `Profiles merged under this spec, later ones winning; default [default]. Known: ${SMCP_PROFILE_NAMES.join(', ')}.`),
  cluster: ClusterSchema,
  general: GeneralSchema,
  policy: PolicySchema,
  proxy: ProxySchema,
  security: SecuritySchema,
  telemetry: TelemetrySchema,
  tracing: TracingSchema,
  gateways: GatewaysSchema,
  runtime: RuntimeSchema,
  addons: AddonsSchema,
  techPreview: freeform('Switches for features that are not generally available (passed through).'),
});

/** A typed v2 spec: what profiles, conversion and the controller read. */
export type SmcpV2Spec = Static<typeof SmcpV2SpecSchema>;

export const ConditionSchema = obj({
  type: str(),
  status: enumOf(['True', 'False', 'Unknown'] as const),
  reason: str(),
  message: str(),
  lastTransitionTime: str('RFC 3339 time.'),
});
const ComponentStatusSchema = obj({
  conditions: arr(ConditionSchema),
  resource: str('Component name.'),
  children: arr(obj({ conditions: arr(ConditionSchema) })),
});

export const SmcpV2StatusSchema = obj({
  annotations: strMap('Redundant status for kubectl columns, e.g. readyComponentCount: "9/9".'),
  conditions: arr(ConditionSchema, 'Installed, Reconciled and Ready.'),
  observedGeneration: int(),
  operatorVersion: str(),
  chartVersion: str(),
  components: arr(ComponentStatusSchema),
  readiness: obj({ components: map(arr(str()), 'Component names by state: ready, pending, unready.') }),
  appliedSpec: freeform('The spec with all profiles applied.'),
  appliedValues: freeform('The Helm values (v1 spec) the charts were rendered with.'),
});

export const SmcpV1SpecSchema = obj({
  version: str(`Control plane version (${SMCP_V1_VERSIONS.join(', ')}).`),
  template: str('Deprecated: the template to use; profiles wins.'),
  profiles: arr(str()),
  networkType: enumOf(['subnet', 'multitenant', 'networkpolicy'] as const, 'Deprecated and unused.'),
  istio: freeform('Helm values for the Istio charts.'),
  threeScale: freeform('Helm values for the 3scale adapter chart.'),
});

export const SmcpV1StatusSchema = obj({
  annotations: strMap(),
  conditions: arr(ConditionSchema),
  observedGeneration: int(),
  reconciledVersion: str('<operator version>-<generation> last reconciled.'),
  components: arr(ComponentStatusSchema),
  lastAppliedConfiguration: freeform('The v1 spec with all templates applied.'),
});

const v2Schema = obj({ spec: SmcpV2SpecSchema, status: SmcpV2StatusSchema });
const v1Schema = obj({ spec: SmcpV1SpecSchema, status: SmcpV1StatusSchema });

// ---------------------------------------------------------------------------------------------
// Small checks used below.

type P = Array<string | number>;

const QUANTITY = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;
const QUANTITY_SCALE: Record<string, number> = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** Parses a Kubernetes quantity (`100m`, `1.5Gi`, `2e3`, or an integer) to its value; undefined when malformed. */
export function parseQuantity(q: unknown): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  if (typeof q !== 'string') return undefined;
  const m = QUANTITY.exec(q);
  if (!m) return undefined;
  const suffix = m[2] ?? '';
  const scale = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : QUANTITY_SCALE[suffix]!;
  return Number(m[1]) * scale;
}

/** `host:port`, where host is a DNS name or an IP address ([v6] in brackets). */
export function hostPortProblem(value: string): string | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+):([0-9]+)$/.exec(value);
  if (!m) return `"${value}" is not of the form host:port`;
  const pp = portProblem(Number(m[2]));
  if (pp) return pp;
  const host = m[1]!;
  if (host.startsWith('[')) return cidrProblem(host.slice(1, -1)) ? `"${value}" has an invalid IPv6 address` : undefined;
  if (/^[0-9.]+$/.test(host)) return cidrProblem(host);
  return fqdnProblem(host);
}

function checkPort(issues: Issues, path: FieldPath, v: unknown, allowZero: boolean): void {
  if (typeof v !== 'number') return;
  if (allowZero && v === 0) return;
  const p = portProblem(v);
  if (p) issues.error(path, 'smcp.port', allowZero ? `${p} (or 0 for the default)` : p);
}

function checkAtLeast(issues: Issues, path: FieldPath, v: unknown, min: number, what: string): void {
  if (typeof v === 'number' && v < min) issues.error(path, 'smcp.count-range', `${what} must be at least ${min}, got ${v}`);
}

function checkMetadata(issues: Issues, path: P, md: unknown): void {
  const o = asObject(md);
  if (!o) return;
  checkLabels(issues, [...path, 'labels'], o.labels, 'smcp.metadata');
  checkAnnotationKeys(issues, [...path, 'annotations'], o.annotations);
}

function checkAnnotationKeys(issues: Issues, path: P, annotations: unknown): void {
  if (!isObject(annotations)) return;
  for (const k of Object.keys(annotations)) {
    const p = labelKeyProblem(k);
    if (p) issues.error([...path, k], 'smcp.metadata', p.replace('label key', 'annotation key'));
  }
}

function checkResources(issues: Issues, path: P, res: unknown): void {
  const o = asObject(res);
  if (!o) return;
  const values: Record<'limits' | 'requests', Record<string, number>> = { limits: {}, requests: {} };
  for (const part of ['limits', 'requests'] as const) {
    const m = asObject(o[part]);
    if (!m) continue;
    for (const [name, q] of Object.entries(m)) {
      if (typeof q !== 'string' && typeof q !== 'number') continue;
      const v = parseQuantity(q);
      if (v === undefined) issues.error([...path, part, name], 'smcp.resource-quantity', `"${String(q)}" is not a quantity (use a number with an optional suffix: m, k, M, G, Ki, Mi, Gi…, e.g. 100m or 128Mi)`);
      else if (v < 0) issues.error([...path, part, name], 'smcp.resource-quantity', `resource quantity must not be negative, got ${String(q)}`);
      else values[part][name] = v;
    }
  }
  for (const [name, req] of Object.entries(values.requests)) {
    const lim = values.limits[name];
    if (lim !== undefined && req > lim) issues.error([...path, 'requests', name], 'smcp.resource-quantity', `request for ${name} must be less than or equal to its limit`);
  }
}

function checkContainer(issues: Issues, path: P, c: unknown): void {
  const o = asObject(c);
  if (!o) return;
  checkResources(issues, [...path, 'resources'], o.resources);
  asArray(o.imagePullSecrets).forEach((s, i) => {
    const name = asString(asObject(s)?.name);
    if (asObject(s) && (name === undefined || name === '')) issues.error([...path, 'imagePullSecrets', i, 'name'], 'smcp.metadata', 'an image pull secret needs a name');
  });
}

function intOrPercentProblem(v: unknown): string | undefined {
  if (typeof v === 'number') return v < 0 ? `must not be negative, got ${v}` : undefined;
  if (typeof v === 'string' && !/^[0-9]+%$/.test(v)) return `"${v}" must be a whole number or a percentage such as 25%`;
  if (typeof v === 'string' && Number(v.slice(0, -1)) > 100) return `percentage ${v} must not exceed 100%`;
  return undefined;
}

function checkRequirements(issues: Issues, path: P, reqs: unknown, withTopology: boolean): void {
  asArray(reqs).forEach((r, i) => {
    const o = asObject(r);
    if (!o) return;
    const p = [...path, i];
    const key = asString(o.key);
    if (key === undefined || key === '') issues.error([...p, 'key'], 'smcp.label-selector', 'a selector requirement needs a key');
    else {
      const kp = labelKeyProblem(key);
      if (kp) issues.error([...p, 'key'], 'smcp.label-selector', kp);
    }
    const op = asString(o.operator);
    const values = asArray(o.values);
    if (op === undefined) issues.error([...p, 'operator'], 'smcp.label-selector', 'a selector requirement needs an operator: In, NotIn, Exists or DoesNotExist');
    else if ((op === 'In' || op === 'NotIn') && values.length === 0) issues.error([...p, 'values'], 'smcp.label-selector', `operator ${op} needs at least one value`);
    else if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) issues.error([...p, 'values'], 'smcp.label-selector', `operator ${op} takes no values`);
    if (withTopology && !asString(o.topologyKey)) issues.error([...p, 'topologyKey'], 'smcp.label-selector', 'an anti-affinity term needs a topologyKey, e.g. kubernetes.io/hostname');
  });
}

function checkLabelSelector(issues: Issues, path: P, sel: unknown): void {
  const o = asObject(sel);
  if (!o) return;
  checkLabels(issues, [...path, 'matchLabels'], o.matchLabels, 'smcp.label-selector');
  checkRequirements(issues, [...path, 'matchExpressions'], o.matchExpressions, false);
}

function checkComponentRuntime(issues: Issues, path: P, rt: unknown): void {
  const o = asObject(rt);
  if (!o) return;
  const dep = asObject(o.deployment);
  if (dep) {
    checkAtLeast(issues, [...path, 'deployment', 'replicas'], dep.replicas, 0, 'replicas');
    const ru = asObject(asObject(dep.strategy)?.rollingUpdate);
    if (ru) {
      for (const k of ['maxSurge', 'maxUnavailable'] as const) {
        const p = intOrPercentProblem(ru[k]);
        if (p) issues.error([...path, 'deployment', 'strategy', 'rollingUpdate', k], 'smcp.int-or-percent', `${k} ${p}`);
      }
    }
    const as = asObject(dep.autoScaling);
    if (as) {
      const ap = [...path, 'deployment', 'autoScaling'];
      const min = asNumber(as.minReplicas);
      const max = asNumber(as.maxReplicas);
      if (min !== undefined && min < 1) issues.error([...ap, 'minReplicas'], 'smcp.autoscaling', `minReplicas must be at least 1, got ${min}`);
      if (max !== undefined && max < 1) issues.error([...ap, 'maxReplicas'], 'smcp.autoscaling', `maxReplicas must be at least 1, got ${max}`);
      else if (min !== undefined && max !== undefined && max < min) issues.error([...ap, 'maxReplicas'], 'smcp.autoscaling', `maxReplicas (${max}) cannot be smaller than minReplicas (${min})`);
      const cpu = asNumber(as.targetCPUUtilizationPercentage);
      if (cpu !== undefined && cpu < 1) issues.error([...ap, 'targetCPUUtilizationPercentage'], 'smcp.autoscaling', `targetCPUUtilizationPercentage must be at least 1, got ${cpu}`);
    }
  }
  const pod = asObject(o.pod);
  if (pod) {
    checkLabels(issues, [...path, 'pod', 'nodeSelector'], pod.nodeSelector, 'smcp.label-selector');
    checkMetadata(issues, [...path, 'pod', 'metadata'], pod.metadata);
    const anti = asObject(asObject(pod.affinity)?.podAntiAffinity);
    if (anti) {
      for (const k of ['requiredDuringScheduling', 'preferredDuringScheduling'] as const) checkRequirements(issues, [...path, 'pod', 'affinity', 'podAntiAffinity', k], anti[k], true);
    }
  }
  checkContainer(issues, [...path, 'container'], o.container);
}

function checkServicePorts(issues: Issues, path: P, ports: unknown): void {
  const list = asArray(ports);
  const names = new Map<string, number>();
  list.forEach((raw, i) => {
    const p = asObject(raw);
    if (!p) return;
    if (p.port === undefined) issues.error([...path, i, 'port'], 'smcp.service-port', 'a Service port needs a port number');
    else if (typeof p.port === 'number') {
      const pp = portProblem(p.port);
      if (pp) issues.error([...path, i, 'port'], 'smcp.service-port', pp);
    }
    if (typeof p.targetPort === 'number') {
      const pp = portProblem(p.targetPort);
      if (pp) issues.error([...path, i, 'targetPort'], 'smcp.service-port', pp);
    } else if (typeof p.targetPort === 'string' && !/^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p.targetPort)) {
      issues.error([...path, i, 'targetPort'], 'smcp.service-port', `targetPort "${p.targetPort}" must be a port number or a port name (IANA_SVC_NAME)`);
    }
    if (typeof p.nodePort === 'number' && p.nodePort !== 0) {
      const pp = portProblem(p.nodePort);
      if (pp) issues.error([...path, i, 'nodePort'], 'smcp.service-port', pp);
    }
    const name = asString(p.name);
    if (name === undefined || name === '') {
      if (list.length > 1) issues.error([...path, i, 'name'], 'smcp.service-port', 'every port needs a name when the Service has more than one port');
    } else if (names.has(name)) issues.error([...path, i, 'name'], 'smcp.service-port', `duplicate port name "${name}" (also ports[${names.get(name)}])`);
    else names.set(name, i);
  });
}

function checkGateway(issues: Issues, path: P, gw: unknown): void {
  const o = asObject(gw);
  if (!o) return;
  const ns = asString(o.namespace);
  if (ns !== undefined && ns !== '' && !isDNS1123Label(ns)) issues.error([...path, 'namespace'], 'smcp.gateway-namespace', `invalid namespace "${ns}": must be a DNS-1123 label`);
  const svc = asObject(o.service);
  if (svc) {
    checkServicePorts(issues, [...path, 'service', 'ports'], svc.ports);
    checkMetadata(issues, [...path, 'service', 'metadata'], svc.metadata);
  }
  checkServicePorts(issues, [...path, 'meshExpansionPorts'], o.meshExpansionPorts);
  asArray(o.volumes).forEach((raw, i) => {
    const v = asObject(raw);
    if (!v) return;
    const vp = [...path, 'volumes', i];
    const vol = asObject(v.volume);
    const kinds = vol ? (['configMap', 'secret'] as const).filter((k) => vol[k] !== undefined) : [];
    if (kinds.length !== 1) issues.error([...vp, 'volume'], 'smcp.gateway-volume', kinds.length === 0 ? 'a gateway volume needs a configMap or a secret' : 'a gateway volume takes only one of configMap or secret');
    const mount = asObject(v.volumeMount);
    const name = asString(mount?.name);
    if (!name) issues.error([...vp, 'volumeMount', 'name'], 'smcp.gateway-volume', 'a gateway volume needs volumeMount.name');
    const mp = asString(mount?.mountPath);
    if (!mp) issues.error([...vp, 'volumeMount', 'mountPath'], 'smcp.gateway-volume', 'a gateway volume needs volumeMount.mountPath');
    else if (!mp.startsWith('/')) issues.error([...vp, 'volumeMount', 'mountPath'], 'smcp.gateway-volume', `mountPath "${mp}" must be an absolute path`);
  });
  checkComponentRuntime(issues, [...path, 'runtime'], o.runtime);
  checkContainer(issues, [...path, 'sds', 'runtime'], asObject(o.sds)?.runtime);
}

const CONTROL_PLANE_LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'none'];
const ENVOY_LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'critical', 'off'];

function checkLevels(issues: Issues, path: P, levels: unknown, allowed: string[]): void {
  if (!isObject(levels)) return;
  for (const [k, v] of Object.entries(levels)) {
    if (typeof v === 'string' && !allowed.includes(v)) issues.error([...path, k], 'smcp.log-level', `invalid log level "${v}" for ${k}; allowed: ${allowed.join(', ')}`);
  }
}

function checkEnvoyService(issues: Issues, path: P, svc: unknown): void {
  const o = asObject(svc);
  if (!o) return;
  const addr = asString(o.address);
  if (addr !== undefined && addr !== '') {
    const p = hostPortProblem(addr);
    if (p) issues.error([...path, 'address'], 'smcp.address', p);
  } else if (o.enabled === true) issues.error([...path, 'address'], 'smcp.address', 'an enabled Envoy service needs an address (host:port)');
  const ka = asObject(o.tcpKeepalive);
  if (ka) {
    checkDuration(issues, [...path, 'tcpKeepalive', 'time'], ka.time);
    checkDuration(issues, [...path, 'tcpKeepalive', 'interval'], ka.interval);
    checkAtLeast(issues, [...path, 'tcpKeepalive', 'probes'], ka.probes, 0, 'probes');
  }
}

// ---------------------------------------------------------------------------------------------
// The v2 validator.

function checkVersion(issues: Issues, v: unknown, api: 'v1' | 'v2'): void {
  if (typeof v !== 'string' || v === '') return; // empty: the mutating webhook sets the default (v2.0)
  const path = ['spec', 'version'];
  if (api === 'v2') {
    if ((SMCP_V2_VERSIONS as readonly string[]).includes(v)) return;
    if ((SMCP_V1_VERSIONS as readonly string[]).includes(v)) issues.error(path, 'smcp.version', `version ${v} control planes are not supported: Meltemi installs only ${SMCP_V2_VERSIONS.join(', ')}`);
    else issues.error(path, 'smcp.version', `Only '${SMCP_ALL_VERSIONS.join(' ')}' versions are supported; got "${v}" (Meltemi installs ${SMCP_V2_VERSIONS.join(', ')})`);
    return;
  }
  if ((SMCP_V1_VERSIONS as readonly string[]).includes(v)) return;
  if ((SMCP_V2_VERSIONS as readonly string[]).includes(v)) issues.error(path, 'smcp.version', `must use v2 ServiceMeshControlPlane resource for v2.0+ installations (apiVersion: maistra.io/v2)`);
  else issues.error(path, 'smcp.version', `Only '${SMCP_ALL_VERSIONS.join(' ')}' versions are supported; got "${v}"`);
}

function checkProfileNames(issues: Issues, spec: Record<string, unknown>, known: readonly string[]): void {
  asArray(spec.profiles).forEach((p, i) => {
    if (typeof p === 'string' && !known.includes(p)) issues.error(['spec', 'profiles', i], 'smcp.unknown-profile', `unknown profile "${p}"; known profiles: ${known.join(', ')}`);
  });
  const t = spec.template;
  if (typeof t === 'string' && t !== '' && !known.includes(t)) issues.error(['spec', 'template'], 'smcp.unknown-profile', `unknown template "${t}"; known templates: ${known.join(', ')}`);
}

function checkCluster(issues: Issues, cluster: Record<string, unknown>): void {
  const base = ['spec', 'cluster'];
  const mc = asObject(cluster.multiCluster);
  if (mc?.enabled === true) issues.warn([...base, 'multiCluster', 'enabled'], 'smcp.unsupported-feature', 'multi-cluster meshes are outside the OpenShift Service Mesh 2.0 support statement');
  const me = asObject(cluster.meshExpansion);
  if (me?.enabled === true) issues.warn([...base, 'meshExpansion', 'enabled'], 'smcp.unsupported-feature', 'mesh expansion (VMs) is outside the OpenShift Service Mesh 2.0 support statement');
  if (me) checkGateway(issues, [...base, 'meshExpansion', 'ilbGateway'], me.ilbGateway);
  const networks = asObject(mc?.meshNetworks);
  for (const [name, raw] of Object.entries(networks ?? {})) {
    const net = asObject(raw);
    if (!net) continue;
    const np = [...base, 'multiCluster', 'meshNetworks', name];
    asArray(net.endpoints).forEach((e, i) => {
      const o = asObject(e);
      if (!o) return;
      const has = (['fromRegistry', 'fromCIDR'] as const).filter((k) => asString(o[k]));
      if (has.length !== 1) issues.error([...np, 'endpoints', i], 'smcp.mesh-networks', 'a network endpoint sets exactly one of fromRegistry or fromCIDR');
      const cidr = asString(o.fromCIDR);
      if (cidr) {
        const p = cidrProblem(cidr);
        if (p) issues.error([...np, 'endpoints', i, 'fromCIDR'], 'smcp.mesh-networks', p);
      }
    });
    asArray(net.gateways).forEach((g, i) => {
      const o = asObject(g);
      if (!o) return;
      const has = (['service', 'address'] as const).filter((k) => asString(o[k]));
      if (has.length !== 1) issues.error([...np, 'gateways', i], 'smcp.mesh-networks', 'a network gateway sets exactly one of service or address');
      if (o.port !== undefined && typeof o.port === 'number') {
        const p = portProblem(o.port);
        if (p) issues.error([...np, 'gateways', i, 'port'], 'smcp.mesh-networks', p);
      }
    });
  }
}

function checkPolicyTelemetry(issues: Issues, spec: Record<string, unknown>): void {
  const policy = asObject(spec.policy);
  const telemetry = asObject(spec.telemetry);
  for (const [field, o, other] of [['policy', policy, telemetry], ['telemetry', telemetry, policy]] as const) {
    if (!o) continue;
    const type = asString(o.type);
    const remote = asObject(o.remote);
    const address = asString(remote?.address);
    if (type === 'Remote' && !address) issues.error(['spec', field, 'remote', 'address'], 'smcp.remote-address', `if ${field} type is Remote, an address must be specified`);
    if (address && type !== 'Remote') issues.error(['spec', field, 'remote', 'address'], 'smcp.remote-address', `if ${field}.remote.address is specified, ${field}.type must be Remote for v2.x versions`);
    const cs = remote?.createService;
    if (typeof cs === 'boolean') {
      const otherName = field === 'policy' ? 'telemetry' : 'policy';
      if (asObject(other?.remote)?.createService !== cs) issues.error(['spec', field, 'remote', 'createService'], 'smcp.remote-create-service', `if ${field}.remote.createService is specified, it must match ${otherName}.remote.createService`);
    }
    const adapters = asObject(asObject(o.mixer)?.adapters);
    if (adapters?.useAdapterCRDs === true) issues.error(['spec', field, 'mixer', 'adapters', 'useAdapterCRDs'], 'smcp.adapter-crds', `${field}.mixer.adapters.useAdapterCRDs is not supported for this version (the deprecated Mixer adapter CRDs were removed)`);
    if (type === 'Mixer' || type === 'Remote') issues.warn(['spec', field, 'type'], 'smcp.mixer-deprecated', `${field} type ${type} uses Mixer, which is deprecated in 2.0 and removed in 2.1; use Istiod`);
  }
  const tb = asObject(asObject(telemetry?.mixer)?.batching);
  const rb = asObject(asObject(telemetry?.remote)?.batching);
  for (const [b, p] of [[tb, ['spec', 'telemetry', 'mixer', 'batching']], [rb, ['spec', 'telemetry', 'remote', 'batching']]] as const) {
    if (!b) continue;
    checkDuration(issues, [...p, 'maxTime'], b.maxTime);
    checkAtLeast(issues, [...p, 'maxEntries'], b.maxEntries, 0, 'maxEntries');
  }
  const ls = asObject(asObject(telemetry?.mixer)?.loadshedding);
  if (ls) checkDuration(issues, ['spec', 'telemetry', 'mixer', 'loadshedding', 'latencyThreshold'], ls.latencyThreshold);
}

function checkProxy(issues: Issues, proxy: Record<string, unknown>): void {
  const base = ['spec', 'proxy'];
  const logging = asObject(proxy.logging);
  if (logging) {
    const level = asString(logging.level);
    if (level !== undefined && level !== '' && !ENVOY_LOG_LEVELS.includes(level)) issues.error([...base, 'logging', 'level'], 'smcp.log-level', `invalid log level "${level}"; allowed: ${ENVOY_LOG_LEVELS.join(', ')}`);
    checkLevels(issues, [...base, 'logging', 'componentLevels'], logging.componentLevels, ENVOY_LOG_LEVELS);
  }
  const net = asObject(proxy.networking);
  if (net) {
    const np = [...base, 'networking'];
    checkDuration(issues, [...np, 'connectionTimeout'], net.connectionTimeout);
    checkDuration(issues, [...np, 'maxConnectionAge'], net.maxConnectionAge);
    if (typeof net.clusterDomain === 'string' && net.clusterDomain !== '') {
      const p = fqdnProblem(net.clusterDomain);
      if (p) issues.error([...np, 'clusterDomain'], 'smcp.trust-domain', p);
    }
    checkContainer(issues, [...np, 'initialization', 'initContainer', 'runtime'], asObject(asObject(net.initialization)?.initContainer)?.runtime);
    const ad = asObject(asObject(net.protocol)?.autoDetect);
    if (ad) {
      checkDuration(issues, [...np, 'protocol', 'autoDetect', 'timeout'], ad.timeout);
      for (const dir of ['inbound', 'outbound'] as const) {
        if (ad[dir] === true) issues.error([...np, 'protocol', 'autoDetect', dir], 'smcp.protocol-autodetect', `automatic protocol detection is not supported in v2.0; if specified, spec.proxy.networking.protocol.autoDetect.${dir} must be set to false (name Service ports <protocol>[-suffix] or set appProtocol instead)`);
      }
    }
    const dns = asObject(net.dns);
    if (dns && typeof dns.refreshRate === 'string') {
      const m = /^([0-9]+(?:\.[0-9]+)?)s$/.exec(dns.refreshRate);
      if (!m) issues.error([...np, 'dns', 'refreshRate'], 'smcp.dns-refresh-rate', `refreshRate "${dns.refreshRate}" must be given in seconds, e.g. 300s (5m is not accepted)`);
      else if (Number(m[1]) < 0.001) issues.error([...np, 'dns', 'refreshRate'], 'smcp.dns-refresh-rate', 'refreshRate must be at least 1ms (0.001s)');
    }
    const tc = asObject(net.trafficControl);
    if (tc) checkTrafficControl(issues, [...np, 'trafficControl'], tc);
  }
  const rt = asObject(proxy.runtime);
  if (rt) {
    const rd = asObject(rt.readiness);
    if (rd) {
      const rp = [...base, 'runtime', 'readiness'];
      checkPort(issues, [...rp, 'statusPort'], rd.statusPort, true);
      checkAtLeast(issues, [...rp, 'initialDelaySeconds'], rd.initialDelaySeconds, 0, 'initialDelaySeconds');
      checkAtLeast(issues, [...rp, 'periodSeconds'], rd.periodSeconds, 1, 'periodSeconds');
      checkAtLeast(issues, [...rp, 'failureThreshold'], rd.failureThreshold, 1, 'failureThreshold');
    }
    checkContainer(issues, [...base, 'runtime', 'container'], rt.container);
  }
  const inj = asObject(proxy.injection);
  if (inj) {
    for (const k of ['alwaysInjectSelector', 'neverInjectSelector'] as const) asArray(inj[k]).forEach((s, i) => checkLabelSelector(issues, [...base, 'injection', k, i], s));
    checkAnnotationKeys(issues, [...base, 'injection', 'injectedAnnotations'], inj.injectedAnnotations);
  }
  checkPort(issues, [...base, 'adminPort'], proxy.adminPort, true);
  checkAtLeast(issues, [...base, 'concurrency'], proxy.concurrency, 0, 'concurrency');
  const al = asObject(proxy.accessLogging);
  if (al) checkEnvoyService(issues, [...base, 'accessLogging', 'envoyService'], al.envoyService);
  checkEnvoyService(issues, [...base, 'envoyMetricsService'], proxy.envoyMetricsService);
}

function checkTrafficControl(issues: Issues, path: P, tc: Record<string, unknown>): void {
  const inbound = asObject(tc.inbound);
  if (inbound) {
    asArray(inbound.includedPorts).forEach((p, i) => {
      if (typeof p !== 'string' || p === '*') return;
      if (!/^[0-9]+$/.test(p) || portProblem(Number(p))) issues.error([...path, 'inbound', 'includedPorts', i], 'smcp.traffic-control', `included port "${p}" must be "*" or a port number 1..65535`);
    });
    asArray(inbound.excludedPorts).forEach((p, i) => {
      const pp = typeof p === 'number' ? portProblem(p) : undefined;
      if (pp) issues.error([...path, 'inbound', 'excludedPorts', i], 'smcp.traffic-control', pp);
    });
  }
  const outbound = asObject(tc.outbound);
  if (outbound) {
    for (const k of ['includedIPRanges', 'excludedIPRanges'] as const) {
      asArray(outbound[k]).forEach((r, i) => {
        if (typeof r !== 'string') return;
        if (r === '*') {
          if (k === 'excludedIPRanges') issues.error([...path, 'outbound', k, i], 'smcp.traffic-control', '"*" is only allowed in includedIPRanges');
          return;
        }
        const p = cidrProblem(r);
        if (p) issues.error([...path, 'outbound', k, i], 'smcp.traffic-control', p);
      });
    }
    asArray(outbound.excludedPorts).forEach((p, i) => {
      const pp = typeof p === 'number' ? portProblem(p) : undefined;
      if (pp) issues.error([...path, 'outbound', 'excludedPorts', i], 'smcp.traffic-control', pp);
    });
  }
}

const DAY_MS = 86_400_000;
const MAX_WORKLOAD_CERT_TTL_MS = 90 * DAY_MS;
const TLS_VERSIONS = ['TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3'];

function checkSecurity(issues: Issues, sec: Record<string, unknown>): void {
  const base = ['spec', 'security'];
  const trust = asObject(sec.trust);
  if (trust) {
    const d = asString(trust.domain);
    if (d !== undefined && d !== '') {
      const p = fqdnProblem(d);
      if (p) issues.error([...base, 'trust', 'domain'], 'smcp.trust-domain', `invalid trust domain: ${p}`);
    }
    asArray(trust.additionalDomains).forEach((a, i) => {
      if (typeof a !== 'string') return;
      const p = fqdnProblem(a);
      if (p) issues.error([...base, 'trust', 'additionalDomains', i], 'smcp.trust-domain', `invalid trust domain alias: ${p}`);
    });
  }
  const ca = asObject(sec.certificateAuthority);
  if (ca) checkCertificateAuthority(issues, [...base, 'certificateAuthority'], ca);
  const id = asObject(sec.identity);
  if (id && id.thirdParty !== undefined && id.type !== 'ThirdParty') {
    issues.error([...base, 'identity', 'thirdParty'], 'smcp.identity', 'identity.thirdParty only applies when identity.type is ThirdParty');
  }
  const tls = asObject(asObject(sec.controlPlane)?.tls);
  if (tls) {
    const tp = [...base, 'controlPlane', 'tls'];
    const min = asString(tls.minProtocolVersion);
    const max = asString(tls.maxProtocolVersion);
    for (const [k, v] of [['minProtocolVersion', min], ['maxProtocolVersion', max]] as const) {
      if (v !== undefined && v !== '' && !TLS_VERSIONS.includes(v)) issues.error([...tp, k], 'smcp.tls-version', `unknown TLS version "${v}"; allowed: ${TLS_VERSIONS.join(', ')}`);
    }
    if (min && max && min !== 'TLS_AUTO' && max !== 'TLS_AUTO' && TLS_VERSIONS.includes(min) && TLS_VERSIONS.includes(max) && TLS_VERSIONS.indexOf(min) > TLS_VERSIONS.indexOf(max)) {
      issues.error([...tp, 'minProtocolVersion'], 'smcp.tls-version', `minProtocolVersion ${min} is newer than maxProtocolVersion ${max}`);
    }
  }
}

function checkCertificateAuthority(issues: Issues, path: P, ca: Record<string, unknown>): void {
  const type = asString(ca.type) ?? 'Istiod';
  if (type === 'Custom') {
    const addr = asString(asObject(ca.custom)?.address);
    if (!addr) issues.error([...path, 'custom', 'address'], 'smcp.certificate-authority', 'certificateAuthority.type Custom needs custom.address, the host:port of an Istio-compatible CA');
    else {
      const p = hostPortProblem(addr);
      if (p) issues.error([...path, 'custom', 'address'], 'smcp.address', p);
    }
    if (ca.istiod !== undefined) issues.error([...path, 'istiod'], 'smcp.certificate-authority', 'certificateAuthority.istiod only applies when type is Istiod');
    return;
  }
  if (type !== 'Istiod') return; // the structural check reports unknown types
  if (ca.custom !== undefined) issues.error([...path, 'custom'], 'smcp.certificate-authority', 'certificateAuthority.custom only applies when type is Custom');
  const istiod = asObject(ca.istiod);
  if (!istiod) return;
  const ip = [...path, 'istiod'];
  const signer = asString(istiod.type);
  if (signer === undefined && (istiod.selfSigned !== undefined || istiod.privateKey !== undefined)) {
    issues.error([...ip, 'type'], 'smcp.certificate-authority', 'istiod.type must be set to SelfSigned or PrivateKey; without it selfSigned and privateKey settings are ignored');
  }
  if (signer === 'SelfSigned' && istiod.privateKey !== undefined) issues.error([...ip, 'privateKey'], 'smcp.certificate-authority', 'istiod.privateKey only applies when istiod.type is PrivateKey');
  if (signer === 'PrivateKey' && istiod.selfSigned !== undefined) issues.error([...ip, 'selfSigned'], 'smcp.certificate-authority', 'istiod.selfSigned only applies when istiod.type is SelfSigned');
  const dir = asString(asObject(istiod.privateKey)?.rootCADir);
  if (dir !== undefined && !dir.startsWith('/')) issues.error([...ip, 'privateKey', 'rootCADir'], 'smcp.certificate-authority', `rootCADir "${dir}" must be an absolute path`);

  const def = checkDuration(issues, [...ip, 'workloadCertTTLDefault'], istiod.workloadCertTTLDefault);
  const max = checkDuration(issues, [...ip, 'workloadCertTTLMax'], istiod.workloadCertTTLMax);
  if (max !== undefined && max > MAX_WORKLOAD_CERT_TTL_MS) issues.error([...ip, 'workloadCertTTLMax'], 'smcp.workload-cert-ttl', `workloadCertTTLMax must be at most 90 days (2160h), got "${String(istiod.workloadCertTTLMax)}"`);
  if (def !== undefined) {
    const bound = max ?? MAX_WORKLOAD_CERT_TTL_MS;
    if (def > bound) issues.error([...ip, 'workloadCertTTLDefault'], 'smcp.workload-cert-ttl', max !== undefined ? `workloadCertTTLDefault (${String(istiod.workloadCertTTLDefault)}) must not exceed workloadCertTTLMax (${String(istiod.workloadCertTTLMax)})` : `workloadCertTTLDefault must not exceed the default maximum of 90 days (2160h), got "${String(istiod.workloadCertTTLDefault)}"`);
  }

  const ss = asObject(istiod.selfSigned);
  if (ss) {
    const sp = [...ip, 'selfSigned'];
    checkDuration(issues, [...sp, 'ttl'], ss.ttl);
    // A zero or negative check period disables root rotation (OP-14).
    checkDuration(issues, [...sp, 'checkPeriod'], ss.checkPeriod, { minMs: Number.NEGATIVE_INFINITY });
    const gp = asString(ss.gracePeriod);
    if (gp !== undefined) {
      const m = /^([0-9]+)%?$/.exec(gp);
      if (!m || Number(m[1]) > 100) issues.error([...sp, 'gracePeriod'], 'smcp.self-signed', `gracePeriod "${gp}" must be a whole percentage of the root certificate's lifetime, 0..100 (e.g. 20%)`);
    }
  }
}

function checkGateways(issues: Issues, gws: Record<string, unknown>, cpNamespace: string | undefined): void {
  const base = ['spec', 'gateways'];
  checkGateway(issues, [...base, 'ingress'], gws.ingress);
  checkGateway(issues, [...base, 'egress'], gws.egress);
  const seen = new Map<string, string>();
  for (const field of ['additionalIngress', 'additionalEgress'] as const) {
    const m = asObject(gws[field]);
    if (!m) continue;
    for (const [name, gw] of Object.entries(m)) {
      const p = [...base, field, name];
      if (!isDNS1123Label(name)) issues.error(p, 'smcp.gateway-name', `invalid gateway name "${name}": must be a DNS-1123 label (lower-case letters, digits and "-")`);
      else if ((RESERVED_GATEWAY_NAMES as readonly string[]).includes(name)) issues.error(p, 'smcp.gateway-name', `cannot define additional gateway named "${name}"; configure it under gateways.${name === 'istio-ingressgateway' ? 'ingress' : 'egress'}`);
      const ns = asString(asObject(gw)?.namespace) || cpNamespace || '';
      const key = `${ns}/${name}`;
      const prev = seen.get(key);
      if (prev) issues.error(p, 'smcp.gateway-duplicate', `multiple gateways defined for "${ns ? key : name}" (also in gateways.${prev})`);
      else seen.set(key, field);
      checkGateway(issues, p, gw);
    }
  }
}

function checkRuntime(issues: Issues, rt: Record<string, unknown>): void {
  const base = ['spec', 'runtime'];
  const comps = asObject(rt.components);
  for (const [name, c] of Object.entries(comps ?? {})) {
    const p = [...base, 'components', name];
    if (!(SMCP_COMPONENT_NAMES as readonly string[]).includes(name)) issues.error(p, 'smcp.runtime-component', `unknown component "${name}"; known components: ${SMCP_COMPONENT_NAMES.join(', ')}`);
    checkComponentRuntime(issues, p, c);
  }
  const defs = asObject(rt.defaults);
  if (!defs) return;
  const pdb = asObject(asObject(defs.deployment)?.podDisruption);
  if (pdb) {
    const pp = [...base, 'defaults', 'deployment', 'podDisruption'];
    for (const k of ['minAvailable', 'maxUnavailable'] as const) {
      const p = intOrPercentProblem(pdb[k]);
      if (p) issues.error([...pp, k], 'smcp.int-or-percent', `${k} ${p}`);
    }
    if (pdb.minAvailable !== undefined && pdb.maxUnavailable !== undefined) issues.error([...pp, 'maxUnavailable'], 'smcp.pod-disruption', 'a PodDisruptionBudget takes only one of minAvailable or maxUnavailable');
  }
  const pod = asObject(defs.pod);
  if (pod) checkLabels(issues, [...base, 'defaults', 'pod', 'nodeSelector'], pod.nodeSelector, 'smcp.label-selector');
  checkContainer(issues, [...base, 'defaults', 'container'], defs.container);
}

function checkComponentService(issues: Issues, path: P, svc: unknown): void {
  const o = asObject(svc);
  if (!o) return;
  checkMetadata(issues, [...path, 'metadata'], o.metadata);
  checkPort(issues, [...path, 'nodePort'], o.nodePort, true);
  const ing = asObject(o.ingress);
  if (!ing) return;
  checkMetadata(issues, [...path, 'ingress', 'metadata'], ing.metadata);
  asArray(ing.hosts).forEach((h, i) => {
    if (typeof h !== 'string' || h === '') return; // empty: the Route gets a generated host
    const p = wildcardDomainProblem(h);
    if (p) issues.error([...path, 'ingress', 'hosts', i], 'smcp.ingress-host', p);
  });
  const cp = asString(ing.contextPath);
  if (cp !== undefined && cp !== '' && !cp.startsWith('/')) issues.error([...path, 'ingress', 'contextPath'], 'smcp.ingress-host', `contextPath "${cp}" must start with /`);
}

const PROMETHEUS_DURATION = /^([0-9]+(ms|s|m|h|d|w|y))+$/;

/** Profiles that include base, which enables Prometheus, Grafana and Kiali (an empty list means default). */
const PROFILES_WITH_BASE = ['base', 'default', 'servicemesh', 'maistra'];

/**
 * The operator's last check before reconciling (ValidateV2Full), made on the spec as the profiles
 * complete it: Kiali needs Prometheus. The user's value wins; otherwise base supplies true.
 */
function checkKialiNeedsPrometheus(issues: Issues, spec: Record<string, unknown>): void {
  const profiles = asArray(spec.profiles);
  const withBase = profiles.length === 0 || profiles.some((p) => typeof p === 'string' && PROFILES_WITH_BASE.includes(p));
  const addons = asObject(spec.addons);
  const userKiali = asObject(addons?.kiali)?.enabled;
  const userProm = asObject(addons?.prometheus)?.enabled;
  const kiali = typeof userKiali === 'boolean' ? userKiali : withBase;
  const prom = typeof userProm === 'boolean' ? userProm : withBase;
  if (!kiali || prom) return;
  const path = userKiali === true ? ['spec', 'addons', 'kiali', 'enabled'] : ['spec', 'addons', 'prometheus', 'enabled'];
  issues.error(path, 'smcp.kiali-requires-prometheus', `.spec.addons.prometheus.enabled must be true when .spec.addons.kiali.enabled is true${userProm === undefined ? ' (no profile in use enables Prometheus)' : ''}`);
}

function checkAddons(issues: Issues, addons: Record<string, unknown>): void {
  const base = ['spec', 'addons'];
  const prom = asObject(addons.prometheus);
  if (prom) {
    const pp = [...base, 'prometheus'];
    if (prom.install !== undefined && prom.address !== undefined) issues.error([...pp, 'address'], 'smcp.addon-install-or-address', 'only one of prometheus.install or prometheus.address may be specified');
    checkDuration(issues, [...pp, 'metricsExpiryDuration'], prom.metricsExpiryDuration);
    const inst = asObject(prom.install);
    if (inst) {
      for (const k of ['retention', 'scrapeInterval'] as const) {
        const v = asString(inst[k]);
        if (v !== undefined && !PROMETHEUS_DURATION.test(v)) issues.error([...pp, 'install', k], 'smcp.prometheus-duration', `"${v}" is not a Prometheus duration (a number with unit ms, s, m, h, d, w or y, e.g. 6h)`);
      }
      checkComponentService(issues, [...pp, 'install', 'service'], inst.service);
    }
  }
  const graf = asObject(addons.grafana);
  if (graf) {
    const gp = [...base, 'grafana'];
    if (graf.install !== undefined && graf.address !== undefined) issues.error([...gp, 'address'], 'smcp.addon-install-or-address', 'only one of grafana.install or grafana.address may be specified');
    const inst = asObject(graf.install);
    if (inst) {
      checkComponentService(issues, [...gp, 'install', 'service'], inst.service);
      checkResources(issues, [...gp, 'install', 'persistence', 'capacity'], asObject(inst.persistence)?.capacity);
    }
  }
  const kiali = asObject(addons.kiali);
  if (kiali) {
    const kp = [...base, 'kiali'];
    checkAddonName(issues, [...kp, 'name'], kiali.name);
    const inst = asObject(kiali.install);
    if (inst) {
      checkComponentService(issues, [...kp, 'install', 'service'], inst.service);
      const dep = asObject(inst.deployment);
      if (dep) {
        checkResources(issues, [...kp, 'install', 'deployment', 'resources'], dep.resources);
        checkLabels(issues, [...kp, 'install', 'deployment', 'nodeSelector'], dep.nodeSelector, 'smcp.label-selector');
      }
    }
  }
  const jaeger = asObject(addons.jaeger);
  if (jaeger) checkJaeger(issues, [...base, 'jaeger'], jaeger);
  const ts = asObject(addons['3scale']);
  if (ts) {
    const tp = [...base, '3scale'];
    checkPort(issues, [...tp, 'listen_addr'], ts.listen_addr, false);
    checkPort(issues, [...tp, 'metrics', 'port'], asObject(ts.metrics)?.port, false);
    for (const [sect, keys] of [['system', ['cache_max_size', 'cache_refresh_retries', 'cache_refresh_interval', 'cache_ttl']], ['client', ['timeout']], ['grpc', ['max_conn_timeout']], ['backend', ['cache_flush_interval']]] as const) {
      const o = asObject(ts[sect]);
      for (const k of keys) checkAtLeast(issues, [...tp, sect, k], o?.[k], 0, k);
    }
  }
  const sd = asObject(addons.stackdriver);
  if (sd) {
    const sp = [...base, 'stackdriver'];
    const tr = asObject(sd.tracer);
    for (const k of ['maxNumberOfAttributes', 'maxNumberOfAnnotations', 'maxNumberOfMessageEvents'] as const) checkAtLeast(issues, [...sp, 'tracer', k], tr?.[k], 0, k);
    const tel = asObject(sd.telemetry);
    const auth = asObject(tel?.auth);
    if (auth) {
      const set = [auth.appCredentials === true ? 'appCredentials' : undefined, asString(auth.apiKey) ? 'apiKey' : undefined, asString(auth.serviceAccountPath) ? 'serviceAccountPath' : undefined].filter((x) => x !== undefined);
      if (set.length > 1) issues.error([...sp, 'telemetry', 'auth'], 'smcp.stackdriver-auth', `only one of appCredentials, apiKey or serviceAccountPath may be set (got ${set.join(', ')})`);
    }
    checkDuration(issues, [...sp, 'telemetry', 'accessLogging', 'logWindowDuration'], asObject(tel?.accessLogging)?.logWindowDuration);
  }
}

function checkAddonName(issues: Issues, path: P, name: unknown): void {
  if (typeof name === 'string' && name !== '' && !isDNS1123Subdomain(name)) issues.error(path, 'smcp.addon-name', `invalid resource name "${name}": must be a DNS-1123 subdomain`);
}

function checkJaeger(issues: Issues, path: P, jaeger: Record<string, unknown>): void {
  checkAddonName(issues, [...path, 'name'], jaeger.name);
  const inst = asObject(jaeger.install);
  if (!inst) return;
  checkMetadata(issues, [...path, 'install', 'ingress', 'metadata'], asObject(inst.ingress)?.metadata);
  const storage = asObject(inst.storage);
  if (!storage) return;
  const sp = [...path, 'install', 'storage'];
  const type = asString(storage.type);
  if (type === 'Memory' && storage.elasticsearch !== undefined) issues.error([...sp, 'elasticsearch'], 'smcp.jaeger-storage', 'storage.elasticsearch only applies when storage.type is Elasticsearch');
  if (type === 'Elasticsearch' && storage.memory !== undefined) issues.error([...sp, 'memory'], 'smcp.jaeger-storage', 'storage.memory only applies when storage.type is Memory');
  if (type === undefined && storage.elasticsearch !== undefined) issues.warn([...sp, 'type'], 'smcp.jaeger-storage-default', 'storage.type is not set, so the base profile\'s Memory storage applies and storage.elasticsearch is ignored; set type: Elasticsearch');
  checkAtLeast(issues, [...sp, 'memory', 'maxTraces'], asObject(storage.memory)?.maxTraces, 1, 'maxTraces');
  checkAtLeast(issues, [...sp, 'elasticsearch', 'nodeCount'], asObject(storage.elasticsearch)?.nodeCount, 1, 'nodeCount');
}

function validateSmcpV2(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec);
  if (!spec) return;
  checkVersion(issues, spec.version, 'v2');
  checkProfileNames(issues, spec, SMCP_PROFILE_NAMES);
  const cluster = asObject(spec.cluster);
  if (cluster) checkCluster(issues, cluster);
  const general = asObject(spec.general);
  if (general) checkLevels(issues, ['spec', 'general', 'logging', 'componentLevels'], asObject(general.logging)?.componentLevels, CONTROL_PLANE_LOG_LEVELS);
  checkPolicyTelemetry(issues, spec);
  const proxy = asObject(spec.proxy);
  if (proxy) checkProxy(issues, proxy);
  const security = asObject(spec.security);
  if (security) checkSecurity(issues, security);
  const sampling = asObject(spec.tracing)?.sampling;
  if (typeof sampling === 'number' && Number.isInteger(sampling) && (sampling < 0 || sampling > 10000)) {
    issues.error(['spec', 'tracing', 'sampling'], 'smcp.tracing-sampling', `sampling must be between 0 and 10000 (hundredths of a percent: 100 = 1%, 10000 = 100%), got ${sampling}`);
  }
  const gws = asObject(spec.gateways);
  if (gws) checkGateways(issues, gws, asString(res.metadata?.namespace));
  const rt = asObject(spec.runtime);
  if (rt) checkRuntime(issues, rt);
  const addons = asObject(spec.addons);
  if (addons) checkAddons(issues, addons);
  checkKialiNeedsPrometheus(issues, spec);
}

/** A Helm boolean as the 1.1 charts read it: true, false, or the strings "true"/"false" in any case. */
function helmBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  return undefined;
}

/**
 * The v1.1 checks of the operator's webhook on Helm values (strategy_v1_1 ValidateV1), those that
 * read only the object: no Istiod policy or telemetry, no in-proxy telemetry, and an external
 * Jaeger (global.tracer.zipkin.address) set up completely. v1.0 resources were never validated.
 */
function checkV11Values(issues: Issues, istio: Record<string, unknown>, namespace: string | undefined): void {
  const at = (...p: string[]) => ['spec', 'istio', ...p];
  const get = (...p: string[]): unknown => p.reduce<unknown>((o, k) => asObject(o)?.[k], istio);
  for (const area of ['policy', 'telemetry'] as const) {
    if (get(area, 'implementation') === 'Istiod') issues.error(at(area, 'implementation'), 'smcp.v1-helm-values', `${area}.implementation=Istiod is not supported in v1.1 (use a maistra.io/v2 v2.0 control plane)`);
  }
  if (helmBool(get('telemetry', 'enabled')) === true && helmBool(get('telemetry', 'v2', 'enabled')) === true) {
    issues.error(at('telemetry', 'v2', 'enabled'), 'smcp.v1-helm-values', 'telemetry.v2.enabled=true is not supported in v1.1');
  }
  const zipkin = asString(get('global', 'tracer', 'zipkin', 'address'));
  if (!zipkin) return;
  const tracer = get('global', 'proxy', 'tracer');
  if (typeof tracer === 'string' && tracer !== 'zipkin') issues.error(at('global', 'proxy', 'tracer'), 'smcp.v1-helm-values', "global.proxy.tracer must equal 'zipkin' if global.tracer.zipkin.address is set");
  const parts = zipkin.split('.');
  if (parts.length === 1) issues.error(at('global', 'tracer', 'zipkin', 'address'), 'smcp.v1-helm-values', 'global.tracer.zipkin.address must include a namespace, e.g. jaeger-collector.istio-system.svc:9411');
  else {
    const ns = parts.length === 2 ? parts[1]!.split(':')[0]! : parts[1]!;
    if (namespace !== undefined && ns !== namespace) issues.error(at('global', 'tracer', 'zipkin', 'address'), 'smcp.v1-helm-values', `global.tracer.zipkin.address must point to a service in the same namespace as the control plane (${namespace}), not ${ns}`);
  }
  if (helmBool(get('tracing', 'enabled')) === true) issues.error(at('tracing', 'enabled'), 'smcp.v1-helm-values', 'tracing.enabled must be false if global.tracer.zipkin.address is set');
  if (helmBool(get('kiali', 'enabled')) === true && !asString(get('kiali', 'jaegerInClusterURL'))) {
    issues.error(at('kiali', 'jaegerInClusterURL'), 'smcp.v1-helm-values', 'kiali.jaegerInClusterURL must be defined if global.tracer.zipkin.address is set');
  }
}

function validateSmcpV1(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec);
  if (!spec) return;
  checkVersion(issues, spec.version, 'v1');
  checkProfileNames(issues, spec, SMCP_V1_PROFILE_NAMES);
  if (spec.networkType !== undefined) issues.warn(['spec', 'networkType'], 'smcp.v1-network-type', 'spec.networkType is deprecated and no longer used; the network plugin is detected from the cluster');
  const istio = asObject(spec.istio);
  if (spec.version === 'v1.1' && istio) checkV11Values(issues, istio, asString(asObject(res.metadata)?.namespace));
}

export const serviceMeshControlPlaneKind: KindDef = {
  group: MAISTRA_GROUP,
  kind: 'ServiceMeshControlPlane',
  plural: 'servicemeshcontrolplanes',
  singular: 'servicemeshcontrolplane',
  shortNames: ['smcp'],
  namespaced: true,
  // The name becomes the revision in Service and Deployment names (istiod-<name>), so it must be a label.
  nameFormat: 'dns1123-label',
  description: 'A control plane installation: version, profiles, gateways, security, proxy defaults and add-ons of one mesh (one per namespace).',
  versions: [
    { name: 'v2', schema: v2Schema, validate: validateSmcpV2, storage: true },
    { name: 'v1', schema: v1Schema, validate: validateSmcpV1 },
  ],
};

const smcp = (spec: string, name = 'basic') => `apiVersion: maistra.io/v2\nkind: ServiceMeshControlPlane\nmetadata: {name: ${name}, namespace: istio-system}\nspec:\n${spec}`;
const smcpV1 = (spec: string) => `apiVersion: maistra.io/v1\nkind: ServiceMeshControlPlane\nmetadata: {name: basic, namespace: istio-system}\nspec:\n${spec}`;

defineRules('ServiceMeshControlPlane', [
  { id: 'smcp.version', severity: 'error', summary: 'spec.version is v2.0 on maistra.io/v2 (empty means the current version); maistra.io/v1 accepts v1.0 and v1.1 and refuses v2.0 ("must use v2 ServiceMeshControlPlane resource").', examples: [{ yaml: smcp('  version: v2.1\n'), field: 'spec.version' }, { yaml: smcpV1('  version: v2.0\n'), field: 'spec.version' }] },
  { id: 'smcp.unknown-profile', severity: 'error', summary: 'Every profile (and the v1 template) names a shipped profile: base, small, default, servicemesh or maistra (no small for v1.x).', examples: [{ yaml: smcp('  profiles: [base, tiny]\n'), field: 'spec.profiles[1]' }, { yaml: smcpV1('  version: v1.1\n  template: small\n'), field: 'spec.template' }] },
  { id: 'smcp.protocol-autodetect', severity: 'error', summary: 'Automatic protocol detection is not supported in v2.0: proxy.networking.protocol.autoDetect.inbound and outbound may only be false.', examples: [{ yaml: smcp('  proxy:\n    networking:\n      protocol:\n        autoDetect: {inbound: true}\n'), field: 'spec.proxy.networking.protocol.autoDetect.inbound' }] },
  { id: 'smcp.tracing-sampling', severity: 'error', summary: 'tracing.sampling is 0..10000 in hundredths of a percent (100 = 1%, 10000 = 100%).', examples: [{ yaml: smcp('  tracing: {type: Jaeger, sampling: 10001}\n'), field: 'spec.tracing.sampling' }] },
  { id: 'smcp.log-level', severity: 'error', summary: 'Control plane log levels are debug, info, warn, error or none; proxy log levels are trace, debug, info, warn(ing), error, critical or off.', examples: [{ yaml: smcp('  general:\n    logging:\n      componentLevels: {default: verbose}\n'), field: 'spec.general.logging.componentLevels.default' }, { yaml: smcp('  proxy:\n    logging: {level: loud}\n'), field: 'spec.proxy.logging.level' }] },
  { id: 'smcp.remote-address', severity: 'error', summary: 'A Remote policy or telemetry type needs remote.address, and remote.address is only allowed with type Remote.', examples: [{ yaml: smcp('  policy: {type: Remote}\n'), field: 'spec.policy.remote.address' }, { yaml: smcp('  telemetry:\n    type: Istiod\n    remote: {address: mixer.example.com:9091}\n'), field: 'spec.telemetry.remote.address' }] },
  { id: 'smcp.remote-create-service', severity: 'error', summary: 'policy.remote.createService and telemetry.remote.createService must agree when either is set.', examples: [{ yaml: smcp('  policy:\n    type: Remote\n    remote: {address: mixer.example.com:9091, createService: true}\n'), field: 'spec.policy.remote.createService' }] },
  { id: 'smcp.adapter-crds', severity: 'error', summary: 'mixer.adapters.useAdapterCRDs (the deprecated Mixer adapter CRDs) is not supported in v2.0.', examples: [{ yaml: smcp('  telemetry:\n    type: Mixer\n    mixer:\n      adapters: {useAdapterCRDs: true}\n'), field: 'spec.telemetry.mixer.adapters.useAdapterCRDs' }] },
  { id: 'smcp.mixer-deprecated', severity: 'warning', summary: 'Mixer-based policy and telemetry (types Mixer and Remote) are deprecated in 2.0 and removed in 2.1.', examples: [{ yaml: smcp('  policy: {type: Mixer}\n'), field: 'spec.policy.type' }] },
  { id: 'smcp.dns-refresh-rate', severity: 'error', summary: 'proxy.networking.dns.refreshRate is given in seconds (300s, not 5m) and is at least 1ms.', examples: [{ yaml: smcp('  proxy:\n    networking:\n      dns: {refreshRate: 5m}\n'), field: 'spec.proxy.networking.dns.refreshRate' }] },
  { id: 'smcp.traffic-control', severity: 'error', summary: 'Traffic control lists hold "*" or port numbers 1..65535 (included inbound ports), port numbers (excluded ports) and CIDR blocks ("*" only in includedIPRanges).', examples: [{ yaml: smcp('  proxy:\n    networking:\n      trafficControl:\n        outbound: {excludedIPRanges: ["10.0.0.0/33"]}\n'), field: 'spec.proxy.networking.trafficControl.outbound.excludedIPRanges[0]' }, { yaml: smcp('  proxy:\n    networking:\n      trafficControl:\n        inbound: {excludedPorts: [0]}\n'), field: 'spec.proxy.networking.trafficControl.inbound.excludedPorts[0]' }] },
  { id: 'smcp.port', severity: 'error', summary: 'Port numbers are 1..65535 (0 where it means "the default").', examples: [{ yaml: smcp('  proxy:\n    runtime:\n      readiness: {statusPort: 70000}\n'), field: 'spec.proxy.runtime.readiness.statusPort' }, { yaml: smcp('  addons:\n    3scale: {enabled: true, listen_addr: 0}\n'), field: 'spec.addons["3scale"].listen_addr' }] },
  { id: 'smcp.count-range', severity: 'error', summary: 'Counts are not negative (replicas, concurrency, cache sizes), and probe periods, failure thresholds, Jaeger node counts and trace limits are at least 1.', examples: [{ yaml: smcp('  runtime:\n    components:\n      pilot:\n        deployment: {replicas: -1}\n'), field: 'spec.runtime.components.pilot.deployment.replicas' }, { yaml: smcp('  proxy:\n    runtime:\n      readiness: {periodSeconds: 0}\n'), field: 'spec.proxy.runtime.readiness.periodSeconds' }] },
  { id: 'smcp.label-selector', severity: 'error', summary: 'Label selectors, node selectors and anti-affinity terms use valid label keys and values; In/NotIn need values, Exists/DoesNotExist take none; anti-affinity terms need a topologyKey.', examples: [{ yaml: smcp('  proxy:\n    injection:\n      neverInjectSelector:\n      - matchExpressions: [{key: app, operator: In}]\n'), field: 'spec.proxy.injection.neverInjectSelector[0].matchExpressions[0].values' }, { yaml: smcp('  runtime:\n    components:\n      pilot:\n        pod:\n          affinity:\n            podAntiAffinity:\n              requiredDuringScheduling: [{key: app, operator: In, values: [istiod]}]\n'), field: 'spec.runtime.components.pilot.pod.affinity.podAntiAffinity.requiredDuringScheduling[0].topologyKey' }] },
  { id: 'smcp.metadata', severity: 'error', summary: 'Extra labels and annotations (services, pods, routes, injected annotations) use valid keys and label values; image pull secrets have names.', examples: [{ yaml: smcp('  gateways:\n    ingress:\n      service:\n        metadata:\n          labels: {app: "-bad-"}\n'), field: 'spec.gateways.ingress.service.metadata.labels.app' }] },
  { id: 'smcp.address', severity: 'error', summary: 'Service addresses (custom CA, Envoy access log and metrics services) are host:port with a valid host and a port 1..65535.', examples: [{ yaml: smcp('  security:\n    certificateAuthority:\n      type: Custom\n      custom: {address: ca.example.com}\n'), field: 'spec.security.certificateAuthority.custom.address' }, { yaml: smcp('  proxy:\n    envoyMetricsService: {enabled: true}\n'), field: 'spec.proxy.envoyMetricsService.address' }] },
  { id: 'smcp.trust-domain', severity: 'error', summary: 'The trust domain, its aliases and the proxy cluster domain are valid DNS names.', examples: [{ yaml: smcp('  security:\n    trust: {domain: "cluster..local"}\n'), field: 'spec.security.trust.domain' }] },
  { id: 'smcp.certificate-authority', severity: 'error', summary: 'The CA settings are consistent: Custom needs custom.address and no istiod block; Istiod takes no custom block; istiod.type (SelfSigned or PrivateKey) is set when selfSigned or privateKey is, and matches it; rootCADir is absolute.', examples: [{ yaml: smcp('  security:\n    certificateAuthority: {type: Custom}\n'), field: 'spec.security.certificateAuthority.custom.address' }, { yaml: smcp('  security:\n    certificateAuthority:\n      type: Istiod\n      istiod:\n        selfSigned: {ttl: 87600h}\n'), field: 'spec.security.certificateAuthority.istiod.type' }, { yaml: smcp('  security:\n    certificateAuthority:\n      istiod:\n        type: SelfSigned\n        privateKey: {rootCADir: /etc/cacerts}\n'), field: 'spec.security.certificateAuthority.istiod.privateKey' }] },
  { id: 'smcp.workload-cert-ttl', severity: 'error', summary: 'workloadCertTTLDefault ≤ workloadCertTTLMax ≤ 90 days.', examples: [{ yaml: smcp('  security:\n    certificateAuthority:\n      istiod: {type: SelfSigned, workloadCertTTLDefault: 48h, workloadCertTTLMax: 24h}\n'), field: 'spec.security.certificateAuthority.istiod.workloadCertTTLDefault' }, { yaml: smcp('  security:\n    certificateAuthority:\n      istiod: {type: SelfSigned, workloadCertTTLMax: 2400h}\n'), field: 'spec.security.certificateAuthority.istiod.workloadCertTTLMax' }] },
  { id: 'smcp.self-signed', severity: 'error', summary: 'The self-signed root\'s gracePeriod is a whole percentage 0..100 of its lifetime (20 or 20%).', examples: [{ yaml: smcp('  security:\n    certificateAuthority:\n      istiod:\n        type: SelfSigned\n        selfSigned: {gracePeriod: 1h}\n'), field: 'spec.security.certificateAuthority.istiod.selfSigned.gracePeriod' }] },
  { id: 'smcp.identity', severity: 'error', summary: 'identity.thirdParty only applies with identity.type ThirdParty.', examples: [{ yaml: smcp('  security:\n    identity:\n      type: Kubernetes\n      thirdParty: {audience: istio-ca}\n'), field: 'spec.security.identity.thirdParty' }] },
  { id: 'smcp.tls-version', severity: 'error', summary: 'Control plane TLS versions are TLS_AUTO, TLSv1_0 … TLSv1_3, and the minimum is not newer than the maximum.', examples: [{ yaml: smcp('  security:\n    controlPlane:\n      tls: {minProtocolVersion: TLSv1_3, maxProtocolVersion: TLSv1_2}\n'), field: 'spec.security.controlPlane.tls.minProtocolVersion' }] },
  { id: 'smcp.gateway-name', severity: 'error', summary: 'Additional gateways are named with DNS-1123 labels other than istio-ingressgateway and istio-egressgateway.', examples: [{ yaml: smcp('  gateways:\n    additionalIngress:\n      istio-ingressgateway: {enabled: true}\n'), field: 'spec.gateways.additionalIngress.istio-ingressgateway' }, { yaml: smcp('  gateways:\n    additionalEgress:\n      Egress_2: {enabled: true}\n'), field: 'spec.gateways.additionalEgress.Egress_2' }] },
  { id: 'smcp.gateway-duplicate', severity: 'error', summary: 'No two additional gateways share a name in the same namespace.', examples: [{ yaml: smcp('  gateways:\n    additionalIngress:\n      edge: {namespace: bookinfo}\n    additionalEgress:\n      edge: {namespace: bookinfo}\n'), field: 'spec.gateways.additionalEgress.edge' }] },
  { id: 'smcp.gateway-namespace', severity: 'error', summary: 'A gateway\'s namespace is a DNS-1123 label.', examples: [{ yaml: smcp('  gateways:\n    additionalIngress:\n      edge: {namespace: Book.Info}\n'), field: 'spec.gateways.additionalIngress.edge.namespace' }] },
  { id: 'smcp.service-port', severity: 'error', summary: 'Gateway Service ports have a port 1..65535, a valid targetPort and nodePort, and unique names (required when there is more than one port).', examples: [{ yaml: smcp('  gateways:\n    ingress:\n      service:\n        ports:\n        - {name: http2, port: 80, targetPort: 8080}\n        - {name: http2, port: 443, targetPort: 8443}\n'), field: 'spec.gateways.ingress.service.ports[1].name' }, { yaml: smcp('  gateways:\n    egress:\n      service:\n        ports: [{name: http, targetPort: 8080}]\n'), field: 'spec.gateways.egress.service.ports[0].port' }] },
  { id: 'smcp.gateway-volume', severity: 'error', summary: 'Gateway volumes name exactly one of configMap or secret, and a volumeMount with a name and an absolute mountPath.', examples: [{ yaml: smcp('  gateways:\n    ingress:\n      volumes:\n      - volume: {secret: {secretName: certs}}\n        volumeMount: {name: certs, mountPath: etc/certs}\n'), field: 'spec.gateways.ingress.volumes[0].volumeMount.mountPath' }] },
  { id: 'smcp.runtime-component', severity: 'error', summary: `runtime.components keys are component names: ${SMCP_COMPONENT_NAMES.join(', ')}.`, examples: [{ yaml: smcp('  runtime:\n    components:\n      istiod:\n        deployment: {replicas: 2}\n'), field: 'spec.runtime.components.istiod' }] },
  { id: 'smcp.int-or-percent', severity: 'error', summary: 'maxSurge, maxUnavailable and PodDisruptionBudget bounds are whole numbers or percentages such as 25%.', examples: [{ yaml: smcp('  runtime:\n    components:\n      pilot:\n        deployment:\n          strategy:\n            rollingUpdate: {maxSurge: half}\n'), field: 'spec.runtime.components.pilot.deployment.strategy.rollingUpdate.maxSurge' }] },
  { id: 'smcp.pod-disruption', severity: 'error', summary: 'A PodDisruptionBudget takes only one of minAvailable or maxUnavailable.', examples: [{ yaml: smcp('  runtime:\n    defaults:\n      deployment:\n        podDisruption: {enabled: true, minAvailable: 1, maxUnavailable: 1}\n'), field: 'spec.runtime.defaults.deployment.podDisruption.maxUnavailable' }] },
  { id: 'smcp.autoscaling', severity: 'error', summary: 'Autoscaling bounds are at least 1, maxReplicas is not below minReplicas, and the CPU target is at least 1%.', examples: [{ yaml: smcp('  runtime:\n    components:\n      pilot:\n        deployment:\n          autoScaling: {enabled: true, minReplicas: 3, maxReplicas: 2}\n'), field: 'spec.runtime.components.pilot.deployment.autoScaling.maxReplicas' }] },
  { id: 'smcp.resource-quantity', severity: 'error', summary: 'Resource requests and limits are non-negative Kubernetes quantities (100m, 128Mi, 2), and a request does not exceed its limit.', examples: [{ yaml: smcp('  runtime:\n    defaults:\n      container:\n        resources:\n          requests: {memory: 128MB}\n'), field: 'spec.runtime.defaults.container.resources.requests.memory' }, { yaml: smcp('  proxy:\n    runtime:\n      container:\n        resources:\n          requests: {cpu: 200m}\n          limits: {cpu: 100m}\n'), field: 'spec.proxy.runtime.container.resources.requests.cpu' }] },
  { id: 'smcp.addon-install-or-address', severity: 'error', summary: 'Prometheus and Grafana take either install (a managed instance) or address (an existing one), not both.', examples: [{ yaml: smcp('  addons:\n    prometheus:\n      enabled: true\n      install: {retention: 6h}\n      address: http://prometheus.example.com:9090\n'), field: 'spec.addons.prometheus.address' }] },
  { id: 'smcp.prometheus-duration', severity: 'error', summary: 'Prometheus retention and scrape interval use Prometheus durations (6h, 15s, 2d).', examples: [{ yaml: smcp('  addons:\n    prometheus:\n      install: {retention: 6 hours}\n'), field: 'spec.addons.prometheus.install.retention' }] },
  { id: 'smcp.addon-name', severity: 'error', summary: 'The names of the Kiali and Jaeger resources are DNS-1123 subdomains.', examples: [{ yaml: smcp('  addons:\n    jaeger: {name: My_Jaeger}\n'), field: 'spec.addons.jaeger.name' }] },
  { id: 'smcp.kiali-requires-prometheus', severity: 'error', summary: 'Kiali needs Prometheus: once the profiles are applied, addons.prometheus.enabled is true wherever addons.kiali.enabled is.', examples: [{ yaml: smcp('  addons:\n    prometheus: {enabled: false}\n    kiali: {enabled: true}\n'), field: 'spec.addons.kiali.enabled' }, { yaml: smcp('  addons:\n    prometheus: {enabled: false}\n'), field: 'spec.addons.prometheus.enabled' }] },
  { id: 'smcp.jaeger-storage', severity: 'error', summary: 'Jaeger storage settings match storage.type: memory with Memory, elasticsearch with Elasticsearch; node counts and trace limits are at least 1.', examples: [{ yaml: smcp('  addons:\n    jaeger:\n      install:\n        storage:\n          type: Memory\n          elasticsearch: {nodeCount: 3}\n'), field: 'spec.addons.jaeger.install.storage.elasticsearch' }] },
  { id: 'smcp.jaeger-storage-default', severity: 'warning', summary: 'Elasticsearch settings without storage.type are ignored, because the base profile selects Memory storage.', examples: [{ yaml: smcp('  addons:\n    jaeger:\n      install:\n        storage:\n          elasticsearch: {nodeCount: 3}\n'), field: 'spec.addons.jaeger.install.storage.type' }] },
  { id: 'smcp.stackdriver-auth', severity: 'error', summary: 'Stackdriver auth sets only one of appCredentials, apiKey or serviceAccountPath.', examples: [{ yaml: smcp('  addons:\n    stackdriver:\n      telemetry:\n        auth: {appCredentials: true, apiKey: abc}\n'), field: 'spec.addons.stackdriver.telemetry.auth' }] },
  { id: 'smcp.ingress-host', severity: 'error', summary: 'Add-on Route hosts are DNS names and context paths start with /.', examples: [{ yaml: smcp('  addons:\n    grafana:\n      install:\n        service:\n          ingress: {enabled: true, hosts: ["grafana..apps.example.com"]}\n'), field: 'spec.addons.grafana.install.service.ingress.hosts[0]' }] },
  { id: 'smcp.unsupported-feature', severity: 'warning', summary: 'Multi-cluster and mesh expansion are outside the OpenShift Service Mesh 2.0 support statement.', examples: [{ yaml: smcp('  cluster:\n    multiCluster: {enabled: true}\n'), field: 'spec.cluster.multiCluster.enabled' }] },
  { id: 'smcp.mesh-networks', severity: 'error', summary: 'Mesh network endpoints set exactly one of fromRegistry or fromCIDR (a valid CIDR), and gateways exactly one of service or address, with a port 1..65535.', examples: [{ yaml: smcp('  cluster:\n    multiCluster:\n      enabled: true\n      meshNetworks:\n        network1:\n          endpoints: [{fromRegistry: Kubernetes, fromCIDR: 10.0.0.0/16}]\n'), field: 'spec.cluster.multiCluster.meshNetworks.network1.endpoints[0]' }] },
  { id: 'smcp.v1-helm-values', severity: 'error', summary: 'v1.1 Helm values the 1.1 charts cannot honour: Istiod policy or telemetry, in-proxy (v2) telemetry, or an external Jaeger (global.tracer.zipkin.address) without a zipkin tracer, a namespace (the control plane\'s), tracing disabled and kiali.jaegerInClusterURL.', examples: [{ yaml: smcpV1('  version: v1.1\n  istio:\n    policy: {implementation: Istiod}\n'), field: 'spec.istio.policy.implementation' }, { yaml: smcpV1('  version: v1.1\n  istio:\n    global:\n      tracer:\n        zipkin: {address: "jaeger-collector.tracing.svc:9411"}\n    tracing: {enabled: false}\n'), field: 'spec.istio.global.tracer.zipkin.address' }] },
  { id: 'smcp.v1-network-type', severity: 'warning', summary: 'The v1 spec.networkType is deprecated and ignored: the network plugin is detected from the cluster.', examples: [{ yaml: smcpV1('  version: v1.1\n  networkType: subnet\n'), field: 'spec.networkType' }] },
]);
