// The synthetic mesh the control-plane benchmark serves: S Services in ~S/20 namespaces, 2 Pods each, DestinationRules and VirtualServices, and the proxies that connect for them.
import type { Resource } from '../../src/api/kind.js';

/** What kind of port a service exposes (decides its listener and route shape, as in Istio). */
export type PortKind = 'http' | 'grpc' | 'tcp';

export interface MeshShape {
  services: number;
  namespaces: number;
}

/** One generated service and the facts the benchmark needs about it. */
export interface BenchService {
  index: number;
  name: string;
  namespace: string;
  hostname: string;
  kind: PortKind;
  port: number;
  clusterIP: string;
  /** Has a DestinationRule with subsets v1/v2. */
  subsets: boolean;
  /** Has a VirtualService. */
  virtualService: boolean;
}

/** One simulated sidecar: its xDS node identity (matching a generated Pod of an application service). */
export interface BenchProxy {
  id: string;
  namespace: string;
  ip: string;
  labels: Record<string, string>;
}

/** About 20 services per namespace: 1000 services → 50 namespaces (the shape of Istio's perf/load mesh). */
export function meshShape(services: number): MeshShape {
  return { services, namespaces: Math.max(1, Math.round(services / 20)) };
}

const PORTS: Record<PortKind, { name: string; port: number }> = {
  http: { name: 'http', port: 8080 },
  grpc: { name: 'grpc', port: 9090 },
  tcp: { name: 'tcp', port: 5432 },
};

/** 70% HTTP on 8080, 20% gRPC on 9090, 10% opaque TCP on 5432. */
function kindOf(i: number): PortKind {
  const r = i % 10;
  return r < 7 ? 'http' : r < 9 ? 'grpc' : 'tcp';
}

/** 10.x.y.z from a non-negative offset inside `base`/8-ish ranges, never .0 or .255 in the last octet. */
function ip(first: number, offset: number): string {
  const host = Math.floor(offset / 254) * 256 + (offset % 254) + 1;
  return `${first}.${(host >> 16) & 255}.${(host >> 8) & 255}.${host & 255}`;
}

export function namespaceName(i: number): string {
  return `ns-${String(i).padStart(2, '0')}`;
}

/** The platform namespace every Sidecar imports (`istio-system/*`), home of the shared service. */
export const SHARED_NAMESPACE = 'istio-system';

/**
 * Services 0..S-1 in the application namespaces, then one shared platform service (index S) in
 * istio-system that every sidecar sees even under namespace isolation — the target of the config
 * and endpoint change scenarios, so that every proxy is affected in both isolation modes.
 */
export function services(shape: MeshShape): BenchService[] {
  const out: BenchService[] = [];
  for (let i = 0; i <= shape.services; i++) {
    if (i === shape.services) {
      out.push({ index: i, name: 'shared-api', namespace: SHARED_NAMESPACE, hostname: `shared-api.${SHARED_NAMESPACE}.svc.cluster.local`, kind: 'http', port: 8080, clusterIP: ip(172, i), subsets: true, virtualService: true });
      break;
    }
    const namespace = namespaceName(i % shape.namespaces);
    const name = `svc-${i}`;
    const kind = kindOf(i);
    out.push({
      index: i,
      name,
      namespace,
      hostname: `${name}.${namespace}.svc.cluster.local`,
      kind,
      port: PORTS[kind].port,
      clusterIP: ip(172, i),
      subsets: i % 2 === 0,
      virtualService: i % 4 === 0,
    });
  }
  return out;
}

/** The IP of pod `replica` (0 or 1) of service `i`; `generation` > 0 moves it (an endpoint change). */
export function podIP(i: number, replica: number, generation = 0): string {
  return ip(10, (2 * i + replica) + generation * 2_000_000);
}

export function podName(s: BenchService, replica: number): string {
  return `${s.name}-v${replica + 1}-7d9f8`;
}

function serviceResource(s: BenchService): Resource {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, labels: { app: s.name } },
    spec: { clusterIP: s.clusterIP, selector: { app: s.name }, ports: [{ name: PORTS[s.kind].name, port: s.port, targetPort: s.port }] },
  };
}

export function podResource(s: BenchService, replica: number, generation = 0): Resource {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(s, replica),
      namespace: s.namespace,
      labels: { app: s.name, version: `v${replica + 1}` },
      annotations: { 'sidecar.istio.io/inject': 'true' },
    },
    spec: { serviceAccountName: s.name, containers: [{ name: 'app', image: 'bench/app:1', ports: [{ name: PORTS[s.kind].name, containerPort: s.port }] }] },
    status: { phase: 'Running', podIP: podIP(s.index, replica, generation), conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function destinationRule(s: BenchService): Resource {
  return {
    apiVersion: 'networking.istio.io/v1beta1',
    kind: 'DestinationRule',
    metadata: { name: s.name, namespace: s.namespace },
    spec: {
      host: s.hostname,
      trafficPolicy: { connectionPool: { tcp: { maxConnections: 1000 } }, outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s' } },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  };
}

/**
 * The VirtualService of service `s`; `revision` changes its content (the config-change scenario
 * edits one VirtualService by bumping it). HTTP/gRPC: a header match to v2, then a weighted split
 * with a timeout; TCP: a weighted split. Services without subsets route to the default cluster.
 */
export function virtualService(s: BenchService, revision = 0): Resource {
  const dest = (subset: string) => (s.subsets ? { host: s.hostname, subset, port: { number: s.port } } : { host: s.hostname, port: { number: s.port } });
  const w = 90 - (revision % 9) * 10;
  const spec =
    s.kind === 'tcp'
      ? { hosts: [s.hostname], tcp: [{ route: [{ destination: dest('v1'), weight: w }, { destination: dest('v2'), weight: 100 - w }] }] }
      : {
          hosts: [s.hostname],
          http: [
            { name: 'canary', match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: dest('v2') }] },
            {
              name: 'default',
              route: [
                { destination: dest('v1'), weight: w },
                { destination: dest('v2'), weight: 100 - w },
              ],
              timeout: `${5 + revision}s`,
              retries: { attempts: 2, perTryTimeout: '2s', retryOn: 'gateway-error,connect-failure' },
            },
          ],
        };
  return { apiVersion: 'networking.istio.io/v1beta1', kind: 'VirtualService', metadata: { name: s.name, namespace: s.namespace }, spec };
}

/** Every object of the mesh, namespaces first. */
export function meshResources(shape: MeshShape): Resource[] {
  const out: Resource[] = [];
  for (let n = 0; n < shape.namespaces; n++) out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespaceName(n) } });
  out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SHARED_NAMESPACE } });
  for (const s of services(shape)) {
    out.push(serviceResource(s), podResource(s, 0), podResource(s, 1));
    if (s.subsets) out.push(destinationRule(s));
    if (s.virtualService) out.push(virtualService(s));
  }
  return out;
}

/**
 * The `count` proxies that connect: proxy j is pod (j mod 2S) — one sidecar per pod, the way a
 * real fleet looks; when count > 2S the extra ones are replicas with their own node ids.
 */
export function proxies(shape: MeshShape, count: number): BenchProxy[] {
  const svcs = services(shape).slice(0, shape.services);
  const out: BenchProxy[] = [];
  for (let j = 0; j < count; j++) {
    const k = j % (2 * svcs.length);
    const s = svcs[Math.floor(k / 2)]!;
    const replica = k % 2;
    const copy = Math.floor(j / (2 * svcs.length));
    const pod = `${podName(s, replica)}${copy > 0 ? `-r${copy}` : ''}`;
    const address = podIP(s.index, replica);
    out.push({ id: `sidecar~${address}~${pod}.${s.namespace}~${s.namespace}.svc.cluster.local`, namespace: s.namespace, ip: address, labels: { app: s.name, version: `v${replica + 1}` } });
  }
  return out;
}

/** The service whose VirtualService and Pod the change scenarios edit: the shared one, visible to every proxy. */
export function sharedService(shape: MeshShape): BenchService {
  return services(shape)[shape.services]!;
}
