// `meltemi discovery` end to end: serves a watched config dir over xDS; proxy-status and proxy-config read its debug API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { main } from '../../src/cli/main.js';
import { runDiscovery } from '../../src/cli/commands/discovery.js';
import { parseManifests } from '../../src/config/manifest.js';
import type { Resource } from '../../src/api/kind.js';
import { TypeUrl } from '../../src/xds/types.js';
import { podFor } from '../helpers/bookinfo-mesh.js';
import { AdsTestClient } from '../xds/ads-test-client.js';

function memoryIO() {
  const io = { stdout: '', stderr: '', out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t), stdin: Readable.from([]) };
  return io;
}

/** Waits until `predicate` holds, polling an observable condition with a bound (no fixed sleep). */
async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

test('discovery serves Bookinfo over xDS; proxy-status and proxy-config show it; a file edit reaches the proxy', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-discovery-'));
  cpSync('examples/bookinfo', dir, { recursive: true });
  const platform = parseManifests(readFileSync('examples/bookinfo/platform.yaml', 'utf8'), 'platform.yaml').objects.map((o) => o.object as Resource);
  const pods = platform.filter((r) => r.kind === 'Deployment').map((d, i) => podFor(d, `10.1.0.${10 + i}`));
  writeFileSync(join(dir, 'pods.yaml'), pods.map((p) => stringify(p)).join('---\n'));

  let stop!: () => void;
  const stopSignal = new Promise<void>((r) => (stop = r));
  const io = memoryIO();
  const running = runDiscovery({ configDir: dir, xdsAddr: '127.0.0.1:0', debugAddr: '127.0.0.1:0', stopSignal }, io);
  let client: AdsTestClient | undefined;
  try {
    await until(() => io.stdout.includes('serving xDS'), 'discovery to start');
    const m = /serving xDS on 127\.0\.0\.1:(\d+), debug API on http:\/\/(127\.0\.0\.1:\d+)/.exec(io.stdout)!;
    const xdsPort = Number(m[1]);
    const debugAddr = m[2]!;

    client = new AdsTestClient(xdsPort, 'sotw', { id: 'sidecar~10.1.0.13~productpage-v1-abc12.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default' } });
    client.request(TypeUrl.Cluster);
    const cds = await client.next();
    assert.ok(cds.resources.some((r) => r.name === 'outbound|9080|v2|reviews.default.svc.cluster.local'));
    client.ack(cds);

    const status = memoryIO();
    let code = -1;
    for (let i = 0; i < 50; i++) {
      status.stdout = '';
      code = await main(['proxy-status', '--debug-addr', debugAddr], status);
      if (/SYNCED/.test(status.stdout)) break;
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(code, 0);
    assert.match(status.stdout, /^NAME\s+CDS\s+LDS\s+EDS\s+RDS\s+PILOT\s+VERSION/m);
    assert.match(status.stdout, /productpage-v1-abc12\.default\s+SYNCED\s+NOT SENT\s+NOT SENT\s+NOT SENT/);

    const pc = memoryIO();
    assert.equal(await main(['proxy-config', 'cluster', 'productpage-v1-abc12.default', '--debug-addr', debugAddr], pc), 0);
    assert.match(pc.stdout, /^SERVICE FQDN\s+PORT\s+SUBSET\s+DIRECTION\s+TYPE/m);
    assert.match(pc.stdout, /reviews\.default\.svc\.cluster\.local\s+9080\s+v3\s+outbound\s+EDS/);

    // An edit of a watched file reaches the connected proxy without reconnecting.
    writeFileSync(join(dir, 'networking', 'reviews-v4.yaml'), 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: reviews-v4, namespace: default}\nspec:\n  host: ratings\n  subsets:\n  - name: v4\n    labels: {version: v4}\n');
    let pushed = await client.next(10_000);
    while (!pushed.resources.some((r) => r.name === 'outbound|9080|v4|ratings.default.svc.cluster.local')) {
      client.ack(pushed);
      pushed = await client.next(10_000);
    }
    client.ack(pushed);

    // A broken edit is refused, logged with its file and line, and the proxy keeps its config.
    writeFileSync(join(dir, 'networking', 'reviews-v4.yaml'), 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: reviews-v4, namespace: default}\nspec:\n  host: ratings\n  subsetz: []\n');
    await until(() => io.stderr.includes('reviews-v4.yaml:6'), 'the refused file to be reported', 10_000);
    assert.match(io.stderr, /reviews-v4\.yaml:6: DestinationRule default\/reviews-v4: spec\.subsetz: unknown field "subsetz"/);

    const missing = memoryIO();
    assert.equal(await main(['proxy-config', 'cluster', 'nope.default', '--debug-addr', debugAddr], missing), 1);
  } finally {
    client?.close();
    stop();
    await running;
    rmSync(dir, { recursive: true, force: true });
  }
  assert.match(io.stdout, /discovery: stopped/);
});

test('discovery refuses a non-loopback plaintext xDS address unless allowed', async () => {
  const io = memoryIO();
  const code = await main(['discovery', '--config-dir', 'examples/bookinfo', '--xds-addr', '0.0.0.0:0', '--debug-addr', '127.0.0.1:0'], io);
  assert.equal(code, 64);
  assert.match(io.stderr, /plaintext xDS on 0\.0\.0\.0/);
});

test('proxy-status says clearly when no control plane answers', async () => {
  const io = memoryIO();
  assert.equal(await main(['proxy-status', '--debug-addr', '127.0.0.1:1'], io), 1);
  assert.match(io.stderr, /cannot reach the control plane's debug API at 127\.0\.0\.1:1/);
});
