// The xDS client when discovery goes away: the last config stays, reconnects back off with jitter, a new discovery on the same port is picked up, and the re-requests carry what the client holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { PushContext } from '../../src/model/push-context.js';
import { XdsClient, type XdsConfigSnapshot, type XdsDisconnectedEvent } from '../../src/proxy/xds-client.js';
import { isMeshError } from '../../src/shared/errors.js';
import { AdsServer, type AckEvent, type SentEvent } from '../../src/xds/ads-server.js';
import { TypeUrl } from '../../src/xds/types.js';
import { echoMesh } from '../xds/echo-mesh.js';
import { assertConsistent, ECHO_ROUTE, memoryLogger, nextEvent, NODE, splitWeights, startEchoDiscovery, type EchoDiscovery } from './xds-client-harness.js';

for (const protocol of ['sotw', 'delta'] as const) {
  test(`${protocol}: with discovery gone the last snapshot stays; a new discovery on the same port is reconnected to and its change arrives`, { timeout: 30_000 }, async () => {
    let d1: EchoDiscovery | undefined = await startEchoDiscovery();
    let d2: EchoDiscovery | undefined;
    // random → 0.999: each delay is just under its ceiling, so the sequence shows the curve.
    const client = new XdsClient({ address: d1.address, node: NODE, protocol, backoff: { baseMs: 20, maxMs: 1000 }, random: () => 0.999, logger: memoryLogger() });
    const disconnects: XdsDisconnectedEvent[] = [];
    const configs: XdsConfigSnapshot[] = [];
    client.on('disconnected', (e: XdsDisconnectedEvent) => disconnects.push(e));
    client.on('config', (s: XdsConfigSnapshot) => configs.push(s));
    try {
      const first = nextEvent<XdsConfigSnapshot>(client, 'config');
      client.start();
      const snap1 = await first;
      assert.deepEqual(splitWeights(snap1), [80, 20]);

      // Discovery stops, and the first reconnect attempt fails too.
      const twoDown = nextEvent<XdsDisconnectedEvent>(client, 'disconnected', () => disconnects.length >= 2);
      const port = d1.port;
      await d1.close();
      d1 = undefined;
      await twoDown;
      assert.ok(isMeshError(disconnects[0]!.error, 'MESH_IO'), String(disconnects[0]!.error));
      assert.deepEqual(
        disconnects.slice(0, 2).map((e) => e.retryInMs),
        [19, 39],
        'exponential, jittered below the ceiling',
      );
      assert.equal(client.current, snap1, 'the last snapshot is kept');
      assert.equal(configs.length, 1, 'nothing that clears it was emitted');

      // A new discovery on the same address, with the split changed while the proxy was away.
      d2 = await startEchoDiscovery({ port, weights: [30, 70] });
      const snap2 = await nextEvent<XdsConfigSnapshot>(client, 'config', (s) => splitWeights(s)?.[0] === 30);
      assert.deepEqual(splitWeights(snap2), [30, 70]);
      assertConsistent(snap2);
      // Unchanged resources keep their objects: SotW matches resent bytes, Delta is not resent them.
      for (const [name, c] of snap1.clusters) assert.equal(snap2.clusters.get(name), c, `cluster ${name} kept`);
      for (const [name, l] of snap1.listeners) assert.equal(snap2.listeners.get(name), l, `listener ${name} kept`);

      const sent = (type: string) => d2!.sent.filter((e) => e.proxyId === NODE.id && e.typeUrl === type);
      const firstCds = sent(TypeUrl.Cluster)[0]!;
      const firstEds = sent(TypeUrl.ClusterLoadAssignment)[0]!;
      const firstRds = sent(TypeUrl.RouteConfiguration)[0]!;
      if (protocol === 'delta') {
        // initial_resource_versions told the server what the client holds: only the route differs.
        assert.deepEqual(firstCds.names, [], 'no cluster resent');
        assert.deepEqual(firstEds.names, [], 'no load assignment resent');
        assert.deepEqual(sent(TypeUrl.Listener)[0]!.names, [], 'no listener resent');
        assert.deepEqual(firstRds.names, [ECHO_ROUTE]);
      } else {
        // SotW: the full state of every subscribed type again.
        assert.equal(firstCds.names.length, snap1.clusters.size);
        assert.equal(firstEds.names.length, snap1.endpoints.size);
        assert.deepEqual(firstRds.names, [ECHO_ROUTE]);
      }

      // The reconnected stream was healthy: the next outage starts the backoff from the bottom again.
      const down = disconnects.length;
      const again = nextEvent<XdsDisconnectedEvent>(client, 'disconnected');
      await d2.close();
      d2 = undefined;
      assert.equal((await again).retryInMs, 19);
      assert.ok(disconnects.length > down);
      assert.equal(client.current, snap2);
    } finally {
      await client.close();
      await d1?.close();
      await d2?.close();
    }
  });
}

/** The real AdsServer on its own grpc-js server, with a tap recording every request it decodes (what the client sent). */
async function startTappedAds(port: number, push: PushContext): Promise<{ ads: AdsServer; port: number; requests: Record<string, unknown>[]; sent: SentEvent[]; close(): Promise<void> }> {
  const ads = new AdsServer({ logger: memoryLogger() });
  const sent: SentEvent[] = [];
  ads.events.on('sent', (e: SentEvent) => sent.push(e));
  await ads.setPushContext(push);
  const server = new grpc.Server();
  const requests: Record<string, unknown>[] = [];
  const addService = server.addService.bind(server);
  server.addService = (service, implementation) =>
    addService(
      service,
      Object.fromEntries(
        Object.entries(implementation).map(([name, handler]) => [
          name,
          (call: grpc.ServerDuplexStream<Record<string, unknown>, Record<string, unknown>>) => {
            call.on('data', (req: Record<string, unknown>) => requests.push(req));
            (handler as (c: typeof call) => void)(call);
          },
        ]),
      ),
    );
  ads.addTo(server);
  const bound = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    ads,
    port: bound,
    requests,
    sent,
    async close() {
      await ads.close();
      server.forceShutdown();
    },
  };
}

for (const protocol of ['sotw', 'delta'] as const) {
  test(`${protocol}: on reconnect every type is re-requested at once, with what the client runs`, { timeout: 30_000 }, async () => {
    const mesh = echoMesh({ v1: 17001, v2: 17002 });
    let a1: Awaited<ReturnType<typeof startTappedAds>> | undefined = await startTappedAds(0, mesh.push());
    let a2: Awaited<ReturnType<typeof startTappedAds>> | undefined;
    const client = new XdsClient({ address: `127.0.0.1:${a1.port}`, node: NODE, protocol, backoff: { baseMs: 10, maxMs: 50 }, logger: memoryLogger() });
    try {
      const first = nextEvent<XdsConfigSnapshot>(client, 'config');
      client.start();
      const snap = await first;
      await nextEvent(a1.ads.events, 'ack', (e: AckEvent) => e.typeUrl === TypeUrl.RouteConfiguration);
      const acked = new Map(Object.values(a1.ads.syncz()[0]!.types).map((t) => [t.type_url, t.acked_version]));
      assert.equal((a1.requests[0]!.node as { id: string } | undefined)?.id, NODE.id, 'the node rides on the first request');
      assert.ok(a1.requests.slice(1).every((r) => r.node === undefined), 'and only on the first');

      const port = a1.port;
      const gone = nextEvent(client, 'disconnected');
      await a1.close();
      a1 = undefined;
      await gone;
      a2 = await startTappedAds(port, mesh.push());
      await nextEvent(a2.ads.events, 'sent', (e: SentEvent) => e.typeUrl === TypeUrl.RouteConfiguration);
      const firstOf = (type: string) => a2!.requests.find((r) => r.type_url === type)!;
      assert.deepEqual(
        a2.requests.slice(0, 4).map((r) => r.type_url),
        [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration],
      );
      assert.equal((a2.requests[0]!.node as { id: string }).id, NODE.id);
      if (protocol === 'sotw') {
        for (const type of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]) {
          assert.ok(acked.get(type), `${type} was ACKed on the first stream`);
          assert.equal(firstOf(type).version_info, acked.get(type), `${type}: version_info is the version the client runs`);
          assert.equal(firstOf(type).response_nonce ?? '', '', 'nonces belong to the old stream');
        }
        assert.deepEqual(firstOf(TypeUrl.ClusterLoadAssignment).resource_names, [...snap.endpoints.keys()].sort());
        assert.deepEqual(firstOf(TypeUrl.RouteConfiguration).resource_names, [ECHO_ROUTE]);
      } else {
        const initial = (type: string) => (firstOf(type).initial_resource_versions ?? {}) as Record<string, string>;
        assert.deepEqual(Object.keys(initial(TypeUrl.Cluster)).sort(), [...snap.clusters.keys()].sort());
        assert.deepEqual(Object.keys(initial(TypeUrl.ClusterLoadAssignment)).sort(), [...snap.endpoints.keys()].sort());
        assert.deepEqual(Object.keys(initial(TypeUrl.Listener)).sort(), [...snap.listeners.keys()].sort());
        assert.deepEqual(Object.keys(initial(TypeUrl.RouteConfiguration)), [ECHO_ROUTE]);
        assert.ok(Object.values(initial(TypeUrl.Cluster)).every((v) => v !== ''), 'with the versions the server gave');
        assert.deepEqual(firstOf(TypeUrl.ClusterLoadAssignment).resource_names_subscribe, [...snap.endpoints.keys()].sort());
        // Nothing changed: the server sends no resource again.
        assert.deepEqual(a2.sent.flatMap((e) => e.names), []);
      }
    } finally {
      await client.close();
      await a1?.close();
      await a2?.close();
      mesh.close();
    }
  });
}
