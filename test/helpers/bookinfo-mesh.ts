// Test fixtures for the registry and the PushContext: a MemoryStore from YAML, Bookinfo with running Pods, proxies.
import { readFileSync } from 'node:fs';
import type { Resource } from '../../src/api/kind.js';
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

/** Applies every document of a YAML string; returns the stored objects. */
export function applyYaml(store: MemoryStore, yaml: string): Resource[] {
  const loaded = parseManifests(yaml, 'test.yaml');
  if (loaded.problems.length > 0) throw new Error(loaded.problems.map((p) => p.message).join('; '));
  return loaded.objects.map((o) => store.apply(o.object as Resource).resource);
}

export function applyFile(store: MemoryStore, path: string): Resource[] {
  return applyYaml(store, readFileSync(path, 'utf8'));
}

let nextIp = 10;

/**
 * A running, ready Pod for a Deployment (its template's labels, annotations and spec), the way a
 * kubelet would report it.
 */
export function podFor(deployment: Resource, ip: string, extra: { ready?: boolean; suffix?: string } = {}): Resource {
  const spec = deployment.spec as { template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: Record<string, unknown> } };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${deployment.metadata.name}-${extra.suffix ?? 'abc12'}`,
      namespace: deployment.metadata.namespace,
      labels: { ...(spec.template.metadata?.labels ?? {}) },
      annotations: { ...(spec.template.metadata?.annotations ?? {}) },
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

/** examples/bookinfo/platform.yaml (Namespace, Services, ServiceAccounts, Deployments) plus one running Pod per Deployment. */
export function bookinfoMesh(store: MemoryStore = tickingStore()): BookinfoMesh {
  const objects = applyFile(store, 'examples/bookinfo/platform.yaml');
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
