// Upstream responses are framed per RFC 9112 §6.3 (HEAD, 1xx, 204, 304, CONNECT, read-until-close) and held to the same strictness as requests, refusals mapping to 502.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAD_ERROR, ResponseHeadParser } from '../../src/proxy/http1/index.js';
import { bytewise, run, split } from './http1-harness.js';

const res = (s: string, methods: string[] = ['GET']) => run('response', [Buffer.from(s, 'latin1')], { methods });

test('200 with Content-Length: status, reason, headers, body, keep-alive', () => {
  const r = res('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello');
  assert.equal(r.error, null);
  const m = r.messages[0]!;
  assert.equal(m.startLine, 'HTTP/1.1 200 OK');
  assert.deepEqual(m.headers, [['Content-Type', 'text/plain'], ['Content-Length', '5']]);
  assert.deepEqual([m.framing, m.body, m.keepAlive], ['length', 'hello', true]);
});

test('a reason phrase may be empty, with or without the space before it', () => {
  assert.equal(res('HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n').messages[0]!.startLine, 'HTTP/1.1 404 ');
  assert.equal(res('HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n').messages[0]!.startLine, 'HTTP/1.1 404 ');
  assert.equal(res('HTTP/1.1 500 Internal \t Error \x80\r\nContent-Length: 0\r\n\r\n').messages[0]!.startLine, 'HTTP/1.1 500 Internal \t Error \x80');
});

test('no Content-Length and no chunking: the body runs until the upstream closes, and the connection is not reused', () => {
  const r = run('response', [Buffer.from('HTTP/1.1 200 OK\r\nX: y\r\n\r\nsome'), Buffer.from(' more HTTP/1.1 200 OK\r\n')]);
  assert.equal(r.error, null);
  assert.deepEqual([r.messages.length, r.messages[0]!.framing, r.messages[0]!.keepAlive, r.messages[0]!.body], [1, 'until-close', false, 'some more HTTP/1.1 200 OK\r\n']);
});

test('chunked response with trailers (gRPC over HTTP/1: grpc-status in trailers), then a pipelined response', () => {
  const wire = 'HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 0\r\ngrpc-message: \r\n\r\nHTTP/1.1 204 No Content\r\n\r\n';
  for (const chunks of [[Buffer.from(wire)], bytewise(wire), split(wire, [80, 95])]) {
    const r = run('response', chunks, { methods: ['POST', 'GET'] });
    assert.equal(r.error, null);
    assert.equal(r.messages.length, 2);
    assert.equal(r.messages[0]!.body, 'abc');
    assert.deepEqual(r.messages[0]!.trailers, [['grpc-status', '0'], ['grpc-message', '']]);
    assert.deepEqual([r.messages[1]!.startLine, r.messages[1]!.framing], ['HTTP/1.1 204 No Content', 'none']);
  }
});

test('HEAD, 204 and 304 responses have no body even with Content-Length or chunking', () => {
  const wire =
    'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + // answers HEAD
    'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: "x"\r\n\r\n' +
    'HTTP/1.1 204 No Content\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + // answers HEAD: chunked is announced, not sent
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  const r = run('response', [Buffer.from(wire)], { methods: ['HEAD', 'GET', 'DELETE', 'HEAD', 'GET'] });
  assert.equal(r.error, null);
  assert.deepEqual(
    r.messages.map((m) => [m.startLine.slice(9), m.framing, m.contentLength, m.body]),
    [
      ['200 OK', 'none', 1000, ''],
      ['304 Not Modified', 'none', 50, ''],
      ['204 No Content', 'none', -1, ''],
      ['200 OK', 'none', -1, ''],
      ['200 OK', 'length', 2, 'ok'],
    ],
  );
});

test('100 Continue and 103 Early Hints are interim; the final response follows on the same parser', () => {
  const wire = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok';
  const r = run('response', bytewise(wire), { methods: ['POST'] });
  assert.equal(r.error, null);
  assert.deepEqual(
    r.messages.map((m) => [m.startLine, m.extra.interim, m.framing]),
    [
      ['HTTP/1.1 100 Continue', true, 'none'],
      ['HTTP/1.1 103 Early Hints', true, 'none'],
      ['HTTP/1.1 201 Created', false, 'length'],
    ],
  );
  assert.deepEqual(r.messages[1]!.headers, [['Link', '</s.css>; rel=preload']]);
  assert.equal(r.messages[2]!.body, 'ok');
});

test('101 Switching Protocols ends HTTP framing: what follows is the upgraded protocol', () => {
  const r = res('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello');
  assert.deepEqual([r.messages[0]!.framing, r.messages[0]!.extra.upgrade, r.messages[0]!.keepAlive, r.tunnel], ['tunnel', 'websocket', false, '\x81\x05hello']);
});

test('a 2xx to CONNECT is a tunnel; a refusal of CONNECT is an ordinary response', () => {
  assert.equal(res('HTTP/1.1 200 Connection Established\r\n\r\nbytes', ['CONNECT']).messages[0]!.framing, 'tunnel');
  const refused = res('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 1\r\n\r\nx', ['CONNECT']);
  assert.deepEqual([refused.messages[0]!.framing, refused.messages[0]!.body], ['length', 'x']);
});

test('HTTP/1.0 responses close unless keep-alive is announced', () => {
  assert.equal(res('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').messages[0]!.keepAlive, false);
  assert.equal(res('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').messages[0]!.keepAlive, true);
  assert.equal(res('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').messages[0]!.keepAlive, false);
});

const BAD: Array<[string, string, string]> = [
  ['four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n', 'http1.invalid_status_line'],
  ['two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'http1.invalid_status_line'],
  ['status 600', 'HTTP/1.1 600 X\r\n\r\n', 'http1.invalid_status_line'],
  ['status 099', 'HTTP/1.1 099 X\r\n\r\n', 'http1.invalid_status_line'],
  ['HTTP/2 status line', 'HTTP/2 200 OK\r\n\r\n', 'http1.invalid_status_line'],
  ['unsupported version', 'HTTP/1.2 200 OK\r\n\r\n', 'http1.unsupported_version'],
  ['no space after version', 'HTTP/1.1\t200 OK\r\n\r\n', 'http1.invalid_status_line'],
  ['leading CRLF', '\r\nHTTP/1.1 200 OK\r\n\r\n', 'http1.invalid_status_line'],
  ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n', 'http1.bare_lf'],
  ['control char in reason', 'HTTP/1.1 200 O\x00K\r\n\r\n', 'http1.invalid_status_line'],
  ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'http1.content_length_and_chunked'],
  ['Transfer-Encoding: gzip, chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 'http1.invalid_transfer_encoding'],
  ['Transfer-Encoding in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'http1.transfer_encoding_http10'],
  ['conflicting Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 'http1.conflicting_content_length'],
  ['space before colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', 'http1.whitespace_before_colon'],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n  b\r\nContent-Length: 0\r\n\r\n', 'http1.obs_fold'],
  ['bad chunk terminator', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n', 'http1.invalid_chunk_terminator'],
  ['closed inside a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', 'http1.truncated_message'],
];

for (const [name, wire, code] of BAD) {
  test(`refuses an upstream response: ${name} → 502 ${code}`, () => {
    for (const chunks of [[Buffer.from(wire, 'latin1')], bytewise(wire)]) {
      const r = run('response', chunks);
      assert.deepEqual([r.error, r.status], [code, 502]);
    }
  });
}

test('a status line longer than the header limit is refused before it ends', () => {
  const p = new ResponseHeadParser();
  assert.equal(p.execute(Buffer.from(`HTTP/1.1 200 ${'x'.repeat(70 * 1024)}`)), HEAD_ERROR);
  assert.equal(p.error?.code, 'http1.headers_too_large');
  assert.equal(p.error?.status, 502);
});
