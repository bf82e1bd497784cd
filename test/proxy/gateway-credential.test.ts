// An ingress gateway serving HTTPS with a Gateway `credentialName`: the Secret travels over SDS on the ADS stream, refuses TLS until it arrives, and a replaced certificate reaches new connections without a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as https from 'node:https';
import { MemoryStore } from '../../src/config/memory-store.js';
import { validateResources } from '../../src/proxy/config/proxy-config.js';
import { MeshProxy } from '../../src/proxy/mesh-proxy.js';
import { adsSecretNames } from '../../src/proxy/xds-warming.js';
import { TypeUrl } from '../../src/xds/types.js';
import { Discovery } from '../../src/xds/discovery.js';
import { applyYaml } from '../helpers/bookinfo-mesh.js';
import { HOST, freePort, startUpstream, until, webServiceEntry } from './http-mesh.js';
import { makeCertificates, type Certificate } from './tls-fixtures.js';

const GW_NS = 'istio-system';
const SNI = 'web.example.com';

function secretYaml(name: string, data: Record<string, Buffer>): string {
  const lines = Object.entries(data).map(([k, v]) => `  ${JSON.stringify(k)}: ${v.toString('base64')}`);
  return `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}, namespace: ${GW_NS}}\ntype: kubernetes.io/tls\ndata:\n${lines.join('\n')}\n`;
}

function meshYaml(servicePort: number, upstreamPort: number, gatewayPort: number, tls: string): string {
  return `${webServiceEntry(servicePort)}---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-1, namespace: default }
spec: { address: 127.0.0.1, ports: { http: ${upstreamPort} }, labels: { app: web } }
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: { name: web-gateway, namespace: ${GW_NS} }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${gatewayPort}, name: https, protocol: HTTPS }
    hosts: [${SNI}]
    tls: ${tls}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: ${GW_NS} }
spec:
  hosts: [${SNI}]
  gateways: [web-gateway]
  http: [{ route: [{ destination: { host: ${HOST}, port: { number: ${servicePort} } } }] }]
`;
}

/** One HTTPS GET on a new connection, trusting only `ca`; rejects when the handshake fails. */
function get(port: number, ca: Buffer, client?: Certificate): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/hello', servername: SNI, headers: { host: SNI }, ca, agent: false, ...(client ? { cert: client.cert, key: client.key } : {}) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** Whether a GET trusting `ca` succeeds with a 200 from the upstream. */
async function served(port: number, ca: Buffer, client?: Certificate): Promise<boolean> {
  try {
    const r = await get(port, ca, client);
    return r.status === 200 && r.body === 'web';
  } catch {
    return false;
  }
}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The ingress gateway (`istio: ingressgateway` in istio-system) as a router proxy fed by `discovery`. */
function ingressGateway(discovery: string, protocol: 'sotw' | 'delta'): MeshProxy {
  return new MeshProxy({
    discovery,
    protocol,
    node: { type: 'router', ips: ['127.0.0.1'], podName: 'istio-ingressgateway-1', namespace: GW_NS, labels: { istio: 'ingressgateway' } },
    plan: { mode: 'router', gatewayAddress: '127.0.0.1' },
    adminPort: 0,
    healthPort: -1,
    statsPort: -1,
    mergedMetricsPort: -1,
    drainMs: 100,
    backoff: { baseMs: 50, maxMs: 200 },
  });
}

async function withGateway(tls: string, protocol: 'sotw' | 'delta', run: (ctx: { store: MemoryStore; port: number; proxy: MeshProxy }) => Promise<void>): Promise<void> {
  const upstream = await startUpstream('web');
  const servicePort = await freePort();
  const gatewayPort = await freePort();
  const store = new MemoryStore();
  applyYaml(store, meshYaml(servicePort, upstream.port, gatewayPort, tls));
  const discovery = await new Discovery({ store, xdsPort: 0, debugPort: 0, debounceAfterMs: 10, logger: silent }).start();
  const proxy = ingressGateway(discovery.xdsAddress, protocol);
  try {
    await proxy.start();
    await until('the gateway to be LIVE', () => proxy.serverState === 'LIVE');
    await until('the gateway listener', () => proxy.plane.listeners.bound.includes(`127.0.0.1:${gatewayPort}`));
    await run({ store, port: gatewayPort, proxy });
  } finally {
    await proxy.stop();
    await discovery.close();
    await upstream.close();
  }
}

for (const protocol of ['sotw', 'delta'] as const) {
  test(`${protocol}: SIMPLE credentialName: TLS is refused until the Secret exists, then served with it; a new certificate reaches new connections without a restart`, { timeout: 60_000 }, async () => {
    const first = makeCertificates([SNI]).get(SNI)!;
    const second = makeCertificates([SNI]).get(SNI)!;
    await withGateway('{ mode: SIMPLE, credentialName: web-cert }', protocol, async ({ store, port, proxy }) => {
      // The listener is up, but its certificate has not arrived: connections are refused.
      await assert.rejects(get(port, first.cert));
      assert.equal(proxy.secrets.get('kubernetes://web-cert'), undefined);

      applyYaml(store, secretYaml('web-cert', { 'tls.crt': first.cert, 'tls.key': first.key }));
      await until('HTTPS with the first certificate', () => served(port, first.cert));
      assert.deepEqual(await get(port, first.cert), { status: 200, body: 'web' });

      // The admin config dump lists the secret with its private key redacted.
      const dump = (await (await fetch(`http://${proxy.adminAddress}/config_dump`)).json()) as { configs: { '@type': string; dynamic_active_secrets?: { name: string; secret: Record<string, unknown> }[] }[] };
      const secrets = dump.configs.find((c) => c['@type'].endsWith('SecretsConfigDump'))!.dynamic_active_secrets!;
      assert.deepEqual(secrets.map((s) => s.name), ['kubernetes://web-cert']);
      assert.ok(!JSON.stringify(secrets).includes(first.key.toString('base64').slice(0, 40)), 'the private key is not shown');

      // The certificate is replaced in the Secret: new connections get the new one.
      applyYaml(store, secretYaml('web-cert', { 'tls.crt': second.cert, 'tls.key': second.key }));
      await until('HTTPS with the second certificate', () => served(port, second.cert));
      await assert.rejects(get(port, first.cert), 'the old certificate is no longer presented');
    });
  });
}

test('MUTUAL credentialName: the client certificate is verified against NAME-cacert; without one the handshake fails', { timeout: 60_000 }, async () => {
  const certs = makeCertificates([SNI, 'client.example.com', 'stranger.example.com']);
  const server = certs.get(SNI)!;
  const client = certs.get('client.example.com')!;
  const stranger = certs.get('stranger.example.com')!;
  await withGateway('{ mode: MUTUAL, credentialName: web-cert }', 'sotw', async ({ store, port }) => {
    applyYaml(store, secretYaml('web-cert', { 'tls.crt': server.cert, 'tls.key': server.key }));
    applyYaml(store, `apiVersion: v1\nkind: Secret\nmetadata: {name: web-cert-cacert, namespace: ${GW_NS}}\ndata: {cacert: ${client.cert.toString('base64')}}\n`);
    await until('mutual TLS with the trusted client', () => served(port, server.cert, client));
    assert.equal(await served(port, server.cert), false, 'no client certificate');
    assert.equal(await served(port, server.cert, stranger), false, 'a client certificate from another CA');
  });
});

test('the proxy subscribes over ADS to the SDS names of its transport sockets, never to the local agent\'s default and ROOTCA', () => {
  const ads = { ads: {}, resource_api_version: 'V3' };
  const agent = { api_config_source: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] } };
  const tls = (common: Record<string, unknown>) => ({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', common_tls_context: common } });
  const listener = {
    name: '0.0.0.0_8443',
    filter_chains: [
      { transport_socket: tls({ tls_certificate_sds_secret_configs: [{ name: 'kubernetes://a', sds_config: ads }], combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: 'kubernetes://a-cacert', sds_config: ads } } }) },
      { transport_socket: tls({ tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: agent }], validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: agent } }) },
      { transport_socket: tls({ tls_certificate_sds_secret_configs: [{ name: 'from-agent', sds_config: agent }] }) },
    ],
  };
  assert.deepEqual(adsSecretNames(listener), ['kubernetes://a', 'kubernetes://a-cacert']);
  const cluster = { name: 'c', transport_socket_matches: [{ name: 'tls', transport_socket: tls({ tls_certificate_sds_secret_configs: [{ name: 'kubernetes://b', sds_config: ads }] }) }] };
  assert.deepEqual(adsSecretNames(cluster), ['kubernetes://b']);
});

test('a Secret the proxy cannot use is NACKed with the field and the reason; a good one passes', () => {
  const [a, b] = [makeCertificates(['a.example.com']).get('a.example.com')!, makeCertificates(['b.example.com']).get('b.example.com')!];
  const secret = (cert: Buffer, key: Buffer) => ({ '@type': TypeUrl.Secret, name: 'kubernetes://a', tls_certificate: { certificate_chain: { inline_bytes: cert.toString('base64') }, private_key: { inline_bytes: key.toString('base64') } } });
  assert.equal(validateResources(TypeUrl.Secret, new Map([['kubernetes://a', secret(a.cert, a.key)]])), undefined);
  assert.match(validateResources(TypeUrl.Secret, new Map([['kubernetes://a', secret(a.cert, b.key)]]))!, /^Secret "kubernetes:\/\/a": tls_certificate: not a usable certificate and key/);
  const file = { '@type': TypeUrl.Secret, name: 'kubernetes://f', tls_certificate: { certificate_chain: { filename: '/etc/passwd' }, private_key: { filename: '/etc/shadow' } } };
  assert.match(validateResources(TypeUrl.Secret, new Map([['kubernetes://f', file]]))!, /certificate_chain: a secret from the control plane must carry its data inline/);
  assert.match(validateResources(TypeUrl.Secret, new Map([['kubernetes://e', { '@type': TypeUrl.Secret, name: 'kubernetes://e' }]]))!, /needs tls_certificate or validation_context/);
});

test('§1 B9: two HTTPS servers on one port, guest (SIMPLE) and admin (MUTUAL): SNI guest with Host admin never reaches the admin route', { timeout: 60_000 }, async () => {
  const certs = makeCertificates(['guest.example.com', 'admin.example.com', 'client.example.com']);
  const guest = certs.get('guest.example.com')!;
  const admin = certs.get('admin.example.com')!;
  const client = certs.get('client.example.com')!;
  const guestApp = await startUpstream('guest');
  const adminApp = await startUpstream('admin');
  const [guestPort, adminPort, gatewayPort] = [await freePort(), await freePort(), await freePort()];
  const store = new MemoryStore();
  const entry = (name: string, host: string, port: number, target: number) => `---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: ${name}, namespace: ${GW_NS} }
spec: { hosts: [${host}], location: MESH_INTERNAL, resolution: STATIC, ports: [{ number: ${port}, name: http, protocol: HTTP }], endpoints: [{ address: 127.0.0.1, ports: { http: ${target} } }] }
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: ${name}, namespace: ${GW_NS} }
spec: { hosts: [${name}.example.com], gateways: [edge], http: [{ route: [{ destination: { host: ${host}, port: { number: ${port} } } }] }] }
`;
  applyYaml(
    store,
    `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: { name: edge, namespace: ${GW_NS} }
spec:
  selector: { istio: ingressgateway }
  servers:
  - { port: { number: ${gatewayPort}, name: https-guest, protocol: HTTPS }, hosts: [guest.example.com], tls: { mode: SIMPLE, credentialName: guest-cert } }
  - { port: { number: ${gatewayPort}, name: https-admin, protocol: HTTPS }, hosts: [admin.example.com], tls: { mode: MUTUAL, credentialName: admin-cert } }
${entry('guest', 'guest.internal', guestPort, guestApp.port)}${entry('admin', 'admin.internal', adminPort, adminApp.port)}---
${secretYaml('guest-cert', { 'tls.crt': guest.cert, 'tls.key': guest.key })}---
${secretYaml('admin-cert', { 'tls.crt': admin.cert, 'tls.key': admin.key, 'ca.crt': client.cert })}`,
  );
  const discovery = await new Discovery({ store, xdsPort: 0, debugPort: 0, debounceAfterMs: 10, logger: silent }).start();
  const proxy = ingressGateway(discovery.xdsAddress, 'sotw');
  const request = (servername: string, host: string, ca: Buffer, cert?: Certificate) =>
    new Promise<number>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: gatewayPort, path: '/', servername, headers: { host }, ca, agent: false, ...(cert ? { cert: cert.cert, key: cert.key } : {}) }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.setTimeout(5_000, () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
    });
  try {
    await proxy.start();
    await until('the gateway listener', () => proxy.plane.listeners.bound.includes(`127.0.0.1:${gatewayPort}`));
    await until('guest served', async () => (await request('guest.example.com', 'guest.example.com', guest.cert).catch(() => 0)) === 200);
    await until('admin served to a client with a certificate', async () => (await request('admin.example.com', 'admin.example.com', admin.cert, client).catch(() => 0)) === 200);
    const adminHits = adminApp.seen.length;
    // Relaxed SNI: the guest server's TLS (no client certificate) with the admin host in the request.
    const status = await request('guest.example.com', 'admin.example.com', guest.cert);
    assert.notEqual(status, 200);
    assert.equal(adminApp.seen.length, adminHits, 'the admin backend was never reached');
    await assert.rejects(request('admin.example.com', 'admin.example.com', admin.cert), 'the admin server still requires a client certificate');
  } finally {
    await proxy.stop();
    await discovery.close();
    await guestApp.close();
    await adminApp.close();
  }
});
