// A DestinationRule a gRPC client cannot honour, written into discovery's config directory: the client NACKs the
// cluster, /debug/syncz shows it, RPCs keep flowing on the previous cluster, and fixing the file clears it.
// Own file: grpc-js-xds registers once per process and reads its bootstrap and feature switches when first loaded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_NODE_ID, DESTINATION_RULE, ECHO_HOST, ECHO_PORT, registryYaml, virtualServiceYaml } from './echo-mesh.js';
import { startDirDiscovery, until, type DirDiscovery } from './echo-discovery.js';
import { bootstrapJson, call, echoClient, split, startEchoServer, type EchoClient, type EchoServer } from './grpc-echo.js';

const DR_FILE = 'echo-destination-rule.yaml';
const V1 = `outbound|${ECHO_PORT}|v1|${ECHO_HOST}`;
const V2 = `outbound|${ECHO_PORT}|v2|${ECHO_HOST}`;

/**
 * Consistent hashing for the v1 subset: valid Istio config, and the generator rightly turns it
 * into a RING_HASH cluster (with a header hash policy on the routes to v1). gRPC releases without
 * ring hash support (grpc-js-xds before it was on by default; this file switches it off with the
 * library's own GRPC_XDS_EXPERIMENTAL_ENABLE_RING_HASH) reject that cluster.
 */
const RING_HASH_RULE = `
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: echo
  subsets:
  - name: v1
    labels: { version: v1 }
    trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }
  - { name: v2, labels: { version: v2 } }
`;

let mesh: DirDiscovery;
let v1: EchoServer;
let v2: EchoServer;
let client: EchoClient;

function status() {
  return mesh.discovery.ads.syncz().find((s) => s.proxy === CLIENT_NODE_ID);
}

before(async () => {
  v1 = await startEchoServer('v1');
  v2 = await startEchoServer('v2');
  mesh = await startDirDiscovery({
    'echo-registry.yaml': registryYaml({ v1: v1.port, v2: v2.port }),
    [DR_FILE]: DESTINATION_RULE,
    'echo-virtual-service.yaml': virtualServiceYaml(50, 50, { headerRoute: false }),
  });
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = bootstrapJson(Number(mesh.discovery.xdsAddress.split(':')[1]), CLIENT_NODE_ID);
  // Read once, when grpc-js-xds is first loaded: hence the dynamic import after setting it.
  process.env.GRPC_XDS_EXPERIMENTAL_ENABLE_RING_HASH = 'false';
  const grpcXds = await import('@grpc/grpc-js-xds');
  grpcXds.register();
  client = echoClient(`xds:///${ECHO_HOST}:${ECHO_PORT}`);
});

after(async () => {
  client?.close();
  await mesh?.close();
  v1?.close();
  v2?.close();
});

test('a ring-hash cluster the client cannot use is NACKed, shown in /debug/syncz, and traffic keeps flowing on the previous cluster', { timeout: 60_000 }, async () => {
  const good = await split(client, 200);
  assert.ok((good.v1 ?? 0) > 0 && (good.v2 ?? 0) > 0, JSON.stringify(good));
  const before = (await mesh.syncz(CLIENT_NODE_ID))!;
  assert.equal(before.types.cds!.nack_count, 0);
  const goodVersion = before.types.cds!.acked_version!;

  mesh.write(DR_FILE, RING_HASH_RULE);
  // CDS goes first (Istio's push order); the same push's RDS change (a hash policy on the routes to v1) follows.
  await until(
    mesh.discovery.ads.events,
    ['ack', 'nack'],
    () => {
      const t = status()?.types;
      return (t?.cds?.nack_count ?? 0) > 0 && t?.rds?.acked_version === t?.cds?.last_nack?.rejected_version;
    },
    'the client to NACK the cluster and ACK the routes of the same push',
  );

  const after = (await mesh.syncz(CLIENT_NODE_ID))!;
  assert.equal(after.connection_id, before.connection_id, 'same ADS stream');
  assert.equal(after.connected_since, before.connected_since);
  const cds = after.types.cds!;
  assert.equal(cds.nack_count, 1);
  assert.match(cds.last_nack!.error, /unsupported lb_policy: RING_HASH/);
  assert.equal(cds.last_nack!.rejected_version, cds.sent_version, 'the last CDS response sent is the one rejected');
  assert.equal(cds.acked_version, goodVersion, 'the last CDS response the client accepted whole');
  // gRPC applies the valid resources of a rejected response (the v2 cluster) and so reports that
  // response's version in its NACK (gRFC A46); Envoy would report the version it kept.
  assert.equal(cds.last_nack!.version, cds.last_nack!.rejected_version);
  assert.equal(after.types.rds!.nack_count, 0);
  const metrics = await (await fetch(`${mesh.debugBase}/metrics`)).text();
  assert.match(metrics, /^pilot_total_xds_rejects\{type="cds"\} 1$/m);
  const dump = (await (await fetch(`${mesh.debugBase}/debug/config_dump?proxyID=${encodeURIComponent(CLIENT_NODE_ID)}`)).json()) as { configs: { dynamic_active_clusters?: { cluster: { name: string; lb_policy?: string } }[] }[] };
  // ROUND_ROBIN is the enum's zero value, which proto3 leaves out of the dump.
  const sent = Object.fromEntries(dump.configs[0]!.dynamic_active_clusters!.map((c) => [c.cluster.name, c.cluster.lb_policy ?? 'ROUND_ROBIN']));
  assert.deepEqual(sent, { [V1]: 'RING_HASH', [V2]: 'ROUND_ROBIN' }, 'the dump shows what was sent: only the v1 subset hashes');

  // The rejected cluster is not applied: v1 keeps serving through the round-robin cluster the client has.
  const during = await split(client, 200);
  assert.equal((during.v1 ?? 0) + (during.v2 ?? 0), 200, 'every RPC succeeded');
  assert.ok((during.v1 ?? 0) > 0, `v1 still serves: ${JSON.stringify(during)}`);
  const retried = await call(client, 'Flaky', { id: 'during-nack', failFirst: 2 });
  assert.ok(!(retried instanceof Error), `routes to v1 still work, retries included: ${String(retried)}`);
  assert.equal(retried.server, 'v1');

  // Fixing the file reaches the client and is ACKed on the same stream; the NACK stays on record.
  mesh.write(DR_FILE, DESTINATION_RULE);
  await until(
    mesh.discovery.ads.events,
    ['ack', 'nack'],
    () => {
      const c = status()?.types.cds;
      return c?.acked_nonce !== undefined && c.acked_nonce === c.sent_nonce && c.acked_version !== goodVersion;
    },
    'the client to ACK the fixed cluster',
  );
  const fixed = (await mesh.syncz(CLIENT_NODE_ID))!;
  assert.equal(fixed.connection_id, before.connection_id, 'same ADS stream');
  assert.equal(fixed.types.cds!.nack_count, 1);
  assert.ok(Number(fixed.types.cds!.acked_version) > Number(cds.last_nack!.rejected_version), 'a newer CDS than the rejected one was accepted');
  const afterFix = await split(client, 200);
  assert.ok((afterFix.v1 ?? 0) > 0 && (afterFix.v2 ?? 0) > 0, JSON.stringify(afterFix));
  assert.equal((afterFix.v1 ?? 0) + (afterFix.v2 ?? 0), 200);
});
