// Shared fixtures for the HTTP filter tests: requests as the exchange hands them over, signing keys and JWKS, a fixed clock, and certificates with chosen names.
import { execFileSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, type JWTPayload } from 'jose';
import type { FilterRequest, FilterVerdict, HttpDecoderFilter } from '../../../src/proxy/http/http-filters.js';
import { HeaderList } from '../../../src/proxy/http1/index.js';
import { parseSpiffeId, type PeerIdentity } from '../../../src/shared/spiffe.js';
import type { DownstreamSecurity } from '../../../src/proxy/security/tls-transport.js';

/** The fixed "now" of every test: 2023-11-14T22:13:20Z. */
export const NOW_MS = 1_700_000_000_000;
export const NOW_S = NOW_MS / 1000;
export const clock = { nowMs: () => NOW_MS };

export interface RequestOptions {
  method?: string;
  path?: string;
  query?: string;
  authority?: string;
  headers?: ReadonlyArray<readonly [string, string]>;
  security?: DownstreamSecurity;
  remoteAddress?: string;
  localAddress?: string;
  localPort?: number;
  serverName?: string;
  metadata?: Map<string, Record<string, unknown>>;
}

/** A request as the exchange builds it for the filters. */
export function request(o: RequestOptions = {}): FilterRequest {
  const headers = new HeaderList();
  for (const [n, v] of o.headers ?? []) headers.add(n, v);
  return {
    method: o.method ?? 'GET',
    path: o.path ?? '/',
    query: o.query ?? '',
    authority: o.authority ?? 'httpbin.foo:8000',
    headers,
    security: o.security ?? { tls: false },
    remoteAddress: o.remoteAddress ?? '10.1.0.7',
    localAddress: o.localAddress ?? '10.1.0.9',
    localPort: o.localPort ?? 8000,
    ...(o.serverName !== undefined ? { serverName: o.serverName } : {}),
    metadata: o.metadata ?? new Map(),
  };
}

/** The mesh identity of a workload, as the TLS transport records it for a verified peer. */
export function peer(ns: string, sa: string, trustDomain = 'cluster.local'): PeerIdentity {
  const id = parseSpiffeId(`spiffe://${trustDomain}/ns/${ns}/sa/${sa}`);
  if (!id) throw new Error('bad test identity');
  return id;
}

/** DownstreamSecurity of an mTLS connection from `ns/sa`, this proxy being `local`. */
export function mtls(ns: string, sa: string, trustDomain = 'cluster.local', local = 'spiffe://cluster.local/ns/foo/sa/httpbin'): DownstreamSecurity {
  return { tls: true, peer: peer(ns, sa, trustDomain), localIdentity: local };
}

/** Runs filters in order the way the exchange does: the first reply ends the request. */
export async function runChain(filters: readonly HttpDecoderFilter[], req: FilterRequest): Promise<FilterVerdict> {
  for (const f of filters) {
    const v = await f.decode(req);
    if (v !== undefined) return v;
  }
  return undefined;
}

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: Record<string, unknown>;
}

export function rsaKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, alg: 'RS256', privateKey, publicKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}

export function ecKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, alg: 'ES256', privateKey, publicKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' } };
}

export function jwks(...keys: SigningKey[]): string {
  return JSON.stringify({ keys: keys.map((k) => k.jwk) });
}

/** A token signed by `key` with `claims`; iat now, exp in an hour unless the claims say otherwise. */
export async function sign(key: SigningKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iat: NOW_S, exp: NOW_S + 3600, ...claims }).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
}

export function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

/** A self-signed certificate with the given subject alternative names (openssl `subjectAltName` syntax), made in a temporary directory removed before returning. */
export function certificateWith(cn: string, sans: string): X509Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-filters-'));
  try {
    const key = join(dir, 'k.pem');
    const cert = join(dir, 'c.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/O=meltemi/CN=${cn}`, '-addext', `subjectAltName=${sans}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
    return new X509Certificate(readFileSync(cert));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
