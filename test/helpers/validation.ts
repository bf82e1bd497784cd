// Test helpers for validation: parse one YAML document, validate it, assert on rule ids and field paths.
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { formatPath, type Diagnostic } from '../../src/api/diagnostics.js';
import { validateResource } from '../../src/api/validate.js';
import { ruleById } from '../../src/api/rules.js';

function show(ds: Diagnostic[]): string {
  return ds.map((d) => `  ${d.severity} ${d.rule} @ ${formatPath(d.path)}: ${d.message}`).join('\n') || '  (none)';
}

/** Validates a YAML document; every reported rule must be declared in the catalogue. */
export function check(yamlText: string) {
  const obj = parse(yamlText) as unknown;
  const result = validateResource(obj);
  for (const d of [...result.errors, ...result.warnings]) {
    assert.ok(ruleById(d.rule), `rule "${d.rule}" is reported but not declared with defineRules()`);
  }
  return result;
}

/** Asserts the document is valid (no errors; warnings allowed unless `noWarnings`). */
export function expectValid(yamlText: string, opts: { noWarnings?: boolean } = {}): void {
  const r = check(yamlText);
  assert.equal(r.errors.length, 0, `expected no errors, got:\n${show(r.errors)}\nfor:\n${yamlText}`);
  if (opts.noWarnings) assert.equal(r.warnings.length, 0, `expected no warnings, got:\n${show(r.warnings)}`);
}

/**
 * Asserts an error with exactly this rule id at exactly this field path (formatted, e.g.
 * `spec.http[0].route`). Optionally checks the message contains `messagePart`.
 */
export function expectError(yamlText: string, rule: string, field: string, messagePart?: string): Diagnostic {
  const r = check(yamlText);
  const hit = r.errors.find((d) => d.rule === rule && formatPath(d.path) === field);
  assert.ok(hit, `expected error ${rule} at ${field}, got:\n${show(r.errors)}\nfor:\n${yamlText}`);
  if (messagePart !== undefined) assert.ok(hit.message.includes(messagePart), `message "${hit.message}" should contain "${messagePart}"`);
  return hit;
}

export function expectWarning(yamlText: string, rule: string, field: string): Diagnostic {
  const r = check(yamlText);
  const hit = r.warnings.find((d) => d.rule === rule && formatPath(d.path) === field);
  assert.ok(hit, `expected warning ${rule} at ${field}, got:\n${show(r.warnings)}\nerrors:\n${show(r.errors)}`);
  return hit;
}
