// Test fixture: a service `web` whose endpoints are real HTTP/1.1, HTTP/2 or gRPC servers on loopback, the config the control plane generates for a client sidecar, and a data plane serving it.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
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
import { Discovery } from '../../src/xds/discovery.js';
import { applyYaml } from '../xds/echo-mesh.js';

export const HOST = 'web.default.svc.cluster.local';

/** What an upstream does with one request: answer (status, body, delay), or drop the connection. */
export type Behaviour = (req: http.IncomingMessage, n: number) => { status?: number; body?: string; delayMs?: number; headers?: Record<string, string> } | 'reset';

/** An endpoint of `web`: anything listening on 127.0.0.1:port; the mesh closes it in `close()`. */
export interface Endpoint {
  readonly port: number;
  /** Stops the server and drops its connections; safe to call on a server already closed. */
  close(): Promise<void>;
}

export interface Upstream extends Endpoint {
  name: string;
  port: number;
  server: http.Server;
  /** Requests received, in order (method, url, headers, body). */
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  behaviour: Behaviour;
}

/** An HTTP/1.1 upstream on 127.0.0.1 (`port` 0: any free port). */
export async function startUpstream(name: string, behaviour: Behaviour = () => ({ status: 200, body: name }), port = 0): Promise<Upstream> {
  const u: Upstream = {
    name,
    port: 0,
    server: undefined as unknown as http.Server,
    seen: [],
    behaviour,
    close: async () => {
      u.server.closeAllConnections();
      await new Promise<void>((r) => u.server.close(() => r()));
    },
  };
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
  u.server.listen(port, '127.0.0.1');
  await once(u.server, 'listening');
  u.port = (u.server.address() as net.AddressInfo).port;
  return u;
}

/** What an HTTP/2 upstream does with one stream: answer, or reset it (RST_STREAM INTERNAL_ERROR). */
export type H2Behaviour = (headers: http2.IncomingHttpHeaders, n: number) => { status?: number; body?: string; headers?: Record<string, string> } | 'reset';

export interface H2Upstream extends Endpoint {
  name: string;
  port: number;
  server: http2.Http2Server;
  /** Streams received, in order (headers with pseudo-headers, body, the request's trailers if any). */
  seen: { headers: http2.IncomingHttpHeaders; body: string; trailers?: http2.IncomingHttpHeaders }[];
  behaviour: H2Behaviour;
}

/** A cleartext HTTP/2 server (prior knowledge only; it refuses HTTP/1.1). Answers `name` with x-upstream: name unless told otherwise. */
export async function startH2Upstream(name: string, behaviour: H2Behaviour = () => ({ status: 200, body: name })): Promise<H2Upstream> {
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  const u: H2Upstream = {
    name,
    port: 0,
    server,
    seen: [],
    behaviour,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    // A stream reset by either side emits 'error'; the peer sees the reset, the test its outcome.
    stream.on('error', () => undefined);
    const chunks: Buffer[] = [];
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('trailers', (t: http2.IncomingHttpHeaders) => (trailers = t));
    stream.on('end', () => {
      u.seen.push({ headers, body: Buffer.concat(chunks).toString(), ...(trailers ? { trailers } : {}) });
      const b = u.behaviour(headers, u.seen.length);
      if (b === 'reset') {
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      stream.respond({ ':status': b.status ?? 200, 'content-type': 'text/plain', 'x-upstream': name, ...(b.headers ?? {}) });
      stream.end(b.body ?? name);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  u.port = (server.address() as net.AddressInfo).port;
  return u;
}

export interface GrpcUpstream extends Endpoint {
  name: string;
  port: number;
  server: grpc.Server;
}

/** A grpc-js server on 127.0.0.1 (cleartext HTTP/2) serving one service. */
export async function startGrpcUpstream(name: string, service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): Promise<GrpcUpstream> {
  const server = new grpc.Server();
  server.addService(service, implementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    name,
    port,
    server,
    close: async () => {
      server.forceShutdown();
    },
  };
}

/** The ServiceEntry of `web` on `servicePort`, selecting the WorkloadEntries labelled `app: web` (YAML, one document). */
export function webServiceEntry(servicePort: number, port: { name: string; protocol: string } = { name: 'http', protocol: 'HTTP' }): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${servicePort}, name: ${port.name}, protocol: ${port.protocol} }]
  workloadSelector: { labels: { app: web } }
`;
}

/**
 * A Discovery serving the `web` ServiceEntry with one WorkloadEntry at 127.0.0.2 whose `http` port
 * is `appPort` (labels `app: web` plus `labels`): the inbound side of a sidecar at 127.0.0.2.
 * Stopped, and its config directory removed, after the test.
 */
export async function webWorkloadDiscovery(t: TestContext, appPort: number, labels: Record<string, string> = {}): Promise<Discovery> {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-web-workload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const labelText = Object.entries({ app: 'web', ...labels }).map(([k, v]) => `${k}: ${v}`).join(', ');
  writeFileSync(
    join(dir, 'mesh.yaml'),
    `${webServiceEntry(await freePort())}---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-1, namespace: default }
spec: { address: 127.0.0.2, ports: { http: ${appPort} }, labels: { ${labelText} } }
`,
  );
  const discovery = await new Discovery({ configDir: dir, xdsPort: 0, debugPort: 0, debounceAfterMs: 10 }).start();
  t.after(() => discovery.close());
  return discovery;
}

/** Polls `check` every 25 ms until it holds; throws naming `what` after `ms`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A free TCP port on 127.0.0.1 (for the service port the client sidecar listens on). */
/** MeshProxy options for a test proxy: every local server on a free port of 127.0.0.1, a short drain. */
export const TEST_PROXY_SERVERS = Object.freeze({ adminPort: 0, healthPort: 0, statsPort: 0, mergedMetricsPort: 0, healthHost: '127.0.0.1', drainMs: 100 });

export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface HttpMesh<U extends Endpoint = Upstream> {
  servicePort: number;
  store: MemoryStore;
  upstreams: U[];
  plane: DataPlane;
  records: ExchangeRecord[];
  /** Regenerates the client's config from the store and applies it. */
  push(): Promise<ProxyConfig>;
  /** One request through the client sidecar. */
  request(path: string, opts?: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

export interface MeshOptions extends Partial<DataPlaneOptions> {
  /**
   * Name and protocol of `web`'s port (default `http`/`HTTP`); the endpoints listen on it under the
   * same name. `grpc`/`GRPC` or `http2`/`HTTP2` make the cluster, and so proxy→upstream, HTTP/2.
   */
  port?: { name: string; protocol: string };
}

/**
 * `web` with one endpoint per upstream (labels version: v1, v2, …), config from `yaml` (VirtualService,
 * DestinationRule…; `PORT` in it is replaced by the service port). `records` collects every finished
 * exchange; `options.onHttp`, if given, is called as well.
 */
export async function httpMesh<U extends Endpoint = Upstream>(upstreams: U[], yaml = '', options: MeshOptions = {}): Promise<HttpMesh<U>> {
  const { port = { name: 'http', protocol: 'HTTP' }, onHttp, ...planeOptions } = options;
  const servicePort = await freePort();
  const store = new MemoryStore();
  const entries = upstreams
    .map(
      (u, i) => `---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-${i + 1}, namespace: default }
spec: { address: 127.0.0.1, ports: { ${port.name}: ${u.port} }, labels: { app: web, version: v${i + 1} } }
`,
    )
    .join('');
  applyYaml(
    store,
    `${webServiceEntry(servicePort, port)}${entries}${yaml ? `---\n${yaml.replaceAll('PORT', String(servicePort))}` : ''}`,
  );
  const registry = new ServiceRegistry(store);
  const node = proxyFromNode('sidecar~127.0.0.1~client-1.default~default.svc.cluster.local', { LABELS: { app: 'client' } });
  if (typeof node === 'string') throw new Error(node);
  const records: ExchangeRecord[] = [];
  const plane = new DataPlane({
    plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' },
    ...planeOptions,
    onHttp: (r, d) => {
      records.push(r);
      onHttp?.(r, d);
    },
  });
  let version = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  // As the xDS client does, a resource whose bytes did not change keeps its decoded object, so the
  // data plane keeps what it built from it (compiled cluster, connection pools).
  const decoded = new Map<string, Record<string, unknown>>();
  const decode = (t: TypeUrlValue, bytes: Buffer) => {
    const key = `${t} ${bytes.toString('base64')}`;
    let d = decoded.get(key);
    if (!d) decoded.set(key, (d = decodeResource(t, bytes)));
    return d;
  };
  const push = async () => {
    const pc = buildPushContext(store, registry.snapshot(), meshConfig(), `t${++version}`);
    const wire = (t: TypeUrlValue, names?: string[]) => new Map(envoyGenerators[t]!(node, pc, names).map((r) => [r.name, decode(t, encodeResource(r))]));
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
      for (const u of upstreams) await u.close();
    },
  };
}
