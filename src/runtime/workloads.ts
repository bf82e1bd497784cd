// Deployments as local pods: replica names as the ReplicaSet controller makes them, and each container's process (argv, environment, working directory, readiness probe).
import { createHash, randomBytes } from 'node:crypto';
import type { Resource } from '../api/kind.js';
import { MeshError } from '../shared/errors.js';
import type { Probe } from './supervisor.js';

/** The container fields the runtime reads (a subset of Kubernetes' Container). */
export interface ContainerManifest {
  name: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  readinessProbe?: ProbeManifest;
  livenessProbe?: ProbeManifest;
  securityContext?: { runAsUser?: number; runAsGroup?: number };
}

interface ProbeManifest {
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: 'HTTP' | 'HTTPS'; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number | string; host?: string };
  exec?: { command?: string[] };
  grpc?: unknown;
  initialDelaySeconds?: number;
  timeoutSeconds?: number;
  periodSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: ContainerManifest[]; serviceAccountName?: string; hostNetwork?: boolean; securityContext?: { runAsUser?: number } };
}

/** A pod the runtime will run, before it has an address. */
export interface PodPlan {
  name: string;
  namespace: string;
  uid: string;
  /** The Deployment that owns it and the hash of the template it was made from (`pod-template-hash`). */
  owner: string;
  templateHash: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccount: string;
  spec: PodTemplate['spec'];
  /** Where relative paths in the containers' commands resolve: the directory of the manifest that defined the Deployment. */
  baseDir: string;
}

/** Kubernetes' pod-template-hash: stable for one template, different when it changes (which rolls the pods). */
export function templateHash(template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

/** Five random characters from the alphabet the ReplicaSet controller uses for pod names. */
function suffix(): string {
  return [...randomBytes(5)].map((b) => NAME_CHARS[b % NAME_CHARS.length]).join('');
}

/** The pods a Deployment asks for (`spec.replicas`, default 1), named `DEPLOYMENT-HASH-XXXXX`. */
export function podsOf(deployment: Resource, baseDir: string): PodPlan[] {
  const spec = deployment.spec as { replicas?: number; template: PodTemplate };
  const template = spec.template;
  const hash = templateHash(template);
  const replicas = spec.replicas ?? 1;
  const namespace = deployment.metadata.namespace ?? 'default';
  const out: PodPlan[] = [];
  for (let i = 0; i < replicas; i++) {
    out.push({
      name: `${deployment.metadata.name ?? 'deployment'}-${hash}-${suffix()}`,
      namespace,
      uid: randomBytes(16).toString('hex'),
      owner: deployment.metadata.name ?? '',
      templateHash: hash,
      labels: { ...(template.metadata?.labels ?? {}), 'pod-template-hash': hash },
      annotations: { ...(template.metadata?.annotations ?? {}) },
      serviceAccount: template.spec.serviceAccountName ?? 'default',
      spec: template.spec,
      baseDir,
    });
  }
  return out;
}

/** What a container's downward-API references resolve to. */
export interface PodFacts {
  name: string;
  namespace: string;
  ip: string;
  serviceAccount: string;
  uid: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * A container's environment: `value`s, and `valueFrom.fieldRef` for the downward API fields a
 * sidecar needs (metadata.name/namespace/uid, status.podIP, spec.serviceAccountName,
 * metadata.labels['k']). Anything else (secrets, config maps) is refused with the container named.
 */
export function containerEnv(c: ContainerManifest, pod: PodFacts, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, e] of (c.env ?? []).entries()) {
    if (e.value !== undefined) {
      out[e.name] = e.value;
      continue;
    }
    const path = (e.valueFrom as { fieldRef?: { fieldPath?: string } } | undefined)?.fieldRef?.fieldPath;
    const v = path === undefined ? undefined : downward(path, pod);
    if (v === undefined && e.valueFrom !== undefined) {
      throw new MeshError('MESH_USAGE', `${where}: env[${i}] (${e.name}): only valueFrom.fieldRef of metadata.name, metadata.namespace, metadata.uid, metadata.labels['…'], status.podIP and spec.serviceAccountName is supported locally`);
    }
    out[e.name] = v ?? '';
  }
  return out;
}

function downward(path: string, pod: PodFacts): string | undefined {
  switch (path) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'metadata.uid':
      return pod.uid;
    case 'status.podIP':
      return pod.ip;
    case 'spec.serviceAccountName':
      return pod.serviceAccount;
  }
  const label = /^metadata\.labels\['([^']+)'\]$/.exec(path);
  return label ? (pod.labels[label[1]!] ?? '') : undefined;
}

/** The process a container runs: `command` then `args` (a local process has no image entrypoint). */
export function containerArgv(c: ContainerManifest, where: string): string[] {
  if (!c.command || c.command.length === 0) throw new MeshError('MESH_USAGE', `${where}: the local runtime runs a container's command; this container has none (command: [...] is required, an image's entrypoint is not available locally)`);
  return [...c.command, ...(c.args ?? [])];
}

/** A container port by number or name. */
function portOf(c: ContainerManifest, port: number | string, where: string): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = c.ports?.find((p) => p.name === port);
  if (!named) throw new MeshError('MESH_USAGE', `${where}: probe port "${port}" names no port of the container`);
  return named.containerPort;
}

/**
 * The container's readinessProbe as the supervisor runs it, against the pod's address (a probe's
 * `host` field wins); an exec probe runs its command as the container runs. gRPC probes are
 * refused with the container named.
 */
export function readinessOf(c: ContainerManifest, podIp: string, where: string): Probe | undefined {
  return c.readinessProbe ? probeOf(c, c.readinessProbe, 'readinessProbe', podIp, where) : undefined;
}

/** The container's livenessProbe, read as `readinessOf` reads the readiness probe: failing it gets the container restarted. */
export function livenessOf(c: ContainerManifest, podIp: string, where: string): Probe | undefined {
  return c.livenessProbe ? probeOf(c, c.livenessProbe, 'livenessProbe', podIp, where) : undefined;
}

function probeOf(c: ContainerManifest, p: ProbeManifest, field: 'readinessProbe' | 'livenessProbe', podIp: string, where: string): Probe {
  const timing = {
    periodMs: (p.periodSeconds ?? 10) * 1000,
    timeoutMs: (p.timeoutSeconds ?? 1) * 1000,
    initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
    failureThreshold: p.failureThreshold ?? 3,
    successThreshold: p.successThreshold ?? 1,
  };
  if (p.httpGet) {
    const headers = (p.httpGet.httpHeaders ?? []).map((h) => [h.name, h.value] as const);
    return { kind: 'http', host: p.httpGet.host ?? podIp, port: portOf(c, p.httpGet.port, where), path: p.httpGet.path ?? '/', scheme: p.httpGet.scheme ?? 'HTTP', headers, ...timing };
  }
  if (p.tcpSocket) return { kind: 'tcp', host: p.tcpSocket.host ?? podIp, port: portOf(c, p.tcpSocket.port, where), ...timing };
  if (p.exec) {
    const command = p.exec.command ?? [];
    if (command.length === 0) throw new MeshError('MESH_USAGE', `${where}: ${field}.exec.command is empty`);
    return { kind: 'exec', command, ...timing };
  }
  throw new MeshError('MESH_USAGE', `${where}: gRPC ${field === 'readinessProbe' ? 'readiness' : 'liveness'} probes are not supported locally (use httpGet, tcpSocket or exec)`);
}
