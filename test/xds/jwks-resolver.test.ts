// The control plane's JWKS resolver against real HTTP servers on loopback: fetch, cache, refresh, fail closed, SSRF refusals, redirects, size and time limits, change notification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { FAIL_CLOSED_JWKS, type JwksSource } from '../../src/model/jwks.js';
import { MetricsRegistry } from '../../src/shared/metrics.js';
import { JwksResolver, canonicalJwks, type HostLookup, type JwksResolverOptions } from '../../src/xds/jwks-resolver.js';

/** A public JWK made with node:crypto, with a key id. */
function publicJwk(kid: string, type: 'rsa' | 'ec' = 'rsa'): Record<string, unknown> {
  const { publicKey } = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface TestServer {
  port: number;
  /** Requests seen, by path. */
  hits: Map<string, number>;
  hosts: string[];
  handle: Handler;
  url(path: string, host?: string): string;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 (port 0) whose behaviour tests swap by assigning `handle`. */
async function startServer(handle: Handler): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const s: TestServer = {
    port: 0,
    hits: new Map(),
    hosts: [],
    handle,
    url: (path, host = '127.0.0.1') => `http://${host}:${s.port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const path = req.url ?? '';
    s.hits.set(path, (s.hits.get(path) ?? 0) + 1);
    s.hosts.push(req.headers.host ?? '');
    s.handle(req, res);
  });
  server.on('connection', (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  s.port = (server.address() as AddressInfo).port;
  return s;
}

const json = (body: unknown, status = 200): Handler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

/** Names the tests use, all on loopback. */
const fakeDns = (table: Record<string, string[]>): HostLookup => async (host) => (table[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

function resolver(opts: JwksResolverOptions = {}): JwksResolver {
  return new JwksResolver({ allowLoopback: true, refreshIntervalMs: 0, retryMs: 0, ownAddresses: [], lookup: fakeDns({ 'keys.test': ['127.0.0.1'], 'issuer.test': ['127.0.0.1'] }), ...opts });
}

/** Counts onChange calls. */
function changes(r: JwksResolver): { count: number } {
  const c = { count: 0 };
  r.onChange(() => c.count++);
  return c;
}

const keysOf = (jwks: string) => (JSON.parse(jwks) as { keys: Record<string, unknown>[] }).keys;

test('fetches a jwksUri off the push path, caches it, and tells listeners once the keys a push would carry changed', async () => {
  const k1 = publicJwk('k1');
  const srv = await startServer(json({ keys: [k1] }));
  const metrics = new MetricsRegistry();
  const r = resolver({ metrics });
  const source: JwksSource = { issuer: 'testing@secure.istio.io', jwksUri: srv.url('/jwks.json', 'keys.test') };
  try {
    const c = changes(r);
    r.track([source]);
    // track() does not wait for the network: a push built now fails closed.
    assert.deepEqual(r.snapshot().keysFor(source), { jwks: FAIL_CLOSED_JWKS, state: 'pending' });
    await r.idle();
    const got = r.snapshot().keysFor(source);
    assert.equal(got.state, 'fetched');
    assert.deepEqual(keysOf(got.jwks), [k1]);
    assert.equal(c.count, 1);
    // Pinned to the checked address, with the URL's host in the Host header.
    assert.deepEqual(srv.hosts, [`keys.test:${srv.port}`]);

    // Cached: tracking it again (every push does) fetches nothing.
    r.track([source]);
    r.snapshot();
    await r.idle();
    assert.equal(srv.hits.get('/jwks.json'), 1);
    assert.equal(metrics.counter('pilot_jwks_resolver_network_fetch_success_total', '').get(), 1);
    assert.equal(c.count, 1);

    // A snapshot is frozen in time: later fetches do not change it.
    const before = r.snapshot();
    const k2 = publicJwk('k2', 'ec');
    srv.handle = json({ keys: [k1, k2] });
    await r.refresh();
    assert.deepEqual(keysOf(before.keysFor(source).jwks), [k1]);
    assert.equal(keysOf(r.snapshot().keysFor(source).jwks).length, 2, 'rotation: the new key is served');
    assert.equal(c.count, 2, 'a key change notifies');

    // The same keys in another order, members reordered: no change, no push.
    srv.handle = json(`{"keys": [${JSON.stringify(Object.fromEntries(Object.entries(k2).reverse()))}, ${JSON.stringify(k1)}], "extra": 1}`);
    await r.refresh();
    assert.equal(c.count, 2);
    assert.equal(srv.hits.get('/jwks.json'), 3);

    // Forgotten when no RequestAuthentication names it any more.
    r.track([]);
    assert.equal(r.snapshot().keysFor(source).state, 'pending');
    assert.deepEqual(r.status(), []);
  } finally {
    r.close();
    await srv.close();
  }
});

test('a failed refresh keeps the last good keys (no push); past maxStaleMs they fail closed and listeners hear it', async () => {
  const k1 = publicJwk('k1');
  const srv = await startServer(json({ keys: [k1] }));
  let now = 1_000_000;
  const r = resolver({ now: () => now, maxStaleMs: 60_000 });
  const source = { issuer: 'i', jwksUri: srv.url('/jwks') };
  try {
    const c = changes(r);
    r.track([source]);
    await r.idle();
    assert.equal(c.count, 1);
    srv.handle = json({ error: 'down' }, 500);
    now += 30_000;
    await r.refresh();
    const kept = r.snapshot().keysFor(source);
    assert.equal(kept.state, 'fetched');
    assert.deepEqual(keysOf(kept.jwks), [k1], 'last good keys kept, as Istio does');
    assert.match(kept.error ?? '', /status 500/);
    assert.equal(c.count, 1, 'nothing a push carries changed');

    now += 60_000;
    await r.refresh();
    const stale = r.snapshot().keysFor(source);
    assert.equal(stale.state, 'failed');
    assert.equal(stale.jwks, FAIL_CLOSED_JWKS);
    assert.match(stale.error ?? '', /no successful fetch/);
    assert.equal(c.count, 2, 'going stale changes what is pushed');

    srv.handle = json({ keys: [k1] });
    await r.refresh();
    assert.equal(r.snapshot().keysFor(source).state, 'fetched');
    assert.equal(c.count, 3);
  } finally {
    r.close();
    await srv.close();
  }
});

test('fails closed — an empty key set, never a fallback key — on 500, timeout, redirect, oversize and documents that are not key sets', async () => {
  // Keys made before the server starts: RSA generation inside a handler can outlast the timeout.
  const good = { keys: [publicJwk('k')] };
  const leaked = publicJwk('leaked');
  const big = publicJwk('a');
  const srv = await startServer((req, res) => {
    switch (req.url) {
      case '/500':
        return json({ keys: [leaked] }, 500)(req, res);
      case '/hang':
        return; // never answers
      case '/redirect':
        res.writeHead(302, { location: '/good' });
        return res.end();
      case '/good':
        return json(good)(req, res);
      case '/big-declared':
        res.writeHead(200, { 'content-length': '2048' });
        return res.end('x'.repeat(2048));
      case '/big-chunked':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(`{"keys": [${JSON.stringify(big)}`);
        return res.end(`, ${'{"kty":"oct","k":"AAAA"},'.repeat(200)}{"kty":"oct","k":"B"}]}`);
      case '/not-json':
        return json('<html>')(req, res);
      case '/no-keys':
        return json({ keys: [] })(req, res);
      case '/no-kty':
        return json({ keys: [{ n: 'x', e: 'AQAB' }] })(req, res);
      case '/deep':
        return json({ keys: [{ kty: 'RSA', x: [[[[[['deep']]]]]] }] })(req, res);
      default:
        return json({}, 404)(req, res);
    }
  });
  const metrics = new MetricsRegistry();
  const r = resolver({ timeoutMs: 1000, maxBytes: 1024, metrics });
  const cases: Array<[string, RegExp]> = [
    ['/500', /status 500/],
    ['/hang', /timed out after 1000 ms/],
    ['/redirect', /redirects are not followed \(to \/good\)/],
    ['/big-declared', /2048 bytes, more than the 1024 allowed/],
    ['/big-chunked', /exceeds 1024 bytes/],
    ['/not-json', /not JSON/],
    ['/no-keys', /no keys/],
    ['/no-kty', /keys\[0\] has no "kty"/],
    ['/deep', /nested too deeply/],
  ];
  try {
    const c = changes(r);
    const sources = cases.map(([path]) => ({ issuer: path, jwksUri: srv.url(path) }));
    r.track(sources);
    await r.idle();
    const snap = r.snapshot();
    cases.forEach(([path, error], i) => {
      const got = snap.keysFor(sources[i]!);
      assert.equal(got.state, 'failed', path);
      assert.equal(got.jwks, FAIL_CLOSED_JWKS, `${path}: nothing but the empty key set`);
      assert.match(got.error ?? '', error, path);
    });
    assert.equal(srv.hits.get('/good'), undefined, 'the redirect was not followed');
    assert.equal(c.count, 0, 'pending → failed pushes the same empty key set: no push needed');
    assert.equal(metrics.counter('pilot_jwks_resolver_network_fetch_fail_total', '').get(), cases.length);
  } finally {
    r.close();
    await srv.close();
  }
});

test('refuses loopback, link-local, unspecified, metadata and its own addresses, by literal or by what a name resolves to, before connecting', async () => {
  const srv = await startServer(json({ keys: [publicJwk('k')] }));
  const dns = fakeDns({
    'keys.test': ['127.0.0.1'],
    'rebind.test': ['203.0.113.7', '127.0.0.1'],
    'linklocal.test': ['fe80::1'],
    'mapped.test': ['::ffff:169.254.169.254'],
    'self.test': ['10.20.30.40'],
    localhost: ['127.0.0.1'],
  });
  const strict = new JwksResolver({ allowLoopback: false, refreshIntervalMs: 0, retryMs: 0, ownAddresses: ['10.20.30.40'], lookup: dns });
  const cases: Array<[string, RegExp]> = [
    [srv.url('/jwks'), /127\.0\.0\.1 is a loopback address/],
    [srv.url('/jwks', 'keys.test'), /keys\.test resolves to 127\.0\.0\.1, which is a loopback address/],
    [srv.url('/jwks', 'rebind.test'), /resolves to 127\.0\.0\.1/],
    [srv.url('/jwks', 'localhost'), /localhost is a loopback name/],
    [srv.url('/jwks', '[::1]'), /loopback address \(::1\)/],
    ['http://169.254.169.254/latest/meta-data/', /cloud metadata endpoint/],
    ['http://0.0.0.0:8080/jwks', /unspecified/],
    ['http://linklocal.test/jwks', /link-local address \(fe80::\/10\)/],
    ['http://mapped.test/jwks', /cloud metadata endpoint/],
    ['http://self.test/jwks', /an address of the control plane itself/],
    ['http://metadata.google.internal/computeMetadata/v1/', /GCE metadata server/],
  ];
  try {
    const sources = cases.map(([uri]) => ({ issuer: uri, jwksUri: uri }));
    strict.track(sources);
    await strict.idle();
    cases.forEach(([uri, error], i) => {
      const got = strict.snapshot().keysFor(sources[i]!);
      assert.equal(got.state, 'failed', uri);
      assert.equal(got.jwks, FAIL_CLOSED_JWKS, uri);
      assert.match(got.error ?? '', error, uri);
    });
    assert.equal(srv.hits.size, 0, 'no request reached the server');
  } finally {
    strict.close();
  }

  // The opt-in (MELTEMI_JWKS_ALLOW_LOOPBACK) admits loopback only: names and literals, nothing else.
  const open = new JwksResolver({ allowLoopback: true, refreshIntervalMs: 0, retryMs: 0, ownAddresses: ['10.20.30.40', '127.0.0.1'], lookup: dns });
  try {
    const ok = [srv.url('/a'), srv.url('/b', 'keys.test'), srv.url('/c', 'localhost')].map((u) => ({ issuer: u, jwksUri: u }));
    const refused = ['http://169.254.169.254/latest/meta-data/', 'http://linklocal.test/', 'http://self.test/'].map((u) => ({ issuer: u, jwksUri: u }));
    open.track([...ok, ...refused]);
    await open.idle();
    for (const s of ok) assert.equal(open.snapshot().keysFor(s).state, 'fetched', s.jwksUri);
    for (const s of refused) assert.equal(open.snapshot().keysFor(s).state, 'failed', s.jwksUri);
    assert.deepEqual([...srv.hits.keys()].sort(), ['/a', '/b', '/c']);
  } finally {
    open.close();
    await srv.close();
  }
});

test('without jwksUri, finds the key set by OpenID discovery from the issuer, with the same guards on the discovered jwks_uri', async () => {
  const k = publicJwk('k', 'ec');
  const srv = await startServer((req, res) => {
    if (req.url === '/good/.well-known/openid-configuration') return json({ issuer: 'x', jwks_uri: srv.url('/keys', 'keys.test') })(req, res);
    if (req.url === '/evil/.well-known/openid-configuration') return json({ jwks_uri: 'http://169.254.169.254/latest/meta-data/' })(req, res);
    if (req.url === '/none/.well-known/openid-configuration') return json({ issuer: 'x' })(req, res);
    if (req.url === '/keys') return json({ keys: [k] })(req, res);
    return json({}, 404)(req, res);
  });
  const r = resolver();
  const good = { issuer: srv.url('/good/', 'issuer.test') };
  const evil = { issuer: srv.url('/evil', 'issuer.test') };
  const none = { issuer: srv.url('/none', 'issuer.test') };
  const notUrl = { issuer: 'testing@secure.istio.io' };
  try {
    r.track([good, evil, none, notUrl]);
    await r.idle();
    const snap = r.snapshot();
    assert.equal(snap.keysFor(good).state, 'fetched', 'the trailing "/" of the issuer is dropped before the suffix');
    assert.deepEqual(keysOf(snap.keysFor(good).jwks), [k]);
    assert.equal(r.status().find((s) => s.source.issuer === good.issuer)?.discoveredUri, srv.url('/keys', 'keys.test'));
    assert.match(snap.keysFor(evil).error ?? '', /cloud metadata endpoint/);
    assert.match(snap.keysFor(none).error ?? '', /has no jwks_uri/);
    assert.match(snap.keysFor(notUrl).error ?? '', /not an absolute URL/);
    for (const s of [evil, none, notUrl]) assert.equal(snap.keysFor(s).jwks, FAIL_CLOSED_JWKS);

    // The discovered jwks_uri is reused on refresh (Istio caches it for 24 h).
    await r.refresh();
    assert.equal(srv.hits.get('/good/.well-known/openid-configuration'), 1);
    assert.equal(srv.hits.get('/keys'), 2);
  } finally {
    r.close();
    await srv.close();
  }
});

test('a key set never fetched is retried with backoff, and the first success notifies', async () => {
  const k = publicJwk('k');
  let fail = true;
  const srv = await startServer((req, res) => (fail ? json({}, 503)(req, res) : json({ keys: [k] })(req, res)));
  const r = resolver({ retryMs: 5 });
  const source = { issuer: 'i', jwksUri: srv.url('/jwks') };
  try {
    const fetched = new Promise<void>((resolve) => r.onChange(resolve));
    r.track([source]);
    await r.idle();
    assert.equal(r.snapshot().keysFor(source).state, 'failed');
    fail = false;
    await fetched; // bounded by the test runner's timeout
    assert.deepEqual(keysOf(r.snapshot().keysFor(source).jwks), [k]);
    assert.ok((srv.hits.get('/jwks') ?? 0) >= 2);
  } finally {
    r.close();
    await srv.close();
  }
});

test('close() aborts fetches in flight and silences listeners', async () => {
  const srv = await startServer(() => undefined);
  const r = resolver({ timeoutMs: 60_000 });
  const source = { issuer: 'i', jwksUri: srv.url('/hang') };
  try {
    const c = changes(r);
    r.track([source]);
    // Wait until the request is at the server, then close.
    for (let i = 0; i < 200 && !srv.hits.has('/hang'); i++) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(srv.hits.has('/hang'));
    r.close();
    await r.idle();
    assert.equal(c.count, 0);
    assert.equal(r.snapshot().keysFor(source).jwks, FAIL_CLOSED_JWKS);
  } finally {
    await srv.close();
  }
});

test('canonicalJwks sorts keys and members so equal key sets compare equal; refuses what is not a key set', () => {
  assert.equal(canonicalJwks('{"keys":[{"kty":"EC","kid":"b"},{"kid":"a","kty":"RSA","e":"AQAB"}]}'), canonicalJwks('{"other":1,"keys":[{"e":"AQAB","kty":"RSA","kid":"a"},{"kid":"b","kty":"EC"}]}'));
  assert.throws(() => canonicalJwks('[]'), /no "keys" list/);
  assert.throws(() => canonicalJwks('{"keys":[1]}'), /keys\[0\] is not an object/);
});
