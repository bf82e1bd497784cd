// Body framing reports exact byte ranges of the input (zero-copy forwarding), finds where the next message starts, and refuses truncated or malformed bodies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BODY_DATA, BODY_END, BODY_ERROR, BODY_NEED_MORE, BodyDecoder, http1Limits } from '../../src/proxy/http1/index.js';

/** Every event of reading `buf` from `pos`, as [event, start, end] (data range, or `next` for END). */
function events(d: BodyDecoder, buf: Buffer, pos = 0): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let i = 0; i < 1000; i++) {
    const ev = d.read(buf, pos, buf.length);
    if (ev === BODY_DATA) {
      out.push([ev, d.dataStart, d.dataEnd]);
      pos = d.next;
      continue;
    }
    out.push([ev, d.next, d.next]);
    return out;
  }
  throw new Error('no progress');
}

test('Content-Length: data ranges point into the caller\'s buffer, across reads, then END where the next message starts', () => {
  const d = new BodyDecoder('request');
  d.start('length', 8);
  const a = Buffer.from('xxhello');
  assert.deepEqual(events(d, a, 2), [[BODY_DATA, 2, 7], [BODY_NEED_MORE, 7, 7]]);
  const b = Buffer.from('abcGET /');
  assert.deepEqual(events(d, b), [[BODY_DATA, 0, 3], [BODY_END, 3, 3]]);
  assert.equal(d.bodyBytes, 8);
  assert.equal(d.done, true);
});

test('Content-Length: 0 and no body end at once, without reading', () => {
  const d = new BodyDecoder('request');
  const buf = Buffer.from('GET');
  d.start('length', 0);
  assert.deepEqual(events(d, buf), [[BODY_END, 0, 0]]);
  d.start('none');
  assert.deepEqual(events(d, buf, 2), [[BODY_END, 2, 2]]);
});

test('read-until-close: everything is data; end of input ends the message', () => {
  const d = new BodyDecoder('response');
  d.start('until-close');
  assert.deepEqual(events(d, Buffer.from('abc')), [[BODY_DATA, 0, 3], [BODY_NEED_MORE, 3, 3]]);
  assert.equal(d.finish(), BODY_END);
});

test('chunked: data ranges skip the framing; a chunk spanning reads yields data per read', () => {
  const d = new BodyDecoder('request');
  d.start('chunked');
  const a = Buffer.from('A;x=1\r\n0123');
  assert.deepEqual(events(d, a), [[BODY_DATA, 7, 11], [BODY_NEED_MORE, 11, 11]]);
  const b = Buffer.from('456789\r\n2\r\nab\r\n0\r\n\r\nNEXT');
  assert.deepEqual(events(d, b), [[BODY_DATA, 0, 6], [BODY_DATA, 11, 13], [BODY_END, 20, 20]]);
  assert.equal(b.toString('latin1', 20), 'NEXT');
  assert.equal(d.bodyBytes, 12);
  assert.equal(d.trailers, null);
});

test('chunked: upper/lower-case hex and leading zeros', () => {
  const d = new BodyDecoder('request');
  d.start('chunked');
  const buf = Buffer.from(`000aB\r\n${'x'.repeat(0xab)}\r\n0000\r\n\r\n`);
  const ev = events(d, buf);
  assert.deepEqual(ev.at(-1), [BODY_END, buf.length, buf.length]);
  assert.equal(d.bodyBytes, 0xab);
});

test('chunked: trailers split across reads are parsed with the header rules', () => {
  const d = new BodyDecoder('response');
  d.start('chunked');
  const parts = ['1\r\nz\r\n0\r\nGrpc-Sta', 'tus: 0\r\nGrpc-Message: all ', 'good\r\n', '\r', '\nHTTP'];
  let last: Array<[number, number, number]> = [];
  for (const p of parts) last = events(d, Buffer.from(p));
  assert.deepEqual(last, [[BODY_END, 1, 1]]);
  assert.deepEqual(d.trailers?.entries(), [['Grpc-Status', '0'], ['Grpc-Message', 'all good']]);
  assert.deepEqual(d.trailers?.lowerNames, ['grpc-status', 'grpc-message']);
});

test('chunked: a size line exactly at maxChunkLineBytes is accepted, one byte more is refused', () => {
  const limits = http1Limits({ maxChunkLineBytes: 16 });
  const ok = new BodyDecoder('request', limits);
  ok.start('chunked');
  const line = `1;${'e'.repeat(14)}`; // 16 bytes before CR
  assert.equal(events(ok, Buffer.from(`${line}\r\nx\r\n0\r\n\r\n`)).at(-1)![0], BODY_END);
  const bad = new BodyDecoder('request', limits);
  bad.start('chunked');
  assert.equal(events(bad, Buffer.from(`${line}e\r\nx\r\n0\r\n\r\n`)).at(-1)![0], BODY_ERROR);
  assert.equal(bad.error?.code, 'http1.chunk_line_too_long');
});

test('chunked: the size-line bound holds across reads (a trickled extension cannot grow forever)', () => {
  const d = new BodyDecoder('request', http1Limits({ maxChunkLineBytes: 32 }));
  d.start('chunked');
  let ev = BODY_NEED_MORE as number;
  let reads = 0;
  ev = d.read(Buffer.from('1;'), 0, 2);
  while (ev === BODY_NEED_MORE && reads < 100) {
    ev = d.read(Buffer.from('aaaa'), 0, 4);
    reads++;
  }
  assert.equal(ev, BODY_ERROR);
  assert.equal(d.error?.code, 'http1.chunk_line_too_long');
  assert.ok(reads <= 9, `${reads}`);
});

test('end of input inside a chunked body is a truncation; after END it is not', () => {
  const d = new BodyDecoder('request');
  d.start('chunked');
  events(d, Buffer.from('5\r\nhel'));
  assert.equal(d.finish(), BODY_ERROR);
  assert.deepEqual([d.error?.code, d.error?.status], ['http1.truncated_message', 400]);
  const r = new BodyDecoder('response');
  r.start('chunked');
  events(r, Buffer.from('0\r\n\r\n'));
  assert.equal(r.finish(), BODY_END);
});

test('a decoder is reused for the next message after start(): no state leaks', () => {
  const d = new BodyDecoder('request');
  d.start('chunked');
  events(d, Buffer.from('1\r\na\r\n0\r\nX: 1\r\n\r\n'));
  assert.deepEqual(d.trailers?.entries(), [['X', '1']]);
  d.start('chunked');
  assert.equal(d.trailers, null);
  assert.deepEqual(events(d, Buffer.from('2\r\nbc\r\n0\r\n\r\n')), [[BODY_DATA, 3, 5], [BODY_END, 12, 12]]);
  assert.equal(d.bodyBytes, 2);
  d.start('length', 1);
  assert.deepEqual(events(d, Buffer.from('z')), [[BODY_DATA, 0, 1], [BODY_END, 1, 1]]);
});

test('response-side body errors are 502', () => {
  const d = new BodyDecoder('response');
  d.start('chunked');
  assert.equal(events(d, Buffer.from('zz\r\n')).at(-1)![0], BODY_ERROR);
  assert.deepEqual([d.error?.code, d.error?.status], ['http1.invalid_chunk_size', 502]);
});
