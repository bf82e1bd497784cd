// The control plane's JWKS resolver: fetches the key sets RequestAuthentications name (jwksUri, else OpenID discovery) behind an SSRF guard, caches and refreshes them, and fails closed.
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { forbiddenAddressProblem, forbiddenHostProblem } from '../api/kinds/security-types.js';
import { FAIL_CLOSED_JWKS, jwksSourceKey, type JwksSnapshot, type JwksSource, type ResolvedJwks } from '../model/jwks.js';
import { MeshError } from '../shared/errors.js';
import type { Counter, MetricsRegistry } from '../shared/metrics.js';
import { Tunables, tunable } from '../shared/tunables.js';

/** Longest one fetch may take, DNS lookup to last byte, in ms (Istio 1.6: 5 s). */
export const JWKS_FETCH_TIMEOUT_MS = 5_000;
/** Largest JWKS or OpenID discovery document accepted, in bytes. */
export const JWKS_MAX_BYTES = 1024 * 1024;
/** How often every key set is fetched again, in ms (Istio 1.6 JwtPubKeyRefreshInterval: 20 min). */
export const JWKS_REFRESH_INTERVAL_MS = 20 * 60_000;
/** First retry delay of a key set never fetched, in ms; doubles per failure up to the refresh interval. */
export const JWKS_RETRY_MS = 5_000;
/**
 * How long the last good keys are served while refreshes fail, in ms (Istio 1.6
 * JwtPubKeyEvictionDuration: 7 days). After that the issuer's tokens fail closed: keys nobody
 * could confirm for a week may have been revoked.
 */
export const JWKS_MAX_STALE_MS = 7 * 24 * 3_600_000;
/** How long a jwks_uri found by OpenID discovery is reused before asking again, in ms (Istio 1.6: 24 h). */
export const OPENID_DISCOVERY_TTL_MS = 24 * 3_600_000;

const OPENID_SUFFIX = '/.well-known/openid-configuration';
/** JWK members are strings or lists of strings (`x5c`, `key_ops`), `oth` is a list of objects: anything deeper is not a key. */
const MAX_KEY_DEPTH = 4;

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a hostname resolves to (like `dns.lookup(name, {all: true})`). */
export type HostLookup = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export interface JwksLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface JwksResolverOptions {
  /** Default JWKS_FETCH_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Default JWKS_MAX_BYTES. */
  maxBytes?: number;
  /** Default JWKS_REFRESH_INTERVAL_MS; 0: no timer (call `refresh()`). */
  refreshIntervalMs?: number;
  /** Default JWKS_RETRY_MS; 0: a failed first fetch is retried only by `refresh()`. */
  retryMs?: number;
  /** Default JWKS_MAX_STALE_MS. */
  maxStaleMs?: number;
  /** Default OPENID_DISCOVERY_TTL_MS. */
  discoveryTtlMs?: number;
  /**
   * Let jwksUri (and issuers) resolve to loopback addresses: for tests and single-machine
   * development only. Default: the MELTEMI_JWKS_ALLOW_LOOPBACK tunable (off).
   */
  allowLoopback?: boolean;
  /**
   * The control plane's own addresses, refused as fetch targets (its debug and xDS ports are not
   * for policy authors to read). Default: every address of every local network interface.
   */
  ownAddresses?: readonly string[];
  /** DNS (default `dns.lookup` with `all: true`); tests map names to loopback. */
  lookup?: HostLookup;
  /** Wall clock in ms, for staleness and discovery expiry. */
  now?: () => number;
  logger?: JwksLogger;
  /** Where to count fetches (Istio's pilot_jwks_resolver_network_fetch_{success,fail}_total). */
  metrics?: MetricsRegistry;
}

/** What the resolver knows about one source (debug output). */
export interface JwksSourceStatus {
  source: JwksSource;
  state: ResolvedJwks['state'];
  error?: string;
  /** Wall-clock ms of the last successful fetch. */
  fetchedAt?: number;
  /** The jwks_uri OpenID discovery found, for sources without a jwksUri. */
  discoveredUri?: string;
}

interface Entry {
  readonly key: string;
  readonly source: JwksSource;
  /** The last key set fetched successfully, canonical JSON. */
  jwks?: string;
  fetchedAt?: number;
  error?: string;
  /** Failed fetches since the last success. */
  failures: number;
  discovered?: { uri: string; at: number };
  /** The key set listeners last learned of: the one in the latest snapshot or change notification. */
  published: string;
  inFlight?: Promise<void>;
  retryTimer?: ReturnType<typeof setTimeout>;
}

const PENDING: ResolvedJwks = Object.freeze({ jwks: FAIL_CLOSED_JWKS, state: 'pending' });

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A URL the resolver may fetch: absolute http(s), a host, no credentials. Throws otherwise. */
function fetchUrl(uri: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new MeshError('MESH_INVALID_CONFIG', `${what} "${uri}" is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new MeshError('MESH_INVALID_CONFIG', `${what} "${uri}" is not http:// or https://`);
  if (url.hostname === '') throw new MeshError('MESH_INVALID_CONFIG', `${what} "${uri}" has no host`);
  if (url.username !== '' || url.password !== '') throw new MeshError('MESH_INVALID_CONFIG', `${what} must not carry credentials`);
  return url;
}

function bareHost(url: URL): string {
  const h = url.hostname.toLowerCase();
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/** JSON with object members in sorted order, so that two fetches of the same keys compare equal; throws beyond `depth` levels. */
function canonical(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth <= 0) throw new Error('a key is nested too deeply to be a JSON Web Key');
  if (Array.isArray(v)) return v.map((x) => canonical(x, depth - 1));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = canonical((v as Record<string, unknown>)[k], depth - 1);
  return out;
}

/**
 * Checks a fetched document is a JSON Web Key Set with at least one key, each an object with a
 * key type, and returns it as canonical JSON (members and keys sorted; other top-level members
 * dropped). Throws with the reason otherwise: an empty or malformed set is a failed fetch, never
 * "no keys needed".
 */
export function canonicalJwks(body: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (e) {
    throw new Error(`not JSON (${messageOf(e)})`);
  }
  const keys = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys)) throw new Error('not a JSON Web Key Set: no "keys" list');
  if (keys.length === 0) throw new Error('the key set has no keys');
  const out = keys.map((k, i) => {
    if (k === null || typeof k !== 'object' || Array.isArray(k)) throw new Error(`keys[${i}] is not an object`);
    const kty = (k as { kty?: unknown }).kty;
    if (typeof kty !== 'string' || kty === '') throw new Error(`keys[${i}] has no "kty"`);
    return JSON.stringify(canonical(k, MAX_KEY_DEPTH));
  });
  out.sort();
  return `{"keys":[${out.join(',')}]}`;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

function familyOf(ip: string): 'ipv4' | 'ipv6' {
  return isIP(ip) === 6 ? 'ipv6' : 'ipv4';
}

/** Every address of every local interface (loopback included): where the control plane itself listens. */
function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.push(a.address);
  return out;
}

const defaultLookup: HostLookup = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/**
 * Fetches, caches and refreshes the JSON Web Key Sets of RequestAuthentication rules, as istiod's
 * JwksResolver does in Istio 1.6, off the push path: `track()` names the sources the current
 * config needs and starts fetching new ones in the background; `snapshot()` is what a push is
 * built with (generators never fetch); `onChange` listeners hear when a key set a push would
 * carry has changed, so that the owner pushes again.
 *
 * Failure handling, where Meltemi departs from Istio 1.6 (which pushed a made-up RSA key):
 * - A source never fetched successfully is served as FAIL_CLOSED_JWKS (no keys): tokens of its
 *   issuer get 401, requests without a token are unaffected. It is retried with backoff.
 * - A refresh that fails keeps the last good keys (as Istio does) for up to `maxStaleMs`.
 * - A fetched document that is not a usable key set counts as a failure; nothing else is ever
 *   substituted for the keys.
 *
 * Fetch rules (ISTIO-SECURITY-2026-003, SSRF): http(s) only; the name is resolved once, every
 * address it resolves to must be allowed, and the connection goes to that checked address (no
 * second lookup an attacker's DNS could answer differently); loopback, unspecified,
 * link-local and cloud-metadata addresses and the control plane's own addresses are refused;
 * redirects are not followed; one deadline covers lookup, connect and body; bodies are capped.
 * The discovered `jwks_uri` of an issuer goes through the same checks.
 */
export class JwksResolver {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<() => void>();
  private readonly aborts = new Set<AbortController>();
  private readonly own = new BlockList();
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly refreshIntervalMs: number;
  private readonly retryMs: number;
  private readonly maxStaleMs: number;
  private readonly discoveryTtlMs: number;
  private readonly allowLoopback: boolean;
  private readonly lookup: HostLookup;
  private readonly now: () => number;
  private readonly log?: JwksLogger;
  private readonly fetched?: Counter;
  private readonly failed?: Counter;
  private refreshTimer?: ReturnType<typeof setInterval>;
  private closed = false;

  constructor(options: JwksResolverOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? JWKS_FETCH_TIMEOUT_MS;
    this.maxBytes = options.maxBytes ?? JWKS_MAX_BYTES;
    this.refreshIntervalMs = options.refreshIntervalMs ?? JWKS_REFRESH_INTERVAL_MS;
    this.retryMs = options.retryMs ?? JWKS_RETRY_MS;
    this.maxStaleMs = options.maxStaleMs ?? JWKS_MAX_STALE_MS;
    this.discoveryTtlMs = options.discoveryTtlMs ?? OPENID_DISCOVERY_TTL_MS;
    this.allowLoopback = options.allowLoopback ?? tunable(Tunables.jwksAllowLoopback) === 1;
    this.lookup = options.lookup ?? defaultLookup;
    this.now = options.now ?? Date.now;
    this.log = options.logger;
    for (const a of options.ownAddresses ?? interfaceAddresses()) {
      const ip = a.split('%')[0]!;
      if (isIP(ip)) this.own.addAddress(ip, familyOf(ip));
    }
    this.fetched = options.metrics?.counter('pilot_jwks_resolver_network_fetch_success_total', 'Total number of successfully network fetch by pilot jwks resolver');
    this.failed = options.metrics?.counter('pilot_jwks_resolver_network_fetch_fail_total', 'Total number of failed network fetch by pilot jwks resolver');
    if (this.refreshIntervalMs > 0) {
      this.refreshTimer = setInterval(() => void this.refresh(), this.refreshIntervalMs);
      this.refreshTimer.unref();
    }
  }

  /** Calls `listener` (asynchronously, after a fetch) whenever a key set a push would carry changed. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The sources the current config needs. New ones start fetching now (in the background); ones
   * no longer named are forgotten. Cheap when nothing changed; never waits for the network.
   */
  track(sources: readonly JwksSource[]): void {
    if (this.closed) return;
    const wanted = new Map(sources.map((s) => [jwksSourceKey(s), s]));
    for (const [key, e] of this.entries) {
      if (wanted.has(key)) continue;
      if (e.retryTimer) clearTimeout(e.retryTimer);
      this.entries.delete(key);
    }
    for (const [key, source] of wanted) {
      if (this.entries.has(key)) continue;
      const e: Entry = { key, source: Object.freeze({ ...source }), failures: 0, published: FAIL_CLOSED_JWKS };
      this.entries.set(key, e);
      void this.update([e]);
    }
  }

  /** The key sets as of now, for one push: frozen, unaffected by later fetches. Sources not tracked read as pending. */
  snapshot(): JwksSnapshot {
    const now = this.now();
    const table = new Map<string, ResolvedJwks>();
    for (const [key, e] of this.entries) {
      const r = Object.freeze(this.resolvedOf(e, now));
      e.published = r.jwks;
      table.set(key, r);
    }
    return Object.freeze({ keysFor: (s: JwksSource) => table.get(jwksSourceKey(s)) ?? PENDING });
  }

  /** Fetches every tracked source again (the periodic refresh; tests call it directly). Resolves when all are done; never rejects. */
  async refresh(): Promise<void> {
    if (this.closed) return;
    await this.update([...this.entries.values()]);
  }

  /** Resolves when no fetch is in flight. */
  async idle(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const pending = [...this.entries.values()].flatMap((e) => (e.inFlight ? [e.inFlight] : []));
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  /** Per source: state, last error, when last fetched (for debug endpoints and tests). Sorted by source. */
  status(): JwksSourceStatus[] {
    const now = this.now();
    return [...this.entries.values()]
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((e) => {
        const r = this.resolvedOf(e, now);
        const s: JwksSourceStatus = { source: e.source, state: r.state };
        if (r.error !== undefined) s.error = r.error;
        if (e.fetchedAt !== undefined) s.fetchedAt = e.fetchedAt;
        if (e.discovered) s.discoveredUri = e.discovered.uri;
        return s;
      });
  }

  /** Stops the timers and aborts fetches in flight; listeners are no longer called. */
  close(): void {
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    for (const e of this.entries.values()) if (e.retryTimer) clearTimeout(e.retryTimer);
    for (const a of this.aborts) a.abort(new Error('the JWKS resolver closed'));
    this.listeners.clear();
  }

  private resolvedOf(e: Entry, now: number): ResolvedJwks {
    if (e.jwks !== undefined && e.fetchedAt !== undefined) {
      if (now - e.fetchedAt <= this.maxStaleMs) return e.error === undefined ? { jwks: e.jwks, state: 'fetched' } : { jwks: e.jwks, state: 'fetched', error: e.error };
      const stale = `no successful fetch for ${Math.round((now - e.fetchedAt) / 60_000)} min${e.error ? ` (last error: ${e.error})` : ''}`;
      return { jwks: FAIL_CLOSED_JWKS, state: 'failed', error: stale };
    }
    return e.error === undefined ? PENDING : { jwks: FAIL_CLOSED_JWKS, state: 'failed', error: e.error };
  }

  /**
   * Fetches `entries` (joining fetches already in flight) and tells listeners once if what a push
   * would now carry for any of them differs from what they last learned of: new keys, the first
   * keys, or keys gone stale. A failure that leaves the pushed key set as it was is no change.
   */
  private async update(entries: readonly Entry[]): Promise<void> {
    await Promise.all(entries.map((e) => this.fetchOnce(e)));
    if (this.closed) return;
    const now = this.now();
    let changed = false;
    for (const e of entries) {
      if (this.entries.get(e.key) !== e) continue;
      const jwks = this.resolvedOf(e, now).jwks;
      if (jwks === e.published) continue;
      e.published = jwks;
      changed = true;
    }
    if (!changed) return;
    for (const l of this.listeners) {
      try {
        l();
      } catch (err) {
        this.log?.warn('a JWKS change listener failed', { error: messageOf(err) });
      }
    }
  }

  private fetchOnce(e: Entry): Promise<void> {
    if (!e.inFlight) {
      if (e.retryTimer) clearTimeout(e.retryTimer);
      e.retryTimer = undefined;
      e.inFlight = this.fetchInto(e).finally(() => {
        e.inFlight = undefined;
      });
    }
    return e.inFlight;
  }

  /** One fetch of one source into its entry. Never throws. */
  private async fetchInto(e: Entry): Promise<void> {
    try {
      const uri = e.source.jwksUri || (await this.discover(e));
      const jwks = canonicalJwks(await this.get(uri, 'jwksUri'));
      if (this.closed) return;
      if (jwks !== e.jwks) this.log?.info('JWKS fetched', { source: e.key, uri });
      e.jwks = jwks;
      e.fetchedAt = this.now();
      e.error = undefined;
      e.failures = 0;
      this.fetched?.inc();
    } catch (err) {
      if (this.closed) return;
      e.error = messageOf(err);
      e.failures++;
      this.failed?.inc();
      this.log?.warn(e.jwks === undefined ? 'JWKS fetch failed; tokens of this issuer are refused until it succeeds' : 'JWKS refresh failed; serving the last keys fetched', { source: e.key, error: e.error });
      this.scheduleRetry(e);
    }
  }

  /** A source without good keys is fetched again after a backoff (doubling, capped at the refresh interval). */
  private scheduleRetry(e: Entry): void {
    if (this.retryMs <= 0 || e.jwks !== undefined || this.closed) return;
    const cap = this.refreshIntervalMs > 0 ? this.refreshIntervalMs : Number.POSITIVE_INFINITY;
    const delay = Math.min(this.retryMs * 2 ** Math.min(e.failures - 1, 20), cap);
    e.retryTimer = setTimeout(() => {
      e.retryTimer = undefined;
      if (this.entries.get(e.key) === e) void this.update([e]);
    }, delay);
    e.retryTimer.unref();
  }

  /** The jwks_uri of the issuer's OpenID discovery document, reused for `discoveryTtlMs`. */
  private async discover(e: Entry): Promise<string> {
    const known = e.discovered;
    if (known && this.now() - known.at < this.discoveryTtlMs) return known.uri;
    // OpenID Connect Discovery 1.0 §4: drop a terminating "/" of the issuer before the suffix.
    const issuer = e.source.issuer.endsWith('/') ? e.source.issuer.slice(0, -1) : e.source.issuer;
    const body = await this.get(issuer + OPENID_SUFFIX, 'issuer (for OpenID discovery)');
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch (err) {
      throw new Error(`OpenID discovery document of "${e.source.issuer}" is not JSON (${messageOf(err)})`);
    }
    const uri = doc !== null && typeof doc === 'object' ? (doc as { jwks_uri?: unknown }).jwks_uri : undefined;
    if (typeof uri !== 'string' || uri === '') throw new Error(`OpenID discovery document of "${e.source.issuer}" has no jwks_uri`);
    fetchUrl(uri, 'discovered jwks_uri');
    e.discovered = { uri, at: this.now() };
    return uri;
  }

  /** Why the resolver may not connect to `ip`, or undefined. */
  private addressProblem(ip: string): string | undefined {
    const family = familyOf(ip);
    if (this.allowLoopback && LOOPBACK.check(ip, family)) return undefined;
    const p = forbiddenAddressProblem(ip);
    if (p) return p;
    if (this.own.check(ip, family)) return 'an address of the control plane itself';
    return undefined;
  }

  /** The address to connect to for `url`: every address the host resolves to must be allowed. */
  private async target(url: URL, what: string): Promise<ResolvedAddress> {
    const host = bareHost(url);
    const literal = isIP(host);
    if (!literal) {
      const loopbackName = host === 'localhost' || host === 'localhost.' || host.endsWith('.localhost') || host.endsWith('.localhost.');
      const named = forbiddenHostProblem(host);
      if (named && !(this.allowLoopback && loopbackName)) throw new MeshError('MESH_INVALID_CONFIG', `refused to fetch ${what} ${url.href}: ${host} is ${named}`);
    }
    const addresses = literal ? [{ address: host, family: literal as 4 | 6 }] : await this.lookup(host);
    if (addresses.length === 0) throw new Error(`${host} resolves to no address`);
    for (const a of addresses) {
      const p = this.addressProblem(a.address);
      if (p) throw new MeshError('MESH_INVALID_CONFIG', `refused to fetch ${what} ${url.href}: ${literal ? host : `${host} resolves to ${a.address}, which`} is ${p}`);
    }
    return addresses[0]!;
  }

  /** GET `uri` under the fetch rules; the body as text. */
  private async get(uri: string, what: string): Promise<string> {
    const url = fetchUrl(uri, what);
    const abort = new AbortController();
    this.aborts.add(abort);
    const timer = setTimeout(() => abort.abort(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const aborted = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason as Error), { once: true }));
      aborted.catch(() => undefined);
      const target = await Promise.race([this.target(url, what), aborted]);
      return await Promise.race([this.request(url, target, abort.signal), aborted]);
    } catch (err) {
      throw new Error(`GET ${url.href}: ${messageOf(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
      this.aborts.delete(abort);
    }
  }

  private request(url: URL, target: ResolvedAddress, signal: AbortSignal): Promise<string> {
    const host = bareHost(url);
    const tls = url.protocol === 'https:';
    // The connection goes to the address checked above, whatever a second lookup would say.
    const pinned = (_name: string, opts: { all?: boolean }, cb: (err: Error | null, address: string | ResolvedAddress[], family?: number) => void): void => {
      if (opts.all) cb(null, [target]);
      else cb(null, target.address, target.family);
    };
    const options: https.RequestOptions = {
      method: 'GET',
      hostname: host,
      port: url.port === '' ? (tls ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: { host: url.host, accept: 'application/json', 'user-agent': 'meltemi-discovery' },
      agent: false,
      lookup: pinned as unknown as https.RequestOptions['lookup'],
      signal,
    };
    if (tls && !isIP(host)) options.servername = host;
    return new Promise<string>((resolve, reject) => {
      const req = (tls ? https : http).request(options, (res) => {
        const status = res.statusCode ?? 0;
        const fail = (message: string) => {
          res.destroy();
          reject(new Error(message));
        };
        if (status >= 300 && status < 400) return fail(`status ${status}: redirects are not followed${res.headers.location ? ` (to ${res.headers.location})` : ''}`);
        if (status < 200 || status >= 300) return fail(`status ${status}`);
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > this.maxBytes) return fail(`the document is ${declared} bytes, more than the ${this.maxBytes} allowed`);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxBytes) return fail(`the document exceeds ${this.maxBytes} bytes`);
          chunks.push(chunk);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }
}
