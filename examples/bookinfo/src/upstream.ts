// Where a Bookinfo service finds the services it calls, and the single GET it makes to them.
import { Agent, request, type OutgoingHttpHeaders } from 'node:http';

/** The services Bookinfo services call. */
export type UpstreamService = 'details' | 'reviews' | 'ratings';

/**
 * The base URL of a service, built as Istio's Bookinfo builds it: `http://NAME[.SERVICES_DOMAIN]:PORT`
 * with NAME from `<SERVICE>_HOSTNAME` (default: the service name) and PORT from
 * `<SERVICE>_SERVICE_PORT` (default 9080). Istio reads `*_SERVICE_PORT`, not `*_PORT`, because
 * Kubernetes sets `DETAILS_PORT=tcp://10.0.0.7:9080` in every pod of the namespace. Throws when the
 * port is not a number in 1..65535, so a bad setting stops the service at start.
 */
export function upstreamUrl(service: UpstreamService, env: NodeJS.ProcessEnv = process.env): string {
  const upper = service.toUpperCase();
  const host = env[`${upper}_HOSTNAME`] || service;
  const domain = env.SERVICES_DOMAIN ? `.${env.SERVICES_DOMAIN}` : '';
  const portText = env[`${upper}_SERVICE_PORT`] || '9080';
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) throw new Error(`${upper}_SERVICE_PORT must be a port number, not "${portText}"`);
  return `http://${host}${domain}:${port}`;
}

/** What an upstream answered: its status and its body as text. */
export interface UpstreamResponse {
  status: number;
  body: string;
}

/** Largest upstream body read, in bytes; a Bookinfo answer is a few hundred. */
const MAX_BODY_BYTES = 1024 * 1024;

// A fresh connection per call, as Istio's Python and Java clients make: a pooled connection that the
// sidecar closed while idle would otherwise fail the next call on it.
const agent = new Agent({ keepAlive: false });

/**
 * GETs `url` with `headers`. Resolves with the status and body of any answer; rejects when the
 * connection fails, the body is larger than 1 MiB, or no complete answer arrives within
 * `timeoutMs` milliseconds (the request is then abandoned, as the Python and Java clients do).
 */
export function get(url: string, headers: OutgoingHttpHeaders, timeoutMs: number): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const proxy = httpProxy();
    // Through an HTTP proxy (HTTP_PROXY, as in Meltemi's loopback mode): connect to the proxy and
    // send the absolute URL as the request target; the Host header still names the service.
    const req = proxy
      ? request({ host: proxy.hostname, port: Number(proxy.port || 80), path: url, method: 'GET', headers: { accept: 'application/json', host: new URL(url).host, ...headers }, agent })
      : request(url, { method: 'GET', headers: { accept: 'application/json', ...headers }, agent });
    const timer = setTimeout(() => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`answer from ${url} is larger than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 500, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.end();
  });
}

/** The HTTP proxy from `HTTP_PROXY` / `http_proxy`, or undefined when none is set. */
export function httpProxy(env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const value = env.HTTP_PROXY || env.http_proxy;
  if (!value) return undefined;
  const url = new URL(value);
  if (url.protocol !== 'http:') throw new Error(`HTTP_PROXY must be an http:// URL, not "${value}"`);
  return url;
}

/** The body parsed as JSON, or undefined when it is not JSON. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}
