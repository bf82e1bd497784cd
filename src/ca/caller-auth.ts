// Who is calling the CA: the pluggable caller check, and the local runtime's per-workload tokens.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { MeshError } from '../shared/errors.js';
import { spiffeId, type WorkloadIdentity } from './sign.js';

/**
 * Turns a call's credentials into the identity the CA signs for. Implementations throw
 * MESH_UNAUTHENTICATED when the caller cannot be authenticated; the identity's trust domain must
 * come from configuration, never from anything the caller sent.
 */
export interface CallerAuthenticator {
  authenticate(metadata: grpc.Metadata): Promise<WorkloadIdentity>;
}

export const TOKEN_KEY_BYTES = 32;
/** Tokens are ~150 characters; anything far longer is refused before any work is done on it. */
const MAX_TOKEN_CHARS = 2048;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const BEARER = 'Bearer ';

/** A fresh HMAC key for `LocalTokenAuthenticator`; one per install, kept secret like the CA key. */
export function newTokenKey(): Buffer {
  return randomBytes(TOKEN_KEY_BYTES);
}

function unauthenticated(message: string): MeshError {
  return new MeshError('MESH_UNAUTHENTICATED', message);
}

/**
 * The local runtime's caller check. The control plane issues each workload a token
 * `PAYLOAD.MAC`: PAYLOAD is base64url of `{"ns","sa","exp"}` (exp in Unix milliseconds) and MAC
 * is base64url of HMAC-SHA256(key, PAYLOAD as sent), so nothing in a token is parsed before its
 * MAC verifies. The workload sends it as gRPC metadata `authorization: Bearer TOKEN`, as Istio's
 * agent does. The trust domain is this authenticator's, never the token's.
 */
export class LocalTokenAuthenticator implements CallerAuthenticator {
  private readonly key: Buffer;
  private readonly trustDomain: string;
  private readonly now: () => number;

  /** `key` is at least 32 secret bytes (`newTokenKey()`); `now` (Unix ms) is for tests. */
  constructor(options: { key: Buffer; trustDomain: string; now?: () => number }) {
    if (options.key.length < TOKEN_KEY_BYTES) throw new MeshError('MESH_INVALID_CONFIG', `token key must be at least ${TOKEN_KEY_BYTES} bytes`);
    this.key = Buffer.from(options.key);
    this.trustDomain = options.trustDomain;
    this.now = options.now ?? Date.now;
  }

  /** A token for the workload running as `serviceAccount` in `namespace`, valid for `ttlMs`. */
  issueToken(workload: { namespace: string; serviceAccount: string }, ttlMs: number): string {
    spiffeId({ trustDomain: this.trustDomain, ...workload }); // refuses names that cannot form an identity
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new MeshError('MESH_USAGE', `token TTL ${ttlMs} ms is not a positive whole number of milliseconds`);
    const payload = Buffer.from(JSON.stringify({ ns: workload.namespace, sa: workload.serviceAccount, exp: this.now() + ttlMs })).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  authenticate(metadata: grpc.Metadata): Promise<WorkloadIdentity> {
    try {
      return Promise.resolve(this.verify(metadata));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  private verify(metadata: grpc.Metadata): WorkloadIdentity {
    const values = metadata.get('authorization');
    if (values.length !== 1 || typeof values[0] !== 'string') throw unauthenticated('expected one authorization header');
    const header = values[0];
    if (!header.startsWith(BEARER) || header.length > BEARER.length + MAX_TOKEN_CHARS) throw unauthenticated('expected a bearer token');
    const parts = header.slice(BEARER.length).split('.');
    if (parts.length !== 2 || !parts.every((p) => BASE64URL.test(p))) throw unauthenticated('malformed token');
    const [payload, mac] = parts as [string, string];
    // Compare the canonical encoding, so a token has exactly one valid spelling.
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthenticated('invalid token');

    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw unauthenticated('malformed token');
    }
    const { ns, sa, exp } = (claims ?? {}) as Record<string, unknown>;
    if (typeof ns !== 'string' || typeof sa !== 'string' || typeof exp !== 'number') throw unauthenticated('malformed token');
    if (exp <= this.now()) throw unauthenticated('token expired');
    return { trustDomain: this.trustDomain, namespace: ns, serviceAccount: sa };
  }
}
