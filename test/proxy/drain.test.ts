// Draining the data plane (SIGTERM): listeners stop at once, an HTTP/2 client gets GOAWAY and its stream in flight finishes, and connections still open when the grace period ends are closed — an idle keep-alive client cannot hold the drain open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { HOST, httpMesh, startUpstream, until } from './http-mesh.js';
import { ErrorCode, H2Client } from './h2-wire.js';

test('an idle HTTP/1.1 keep-alive connection does not hold the drain open: it is closed when the grace period ends', async () => {
  const up = await startUpstream('up', () => ({ status: 200, body: 'up' }));
  const m = await httpMesh([up], '');
  const client = net.connect(m.servicePort, '127.0.0.1');
  try {
    await once(client, 'connect');
    client.write(`GET / HTTP/1.1\r\nhost: ${HOST}:${m.servicePort}\r\n\r\n`);
    const [first] = (await once(client, 'data')) as [Buffer];
    assert.match(first.toString('latin1'), /^HTTP\/1\.1 200/);
    const closed = once(client, 'close');
    // The client stays connected and idle: before the fix, drain waited for it for ever.
    await m.plane.drain(100);
    await closed;
    await assert.rejects(
      new Promise((resolve, reject) => net.connect(m.servicePort, '127.0.0.1').once('connect', resolve).once('error', reject)),
      /ECONNREFUSED/,
    );
  } finally {
    client.destroy();
    await m.close();
  }
});

test('draining sends an HTTP/2 client GOAWAY NO_ERROR; its stream in flight completes, then the connection closes', async () => {
  const up = await startUpstream('up', () => ({ status: 200, body: 'slow', delayMs: 300 }));
  const m = await httpMesh([up], '');
  const c = new H2Client(m.servicePort, { authority: `${HOST}:${m.servicePort}` });
  try {
    await c.ready;
    await c.handshake();
    c.get(1, '/slow');
    // The upstream has the request before the drain starts.
    await until('the upstream has the request', () => up.seen.length > 0);
    const draining = m.plane.drain(5000);
    const goaway = await c.goawayOrClose();
    assert.equal(goaway.goaway?.code, ErrorCode.NO_ERROR);
    assert.equal(goaway.goaway?.lastStreamId, 1);
    const r = await c.response(1);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString('latin1'), 'slow');
    await c.whenClosed();
    await draining;
  } finally {
    c.close();
    await m.close();
  }
});
