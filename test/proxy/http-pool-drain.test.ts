// Connection pools of hosts that leave their cluster: idle connections close at once, in-flight requests finish, hosts that stay keep theirs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import type * as net from 'node:net';
import { keyOf } from '../../src/config/store.js';
import { DEFAULT_HTTP1_LIMITS, HeaderList } from '../../src/proxy/http1/index.js';
import { PoolRegistry } from '../../src/proxy/http/pool-registry.js';
import type { UpstreamEvents, UpstreamPool } from '../../src/proxy/http/upstream-stream.js';
import { HOST, httpMesh, startH2Upstream, startUpstream, type HttpMesh, type Endpoint } from './http-mesh.js';

const roundRobin = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec:
  host: ${HOST}
  trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }
`;

/** One upstream-side TCP connection: whether it is still open, and a promise of its close. */
interface Conn {
  open: boolean;
  closed: Promise<void>;
}

/** Records every connection a server accepts. */
function track(server: net.Server): Conn[] {
  const conns: Conn[] = [];
  server.on('connection', (socket: net.Socket) => {
    const c: Conn = { open: true, closed: Promise.resolve() };
    c.closed = new Promise((resolve) =>
      socket.once('close', () => {
        c.open = false;
        resolve();
      }),
    );
    conns.push(c);
  });
  return conns;
}

/** Waits for `p`, failing after `ms`. */
async function within(p: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Removes the WorkloadEntry `name` (web-1, web-2…) from the store and pushes the new config. */
async function removeEndpoint(m: HttpMesh<Endpoint>, name: string): Promise<void> {
  const entry = m.store.list({ kind: 'WorkloadEntry' }).find((r) => r.metadata.name === name);
  assert.ok(entry, `WorkloadEntry ${name}`);
  m.store.delete(keyOf(entry));
  await m.push();
}

/** Sends requests (at most 20) until each server has accepted a connection. */
async function connectAll(m: HttpMesh<Endpoint>, conns: Conn[][]): Promise<void> {
  for (let i = 0; i < 20 && conns.some((c) => c.length === 0); i++) assert.equal((await m.request('/')).status, 200);
  assert.ok(conns.every((c) => c.length === 1), 'one keep-alive connection per upstream');
}

for (const codec of ['http1', 'http2'] as const) {
  test(`${codec}: removing an endpoint closes its idle upstream connection at once; the endpoint that stays keeps its own`, async () => {
    const upstreams = codec === 'http1' ? [await startUpstream('a'), await startUpstream('b')] : [await startH2Upstream('a'), await startH2Upstream('b')];
    const [a, b] = upstreams.map((u) => track(u.server)) as [Conn[], Conn[]];
    const m = await httpMesh<Endpoint>(upstreams, roundRobin, codec === 'http2' ? { port: { name: 'http2', protocol: 'HTTP2' } } : {});
    try {
      await connectAll(m, [a, b]);
      await removeEndpoint(m, 'web-2');
      await within(b[0]!.closed, 5000, "the removed endpoint's idle connection to close");
      for (let i = 0; i < 3; i++) {
        const r = await m.request('/');
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-upstream'], 'a');
      }
      assert.equal(a.length, 1, 'the remaining endpoint is reached over its first connection');
      assert.ok(a[0]!.open);
      assert.equal(b.length, 1, 'nothing reconnects to the removed endpoint');
    } finally {
      await m.close();
    }
  });
}

test('removing the cluster closes its idle upstream connections', async () => {
  const u = await startUpstream('a');
  const conns = track(u.server);
  const m = await httpMesh<Endpoint>([u]);
  try {
    await connectAll(m, [conns]);
    const se = m.store.list({ kind: 'ServiceEntry' }).find((r) => r.metadata.name === 'web');
    assert.ok(se);
    m.store.delete(keyOf(se));
    await m.push();
    await within(conns[0]!.closed, 5000, "the removed cluster's idle connection to close");
  } finally {
    await m.close();
  }
});

test('a request in flight to a removed endpoint still completes; its connection closes after it', async () => {
  const u = await startUpstream('slow');
  const conns = track(u.server);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let arrived!: () => void;
  const received = new Promise<void>((r) => (arrived = r));
  u.server.removeAllListeners('request');
  u.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    arrived();
    void gate.then(() => res.end('slow'));
  });
  const m = await httpMesh<Endpoint>([u]);
  try {
    const inflight = m.request('/');
    await within(received, 5000, 'the request to reach the upstream');
    await removeEndpoint(m, 'web-1');
    assert.ok(conns[0]!.open, 'a busy connection is not cut');
    release();
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'slow');
    await within(conns[0]!.closed, 5000, 'the connection to close once its request ended');
    assert.equal(conns.length, 1);
  } finally {
    release();
    await m.close();
  }
});

/** One GET through `pool`; resolves with the status once the response ended and the stream was released as reusable. */
function get(pool: UpstreamPool): Promise<number> {
  return new Promise((resolve, reject) => {
    pool.acquire((failure, stream) => {
      if (failure || !stream) return reject(new Error(`no stream: ${failure}`));
      let status = 0;
      const headers = new HeaderList();
      headers.add('host', HOST);
      const events: UpstreamEvents = {
        interim: () => undefined,
        head: (h) => (status = h.status),
        data: () => undefined,
        end: () => {
          stream.release(true);
          resolve(status);
        },
        failed: (reason) => {
          stream.release(false);
          reject(new Error(reason));
        },
        reading: () => undefined,
      };
      stream.sendHead('GET', '/', headers, 0, events);
      stream.sendEnd();
    });
  });
}

test('a retired host picked from an older cluster snapshot is served without keeping its connection', async () => {
  const u = await startUpstream('a');
  const conns = track(u.server);
  const m = await httpMesh<Endpoint>([u]);
  const pools = new PoolRegistry(DEFAULT_HTTP1_LIMITS, { maxHeaderListBytes: 65536 });
  try {
    const cluster = m.plane.clusters.get(m.plane.clusters.names.find((n) => n.includes(HOST))!)!;
    const host = cluster.hosts[0]!;
    assert.equal(await get(pools.pool(cluster, host, 'http1')), 200);
    assert.equal(conns.length, 1);
    pools.retire([host]);
    await within(conns[0]!.closed, 5000, 'the idle connection of the retired host to close');
    // A retry holding the old snapshot may still pick the host: it is answered, and its connection closes after the response.
    assert.equal(await get(pools.pool(cluster, host, 'http1')), 200);
    assert.equal(conns.length, 2);
    await within(conns[1]!.closed, 5000, 'the one-request connection to close');
  } finally {
    pools.close();
    await m.close();
  }
});
