// The TLS inspector's ClientHello reader: real ClientHellos from node:tls (TLS 1.2 and 1.3), any split of them, fragmented records, and malformed, truncated or oversize input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ClientHelloReader, inspectClientHello, MAX_CLIENT_HELLO_BYTES, type ClientHelloVerdict } from '../../src/proxy/network/tls-inspector.js';
import { alpnExtension, captureClientHello, clientHello, extension, records, sniExtension, u16 } from './tls-fixtures.js';

function feedInParts(bytes: Buffer, cuts: readonly number[]): ClientHelloVerdict {
  const reader = new ClientHelloReader();
  let verdict = reader.push(Buffer.alloc(0));
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    verdict = reader.push(bytes.subarray(from, cut));
    from = cut;
  }
  return verdict;
}

/** The handshake message inside one captured record. */
function handshakeOf(record: Buffer): Buffer {
  return record.subarray(5);
}

test('a TLS 1.3 ClientHello from node:tls yields its SNI (lower-cased) and ALPN protocols in order', async () => {
  const hello = await captureClientHello({ servername: 'API.Example.com', ALPNProtocols: ['h2', 'http/1.1'] });
  assert.deepEqual(inspectClientHello(hello), { kind: 'tls', serverName: 'api.example.com', alpn: ['h2', 'http/1.1'] });
});

test('a TLS 1.2-only ClientHello yields its SNI and ALPN too', async () => {
  const hello = await captureClientHello({ servername: 'b.example.com', ALPNProtocols: ['istio-peer-exchange', 'istio'], maxVersion: 'TLSv1.2' });
  assert.deepEqual(inspectClientHello(hello), { kind: 'tls', serverName: 'b.example.com', alpn: ['istio-peer-exchange', 'istio'] });
});

test('a client connecting to an IP literal sends no SNI: TLS without a server name, and without ALPN when it offers none', async () => {
  const hello = await captureClientHello({});
  assert.deepEqual(inspectClientHello(hello), { kind: 'tls', alpn: [] });
});

test('every split of a real ClientHello gives the verdict of the whole, and every proper prefix needs more', async () => {
  const hello = await captureClientHello({ servername: 'a.example.com', ALPNProtocols: ['h2'] });
  const whole = inspectClientHello(hello);
  assert.equal(whole.kind, 'tls');
  for (let cut = 0; cut <= hello.length; cut++) {
    assert.deepEqual(feedInParts(hello, [cut]), whole, `split at ${cut}`);
    if (cut < hello.length) assert.equal(inspectClientHello(hello.subarray(0, cut)).kind, 'need-more', `prefix of ${cut} bytes`);
  }
  assert.deepEqual(
    feedInParts(
      hello,
      Array.from({ length: hello.length - 1 }, (_, i) => i + 1),
    ),
    whole,
    'one byte at a time',
  );
});

test('a ClientHello fragmented over many records (down to one byte each) reads the same', async () => {
  const hello = await captureClientHello({ servername: 'a.example.com', ALPNProtocols: ['h2'] });
  const whole = inspectClientHello(hello);
  for (const size of [1, 2, 7, 100, 16_384]) assert.deepEqual(inspectClientHello(records(handshakeOf(hello), size)), whole, `records of ${size} bytes`);
});

test('bytes after the ClientHello (in its record or later ones) do not change the verdict', async () => {
  const hello = await captureClientHello({ servername: 'a.example.com' });
  const whole = inspectClientHello(hello);
  const trailing = Buffer.concat([records(Buffer.concat([handshakeOf(hello), Buffer.from('junk')]), 16_384), Buffer.from('more junk')]);
  assert.deepEqual(inspectClientHello(trailing), whole);
});

test('plaintext protocols are not TLS on their first byte', () => {
  assert.equal(inspectClientHello(Buffer.from('G')).kind, 'not-tls');
  assert.equal(inspectClientHello(Buffer.from('PRI * HTTP/2.0\r\n')).kind, 'not-tls');
  assert.equal(inspectClientHello(Buffer.from([0x80, 0x2e, 0x01])).kind, 'not-tls', 'an SSLv2-style hello');
  assert.equal(inspectClientHello(Buffer.alloc(0)).kind, 'need-more');
});

test('framing errors are not TLS: other record types, other major versions, empty or oversize records, other handshake messages', () => {
  const hello = clientHello([sniExtension('a.example.com')]);
  const framed = records(hello, 16_384);
  assert.equal(inspectClientHello(framed).kind, 'tls');
  const mutate = (at: number, value: number) => {
    const b = Buffer.from(framed);
    b[at] = value;
    return inspectClientHello(b).kind;
  };
  assert.equal(mutate(0, 21), 'not-tls', 'an alert record');
  assert.equal(mutate(1, 2), 'not-tls', 'record major version 2');
  assert.equal(mutate(5, 2), 'not-tls', 'a ServerHello');
  assert.equal(mutate(9, 2), 'not-tls', 'legacy_version major 2');
  assert.equal(inspectClientHello(Buffer.from([22, 3, 1, 0, 0])).kind, 'not-tls', 'an empty record');
  assert.equal(inspectClientHello(Buffer.from([22, 3, 1, 0x40, 0x01])).kind, 'not-tls', 'a record over 2^14 bytes');
  // A record of another type between the fragments of the ClientHello.
  const split = records(hello, 10);
  const interleaved = Buffer.concat([split.subarray(0, 15), Buffer.from([20, 3, 3, 0, 1, 1]), split.subarray(15)]);
  assert.equal(inspectClientHello(interleaved).kind, 'not-tls', 'a ChangeCipherSpec inside the ClientHello');
});

test('ClientHello bodies are read strictly: lengths must fit, extensions may not repeat, server_name must be one non-empty host_name', () => {
  const verdict = (h: Buffer) => inspectClientHello(records(h, 16_384));
  assert.deepEqual(verdict(clientHello()), { kind: 'tls', alpn: [] }, 'no extensions block at all (TLS 1.2)');
  assert.deepEqual(verdict(clientHello([])), { kind: 'tls', alpn: [] }, 'an empty extensions block');
  assert.deepEqual(verdict(clientHello([extension(0xff01, Buffer.from([0])), sniExtension('x.test')])), { kind: 'tls', serverName: 'x.test', alpn: [] });
  assert.equal(verdict(clientHello([sniExtension('a.test'), sniExtension('b.test')])).kind, 'not-tls', 'a repeated extension');
  assert.equal(verdict(clientHello([sniExtension('a.test')], Buffer.from([0]))).kind, 'not-tls', 'a byte after the extensions');
  assert.equal(verdict(clientHello([sniExtension('')])).kind, 'not-tls', 'an empty host name');
  assert.equal(verdict(clientHello([sniExtension('a.test', 1)])).kind, 'not-tls', 'another name type');
  assert.equal(verdict(clientHello([sniExtension(Buffer.from('a.test\0b.test', 'latin1'))])).kind, 'not-tls', 'a NUL in the host name');
  assert.equal(verdict(clientHello([sniExtension('a'.repeat(256))])).kind, 'not-tls', 'a host name over 255 bytes');
  assert.equal(verdict(clientHello([extension(0, Buffer.from([0, 3, 0, 0, 1, 0x61]))])).kind, 'not-tls', 'a server_name list longer than its extension');
  const twoNames = Buffer.concat([Buffer.from([0]), u16(1), Buffer.from('a'), Buffer.from([0]), u16(1), Buffer.from('b')]);
  assert.equal(verdict(clientHello([extension(0, Buffer.concat([u16(twoNames.length), twoNames]))])).kind, 'not-tls', 'two names');
  assert.equal(verdict(clientHello([extension(0, Buffer.alloc(0))])).kind, 'not-tls', 'an empty server_name extension');
  const h = clientHello([sniExtension('a.test')]);
  const badCipherLength = Buffer.from(h);
  badCipherLength.writeUInt16BE(3, 4 + 35); // odd cipher_suites length
  assert.equal(verdict(badCipherLength).kind, 'not-tls', 'an odd cipher_suites length');
  const longSession = Buffer.from(h);
  longSession[4 + 34] = 33;
  assert.equal(verdict(longSession).kind, 'not-tls', 'a session id over 32 bytes');
  assert.equal(verdict(Buffer.from([1, 0, 0, 0])).kind, 'not-tls', 'an empty ClientHello');
});

test('host names are decoded byte for byte: a high byte never aliases an ASCII letter', () => {
  const v = inspectClientHello(records(clientHello([sniExtension(Buffer.from([0xe1, ...Buffer.from('.example.com')]))]), 16_384));
  assert.equal(v.kind, 'tls');
  assert.notEqual(v.kind === 'tls' ? v.serverName : undefined, 'a.example.com');
});

test('a malformed ALPN list is ignored, the hello is still TLS with its SNI', () => {
  const verdict = (alpn: Buffer) => inspectClientHello(records(clientHello([sniExtension('a.test'), extension(16, alpn)]), 16_384));
  assert.deepEqual(verdict(Buffer.from([0, 3, 2, 0x68, 0x32])), { kind: 'tls', serverName: 'a.test', alpn: ['h2'] });
  assert.deepEqual(verdict(Buffer.from([0, 4, 2, 0x68, 0x32])), { kind: 'tls', serverName: 'a.test', alpn: [] }, 'list longer than the extension');
  assert.deepEqual(verdict(Buffer.from([0, 3, 0, 0x68, 0x32])), { kind: 'tls', serverName: 'a.test', alpn: [] }, 'an empty protocol name');
  assert.deepEqual(verdict(Buffer.from([0, 0])), { kind: 'tls', serverName: 'a.test', alpn: [] }, 'an empty list');
  assert.deepEqual(inspectClientHello(records(clientHello([alpnExtension(['h2', 'http/1.1'])]), 16_384)), { kind: 'tls', alpn: ['h2', 'http/1.1'] });
});

test('a ClientHello that does not complete within 64 KiB is too large; one that does is read', () => {
  // A padding extension (21) brings the hello close to the limit.
  const fits = records(clientHello([sniExtension('a.test'), extension(21, Buffer.alloc(MAX_CLIENT_HELLO_BYTES - 2_000))]), 16_384);
  assert.ok(fits.length <= MAX_CLIENT_HELLO_BYTES);
  assert.deepEqual(inspectClientHello(fits), { kind: 'tls', serverName: 'a.test', alpn: [] });
  // A handshake message declared (and sent) longer than the limit; its body is never looked at.
  const tooLarge = records(Buffer.concat([Buffer.from([1, 0x01, 0x11, 0x70]), Buffer.alloc(70_000)]), 16_384);
  assert.equal(inspectClientHello(tooLarge).kind, 'too-large');
  assert.equal(inspectClientHello(tooLarge.subarray(0, MAX_CLIENT_HELLO_BYTES - 1)).kind, 'need-more');
  assert.equal(feedInParts(tooLarge, [1_000, MAX_CLIENT_HELLO_BYTES - 1, MAX_CLIENT_HELLO_BYTES]).kind, 'too-large');
  // A declared length of 2^24-1 with endless one-byte records: refused at the limit, not before.
  const header = Buffer.from([22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]);
  const endless = Buffer.concat([header, ...Array.from({ length: MAX_CLIENT_HELLO_BYTES / 6 + 1 }, () => Buffer.from([22, 3, 1, 0, 1, 0]))]);
  assert.equal(inspectClientHello(endless).kind, 'too-large');
});

test('the verdict is final: bytes after it are ignored', async () => {
  const hello = await captureClientHello({ servername: 'a.example.com' });
  const reader = new ClientHelloReader();
  const first = reader.push(hello);
  assert.equal(reader.push(Buffer.from('anything')), first);
  const plain = new ClientHelloReader();
  assert.equal(plain.push(Buffer.from('GET')).kind, 'not-tls');
  assert.equal(plain.push(hello).kind, 'not-tls');
});

test('property: arbitrary bytes, split anywhere, never throw and read the same as whole', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    // Mostly-valid framing so the parser gets past the first bytes.
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.integer({ min: 1, max: 64 })).map(([body, size]) => new Uint8Array(records(Buffer.concat([Buffer.from([1, 0, (body.length >> 8) & 0xff, body.length & 0xff]), Buffer.from(body)]), size))),
  );
  fc.assert(
    fc.property(bytes, fc.array(fc.nat(), { maxLength: 8 }), (raw, rawCuts) => {
      const b = Buffer.from(raw);
      const cuts = [...new Set(rawCuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
      const whole = inspectClientHello(b);
      assert.deepEqual(feedInParts(b, cuts), whole);
    }),
    { numRuns: 2_000 },
  );
});

test('property: a real ClientHello with any bytes changed never throws, and split reads the same as whole', async () => {
  const hello = await captureClientHello({ servername: 'a.example.com', ALPNProtocols: ['h2', 'http/1.1'] });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(hello.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(hello.length), (edits, cut) => {
      const b = Buffer.from(hello);
      for (const [at, value] of edits) b[at] = value;
      assert.deepEqual(feedInParts(b, [cut]), inspectClientHello(b));
    }),
    { numRuns: 2_000 },
  );
});
