import { once } from 'node:events';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { AdsServer, type SentEvent, type XdsLogger } from '../../src/xds/ads-server.js';
import { DebugServer } from '../../src/xds/debug-server.js';
import { TypeUrl } from '../../src/xds/types.js';
import { AdsTestClient, type TestResponse } from './ads-test-client.js';
import { fakeGenerators, fakePush, type FakeWorld } from './fake-generators.js';

const SIDECAR = 'sidecar~10.0.0.1~app-1.default~default.svc.cluster.local';

function baseWorld(version: string): FakeWorld {
  return {
    version,
    clusters: { 'outbound|80||a.default.svc.cluster.local': ['10.1.0.1:8080'], 'outbound|80||b.default.svc.cluster.local': ['10.1.0.2:8080'] },
    listeners: { '0.0.0.0_80': '80' },
    routes: { '80': 'outbound|80||a.default.svc.cluster.local' },
  };
}

const A = 'outbound|80||a.default.svc.cluster.local';
const B = 'outbound|80||b.default.svc.cluster.local';

interface Harness {
  ads: AdsServer;
  port: number;
  logs: { level: string; message: string; fields?: Record<string, unknown> }[];
  sent: SentEvent[];
  clients: AdsTestClient[];
  client(protocol?: 'sotw' | 'delta', id?: string): AdsTestClient;
  close(): Promise<void>;
}

async function harness(): Promise<Harness> {
  const logs: Harness['logs'] = [];
  const logger: XdsLogger = {
    info: (message, fields) => logs.push({ level: 'info', message, fields }),
    warn: (message, fields) => logs.push({ level: 'warn', message, fields }),
    error: (message, fields) => logs.push({ level: 'error', message, fields }),
  };
  const ads = new AdsServer({ envoyGenerators: fakeGenerators, grpcGenerators: {}, logger });
  const port = await ads.listen('127.0.0.1:0');
  const sent: SentEvent[] = [];
  ads.events.on('sent', (e: SentEvent) => sent.push(e));
  const h: Harness = {
    ads,
    port,
    logs,
    sent,
    clients: [],
    client(protocol = 'sotw', id = SIDECAR) {
      const c = new AdsTestClient(port, protocol, { id });
      h.clients.push(c);
      return c;
    },
    async close() {
      for (const c of h.clients) c.close();
      await ads.close();
    },
  };
  return h;
}

/** Subscribes a SotW client to all four types and ACKs each first response. */
async function subscribeAll(c: AdsTestClient): Promise<Record<string, TestResponse>> {
  const got: Record<string, TestResponse> = {};
  c.request(TypeUrl.Cluster);
  got.cds = await c.next();
  c.ack(got.cds);
  c.request(TypeUrl.ClusterLoadAssignment, [A, B]);
  got.eds = await c.next();
  c.ack(got.eds, [A, B]);
  c.request(TypeUrl.Listener);
  got.lds = await c.next();
  c.ack(got.lds);
  c.request(TypeUrl.RouteConfiguration, ['80']);
  got.rds = await c.next();
  c.ack(got.rds, ['80']);
  return got;
}

/**
 * A barrier: the server answers requests of one stream in order, so once the answer to a fresh
 * LDS request arrives, anything the earlier requests triggered has arrived before it.
 */
async function barrier(c: AdsTestClient, lds: TestResponse): Promise<TestResponse[]> {
  c.request(TypeUrl.Listener, ['0.0.0.0_80'], { nonce: lds.nonce, version: lds.version });
  const seen: TestResponse[] = [];
  for (;;) {
    const r = await c.next();
    if (r.typeUrl === TypeUrl.Listener) return seen;
    seen.push(r);
  }
}

describe('ADS server, state of the world', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await h.close();
  });

  test('answers a request that arrives before the first push once the push comes', async () => {
    const c = h.client();
    c.request(TypeUrl.Cluster);
    const push = h.ads.setPushContext(fakePush(baseWorld('p1')));
    const cds = await c.next();
    await push;
    assert.equal(cds.typeUrl, TypeUrl.Cluster);
    assert.deepEqual(cds.resources.map((r) => r.name), [A, B]);
    assert.equal(cds.version, '1');
    c.close();
  });

  test('ACKs are recorded per type with the version and nonce, visible in syncz', async () => {
    const c = h.client('sotw', 'sidecar~10.0.0.2~acker.default~default.svc.cluster.local');
    const got = await subscribeAll(c);
    await barrier(c, got.lds!);
    const status = h.ads.syncz().find((s) => s.proxy.startsWith('sidecar~10.0.0.2'))!;
    assert.equal(status.cluster_sent, got.cds!.nonce);
    assert.equal(status.cluster_acked, got.cds!.nonce);
    assert.equal(status.endpoint_acked, got.eds!.nonce);
    assert.equal(status.route_acked, got.rds!.nonce);
    assert.equal(status.types.cds!.acked_version, got.cds!.version);
    assert.equal(status.types.eds!.resources, 2);
    assert.equal(status.generator, 'envoy');
    assert.equal(status.protocol, 'sotw');
    c.close();
  });

  test('a new push carries a higher version, and only changed types are sent', async () => {
    const c = h.client('sotw', 'sidecar~10.0.0.3~versions.default~default.svc.cluster.local');
    const got = await subscribeAll(c);
    const before = Number(got.cds!.version);
    const w = baseWorld('p2');
    w.routes['80'] = B; // only RDS changes
    const mark = h.sent.length;
    await h.ads.setPushContext(fakePush(w));
    const mine = h.sent.slice(mark).filter((e) => e.proxyId.includes('versions'));
    assert.deepEqual(mine.map((e) => e.typeUrl), [TypeUrl.RouteConfiguration]);
    const rds = await c.next();
    assert.equal(rds.typeUrl, TypeUrl.RouteConfiguration);
    assert.ok(Number(rds.version) > before, `${rds.version} > ${before}`);
    c.close();
  });

  test('a full push sends CDS, EDS, LDS, RDS in that order', async () => {
    const c = h.client('sotw', 'sidecar~10.0.0.4~order.default~default.svc.cluster.local');
    await subscribeAll(c);
    const w = baseWorld('p3');
    w.clusters[A] = ['10.1.0.9:8080'];
    w.clusters[B] = ['10.1.0.8:8080'];
    w.listeners['0.0.0.0_80'] = '81';
    w.routes['81'] = A;
    w.clusters['outbound|80||c.default.svc.cluster.local'] = ['10.1.0.7:8080'];
    w.routes['80'] = 'outbound|80||c.default.svc.cluster.local';
    await h.ads.setPushContext(fakePush(w));
    const order = [];
    for (let i = 0; i < 4; i++) order.push((await c.next()).typeUrl);
    assert.deepEqual(order, [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]);
    c.close();
  });

  test('an endpoint-only push sends only EDS, and only to proxies whose endpoints changed', async () => {
    await h.ads.setPushContext(fakePush(baseWorld('p4')));
    const c = h.client('sotw', 'sidecar~10.0.0.5~eds.default~default.svc.cluster.local');
    const other = h.client('sotw', 'sidecar~10.0.0.6~other.default~default.svc.cluster.local');
    await subscribeAll(c);
    other.request(TypeUrl.ClusterLoadAssignment, [B]);
    const otherEds = await other.next();
    other.ack(otherEds, [B]);
    const w = baseWorld('p5');
    w.clusters[A] = ['10.1.0.1:8080', '10.1.0.3:8080'];
    w.listeners['0.0.0.0_80'] = 'would-change-if-lds-were-pushed';
    const mark = h.sent.length;
    await h.ads.setPushContext(fakePush(w), { full: false, edsHosts: new Set(['a.default.svc.cluster.local']) });
    const pushed = h.sent.slice(mark);
    assert.deepEqual(pushed.map((e) => [e.proxyId.split('~')[2], e.typeUrl]), [['eds.default', TypeUrl.ClusterLoadAssignment]]);
    const eds = await c.next();
    assert.equal(eds.typeUrl, TypeUrl.ClusterLoadAssignment);
    // SotW EDS: only the changed load assignment (a client keeps the EDS resources a response leaves out).
    const byName = Object.fromEntries(eds.resources.map((r) => [r.name, r.body]));
    assert.deepEqual(Object.keys(byName).sort(), [A]);
    const aEndpoints = (byName[A] as { endpoints: { lb_endpoints: unknown[] }[] }).endpoints[0]!.lb_endpoints;
    assert.equal(aEndpoints.length, 2);
    // What the proxy runs (the config dump) is still the whole subscription.
    const dump = h.ads.configDump('eds.default')!.configs.find((x) => String(x['@type']).endsWith('EndpointsConfigDump'))!;
    assert.deepEqual((dump.dynamic_endpoint_configs as { endpoint_config: { cluster_name: string } }[]).map((e) => e.endpoint_config.cluster_name).sort(), [A, B]);
    c.close();
    other.close();
  });

  test('an endpoint-only push after a NACKed EDS response resends the whole subscription', async () => {
    await h.ads.setPushContext(fakePush(baseWorld('p4n')));
    const c = h.client('sotw', 'sidecar~10.0.0.15~edsnack.default~default.svc.cluster.local');
    c.request(TypeUrl.ClusterLoadAssignment, [A, B]);
    const first = await c.next();
    const acked = once(h.ads.events, 'ack');
    c.ack(first, [A, B]);
    await acked;
    const w1 = baseWorld('p5n');
    w1.clusters[A] = ['10.1.0.1:8080', '10.1.0.7:8080'];
    await h.ads.setPushContext(fakePush(w1), { full: false, edsHosts: new Set(['a.default.svc.cluster.local']) });
    const rejected = await c.next();
    assert.deepEqual(rejected.resources.map((r) => r.name), [A]);
    const nacked = once(h.ads.events, 'nack');
    c.request(TypeUrl.ClusterLoadAssignment, [A, B], { nonce: rejected.nonce, version: first.version }, 'endpoint 10.1.0.7 refused');
    await nacked;
    const w2 = baseWorld('p6n');
    w2.clusters[A] = ['10.1.0.1:8080', '10.1.0.8:8080'];
    await h.ads.setPushContext(fakePush(w2), { full: false, edsHosts: new Set(['a.default.svc.cluster.local']) });
    const again = await c.next();
    assert.deepEqual(again.resources.map((r) => r.name).sort(), [A, B]);
    c.close();
  });

  test('a NACK is recorded with its error, visible in /debug/syncz, and the rejected config is not resent', async () => {
    await h.ads.setPushContext(fakePush(baseWorld('p6')));
    const c = h.client('sotw', 'sidecar~10.0.0.7~nacker.default~default.svc.cluster.local');
    const got = await subscribeAll(c);
    const w = baseWorld('p7');
    w.clusters['outbound|80||new.default.svc.cluster.local'] = ['10.1.0.5:8080'];
    await h.ads.setPushContext(fakePush(w));
    const rejected = await c.next();
    assert.equal(rejected.typeUrl, TypeUrl.Cluster);
    // The client refuses it and keeps running the version it had.
    c.request(TypeUrl.Cluster, [], { nonce: rejected.nonce, version: got.cds!.version }, 'cluster outbound|80||new: unsupported thing');
    // Same content pushed again (e.g. an unrelated change): no blind resend.
    const mark = h.sent.length;
    await h.ads.setPushContext(fakePush({ ...w, version: 'p8' }));
    assert.deepEqual(h.sent.slice(mark).filter((e) => e.proxyId.includes('nacker')), []);
    assert.deepEqual(await barrier(c, got.lds!), [], 'nothing but the barrier answer arrived');

    const debug = new DebugServer({ syncz: () => h.ads.syncz(), metrics: h.ads.metrics }, { port: 0 });
    const { port } = await debug.listen();
    try {
      const syncz = (await (await fetch(`http://127.0.0.1:${port}/debug/syncz`)).json()) as { proxy: string; types: Record<string, { last_nack?: Record<string, string>; acked_version?: string; nack_count: number }> }[];
      const mine = syncz.find((s) => s.proxy.includes('nacker'))!;
      assert.equal(mine.types.cds!.nack_count, 1);
      assert.deepEqual(
        { ...mine.types.cds!.last_nack, time: undefined },
        { nonce: rejected.nonce, version: got.cds!.version, rejected_version: rejected.version, error: 'cluster outbound|80||new: unsupported thing', time: undefined },
      );
      assert.equal(mine.types.cds!.acked_version, got.cds!.version, 'the acked version stays the last good one');
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /^pilot_total_xds_rejects\{type="cds"\} 1$/m);
    } finally {
      await debug.close();
    }
    assert.ok(h.logs.some((l) => l.level === 'warn' && l.message.includes('NACK') && l.fields?.error === 'cluster outbound|80||new: unsupported thing'));

    // A real change after the NACK is sent: the offending cluster is gone.
    await h.ads.setPushContext(fakePush(baseWorld('p9')));
    const next = await c.next();
    assert.equal(next.typeUrl, TypeUrl.Cluster);
    assert.deepEqual(next.resources.map((r) => r.name), [A, B]);
    c.close();
  });

  test('a request with a stale nonce is ignored, even when it names other resources', async () => {
    await h.ads.setPushContext(fakePush(baseWorld('p10')));
    const c = h.client('sotw', 'sidecar~10.0.0.8~stale.default~default.svc.cluster.local');
    const got = await subscribeAll(c);
    const w = baseWorld('p11');
    w.clusters[A] = ['10.9.9.9:1'];
    await h.ads.setPushContext(fakePush(w));
    const fresh = await c.next(); // the new EDS, not yet ACKed
    assert.equal(fresh.typeUrl, TypeUrl.ClusterLoadAssignment);
    // The client answers the *previous* EDS response, asking for only B: stale, so ignored.
    c.request(TypeUrl.ClusterLoadAssignment, [B], { nonce: got.eds!.nonce, version: got.eds!.version });
    assert.deepEqual(await barrier(c, got.lds!), []);
    const status = h.ads.syncz().find((s) => s.proxy.includes('stale'))!;
    assert.equal(status.endpoint_sent, fresh.nonce);
    assert.equal(status.endpoint_acked, got.eds!.nonce, 'the stale request did not ACK anything new');
    assert.match(h.ads.metrics.render(), /^pilot_xds_expired_nonce\{type="eds"\} [1-9]/m);
    // With the current nonce the new names are answered.
    c.request(TypeUrl.ClusterLoadAssignment, [B], { nonce: fresh.nonce, version: fresh.version });
    const narrowed = await c.next();
    assert.deepEqual(narrowed.resources.map((r) => r.name), [B]);
    c.close();
  });

  test('a reconnecting client gets the full state again', async () => {
    await h.ads.setPushContext(fakePush(baseWorld('p12')));
    const id = 'sidecar~10.0.0.9~reconnect.default~default.svc.cluster.local';
    const first = h.client('sotw', id);
    const got = await subscribeAll(first);
    first.close();
    const second = h.client('sotw', id);
    // Envoy echoes the version it runs and its old nonce; the new stream still answers in full.
    second.request(TypeUrl.Cluster, [], { nonce: got.cds!.nonce, version: got.cds!.version });
    const cds = await second.next();
    assert.deepEqual(cds.resources.map((r) => r.name), [A, B]);
    second.request(TypeUrl.ClusterLoadAssignment, [A, B], { nonce: got.eds!.nonce, version: got.eds!.version });
    assert.equal((await second.next()).resources.length, 2);
    second.close();
  });

  test('a generator output that does not encode sends nothing for that type, logs it and shows in syncz', async () => {
    await h.ads.setPushContext(fakePush(baseWorld('p13')));
    const c = h.client('sotw', 'sidecar~10.0.0.10~broken.default~default.svc.cluster.local');
    const got = await subscribeAll(c);
    const w = { ...baseWorld('p14'), brokenCds: true, routes: { '80': B } };
    const mark = h.sent.length;
    await h.ads.setPushContext(fakePush(w));
    const mine = h.sent.slice(mark).filter((e) => e.proxyId.includes('broken'));
    assert.deepEqual(mine.map((e) => e.typeUrl), [TypeUrl.RouteConfiguration], 'CDS withheld, RDS still pushed');
    const status = h.ads.syncz().find((s) => s.proxy.includes('broken'))!;
    assert.match(status.types.cds!.last_build_error!.error, /Cluster\.lbPolicy: "NOT_A_POLICY" is not a value of enum/);
    assert.equal(status.types.cds!.sent_nonce, got.cds!.nonce, 'the last good CDS stays the last sent');
    assert.match(h.ads.metrics.render(), /^pilot_xds_pushes\{type="cds_builderr"\} [1-9]/m);
    assert.ok(h.logs.some((l) => l.level === 'error' && String(l.fields?.error).includes('NOT_A_POLICY')));
    c.close();
  });

  test('a stream whose first request has no node is refused with INVALID_ARGUMENT', async () => {
    const c = new AdsTestClient(h.port, 'sotw', { id: '' });
    h.clients.push(c);
    c.request(TypeUrl.Cluster);
    const s = await c.ended();
    assert.equal(s.code, grpc.status.INVALID_ARGUMENT);
    assert.match(s.details, /node\.id/);
    const bad = new AdsTestClient(h.port, 'sotw', { id: 'not-an-istio-id' });
    h.clients.push(bad);
    bad.request(TypeUrl.Cluster);
    assert.equal((await bad.ended()).code, grpc.status.INVALID_ARGUMENT);
  });

  test('config_dump shows what was last generated, Envoy-shaped, by node id or POD.NAMESPACE', async () => {
    await h.ads.setPushContext(fakePush(baseWorld('p15')));
    const c = h.client('sotw', 'sidecar~10.0.0.11~dumped.default~default.svc.cluster.local');
    const got = await subscribeAll(c);
    const dump = h.ads.configDump('dumped.default')!;
    assert.deepEqual(dump, h.ads.configDump('sidecar~10.0.0.11~dumped.default~default.svc.cluster.local'));
    assert.deepEqual(
      dump.configs.map((x) => x['@type']),
      ['Clusters', 'Endpoints', 'Listeners', 'Routes', 'Secrets'].map((k) => `type.googleapis.com/envoy.admin.v3.${k}ConfigDump`),
    );
    const clusters = dump.configs[0] as { version_info: string; dynamic_active_clusters: { cluster: Record<string, unknown>; version_info: string }[] };
    assert.equal(clusters.version_info, got.cds!.version);
    assert.deepEqual(clusters.dynamic_active_clusters.map((x) => x.cluster.name), [A, B]);
    assert.equal(clusters.dynamic_active_clusters[0]!.cluster['@type'], TypeUrl.Cluster);
    assert.equal(clusters.dynamic_active_clusters[0]!.cluster.connect_timeout, '1s');
    const listeners = dump.configs[2] as { dynamic_listeners: { name: string; active_state: { listener: Record<string, unknown> } }[] };
    assert.equal(listeners.dynamic_listeners[0]!.name, '0.0.0.0_80');
    assert.equal(h.ads.configDump('nobody.default'), undefined);
    c.close();
  });
});

describe('ADS server, delta', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
    await h.ads.setPushContext(fakePush(baseWorld('d1')));
  });
  after(async () => {
    await h.close();
  });

  test('wildcard CDS and named EDS; an endpoint change sends only the changed assignment; removals are listed', async () => {
    const c = h.client('delta', 'sidecar~10.0.1.1~delta.default~default.svc.cluster.local');
    c.delta(TypeUrl.Cluster);
    const cds = await c.next();
    assert.deepEqual(cds.resources.map((r) => r.name), [A, B]);
    assert.ok(cds.resources.every((r) => (r.version ?? '').length > 0), 'each resource carries a version');
    c.delta(TypeUrl.Cluster, { nonce: cds.nonce });
    c.delta(TypeUrl.ClusterLoadAssignment, { subscribe: [A, B] });
    const eds = await c.next();
    assert.deepEqual(eds.resources.map((r) => r.name), [A, B]);
    c.delta(TypeUrl.ClusterLoadAssignment, { nonce: eds.nonce });

    const w = baseWorld('d2');
    w.clusters[A] = ['10.1.0.1:8080', '10.1.0.4:8080'];
    await h.ads.setPushContext(fakePush(w), { full: false, edsHosts: new Set(['a.default.svc.cluster.local']) });
    const changed = await c.next();
    assert.equal(changed.typeUrl, TypeUrl.ClusterLoadAssignment);
    assert.deepEqual(changed.resources.map((r) => r.name), [A], 'only the changed assignment');
    assert.deepEqual(changed.removed, []);
    c.delta(TypeUrl.ClusterLoadAssignment, { nonce: changed.nonce });

    // B disappears entirely: CDS lists it as removed, and so does EDS.
    const w2 = { ...w, version: 'd3', clusters: { [A]: w.clusters[A]! } };
    await h.ads.setPushContext(fakePush(w2));
    const cdsRemoval = await c.next();
    assert.equal(cdsRemoval.typeUrl, TypeUrl.Cluster);
    assert.deepEqual(cdsRemoval.resources, []);
    assert.deepEqual(cdsRemoval.removed, [B]);
    const edsRemoval = await c.next();
    assert.equal(edsRemoval.typeUrl, TypeUrl.ClusterLoadAssignment);
    assert.deepEqual(edsRemoval.removed, [B]);
    const status = h.ads.syncz().find((s) => s.proxy.includes('delta'))!;
    assert.equal(status.protocol, 'delta');
    c.close();
  });

  test('subscribing to a name that does not exist answers with it in removed_resources', async () => {
    const c = h.client('delta', 'sidecar~10.0.1.2~missing.default~default.svc.cluster.local');
    c.delta(TypeUrl.ClusterLoadAssignment, { subscribe: [A, 'outbound|80||nope.default.svc.cluster.local'] });
    const eds = await c.next();
    assert.deepEqual(eds.resources.map((r) => r.name), [A]);
    assert.deepEqual(eds.removed, ['outbound|80||nope.default.svc.cluster.local']);
    c.close();
  });

  test('a reconnect with initial_resource_versions gets only what it lacks', async () => {
    const id = 'sidecar~10.0.1.3~redelta.default~default.svc.cluster.local';
    const first = h.client('delta', id);
    first.delta(TypeUrl.Cluster);
    const cds = await first.next();
    first.close();
    const second = h.client('delta', id);
    const known = Object.fromEntries(cds.resources.map((r) => [r.name, r.version!]));
    second.delta(TypeUrl.Cluster, { initial: known });
    const again = await second.next();
    assert.deepEqual(again.resources, [], 'it already holds the current versions');
    const stale = { ...known, [cds.resources[0]!.name]: 'old-version', 'outbound|80||gone.default.svc.cluster.local': 'v0' };
    const third = h.client('delta', id);
    third.delta(TypeUrl.Cluster, { initial: stale });
    const fix = await third.next();
    assert.deepEqual(fix.resources.map((r) => r.name), [cds.resources[0]!.name]);
    assert.deepEqual(fix.removed, ['outbound|80||gone.default.svc.cluster.local']);
    second.close();
    third.close();
  });

  test('a delta NACK is recorded and nothing is resent for the same content', async () => {
    const c = h.client('delta', 'sidecar~10.0.1.4~dnack.default~default.svc.cluster.local');
    c.delta(TypeUrl.Cluster);
    const cds = await c.next();
    c.delta(TypeUrl.Cluster, { nonce: cds.nonce, error: 'bad cluster' });
    c.delta(TypeUrl.ClusterLoadAssignment, { subscribe: [A] });
    const eds = await c.next();
    assert.equal(eds.typeUrl, TypeUrl.ClusterLoadAssignment, 'no CDS resend before the EDS answer');
    const status = h.ads.syncz().find((s) => s.proxy.includes('dnack'))!;
    assert.equal(status.types.cds!.last_nack!.error, 'bad cluster');
    assert.equal(status.types.cds!.nack_count, 1);
    c.close();
  });
});
