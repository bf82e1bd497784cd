// Property tests of the HTTP/1.1 codec: however a stream of pipelined messages is cut into reads, it parses exactly as in one piece, and into what was sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { run, split } from './http1-harness.js';

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const PATH_CHARS = "abcXYZ019-._~!$&'()*+,;=:@/?%".split('');
const VALUE_CHARS = 'azAZ09 \t!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~\x80\xe9\xff'.split('');
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'expect']);

const str = (chars: string[], min: number, max: number) => fc.array(fc.constantFrom(...chars), { minLength: min, maxLength: max }).map((a) => a.join(''));
const name = str(TCHARS, 1, 12).filter((n) => !RESERVED.has(n.toLowerCase()));
/** Values without leading/trailing whitespace (the parser trims it), inner whitespace allowed. */
const value = str(VALUE_CHARS, 0, 20).map((v) => v.replace(/^[ \t]+|[ \t]+$/g, ''));
const field = fc.tuple(name, value);
const payload = str('abcxyz\r\n0123456789'.split(''), 1, 30);
const ext = fc.constantFrom('', ';a', ';a=b', ' ; n="q \\" v"', ';x=1;y');

type Body = { kind: 'none' } | { kind: 'length'; data: string } | { kind: 'chunked'; chunks: Array<[string, string]>; trailers: Array<[string, string]> };
const body: fc.Arbitrary<Body> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('length' as const), data: str('abc\r\n'.split(''), 0, 40) }),
  fc.record({ kind: fc.constant('chunked' as const), chunks: fc.array(fc.tuple(payload, ext), { maxLength: 4 }), trailers: fc.array(field, { maxLength: 3 }) }),
);

interface Req {
  method: string;
  target: string;
  fields: Array<[string, string]>;
  body: Body;
}
const request: fc.Arbitrary<Req> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PURGE'),
  target: str(PATH_CHARS, 0, 30).map((p) => `/${p}`),
  fields: fc.array(field, { maxLength: 8 }),
  body,
});

function framing(b: Body): string[] {
  return b.kind === 'length' ? [`Content-Length: ${b.data.length}`] : b.kind === 'chunked' ? ['Transfer-Encoding: chunked'] : [];
}

function encodeBody(b: Body): string {
  if (b.kind === 'length') return b.data;
  if (b.kind === 'none') return '';
  const chunks = b.chunks.map(([d, e]) => `${d.length.toString(16)}${e}\r\n${d}\r\n`).join('');
  return `${chunks}0\r\n${b.trailers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
}

function encodeRequest(r: Req): string {
  const lines = [`${r.method} ${r.target} HTTP/1.1`, 'Host: example.com', ...r.fields.map(([n, v]) => `${n}:${v.length % 2 ? ' ' : ''}${v}`), ...framing(r.body)];
  return `${lines.join('\r\n')}\r\n\r\n${encodeBody(r.body)}`;
}

const cuts = fc.array(fc.nat({ max: 100_000 }), { maxLength: 12 });

test('property: pipelined requests parse into what was sent, however the stream is cut', () => {
  fc.assert(
    fc.property(fc.array(request, { minLength: 1, maxLength: 3 }), cuts, (reqs, cutPoints) => {
      const wire = reqs.map(encodeRequest).join('');
      const whole = run('request', [Buffer.from(wire, 'latin1')]);
      assert.equal(whole.error, null);
      assert.equal(whole.messages.length, reqs.length);
      reqs.forEach((r, i) => {
        const m = whole.messages[i]!;
        assert.equal(m.startLine, `${r.method} ${r.target} HTTP/1.1`);
        assert.deepEqual(m.headers.slice(1, 1 + r.fields.length), r.fields);
        const data = r.body.kind === 'length' ? r.body.data : r.body.kind === 'chunked' ? r.body.chunks.map(([d]) => d).join('') : '';
        assert.equal(m.body, data);
        assert.equal(m.raw, encodeBody(r.body), 'raw ranges reproduce the framed body');
        assert.deepEqual(m.trailers, r.body.kind === 'chunked' && r.body.trailers.length > 0 ? r.body.trailers : null);
      });
      assert.equal(whole.messages.reduce((n, m) => n + m.headBytes + m.raw.length, 0), Buffer.byteLength(wire, 'latin1'));
      const pieces = split(wire, cutPoints.map((c) => c % (wire.length + 1)));
      assert.deepEqual(run('request', pieces), whole);
    }),
    { numRuns: 400 },
  );
});

interface Res {
  status: number;
  method: string;
  fields: Array<[string, string]>;
  body: Body;
  interim: boolean;
}
const response: fc.Arbitrary<Res> = fc.record({
  status: fc.constantFrom(200, 201, 204, 206, 301, 304, 404, 500, 503),
  method: fc.constantFrom('GET', 'POST', 'HEAD'),
  fields: fc.array(field, { maxLength: 6 }),
  body,
  interim: fc.boolean(),
});

function bodiless(r: Res): boolean {
  return r.status === 204 || r.status === 304 || r.method === 'HEAD';
}

function encodeResponse(r: Res): string {
  // A bodiless response may still carry Content-Length (HEAD, 304); it must not carry a body.
  // A response without Content-Length or chunking is read until close: "none" is sent as Content-Length: 0.
  const frame = r.body.kind === 'none' ? ['Content-Length: 0'] : bodiless(r) && r.body.kind === 'chunked' ? [] : framing(r.body);
  const fields = [...r.fields.map(([n, v]) => `${n}: ${v}`), ...frame];
  const interim = r.interim ? 'HTTP/1.1 100 Continue\r\n\r\n' : '';
  return `${interim}HTTP/1.1 ${r.status} Reason Phrase\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n${bodiless(r) ? '' : encodeBody(r.body)}`;
}

test('property: pipelined responses (interim 100s, HEAD, 204, 304) parse the same however the stream is cut', () => {
  fc.assert(
    fc.property(fc.array(response, { minLength: 1, maxLength: 3 }), cuts, (resps, cutPoints) => {
      const wire = resps.map(encodeResponse).join('');
      const methods = resps.map((r) => r.method);
      const whole = run('response', [Buffer.from(wire, 'latin1')], { methods });
      assert.equal(whole.error, null);
      const finals = whole.messages.filter((m) => m.extra.interim === false);
      assert.equal(finals.length, resps.length);
      assert.equal(whole.messages.length - finals.length, resps.filter((r) => r.interim).length);
      resps.forEach((r, i) => {
        const m = finals[i]!;
        assert.equal(m.startLine, `HTTP/1.1 ${r.status} Reason Phrase`);
        const data = bodiless(r) ? '' : r.body.kind === 'length' ? r.body.data : r.body.kind === 'chunked' ? r.body.chunks.map(([d]) => d).join('') : '';
        assert.equal(m.body, data);
      });
      assert.deepEqual(run('response', split(wire, cutPoints.map((c) => c % (wire.length + 1))), { methods }), whole);
    }),
    { numRuns: 300 },
  );
});

test('property: a byte inserted anywhere never throws, and one-shot and split parsing agree on the outcome', () => {
  fc.assert(
    fc.property(request, fc.nat(), fc.integer({ min: 0, max: 255 }), cuts, (r, at, byte, cutPoints) => {
      const wire = encodeRequest(r);
      const i = at % (wire.length + 1);
      const mutated = `${wire.slice(0, i)}${String.fromCharCode(byte)}${wire.slice(i)}`;
      const whole = run('request', [Buffer.from(mutated, 'latin1')]);
      const pieces = run('request', split(mutated, cutPoints.map((c) => c % (mutated.length + 1))));
      assert.deepEqual(pieces, whole);
    }),
    { numRuns: 1000 },
  );
});
