// The HTTP proxy port end to end: an app using its sidecar as HTTP_PROXY reaches mesh services by absolute-form requests, with VirtualService routes and the outbound traffic policy applied; and where each bind plan binds that listener.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { meshConfig } from '../../src/model/mesh-config.js';
import { buildProxyConfig } from '../../src/proxy/config/proxy-config.js';
import { bindingsFor } from '../../src/proxy/listener-manager.js';
import { MeshProxy } from '../../src/proxy/mesh-proxy.js';
import { Discovery } from '../../src/xds/discovery.js';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { envoyGenerators, rdsRouteNames } from '../../src/xds/generators/index.js';
import { TypeUrl, type TypeUrlValue } from '../../src/xds/types.js';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';
import { testMesh } from '../xds/mesh.js';
import { HOST, freePort, httpMesh, startUpstream, until, type Upstream, TEST_PROXY_SERVERS } from './http-mesh.js';

const PROXY_PORT = 15080;
const A = 'svc-a.default.svc.cluster.local';
const B = 'svc-b.default.svc.cluster.local';

/**
 * A control plane (one ServiceMeshControlPlane) and two services on different ports: svc-a:9080
 * and svc-b:8000, each one endpoint. The HTTP proxy port comes the way an operator sets it, through
 * `techPreview.meshConfig`.
 */
function meshYaml(a: Upstream, b: Upstream, policy: 'ALLOW_ANY' | 'REGISTRY_ONLY'): string {
  const service = (name: string, hostname: string, port: number, upstream: Upstream) => `---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: ${name}, namespace: default }
spec:
  hosts: [${hostname}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${port}, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: ${name} } }
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: ${name}-1, namespace: default }
spec: { address: 127.0.0.1, ports: { http: ${upstream.port} }, labels: { app: ${name} } }
`;
  return `apiVersion: maistra.io/v2
kind: ServiceMeshControlPlane
metadata: { name: basic, namespace: istio-system }
spec:
  version: v2.0
  proxy: { networking: { trafficControl: { outbound: { policy: ${policy} } } } }
  techPreview: { meshConfig: { proxyHttpPort: ${PROXY_PORT} } }
${service('svc-a', A, 9080, a)}${service('svc-b', B, 8000, b)}---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: svc-a, namespace: default }
spec:
  hosts: [svc-a]
  http:
  - match: [{ headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: ${B}, port: { number: 8000 } } }]
  - match: [{ uri: { prefix: /old/ } }]
    rewrite: { uri: /new/ }
    route: [{ destination: { host: ${A} } }]
  - route: [{ destination: { host: ${A} } }]
`;
}

interface Reply {
  status: number;
  body: string;
}

/** One request to the sidecar's proxy port, as a client with HTTP_PROXY set sends it: `path` is the absolute URL. */
function viaProxy(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('test request timed out')));
    req.end();
  });
}

test('an app with HTTP_PROXY=its sidecar reaches two services on different ports; routes, rewrites and the outbound policy apply; upstreams see origin-form', { timeout: 60_000 }, async () => {
  const a = await startUpstream('a');
  const b = await startUpstream('b');
  // The proxy port is 15080 as configured; the offset moves it to a free port, so the test needs no fixed port.
  const bound = await freePort();
  const offset = bound - PROXY_PORT;
  const xdsPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-http-proxy-'));
  writeFileSync(join(dir, 'mesh.yaml'), meshYaml(a, b, 'ALLOW_ANY'));
  const discovery = await new Discovery({ configDir: dir, xdsPort, debugPort: 0, debounceAfterMs: 10 }).start();
  const proxy = new MeshProxy({
    discovery: `127.0.0.1:${xdsPort}`,
    node: { type: 'sidecar', ips: ['127.0.0.1'], podName: 'client-1', namespace: 'default', labels: { app: 'client' } },
    plan: { mode: 'sidecar', outboundAddress: '127.0.0.1', portOffset: offset },
    ...TEST_PROXY_SERVERS,
    backoff: { baseMs: 50, maxMs: 200 },
  });
  try {
    await proxy.start();
    await until('the proxy to be LIVE', () => proxy.serverState === 'LIVE');

    // svc-a on 9080 and svc-b on 8000, by their short names; the upstream gets an origin-form
    // request whose Host is the target's authority, not the proxy's address.
    assert.deepEqual(await viaProxy(bound, 'http://svc-a:9080/x'), { status: 200, body: 'a' });
    assert.equal(a.seen.at(-1)!.url, '/x');
    assert.equal(a.seen.at(-1)!.headers.host, 'svc-a:9080');
    assert.deepEqual(await viaProxy(bound, `http://${B}:8000/y?q=1`), { status: 200, body: 'b' });
    assert.equal(b.seen.at(-1)!.url, '/y?q=1');
    assert.equal(b.seen.at(-1)!.headers.host, `${B}:8000`);

    // svc-a's VirtualService: a header match sends end-user jason to svc-b; /old/ is rewritten to /new/.
    assert.deepEqual(await viaProxy(bound, 'http://svc-a:9080/x', { 'end-user': 'jason' }), { status: 200, body: 'b' });
    assert.equal(b.seen.at(-1)!.url, '/x');
    assert.deepEqual(await viaProxy(bound, 'http://svc-a:9080/old/thing?k=v'), { status: 200, body: 'a' });
    assert.equal(a.seen.at(-1)!.url, '/new/thing?k=v');
    assert.equal(a.seen.at(-1)!.headers['x-envoy-original-path'], '/old/thing?k=v');

    // An origin-form request to the proxy port is routed by its Host, as by Envoy's.
    const direct = await new Promise<Reply>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: bound, path: '/z', headers: { host: 'svc-b:8000' }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
    });
    assert.deepEqual(direct, { status: 200, body: 'b' });

    // ALLOW_ANY: an unknown host (or a service on a port it does not serve) falls to allow_any and
    // PassthroughCluster. A connection to the proxy port was not redirected, so it has no original
    // destination: Envoy's ORIGINAL_DST load balancer finds no host and answers 503 UH.
    const seenBefore = a.seen.length + b.seen.length;
    assert.deepEqual(await viaProxy(bound, 'http://unknown.example:9080/'), { status: 503, body: 'no healthy upstream' });
    assert.deepEqual(await viaProxy(bound, 'http://svc-a/x'), { status: 503, body: 'no healthy upstream' });
    assert.equal(a.seen.length + b.seen.length, seenBefore, 'no upstream saw them');

    // REGISTRY_ONLY: the catch-all becomes block_all's 502; mesh services still work.
    writeFileSync(join(dir, 'mesh.yaml'), meshYaml(a, b, 'REGISTRY_ONLY'));
    await until('REGISTRY_ONLY to reach the proxy', async () => (await viaProxy(bound, 'http://unknown.example:9080/')).status === 502);
    assert.deepEqual(await viaProxy(bound, 'http://svc-b:8000/again'), { status: 200, body: 'b' });
    assert.equal(b.seen.at(-1)!.url, '/again');
  } finally {
    await proxy.stop();
    await discovery.close();
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The compiled config a Bookinfo productpage sidecar receives, through the encoder and decoder as over xDS. */
function productpageConfig(yaml = '') {
  const m = testMesh();
  if (yaml) applyYaml(m.store, yaml, 'bookinfo');
  const node = m.sidecar('productpage-v1');
  const push = pushOf(m.store, { proxyHttpPort: PROXY_PORT });
  const wire = (t: TypeUrlValue, names?: string[]) => new Map(envoyGenerators[t]!(node, push, names).map((r) => [r.name, decodeResource(t, encodeResource(r))]));
  const listeners = wire(TypeUrl.Listener);
  const clusters = wire(TypeUrl.Cluster);
  const routes = wire(TypeUrl.RouteConfiguration, rdsRouteNames(envoyGenerators[TypeUrl.Listener]!(node, push).map((r) => r.resource)));
  return buildProxyConfig({ listeners, routes, clusters, endpoints: new Map() }, 1);
}

test('bind plans: explicit binding puts the proxy port on the outbound address (with the offset), capture binds it as configured', () => {
  assert.equal(meshConfig().proxyHttpPort, 0);
  const config = productpageConfig();
  const keys = (plan: Parameters<typeof bindingsFor>[1]) => bindingsFor(config, plan).map((w) => w.key).sort();
  assert.deepEqual(keys({ mode: 'sidecar', outboundAddress: '127.0.0.2' }), ['127.0.0.2:15080', '127.0.0.2:31400', '127.0.0.2:443', '127.0.0.2:80', '127.0.0.2:9080']);
  assert.deepEqual(keys({ mode: 'sidecar', outboundAddress: '127.0.0.2', portOffset: 1000 }), ['127.0.0.2:10080', '127.0.0.2:1080', '127.0.0.2:1443', '127.0.0.2:16080', '127.0.0.2:32400']);
  // Without an outbound address the app has nowhere to send outbound traffic: nothing outbound is bound.
  assert.deepEqual(keys({ mode: 'sidecar', inboundAddress: '127.0.0.2' }).filter((k) => k.endsWith(':15080')), []);
  // Captured: the bound listeners as configured — virtualOutbound, virtualInbound and the proxy port on loopback.
  assert.deepEqual(keys({ mode: 'sidecar', capture: true }), ['0.0.0.0:15001', '0.0.0.0:15006', '127.0.0.1:15080']);
});

test('explicit binding: a Sidecar egress listener bound on 127.0.0.1 (captureMode NONE) wins its socket over the per-port listener of the same port', () => {
  const config = productpageConfig(`apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: { name: productpage }
spec:
  workloadSelector: { labels: { app: productpage } }
  egress:
  - port: { number: 9080, protocol: HTTP, name: http }
    captureMode: NONE
    hosts: [./details.bookinfo.svc.cluster.local]
  - hosts: ['*/*']
`);
  assert.ok(config.listeners.has('127.0.0.1_9080') && config.listeners.has('0.0.0.0_9080'), [...config.listeners.keys()].join(', '));
  const wanted = bindingsFor(config, { mode: 'sidecar', outboundAddress: '127.0.0.2' });
  const socket = wanted.filter((w) => w.key === '127.0.0.2:9080');
  assert.equal(socket.length, 1, 'one socket per address and port');
  const fakeSocket = { localAddress: '127.0.0.2' } as Parameters<(typeof socket)[0]['resolve']>[1];
  assert.equal(socket[0]!.resolve(config, fakeSocket)?.listener.name, '127.0.0.1_9080');
});

test('a connection manager with allow_absolute_url false answers absolute-form requests 404 (Envoy: non-relative path); by default they are routed', { timeout: 30_000 }, async () => {
  const mesh = await httpMesh([await startUpstream('web')]);
  const target = `http://${HOST}:${mesh.servicePort}/a`;
  try {
    // The per-port listener's connection manager leaves allow_absolute_url unset: Envoy's default, on.
    assert.deepEqual(await viaProxy(mesh.servicePort, target), { status: 200, body: 'web' });
    assert.equal(mesh.upstreams[0]!.seen.at(-1)!.url, '/a');
    const config = await mesh.push();
    const name = `0.0.0.0_${mesh.servicePort}`;
    const listener = structuredClone(config.source.listeners.get(name)!) as { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] };
    listener.filter_chains[0]!.filters[0]!.typed_config.http_protocol_options = { allow_absolute_url: false };
    await mesh.plane.apply(buildProxyConfig({ ...config.source, listeners: new Map([...config.source.listeners, [name, listener]]) }, config.version + 1));
    const seen = mesh.upstreams[0]!.seen.length;
    assert.deepEqual(await viaProxy(mesh.servicePort, target), { status: 404, body: '' });
    assert.equal(mesh.upstreams[0]!.seen.length, seen, 'not forwarded');
    // The next request, in origin-form, is served.
    const next = await mesh.request('/b');
    assert.equal(next.status, 200);
    assert.equal(mesh.upstreams[0]!.seen.at(-1)!.url, '/b');
  } finally {
    await mesh.close();
  }
});
