// Kubernetes kinds the local runtime and sidecar injection read (Namespace, ServiceAccount, Service, Deployment, Pod, ConfigMap, Secret), validated as the API server does.
import { Issues, asArray, asObject, asString, type FieldPath } from '../diagnostics.js';
import { checkLabels, ipProblem, isDNS1123Label, isDNS1123Subdomain, labelKeyProblem } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { arr, bool, enumOf, freeform, int32, intOrString, obj, str, strMap, type Static } from '../schema.js';
import { parseProtocol, type Protocol } from './networking-types.js';
import {
  LabelSelectorSchema,
  PodSpecSchema,
  PodTemplateSchema,
  checkLabelSelector,
  checkNonNegative,
  checkPodSpec,
  labelSelectorMatches,
  portNumOrNameProblem,
  templateLabels,
} from './kubernetes-pod.js';

const CORE_GROUP = '';
const APPS_GROUP = 'apps';
/** Kubernetes' limit on the data of one Secret or ConfigMap (core.MaxSecretSize). */
const MAX_DATA_BYTES = 1024 * 1024;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

// ---------------------------------------------------------------------------------------------
// Namespace and ServiceAccount: no rules beyond metadata, but their shapes must load.

const namespaceSchema = obj({ spec: obj({ finalizers: arr(str()) }), status: freeform() });

export const namespaceKind: KindDef = {
  group: CORE_GROUP,
  kind: 'Namespace',
  plural: 'namespaces',
  singular: 'namespace',
  shortNames: ['ns'],
  namespaced: false,
  nameFormat: 'dns1123-label',
  description: 'A Kubernetes namespace: the unit of mesh membership (ServiceMeshMemberRoll) and of Istio configuration scope.',
  versions: [{ name: 'v1', schema: namespaceSchema, storage: true }],
};

const serviceAccountSchema = obj({
  secrets: arr(freeform('Object reference to a Secret.')),
  imagePullSecrets: arr(obj({ name: str() })),
  automountServiceAccountToken: bool(),
});

export const serviceAccountKind: KindDef = {
  group: CORE_GROUP,
  kind: 'ServiceAccount',
  plural: 'serviceaccounts',
  singular: 'serviceaccount',
  shortNames: ['sa'],
  namespaced: true,
  nameFormat: 'dns1123-subdomain',
  description: 'A workload identity; the mesh certificate of a pod names its service account (spiffe://<trust-domain>/ns/<ns>/sa/<name>).',
  versions: [{ name: 'v1', schema: serviceAccountSchema, storage: true }],
};

// ---------------------------------------------------------------------------------------------
// Service.

export const ServicePortSchema = obj({
  name: str('DNS-1123 label; required when the Service has more than one port. Its prefix (http-, grpc-, tcp-…) gives the mesh protocol.'),
  protocol: enumOf(['TCP', 'UDP', 'SCTP'] as const),
  appProtocol: str('Application protocol (http, http2, grpc, tcp, tls…); preferred over the port-name prefix.'),
  port: int32(),
  targetPort: intOrString('Container port number or name; defaults to port.'),
  nodePort: int32(),
});

export const ServiceSpecSchema = obj({
  type: enumOf(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const),
  clusterIP: str('An IP address, "None" for a headless service, or empty to allocate one.'),
  clusterIPs: arr(str()),
  selector: strMap('Labels of the pods behind the service.'),
  ports: arr(ServicePortSchema),
  externalName: str(),
  externalIPs: arr(str()),
  sessionAffinity: enumOf(['ClientIP', 'None'] as const),
  sessionAffinityConfig: freeform(),
  loadBalancerIP: str(),
  loadBalancerSourceRanges: arr(str()),
  loadBalancerClass: str(),
  allocateLoadBalancerNodePorts: bool(),
  externalTrafficPolicy: enumOf(['Cluster', 'Local'] as const),
  internalTrafficPolicy: enumOf(['Cluster', 'Local'] as const),
  healthCheckNodePort: int32(),
  publishNotReadyAddresses: bool(),
  ipFamilies: arr(enumOf(['IPv4', 'IPv6'] as const)),
  ipFamilyPolicy: enumOf(['SingleStack', 'PreferDualStack', 'RequireDualStack'] as const),
  ipFamily: enumOf(['IPv4', 'IPv6'] as const),
  topologyKeys: arr(str()),
  trafficDistribution: str(),
});

export type ServiceSpec = Static<typeof ServiceSpecSchema>;
export type ServicePort = Static<typeof ServicePortSchema>;

/**
 * Ports for which Istio assumes TCP when the name gives no protocol, because sniffing would break
 * these server-first protocols (SMTP, DNS, MySQL, MongoDB).
 */
const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017]);
const SYSTEM_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease']);

export interface ServicePortProtocol {
  protocol: Protocol;
  /** False when nothing named a protocol and the port falls back to opaque TCP. */
  explicit: boolean;
}

/**
 * The mesh protocol of a Service port, as Maistra 2.0 decides it without protocol sniffing
 * (OP-07): UDP ports are UDP; otherwise `appProtocol`, else the port name, read as `<proto>` or
 * `<proto>-<suffix>` (`grpc-web` as a whole); well-known server-first ports are TCP; anything else
 * is opaque TCP.
 */
export function servicePortProtocol(port: { name?: unknown; protocol?: unknown; appProtocol?: unknown; port?: unknown }): ServicePortProtocol {
  if (port.protocol === 'UDP') return { protocol: 'UDP', explicit: true };
  const label = typeof port.appProtocol === 'string' && port.appProtocol !== '' ? port.appProtocol : typeof port.name === 'string' ? port.name : '';
  if (label.toLowerCase().startsWith('grpc-web')) return { protocol: 'GRPC-WEB', explicit: true };
  const dash = label.indexOf('-');
  const parsed = parseProtocol(dash >= 0 ? label.slice(0, dash) : label);
  if (parsed) return { protocol: parsed, explicit: true };
  if (typeof port.port === 'number' && WELL_KNOWN_TCP_PORTS.has(port.port)) return { protocol: 'TCP', explicit: true };
  return { protocol: 'TCP', explicit: false };
}

function validateService(res: Resource, issues: Issues): void {
  const name = res.metadata?.name;
  if (typeof name === 'string' && isDNS1123Label(name) && !DNS1035_LABEL.test(name)) {
    issues.error(['metadata', 'name'], 'k8s.service-name', `invalid Service name "${name}": must start with a lower-case letter (DNS-1035 label), because it becomes a DNS name and environment variable prefix`);
  }
  const spec = asObject(res.spec) ?? {};
  const type = asString(spec.type) ?? 'ClusterIP';
  const clusterIP = asString(spec.clusterIP) ?? '';
  const headless = clusterIP === 'None';
  const ports = asArray(spec.ports);

  if (type === 'ExternalName') {
    if (clusterIP !== '') issues.error(['spec', 'clusterIP'], 'k8s.service-cluster-ip', 'clusterIP may not be set for ExternalName services');
    const ext = asString(spec.externalName);
    if (ext === undefined || ext === '') issues.error(['spec', 'externalName'], 'k8s.service-external-name', 'externalName is required for type ExternalName (the DNS name the service is an alias of)');
    else if (!isDNS1123Subdomain(ext.replace(/\.$/, ''))) issues.error(['spec', 'externalName'], 'k8s.service-external-name', `externalName "${ext}" must be a DNS-1123 subdomain (lower-case host name)`);
  } else if (clusterIP !== '' && !headless) {
    const p = ipProblem(clusterIP);
    if (p) issues.error(['spec', 'clusterIP'], 'k8s.service-cluster-ip', `${p}; use an IP address, "None" for a headless service, or leave it empty`);
  }
  asArray(spec.clusterIPs).forEach((ip, i) => {
    if (typeof ip === 'string' && ip !== 'None' && ip !== '' && ipProblem(ip)) issues.error(['spec', 'clusterIPs', i], 'k8s.service-cluster-ip', `${ipProblem(ip)}`);
  });

  if (ports.length === 0 && !headless && type !== 'ExternalName') issues.error(['spec', 'ports'], 'k8s.service-ports-required', 'a Service needs at least one port (unless it is headless or ExternalName)');
  checkLabels(issues, ['spec', 'selector'], spec.selector);

  const names = new Map<string, number>();
  const portKeys = new Map<string, number>();
  const nodePorts = new Map<string, number>();
  ports.forEach((raw, i) => {
    const port = asObject(raw);
    if (!port) return;
    const path: FieldPath = ['spec', 'ports', i];
    const pname = asString(port.name);
    if (pname === undefined || pname === '') {
      if (ports.length > 1) issues.error([...path, 'name'], 'k8s.service-port-name-required', 'port name is required when a Service has more than one port');
    } else if (!isDNS1123Label(pname)) {
      issues.error([...path, 'name'], 'k8s.service-port-name', `port name "${pname}" must be a DNS-1123 label (lower-case letters, digits and "-", at most 63 characters)`);
    } else if (names.has(pname)) {
      issues.error([...path, 'name'], 'k8s.service-port-name-unique', `duplicate port name "${pname}" (also used by spec.ports[${names.get(pname)}])`);
    } else names.set(pname, i);

    const num = port.port;
    if (num === undefined) issues.error([...path, 'port'], 'k8s.service-port', 'port is required');
    else if (typeof num === 'number' && (num < 1 || num > 65535)) issues.error([...path, 'port'], 'k8s.service-port', `port ${num} must be in the range 1..65535`);
    const protocol = asString(port.protocol) ?? 'TCP';
    if (typeof num === 'number') {
      const key = `${num}/${protocol}`;
      if (portKeys.has(key)) issues.error(path, 'k8s.service-port-unique', `port ${key} is declared twice (also spec.ports[${portKeys.get(key)}])`);
      else portKeys.set(key, i);
    }

    const target = port.targetPort;
    if (target !== undefined && target !== 0 && target !== '') {
      const p = portNumOrNameProblem(target);
      if (p) issues.error([...path, 'targetPort'], 'k8s.service-target-port', p);
    }

    const nodePort = port.nodePort;
    if (typeof nodePort === 'number' && nodePort !== 0) {
      if (type === 'ClusterIP') issues.error([...path, 'nodePort'], 'k8s.service-node-port', "nodePort may not be used when type is 'ClusterIP'");
      else if (nodePort < 1 || nodePort > 65535) issues.error([...path, 'nodePort'], 'k8s.service-node-port', `nodePort ${nodePort} must be in the range 1..65535`);
      else {
        const key = `${nodePort}/${protocol}`;
        if (nodePorts.has(key)) issues.error([...path, 'nodePort'], 'k8s.service-node-port', `nodePort ${key} is used twice (also spec.ports[${nodePorts.get(key)}])`);
        else nodePorts.set(key, i);
      }
    }

    const app = asString(port.appProtocol);
    if (app !== undefined) {
      const p = labelKeyProblem(app);
      if (p) issues.error([...path, 'appProtocol'], 'k8s.service-app-protocol', p.replace(/^label key/, 'appProtocol'));
    }

    checkPortProtocol(issues, path, port, asString(res.metadata?.namespace));
  });
}

/**
 * Maistra 2.0 has no protocol sniffing: a port whose protocol cannot be read from appProtocol
 * or the name is opaque TCP, so routing, retries, metrics and authorization by path silently do
 * not apply to it (OP-07; server-first apps of istio/istio#14743 need exactly this, others do not).
 */
function checkPortProtocol(issues: Issues, path: FieldPath, port: Record<string, unknown>, namespace: string | undefined): void {
  if (port.protocol === 'SCTP' || (namespace !== undefined && SYSTEM_NAMESPACES.has(namespace))) return;
  if (servicePortProtocol(port).explicit) return;
  const app = asString(port.appProtocol);
  const name = asString(port.name);
  const num = typeof port.port === 'number' ? ` ${port.port}` : '';
  if (app !== undefined && app !== '') {
    issues.warn([...path, 'appProtocol'], 'k8s.service-port-protocol', `appProtocol "${app}" is not a protocol the mesh knows (http, http2, https, grpc, grpc-web, tcp, tls, mongo, mysql, redis, udp); port${num} will be treated as opaque TCP`);
  } else {
    issues.warn([...path, 'name'], 'k8s.service-port-protocol', `${name ? `port name "${name}"` : 'an unnamed port'} does not give a protocol (name it <protocol> or <protocol>-<suffix>, e.g. http-web, or set appProtocol); port${num} will be treated as opaque TCP, without HTTP routing or metrics`);
  }
}

export const serviceKind: KindDef = {
  group: CORE_GROUP,
  kind: 'Service',
  plural: 'services',
  singular: 'service',
  shortNames: ['svc'],
  namespaced: true,
  nameFormat: 'dns1123-label',
  description: 'A Kubernetes Service: a stable name (name.namespace.svc.cluster.local) and ports for the pods its selector picks; the mesh\'s service registry.',
  versions: [{ name: 'v1', schema: obj({ spec: ServiceSpecSchema, status: freeform() }), validate: validateService, storage: true }],
};

// ---------------------------------------------------------------------------------------------
// Deployment.

export const DeploymentSpecSchema = obj({
  replicas: int32(),
  selector: LabelSelectorSchema,
  template: PodTemplateSchema,
  strategy: obj({
    type: enumOf(['RollingUpdate', 'Recreate'] as const),
    rollingUpdate: obj({ maxUnavailable: intOrString('Number or percentage, e.g. 25%.'), maxSurge: intOrString('Number or percentage, e.g. 25%.') }),
  }),
  minReadySeconds: int32(),
  revisionHistoryLimit: int32(),
  paused: bool(),
  progressDeadlineSeconds: int32(),
});

export type DeploymentSpec = Static<typeof DeploymentSpecSchema>;

function validateDeployment(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec) ?? {};
  checkNonNegative(issues, ['spec', 'replicas'], spec.replicas);
  checkNonNegative(issues, ['spec', 'minReadySeconds'], spec.minReadySeconds);
  checkNonNegative(issues, ['spec', 'revisionHistoryLimit'], spec.revisionHistoryLimit);
  checkNonNegative(issues, ['spec', 'progressDeadlineSeconds'], spec.progressDeadlineSeconds);
  const minReady = typeof spec.minReadySeconds === 'number' ? spec.minReadySeconds : 0;
  if (typeof spec.progressDeadlineSeconds === 'number' && spec.progressDeadlineSeconds >= 0 && spec.progressDeadlineSeconds <= minReady) {
    issues.error(['spec', 'progressDeadlineSeconds'], 'k8s.deployment-progress-deadline', `progressDeadlineSeconds (${spec.progressDeadlineSeconds}) must be greater than minReadySeconds (${minReady})`);
  }

  const selector = asObject(spec.selector);
  const selectorEmpty = !selector || (Object.keys(asObject(selector.matchLabels) ?? {}).length === 0 && asArray(selector.matchExpressions).length === 0);
  if (spec.selector === undefined) issues.error(['spec', 'selector'], 'k8s.deployment-selector-required', 'selector is required in apps/v1 (it must match the template labels)');
  else if (selector && selectorEmpty) issues.error(['spec', 'selector'], 'k8s.deployment-selector-required', 'an empty selector is invalid for a Deployment (it would select every pod in the namespace)');
  checkLabelSelector(issues, ['spec', 'selector'], spec.selector);

  const template = asObject(spec.template);
  const tmeta = asObject(template?.metadata);
  checkLabels(issues, ['spec', 'template', 'metadata', 'labels'], tmeta?.labels, 'metadata.labels');
  if (selector && !selectorEmpty && !labelSelectorMatches(selector, templateLabels(template))) {
    issues.error(['spec', 'template', 'metadata', 'labels'], 'k8s.deployment-selector-mismatch', '`selector` does not match template `labels`: the Deployment would never see the pods it creates');
  }
  checkStrategy(issues, spec.strategy);
  checkPodSpec(issues, ['spec', 'template', 'spec'], template?.spec, { requireRestartAlways: true });
}

const PERCENT = /^[0-9]+%$/;

function intOrPercent(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && PERCENT.test(v)) return Number(v.slice(0, -1));
  return undefined;
}

function checkStrategy(issues: Issues, raw: unknown): void {
  const strategy = asObject(raw);
  if (!strategy) return;
  const path: FieldPath = ['spec', 'strategy'];
  const type = asString(strategy.type) ?? 'RollingUpdate';
  const ru = asObject(strategy.rollingUpdate);
  if (type === 'Recreate' && strategy.rollingUpdate !== undefined) {
    issues.error([...path, 'rollingUpdate'], 'k8s.deployment-strategy', "rollingUpdate may not be specified when strategy type is 'Recreate'");
    return;
  }
  if (!ru) return;
  for (const f of ['maxUnavailable', 'maxSurge'] as const) {
    const v = ru[f];
    if (v === undefined) continue;
    if (typeof v === 'string' && !PERCENT.test(v)) issues.error([...path, 'rollingUpdate', f], 'k8s.deployment-strategy', `${f} "${v}" must be an integer or a percentage such as 25%`);
    else if (typeof v === 'number' && v < 0) issues.error([...path, 'rollingUpdate', f], 'k8s.deployment-strategy', `${f} must be greater than or equal to 0, got ${v}`);
  }
  const unavailable = ru.maxUnavailable === undefined ? 25 : intOrPercent(ru.maxUnavailable);
  const surge = ru.maxSurge === undefined ? 25 : intOrPercent(ru.maxSurge);
  if (unavailable === 0 && surge === 0) issues.error([...path, 'rollingUpdate', 'maxUnavailable'], 'k8s.deployment-strategy', 'maxUnavailable may not be 0 when maxSurge is 0 (the rollout could never progress)');
  if (typeof ru.maxUnavailable === 'string' && PERCENT.test(ru.maxUnavailable) && Number(ru.maxUnavailable.slice(0, -1)) > 100) {
    issues.error([...path, 'rollingUpdate', 'maxUnavailable'], 'k8s.deployment-strategy', `maxUnavailable ${ru.maxUnavailable} must not be greater than 100%`);
  }
}

export const deploymentKind: KindDef = {
  group: APPS_GROUP,
  kind: 'Deployment',
  plural: 'deployments',
  singular: 'deployment',
  shortNames: ['deploy'],
  namespaced: true,
  nameFormat: 'dns1123-subdomain',
  description: 'A Kubernetes Deployment: replicated pods from a template; the template labels are what mesh selectors (Gateway, Sidecar, policies, subsets) match.',
  versions: [{ name: 'v1', schema: obj({ spec: DeploymentSpecSchema, status: freeform() }), validate: validateDeployment, storage: true }],
};

// ---------------------------------------------------------------------------------------------
// Pod.

function validatePod(res: Resource, issues: Issues): void {
  checkPodSpec(issues, ['spec'], res.spec);
}

export const podKind: KindDef = {
  group: CORE_GROUP,
  kind: 'Pod',
  plural: 'pods',
  singular: 'pod',
  shortNames: ['po'],
  namespaced: true,
  nameFormat: 'dns1123-subdomain',
  description: 'A Kubernetes Pod: the unit the sidecar is injected into and the local runtime runs.',
  versions: [{ name: 'v1', schema: obj({ spec: PodSpecSchema, status: freeform() }), validate: validatePod, storage: true }],
};

// ---------------------------------------------------------------------------------------------
// ConfigMap and Secret.

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Keys of ConfigMap and Secret data (validation.IsConfigMapKey). */
export function configKeyProblem(key: string): string | undefined {
  if (key.length === 0 || key.length > 253) return `key "${key.slice(0, 40)}" must be 1 to 253 characters long`;
  if (!CONFIG_KEY.test(key)) return `key "${key}" may contain only letters, digits, "-", "_" and "."`;
  if (key === '.' || key === '..') return `key "${key}" is not allowed`;
  if (key.startsWith('..')) return `key "${key}" must not start with ".."`;
  return undefined;
}

/**
 * Decoded size of a base64 value as Kubernetes reads `[]byte` fields (Go's StdEncoding: padded,
 * line breaks ignored); undefined when it is not valid base64.
 */
export function base64DecodedLength(value: string): number | undefined {
  const s = value.replace(/[\r\n]/g, '');
  if (s.length % 4 !== 0 || !BASE64.test(s)) return undefined;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

function checkKeys(issues: Issues, field: string, data: unknown): void {
  const o = asObject(data);
  if (!o) return;
  for (const key of Object.keys(o)) {
    const p = configKeyProblem(key);
    if (p) issues.error([field, key], 'k8s.data-key', p);
  }
}

/** Sums the decoded bytes of base64 values, reporting invalid ones. `skip` are keys overridden elsewhere. */
function base64Bytes(issues: Issues, field: string, data: unknown, skip: ReadonlySet<string> = new Set()): number {
  let total = 0;
  const o = asObject(data);
  if (!o) return 0;
  for (const [key, v] of Object.entries(o)) {
    if (typeof v !== 'string') continue;
    const n = base64DecodedLength(v);
    if (n === undefined) issues.error([field, key], 'k8s.data-base64', `value of "${key}" is not valid base64 (put plain text under ${field === 'data' ? 'stringData' : 'data'} instead)`);
    else if (!skip.has(key)) total += n;
  }
  return total;
}

function utf8Bytes(data: unknown): number {
  let total = 0;
  for (const v of Object.values(asObject(data) ?? {})) if (typeof v === 'string') total += Buffer.byteLength(v);
  return total;
}

function validateConfigMap(res: Resource, issues: Issues): void {
  checkKeys(issues, 'data', res.data);
  checkKeys(issues, 'binaryData', res.binaryData);
  const data = asObject(res.data) ?? {};
  const binary = asObject(res.binaryData) ?? {};
  for (const key of Object.keys(data)) {
    if (Object.prototype.hasOwnProperty.call(binary, key)) {
      issues.error(['data', key], 'k8s.configmap-duplicate-key', `key "${key}" is also present in binaryData`);
      issues.error(['binaryData', key], 'k8s.configmap-duplicate-key', `key "${key}" is also present in data`);
    }
  }
  const total = utf8Bytes(data) + base64Bytes(issues, 'binaryData', binary);
  if (total > MAX_DATA_BYTES) issues.error([], 'k8s.data-size', `ConfigMap data totals ${total} bytes, more than the limit of ${MAX_DATA_BYTES} (1 MiB)`);
}

const configMapSchema = obj({ data: strMap('Text values.'), binaryData: strMap('Base64-encoded binary values.'), immutable: bool() });

export const configMapKind: KindDef = {
  group: CORE_GROUP,
  kind: 'ConfigMap',
  plural: 'configmaps',
  singular: 'configmap',
  shortNames: ['cm'],
  namespaced: true,
  nameFormat: 'dns1123-subdomain',
  description: 'A Kubernetes ConfigMap: configuration files and values mounted into pods (the mesh publishes its root certificate as istio-ca-root-cert).',
  versions: [{ name: 'v1', schema: configMapSchema, validate: validateConfigMap, storage: true }],
};

/** Keys a typed Secret must carry (core validation.ValidateSecret). */
const REQUIRED_SECRET_KEYS: Record<string, string[]> = {
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/dockercfg': ['.dockercfg'],
  'kubernetes.io/ssh-auth': ['ssh-privatekey'],
};

function validateSecret(res: Resource, issues: Issues): void {
  checkKeys(issues, 'data', res.data);
  checkKeys(issues, 'stringData', res.stringData);
  const data = asObject(res.data) ?? {};
  const stringData = asObject(res.stringData) ?? {};
  // stringData is merged over data on write, so a key in both counts once, with the stringData value.
  const overridden = new Set(Object.keys(stringData));
  const total = base64Bytes(issues, 'data', data, overridden) + utf8Bytes(stringData);
  if (total > MAX_DATA_BYTES) issues.error(['data'], 'k8s.data-size', `Secret data totals ${total} bytes, more than the limit of ${MAX_DATA_BYTES} (1 MiB)`);

  const type = asString(res.type) ?? 'Opaque';
  const has = (k: string) => Object.prototype.hasOwnProperty.call(data, k) || Object.prototype.hasOwnProperty.call(stringData, k);
  for (const key of REQUIRED_SECRET_KEYS[type] ?? []) {
    if (!has(key)) issues.error(['data', key], 'k8s.secret-type', `a Secret of type ${type} must contain the key "${key}"`);
  }
  if (type === 'kubernetes.io/basic-auth' && !has('username') && !has('password')) {
    issues.error(['data', 'username'], 'k8s.secret-type', 'a Secret of type kubernetes.io/basic-auth must contain "username" or "password"');
  }
  if (type === 'kubernetes.io/service-account-token') {
    const sa = asString(asObject(res.metadata?.annotations)?.['kubernetes.io/service-account.name']);
    if (!sa) issues.error(['metadata', 'annotations', 'kubernetes.io/service-account.name'], 'k8s.secret-type', 'a service-account-token Secret needs the annotation kubernetes.io/service-account.name');
  }
  if (type === 'kubernetes.io/dockerconfigjson') checkDockerConfigJson(issues, data, stringData);
}

function checkDockerConfigJson(issues: Issues, data: Record<string, unknown>, stringData: Record<string, unknown>): void {
  const key = '.dockerconfigjson';
  let text: string | undefined;
  let field = 'data';
  if (typeof stringData[key] === 'string') {
    text = stringData[key] as string;
    field = 'stringData';
  } else if (typeof data[key] === 'string' && base64DecodedLength(data[key] as string) !== undefined) {
    text = Buffer.from((data[key] as string).replace(/[\r\n]/g, ''), 'base64').toString('utf8');
  }
  if (text === undefined) return;
  try {
    JSON.parse(text);
  } catch {
    issues.error([field, key], 'k8s.secret-type', `"${key}" must hold a JSON document (a Docker config.json)`);
  }
}

const secretSchema = obj({
  type: str('Opaque, kubernetes.io/tls, kubernetes.io/dockerconfigjson, … or a custom type.'),
  data: strMap('Base64-encoded values.'),
  stringData: strMap('Plain-text values, merged over data on write.'),
  immutable: bool(),
});

export const secretKind: KindDef = {
  group: CORE_GROUP,
  kind: 'Secret',
  plural: 'secrets',
  singular: 'secret',
  shortNames: [],
  namespaced: true,
  nameFormat: 'dns1123-subdomain',
  description: 'A Kubernetes Secret: gateway certificates (credentialName), plug-in CA material (cacerts), image pull credentials.',
  versions: [{ name: 'v1', schema: secretSchema, validate: validateSecret, storage: true }],
};

export const KUBERNETES_KINDS: readonly KindDef[] = [namespaceKind, serviceAccountKind, serviceKind, deploymentKind, podKind, configMapKind, secretKind];

// ---------------------------------------------------------------------------------------------
// Rule catalogue.

const svc = (spec: string, name = 'reviews') => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: bookinfo}\nspec:\n${spec}`;
const PORT = '  selector: {app: reviews}\n  ports:\n';
const deploy = (body: string) => `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews-v1}\nspec:\n${body}`;
const TEMPLATE = '  selector:\n    matchLabels: {app: reviews}\n  template:\n    metadata:\n      labels: {app: reviews}\n    spec:\n';
/** A Pod with one container; `container` lines are indented by four spaces, `spec` lines by two. */
const pod = (container: string, spec = '') => `apiVersion: v1\nkind: Pod\nmetadata: {name: ratings}\nspec:\n${spec}  containers:\n  - name: ratings\n    image: quay.io/maistra/examples-bookinfo-ratings-v1:2.0.0\n${container}`;
const cm = (body: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\n${body}`;
const secret = (body: string) => `apiVersion: v1\nkind: Secret\nmetadata: {name: bookinfo-credential}\n${body}`;

defineRules('Kubernetes', [
  { id: 'k8s.service-name', severity: 'error', summary: 'A Service name is a DNS-1035 label: it starts with a lower-case letter.', examples: [{ yaml: svc(`${PORT}  - {name: http, port: 9080}\n`, '9reviews'), field: 'metadata.name' }] },
  { id: 'k8s.service-ports-required', severity: 'error', summary: 'A Service has at least one port, unless it is headless (clusterIP: None) or of type ExternalName.', examples: [{ yaml: svc('  selector: {app: reviews}\n'), field: 'spec.ports' }] },
  { id: 'k8s.service-port', severity: 'error', summary: 'Each Service port has a port number in 1..65535.', examples: [{ yaml: svc(`${PORT}  - {name: http, port: 70000}\n`), field: 'spec.ports[0].port' }, { yaml: svc(`${PORT}  - {name: http, targetPort: 9080}\n`), field: 'spec.ports[0].port' }] },
  { id: 'k8s.service-port-name-required', severity: 'error', summary: 'When a Service has more than one port, every port is named.', examples: [{ yaml: svc(`${PORT}  - {name: http, port: 9080}\n  - {port: 9443}\n`), field: 'spec.ports[1].name' }] },
  { id: 'k8s.service-port-name', severity: 'error', summary: 'Service port names are DNS-1123 labels (lower-case letters, digits and "-", at most 63 characters).', examples: [{ yaml: svc(`${PORT}  - {name: HTTP_Web, port: 9080}\n`), field: 'spec.ports[0].name' }] },
  { id: 'k8s.service-port-name-unique', severity: 'error', summary: 'Service port names are unique within the Service.', examples: [{ yaml: svc(`${PORT}  - {name: http, port: 9080}\n  - {name: http, port: 9081}\n`), field: 'spec.ports[1].name' }] },
  { id: 'k8s.service-port-unique', severity: 'error', summary: 'A (port, protocol) pair appears at most once in a Service.', examples: [{ yaml: svc(`${PORT}  - {name: http, port: 9080}\n  - {name: http-alt, port: 9080, targetPort: 8080}\n`), field: 'spec.ports[1]' }] },
  { id: 'k8s.service-target-port', severity: 'error', summary: 'targetPort is a port number in 1..65535 or an IANA service name (at most 15 characters of [-a-z0-9], with a letter).', examples: [{ yaml: svc(`${PORT}  - {name: http, port: 9080, targetPort: reviews-http-port}\n`), field: 'spec.ports[0].targetPort' }, { yaml: svc(`${PORT}  - {name: http, port: 9080, targetPort: 90800}\n`), field: 'spec.ports[0].targetPort' }] },
  { id: 'k8s.service-node-port', severity: 'error', summary: 'nodePort is only used by NodePort and LoadBalancer Services, in 1..65535, once per protocol.', examples: [{ yaml: svc(`${PORT}  - {name: http, port: 9080, nodePort: 30080}\n`), field: 'spec.ports[0].nodePort' }] },
  { id: 'k8s.service-external-name', severity: 'error', summary: 'An ExternalName Service names the DNS-1123 host it aliases in externalName.', examples: [{ yaml: svc('  type: ExternalName\n'), field: 'spec.externalName' }, { yaml: svc('  type: ExternalName\n  externalName: "db_host.example.com"\n'), field: 'spec.externalName' }] },
  { id: 'k8s.service-cluster-ip', severity: 'error', summary: 'clusterIP is an IP address, "None" (headless) or empty; ExternalName Services have none.', examples: [{ yaml: svc(`  clusterIP: 10.0.0.300\n${PORT}  - {name: http, port: 9080}\n`), field: 'spec.clusterIP' }, { yaml: svc('  type: ExternalName\n  externalName: db.example.com\n  clusterIP: 10.0.0.10\n'), field: 'spec.clusterIP' }] },
  { id: 'k8s.service-app-protocol', severity: 'error', summary: 'appProtocol is a qualified name (http, grpc, mycompany.com/proto).', examples: [{ yaml: svc(`${PORT}  - {name: web, port: 9080, appProtocol: "http 1.1"}\n`), field: 'spec.ports[0].appProtocol' }] },
  { id: 'k8s.service-port-protocol', severity: 'warning', summary: 'A Service port whose protocol is given neither by appProtocol nor by its name (<protocol> or <protocol>-<suffix>) is opaque TCP: no HTTP routing, retries, metrics or path-based authorization (no protocol sniffing in Maistra 2.0).', examples: [{ yaml: svc(`${PORT}  - {name: web, port: 9080}\n`), field: 'spec.ports[0].name' }, { yaml: svc(`${PORT}  - {port: 9080}\n`), field: 'spec.ports[0].name' }, { yaml: svc(`${PORT}  - {name: web, port: 9080, appProtocol: kubernetes.io/h2c}\n`), field: 'spec.ports[0].appProtocol' }] },
  { id: 'k8s.label-selector', severity: 'error', summary: 'A label selector expression has a valid key and an operator; In and NotIn take values, Exists and DoesNotExist do not.', examples: [{ yaml: deploy('  selector:\n    matchExpressions:\n    - {key: app, operator: In}\n  template:\n    metadata:\n      labels: {app: reviews}\n    spec:\n      containers:\n      - {name: reviews, image: reviews:1}\n'), field: 'spec.selector.matchExpressions[0].values' }] },
  { id: 'k8s.deployment-selector-required', severity: 'error', summary: 'A Deployment (apps/v1) has a non-empty selector.', examples: [{ yaml: deploy('  template:\n    metadata:\n      labels: {app: reviews}\n    spec:\n      containers:\n      - {name: reviews, image: reviews:1}\n'), field: 'spec.selector' }] },
  { id: 'k8s.deployment-selector-mismatch', severity: 'error', summary: 'A Deployment\'s selector matches its pod template labels.', examples: [{ yaml: deploy('  selector:\n    matchLabels: {app: reviews, version: v1}\n  template:\n    metadata:\n      labels: {app: reviews}\n    spec:\n      containers:\n      - {name: reviews, image: reviews:1}\n'), field: 'spec.template.metadata.labels' }] },
  { id: 'k8s.deployment-strategy', severity: 'error', summary: 'Recreate takes no rollingUpdate; maxSurge and maxUnavailable are non-negative integers or percentages, not both 0, and maxUnavailable is at most 100%.', examples: [{ yaml: deploy(`  strategy:\n    type: RollingUpdate\n    rollingUpdate: {maxSurge: 0, maxUnavailable: 0}\n${TEMPLATE}      containers:\n      - {name: reviews, image: reviews:1}\n`), field: 'spec.strategy.rollingUpdate.maxUnavailable' }, { yaml: deploy(`  strategy:\n    type: Recreate\n    rollingUpdate: {maxSurge: 1}\n${TEMPLATE}      containers:\n      - {name: reviews, image: reviews:1}\n`), field: 'spec.strategy.rollingUpdate' }] },
  { id: 'k8s.deployment-progress-deadline', severity: 'error', summary: 'progressDeadlineSeconds is greater than minReadySeconds.', examples: [{ yaml: deploy(`  minReadySeconds: 30\n  progressDeadlineSeconds: 30\n${TEMPLATE}      containers:\n      - {name: reviews, image: reviews:1}\n`), field: 'spec.progressDeadlineSeconds' }] },
  { id: 'k8s.restart-policy', severity: 'error', summary: 'Pods of a Deployment restart Always and have no activeDeadlineSeconds.', examples: [{ yaml: deploy(`${TEMPLATE}      restartPolicy: Never\n      containers:\n      - {name: reviews, image: reviews:1}\n`), field: 'spec.template.spec.restartPolicy' }] },
  { id: 'k8s.non-negative', severity: 'error', summary: 'Counts and durations in seconds (replicas, minReadySeconds, revisionHistoryLimit, terminationGracePeriodSeconds…) are not negative.', examples: [{ yaml: deploy(`  replicas: -1\n${TEMPLATE}      containers:\n      - {name: reviews, image: reviews:1}\n`), field: 'spec.replicas' }] },
  { id: 'k8s.containers-required', severity: 'error', summary: 'A pod (or pod template) has at least one container.', examples: [{ yaml: deploy(`${TEMPLATE}      containers: []\n`), field: 'spec.template.spec.containers' }, { yaml: 'apiVersion: v1\nkind: Pod\nmetadata: {name: empty}\nspec: {}\n', field: 'spec.containers' }] },
  { id: 'k8s.container-name', severity: 'error', summary: 'Each container has a name that is a DNS-1123 label.', examples: [{ yaml: 'apiVersion: v1\nkind: Pod\nmetadata: {name: ratings}\nspec:\n  containers:\n  - {name: Ratings_App, image: ratings:1}\n', field: 'spec.containers[0].name' }] },
  { id: 'k8s.container-name-unique', severity: 'error', summary: 'Container names are unique across a pod\'s containers and initContainers.', examples: [{ yaml: 'apiVersion: v1\nkind: Pod\nmetadata: {name: ratings}\nspec:\n  initContainers:\n  - {name: ratings, image: busybox}\n  containers:\n  - {name: ratings, image: ratings:1}\n', field: 'spec.initContainers[0].name' }] },
  { id: 'k8s.container-image', severity: 'error', summary: 'Each container names its image.', examples: [{ yaml: 'apiVersion: v1\nkind: Pod\nmetadata: {name: ratings}\nspec:\n  containers:\n  - {name: ratings}\n', field: 'spec.containers[0].image' }] },
  { id: 'k8s.container-port', severity: 'error', summary: 'containerPort (required) and hostPort are in 1..65535; with hostNetwork, hostPort equals containerPort.', examples: [{ yaml: pod('    ports:\n    - {containerPort: 0}\n'), field: 'spec.containers[0].ports[0].containerPort' }, { yaml: pod('    ports:\n    - {containerPort: 9080, hostPort: 8080}\n', '  hostNetwork: true\n'), field: 'spec.containers[0].ports[0].hostPort' }] },
  { id: 'k8s.container-port-name', severity: 'error', summary: 'Container port names are IANA service names (at most 15 characters of [-a-z0-9], with a letter, no "--"), unique within the container.', examples: [{ yaml: pod('    ports:\n    - {name: http-ratings-port, containerPort: 9080}\n'), field: 'spec.containers[0].ports[0].name' }, { yaml: pod('    ports:\n    - {name: http, containerPort: 9080}\n    - {name: http, containerPort: 9081}\n'), field: 'spec.containers[0].ports[1].name' }] },
  { id: 'k8s.host-port-unique', severity: 'error', summary: 'A hostPort/protocol pair is used by one container port of the pod only.', examples: [{ yaml: pod('    ports:\n    - {containerPort: 9080, hostPort: 8080}\n    - {containerPort: 9081, hostPort: 8080}\n'), field: 'spec.containers[0].ports[1].hostPort' }] },
  { id: 'k8s.env-name', severity: 'error', summary: 'Environment variable names are given and consist of letters, digits, "_", "-" and ".", not starting with a digit.', examples: [{ yaml: pod('    env:\n    - {name: 1LOG_LEVEL, value: debug}\n'), field: 'spec.containers[0].env[0].name' }] },
  { id: 'k8s.env-value', severity: 'error', summary: 'An environment variable has value or valueFrom, not both, and valueFrom names exactly one source.', examples: [{ yaml: pod('    env:\n    - name: POD_NAME\n      value: ratings\n      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n'), field: 'spec.containers[0].env[0].valueFrom' }] },
  { id: 'k8s.probe-handler', severity: 'error', summary: 'A probe sets exactly one handler: exec, httpGet, tcpSocket or grpc.', examples: [{ yaml: pod('    readinessProbe: {periodSeconds: 5}\n'), field: 'spec.containers[0].readinessProbe' }, { yaml: pod('    livenessProbe:\n      httpGet: {path: /health, port: 9080}\n      tcpSocket: {port: 9080}\n'), field: 'spec.containers[0].livenessProbe.tcpSocket' }] },
  { id: 'k8s.probe-port', severity: 'error', summary: 'A probe port is a number in 1..65535 or an IANA service name.', examples: [{ yaml: pod('    readinessProbe:\n      httpGet: {path: /health, port: 0}\n'), field: 'spec.containers[0].readinessProbe.httpGet.port' }, { yaml: pod('    livenessProbe:\n      tcpSocket: {port: Http_Port}\n'), field: 'spec.containers[0].livenessProbe.tcpSocket.port' }] },
  { id: 'k8s.probe-port-unresolved', severity: 'warning', summary: 'A probe that names its port refers to one of the container\'s named ports; otherwise it fails at run time.', examples: [{ yaml: pod('    ports:\n    - {name: http, containerPort: 9080}\n    readinessProbe:\n      httpGet: {path: /health, port: http-admin}\n'), field: 'spec.containers[0].readinessProbe.httpGet.port' }] },
  { id: 'k8s.probe-settings', severity: 'error', summary: 'Probe delays, periods and thresholds are not negative; liveness and startup probes have successThreshold 1; header names are valid; init containers have no probes.', examples: [{ yaml: pod('    livenessProbe:\n      httpGet: {path: /health, port: 9080}\n      successThreshold: 2\n'), field: 'spec.containers[0].livenessProbe.successThreshold' }, { yaml: pod('    readinessProbe:\n      exec: {command: [cat, /tmp/ready]}\n      periodSeconds: -5\n'), field: 'spec.containers[0].readinessProbe.periodSeconds' }] },
  { id: 'k8s.volume-name', severity: 'error', summary: 'Volume names are DNS-1123 labels, unique within the pod.', examples: [{ yaml: pod('', '  volumes:\n  - {name: config, emptyDir: {}}\n  - {name: config, emptyDir: {}}\n'), field: 'spec.volumes[1].name' }] },
  { id: 'k8s.volume-mount', severity: 'error', summary: 'A volume mount names a volume of the pod and has a mountPath not used by another mount of the container.', examples: [{ yaml: pod('    volumeMounts:\n    - {name: config, mountPath: /etc/config}\n'), field: 'spec.containers[0].volumeMounts[0].name' }] },
  { id: 'k8s.data-key', severity: 'error', summary: 'ConfigMap and Secret keys are at most 253 characters of letters, digits, "-", "_" and ".", and not "." or "..".', examples: [{ yaml: cm('data:\n  "app config.yaml": "x: 1"\n'), field: 'data["app config.yaml"]' }, { yaml: secret('stringData:\n  ..token: abc\n'), field: 'stringData["..token"]' }] },
  { id: 'k8s.data-base64', severity: 'error', summary: 'Secret data and ConfigMap binaryData values are valid (padded) base64.', examples: [{ yaml: secret('data:\n  password: not base64!\n'), field: 'data.password' }, { yaml: cm('binaryData:\n  logo.png: "iVBORw0KGgo"\n'), field: 'binaryData["logo.png"]' }] },
  { id: 'k8s.data-size', severity: 'error', summary: 'The data of a ConfigMap or Secret totals at most 1 MiB.', examples: [{ yaml: secret(`stringData:\n  part0: &chunk "${'x'.repeat(10_500)}"\n${Array.from({ length: 99 }, (_, i) => `  part${i + 1}: *chunk\n`).join('')}`), field: 'data' }] },
  { id: 'k8s.configmap-duplicate-key', severity: 'error', summary: 'A ConfigMap key is in data or in binaryData, not both.', examples: [{ yaml: cm('data:\n  logo: text\nbinaryData:\n  logo: aGVsbG8=\n'), field: 'binaryData.logo' }] },
  { id: 'k8s.secret-type', severity: 'error', summary: 'Typed Secrets carry their keys: kubernetes.io/tls has tls.crt and tls.key, dockerconfigjson a JSON .dockerconfigjson, ssh-auth ssh-privatekey, basic-auth username or password, service-account-token its annotation.', examples: [{ yaml: secret('type: kubernetes.io/tls\ndata:\n  tls.crt: aGVsbG8=\n'), field: 'data["tls.key"]' }, { yaml: secret('type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: "{auths:"\n'), field: 'stringData[".dockerconfigjson"]' }] },
]);
