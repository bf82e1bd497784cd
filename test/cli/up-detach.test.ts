// The real `meltemi up -d` (loopback mode, no root needed): returns once ready, `get` and `apply` act on the running mesh, `down` stops it and every process it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../proxy/http-mesh.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'meltemi.js');


/** One app without a sidecar behind the ingress gateway: /hello answers with the app's message. */
const MESH = `apiVersion: v1
kind: Service
metadata: { name: hello }
spec:
  ports: [{ port: 8080, name: http }]
  selector: { app: hello }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: hello-v1 }
spec:
  selector: { matchLabels: { app: hello } }
  template:
    metadata: { labels: { app: hello, version: v1 } }
    spec:
      containers:
      - name: hello
        image: hello
        command: [node, -e, "require('http').createServer((q, s) => s.end('hello from ' + process.env.HOSTNAME)).listen(8080, process.env.MELTEMI_LISTEN_ADDRESS)"]
        readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: { name: web }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: hello }
spec:
  hosts: ["*"]
  gateways: [web]
  http: [{ route: [{ destination: { host: hello, port: { number: 8080 } } }] }]
`;

test('meltemi up -d, get, apply, down: a detached mesh is driven from the CLI and stops cleanly', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-detach-'));
  const runDir = join(dir, 'run');
  writeFileSync(join(dir, 'mesh.yaml'), MESH);
  const ingress = await freePort();
  const meltemi = (...args: string[]) => run(process.execPath, [BIN, ...args, '--run-dir', runDir], { cwd: dir, timeout: 150_000 });
  t.after(async () => {
    await meltemi('down').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const up = await run(process.execPath, [BIN, 'up', dir, '-d', '--mode', 'loopback', '--run-dir', runDir, '--ingress-port', String(ingress), '--timeout', '120'], { cwd: dir, timeout: 150_000 });
  assert.match(up.stdout, new RegExp(`mesh running in the background \\(pid \\d+\\), ingress gateway on http://127\\.0\\.0\\.1:${ingress}`));
  const pid = Number(readFileSync(join(runDir, 'up.pid'), 'utf8'));

  const body = await (await fetch(`http://127.0.0.1:${ingress}/hello`)).text();
  assert.match(body, /^hello from hello-v1-[0-9a-f]{10}-[a-z0-9]{5}$/);

  const pods = await meltemi('get', 'pods', '-o', 'wide');
  assert.match(pods.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+IP\s+SIDECAR\s+PORTS\s+REASON/);
  assert.match(pods.stdout, /hello-v1-\S+\s+1\/1\s+Running\s+0\s+127\.77\.\d+\.\d+\s+no\s+.*annotation sidecar\.istio\.io\/inject is absent/);

  // A new VirtualService through `apply` answers a fixed response for /teapot, without restarting anything.
  writeFileSync(
    join(dir, 'teapot.yaml'),
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: hello }
spec:
  hosts: ["*"]
  gateways: [web]
  http:
  - match: [{ uri: { exact: /teapot } }]
    fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }
    route: [{ destination: { host: hello, port: { number: 8080 } } }]
  - route: [{ destination: { host: hello, port: { number: 8080 } } }]
`,
  );
  const applied = await meltemi('apply', '-f', join(dir, 'teapot.yaml'));
  assert.equal(applied.stdout, 'virtualservice/hello configured\n');
  let status = 0;
  for (let i = 0; i < 100 && status !== 418; i++) {
    status = (await fetch(`http://127.0.0.1:${ingress}/teapot`)).status;
    if (status !== 418) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 418);
  assert.equal((await meltemi('get', 'vs')).stdout.split('\n')[1]?.split(/\s+/)[0], 'hello');

  // The mesh's roots are published in each mesh namespace, as istiod does.
  const roots = await meltemi('get', 'configmaps', '-n', 'default', '-o', 'yaml');
  assert.match(roots.stdout, /name: istio-ca-root-cert/);
  assert.match(roots.stdout, /root-cert\.pem: \|\s+-----BEGIN CERTIFICATE-----/);

  const down = await meltemi('down');
  assert.match(down.stdout, new RegExp(`mesh stopped \\(pid ${pid}\\)`));
  assert.throws(() => process.kill(pid, 0), 'the mesh process is gone');
  assert.ok(!execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes(runDir), 'no process of the mesh is left');
});
