// Bookinfo (examples/bookinfo/src) as running processes on loopback: the page, the star versions, sign-in, header propagation, failures.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROPAGATED_HEADERS } from '../../examples/bookinfo/src/propagation.js';

const APP_DIR = 'examples/bookinfo';
/** Bound on a service's start (tsx compiles on first run; the machine may be busy with other test files). */
const START_TIMEOUT_MS = 60_000;
/** Bound on one HTTP exchange with a service. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Variables of the services that the test's own environment must not leak into them. */
const SERVICE_VARIABLES = ['SERVICE_VERSION', 'ENABLE_RATINGS', 'STAR_COLOR', 'SERVICES_DOMAIN', 'CLUSTER_NAME', 'PORT', 'BOOKINFO_HOST', ...['DETAILS', 'REVIEWS', 'RATINGS'].flatMap((s) => [`${s}_HOSTNAME`, `${s}_SERVICE_PORT`])];

interface Service {
  name: string;
  port: number;
  child: ChildProcess;
  /** Everything the process printed on stdout so far. */
  stdout(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | string>;
}

const services: Service[] = [];

/**
 * Starts `src/FILE.ts` as the runtime does (cwd = the manifest directory, `node --import tsx`) on
 * 127.0.0.1 with PORT=0, and resolves once it prints the port it listens on.
 */
function startService(name: string, file: string, env: Record<string, string>): Promise<Service> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const v of SERVICE_VARIABLES) delete childEnv[v];
  Object.assign(childEnv, { BOOKINFO_HOST: '127.0.0.1', PORT: '0', HOSTNAME: `${name}-pod`, ...env });
  const child = spawn(process.execPath, ['--import', 'tsx', `src/${file}.ts`], { cwd: APP_DIR, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms: ${out}${err}`));
    }, START_TIMEOUT_MS);
    const onData = () => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      const service: Service = { name, port: Number(m[1]), child, stdout: () => out, exited };
      services.push(service);
      resolve(service);
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before listening: ${out}${err}`));
    });
  });
}

/** Resolves once the service's stdout matches `re` (it logs after the response is sent), within 10 s. */
function waitForOutput(s: Service, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!re.test(s.stdout())) return false;
      clearTimeout(timer);
      s.child.stdout!.off('data', onData);
      resolve();
      return true;
    };
    const onData = () => void setImmediate(check);
    const timer = setTimeout(() => {
      s.child.stdout!.off('data', onData);
      reject(new Error(`${s.name} did not print ${re} within 10 s: ${s.stdout()}`));
    }, 10_000);
    if (!check()) s.child.stdout!.on('data', onData);
  });
}

/** Stops a service with SIGTERM (SIGKILL if it has not exited after 10 s); resolves with its exit code. */
async function stopService(s: Service): Promise<number | string> {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      s.child.kill('SIGKILL');
      resolve();
    }, 10_000);
  });
  await Promise.race([s.exited, killed]);
  clearTimeout(timer);
  return s.exited;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP request to 127.0.0.1:port, bounded. */
function call(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on ${port}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** What the recording server does with a request: answer, reset the connection, or never answer. */
type Script = (r: Recorded) => { status: number; body: unknown } | 'reset' | 'hang';

/** A stand-in for an upstream service: records each request and answers as scripted. */
class Recorder {
  readonly requests: Recorded[] = [];
  script: Script = () => ({ status: 200, body: {} });
  private readonly server: Server;
  port = 0;

  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const r = { method: req.method!, url: req.url!, headers: req.headers };
      this.requests.push(r);
      const action = this.script(r);
      if (action === 'hang') return;
      if (action === 'reset') return void req.socket.destroy();
      res.writeHead(action.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(action.body));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Requests whose path starts with `prefix`. */
  to(prefix: string): Recorded[] {
    return this.requests.filter((r) => r.url.startsWith(prefix));
  }

  reset(script: Script): void {
    this.requests.length = 0;
    this.script = script;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const DETAILS_JSON = { id: 0, author: 'William Shakespeare', year: 1595, type: 'paperback', pages: 200, publisher: 'PublisherA', language: 'English', 'ISBN-10': '1234567890', 'ISBN-13': '123-1234567890' };

/** Upstream variables pointing a service at a port on 127.0.0.1. */
function upstream(service: 'DETAILS' | 'REVIEWS' | 'RATINGS', port: number): Record<string, string> {
  return { [`${service}_HOSTNAME`]: '127.0.0.1', [`${service}_SERVICE_PORT`]: String(port) };
}

// The application: real ratings and details, the three reviews versions, one productpage per
// reviews version; and, for what a real upstream cannot show, a productpage and a reviews v3 whose
// upstreams are recording stand-ins.
let details: Service;
let ratings: Service;
const reviews: Record<string, Service> = {};
const page: Record<string, Service> = {};
let recordedPage: Service;
let recordedReviews: Service;
const pageUpstreams = new Recorder();
const ratingsStandIn = new Recorder();

before(async () => {
  await Promise.all([pageUpstreams.listen(), ratingsStandIn.listen()]);
  [details, ratings] = await Promise.all([startService('details-v1', 'details', {}), startService('ratings-v1', 'ratings', {})]);
  const [r1, r2, r3, rr] = await Promise.all([
    ...['v1', 'v2', 'v3'].map((v) => startService(`reviews-${v}`, 'reviews', { SERVICE_VERSION: v, ...upstream('RATINGS', ratings.port) })),
    startService('reviews-v3-recorded', 'reviews', { SERVICE_VERSION: 'v3', ...upstream('RATINGS', ratingsStandIn.port) }),
  ]);
  Object.assign(reviews, { v1: r1, v2: r2, v3: r3 });
  recordedReviews = rr!;
  const pages = await Promise.all([
    ...['v1', 'v2', 'v3'].map((v) => startService(`productpage-${v}`, 'productpage', { ...upstream('DETAILS', details.port), ...upstream('REVIEWS', reviews[v]!.port), ...upstream('RATINGS', ratings.port) })),
    startService('productpage-recorded', 'productpage', { ...upstream('DETAILS', pageUpstreams.port), ...upstream('REVIEWS', pageUpstreams.port), ...upstream('RATINGS', pageUpstreams.port) }),
  ]);
  Object.assign(page, { v1: pages[0], v2: pages[1], v3: pages[2] });
  recordedPage = pages[3]!;
});

after(async () => {
  await Promise.all(services.map(stopService));
  await Promise.all([pageUpstreams.close(), ratingsStandIn.close()]);
});

test('productpage shows the book, its details and reviews v1 without stars', async () => {
  const res = await call(page.v1!.port, '/productpage');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type']!, /^text\/html/);
  assert.match(res.body, /The Comedy of Errors/);
  assert.match(res.body, /<h4>Book Details<\/h4>/);
  for (const v of ['paperback', '200', 'PublisherA', 'English', '1234567890', '123-1234567890']) assert.match(res.body, new RegExp(`<dd>${v}</dd>`));
  assert.match(res.body, /<h4>Book Reviews<\/h4>/);
  assert.equal(count(res.body, '<blockquote>'), 2);
  assert.match(res.body, /Reviewer1[\s\S]*Reviewer2/);
  assert.match(res.body, /Reviews served by: reviews-v1-pod/);
  assert.equal(count(res.body, '<font'), 0);
  assert.equal(count(res.body, 'glyphicon'), 0);
});

test('reviews v2 shows black stars from ratings, v3 red stars: <font color> around glyphicon stars', async () => {
  for (const [v, color] of [['v2', 'black'], ['v3', 'red']] as const) {
    const res = await call(page[v]!.port, '/productpage');
    assert.equal(res.status, 200);
    assert.equal(count(res.body, `<font color="${color}">`), 2, `${v}: one <font> per review`);
    assert.equal(count(res.body, '<font'), 2);
    // Reviewer1 has 5 stars and Reviewer2 4: nine full stars, one empty.
    assert.equal(count(res.body, '<span class="glyphicon glyphicon-star"></span>'), 9, v);
    assert.equal(count(res.body, '<span class="glyphicon glyphicon-star-empty"></span>'), 1, v);
    assert.match(res.body, new RegExp(`Reviews served by: reviews-${v}-pod`));
  }
  const json = JSON.parse((await call(reviews.v2!.port, '/reviews/0')).body);
  assert.deepEqual(json, {
    id: '0',
    podname: 'reviews-v2-pod',
    clustername: 'null',
    reviews: [
      { reviewer: 'Reviewer1', text: json.reviews[0].text, rating: { stars: 5, color: 'black' } },
      { reviewer: 'Reviewer2', text: json.reviews[1].text, rating: { stars: 4, color: 'black' } },
    ],
  });
  const v1 = JSON.parse((await call(reviews.v1!.port, '/reviews/0')).body);
  assert.deepEqual(v1.reviews.map((r: Record<string, unknown>) => Object.keys(r)), [['reviewer', 'text'], ['reviewer', 'text']]);
});

test('signing in sets a session cookie; the user is shown and sent on as end-user; signing out clears it', async () => {
  pageUpstreams.reset((r) => (r.url.startsWith('/details/') ? { status: 200, body: DETAILS_JSON } : { status: 200, body: { id: '0', podname: 'stand-in', clustername: 'null', reviews: [] } }));
  const anonymous = await call(recordedPage.port, '/productpage');
  assert.match(anonymous.body, /<form class="account" method="post" action="login"/);
  assert.equal(pageUpstreams.to('/reviews/0')[0]!.headers['end-user'], undefined);

  const login = await call(recordedPage.port, '/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=jason&passwd=' });
  assert.equal(login.status, 302);
  assert.equal(login.headers.location, '/productpage');
  const setCookie = login.headers['set-cookie']![0]!;
  assert.match(setCookie, /^session=[A-Za-z0-9_-]+; Path=\/; HttpOnly/);
  const cookie = setCookie.split(';')[0]!;

  pageUpstreams.reset(pageUpstreams.script);
  const signedIn = await call(recordedPage.port, '/productpage', { headers: { cookie } });
  assert.equal(signedIn.status, 200);
  assert.match(signedIn.body, /jason \( <a href="logout">sign out<\/a> \)/);
  assert.doesNotMatch(signedIn.body, /action="login"/);
  assert.equal(pageUpstreams.to('/reviews/0')[0]!.headers['end-user'], 'jason');
  assert.equal(pageUpstreams.to('/details/0')[0]!.headers['end-user'], 'jason');
  // The session is the productpage's own: the cookie is not passed on.
  assert.equal(pageUpstreams.to('/reviews/0')[0]!.headers.cookie, undefined);

  const logout = await call(recordedPage.port, '/logout', { headers: { cookie } });
  assert.equal(logout.status, 302);
  assert.equal(logout.headers.location, '/productpage');
  assert.match(logout.headers['set-cookie']![0]!, /^session=; Max-Age=0; Path=\//);

  // A user name that cannot be a header value is refused, and the next sign-in still works.
  const bad = await call(recordedPage.port, '/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=ja%0D%0Ason' });
  assert.equal(bad.status, 400);
  assert.equal(bad.headers['set-cookie'], undefined);
  const again = await call(recordedPage.port, '/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=tester' });
  assert.equal(again.status, 302);
  pageUpstreams.reset(pageUpstreams.script);
  await call(recordedPage.port, '/productpage', { headers: { cookie: again.headers['set-cookie']![0]!.split(';')[0]! } });
  assert.equal(pageUpstreams.to('/reviews/0')[0]!.headers['end-user'], 'tester');
});

test('productpage forwards x-request-id, B3, W3C and the other trace headers to details and reviews, and nothing else', async () => {
  pageUpstreams.reset((r) => (r.url.startsWith('/details/') ? { status: 200, body: DETAILS_JSON } : { status: 200, body: { id: '0', reviews: [] } }));
  const sent: Record<string, string> = {};
  for (const [i, h] of PROPAGATED_HEADERS.entries()) sent[h] = `value-${i}`;
  Object.assign(sent, {
    'x-request-id': '5b4c1d2e-0000-4000-8000-000000000001',
    'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
    'x-b3-spanid': 'e457b5a2e4d86bd1',
    'x-b3-parentspanid': '05e3ac9a4f6e3b90',
    'x-b3-sampled': '1',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    tracestate: 'congo=t61rcWkgMzE',
    'x-not-propagated': 'secret',
    authorization: 'Bearer token',
  });
  await call(recordedPage.port, '/productpage', { headers: sent });
  for (const path of ['/details/0', '/reviews/0']) {
    const got = pageUpstreams.to(path)[0]!.headers;
    for (const h of PROPAGATED_HEADERS) assert.equal(got[h], sent[h], `${h} on ${path}`);
    assert.equal(got['x-not-propagated'], undefined);
    assert.equal(got.authorization, undefined);
  }
});

test('reviews forwards the trace headers and end-user to ratings', async () => {
  ratingsStandIn.reset(() => ({ status: 200, body: { id: 0, ratings: { Reviewer1: 2, Reviewer2: 3 } } }));
  const res = await call(recordedReviews.port, '/reviews/0', { headers: { 'x-request-id': 'req-1', 'x-b3-traceid': 'abc', 'x-b3-spanid': 'def', 'x-b3-sampled': '1', b3: 'abc-def-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'end-user': 'jason', 'x-other': 'no' } });
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.body).reviews.map((r: { rating: unknown }) => r.rating), [{ stars: 2, color: 'red' }, { stars: 3, color: 'red' }]);
  const got = ratingsStandIn.to('/ratings/0')[0]!.headers;
  assert.deepEqual(
    [got['x-request-id'], got['x-b3-traceid'], got['x-b3-spanid'], got['x-b3-sampled'], got.b3, got.traceparent, got['end-user'], got['x-other']],
    ['req-1', 'abc', 'def', '1', 'abc-def-1', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'jason', undefined],
  );
});

test('when ratings fails (500, reset connection, or no answer within 2.5 s for v3), reviews still answers with "Ratings service is currently unavailable"', async () => {
  const unavailable = { error: 'Ratings service is currently unavailable' };
  for (const script of [() => ({ status: 500, body: { error: 'fault filter abort' } }), () => 'reset' as const, () => 'hang' as const]) {
    ratingsStandIn.reset(script);
    const res = await call(recordedReviews.port, '/reviews/0');
    assert.equal(res.status, 200);
    const json = JSON.parse(res.body);
    assert.deepEqual(json.reviews.map((r: { rating: unknown }) => r.rating), [unavailable, unavailable]);
    assert.equal(ratingsStandIn.to('/ratings/0').length, 1);
  }
  ratingsStandIn.reset(() => ({ status: 200, body: { id: 0, ratings: { Reviewer1: 1 } } }));
  const partial = JSON.parse((await call(recordedReviews.port, '/reviews/0')).body);
  assert.deepEqual(partial.reviews.map((r: { rating: unknown }) => r.rating), [{ stars: 1, color: 'red' }, unavailable]);
});

test('when reviews fails, productpage asks twice, then shows the reviews as unavailable and the details still', async () => {
  pageUpstreams.reset((r) => (r.url.startsWith('/details/') ? { status: 200, body: DETAILS_JSON } : 'reset'));
  const res = await call(recordedPage.port, '/productpage');
  assert.equal(res.status, 200);
  assert.match(res.body, /<h4>Error fetching product reviews!<\/h4>\s*<p>Sorry, product reviews are currently unavailable for this book\.<\/p>/);
  assert.match(res.body, /<h4>Book Details<\/h4>/);
  assert.equal(pageUpstreams.to('/reviews/0').length, 2);

  // Reviews that never answer: two attempts of 3 s each, then the same page (the fault-injection task's 6 s).
  pageUpstreams.reset((r) => (r.url.startsWith('/details/') ? { status: 200, body: DETAILS_JSON } : 'hang'));
  const slow = await call(recordedPage.port, '/productpage');
  assert.match(slow.body, /Sorry, product reviews are currently unavailable for this book\./);
  assert.equal(pageUpstreams.to('/reviews/0').length, 2);

  pageUpstreams.reset((r) => (r.url.startsWith('/details/') ? { status: 503, body: { error: 'no healthy upstream' } } : { status: 200, body: { id: '0', reviews: [] } }));
  const noDetails = await call(recordedPage.port, '/productpage');
  assert.match(noDetails.body, /<h4>Error fetching product details!<\/h4>\s*<p>Sorry, product details are currently unavailable for this book\.<\/p>/);
  assert.match(noDetails.body, /<h4>Book Reviews<\/h4>/);
  assert.equal(pageUpstreams.to('/details/0').length, 1);
});

test('the product API answers as Istio\'s: products, details, reviews and ratings of a product', async () => {
  const products = await call(page.v2!.port, '/api/v1/products');
  assert.equal(products.status, 200);
  assert.match(products.headers['content-type']!, /^application\/json/);
  const list = JSON.parse(products.body);
  assert.deepEqual(list.map((p: Record<string, unknown>) => [p.id, p.title, typeof p.descriptionHtml]), [[0, 'The Comedy of Errors', 'string']]);

  assert.deepEqual(JSON.parse((await call(page.v2!.port, '/api/v1/products/0')).body), DETAILS_JSON);
  const rev = JSON.parse((await call(page.v2!.port, '/api/v1/products/0/reviews')).body);
  assert.deepEqual(rev.reviews.map((r: { rating: unknown }) => r.rating), [{ stars: 5, color: 'black' }, { stars: 4, color: 'black' }]);
  assert.deepEqual(JSON.parse((await call(page.v2!.port, '/api/v1/products/0/ratings')).body), { id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } });

  const bad = await call(page.v2!.port, '/api/v1/products/abc');
  assert.equal(bad.status, 400);
  assert.deepEqual(JSON.parse(bad.body), { error: 'Sorry, product details are currently unavailable for this book.' });
  assert.equal((await call(page.v2!.port, '/api/v1/products/0/nothing')).status, 404);
});

test('every service answers /health; details and ratings refuse ids that are not numbers; unknown paths and methods are refused', async () => {
  assert.deepEqual([(await call(page.v1!.port, '/health')).body], ['Product page is healthy']);
  assert.deepEqual(JSON.parse((await call(details.port, '/health')).body), { status: 'Details is healthy' });
  assert.deepEqual(JSON.parse((await call(reviews.v1!.port, '/health')).body), { status: 'Reviews is healthy' });
  assert.deepEqual(JSON.parse((await call(ratings.port, '/health')).body), { status: 'Ratings is healthy' });

  const d = await call(details.port, '/details/x');
  assert.deepEqual([d.status, JSON.parse(d.body)], [400, { error: 'please provide numeric product id' }]);
  const r = await call(ratings.port, '/ratings/x');
  assert.deepEqual([r.status, JSON.parse(r.body)], [400, { error: 'please provide numeric product ID' }]);
  assert.equal((await call(reviews.v1!.port, '/reviews/x')).status, 404);
  assert.equal((await call(page.v1!.port, '/nothing')).status, 404);
  assert.equal((await call(page.v1!.port, '/login')).status, 405);
  assert.equal((await call(page.v1!.port, '/productpage', { method: 'POST' })).status, 405);

  const index = await call(page.v1!.port, '/');
  assert.match(index.body, /href="\/productpage\?u=normal"/);
  assert.match((await call(page.v1!.port, '/static/bookinfo.css')).body, /\.glyphicon-star::before/);
});

test('ratings keeps posted ratings in memory and refuses what is not a JSON object', async () => {
  const posted = await call(ratings.port, '/ratings/7', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"Reviewer1":3,"Reviewer2":1}' });
  assert.deepEqual([posted.status, JSON.parse(posted.body)], [200, { id: 7, ratings: { Reviewer1: 3, Reviewer2: 1 } }]);
  assert.deepEqual(JSON.parse((await call(ratings.port, '/ratings/7')).body), { id: 7, ratings: { Reviewer1: 3, Reviewer2: 1 } });
  const bad = await call(ratings.port, '/ratings/7', { method: 'POST', body: 'not json' });
  assert.deepEqual([bad.status, JSON.parse(bad.body)], [400, { error: 'please provide valid ratings JSON' }]);
  assert.deepEqual(JSON.parse((await call(ratings.port, '/ratings/0')).body), { id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } });
});

test('each request is logged as one line; SIGTERM stops a service with exit code 0', async () => {
  await call(details.port, '/details/0?probe=1');
  await waitForOutput(details, /^\S+ details GET \/details\/0\?probe=1 200 [\d.]+ms$/m);
  assert.equal(count(details.stdout(), '/details/0?probe=1'), 1);
  assert.equal(await stopService(details), 0);
  assert.match(details.stdout(), /details: SIGTERM, stopping/);
});
