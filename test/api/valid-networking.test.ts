// Every document under test/fixtures/valid/networking (our copies of Istio's Bookinfo networking samples and
// traffic-management task examples) is accepted, with only the warnings its sample earns on purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { check, expectValid } from '../helpers/validation.js';

const dir = join(import.meta.dirname, '..', 'fixtures', 'valid', 'networking');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

test('the networking fixtures directory holds every sample and task', () => {
  for (const f of ['bookinfo-gateway.yaml', 'request-routing.yaml', 'fault-injection.yaml', 'traffic-shifting.yaml', 'tcp-traffic-shifting.yaml', 'request-timeouts.yaml', 'circuit-breaking.yaml', 'mirroring.yaml', 'ingress-gateway.yaml', 'secure-gateways.yaml', 'ingress-sni-passthrough.yaml', 'egress.yaml', 'egress-gateway.yaml', 'sidecars.yaml']) {
    assert.ok(files.includes(f), `missing fixture ${f}`);
  }
});

/**
 * Warnings some samples carry on purpose: the 1.6 task pages still used deprecated fields
 * (consecutiveErrors, mirror_percent, delay.percent), and WorkloadEntry is not supported by OSSM 2.0.
 */
const EXPECTED_WARNINGS = new Set(['dr.deprecated-field', 'vs.deprecated-field', 'we.unsupported']);

for (const file of files) {
  const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
  assert.ok(Array.isArray(docs), `${file}: not a YAML stream`);
  docs.forEach((doc, i) => {
    const obj = doc.toJS() as { apiVersion?: string; kind?: string; metadata?: { name?: string } } | null;
    test(`valid networking fixture ${file} [${i}] ${obj?.kind ?? '?'} ${obj?.metadata?.name ?? ''} is accepted`, () => {
      assert.deepEqual(doc.errors, [], `${file} document ${i} does not parse`);
      const text = doc.toString();
      expectValid(text);
      assert.match(obj?.apiVersion ?? '', /^networking\.istio\.io\/v1(alpha3|beta1)$/);
      const unexpected = check(text).warnings.filter((w) => !EXPECTED_WARNINGS.has(w.rule));
      assert.deepEqual(unexpected, [], `${file} document ${i} has unexpected warnings`);
    });
  });
}
