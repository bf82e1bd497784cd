// Property tests: validation never throws (nor reports an internal crash) on any input, including hostile input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { inspect } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { validateResource } from '../../src/api/validate.js';
import { compileUserRegex } from '../../src/api/common.js';
import { ALL_KINDS } from '../../src/api/registry.js';
import { parseManifests } from '../../src/config/manifest.js';

function fixtures(dir = 'test/fixtures/valid'): unknown[] {
  const out: unknown[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...fixtures(p));
    else if (/\.ya?ml$/.test(n)) for (const d of parseAllDocuments(readFileSync(p, 'utf8'))) if (d.contents) out.push(d.toJS());
  }
  return out;
}

const samples = fixtures();

function noCrash(obj: unknown): void {
  const r = validateResource(obj);
  const crash = r.errors.find((e) => e.rule === 'internal.validator-crash');
  assert.equal(crash, undefined, `validator crashed: ${crash?.message}\non ${inspect(obj, { depth: 4 }).slice(0, 500)}`);
}

/** Replaces the value at a random path of `obj` with `value`. */
function mutate(obj: unknown, choices: number[], value: unknown): unknown {
  const copy = structuredClone(obj);
  let cur: unknown = copy;
  for (const c of choices) {
    if (!cur || typeof cur !== 'object') break;
    const keys = Object.keys(cur);
    if (keys.length === 0) break;
    const k = keys[c % keys.length]!;
    const child = (cur as Record<string, unknown>)[k];
    if (!child || typeof child !== 'object' || c % 3 === 0) {
      (cur as Record<string, unknown>)[k] = value;
      return copy;
    }
    cur = child;
  }
  return copy;
}

const anyJson = fc.jsonValue({ maxDepth: 4 });

test('never throws on arbitrary values, or on any kind with an arbitrary spec', { timeout: 120_000 }, () => {
  fc.assert(fc.property(fc.anything({ maxDepth: 4 }), (v) => noCrash(v)), { numRuns: 300 });
  const kinds = ALL_KINDS.flatMap((k) => k.versions.map((v) => ({ apiVersion: k.group ? `${k.group}/${v.name}` : v.name, kind: k.kind })));
  fc.assert(
    fc.property(fc.constantFrom(...kinds), anyJson, (k, spec) => noCrash({ ...k, metadata: { name: 'x', namespace: 'y' }, spec, data: spec })),
    { numRuns: 1000 },
  );
});

test('never throws when any field of a valid sample is replaced by an arbitrary value', { timeout: 120_000 }, () => {
  assert.ok(samples.length > 0, 'valid fixtures exist');
  fc.assert(
    fc.property(fc.constantFrom(...samples), fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), anyJson, (sample, path, value) => noCrash(mutate(sample, path, value))),
    { numRuns: 2000 },
  );
});

test('hostile input: huge strings, deep nesting and catastrophic regexes are refused or handled, not choked on', { timeout: 60_000 }, () => {
  const huge = 'a'.repeat(2_000_000);
  const vs = (regex: string, host = 'reviews') => ({
    apiVersion: 'networking.istio.io/v1beta1',
    kind: 'VirtualService',
    metadata: { name: 'r' },
    spec: { hosts: [host], http: [{ match: [{ uri: { regex } }], route: [{ destination: { host: 'reviews' } }] }] },
  });
  noCrash(vs(huge, huge));
  noCrash({ apiVersion: 'networking.istio.io/v1beta1', kind: 'Gateway', metadata: { name: huge, labels: { [huge]: huge } } });
  let deep: unknown = 'x';
  for (let i = 0; i < 5000; i++) deep = { a: [deep] };
  noCrash({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', metadata: { name: 'f' }, spec: { configPatches: [{ applyTo: 'LISTENER', patch: { operation: 'MERGE', value: deep } }] } });
  noCrash(deep);

  // Regexes that take exponential time in a backtracking engine are compiled by RE2 and run in linear time.
  for (const evil of ['(a+)+$', '(a|aa)+$', '(a*)*b', '^(([a-z])+.)+[A-Z]([a-z])+$']) {
    const { regex, problem } = compileUserRegex(evil);
    assert.equal(problem, undefined, evil);
    assert.equal(regex!.matches('a'.repeat(5000) + '!'), false);
  }
  // Lookaround and backreferences are refused (Envoy's RE2 refuses them too); so are oversized programs.
  assert.ok(compileUserRegex('(?=a)b').problem);
  assert.ok(compileUserRegex('(a)\\1').problem);
  assert.match(compileUserRegex('((a{10}){10}){10}').problem ?? '', /program size/);
  assert.match(compileUserRegex('a'.repeat(5000)).problem ?? '', /longer than/);

  // The loader refuses pathological YAML quickly instead of exhausting memory.
  const r = parseManifests('{'.repeat(100_000), 'evil.yaml');
  assert.equal(r.problems[0]?.rule, 'load.too-large');
  const bomb = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n' + Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`).join('\n');
  const b = parseManifests(bomb, 'bomb.yaml');
  assert.equal(b.objects.length, 0, 'an alias bomb is not expanded');
  assert.equal(b.problems[0]?.rule, 'load.parse');
});
