// Kubernetes PodSpec, Container, probe and label-selector schemas with the checks the API server applies to them.
import { Issues, asArray, asNumber, asObject, asString, type FieldPath } from '../diagnostics.js';
import { checkLabels, headerNameProblem, isDNS1123Label } from '../common.js';
import { Type, anyValue, arr, bool, enumOf, freeform, int32, intOrString, map, obj, str, strMap, type Static } from '../schema.js';

// ---------------------------------------------------------------------------------------------
// Syntax of Kubernetes identifiers (k8s.io/apimachinery/pkg/util/validation).

const IANA_SVC_NAME = /^[-a-z0-9]+$/;
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/**
 * An IANA service name (RFC 6335 §5.1) as Kubernetes checks container port names and named
 * target ports: at most 15 characters of [-a-z0-9], at least one letter, no leading, trailing or
 * doubled hyphen. Returns the problem or undefined.
 */
export function ianaSvcNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 15) return `port name "${name}" must be 1 to 15 characters long`;
  if (!IANA_SVC_NAME.test(name)) return `port name "${name}" may contain only lower-case letters, digits and "-"`;
  if (!/[a-z]/.test(name)) return `port name "${name}" must contain at least one letter`;
  if (name.includes('--')) return `port name "${name}" must not contain consecutive hyphens`;
  if (name.startsWith('-') || name.endsWith('-')) return `port name "${name}" must not begin or end with a hyphen`;
  return undefined;
}

/** A port given as a number (1..65535) or an IANA service name, as probes and targetPort accept. */
export function portNumOrNameProblem(port: unknown): string | undefined {
  if (typeof port === 'number') {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return `port number ${port} must be in the range 1..65535`;
    return undefined;
  }
  if (typeof port === 'string') return ianaSvcNameProblem(port);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Schemas. Fields Meltemi reads are modelled precisely; every other field of the Kubernetes v1
// API is accepted with its type (or free-form when it is a nested object Meltemi never reads), so
// real-world manifests load while a misspelt field is still refused.

const SelectorOperator = enumOf(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const);

export const LabelSelectorSchema = obj({
  matchLabels: strMap('Labels that must all be present with these values.'),
  matchExpressions: arr(obj({ key: str(), operator: SelectorOperator, values: arr(str()) })),
});

/** ObjectMeta as found in pod templates; `creationTimestamp: null` is common in generated manifests. */
export const TemplateMetadataSchema = obj({
  name: str(),
  generateName: str(),
  namespace: str(),
  labels: strMap(),
  annotations: strMap(),
  uid: str(),
  resourceVersion: str(),
  generation: Type.Integer(),
  creationTimestamp: anyValue(),
  deletionTimestamp: anyValue(),
  deletionGracePeriodSeconds: Type.Integer(),
  finalizers: arr(str()),
  ownerReferences: arr(freeform()),
  managedFields: arr(freeform()),
  selfLink: str(),
  clusterName: str(),
});

const HttpHeaderSchema = obj({ name: str(), value: str() });

export const ProbeSchema = obj({
  exec: obj({ command: arr(str()) }),
  httpGet: obj({
    path: str(),
    port: intOrString('Port number or name of a container port.'),
    host: str(),
    scheme: enumOf(['HTTP', 'HTTPS'] as const),
    httpHeaders: arr(HttpHeaderSchema),
  }),
  tcpSocket: obj({ port: intOrString(), host: str() }),
  grpc: obj({ port: int32(), service: str() }),
  initialDelaySeconds: int32(),
  timeoutSeconds: int32(),
  periodSeconds: int32(),
  successThreshold: int32(),
  failureThreshold: int32(),
  terminationGracePeriodSeconds: Type.Integer(),
});

const ContainerPortSchema = obj({
  name: str('IANA service name, at most 15 characters.'),
  containerPort: int32(),
  protocol: enumOf(['TCP', 'UDP', 'SCTP'] as const),
  hostPort: int32(),
  hostIP: str(),
});

const EnvVarSchema = obj({ name: str(), value: str(), valueFrom: freeform('fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef.') });

const containerFields = {
  name: str(),
  image: str(),
  command: arr(str()),
  args: arr(str()),
  workingDir: str(),
  ports: arr(ContainerPortSchema),
  envFrom: arr(freeform()),
  env: arr(EnvVarSchema),
  resources: freeform(),
  resizePolicy: arr(freeform()),
  restartPolicy: str(),
  volumeMounts: arr(freeform()),
  volumeDevices: arr(freeform()),
  livenessProbe: ProbeSchema,
  readinessProbe: ProbeSchema,
  startupProbe: ProbeSchema,
  lifecycle: freeform(),
  terminationMessagePath: str(),
  terminationMessagePolicy: enumOf(['File', 'FallbackToLogsOnError'] as const),
  imagePullPolicy: enumOf(['Always', 'IfNotPresent', 'Never'] as const),
  securityContext: freeform(),
  stdin: bool(),
  stdinOnce: bool(),
  tty: bool(),
};

export const ContainerSchema = obj(containerFields);

export const PodSpecSchema = obj({
  containers: arr(ContainerSchema),
  initContainers: arr(ContainerSchema),
  ephemeralContainers: arr(freeform()),
  volumes: arr(freeform()),
  restartPolicy: enumOf(['Always', 'OnFailure', 'Never'] as const),
  terminationGracePeriodSeconds: Type.Integer(),
  activeDeadlineSeconds: Type.Integer(),
  dnsPolicy: enumOf(['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] as const),
  dnsConfig: freeform(),
  nodeSelector: strMap(),
  nodeName: str(),
  serviceAccountName: str(),
  serviceAccount: str('Deprecated alias of serviceAccountName.'),
  automountServiceAccountToken: bool(),
  hostNetwork: bool(),
  hostPID: bool(),
  hostIPC: bool(),
  hostUsers: bool(),
  shareProcessNamespace: bool(),
  securityContext: freeform(),
  imagePullSecrets: arr(obj({ name: str() })),
  hostname: str(),
  subdomain: str(),
  setHostnameAsFQDN: bool(),
  affinity: freeform(),
  schedulerName: str(),
  tolerations: arr(freeform()),
  hostAliases: arr(freeform()),
  priorityClassName: str(),
  priority: int32(),
  preemptionPolicy: enumOf(['PreemptLowerPriority', 'Never'] as const),
  readinessGates: arr(freeform()),
  runtimeClassName: str(),
  enableServiceLinks: bool(),
  overhead: map(anyValue()),
  topologySpreadConstraints: arr(freeform()),
  os: freeform(),
  schedulingGates: arr(freeform()),
  resourceClaims: arr(freeform()),
  resources: freeform(),
});

export const PodTemplateSchema = obj({ metadata: TemplateMetadataSchema, spec: PodSpecSchema });

export type PodSpec = Static<typeof PodSpecSchema>;
export type Container = Static<typeof ContainerSchema>;
export type Probe = Static<typeof ProbeSchema>;
export type LabelSelector = Static<typeof LabelSelectorSchema>;

// ---------------------------------------------------------------------------------------------
// Label selectors.

/**
 * Whether a Kubernetes LabelSelector selects `labels`. An absent selector selects nothing; an
 * empty one everything (as metav1.LabelSelectorAsSelector). Malformed expressions never match.
 */
export function labelSelectorMatches(selector: unknown, labels: Record<string, string>): boolean {
  const sel = asObject(selector);
  if (!sel) return false;
  const matchLabels = asObject(sel.matchLabels) ?? {};
  for (const [k, v] of Object.entries(matchLabels)) if (labels[k] !== v) return false;
  for (const raw of asArray(sel.matchExpressions)) {
    const e = asObject(raw);
    const key = asString(e?.key);
    if (!e || key === undefined) return false;
    const values = asArray(e.values).filter((x): x is string => typeof x === 'string');
    const has = Object.prototype.hasOwnProperty.call(labels, key);
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Checks a LabelSelector: label syntax of matchLabels, and operators consistent with their values. */
export function checkLabelSelector(issues: Issues, path: FieldPath, selector: unknown): void {
  const sel = asObject(selector);
  if (!sel) return;
  checkLabels(issues, [...path, 'matchLabels'], sel.matchLabels);
  asArray(sel.matchExpressions).forEach((raw, i) => {
    const e = asObject(raw);
    if (!e) return;
    const p = [...path, 'matchExpressions', i];
    const key = asString(e.key);
    if (key === undefined || key === '') issues.error([...p, 'key'], 'k8s.label-selector', 'key is required');
    else checkLabels(issues, p, { [key]: '' }, 'k8s.label-selector');
    const op = asString(e.operator);
    const values = asArray(e.values);
    if (op === undefined) issues.error([...p, 'operator'], 'k8s.label-selector', 'operator is required (In, NotIn, Exists or DoesNotExist)');
    else if ((op === 'In' || op === 'NotIn') && values.length === 0) issues.error([...p, 'values'], 'k8s.label-selector', `values must be non-empty when operator is ${op}`);
    else if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) issues.error([...p, 'values'], 'k8s.label-selector', `values must be empty when operator is ${op}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Pod spec checks, shared by Pod (at `spec`) and pod templates (at `spec.template.spec`).

export interface PodSpecCheckOptions {
  /** Deployments and other controllers only accept restartPolicy Always. */
  requireRestartAlways?: boolean;
}

/** Checks a non-negative integer field; the structural check reports non-integers. */
export function checkNonNegative(issues: Issues, path: FieldPath, v: unknown): void {
  if (typeof v === 'number' && Number.isInteger(v) && v < 0) issues.error(path, 'k8s.non-negative', `must be greater than or equal to 0, got ${v}`);
}

/**
 * Validates a PodSpec the way the API server does for the fields Meltemi reads: containers,
 * ports, environment, probes, volumes and mounts. Never throws.
 */
export function checkPodSpec(issues: Issues, path: FieldPath, specRaw: unknown, opts: PodSpecCheckOptions = {}): void {
  const spec = asObject(specRaw);
  if (!spec) {
    issues.error([...path, 'containers'], 'k8s.containers-required', 'a pod needs at least one container (spec.containers)');
    return;
  }
  const containers = asArray(spec.containers);
  if (containers.length === 0) issues.error([...path, 'containers'], 'k8s.containers-required', 'a pod needs at least one container');

  if (opts.requireRestartAlways && spec.restartPolicy !== undefined && spec.restartPolicy !== 'Always') {
    issues.error([...path, 'restartPolicy'], 'k8s.restart-policy', `restartPolicy ${String(spec.restartPolicy)} is not supported here; only Always is`);
  }
  if (opts.requireRestartAlways && spec.activeDeadlineSeconds !== undefined) {
    issues.error([...path, 'activeDeadlineSeconds'], 'k8s.restart-policy', 'activeDeadlineSeconds is not supported in a Deployment pod template (pods would be killed and restarted forever)');
  }
  checkNonNegative(issues, [...path, 'terminationGracePeriodSeconds'], spec.terminationGracePeriodSeconds);
  if (typeof spec.activeDeadlineSeconds === 'number' && spec.activeDeadlineSeconds < 1) {
    issues.error([...path, 'activeDeadlineSeconds'], 'k8s.non-negative', 'activeDeadlineSeconds must be at least 1');
  }

  // Volumes: DNS-1123 label names, unique.
  const volumeNames = new Set<string>();
  asArray(spec.volumes).forEach((raw, i) => {
    const v = asObject(raw);
    if (!v) return;
    const name = asString(v.name);
    const p = [...path, 'volumes', i, 'name'];
    if (name === undefined || name === '') issues.error(p, 'k8s.volume-name', 'volume name is required');
    else if (!isDNS1123Label(name)) issues.error(p, 'k8s.volume-name', `volume name "${name}" must be a DNS-1123 label (lower-case letters, digits and "-", at most 63 characters)`);
    else if (volumeNames.has(name)) issues.error(p, 'k8s.volume-name', `duplicate volume name "${name}"`);
    else volumeNames.add(name);
  });

  // Container names are unique across init and app containers.
  const containerNames = new Set<string>();
  const hostPorts = new Map<string, string>();
  const checkList = (field: 'containers' | 'initContainers') => {
    asArray(spec[field]).forEach((raw, i) => {
      const c = asObject(raw);
      if (!c) return;
      const cp = [...path, field, i];
      const name = asString(c.name);
      if (name === undefined || name === '') issues.error([...cp, 'name'], 'k8s.container-name', 'container name is required');
      else if (!isDNS1123Label(name)) issues.error([...cp, 'name'], 'k8s.container-name', `container name "${name}" must be a DNS-1123 label (lower-case letters, digits and "-", at most 63 characters)`);
      else if (containerNames.has(name)) issues.error([...cp, 'name'], 'k8s.container-name-unique', `duplicate container name "${name}" (names are unique across containers and initContainers)`);
      else containerNames.add(name);
      checkContainer(issues, cp, c, field === 'initContainers', spec.hostNetwork === true, volumeNames, hostPorts);
    });
  };
  checkList('containers');
  checkList('initContainers');
}

function checkContainer(
  issues: Issues,
  path: FieldPath,
  c: Record<string, unknown>,
  isInit: boolean,
  hostNetwork: boolean,
  volumeNames: ReadonlySet<string>,
  hostPorts: Map<string, string>,
): void {
  const image = c.image;
  if (image === undefined || image === '' || (typeof image === 'string' && image.trim() === '')) issues.error([...path, 'image'], 'k8s.container-image', 'image is required');

  // Ports.
  const portNames = new Set<string>();
  asArray(c.ports).forEach((raw, j) => {
    const port = asObject(raw);
    if (!port) return;
    const pp = [...path, 'ports', j];
    const num = port.containerPort;
    if (num === undefined) issues.error([...pp, 'containerPort'], 'k8s.container-port', 'containerPort is required');
    else if (typeof num === 'number' && (num < 1 || num > 65535)) issues.error([...pp, 'containerPort'], 'k8s.container-port', `containerPort ${num} must be in the range 1..65535`);
    const hp = port.hostPort;
    if (typeof hp === 'number' && hp !== 0) {
      if (hp < 1 || hp > 65535) issues.error([...pp, 'hostPort'], 'k8s.container-port', `hostPort ${hp} must be in the range 1..65535`);
      else {
        const key = `${hp}/${asString(port.protocol) ?? 'TCP'}`;
        const prev = hostPorts.get(key);
        if (prev) issues.error([...pp, 'hostPort'], 'k8s.host-port-unique', `hostPort ${key} is already used by ${prev}`);
        else hostPorts.set(key, `container port ${String(num)}`);
      }
    }
    if (hostNetwork && typeof num === 'number' && typeof hp === 'number' && hp !== 0 && hp !== num) {
      issues.error([...pp, 'hostPort'], 'k8s.container-port', `hostPort ${hp} must equal containerPort ${num} when hostNetwork is true`);
    }
    const name = asString(port.name);
    if (name !== undefined) {
      const np = ianaSvcNameProblem(name);
      if (np) issues.error([...pp, 'name'], 'k8s.container-port-name', np);
      else if (portNames.has(name)) issues.error([...pp, 'name'], 'k8s.container-port-name', `duplicate port name "${name}" in this container`);
      else portNames.add(name);
    }
  });

  // Environment.
  asArray(c.env).forEach((raw, j) => {
    const e = asObject(raw);
    if (!e) return;
    const ep = [...path, 'env', j];
    const name = asString(e.name);
    if (name === undefined || name === '') issues.error([...ep, 'name'], 'k8s.env-name', 'environment variable name is required');
    else if (!ENV_VAR_NAME.test(name)) issues.error([...ep, 'name'], 'k8s.env-name', `invalid environment variable name "${name}": use letters, digits, "_", "-" and ".", not starting with a digit`);
    const vf = asObject(e.valueFrom);
    if (vf && typeof e.value === 'string' && e.value !== '') issues.error([...ep, 'valueFrom'], 'k8s.env-value', 'valueFrom may not be given together with a non-empty value');
    if (vf) {
      const sources = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef', 'fileKeyRef'].filter((k) => vf[k] !== undefined);
      if (sources.length !== 1) issues.error([...ep, 'valueFrom'], 'k8s.env-value', sources.length === 0 ? 'valueFrom must name one source: fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef' : `valueFrom may name only one source, got ${sources.join(', ')}`);
    }
  });

  // Probes. Init containers may not have probes except sidecar-style (restartPolicy Always) ones.
  const restartable = c.restartPolicy === 'Always';
  for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
    if (c[kind] === undefined) continue;
    if (isInit && !restartable) {
      issues.error([...path, kind], 'k8s.probe-settings', `${kind} may not be set on an init container`);
      continue;
    }
    checkProbe(issues, [...path, kind], c[kind], kind, portNames);
  }

  // Mounts refer to declared volumes, at distinct paths.
  const mountPaths = new Set<string>();
  asArray(c.volumeMounts).forEach((raw, j) => {
    const m = asObject(raw);
    if (!m) return;
    const mp = [...path, 'volumeMounts', j];
    const name = asString(m.name);
    if (name === undefined || name === '') issues.error([...mp, 'name'], 'k8s.volume-mount', 'volume mount name is required');
    else if (!volumeNames.has(name)) issues.error([...mp, 'name'], 'k8s.volume-mount', `volume mount refers to volume "${name}", which is not declared in the pod's volumes`);
    const mountPath = asString(m.mountPath);
    if (mountPath === undefined || mountPath === '') issues.error([...mp, 'mountPath'], 'k8s.volume-mount', 'mountPath is required');
    else if (mountPaths.has(mountPath)) issues.error([...mp, 'mountPath'], 'k8s.volume-mount', `mountPath "${mountPath}" is used by another mount of this container`);
    else mountPaths.add(mountPath);
  });
}

const PROBE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'] as const;

function checkProbe(issues: Issues, path: FieldPath, raw: unknown, kind: 'readinessProbe' | 'livenessProbe' | 'startupProbe', portNames: ReadonlySet<string>): void {
  const probe = asObject(raw);
  if (!probe) return;
  const handlers = PROBE_HANDLERS.filter((h) => probe[h] !== undefined);
  if (handlers.length === 0) issues.error(path, 'k8s.probe-handler', 'a probe must set one handler: exec, httpGet, tcpSocket or grpc');
  else if (handlers.length > 1) issues.error([...path, handlers[1]!], 'k8s.probe-handler', `a probe may set only one handler, got ${handlers.join(' and ')}`);

  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
    const v = probe[f];
    if (typeof v === 'number' && Number.isInteger(v) && v < 0) issues.error([...path, f], 'k8s.probe-settings', `${f} must be greater than or equal to 0, got ${v}`);
  }
  if (kind !== 'readinessProbe' && typeof probe.successThreshold === 'number' && probe.successThreshold !== 1 && probe.successThreshold >= 0) {
    issues.error([...path, 'successThreshold'], 'k8s.probe-settings', `successThreshold must be 1 for a ${kind}, got ${probe.successThreshold}`);
  }
  if (kind === 'readinessProbe' && probe.terminationGracePeriodSeconds !== undefined) {
    issues.error([...path, 'terminationGracePeriodSeconds'], 'k8s.probe-settings', 'terminationGracePeriodSeconds must not be set on a readinessProbe');
  }
  if (typeof probe.terminationGracePeriodSeconds === 'number' && probe.terminationGracePeriodSeconds < 1) {
    issues.error([...path, 'terminationGracePeriodSeconds'], 'k8s.probe-settings', 'terminationGracePeriodSeconds must be at least 1');
  }

  const http = asObject(probe.httpGet);
  if (http) {
    checkProbePort(issues, [...path, 'httpGet', 'port'], http.port, portNames);
    asArray(http.httpHeaders).forEach((h, j) => {
      const name = asString(asObject(h)?.name);
      if (name === undefined) return;
      const p = headerNameProblem(name);
      if (p) issues.error([...path, 'httpGet', 'httpHeaders', j, 'name'], 'k8s.probe-settings', p);
    });
  }
  const tcp = asObject(probe.tcpSocket);
  if (tcp) checkProbePort(issues, [...path, 'tcpSocket', 'port'], tcp.port, portNames);
  const grpc = asObject(probe.grpc);
  if (grpc) {
    if (grpc.port === undefined) issues.error([...path, 'grpc', 'port'], 'k8s.probe-port', 'grpc.port is required');
    else {
      const p = portNumOrNameProblem(asNumber(grpc.port));
      if (p) issues.error([...path, 'grpc', 'port'], 'k8s.probe-port', p);
    }
  }
}

function checkProbePort(issues: Issues, path: FieldPath, port: unknown, portNames: ReadonlySet<string>): void {
  if (port === undefined) {
    issues.error(path, 'k8s.probe-port', 'port is required');
    return;
  }
  const p = portNumOrNameProblem(port);
  if (p) {
    issues.error(path, 'k8s.probe-port', p);
    return;
  }
  // A named port the container does not declare cannot be resolved by the kubelet (nor by the
  // sidecar's probe rewrite): the probe fails at run time although the API server accepts it.
  if (typeof port === 'string' && !portNames.has(port)) {
    issues.warn(path, 'k8s.probe-port-unresolved', `probe port "${port}" is not the name of any port of this container; the probe will fail`);
  }
}

/** Labels of a pod template, or {} when absent or malformed. */
export function templateLabels(template: unknown): Record<string, string> {
  const labels = asObject(asObject(asObject(template)?.metadata)?.labels);
  const out: Record<string, string> = {};
  if (labels) for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') out[k] = v;
  return out;
}
