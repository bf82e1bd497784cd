import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdsServer } from '../../src/xds/ads-server.js';
import { TypeUrl } from '../../src/xds/types.js';
import { AdsTestClient } from './ads-test-client.js';
import { ECHO_HOST, applyYaml, echoMesh, virtualServiceYaml } from './echo-mesh.js';

test('an Envoy sidecar gets CDS, EDS, LDS and RDS from the default (Envoy) generators, all within Envoy validation rules', { timeout: 30_000 }, async () => {
  const mesh = echoMesh({ v1: 40001, v2: 40002 });
  const buildErrors: unknown[] = [];
  // Default generator sets: the Envoy one for nodes without GENERATOR: grpc.
  const ads = new AdsServer({ logger: { info: () => undefined, warn: () => undefined, error: (m, f) => buildErrors.push([m, f]) } });
  ads.events.on('build-error', (e) => buildErrors.push(e));
  const port = await ads.listen('127.0.0.1:0');
  await ads.setPushContext(mesh.push());
  const c = new AdsTestClient(port, 'sotw', { id: 'sidecar~10.0.0.50~app-1.default~default.svc.cluster.local' });
  try {
    c.request(TypeUrl.Cluster);
    const cds = await c.next();
    const names = cds.resources.map((r) => r.name);
    for (const n of ['', 'v1', 'v2']) assert.ok(names.includes(`outbound|7070|${n}|${ECHO_HOST}`), `${n} cluster in ${names.join(', ')}`);
    c.ack(cds);
    const edsNames = cds.resources.filter((r) => r.body.type === 'EDS').map((r) => r.name);
    c.request(TypeUrl.ClusterLoadAssignment, edsNames);
    const eds = await c.next();
    const v1 = eds.resources.find((r) => r.name === `outbound|7070|v1|${ECHO_HOST}`)!.body as { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[] };
    assert.deepEqual(v1.endpoints.flatMap((e) => e.lb_endpoints.map((l) => l.endpoint.address.socket_address.port_value)), [40001]);
    c.ack(eds, edsNames);
    c.request(TypeUrl.Listener);
    const lds = await c.next();
    assert.ok(lds.resources.length > 0);
    c.ack(lds);
    const routeNames = [...new Set(JSON.stringify(lds.resources.map((r) => r.body)).match(/"route_config_name":"[^"]+"/g)!.map((m) => m.split('":"')[1]!.slice(0, -1)))];
    c.request(TypeUrl.RouteConfiguration, routeNames);
    const rds = await c.next();
    assert.deepEqual(rds.resources.map((r) => r.name).sort(), [...routeNames].sort());
    c.ack(rds, routeNames);
    assert.deepEqual(buildErrors, []);

    // A VirtualService edit: only the routes are sent (push-needs.test.ts shows CDS/EDS are skipped soundly).
    const generated: string[] = [];
    ads.events.on('sent', (e: { typeUrl: string }) => generated.push(e.typeUrl));
    applyYaml(mesh.store, virtualServiceYaml(50, 50));
    await ads.setPushContext(mesh.push(), { full: true, configKinds: new Set(['VirtualService']) });
    const pushed = await c.next();
    assert.equal(pushed.typeUrl, TypeUrl.RouteConfiguration);
    assert.deepEqual(generated, [TypeUrl.RouteConfiguration]);
    assert.match(JSON.stringify(pushed.resources.map((r) => r.body)), /"weight":50/);
  } finally {
    c.close();
    mesh.close();
    await ads.close();
  }
});
