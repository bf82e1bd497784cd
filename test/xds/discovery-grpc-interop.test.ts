// @grpc/grpc-js-xds clients against the real discovery process serving a config directory; config changes are file writes.
// grpc-js-xds registers once per process and reads its bootstrap at the first xds:/// channel: keep this file on its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import type { NackEvent, SentEvent } from '../../src/xds/ads-server.js';
import { TypeUrl } from '../../src/xds/types.js';
import { CLIENT_NODE_ID, DESTINATION_RULE, ECHO_HOST, ECHO_PORT, registryYaml, virtualServiceYaml } from './echo-mesh.js';
import { startDirDiscovery, until, type DirDiscovery } from './echo-discovery.js';
import { bootstrapJson, call, echoClient, split, startEchoServer, type EchoClient, type EchoServer } from './grpc-echo.js';

const N = 1000;
/** Four standard deviations of a binomial count: a false failure about once in 16,000 runs. */
function within(count: number, n: number, p: number): boolean {
  return Math.abs(count - n * p) <= 4 * Math.sqrt(n * p * (1 - p));
}

const VS_FILE = 'echo-virtual-service.yaml';

let mesh: DirDiscovery;
let v1: EchoServer;
let v2: EchoServer;
/** A second v2 replica, added by a test as a WorkloadEntry file. */
let v2b: EchoServer | undefined;
let client: EchoClient;
const nacks: NackEvent[] = [];

interface RouteDump {
  name: string;
  match: Record<string, unknown>;
  route: { cluster?: string; weighted_clusters?: { clusters: { name: string; weight: number }[] } };
}

/**
 * The routes of the client's RDS response when the client has ACKed the last one sent (the
 * routes it is using), else undefined. Read in-process: it is the wake-up condition, checked on
 * every ADS event; what the tests assert about the stream goes through the debug API.
 */
function ackedRoutes(): RouteDump[] | undefined {
  const ads = mesh.discovery.ads;
  const rds = ads.syncz().find((s) => s.proxy === CLIENT_NODE_ID)?.types.rds;
  if (!rds?.acked_nonce || rds.acked_nonce !== rds.sent_nonce) return undefined;
  const dump = ads.configDump(CLIENT_NODE_ID)!.configs[3] as { dynamic_route_configs: { route_config: { virtual_hosts: { routes: RouteDump[] }[] } }[] };
  return dump.dynamic_route_configs[0]?.route_config.virtual_hosts[0]?.routes;
}

function splitWeights(routes: RouteDump[] | undefined): number[] | undefined {
  return routes?.find((r) => r.name === 'split')?.route.weighted_clusters?.clusters.map((c) => c.weight);
}

/** Waits until the client has ACKed a route configuration satisfying `check`. */
function clientRoutes(check: (routes: RouteDump[]) => boolean, what: string): Promise<void> {
  return until(
    mesh.discovery.ads.events,
    ['ack', 'nack'],
    () => {
      const routes = ackedRoutes();
      return routes !== undefined && check(routes);
    },
    what,
  );
}

before(async () => {
  v1 = await startEchoServer('v1');
  v2 = await startEchoServer('v2');
  mesh = await startDirDiscovery({
    'echo-registry.yaml': registryYaml({ v1: v1.port, v2: v2.port }),
    'echo-destination-rule.yaml': DESTINATION_RULE,
    [VS_FILE]: virtualServiceYaml(80, 20, { headerRoute: false }),
  });
  mesh.discovery.ads.events.on('nack', (e: NackEvent) => nacks.push(e));
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = bootstrapJson(Number(mesh.discovery.xdsAddress.split(':')[1]), CLIENT_NODE_ID);
  grpcXds.register();
  client = echoClient(`xds:///${ECHO_HOST}:${ECHO_PORT}`);
});

after(async () => {
  client?.close();
  await mesh?.close();
  v1?.close();
  v2?.close();
  v2b?.close();
});

test('the client gets LDS, RDS, CDS and EDS from discovery and ACKs each', { timeout: 30_000 }, async () => {
  const first = await call(client, 'Echo');
  assert.ok(!(first instanceof Error), String(first));
  const status = (await mesh.syncz(CLIENT_NODE_ID))!;
  assert.ok(status, 'the client shows in /debug/syncz');
  assert.equal(status.generator, 'grpc');
  for (const t of ['lds', 'rds', 'cds', 'eds']) {
    assert.ok(status.types[t]?.acked_nonce, `${t} acked`);
    assert.equal(status.types[t]!.acked_nonce, status.types[t]!.sent_nonce, `${t}: the last response sent is the one ACKed`);
  }
  assert.deepEqual(nacks, []);
  // grpc-js asks for the listener by the target's name and for the clusters its routes use.
  const dump = (await (await fetch(`${mesh.debugBase}/debug/config_dump?proxyID=${encodeURIComponent(CLIENT_NODE_ID)}`)).json()) as { configs: Record<string, unknown>[] };
  const listeners = dump.configs[2] as { dynamic_listeners: { name: string }[] };
  assert.deepEqual(
    listeners.dynamic_listeners.map((l) => l.name),
    [`${ECHO_HOST}:${ECHO_PORT}`],
  );
  const clusters = dump.configs[0] as { dynamic_active_clusters: { cluster: { name: string } }[] };
  assert.deepEqual(
    clusters.dynamic_active_clusters.map((c) => c.cluster.name),
    [`outbound|${ECHO_PORT}|v1|${ECHO_HOST}`, `outbound|${ECHO_PORT}|v2|${ECHO_HOST}`],
  );
});

test(`the 80/20 VirtualService split holds over ${N} RPCs`, { timeout: 60_000 }, async () => {
  const counts = await split(client, N);
  assert.equal((counts.v1 ?? 0) + (counts.v2 ?? 0), N);
  assert.ok(within(counts.v2 ?? 0, N, 0.2), `v2 got ${counts.v2} of ${N}, expected about ${N * 0.2}`);
});

test('the retry policy retries an UNAVAILABLE server; attempts: 0 does not retry', { timeout: 30_000 }, async () => {
  const ok = await call(client, 'Flaky', { id: 'r1', failFirst: 3 });
  assert.ok(!(ok instanceof Error), `retried to success: ${String(ok)}`);
  assert.equal(ok.server, 'v1');
  assert.equal(ok.attempt, 4, '1 try + 3 retries of the 4 allowed');
  assert.equal(v1.attempts.get('r1'), 4);

  const exhausted = await call(client, 'Flaky', { id: 'r3', failFirst: 9 });
  assert.ok(exhausted instanceof Error);
  assert.equal((exhausted as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
  assert.equal(v1.attempts.get('r3'), 5, '1 try + 4 retries, then the error');

  const failed = await call(client, 'NoRetry', { id: 'r2', failFirst: 1 });
  assert.ok(failed instanceof Error);
  assert.equal((failed as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
  assert.equal(v1.attempts.get('r2'), 1, 'no retry');
});

test('rewriting the VirtualService file to 20/80 reaches the running client without reconnecting', { timeout: 60_000 }, async () => {
  const before = (await mesh.syncz(CLIENT_NODE_ID))!;
  mesh.write(VS_FILE, virtualServiceYaml(20, 80, { headerRoute: false }));
  await clientRoutes((r) => splitWeights(r)?.join('/') === '20/80', 'the client to ACK the 20/80 split');
  const counts = await split(client, N);
  assert.equal((counts.v1 ?? 0) + (counts.v2 ?? 0), N);
  assert.ok(within(counts.v2 ?? 0, N, 0.8), `v2 got ${counts.v2} of ${N}, expected about ${N * 0.8}`);
  const after = (await mesh.syncz(CLIENT_NODE_ID))!;
  assert.equal(after.connection_id, before.connection_id, 'same ADS stream');
  assert.equal(after.connected_since, before.connected_since);
  assert.notEqual(after.types.rds!.acked_version, before.types.rds!.acked_version, 'a new route configuration was ACKed');
  assert.deepEqual(nacks, []);
});

test('adding a header route to the file sends x-user: jason to v2 while others still split', { timeout: 60_000 }, async () => {
  const before = (await mesh.syncz(CLIENT_NODE_ID))!;
  mesh.write(VS_FILE, virtualServiceYaml(80, 20));
  await clientRoutes((r) => r[0]?.name === 'jason' && splitWeights(r)?.join('/') === '80/20', 'the client to ACK the header route');
  assert.deepEqual(await split(client, 200, { 'x-user': 'jason' }), { v2: 200 });
  const others = await split(client, N, { 'x-user': 'mallory' });
  assert.ok(within(others.v2 ?? 0, N, 0.2), `others split 80/20: v2 got ${others.v2} of ${N}`);
  const after = (await mesh.syncz(CLIENT_NODE_ID))!;
  assert.equal(after.connection_id, before.connection_id, 'same ADS stream');
  assert.equal(after.connected_since, before.connected_since);
  assert.deepEqual(nacks, []);
});

test('a VirtualService file that fails validation is refused and the client keeps the last good routes', { timeout: 30_000 }, async () => {
  const before = (await mesh.syncz(CLIENT_NODE_ID))!;
  const refused = until(mesh.logEvents, ['line'], () => mesh.log.some((l) => l.includes(`${VS_FILE}:`) && l.includes('add up to 90')), 'the refusal to be logged');
  mesh.write(VS_FILE, virtualServiceYaml(70, 20, { headerRoute: false }));
  await refused;
  // The refused file changed nothing in the store, so nothing was pushed: the client's routes are the last good ones.
  const after = (await mesh.syncz(CLIENT_NODE_ID))!;
  assert.equal(after.types.rds!.sent_nonce, before.types.rds!.sent_nonce, 'no route push');
  assert.deepEqual(await split(client, 100, { 'x-user': 'jason' }), { v2: 100 });
});

test('a new WorkloadEntry file (a second v2 replica) reaches the client as an EDS-only push', { timeout: 60_000 }, async () => {
  v2b = await startEchoServer('v2b');
  const replica = v2b;
  const sent: SentEvent[] = [];
  const onSent = (e: SentEvent): void => void (e.proxyId === CLIENT_NODE_ID && sent.push(e));
  mesh.discovery.ads.events.on('sent', onSent);
  const before = (await mesh.syncz(CLIENT_NODE_ID))!;
  mesh.write(
    'echo-v2b.yaml',
    `
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: echo-v2b, namespace: default }
spec: { address: 127.0.0.1, ports: { grpc: ${replica.port} }, labels: { app: echo, version: v2 } }
`,
  );
  const v2Cluster = `outbound|${ECHO_PORT}|v2|${ECHO_HOST}`;
  await until(
    mesh.discovery.ads.events,
    ['ack', 'nack'],
    () => {
      const eds = mesh.discovery.ads.syncz().find((s) => s.proxy === CLIENT_NODE_ID)?.types.eds;
      if (!eds?.acked_nonce || eds.acked_nonce !== eds.sent_nonce) return false;
      const dump = mesh.discovery.ads.configDump(CLIENT_NODE_ID)!.configs[1] as { dynamic_endpoint_configs: { endpoint_config: { cluster_name: string; endpoints: { lb_endpoints: unknown[] }[] } }[] };
      const cla = dump.dynamic_endpoint_configs.find((c) => c.endpoint_config.cluster_name === v2Cluster)?.endpoint_config;
      return (cla?.endpoints.flatMap((l) => l.lb_endpoints).length ?? 0) === 2;
    },
    'the client to ACK two v2 endpoints',
  );
  mesh.discovery.ads.events.off('sent', onSent);
  assert.deepEqual([...new Set(sent.map((e) => e.typeUrl))], [TypeUrl.ClusterLoadAssignment], 'only EDS was pushed');
  const counts = await split(client, 400, { 'x-user': 'jason' });
  assert.ok((counts.v2b ?? 0) > 0 && (counts.v2 ?? 0) > 0, `both v2 replicas serve: ${JSON.stringify(counts)}`);
  assert.equal((counts.v2 ?? 0) + (counts.v2b ?? 0), 400);
  assert.equal((await mesh.syncz(CLIENT_NODE_ID))!.connection_id, before.connection_id, 'same ADS stream');
});

// Dropping the subset clusters leaves a 10 s failover timer behind in grpc-js-xds 1.14 (the priority
// balancer's destroy() does not cancel it), so this file's process ends about 10 s after its last test.
test('removing the VirtualService file falls back to the default route over every endpoint', { timeout: 60_000 }, async () => {
  mesh.remove(VS_FILE);
  await clientRoutes((r) => r.length === 1 && r[0]!.route.cluster === `outbound|${ECHO_PORT}||${ECHO_HOST}`, 'the client to ACK the default route');
  const counts = await split(client, 300, { 'x-user': 'jason' });
  assert.ok((counts.v1 ?? 0) > 0 && (counts.v2 ?? 0) > 0 && (counts.v2b ?? 0) > 0, `the header route is gone and every endpoint serves: ${JSON.stringify(counts)}`);
  assert.equal((counts.v1 ?? 0) + (counts.v2 ?? 0) + (counts.v2b ?? 0), 300);
  assert.deepEqual(nacks, []);
});
