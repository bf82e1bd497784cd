// Test fixture: an `echo` gRPC service registered through a ServiceEntry + WorkloadEntries, with subsets and routing rules.
import type { Resource } from '../../src/api/kind.js';
import { parseManifests } from '../../src/config/manifest.js';
import { MemoryStore } from '../../src/config/memory-store.js';
import { meshConfig } from '../../src/model/mesh-config.js';
import type { PushContext } from '../../src/model/push-context.js';
import { buildPushContext } from '../../src/model/push/build-push-context.js';
import { ServiceRegistry } from '../../src/registry/registry.js';

export const ECHO_HOST = 'echo.default.svc.cluster.local';
export const ECHO_PORT = 7070;
export const CLIENT_NODE_ID = 'sidecar~127.0.0.1~client.default~default.svc.cluster.local';

export function applyYaml(store: MemoryStore, yaml: string): Resource[] {
  const loaded = parseManifests(yaml, 'echo-mesh.yaml');
  if (loaded.problems.length > 0) throw new Error(loaded.problems.map((p) => p.message).join('; '));
  return loaded.objects.map((o) => store.apply(o.object as Resource).resource);
}

/** ServiceEntry (MESH_INTERNAL, STATIC, workloadSelector) + one WorkloadEntry per version listening on 127.0.0.1:<port>. */
export function registryYaml(ports: { v1: number; v2: number }): string {
  return `
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: echo, namespace: default }
spec:
  hosts: [${ECHO_HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${ECHO_PORT}, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: echo } }
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: echo-v1, namespace: default }
spec: { address: 127.0.0.1, ports: { grpc: ${ports.v1} }, labels: { app: echo, version: v1 } }
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: echo-v2, namespace: default }
spec: { address: 127.0.0.1, ports: { grpc: ${ports.v2} }, labels: { app: echo, version: v2 } }
`;
}

export const DESTINATION_RULE = `
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: echo
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
`;

/**
 * A retried and a never-retried method to v1 and a weighted split for the rest, after a header
 * match (x-user: jason) to v2 unless `headerRoute` is false.
 */
export function virtualServiceYaml(v1Weight: number, v2Weight: number, opts: { headerRoute?: boolean } = {}): string {
  const jason = `
  - name: jason
    match: [{ headers: { x-user: { exact: jason } } }]
    route: [{ destination: { host: echo, subset: v2 } }]`;
  return `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [echo]
  http:${opts.headerRoute === false ? '' : jason}
  - name: flaky
    match: [{ uri: { prefix: /echo.Echo/Flaky } }]
    route: [{ destination: { host: echo, subset: v1 } }]
    retries: { attempts: 4, retryOn: unavailable }
  - name: no-retry
    match: [{ uri: { exact: /echo.Echo/NoRetry } }]
    route: [{ destination: { host: echo, subset: v1 } }]
    retries: { attempts: 0 }
  - name: split
    route:
    - { destination: { host: echo, subset: v1 }, weight: ${v1Weight} }
    - { destination: { host: echo, subset: v2 }, weight: ${v2Weight} }
`;
}

/** The whole mesh: a store, the registry following it, and a PushContext builder. */
export function echoMesh(ports: { v1: number; v2: number }, weights: [number, number] = [80, 20]) {
  const store = new MemoryStore();
  applyYaml(store, registryYaml(ports) + '---' + DESTINATION_RULE + '---' + virtualServiceYaml(...weights));
  const registry = new ServiceRegistry(store);
  let n = 0;
  return {
    store,
    registry,
    push(): PushContext {
      return buildPushContext(store, registry.snapshot(), meshConfig(), `test-${++n}`);
    },
    close(): void {
      registry.close();
    },
  };
}
