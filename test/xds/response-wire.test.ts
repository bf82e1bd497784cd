import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { envoyProtos } from '../../src/xds/protos.js';
import { encodeDeltaResponse, encodeSotwResponse, isDeltaResponseWire, isSotwResponseWire } from '../../src/xds/response-wire.js';

const protos = envoyProtos();
const SOTW = protos.type('envoy.service.discovery.v3.DiscoveryResponse');
const DELTA = protos.type('envoy.service.discovery.v3.DeltaDiscoveryResponse');

function viaProtobufjs(t: typeof SOTW, obj: Record<string, unknown>): Buffer {
  return Buffer.from(t.encode(t.fromObject(obj)).finish());
}

// Strings with multi-byte UTF-8 and lengths past one varint byte (> 127) exercise the length prefixes.
const str = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', minLength: 100, maxLength: 300 }));
const bytes = fc.oneof(fc.uint8Array({ maxLength: 4 }), fc.uint8Array({ minLength: 120, maxLength: 20_000 }));
const anyWire = fc.record({ type_url: str, value: bytes });
const controlPlane = fc.option(fc.record({ identifier: str }), { nil: undefined });

describe('response wire encoding', () => {
  it('encodes a DiscoveryResponse to the same bytes as protobufjs', () => {
    fc.assert(
      fc.property(fc.record({ version_info: str, resources: fc.array(anyWire, { maxLength: 5 }), type_url: str, nonce: str, control_plane: controlPlane }), (r) => {
        const msg = r.control_plane === undefined ? { ...r, control_plane: undefined } : r;
        if (msg.control_plane === undefined) delete (msg as Record<string, unknown>).control_plane;
        assert.ok(isSotwResponseWire(msg));
        assert.deepEqual(encodeSotwResponse(msg), viaProtobufjs(SOTW, msg));
      }),
      { numRuns: 200 },
    );
  });

  it('encodes a DeltaDiscoveryResponse to the same bytes as protobufjs', () => {
    fc.assert(
      fc.property(
        fc.record({
          system_version_info: str,
          resources: fc.array(fc.record({ name: str, version: str, resource: anyWire }), { maxLength: 4 }),
          type_url: str,
          nonce: str,
          removed_resources: fc.array(str, { maxLength: 4 }),
        }),
        (r) => {
          assert.ok(isDeltaResponseWire(r));
          assert.deepEqual(encodeDeltaResponse(r), viaProtobufjs(DELTA, r));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('decodes back to the message that was written', () => {
    const value = Buffer.from('cluster bytes');
    const msg = { version_info: '7', resources: [{ type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster', value }], type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster', nonce: 'n-1', control_plane: { identifier: 'meltemi' } };
    const decoded = SOTW.toObject(SOTW.decode(encodeSotwResponse(msg)), { bytes: Buffer }) as Record<string, unknown>;
    assert.equal(decoded.version_info, '7');
    assert.equal(decoded.nonce, 'n-1');
    assert.deepEqual((decoded.resources as { value: Buffer }[]).map((a) => Buffer.from(a.value).toString()), ['cluster bytes']);
    assert.deepEqual(decoded.control_plane, { identifier: 'meltemi' });
  });

  it('leaves messages of any other shape to protobufjs', () => {
    assert.equal(isSotwResponseWire({ version_info: '1', resources: [], type_url: 't', nonce: 'n', canary: true }), false);
    assert.equal(isSotwResponseWire({ versionInfo: '1', resources: [], typeUrl: 't', nonce: 'n' }), false);
    assert.equal(isDeltaResponseWire({ system_version_info: '1', resources: [], type_url: 't', nonce: 'n' }), false);
  });
});
