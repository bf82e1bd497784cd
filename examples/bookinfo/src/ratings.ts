// Bookinfo's ratings service: each reviewer's stars for a book as JSON on GET /ratings/{id}; POST replaces them (in memory).
import { methodNotAllowed, readBody, sendJson, serve } from './http-server.js';

/** Ratings posted for a product replace the built-in ones; at most this many products are kept. */
const MAX_POSTED_PRODUCTS = 1000;
/** Largest POST body accepted, in bytes. */
const MAX_POST_BYTES = 16 * 1024;

const posted = new Map<number, Record<string, unknown>>();

/** The ratings of product `id`: what was posted for it, else Reviewer1 5 stars and Reviewer2 4. */
function ratingsOf(id: number): { id: number; ratings: Record<string, unknown> } {
  return { id, ratings: posted.get(id) ?? { Reviewer1: 5, Reviewer2: 4 } };
}

serve('ratings', async (req, res, url) => {
  const path = url.pathname;
  if (path === '/health') {
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
    return sendJson(res, 200, { status: 'Ratings is healthy' });
  }
  if (!path.startsWith('/ratings/')) return sendJson(res, 404, { error: 'not found' });
  if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') return methodNotAllowed(res, 'GET, HEAD, POST');
  const m = /^\/ratings\/(\d{1,9})$/.exec(path);
  if (!m) return sendJson(res, 400, { error: 'please provide numeric product ID' });
  const id = Number(m[1]);
  if (req.method !== 'POST') return sendJson(res, 200, ratingsOf(id));

  const body = await readBody(req, MAX_POST_BYTES);
  if (body === undefined) {
    res.setHeader('connection', 'close');
    return sendJson(res, 413, { error: `ratings JSON is larger than ${MAX_POST_BYTES} bytes` });
  }
  let ratings: unknown;
  try {
    ratings = JSON.parse(body);
  } catch {
    ratings = undefined;
  }
  if (typeof ratings !== 'object' || ratings === null || Array.isArray(ratings)) return sendJson(res, 400, { error: 'please provide valid ratings JSON' });
  if (!posted.has(id) && posted.size >= MAX_POSTED_PRODUCTS) return sendJson(res, 507, { error: `ratings are kept for at most ${MAX_POSTED_PRODUCTS} products` });
  posted.set(id, ratings as Record<string, unknown>);
  sendJson(res, 200, ratingsOf(id));
});
