// Every declared validation rule has at least one example, and each example is refused with that rule at that field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { allRules } from '../../src/api/rules.js';
import { validateResource, validateResourceUpdate } from '../../src/api/validate.js';
import { formatPath } from '../../src/api/diagnostics.js';
import '../../src/api/registry.js';

const NO_EXAMPLE_NEEDED = new Set([
  'internal.validator-crash',
]);

for (const rule of allRules()) {
  test(`rule ${rule.id}: its examples are reported at the stated field`, () => {
    if (!NO_EXAMPLE_NEEDED.has(rule.id)) assert.ok(rule.examples.length > 0, `rule ${rule.id} has no example`);
    for (const ex of rule.examples) {
      const r = ex.previous === undefined ? validateResource(parse(ex.yaml)) : validateResourceUpdate(parse(ex.previous), parse(ex.yaml));
      const list = rule.severity === 'error' ? r.errors : r.warnings;
      const hit = list.find((d) => d.rule === rule.id && formatPath(d.path) === ex.field);
      assert.ok(hit, `example for ${rule.id} should report at "${ex.field}"; got ${JSON.stringify([...r.errors, ...r.warnings].map((d) => `${d.rule}@${formatPath(d.path)}`))}\n${ex.yaml}`);
    }
  });
}
