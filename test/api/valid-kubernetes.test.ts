// Realistic Kubernetes manifests (test/fixtures/valid/kubernetes) load without a single error or warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { formatPath } from '../../src/api/diagnostics.js';
import { validateResource } from '../../src/api/validate.js';
import { KUBERNETES_KINDS } from '../../src/api/kinds/kubernetes.js';

const DIR = 'test/fixtures/valid/kubernetes';
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
const seenKinds = new Set<string>();

for (const file of files) {
  test(`valid Kubernetes fixture ${file} has no errors and no warnings`, () => {
    const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8'));
    assert.ok(Array.isArray(docs) && docs.length > 0, `${file}: no YAML documents`);
    for (const doc of docs) {
      assert.equal(doc.errors.length, 0, `${file}: YAML error ${doc.errors[0]?.message}`);
      const obj = doc.toJS() as { kind: string; metadata: { name: string } };
      seenKinds.add(obj.kind);
      const r = validateResource(obj);
      const all = [...r.errors, ...r.warnings].map((d) => `${d.severity} ${d.rule} @ ${formatPath(d.path)}: ${d.message}`);
      assert.deepEqual(all, [], `${file}: ${obj.kind} ${obj.metadata.name}`);
    }
  });
}

test('the valid Kubernetes fixtures cover every Kubernetes kind Meltemi registers', () => {
  for (const def of KUBERNETES_KINDS) assert.ok(seenKinds.has(def.kind), `no valid fixture of kind ${def.kind}`);
});
