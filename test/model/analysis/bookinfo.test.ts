// The complete Bookinfo configuration analyzes clean, and the engine's output is deterministic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, ALL_CODES, ANALYZERS } from '../../../src/model/analysis/index.js';
import { validateResource } from '../../../src/api/validate.js';
import { bookinfo, destinationRule, route, summary } from '../../helpers/resources.js';

test('Bookinfo (control plane, services, deployments, gateway, DestinationRules for all, VirtualServices all v1) analyzes clean', () => {
  assert.deepEqual(summary(analyze(bookinfo())), []);
});

test('Bookinfo with a broken route reports exactly that route', () => {
  const set = bookinfo().filter((r) => !(r.kind === 'VirtualService' && r.metadata.name === 'reviews'));
  assert.deepEqual(summary(analyze([...set, route('reviews', 'bookinfo', 'reviews', 'v4')])), ['IST0101 VirtualService bookinfo/reviews @ spec.http[0].route[0].destination.subset']);
});

test('analysis output is sorted by namespace, kind, name and code, whatever the input order', () => {
  const set = [...bookinfo(), destinationRule('ghost', 'bookinfo', 'ghost'), route('ghost', 'aaa', 'ghost', 'v1'), route('zeta', 'bookinfo', 'nothing')];
  const forward = analyze(set);
  const backward = analyze([...set].reverse());
  assert.deepEqual(backward, forward);
  assert.deepEqual(summary(forward), [
    'IST0101 VirtualService aaa/ghost @ spec.http[0].route[0].destination.host',
    'IST0101 VirtualService aaa/ghost @ spec.http[0].route[0].destination.subset',
    'MLT0101 DestinationRule bookinfo/ghost @ spec.host',
    'IST0101 VirtualService bookinfo/zeta @ spec.http[0].route[0].destination.host',
  ]);
});

test('resources without metadata.namespace are in "default"', () => {
  const vs = route('r', 'x', 'reviews');
  delete vs.metadata.namespace;
  const msgs = analyze([vs]);
  assert.deepEqual(msgs.map((m) => m.resource.namespace), ['default']);
  assert.match(msgs[0]!.message, /"reviews"/);
});

test('every code an analyzer can report is listed once in the code catalogue', () => {
  const codes = ALL_CODES.map((c) => c.code);
  assert.equal(new Set(codes).size, codes.length);
  assert.ok(codes.every((c) => /^(IST|MLT)\d{4}$/.test(c)));
  assert.ok(Object.keys(ANALYZERS).length >= 13);
});

test('malformed resources are skipped, never thrown on', () => {
  const junk = [
    { apiVersion: 'networking.istio.io/v1beta1', kind: 'VirtualService', metadata: { name: 'x' }, spec: { hosts: 'reviews', http: 'nope' } },
    { apiVersion: 'networking.istio.io/v1beta1', kind: 'Gateway', metadata: { name: 'g' }, spec: { servers: [null, { port: 'x', hosts: [1] }], selector: 'x' } },
    { apiVersion: 'security.istio.io/v1beta1', kind: 'RequestAuthentication', metadata: { name: 'r' }, spec: { jwtRules: [{}], selector: [] } },
    { kind: 'Nothing' },
  ];
  assert.doesNotThrow(() => analyze(junk as never));
});

test('the Bookinfo set the analyzer tests build passes validation, as analysis input should', () => {
  for (const r of bookinfo()) assert.deepEqual(validateResource(r).errors, [], `${r.kind} ${r.metadata.name}`);
});
