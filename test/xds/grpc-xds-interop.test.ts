// A real xDS client (@grpc/grpc-js-xds) against Meltemi's ADS server and proxyless generators, fed by a real PushContext.
// grpc-js-xds registers once per process and reads its bootstrap at the first xds:/// channel: keep this file on its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { AdsServer } from '../../src/xds/ads-server.js';
import { grpcGenerators } from '../../src/xds/generators/grpc.js';
import { TypeUrl } from '../../src/xds/types.js';
import { applyYaml, CLIENT_NODE_ID, ECHO_HOST, ECHO_PORT, echoMesh, virtualServiceYaml } from './echo-mesh.js';
import { ackedAtLeast, bootstrapJson, call, echoClient, split, startEchoServer, type EchoClient, type EchoServer } from './grpc-echo.js';

const N = 1000;
/** Four standard deviations of a binomial count: a false failure about once in 16,000 runs. */
function within(count: number, n: number, p: number): boolean {
  return Math.abs(count - n * p) <= 4 * Math.sqrt(n * p * (1 - p));
}

let ads: AdsServer;
let v1: EchoServer;
let v2: EchoServer;
let mesh: ReturnType<typeof echoMesh>;
let client: EchoClient;
const nacks: unknown[] = [];

before(async () => {
  v1 = await startEchoServer('v1');
  v2 = await startEchoServer('v2');
  mesh = echoMesh({ v1: v1.port, v2: v2.port }, [80, 20]);
  ads = new AdsServer({ envoyGenerators: {}, grpcGenerators });
  ads.events.on('nack', (e) => nacks.push(e));
  const port = await ads.listen('127.0.0.1:0');
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
  await ads?.close();
});

test('the client completes LDS, RDS, CDS and EDS and ACKs each', { timeout: 30_000 }, async () => {
  const first = await call(client, 'Echo');
  assert.ok(!(first instanceof Error), String(first));
  const status = ads.syncz().find((s) => s.proxy === CLIENT_NODE_ID)!;
  assert.equal(status.generator, 'grpc');
  for (const t of ['lds', 'rds', 'cds', 'eds']) {
    assert.ok(status.types[t]?.acked_nonce, `${t} acked`);
    assert.equal(status.types[t]!.acked_nonce, status.types[t]!.sent_nonce, `${t}: the last response sent is the one ACKed`);
  }
  assert.deepEqual(nacks, []);
  // grpc-js asks for the listener by the target's name and for clusters by name (no wildcards).
  const dump = ads.configDump(CLIENT_NODE_ID)!;
  const listeners = dump.configs[2] as { dynamic_listeners: { name: string }[] };
  assert.deepEqual(listeners.dynamic_listeners.map((l) => l.name), [`${ECHO_HOST}:${ECHO_PORT}`]);
});

test(`the 80/20 VirtualService split holds over ${N} RPCs`, { timeout: 60_000 }, async () => {
  const counts = await split(client, N);
  assert.equal((counts.v1 ?? 0) + (counts.v2 ?? 0), N);
  assert.ok(within(counts.v2 ?? 0, N, 0.2), `v2 got ${counts.v2} of ${N}, expected about ${N * 0.2}`);
});

test('a header match (x-user: jason) sends every call to v2', { timeout: 30_000 }, async () => {
  const counts = await split(client, 100, { 'x-user': 'jason' });
  assert.deepEqual(counts, { v2: 100 });
  const others = await split(client, 100, { 'x-user': 'mallory' });
  assert.ok((others.v1 ?? 0) > 0, 'other users still split');
});

test('the retry policy retries an UNAVAILABLE server; attempts: 0 does not retry', { timeout: 30_000 }, async () => {
  const ok = await call(client, 'Flaky', { id: 'r1', failFirst: 3 });
  assert.ok(!(ok instanceof Error), `retried to success: ${String(ok)}`);
  assert.equal(ok.server, 'v1');
  assert.equal(ok.attempt, 4, '1 try + 3 retries of the 4 allowed');
  assert.equal(v1.attempts.get('r1'), 4);

  const failed = await call(client, 'NoRetry', { id: 'r2', failFirst: 1 });
  assert.ok(failed instanceof Error);
  assert.equal((failed as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
  assert.equal(v1.attempts.get('r2'), 1, 'no retry');
});

test('swapping the weights reaches the running client without reconnecting', { timeout: 60_000 }, async () => {
  const before = ads.syncz().find((s) => s.proxy === CLIENT_NODE_ID)!.connection_id;
  applyYaml(mesh.store, virtualServiceYaml(20, 80));
  await ads.setPushContext(mesh.push());
  await ackedAtLeast(ads, CLIENT_NODE_ID, TypeUrl.RouteConfiguration, Number(ads.currentVersion));
  const counts = await split(client, N);
  assert.ok(within(counts.v2 ?? 0, N, 0.8), `v2 got ${counts.v2} of ${N}, expected about ${N * 0.8}`);
  assert.equal(ads.syncz().find((s) => s.proxy === CLIENT_NODE_ID)!.connection_id, before, 'same ADS stream');
  assert.deepEqual(nacks, []);
});

test('an endpoint change (a new v2 replica) reaches the client as EDS only', { timeout: 60_000 }, async () => {
  const v2b = await startEchoServer('v2b');
  try {
    const sent: { typeUrl: string }[] = [];
    const onSent = (e: { proxyId: string; typeUrl: string }) => e.proxyId === CLIENT_NODE_ID && sent.push(e);
    ads.events.on('sent', onSent);
    const hosts = new Set<string>();
    const stop = mesh.registry.onChange((c) => {
      if (c.kind === 'endpoints') for (const h of c.hostnames) hosts.add(h);
    });
    applyYaml(
      mesh.store,
      `
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: echo-v2b, namespace: default }
spec: { address: 127.0.0.1, ports: { grpc: ${v2b.port} }, labels: { app: echo, version: v2 } }
`,
    );
    stop();
    assert.deepEqual([...hosts], [ECHO_HOST], 'the registry reports an endpoint-only change');
    await ads.setPushContext(mesh.push(), { full: false, edsHosts: hosts });
    await ackedAtLeast(ads, CLIENT_NODE_ID, TypeUrl.ClusterLoadAssignment, Number(ads.currentVersion));
    ads.events.off('sent', onSent);
    assert.deepEqual([...new Set(sent.map((e) => e.typeUrl))], [TypeUrl.ClusterLoadAssignment]);
    const counts = await split(client, 400, { 'x-user': 'jason' });
    assert.ok((counts.v2b ?? 0) > 0 && (counts.v2 ?? 0) > 0, `both v2 replicas serve: ${JSON.stringify(counts)}`);
    assert.equal((counts.v2 ?? 0) + (counts.v2b ?? 0), 400);
  } finally {
    v2b.close();
  }
});
