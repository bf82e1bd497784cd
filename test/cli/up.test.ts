// `meltemi up|down|apply|get` without a running mesh: invalid manifests are reported (file:line) before anything starts, and commands aimed at no mesh say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';

function memoryIO(): CliIO & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t), stdin: Readable.from([]) };
  return io;
}

test('meltemi up refuses invalid manifests with every problem and its line, before touching the host', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-up-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'app.yaml'),
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: { host: reviews }
      weigth: 50
`,
  );
  const io = memoryIO();
  const code = await main(['up', dir, '--run-dir', join(dir, 'run')], io);
  assert.equal(code, 1);
  assert.match(io.stderr, /the manifests are not valid; nothing was started/);
  assert.match(io.stderr, /app\.yaml:9: VirtualService default\/reviews: spec\.http\[0\]\.route\[0\]\.weigth: unknown field "weigth"/);
});

test('meltemi up on a folder without manifests says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-up-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const io = memoryIO();
  assert.equal(await main(['up', dir, '--run-dir', join(dir, 'run')], io), 64);
  assert.match(io.stderr, /no manifests found/);
});

test('down, apply and get with no mesh running name the run directory and how to start one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-up-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const argv of [['down', '--run-dir', dir], ['get', 'pods', '--run-dir', dir], ['apply', '-f', 'examples/bookinfo-samples/virtual-service-all-v1.yaml', '--run-dir', dir]]) {
    const io = memoryIO();
    assert.equal(await main(argv, io), 64, argv.join(' '));
    assert.match(io.stderr, new RegExp(`no mesh is running with run directory ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(start one with \`meltemi up DIR\`\\)`));
  }
});

test('meltemi up refuses an unknown network mode', async () => {
  const io = memoryIO();
  assert.equal(await main(['up', 'examples/bookinfo', '--mode', 'vpn', '--run-dir', join(tmpdir(), 'never-created')], io), 64);
});
