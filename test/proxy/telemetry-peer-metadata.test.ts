import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_EXCHANGE_KEYS,
  MAX_PEER_HEADER_CHARS,
  PeerMetadataDecoder,
  canonicalRevision,
  canonicalService,
  decodePeerMetadata,
  encodePeerMetadata,
  localPeerMetadata,
  peerInfoFromNodeMetadata,
} from '../../src/proxy/telemetry/peer-metadata.js';
import { xdsNode } from '../../src/proxy/bootstrap.js';

// --- an independent protobuf wire reader, to check our bytes without trusting protobufjs ---------

interface WireField {
  field: number;
  bytes?: Buffer;
  varint?: number;
}

function readVarint(b: Buffer, pos: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    const byte = b[pos++]!;
    v += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [v, pos];
    shift += 7;
  }
}

function wireFields(b: Buffer): WireField[] {
  const out: WireField[] = [];
  let pos = 0;
  while (pos < b.length) {
    const [tag, p1] = readVarint(b, pos);
    const wire = tag & 7;
    if (wire === 2) {
      const [len, p2] = readVarint(b, p1);
      out.push({ field: tag >>> 3, bytes: b.subarray(p2, p2 + len) });
      pos = p2 + len;
    } else if (wire === 0) {
      const [v, p2] = readVarint(b, p1);
      out.push({ field: tag >>> 3, varint: v });
      pos = p2;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

/** Struct bytes → [key, Value bytes] in wire order. */
function structEntries(b: Buffer): Array<[string, Buffer]> {
  return wireFields(b).map((f) => {
    assert.equal(f.field, 1, 'Struct has only field 1 (fields)');
    const entry = wireFields(f.bytes!);
    assert.deepEqual(
      entry.map((e) => e.field),
      [1, 2],
      'a map entry is key then value',
    );
    return [entry[0]!.bytes!.toString('utf8'), entry[1]!.bytes!];
  });
}

const bookinfoNode = () =>
  xdsNode({
    type: 'sidecar',
    ips: ['10.44.0.12'],
    podName: 'reviews-v2-7bf8c9648f-xk2fj',
    namespace: 'bookinfo',
    labels: { version: 'v2', app: 'reviews', 'pod-template-hash': '7bf8c9648f', 'security.istio.io/tlsMode': 'istio' },
    workloadName: 'reviews-v2',
    serviceAccount: 'bookinfo-reviews',
    meshId: 'cluster.local',
    clusterId: 'Kubernetes',
  });

test('encodes a Struct byte for byte as protobuf’s deterministic serializer does', () => {
  // Struct{fields: {"NAME": Value{string_value: "a"}}}, assembled by hand from the wire format:
  // 0a 0b (field 1, 11 bytes) · 0a 04 "NAME" (key) · 12 03 (value, 3 bytes) · 1a 01 "a" (string_value).
  assert.equal(Buffer.from(encodePeerMetadata({ NAME: 'a' }), 'base64').toString('hex'), '0a0b0a044e414d4512031a0161');
  assert.equal(encodePeerMetadata({ NAME: 'a' }), 'CgsKBE5BTUUSAxoBYQ==');
});

test('map entries are sorted by key at every level, whatever order the metadata lists them in', () => {
  const a = encodePeerMetadata({ WORKLOAD_NAME: 'w', NAMESPACE: 'ns', LABELS: { version: 'v1', app: 'x', 'app.kubernetes.io/name': 'y' }, NAME: 'p' });
  const b = encodePeerMetadata({ NAME: 'p', LABELS: { 'app.kubernetes.io/name': 'y', app: 'x', version: 'v1' }, NAMESPACE: 'ns', WORKLOAD_NAME: 'w' });
  assert.equal(a, b);
  const top = structEntries(Buffer.from(a, 'base64'));
  assert.deepEqual(
    top.map(([k]) => k),
    ['LABELS', 'NAME', 'NAMESPACE', 'WORKLOAD_NAME'],
  );
  const labelsValue = wireFields(top[0]![1]);
  assert.equal(labelsValue[0]!.field, 5, 'LABELS is a struct_value');
  assert.deepEqual(
    structEntries(labelsValue[0]!.bytes!).map(([k]) => k),
    ['app', 'app.kubernetes.io/name', 'version'],
  );
});

test('only the exchanged keys are sent: EXCHANGE_KEYS when the node names them, else Istio’s default list', () => {
  const node = bookinfoNode();
  const keys = structEntries(Buffer.from(encodePeerMetadata(node.metadata), 'base64')).map(([k]) => k);
  assert.ok(!keys.includes('INTERCEPTION_MODE'), 'INTERCEPTION_MODE is not an exchange key');
  for (const k of keys) assert.ok(DEFAULT_EXCHANGE_KEYS.includes(k));
  assert.deepEqual(keys, ['CLUSTER_ID', 'INSTANCE_IPS', 'LABELS', 'MESH_ID', 'NAME', 'NAMESPACE', 'SERVICE_ACCOUNT', 'WORKLOAD_NAME']);
  const only = structEntries(Buffer.from(encodePeerMetadata({ ...node.metadata, EXCHANGE_KEYS: 'NAME, NAMESPACE,,' }), 'base64')).map(([k]) => k);
  assert.deepEqual(only, ['NAME', 'NAMESPACE']);
});

test('our identity round-trips: encode once per config, decode on the peer = the same PeerInfo', () => {
  const node = bookinfoNode();
  const local = localPeerMetadata(node);
  assert.equal(local.id, 'sidecar~10.44.0.12~reviews-v2-7bf8c9648f-xk2fj.bookinfo~bookinfo.svc.cluster.local');
  const decoded = new PeerMetadataDecoder().decode(local.header);
  assert.deepEqual(decoded, local.info);
  assert.deepEqual(local.info, {
    name: 'reviews-v2-7bf8c9648f-xk2fj',
    workloadName: 'reviews-v2',
    namespace: 'bookinfo',
    labels: Object.assign(Object.create(null), { version: 'v2', app: 'reviews', 'pod-template-hash': '7bf8c9648f', 'security.istio.io/tlsMode': 'istio' }),
    app: 'reviews',
    version: 'v2',
    serviceAccount: 'bookinfo-reviews',
    clusterId: 'Kubernetes',
    meshId: 'cluster.local',
    canonicalService: 'reviews',
    canonicalRevision: 'v2',
  });
  assert.ok(Object.isFrozen(decoded) && Object.isFrozen(decoded!.labels));
  assert.equal(decoded!.principal, undefined, 'a header never vouches for a principal');
});

test('unpadded base64 decodes too (Envoy decodes without padding)', () => {
  const h = encodePeerMetadata({ NAME: 'a' });
  assert.equal(decodePeerMetadata(h.replace(/=+$/, ''))?.name, 'a');
});

test('garbage headers decode to undefined without throwing', () => {
  const cases = [
    'not base64!!',
    'CgsKBE5BTUUSAxoBYQ=', // bad padding
    'CgsKBE5BTUUSAxoB', // truncated message
    'AAAA', // field number 0
    '////', // invalid wire type
    '=',
    'Cg', // a length prefix with no body
    Buffer.from('{"NAME":"a"}').toString('base64'), // JSON, not protobuf
    encodePeerMetadata({ INTERCEPTION_MODE: 'REDIRECT' }), // a Struct without identity
  ];
  for (const h of cases) assert.equal(decodePeerMetadata(h), undefined, h);
  // Random bytes, many lengths: never a throw.
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    const bytes = Buffer.alloc(1 + (i % 200));
    for (let j = 0; j < bytes.length; j++) bytes[j] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    assert.doesNotThrow(() => decodePeerMetadata(bytes.toString('base64')));
  }
});

test('nesting past protobuf’s recursion limit is refused; moderate nesting elsewhere is fine', () => {
  const nested = (depth: number): Record<string, unknown> => {
    let v: Record<string, unknown> = { leaf: 'x' };
    for (let i = 0; i < depth; i++) v = { k: v };
    return v;
  };
  // Our encoder caps its own input depth, so build deep bytes by splicing: encode shallow levels and wrap.
  assert.equal(decodePeerMetadata(encodePeerMetadata({ NAME: 'p', LABELS: { app: 'a' }, PLATFORM_METADATA: nested(20) }))?.name, 'p');
  let value = Buffer.from([0x1a, 0x01, 0x61]); // Value{string_value: "a"}
  const len = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), varint(body.length), body]);
  for (let i = 0; i < 60; i++) value = len(0x2a, len(0x0a, Buffer.concat([len(0x0a, Buffer.from('k')), len(0x12, value)])));
  const top = Buffer.concat([len(0x0a, Buffer.concat([len(0x0a, Buffer.from('NAME')), len(0x12, Buffer.from([0x1a, 0x01, 0x70]))])), len(0x0a, Buffer.concat([len(0x0a, Buffer.from('Z')), len(0x12, value)]))]);
  assert.equal(decodePeerMetadata(top.toString('base64')), undefined);
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

test('oversized headers are refused unread and never cached', () => {
  const decoder = new PeerMetadataDecoder();
  const big = encodePeerMetadata({ NAME: 'p', LABELS: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`label-${i}`, 'x'.repeat(20)])) });
  assert.ok(big.length > MAX_PEER_HEADER_CHARS);
  assert.equal(decoder.decode(big), undefined);
  assert.equal(decoder.size, 0);
  // The same identity within the limit still works afterwards.
  assert.equal(decoder.decode(encodePeerMetadata({ NAME: 'p' }))?.name, 'p');
});

test('identity strings longer than Kubernetes allows make the peer unknown', () => {
  assert.equal(decodePeerMetadata(encodePeerMetadata({ NAME: 'p', WORKLOAD_NAME: 'w'.repeat(400) })), undefined);
  assert.equal(decodePeerMetadata(encodePeerMetadata({ NAME: 'p', LABELS: { app: 'a'.repeat(400) } })), undefined);
  assert.equal(decodePeerMetadata(encodePeerMetadata({ NAME: 'p', LABELS: { ['k'.repeat(400)]: 'v' } })), undefined);
  assert.equal(decodePeerMetadata(encodePeerMetadata({ NAME: 'p', WORKLOAD_NAME: 'w'.repeat(253) }))?.workloadName.length, 253);
});

test('a peer naming keys __proto__ or constructor pollutes nothing', () => {
  const header = encodePeerMetadata({ NAME: 'p', LABELS: JSON.parse('{"__proto__": "x", "constructor": "y", "app": "a"}') as Record<string, unknown> });
  const info = decodePeerMetadata(header)!;
  assert.equal(info.app, 'a');
  assert.equal(Object.getPrototypeOf(info.labels), null);
  assert.equal(({} as Record<string, unknown>).x, undefined);
  assert.equal(info.labels.constructor, 'y');
  assert.equal(info.canonicalService, 'a');
});

test('non-string values read as empty, as protobuf’s string_value() does', () => {
  const info = decodePeerMetadata(encodePeerMetadata({ NAME: 'p', NAMESPACE: 42, LABELS: { app: true, version: 'v1' } }))!;
  assert.equal(info.namespace, '');
  assert.equal(info.app, '');
  assert.equal(info.version, 'v1');
});

test('the decoder cache is keyed by the header, returns the same object, and stays bounded', () => {
  const decoder = new PeerMetadataDecoder({ maxEntries: 8 });
  const h = encodePeerMetadata({ NAME: 'p', WORKLOAD_NAME: 'w' });
  const first = decoder.decode(h);
  assert.equal(decoder.decode(h), first, 'a hit returns the cached object');
  for (let i = 0; i < 100; i++) decoder.decode(encodePeerMetadata({ NAME: `pod-${i}` }));
  for (let i = 0; i < 100; i++) decoder.decode(`garbage${i}`);
  assert.ok(decoder.size <= 8, `size ${decoder.size}`);
  assert.equal(decoder.decode(encodePeerMetadata({ NAME: 'pod-99' }))?.name, 'pod-99');
  assert.equal(decoder.decode(undefined), undefined);
  assert.equal(decoder.decode(''), undefined);
});

test('canonical service and revision follow Istio’s label precedence', () => {
  const labels = (o: Record<string, string>) => Object.assign(Object.create(null) as Record<string, string>, o);
  const cases: Array<[Record<string, string>, string, string]> = [
    [{ 'service.istio.io/canonical-name': 'cn', 'app.kubernetes.io/name': 'kn', app: 'a', 'service.istio.io/canonical-revision': 'cr', 'app.kubernetes.io/version': 'kv', version: 'v' }, 'cn', 'cr'],
    [{ 'app.kubernetes.io/name': 'kn', app: 'a', 'app.kubernetes.io/version': 'kv', version: 'v' }, 'kn', 'kv'],
    [{ app: 'a', version: 'v' }, 'a', 'v'],
    [{}, 'workload', 'latest'],
    // Present but empty still wins (Go's map lookup with ok), as in Istio's injector.
    [{ 'service.istio.io/canonical-name': '', app: 'a', version: '' }, '', ''],
  ];
  for (const [l, svc, rev] of cases) {
    assert.equal(canonicalService(labels(l), 'workload'), svc, JSON.stringify(l));
    assert.equal(canonicalRevision(labels(l)), rev, JSON.stringify(l));
  }
  const info = peerInfoFromNodeMetadata({ WORKLOAD_NAME: 'ratings-v1', LABELS: { 'app.kubernetes.io/name': 'ratings' } });
  assert.equal(info.canonicalService, 'ratings');
  assert.equal(info.canonicalRevision, 'latest');
  assert.equal(info.app, '', '*_app reads only the `app` label, as Istio 1.6');
});
