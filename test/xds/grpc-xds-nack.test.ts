// A resource grpc-js-xds rejects, after a good one: the NACK shows in /debug/syncz and RPCs keep flowing on the previous config.
// Own file: grpc-js-xds registers once per process and reads its bootstrap at the first xds:/// channel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpcXds from '@grpc/grpc-js-xds';
import { AdsServer, type NackEvent } from '../../src/xds/ads-server.js';
import { DebugServer } from '../../src/xds/debug-server.js';
import { grpcGenerators } from '../../src/xds/generators/grpc.js';
import { TypeUrl, type GeneratorSet } from '../../src/xds/types.js';
import { CLIENT_NODE_ID, ECHO_HOST, ECHO_PORT, echoMesh } from './echo-mesh.js';
import { ackedAtLeast, bootstrapJson, echoClient, split, startEchoServer, type EchoClient, type EchoServer } from './grpc-echo.js';

const V1 = `outbound|${ECHO_PORT}|v1|${ECHO_HOST}`;

/**
 * The proxyless generators with a switchable bug: the v1 cluster asks for LEAST_REQUEST, which
 * Envoy accepts (so it encodes) but gRPC does not implement, so grpc-js-xds NACKs it.
 */
let poisoned = false;
const generators: GeneratorSet = {
  ...grpcGenerators,
  [TypeUrl.Cluster]: (proxy, push, names) =>
    grpcGenerators[TypeUrl.Cluster]!(proxy, push, names).map((r) => (poisoned && r.name === V1 ? { ...r, resource: { ...r.resource, lbPolicy: 'LEAST_REQUEST' } } : r)),
};

let ads: AdsServer;
let debug: DebugServer;
let debugBase: string;
let v1: EchoServer;
let v2: EchoServer;
let mesh: ReturnType<typeof echoMesh>;
let client: EchoClient;

before(async () => {
  v1 = await startEchoServer('v1');
  v2 = await startEchoServer('v2');
  mesh = echoMesh({ v1: v1.port, v2: v2.port }, [50, 50]);
  ads = new AdsServer({ envoyGenerators: {}, grpcGenerators: generators, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
  const port = await ads.listen('127.0.0.1:0');
  debug = new DebugServer({ syncz: () => ads.syncz(), configDump: (id) => ads.configDump(id), metrics: ads.metrics }, { port: 0 });
  debugBase = `http://127.0.0.1:${(await debug.listen()).port}`;
  await ads.setPushContext(mesh.push());
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = bootstrapJson(port, CLIENT_NODE_ID);
  grpcXds.register();
  client = echoClient(`xds:///${ECHO_HOST}:${ECHO_PORT}`);
});

after(async () => {
  client?.close();
  v1?.close();
  v2?.close();
  mesh?.close();
  await debug?.close();
  await ads?.close();
});

interface Syncz {
  proxy: string;
  connection_id: string;
  types: Record<string, { acked_version?: string; sent_version?: string; nack_count: number; last_nack?: { error: string; version: string; rejected_version: string } }>;
}

async function syncz(): Promise<Syncz> {
  const all = (await (await fetch(`${debugBase}/debug/syncz`)).json()) as Syncz[];
  return all.find((s) => s.proxy === CLIENT_NODE_ID)!;
}

test('a cluster grpc-js rejects is NACKed, recorded, and traffic keeps flowing on the previous config', { timeout: 60_000 }, async () => {
  const good = await split(client, 200);
  assert.ok((good.v1 ?? 0) > 0 && (good.v2 ?? 0) > 0, JSON.stringify(good));
  const before = await syncz();
  const goodVersion = before.types.cds!.acked_version!;

  const nacked = new Promise<NackEvent>((resolve) => {
    const on = (e: NackEvent) => {
      if (e.proxyId === CLIENT_NODE_ID && e.typeUrl === TypeUrl.Cluster) {
        ads.events.off('nack', on);
        resolve(e);
      }
    };
    ads.events.on('nack', on);
  });
  poisoned = true;
  await ads.setPushContext(mesh.push());
  const nack = await nacked;
  assert.match(nack.message, /LEAST_REQUEST/);

  const after = await syncz();
  assert.equal(after.connection_id, before.connection_id);
  assert.equal(after.types.cds!.nack_count, 1);
  assert.match(after.types.cds!.last_nack!.error, /lb_policy: LEAST_REQUEST/);
  assert.equal(after.types.cds!.last_nack!.rejected_version, after.types.cds!.sent_version);
  assert.notEqual(after.types.cds!.last_nack!.rejected_version, goodVersion);
  const metrics = await (await fetch(`${debugBase}/metrics`)).text();
  assert.match(metrics, /^pilot_total_xds_rejects\{type="cds"\} 1$/m);

  // The rejected cluster is not applied; the client keeps using its cached v1 cluster.
  const during = await split(client, 200);
  assert.equal((during.v1 ?? 0) + (during.v2 ?? 0), 200, 'every RPC succeeded');
  assert.ok((during.v1 ?? 0) > 0, `v1 still serves: ${JSON.stringify(during)}`);

  // The fix reaches the client and is ACKed; the NACK stays on record.
  poisoned = false;
  await ads.setPushContext(mesh.push());
  await ackedAtLeast(ads, CLIENT_NODE_ID, TypeUrl.Cluster, Number(ads.currentVersion));
  const fixed = await syncz();
  assert.equal(fixed.types.cds!.acked_version, ads.currentVersion);
  assert.equal(fixed.types.cds!.nack_count, 1);
  const afterFix = await split(client, 100);
  assert.equal((afterFix.v1 ?? 0) + (afterFix.v2 ?? 0), 100);
});
