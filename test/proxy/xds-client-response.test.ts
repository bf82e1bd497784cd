// What the xDS client refuses in a response (and so NACKs): undecodable bytes, wrong types, nameless or duplicate resources, too many; and what it keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEnvelope, decodeResources, type RawResource, type ResponseEnvelope } from '../../src/proxy/xds-response.js';
import { encodeResource } from '../../src/xds/encode.js';
import { envoyProtos } from '../../src/xds/protos.js';
import { TypeUrl } from '../../src/xds/types.js';

const CDS = TypeUrl.Cluster;

function clusterBytes(name: string, timeout = '1s'): Buffer {
  return encodeResource({ name, typeUrl: CDS, resource: { name, type: 'EDS', edsClusterConfig: { edsConfig: { ads: {} } }, connectTimeout: { seconds: parseInt(timeout), nanos: 0 } } });
}

function sotw(resources: RawResource[], typeUrl: string = CDS): ResponseEnvelope {
  return { typeUrl, nonce: 'n1', version: '1', resources, removed: [] };
}

/** A SotW DiscoveryResponse carrying `values` as Cluster Anys, as a Node Buffer (what grpc-js hands over). */
function sotwBytes(values: Uint8Array[]): Buffer {
  const t = envoyProtos().type('envoy.service.discovery.v3.DiscoveryResponse');
  return Buffer.from(t.encode(t.fromObject({ version_info: '1', type_url: CDS, nonce: 'n', resources: values.map((value) => ({ type_url: CDS, value })) })).finish());
}

const raw = (bytes: Uint8Array, typeUrl: string = CDS, name?: string): RawResource => ({ typeUrl, bytes, version: name ? 'v' : '', ...(name !== undefined ? { name } : {}) });

test('resources decode to frozen Envoy JSON, named by their own name', () => {
  const r = decodeResources(sotw([raw(clusterBytes('a')), raw(clusterBytes('b'))]), { maxResources: 10 });
  assert.ok(r.ok);
  assert.deepEqual([...r.entries.keys()], ['a', 'b']);
  const a = r.entries.get('a')!.resource;
  assert.equal(a['@type'], CDS);
  assert.equal(a.connect_timeout, '1s');
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.eds_cluster_config));
});

test('a load assignment is named by cluster_name', () => {
  const bytes = encodeResource({ name: 'outbound|80||x', typeUrl: TypeUrl.ClusterLoadAssignment, resource: { clusterName: 'outbound|80||x', endpoints: [] } });
  const r = decodeResources(sotw([raw(bytes, TypeUrl.ClusterLoadAssignment)], TypeUrl.ClusterLoadAssignment), { maxResources: 10 });
  assert.ok(r.ok);
  assert.deepEqual([...r.entries.keys()], ['outbound|80||x']);
});

test('unchanged bytes keep the object already held (and its identity)', () => {
  const first = decodeResources(sotw([raw(clusterBytes('a')), raw(clusterBytes('b'))]), { maxResources: 10 });
  assert.ok(first.ok);
  const held = new Map([...first.entries.values()].map((e) => [e.digest, e]));
  const second = decodeResources(sotw([raw(clusterBytes('a')), raw(clusterBytes('b', '2s'))]), { maxResources: 10, heldByDigest: held });
  assert.ok(second.ok);
  assert.equal(second.entries.get('a')!.resource, first.entries.get('a')!.resource);
  assert.notEqual(second.entries.get('b')!.resource, first.entries.get('b')!.resource);
  assert.equal(second.entries.get('b')!.resource.connect_timeout, '2s');
});

function refused(envelope: ResponseEnvelope, pattern: RegExp, maxResources = 10): void {
  const r = decodeResources(envelope, { maxResources });
  assert.equal(r.ok, false, 'refused');
  if (!r.ok) assert.match(r.error, pattern);
}

test('the same name twice is refused', () => {
  refused(sotw([raw(clusterBytes('a')), raw(clusterBytes('a', '2s'))]), /"a" appears twice/);
});

test('a resource of another type than the response is refused', () => {
  refused(sotw([raw(clusterBytes('a'), TypeUrl.Listener)]), /has type .*Listener in a response of type .*Cluster/);
});

test('bytes that are not the message are refused, not thrown; so are truncated ones', () => {
  refused(sotw([raw(new Uint8Array([0x08, 0xff]))]), /resource 0 could not be decoded/);
  // Field 1 (name) announces 5 bytes and carries 1: a Buffer reader would read "a" and go on.
  const clamped = decodeEnvelope('sotw', sotwBytes([Buffer.from([0x0a, 0x05, 0x61])]));
  refused(clamped, /resource 0 could not be decoded/);
});

test('a resource without a name is refused', () => {
  const t = envoyProtos().type('envoy.config.cluster.v3.Cluster');
  refused(sotw([raw(t.encode(t.fromObject({ type: 'EDS' })).finish())]), /resource 0 has no name/);
});

test('more resources than the limit are refused before any is decoded', () => {
  const garbage = raw(Buffer.from([0xff]));
  refused(sotw(Array.from({ length: 11 }, () => garbage)), /11 resources and removals, more than the limit of 10/);
});

test('Delta: the wrapper name must match the resource, and a name cannot be both updated and removed', () => {
  refused({ typeUrl: CDS, nonce: 'n', version: '', resources: [raw(clusterBytes('a'), CDS, 'b')], removed: [] }, /"b" carries a message named "a"/);
  refused({ typeUrl: CDS, nonce: 'n', version: '', resources: [raw(clusterBytes('a'), CDS, 'a')], removed: ['a'] }, /both updated and removed/);
  const ok = decodeResources({ typeUrl: CDS, nonce: 'n', version: '', resources: [raw(clusterBytes('a'), CDS, 'a')], removed: ['gone', 'gone'] }, { maxResources: 10 });
  assert.ok(ok.ok);
  assert.deepEqual(ok.removed, ['gone']);
  assert.equal(ok.entries.get('a')!.version, 'v', 'the server version is kept for initial_resource_versions');
});

test('envelopes: SotW and Delta responses decode; garbage throws (the stream is then restarted)', () => {
  const sotwType = envoyProtos().type('envoy.service.discovery.v3.DiscoveryResponse');
  const bytes = sotwType.encode(sotwType.fromObject({ version_info: '7', type_url: CDS, nonce: 'abc', resources: [{ type_url: CDS, value: clusterBytes('a') }] })).finish();
  const env = decodeEnvelope('sotw', bytes);
  assert.equal(env.version, '7');
  assert.equal(env.nonce, 'abc');
  assert.equal(env.resources.length, 1);
  assert.equal(env.resources[0]!.name, undefined);

  const deltaType = envoyProtos().type('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  const dbytes = deltaType
    .encode(deltaType.fromObject({ system_version_info: '8', type_url: CDS, nonce: 'def', resources: [{ name: 'a', version: 'h1', resource: { type_url: CDS, value: clusterBytes('a') } }], removed_resources: ['b'] }))
    .finish();
  const denv = decodeEnvelope('delta', dbytes);
  assert.deepEqual([denv.nonce, denv.resources[0]!.name, denv.resources[0]!.version, denv.removed], ['def', 'a', 'h1', ['b']]);

  assert.throws(() => decodeEnvelope('sotw', Buffer.from([0x12, 0x05, 0x61])), 'a truncated envelope');
});
