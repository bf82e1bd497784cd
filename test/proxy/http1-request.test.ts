// The HTTP/1.1 request codec is strict: valid requests parse to what was sent; every smuggling trick and malformed or oversized head is refused with Envoy's status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAD_ERROR, HEAD_INCOMPLETE, RequestHeadParser, http1Limits } from '../../src/proxy/http1/index.js';
import { bytewise, head, run, split } from './http1-harness.js';

const GET = head('GET / HTTP/1.1', 'Host: a');

interface Valid {
  name: string;
  input: string;
  check: (r: ReturnType<typeof run>) => void;
}

const first = (r: ReturnType<typeof run>) => {
  assert.equal(r.error, null, `unexpected error ${r.error}`);
  return r.messages[0]!;
};

const VALID: Valid[] = [
  {
    name: 'origin-form GET with headers in order, original case and lower case',
    input: head('GET /a/b?c=d HTTP/1.1', 'Host: example.com', 'User-Agent: curl/8', 'X-Dup: 1', 'x-dup: 2'),
    check: (r) => {
      const m = first(r);
      assert.equal(m.startLine, 'GET /a/b?c=d HTTP/1.1');
      assert.deepEqual(m.headers, [['Host', 'example.com'], ['User-Agent', 'curl/8'], ['X-Dup', '1'], ['x-dup', '2']]);
      assert.deepEqual(m.lowerNames, ['host', 'user-agent', 'x-dup', 'x-dup']);
      assert.deepEqual(m.extra, { targetForm: 'origin', path: '/a/b?c=d', authority: 'example.com', upgrade: '', expectContinue: false });
      assert.equal(m.framing, 'none');
      assert.equal(m.keepAlive, true);
    },
  },
  {
    name: 'HTTP/1.0 without Host, closes by default',
    input: head('GET / HTTP/1.0'),
    check: (r) => {
      const m = first(r);
      assert.equal(m.keepAlive, false);
      assert.equal(m.extra.authority, '');
    },
  },
  { name: 'HTTP/1.0 keep-alive', input: head('GET / HTTP/1.0', 'Connection: Keep-Alive'), check: (r) => assert.equal(first(r).keepAlive, true) },
  { name: 'HTTP/1.1 Connection: close', input: head('GET / HTTP/1.1', 'Host: a', 'Connection: close'), check: (r) => assert.equal(first(r).keepAlive, false) },
  { name: 'Connection option list', input: head('GET / HTTP/1.1', 'Host: a', 'Connection: foo , CLOSE'), check: (r) => assert.equal(first(r).keepAlive, false) },
  {
    name: 'WebSocket upgrade',
    input: head('GET /ws HTTP/1.1', 'Host: a', 'Connection: Upgrade', 'Upgrade: websocket'),
    check: (r) => assert.equal(first(r).extra.upgrade, 'websocket'),
  },
  { name: 'Upgrade without Connection: upgrade is not an upgrade', input: head('GET / HTTP/1.1', 'Host: a', 'Upgrade: websocket'), check: (r) => assert.equal(first(r).extra.upgrade, '') },
  {
    name: 'one leading CRLF before the request line is ignored (RFC 9112 §2.2)',
    input: `\r\n${GET}`,
    check: (r) => {
      assert.equal(first(r).startLine, 'GET / HTTP/1.1');
      assert.equal(first(r).headBytes, GET.length);
    },
  },
  { name: 'OWS around values is trimmed, inner whitespace kept', input: head('GET / HTTP/1.1', 'Host: a', 'X:  \t a \t b \t '), check: (r) => assert.deepEqual(first(r).headers[1], ['X', 'a \t b']) },
  { name: 'empty value', input: head('GET / HTTP/1.1', 'Host: a', 'X:'), check: (r) => assert.deepEqual(first(r).headers[1], ['X', '']) },
  { name: 'obs-text in a value is kept byte for byte', input: head('GET / HTTP/1.1', 'Host: a', 'X: caf\xe9\xff'), check: (r) => assert.deepEqual(first(r).headers[1], ['X', 'caf\xe9\xff']) },
  { name: 'Transfer-Encoding: chunked with OWS and any case', input: `${head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding:   ChunKed ')}0\r\n\r\n`, check: (r) => assert.equal(first(r).framing, 'chunked') },
  {
    name: 'identical duplicate Content-Length lines collapse into one',
    input: `${head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3', 'content-length: 003')}abc`,
    check: (r) => {
      const m = first(r);
      assert.equal(m.contentLength, 3);
      assert.equal(m.body, 'abc');
      assert.deepEqual(m.lowerNames, ['host', 'content-length']);
    },
  },
  { name: 'Content-Length: 0 is a body of zero bytes', input: head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 0'), check: (r) => assert.deepEqual([first(r).framing, first(r).contentLength, first(r).body], ['length', 0, '']) },
  {
    name: 'absolute-form takes its authority from the target, not Host',
    input: head('GET http://Example.com:8080/p?q=1 HTTP/1.1', 'Host: other'),
    check: (r) => assert.deepEqual(first(r).extra, { targetForm: 'absolute', path: '/p?q=1', authority: 'Example.com:8080', upgrade: '', expectContinue: false }),
  },
  { name: 'absolute-form with only a query', input: head('GET https://h?x=1 HTTP/1.1', 'Host: h'), check: (r) => assert.equal(first(r).extra.path, '/?x=1') },
  { name: 'absolute-form with no path', input: head('GET http://h HTTP/1.1', 'Host: h'), check: (r) => assert.equal(first(r).extra.path, '/') },
  { name: 'OPTIONS *', input: head('OPTIONS * HTTP/1.1', 'Host: a'), check: (r) => assert.deepEqual([first(r).extra.targetForm, first(r).extra.path], ['asterisk', '*']) },
  {
    name: 'CONNECT authority-form is a tunnel',
    input: `${head('CONNECT example.com:443 HTTP/1.1', 'Host: example.com:443')}\x16\x03\x01`,
    check: (r) => {
      assert.deepEqual(first(r).extra, { targetForm: 'authority', path: '', authority: 'example.com:443', upgrade: '', expectContinue: false });
      assert.equal(first(r).framing, 'tunnel');
      assert.equal(r.tunnel, '\x16\x03\x01');
    },
  },
  { name: 'CONNECT to a bracketed IPv6 literal', input: head('CONNECT [::1]:8443 HTTP/1.1', 'Host: [::1]:8443'), check: (r) => assert.equal(first(r).extra.authority, '[::1]:8443') },
  { name: 'CONNECT with Content-Length: 0', input: head('CONNECT a:1 HTTP/1.1', 'Host: a:1', 'Content-Length: 0'), check: (r) => assert.equal(first(r).framing, 'tunnel') },
  { name: 'Expect: 100-continue', input: head('POST / HTTP/1.1', 'Host: a', 'Expect: 100-Continue', 'Content-Length: 0'), check: (r) => assert.equal(first(r).extra.expectContinue, true) },
  { name: 'extension method', input: head('PURGE /x HTTP/1.1', 'Host: a'), check: (r) => assert.equal(first(r).startLine, 'PURGE /x HTTP/1.1') },
  { name: 'Transfer_Encoding (underscore) is just another header', input: head('POST / HTTP/1.1', 'Host: a', 'Transfer_Encoding: chunked'), check: (r) => assert.equal(first(r).framing, 'none') },
  { name: 'Host with port and IPv6 literal', input: head('GET / HTTP/1.1', 'Host: [2001:db8::1]:80'), check: (r) => assert.equal(first(r).extra.authority, '[2001:db8::1]:80') },
  { name: 'exactly maxHeaders fields', input: head('GET / HTTP/1.1', 'Host: a', ...Array.from({ length: 99 }, (_, i) => `h${i}: v`)), check: (r) => assert.equal(first(r).headers.length, 100) },
  {
    name: 'chunked body with extensions and trailers',
    input: `${head('POST /up HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked')}5;name=val;q="a \\" b"\r\nhello\r\n1 ; x\r\n!\r\n0\r\nGrpc-Status: 0\r\ngrpc-message: ok\r\n\r\n`,
    check: (r) => {
      const m = first(r);
      assert.equal(m.body, 'hello!');
      assert.deepEqual(m.trailers, [['Grpc-Status', '0'], ['grpc-message', 'ok']]);
    },
  },
];

for (const v of VALID) {
  test(`accepts: ${v.name}`, () => v.check(run('request', [Buffer.from(v.input, 'latin1')])));
}

interface Invalid {
  name: string;
  input: string;
  code: string;
  status?: number;
  limits?: Parameters<typeof http1Limits>[0];
}

const TE = (v: string) => `${head('POST / HTTP/1.1', 'Host: a', `Transfer-Encoding: ${v}`)}0\r\n\r\n`;
const CHUNKED = (body: string) => `${head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked')}${body}`;
const HDR = (line: string) => `GET / HTTP/1.1\r\nHost: a\r\n${line}\r\n\r\n`;

const INVALID: Invalid[] = [
  // Line endings.
  { name: 'bare LF line endings', input: 'GET / HTTP/1.1\nHost: a\n\n', code: 'http1.bare_lf' },
  { name: 'bare LF ending one header line', input: 'GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n', code: 'http1.bare_lf' },
  { name: 'bare LF ending the head', input: 'GET / HTTP/1.1\r\nHost: a\r\n\n', code: 'http1.bare_lf' },
  { name: 'bare CR ending the request line', input: 'GET / HTTP/1.1\rHost: a\r\n\r\n', code: 'http1.bare_cr' },
  { name: 'bare LF before the request line', input: `\n${GET}`, code: 'http1.bare_lf' },
  { name: 'two empty lines before the request line', input: `\r\n\r\n${GET}`, code: 'http1.invalid_method' },
  // Request line.
  { name: 'method with a non-token character', input: head('G@T / HTTP/1.1', 'Host: a'), code: 'http1.invalid_method' },
  { name: 'empty method', input: head(' / HTTP/1.1', 'Host: a'), code: 'http1.invalid_method' },
  { name: 'HTAB between method and target', input: head('GET\t/ HTTP/1.1', 'Host: a'), code: 'http1.invalid_method' },
  { name: 'method longer than 64 bytes', input: head(`${'M'.repeat(65)} / HTTP/1.1`, 'Host: a'), code: 'http1.invalid_method' },
  { name: 'two spaces before the target', input: head('GET  / HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'space inside the target', input: head('GET /a b HTTP/1.1', 'Host: a'), code: 'http1.invalid_version' },
  { name: 'no version', input: head('GET /', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'space after the version', input: head('GET / HTTP/1.1 ', 'Host: a'), code: 'http1.invalid_version' },
  { name: 'lower-case http version', input: head('GET / http/1.1', 'Host: a'), code: 'http1.invalid_version' },
  { name: 'version HTTP/11', input: head('GET / HTTP/11', 'Host: a'), code: 'http1.invalid_version' },
  { name: 'version HTTP/1.10', input: head('GET / HTTP/1.10', 'Host: a'), code: 'http1.invalid_version' },
  { name: 'version HTTP/1.2', input: head('GET / HTTP/1.2', 'Host: a'), code: 'http1.unsupported_version', status: 505 },
  { name: 'version HTTP/2.0', input: head('GET / HTTP/2.0', 'Host: a'), code: 'http1.unsupported_version', status: 505 },
  { name: 'NUL in the target', input: head('GET /a\x00b HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'fragment in the target', input: head('GET /a#frag HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'obs-text in the target', input: head('GET /caf\xe9 HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'DEL in the target', input: head('GET /a\x7f HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'asterisk-form with GET', input: head('GET * HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'CONNECT with origin-form', input: head('CONNECT / HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'CONNECT without a port', input: head('CONNECT example.com HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'CONNECT with userinfo', input: head('CONNECT u@h:443 HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'GET with authority-form', input: head('GET example.com:80 HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'absolute-form with userinfo', input: head('GET http://user@evil.example/ HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'absolute-form with an empty authority', input: head('GET http:///p HTTP/1.1', 'Host: a'), code: 'http1.invalid_url' },
  { name: 'target longer than maxUrlBytes', input: head(`GET /${'a'.repeat(64)} HTTP/1.1`, 'Host: a'), code: 'http1.uri_too_long', status: 414, limits: { maxUrlBytes: 64 } },
  { name: 'target longer than maxUrlBytes, line not finished', input: `GET /${'a'.repeat(200)}`, code: 'http1.uri_too_long', status: 414, limits: { maxUrlBytes: 64 } },
  // Field names.
  { name: 'space before the colon', input: HDR('Host : b'), code: 'http1.whitespace_before_colon' },
  { name: 'HTAB before the colon (Transfer-Encoding\\t:)', input: `${head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding\t: chunked')}0\r\n\r\n`, code: 'http1.whitespace_before_colon' },
  { name: 'obs-fold continuation line', input: HDR('X: a\r\n b'), code: 'http1.obs_fold' },
  { name: 'obs-fold with HTAB', input: HDR('X: a\r\n\tb'), code: 'http1.obs_fold' },
  { name: 'Transfer-Encoding hidden in a folded line', input: `${head('POST / HTTP/1.1', 'Host: a', 'X: y', ' Transfer-Encoding: chunked')}0\r\n\r\n`, code: 'http1.obs_fold' },
  { name: 'whitespace between request line and first field', input: head('GET / HTTP/1.1', ' Host: a'), code: 'http1.obs_fold' },
  { name: 'field line without a colon', input: HDR('NoColon'), code: 'http1.invalid_header_name' },
  { name: 'empty field name', input: HDR(': v'), code: 'http1.invalid_header_name' },
  { name: 'field name with a quote', input: HDR('X"Y: v'), code: 'http1.invalid_header_name' },
  { name: 'field name with a slash', input: HDR('X/Y: v'), code: 'http1.invalid_header_name' },
  { name: 'field name with obs-text', input: HDR('X\xe9: v'), code: 'http1.invalid_header_name' },
  // Field values.
  { name: 'NUL in a value', input: HDR('X: a\x00b'), code: 'http1.invalid_header_value' },
  { name: 'bare CR in a value', input: HDR('X: a\rb'), code: 'http1.bare_cr' },
  { name: 'bare LF in a value', input: HDR('X: a\nb'), code: 'http1.bare_lf' },
  { name: 'vertical tab before chunked', input: TE('\x0bchunked'), code: 'http1.invalid_header_value' },
  { name: 'form feed in a value', input: HDR('X: a\x0cb'), code: 'http1.invalid_header_value' },
  { name: 'ESC in a value', input: HDR('X: \x1b[31m'), code: 'http1.invalid_header_value' },
  { name: 'DEL in a value', input: HDR('X: a\x7f'), code: 'http1.invalid_header_value' },
  // Host.
  { name: 'HTTP/1.1 without Host', input: head('GET / HTTP/1.1', 'X: a'), code: 'http1.missing_host' },
  { name: 'two Host headers', input: head('GET / HTTP/1.1', 'Host: a', 'Host: b'), code: 'http1.duplicate_host' },
  { name: 'two identical Host headers in HTTP/1.0', input: head('GET / HTTP/1.0', 'Host: a', 'host: a'), code: 'http1.duplicate_host' },
  { name: 'Host with a path', input: head('GET / HTTP/1.1', 'Host: a/b'), code: 'http1.invalid_host' },
  { name: 'Host with userinfo', input: head('GET / HTTP/1.1', 'Host: user@a'), code: 'http1.invalid_host' },
  { name: 'Host with a space', input: head('GET / HTTP/1.1', 'Host: a b'), code: 'http1.invalid_host' },
  { name: 'empty Host (reliability-security §1 B8)', input: head('GET / HTTP/1.1', 'Host:'), code: 'http1.invalid_host' },
  { name: 'lower-case method (§1 A10)', input: head('get / HTTP/1.1', 'Host: a'), code: 'http1.invalid_method' },
  // Content-Length.
  { name: 'Content-Length with a plus sign', input: head('POST / HTTP/1.1', 'Host: a', 'Content-Length: +5'), code: 'http1.invalid_content_length' },
  { name: 'negative Content-Length', input: head('POST / HTTP/1.1', 'Host: a', 'Content-Length: -1'), code: 'http1.invalid_content_length' },
  { name: 'hex Content-Length', input: head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 0x5'), code: 'http1.invalid_content_length' },
  { name: 'Content-Length with inner space', input: head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5 5'), code: 'http1.invalid_content_length' },
  { name: 'Content-Length list', input: head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5,5'), code: 'http1.invalid_content_length' },
  { name: 'empty Content-Length', input: head('POST / HTTP/1.1', 'Host: a', 'Content-Length:'), code: 'http1.invalid_content_length' },
  { name: 'decimal-point Content-Length', input: head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5.0'), code: 'http1.invalid_content_length' },
  { name: 'Content-Length beyond 2^53', input: head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 99999999999999999999'), code: 'http1.invalid_content_length' },
  { name: 'two different Content-Lengths (CL.CL)', input: `${head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Content-Length: 6')}hello!`, code: 'http1.conflicting_content_length' },
  { name: 'Content-Length over maxBodyBytes', input: head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 11'), code: 'http1.body_too_large', status: 413, limits: { maxBodyBytes: 10 } },
  // Transfer-Encoding.
  { name: 'Content-Length with Transfer-Encoding (CL.TE)', input: `${head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 4', 'Transfer-Encoding: chunked')}0\r\n\r\n`, code: 'http1.content_length_and_chunked' },
  { name: 'Transfer-Encoding with Content-Length (TE.CL)', input: `${head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Content-Length: 4')}0\r\n\r\n`, code: 'http1.content_length_and_chunked' },
  { name: 'Transfer-Encoding: chunked, identity', input: TE('chunked, identity'), code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'Transfer-Encoding: identity', input: TE('identity'), code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'Transfer-Encoding: xchunked', input: TE('xchunked'), code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'Transfer-Encoding: chunkedx', input: TE('chunkedx'), code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'Transfer-Encoding: gzip, chunked', input: TE('gzip, chunked'), code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'Transfer-Encoding: chunked, chunked', input: TE('chunked, chunked'), code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'Transfer-Encoding: "chunked"', input: TE('"chunked"'), code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'Transfer-Encoding: chunked;q=1', input: TE('chunked;q=1'), code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'empty Transfer-Encoding', input: TE(''), code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'two Transfer-Encoding lines', input: `${head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked')}0\r\n\r\n`, code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'Transfer-Encoding in HTTP/1.0', input: `${head('POST / HTTP/1.0', 'Transfer-Encoding: chunked')}0\r\n\r\n`, code: 'http1.transfer_encoding_http10' },
  { name: 'CONNECT with Transfer-Encoding', input: head('CONNECT a:1 HTTP/1.1', 'Host: a:1', 'Transfer-Encoding: chunked'), code: 'http1.invalid_transfer_encoding', status: 501 },
  { name: 'CONNECT with a body', input: head('CONNECT a:1 HTTP/1.1', 'Host: a:1', 'Content-Length: 5'), code: 'http1.body_disallowed' },
  // Limits.
  { name: 'more fields than maxHeaders', input: head('GET / HTTP/1.1', 'Host: a', 'a: 1', 'b: 2', 'c: 3', 'd: 4', 'e: 5'), code: 'http1.too_many_headers', status: 431, limits: { maxHeaders: 5 } },
  { name: 'header section over maxHeadBytes', input: head('GET / HTTP/1.1', 'Host: a', `X: ${'v'.repeat(100)}`), code: 'http1.headers_too_large', status: 431, limits: { maxHeadBytes: 64 } },
  { name: 'a header line that never ends', input: `GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(300)}`, code: 'http1.headers_too_large', status: 431, limits: { maxHeadBytes: 128 } },
  { name: 'default limit: 62 KiB of headers', input: head('GET / HTTP/1.1', 'Host: a', ...Array.from({ length: 62 }, (_, i) => `x${i}: ${'v'.repeat(1000)}`)), code: 'http1.headers_too_large', status: 431 },
  { name: 'default limit: 101 fields', input: head('GET / HTTP/1.1', 'Host: a', ...Array.from({ length: 100 }, (_, i) => `h${i}: v`)), code: 'http1.too_many_headers', status: 431 },
  // Chunked bodies.
  { name: 'chunk size overflow ffffffffffffffffff', input: CHUNKED('ffffffffffffffffff\r\nx\r\n0\r\n\r\n'), code: 'http1.chunk_size_overflow' },
  { name: 'chunk size 2^53 exactly', input: CHUNKED('20000000000000\r\nx'), code: 'http1.chunk_size_overflow' },
  { name: 'negative chunk size', input: CHUNKED('-1\r\nx\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_size' },
  { name: 'chunk size 0x5', input: CHUNKED('0x5\r\nhello\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_size' },
  { name: 'empty chunk size', input: CHUNKED('\r\nhello\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_size' },
  { name: 'chunk size with leading space', input: CHUNKED(' 5\r\nhello\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_size' },
  { name: 'chunk size with trailing space and no extension', input: CHUNKED('5 \r\nhello\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_extension' },
  { name: 'chunk size line ending in bare LF', input: CHUNKED('5\nhello\r\n0\r\n\r\n'), code: 'http1.bare_lf' },
  { name: 'chunk data followed by other bytes', input: CHUNKED('5\r\nhelloX\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_terminator' },
  { name: 'chunk data followed by bare LF', input: CHUNKED('5\r\nhello\n0\r\n\r\n'), code: 'http1.invalid_chunk_terminator' },
  { name: 'chunk data longer than its size', input: CHUNKED('3\r\nhello\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_terminator' },
  { name: 'chunk data followed by CR and not LF', input: CHUNKED('5\r\nhello\r\r0\r\n\r\n'), code: 'http1.invalid_chunk_terminator' },
  { name: 'NUL in a chunk extension', input: CHUNKED('5;a\x00\r\nhello\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_extension' },
  { name: 'bare LF inside a chunk extension', input: CHUNKED('5;a\nb\r\nhello\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_extension' },
  { name: 'unterminated quoted chunk extension', input: CHUNKED('5;a="b\r\nhello\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_extension' },
  { name: 'chunk extension without a name', input: CHUNKED('5;=b\r\nhello\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_extension' },
  { name: 'chunk extension value with a space inside', input: CHUNKED('5;a=b c\r\nhello\r\n0\r\n\r\n'), code: 'http1.invalid_chunk_extension' },
  { name: 'chunk line over maxChunkLineBytes', input: CHUNKED(`5;${'a'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`), code: 'http1.chunk_line_too_long' },
  { name: 'chunked body over maxBodyBytes', input: CHUNKED('6\r\nhello!\r\n0\r\n\r\n'), code: 'http1.body_too_large', status: 413, limits: { maxBodyBytes: 5 } },
  { name: 'request smuggled where the final CRLF should be', input: CHUNKED('0\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n'), code: 'http1.whitespace_before_colon' },
  { name: 'obs-fold in trailers', input: CHUNKED('0\r\nX: a\r\n b\r\n\r\n'), code: 'http1.obs_fold' },
  { name: 'trailer with space before colon', input: CHUNKED('0\r\nX : a\r\n\r\n'), code: 'http1.whitespace_before_colon' },
  { name: 'trailer section over maxHeaders', input: CHUNKED('0\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n'), code: 'http1.too_many_headers', status: 431, limits: { maxHeaders: 2 } },
  // Truncation.
  { name: 'connection closed before the final CRLF of the last chunk', input: CHUNKED('5\r\nhello\r\n0\r\n'), code: 'http1.truncated_message' },
  { name: 'connection closed inside a Content-Length body', input: `${head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 10')}hello`, code: 'http1.truncated_message' },
  { name: 'connection closed inside a head', input: 'GET / HTTP/1.1\r\nHost: a\r\n', code: 'http1.truncated_message' },
];

test('the refusal table covers at least 60 malformed inputs', () => {
  assert.ok(INVALID.length >= 60, `${INVALID.length}`);
  assert.equal(new Set(INVALID.map((c) => c.name)).size, INVALID.length, 'names are unique');
});

for (const c of INVALID) {
  test(`refuses: ${c.name} → ${c.status ?? 400} ${c.code}`, () => {
    const limits = c.limits ? http1Limits(c.limits) : undefined;
    for (const chunks of [[Buffer.from(c.input, 'latin1')], bytewise(c.input)]) {
      const r = run('request', chunks, { limits });
      assert.equal(r.error, c.code, `got ${r.error} (${chunks.length} chunks)`);
      assert.equal(r.status, c.status ?? 400);
    }
  });
}

test('a refusal sticks until reset; after reset the next request parses', () => {
  const p = new RequestHeadParser();
  assert.equal(p.execute(Buffer.from(HDR('X: a\x00'), 'latin1')), HEAD_ERROR);
  assert.equal(p.error?.code, 'http1.invalid_header_value');
  assert.equal(p.execute(Buffer.from(GET)), HEAD_ERROR, 'still failed: the framing of what follows is unknown');
  p.reset();
  assert.equal(p.error, null);
  assert.equal(p.execute(Buffer.from(GET)), GET.length);
  assert.equal(p.head?.method, 'GET');
});

test('errors are shared, frozen objects that never echo the input', () => {
  const p = new RequestHeadParser();
  p.execute(Buffer.from(HDR('X: <script>\x00')));
  const e = p.error!;
  assert.ok(Object.isFrozen(e));
  assert.ok(!e.message.includes('script'));
  const q = new RequestHeadParser();
  q.execute(Buffer.from(HDR('Y: \x00')));
  assert.equal(q.error, e);
});

const MESSAGES = [
  GET,
  `\r\n${head('POST /upload?x=1 HTTP/1.1', 'Host: example.com:8080', 'Content-Type: text/plain', 'Content-Length: 11', 'X-Trace:  abc  ')}hello world`,
  `${head('PUT /c HTTP/1.1', 'host: h', 'transfer-encoding: chunked', 'Connection: keep-alive')}4;ext="q\\"x"\r\nwiki\r\n5\r\npedia\r\n0\r\nx-checksum: 42\r\nGrpc-Status: 0\r\n\r\n`,
  `${head('GET /1 HTTP/1.1', 'Host: a')}${head('POST /2 HTTP/1.1', 'Host: a', 'Content-Length: 3')}abc${head('DELETE /3 HTTP/1.0')}`,
  `${head('CONNECT h:443 HTTP/1.1', 'Host: h:443')}tunnel-bytes\r\n\r\n`,
];

test('a message split at every byte offset parses exactly as in one piece', () => {
  for (const m of MESSAGES) {
    const whole = run('request', [Buffer.from(m, 'latin1')]);
    assert.equal(whole.error, null);
    for (let i = 1; i < m.length; i++) assert.deepEqual(run('request', split(m, [i])), whole, `split at ${i}`);
    assert.deepEqual(run('request', bytewise(m)), whole, 'one byte per read');
  }
});

test('pipelined requests in one chunk are found one after another, body bytes exactly delimited', () => {
  const input = MESSAGES[3]!;
  const r = run('request', [Buffer.from(input)]);
  assert.equal(r.error, null);
  assert.deepEqual(
    r.messages.map((m) => [m.startLine, m.body]),
    [
      ['GET /1 HTTP/1.1', ''],
      ['POST /2 HTTP/1.1', 'abc'],
      ['DELETE /3 HTTP/1.0', ''],
    ],
  );
  // Zero-copy forwarding: heads plus raw body ranges account for every input byte.
  assert.equal(r.messages.reduce((n, m) => n + m.headBytes + m.raw.length, 0), input.length);
});

test('a chunked body forwarded as-is is byte-identical to the wire, and the next request follows', () => {
  const body = '4;ext="q\\"x"\r\nwiki\r\n5\r\npedia\r\n0\r\nx-checksum: 42\r\n\r\n';
  const input = `${head('PUT /c HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked')}${body}${GET}`;
  for (const chunks of [[Buffer.from(input)], bytewise(input), split(input, [70, 75, 90])]) {
    const r = run('request', chunks);
    assert.equal(r.messages.length, 2);
    assert.equal(r.messages[0]!.raw, body);
    assert.equal(r.messages[0]!.body, 'wikipedia');
    assert.deepEqual(r.messages[0]!.trailers, [['x-checksum', '42']]);
    assert.equal(r.messages[1]!.startLine, 'GET / HTTP/1.1');
  }
});

test('execute returns the body offset within the chunk and consumes a split head completely', () => {
  const p = new RequestHeadParser();
  const part1 = Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nContent-Le');
  const part2 = Buffer.from('ngth: 2\r\n\r\nhiGET');
  assert.equal(p.execute(part1), HEAD_INCOMPLETE);
  assert.equal(p.pending, true);
  part1.fill(0); // the caller may reuse its read buffer: the parser copied what it needs
  const at = p.execute(part2);
  assert.equal(part2.toString('latin1', at), 'hiGET');
  assert.equal(p.head?.contentLength, 2);
  assert.deepEqual(p.head?.headers.entries(), [['Host', 'a'], ['Content-Length', '2']]);
  assert.equal(p.pending, false);
});

test('a stray CRLF after a message is not the start of a truncated one', () => {
  const r = run('request', [Buffer.from(`${head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 2')}hi\r\n`)]);
  assert.deepEqual([r.error, r.messages.length, r.messages[0]!.body], [null, 1, 'hi']);
  assert.equal(run('request', [Buffer.from('GET / HTTP/1.1\r')]).error, 'http1.truncated_message');
});

test('a head trickled one byte per read costs linear time (no rescanning)', () => {
  const big = head('GET / HTTP/1.1', 'Host: a', ...Array.from({ length: 50 }, (_, i) => `x-h${i}: ${'v'.repeat(1000)}`));
  const p = new RequestHeadParser();
  const t0 = process.hrtime.bigint();
  let r = HEAD_INCOMPLETE;
  const one = Buffer.alloc(1);
  for (let i = 0; i < big.length && r === HEAD_INCOMPLETE; i++) {
    one[0] = big.charCodeAt(i);
    r = p.execute(one);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(r, 1);
  assert.equal(p.head?.headers.length, 51);
  // ~50 KB: quadratic rescanning would be ~1.3e9 byte visits (seconds); linear is milliseconds.
  assert.ok(ms < 2000, `${ms} ms`);
});
