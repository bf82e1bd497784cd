// The proxy's own gRPC client against real grpc-js servers (and a raw node:http2 server for non-gRPC answers): unary and bidi calls, big and empty messages, status and message from trailers or Trailers-Only, deadlines, size limits, refused and dropped connections, TLS with the server's name checked.
import { strict as assert } from 'node:assert';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { generateRootCa } from '../../src/ca/ca-bundle.js';
import { caServerCredentials } from '../../src/ca/ca-server.js';
import { GrpcChannel, GrpcError, GrpcStatus, type GrpcStatusObject } from '../../src/proxy/grpc/client.js';
import { freePort } from './http-mesh.js';

const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };

function method(path: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path, requestStream, responseStream, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize };
}

const SERVICE = {
  Echo: method('/test.T/Echo', false, false),
  Chat: method('/test.T/Chat', true, true),
  Fail: method('/test.T/Fail', false, false),
  Hang: method('/test.T/Hang', false, false),
  Big: method('/test.T/Big', false, false),
};

interface Server {
  port: number;
  seen: { metadata: grpc.Metadata; deadline: grpc.Deadline }[];
  stop(): Promise<void>;
}

async function startServer(credentials = grpc.ServerCredentials.createInsecure()): Promise<Server> {
  const server = new grpc.Server();
  const seen: Server['seen'] = [];
  const hanging: grpc.ServerUnaryCall<Buffer, Buffer>[] = [];
  server.addService(SERVICE, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen.push({ metadata: call.metadata, deadline: call.getDeadline() });
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request]));
    },
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (m: Buffer) => call.write(m));
      call.on('end', () => {
        const trailer = new grpc.Metadata();
        trailer.set('x-count', 'done');
        call.end(trailer);
      });
    },
    Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      cb({ code: grpc.status.FAILED_PRECONDITION, details: 'ünïcode 100% – not ready' });
    },
    Hang: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => {
      seen.push({ metadata: call.metadata, deadline: call.getDeadline() });
      hanging.push(call);
    },
    Big: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      cb(null, Buffer.alloc(Number(call.request.toString()), 7));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (e, p) => (e ? reject(e) : resolve(p))));
  return {
    port,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

const LIMIT = 8 * 1024 * 1024;

async function expectStatus(p: Promise<unknown>, code: number, details?: RegExp): Promise<GrpcError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GrpcError, `expected a GrpcError, got ${String(e)}`);
    assert.equal(e.code, code, `status ${e.code} (${e.details}), expected ${code}`);
    if (details) assert.match(e.details, details);
    return e;
  }
  assert.fail('the call succeeded');
}

describe('gRPC client (own HTTP/2 codec)', () => {
  it('makes unary calls with metadata and a deadline the server sees', async () => {
    const server = await startServer();
    const ch = new GrpcChannel({ address: `127.0.0.1:${server.port}`, maxReceiveMessageBytes: LIMIT, userAgent: 'meltemi-test' });
    try {
      const reply = await ch.unary('/test.T/Echo', Buffer.from('hi'), [['authorization', 'Bearer abc']], 5000);
      assert.equal(reply.toString(), 'echo:hi');
      const empty = await ch.unary('/test.T/Echo', Buffer.alloc(0), [], 5000);
      assert.equal(empty.toString(), 'echo:');
      assert.deepEqual(server.seen[0]!.metadata.get('authorization'), ['Bearer abc']);
      assert.match(String(server.seen[0]!.metadata.get('user-agent')[0]), /meltemi-test/);
      const deadline = server.seen[0]!.deadline;
      const at = deadline instanceof Date ? deadline.getTime() : deadline;
      assert.ok(at > Date.now() && at <= Date.now() + 5000, `server deadline ${String(deadline)}`);
    } finally {
      ch.close();
      await server.stop();
    }
  });

  it('streams both ways: many messages, a 3 MiB one, empty ones, then the OK status from trailers', async () => {
    const server = await startServer();
    const ch = new GrpcChannel({ address: `127.0.0.1:${server.port}`, maxReceiveMessageBytes: LIMIT });
    try {
      const sent = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(3 * 1024 * 1024 + 17, 3), ...Array.from({ length: 200 }, (_, i) => Buffer.from(`m${i}`)), Buffer.alloc(0)];
      const got: Buffer[] = [];
      let headers = 0;
      const status = await new Promise<GrpcStatusObject>((resolve) => {
        const call = ch.call('/test.T/Chat', [], { headers: () => headers++, message: (m) => got.push(m), status: resolve });
        for (const m of sent) call.write(m);
        call.end();
      });
      assert.equal(status.code, GrpcStatus.OK, status.details);
      assert.equal(headers, 1);
      assert.equal(got.length, sent.length);
      for (let i = 0; i < sent.length; i++) assert.ok(got[i]!.equals(sent[i]!), `message ${i}`);
    } finally {
      ch.close();
      await server.stop();
    }
  });

  it('reports the server status and its percent-encoded message', async () => {
    const server = await startServer();
    const ch = new GrpcChannel({ address: `127.0.0.1:${server.port}`, maxReceiveMessageBytes: LIMIT });
    try {
      const e = await expectStatus(ch.unary('/test.T/Fail', Buffer.from('x'), [], 5000), GrpcStatus.FAILED_PRECONDITION);
      assert.equal(e.details, 'ünïcode 100% – not ready');
      // Trailers-Only from grpc-js for a method it does not serve.
      await expectStatus(ch.unary('/test.T/Nope', Buffer.from('x'), [], 5000), GrpcStatus.UNIMPLEMENTED);
    } finally {
      ch.close();
      await server.stop();
    }
  });

  it('ends a call at its deadline and a message over the size limit with RESOURCE_EXHAUSTED', async () => {
    const server = await startServer();
    const ch = new GrpcChannel({ address: `127.0.0.1:${server.port}`, maxReceiveMessageBytes: 1000 });
    try {
      await expectStatus(ch.unary('/test.T/Hang', Buffer.from('x'), [], 200), GrpcStatus.DEADLINE_EXCEEDED);
      assert.equal((await ch.unary('/test.T/Big', Buffer.from('1000'), [], 5000)).length, 1000);
      await expectStatus(ch.unary('/test.T/Big', Buffer.from('1001'), [], 5000), GrpcStatus.RESOURCE_EXHAUSTED, /1001/);
      // The connection still serves calls after both.
      assert.equal((await ch.unary('/test.T/Echo', Buffer.from('ok'), [], 5000)).toString(), 'echo:ok');
    } finally {
      ch.close();
      await server.stop();
    }
  });

  it('cancels a stream: CANCELLED, reported after cancel returns', async () => {
    const server = await startServer();
    const ch = new GrpcChannel({ address: `127.0.0.1:${server.port}`, maxReceiveMessageBytes: LIMIT });
    try {
      let returned = false;
      const status = await new Promise<GrpcStatusObject>((resolve) => {
        const call = ch.call('/test.T/Chat', [], {
          message: () => {
            call.cancel();
            returned = true;
          },
          status: (s) => {
            assert.ok(returned, 'status came inside cancel()');
            resolve(s);
          },
        });
        call.write(Buffer.from('x'));
      });
      assert.equal(status.code, GrpcStatus.CANCELLED);
    } finally {
      ch.close();
      await server.stop();
    }
  });

  it('fails with UNAVAILABLE when nothing listens, and when the server goes away mid-stream', async () => {
    const port = await freePort();
    const refused = new GrpcChannel({ address: `127.0.0.1:${port}`, maxReceiveMessageBytes: LIMIT });
    await expectStatus(refused.unary('/test.T/Echo', Buffer.from('x'), [], 5000), GrpcStatus.UNAVAILABLE, /ECONNREFUSED/);
    refused.close();

    const server = await startServer();
    const ch = new GrpcChannel({ address: `127.0.0.1:${server.port}`, maxReceiveMessageBytes: LIMIT });
    try {
      const status = await new Promise<GrpcStatusObject>((resolve) => {
        const call = ch.call('/test.T/Chat', [], { message: () => void server.stop(), status: resolve });
        call.write(Buffer.from('x'));
      });
      assert.equal(status.code, GrpcStatus.UNAVAILABLE, status.details);
      // A closed channel fails new calls at once.
      await expectStatus(ch.unary('/test.T/Echo', Buffer.from('x'), [], 5000), GrpcStatus.UNAVAILABLE);
    } finally {
      ch.close();
      await server.stop();
    }
  });

  it('maps a non-200 HTTP status and a non-gRPC content-type', async () => {
    const h2 = http2.createServer();
    h2.on('stream', (stream, headers) => {
      if (headers[':path'] === '/busy') stream.respond({ ':status': 503 }, { endStream: true });
      else {
        stream.respond({ ':status': 200, 'content-type': 'text/html' });
        stream.end('<html>');
      }
    });
    await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
    const ch = new GrpcChannel({ address: `127.0.0.1:${(h2.address() as AddressInfo).port}`, maxReceiveMessageBytes: LIMIT });
    try {
      await expectStatus(ch.unary('/busy', Buffer.from('x'), [], 5000), GrpcStatus.UNAVAILABLE, /503/);
      await expectStatus(ch.unary('/html', Buffer.from('x'), [], 5000), GrpcStatus.UNKNOWN, /text\/html/);
    } finally {
      ch.close();
      await new Promise<void>((resolve) => h2.close(() => resolve()));
    }
  });

  it('speaks TLS with ALPN h2 and checks the configured server name, not the dialed address', async () => {
    const root = await generateRootCa({ trustDomain: 'cluster.local', keyType: 'ecP256' });
    const server = await startServer(await caServerCredentials(root, ['istiod.istio-system.svc']));
    const address = `127.0.0.1:${server.port}`;
    const good = new GrpcChannel({ address, tls: { ca: root.rootCertPem, serverName: 'istiod.istio-system.svc' }, maxReceiveMessageBytes: LIMIT });
    const wrongName = new GrpcChannel({ address, tls: { ca: root.rootCertPem, serverName: 'evil.example.com' }, maxReceiveMessageBytes: LIMIT });
    const otherRoot = await generateRootCa({ trustDomain: 'cluster.local', keyType: 'ecP256' });
    const wrongRoot = new GrpcChannel({ address, tls: { ca: otherRoot.rootCertPem, serverName: 'istiod.istio-system.svc' }, maxReceiveMessageBytes: LIMIT });
    try {
      assert.equal((await good.unary('/test.T/Echo', Buffer.from('tls'), [], 5000)).toString(), 'echo:tls');
      await expectStatus(wrongName.unary('/test.T/Echo', Buffer.from('x'), [], 5000), GrpcStatus.UNAVAILABLE, /evil\.example\.com/);
      await expectStatus(wrongRoot.unary('/test.T/Echo', Buffer.from('x'), [], 5000), GrpcStatus.UNAVAILABLE, /certificate/);
    } finally {
      good.close();
      wrongName.close();
      wrongRoot.close();
      await server.stop();
    }
  });
});
