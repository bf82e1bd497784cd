// Bookinfo's reviews service, all three versions: v1 without ratings, v2 with black stars, v3 with red stars (from ratings).
import { hostname } from 'node:os';
import type { IncomingMessage } from 'node:http';
import { methodNotAllowed, sendJson, serve } from './http-server.js';
import { propagatedHeaders } from './propagation.js';
import { get, parseJson, upstreamUrl } from './upstream.js';

/**
 * What each version does by default. Istio builds one image per version with `ENABLE_RATINGS` and
 * `STAR_COLOR` set; here `SERVICE_VERSION` picks these defaults and the two variables still override them.
 */
const VERSIONS: Record<string, { ratings: boolean; color: string }> = {
  v1: { ratings: false, color: 'black' },
  v2: { ratings: true, color: 'black' },
  v3: { ratings: true, color: 'red' },
};

const version = process.env.SERVICE_VERSION || 'v1';
const defaults = VERSIONS[version];
if (!defaults) {
  console.error(`reviews: SERVICE_VERSION must be v1, v2 or v3, not "${version}"`);
  process.exit(1);
}
// Java's Boolean.valueOf, as Istio's reviews reads it: "true" in any case is true, anything else false.
const ratingsEnabled = process.env.ENABLE_RATINGS !== undefined ? process.env.ENABLE_RATINGS.toLowerCase() === 'true' : defaults.ratings;
const starColor = process.env.STAR_COLOR || defaults.color;
const ratingsService = `${upstreamUrl('ratings')}/ratings`;
// Istio's reviews waits 10 s for ratings when its stars are black and 2.5 s otherwise. The
// fault-injection task depends on it: a 7 s delay on ratings stays under reviews v2's 10 s but
// over productpage's two 3 s attempts, so the page shows reviews as unavailable.
const ratingsTimeoutMs = starColor === 'black' ? 10_000 : 2_500;
const podName = process.env.HOSTNAME || hostname();
// Istio's reviews prints the missing cluster name as the string "null"; its productpage tests for that string.
const clusterName = process.env.CLUSTER_NAME || 'null';

const REVIEWS = [
  { reviewer: 'Reviewer1', text: 'A fast, farcical evening: the mistaken identities pile up and never stop being funny.' },
  { reviewer: 'Reviewer2', text: 'Great fun on stage, though thinner in its themes than the plays Shakespeare wrote later.' },
];

/** Stars per reviewer from ratings, or undefined when ratings cannot be reached or answers something else. */
async function fetchStars(productId: string, req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  try {
    const res = await get(`${ratingsService}/${productId}`, propagatedHeaders(req), ratingsTimeoutMs);
    if (res.status !== 200) {
      console.log(`reviews: ratings answered ${res.status}`);
      return undefined;
    }
    const body = parseJson(res.body) as { ratings?: unknown } | undefined;
    return typeof body?.ratings === 'object' && body.ratings !== null ? (body.ratings as Record<string, unknown>) : undefined;
  } catch (err) {
    console.log(`reviews: cannot reach ratings: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

serve(`reviews-${version}`, async (req, res, url) => {
  const path = url.pathname;
  const m = /^\/reviews\/(-?\d{1,9})$/.exec(path);
  if (path !== '/health' && !m) return sendJson(res, 404, { error: 'not found' });
  if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
  if (!m) return sendJson(res, 200, { status: 'Reviews is healthy' });

  const productId = String(Number(m[1]));
  const stars = ratingsEnabled ? await fetchStars(productId, req) : undefined;
  const reviews = REVIEWS.map((r) => {
    if (!ratingsEnabled) return { ...r };
    const n = stars?.[r.reviewer];
    const rating = Number.isInteger(n) ? { stars: n as number, color: starColor } : { error: 'Ratings service is currently unavailable' };
    return { ...r, rating };
  });
  sendJson(res, 200, { id: productId, podname: podName, clustername: clusterName, reviews });
});
