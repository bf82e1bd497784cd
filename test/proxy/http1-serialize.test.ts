// Serialized heads, chunk framing and local replies parse back to what was meant; header lists edit in place; limits validate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HeaderList,
  RequestHeadParser,
  errorReply,
  chunkHeader,
  CHUNK_DATA_END,
  http1Limits,
  isFieldValue,
  isToken,
  lastChunk,
  localReply,
  REQUEST_ERRORS,
  serializeRequestHead,
  serializeResponseHead,
} from '../../src/proxy/http1/index.js';
import { isMeshError } from '../../src/shared/errors.js';
import { run } from './http1-harness.js';

test('a parsed request head serializes back (lower-case names by default, as Envoy writes them)', () => {
  const p = new RequestHeadParser();
  const wire = Buffer.from('GET /x?y=1 HTTP/1.1\r\nHost: h\r\nX-Trace:  a b \r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n');
  assert.equal(p.execute(wire), wire.length);
  const h = p.head!;
  assert.equal(serializeRequestHead(h.method, h.target, h.headers).toString('latin1'), 'GET /x?y=1 HTTP/1.1\r\nhost: h\r\nx-trace: a b\r\nx-dup: 1\r\nx-dup: 2\r\n\r\n');
  const preserved = serializeRequestHead(h.method, h.target, h.headers, true);
  assert.equal(preserved.toString('latin1'), 'GET /x?y=1 HTTP/1.1\r\nHost: h\r\nX-Trace: a b\r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n');
  const again = run('request', [preserved]);
  assert.deepEqual(again.messages[0]!.headers, h.headers.entries());
});

test('obs-text in values survives a round trip byte for byte (latin1 throughout)', () => {
  const h = new HeaderList();
  h.add('x-raw', 'caf\xe9 \xff');
  h.add('host', 'h');
  const r = run('request', [serializeRequestHead('GET', '/', h)]);
  assert.deepEqual(r.messages[0]!.headers[0], ['x-raw', 'caf\xe9 \xff']);
});

test('response head and re-chunked body parse back, trailers included', () => {
  const h = new HeaderList();
  h.add('Content-Type', 'application/grpc-web');
  h.add('Transfer-Encoding', 'chunked');
  const t = new HeaderList();
  t.add('grpc-status', '0');
  const wire = Buffer.concat([serializeResponseHead(200, 'OK', h), chunkHeader(26), Buffer.from('abcdefghijklmnopqrstuvwxyz'), CHUNK_DATA_END, lastChunk(t)]);
  const r = run('response', [wire]);
  assert.equal(r.error, null);
  assert.deepEqual([r.messages[0]!.startLine, r.messages[0]!.body, r.messages[0]!.trailers], ['HTTP/1.1 200 OK', 'abcdefghijklmnopqrstuvwxyz', [['grpc-status', '0']]]);
  assert.equal(chunkHeader(26).toString(), '1a\r\n');
  assert.equal(lastChunk(null).toString(), '0\r\n\r\n');
});

test('local reply: status line, content-type, content-length and body in one buffer', () => {
  const r = run('response', [localReply(503, { body: 'no healthy upstream', headers: [['x-envoy-overloaded', 'true']] })]);
  assert.equal(r.error, null);
  const m = r.messages[0]!;
  assert.equal(m.startLine, 'HTTP/1.1 503 Service Unavailable');
  assert.deepEqual(m.headers, [['x-envoy-overloaded', 'true'], ['content-type', 'text/plain'], ['content-length', '19']]);
  assert.deepEqual([m.body, m.keepAlive], ['no healthy upstream', true]);
});

test('local reply: UTF-8 body length is in bytes; an explicit content-type wins', () => {
  const r = run('response', [localReply(200, { body: 'héllo', headers: [['content-type', 'text/html']] })]);
  assert.deepEqual(r.messages[0]!.headers, [['content-type', 'text/html'], ['content-length', '6']]);
  assert.equal(Buffer.from(r.messages[0]!.body, 'latin1').toString('utf8'), 'héllo');
});

test('local reply to HEAD announces the length but sends no body; 204 has no content-length', () => {
  const head = localReply(404, { body: 'not found', headRequest: true }).toString('latin1');
  assert.ok(head.endsWith('content-length: 9\r\n\r\n'), head);
  assert.equal(localReply(204).toString('latin1'), 'HTTP/1.1 204 No Content\r\n\r\n');
});

test('error reply for a refused request closes the connection', () => {
  const r = run('response', [errorReply(REQUEST_ERRORS['http1.headers_too_large'])]);
  const m = r.messages[0]!;
  assert.deepEqual([m.startLine, m.keepAlive, m.body], ['HTTP/1.1 431 Request Header Fields Too Large', false, 'Request Header Fields Too Large']);
  assert.deepEqual(m.headers.at(-1), ['connection', 'close']);
});

test('HeaderList: get, joined, set (replaces all, keeps position), remove', () => {
  const h = new HeaderList();
  h.add('Accept', 'a');
  h.add('X-Forwarded-For', '1.1.1.1');
  h.add('accept', 'b');
  h.add('Via', 'x');
  assert.equal(h.get('accept'), 'a');
  assert.equal(h.joined('accept'), 'a,b');
  assert.equal(h.joined('nope'), undefined);
  assert.deepEqual(h.getAll('accept'), ['a', 'b']);
  h.set('Accept', 'c');
  assert.deepEqual(h.entries(), [['Accept', 'c'], ['X-Forwarded-For', '1.1.1.1'], ['Via', 'x']]);
  assert.equal(h.remove('via'), 1);
  h.set('x-new', 'n');
  assert.deepEqual(h.lowerNames, ['accept', 'x-forwarded-for', 'x-new']);
  const c = h.clone();
  c.remove('accept');
  assert.equal(h.length, 3);
  assert.equal(c.length, 2);
});

test('isToken / isFieldValue check configuration before it reaches the serializer', () => {
  assert.ok(isToken('x-envoy-upstream'));
  assert.ok(!isToken('bad name'));
  assert.ok(!isToken(''));
  assert.ok(isFieldValue('a b\tc'));
  assert.ok(isFieldValue(''));
  assert.ok(!isFieldValue('a\r\nInjected: 1'));
  assert.ok(!isFieldValue(' lead'));
  assert.ok(!isFieldValue('snow☃'));
});

test('limits: overrides are validated', () => {
  assert.equal(http1Limits({ maxHeaders: 10 }).maxHeaders, 10);
  assert.equal(http1Limits().maxHeadBytes, 60 * 1024);
  for (const bad of [{ maxHeaders: 0 }, { maxUrlBytes: 1.5 }, { maxBodyBytes: -1 }, { maxHeadBytes: Number.NaN }]) {
    assert.throws(() => http1Limits(bad), (e) => isMeshError(e, 'MESH_INVALID_CONFIG'));
  }
});
