// MLT0109: DENY rules on paths are matched case-sensitively; analyze says so at the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/model/analysis/index.js';
import { authorizationPolicy, summary } from '../../helpers/resources.js';

test('case-sensitive-deny-paths: a DENY on paths is reported, at Info level, with the spelling it does not deny', () => {
  const msgs = analyze([authorizationPolicy('deny-admin', 'bar', undefined, { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] })]);
  assert.deepEqual(summary(msgs), ['MLT0109 AuthorizationPolicy bar/deny-admin @ spec.rules[0].to[0].operation.paths']);
  assert.equal(msgs[0]!.level, 'Info');
  assert.match(msgs[0]!.message, /"\/ADMIN" is not denied/);
});

test('case-sensitive-deny-paths: quiet for ALLOW policies, DENY rules without paths, and paths without letters', () => {
  assert.deepEqual(summary(analyze([authorizationPolicy('allow', 'bar', undefined, { rules: [{ to: [{ operation: { paths: ['/public*'] } }] }] })])), []);
  assert.deepEqual(summary(analyze([authorizationPolicy('deny-method', 'bar', undefined, { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] })])), []);
  assert.deepEqual(summary(analyze([authorizationPolicy('deny-digits', 'bar', undefined, { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/1/2'] } }] }] })])), []);
});
