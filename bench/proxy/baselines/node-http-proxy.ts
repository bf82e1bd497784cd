// Baseline: a naive reverse proxy on node:http (or node:http2 for an h2c listener) forwarding over HTTP/1.1 through a keep-alive Agent — what "just write it in Node" costs.
// Usage: node --import tsx node-http-proxy.ts PORT NEXT_PORT http1|http2
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';

const [portArg, nextPortArg, listen] = process.argv.slice(2);
const port = Number(portArg);
const nextPort = Number(nextPortArg);
if (!Number.isInteger(port) || !Number.isInteger(nextPort) || (listen !== 'http1' && listen !== 'http2')) {
  process.stderr.write('usage: node-http-proxy.ts PORT NEXT_PORT http1|http2\n');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded; node:http2 also refuses them in a response.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host']);

function forwardable(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const k in h) if (k[0] !== ':' && !HOP_BY_HOP.has(k)) out[k] = h[k];
  return out;
}

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

function handle(req: Req, res: Res): void {
  const headers = forwardable(req.headers);
  const authority = req.headers[':authority'];
  headers.host = typeof authority === 'string' ? authority : (req.headers.host ?? `127.0.0.1:${nextPort}`);
  const up = http.request({ agent, host: '127.0.0.1', port: nextPort, method: req.method, path: req.url, headers }, (ures) => {
    res.writeHead(ures.statusCode ?? 502, forwardable(ures.headers));
    ures.pipe(res as NodeJS.WritableStream);
  });
  up.on('error', () => {
    if (!res.headersSent) {
      res.writeHead(502);
      res.end();
    } else res.destroy();
  });
  (req as NodeJS.ReadableStream).pipe(up);
}

const server = listen === 'http2' ? http2.createServer(handle) : http.createServer({ keepAliveTimeout: 300_000 }, handle);
// node:http turns Nagle's algorithm off on its sockets; node:http2 does not, and a response written as
// separate HEADERS and DATA frames would then wait for the client's delayed ACK (up to 40 ms).
server.on('connection', (socket: Socket) => socket.setNoDelay(true));
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
