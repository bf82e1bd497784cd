// Mutual TLS between two data planes configured by Envoy JSON: SDS `default`/`ROOTCA` from the secret store, the server's one gate (chain, SAN, SPIFFE ID), the client's name check before any byte, x-forwarded-client-cert, and rotation without dropping connections.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { after, before, test } from 'node:test';
import * as tls from 'node:tls';
import { generateRootCa, type CaBundle } from '../../src/ca/ca-bundle.js';
import { signWorkloadCsr, type WorkloadIdentity } from '../../src/ca/sign.js';
import { buildProxyConfig } from '../../src/proxy/config/proxy-config.js';
import { DataPlane } from '../../src/proxy/data-plane.js';
import { ROOT_BUNDLE, SecretStore, WORKLOAD_CERTIFICATE } from '../../src/proxy/security/secret-store.js';
import { workloadCsr } from '../ca/csr.js';
import { freePort } from './http-mesh.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };
const TD = 'cluster.local';
const CLIENT: WorkloadIdentity = { trustDomain: TD, namespace: 'foo', serviceAccount: 'a' };
const SERVER: WorkloadIdentity = { trustDomain: TD, namespace: 'bar', serviceAccount: 'b' };
const uri = (id: WorkloadIdentity) => `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;

const sds = (name: string) => ({ name, sds_config: { api_config_source: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] } } });
const router = [{ name: 'envoy.filters.http.router' }];

function staticCluster(name: string, port: number, transportSocket?: unknown): Record<string, unknown> {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
    ...(transportSocket ? { transport_socket: transportSocket } : {}),
  };
}

function hcm(cluster: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM,
      stat_prefix: cluster,
      route_config: { name: cluster, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] },
      http_filters: router,
      ...extra,
    },
  };
}

/** The upstream side of ISTIO_MUTUAL: workload certificate and mesh roots from SDS, the server's identity checked. */
function istioMutual(sans: string[]): unknown {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': UPSTREAM_TLS,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [sds('default')],
        combined_validation_context: { default_validation_context: { match_typed_subject_alt_names: sans.map((s) => ({ san_type: 'URI', matcher: { exact: s } })) }, validation_context_sds_secret_config: sds('ROOTCA') },
        alpn_protocols: ['istio-peer-exchange', 'istio'],
      },
      sni: 'outbound_.80_._.b.bar.svc.cluster.local',
    },
  };
}

/** The server side of mesh mTLS: client certificate required, from the mesh roots and the trust domain. */
const inboundTls = {
  name: 'envoy.transport_sockets.tls',
  typed_config: {
    '@type': DOWNSTREAM_TLS,
    common_tls_context: {
      tls_certificate_sds_secret_configs: [sds('default')],
      combined_validation_context: { default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: `spiffe://${TD}/` } }] }, validation_context_sds_secret_config: sds('ROOTCA') },
      alpn_protocols: ['h2', 'http/1.1'],
    },
    require_client_certificate: true,
  },
};

async function leaf(ca: CaBundle, id: WorkloadIdentity, ttlMs?: number): Promise<{ key: string; chain: string[] }> {
  const { csrPem, keyPem } = await workloadCsr();
  return { key: keyPem, chain: await signWorkloadCsr(ca, csrPem, id, ttlMs === undefined ? {} : { ttlMs }) };
}

async function storeFor(ca: CaBundle, id: WorkloadIdentity): Promise<SecretStore> {
  const store = new SecretStore();
  const l = await leaf(ca, id);
  store.set(WORKLOAD_CERTIFICATE, { kind: 'certificate', certificateChain: l.chain.slice(0, -1).join(''), privateKey: l.key });
  store.set(ROOT_BUNDLE, { kind: 'validation', trustedCa: ca.rootCertPem });
  return store;
}

interface Seen {
  xfcc?: string;
  proto?: string;
}

let ca: CaBundle;
let otherCa: CaBundle;
let app: http.Server;
let appPort: number;
const seen: Seen[] = [];

before(async () => {
  [ca, otherCa] = await Promise.all([generateRootCa({ trustDomain: TD, keyType: 'ecP256' }), generateRootCa({ trustDomain: TD, keyType: 'ecP256' })]);
  app = http.createServer((req, res) => {
    const s: Seen = {};
    const x = req.headers['x-forwarded-client-cert'];
    if (typeof x === 'string') s.xfcc = x;
    const p = req.headers['x-forwarded-proto'];
    if (typeof p === 'string') s.proto = p;
    seen.push(s);
    res.end('app');
  });
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  appPort = (app.address() as net.AddressInfo).port;
});

after(() => {
  app.close();
  app.closeAllConnections();
});

interface Pair {
  clientPort: number;
  serverPort: number;
  client: DataPlane;
  server: DataPlane;
  clientStore: SecretStore;
  serverStore: SecretStore;
  close(): Promise<void>;
}

/** A client data plane (plaintext HTTP in, ISTIO_MUTUAL out) and a server data plane (mTLS in, the app out). */
async function pair(options: { serverSans?: string[]; serverStore?: SecretStore; tcp?: boolean } = {}): Promise<Pair> {
  const [clientPort, serverPort] = [await freePort(), await freePort()];
  const clientStore = await storeFor(ca, CLIENT);
  const serverStore = options.serverStore ?? (await storeFor(ca, SERVER));
  const plan = { mode: 'router' as const, gatewayAddress: '127.0.0.1' };
  const client = new DataPlane({ plan, secrets: clientStore });
  const server = new DataPlane({ plan, secrets: serverStore });
  const tcp = (cluster: string) => ({ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: cluster, cluster } });
  const clientListener = {
    name: 'out',
    address: { socket_address: { address: '127.0.0.1', port_value: clientPort } },
    filter_chains: [{ filters: [options.tcp ? tcp('server') : hcm('server')] }],
  };
  const serverListener = {
    name: 'in',
    address: { socket_address: { address: '127.0.0.1', port_value: serverPort } },
    listener_filters: [TLS_INSPECTOR],
    filter_chains: [{ filters: [options.tcp ? tcp('app') : hcm('app', { forward_client_cert_details: 'APPEND_FORWARD', set_current_client_cert_details: { subject: { value: true }, uri: true, dns: true } })], transport_socket: inboundTls }],
  };
  await client.apply(
    buildProxyConfig({ listeners: new Map([['out', clientListener]]), routes: new Map(), clusters: new Map([['server', staticCluster('server', serverPort, istioMutual(options.serverSans ?? [uri(SERVER)]))]]), endpoints: new Map() }, 1),
  );
  await server.apply(buildProxyConfig({ listeners: new Map([['in', serverListener]]), routes: new Map(), clusters: new Map([['app', staticCluster('app', appPort)]]), endpoints: new Map() }, 1));
  return { clientPort, serverPort, client, server, clientStore, serverStore, close: async () => void (await Promise.all([client.drain(0), server.drain(0)])) };
}

function get(port: number, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** Connects with TLS (or plaintext) straight to the server data plane; resolves how the attempt ended. */
function attempt(port: number, options: tls.ConnectionOptions | 'plaintext'): Promise<'answered' | 'refused'> {
  return new Promise((resolve) => {
    const request = 'GET / HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n';
    let answer = '';
    const socket = options === 'plaintext' ? net.connect(port, '127.0.0.1', () => socket.write(request)) : tls.connect({ host: '127.0.0.1', port, ...options }, () => socket.write(request));
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (answer += c));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer.startsWith('HTTP/1.1 200') ? 'answered' : 'refused'));
  });
}

test('a request crosses two data planes over mutual TLS; the app sees the caller in x-forwarded-client-cert, and a forged copy is dropped', async () => {
  const p = await pair();
  try {
    seen.length = 0;
    const r = await get(p.clientPort, { 'x-forwarded-client-cert': 'By=spiffe://evil/ns/x/sa/y;URI=spiffe://cluster.local/ns/admin/sa/root' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'app');
    assert.equal(seen.length, 1);
    const xfcc = seen[0]!.xfcc ?? '';
    // Only the element the server proxy wrote: By = its own identity, URI = the verified caller.
    assert.equal(xfcc.split(',').length, 1, xfcc);
    assert.match(xfcc, new RegExp(`^By=${uri(SERVER)};Hash=[0-9a-f]{64};Subject="";URI=${uri(CLIENT)}$`));
    assert.equal(p.server.tls.stats.handshake, 1);
    assert.equal(p.client.tls.stats.handshake, 1);
  } finally {
    await p.close();
  }
});

test('the server refuses plaintext, another root, a certificate without a client, and an unknown trust domain; the app is never reached and the next good caller is served', async () => {
  const p = await pair();
  try {
    seen.length = 0;
    const otherRoot = await leaf(otherCa, CLIENT);
    const foreignDomain = await leaf(ca, { trustDomain: 'evil.example', namespace: 'foo', serviceAccount: 'a' });
    const good = await leaf(ca, CLIENT);
    const cases: Array<[string, tls.ConnectionOptions | 'plaintext']> = [
      ['plaintext', 'plaintext'],
      ['no client certificate', { ca: ca.rootCertPem, rejectUnauthorized: false }],
      ['client from another root', { key: otherRoot.key, cert: otherRoot.chain.slice(0, -1).join(''), rejectUnauthorized: false }],
      ['unknown trust domain', { key: foreignDomain.key, cert: foreignDomain.chain.slice(0, -1).join(''), rejectUnauthorized: false }],
    ];
    for (const [name, options] of cases) assert.equal(await attempt(p.serverPort, options), 'refused', name);
    assert.equal(seen.length, 0, 'nothing refused reached the app');
    assert.equal(await attempt(p.serverPort, { key: good.key, cert: good.chain.slice(0, -1).join(''), ca: ca.rootCertPem, checkServerIdentity: () => undefined }), 'answered');
    assert.equal(seen.length, 1);
    const s = p.server.tls.stats;
    assert.ok(s.fail_verify_no_cert >= 1 && s.fail_verify_error >= 1 && s.fail_verify_san >= 1, JSON.stringify(s));
  } finally {
    await p.close();
  }
});

test('the client checks the server identity before sending: a server with another name gets no request (503 UF)', async () => {
  const p = await pair({ serverSans: [uri({ ...SERVER, serviceAccount: 'not-b' })] });
  try {
    seen.length = 0;
    const r = await get(p.clientPort);
    assert.equal(r.status, 503);
    assert.equal(seen.length, 0);
    assert.ok(p.client.tls.stats.fail_verify_san >= 1);
  } finally {
    await p.close();
  }
});

test('no listener accepts mTLS before both certificate and roots are there; once they arrive it serves', async () => {
  const serverStore = new SecretStore();
  const p = await pair({ serverStore });
  try {
    seen.length = 0;
    assert.equal((await get(p.clientPort)).status, 503);
    const l = await leaf(ca, SERVER);
    serverStore.set(WORKLOAD_CERTIFICATE, { kind: 'certificate', certificateChain: l.chain.slice(0, -1).join(''), privateKey: l.key });
    assert.equal((await get(p.clientPort)).status, 503, 'a certificate without roots is not enough');
    serverStore.set(ROOT_BUNDLE, { kind: 'validation', trustedCa: ca.rootCertPem });
    assert.equal((await get(p.clientPort)).status, 200);
    assert.equal(seen.length, 1);
    assert.ok(p.server.tls.stats.no_certificate >= 2);
  } finally {
    await p.close();
  }
});

test('rotation: a new server certificate serves new connections while a kept-alive connection goes on, and a new root is trusted alongside the old one', async () => {
  const p = await pair();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const serialOf = async (): Promise<string> => {
      const socket = tls.connect({ host: '127.0.0.1', port: p.serverPort, ...(await clientCreds()), checkServerIdentity: () => undefined });
      await once(socket, 'secureConnect');
      const serial = new X509Certificate(socket.getPeerCertificate().raw).serialNumber;
      socket.destroy();
      return serial;
    };
    const clientCreds = async () => {
      const l = await leaf(ca, CLIENT);
      return { key: l.key, cert: l.chain.slice(0, -1).join(''), ca: ca.rootCertPem };
    };
    assert.equal((await get(p.clientPort, {}, agent)).status, 200);
    const before = await serialOf();
    const l = await leaf(ca, SERVER);
    p.serverStore.set(WORKLOAD_CERTIFICATE, { kind: 'certificate', certificateChain: l.chain.slice(0, -1).join(''), privateKey: l.key });
    const afterRotation = await serialOf();
    assert.notEqual(afterRotation, before);
    assert.equal(afterRotation, new X509Certificate(l.chain[0]!).serialNumber);
    // The client's pooled upstream connection to the server survives the swap.
    const cxBefore = p.client.clusters.get('server')!.stats.upstream_cx_total;
    assert.equal((await get(p.clientPort, {}, agent)).status, 200);
    assert.equal(p.client.clusters.get('server')!.stats.upstream_cx_total, cxBefore);
    // Root rotation with overlap: the server trusts both roots; a client of the new root is served.
    p.serverStore.set(ROOT_BUNDLE, { kind: 'validation', trustedCa: ca.rootCertPem + otherCa.rootCertPem });
    const fromNewRoot = await leaf(otherCa, CLIENT);
    assert.equal(await attempt(p.serverPort, { key: fromNewRoot.key, cert: fromNewRoot.chain.slice(0, -1).join(''), rejectUnauthorized: false }), 'answered');
  } finally {
    agent.destroy();
    await p.close();
  }
});

test('opaque TCP over mutual TLS between the two data planes', async () => {
  const echo = net.createServer((s) => s.pipe(s));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const saved = appPort;
  appPort = (echo.address() as net.AddressInfo).port;
  const p = await pair({ tcp: true });
  appPort = saved;
  try {
    const socket = net.connect(p.clientPort, '127.0.0.1');
    socket.write('hello over mtls');
    const [data] = (await once(socket, 'data')) as [Buffer];
    assert.equal(data.toString(), 'hello over mtls');
    socket.destroy();
    assert.equal(p.server.tls.stats.handshake, 1);
  } finally {
    await p.close();
    echo.close();
  }
});

test('HTTP/2 negotiated by ALPN inside mutual TLS: an h2 client is served over the same TLS chain', async () => {
  const p = await pair();
  const client = await leaf(ca, CLIENT);
  const session = http2.connect(`https://127.0.0.1:${p.serverPort}`, { key: client.key, cert: client.chain.slice(0, -1).join(''), ca: ca.rootCertPem, checkServerIdentity: () => undefined });
  try {
    seen.length = 0;
    const alpn = await new Promise<string | false | null>((resolve, reject) => {
      session.once('connect', () => resolve((session.socket as tls.TLSSocket).alpnProtocol));
      session.once('error', reject);
    });
    assert.equal(alpn, 'h2');
    const stream = session.request({ ':path': '/', ':authority': 'b' });
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (body += c));
    await once(stream, 'end');
    assert.equal(headers[':status'], 200);
    assert.equal(body, 'app');
    assert.match(seen[0]!.xfcc ?? '', new RegExp(`URI=${uri(CLIENT)}$`));
  } finally {
    session.close();
    await p.close();
  }
});
