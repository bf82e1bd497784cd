// The HTTP/1.1 data path against real upstreams on loopback, configured by what the control plane generates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST, httpMesh, startUpstream } from './http-mesh.js';

const DR = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec:
  host: ${HOST}
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
`;

test('requests reach the service through the client sidecar, with Envoy headers added', async () => {
  const m = await httpMesh([await startUpstream('a')]);
  try {
    const r = await m.request('/hello?x=1', { headers: { 'x-custom': 'kept' } });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'a');
    assert.equal(r.headers.server, 'envoy', 'the outbound HCM sets no server_name, so Envoy\'s default');
    assert.ok(r.headers['x-envoy-upstream-service-time'] !== undefined);
    const seen = m.upstreams[0]!.seen[0]!;
    assert.equal(seen.url, '/hello?x=1');
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.match(String(seen.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(m.records[0]!.responseCode, 200);
    assert.equal(m.records[0]!.upstreamCluster, `outbound|${m.servicePort}||${HOST}`);
    // A client-chosen x-request-id is kept.
    await m.request('/', { headers: { 'x-request-id': 'abc' } });
    assert.equal(m.upstreams[0]!.seen[1]!.headers['x-request-id'], 'abc');
  } finally {
    await m.close();
  }
});

test('VirtualService weights split traffic within statistical bounds, and a header match overrides them', async () => {
  const vs = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http:
  - match: [{ headers: { x-user: { exact: jason } } }]
    route: [{ destination: { host: ${HOST}, subset: v2 } }]
  - route:
    - { destination: { host: ${HOST}, subset: v1 }, weight: 80 }
    - { destination: { host: ${HOST}, subset: v2 }, weight: 20 }
`;
  const m = await httpMesh([await startUpstream('v1'), await startUpstream('v2')], `${DR}---\n${vs}`);
  try {
    const n = 1000;
    let v2 = 0;
    for (let i = 0; i < n; i++) if ((await m.request('/')).body === 'v2') v2++;
    // Binomial(1000, 0.2): σ ≈ 12.6; 4σ ≈ 51.
    assert.ok(Math.abs(v2 - 200) < 51, `${v2} of ${n} went to v2`);
    for (let i = 0; i < 20; i++) assert.equal((await m.request('/', { headers: { 'x-user': 'jason' } })).body, 'v2');
  } finally {
    await m.close();
  }
});

test('retries make a 1-in-3 failing upstream succeed; without retries the failure shows', async () => {
  const flaky = await startUpstream('flaky', (_req, n) => (n % 3 === 1 ? { status: 503, body: 'down' } : { status: 200, body: 'ok' }));
  const vs = (attempts: number) => `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http: [{ route: [{ destination: { host: ${HOST} } }], retries: { attempts: ${attempts}, retryOn: "5xx" } }]
`;
  const m = await httpMesh([flaky], vs(2));
  try {
    for (let i = 0; i < 30; i++) assert.equal((await m.request('/')).status, 200);
    assert.equal(flaky.seen.length, 45, 'every third try failed and was retried once');
    const retried = m.records.filter((r) => r.attempts === 2).length;
    assert.equal(retried, 15);
    // attempts: 0 turns retries off: the 503 reaches the client.
    m.store.apply({ ...m.store.list({ kind: 'VirtualService' })[0]!, spec: { hosts: [HOST], http: [{ route: [{ destination: { host: HOST } }], retries: { attempts: 0 } }] } });
    await m.push();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await m.request('/')).status);
    assert.equal(statuses.filter((s) => s === 503).length, 2);
  } finally {
    await m.close();
  }
});

test('a route timeout answers 504 with flag UT and Envoy\'s body', async () => {
  const slow = await startUpstream('slow', () => ({ status: 200, body: 'late', delayMs: 2000 }));
  const vs = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http: [{ route: [{ destination: { host: ${HOST} } }], timeout: 0.2s, retries: { attempts: 0 } }]
`;
  const m = await httpMesh([slow], vs);
  try {
    const r = await m.request('/');
    assert.equal(r.status, 504);
    assert.equal(r.body, 'upstream request timeout');
    assert.deepEqual(m.records[0]!.responseFlags, ['UT']);
  } finally {
    await m.close();
  }
});

test('fault injection: abort percentages hold within statistical bounds; a delay is applied', async () => {
  const vs = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http:
  - match: [{ uri: { prefix: /delay } }]
    fault: { delay: { fixedDelay: 0.3s, percentage: { value: 100 } } }
    route: [{ destination: { host: ${HOST} } }]
  - fault: { abort: { httpStatus: 418, percentage: { value: 30 } } }
    route: [{ destination: { host: ${HOST} } }]
`;
  const m = await httpMesh([await startUpstream('a')], vs);
  try {
    const n = 600;
    let aborted = 0;
    for (let i = 0; i < n; i++) {
      const r = await m.request('/');
      if (r.status === 418) {
        aborted++;
        assert.equal(r.body, 'fault filter abort');
      }
    }
    // Binomial(600, 0.3): σ ≈ 11.2; 4σ ≈ 45.
    assert.ok(Math.abs(aborted - 180) < 45, `${aborted} of ${n} aborted`);
    assert.equal(m.upstreams[0]!.seen.length, n - aborted, 'aborted requests never reach the upstream');
    assert.ok(m.records.filter((r) => r.responseCode === 418).every((r) => r.responseFlags.includes('FI')));
    const t0 = Date.now();
    assert.equal((await m.request('/delay')).status, 200);
    assert.ok(Date.now() - t0 >= 290, 'the delay was applied');
    assert.ok(m.records[m.records.length - 1]!.responseFlags.includes('DI'));
  } finally {
    await m.close();
  }
});

test('no route is 404 NR; an unreachable endpoint is 503 UF with Envoy\'s body', async () => {
  const dead = await startUpstream('dead');
  const m = await httpMesh([dead], `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http: [{ match: [{ uri: { prefix: /only } }], route: [{ destination: { host: ${HOST} } }], retries: { attempts: 0 } }]
`);
  try {
    const nr = await m.request('/elsewhere');
    assert.equal(nr.status, 404);
    assert.deepEqual(m.records[0]!.responseFlags, ['NR']);
    dead.server.closeAllConnections();
    await new Promise<void>((r) => dead.server.close(() => r()));
    const uf = await m.request('/only');
    assert.equal(uf.status, 503);
    assert.equal(uf.body, 'upstream connect error or disconnect/reset before headers. reset reason: connection failure');
    assert.deepEqual(m.records[1]!.responseFlags, ['UF']);
  } finally {
    await m.close().catch(() => undefined);
  }
});
