// `meltemi validate`: one line per problem with file and line, exit codes, JSON output, stdin, and the real binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';

function memoryIO(stdinText = ''): CliIO & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
    stdin: Readable.from([Buffer.from(stdinText)]),
  };
  return io;
}

const GOOD = `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: bookinfo-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
`;

const BAD = `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: edge
  namespace: shop
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    hosts:
    - "shop/*.example.com"
    tlss:
      mode: SIMPLE
`;

function withFiles<T>(files: Record<string, string>, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-cli-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('prints nothing but a summary and exits 0 for valid files', async () => {
  await withFiles({ 'gw.yaml': GOOD }, async (dir) => {
    const io = memoryIO();
    assert.equal(await main(['validate', '-f', join(dir, 'gw.yaml')], io), 0);
    assert.equal(io.stderr, '');
    assert.equal(io.stdout, '1 resource valid\n');
  });
});

test('prints FILE:LINE: KIND NAMESPACE/NAME: FIELD: message for every problem and exits 1', async () => {
  await withFiles({ 'edge.yaml': BAD }, async (dir) => {
    const io = memoryIO();
    const file = join(dir, 'edge.yaml');
    assert.equal(await main(['validate', '-f', dir], io), 1);
    const lines = io.stderr.trim().split('\n');
    assert.ok(lines.includes(`${file}:16: Gateway shop/edge: spec.servers[0].tlss: unknown field "tlss" (did you mean "tls"?)`), io.stderr);
    assert.ok(lines.includes(`${file}:10: Gateway shop/edge: spec.servers[0].tls: server must have TLS settings for HTTPS/TLS protocols`), io.stderr);
    assert.equal(lines.at(-1), '2 errors in 1 resource');
  });
});

test('-o json gives every finding with file, line, rule and field', async () => {
  await withFiles({ 'edge.yaml': BAD }, async (dir) => {
    const io = memoryIO();
    assert.equal(await main(['validate', '-o', 'json', '-f', join(dir, 'edge.yaml')], io), 1);
    const out = JSON.parse(io.stdout) as { valid: boolean; errors: number; findings: Array<Record<string, unknown>> };
    assert.equal(out.valid, false);
    assert.equal(out.errors, 2);
    assert.deepEqual(
      out.findings.map((f) => [f.line, f.rule, f.field]),
      [
        [10, 'gateway.server-tls', 'spec.servers[0].tls'],
        [16, 'schema.unknown-field', 'spec.servers[0].tlss'],
      ],
    );
  });
});

test('reads stdin with -f - and names it <stdin>', async () => {
  const io = memoryIO(BAD);
  assert.equal(await main(['validate', '-f', '-'], io), 1);
  assert.match(io.stderr, /^<stdin>:16: Gateway shop\/edge: spec\.servers\[0\]\.tlss: /m);
});

test('reports unreadable paths and parse errors as errors', async () => {
  const io = memoryIO('kind: [oops\n');
  assert.equal(await main(['validate', '-f', '/nonexistent/x.yaml', '-f', '-'], io), 1);
  assert.match(io.stderr, /\/nonexistent\/x\.yaml: cannot read: no such file or directory/);
  assert.match(io.stderr, /<stdin>:\d+: /);
});

test('usage errors exit 64', async () => {
  const io = memoryIO();
  assert.equal(await main(['validate'], io), 64);
  assert.match(io.stderr, /required option/);
  assert.equal(await main(['frobnicate'], memoryIO()), 64);
});

test('the installed bin runs the CLI (npx meltemi)', async () => {
  await withFiles({ 'edge.yaml': BAD }, async (dir) => {
    const run = promisify(execFile);
    const r = await run(process.execPath, ['bin/meltemi.js', 'validate', '-f', join(dir, 'edge.yaml')]).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /spec\.servers\[0\]\.tlss: unknown field "tlss"/);
  });
});
