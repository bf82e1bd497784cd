// TLS passthrough by SNI through the proxy's TLS inspector, with config from the real generators: a sidecar's outbound TLS port (ServiceEntries + VirtualService `tls` routes) and a gateway's PASSTHROUGH server, to real TLS servers.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { after, before, test } from 'node:test';
import * as tls from 'node:tls';
import { MemoryStore } from '../../src/config/memory-store.js';
import { meshConfig } from '../../src/model/mesh-config.js';
import { buildPushContext } from '../../src/model/push-context-impl.js';
import { proxyFromNode, type Proxy } from '../../src/model/proxy.js';
import { buildProxyConfig, type ProxyConfig } from '../../src/proxy/config/proxy-config.js';
import { DataPlane } from '../../src/proxy/data-plane.js';
import { ServiceRegistry } from '../../src/registry/registry.js';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { TypeUrl, type TypeUrlValue } from '../../src/xds/types.js';
import { applyYaml } from '../xds/echo-mesh.js';
import { freePort } from './http-mesh.js';
import { makeCertificates, type Certificate } from './tls-fixtures.js';

const A = 'a.example.com';
const B = 'b.example.com';

/** A TLS echo server: `NAME:` then every byte it receives; it ends when the client does. */
interface TlsUpstream {
  port: number;
  /** TCP connections accepted (a refused client must not reach it). */
  connections: number;
  close(): Promise<void>;
}

async function startTlsUpstream(name: string, cert: Certificate): Promise<TlsUpstream> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ key: cert.key, cert: cert.cert, ALPNProtocols: ['http/1.1'] }, (s) => {
    s.on('error', () => undefined);
    let first = true;
    s.on('data', (d: Buffer) => {
      if (first) s.write(`${name}:`);
      first = false;
      s.write(d);
    });
  });
  const u: TlsUpstream = {
    port: 0,
    connections: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('connection', (s: net.Socket) => {
    u.connections++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  u.port = (server.address() as net.AddressInfo).port;
  return u;
}

/** The generated config of `node` over the store, as the xDS client would hand it over. */
function generatedConfig(node: Proxy, store: MemoryStore, registry: ServiceRegistry, version: number): ProxyConfig {
  const pc = buildPushContext(store, registry.snapshot(), meshConfig(), `t${version}`);
  const wire = (t: TypeUrlValue, names?: string[]) => new Map(envoyGenerators[t]!(node, pc, names).map((r) => [r.name, decodeResource(t, encodeResource(r))]));
  const listeners = wire(TypeUrl.Listener);
  const clusters = wire(TypeUrl.Cluster);
  const routeNames = [...listeners.values()].flatMap((l) => JSON.stringify(l).match(/"route_config_name":"[^"]+"/g) ?? []).map((m) => m.split('":"')[1]!.slice(0, -1));
  const edsNames = [...clusters.values()].filter((c) => c.type === 'EDS').map((c) => ((c.eds_cluster_config as { service_name?: string }).service_name ?? c.name) as string);
  return buildProxyConfig({ listeners, routes: wire(TypeUrl.RouteConfiguration, [...new Set(routeNames)]), clusters, endpoints: wire(TypeUrl.ClusterLoadAssignment, edsNames) }, version);
}

function node(id: string, labels: Record<string, string>): Proxy {
  const p = proxyFromNode(id, { LABELS: labels });
  if (typeof p === 'string') throw new Error(p);
  return p;
}

/**
 * a.example.com and b.example.com: MESH_EXTERNAL TLS ServiceEntries on one port, each with its own
 * server. The sidecar's VirtualService also sends SNI c.example.com to a.example.com; the gateway
 * passes a and b through by SNI.
 */
function meshYaml(tlsPort: number, gatewayPort: number, ports: { a: number; b: number }): string {
  const entry = (host: string, endpointPort: number) => `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: ${host.split('.')[0]}, namespace: default }
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: ${tlsPort}, name: tls, protocol: TLS }]
  endpoints: [{ address: 127.0.0.1, ports: { tls: ${endpointPort} } }]
---
`;
  return `${entry(A, ports.a)}${entry(B, ports.b)}apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: by-sni, namespace: default }
spec:
  hosts: [${A}, ${B}, c.example.com]
  tls:
  - match: [{ port: ${tlsPort}, sniHosts: [${A}, c.example.com] }]
    route: [{ destination: { host: ${A}, port: { number: ${tlsPort} } } }]
  - match: [{ port: ${tlsPort}, sniHosts: [${B}] }]
    route: [{ destination: { host: ${B}, port: { number: ${tlsPort} } } }]
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: { name: passthrough, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${gatewayPort}, name: tls, protocol: TLS }
    tls: { mode: PASSTHROUGH }
    hosts: [${A}, ${B}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: through-gateway, namespace: default }
spec:
  hosts: [${A}, ${B}]
  gateways: [passthrough]
  tls:
  - match: [{ port: ${gatewayPort}, sniHosts: [${A}] }]
    route: [{ destination: { host: ${A}, port: { number: ${tlsPort} } } }]
  - match: [{ port: ${gatewayPort}, sniHosts: [${B}] }]
    route: [{ destination: { host: ${B}, port: { number: ${tlsPort} } } }]
`;
}

const certs = new Map<string, Certificate>();
let upstreamA: TlsUpstream;
let upstreamB: TlsUpstream;
let sidecar: DataPlane;
let gateway: DataPlane;
let registry: ServiceRegistry;
let tlsPort: number;
let gatewayPort: number;

before(async () => {
  for (const [name, c] of makeCertificates([A, B])) certs.set(name, c);
  upstreamA = await startTlsUpstream('A', certs.get(A)!);
  upstreamB = await startTlsUpstream('B', certs.get(B)!);
  tlsPort = await freePort();
  gatewayPort = await freePort();
  const store = new MemoryStore();
  applyYaml(store, meshYaml(tlsPort, gatewayPort, { a: upstreamA.port, b: upstreamB.port }));
  registry = new ServiceRegistry(store);
  sidecar = new DataPlane({ plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' } });
  await sidecar.apply(generatedConfig(node('sidecar~10.1.1.1~client-1.default~default.svc.cluster.local', { app: 'client' }), store, registry, 1));
  gateway = new DataPlane({ plan: { mode: 'router', gatewayAddress: '127.0.0.1' } });
  await gateway.apply(generatedConfig(node('router~10.1.1.2~gateway-1.default~default.svc.cluster.local', { istio: 'ingressgateway' }), store, registry, 1));
});

after(async () => {
  await sidecar?.drain(100);
  await gateway?.drain(100);
  registry?.close();
  await upstreamA?.close();
  await upstreamB?.close();
});

interface Reply {
  /** CN of the certificate the client was shown. */
  cn: string;
  alpn: string | false;
  /** Everything received until the server ended. */
  data: string;
}

/** A TLS client through the proxy: sends `payload`, half-closes, and reads until the server ends. */
function exchange(port: number, servername: string, payload: string, verify = true): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const c = tls.connect({
      host: '127.0.0.1',
      port,
      servername,
      ca: [certs.get(A)!.cert, certs.get(B)!.cert],
      ALPNProtocols: ['h2', 'http/1.1'],
      ...(verify ? {} : { checkServerIdentity: () => undefined }),
    });
    const timer = setTimeout(() => c.destroy(new Error('no reply within 5 s')), 5_000);
    const chunks: Buffer[] = [];
    let cn = '';
    c.once('secureConnect', () => {
      cn = String(c.getPeerCertificate().subject.CN);
      c.end(payload);
    });
    c.on('data', (d: Buffer) => chunks.push(d));
    c.once('end', () => {
      clearTimeout(timer);
      resolve({ cn, alpn: c.alpnProtocol ?? false, data: Buffer.concat(chunks).toString() });
    });
    c.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Resolves when the proxy closes a TLS connection before any handshake completes; rejects if one does. */
function refusedTls(port: number, servername: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
    const timer = setTimeout(() => c.destroy(), 5_000);
    c.on('error', () => undefined);
    c.once('secureConnect', () => reject(new Error(`a handshake for ${servername} completed`)));
    c.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

test('sidecar: SNI a.example.com reaches server A and b.example.com server B on the same port, data flowing both ways', async () => {
  const a = await exchange(tlsPort, A, 'ping-a');
  assert.deepEqual(a, { cn: A, alpn: 'http/1.1', data: 'A:ping-a' });
  const b = await exchange(tlsPort, B, 'ping-b');
  assert.deepEqual(b, { cn: B, alpn: 'http/1.1', data: 'B:ping-b' });
  const big = 'x'.repeat(200_000);
  assert.equal((await exchange(tlsPort, B, big)).data, `B:${big}`, 'many TLS records each way');
});

test('sidecar: the VirtualService sends SNI c.example.com to a.example.com', async () => {
  const c = await exchange(tlsPort, 'c.example.com', 'ping-c', false);
  assert.deepEqual(c, { cn: A, alpn: 'http/1.1', data: 'A:ping-c' });
});

test('sidecar: an unknown SNI and a plaintext client take the passthrough chain and reach neither server; the next TLS client still does', async () => {
  const before = upstreamA.connections + upstreamB.connections;
  await refusedTls(tlsPort, 'unknown.example.com');
  const plain = net.connect({ host: '127.0.0.1', port: tlsPort });
  plain.on('error', () => undefined);
  plain.write('GET / HTTP/1.1\r\nhost: a.example.com\r\n\r\n');
  await once(plain, 'close');
  assert.equal(upstreamA.connections + upstreamB.connections, before);
  assert.equal((await exchange(tlsPort, A, 'again')).data, 'A:again');
});

test('gateway PASSTHROUGH: a.example.com and b.example.com are passed through by SNI; another SNI matches no chain', async () => {
  assert.deepEqual(await exchange(gatewayPort, A, 'via-gw'), { cn: A, alpn: 'http/1.1', data: 'A:via-gw' });
  assert.deepEqual(await exchange(gatewayPort, B, 'via-gw'), { cn: B, alpn: 'http/1.1', data: 'B:via-gw' });
  const before = upstreamA.connections + upstreamB.connections;
  await refusedTls(gatewayPort, 'c.example.com');
  assert.equal(upstreamA.connections + upstreamB.connections, before);
});
