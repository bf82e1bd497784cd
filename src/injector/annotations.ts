// The pod annotations sidecar injection reads (Istio 1.6 / Maistra 2.0 names), what each does in Meltemi, and their validation: every bad value reported at once.
import { parseQuantity } from '../api/kinds/service-mesh-control-plane.js';
import { parseDuration } from '../api/common.js';
import { ANNOTATIONS as TRAFFIC, interceptionFromAnnotations, interceptionMode } from '../cni/iptables.js';
import { isMeshError } from '../shared/errors.js';
import { parse as parseYaml } from 'yaml';

/** Annotation names, by what they control. */
export const A = Object.freeze({
  inject: 'sidecar.istio.io/inject',
  status: 'sidecar.istio.io/status',
  interceptionMode: TRAFFIC.interceptionMode,
  includeOutboundIPRanges: TRAFFIC.includeOutboundIpRanges,
  excludeOutboundIPRanges: TRAFFIC.excludeOutboundIpRanges,
  includeInboundPorts: TRAFFIC.includeInboundPorts,
  excludeInboundPorts: TRAFFIC.excludeInboundPorts,
  excludeOutboundPorts: TRAFFIC.excludeOutboundPorts,
  kubevirtInterfaces: 'traffic.sidecar.istio.io/kubevirtInterfaces',
  proxyUID: TRAFFIC.proxyUid,
  proxyGID: TRAFFIC.proxyGid,
  statusPort: TRAFFIC.statusPort,
  readinessInitialDelaySeconds: 'readiness.status.sidecar.istio.io/initialDelaySeconds',
  readinessPeriodSeconds: 'readiness.status.sidecar.istio.io/periodSeconds',
  readinessFailureThreshold: 'readiness.status.sidecar.istio.io/failureThreshold',
  proxyCPU: 'sidecar.istio.io/proxyCPU',
  proxyMemory: 'sidecar.istio.io/proxyMemory',
  proxyCPULimit: 'sidecar.istio.io/proxyCPULimit',
  proxyMemoryLimit: 'sidecar.istio.io/proxyMemoryLimit',
  proxyImage: 'sidecar.istio.io/proxyImage',
  proxyEnv: 'sidecar.maistra.io/proxyEnv',
  proxyConfig: 'proxy.istio.io/config',
  mergeMetrics: 'prometheus.istio.io/merge-metrics',
  logLevel: 'sidecar.istio.io/logLevel',
  componentLogLevel: 'sidecar.istio.io/componentLogLevel',
  rewriteAppHTTPProbers: 'sidecar.istio.io/rewriteAppHTTPProbers',
  controlPlaneAuthPolicy: 'sidecar.istio.io/controlPlaneAuthPolicy',
  discoveryAddress: 'sidecar.istio.io/discoveryAddress',
  bootstrapOverride: 'sidecar.istio.io/bootstrapOverride',
  statsInclusionPrefixes: 'sidecar.istio.io/statsInclusionPrefixes',
  statsInclusionSuffixes: 'sidecar.istio.io/statsInclusionSuffixes',
  statsInclusionRegexps: 'sidecar.istio.io/statsInclusionRegexps',
  userVolume: 'sidecar.istio.io/userVolume',
  userVolumeMount: 'sidecar.istio.io/userVolumeMount',
  enableCoreDump: 'sidecar.istio.io/enableCoreDump',
  capNetBindService: 'sidecar.istio.io/capNetBindService',
  networks: 'k8s.v1.cni.cncf.io/networks',
  prometheusScrape: 'prometheus.io/scrape',
  prometheusPort: 'prometheus.io/port',
  prometheusPath: 'prometheus.io/path',
});

/**
 * Annotations Istio 1.6 accepts that change nothing in Meltemi, with the reason. Injection succeeds
 * and the result carries a warning naming each one present, so nobody believes it took effect.
 */
export const WITHOUT_EFFECT: Readonly<Record<string, string>> = Object.freeze({
  [A.proxyImage]: 'the local runtime runs `meltemi proxy`, not an image (the annotation is kept on the pod)',
  [A.logLevel]: '`meltemi proxy` has no Envoy log levels',
  [A.componentLogLevel]: '`meltemi proxy` has no Envoy log levels',
  [A.controlPlaneAuthPolicy]: 'deprecated in Istio 1.6; the control plane connection is set by the injection context',
  [A.discoveryAddress]: 'Istio 1.6 reads the discovery address from the mesh config, not from this annotation',
  [A.bootstrapOverride]: '`meltemi proxy` has no Envoy bootstrap to override',
  [A.statsInclusionPrefixes]: '`meltemi proxy` keeps its own fixed set of statistics',
  [A.statsInclusionSuffixes]: '`meltemi proxy` keeps its own fixed set of statistics',
  [A.statsInclusionRegexps]: '`meltemi proxy` keeps its own fixed set of statistics',
  [A.userVolume]: 'the injected sidecar mounts no volumes',
  [A.userVolumeMount]: 'the injected sidecar mounts no volumes',
  [A.enableCoreDump]: 'no core dump init container is added',
  [A.capNetBindService]: 'the sidecar binds no port below 1024',
  [A.kubevirtInterfaces]: 'the CNI plugin does not capture KubeVirt interfaces',
});

/** Every annotation name injection knows; others containing "istio" are reported as possibly misspelt, as Istio logs them. */
const KNOWN: ReadonlySet<string> = new Set(Object.values(A));

const TRUTHY_BOOL = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSY_BOOL = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's strconv.ParseBool, which Istio uses for boolean annotations; undefined when the text is not a boolean. */
export function parseGoBool(value: string): boolean | undefined {
  if (TRUTHY_BOOL.has(value)) return true;
  if (FALSY_BOOL.has(value)) return false;
  return undefined;
}

/** An unsigned 32-bit integer as Istio's validateUInt32 reads it (decimal digits only). */
export function parseUint32(value: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= 0xffffffff ? n : undefined;
}

/**
 * The `proxy.istio.io/config` annotation (a ProxyConfig in YAML): Meltemi honours
 * `terminationDrainDuration` (the proxy's drain time after SIGTERM); other fields are accepted and
 * reported as having no effect. Returns the drain time in seconds when given.
 */
export function parseProxyConfigAnnotation(value: string, problems: string[], warnings: string[]): number | undefined {
  let doc: unknown;
  try {
    doc = parseYaml(value);
  } catch (e) {
    problems.push(`annotation ${A.proxyConfig}: not valid YAML (${(e as Error).message.split('\n')[0]}) (the value must be a ProxyConfig object, e.g. "terminationDrainDuration: 10s")`);
    return undefined;
  }
  if (doc === null || doc === undefined) return undefined;
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push(`annotation ${A.proxyConfig}: "${value}" is not a ProxyConfig object (e.g. "terminationDrainDuration: 10s")`);
    return undefined;
  }
  let drainSeconds: number | undefined;
  const ignored: string[] = [];
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (k !== 'terminationDrainDuration') {
      ignored.push(k);
      continue;
    }
    const ms = typeof v === 'string' ? parseDuration(v) : undefined;
    if (ms === undefined || ms < 0) problems.push(`annotation ${A.proxyConfig}: terminationDrainDuration "${String(v)}" is not a duration (the value must be like 5s or 1m30s)`);
    else drainSeconds = ms / 1000;
  }
  if (ignored.length > 0) warnings.push(`annotation ${A.proxyConfig}: ${ignored.join(', ')} ${ignored.length > 1 ? 'have' : 'has'} no effect in Meltemi (only terminationDrainDuration is read)`);
  return drainSeconds;
}

/** The `sidecar.maistra.io/proxyEnv` annotation: a JSON object of environment variables for the proxy (Maistra extension). */
export function parseProxyEnv(value: string, problems: string[]): Record<string, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    doc = undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    problems.push(`annotation ${A.proxyEnv}: "${value}" is not a JSON object (the value must be like {"NAME": "value"})`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(k)) problems.push(`annotation ${A.proxyEnv}: "${k}" is not an environment variable name`);
    else if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') problems.push(`annotation ${A.proxyEnv}: the value of ${k} must be a string`);
    else out[k] = String(v);
  }
  return out;
}

/**
 * Checks a pod's annotations as Istio's injector does before it injects (its AnnotationValidation
 * table), plus the ones Meltemi maps onto the proxy: interception (via the CNI plugin's own parser,
 * so both refuse the same values), readiness probe settings (unsigned integers), resource
 * quantities, booleans, `sidecar.maistra.io/proxyEnv` JSON and `proxy.istio.io/config` YAML.
 * Returns every problem, each naming the annotation, the value and the rule, and warnings for
 * annotations that have no effect or look misspelt. Pure.
 */
export function checkInjectionAnnotations(annotations: Readonly<Record<string, string>>): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const get = (name: string): string | undefined => annotations[name];

  // Interception: the same parser the CNI plugin runs, so a pod injection accepts is one the plugin accepts.
  try {
    interceptionMode({ ...annotations });
  } catch (e) {
    if (!isMeshError(e)) throw e;
    problems.push(e.message);
  }
  try {
    const withoutMode = { ...annotations };
    delete withoutMode[A.interceptionMode];
    interceptionFromAnnotations(withoutMode);
  } catch (e) {
    if (!isMeshError(e)) throw e;
    problems.push(...e.message.split('\n').slice(1).map((l) => l.trim()).filter((l) => l !== ''));
  }

  for (const name of [A.readinessInitialDelaySeconds, A.readinessPeriodSeconds, A.readinessFailureThreshold]) {
    const v = get(name);
    if (v !== undefined && parseUint32(v) === undefined) problems.push(`annotation ${name}: "${v}" is not an unsigned integer (the value must be a number of ${name.endsWith('Threshold') ? 'probes' : 'seconds'}, 0..4294967295)`);
  }
  for (const name of [A.proxyCPU, A.proxyMemory, A.proxyCPULimit, A.proxyMemoryLimit]) {
    const v = get(name);
    if (v === undefined) continue;
    const q = parseQuantity(v);
    if (q === undefined || q < 0) problems.push(`annotation ${name}: "${v}" is not a resource quantity (the value must be like ${name.includes('CPU') ? '100m or 2' : '128Mi or 1Gi'})`);
  }
  for (const name of [A.enableCoreDump, A.mergeMetrics, A.rewriteAppHTTPProbers]) {
    const v = get(name);
    if (v !== undefined && parseGoBool(v) === undefined) problems.push(`annotation ${name}: "${v}" is not a boolean (the value must be true or false)`);
  }
  const env = get(A.proxyEnv);
  if (env !== undefined) parseProxyEnv(env, problems);
  const pc = get(A.proxyConfig);
  if (pc !== undefined) parseProxyConfigAnnotation(pc, problems, warnings);

  for (const name of Object.keys(annotations).sort()) {
    const why = WITHOUT_EFFECT[name];
    if (why !== undefined) warnings.push(`annotation ${name} has no effect in Meltemi: ${why}`);
    else if (!KNOWN.has(name) && name.includes('istio')) warnings.push(`annotation ${name} is not one the injector knows (misspelt?)`);
  }
  return { problems, warnings };
}
