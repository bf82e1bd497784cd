// The HTTP server every Bookinfo service runs: listen address from the environment, one log line per request, graceful stop.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** Serves one request; `url` is the request target parsed against the local origin. */
export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

/** How long a stop waits for requests in flight before closing their connections, in milliseconds. */
const STOP_GRACE_MS = 5000;

/**
 * Starts `name`'s server on `BOOKINFO_HOST` (else `MELTEMI_LISTEN_ADDRESS`, else 0.0.0.0) and `PORT` (default 9080; 0 picks a
 * free port) and prints `NAME: listening on http://HOST:PORT` once it accepts connections. Each
 * request is logged as one line on stdout when its response ends. A handler that throws gets a
 * 500. SIGTERM or SIGINT stops accepting, lets requests in flight finish (at most 5 s), and exits 0.
 */
export function serve(name: string, handler: Handler): Server {
  // MELTEMI_LISTEN_ADDRESS: the address Meltemi's loopback mode gives this pod's app (pods share the host's network there).
  const host = process.env.BOOKINFO_HOST || process.env.MELTEMI_LISTEN_ADDRESS || '0.0.0.0';
  const portText = process.env.PORT || '9080';
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    console.error(`${name}: PORT must be a port number, not "${portText}"`);
    process.exit(1);
  }

  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    res.on('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      console.log(`${new Date().toISOString()} ${name} ${req.method} ${req.url} ${res.statusCode}${res.writableFinished ? '' : ' (aborted)'} ${ms.toFixed(1)}ms`);
    });
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendText(res, 400, 'Bad Request');
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((err: unknown) => {
        console.error(`${name}: ${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}`);
        if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
        else res.destroy();
      });
  });
  server.on('error', (err) => {
    console.error(`${name}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const addr = server.address();
    const shown = typeof addr === 'object' && addr ? `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : `${host}:${port}`;
    console.log(`${name}: listening on http://${shown}`);
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${name}: ${signal}, stopping`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return server;
}

/** Sends `value` as JSON with `status`. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Sends a plain-text body with `status`. */
export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Answers a method the path does not serve: 405 with the methods it does. */
export function methodNotAllowed(res: ServerResponse, allowed: string): void {
  sendText(res, 405, 'Method Not Allowed', { allow: allowed });
}

/**
 * Reads a request body of at most `limitBytes` bytes as text. Resolves undefined when the body is
 * larger (the rest is not read and the connection is closed after the answer).
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limitBytes) {
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limitBytes) {
        done = true;
        req.pause();
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}
