// Lossless ServiceMeshControlPlane conversion between maistra.io/v1 (Helm values) and maistra.io/v2: field mappings as the operator's conversion package does, plus a restore annotation for everything else (MAISTRA-1979).
import { asArray, asObject, asString, isObject, type PathSegment } from './diagnostics.js';
import { SMCP_COMPONENT_NAMES, type SmcpV2Spec } from './kinds/service-mesh-control-plane.js';

/**
 * On a maistra.io/v2 object: what the v2→v1 conversion needs to rebuild the exact v1 object it
 * came from (fields without a v2 counterpart, values v2 normalised). Reserved: an input's value
 * is consumed or replaced, never carried over.
 */
export const V1_RESTORE_ANNOTATION = 'conversion.meltemi.io/v1-restore';
/** On a maistra.io/v1 object: what the v1→v2 conversion needs to rebuild the exact v2 object. */
export const V2_RESTORE_ANNOTATION = 'conversion.meltemi.io/v2-restore';

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// JSON helpers. Keys come from users (and from the restore annotation), so every write defines an
// own property and every read checks ownership: "__proto__" is an ordinary key here and can never
// reach a prototype.

function define(o: Obj, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

function own(o: unknown, k: PathSegment): unknown {
  if (Array.isArray(o) && typeof k === 'number') return o[k];
  return isObject(o) && typeof k === 'string' && Object.hasOwn(o, k) ? o[k] : undefined;
}

function getIn(o: unknown, path: readonly string[]): unknown {
  let cur = o;
  for (const k of path) {
    cur = own(cur, k);
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** Sets a value, creating intermediate mappings; does nothing when a non-mapping is in the way. */
function setIn(o: Obj, path: readonly string[], v: unknown): void {
  let cur: Obj = o;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    const next = own(cur, k);
    if (next === undefined) {
      const created: Obj = {};
      define(cur, k, created);
      cur = created;
    } else if (isObject(next)) cur = next;
    else return;
  }
  define(cur, path[path.length - 1]!, v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
}

const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v));

/** A copy of `o` without the keys whose value is undefined (which JSON cannot carry). */
function defined(o: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) define(out, k, clone(v));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Restore patches: the difference between what a conversion back would produce and the real
// object, as conditional operations. An operation applies only while the value it replaces is
// unchanged, so a field the user edited after conversion keeps the edit.

/** One change at `p`: from `f` (absent: the field was absent) to `t` (absent: delete the field). */
export interface RestoreOp {
  p: PathSegment[];
  f?: unknown;
  t?: unknown;
}

const ABSENT = Symbol('absent');
type Slot = unknown | typeof ABSENT;

function slot(o: unknown, k: string): Slot {
  return isObject(o) && Object.hasOwn(o, k) ? o[k] : ABSENT;
}

/** The operations that turn `from` into `to` (mappings compared key by key, lists as wholes). */
export function diffJson(from: Slot, to: Slot, path: PathSegment[] = [], out: RestoreOp[] = []): RestoreOp[] {
  if (from === ABSENT ? to === ABSENT : to !== ABSENT && deepEqual(from, to)) return out;
  if (isObject(from) && isObject(to)) {
    const keys = new Set([...Object.keys(from), ...Object.keys(to)]);
    for (const k of keys) diffJson(slot(from, k), slot(to, k), [...path, k], out);
    return out;
  }
  const op: RestoreOp = { p: [...path] };
  if (from !== ABSENT) op.f = clone(from);
  if (to !== ABSENT) op.t = clone(to);
  out.push(op);
  return out;
}

/** Applies restore operations to a copy of `root` (undefined = absent); returns the new root. */
export function applyRestore(root: unknown, ops: readonly RestoreOp[]): unknown {
  let r: unknown = clone(root);
  for (const op of ops) {
    const expect = (cur: Slot) => (Object.hasOwn(op, 'f') ? cur !== ABSENT && deepEqual(cur, op.f) : cur === ABSENT);
    if (op.p.length === 0) {
      if (expect(r === undefined ? ABSENT : r)) r = Object.hasOwn(op, 't') ? clone(op.t) : undefined;
      continue;
    }
    let parent: unknown = r;
    for (const k of op.p.slice(0, -1)) {
      parent = typeof k === 'string' ? own(parent, k) : undefined;
      if (parent === undefined) break;
    }
    const last = op.p[op.p.length - 1];
    if (!isObject(parent) || typeof last !== 'string') continue; // the user changed this part: keep it
    if (!expect(slot(parent, last))) continue;
    if (Object.hasOwn(op, 't')) define(parent, last, clone(op.t));
    else delete parent[last];
  }
  return r;
}

interface RestoreData {
  spec?: RestoreOp[];
  status?: RestoreOp[];
  /** The object had no metadata, or metadata without annotations, before the annotation was added. */
  shape?: 'no-metadata' | 'no-annotations';
}

function isOps(v: unknown): v is RestoreOp[] {
  return Array.isArray(v) && v.every((op) => isObject(op) && Array.isArray(op.p) && op.p.every((s) => typeof s === 'string' || typeof s === 'number'));
}

function parseRestore(raw: unknown): RestoreData | undefined {
  if (typeof raw !== 'string') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined; // not ours: ignored
  }
  if (!isObject(v)) return undefined;
  const out: RestoreData = {};
  if (isOps(v.spec)) out.spec = v.spec;
  if (isOps(v.status)) out.status = v.status;
  if (v.shape === 'no-metadata' || v.shape === 'no-annotations') out.shape = v.shape;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Field mappings between v1 Helm values and v2 fields (OP conversion package, maistra-2.0).

/** Decodes a v1 Helm value into its v2 form and back; undefined = no counterpart for this value. */
interface Codec {
  toV2(v: unknown): unknown;
  toV1(v: unknown): unknown;
}

const same = (ok: (v: unknown) => boolean): Codec => ({ toV2: (v) => (ok(v) ? clone(v) : undefined), toV1: (v) => (ok(v) ? clone(v) : undefined) });
const isBool = (v: unknown) => typeof v === 'boolean';
const isStr = (v: unknown) => typeof v === 'string';
const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
const isStrList = (v: unknown) => Array.isArray(v) && v.every(isStr);

const BOOL = same(isBool);
const STR = same(isStr);
const INT = same(isInt);
const OBJ = same(isObject);
const LIST = same(Array.isArray);
const STR_LIST = same(isStrList);
const NOT: Codec = { toV2: (v) => (isBool(v) ? !v : undefined), toV1: (v) => (isBool(v) ? !v : undefined) };

/** "a,b" in Helm values, [a, b] in v2 (an existing list is taken as is). */
const CSV: Codec = {
  toV2: (v) => (isStr(v) ? (v as string).split(',').map((s) => s.trim()).filter((s) => s !== '') : isStrList(v) ? clone(v) : undefined),
  toV1: (v) => (isStrList(v) ? (v as string[]).join(',') : undefined),
};
/** "15020,15021" in Helm values, [15020, 15021] in v2. */
const CSV_INT: Codec = {
  toV2: (v) => {
    if (isInt(v)) return [v];
    if (!isStr(v)) return undefined;
    const parts = (v as string).split(',').map((s) => s.trim()).filter((s) => s !== '');
    return parts.every((p) => /^-?[0-9]+$/.test(p)) ? parts.map(Number) : undefined;
  },
  toV1: (v) => (Array.isArray(v) && v.every(isInt) ? v.join(',') : undefined),
};
/** "default:warn,ads:debug" in Helm values, {default: warn, ads: debug} in v2. */
const LEVELS: Codec = {
  toV2: (v) => {
    if (!isStr(v)) return undefined;
    const out: Obj = {};
    for (const part of (v as string).split(',')) {
      const s = part.trim();
      if (s === '') continue;
      const i = s.indexOf(':');
      if (i <= 0) return undefined;
      define(out, s.slice(0, i), s.slice(i + 1));
    }
    return out;
  },
  toV1: (v) => (isObject(v) && Object.values(v).every(isStr) ? Object.entries(v).map(([k, l]) => `${k}:${String(l)}`).join(',') : undefined),
};
const enumCodec = (pairs: ReadonlyArray<readonly [string, string]>, caseInsensitive = false): Codec => ({
  toV2: (v) => (isStr(v) ? pairs.find(([a]) => (caseInsensitive ? a.toLowerCase() === (v as string).toLowerCase() : a === v))?.[1] : undefined),
  toV1: (v) => pairs.find(([, b]) => b === v)?.[0],
});
const boolEnum = (ifTrue: string, ifFalse: string): Codec => ({
  toV2: (v) => (isBool(v) ? (v ? ifTrue : ifFalse) : undefined),
  toV1: (v) => (v === ifTrue ? true : v === ifFalse ? false : undefined),
});
/** Helm's "enabled"/"disabled" switches. */
const ENABLED_STR: Codec = { toV2: (v) => (v === 'enabled' ? true : v === 'disabled' ? false : undefined), toV1: (v) => (isBool(v) ? (v ? 'enabled' : 'disabled') : undefined) };
/** Image pull secrets: [name] in Helm values, [{name}] in v2. */
const PULL_SECRETS: Codec = {
  toV2: (v) => (isStrList(v) ? (v as string[]).map((name) => ({ name })) : undefined),
  toV1: (v) => (Array.isArray(v) && v.every((s) => isObject(s) && Object.keys(s).length === 1 && isStr(s.name)) ? v.map((s) => (s as Obj).name) : undefined),
};
/** pilot.traceSampling is a percentage (1.0 = 1%); v2 sampling counts hundredths of a percent. */
const SAMPLING: Codec = {
  toV2: (v) => {
    // Out-of-range values (which would overflow to Infinity, not JSON) stay in the restore data.
    const r = typeof v === 'number' ? Math.round(v * 100) : Number.NaN;
    return Number.isSafeInteger(r) ? r : undefined;
  },
  toV1: (v) => (isInt(v) ? (v as number) / 100 : undefined),
};

/** One mapping: a Helm path (dots separate keys) and a v2 path. Rows sharing a v2 path: the first v1 value found wins. */
type Row = readonly [v1: string, v2: readonly string[], codec: Codec];

const p2 = (s: string): string[] => s.split('.');

function componentRows(): Row[] {
  const rows: Row[] = [];
  for (const c of SMCP_COMPONENT_NAMES) {
    const v2 = (...rest: string[]) => ['runtime', 'components', c, ...rest];
    rows.push(
      [`${c}.replicaCount`, v2('deployment', 'replicas'), INT],
      [`${c}.autoscaleEnabled`, v2('deployment', 'autoScaling', 'enabled'), BOOL],
      [`${c}.autoscaleMin`, v2('deployment', 'autoScaling', 'minReplicas'), INT],
      [`${c}.autoscaleMax`, v2('deployment', 'autoScaling', 'maxReplicas'), INT],
      [`${c}.cpu.targetAverageUtilization`, v2('deployment', 'autoScaling', 'targetCPUUtilizationPercentage'), INT],
      [`${c}.nodeSelector`, v2('pod', 'nodeSelector'), OBJ],
      [`${c}.tolerations`, v2('pod', 'tolerations'), LIST],
      [`${c}.priorityClassName`, v2('pod', 'priorityClassName'), STR],
      [`${c}.podAnnotations`, v2('pod', 'metadata', 'annotations'), OBJ],
      [`${c}.podLabels`, v2('pod', 'metadata', 'labels'), OBJ],
      [`${c}.hub`, v2('container', 'imageRegistry'), STR],
      [`${c}.image`, v2('container', 'imageName'), STR],
      [`${c}.tag`, v2('container', 'imageTag'), STR],
      [`${c}.imagePullPolicy`, v2('container', 'imagePullPolicy'), STR],
      [`${c}.resources`, v2('container', 'resources'), OBJ],
    );
  }
  return rows;
}

const THREESCALE_PARAMS: ReadonlyArray<readonly [string, string, Codec]> = [
  ['PARAM_THREESCALE_LISTEN_ADDR', 'listen_addr', INT],
  ['PARAM_THREESCALE_LOG_GRPC', 'log_grpc', BOOL],
  ['PARAM_THREESCALE_LOG_JSON', 'log_json', BOOL],
  ['PARAM_THREESCALE_LOG_LEVEL', 'log_level', STR],
  ['PARAM_THREESCALE_METRICS_PORT', 'metrics.port', INT],
  ['PARAM_THREESCALE_REPORT_METRICS', 'metrics.report', BOOL],
  ['PARAM_THREESCALE_CACHE_ENTRIES_MAX', 'system.cache_max_size', INT],
  ['PARAM_THREESCALE_CACHE_REFRESH_RETRIES', 'system.cache_refresh_retries', INT],
  ['PARAM_THREESCALE_CACHE_REFRESH_SECONDS', 'system.cache_refresh_interval', INT],
  ['PARAM_THREESCALE_CACHE_TTL_SECONDS', 'system.cache_ttl', INT],
  ['PARAM_THREESCALE_ALLOW_INSECURE_CONN', 'client.allow_insecure_connections', BOOL],
  ['PARAM_THREESCALE_CLIENT_TIMEOUT_SECONDS', 'client.timeout', INT],
  ['PARAM_THREESCALE_GRPC_CONN_MAX_SECONDS', 'grpc.max_conn_timeout', INT],
  ['PARAM_THREESCALE_USE_CACHED_BACKEND', 'backend.enable_cache', BOOL],
  ['PARAM_THREESCALE_BACKEND_CACHE_FLUSH_INTERVAL_SECONDS', 'backend.cache_flush_interval', INT],
  ['PARAM_THREESCALE_BACKEND_CACHE_POLICY_FAIL_CLOSED', 'backend.policy_fail_closed', BOOL],
];

const CA = 'security.certificateAuthority';
const ROWS: readonly Row[] = [
  // cluster
  ['global.multiCluster.clusterName', p2('cluster.name'), STR],
  ['global.network', p2('cluster.network'), STR],
  ['global.multiCluster.enabled', p2('cluster.multiCluster.enabled'), BOOL],
  ['global.meshNetworks', p2('cluster.multiCluster.meshNetworks'), OBJ],
  ['global.meshExpansion.enabled', p2('cluster.meshExpansion.enabled'), BOOL],
  // general
  ['global.logging.level', p2('general.logging.componentLevels'), LEVELS],
  ['global.logAsJson', p2('general.logging.logAsJSON'), BOOL],
  ['global.istiod.enableAnalysis', p2('general.validationMessages'), BOOL],
  ['galley.enableAnalysis', p2('general.validationMessages'), BOOL],
  // policy and telemetry details (the types are mapped by policyType/telemetryType)
  ['global.disablePolicyChecks', p2('policy.mixer.enableChecks'), NOT],
  ['global.policyCheckFailOpen', p2('policy.mixer.failOpen'), BOOL],
  ['mixer.policy.sessionAffinityEnabled', p2('policy.mixer.sessionAffinity'), BOOL],
  ['global.remotePolicyAddress', p2('policy.remote.address'), STR],
  ['global.remoteTelemetryAddress', p2('telemetry.remote.address'), STR],
  ['mixer.telemetry.sessionAffinityEnabled', p2('telemetry.mixer.sessionAffinity'), BOOL],
  ['mixer.telemetry.loadshedding.mode', p2('telemetry.mixer.loadshedding.mode'), STR],
  ['mixer.telemetry.loadshedding.latencyThreshold', p2('telemetry.mixer.loadshedding.latencyThreshold'), STR],
  ['mixer.telemetry.reportBatchMaxEntries', p2('telemetry.mixer.batching.maxEntries'), INT],
  ['mixer.telemetry.reportBatchMaxTime', p2('telemetry.mixer.batching.maxTime'), STR],
  // proxy
  ['global.proxy.logLevel', p2('proxy.logging.level'), STR],
  ['global.proxy.componentLogLevel', p2('proxy.logging.componentLevels'), LEVELS],
  ['global.proxy.clusterDomain', p2('proxy.networking.clusterDomain'), STR],
  ['global.proxy.connectionTimeout', p2('proxy.networking.connectionTimeout'), STR],
  ['pilot.keepaliveMaxServerConnectionAge', p2('proxy.networking.maxConnectionAge'), STR],
  ['global.proxy.interceptionMode', p2('proxy.networking.trafficControl.inbound.interceptionMode'), STR],
  ['global.proxy.includeInboundPorts', p2('proxy.networking.trafficControl.inbound.includedPorts'), CSV],
  ['global.proxy.excludeInboundPorts', p2('proxy.networking.trafficControl.inbound.excludedPorts'), CSV_INT],
  ['global.proxy.includeIPRanges', p2('proxy.networking.trafficControl.outbound.includedIPRanges'), CSV],
  ['global.proxy.excludeIPRanges', p2('proxy.networking.trafficControl.outbound.excludedIPRanges'), CSV],
  ['global.proxy.excludeOutboundPorts', p2('proxy.networking.trafficControl.outbound.excludedPorts'), CSV_INT],
  ['global.outboundTrafficPolicy.mode', p2('proxy.networking.trafficControl.outbound.policy'), STR],
  ['global.proxy.protocolDetectionTimeout', p2('proxy.networking.protocol.autoDetect.timeout'), STR],
  ['pilot.enableProtocolSniffingForInbound', p2('proxy.networking.protocol.autoDetect.inbound'), BOOL],
  ['pilot.enableProtocolSniffingForOutbound', p2('proxy.networking.protocol.autoDetect.outbound'), BOOL],
  ['global.podDNSSearchNamespaces', p2('proxy.networking.dns.searchSuffixes'), STR_LIST],
  ['global.proxy.dnsRefreshRate', p2('proxy.networking.dns.refreshRate'), STR],
  ['sidecarInjectorWebhook.rewriteAppHTTPProbe', p2('proxy.runtime.readiness.rewriteApplicationProbes'), BOOL],
  ['global.proxy.statusPort', p2('proxy.runtime.readiness.statusPort'), INT],
  ['global.proxy.readinessInitialDelaySeconds', p2('proxy.runtime.readiness.initialDelaySeconds'), INT],
  ['global.proxy.readinessPeriodSeconds', p2('proxy.runtime.readiness.periodSeconds'), INT],
  ['global.proxy.readinessFailureThreshold', p2('proxy.runtime.readiness.failureThreshold'), INT],
  ['global.proxy.resources', p2('proxy.runtime.container.resources'), OBJ],
  ['sidecarInjectorWebhook.enableNamespacesByDefault', p2('proxy.injection.autoInject'), BOOL],
  ['global.proxy.autoInject', p2('proxy.injection.autoInject'), ENABLED_STR],
  ['sidecarInjectorWebhook.alwaysInjectSelector', p2('proxy.injection.alwaysInjectSelector'), LIST],
  ['sidecarInjectorWebhook.neverInjectSelector', p2('proxy.injection.neverInjectSelector'), LIST],
  ['sidecarInjectorWebhook.injectedAnnotations', p2('proxy.injection.injectedAnnotations'), OBJ],
  ['global.proxy.adminPort', p2('proxy.adminPort'), INT],
  ['global.proxy.concurrency', p2('proxy.concurrency'), INT],
  ['global.proxy.accessLogFile', p2('proxy.accessLogging.file.name'), STR],
  ['global.proxy.accessLogEncoding', p2('proxy.accessLogging.file.encoding'), STR],
  ['global.proxy.accessLogFormat', p2('proxy.accessLogging.file.format'), STR],
  ['global.proxy.envoyAccessLogService.enabled', p2('proxy.accessLogging.envoyService.enabled'), BOOL],
  ['global.proxy.envoyMetricsService.enabled', p2('proxy.envoyMetricsService.enabled'), BOOL],
  // security
  ['global.mtls.enabled', p2('security.dataPlane.mtls'), BOOL],
  ['global.mtls.auto', p2('security.dataPlane.automtls'), BOOL],
  ['global.trustDomain', p2('security.trust.domain'), STR],
  ['global.trustDomainAliases', p2('security.trust.additionalDomains'), STR_LIST],
  ['global.controlPlaneSecurityEnabled', p2('security.controlPlane.mtls'), BOOL],
  ['global.pilotCertProvider', p2('security.controlPlane.certProvider'), enumCodec([['istiod', 'Istiod'], ['kubernetes', 'Kubernetes'], ['custom', 'Custom']], true)],
  ['global.tls.cipherSuites', p2('security.controlPlane.tls.cipherSuites'), CSV],
  ['global.tls.ecdhCurves', p2('security.controlPlane.tls.ecdhCurves'), CSV],
  ['global.tls.minProtocolVersion', p2('security.controlPlane.tls.minProtocolVersion'), STR],
  ['global.tls.maxProtocolVersion', p2('security.controlPlane.tls.maxProtocolVersion'), STR],
  ['global.jwtPolicy', p2('security.identity.type'), enumCodec([['first-party-jwt', 'Kubernetes'], ['third-party-jwt', 'ThirdParty']])],
  ['global.sds.token.aud', p2('security.identity.thirdParty.audience'), STR],
  ['pilot.ca.implementation', p2(`${CA}.type`), enumCodec([['Istiod', 'Istiod'], ['Custom', 'Custom']])],
  ['global.caAddress', p2(`${CA}.custom.address`), STR],
  ['security.selfSigned', p2(`${CA}.istiod.type`), boolEnum('SelfSigned', 'PrivateKey')],
  ['pilot.env.DEFAULT_WORKLOAD_CERT_TTL', p2(`${CA}.istiod.workloadCertTTLDefault`), STR],
  ['pilot.env.MAX_WORKLOAD_CERT_TTL', p2(`${CA}.istiod.workloadCertTTLMax`), STR],
  ['pilot.env.ROOT_CA_DIR', p2(`${CA}.istiod.privateKey.rootCADir`), STR],
  ['pilot.env.CITADEL_SELF_SIGNED_CA_CERT_TTL', p2(`${CA}.istiod.selfSigned.ttl`), STR],
  ['pilot.env.CITADEL_SELF_SIGNED_ROOT_CERT_GRACE_PERIOD_PERCENTILE', p2(`${CA}.istiod.selfSigned.gracePeriod`), STR],
  ['pilot.env.CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL', p2(`${CA}.istiod.selfSigned.checkPeriod`), STR],
  // tracing (the type is mapped by tracerType)
  ['pilot.traceSampling', p2('tracing.sampling'), SAMPLING],
  // addons
  ['prometheus.enabled', p2('addons.prometheus.enabled'), BOOL],
  ['prometheus.retention', p2('addons.prometheus.install.retention'), STR],
  ['prometheus.scrapeInterval', p2('addons.prometheus.install.scrapeInterval'), STR],
  ['prometheus.provisionPrometheusCert', p2('addons.prometheus.install.useTLS'), BOOL],
  ['meshConfig.enablePrometheusMerge', p2('addons.prometheus.scrape'), BOOL],
  ['kiali.prometheusAddr', p2('addons.prometheus.address'), STR],
  ['mixer.adapters.prometheus.metricsExpiryDuration', p2('addons.prometheus.metricsExpiryDuration'), STR],
  ['grafana.enabled', p2('addons.grafana.enabled'), BOOL],
  ['kiali.dashboard.grafanaURL', p2('addons.grafana.address'), STR],
  ['grafana.env', p2('addons.grafana.install.config.env'), OBJ],
  ['grafana.envSecrets', p2('addons.grafana.install.config.envSecrets'), OBJ],
  ['grafana.persist', p2('addons.grafana.install.persistence.enabled'), BOOL],
  ['grafana.storageClassName', p2('addons.grafana.install.persistence.storageClassName'), STR],
  ['grafana.accessMode', p2('addons.grafana.install.persistence.accessMode'), STR],
  ['kiali.enabled', p2('addons.kiali.enabled'), BOOL],
  ['kiali.resourceName', p2('addons.kiali.name'), STR],
  ['kiali.dashboard.viewOnlyMode', p2('addons.kiali.install.dashboard.viewOnly'), BOOL],
  ['kiali.dashboard.enableGrafana', p2('addons.kiali.install.dashboard.enableGrafana'), BOOL],
  ['kiali.dashboard.enablePrometheus', p2('addons.kiali.install.dashboard.enablePrometheus'), BOOL],
  ['kiali.dashboard.enableTracing', p2('addons.kiali.install.dashboard.enableTracing'), BOOL],
  ['tracing.jaeger.resourceName', p2('addons.jaeger.name'), STR],
  ['tracing.jaeger.template', p2('addons.jaeger.install.storage.type'), enumCodec([['all-in-one', 'Memory'], ['production-elasticsearch', 'Elasticsearch']])],
  ['tracing.jaeger.memory.max_traces', p2('addons.jaeger.install.storage.memory.maxTraces'), INT],
  ['tracing.jaeger.elasticsearch.nodeCount', p2('addons.jaeger.install.storage.elasticsearch.nodeCount'), INT],
  ['tracing.jaeger.elasticsearch.storage', p2('addons.jaeger.install.storage.elasticsearch.storage'), OBJ],
  ['tracing.jaeger.elasticsearch.redundancyPolicy', p2('addons.jaeger.install.storage.elasticsearch.redundancyPolicy'), STR],
  ['tracing.jaeger.esIndexCleaner', p2('addons.jaeger.install.storage.elasticsearch.indexCleaner'), OBJ],
  ['tracing.ingress.enabled', p2('addons.jaeger.install.ingress.enabled'), BOOL],
  // The 3scale chart's values live in spec.threeScale; they are read under "3scale".
  ['3scale.enabled', ['addons', '3scale', 'enabled'], BOOL],
  ...THREESCALE_PARAMS.map(([v1, v2, codec]) => [`3scale.${v1}`, ['addons', '3scale', ...v2.split('.')], codec] as const),
  // runtime
  ['global.defaultResources', p2('runtime.defaults.container.resources'), OBJ],
  ['global.hub', p2('runtime.defaults.container.imageRegistry'), STR],
  ['global.tag', p2('runtime.defaults.container.imageTag'), STR],
  ['global.imagePullPolicy', p2('runtime.defaults.container.imagePullPolicy'), STR],
  ['global.imagePullSecrets', p2('runtime.defaults.container.imagePullSecrets'), PULL_SECRETS],
  ['global.defaultNodeSelector', p2('runtime.defaults.pod.nodeSelector'), OBJ],
  ['global.defaultTolerations', p2('runtime.defaults.pod.tolerations'), LIST],
  ['global.priorityClassName', p2('runtime.defaults.pod.priorityClassName'), STR],
  ['global.defaultPodDisruptionBudget.enabled', p2('runtime.defaults.deployment.podDisruption.enabled'), BOOL],
  ...componentRows(),
];

/** Gateway fields, relative to gateways.<name> (v1) and to the gateway's v2 object. */
const GATEWAY_ROWS: readonly Row[] = [
  ['enabled', ['enabled'], BOOL],
  ['namespace', ['namespace'], STR],
  ['type', p2('service.type'), STR],
  ['ports', p2('service.ports'), LIST],
  ['loadBalancerIP', p2('service.loadBalancerIP'), STR],
  ['loadBalancerSourceRanges', p2('service.loadBalancerSourceRanges'), STR_LIST],
  ['externalTrafficPolicy', p2('service.externalTrafficPolicy'), STR],
  ['labels', p2('service.metadata.labels'), OBJ],
  ['serviceAnnotations', p2('service.metadata.annotations'), OBJ],
  ['env.ISTIO_META_ROUTER_MODE', ['routerMode'], STR],
  ['replicaCount', p2('runtime.deployment.replicas'), INT],
  ['autoscaleEnabled', p2('runtime.deployment.autoScaling.enabled'), BOOL],
  ['autoscaleMin', p2('runtime.deployment.autoScaling.minReplicas'), INT],
  ['autoscaleMax', p2('runtime.deployment.autoScaling.maxReplicas'), INT],
  ['cpu.targetAverageUtilization', p2('runtime.deployment.autoScaling.targetCPUUtilizationPercentage'), INT],
  ['nodeSelector', p2('runtime.pod.nodeSelector'), OBJ],
  ['tolerations', p2('runtime.pod.tolerations'), LIST],
  ['podAnnotations', p2('runtime.pod.metadata.annotations'), OBJ],
  ['resources', p2('runtime.container.resources'), OBJ],
];
const INGRESS_GATEWAY_ROWS: readonly Row[] = [['sds.enabled', p2('sds.enabled'), BOOL]];
const EGRESS_GATEWAY_ROWS: readonly Row[] = [['env.ISTIO_META_REQUESTED_NETWORK_VIEW', ['requestedNetworkView'], CSV]];

function rowsToV2(values: unknown, out: Obj, rows: readonly Row[], v2Base: readonly string[] = []): void {
  for (const [v1, v2, codec] of rows) {
    const target = [...v2Base, ...v2];
    if (getIn(out, target) !== undefined) continue; // an earlier row already supplied it
    const raw = getIn(values, p2(v1));
    if (raw === undefined) continue;
    const v = codec.toV2(raw);
    if (v !== undefined) setIn(out, target, v);
  }
}

function rowsToV1(spec: unknown, values: Obj, rows: readonly Row[], v1Base: readonly string[] = []): void {
  for (const [v1, v2, codec] of rows) {
    const raw = getIn(spec, v2);
    if (raw === undefined) continue;
    const v = codec.toV1(raw);
    if (v !== undefined) setIn(values, [...v1Base, ...p2(v1)], v);
  }
}

const TRACERS: ReadonlyArray<readonly [string, string]> = [['none', 'None'], ['jaeger', 'Jaeger'], ['zipkin', 'Jaeger'], ['stackdriver', 'Stackdriver']];
const IMPLEMENTATIONS = ['None', 'Istiod', 'Mixer', 'Remote'];

function isV1x(version: unknown): boolean {
  return version === 'v1.0' || version === 'v1.1' || version === undefined || version === '';
}

function typeFromV1(values: Obj, area: 'policy' | 'telemetry', version: unknown): string | undefined {
  const impl = getIn(values, [area, 'implementation']);
  if (isStr(impl) && IMPLEMENTATIONS.includes(impl as string)) return impl as string;
  const remote = getIn(values, ['global', 'istioRemote']) === true;
  const remoteAddress = asString(getIn(values, ['global', area === 'policy' ? 'remotePolicyAddress' : 'remoteTelemetryAddress']));
  if (!isV1x(version)) return remote || remoteAddress ? 'Remote' : undefined;
  const mixer = getIn(values, ['mixer', area, 'enabled']);
  if (remote) return 'Remote';
  if (mixer === true) return 'Mixer';
  if (mixer === false) return 'None';
  return undefined;
}

function gatewayToV2(name: string, g: Obj, out: Obj): void {
  if (name === 'istio-ilbgateway') return; // mesh expansion's gateway: part of the cluster settings
  const egress = name === 'istio-egressgateway' || (name !== 'istio-ingressgateway' && (g.gatewayType === 'egress' || getIn(g, ['env', 'ISTIO_META_REQUESTED_NETWORK_VIEW']) !== undefined));
  const base = name === 'istio-ingressgateway' ? ['gateways', 'ingress'] : name === 'istio-egressgateway' ? ['gateways', 'egress'] : ['gateways', egress ? 'additionalEgress' : 'additionalIngress', name];
  if (getIn(out, base) === undefined) setIn(out, base, {});
  rowsToV2(g, out, [...GATEWAY_ROWS, ...(egress ? EGRESS_GATEWAY_ROWS : INGRESS_GATEWAY_ROWS)], base);
  const volumes: Obj[] = [];
  for (const [list, kind] of [['secretVolumes', 'secret'], ['configVolumes', 'configMap']] as const) {
    for (const raw of asArray(g[list])) {
      const v = asObject(raw);
      if (!v) continue;
      const source = kind === 'secret' ? defined({ secretName: v.secretName }) : defined({ name: v.configMapName });
      volumes.push({ volume: { [kind]: source }, volumeMount: defined({ name: v.name, mountPath: v.mountPath }) });
    }
  }
  if (volumes.length > 0) setIn(out, [...base, 'volumes'], volumes);
  if (name === 'istio-ingressgateway') {
    if (isBool(g.ior_enabled)) setIn(out, ['gateways', 'openshiftRoute', 'enabled'], g.ior_enabled);
    if (Array.isArray(g.meshExpansionPorts)) setIn(out, [...base, 'meshExpansionPorts'], clone(g.meshExpansionPorts));
  }
}

function gatewayToV1(name: string, gw: unknown, egress: boolean, values: Obj): void {
  const g = asObject(gw);
  if (!g) return;
  const base = ['gateways', name];
  const gv: Obj = {};
  rowsToV1(g, gv, [...GATEWAY_ROWS, ...(egress ? EGRESS_GATEWAY_ROWS : INGRESS_GATEWAY_ROWS)]);
  const secretVolumes: Obj[] = [];
  const configVolumes: Obj[] = [];
  for (const raw of asArray(g.volumes)) {
    const v = asObject(raw);
    const vol = asObject(v?.volume);
    const mount = asObject(v?.volumeMount);
    if (!vol) continue;
    const secret = asObject(vol.secret);
    const cm = asObject(vol.configMap);
    if (secret) secretVolumes.push(defined({ name: mount?.name, secretName: secret.secretName, mountPath: mount?.mountPath }));
    else if (cm) configVolumes.push(defined({ name: mount?.name, configMapName: cm.name, mountPath: mount?.mountPath }));
  }
  if (secretVolumes.length > 0) gv.secretVolumes = secretVolumes;
  if (configVolumes.length > 0) gv.configVolumes = configVolumes;
  if (name === 'istio-ingressgateway' && Array.isArray(g.meshExpansionPorts)) gv.meshExpansionPorts = clone(g.meshExpansionPorts);
  // The operator always writes these so that the gateway's kind survives the trip back.
  gv.name = name;
  gv.gatewayType = egress ? 'egress' : 'ingress';
  for (const [k, v] of Object.entries(gv)) setIn(values, [...base, k], v);
}

/**
 * Maps a v1 spec (Helm values) to a v2 spec for the fields that have counterparts, as the
 * operator's conversion does. Lossy on its own; convertSmcpV1ToV2 keeps the rest. Pure.
 */
export function smcpV1SpecToV2(v1spec: unknown): SmcpV2Spec | undefined {
  const spec = asObject(v1spec);
  if (!spec) return undefined;
  const out: Obj = {};
  if (isStr(spec.version)) out.version = spec.version;
  if (isStrList(spec.profiles)) out.profiles = clone(spec.profiles);
  else if (isStr(spec.template) && spec.template !== '') out.profiles = [spec.template];

  const values: Obj = clone(asObject(spec.istio)) ?? {};
  const threeScale = asObject(spec.threeScale);
  if (threeScale) define(values, '3scale', clone(threeScale));
  const tp = asObject(values.techPreview);
  if (tp && Object.keys(tp).length > 0) out.techPreview = clone(tp);

  rowsToV2(values, out, ROWS);

  const initType = getIn(values, ['global', 'proxy', 'initType']);
  const cni = getIn(values, ['istio_cni', 'enabled']);
  if (initType === 'CNI' || initType === 'InitContainer') setIn(out, p2('proxy.networking.initialization.type'), initType);
  else if (isBool(cni)) setIn(out, p2('proxy.networking.initialization.type'), cni ? 'CNI' : 'InitContainer');

  for (const area of ['policy', 'telemetry'] as const) {
    const t = typeFromV1(values, area, spec.version);
    if (t) setIn(out, [area, 'type'], t);
  }

  const provider = asString(getIn(values, ['tracing', 'provider'])) || asString(getIn(values, ['global', 'proxy', 'tracer']));
  const tracer = provider ? enumCodec(TRACERS, true).toV2(provider) : undefined;
  const tracingEnabled = getIn(values, ['tracing', 'enabled']);
  if (tracer) setIn(out, ['tracing', 'type'], tracer);
  else if (isBool(tracingEnabled)) setIn(out, ['tracing', 'type'], tracingEnabled ? 'Jaeger' : 'None');

  const gateways = asObject(values.gateways);
  if (gateways) {
    if (isBool(gateways.enabled)) setIn(out, ['gateways', 'enabled'], gateways.enabled);
    for (const [name, g] of Object.entries(gateways)) {
      const gw = asObject(g);
      if (name !== 'enabled' && gw && Object.keys(gw).length > 0) gatewayToV2(name, gw, out);
    }
  }
  const k8sIngress = getIn(values, ['global', 'k8sIngress', 'enabled']);
  if (isBool(k8sIngress)) setIn(out, ['gateways', 'ingress', 'ingress'], k8sIngress);
  return out as SmcpV2Spec;
}

/**
 * Maps a v2 spec to a v1 spec (Helm values under `istio`, 3scale values under `threeScale`) for
 * the fields that have counterparts, as the operator's conversion does. Lossy on its own;
 * convertSmcpV2ToV1 keeps the rest. Pure.
 */
export function smcpV2SpecToV1(v2spec: unknown): Obj | undefined {
  const spec = asObject(v2spec);
  if (!spec) return undefined;
  const out: Obj = {};
  if (isStr(spec.version)) out.version = spec.version;
  if (isStrList(spec.profiles)) {
    out.profiles = clone(spec.profiles);
    if ((spec.profiles as string[]).length === 1) out.template = (spec.profiles as string[])[0];
  }
  // As the operator does, tech preview values are the base the real settings are written over.
  const values: Obj = {};
  const tp = asObject(spec.techPreview);
  if (tp && Object.keys(tp).length > 0) define(values, 'techPreview', clone(tp));

  rowsToV1(spec, values, ROWS);

  const init = getIn(spec, p2('proxy.networking.initialization.type'));
  if (init === 'CNI' || init === 'InitContainer') {
    setIn(values, ['global', 'proxy', 'initType'], init);
    setIn(values, ['istio_cni', 'enabled'], init === 'CNI');
  }

  const v1x = isV1x(spec.version) && spec.version !== undefined && spec.version !== '';
  const policyType = asString(getIn(spec, ['policy', 'type']));
  if (policyType && IMPLEMENTATIONS.includes(policyType)) {
    setIn(values, ['policy', 'implementation'], policyType);
    setIn(values, ['mixer', 'policy', 'enabled'], policyType === 'Mixer');
    if (v1x) setIn(values, ['global', 'istioRemote'], policyType === 'Remote');
  }
  const telemetryType = asString(getIn(spec, ['telemetry', 'type']));
  if (telemetryType && IMPLEMENTATIONS.includes(telemetryType)) {
    setIn(values, ['telemetry', 'implementation'], telemetryType);
    setIn(values, ['mixer', 'telemetry', 'enabled'], telemetryType === 'Mixer');
    if (v1x) setIn(values, ['global', 'istioRemote'], telemetryType === 'Remote');
    else {
      setIn(values, ['telemetry', 'enabled'], telemetryType !== 'None');
      setIn(values, ['telemetry', 'v1', 'enabled'], telemetryType === 'Mixer' || telemetryType === 'Remote');
      setIn(values, ['telemetry', 'v2', 'enabled'], telemetryType === 'Istiod');
    }
  }

  const tracer = asString(getIn(spec, ['tracing', 'type']));
  if (tracer === 'None' || tracer === 'Jaeger' || tracer === 'Stackdriver') {
    setIn(values, ['tracing', 'provider'], tracer.toLowerCase());
    setIn(values, ['tracing', 'enabled'], tracer !== 'None');
    setIn(values, ['global', 'enableTracing'], tracer !== 'None');
    setIn(values, ['global', 'proxy', 'tracer'], tracer === 'Jaeger' ? 'zipkin' : tracer.toLowerCase());
  }

  const gws = asObject(spec.gateways);
  if (gws) {
    if (isBool(gws.enabled)) setIn(values, ['gateways', 'enabled'], gws.enabled);
    gatewayToV1('istio-ingressgateway', gws.ingress, false, values);
    gatewayToV1('istio-egressgateway', gws.egress, true, values);
    for (const [name, g] of Object.entries(asObject(gws.additionalIngress) ?? {})) gatewayToV1(name, g, false, values);
    for (const [name, g] of Object.entries(asObject(gws.additionalEgress) ?? {})) gatewayToV1(name, g, true, values);
    const ior = asObject(gws.openshiftRoute)?.enabled;
    if (isBool(ior)) setIn(values, ['gateways', 'istio-ingressgateway', 'ior_enabled'], ior);
    const k8sIngress = asObject(gws.ingress)?.ingress;
    if (isBool(k8sIngress)) setIn(values, ['global', 'k8sIngress', 'enabled'], k8sIngress);
  }

  const threeScale = asObject(values['3scale']);
  if (threeScale) {
    out.threeScale = threeScale;
    delete values['3scale'];
  }
  if (Object.keys(values).length > 0) out.istio = values;
  return out;
}

function copyFields(from: Obj, to: Obj, keys: readonly string[]): void {
  for (const k of keys) if (Object.hasOwn(from, k)) define(to, k, clone(from[k]));
}

const SHARED_STATUS = ['annotations', 'conditions', 'components', 'observedGeneration'] as const;

/** v1 status → v2 status: conditions, components, annotations and generation as they are (MAISTRA-1979). */
export function smcpV1StatusToV2(status: unknown): Obj | undefined {
  const s = asObject(status);
  if (!s) return undefined;
  const out: Obj = {};
  copyFields(s, out, SHARED_STATUS);
  const rv = asString(s.reconciledVersion);
  const dash = rv?.lastIndexOf('-') ?? -1;
  if (rv !== undefined && dash > 0) out.operatorVersion = rv.slice(0, dash);
  const applied = asObject(s.lastAppliedConfiguration);
  if (applied) {
    out.appliedValues = clone(applied);
    const appliedSpec = smcpV1SpecToV2(applied);
    if (appliedSpec && Object.keys(appliedSpec).length > 0) out.appliedSpec = appliedSpec;
  }
  return out;
}

/** v2 status → v1 status. */
export function smcpV2StatusToV1(status: unknown): Obj | undefined {
  const s = asObject(status);
  if (!s) return undefined;
  const out: Obj = {};
  copyFields(s, out, SHARED_STATUS);
  const ov = asString(s.operatorVersion);
  if (ov) out.reconciledVersion = `${ov}-${typeof s.observedGeneration === 'number' ? s.observedGeneration : 0}`;
  const applied = asObject(s.appliedValues);
  if (applied) out.lastAppliedConfiguration = clone(applied);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Whole-object conversion.

interface Direction {
  apiVersion: string;
  spec(spec: unknown): unknown;
  status(status: unknown): unknown;
  /** The mappings of the opposite direction: what the next conversion back will compute. */
  backSpec(spec: unknown): unknown;
  backStatus(status: unknown): unknown;
  /** Annotation holding data to rebuild the target form (consumed from the input). */
  consume: string;
  /** Annotation this conversion writes for the way back. */
  produce: string;
}

function convert(obj: unknown, dir: Direction): Obj {
  if (!isObject(obj)) throw new TypeError('a ServiceMeshControlPlane must be an object');
  const src = clone(obj);
  const meta = asObject(src.metadata);
  const annotations = asObject(meta?.annotations);
  let restore: RestoreData = {};
  if (annotations) {
    restore = parseRestore(annotations[dir.consume]) ?? {};
    delete annotations[dir.consume];
    delete annotations[dir.produce]; // stale: it described an older object
    if (restore.shape && Object.keys(annotations).length === 0) delete meta!.annotations;
    if (restore.shape === 'no-metadata' && Object.keys(meta!).length === 0) delete src.metadata;
  }

  const spec = applyRestore(dir.spec(src.spec), restore.spec ?? []);
  const status = applyRestore(dir.status(src.status), restore.status ?? []);

  const out: Obj = {};
  for (const [k, v] of Object.entries(src)) if (k !== 'spec' && k !== 'status') define(out, k, v);
  out.apiVersion = dir.apiVersion;
  if (spec !== undefined) out.spec = spec;
  if (status !== undefined) out.status = status;

  // Whatever the way back would not reproduce goes into the annotation.
  const data: RestoreData = {};
  const specOps = diffJson(dir.backSpec(spec) ?? ABSENT, src.spec === undefined ? ABSENT : src.spec);
  const statusOps = diffJson(dir.backStatus(status) ?? ABSENT, src.status === undefined ? ABSENT : src.status);
  if (specOps.length > 0) data.spec = specOps;
  if (statusOps.length > 0) data.status = statusOps;
  if (data.spec || data.status) {
    let m = asObject(out.metadata);
    if (!m) {
      data.shape = 'no-metadata';
      m = {};
      out.metadata = m;
    } else if (!asObject(m.annotations)) data.shape = 'no-annotations';
    let a = asObject(m.annotations);
    if (!a) {
      a = {};
      m.annotations = a;
    }
    define(a, dir.produce, JSON.stringify(data));
  }
  return out;
}

const TO_V2: Direction = {
  apiVersion: 'maistra.io/v2',
  spec: smcpV1SpecToV2,
  status: smcpV1StatusToV2,
  backSpec: smcpV2SpecToV1,
  backStatus: smcpV2StatusToV1,
  consume: V2_RESTORE_ANNOTATION,
  produce: V1_RESTORE_ANNOTATION,
};

const TO_V1: Direction = {
  apiVersion: 'maistra.io/v1',
  spec: smcpV2SpecToV1,
  status: smcpV2StatusToV1,
  backSpec: smcpV1SpecToV2,
  backStatus: smcpV1StatusToV2,
  consume: V1_RESTORE_ANNOTATION,
  produce: V2_RESTORE_ANNOTATION,
};

/**
 * Converts a maistra.io/v1 ServiceMeshControlPlane to maistra.io/v2. Mapped fields appear in v2
 * form; status conditions, components, annotations and observedGeneration are carried over; what
 * has no v2 counterpart is kept in the `conversion.meltemi.io/v1-restore` annotation, so that
 * converting the result back gives the input exactly. Fields edited in v2 in between keep the
 * edit. Pure: the input is not modified. Throws TypeError only for a non-object.
 */
export function convertSmcpV1ToV2(obj: unknown): Obj {
  return convert(obj, TO_V2);
}

/** Converts a maistra.io/v2 ServiceMeshControlPlane to maistra.io/v1; the mirror of convertSmcpV1ToV2. */
export function convertSmcpV2ToV1(obj: unknown): Obj {
  return convert(obj, TO_V1);
}
