// Bookinfo's productpage: the HTML page and JSON API in front of details and reviews, with sign-in as a test user.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { indexHtml, productPageHtml, STYLESHEET, type Fetched, type Product } from './pages.js';
import { methodNotAllowed, readBody, sendJson, sendText, serve } from './http-server.js';
import { propagatedHeaders } from './propagation.js';
import { get, parseJson, upstreamUrl, type UpstreamService } from './upstream.js';

const PRODUCTS: Product[] = [
  {
    id: 0,
    title: 'The Comedy of Errors',
    descriptionHtml:
      '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: an early comedy by <b>William Shakespeare</b>. Two pairs of twins, separated at birth, arrive in the same town on the same day, and everyone takes one twin for the other.',
  },
];

const upstreams: Record<UpstreamService, string> = { details: upstreamUrl('details'), reviews: upstreamUrl('reviews'), ratings: upstreamUrl('ratings') };

/** Istio's productpage gives details, reviews and ratings 3 s each to answer. */
const UPSTREAM_TIMEOUT_MS = 3000;
/**
 * Reviews are asked twice before giving up. Istio's productpage keeps this deliberately (its
 * fault-injection task explains it): with two 3 s attempts the page waits 6 s for reviews, less
 * than the 7 s delay the task injects on ratings.
 */
const REVIEWS_ATTEMPTS = 2;

const UNAVAILABLE: Record<UpstreamService, string> = {
  details: 'Sorry, product details are currently unavailable for this book.',
  reviews: 'Sorry, product reviews are currently unavailable for this book.',
  ratings: 'Sorry, product ratings are currently unavailable for this book.',
};

/**
 * GETs `/{service}/{id}` from a service, `attempts` times at most, each within the 3 s timeout.
 * A 200 with JSON is returned as is; anything else becomes the last status (500 when there was
 * no answer) with Istio's "currently unavailable" error.
 */
async function fetchFrom(service: UpstreamService, id: string, headers: OutgoingHttpHeaders, attempts = 1): Promise<Fetched> {
  let status = 500;
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await get(`${upstreams[service]}/${service}/${encodeURIComponent(id)}`, headers, UPSTREAM_TIMEOUT_MS);
      const body = res.status === 200 ? parseJson(res.body) : undefined;
      if (body !== undefined) return { status: 200, body };
      status = res.status === 200 ? 500 : res.status;
    } catch (err) {
      console.log(`productpage: cannot reach ${service}: ${err instanceof Error ? err.message : String(err)}`);
      status = 500;
    }
  }
  return { status, body: { error: UNAVAILABLE[service] } };
}

// Sign-in. Bookinfo has no passwords: any name signs in, and the name is what routing rules see
// as `end-user`. The session cookie carries the name (base64url); it is not a credential.
const SESSION_COOKIE = 'session';
const MAX_USERNAME = 256;
const MAX_LOGIN_BODY_BYTES = 16 * 1024;

/** A name that can be shown and sent as a header value: 1..256 printable ASCII characters. */
function validUsername(name: string): boolean {
  return name.length > 0 && name.length <= MAX_USERNAME && /^[\x20-\x7e]+$/.test(name);
}

/** The signed-in user of the request's session cookie, if it holds a valid one. */
function sessionUser(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    if (!/^[A-Za-z0-9_-]+$/.test(value)) return undefined;
    const name = Buffer.from(value, 'base64url').toString('utf8');
    return validUsername(name) ? name : undefined;
  }
  return undefined;
}

function setSession(res: ServerResponse, user: string | undefined): void {
  const attrs = 'Path=/; HttpOnly; SameSite=Lax';
  res.setHeader('set-cookie', user ? `${SESSION_COOKIE}=${Buffer.from(user, 'utf8').toString('base64url')}; ${attrs}` : `${SESSION_COOKIE}=; Max-Age=0; ${attrs}`);
}

function sendHtml(res: ServerResponse, html: string): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

function redirectToProductPage(res: ServerResponse): void {
  res.writeHead(302, { location: '/productpage', 'content-length': 0 });
  res.end();
}

/**
 * Headers for the calls a request makes: the propagated ones, and the signed-in user as
 * `end-user` (Istio 1.6's productpage sends it; the request-routing task matches on it). A request
 * without a session passes on the `end-user` it came with.
 */
function outgoingHeaders(req: IncomingMessage, user: string | undefined): OutgoingHttpHeaders {
  const headers = propagatedHeaders(req);
  if (user) headers['end-user'] = user;
  return headers;
}

async function login(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const body = await readBody(req, MAX_LOGIN_BODY_BYTES);
  if (body === undefined) return sendText(res, 413, 'Payload Too Large', { connection: 'close' });
  const form = new URLSearchParams(body);
  const username = form.get('username') ?? url.searchParams.get('username') ?? '';
  if (username !== '' && !validUsername(username)) return sendText(res, 400, `a user name is 1 to ${MAX_USERNAME} printable ASCII characters`);
  setSession(res, username || undefined);
  redirectToProductPage(res);
}

async function productPage(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const user = sessionUser(req);
  const headers = outgoingHeaders(req, user);
  const product = PRODUCTS[0]!;
  const details = await fetchFrom('details', String(product.id), headers);
  const reviews = await fetchFrom('reviews', String(product.id), headers, REVIEWS_ATTEMPTS);
  sendHtml(res, productPageHtml({ product, details, reviews, user }));
}

const API_PRODUCT = /^\/api\/v1\/products\/([^/]+)(?:\/(reviews|ratings))?$/;

serve('productpage', async (req, res, url) => {
  const path = url.pathname;
  const getOnly = req.method === 'GET' || req.method === 'HEAD';
  if (path === '/login') {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    return login(req, res, url);
  }
  const api = API_PRODUCT.exec(path);
  const known = ['/', '/index.html', '/health', '/logout', '/productpage', '/api/v1/products', '/static/bookinfo.css'].includes(path) || api !== null;
  if (!known) return sendText(res, 404, 'Not Found');
  if (!getOnly) return methodNotAllowed(res, 'GET, HEAD');

  switch (path) {
    case '/':
    case '/index.html':
      return sendHtml(
        res,
        indexHtml([
          { name: 'productpage', url: '/productpage', children: [
            { name: 'details', url: `${upstreams.details}/details`, children: [] },
            { name: 'reviews', url: `${upstreams.reviews}/reviews`, children: [{ name: 'ratings', url: `${upstreams.ratings}/ratings`, children: [] }] },
          ] },
        ]),
      );
    case '/health':
      return sendText(res, 200, 'Product page is healthy');
    case '/logout':
      setSession(res, undefined);
      return redirectToProductPage(res);
    case '/productpage':
      return productPage(req, res);
    case '/static/bookinfo.css':
      res.writeHead(200, { 'content-type': 'text/css; charset=utf-8', 'content-length': Buffer.byteLength(STYLESHEET) });
      return void res.end(STYLESHEET);
    case '/api/v1/products':
      return sendJson(res, 200, PRODUCTS);
  }

  let id: string;
  try {
    id = decodeURIComponent(api![1]!);
  } catch {
    return sendText(res, 400, 'Bad Request');
  }
  const service: UpstreamService = api![2] === 'reviews' ? 'reviews' : api![2] === 'ratings' ? 'ratings' : 'details';
  const fetched = await fetchFrom(service, id, outgoingHeaders(req, sessionUser(req)), service === 'reviews' ? REVIEWS_ATTEMPTS : 1);
  sendJson(res, fetched.status, fetched.body);
});
