// reliability-security §1 as a table over raw sockets: an inbound sidecar configured by the control plane from Istio YAML (AuthorizationPolicy fixtures P-DENY-ADMIN, P-ALLOW-PUBLIC, P-DENY-HOST, P-DENY-HDR, Maistra regex headers, P-JWT) answers each hostile request with the stated status, never forwards it (the backend's hit counter), and serves the next good request on a new connection.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { MemoryStore } from '../../src/config/memory-store.js';
import { meshConfig } from '../../src/model/mesh-config.js';
import { buildPushContext } from '../../src/model/push-context-impl.js';
import { proxyFromNode } from '../../src/model/proxy.js';
import { buildProxyConfig } from '../../src/proxy/config/proxy-config.js';
import { DataPlane } from '../../src/proxy/data-plane.js';
import { ServiceRegistry } from '../../src/registry/registry.js';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { TypeUrl, type TypeUrlValue } from '../../src/xds/types.js';
import { applyYaml } from '../xds/echo-mesh.js';
import { freePort, webServiceEntry } from './http-mesh.js';

const ISSUER = 'testing@secure.istio.io';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const JWKS = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });

const policy = (name: string, spec: string) => `---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: default }
spec:
  selector: { matchLabels: { app: web } }
${spec}`;

/** The fixtures of §1 "Conventions", as Istio writes them. */
const FIXTURES: Record<string, string> = {
  'P-DENY-ADMIN': policy('deny-admin', '  action: DENY\n  rules: [{ to: [{ operation: { paths: ["/admin", "/admin/*"] } }] }]\n'),
  'P-ALLOW-PUBLIC': policy('allow-public', '  action: ALLOW\n  rules: [{ to: [{ operation: { paths: ["/public*"], methods: ["GET"] } }] }]\n'),
  'P-DENY-HOST': policy('deny-host', '  action: DENY\n  rules: [{ to: [{ operation: { hosts: ["secret.com"] } }] }]\n'),
  'P-DENY-HDR': policy('deny-hdr', '  action: DENY\n  rules: [{ when: [{ key: "request.headers[x-role]", values: ["admin"] }] }]\n'),
  'P-DENY-REGEX': policy('deny-regex', '  action: DENY\n  rules: [{ when: [{ key: "request.regex.headers[x-user]", values: ["test-.*"] }] }]\n'),
  'P-JWT': `---
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: { name: jwt, namespace: default }
spec:
  selector: { matchLabels: { app: web } }
  jwtRules: [{ issuer: "${ISSUER}", jwks: '${JWKS}' }]
${policy('require-jwt', '  action: ALLOW\n  rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }]\n')}`,
};

interface Sidecar {
  port: number;
  hits: number;
  seen: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** An inbound sidecar for `web-1` (127.0.0.2) in front of a counting backend, configured by the generators from `yaml`. */
async function sidecar(yaml: string): Promise<Sidecar> {
  const appPort = await freePort();
  const state = { hits: 0, seen: [] as http.IncomingHttpHeaders[] };
  const app = http.createServer((req, res) => {
    state.hits++;
    state.seen.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((r) => app.listen(appPort, '127.0.0.1', () => r()));
  const store = new MemoryStore();
  applyYaml(
    store,
    `${webServiceEntry(await freePort())}---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-1, namespace: default }
spec: { address: 127.0.0.2, ports: { http: ${appPort} }, labels: { app: web } }
${yaml}`,
  );
  const registry = new ServiceRegistry(store);
  const node = proxyFromNode('sidecar~127.0.0.2~web-1.default~default.svc.cluster.local', { LABELS: { app: 'web' } });
  if (typeof node === 'string') throw new Error(node);
  const push = buildPushContext(store, registry.snapshot(), meshConfig(), 'v1');
  const wire = (t: TypeUrlValue) => new Map(envoyGenerators[t]!(node, push, undefined).map((r) => [r.name, decodeResource(t, encodeResource(r))]));
  const plane = new DataPlane({ plan: { mode: 'sidecar', inboundAddress: '127.0.0.2' } });
  await plane.apply(buildProxyConfig({ listeners: wire(TypeUrl.Listener), routes: new Map(), clusters: wire(TypeUrl.Cluster), endpoints: new Map() }, 1));
  return {
    port: appPort,
    get hits() {
      return state.hits;
    },
    seen: state.seen,
    close: async () => {
      await plane.drain(0);
      registry.close();
      app.closeAllConnections();
      await new Promise<void>((r) => app.close(() => r()));
    },
  };
}

/** Sends raw bytes on a new connection; resolves the status line's code (0 when closed without an answer). */
function raw(port: number, bytes: string): Promise<number> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect(port, '127.0.0.2', () => socket.write(bytes));
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (answer += c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      resolve(m ? Number(m[1]) : 0);
    });
    socket.setTimeout(5_000, () => socket.destroy());
  });
}

const get = (target: string, headers: string[] = [], host = 'web') => `GET ${target} HTTP/1.1\r\nhost: ${host}\r\n${headers.map((h) => `${h}\r\n`).join('')}connection: close\r\n\r\n`;

async function token(claims: Record<string, unknown>, key = privateKey, header: Record<string, unknown> = { alg: 'RS256', kid: 'k1' }): Promise<string> {
  return new SignJWT({ iss: ISSUER, sub: 'user-1', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, ...claims }).setProtectedHeader(header as { alg: string }).sign(key);
}

interface Row {
  id: string;
  request: string | (() => Promise<string>);
  status: number;
}

/** Per fixture: the hostile rows and the good request that must still work afterwards. */
const TABLE: Record<string, { rows: Row[]; good: string | (() => Promise<string>) }> = {
  'P-DENY-ADMIN': {
    good: get('/public'),
    rows: [
      { id: 'A1 //admin', request: get('//admin'), status: 403 },
      { id: 'A1 ///admin', request: get('///admin'), status: 403 },
      { id: 'A2 /%2Fadmin', request: get('/%2Fadmin'), status: 400 },
      { id: 'A2 /%2fadmin', request: get('/%2fadmin'), status: 400 },
      { id: 'A2 /x/..%2Fadmin', request: get('/x/..%2Fadmin'), status: 400 },
      { id: 'A2 /admin%5C..%5Cpublic', request: get('/admin%5C..%5Cpublic'), status: 400 },
      { id: 'A4 /admin?x=1', request: get('/admin?x=1'), status: 403 },
      { id: 'A4 /admin?', request: get('/admin?'), status: 403 },
      { id: 'A6 /admin%00', request: get('/admin%00'), status: 400 },
      { id: 'A6 /%00/admin', request: get('/%00/admin'), status: 400 },
      { id: 'A7 /%61dmin', request: get('/%61dmin'), status: 403 },
      { id: 'A7 /adm%69n', request: get('/adm%69n'), status: 403 },
      { id: 'A5-like /public/../admin', request: get('/public/../admin'), status: 403 },
      { id: 'A10 lower-case method', request: 'get /admin HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n', status: 400 },
      { id: 'C2 x-envoy-original-path', request: get('/admin', ['x-envoy-original-path: /public', 'x-original-path: /public', 'x-forwarded-prefix: /public']), status: 403 },
      { id: 'B8 no Host', request: 'GET /public HTTP/1.1\r\nconnection: close\r\n\r\n', status: 400 },
      { id: 'B8 two Hosts', request: 'GET /public HTTP/1.1\r\nhost: web\r\nhost: other\r\nconnection: close\r\n\r\n', status: 400 },
      { id: 'B8 empty Host', request: 'GET /public HTTP/1.1\r\nhost:\r\nconnection: close\r\n\r\n', status: 400 },
      { id: 'E1 CL and TE', request: 'POST /public HTTP/1.1\r\nhost: web\r\ncontent-length: 6\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nG', status: 400 },
    ],
  },
  'P-ALLOW-PUBLIC': {
    good: get('/public/x'),
    rows: [
      ...['/public/../private', '/public/./../private', '/public/.././private', '/public/%2E%2E/private', '/public/%2e%2e/private', '/public/%2E/%2E%2E/private', '/public/%2e%2e/%2e/private'].map((p) => ({ id: `A5 ${p}`, request: get(p), status: 403 })),
      { id: 'A1 /public//x merged, still allowed', request: get('/public//x'), status: 200 },
      { id: 'method not GET', request: 'POST /public HTTP/1.1\r\nhost: web\r\ncontent-length: 0\r\nconnection: close\r\n\r\n', status: 403 },
    ],
  },
  'P-DENY-HOST': {
    good: get('/', [], 'public.com'),
    rows: [
      { id: 'B1 Secret.com', request: get('/', [], 'Secret.com'), status: 403 },
      { id: 'B1 SECRET.COM', request: get('/', [], 'SECRET.COM'), status: 403 },
      { id: 'B1 secret.com', request: get('/', [], 'secret.com'), status: 403 },
    ],
  },
  'P-DENY-HDR': {
    good: get('/', ['x-role: user']),
    rows: [
      { id: 'B3 NUL after admin', request: get('/', ['x-role: admin\x00']), status: 400 },
      { id: 'B3 NUL inside', request: get('/', ['x-role: user\x00admin']), status: 400 },
      { id: 'B4 trailing space', request: get('/', ['x-role: admin ']), status: 403 },
      { id: 'B4 tabs', request: get('/', ['x-role:\tadmin\t']), status: 403 },
      { id: 'B6 space before colon', request: get('/', ['x-role : admin']), status: 400 },
      { id: 'B6 TE with space before colon', request: get('/', ['Transfer-Encoding : chunked']), status: 400 },
    ],
  },
  'P-DENY-REGEX': {
    good: get('/', ['x-user: prod-test-1']),
    rows: [
      { id: 'regex header whole value', request: get('/', ['x-user: test-42']), status: 403 },
      { id: 'regex header, second value joined', request: get('/', ['x-user: test-1', 'x-user: x']), status: 403 },
    ],
  },
  'P-JWT': {
    good: async () => get('/', [`authorization: Bearer ${await token({})}`]),
    rows: [
      { id: 'D6 no token under ALLOW requestPrincipals', request: get('/'), status: 403 },
      { id: 'D1 garbage ES256 token', request: get('/', ['authorization: Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA']), status: 401 },
      { id: 'D1 a.b', request: get('/', ['authorization: Bearer a.b']), status: 401 },
      { id: 'D2 alg none', request: get('/', ['authorization: Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ0ZXN0aW5nQHNlY3VyZS5pc3Rpby5pbyJ9.']), status: 401 },
      {
        id: 'D3 HS256 with the RSA public key as secret',
        request: async () => get('/', [`authorization: Bearer ${await token({}, new TextEncoder().encode(publicKey.export({ format: 'pem', type: 'spki' }).toString()) as never, { alg: 'HS256', kid: 'k1' })}`]),
        status: 401,
      },
      { id: 'D4 expired 120 s ago', request: async () => get('/', [`authorization: Bearer ${await token({ exp: Math.floor(Date.now() / 1000) - 120 })}`]), status: 401 },
      { id: 'D4 not before +120 s', request: async () => get('/', [`authorization: Bearer ${await token({ nbf: Math.floor(Date.now() / 1000) + 120 })}`]), status: 401 },
      { id: 'D5 issuer not configured', request: async () => get('/', [`authorization: Bearer ${await token({ iss: 'someone@else' })}`]), status: 401 },
      { id: 'D5 signed by another key', request: async () => get('/', [`authorization: Bearer ${await token({}, other.privateKey)}`]), status: 401 },
      { id: 'D11 1 MB token', request: get('/', [`authorization: Bearer ${'a'.repeat(40_000)}.${'b'.repeat(10)}.c`]), status: 401 },
    ],
  },
};

for (const [fixture, { rows, good }] of Object.entries(TABLE)) {
  describe(`§1 against ${fixture}`, () => {
    let s: Sidecar;
    before(async () => {
      s = await sidecar(FIXTURES[fixture]!);
    });
    after(async () => {
      await s.close();
    });
    for (const row of rows) {
      test(`${row.id} → ${row.status}${row.status === 200 ? '' : ', never forwarded'}; the next good request is served`, async () => {
        const hits = s.hits;
        const bytes = typeof row.request === 'string' ? row.request : await row.request();
        assert.equal(await raw(s.port, bytes), row.status);
        assert.equal(s.hits, hits + (row.status === 200 ? 1 : 0), 'backend hits');
        const g = typeof good === 'string' ? good : await good();
        assert.equal(await raw(s.port, g), 200, 'the next good request on a new connection');
        assert.equal(s.hits, hits + (row.status === 200 ? 2 : 1));
      });
    }
  });
}

test('C4: a plaintext caller\'s forged x-forwarded-client-cert never reaches the app, and policy sees no principal', async () => {
  const s = await sidecar(policy('deny-ns-foo', '  action: DENY\n  rules: [{ from: [{ source: { notPrincipals: ["*"] } }] }]\n').replace('deny-ns-foo', 'deny-plaintext'));
  try {
    // notPrincipals ["*"]: Istio's documented way to refuse callers without an identity (H2).
    assert.equal(await raw(s.port, get('/', ['x-forwarded-client-cert: By=spiffe://evil/ns/x/sa/y;URI=spiffe://cluster.local/ns/admin/sa/root'])), 403);
    assert.equal(s.hits, 0);
  } finally {
    await s.close();
  }
  const open = await sidecar('');
  try {
    assert.equal(await raw(open.port, get('/', ['x-forwarded-client-cert: By=spiffe://evil/ns/x/sa/y;URI=spiffe://cluster.local/ns/admin/sa/root'])), 200);
    assert.equal(open.seen[0]!['x-forwarded-client-cert'], undefined);
  } finally {
    await open.close();
  }
});

test('an edge connection manager: B7 underscores refused; C1 x-istio-attributes and client x-envoy-* headers (even repeated) never reach the app', async () => {
  const appPort = await freePort();
  const seen: http.IncomingHttpHeaders[] = [];
  const app = http.createServer((req, res) => {
    seen.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((r) => app.listen(appPort, '127.0.0.1', () => r()));
  const port = await freePort();
  const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
  const listener = {
    name: 'edge',
    address: { socket_address: { address: '127.0.0.2', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: 'edge',
              use_remote_address: true,
              common_http_protocol_options: { headers_with_underscores_action: 'REJECT_REQUEST' },
              route_config: { name: 'edge', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] }] },
              http_filters: [{ name: 'envoy.filters.http.router' }],
            },
          },
        ],
      },
    ],
  };
  const cluster = { name: 'app', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: appPort } } } }] }] } };
  const plane = new DataPlane({ plan: { mode: 'router', gatewayAddress: '127.0.0.2' } });
  await plane.apply(buildProxyConfig({ listeners: new Map([['edge', listener]]), routes: new Map(), clusters: new Map([['app', cluster]]), endpoints: new Map() }, 1));
  try {
    assert.equal(await raw(port, get('/', ['x_role: admin'])), 400, 'B7');
    assert.equal(seen.length, 0);
    assert.equal(await raw(port, get('/', ['x-istio-attributes: Cg0KBXNvdXJjZRIE', 'x-envoy-a: 1', 'x-envoy-b: 2', 'x-envoy-a: 3', 'x-envoy-upstream-rq-timeout-ms: 1'])), 200);
    assert.equal(seen.length, 1);
    for (const name of ['x-istio-attributes', 'x-envoy-a', 'x-envoy-b', 'x-envoy-upstream-rq-timeout-ms']) assert.equal(seen[0]![name], undefined, name);
    // A repeated x-envoy-* field as the last ones of the head: removing a name takes all its fields at once.
    assert.equal(await raw(port, 'GET / HTTP/1.1\r\nhost: web\r\nconnection: close\r\nx-envoy-a: 1\r\nx-envoy-a: 2\r\n\r\n'), 200);
    assert.equal(seen.length, 2);
    assert.equal(seen[1]!['x-envoy-a'], undefined);
  } finally {
    await plane.drain(0);
    app.closeAllConnections();
    await new Promise<void>((r) => app.close(() => r()));
  }
});
