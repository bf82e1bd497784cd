// Every document under test/fixtures/valid/maistra (SMCP v2 and v1, SMMR, SMM, SME) validates without errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { check, expectValid } from '../helpers/validation.js';

const DIR = 'test/fixtures/valid/maistra';
const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort();

test('the maistra fixtures cover every maistra.io kind and both SMCP versions', () => {
  const seen = new Set<string>();
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(join(DIR, f), 'utf8'))) {
      const o = doc.toJS() as { apiVersion: string; kind: string };
      seen.add(`${o.apiVersion} ${o.kind}`);
    }
  }
  for (const k of ['maistra.io/v2 ServiceMeshControlPlane', 'maistra.io/v1 ServiceMeshControlPlane', 'maistra.io/v1 ServiceMeshMemberRoll', 'maistra.io/v1 ServiceMeshMember', 'maistra.io/v1alpha1 ServiceMeshExtension']) {
    assert.ok(seen.has(k), `no fixture for ${k}`);
  }
});

for (const f of files) {
  const docs = parseAllDocuments(readFileSync(join(DIR, f), 'utf8'));
  docs.forEach((doc, i) => {
    test(`${f} document ${i + 1} is valid`, () => {
      const text = doc.toString();
      expectValid(text);
      // The fixtures are meant as good examples, so they draw no warnings either.
      assert.deepEqual(check(text).warnings.map((w) => w.rule), []);
    });
  });
}
