// HTTP/2 downstream limits: the premature-reset guard (CVE-2023-44487) closes an abusive session while others keep working; a client cannot exceed the stream limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { once } from 'node:events';
import { HOST, httpMesh, startUpstream, type HttpMesh } from './http-mesh.js';

function get(session: http2.ClientHttp2Session, m: HttpMesh): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/', ':authority': `${HOST}:${m.servicePort}` });
    let status = 0;
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve({ status, body }));
    req.on('error', reject);
    req.end();
  });
}

test('a client that opens and resets streams in a burst gets its session closed; another session keeps being served', async () => {
  // The upstream answers slowly, so every stream is still in flight when the client resets it.
  const up = await startUpstream('slow', () => ({ status: 200, body: 'slow', delayMs: 200 }));
  const m = await httpMesh([up], '', { http2: { resetGuardMinStreams: 50, maxConcurrentStreams: 1000 } });
  const victim = http2.connect(`http://127.0.0.1:${m.servicePort}`);
  const attacker = http2.connect(`http://127.0.0.1:${m.servicePort}`);
  victim.on('error', () => undefined);
  attacker.on('error', () => undefined);
  try {
    await once(attacker, 'connect');
    let goawayCode: number | undefined;
    attacker.on('goaway', (code: number) => (goawayCode = code));
    const closed = new Promise((resolve) => attacker.once('close', resolve));
    // Bounded: at most 400 streams, each reset once its HEADERS have been written.
    for (let i = 0; i < 400 && !attacker.closed && !attacker.destroyed; i++) {
      const req = attacker.request({ ':path': `/r${i}`, ':authority': `${HOST}:${m.servicePort}` });
      req.on('error', () => undefined);
      setImmediate(() => req.close(http2.constants.NGHTTP2_CANCEL));
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await closed;
    assert.equal(goawayCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    const r = await get(victim, m);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'slow');
  } finally {
    victim.destroy();
    attacker.destroy();
    await m.close();
  }
});

test('the proxy advertises its HTTP/2 stream limit and serves that many streams at once', async () => {
  const up = await startUpstream('up', () => ({ status: 200, body: 'ok', delayMs: 100 }));
  const m = await httpMesh([up], '', { http2: { maxConcurrentStreams: 5 } });
  const session = http2.connect(`http://127.0.0.1:${m.servicePort}`, { peerMaxConcurrentStreams: 100 });
  session.on('error', () => undefined);
  try {
    await once(session, 'remoteSettings');
    assert.equal(session.remoteSettings.maxConcurrentStreams, 5);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => get(session, m)));
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value.status : 0)),
      [200, 200, 200, 200, 200],
    );
  } finally {
    session.destroy();
    await m.close();
  }
});
