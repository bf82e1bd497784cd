// The JWT key sets a push carries: where a JWT rule's keys come from, and the control plane's answer for each (fetched, pending or failed).

/**
 * Where the control plane fetches the keys of a JWT rule that has no inline `jwks`: its
 * `jwksUri`, or, without one, the `jwks_uri` of the issuer's OpenID discovery document
 * (`<issuer>/.well-known/openid-configuration`), as Istio 1.6 does.
 */
export interface JwksSource {
  issuer: string;
  /** Absent or '': discover it from the issuer. */
  jwksUri?: string;
}

/** A key set as a push sees it. */
export interface ResolvedJwks {
  /**
   * The JSON Web Key Set to inline into the proxy's config. While the keys are not (or no longer)
   * known this is FAIL_CLOSED_JWKS, which verifies no token.
   */
  jwks: string;
  /**
   * `fetched`: `jwks` came from the source (possibly from an earlier fetch, when the last refresh
   * failed; see `error`). `pending`: the first fetch has not finished. `failed`: no fetch has
   * succeeded (or the last success is too old to trust).
   */
  state: 'fetched' | 'pending' | 'failed';
  /** Why the last fetch failed, if it did. */
  error?: string;
}

/** The key sets the control plane held when a push was built; read by generators, never fetched by them. */
export interface JwksSnapshot {
  keysFor(source: JwksSource): ResolvedJwks;
}

/**
 * A key set with no keys: every token of the issuer fails verification (401), while requests
 * without a token still pass, as for any RequestAuthentication. Pushed instead of keys the
 * control plane could not fetch. Never a placeholder key: a "fake" key whose private half
 * anyone might know would let them mint tokens (CVE-2026-31837). Envoy likewise treats an inline
 * key set without keys as "no keys": it logs it and fails every token of that provider.
 */
export const FAIL_CLOSED_JWKS = '{"keys":[]}';

/** The identity of a source: one fetch (and one cache entry) per distinct jwksUri, or per issuer when discovered. */
export function jwksSourceKey(s: JwksSource): string {
  return s.jwksUri ? `uri ${s.jwksUri}` : `issuer ${s.issuer}`;
}

const PENDING: ResolvedJwks = Object.freeze({ jwks: FAIL_CLOSED_JWKS, state: 'pending' });

/** The snapshot of a push built without a resolver (tests, offline tools): nothing fetched, every remote key set fails closed. */
export const NO_JWKS: JwksSnapshot = Object.freeze({ keysFor: () => PENDING });
