// Every document under test/fixtures/valid/security (our copies of Istio's security task examples and Maistra's) is valid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { check, expectValid } from '../helpers/validation.js';

const dir = join(import.meta.dirname, '..', 'fixtures', 'valid', 'security');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

test('the security fixtures directory is not empty', () => {
  assert.ok(files.length >= 8, `expected the security fixtures, found ${files.join(', ')}`);
});

/** Warnings a valid fixture may carry on purpose (deny-all is an ALLOW policy without rules). */
const EXPECTED_WARNINGS = new Set(['ap.allow-nothing']);

for (const file of files) {
  const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
  assert.ok(Array.isArray(docs), `${file}: not a YAML stream`);
  docs.forEach((doc, i) => {
    const name = String((doc.toJS() as { metadata?: { name?: string } } | null)?.metadata?.name ?? `#${i}`);
    test(`valid security fixture ${file} [${i}] ${name} is accepted`, () => {
      assert.deepEqual(doc.errors, [], `${file} document ${i} does not parse`);
      const text = doc.toString();
      expectValid(text);
      const { warnings } = check(text);
      const obj = doc.toJS() as { apiVersion?: string };
      assert.equal(obj.apiVersion, 'security.istio.io/v1beta1');
      const unexpected = warnings.filter((w) => !EXPECTED_WARNINGS.has(w.rule));
      assert.deepEqual(unexpected, [], `${file} document ${i} has unexpected warnings`);
    });
  });
}
