// A finished HTTP/2 client stream lets go of its owner and leaves the session's table, so a stream that outlives young collections cannot keep the request that used it alive (see Http2ClientStream.responseListener).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { test } from 'node:test';
import { HeaderList } from '../../src/proxy/http1/index.js';
import { Http2ClientSession, type Http2ClientStream, type Http2ResponseListener } from '../../src/proxy/http2/client-session.js';

test('after a response ends, the stream no longer points at its listener and the session holds no stream', { timeout: 15_000 }, async () => {
  const server = http2.createServer((_req, res) => res.end('hello'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  const session = new Http2ClientSession(socket, { maxHeaderListBytes: 65_536, idleTimeoutMs: 0, initialStreamWindow: 65_535, connectionWindow: 1 << 20 }, { remoteSettings: () => undefined, goaway: () => undefined });
  try {
    const events: string[] = [];
    let body = '';
    let closed!: () => void;
    const done = new Promise<void>((resolve) => (closed = resolve));
    const listener: Http2ResponseListener = {
      informational: () => events.push('informational'),
      response: (status) => events.push(`response ${status}`),
      body: (chunk) => (body += chunk.toString()),
      bodyEnd: () => events.push('end'),
      closed: (code) => {
        events.push(`closed ${code}`);
        closed();
      },
    };
    const stream: Http2ClientStream = session.request([':method', 'GET', ':scheme', 'http', ':authority', 'a', ':path', '/'], new HeaderList(), true, listener);
    assert.equal(stream.responseListener, listener, 'an open stream reaches its owner');
    await done;
    assert.deepEqual(events, ['response 200', 'end', 'closed 0']);
    assert.equal(body, 'hello');
    assert.equal(stream.isClosed, true);
    assert.equal(stream.responseListener, undefined, 'a closed stream keeps no reference to its owner');
    assert.equal(stream.listener, undefined);
    assert.equal(session.streams.size, 0);
    assert.equal(session.streams.get(stream.id), undefined);
  } finally {
    socket.destroy();
    server.close();
  }
});
