// The proxy's xDS client against the real discovery process over gRPC: initial sync, pushes on the same stream, NACKs, subscriptions, limits and initial-fetch timeouts, SotW and Delta.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdsClient, type XdsClientOptions, type XdsConfigSnapshot, type XdsDisconnectedEvent, type XdsNackEvent } from '../../src/proxy/xds-client.js';
import { buildProxyConfig, validateResources } from '../../src/proxy/config/proxy-config.js';
import { TypeUrl } from '../../src/xds/types.js';
import type { NackEvent, SentEvent } from '../../src/xds/ads-server.js';
import { applyYaml } from '../xds/echo-mesh.js';
import { until } from '../xds/echo-discovery.js';
import { assertConsistent, ECHO_ROUTE, ECHO_V1, ECHO_V3, memoryLogger, nextEvent, NODE, splitWeights, startEchoDiscovery, type EchoDiscovery } from './xds-client-harness.js';

const PROTOCOLS = ['sotw', 'delta'] as const;

/** Runs `body` with a discovery server and a started client, and closes both whatever happens. */
async function withClient(
  protocol: 'sotw' | 'delta',
  extra: Partial<XdsClientOptions>,
  body: (mesh: EchoDiscovery, client: XdsClient, first: XdsConfigSnapshot) => Promise<void>,
): Promise<void> {
  const mesh = await startEchoDiscovery();
  const client = new XdsClient({ address: mesh.address, node: NODE, protocol, logger: memoryLogger(), ...extra });
  try {
    const first = nextEvent<XdsConfigSnapshot>(client, 'config');
    client.start();
    await body(mesh, client, await first);
  } finally {
    await client.close();
    await mesh.close();
  }
}

/** Resolves once the server saw this node ACK the last response it sent of every type in `types`. */
function allAcked(mesh: EchoDiscovery, types = ['cds', 'eds', 'lds', 'rds']): Promise<void> {
  return until(
    mesh.discovery.ads.events,
    ['ack', 'nack', 'sent'],
    () => {
      const s = mesh.discovery.ads.syncz().find((x) => x.proxy === NODE.id);
      return s !== undefined && types.every((t) => s.types[t]?.acked_nonce !== undefined && s.types[t]!.acked_nonce === s.types[t]!.sent_nonce);
    },
    `ACKs of ${types.join(', ')}`,
  );
}

for (const protocol of PROTOCOLS) {
  test(`${protocol}: the initial sync delivers one consistent, frozen snapshot of all four types, and every response is ACKed`, { timeout: 20_000 }, async () => {
    let configs = 0;
    await withClient(protocol, { validate: validateResources }, async (mesh, client, first) => {
      client.on('config', () => configs++);
      assert.equal(first.version, 1);
      assert.equal(client.current, first);
      assert.deepEqual([...first.listeners.keys()].sort(), ['0.0.0.0_7070', 'virtualInbound', 'virtualOutbound']);
      assert.deepEqual([...first.routes.keys()], [ECHO_ROUTE]);
      assert.equal(first.clusters.size, 6);
      assert.ok(first.clusters.has(ECHO_V1));
      assert.ok(first.clusters.has('PassthroughCluster'));
      assert.equal(first.endpoints.size, 3, 'one load assignment per EDS cluster');
      assert.deepEqual(splitWeights(first), [80, 20]);
      assertConsistent(first);
      // What the data path does with it: compile the whole snapshot.
      const compiled = buildProxyConfig(first, first.version);
      assert.equal(compiled.clusters.size, 6);
      assert.equal(compiled.routes.size, 1);

      // Immutable all the way down.
      assert.throws(() => (first.clusters as Map<string, unknown>).set('x', {}), TypeError);
      assert.throws(() => (first.routes as Map<string, unknown>).delete(ECHO_ROUTE), TypeError);
      const cluster = first.clusters.get(ECHO_V1)!;
      assert.ok(Object.isFrozen(first) && Object.isFrozen(cluster));
      assert.ok(Object.isFrozen(cluster.eds_cluster_config), 'nested objects are frozen');
      assert.throws(() => {
        (cluster as Record<string, unknown>).name = 'changed';
      }, TypeError);

      await allAcked(mesh);
      const status = mesh.discovery.ads.syncz().find((s) => s.proxy === NODE.id)!;
      assert.equal(status.protocol, protocol);
      for (const t of ['cds', 'eds', 'lds', 'rds']) assert.equal(status.types[t]!.nack_count, 0, `${t} never NACKed`);
      assert.deepEqual(mesh.nacks, []);
      // Envoy's order: clusters and their endpoints before listeners, listeners before routes.
      const order = mesh.sent.filter((e) => e.proxyId === NODE.id).map((e) => e.typeUrl);
      assert.deepEqual(order.slice(0, 4), [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]);
      assert.equal(configs, 0, 'the initial sync is one snapshot, not one per type');
    });
  });

  test(`${protocol}: an edited VirtualService arrives as a new snapshot on the same stream; unchanged resources keep their identity`, { timeout: 20_000 }, async () => {
    await withClient(protocol, {}, async (mesh, client, first) => {
      let connects = 0;
      mesh.discovery.ads.events.on('connected', () => connects++);
      const next = nextEvent<XdsConfigSnapshot>(client, 'config');
      mesh.setWeights(50, 50);
      const second = await next;
      assert.equal(second.version, first.version + 1);
      assert.deepEqual(splitWeights(second), [50, 50]);
      assert.deepEqual(splitWeights(first), [80, 20], 'the earlier snapshot is untouched');
      assertConsistent(second);
      assert.equal(connects, 0, 'same stream');
      assert.equal(mesh.discovery.ads.syncz().filter((s) => s.proxy === NODE.id).length, 1);
      // A route edit leaves clusters, endpoints and listeners as they were: same objects.
      for (const [name, c] of first.clusters) assert.equal(second.clusters.get(name), c, `cluster ${name} kept`);
      for (const [name, l] of first.listeners) assert.equal(second.listeners.get(name), l, `listener ${name} kept`);
      assert.notEqual(second.routes.get(ECHO_ROUTE), first.routes.get(ECHO_ROUTE));
    });
  });

  test(`${protocol}: a new subset is subscribed over EDS and arrives with its load assignment; removing it unsubscribes`, { timeout: 20_000 }, async () => {
    await withClient(protocol, {}, async (mesh, client) => {
      const withV3 = nextEvent<XdsConfigSnapshot>(client, 'config', (s) => s.clusters.has(ECHO_V3));
      applyYaml(
        mesh.store,
        `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: echo
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
  - { name: v3, labels: { version: v3 } }
`,
      );
      const s = await withV3;
      assertConsistent(s);
      assert.ok(s.endpoints.has(ECHO_V3), 'the new cluster became active with its assignment, not before');
      await allAcked(mesh, ['cds', 'eds']);

      const withoutV3 = nextEvent<XdsConfigSnapshot>(client, 'config', (x) => !x.clusters.has(ECHO_V3));
      const edsWithoutV3 =
        protocol === 'sotw'
          ? nextEvent<SentEvent>(mesh.discovery.ads.events, 'sent', (e) => e.typeUrl === TypeUrl.ClusterLoadAssignment && e.names.length > 0 && !e.names.includes(ECHO_V3))
          : Promise.resolve(undefined);
      applyYaml(
        mesh.store,
        `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: echo
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
`,
      );
      const s2 = await withoutV3;
      assert.ok(!s2.endpoints.has(ECHO_V3), 'its assignment left with it');
      assertConsistent(s2);
      await edsWithoutV3; // SotW: the server answered the shrunken name list
    });
  });

  test(`${protocol}: a response refused by validate is NACKed, the previous state stays, and the next good push is ACKed`, { timeout: 20_000 }, async () => {
    const validate = (typeUrl: string, resources: ReadonlyMap<string, Record<string, unknown>>): string | undefined =>
      typeUrl === TypeUrl.RouteConfiguration && [...resources.values()].some((r) => JSON.stringify(r).includes('"weight":10}')) ? 'this proxy refuses 10% splits' : undefined;
    await withClient(protocol, { validate }, async (mesh, client, first) => {
      await allAcked(mesh);
      const clientNack = nextEvent<XdsNackEvent>(client, 'nack');
      const serverNack = nextEvent<NackEvent>(mesh.discovery.ads.events, 'nack', (e) => e.proxyId === NODE.id);
      let configs = 0;
      client.on('config', () => configs++);
      mesh.setWeights(90, 10);
      const [c, s] = await Promise.all([clientNack, serverNack]);
      assert.equal(c.typeUrl, TypeUrl.RouteConfiguration);
      assert.equal(c.message, 'this proxy refuses 10% splits');
      assert.equal(s.typeUrl, TypeUrl.RouteConfiguration);
      assert.equal(s.message, 'this proxy refuses 10% splits');
      assert.equal(s.nonce, c.nonce, 'the NACK names the rejected response');
      const rds = mesh.discovery.ads.syncz().find((x) => x.proxy === NODE.id)!.types.rds!;
      assert.equal(rds.nack_count, 1);
      assert.equal(rds.last_nack?.error, 'this proxy refuses 10% splits');
      assert.equal(client.current, first, 'the previous snapshot stays current');
      assert.deepEqual(splitWeights(client.current), [80, 20]);

      const good = nextEvent<XdsConfigSnapshot>(client, 'config');
      mesh.setWeights(70, 30);
      const s2 = await good;
      assert.deepEqual(splitWeights(s2), [70, 30]);
      assert.equal(configs, 1, 'nothing was emitted for the rejected push');
      await allAcked(mesh, ['rds']);
      assert.equal(mesh.discovery.ads.syncz().find((x) => x.proxy === NODE.id)!.types.rds!.nack_count, 1);
    });
  });

  test(`${protocol}: a response with more resources than the limit is NACKed, not a crash; initialization goes on`, { timeout: 20_000 }, async () => {
    await withClient(protocol, { maxResourcesPerResponse: 5 }, async (mesh, client, first) => {
      const nack = mesh.nacks.find((e) => e.proxyId === NODE.id && e.typeUrl === TypeUrl.Cluster);
      assert.ok(nack, 'CDS (6 clusters) was NACKed');
      assert.match(nack.message, /6 resources and removals, more than the limit of 5/);
      // Envoy counts a rejected first CDS response as an answer: listeners follow, without clusters.
      assert.equal(first.clusters.size, 0);
      assert.equal(first.listeners.size, 3);
      assertConsistent(first);
      await allAcked(mesh, ['lds', 'rds']);
      assert.ok(client.current);
    });
  });
}

test('clusters whose load assignments never arrive become active without endpoints after the initial fetch timeout', { timeout: 20_000 }, async () => {
  const started = performance.now();
  const nacks: XdsNackEvent[] = [];
  await withClient(
    'sotw',
    {
      initialFetchTimeoutMs: 300,
      validate: (typeUrl) => (typeUrl === TypeUrl.ClusterLoadAssignment ? 'endpoints refused by this test' : undefined),
    },
    async (mesh, client, first) => {
      client.on('nack', (e: XdsNackEvent) => nacks.push(e));
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 290, `the first snapshot waited for the timeout (${elapsed.toFixed(0)} ms)`);
      assert.equal(first.clusters.size, 6, 'every cluster is active');
      assert.equal(first.endpoints.size, 0, 'with no endpoints');
      assert.equal(first.listeners.size, 3);
      assert.ok(first.routes.has(ECHO_ROUTE));
      assert.ok(mesh.nacks.some((e) => e.proxyId === NODE.id && e.typeUrl === TypeUrl.ClusterLoadAssignment));
    },
  );
});

test('a response above maxResponseBytes ends the stream (RESOURCE_EXHAUSTED) and is retried with backoff, never applied', { timeout: 20_000 }, async () => {
  const mesh = await startEchoDiscovery();
  const client = new XdsClient({ address: mesh.address, node: NODE, protocol: 'sotw', maxResponseBytes: 512, backoff: { baseMs: 10, maxMs: 20 }, random: () => 0.5, logger: memoryLogger() });
  const events: XdsDisconnectedEvent[] = [];
  client.on('disconnected', (e: XdsDisconnectedEvent) => events.push(e));
  try {
    const third = nextEvent(client, 'disconnected', () => events.length >= 3);
    client.start();
    await third;
    assert.match(events[0]!.error.message, /RESOURCE_EXHAUSTED/);
    // The oversized response never counts as healthy: the backoff keeps growing (5, 10, 10 ms: capped).
    assert.deepEqual(
      events.map((e) => e.retryInMs),
      [5, 10, 10],
    );
    assert.equal(client.current, undefined);
  } finally {
    await client.close();
    await mesh.close();
  }
});

test('start() twice and bad options are refused', async () => {
  assert.throws(() => new XdsClient({ address: '', node: NODE, protocol: 'sotw' }), /discovery address/);
  assert.throws(() => new XdsClient({ address: '127.0.0.1:1', node: NODE, protocol: 'grpc' as 'sotw' }), /sotw or delta/);
  assert.throws(() => new XdsClient({ address: '127.0.0.1:1', node: NODE, protocol: 'sotw', backoff: { baseMs: 0 } }), /positive/);
  const client = new XdsClient({ address: '127.0.0.1:1', node: NODE, protocol: 'sotw', logger: memoryLogger() });
  client.start();
  assert.throws(() => client.start(), /already started/);
  await client.close();
  await client.close();
});
