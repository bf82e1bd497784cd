// The file store: loads a directory, follows edits, refuses a broken file while its last good version keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, unlinkSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../src/config/file-store.js';

const gw = (name: string, host: string) => `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: ${name}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["${host}"]
`;
const key = (name: string) => ({ group: 'networking.istio.io', kind: 'Gateway', namespace: 'default', name });
const hosts = (store: FileStore, name: string) => (store.get(key(name))?.spec as { servers: Array<{ hosts: string[] }> } | undefined)?.servers[0]?.hosts[0];

/** Waits for the named store event, failing after a bound instead of hanging. */
async function next(store: FileStore, event: 'loaded' | 'rejected' | 'removed', file: string): Promise<unknown[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 5000);
  try {
    for (;;) {
      const args = await once(store, event, { signal: ac.signal });
      if (args[0] === file) return args;
    }
  } finally {
    clearTimeout(timer);
  }
}

test('serves a directory, follows edits, and keeps the last good version of a file that breaks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-fs-'));
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'b.yaml');
  writeFileSync(a, gw('a', 'a.example.com'));
  writeFileSync(b, gw('b', 'b.example.com'));
  const store = new FileStore(dir);
  try {
    await store.start();
    assert.equal(hosts(store, 'a'), 'a.example.com');
    assert.equal(hosts(store, 'b'), 'b.example.com');

    const updated = next(store, 'loaded', a);
    writeFileSync(a, gw('a', 'a2.example.com'));
    await updated;
    assert.equal(hosts(store, 'a'), 'a2.example.com');

    const rejected = next(store, 'rejected', a);
    writeFileSync(a, gw('a', 'bad..host') + '    weigth: 3\n');
    const [, findings] = (await rejected) as [string, Array<{ rule: string; line: number }>];
    assert.ok(findings.some((f) => f.rule === 'gateway.server-hosts' && f.line === 9));
    assert.ok(findings.some((f) => f.rule === 'schema.unknown-field' && f.line === 10));
    assert.equal(hosts(store, 'a'), 'a2.example.com', 'last good version still in force');
    assert.equal(hosts(store, 'b'), 'b.example.com', 'other files undisturbed');
    assert.ok(store.findings().some((f) => f.file === a && f.severity === 'error'));

    const fixed = next(store, 'loaded', a);
    writeFileSync(a, gw('a', 'a3.example.com'));
    await fixed;
    assert.equal(hosts(store, 'a'), 'a3.example.com');
    assert.equal(store.findings().filter((f) => f.severity === 'error').length, 0);

    const removed = next(store, 'removed', b);
    unlinkSync(b);
    await removed;
    assert.equal(store.get(key('b')), undefined);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the same object in two files: the first path wins, and the other takes over when the first goes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-fs-'));
  writeFileSync(join(dir, '1.yaml'), gw('same', 'first.example.com'));
  writeFileSync(join(dir, '2.yaml'), gw('same', 'second.example.com'));
  const store = new FileStore(dir);
  try {
    await store.start({ watch: false });
    assert.equal(hosts(store, 'same'), 'first.example.com');
    assert.ok(store.findings().some((f) => f.rule === 'store.duplicate' && f.file === join(dir, '2.yaml')));
    unlinkSync(join(dir, '1.yaml'));
    await store.rescan();
    assert.equal(hosts(store, 'same'), 'second.example.com');
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that breaks on first load serves nothing and is reported; the rest loads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-fs-'));
  writeFileSync(join(dir, 'ok.yaml'), gw('ok', 'ok.example.com'));
  writeFileSync(join(dir, 'broken.yaml'), 'kind: [\n');
  const store = new FileStore(dir);
  try {
    await store.start({ watch: false });
    assert.equal(hosts(store, 'ok'), 'ok.example.com');
    assert.equal(store.list().length, 1);
    assert.ok(store.findings().some((f) => f.rule === 'load.parse' && f.file.endsWith('broken.yaml')));
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file edit that changes an immutable field is refused and the object keeps its value', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-fs-'));
  const file = join(dir, 'member.yaml');
  const smm = (cp: string) => `apiVersion: maistra.io/v1\nkind: ServiceMeshMember\nmetadata: {name: default, namespace: bookinfo}\nspec:\n  controlPlaneRef: {name: ${cp}, namespace: istio-system}\n`;
  writeFileSync(file, smm('basic'));
  const store = new FileStore(dir);
  try {
    await store.start({ watch: false });
    writeFileSync(file, smm('other'));
    await store.rescan();
    const ref = (store.get({ group: 'maistra.io', kind: 'ServiceMeshMember', namespace: 'bookinfo', name: 'default' })?.spec as { controlPlaneRef: { name: string } }).controlPlaneRef;
    assert.equal(ref.name, 'basic');
    assert.ok(store.findings().some((f) => f.rule === 'smm.control-plane-ref-immutable' && f.line === 5));
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follows atomic saves (write a temp file, rename over the original) again and again, and new subdirectories', async () => {
  const { renameSync, mkdirSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-fs-'));
  const a = join(dir, 'a.yaml');
  writeFileSync(a, gw('a', 'v0.example.com'));
  const store = new FileStore(dir);
  try {
    await store.start();
    for (let i = 1; i <= 3; i++) {
      const loaded = next(store, 'loaded', a);
      writeFileSync(join(dir, `.a.yaml.tmp${i}`), gw('a', `v${i}.example.com`));
      renameSync(join(dir, `.a.yaml.tmp${i}`), a);
      await loaded;
      assert.equal(hosts(store, 'a'), `v${i}.example.com`, `save ${i} seen`);
    }
    mkdirSync(join(dir, 'sub'));
    const sub = join(dir, 'sub', 'b.yaml');
    const loadedSub = next(store, 'loaded', sub);
    writeFileSync(sub, gw('b', 'b.example.com'));
    await loadedSub;
    assert.equal(hosts(store, 'b'), 'b.example.com');
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
