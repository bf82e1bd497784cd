// Sidecar injection as a pure function pod → pod, shaped like Maistra 2.0's injection template and webhook, with `meltemi proxy` as the sidecar; and the interception the CNI plugin applies to an injected pod.
import type { Container } from '../api/kinds/kubernetes-pod.js';
import { DEFAULT_INTERCEPTION, interceptionFromAnnotations, interceptionMode, type InterceptionSettings } from '../cni/iptables.js';
import { MeshError } from '../shared/errors.js';
import { A, checkInjectionAnnotations, parseGoBool, parseProxyConfigAnnotation, parseProxyEnv, parseUint32 } from './annotations.js';
import { MAISTRA_CNI_NETWORK, proxyDefaults, type InjectionContext, type NamespaceObject, type Pod, type ProxyDefaults } from './context.js';
import { injectionRequired } from './policy.js';
import { PROXY_NODE_OPTIONS } from '../shared/node-flags.js';

/** The injected container's name (Istio's ProxyContainerName). */
export const PROXY_CONTAINER_NAME = 'istio-proxy';
/** The proxy's UID and GID when nothing in the pod says otherwise (Istio's DefaultSidecarProxyUID). */
export const DEFAULT_PROXY_UID = 1337;
/** The `version` recorded in `sidecar.istio.io/status`: changes whenever the injected shape changes. */
export const INJECTION_VERSION = 'meltemi-injection-1';
/** Where the sidecar answers readiness (Envoy's health port in Istio 1.6). */
export const PROXY_HEALTH_PORT = 15021;
/** Envoy's Prometheus port, declared on the sidecar container as Istio does. */
export const PROXY_STATS_PORT = 15090;
/** The port the sidecar serves merged metrics on (Istio's agent status port). */
export const MERGED_METRICS_PORT = 15020;

/** Labels the injector adds (only where the pod does not already set them). */
export const INJECTED_LABELS = Object.freeze({
  tlsMode: 'security.istio.io/tlsMode',
  canonicalName: 'service.istio.io/canonical-name',
  canonicalRevision: 'service.istio.io/canonical-revision',
  revision: 'istio.io/rev',
});

/** What injection did: always a new pod object (a copy when nothing was injected). */
export interface InjectionResult {
  pod: Pod;
  injected: boolean;
  /** Why: the policy's reason, or what was injected. */
  reason: string;
  /** Annotations without effect in Meltemi, possibly misspelt ones, settings that could not apply. */
  warnings: string[];
}

/** Istio's `sidecar.istio.io/status` value: what injection added, so it can be recognised (and removed). */
export interface SidecarStatus {
  version: string;
  initContainers: string[] | null;
  containers: string[] | null;
  volumes: string[] | null;
  imagePullSecrets: string[] | null;
}

/**
 * The pod's Multus networks with the mesh's CNI network appended, as Maistra's `appendMultusNetwork`:
 * a plain list gets `, <name>`; a JSON list gets `{"name": "<name>"}` before its closing bracket.
 */
export function appendNetwork(existing: string | undefined, network: string): string {
  if (existing === undefined || existing === '') return network;
  const close = existing.lastIndexOf(']');
  if (close >= 0) return `${existing.slice(0, close)}, {"name": "${network}"}${existing.slice(close)}`;
  return `${existing}, ${network}`;
}

/** Istio's excludeInboundPort: the status port added to the excluded list unless present (or 0). */
function withStatusPort(statusPort: string, excluded: string): string {
  const port = statusPort.trim();
  if (port === '' || port === '0') return excluded;
  const parts = excluded.split(',');
  if (parts.includes(port)) return excluded;
  return [...parts.map((p) => p.trim()).filter((p) => p !== ''), port].join(',');
}

/** The pod's TCP container ports, comma-separated (Istio's includeInboundPorts template function). */
function containerPorts(pod: Pod): string {
  const out: string[] = [];
  for (const c of pod.spec.containers ?? []) for (const p of c.ports ?? []) if (p.protocol !== 'UDP' && p.protocol !== 'SCTP' && typeof p.containerPort === 'number') out.push(String(p.containerPort));
  return out.join(',');
}

function runAsUserOf(securityContext: unknown): number | undefined {
  const v = (securityContext as { runAsUser?: unknown } | undefined)?.runAsUser;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/**
 * The proxy's UID and the pod's fsGroup as Maistra's webhook picks them for OpenShift (INJ-04):
 * `sidecar.istio.io/proxyUID`; else one more than the largest runAsUser of the pod and its app
 * containers, with the pod's (or the first container's) runAsUser as group, so the proxy can read
 * the service account token; else 1337.
 */
function proxyIdentityIds(pod: Pod): { uid: number; fsGroup: number } {
  const annotated = pod.metadata.annotations?.[A.proxyUID];
  if (annotated !== undefined) {
    const uid = Number(annotated.trim());
    return { uid, fsGroup: DEFAULT_PROXY_UID };
  }
  let uid: number | undefined;
  let gid: number | undefined;
  const podUser = runAsUserOf(pod.spec.securityContext);
  if (podUser !== undefined) {
    uid = podUser + 1;
    gid = podUser;
  }
  for (const c of pod.spec.containers ?? []) {
    const u = runAsUserOf(c.securityContext);
    if (u === undefined) continue;
    if (uid === undefined || u + 1 > uid) uid = u + 1;
    if (gid === undefined) gid = u;
  }
  return { uid: uid ?? DEFAULT_PROXY_UID, fsGroup: gid ?? DEFAULT_PROXY_UID };
}

/**
 * The workload name Istio derives for canonical-service labels: the Deployment behind a generated
 * pod name (its ReplicaSet controller minus the pod-template-hash), else the controller, else the pod.
 */
function workloadName(pod: Pod): string {
  const meta = pod.metadata;
  if (meta.generateName) {
    const ref = (meta.ownerReferences ?? []).find((r) => r.controller === true);
    if (ref && typeof ref.name === 'string') {
      const hash = meta.labels?.['pod-template-hash'];
      if (ref.kind === 'ReplicaSet' && hash && ref.name.endsWith(`-${hash}`)) return ref.name.slice(0, -(hash.length + 1));
      return ref.name;
    }
  }
  return meta.name ?? '';
}

function canonicalLabels(pod: Pod): { name: string; revision: string } {
  const l = pod.metadata.labels ?? {};
  return {
    name: l[INJECTED_LABELS.canonicalName] ?? l['app.kubernetes.io/name'] ?? l.app ?? workloadName(pod),
    revision: l[INJECTED_LABELS.canonicalRevision] ?? l['app.kubernetes.io/version'] ?? l.version ?? 'latest',
  };
}

/**
 * The traffic annotations the injection template writes (Maistra 2.0's podRedirectAnnot): each
 * pod annotation, else the SMCP default. includeInboundPorts falls back to the container ports
 * only when the default is empty; excludeInboundPorts always starts with 15090 and ends with the
 * status port. Empty values are not written (the pod's own annotation, if any, stays).
 */
function redirectAnnotations(pod: Pod, d: ProxyDefaults): Record<string, string> {
  const ann = pod.metadata.annotations ?? {};
  const statusPort = ann[A.statusPort] ?? String(d.statusPort);
  const excluded = withStatusPort(statusPort, ann[A.excludeInboundPorts] ?? d.excludeInboundPorts);
  const out: Record<string, string> = {
    [A.interceptionMode]: ann[A.interceptionMode] ?? d.interceptionMode,
    [A.includeOutboundIPRanges]: ann[A.includeOutboundIPRanges] ?? d.includeIPRanges,
    [A.excludeOutboundIPRanges]: ann[A.excludeOutboundIPRanges] ?? d.excludeIPRanges,
    [A.includeInboundPorts]: ann[A.includeInboundPorts] ?? (d.includeInboundPorts !== '' ? d.includeInboundPorts : containerPorts(pod)),
    [A.excludeInboundPorts]: excluded === '' ? String(PROXY_STATS_PORT) : `${PROXY_STATS_PORT},${excluded}`,
    [A.excludeOutboundPorts]: ann[A.excludeOutboundPorts] ?? d.excludeOutboundPorts,
  };
  for (const k of Object.keys(out)) if (out[k] === '') delete out[k];
  return out;
}

function resourcesFor(ann: Readonly<Record<string, string>>, d: ProxyDefaults): Record<string, Record<string, string>> {
  const cpu = ann[A.proxyCPU];
  const memory = ann[A.proxyMemory];
  const cpuLimit = ann[A.proxyCPULimit];
  const memoryLimit = ann[A.proxyMemoryLimit];
  if (cpu === undefined && memory === undefined && cpuLimit === undefined && memoryLimit === undefined) {
    const out: Record<string, Record<string, string>> = {};
    if (d.resources.requests) out.requests = { ...d.resources.requests };
    if (d.resources.limits) out.limits = { ...d.resources.limits };
    return out;
  }
  // As the template: any annotation replaces the defaults entirely.
  const out: Record<string, Record<string, string>> = {};
  if (cpu !== undefined || memory !== undefined) out.requests = { ...(cpu !== undefined ? { cpu } : {}), ...(memory !== undefined ? { memory } : {}) };
  if (cpuLimit !== undefined || memoryLimit !== undefined) out.limits = { ...(cpuLimit !== undefined ? { cpu: cpuLimit } : {}), ...(memoryLimit !== undefined ? { memory: memoryLimit } : {}) };
  return out;
}

function sortedLabels(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/** The environment variable carrying the rewritten probes to the sidecar (Istio's pilot-agent reads the same). */
export const APP_PROBERS_ENV = 'ISTIO_KUBE_APP_PROBERS';

/** One original httpGet probe, as the sidecar's status port replays it against the app. */
export interface AppProber {
  httpGet: { path: string; port: number; scheme: 'HTTP' | 'HTTPS'; httpHeaders?: { name: string; value: string }[] };
  timeoutSeconds: number;
}

const PROBE_KINDS = [
  ['readinessProbe', 'readyz'],
  ['livenessProbe', 'livez'],
  ['startupProbe', 'startupz'],
] as const;

/**
 * INJ-06: every httpGet readiness, liveness and startup probe of the app containers is pointed at
 * the sidecar's status port (`/app-health/CONTAINER/readyz|livez|startupz` on 15020, which capture
 * never redirects), and the original goes into `probers` for the sidecar to replay against the app
 * over loopback — so the kubelet's plaintext probes work under STRICT mTLS. A probe whose named
 * port the container does not declare is left alone, with a warning. Returns the containers rewritten.
 */
function rewriteAppProbes(containers: Container[], probers: Record<string, AppProber>, warnings: string[]): Container[] {
  return containers.map((c) => {
    const out: Container = { ...c };
    for (const [field, suffix] of PROBE_KINDS) {
      const probe = c[field];
      const http = probe?.httpGet;
      if (!probe || !http) continue;
      const port = typeof http.port === 'number' ? http.port : /^\d+$/.test(String(http.port)) ? Number(http.port) : c.ports?.find((p) => p.name === http.port)?.containerPort;
      if (port === undefined) {
        warnings.push(`container ${c.name}: ${field} port "${String(http.port)}" names no port of the container, so the probe is not rewritten`);
        continue;
      }
      const path = `/app-health/${c.name}/${suffix}`;
      probers[path] = {
        httpGet: { path: http.path ?? '/', port, scheme: http.scheme ?? 'HTTP', ...(http.httpHeaders && http.httpHeaders.length > 0 ? { httpHeaders: http.httpHeaders.map((h) => ({ name: h.name ?? '', value: h.value ?? '' })) } : {}) },
        timeoutSeconds: probe.timeoutSeconds ?? 1,
      };
      out[field] = { ...probe, httpGet: { path, port: MERGED_METRICS_PORT, scheme: 'HTTP' } };
    }
    return out;
  });
}

/** The app's Prometheus endpoint from its prometheus.io annotations, for `--app-metrics` (Istio's metrics merging). */
function appMetricsUrl(ann: Readonly<Record<string, string>>, warnings: string[]): string | undefined {
  if (ann[A.prometheusScrape] !== 'true') return undefined;
  const port = ann[A.prometheusPort];
  const n = port !== undefined && /^[0-9]{1,5}$/.test(port) ? Number(port) : NaN;
  if (!(n >= 1 && n <= 65535)) {
    warnings.push(`metrics merging: annotation ${A.prometheusPort} "${port ?? ''}" is not a port, so the app's metrics are not merged`);
    return undefined;
  }
  const path = ann[A.prometheusPath] ?? '/metrics';
  return `http://127.0.0.1:${n}${path.startsWith('/') ? path : `/${path}`}`;
}

/**
 * Injects the sidecar into `pod` and returns a new pod; the input is not modified and the same
 * pod and context always give the same result. The pod gets:
 *
 * - a container `istio-proxy` running `<proxyCommand> proxy --type sidecar …` (discovery, service
 *   account, labels, `--capture` when the CNI plugin intercepts, the CA flags, drain time, access
 *   log, merged app metrics), POD_NAME / POD_NAMESPACE / INSTANCE_IP / SERVICE_ACCOUNT and the
 *   canonical-service variables from the downward API, port 15090, a readiness probe on
 *   15021 /healthz/ready, resources, and a securityContext running as the proxy UID (INJ-04);
 * - the annotations of INJ-05: `sidecar.istio.io/status`, the resolved interception annotations,
 *   the CNI network, the SMCP's injectedAnnotations;
 * - the labels `security.istio.io/tlsMode: istio`, the canonical-service labels and `istio.io/rev`;
 * - `spec.securityContext.fsGroup` (INJ-04).
 *
 * Does not apply the injection policy (see `injectIfRequired`). A pod that already has a sidecar
 * (`sidecar.istio.io/status`) comes back unchanged with `injected: false`. Throws MESH_INVALID_CONFIG
 * naming every bad annotation, its value and the rule: such a pod must not start, rather than
 * start without the interception it asked for.
 */
export function injectPod(pod: Pod, ctx: InjectionContext): InjectionResult {
  const out = structuredClone(pod);
  const where = `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? pod.metadata.generateName ?? ''}`;
  const ann = { ...(pod.metadata.annotations ?? {}) };
  if (ann[A.status] !== undefined) return { pod: out, injected: false, reason: `the pod already has a sidecar (annotation ${A.status} is present)`, warnings: [] };
  if ((pod.spec.containers ?? []).some((c) => c.name === PROXY_CONTAINER_NAME)) {
    throw new MeshError('MESH_INVALID_CONFIG', `cannot inject a sidecar into pod ${where}: it already has a container named ${PROXY_CONTAINER_NAME}`);
  }

  const { problems, warnings } = checkInjectionAnnotations(ann);
  const d = proxyDefaults(ctx);
  if (ann[A.interceptionMode] === undefined && !['REDIRECT', 'NONE'].includes(d.interceptionMode.toUpperCase())) {
    problems.push(`the default interception mode ${d.interceptionMode} is not supported (Meltemi implements REDIRECT interception only, or NONE)`);
  }
  if (problems.length > 0) throw new MeshError('MESH_INVALID_CONFIG', `cannot inject a sidecar into pod ${where}:\n  ${problems.join('\n  ')}`);

  // Metadata first: the proxy's --labels are the pod's labels as they will be.
  const labels = { ...(out.metadata.labels ?? {}) };
  const canonical = canonicalLabels(pod);
  const added: Record<string, string> = {
    [INJECTED_LABELS.tlsMode]: 'istio',
    [INJECTED_LABELS.canonicalName]: canonical.name,
    [INJECTED_LABELS.canonicalRevision]: canonical.revision,
    ...(ctx.revision ? { [INJECTED_LABELS.revision]: ctx.revision } : {}),
  };
  for (const k of Object.keys(added).sort()) if (!labels[k]) labels[k] = added[k]!;
  out.metadata.labels = labels;

  const ids = proxyIdentityIds(pod);
  const gidAnnotation = ann[A.proxyGID];
  const proxyGid = gidAnnotation !== undefined ? Number(gidAnnotation.trim()) : ids.uid;
  const redirect = redirectAnnotations(pod, d);
  const mode = (redirect[A.interceptionMode] ?? 'REDIRECT').trim().toUpperCase();
  const mergeAnnotation = ann[A.mergeMetrics];
  const merge = mergeAnnotation !== undefined ? parseGoBool(mergeAnnotation) === true : d.prometheusMerge;
  const appMetrics = merge ? appMetricsUrl(ann, warnings) : undefined;
  const status: SidecarStatus = { version: INJECTION_VERSION, initContainers: null, containers: [PROXY_CONTAINER_NAME], volumes: null, imagePullSecrets: null };
  const set: Record<string, string> = { ...redirect, [A.status]: JSON.stringify(status) };
  if (ctx.cni) set[A.networks] = appendNetwork(ann[A.networks], ctx.cniNetwork ?? MAISTRA_CNI_NETWORK);
  // Meltemi addition: a CNI plugin that only sees annotations must exclude the UID the proxy really runs as.
  if (ann[A.proxyUID] === undefined && ids.uid !== DEFAULT_PROXY_UID) set[A.proxyUID] = String(ids.uid);
  if (merge) Object.assign(set, { [A.prometheusPort]: String(MERGED_METRICS_PORT), [A.prometheusPath]: '/stats/prometheus', [A.prometheusScrape]: 'true' });
  Object.assign(set, ctx.injectedAnnotations ?? {});
  const annotations = { ...ann };
  for (const k of Object.keys(set).sort()) annotations[k] = set[k]!;
  out.metadata.annotations = annotations;

  // The sidecar container.
  const serviceAccount = pod.spec.serviceAccountName || pod.spec.serviceAccount || 'default';
  const proxyConfig = ann[A.proxyConfig];
  const drainFromAnnotation = proxyConfig !== undefined ? parseProxyConfigAnnotation(proxyConfig, [], []) : undefined;
  const args = ['--type', 'sidecar', '--discovery', ctx.discoveryAddress, '--service-account', serviceAccount, '--labels', sortedLabels(labels)];
  if (ctx.cni && mode === 'REDIRECT') args.push('--capture');
  if (ctx.identity) args.push('--ca-addr', ctx.identity.caAddress, '--ca-root', ctx.identity.rootCertFile, '--token-file', ctx.identity.tokenFile);
  args.push('--drain-seconds', String(drainFromAnnotation ?? d.drainSeconds));
  if (d.accessLogFile !== '') {
    args.push('--access-log', d.accessLogEncoding === 'JSON' ? 'json' : 'text');
    if (d.accessLogFile !== '/dev/stdout') warnings.push(`access log file ${d.accessLogFile}: meltemi proxy writes its access log to standard output`);
  }
  if (appMetrics !== undefined) args.push('--app-metrics', appMetrics);
  args.push(...(ctx.extraProxyArgs ?? []));

  const fieldRef = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  const env: NonNullable<Container['env']> = [
    fieldRef('POD_NAME', 'metadata.name'),
    fieldRef('POD_NAMESPACE', 'metadata.namespace'),
    fieldRef('INSTANCE_IP', 'status.podIP'),
    fieldRef('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    fieldRef('CANONICAL_SERVICE', `metadata.labels['${INJECTED_LABELS.canonicalName}']`),
    fieldRef('CANONICAL_REVISION', `metadata.labels['${INJECTED_LABELS.canonicalRevision}']`),
  ];
  const proxyEnv = ann[A.proxyEnv];
  const extra = proxyEnv !== undefined ? parseProxyEnv(proxyEnv, []) : {};
  // The proxy's V8 flags, unless the pod's proxyEnv gives its own.
  if (extra.NODE_OPTIONS === undefined) env.push({ name: 'NODE_OPTIONS', value: PROXY_NODE_OPTIONS });
  for (const k of Object.keys(extra).sort()) env.push({ name: k, value: extra[k]! });

  const statusPort = (ann[A.statusPort] ?? String(d.statusPort)).trim();
  const readiness = (name: string, fallback: number) => {
    const v = ann[name];
    return v !== undefined ? parseUint32(v)! : fallback;
  };
  const sidecar: Container = {
    name: PROXY_CONTAINER_NAME,
    image: ann[A.proxyImage] ?? d.image,
    command: [...(ctx.proxyCommand ?? ['meltemi']), 'proxy'],
    args,
    ports: [{ containerPort: PROXY_STATS_PORT, protocol: 'TCP', name: 'http-envoy-prom' }],
    env,
    resources: resourcesFor(ann, d),
    ...(statusPort !== '0'
      ? {
          readinessProbe: {
            httpGet: { path: '/healthz/ready', port: PROXY_HEALTH_PORT },
            initialDelaySeconds: readiness(A.readinessInitialDelaySeconds, d.readinessInitialDelaySeconds),
            periodSeconds: readiness(A.readinessPeriodSeconds, d.readinessPeriodSeconds),
            failureThreshold: readiness(A.readinessFailureThreshold, d.readinessFailureThreshold),
          },
        }
      : {}),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL', 'KILL', 'MKNOD', 'SETGID', 'SETUID'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: proxyGid,
      runAsNonRoot: true,
      runAsUser: ids.uid,
    },
  };
  const rewriteAnnotation = ann[A.rewriteAppHTTPProbers];
  const rewrite = rewriteAnnotation !== undefined ? parseGoBool(rewriteAnnotation) === true : d.rewriteAppProbes;
  const probers: Record<string, AppProber> = {};
  const appContainers = rewrite ? rewriteAppProbes(out.spec.containers ?? [], probers, warnings) : (out.spec.containers ?? []);
  if (Object.keys(probers).length > 0) env.push({ name: APP_PROBERS_ENV, value: JSON.stringify(probers) });
  out.spec.containers = [...appContainers, sidecar];
  out.spec.securityContext = { ...((out.spec.securityContext as Record<string, unknown> | undefined) ?? {}), fsGroup: ids.fsGroup };

  // The CNI plugin parses the same annotations; settings it would refuse (e.g. from bad defaults) fail here too.
  try {
    interceptionOf(out);
  } catch (e) {
    throw new MeshError('MESH_INVALID_CONFIG', `cannot inject a sidecar into pod ${where}: the injected interception is invalid: ${(e as Error).message}`, { cause: e });
  }
  const captured = ctx.cni && mode === 'REDIRECT' ? 'traffic captured by the CNI plugin' : mode === 'NONE' ? 'interception mode NONE' : 'no CNI interception';
  return { pod: out, injected: true, reason: `sidecar injected (proxy UID ${ids.uid}, ${captured})`, warnings };
}

/**
 * The whole admission step: the policy (`injectionRequired`), then `injectPod` when it says yes.
 * Always returns a new pod; throws only for invalid annotations of a pod that is to be injected.
 */
export function injectIfRequired(pod: Pod, namespace: NamespaceObject | undefined, ctx: InjectionContext): InjectionResult {
  const decision = injectionRequired(pod, namespace, ctx);
  if (!decision.inject) return { pod: structuredClone(pod), injected: false, reason: decision.reason, warnings: [] };
  const result = injectPod(pod, ctx);
  return { ...result, reason: `${decision.reason}: ${result.reason}` };
}

/** The `sidecar.istio.io/status` of an injected pod, or undefined when it has none (or it is not JSON). */
export function sidecarStatusOf(pod: Pod): SidecarStatus | undefined {
  const raw = pod.metadata.annotations?.[A.status];
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as SidecarStatus) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The interception the CNI plugin must apply to an injected pod: its traffic annotations over
 * Istio's defaults, with the proxy UID and GID the sidecar container runs as. Undefined when the
 * pod has no sidecar or asks for interception mode NONE. Throws MESH_INVALID_CONFIG when the
 * annotations are invalid (as the plugin would refuse them). The runtime passes the result as the
 * plugin's `interception` defaults along with the pod's annotations, so both compute the same rules.
 */
export function interceptionOf(pod: Pod): InterceptionSettings | undefined {
  const annotations = pod.metadata.annotations ?? {};
  if (annotations[A.status] === undefined) return undefined;
  const proxy = (pod.spec.containers ?? []).find((c) => c.name === PROXY_CONTAINER_NAME);
  if (!proxy) return undefined;
  if (interceptionMode(annotations) === 'NONE') return undefined;
  const sc = (proxy.securityContext ?? {}) as { runAsUser?: unknown; runAsGroup?: unknown };
  const uid = typeof sc.runAsUser === 'number' ? sc.runAsUser : DEFAULT_INTERCEPTION.proxyUid;
  const gid = typeof sc.runAsGroup === 'number' ? sc.runAsGroup : uid;
  return interceptionFromAnnotations(annotations, { ...DEFAULT_INTERCEPTION, proxyUid: uid, proxyGid: gid });
}
