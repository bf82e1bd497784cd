// Fallback upstream when nginx is not installed: a 1 KiB response over HTTP/1.1 keep-alive and h2c (prior knowledge).
// Usage: node --import tsx upstream-server.ts HTTP1_PORT H2C_PORT
import http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';

const http1Port = Number(process.argv[2]);
const h2cPort = Number(process.argv[3]);
if (!Number.isInteger(http1Port) || !Number.isInteger(h2cPort)) {
  process.stderr.write('usage: upstream-server.ts HTTP1_PORT H2C_PORT\n');
  process.exit(2);
}

const body = Buffer.from('0123456789abcdef'.repeat(64));
const headers = { 'content-type': 'text/plain', 'content-length': String(body.length) };

http
  .createServer({ keepAliveTimeout: 300_000 }, (_req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  })
  .listen(http1Port, '127.0.0.1');
http2
  .createServer((_req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  })
  // node:http2 leaves Nagle's algorithm on; HEADERS and DATA written apart would wait for a delayed ACK.
  .on('connection', (socket: Socket) => socket.setNoDelay(true))
  .listen(h2cPort, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
