// A tiny builder of in-memory resources for analyzer tests, and a complete Bookinfo set that analyzes clean.
import type { Resource } from '../../src/api/kind.js';
import { formatPath } from '../../src/api/diagnostics.js';
import type { AnalysisMessage } from '../../src/model/analysis/types.js';

type Labels = Record<string, string>;
type Spec = Record<string, unknown>;

/** Any resource; `namespace` undefined leaves metadata.namespace unset. */
export function res(apiVersion: string, kind: string, name: string, namespace: string | undefined, body: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): Resource {
  return { apiVersion, kind, metadata: { name, ...(namespace !== undefined ? { namespace } : {}), ...meta }, ...body };
}

/** Sets metadata.creationTimestamp (RFC 3339) on a resource and returns it. */
export function created<T extends Resource>(r: T, timestamp: string): T {
  r.metadata.creationTimestamp = timestamp;
  return r;
}

// Kubernetes

export const namespace = (name: string, labels: Labels = {}) => res('v1', 'Namespace', name, undefined, {}, { labels });

/** A Service selecting `app: <name>` by default, with named HTTP ports. */
export function service(name: string, ns: string, ports: Array<number | { port: number; name?: string }> = [9080], selector: Labels | null = { app: name }, meta: Record<string, unknown> = {}): Resource {
  const list = ports.map((p) => (typeof p === 'number' ? { name: `http-${p}`, port: p } : p));
  return res('v1', 'Service', name, ns, { spec: { ...(selector ? { selector } : {}), ports: list } }, meta);
}

export function deployment(name: string, ns: string, labels: Labels): Resource {
  return res('apps/v1', 'Deployment', name, ns, {
    spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: `${name}:1` }] } } },
  });
}

export const pod = (name: string, ns: string, labels: Labels) => res('v1', 'Pod', name, ns, { spec: { containers: [{ name: 'app', image: 'app:1' }] } }, { labels });

// networking.istio.io

const NET = 'networking.istio.io/v1beta1';

export interface ServerSpec {
  port: number;
  hosts: string[];
  protocol?: string;
}

export function gateway(name: string, ns: string, selector: Labels, servers: ServerSpec[]): Resource {
  return res(NET, 'Gateway', name, ns, {
    spec: { selector, servers: servers.map((s) => ({ port: { number: s.port, name: `${(s.protocol ?? 'http').toLowerCase()}-${s.port}`, protocol: s.protocol ?? 'HTTP' }, hosts: s.hosts, ...(s.protocol === 'HTTPS' ? { tls: { mode: 'SIMPLE', credentialName: 'cert' } } : {}) })) },
  });
}

export const virtualService = (name: string, ns: string, spec: Spec) => res(NET, 'VirtualService', name, ns, { spec });

/** A VirtualService for `host` routing everything to `host` (subset optional), bound to `gateways` when given. */
export function route(name: string, ns: string, host: string, subset?: string, gateways?: string[]): Resource {
  return virtualService(name, ns, { hosts: [host], ...(gateways ? { gateways } : {}), http: [{ route: [{ destination: { host, ...(subset ? { subset } : {}) } }] }] });
}

/** A DestinationRule with one subset per `version` label value. */
export function destinationRule(name: string, ns: string, host: string, versions: string[] = [], extra: Spec = {}): Resource {
  return res(NET, 'DestinationRule', name, ns, { spec: { host, ...(versions.length ? { subsets: versions.map((v) => ({ name: v, labels: { version: v } })) } : {}), ...extra } });
}

export function serviceEntry(name: string, ns: string, hosts: string[], ports: number[] = [443], extra: Spec = {}): Resource {
  return res(NET, 'ServiceEntry', name, ns, { spec: { hosts, ports: ports.map((p) => ({ number: p, name: `tls-${p}`, protocol: 'TLS' })), resolution: hosts.some((h) => h.startsWith('*')) ? 'NONE' : 'DNS', location: 'MESH_EXTERNAL', ...extra } });
}

export const sidecar = (name: string, ns: string, labels?: Labels) => res(NET, 'Sidecar', name, ns, { spec: { ...(labels ? { workloadSelector: { labels } } : {}), egress: [{ hosts: ['./*'] }] } });
export const envoyFilter = (name: string, ns: string, labels: Labels) => res('networking.istio.io/v1alpha3', 'EnvoyFilter', name, ns, { spec: { workloadSelector: { labels }, configPatches: [{ applyTo: 'HTTP_FILTER', match: { context: 'SIDECAR_INBOUND' }, patch: { operation: 'INSERT_BEFORE', value: { name: 'envoy.filters.http.lua' } } }] } });

// security.istio.io

const SEC = 'security.istio.io/v1beta1';
const selector = (labels?: Labels) => (labels ? { selector: { matchLabels: labels } } : {});

export const peerAuthentication = (name: string, ns: string, labels?: Labels) => res(SEC, 'PeerAuthentication', name, ns, { spec: { ...selector(labels), mtls: { mode: 'STRICT' } } });
export const requestAuthentication = (name: string, ns: string, labels?: Labels) =>
  res(SEC, 'RequestAuthentication', name, ns, { spec: { ...selector(labels), jwtRules: [{ issuer: 'testing@secure.istio.io', jwksUri: 'https://raw.githubusercontent.com/istio/istio/release-1.6/security/tools/jwt/samples/jwks.json' }] } });
export const authorizationPolicy = (name: string, ns: string, labels: Labels | undefined, spec: Spec = {}) => res(SEC, 'AuthorizationPolicy', name, ns, { spec: { ...selector(labels), ...spec } });

// maistra.io

export const controlPlane = (name: string, ns: string, spec: Spec = { version: 'v2.0' }) => res('maistra.io/v2', 'ServiceMeshControlPlane', name, ns, { spec });
export const memberRoll = (ns: string, members: string[], name = 'default') => res('maistra.io/v1', 'ServiceMeshMemberRoll', name, ns, { spec: { members } });
export const extension = (name: string, ns: string, labels: Labels) => res('maistra.io/v1alpha1', 'ServiceMeshExtension', name, ns, { spec: { image: 'quay.io/x/ext:1', phase: 'PostAuthZ', workloadSelector: { labels } } });

/**
 * Istio's Bookinfo, complete: the control plane and member roll, four services with their
 * deployments (reviews v1–v3), the gateway and its VirtualService, every DestinationRule
 * (destination-rule-all) and every VirtualService routed to v1 (virtual-service-all-v1).
 */
export function bookinfo(ns = 'bookinfo'): Resource[] {
  const apps = ['productpage', 'details', 'ratings', 'reviews'];
  const out: Resource[] = [controlPlane('basic', 'istio-system'), memberRoll('istio-system', [ns]), namespace(ns)];
  for (const app of apps) {
    out.push(service(app, ns, [{ port: 9080, name: 'http' }]));
    const versions = app === 'reviews' ? ['v1', 'v2', 'v3'] : ['v1'];
    for (const v of versions) out.push(deployment(`${app}-${v}`, ns, { app, version: v }));
    out.push(destinationRule(app, ns, app, versions));
    out.push(route(app, ns, app, 'v1'));
  }
  out.push(gateway('bookinfo-gateway', ns, { istio: 'ingressgateway' }, [{ port: 80, hosts: ['*'] }]));
  out.push(virtualService('bookinfo', ns, { hosts: ['*'], gateways: ['bookinfo-gateway'], http: [{ match: [{ uri: { exact: '/productpage' } }], route: [{ destination: { host: 'productpage', port: { number: 9080 } } }] }] }));
  return out;
}

/** `CODE kind ns/name @ path` for each message: compact, order-preserving, easy to compare. */
export function summary(messages: readonly AnalysisMessage[]): string[] {
  return messages.map((m) => `${m.code} ${m.resource.kind} ${m.resource.namespace ? `${m.resource.namespace}/` : ''}${m.resource.name} @ ${formatPath(m.path)}`);
}
