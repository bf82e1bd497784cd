// The raw-socket forwarder built on the HTTP/1.1 codec (bench/proxy/raw-forwarder.ts) proxies correctly — keep-alive, pipelining in order, chunked pass-through, HTTP/1.0, refusals — so its benchmark numbers are those of a real proxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { startRawForwarder, type RawForwarder } from '../../bench/proxy/raw-forwarder.js';
import { run, type RunResult } from './http1-harness.js';

/** An upstream that echoes method, target, the Host it saw and the body; `/chunked` answers in chunks with a trailer. */
async function startUpstream(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('latin1');
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-sum' });
        res.write('part1-');
        res.write('part2');
        res.addTrailers({ 'x-sum': '42' });
        res.end();
        return;
      }
      const text = `${req.method} ${req.url} host=${req.headers.host} conn=${req.headers.connection ?? ''} body=${body}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * Sends `wire` (in one write) on a fresh connection and collects what comes back until `done(bytes)`
 * says it is complete or the server closes; bounded by 5 s.
 */
async function exchange(port: number, wire: string | string[], done: (r: RunResult, raw: string) => boolean, methods?: string[]): Promise<{ result: RunResult; closed: boolean }> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  let raw = '';
  let closed = false;
  const result = await new Promise<RunResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(raw)}`)), 5000);
    const check = () => {
      const r = run('response', [Buffer.from(raw, 'latin1')], { methods });
      if (closed || done(r, raw)) {
        clearTimeout(timer);
        resolve(r);
      }
    };
    sock.on('data', (b: Buffer) => {
      raw += b.toString('latin1');
      check();
    });
    sock.on('end', () => {
      closed = true;
      check();
    });
    sock.on('error', reject);
    for (const w of Array.isArray(wire) ? wire : [wire]) sock.write(Buffer.from(w, 'latin1'));
  });
  sock.destroy();
  return { result, closed };
}

const complete = (n: number) => (r: RunResult) => r.messages.filter((m) => m.extra.interim === false).length >= n && r.error === null && r.messages.every((m) => m.framing !== 'until-close');

async function withProxy(fn: (f: RawForwarder, up: Awaited<ReturnType<typeof startUpstream>>) => Promise<void>): Promise<void> {
  const up = await startUpstream();
  const f = await startRawForwarder({ port: 0, upstreamHost: '127.0.0.1', upstreamPort: up.port });
  try {
    await fn(f, up);
  } finally {
    await f.close();
    await up.close();
  }
}

test('forwards requests on a keep-alive connection, drops hop-by-hop Connection, reuses the upstream connection', async () => {
  await withProxy(async (f, up) => {
    const sock = net.connect(f.port, '127.0.0.1');
    await once(sock, 'connect');
    let raw = '';
    sock.on('data', (b: Buffer) => (raw += b.toString('latin1')));
    for (let i = 1; i <= 3; i++) {
      sock.write(`GET /r${i} HTTP/1.1\r\nHost: svc\r\nConnection: keep-alive\r\n\r\n`);
      for (let k = 0; k < 100 && run('response', [Buffer.from(raw, 'latin1')]).messages.length < i; k++) await once(sock, 'data');
    }
    sock.destroy();
    const r = run('response', [Buffer.from(raw, 'latin1')]);
    assert.deepEqual(
      r.messages.map((m) => m.body),
      ['GET /r1 host=svc conn= body=', 'GET /r2 host=svc conn= body=', 'GET /r3 host=svc conn= body='],
    );
    assert.ok(r.messages.every((m) => m.keepAlive));
    assert.equal(up.connections(), 1);
    assert.equal(f.completed(), 3);
  });
});

test('pipelined requests (bodies, chunked uploads) are answered in order', async () => {
  await withProxy(async (f) => {
    const wire =
      'GET /a HTTP/1.1\r\nHost: h\r\n\r\n' +
      'POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello' +
      'PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n' +
      'GET /d HTTP/1.1\r\nHost: h\r\n\r\n';
    const { result } = await exchange(f.port, wire, complete(4));
    assert.deepEqual(
      result.messages.map((m) => m.body),
      ['GET /a host=h conn= body=', 'POST /b host=h conn= body=hello', 'PUT /c host=h conn= body=abcde', 'GET /d host=h conn= body='],
    );
  });
});

test('a chunked response passes through with its trailers', async () => {
  await withProxy(async (f) => {
    const { result } = await exchange(f.port, 'GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n', complete(1));
    const m = result.messages[0]!;
    assert.deepEqual([m.framing, m.body, m.trailers], ['chunked', 'part1-part2', [['x-sum', '42']]]);
  });
});

test('an HTTP/1.0 client gets a chunked response de-chunked, then the connection closes', async () => {
  await withProxy(async (f) => {
    const { result, closed } = await exchange(f.port, 'GET /chunked HTTP/1.0\r\n\r\n', () => false);
    assert.equal(closed, true);
    const m = result.messages[0]!;
    assert.equal(m.startLine, 'HTTP/1.0 200 OK');
    assert.deepEqual([m.body, m.lowerNames.includes('transfer-encoding')], ['part1-part2', false]);
  });
});

test('HTTP/1.0 keep-alive is honoured, and Host is supplied upstream when the client sent none', async () => {
  await withProxy(async (f, up) => {
    const { result, closed } = await exchange(f.port, 'GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', complete(1));
    assert.equal(closed, false);
    assert.equal(result.messages[0]!.body, `GET /x host=127.0.0.1:${up.port} conn= body=`);
    assert.deepEqual(result.messages[0]!.headers.at(-1), ['connection', 'keep-alive']);
  });
});

test('a smuggling attempt is refused with 400 and the connection closed, before anything reaches the upstream', async () => {
  await withProxy(async (f, up) => {
    const { result, closed } = await exchange(f.port, 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG', () => false);
    assert.equal(closed, true);
    assert.equal(result.messages[0]!.startLine, 'HTTP/1.1 400 Bad Request');
    assert.equal(up.connections(), 0);
    // The next client is served normally.
    const next = await exchange(f.port, 'GET /ok HTTP/1.1\r\nHost: h\r\n\r\n', complete(1));
    assert.equal(next.result.messages[0]!.body, 'GET /ok host=h conn= body=');
  });
});

test('an unreachable upstream is a 503 local reply', async () => {
  const dead = net.createServer();
  dead.listen(0, '127.0.0.1');
  await once(dead, 'listening');
  const port = (dead.address() as net.AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const f = await startRawForwarder({ port: 0, upstreamHost: '127.0.0.1', upstreamPort: port });
  try {
    const { result, closed } = await exchange(f.port, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n', () => false);
    assert.equal(closed, true);
    assert.equal(result.messages[0]!.startLine, 'HTTP/1.1 503 Service Unavailable');
  } finally {
    await f.close();
  }
});
