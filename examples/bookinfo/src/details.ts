// Bookinfo's details service: the book's facts (type, pages, publisher, ISBNs) as JSON on GET /details/{id}.
import { methodNotAllowed, sendJson, serve } from './http-server.js';

/** The book's details, with the fields and values of Istio's details service, for product `id`. */
function bookDetails(id: number): Record<string, unknown> {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
  };
}

serve('details', (req, res, url) => {
  const path = url.pathname;
  if (path !== '/health' && !path.startsWith('/details/')) return sendJson(res, 404, { error: 'not found' });
  if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
  if (path === '/health') return sendJson(res, 200, { status: 'Details is healthy' });
  const m = /^\/details\/(-?\d{1,9})$/.exec(path);
  if (!m) return sendJson(res, 400, { error: 'please provide numeric product id' });
  sendJson(res, 200, bookDetails(Number(m[1])));
});
