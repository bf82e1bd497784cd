// The schema-driven wire codec (src/xds/wire) against protobufjs: same JSON for real and random messages, the same refusals of malformed bytes, and a strict encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import protobuf from 'protobufjs';
import { renderWireSchema } from '../../scripts/gen-wire-schema.js';
import { isMeshError } from '../../src/shared/errors.js';
import { decodeMessage, decodeResource, encodeResource } from '../../src/xds/encode.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { gatewayCredentialNames } from '../../src/xds/generators/sds.js';
import { envoyProtos } from '../../src/xds/protos.js';
import { TypeUrl, type XdsResource } from '../../src/xds/types.js';
import { decodeWireMessage, decodeWireResource } from '../../src/xds/wire/decode.js';
import { encodeWireMessage } from '../../src/xds/wire/encode.js';
import { MESSAGE_COUNT, findMessage, messageDesc } from '../../src/xds/wire/schema.js';
import { encodePeerMetadata } from '../../src/proxy/telemetry/peer-metadata.js';
import { xdsNode } from '../../src/proxy/bootstrap.js';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';
import { makeCertificates } from '../proxy/tls-fixtures.js';
import { seeded } from '../proxy/upstream-fixtures.js';
import { FIXTURES, docs, testMesh } from './mesh.js';

const CLUSTER = 'envoy.config.cluster.v3.Cluster';

/** Runs both decoders on the same bytes: both throw, or both return deep-strict-equal JSON. */
function assertSameDecode(typeName: string, bytes: Uint8Array, label: string): void {
  let expected: unknown;
  let actual: unknown;
  let expectedError: unknown;
  let actualError: unknown;
  try {
    expected = decodeMessage(typeName, bytes);
  } catch (e) {
    expectedError = e;
  }
  try {
    actual = decodeWireMessage(typeName, bytes);
  } catch (e) {
    actualError = e;
  }
  if (expectedError !== undefined || actualError !== undefined) {
    assert.ok(expectedError !== undefined && actualError !== undefined, `${label}: protobufjs ${expectedError ? `threw ${String(expectedError)}` : 'decoded'}, the wire codec ${actualError ? `threw ${String(actualError)}` : 'decoded'}`);
    return;
  }
  assert.deepStrictEqual(actual, expected, label);
}

// ---- the schema --------------------------------------------------------------------------------

test('the committed wire schema is what the protos generate today (run npm run gen:wire-schema)', () => {
  const text = renderWireSchema();
  assert.equal(readFileSync('src/xds/wire/schema.generated.ts', 'utf8'), text);
  assert.ok(text.length < 300_000, `schema source is ${text.length} bytes`);
});

test('the schema holds every message type envoyProtos() loads, plus the Istio CA messages', () => {
  const names = new Set<string>();
  for (let i = 0; i < MESSAGE_COUNT; i++) names.add(messageDesc(i).name);
  let count = 0;
  (function walk(ns: protobuf.NamespaceBase): void {
    for (const n of ns.nestedArray) {
      if (n instanceof protobuf.Type) {
        count++;
        assert.ok(names.has(n.fullName.slice(1)), n.fullName);
      }
      if (n instanceof protobuf.Namespace || n instanceof protobuf.Type) walk(n);
    }
  })(envoyProtos().root);
  assert.equal(count, envoyProtos().typeCount);
  assert.ok(names.has('istio.v1.auth.IstioCertificateRequest'));
  assert.ok(names.has('istio.v1.auth.IstioCertificateResponse'));
});

test('the wire modules import no protobufjs and nothing outside node:, src/shared and src/xds/wire', () => {
  for (const file of readdirSync('src/xds/wire')) {
    const text = readFileSync(`src/xds/wire/${file}`, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/g)) {
      const spec = m[1]!;
      assert.ok(spec.startsWith('node:') || spec.startsWith('./') || spec.startsWith('../../shared/'), `${file} imports ${spec}`);
    }
    assert.ok(!/import\(/.test(text), `${file}: no dynamic imports`);
  }
});

// ---- real resources ----------------------------------------------------------------------------

/** Every resource the generators produce for Bookinfo with every networking fixture applied: each sidecar and the ingress gateway, its credentials included. */
function realResources(): XdsResource[] {
  const m = testMesh();
  for (const file of readdirSync(FIXTURES).sort()) {
    for (const d of docs(`${FIXTURES}/${file}`)) {
      d.metadata.namespace ??= 'bookinfo';
      m.store.apply(d);
    }
  }
  const certs = makeCertificates(['httpbin.example.com', 'bookinfo.example.com']);
  const b64 = (b: Buffer) => b.toString('base64');
  const httpbin = certs.get('httpbin.example.com')!;
  const bookinfo = certs.get('bookinfo.example.com')!;
  applyYaml(
    m.store,
    [
      `apiVersion: v1\nkind: Secret\nmetadata: {name: httpbin-credential, namespace: istio-system}\ntype: kubernetes.io/tls\ndata: {tls.crt: ${b64(httpbin.cert)}, tls.key: ${b64(httpbin.key)}, ca.crt: ${b64(bookinfo.cert)}}`,
      `apiVersion: v1\nkind: Secret\nmetadata: {name: bookinfo-credential, namespace: istio-system}\ndata: {cert: ${b64(bookinfo.cert)}, key: ${b64(bookinfo.key)}, cacert: ${b64(httpbin.cert)}}`,
    ].join('\n---\n'),
  );
  const out: XdsResource[] = [];
  const proxies = [...Object.keys(m.ips).map((d) => m.sidecar(d)), m.gateway()];
  for (const p of proxies) out.push(...m.config(p).resources);
  const gw = m.gateway();
  const push = pushOf(m.store);
  const names = gatewayCredentialNames(gw, push);
  out.push(...envoyGenerators[TypeUrl.Secret]!(gw, push, names));
  return out;
}

let realCache: XdsResource[] | undefined;
const real = (): XdsResource[] => (realCache ??= realResources());

test('every generated Listener, Cluster, ClusterLoadAssignment, RouteConfiguration and Secret decodes as decodeResource does', () => {
  const counts = new Map<string, number>();
  for (const r of real()) {
    const bytes = encodeResource(r);
    assert.deepStrictEqual(decodeWireResource(r.typeUrl, bytes), decodeResource(r.typeUrl, bytes), `${r.typeUrl} ${r.name}`);
    counts.set(r.typeUrl, (counts.get(r.typeUrl) ?? 0) + 1);
  }
  for (const t of [TypeUrl.Listener, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.RouteConfiguration, TypeUrl.Secret]) {
    assert.ok((counts.get(t) ?? 0) > 0, `no ${t} generated`);
  }
});

test('the same bytes as a Uint8Array view (what the xDS client hands over) decode the same', () => {
  const r = real().find((x) => x.typeUrl === TypeUrl.Listener)!;
  const bytes = encodeResource(r);
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.deepStrictEqual(decodeWireResource(r.typeUrl, view), decodeResource(r.typeUrl, view));
});

test('rawAny leaves a DiscoveryResponse\'s resources as views of their bytes, for the client to digest and decode one by one', () => {
  const clusters = real().filter((r) => r.typeUrl === TypeUrl.Cluster).slice(0, 5);
  const encoded = clusters.map((r) => encodeResource(r));
  const typeName = 'envoy.service.discovery.v3.DiscoveryResponse';
  const response = Buffer.from(envoyProtos().type(typeName).encode({ version_info: 'v1', type_url: TypeUrl.Cluster, nonce: 'n1', resources: encoded.map((value) => ({ type_url: TypeUrl.Cluster, value })) }).finish());
  assertSameDecode(typeName, response, 'response');
  const envelope = decodeWireMessage(typeName, response, { rawAny: true }) as { version_info: string; nonce: string; resources: Array<{ type_url: string; value: Buffer }> };
  assert.equal(envelope.version_info, 'v1');
  assert.equal(envelope.nonce, 'n1');
  assert.equal(envelope.resources.length, encoded.length);
  envelope.resources.forEach((a, i) => {
    assert.equal(a.type_url, TypeUrl.Cluster);
    assert.ok(a.value.equals(encoded[i]!));
    assert.equal(a.value.buffer, response.buffer, 'a view, not a copy');
    assert.deepStrictEqual(decodeWireResource(a.type_url, a.value), decodeResource(TypeUrl.Cluster, encoded[i]!));
  });
});

// ---- random messages of every type ------------------------------------------------------------

interface LongStatics {
  fromString(s: string, unsigned: boolean): unknown;
}
const Long = protobuf.util.Long as unknown as LongStatics;

const STRINGS = ['', 'a', 'hello world', 'ümlaut', '日本語', '😀 emoji', '10', '9', 'outbound|9080||reviews.bookinfo.svc.cluster.local'];
const KEYS = ['a', 'b', '10', '9', '0', 'ümlaut', 'k-1', '😀', 'ｚ'];
const INT64 = ['0', '1', '-1', '9223372036854775807', '-9223372036854775808', '4294967296', '-4294967297', '9007199254740993', '-9007199254740993', '123456789'];
const UINT64 = ['0', '1', '18446744073709551615', '4294967295', '4294967296', '9007199254740993', '9223372036854775808'];
const DOUBLES = [0, -0, 0.1, -1e-300, NaN, Infinity, -Infinity, 1.7976931348623157e308, 5e-324, 42];
const FLOATS = [0, -0, 1.5, -2.25, NaN, Infinity, -Infinity, 3.4028234663852886e38, Math.fround(0.1)];
const INT32 = [0, 1, -1, 2147483647, -2147483648, 150, -150];
const UINT32 = [0, 1, 4294967295, 2147483648, 300];
const MAX_GEN_DEPTH = 3;

class RandomMessages {
  private readonly envoyTypes: protobuf.Type[] = [];

  /**
   * `canonical`: Durations and Timestamps within proto3 JSON's ranges (seconds and nanos of one
   * sign; years 0001–9999), so that the JSON printed for them parses back.
   */
  constructor(
    private readonly rnd: () => number,
    root: protobuf.Root,
    private readonly canonical = false,
  ) {
    (function walk(ns: protobuf.NamespaceBase, out: protobuf.Type[]): void {
      for (const n of ns.nestedArray) {
        if (n instanceof protobuf.Type) out.push(n);
        if (n instanceof protobuf.Namespace || n instanceof protobuf.Type) walk(n, out);
      }
    })(root, this.envoyTypes);
  }

  get types(): readonly protobuf.Type[] {
    return this.envoyTypes;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)]!;
  }

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private scalar(type: string, field: protobuf.Field): unknown {
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Enum) {
      if (this.rnd() < 0.2) return this.pick([12345, -7, 2147483647]);
      return this.pick(Object.values(rt.values));
    }
    switch (type) {
      case 'double':
        return this.rnd() < 0.5 ? this.pick(DOUBLES) : (this.rnd() - 0.5) * 1e6;
      case 'float':
        return this.rnd() < 0.5 ? this.pick(FLOATS) : Math.fround((this.rnd() - 0.5) * 1e4);
      case 'int32':
      case 'sint32':
      case 'sfixed32':
        return this.rnd() < 0.5 ? this.pick(INT32) : this.int(2 ** 32) - 2 ** 31;
      case 'uint32':
      case 'fixed32':
        return this.rnd() < 0.5 ? this.pick(UINT32) : this.int(2 ** 32);
      case 'int64':
      case 'sint64':
      case 'sfixed64':
        return Long.fromString(this.rnd() < 0.7 ? this.pick(INT64) : String(this.int(2 ** 40) - 2 ** 39), false);
      case 'uint64':
      case 'fixed64':
        return Long.fromString(this.rnd() < 0.7 ? this.pick(UINT64) : String(this.int(2 ** 40)), true);
      case 'bool':
        return this.rnd() < 0.5;
      case 'string':
        return this.rnd() < 0.7 ? this.pick(STRINGS) : Math.random().toString(36).slice(2, 2 + this.int(12));
      case 'bytes':
        return Uint8Array.from({ length: this.int(9) }, () => this.int(256));
      default:
        throw new Error(`no generator for ${type}`);
    }
  }

  private value(field: protobuf.Field, depth: number, type = field.type): unknown {
    const rt = field.resolvedType;
    return rt instanceof protobuf.Type ? this.message(rt, depth + 1) : this.scalar(type, field);
  }

  /** A random valid object of `type` in protobufjs' form (proto names, Longs, Uint8Arrays), for `type.encode`. */
  message(type: protobuf.Type, depth = 0): Record<string, unknown> {
    switch (type.fullName) {
      case '.google.protobuf.Any':
        return this.any(depth);
      case '.google.protobuf.Duration': {
        if (!this.canonical) break;
        const sign = this.rnd() < 0.3 ? -1 : 1;
        return { seconds: Long.fromString(String(sign * this.int(315576000000)), false), nanos: sign * (this.rnd() < 0.5 ? 0 : this.int(1e9)) };
      }
      case '.google.protobuf.Timestamp':
        if (this.canonical) return { seconds: Long.fromString(String(this.int(3.1e11) - 6e10), false), nanos: this.int(1e9) };
        // Inside Date's range but for a rare extreme (then both decoders refuse it).
        return this.rnd() < 0.05
          ? { seconds: Long.fromString('9223372036854775807', false) }
          : { seconds: Long.fromString(String(this.int(2e11) - 1e11), false), nanos: this.rnd() < 0.5 ? 0 : this.int(1e9) };
    }
    const out: Record<string, unknown> = {};
    const chosen = new Map<protobuf.OneOf, protobuf.Field | undefined>();
    for (const o of type.oneofsArray) chosen.set(o, this.rnd() < 0.7 ? this.pick(o.fieldsArray) : undefined);
    for (const f of type.fieldsArray) {
      f.resolve();
      if (f.partOf) {
        if (chosen.get(f.partOf) !== f) continue;
      } else if (!f.required && this.rnd() < 0.45) continue;
      const isMessage = f.resolvedType instanceof protobuf.Type;
      if (isMessage && depth >= MAX_GEN_DEPTH && !f.required) continue;
      if (f.map) {
        const keyType = (f as unknown as protobuf.MapField).keyType;
        // 64-bit keys: protobufjs prints its binary "hash" strings; see the dedicated test below.
        if (keyType !== 'string') continue;
        const m: Record<string, unknown> = {};
        for (let i = this.int(4); i > 0; i--) m[this.pick(KEYS)] = this.value(f, depth);
        out[f.name] = m;
      } else if (f.repeated) {
        out[f.name] = Array.from({ length: this.int(4) }, () => this.value(f, depth));
      } else out[f.name] = this.value(f, depth);
    }
    return out;
  }

  /** An Any of a random loaded type (its bytes random too), of an unknown type, or without a type. */
  private any(depth: number): Record<string, unknown> {
    const r = this.rnd();
    if (r < 0.15 || depth >= MAX_GEN_DEPTH) return { type_url: 'type.googleapis.com/meltemi.test.Unknown', value: Uint8Array.from([8, 1, 18, 1, 120]) };
    if (r < 0.2) return { value: Uint8Array.from([1, 2, 3]) };
    const inner = this.pick(this.envoyTypes);
    return { type_url: `type.googleapis.com/${inner.fullName.slice(1)}`, value: inner.encode(this.message(inner, depth + 1)).finish() };
  }
}

/** Unknown fields of every wire type (field numbers no message uses), appended to a message. */
const UNKNOWN_TAIL = (() => {
  const w = protobuf.Writer.create();
  w.uint32((524287 << 3) | 0).int64(-5);
  w.uint32((524286 << 3) | 1).fixed64(7);
  w.uint32((524285 << 3) | 2).bytes(Uint8Array.from([1, 2, 3]));
  w.uint32((524284 << 3) | 5).fixed32(9);
  return w.finish();
})();

test('random messages of every type in the schema decode as protobufjs + messageJson decode them', () => {
  const { root } = envoyProtos();
  const gen = new RandomMessages(seeded(20240601), root);
  let decoded = 0;
  for (const type of gen.types) {
    const name = type.fullName.slice(1);
    for (let i = 0; i < 4; i++) {
      const obj = gen.message(type);
      let bytes: Uint8Array = type.encode(obj).finish();
      if (i === 3) bytes = Buffer.concat([bytes, UNKNOWN_TAIL]);
      assertSameDecode(name, bytes, `${name} #${i} ${Buffer.from(bytes).toString('hex').slice(0, 400)}`);
      decoded++;
    }
  }
  assert.ok(decoded >= 4 * 590, `${decoded} messages`);
});

test('repeated scalars decode packed, unpacked and mixed, as protobufjs reads them', () => {
  const type = envoyProtos().type('envoy.config.route.v3.RetryPolicy');
  const id = type.fields.retriable_status_codes!.id;
  const w = protobuf.Writer.create();
  w.uint32((id << 3) | 0).uint32(503);
  w.uint32((id << 3) | 0).uint32(502);
  w.uint32((id << 3) | 2).fork().uint32(404).uint32(500).ldelim();
  w.uint32((id << 3) | 0).uint32(1);
  const bytes = w.finish();
  assert.deepStrictEqual(decodeWireMessage('envoy.config.route.v3.RetryPolicy', bytes), { retriable_status_codes: [503, 502, 404, 500, 1] });
  assertSameDecode('envoy.config.route.v3.RetryPolicy', bytes, 'mixed packing');
});

test('an enum number the proto does not name decodes as the number; a known one by name', () => {
  const w = protobuf.Writer.create();
  w.uint32((6 << 3) | 0).int32(77); // lb_policy
  w.uint32((2 << 3) | 0).int32(3); // type: EDS
  const json = decodeWireMessage(CLUSTER, w.finish());
  assert.deepStrictEqual(json, { type: 'EDS', lb_policy: 77 });
});

// ---- where the wire codec is stricter or saner than protobufjs, on purpose ---------------------

const len = (tagByte: number, body: Uint8Array): Buffer => {
  const w = protobuf.Writer.create();
  w.uint32(tagByte).bytes(body);
  return Buffer.from(w.finish());
};

test('a oneof member clears the members before it (last one wins), as protobuf-C++ reads it', () => {
  // Value{number_value: 1, string_value: "x"}: protobufjs keeps both and messageJson prints the number.
  const value = Buffer.from([0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x1a, 0x01, 0x78]);
  assert.equal(decodeWireMessage('google.protobuf.Value', value), 'x');
  // Cluster{type: EDS, cluster_type: {name: "c"}}: only cluster_type stays.
  const cluster = Buffer.concat([Buffer.from([0x10, 0x03]), len((38 << 3) | 2, len(0x0a, Buffer.from('c')))]);
  assert.deepStrictEqual(decodeWireMessage(CLUSTER, cluster), { cluster_type: { name: 'c' } });
  assert.deepStrictEqual(decodeWireMessage(CLUSTER, Buffer.concat([cluster, Buffer.from([0x10, 0x03])])), { type: 'EDS' });
});

test('64-bit map keys decode as decimal strings (protobufjs prints 8-character binary strings)', () => {
  const type = envoyProtos().type('google.api.expr.v1alpha1.SourceInfo');
  const bytes = type.encode({ positions: { '5': 10, '-3': 7 } }).finish();
  assert.deepStrictEqual(decodeWireMessage('google.api.expr.v1alpha1.SourceInfo', bytes), { positions: { '5': 10, '-3': 7 } });
  const theirs = decodeMessage('google.api.expr.v1alpha1.SourceInfo', bytes) as { positions: Record<string, number> };
  assert.deepEqual(Object.values(theirs.positions), [10, 7]);
  assert.ok(Object.keys(theirs.positions).every((k) => k.length === 8), 'protobufjs keys are longToHash strings');
});

test('a Struct key "__proto__" is an own key and leaves the prototype alone', () => {
  const bytes = encodeWireMessage('google.protobuf.Struct', JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'));
  const json = decodeWireMessage('google.protobuf.Struct', bytes);
  assert.equal(Object.getPrototypeOf(json), Object.prototype);
  assert.deepEqual(Object.keys(json), ['__proto__', 'a']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('a known field with an unexpected wire type is skipped as unknown', () => {
  // name (field 1, a string) sent as a varint, then properly.
  const bytes = Buffer.concat([Buffer.from([0x08, 0x05]), len(0x0a, Buffer.from('x'))]);
  assert.deepStrictEqual(decodeWireMessage(CLUSTER, bytes), { name: 'x' });
});

test('an Any naming a type outside envoyProtos() (the CA request) prints as bytes, as decodeResource does', () => {
  const any = Buffer.concat([len(0x0a, Buffer.from('type.googleapis.com/istio.v1.auth.IstioCertificateRequest')), len(0x12, len(0x0a, Buffer.from('csr')))]);
  const response = len(0x12, any); // DiscoveryResponse.resources
  const typeName = 'envoy.service.discovery.v3.DiscoveryResponse';
  assertSameDecode(typeName, response, 'istio Any');
  assert.deepStrictEqual(decodeWireMessage(typeName, response), {
    resources: [{ '@type': 'type.googleapis.com/istio.v1.auth.IstioCertificateRequest', value: Buffer.from([0x0a, 3, 0x63, 0x73, 0x72]).toString('base64') }],
  });
});

test('well-known types print their JSON forms', () => {
  const cases: Array<[string, unknown]> = [
    ['google.protobuf.Duration', '1.500s'],
    ['google.protobuf.Duration', '-0.000001s'],
    ['google.protobuf.Timestamp', '2024-01-01T00:00:00.123Z'],
    ['google.protobuf.Struct', { a: [1, 'x', null, true, { b: {} }], c: {} }],
    ['google.protobuf.Value', [1, [2]]],
    ['google.protobuf.ListValue', []],
    ['google.protobuf.Empty', {}],
    ['google.protobuf.FieldMask', 'a.b,c'],
    ['google.protobuf.UInt64Value', '18446744073709551615'],
    ['google.protobuf.Int64Value', '0'],
    ['google.protobuf.BytesValue', ''],
    ['google.protobuf.DoubleValue', 'NaN'],
    ['google.protobuf.BoolValue', false],
  ];
  for (const [typeName, json] of cases) {
    const bytes = encodeWireMessage(typeName, json);
    assert.deepStrictEqual(decodeWireMessage(typeName, bytes), json, typeName);
    assertSameDecode(typeName, bytes, typeName);
  }
});

// ---- malformed bytes ---------------------------------------------------------------------------

function assertRefused(typeName: string, bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => decodeWireMessage(typeName, bytes),
    (e: unknown) => isMeshError(e, 'MESH_PARSE_ERROR') && pattern.test(e.message),
  );
}

test('malformed bytes are refused with a message saying what and where', () => {
  assertRefused(CLUSTER, Buffer.from([0x0a, 0x05, 0x61, 0x62]), /envoy\.config\.cluster\.v3\.Cluster: length 5 runs past the end of its message \(2 bytes left\) at byte 1/);
  assertRefused(CLUSTER, Buffer.from([0x0e, 0x00]), /invalid wire type 6/);
  assertRefused(CLUSTER, Buffer.from([0x0f, 0x00]), /invalid wire type 7/);
  assertRefused(CLUSTER, Buffer.from([0x9b, 0x06, 0x9c, 0x06]), /group \(wire type 3\)/); // field 99, start/end group
  assertRefused(CLUSTER, Buffer.from([0x00, 0x00]), /field number 0/);
  const unknownVarint = Buffer.from(protobuf.Writer.create().uint32((9999 << 3) | 0).finish());
  assertRefused(CLUSTER, Buffer.concat([unknownVarint, Buffer.alloc(10, 0xff), Buffer.from([0x01])]), /invalid varint \(more than 10 bytes\)/);
  assertRefused(CLUSTER, Buffer.from([0x10, 0x80]), /truncated varint/);
  assertRefused(CLUSTER, Buffer.from([0x0a]), /truncated varint/);
  assertRefused('google.protobuf.DoubleValue', Buffer.from([0x09, 0, 0, 0]), /truncated 64-bit value/);
  // A nested string longer than its message, though within the buffer.
  const nested = Buffer.concat([Buffer.from([0x8a, 0x02, 0x03, 0x0a, 0x05, 0x61]), Buffer.from('bcdefgh')]);
  assertRefused(CLUSTER, nested, /length 5 runs past the end/);
  assert.throws(() => decodeWireMessage('no.such.Type', Buffer.alloc(0)), (e: unknown) => isMeshError(e, 'MESH_USAGE'));
  // A Timestamp beyond a Date's range has no JSON form (protobufjs' path throws a RangeError there).
  const farFuture = Buffer.from(protobuf.Writer.create().uint32(8).int64(Long.fromString('9223372036854775807', false) as number).finish());
  assertRefused('google.protobuf.Timestamp', farFuture, /Timestamp out of range \(9223372036854775807 s\)/);
  assertSameDecode('google.protobuf.Timestamp', farFuture, 'far future');
});

test('messages nested past 100 levels are refused (protoc’s and protobufjs’ limit); 100 are fine', () => {
  const nestedValue = (levels: number): Buffer => {
    let v: Buffer = Buffer.from([0x1a, 0x01, 0x61]);
    for (let i = 0; i < levels; i++) v = len(0x32, len(0x0a, v)); // Value{list_value{values[0]: v}}
    return v;
  };
  // Each level is two messages (Value, ListValue): depth 2n, plus the innermost Value.
  assert.deepStrictEqual(decodeWireMessage('google.protobuf.Value', nestedValue(50)), JSON.parse(`${'['.repeat(50)}"a"${']'.repeat(50)}`));
  assertSameDecode('google.protobuf.Value', nestedValue(50), 'depth 100');
  assertRefused('google.protobuf.Value', nestedValue(51), /nested deeper than 100/);
  assertSameDecode('google.protobuf.Value', nestedValue(51), 'depth 102');
});

/** A Cluster and a Listener of the generated config, the largest of each. */
function largest(typeUrl: string): { name: string; bytes: Buffer } {
  const all = real()
    .filter((r) => r.typeUrl === typeUrl)
    .map((r) => ({ name: r.name, bytes: encodeResource(r) }));
  return all.reduce((a, b) => (b.bytes.length > a.bytes.length ? b : a));
}

test('every truncation of a real Cluster and Listener: both decoders refuse it, or both decode the same', () => {
  for (const [typeUrl, typeName] of [
    [TypeUrl.Cluster, CLUSTER],
    [TypeUrl.Listener, 'envoy.config.listener.v3.Listener'],
  ] as const) {
    const { name, bytes } = largest(typeUrl);
    assert.ok(bytes.length > 200, `${name}: ${bytes.length} bytes`);
    let decodedPrefixes = 0;
    for (let cut = 0; cut <= bytes.length; cut++) {
      // A Uint8Array view: protobufjs' bounds-checked reader (its Buffer reader clamps strings), as the xDS client uses it.
      const prefix = new Uint8Array(bytes.buffer, bytes.byteOffset, cut);
      assertSameDecode(typeName, prefix, `${name} cut at ${cut}/${bytes.length}`);
      try {
        decodeWireMessage(typeName, prefix);
        decodedPrefixes++;
      } catch (e) {
        assert.ok(isMeshError(e, 'MESH_PARSE_ERROR'), `${name} cut at ${cut}: ${String(e)}`);
      }
    }
    assert.ok(decodedPrefixes >= 2, `${name}: some cuts fall on field boundaries`);
  }
});

test('random byte flips of a real Cluster: the wire codec decodes or refuses with MESH_PARSE_ERROR, never anything else', () => {
  const { bytes } = largest(TypeUrl.Cluster);
  const rnd = seeded(99);
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(bytes);
    for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    try {
      decodeWireMessage(CLUSTER, b);
    } catch (e) {
      assert.ok(isMeshError(e, 'MESH_PARSE_ERROR'), `flip #${i}: ${String(e)}`);
    }
  }
});

// ---- the encoder -------------------------------------------------------------------------------

const node = xdsNode({
  type: 'sidecar',
  ips: ['10.44.0.12', 'fd00::12'],
  podName: 'reviews-v2-7bf8c9648f-xk2fj',
  namespace: 'bookinfo',
  labels: { version: 'v2', app: 'reviews', 'pod-template-hash': '7bf8c9648f', 'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': 'reviews' },
  workloadName: 'reviews-v2',
  serviceAccount: 'bookinfo-reviews',
  meshId: 'cluster.local',
  clusterId: 'Kubernetes',
  locality: 'us-east1/us-east1-b/rack-7',
});

const istioNode = {
  id: node.id,
  cluster: node.cluster,
  metadata: {
    ...node.metadata,
    ISTIO_VERSION: '1.6.14',
    EXCHANGE_KEYS: 'NAME,NAMESPACE,INSTANCE_IPS,LABELS,OWNER,PLATFORM_METADATA,WORKLOAD_NAME,MESH_ID,SERVICE_ACCOUNT,CLUSTER_ID',
    APP_CONTAINERS: ['reviews', 'sidecar-helper'],
    POD_PORTS: '[{"name":"http","containerPort":9080,"protocol":"TCP"}]',
    PLATFORM_METADATA: {},
    SDS: 'true',
    HTTP10: true,
    PROXY_CONFIG: { concurrency: 2, drainDuration: '45s', proxyMetadata: { DNS_AGENT: '' }, tracing: null },
  },
  locality: node.locality,
  user_agent_name: 'meltemi-proxy',
  user_agent_version: '0.1.0',
  client_features: ['envoy.lb.does_not_support_overprovisioning'],
};

test('encoder round trip: a DiscoveryRequest with an Istio node decodes (protobufjs) to the same JSON', () => {
  const json = {
    version_info: '2024-06-01T12:00:00Z/42',
    node: istioNode,
    resource_names: ['outbound|9080||reviews.bookinfo.svc.cluster.local', 'outbound|9080|v2|reviews.bookinfo.svc.cluster.local'],
    type_url: TypeUrl.ClusterLoadAssignment,
    response_nonce: 'a1b2c3',
    error_detail: { code: 3, message: 'cluster outbound|9080||reviews: bad lb policy' },
  };
  const typeName = 'envoy.service.discovery.v3.DiscoveryRequest';
  const bytes = encodeWireMessage(typeName, json);
  assert.deepStrictEqual(decodeMessage(typeName, bytes), json);
  assert.deepStrictEqual(decodeWireMessage(typeName, bytes), json);
});

test('encoder round trip: a DeltaDiscoveryRequest', () => {
  const json = {
    node: istioNode,
    type_url: TypeUrl.Cluster,
    resource_names_subscribe: ['*'],
    resource_names_unsubscribe: ['outbound|80||gone.default.svc.cluster.local'],
    initial_resource_versions: { 'outbound|9080||reviews.bookinfo.svc.cluster.local': 'v7', 'inbound|9080||': 'v1' },
    response_nonce: 'n-9',
    error_detail: { code: 3, message: 'refused' },
  };
  const typeName = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';
  const bytes = encodeWireMessage(typeName, json);
  assert.deepStrictEqual(decodeMessage(typeName, bytes), json);
});

test('encoder round trip: an IstioCertificateRequest, read back by protobufjs from istioca.proto', () => {
  const json = { csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n', validity_duration: '86400', metadata: { origin: 'meltemi', n: 1 } };
  const typeName = 'istio.v1.auth.IstioCertificateRequest';
  const bytes = encodeWireMessage(typeName, json);
  assert.deepStrictEqual(decodeWireMessage(typeName, bytes), json);
  const root = new protobuf.Root();
  root.loadSync('src/ca/proto/istioca.proto', { keepCase: true });
  const theirs = root.lookupType(typeName).toObject(root.lookupType(typeName).decode(bytes), { longs: String }) as Record<string, unknown>;
  assert.equal(theirs.csr, json.csr);
  assert.equal(theirs.validity_duration, '86400');
  assert.deepStrictEqual(
    encodeWireMessage(typeName, { ...json, validity_duration: 86400 }),
    bytes,
    'a safe integer is accepted for an int64 too',
  );
  const response = root.lookupType('istio.v1.auth.IstioCertificateResponse').encode({ cert_chain: ['leaf', 'root'] }).finish();
  assert.deepStrictEqual(decodeWireMessage('istio.v1.auth.IstioCertificateResponse', response), { cert_chain: ['leaf', 'root'] });
});

test('the encoder writes what protobufjs writes for the same message (declaration order, packed, sorted map keys)', () => {
  const typeName = 'envoy.config.route.v3.RetryPolicy';
  const json = { retry_on: '5xx', num_retries: 3, per_try_timeout: '0.250s', retriable_status_codes: [503, 502], retriable_request_headers: [{ name: ':method', exact_match: 'GET' }] };
  const ours = encodeWireMessage(typeName, json);
  const type = envoyProtos().type(typeName);
  const theirs = type.encode({ retry_on: '5xx', num_retries: { value: 3 }, per_try_timeout: { nanos: 250000000 }, retriable_status_codes: [503, 502], retriable_request_headers: [{ name: ':method', exact_match: 'GET' }] }).finish();
  assert.equal(ours.toString('hex'), Buffer.from(theirs).toString('hex'));
  assert.deepStrictEqual(decodeMessage(typeName, ours), json);
});

test('repeated scalars of a proto2 message are written one per tag, as protoc writes them; proto3 ones packed', () => {
  // validate.proto is proto2 with no [packed = true]: protobufjs (and protoc) write each value under its own tag.
  const typeName = 'validate.Int32Rules';
  const json = { in: [1, 300, 5] };
  const ours = encodeWireMessage(typeName, json);
  const theirs = envoyProtos().type(typeName).encode(json).finish();
  assert.equal(ours.toString('hex'), Buffer.from(theirs).toString('hex'));
  // Field 6, varint wire type, three times: 30 01 30 ac02 30 05.
  assert.equal(ours.toString('hex'), '3001' + '30ac02' + '3005');
  assert.deepStrictEqual(decodeMessage(typeName, ours), json);
  assert.equal(findMessage(typeName)?.fields.find((f) => f.name === 'in')?.packed, false);
  assert.equal(findMessage('envoy.config.route.v3.RetryPolicy')?.fields.find((f) => f.name === 'retriable_status_codes')?.packed, true);
});

test('encoder errors name every offending path', () => {
  const typeName = 'envoy.service.discovery.v3.DiscoveryRequest';
  const refused = (json: unknown, ...patterns: RegExp[]): void => {
    assert.throws(
      () => encodeWireMessage(typeName, json),
      (e: unknown) => isMeshError(e, 'MESH_INVALID_CONFIG') && patterns.every((p) => p.test(e.message)),
    );
  };
  refused({ node: { metdata: {} } }, /node\.metdata: unknown field of envoy\.config\.core\.v3\.Node/);
  refused({ typeUrl: 'x' }, /typeUrl: unknown field .*\(did you mean "type_url"\?\)/);
  refused({ node: { metadata: 5 } }, /node\.metadata: expected a Struct \(a plain object\), got number 5/);
  refused({ node: { metadata: { f: () => 1 } } }, /node\.metadata\["f"\]: a function is not JSON/);
  refused({ node: { locality: { zone: 1 } } }, /node\.locality\.zone: expected a string, got number 1/);
  refused({ resource_names: ['a', 2] }, /resource_names\[1\]: expected a string/);
  refused({ error_detail: { code: 2 ** 40 } }, /error_detail\.code: expected an int32/);
  refused({ node: 'n', version_info: 1 }, /node: expected a envoy\.config\.core\.v3\.Node object, got string "n"/, /version_info: expected a string/);
  refused({ node: { user_agent_version: '1', user_agent_build_version: {} } }, /node: user_agent_version, user_agent_build_version are members of one oneof/);
  assert.throws(() => encodeWireMessage(CLUSTER, { type: 'BOGUS' }), /type: "BOGUS" is not a value of enum envoy\.config\.cluster\.v3\.Cluster\.DiscoveryType/);
  assert.throws(() => encodeWireMessage('istio.v1.auth.IstioCertificateRequest', { validity_duration: '9223372036854775808' }), /validity_duration: expected an int64/);
  assert.throws(() => encodeWireMessage(CLUSTER, { connect_timeout: '1.5' }), /connect_timeout: expected a Duration string/);
  assert.throws(() => encodeWireMessage('no.such.Type', {}), (e: unknown) => isMeshError(e, 'MESH_USAGE'));
});

test('encoder: Any values in both JSON forms, and unknown types as their bytes', () => {
  const typeName = 'envoy.config.core.v3.TypedExtensionConfig';
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', suppress_envoy_headers: true } };
  assert.deepStrictEqual(decodeMessage(typeName, encodeWireMessage(typeName, router)), router);
  const duration = { name: 'd', typed_config: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3s' } };
  assert.deepStrictEqual(decodeMessage(typeName, encodeWireMessage(typeName, duration)), duration);
  const unknown = { name: 'u', typed_config: { '@type': 'type.googleapis.com/example.Unknown', value: 'CAE=' } };
  assert.deepStrictEqual(decodeMessage(typeName, encodeWireMessage(typeName, unknown)), unknown);
  assert.throws(() => encodeWireMessage(typeName, { typed_config: { '@type': 'type.googleapis.com/example.Unknown', a: 1 } }), /typed_config: Any '@type' "type\.googleapis\.com\/example\.Unknown" is not a message type/);
  assert.throws(() => encodeWireMessage(typeName, { typed_config: { '@type': 'type.googleapis.com/google.protobuf.Duration', seconds: 1 } }), /an Any of google\.protobuf\.Duration is written \{ '@type', value: \.\.\. \}/);
  assert.throws(() => encodeWireMessage(typeName, { typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', bogus: 1 } }), /typed_config<envoy\.extensions\.filters\.http\.router\.v3\.Router>\.bogus: unknown field/);
});

test('random canonical JSON of every message type survives encodeWireMessage → decodeMessage', () => {
  const { root } = envoyProtos();
  const gen = new RandomMessages(seeded(7), root, true);
  let checked = 0;
  for (const type of gen.types) {
    const name = type.fullName.slice(1);
    for (let i = 0; i < 2; i++) {
      const json = decodeMessage(name, type.encode(gen.message(type)).finish());
      const bytes = encodeWireMessage(name, json);
      let again: unknown;
      try {
        again = decodeMessage(name, bytes);
      } catch (e) {
        // proto2 `required` fields (descriptor.proto's NamePart) print nothing when default, so their JSON cannot say they were set.
        if (/missing required/.test(String(e))) continue;
        throw e;
      }
      assert.deepStrictEqual(again, json, name);
      checked++;
    }
  }
  assert.ok(checked > 1000, `${checked} round trips`);
});

// ---- peer metadata: the same bytes as the protobufjs encoding it replaced ----------------------

/** What src/proxy/telemetry/peer-metadata.ts encoded with protobufjs: a Struct whose map entries were inserted in UTF-8 key order. */
function protobufjsPeerMetadata(metadata: Record<string, unknown>, keys: readonly string[]): string {
  const structType = protobuf.Root.fromJSON(protobuf.common.get('google/protobuf/struct.proto')!).lookupType('google.protobuf.Struct');
  const sorted = (o: object): string[] => Object.keys(o).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const toValue = (v: unknown): Record<string, unknown> => {
    if (typeof v === 'string') return { stringValue: v };
    if (typeof v === 'number') return { numberValue: v };
    if (typeof v === 'boolean') return { boolValue: v };
    if (v === null || v === undefined) return { nullValue: 0 };
    if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
    return { structValue: { fields: toFields(v as Record<string, unknown>) } };
  };
  const toFields = (o: Record<string, unknown>): Record<string, unknown> => {
    const fields: Record<string, unknown> = Object.create(null);
    for (const k of sorted(o)) fields[k] = toValue(o[k]);
    return fields;
  };
  const selected: Record<string, unknown> = Object.create(null);
  for (const k of keys) if (Object.prototype.hasOwnProperty.call(metadata, k)) selected[k] = metadata[k];
  return Buffer.from(structType.encode({ fields: toFields(selected) }).finish()).toString('base64');
}

test('peer metadata headers are byte for byte what the protobufjs encoding produced', () => {
  const all = ['NAME', 'NAMESPACE', 'INSTANCE_IPS', 'LABELS', 'OWNER', 'PLATFORM_METADATA', 'WORKLOAD_NAME', 'MESH_ID', 'SERVICE_ACCOUNT', 'CLUSTER_ID'];
  const examples: Array<Record<string, unknown>> = [
    node.metadata,
    { NAME: 'a' },
    { ...istioNode.metadata, OWNER: 'kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/reviews-v2' },
    {
      NAME: 'vm-1',
      NAMESPACE: 'vms',
      LABELS: { 'ｚ-fullwidth': 'x', '😀': 'emoji', é: 'e', Z: 'upper', a: '' },
      PLATFORM_METADATA: { gcp_project: 'p', gcp_gce_instance_id: '12', nested: { list: [1, -0.5, 'x', null, true, { deep: [] }], n: null } },
      INSTANCE_IPS: '10.0.0.1,fd00::1',
    },
    { NAME: 'p', NAMESPACE: 42, LABELS: { app: true, version: 'v1' }, CLUSTER_ID: undefined },
  ];
  for (const m of examples) {
    const keys = typeof m.EXCHANGE_KEYS === 'string' ? [...new Set(m.EXCHANGE_KEYS.split(',').map((k) => k.trim()).filter((k) => k !== ''))] : all;
    assert.equal(encodePeerMetadata(m), protobufjsPeerMetadata(m, keys), JSON.stringify(m));
  }
});

test('peer metadata map keys that look like integers are sorted by their bytes, as Envoy sorts them', () => {
  // protobufjs wrote the keys in JavaScript's own order (integer-like keys first, ascending), which is not Envoy's.
  const header = encodePeerMetadata({ NAME: 'p', LABELS: { '9': 'a', '10': 'b', x: 'c' } });
  const labels = decodeWireMessage('google.protobuf.Struct', Buffer.from(header, 'base64')).LABELS as Record<string, string>;
  assert.deepEqual(labels, { '9': 'a', '10': 'b', x: 'c' });
  const bytes = Buffer.from(header, 'base64');
  assert.ok(bytes.indexOf('10') < bytes.indexOf('9'), '"10" < "9" bytewise');
});
