// Path normalization per mode, on the inputs of reliability-security §1 A: what policy and backend both see.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizePath, type PathNormalization } from '../../src/proxy/http/path-normalization.js';

const NONE: PathNormalization = { normalize: false, mergeSlashes: false, escapedSlashes: 'KEEP_UNCHANGED' };
const BASE: PathNormalization = { normalize: true, mergeSlashes: false, escapedSlashes: 'REJECT_REQUEST' };
const MERGE: PathNormalization = { normalize: true, mergeSlashes: true, escapedSlashes: 'REJECT_REQUEST' };
const DECODE: PathNormalization = { normalize: true, mergeSlashes: true, escapedSlashes: 'UNESCAPE_AND_FORWARD' };

const path = (p: string, o: PathNormalization) => {
  const r = normalizePath(p, o);
  return r.kind === 'ok' ? r.path : r.kind;
};

test('A1: slashes are merged under MERGE_SLASHES and DECODE_AND_MERGE_SLASHES, kept under BASE and NONE', () => {
  for (const [input, merged] of [
    ['//admin', '/admin'],
    ['///admin', '/admin'],
    ['/public//x', '/public/x'],
  ] as const) {
    assert.equal(path(input, MERGE), merged);
    assert.equal(path(input, DECODE), merged);
    assert.equal(path(input, BASE), input);
    assert.equal(path(input, NONE), input);
  }
});

test('A2: escaped slashes are decoded only by DECODE_AND_MERGE_SLASHES, refused by BASE and MERGE_SLASHES, kept by NONE', () => {
  for (const [input, decoded] of [
    ['/%2Fadmin', '/admin'],
    ['/%2fadmin', '/admin'],
    ['/x/..%2Fadmin', '/admin'],
    ['/admin%5C..%5Cpublic', '/public'],
  ] as const) {
    assert.equal(path(input, DECODE), decoded, input);
    assert.equal(path(input, MERGE), 'reject', input);
    assert.equal(path(input, BASE), 'reject', input);
    assert.equal(path(input, NONE), input, input);
  }
  assert.deepEqual(normalizePath('/a%2Fb', { ...MERGE, escapedSlashes: 'UNESCAPE_AND_REDIRECT' }), { kind: 'redirect', path: '/a/b' });
});

test('A4: the query is never normalized or matched, and is forwarded as sent', () => {
  assert.equal(path('/admin?x=1', MERGE), '/admin?x=1');
  assert.equal(path('/admin?', MERGE), '/admin?');
  assert.equal(path('//admin?next=//a/../b', MERGE), '/admin?next=//a/../b');
});

test('A5: dot segments, plain or percent-encoded, are resolved before the policy sees the path', () => {
  for (const input of ['/public/../private', '/public/./../private', '/public/.././private', '/public/%2E%2E/private', '/public/%2e%2e/private', '/public/%2E/%2E%2E/private', '/public/%2e%2e/%2e/private']) {
    assert.equal(path(input, BASE), '/private', input);
    assert.equal(path(input, MERGE), '/private', input);
  }
  assert.equal(path('/a/b/..', MERGE), '/a/');
  assert.equal(path('/..', MERGE), 'reject', 'above the root');
});

test('A6: a NUL is refused in every mode', () => {
  for (const o of [NONE, BASE, MERGE, DECODE]) {
    assert.equal(path('/admin%00', o), 'reject');
    assert.equal(path('/%00/admin', o), 'reject');
  }
});

test('A7: escapes of unreserved characters are decoded; others are kept with upper-case hex', () => {
  assert.equal(path('/%61dmin', BASE), '/admin');
  assert.equal(path('/adm%69n', BASE), '/admin');
  assert.equal(path('/%41DMIN', BASE), '/ADMIN', 'no case folding (A9)');
  assert.equal(path('/a%20b%3f', BASE), '/a%20b%3F');
  assert.equal(path('/a%zzb', BASE), 'reject', 'a malformed escape');
  assert.equal(path('/a\\b', BASE), '/a/b', 'a backslash is a slash');
});

test('unchanged paths report no change; asterisk-form is left alone', () => {
  assert.deepEqual(normalizePath('/a/b?c', MERGE), { kind: 'ok', path: '/a/b?c', changed: false });
  assert.deepEqual(normalizePath('*', MERGE), { kind: 'ok', path: '*', changed: false });
});
