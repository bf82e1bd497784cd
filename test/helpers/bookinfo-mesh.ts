// Test fixtures for the registry and the PushContext: a MemoryStore from YAML, Bookinfo with running Pods, proxies.
import { readFileSync } from 'node:fs';
import type { Resource } from '../../src/api/kind.js';
import { lookupKind } from '../../src/api/registry.js';
import { parseManifests } from '../../src/config/manifest.js';
import { MemoryStore } from '../../src/config/memory-store.js';
import { meshConfig, type MeshConfig } from '../../src/model/mesh-config.js';
import type { Proxy } from '../../src/model/proxy.js';
import { proxyFromNode } from '../../src/model/proxy.js';
import type { PushContext } from '../../src/model/push-context.js';
import { buildPushContext } from '../../src/model/push/build-push-context.js';
import { ServiceRegistry } from '../../src/registry/registry.js';

/** A store whose clock ticks one second per write, from 2024-01-01T00:00:00Z: later applies are younger. */
export function tickingStore(): MemoryStore {
  let t = Date.parse('2024-01-01T00:00:00Z');
  return new MemoryStore({ now: () => new Date((t += 1000)) });
}

/**
 * Applies every document of a YAML string; returns the stored objects. With `namespace`, objects of
 * namespaced kinds that name no namespace go there, as `kubectl apply -n NAMESPACE` puts them;
 * without it the store puts them in "default".
 */
export function applyYaml(store: MemoryStore, yaml: string, namespace?: string): Resource[] {
  const loaded = parseManifests(yaml, 'test.yaml');
  if (loaded.problems.length > 0) throw new Error(loaded.problems.map((p) => p.message).join('; '));
  return loaded.objects.map((o) => {
    const r = o.object as Resource;
    const found = lookupKind(r.apiVersion, r.kind);
    if (namespace && !r.metadata.namespace && found && !('problem' in found) && found.def.namespaced) r.metadata.namespace = namespace;
    return store.apply(r).resource;
  });
}

/** Applies every document of a file (see applyYaml for `namespace`). */
export function applyFile(store: MemoryStore, path: string, namespace?: string): Resource[] {
  return applyYaml(store, readFileSync(path, 'utf8'), namespace);
}

/**
 * The namespace the tests deploy Bookinfo's manifests in. The example itself names no namespace
 * (it runs in "default", as in Istio's docs); the tests apply it as `kubectl apply -n bookinfo`
 * would, so that its names never coincide with the defaults of the "default" namespace.
 */
export const BOOKINFO_NAMESPACE = 'bookinfo';

let nextIp = 10;

/**
 * A running, ready Pod for a Deployment (its template's labels, annotations and spec), the way a
 * kubelet would report it. A template that opts in (`sidecar.istio.io/inject: "true"`) gets what
 * the injector writes that the registry reads: the `sidecar.istio.io/status` annotation and the
 * `security.istio.io/tlsMode: istio` label.
 */
export function podFor(deployment: Resource, ip: string, extra: { ready?: boolean; suffix?: string } = {}): Resource {
  const spec = deployment.spec as { template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: Record<string, unknown> } };
  const annotations = { ...(spec.template.metadata?.annotations ?? {}) };
  const injected = ['y', 'yes', 'true', 'on'].includes((annotations['sidecar.istio.io/inject'] ?? '').toLowerCase());
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${deployment.metadata.name}-${extra.suffix ?? 'abc12'}`,
      namespace: deployment.metadata.namespace,
      labels: { ...(spec.template.metadata?.labels ?? {}), ...(injected ? { 'security.istio.io/tlsMode': 'istio' } : {}) },
      annotations: { ...annotations, ...(injected ? { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' } : {}) },
    },
    spec: structuredClone(spec.template.spec),
    status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True' }] },
  };
}

export interface BookinfoMesh {
  store: MemoryStore;
  /** Pod IP by Deployment name (`reviews-v2` → `10.1.0.x`). */
  ips: Record<string, string>;
}

/**
 * examples/bookinfo/platform.yaml (Services, ServiceAccounts, Deployments) applied in the namespace
 * `bookinfo`, plus one running Pod per Deployment.
 */
export function bookinfoMesh(store: MemoryStore = tickingStore()): BookinfoMesh {
  store.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: BOOKINFO_NAMESPACE } });
  const objects = applyFile(store, 'examples/bookinfo/platform.yaml', BOOKINFO_NAMESPACE);
  const ips: Record<string, string> = {};
  for (const d of objects.filter((o) => o.kind === 'Deployment')) {
    const ip = `10.1.0.${nextIp++}`;
    ips[d.metadata.name!] = ip;
    store.apply(podFor(d, ip));
  }
  return { store, ips };
}

/** A sidecar (or router) proxy as it would connect: node id and LABELS metadata. */
export function proxy(namespace: string, labels: Record<string, string>, opts: { type?: 'sidecar' | 'router'; ip?: string; name?: string } = {}): Proxy {
  const p = proxyFromNode(`${opts.type ?? 'sidecar'}~${opts.ip ?? '10.9.9.9'}~${opts.name ?? 'pod-1'}.${namespace}~${namespace}.svc.cluster.local`, { LABELS: labels });
  if (typeof p === 'string') throw new Error(p);
  return p;
}

let pushes = 0;

/** A PushContext over the store's current state (a fresh registry snapshot), with mesh defaults unless overridden. */
export function pushOf(store: MemoryStore, mesh: Partial<MeshConfig> = {}): PushContext {
  const registry = new ServiceRegistry(store);
  const push = buildPushContext(store, registry.snapshot(), meshConfig(mesh), `test-${++pushes}`);
  registry.close();
  return push;
}
