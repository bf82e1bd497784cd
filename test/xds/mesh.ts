// Test fixtures for traffic tables: Bookinfo with running pods, an ingress gateway, fixture documents applied by index, proxies and their config.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Resource } from '../../src/api/kind.js';
import { parseManifests } from '../../src/config/manifest.js';
import type { MemoryStore } from '../../src/config/memory-store.js';
import type { MeshConfig } from '../../src/model/mesh-config.js';
import type { Proxy } from '../../src/model/proxy.js';
import { applyYaml, BOOKINFO_NAMESPACE, bookinfoMesh, podFor, proxy, pushOf } from '../helpers/bookinfo-mesh.js';
import { configFor, type ProxyConfig } from './simulation.js';

export const NS = BOOKINFO_NAMESPACE;
export const GATEWAY_IP = '10.1.9.1';
export const host = (name: string, ns = NS) => `${name}.${ns}.svc.cluster.local`;

/** The documents of a YAML file, in order. */
export function docs(path: string): Resource[] {
  const loaded = parseManifests(readFileSync(path, 'utf8'), path);
  if (loaded.problems.length > 0) throw new Error(loaded.problems.map((p) => p.message).join('; '));
  return loaded.objects.map((o) => o.object as Resource);
}

/** Applies documents `indexes` of a fixture file into `namespace` (fixtures leave it unset). */
export function applyDocs(store: MemoryStore, path: string, indexes: number[], namespace = NS): void {
  const all = docs(path);
  for (const i of indexes) {
    const d = structuredClone(all[i]);
    if (!d) throw new Error(`${path} has no document ${i}`);
    d.metadata.namespace ??= namespace;
    store.apply(d);
  }
}

/** An ingress gateway like Maistra's: Service ports 80→8080, 443→8443 and 31400, one running pod. */
const INGRESS = `
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports:
  - {name: http2, port: 80, targetPort: 8080}
  - {name: https, port: 443, targetPort: 8443}
  - {name: tcp, port: 31400, targetPort: 31400}
---
apiVersion: v1
kind: Pod
metadata:
  name: istio-ingressgateway-1
  namespace: istio-system
  labels: {istio: ingressgateway, app: istio-ingressgateway}
spec:
  containers:
  - name: istio-proxy
    image: proxy:1
    ports: [{containerPort: 8080}, {containerPort: 8443}, {containerPort: 31400}]
status:
  phase: Running
  podIP: ${GATEWAY_IP}
  conditions: [{type: Ready, status: 'True'}]
`;

export interface TestMesh {
  store: MemoryStore;
  ips: Record<string, string>;
  /** A proxy for a Bookinfo deployment (`reviews-v2`), with its pod's labels and IP. */
  sidecar(deployment: string): Proxy;
  gateway(): Proxy;
  /** The generated, validated config of a proxy over the store's current state. */
  config(p: Proxy, mesh?: Partial<MeshConfig>): ProxyConfig;
}

/** Bookinfo (examples/bookinfo/platform.yaml) with one running pod per deployment, plus the ingress gateway. */
export function testMesh(): TestMesh {
  const { store, ips } = bookinfoMesh();
  applyYaml(store, INGRESS);
  const labelsOf = (deployment: string): Record<string, string> => {
    const d = store.list({ kind: 'Deployment', namespace: NS }).find((r) => r.metadata.name === deployment);
    if (!d) throw new Error(`no deployment ${deployment}`);
    return { ...((d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels ?? {}) };
  };
  return {
    store,
    ips,
    sidecar: (deployment) => proxy(NS, labelsOf(deployment), { ip: ips[deployment], name: `${deployment}-abc12` }),
    gateway: () => proxy('istio-system', { istio: 'ingressgateway', app: 'istio-ingressgateway' }, { type: 'router', ip: GATEWAY_IP, name: 'istio-ingressgateway-1' }),
    config: (p, mesh = {}) => configFor(p, pushOf(store, mesh)),
  };
}

export const FIXTURES = 'test/fixtures/valid/networking';

/** Asserts that `actual` has every key of `expected` with a deep-equal value (other keys are free). */
export function assertIncludes(actual: object, expected: object, label = ''): void {
  const a = actual as Record<string, unknown>;
  for (const [k, v] of Object.entries(expected)) {
    assert.deepEqual(a[k], v, `${label}${label ? ': ' : ''}${k} — got ${JSON.stringify(actual)}`);
  }
}

const HTTPBIN = `
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: ${NS}}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin-v1, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin, version: v1}}
  template:
    metadata: {labels: {app: httpbin, version: v1}, annotations: {sidecar.istio.io/inject: "true"}}
    spec: {serviceAccountName: httpbin, containers: [{name: httpbin, image: httpbin:1, ports: [{containerPort: 80}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin-v2, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin, version: v2}}
  template:
    metadata: {labels: {app: httpbin, version: v2}, annotations: {sidecar.istio.io/inject: "true"}}
    spec: {serviceAccountName: httpbin, containers: [{name: httpbin, image: httpbin:1, ports: [{containerPort: 80}]}]}
`;

/** Adds httpbin (Service port 8000 → 80, Deployments v1 and v2 with a running pod each, IPs 10.1.5.50/51). */
export function addHttpbin(m: TestMesh): void {
  let ip = 50;
  for (const d of applyYaml(m.store, HTTPBIN).filter((o) => o.kind === 'Deployment')) {
    m.ips[d.metadata.name!] = `10.1.5.${ip}`;
    m.store.apply(podFor(d, `10.1.5.${ip++}`));
  }
}

export const EGRESS_IP = '10.1.9.2';

const EGRESS = `
apiVersion: v1
kind: Service
metadata: {name: istio-egressgateway, namespace: istio-system}
spec:
  selector: {istio: egressgateway}
  ports:
  - {name: http2, port: 80, targetPort: 8080}
  - {name: https, port: 443, targetPort: 8443}
---
apiVersion: v1
kind: Pod
metadata:
  name: istio-egressgateway-1
  namespace: istio-system
  labels: {istio: egressgateway, app: istio-egressgateway}
spec:
  containers: [{name: istio-proxy, image: proxy:1, ports: [{containerPort: 8080}, {containerPort: 8443}]}]
status:
  phase: Running
  podIP: ${EGRESS_IP}
  conditions: [{type: Ready, status: 'True'}]
`;

/** Adds Maistra's egress gateway (Service ports 80→8080, 443→8443, one running pod) and returns its proxy. */
export function addEgressGateway(m: TestMesh): Proxy {
  applyYaml(m.store, EGRESS);
  return proxy('istio-system', { istio: 'egressgateway', app: 'istio-egressgateway' }, { type: 'router', ip: EGRESS_IP, name: 'istio-egressgateway-1' });
}
