// The generated docs and CRDs in the repository match what the sources generate today.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { renderAnalysisDoc, renderValidationDoc } from '../scripts/gen-docs.js';
import { crdKinds, renderCrd, renderCrdYaml } from '../scripts/gen-crds.js';

test('docs/validation.md is up to date with the rule catalogue (run npm run gen:docs)', () => {
  assert.equal(readFileSync('docs/validation.md', 'utf8'), renderValidationDoc());
});

test('docs/analysis.md is up to date with the analysis codes (run npm run gen:docs)', () => {
  assert.equal(readFileSync('docs/analysis.md', 'utf8'), renderAnalysisDoc());
});

test('deploy/crds holds an up-to-date CRD for every mesh kind (run npm run gen:crds)', () => {
  for (const def of crdKinds()) {
    const file = `deploy/crds/${def.plural}.${def.group}.yaml`;
    assert.equal(readFileSync(file, 'utf8'), renderCrdYaml(def), `${file} is stale`);
  }
});

function walk(node: unknown, path: string, visit: (n: Record<string, unknown>, p: string) => void): void {
  if (!node || typeof node !== 'object') return;
  const n = node as Record<string, unknown>;
  visit(n, path);
  if (n.properties) for (const [k, v] of Object.entries(n.properties as object)) walk(v, `${path}.${k}`, visit);
  if (n.items) walk(n.items, `${path}[]`, visit);
  if (n.additionalProperties && typeof n.additionalProperties === 'object') walk(n.additionalProperties, `${path}{}`, visit);
}

test('every CRD schema is structural: each node has a type or an x-kubernetes marker, and no additionalProperties: false', () => {
  for (const def of crdKinds()) {
    const crd = parse(readFileSync(`deploy/crds/${def.plural}.${def.group}.yaml`, 'utf8')) as ReturnType<typeof renderCrd>;
    const versions = (crd.spec as { versions: Array<{ name: string; storage: boolean; schema: { openAPIV3Schema: unknown } }> }).versions;
    assert.equal(versions.filter((v) => v.storage).length, 1, `${def.kind}: exactly one storage version`);
    for (const v of versions) {
      walk(v.schema.openAPIV3Schema, def.kind, (n, p) => {
        assert.notEqual(n.additionalProperties, false, `${p}: additionalProperties false is not structural`);
        const marked = n['x-kubernetes-int-or-string'] === true || n['x-kubernetes-preserve-unknown-fields'] === true;
        assert.ok(typeof n.type === 'string' || marked, `${p}: no type`);
        if (n.properties) assert.equal(n.additionalProperties, undefined, `${p}: properties and additionalProperties together`);
      });
    }
  }
});

test('docs/configuration.md lists every tunable with its default', async () => {
  const { Tunables } = await import('../src/shared/tunables.js');
  const doc = readFileSync('docs/configuration.md', 'utf8');
  for (const t of Object.values(Tunables)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${t.name}\``));
    assert.ok(row, `${t.name} is not documented in docs/configuration.md`);
    assert.ok(row.includes(`| ${t.defaultValue}`), `${t.name}: documented default differs from ${t.defaultValue}`);
  }
});
