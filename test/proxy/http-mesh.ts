// Test fixture: a service `web` whose endpoints are real HTTP servers on loopback, the config the control plane generates for a client sidecar, and a data plane serving it.
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import { MemoryStore } from '../../src/config/memory-store.js';
import { meshConfig } from '../../src/model/mesh-config.js';
import { buildPushContext } from '../../src/model/push-context-impl.js';
import { proxyFromNode } from '../../src/model/proxy.js';
import { buildProxyConfig, type ProxyConfig } from '../../src/proxy/config/proxy-config.js';
import { DataPlane, type DataPlaneOptions } from '../../src/proxy/data-plane.js';
import type { ExchangeRecord } from '../../src/proxy/http/exchange.js';
import { ServiceRegistry } from '../../src/registry/registry.js';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { TypeUrl, type TypeUrlValue } from '../../src/xds/types.js';
import { applyYaml } from '../xds/echo-mesh.js';

export const HOST = 'web.default.svc.cluster.local';

/** What an upstream does with one request: answer (status, body, delay), or drop the connection. */
export type Behaviour = (req: http.IncomingMessage, n: number) => { status?: number; body?: string; delayMs?: number; headers?: Record<string, string> } | 'reset';

export interface Upstream {
  name: string;
  port: number;
  server: http.Server;
  /** Requests received, in order (method, url, headers, body). */
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  behaviour: Behaviour;
}

export async function startUpstream(name: string, behaviour: Behaviour = () => ({ status: 200, body: name })): Promise<Upstream> {
  const u: Upstream = { name, port: 0, server: undefined as unknown as http.Server, seen: [], behaviour };
  u.server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      u.seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const b = u.behaviour(req, u.seen.length);
      if (b === 'reset') {
        req.socket.destroy();
        return;
      }
      const send = () => {
        res.writeHead(b.status ?? 200, { 'content-type': 'text/plain', 'x-upstream': name, ...(b.headers ?? {}) });
        res.end(b.body ?? name);
      };
      if (b.delayMs) setTimeout(send, b.delayMs);
      else send();
    });
  });
  u.server.keepAliveTimeout = 30_000;
  u.server.listen(0, '127.0.0.1');
  await once(u.server, 'listening');
  u.port = (u.server.address() as net.AddressInfo).port;
  return u;
}

/** A free TCP port on 127.0.0.1 (for the service port the client sidecar listens on). */
export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface HttpMesh {
  servicePort: number;
  store: MemoryStore;
  upstreams: Upstream[];
  plane: DataPlane;
  records: ExchangeRecord[];
  /** Regenerates the client's config from the store and applies it. */
  push(): Promise<ProxyConfig>;
  /** One request through the client sidecar. */
  request(path: string, opts?: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

/** `web` with one endpoint per upstream (labels version: v1, v2, …), config from `yaml` (VirtualService, DestinationRule…). */
export async function httpMesh(upstreams: Upstream[], yaml = '', options: Partial<DataPlaneOptions> = {}): Promise<HttpMesh> {
  const servicePort = await freePort();
  const store = new MemoryStore();
  const entries = upstreams
    .map(
      (u, i) => `---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-${i + 1}, namespace: default }
spec: { address: 127.0.0.1, ports: { http: ${u.port} }, labels: { app: web, version: v${i + 1} } }
`,
    )
    .join('');
  applyYaml(
    store,
    `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${servicePort}, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: web } }
${entries}${yaml ? `---\n${yaml.replaceAll('PORT', String(servicePort))}` : ''}`,
  );
  const registry = new ServiceRegistry(store);
  const node = proxyFromNode('sidecar~127.0.0.1~client-1.default~default.svc.cluster.local', { LABELS: { app: 'client' } });
  if (typeof node === 'string') throw new Error(node);
  const records: ExchangeRecord[] = [];
  const plane = new DataPlane({ plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' }, onHttp: (r) => records.push(r), ...options });
  let version = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const push = async () => {
    const pc = buildPushContext(store, registry.snapshot(), meshConfig(), `t${++version}`);
    const wire = (t: TypeUrlValue, names?: string[]) => new Map(envoyGenerators[t]!(node, pc, names).map((r) => [r.name, decodeResource(t, encodeResource(r))]));
    const listeners = wire(TypeUrl.Listener);
    const clusters = wire(TypeUrl.Cluster);
    const routeNames = [...listeners.values()].flatMap((l) => JSON.stringify(l).match(/"route_config_name":"[^"]+"/g) ?? []).map((m) => m.split('":"')[1]!.slice(0, -1));
    const edsNames = [...clusters.values()].filter((c) => c.type === 'EDS').map((c) => ((c.eds_cluster_config as { service_name?: string }).service_name ?? c.name) as string);
    const config = buildProxyConfig({ listeners, routes: wire(TypeUrl.RouteConfiguration, [...new Set(routeNames)]), clusters, endpoints: wire(TypeUrl.ClusterLoadAssignment, edsNames) }, version);
    await plane.apply(config);
    return config;
  };
  await push();
  return {
    servicePort,
    store,
    upstreams,
    plane,
    records,
    push,
    request: (path, opts = {}) =>
      new Promise((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: servicePort, path, method: opts.method ?? 'GET', headers: { host: `${HOST}:${servicePort}`, ...(opts.headers ?? {}) }, agent: opts.agent ?? agent },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.setTimeout(10_000, () => req.destroy(new Error('test request timed out')));
        req.end(opts.body);
      }),
    close: async () => {
      agent.destroy();
      await plane.drain(100);
      registry.close();
      for (const u of upstreams) {
        u.server.closeAllConnections();
        await new Promise<void>((r) => u.server.close(() => r()));
      }
    },
  };
}
