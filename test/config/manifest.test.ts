// Loading manifests: multi-document YAML, JSON, List kinds, directories, stdin, and lines for every field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadPaths, nestingProblem, parseManifests } from '../../src/config/manifest.js';

const GW = `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: gw
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts: ["*"]
`;

test('maps a field path to the line of its key, and a missing field to its nearest parent', () => {
  const { objects, problems } = parseManifests(GW, 'gw.yaml');
  assert.equal(problems.length, 0);
  const src = objects[0]!.source;
  assert.equal(src.line, 1);
  assert.equal(src.lineOf(['spec', 'servers', 0, 'port', 'protocol']), 12);
  assert.equal(src.lineOf(['spec', 'servers', 0, 'hosts', 0]), 13);
  assert.equal(src.lineOf(['spec', 'servers', 0, 'tls']), 9, 'missing tls points at the server item');
  assert.equal(src.lineOf(['spec', 'selector', 'istio']), 7);
});

test('reads every document of a multi-document file, skipping empty ones, with lines relative to the file', () => {
  const text = `${GW}---\n# nothing here\n---\n${GW.replace('name: gw', 'name: gw2')}`;
  const { objects } = parseManifests(text, 'two.yaml');
  assert.equal(objects.length, 2);
  assert.equal(objects[1]!.source.line, 17);
  assert.equal(objects[1]!.source.lineOf(['metadata', 'name']), 20);
});

test('expands List kinds into their items, each with its own lines', () => {
  const text = `apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: b\n`;
  const { objects } = parseManifests(text, 'list.yaml');
  assert.deepEqual(objects.map((o) => (o.object as { metadata: { name: string } }).metadata.name), ['a', 'b']);
  assert.equal(objects[1]!.source.lineOf(['metadata', 'name']), 10);
});

test('reads JSON with lines', () => {
  const text = JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { a: 'b' } } }, null, 2);
  const { objects } = parseManifests(text, 'ns.json');
  assert.equal(objects.length, 1);
  assert.equal(objects[0]!.source.lineOf(['metadata', 'labels', 'a']), 7);
});

test('reports a broken document with its line and still loads the others', () => {
  const text = `${GW}---\nkind: [unclosed\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n`;
  const { objects, problems } = parseManifests(text, 'mixed.yaml');
  assert.equal(objects.length, 2);
  assert.equal(problems.length, 1);
  assert.equal(problems[0]!.rule, 'load.parse');
  assert.ok(problems[0]!.line === 15 || problems[0]!.line === 16, `line ${problems[0]!.line}`);
});

test('refuses duplicate keys as a parse error', () => {
  const { problems } = parseManifests('kind: A\nkind: B\n', 'dup.yaml');
  assert.equal(problems[0]?.rule, 'load.parse');
  assert.match(problems[0]!.message, /unique/i);
});

test('refuses hostile nesting before the parser sees it, without crashing', () => {
  const deep = '['.repeat(50_000) + ']'.repeat(50_000);
  const { problems, objects } = parseManifests(deep, 'deep.yaml');
  assert.equal(objects.length, 0);
  assert.equal(problems[0]?.rule, 'load.too-large');
  let block = '';
  for (let i = 0; i < 400; i++) block += `${' '.repeat(i)}a:\n`;
  assert.ok(nestingProblem(block, 256));
  assert.equal(nestingProblem(GW, 256), undefined);
  assert.equal(nestingProblem('a: "[[[[[[[[[["\nb: \'{{{{\'\n# [[[[[[\n', 3), undefined, 'brackets in strings and comments do not count');
});

test('loads directories recursively in path order, files, and stdin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-load-'));
  try {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'b.yaml'), GW.replace('name: gw', 'name: b'));
    writeFileSync(join(dir, 'sub', 'a.yml'), GW.replace('name: gw', 'name: a'));
    writeFileSync(join(dir, 'notes.txt'), 'not a manifest');
    writeFileSync(join(dir, '.hidden.yaml'), 'kind: [');
    const stdin = Readable.from([Buffer.from(GW.replace('name: gw', 'name: stdin'))]);
    const r = await loadPaths([dir, '-', join(dir, 'missing.yaml')], stdin);
    const names = r.objects.map((o) => (o.object as { metadata: { name: string } }).metadata.name);
    assert.deepEqual(names, ['b', 'a', 'stdin']);
    assert.equal(r.objects[2]!.source.file, '<stdin>');
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]!.rule, 'load.read');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
