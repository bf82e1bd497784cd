// HTTP/2 and gRPC through the client sidecar: h2c downstream, codec translation both ways, gRPC streaming, trailers, local failures and metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { xdsNode } from '../../src/proxy/bootstrap.js';
import { localPeerMetadata } from '../../src/proxy/telemetry/peer-metadata.js';
import { TelemetryReporter } from '../../src/proxy/telemetry/reporter.js';
import { HOST, httpMesh, startGrpcUpstream, startH2Upstream, startUpstream, type GrpcUpstream } from './http-mesh.js';

/** Bound on every call and stream: a proxy that buffers a stream shows as a failed call, never a hung test. */
const DEADLINE_MS = 10_000;
const GRPC_PORT = { name: 'grpc', protocol: 'GRPC' };
const SERVICE = 'meltemi.test.Echo';

// --- an echo service with string messages (no .proto needed) ----------------------------------

const text = { serialize: (s: string) => Buffer.from(s), deserialize: (b: Buffer) => b.toString() };

function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<string, string> {
  return {
    path: `/${SERVICE}/${name}`,
    requestStream,
    responseStream,
    requestSerialize: text.serialize,
    requestDeserialize: text.deserialize,
    responseSerialize: text.serialize,
    responseDeserialize: text.deserialize,
  };
}

const ECHO = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
} satisfies grpc.ServiceDefinition;

type EchoHandlers = {
  unary: grpc.handleUnaryCall<string, string>;
  serverStream: grpc.handleServerStreamingCall<string, string>;
  clientStream: grpc.handleClientStreamingCall<string, string>;
  bidi: grpc.handleBidiStreamingCall<string, string>;
};

/** An echo server: each answer is `name:message`; `overrides` replace single methods. */
function startEcho(name: string, overrides: Partial<EchoHandlers> = {}): Promise<GrpcUpstream> {
  const handlers: EchoHandlers = {
    unary: (call, cb) => cb(null, `${name}:${call.request}`),
    serverStream: (call) => {
      call.write(`${name}:${call.request}`);
      call.end();
    },
    clientStream: (call, cb) => {
      const got: string[] = [];
      call.on('data', (m: string) => got.push(m));
      call.on('end', () => cb(null, got.join(',')));
    },
    bidi: (call) => {
      call.on('data', (m: string) => call.write(`${name}:${m}`));
      call.on('end', () => call.end());
    },
    ...overrides,
  };
  return startGrpcUpstream(name, ECHO, handlers);
}

function metadata(entries: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  return md;
}

// --- clients ------------------------------------------------------------------------------------

/** A grpc-js client of the sidecar's service port, addressing `web` by :authority as an app in the mesh would. */
function grpcClient(m: { servicePort: number }): grpc.Client {
  return new grpc.Client(`127.0.0.1:${m.servicePort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': `${HOST}:${m.servicePort}` });
}

const callOptions = (): grpc.CallOptions => ({ deadline: Date.now() + DEADLINE_MS });

interface UnaryResult {
  value: string;
  headers: grpc.Metadata;
  trailers: grpc.Metadata;
}

/** One unary call to `path`; rejects with the grpc.ServiceError of a non-OK status. */
function unary(client: grpc.Client, request: string, md = new grpc.Metadata(), path = ECHO.unary.path): Promise<UnaryResult> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    let value: string | undefined;
    let error: grpc.ServiceError | null = null;
    const call = client.makeUnaryRequest(path, text.serialize, text.deserialize, request, md, callOptions(), (err, v) => {
      error = err;
      value = v;
    });
    call.on('metadata', (h: grpc.Metadata) => (headers = h));
    // grpc-js runs the callback before 'status'; 'status' carries the trailers.
    call.on('status', (s: grpc.StatusObject) => (error ? reject(error) : resolve({ value: value!, headers, trailers: s.metadata })));
  });
}

/** The error a call failed with (the test fails if it succeeded). */
async function grpcError(call: Promise<unknown>): Promise<grpc.ServiceError> {
  return call.then(
    (v) => assert.fail(`expected the call to fail, got ${JSON.stringify(v)}`),
    (e: grpc.ServiceError) => e,
  );
}

/** The final status of a streaming call; for OK, after every message has been read. */
function finished(call: grpc.ClientReadableStream<string> | grpc.ClientDuplexStream<string, string>): Promise<grpc.StatusObject> {
  const ended = new Promise<void>((r) => call.once('end', () => r()));
  const status = new Promise<grpc.StatusObject>((r) => call.once('status', r));
  call.on('error', () => undefined); // the status carries it
  return status.then((s) => (s.code === grpc.status.OK ? ended.then(() => s) : s));
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** An HTTP/2 cleartext session with prior knowledge (the connection starts with the h2 preface). */
function h2Connect(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined); // a failed session fails its streams, where the test sees it
  return session;
}

interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders;
}

/** One request on `session`; `body` undefined sends END_STREAM with the headers. */
function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks), trailers }));
    stream.on('error', reject);
    stream.on('close', () => reject(new Error(`stream closed before its end (RST_STREAM code ${stream.rstCode})`)));
    stream.setTimeout(DEADLINE_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    if (body !== undefined) stream.end(body);
  });
}

/** A gRPC message in its length-prefixed frame (uncompressed). */
function grpcFrame(message: string): Buffer {
  const payload = Buffer.from(message);
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return frame;
}

/** A unary gRPC request by hand, to see the HTTP/2 status and where grpc-status travels. */
function rawGrpc(session: http2.ClientHttp2Session, port: number, message: string): Promise<H2Response> {
  return h2Request(session, { ':method': 'POST', ':path': ECHO.unary.path, ':authority': `${HOST}:${port}`, 'content-type': 'application/grpc', te: 'trailers' }, grpcFrame(message));
}

// --- 1. h2c downstream → HTTP/1.1 upstream -------------------------------------------------------

test('an h2c client reaches an HTTP/1.1 upstream: :authority becomes host; status, headers and bodies cross', async () => {
  const up = await startUpstream('a', (req) => ({ status: 201, body: `${req.httpVersion} ${req.method} ${req.url}`, headers: { 'x-answer': 'yes' } }));
  const m = await httpMesh([up]);
  const session = h2Connect(m.servicePort);
  try {
    const authority = `${HOST}:${m.servicePort}`;
    const get = await h2Request(session, { ':path': '/hello?x=1', ':authority': authority, 'x-custom': 'kept' });
    assert.equal(get.status, 201);
    assert.equal(get.body.toString(), '1.1 GET /hello?x=1', 'the upstream was spoken to in HTTP/1.1');
    assert.equal(get.headers['x-answer'], 'yes');
    assert.equal(get.headers['x-upstream'], 'a');
    for (const h of ['connection', 'keep-alive', 'transfer-encoding']) assert.equal(get.headers[h], undefined, `${h} is hop-by-hop`);
    assert.equal(up.seen[0]!.headers.host, authority);
    assert.equal(up.seen[0]!.headers['x-custom'], 'kept');

    const post = await h2Request(session, { ':method': 'POST', ':path': '/submit', ':authority': authority, 'content-type': 'text/plain' }, 'hello over h2');
    assert.equal(post.status, 201);
    assert.equal(post.body.toString(), '1.1 POST /submit');
    assert.equal(up.seen[1]!.body, 'hello over h2');
    assert.equal(up.seen[1]!.headers['content-type'], 'text/plain');
    assert.deepEqual(
      m.records.map((r) => [r.responseCode, r.upstreamCluster]),
      [
        [201, `outbound|${m.servicePort}||${HOST}`],
        [201, `outbound|${m.servicePort}||${HOST}`],
      ],
    );
  } finally {
    session.destroy();
    await m.close();
  }
});

test('20 concurrent streams on one h2c connection are each answered with their own response', async () => {
  const up = await startUpstream('a', (req) => ({ body: `answer to ${req.url}` }));
  const m = await httpMesh([up]);
  const session = h2Connect(m.servicePort);
  try {
    const paths = Array.from({ length: 20 }, (_, i) => `/concurrent/${i}`);
    const answers = await Promise.all(paths.map((p) => h2Request(session, { ':path': p, ':authority': `${HOST}:${m.servicePort}` })));
    assert.deepEqual(
      answers.map((a) => [a.status, a.body.toString()]),
      paths.map((p) => [200, `answer to ${p}`]),
    );
    assert.equal(up.seen.length, 20);
    assert.equal(m.plane.counters.downstream_cx_total, 1, 'all on one downstream connection');
  } finally {
    session.destroy();
    await m.close();
  }
});

// --- 2. gRPC end to end ---------------------------------------------------------------------------

test('gRPC unary: request metadata, response headers and trailers cross; the upstream is spoken to in HTTP/2', async () => {
  const seen: { host: string; client: grpc.MetadataValue[] }[] = [];
  const up = await startEcho('a', {
    unary: (call, cb) => {
      seen.push({ host: call.getHost(), client: call.metadata.get('x-client') });
      call.sendMetadata(metadata({ 'x-initial': 'hi' }));
      cb(null, `a:${call.request}`, metadata({ 'x-trailer': 'bye' }));
    },
  });
  const m = await httpMesh([up], '', { port: GRPC_PORT });
  const client = grpcClient(m);
  try {
    const r = await unary(client, 'hello', metadata({ 'x-client': 'c1' }));
    assert.equal(r.value, 'a:hello');
    assert.deepEqual(r.headers.get('x-initial'), ['hi']);
    assert.deepEqual(r.trailers.get('x-trailer'), ['bye']);
    assert.deepEqual(seen, [{ host: `${HOST}:${m.servicePort}`, client: ['c1'] }]);
    assert.equal(m.records[0]!.responseCode, 200);
    assert.equal(m.records[0]!.upstreamCluster, `outbound|${m.servicePort}||${HOST}`);
  } finally {
    client.close();
    await m.close();
  }
});

test('gRPC unary: a NOT_FOUND status, its message and trailing metadata reach the client unchanged (trailers-only)', async () => {
  const up = await startEcho('a', { unary: (_call, cb) => cb({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata: metadata({ 'x-detail': 'why' }) }) });
  const m = await httpMesh([up], '', { port: GRPC_PORT });
  const client = grpcClient(m);
  try {
    const err = await grpcError(unary(client, 'lost'));
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.equal(err.details, 'no such thing');
    assert.deepEqual(err.metadata.get('x-detail'), ['why']);
    assert.equal(m.records[0]!.responseCode, 200, 'a gRPC error is an HTTP 200');
    assert.deepEqual(m.records[0]!.responseFlags, []);
  } finally {
    client.close();
    await m.close();
  }
});

test('gRPC server streaming: each message reaches the client before the server sends the next', async () => {
  const N = 5;
  // delivered[i] resolves when the client has message i+1; the server waits for it before sending i+2.
  const delivered = Array.from({ length: N }, deferred);
  const up = await startEcho('a', {
    serverStream: async (call) => {
      const cancelled = new Promise<void>((r) => call.once('cancelled', () => r()));
      for (let i = 0; i < N; i++) {
        call.write(`m${i + 1}`);
        if (i === N - 1) break;
        if ((await Promise.race([delivered[i]!.promise.then(() => 'next'), cancelled.then(() => 'cancelled')])) === 'cancelled') return;
      }
      call.end();
    },
  });
  const m = await httpMesh([up], '', { port: GRPC_PORT });
  const client = grpcClient(m);
  try {
    const call = client.makeServerStreamRequest(ECHO.serverStream.path, text.serialize, text.deserialize, 'go', new grpc.Metadata(), callOptions());
    const got: string[] = [];
    call.on('data', (msg: string) => {
      got.push(msg);
      delivered[got.length - 1]?.resolve();
    });
    const status = await finished(call);
    assert.equal(status.code, grpc.status.OK, `a buffering proxy deadlocks this call: ${status.details}`);
    assert.deepEqual(got, ['m1', 'm2', 'm3', 'm4', 'm5']);
  } finally {
    client.close();
    await m.close();
  }
});

test('gRPC client streaming: each message reaches the server before the client sends the next', async () => {
  const N = 5;
  const arrived = Array.from({ length: N }, deferred);
  const up = await startEcho('a', {
    clientStream: (call, cb) => {
      const got: string[] = [];
      call.on('data', (msg: string) => {
        got.push(msg);
        arrived[got.length - 1]?.resolve();
      });
      call.on('end', () => cb(null, got.join(',')));
    },
  });
  const m = await httpMesh([up], '', { port: GRPC_PORT });
  const client = grpcClient(m);
  try {
    let call!: grpc.ClientWritableStream<string>;
    const reply = new Promise<string>((resolve, reject) => {
      call = client.makeClientStreamRequest(ECHO.clientStream.path, text.serialize, text.deserialize, new grpc.Metadata(), callOptions(), (err, v) => (err ? reject(err) : resolve(v!)));
    });
    // Ends the wait below if the call fails (e.g. at its deadline, when the proxy holds the messages back).
    const ended = reply.then(() => assert.fail('the call finished before the client finished sending'));
    for (let i = 0; i < N; i++) {
      call.write(`c${i + 1}`);
      await Promise.race([arrived[i]!.promise, ended]);
    }
    call.end();
    assert.equal(await reply, 'c1,c2,c3,c4,c5');
  } finally {
    client.close();
    await m.close();
  }
});

test('gRPC bidi streaming: 10 rounds of ping-pong, each ping sent only after the previous pong arrived', async () => {
  const ROUNDS = 10;
  const m = await httpMesh([await startEcho('a')], '', { port: GRPC_PORT });
  const client = grpcClient(m);
  try {
    const call = client.makeBidiStreamRequest(ECHO.bidi.path, text.serialize, text.deserialize, new grpc.Metadata(), callOptions());
    const pongs: string[] = [];
    call.on('data', (msg: string) => {
      pongs.push(msg);
      if (pongs.length < ROUNDS) call.write(`ping ${pongs.length}`);
      else call.end();
    });
    const done = finished(call);
    call.write('ping 0');
    const status = await done;
    assert.equal(status.code, grpc.status.OK, `a buffering proxy deadlocks this call: ${status.details}`);
    assert.deepEqual(
      pongs,
      Array.from({ length: ROUNDS }, (_, i) => `a:ping ${i}`),
    );
  } finally {
    client.close();
    await m.close();
  }
});

test('gRPC unary: a 1 MiB message goes up and comes back intact', async () => {
  const m = await httpMesh([await startEcho('a')], '', { port: GRPC_PORT });
  const client = grpcClient(m);
  try {
    const big = randomBytes(512 * 1024).toString('hex');
    const r = await unary(client, big);
    assert.equal(r.value.length, big.length + 2);
    assert.ok(r.value === `a:${big}`, 'the echoed message differs from the one sent');
    assert.ok(m.records[0]!.bytesReceived >= big.length, `bytesReceived ${m.records[0]!.bytesReceived}`);
    assert.ok(m.records[0]!.bytesSent >= big.length, `bytesSent ${m.records[0]!.bytesSent}`);
  } finally {
    client.close();
    await m.close();
  }
});

test('gRPC routing: a VirtualService matches the /pkg.Service/ prefix and a metadata header; other paths are UNIMPLEMENTED (NR)', async () => {
  const yaml = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec:
  host: ${HOST}
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http:
  - match: [{ uri: { prefix: /${SERVICE}/ }, headers: { x-user: { exact: jason } } }]
    route: [{ destination: { host: ${HOST}, subset: v2 } }]
  - match: [{ uri: { prefix: /${SERVICE}/ } }]
    route: [{ destination: { host: ${HOST}, subset: v1 } }]
`;
  const m = await httpMesh([await startEcho('v1'), await startEcho('v2')], yaml, { port: GRPC_PORT });
  const client = grpcClient(m);
  try {
    for (let i = 0; i < 5; i++) assert.equal((await unary(client, 'x')).value, 'v1:x');
    for (let i = 0; i < 5; i++) assert.equal((await unary(client, 'x', metadata({ 'x-user': 'jason' }))).value, 'v2:x');
    const err = await grpcError(unary(client, 'x', new grpc.Metadata(), '/other.Service/Call'));
    assert.equal(err.code, grpc.status.UNIMPLEMENTED);
    assert.deepEqual(m.records[m.records.length - 1]!.responseFlags, ['NR']);
  } finally {
    client.close();
    await m.close();
  }
});

test('gRPC retries: with Istio\'s default policy an UNAVAILABLE answer is retried and the call succeeds', async () => {
  let calls = 0;
  const up = await startEcho('a', { unary: (call, cb) => (++calls === 1 ? cb({ code: grpc.status.UNAVAILABLE, details: 'warming up' }) : cb(null, `a:${call.request}`)) });
  const m = await httpMesh([up], '', { port: GRPC_PORT });
  const client = grpcClient(m);
  try {
    assert.equal((await unary(client, 'x')).value, 'a:x');
    assert.equal(calls, 2);
    assert.equal(m.records[0]!.attempts, 2);
  } finally {
    client.close();
    await m.close();
  }
});

test('gRPC route timeout: the proxy ends the call with UNAVAILABLE "upstream request timeout", flag UT', async () => {
  const vs = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [${HOST}]
  http: [{ route: [{ destination: { host: ${HOST} } }], timeout: 0.2s, retries: { attempts: 0 } }]
`;
  // Never answers; the proxy's reset (or the server's shutdown) cancels the call.
  const up = await startEcho('a', { unary: () => undefined });
  const m = await httpMesh([up], vs, { port: GRPC_PORT });
  const client = grpcClient(m);
  try {
    const err = await grpcError(unary(client, 'x'));
    // Envoy maps the 504 to UNAVAILABLE (Grpc::Utility::httpToGrpcStatus), not DEADLINE_EXCEEDED.
    assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
    assert.equal(err.details, 'upstream request timeout');
    assert.deepEqual(m.records[0]!.responseFlags, ['UT']);
  } finally {
    client.close();
    await m.close();
  }
});

// --- 3. HTTP/1.1 downstream → HTTP/2 upstream -----------------------------------------------------

test('an HTTP/1.1 client reaches an HTTP/2 upstream on an http2 port: host becomes :authority, hop-by-hop headers stay behind', async () => {
  const up = await startH2Upstream('h2', () => ({ status: 201, body: 'made', headers: { 'x-answer': 'yes' } }));
  const m = await httpMesh([up], '', { port: { name: 'http2', protocol: 'HTTP2' } });
  try {
    const r = await m.request('/things?x=1', { method: 'POST', body: 'new thing', headers: { 'content-type': 'text/plain', 'x-custom': 'kept', connection: 'keep-alive' } });
    assert.equal(r.status, 201);
    assert.equal(r.body, 'made');
    assert.equal(r.headers['x-answer'], 'yes');
    assert.equal(r.headers['x-upstream'], 'h2');
    const seen = up.seen[0]!;
    assert.equal(seen.headers[':authority'], `${HOST}:${m.servicePort}`);
    assert.equal(seen.headers[':method'], 'POST');
    assert.equal(seen.headers[':path'], '/things?x=1');
    assert.equal(seen.headers[':scheme'], 'http');
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.equal(seen.headers.connection, undefined);
    assert.equal(seen.body, 'new thing');
    // The next request on the same client connection is answered too.
    assert.equal((await m.request('/again')).body, 'made');
    assert.equal(up.seen.length, 2);
  } finally {
    await m.close();
  }
});

test('a DestinationRule with h2UpgradePolicy UPGRADE makes an http port\'s upstream HTTP/2', async () => {
  const dr = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec:
  host: ${HOST}
  trafficPolicy: { connectionPool: { http: { h2UpgradePolicy: UPGRADE } } }
`;
  const up = await startH2Upstream('h2');
  const m = await httpMesh([up], dr);
  try {
    const r = await m.request('/');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'h2');
    assert.equal(up.seen[0]!.headers[':authority'], `${HOST}:${m.servicePort}`);
  } finally {
    await m.close();
  }
});

/** A POST whose body ends with `trailers` (the stream stays open for them after the last DATA frame). */
function h2RequestWithTrailers(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: string, trailers: http2.OutgoingHttpHeaders): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ...headers }, { waitForTrailers: true });
    let head: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.once('wantTrailers', () => stream.sendTrailers(trailers));
    stream.on('response', (h) => (head = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks), trailers: {} }));
    stream.on('error', reject);
    stream.setTimeout(DEADLINE_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.end(body);
  });
}

test('request trailers from an HTTP/2 client reach an HTTP/2 upstream, also on a retry; an HTTP/1.1 upstream gets the body without them', async () => {
  // The first attempt is answered 503, which Istio's default retry policy retries: the replayed body carries the trailers too.
  const up = await startH2Upstream('h2', (_h, n) => (n === 1 ? { status: 503, body: 'busy' } : { status: 200, body: 'took it' }));
  const m = await httpMesh([up], '', { port: { name: 'http2', protocol: 'HTTP2' } });
  const session = h2Connect(m.servicePort);
  try {
    const authority = `${HOST}:${m.servicePort}`;
    const r = await h2RequestWithTrailers(session, { ':path': '/upload', ':authority': authority }, 'payload', { 'x-checksum': 'abc123', 'x-count': '7' });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'took it');
    assert.equal(up.seen.length, 2, 'one retry');
    for (const seen of up.seen) {
      assert.equal(seen.body, 'payload');
      assert.equal(seen.trailers?.['x-checksum'], 'abc123');
      assert.equal(seen.trailers?.['x-count'], '7');
    }
    // Without trailers the upstream stream ends on its last DATA frame as before.
    up.behaviour = () => ({ status: 200, body: 'plain' });
    const plain = await h2Request(session, { ':method': 'POST', ':path': '/upload', ':authority': authority }, 'no trailers');
    assert.equal(plain.body.toString(), 'plain');
    assert.equal(up.seen[2]!.body, 'no trailers');
    assert.equal(up.seen[2]!.trailers, undefined);
  } finally {
    session.destroy();
    await m.close();
  }

  const h1 = await startUpstream('h1', () => ({ status: 200, body: 'h1 took it' }));
  const m1 = await httpMesh([h1]);
  const s1 = h2Connect(m1.servicePort);
  try {
    const r = await h2RequestWithTrailers(s1, { ':path': '/upload', ':authority': `${HOST}:${m1.servicePort}` }, 'payload', { 'x-checksum': 'abc123' });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'h1 took it');
    assert.equal(h1.seen[0]!.body, 'payload');
    assert.equal(h1.seen[0]!.headers['x-checksum'], undefined, 'trailers are dropped toward HTTP/1.1, as Envoy does by default');
  } finally {
    s1.destroy();
    await m1.close();
  }
});

// --- 4. local failures answered as gRPC -----------------------------------------------------------

test('gRPC with no endpoint: HTTP 200 with grpc-status 14 in a trailers-only response, flag UH', async () => {
  const m = await httpMesh<GrpcUpstream>([], '', { port: GRPC_PORT });
  const session = h2Connect(m.servicePort);
  const client = grpcClient(m);
  try {
    const raw = await rawGrpc(session, m.servicePort, 'x');
    assert.equal(raw.status, 200, 'a gRPC failure is not an HTTP error');
    assert.equal(raw.headers['content-type'], 'application/grpc');
    assert.equal(raw.headers['grpc-status'], '14', 'grpc-status travels in the only HEADERS frame');
    assert.equal(raw.body.length, 0);
    assert.deepEqual(raw.trailers, {});
    const err = await grpcError(unary(client, 'x'));
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.equal(err.details, 'no healthy upstream');
    assert.ok(m.records.length === 2 && m.records.every((r) => r.responseFlags.includes('UH')), JSON.stringify(m.records.map((r) => r.responseFlags)));
  } finally {
    client.close();
    session.destroy();
    await m.close();
  }
});

test('gRPC to an endpoint that refuses connections: UNAVAILABLE, flag UF', async () => {
  const dead = await startEcho('dead');
  await dead.close();
  const m = await httpMesh([dead], '', { port: GRPC_PORT });
  const session = h2Connect(m.servicePort);
  const client = grpcClient(m);
  try {
    const raw = await rawGrpc(session, m.servicePort, 'x');
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['grpc-status'], '14');
    const err = await grpcError(unary(client, 'x'));
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.ok(m.records.length === 2 && m.records.every((r) => r.responseFlags.includes('UF')), JSON.stringify(m.records.map((r) => r.responseFlags)));
  } finally {
    client.close();
    session.destroy();
    await m.close();
  }
});

test('gRPC whose upstream resets the stream before answering: HTTP 200 with grpc-status 14', async () => {
  const up = await startH2Upstream('reset', () => 'reset');
  const m = await httpMesh([up], '', { port: GRPC_PORT });
  const session = h2Connect(m.servicePort);
  const client = grpcClient(m);
  try {
    const raw = await rawGrpc(session, m.servicePort, 'x');
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['grpc-status'], '14');
    assert.equal((await grpcError(unary(client, 'x'))).code, grpc.status.UNAVAILABLE);
    assert.ok(up.seen.length >= 2, 'the requests reached the upstream');
  } finally {
    client.close();
    session.destroy();
    await m.close();
  }
});

// --- 5. metrics ------------------------------------------------------------------------------------

test('metrics: gRPC calls are counted with request_protocol grpc, response_code 200 and their grpc_response_status', async () => {
  const node = xdsNode({ type: 'sidecar', ips: ['127.0.0.1'], podName: 'client-1', namespace: 'default', labels: { app: 'client' } });
  const reporter = new TelemetryReporter({ local: localPeerMetadata(node), proxyType: 'sidecar' });
  const up = await startEcho('a', { unary: (call, cb) => (call.request === 'missing' ? cb({ code: grpc.status.NOT_FOUND, details: 'no' }) : cb(null, 'found')) });
  const m = await httpMesh([up], '', { port: GRPC_PORT, onHttp: (r, d) => reporter.http(r, d) });
  const client = grpcClient(m);
  try {
    assert.equal((await grpcError(unary(client, 'missing'))).code, grpc.status.NOT_FOUND);
    assert.equal((await unary(client, 'here')).value, 'found');
    assert.deepEqual(
      m.records.map((r) => [r.responseCode, r.grpcStatus]),
      [
        [200, 5],
        [200, 0],
      ],
    );
    const series = reporter.metrics
      .prometheus()
      .split('\n')
      .filter((l) => l.startsWith('istio_requests_total{'));
    assert.equal(series.length, 2, series.join('\n'));
    assert.match(series[0]!, /request_protocol="grpc",response_code="200",grpc_response_status="5",/);
    assert.match(series[0]!, /destination_service="web\.default\.svc\.cluster\.local"/);
    assert.match(series[0]!, /} 1$/);
    assert.match(series[1]!, /request_protocol="grpc",response_code="200",grpc_response_status="0",/);
    assert.match(series[1]!, /} 1$/);
  } finally {
    client.close();
    await m.close();
  }
});
