// Envoy's JWT authentication filter (envoy.filters.http.jwt_authn) compiled once: providers with inline JWKS, rules with requirement trees, and token checks bounded in size and nesting, signatures verified with jose.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { compileHeaderMatcher, compileQueryMatcher, compileRegex, parseQuery, type HeaderLookup } from '../config/string-matcher.js';
import { ConfigError, bool, isObject, list, num, obj, str, type Json } from '../config/xds-json.js';
import type { FilterReply, FilterRequest, FilterVerdict, HttpDecoderFilter } from '../http/http-filters.js';
import { onlyFields } from './filter-config.js';

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
/** The config types (v3, and the v2alpha Istio 1.6 sent, which has the same fields). */
export const JWT_AUTHN_TYPES: ReadonlySet<string> = new Set([
  'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
  'type.googleapis.com/envoy.config.filter.http.jwt_authn.v2alpha.JwtAuthentication',
]);

/** Largest token accepted, in characters of its compact form: a larger one is refused before any decoding. */
export const MAX_JWT_CHARS = 8192;
/** Deepest JSON nesting accepted in a token's header or payload (checked before JSON.parse builds anything). */
export const MAX_JWT_JSON_DEPTH = 32;
/** Most tokens one request may carry in the configured locations; each costs a signature check. */
export const MAX_JWT_TOKENS = 8;
/** jwt_verify_lib's default clock skew, applied to exp and nbf. */
const DEFAULT_CLOCK_SKEW_SECONDS = 60;
/** Envoy truncates the path in the realm of www-authenticate to this many characters. */
const MAX_REALM_PATH = 256;

/**
 * Verification outcomes with the messages Envoy's jwt_verify_lib reports (the local reply body).
 * `JwtTooLarge` is Meltemi's own: Envoy has no token size limit besides its header limits.
 */
const STATUS = {
  Ok: 'OK',
  JwtMissed: 'Jwt is missing',
  JwtNotYetValid: 'Jwt not yet valid',
  JwtExpired: 'Jwt is expired',
  JwtBadFormat: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  JwtTooLarge: 'Jwt is too large',
  JwtHeaderParseErrorBadBase64: 'Jwt header is an invalid Base64url encoded',
  JwtHeaderParseErrorBadJson: 'Jwt header is an invalid JSON',
  JwtHeaderBadAlg: 'Jwt header [alg] field is required and must be a string',
  JwtHeaderNotImplementedAlg: 'Jwt header [alg] is not supported',
  JwtHeaderBadKid: 'Jwt header [kid] field is not a string',
  JwtPayloadParseErrorBadBase64: 'Jwt payload is an invalid Base64url encoded',
  JwtPayloadParseErrorBadJson: 'Jwt payload is an invalid JSON',
  JwtPayloadParseErrorIssNotString: 'Jwt payload [iss] field is not a string',
  JwtPayloadParseErrorSubNotString: 'Jwt payload [sub] field is not a string',
  JwtPayloadParseErrorIatNotInteger: 'Jwt payload [iat] field is not an integer',
  JwtPayloadParseErrorIatOutOfRange: 'Jwt payload [iat] field is not a positive 64 bit integer',
  JwtPayloadParseErrorNbfNotInteger: 'Jwt payload [nbf] field is not an integer',
  JwtPayloadParseErrorNbfOutOfRange: 'Jwt payload [nbf] field is not a positive 64 bit integer',
  JwtPayloadParseErrorExpNotInteger: 'Jwt payload [exp] field is not an integer',
  JwtPayloadParseErrorExpOutOfRange: 'Jwt payload [exp] field is not a positive 64 bit integer',
  JwtPayloadParseErrorJtiNotString: 'Jwt payload [jti] field is not a string',
  JwtPayloadParseErrorAudNotString: 'Jwt payload [aud] field is not a string or string list',
  JwtSignatureParseErrorBadBase64: 'Jwt signature is an invalid Base64url encoded',
  JwtUnknownIssuer: 'Jwt issuer is not configured',
  JwtAudienceNotAllowed: 'Audiences in Jwt are not allowed',
  JwtVerificationFail: 'Jwt verification fails',
  JwtMultipleTokens: 'Found multiple Jwt tokens',
  JwksNoValidKeys: "Jwks doesn't have any valid public key",
  JwksKidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
} as const;

export type JwtStatus = keyof typeof STATUS;

/** The message Envoy puts in the reply body for a status. */
export function jwtStatusMessage(status: JwtStatus): string {
  return STATUS[status];
}

/** The algorithms jwt_verify_lib implements; anything else (`none` above all) is refused before a key is looked at. */
const IMPLEMENTED_ALGS: ReadonlySet<string> = new Set(['ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA']);
const EC_CURVE_OF_ALG: Readonly<Record<string, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

/** One usable key of a provider's JWKS. `kid`/`alg` are '' when the JWK has none. */
interface Jwk {
  kid: string;
  alg: string;
  kty: 'RSA' | 'EC' | 'oct' | 'OKP';
  crv: string;
  key: KeyObject | Uint8Array;
}

/** The issuers that configured one token location; an empty configured issuer admits every issuer. */
class IssuerChecker {
  private allowAll = false;
  private readonly issuers = new Set<string>();

  add(issuer: string): void {
    if (issuer === '') this.allowAll = true;
    else this.issuers.add(issuer);
  }

  check(issuer: string): boolean {
    return this.allowAll || this.issuers.has(issuer);
  }
}

interface Provider {
  name: string;
  /** '' when the provider accepts any issuer. */
  issuer: string;
  /** Sanitized audiences; empty: any audience. */
  audiences: ReadonlySet<string>;
  keys: readonly Jwk[];
  /** Why the JWKS gave no keys: tokens for this provider then fail closed (Envoy: "Jwks doesn't have any valid public key"). */
  jwksProblem?: string;
  fromHeaders: readonly { name: string; prefix: string }[];
  fromParams: readonly string[];
  fromCookies: readonly string[];
  forward: boolean;
  forwardPayloadHeader?: string;
  padForwardPayloadHeader: boolean;
  payloadInMetadata?: string;
  headerInMetadata?: string;
  claimToHeaders: readonly { header: string; claim: string }[];
  clockSkewSeconds: number;
}

/** Where tokens are looked for, merged over a set of providers (Envoy's Extractor). */
interface Extractor {
  headers: readonly { lower: string; prefix: string; issuers: IssuerChecker }[];
  params: readonly { name: string; issuers: IssuerChecker }[];
  cookies: readonly { name: string; issuers: IssuerChecker }[];
}

interface Token {
  value: string;
  issuers: IssuerChecker;
  /** The header it came from (removed when the provider does not forward the token). */
  header?: string;
}

type Requirement =
  | { kind: 'allow_all' }
  | { kind: 'provider'; provider: Provider; extractor: Extractor; audiences?: ReadonlySet<string> }
  | { kind: 'allow_missing'; extractor: Extractor }
  | { kind: 'allow_missing_or_failed'; extractor: Extractor }
  | { kind: 'all'; children: readonly Requirement[] }
  | { kind: 'any'; children: readonly Requirement[]; allowMissing: boolean; allowMissingOrFailed: boolean };

interface Rule {
  matches: (req: FilterRequest) => boolean;
  requirement: Requirement;
}

/** Options for compiling; tests pass a fake clock. */
export interface JwtAuthnOptions {
  /** Milliseconds since the epoch; Date.now by default. */
  nowMs?: () => number;
}

/** Envoy's jwt_authn.* counters. */
export interface JwtAuthnStats {
  allowed: number;
  denied: number;
  cors_preflight_bypassed: number;
}

/** A compiled jwt_authn filter, its counters, and the providers whose JWKS gave no key (they fail closed). */
export interface JwtAuthnFilter extends HttpDecoderFilter {
  readonly stats: JwtAuthnStats;
  readonly jwksProblems: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Token parsing

interface ParsedJwt {
  token: string;
  alg: string;
  kid: string;
  payloadB64: string;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  iss: string;
  /** Seconds; 0 when absent. */
  nbf: number;
  exp: number;
  audiences: readonly string[];
}

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one base64url segment to text, or undefined when it is not base64url or not UTF-8. */
function decodeSegment(s: string): string | undefined {
  if (!BASE64URL.test(s)) return undefined;
  const bare = s.replace(/=+$/, '');
  if (bare.length % 4 === 1) return undefined;
  try {
    return utf8.decode(Buffer.from(bare, 'base64url'));
  } catch {
    return undefined;
  }
}

/**
 * Whether JSON text nests deeper than `max` objects/arrays. A linear scan that builds nothing: a
 * token of brackets ("[[[[…") is refused before JSON.parse could spend time or stack on it.
 */
export function jsonNestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) return true;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return false;
}

/** A JSON object from decoded text, or undefined (not JSON, too deep, or not an object). */
function parseObject(text: string): Record<string, unknown> | undefined {
  if (jsonNestsDeeperThan(text, MAX_JWT_JSON_DEPTH)) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function intClaim(v: unknown, notInteger: JwtStatus, outOfRange: JwtStatus): number | JwtStatus {
  if (v === undefined) return 0;
  if (typeof v !== 'number') return notInteger;
  if (!Number.isInteger(v) || v < 0) return outOfRange;
  return v;
}

/** jwt_verify_lib's Jwt::parseFromString: the checks, in its order, with its statuses. */
export function parseJwt(token: string): ParsedJwt | JwtStatus {
  if (token.length > MAX_JWT_CHARS) return 'JwtTooLarge';
  const d1 = token.indexOf('.');
  const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
  if (d2 < 0 || token.indexOf('.', d2 + 1) >= 0) return 'JwtBadFormat';
  const h = token.slice(0, d1);
  const p = token.slice(d1 + 1, d2);
  const s = token.slice(d2 + 1);
  if (h === '' || p === '' || s === '') return 'JwtBadFormat';

  const headerText = decodeSegment(h);
  if (headerText === undefined) return 'JwtHeaderParseErrorBadBase64';
  const header = parseObject(headerText);
  if (header === undefined) return 'JwtHeaderParseErrorBadJson';
  const alg = header.alg;
  if (typeof alg !== 'string') return 'JwtHeaderBadAlg';
  if (!IMPLEMENTED_ALGS.has(alg)) return 'JwtHeaderNotImplementedAlg';
  if (header.kid !== undefined && typeof header.kid !== 'string') return 'JwtHeaderBadKid';

  const payloadText = decodeSegment(p);
  if (payloadText === undefined) return 'JwtPayloadParseErrorBadBase64';
  const payload = parseObject(payloadText);
  if (payload === undefined) return 'JwtPayloadParseErrorBadJson';
  if (payload.iss !== undefined && typeof payload.iss !== 'string') return 'JwtPayloadParseErrorIssNotString';
  if (payload.sub !== undefined && typeof payload.sub !== 'string') return 'JwtPayloadParseErrorSubNotString';
  const iat = intClaim(payload.iat, 'JwtPayloadParseErrorIatNotInteger', 'JwtPayloadParseErrorIatOutOfRange');
  if (typeof iat === 'string') return iat;
  const nbf = intClaim(payload.nbf, 'JwtPayloadParseErrorNbfNotInteger', 'JwtPayloadParseErrorNbfOutOfRange');
  if (typeof nbf === 'string') return nbf;
  const exp = intClaim(payload.exp, 'JwtPayloadParseErrorExpNotInteger', 'JwtPayloadParseErrorExpOutOfRange');
  if (typeof exp === 'string') return exp;
  if (payload.jti !== undefined && typeof payload.jti !== 'string') return 'JwtPayloadParseErrorJtiNotString';
  let audiences: string[] = [];
  const aud = payload.aud;
  if (typeof aud === 'string') audiences = [aud];
  else if (Array.isArray(aud)) {
    if (!aud.every((a) => typeof a === 'string')) return 'JwtPayloadParseErrorAudNotString';
    audiences = aud as string[];
  } else if (aud !== undefined) return 'JwtPayloadParseErrorAudNotString';
  if (!BASE64URL.test(s) || s.replace(/=+$/, '').length % 4 === 1) return 'JwtSignatureParseErrorBadBase64';

  return {
    token,
    alg,
    kid: typeof header.kid === 'string' ? header.kid : '',
    payloadB64: p,
    header,
    payload,
    iss: typeof payload.iss === 'string' ? payload.iss : '',
    nbf,
    exp,
    audiences,
  };
}

/** jwt_verify_lib's audience comparison: a leading http:// or https:// and a trailing slash do not count. */
function sanitizeAudience(aud: string): string {
  let s = aud;
  if (s.startsWith('http://')) s = s.slice(7);
  else if (s.startsWith('https://')) s = s.slice(8);
  if (s.endsWith('/')) s = s.slice(0, -1);
  return s;
}

function audiencesAllowed(allowed: ReadonlySet<string>, jwt: ParsedJwt): boolean {
  if (allowed.size === 0) return true;
  for (const a of jwt.audiences) if (allowed.has(sanitizeAudience(a))) return true;
  return false;
}

function keyFits(k: Jwk, alg: string): boolean {
  switch (alg.slice(0, 2)) {
    case 'RS':
    case 'PS':
      return k.kty === 'RSA';
    case 'HS':
      return k.kty === 'oct';
    case 'ES':
      return k.kty === 'EC' && k.crv === EC_CURVE_OF_ALG[alg];
    default:
      return alg === 'EdDSA' && k.kty === 'OKP' && k.crv === 'Ed25519';
  }
}

/** jose, loaded the first time a JWT filter is compiled: a sidecar without RequestAuthentication never pays its ~7 MiB. */
let jose: Promise<typeof import('jose')> | undefined;
function loadJose(): Promise<typeof import('jose')> {
  return (jose ??= import('jose'));
}

/**
 * jwt_verify_lib's key selection, then jose for the signature: a key whose kid differs (when both
 * have one) or whose alg differs is skipped; a key of another type than the token's alg is never
 * tried, so an RSA public key is never used as an HMAC secret and `alg: none` never gets here.
 */
async function verifySignature(jwt: ParsedJwt, keys: readonly Jwk[]): Promise<JwtStatus> {
  let kidAlgMatched = false;
  const { compactVerify } = await loadJose();
  for (const k of keys) {
    if (jwt.kid !== '' && k.kid !== '' && k.kid !== jwt.kid) continue;
    if (k.alg !== '' && k.alg !== jwt.alg) continue;
    kidAlgMatched = true;
    if (!keyFits(k, jwt.alg)) continue;
    try {
      await compactVerify(jwt.token, k.key, { algorithms: [jwt.alg] });
      return 'Ok';
    } catch {
      // Another key may still verify it.
    }
  }
  return kidAlgMatched ? 'JwtVerificationFail' : 'JwksKidAlgMismatch';
}

// ---------------------------------------------------------------------------------------------
// Config

/** Parses a JWKS document into usable keys, or says why there are none. One bad key spoils the set, as in jwt_verify_lib. */
export function parseJwks(text: string): { keys: Jwk[] } | { problem: string } {
  let doc: unknown;
  try {
    doc = jsonNestsDeeperThan(text, MAX_JWT_JSON_DEPTH) ? undefined : JSON.parse(text);
  } catch {
    return { problem: 'Jwks is an invalid JSON' };
  }
  if (!isObject(doc as Json | undefined)) return { problem: 'Jwks is an invalid JSON' };
  const keysValue = (doc as Json).keys;
  if (keysValue === undefined) return { problem: 'Jwks does not have [keys] field' };
  if (!Array.isArray(keysValue)) return { problem: '[keys] in Jwks is not an array' };
  const keys: Jwk[] = [];
  for (const [i, raw] of keysValue.entries()) {
    const k = parseJwk(raw);
    if (typeof k === 'string') return { problem: `keys[${i}]: ${k}` };
    keys.push(k);
  }
  if (keys.length === 0) return { problem: "Jwks doesn't have any valid public key" };
  return { keys };
}

function parseJwk(raw: unknown): Jwk | string {
  if (!isObject(raw as Json | undefined)) return '[keys] entry is not an object';
  const j = raw as Json;
  if (typeof j.kty !== 'string') return '[kty] is missing in [keys]';
  const kid = j.kid === undefined ? '' : j.kid;
  const alg = j.alg === undefined ? '' : j.alg;
  if (typeof kid !== 'string') return '[kid] is not a string';
  if (typeof alg !== 'string') return '[alg] is not a string';
  try {
    switch (j.kty) {
      case 'RSA': {
        if (alg !== '' && !alg.startsWith('RS') && !alg.startsWith('PS')) return '[alg] is not started with [RS] or [PS] for a RSA key';
        if (typeof j.n !== 'string' || typeof j.e !== 'string') return '[n] or [e] is missing or not a string for a RSA key';
        const key = createPublicKey({ key: { kty: 'RSA', n: j.n, e: j.e }, format: 'jwk' });
        return { kid, alg, kty: 'RSA', crv: '', key };
      }
      case 'EC': {
        if (typeof j.crv !== 'string' || !['P-256', 'P-384', 'P-521'].includes(j.crv)) return '[crv] is not supported for an EC key';
        if (alg !== '' && EC_CURVE_OF_ALG[alg] !== j.crv) return '[crv] field is not compatible with [alg] for an EC key';
        if (typeof j.x !== 'string' || typeof j.y !== 'string') return '[x] or [y] is missing or not a string for an EC key';
        const key = createPublicKey({ key: { kty: 'EC', crv: j.crv, x: j.x, y: j.y }, format: 'jwk' });
        return { kid, alg, kty: 'EC', crv: j.crv, key };
      }
      case 'oct': {
        if (alg !== '' && !alg.startsWith('HS')) return '[alg] does not start with [HS] for an HMAC key';
        if (typeof j.k !== 'string' || !BASE64URL.test(j.k)) return '[k] is missing or not base64url for an HMAC key';
        return { kid, alg, kty: 'oct', crv: '', key: new Uint8Array(Buffer.from(j.k, 'base64url')) };
      }
      case 'OKP': {
        if (j.crv !== 'Ed25519') return '[crv] is not supported for an OKP key';
        if (alg !== '' && alg !== 'EdDSA') return '[alg] is not EdDSA for an OKP key';
        if (typeof j.x !== 'string') return '[x] is missing or not a string for an OKP key';
        const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: j.x }, format: 'jwk' });
        return { kid, alg, kty: 'OKP', crv: 'Ed25519', key };
      }
      default:
        return '[kty] is not supported in [keys]';
    }
  } catch (e) {
    return `the key cannot be loaded: ${e instanceof Error ? e.message : String(e)}`;
  }
}

const PROVIDER_FIELDS: ReadonlySet<string> = new Set([
  'issuer',
  'audiences',
  'local_jwks',
  'remote_jwks',
  'from_headers',
  'from_params',
  'from_cookies',
  'forward',
  'forward_payload_header',
  'pad_forward_payload_header',
  'payload_in_metadata',
  'header_in_metadata',
  'claim_to_headers',
  'clock_skew_seconds',
  // Caching knobs: they change cost, not outcomes.
  'jwt_cache_config',
  'cache_duration',
]);

/** A DataSource's text: inline_string or inline_bytes (base64 in decoded JSON). Files and environment variables are not read. */
function dataSourceText(v: unknown, path: string): string {
  const d = obj(v, path);
  onlyFields(d, path, new Set(['inline_string', 'inline_bytes', 'filename', 'environment_variable', 'watched_directory']));
  if (d.inline_string !== undefined) return str(d.inline_string, `${path}.inline_string`);
  if (d.inline_bytes !== undefined) return Buffer.from(str(d.inline_bytes, `${path}.inline_bytes`), 'base64').toString('utf8');
  if (d.filename !== undefined || d.environment_variable !== undefined) throw new ConfigError(path, 'only inline_string and inline_bytes JWKS are supported (the control plane inlines keys)');
  // An empty DataSource is an empty JWKS: no keys, every token for the provider fails closed.
  return '';
}

function compileProvider(name: string, v: unknown, path: string): Provider {
  const p = obj(v, path);
  onlyFields(p, path, PROVIDER_FIELDS);
  if (p.remote_jwks !== undefined) throw new ConfigError(`${path}.remote_jwks`, 'is not supported: the control plane must inline the keys in local_jwks');
  if (p.local_jwks === undefined) throw new ConfigError(path, 'needs local_jwks');
  const jwks = parseJwks(dataSourceText(p.local_jwks, `${path}.local_jwks`));
  const fromHeaders = list(p.from_headers, `${path}.from_headers`).map((x, i) => {
    const h = obj(x, `${path}.from_headers[${i}]`);
    onlyFields(h, `${path}.from_headers[${i}]`, new Set(['name', 'value_prefix']));
    const hname = str(h.name, `${path}.from_headers[${i}].name`);
    if (hname === '') throw new ConfigError(`${path}.from_headers[${i}].name`, 'must not be empty');
    return { name: hname.toLowerCase(), prefix: str(h.value_prefix, `${path}.from_headers[${i}].value_prefix`, '') };
  });
  const fromParams = list(p.from_params, `${path}.from_params`).map((x, i) => str(x, `${path}.from_params[${i}]`));
  const fromCookies = list(p.from_cookies, `${path}.from_cookies`).map((x, i) => str(x, `${path}.from_cookies[${i}]`));
  const claimToHeaders = list(p.claim_to_headers, `${path}.claim_to_headers`).map((x, i) => {
    const c = obj(x, `${path}.claim_to_headers[${i}]`);
    return { header: str(c.header_name, `${path}.claim_to_headers[${i}].header_name`).toLowerCase(), claim: str(c.claim_name, `${path}.claim_to_headers[${i}].claim_name`) };
  });
  const provider: Provider = {
    name,
    issuer: str(p.issuer, `${path}.issuer`, ''),
    audiences: new Set(list(p.audiences, `${path}.audiences`).map((x, i) => sanitizeAudience(str(x, `${path}.audiences[${i}]`)))),
    keys: 'keys' in jwks ? jwks.keys : [],
    fromHeaders,
    fromParams,
    fromCookies,
    forward: bool(p.forward, `${path}.forward`, false),
    padForwardPayloadHeader: bool(p.pad_forward_payload_header, `${path}.pad_forward_payload_header`, false),
    claimToHeaders,
    clockSkewSeconds: num(p.clock_skew_seconds, `${path}.clock_skew_seconds`, 0) || DEFAULT_CLOCK_SKEW_SECONDS,
  };
  if ('problem' in jwks) provider.jwksProblem = jwks.problem;
  const fph = str(p.forward_payload_header, `${path}.forward_payload_header`, '');
  if (fph !== '') provider.forwardPayloadHeader = fph.toLowerCase();
  const pim = str(p.payload_in_metadata, `${path}.payload_in_metadata`, '');
  if (pim !== '') provider.payloadInMetadata = pim;
  const him = str(p.header_in_metadata, `${path}.header_in_metadata`, '');
  if (him !== '') provider.headerInMetadata = him;
  return provider;
}

/** Envoy's Extractor over `providers`: each location remembers which issuers configured it; no location at all means Authorization: Bearer and ?access_token. */
function buildExtractor(providers: readonly Provider[]): Extractor {
  const headers = new Map<string, { lower: string; prefix: string; issuers: IssuerChecker }>();
  const params = new Map<string, { name: string; issuers: IssuerChecker }>();
  const cookies = new Map<string, { name: string; issuers: IssuerChecker }>();
  const addHeader = (lower: string, prefix: string, issuer: string) => {
    const key = `${lower}\u0000${prefix}`;
    let h = headers.get(key);
    if (!h) headers.set(key, (h = { lower, prefix, issuers: new IssuerChecker() }));
    h.issuers.add(issuer);
  };
  const addNamed = (m: Map<string, { name: string; issuers: IssuerChecker }>, name: string, issuer: string) => {
    let x = m.get(name);
    if (!x) m.set(name, (x = { name, issuers: new IssuerChecker() }));
    x.issuers.add(issuer);
  };
  for (const p of providers) {
    for (const h of p.fromHeaders) addHeader(h.name, h.prefix, p.issuer);
    for (const q of p.fromParams) addNamed(params, q, p.issuer);
    for (const c of p.fromCookies) addNamed(cookies, c, p.issuer);
    if (p.fromHeaders.length === 0 && p.fromParams.length === 0 && p.fromCookies.length === 0) {
      addHeader('authorization', 'Bearer ', p.issuer);
      addNamed(params, 'access_token', p.issuer);
    }
  }
  return { headers: [...headers.values()], params: [...params.values()], cookies: [...cookies.values()] };
}

const REQUIREMENT_KINDS = ['provider_name', 'provider_and_audiences', 'requires_any', 'requires_all', 'allow_missing_or_failed', 'allow_missing'];

interface CompileScope {
  providers: ReadonlyMap<string, Provider>;
  extractors: Map<Provider, Extractor>;
  all: Extractor;
}

function providerRequirement(scope: CompileScope, name: string, path: string, audiences?: ReadonlySet<string>): Requirement {
  const provider = scope.providers.get(name);
  if (!provider) throw new ConfigError(path, `provider "${name}" is not configured`);
  let extractor = scope.extractors.get(provider);
  if (!extractor) scope.extractors.set(provider, (extractor = buildExtractor([provider])));
  return audiences ? { kind: 'provider', provider, extractor, audiences } : { kind: 'provider', provider, extractor };
}

function compileRequirement(v: unknown, path: string, scope: CompileScope): Requirement {
  if (v === undefined) return { kind: 'allow_all' };
  const r = obj(v, path);
  onlyFields(r, path, new Set(REQUIREMENT_KINDS));
  const keys = Object.keys(r).filter((k) => k !== '@type');
  if (keys.length === 0) return { kind: 'allow_all' };
  if (keys.length > 1) throw new ConfigError(path, `sets ${keys.join(' and ')}; a requirement has one kind`);
  const kind = keys[0]!;
  const p = `${path}.${kind}`;
  switch (kind) {
    case 'provider_name':
      return providerRequirement(scope, str(r.provider_name, p), p);
    case 'provider_and_audiences': {
      const pa = obj(r.provider_and_audiences, p);
      const auds = new Set(list(pa.audiences, `${p}.audiences`).map((x, i) => sanitizeAudience(str(x, `${p}.audiences[${i}]`))));
      return providerRequirement(scope, str(pa.provider_name, `${p}.provider_name`), `${p}.provider_name`, auds);
    }
    case 'allow_missing':
      return { kind: 'allow_missing', extractor: scope.all };
    case 'allow_missing_or_failed':
      return { kind: 'allow_missing_or_failed', extractor: scope.all };
    case 'requires_all': {
      const children = list(obj(r.requires_all, p).requirements, `${p}.requirements`).map((x, i) => compileRequirement(x, `${p}.requirements[${i}]`, scope));
      if (children.length === 0) throw new ConfigError(`${p}.requirements`, 'needs at least one requirement');
      return { kind: 'all', children };
    }
    default: {
      // requires_any: allow_missing / allow_missing_or_failed are flags applied to the others' outcome;
      // alone, they are the only child (Envoy's AnyVerifierImpl).
      const items = list(obj(r.requires_any, p).requirements, `${p}.requirements`);
      if (items.length === 0) throw new ConfigError(`${p}.requirements`, 'needs at least one requirement');
      let allowMissing = false;
      let allowMissingOrFailed = false;
      const children: Requirement[] = [];
      items.forEach((x, i) => {
        const c = compileRequirement(x, `${p}.requirements[${i}]`, scope);
        if (c.kind === 'allow_missing') allowMissing = true;
        else if (c.kind === 'allow_missing_or_failed') allowMissingOrFailed = true;
        else children.push(c);
      });
      if (children.length === 0) children.push(allowMissingOrFailed ? { kind: 'allow_missing_or_failed', extractor: scope.all } : { kind: 'allow_missing', extractor: scope.all });
      return { kind: 'any', children, allowMissing, allowMissingOrFailed };
    }
  }
}

const ROUTE_MATCH_FIELDS: ReadonlySet<string> = new Set(['prefix', 'path', 'safe_regex', 'path_separated_prefix', 'case_sensitive', 'headers', 'query_parameters']);

/** The lookup a rule's header matchers read through: set for the duration of one synchronous match. */
let matching: FilterRequest | undefined;
const ruleLookup: HeaderLookup = (name) => {
  const r = matching;
  if (r === undefined) return undefined;
  switch (name) {
    case ':method':
      return r.method;
    case ':authority':
    case 'host':
      return r.authority;
    case ':path':
      return r.query === '' ? r.path : `${r.path}?${r.query}`;
    case ':scheme':
      return r.security.tls ? 'https' : 'http';
    default:
      return name.charCodeAt(0) === 58 ? undefined : r.headers.joined(name);
  }
};

/** A rule's RouteMatch: the path part (query and fragment excluded, as Envoy's path matchers do), headers and query parameters. */
function compileRuleMatch(v: unknown, path: string): (req: FilterRequest) => boolean {
  const m = obj(v, path);
  onlyFields(m, path, ROUTE_MATCH_FIELDS);
  const caseSensitive = bool(isObject(m.case_sensitive as Json | undefined) ? (m.case_sensitive as Json).value : m.case_sensitive, `${path}.case_sensitive`, true);
  const fold = (s: string) => (caseSensitive ? s : s.toLowerCase());
  let pathTest: (p: string) => boolean;
  if (m.prefix !== undefined) {
    const want = fold(str(m.prefix, `${path}.prefix`));
    pathTest = (p) => fold(p).startsWith(want);
  } else if (m.path !== undefined) {
    const want = fold(str(m.path, `${path}.path`));
    pathTest = (p) => fold(p) === want;
  } else if (m.safe_regex !== undefined) {
    pathTest = compileRegex(m.safe_regex, `${path}.safe_regex`);
  } else if (m.path_separated_prefix !== undefined) {
    const want = fold(str(m.path_separated_prefix, `${path}.path_separated_prefix`));
    pathTest = (p) => {
      const f = fold(p);
      return f === want || f.startsWith(`${want}/`);
    };
  } else throw new ConfigError(path, 'needs prefix, path, safe_regex or path_separated_prefix');
  const headers = list(m.headers, `${path}.headers`).map((h, i) => compileHeaderMatcher(h, `${path}.headers[${i}]`));
  const queries = list(m.query_parameters, `${path}.query_parameters`).map((q, i) => compileQueryMatcher(q, `${path}.query_parameters[${i}]`));
  return (req) => {
    if (!pathTest(req.path)) return false;
    if (headers.length > 0) {
      matching = req;
      try {
        for (const h of headers) if (!h(ruleLookup)) return false;
      } finally {
        matching = undefined;
      }
    }
    if (queries.length > 0) {
      const params = parseQuery(req.query);
      for (const q of queries) if (!q(params)) return false;
    }
    return true;
  };
}

// ---------------------------------------------------------------------------------------------
// Per request

/** What one request's verification has gathered so far. */
interface RequestState {
  req: FilterRequest;
  nowSeconds: number;
  params?: Map<string, string>;
  cookies?: Map<string, string>;
  parsed: Map<string, ParsedJwt | JwtStatus>;
  /** Signature outcomes by provider and token (a token is checked against a provider once per request). */
  signatures: Map<string, JwtStatus>;
  /** metadata[envoy.filters.http.jwt_authn] to write when the request passes. */
  extracted?: Record<string, unknown>;
}

const BASE64URL_OR_DOT = /[A-Za-z0-9_.-]/;

/** Envoy's extractJWT: after the prefix, skip to the first base64url-or-dot character; none at all leaves the value as it was. */
function afterPrefix(value: string, from: number): string {
  for (let i = from; i < value.length; i++) if (BASE64URL_OR_DOT.test(value[i]!)) return value.slice(i);
  return value;
}

function parseCookies(req: FilterRequest): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of req.headers.getAll('cookie')) {
    for (const part of line.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const name = part.slice(0, eq).trim();
      let value = part.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (!out.has(name)) out.set(name, value);
    }
  }
  return out;
}

function extract(ex: Extractor, state: RequestState): Token[] {
  const req = state.req;
  const tokens: Token[] = [];
  for (const loc of ex.headers) {
    for (let i = req.headers.indexOf(loc.lower); i !== -1; i = req.headers.indexOf(loc.lower, i + 1)) {
      let value = req.headers.values[i]!;
      if (loc.prefix !== '') {
        const pos = value.indexOf(loc.prefix);
        if (pos < 0) continue;
        value = afterPrefix(value, pos + loc.prefix.length);
      }
      tokens.push({ value, issuers: loc.issuers, header: loc.lower });
    }
  }
  if (ex.params.length > 0 && req.query !== '') {
    const params = (state.params ??= parseQuery(req.query));
    for (const loc of ex.params) {
      const value = params.get(loc.name);
      if (value !== undefined) tokens.push({ value, issuers: loc.issuers });
    }
  }
  if (ex.cookies.length > 0 && req.headers.has('cookie')) {
    const cookies = (state.cookies ??= parseCookies(req));
    for (const loc of ex.cookies) {
      const value = cookies.get(loc.name);
      if (value !== undefined) tokens.push({ value, issuers: loc.issuers });
    }
  }
  return tokens;
}

function claimString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return '';
}

/** A verified token's effects (Envoy's handleGoodJwt): payload header, claim headers, token removal, metadata. */
function acceptToken(state: RequestState, token: Token, jwt: ParsedJwt, p: Provider): void {
  const headers = state.req.headers;
  if (p.forwardPayloadHeader !== undefined) {
    let payload = jwt.payloadB64;
    if (p.padForwardPayloadHeader) payload = payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), '=');
    headers.set(p.forwardPayloadHeader, payload, p.forwardPayloadHeader);
  }
  for (const c of p.claimToHeaders) {
    const v = claimString(jwt.payload[c.claim]);
    if (v !== '') headers.add(c.header, v, c.header);
  }
  // Query parameters are not rewritten here: a token from ?access_token stays (Envoy before 1.20 did the same).
  if (!p.forward && token.header !== undefined) headers.remove(token.header);
  if (p.payloadInMetadata !== undefined) (state.extracted ??= {})[p.payloadInMetadata] = jwt.payload;
  if (p.headerInMetadata !== undefined) (state.extracted ??= {})[p.headerInMetadata] = jwt.header;
}

type Mode = 'strict' | 'allow_missing' | 'allow_failed';

class Verifier {
  constructor(
    private readonly byIssuer: ReadonlyMap<string, Provider>,
    private readonly anyIssuer: Provider | undefined,
  ) {}

  private parse(state: RequestState, token: string): ParsedJwt | JwtStatus {
    let p = state.parsed.get(token);
    if (p === undefined) state.parsed.set(token, (p = parseJwt(token)));
    return p;
  }

  /** One token against a provider (or, for allow_missing*, the provider of its issuer). */
  async verifyToken(state: RequestState, token: Token, fixed: Provider | undefined, audiences: ReadonlySet<string> | undefined): Promise<JwtStatus> {
    const jwt = this.parse(state, token.value);
    if (typeof jwt === 'string') return jwt;
    if (!token.issuers.check(jwt.iss)) return 'JwtUnknownIssuer';
    const provider = fixed ?? this.byIssuer.get(jwt.iss) ?? this.anyIssuer;
    if (provider === undefined) return 'JwtUnknownIssuer';
    const skew = provider.clockSkewSeconds;
    if (state.nowSeconds + skew < jwt.nbf) return 'JwtNotYetValid';
    if (jwt.exp !== 0 && state.nowSeconds > jwt.exp + skew) return 'JwtExpired';
    if (!audiencesAllowed(audiences ?? provider.audiences, jwt)) return 'JwtAudienceNotAllowed';
    if (provider.jwksProblem !== undefined) return 'JwksNoValidKeys';
    const key = `${provider.name}\u0000${token.value}`;
    let sig = state.signatures.get(key);
    if (sig === undefined) state.signatures.set(key, (sig = await verifySignature(jwt, provider.keys)));
    if (sig !== 'Ok') return sig;
    acceptToken(state, token, jwt, provider);
    return 'Ok';
  }

  /**
   * Envoy's authenticator over the tokens found: all must verify (strict and allow_missing stop at
   * the first failure; allow_missing is satisfied only when there is none at all), allow_failed
   * verifies each for its payload and always passes.
   */
  async authenticate(state: RequestState, ex: Extractor, fixed: Provider | undefined, audiences: ReadonlySet<string> | undefined, mode: Mode): Promise<JwtStatus> {
    const tokens = extract(ex, state);
    if (tokens.length === 0) return mode === 'strict' ? 'JwtMissed' : 'Ok';
    if (tokens.length > MAX_JWT_TOKENS && mode !== 'allow_failed') return 'JwtMultipleTokens';
    const n = Math.min(tokens.length, MAX_JWT_TOKENS);
    for (let i = 0; i < n; i++) {
      const s = await this.verifyToken(state, tokens[i]!, fixed, audiences);
      if (s !== 'Ok' && mode !== 'allow_failed') return s;
    }
    return 'Ok';
  }

  async evaluate(state: RequestState, r: Requirement): Promise<JwtStatus> {
    switch (r.kind) {
      case 'allow_all':
        return 'Ok';
      case 'provider':
        return this.authenticate(state, r.extractor, r.provider, r.audiences, 'strict');
      case 'allow_missing':
        return this.authenticate(state, r.extractor, undefined, undefined, 'allow_missing');
      case 'allow_missing_or_failed':
        return this.authenticate(state, r.extractor, undefined, undefined, 'allow_failed');
      case 'all':
        for (const c of r.children) {
          const s = await this.evaluate(state, c);
          if (s !== 'Ok') return s;
        }
        return 'Ok';
      case 'any': {
        const statuses: JwtStatus[] = [];
        for (const c of r.children) {
          const s = await this.evaluate(state, c);
          if (s === 'Ok') return 'Ok';
          statuses.push(s);
        }
        return anyOutcome(r, statuses);
      }
    }
  }
}

/**
 * requires_any's outcome when no child passed (Envoy's AnyVerifierImpl): a real error beats "wrong
 * issuer", which beats "missing"; allow_missing_or_failed then passes anything, allow_missing only
 * "missing".
 */
function anyOutcome(r: { allowMissing: boolean; allowMissingOrFailed: boolean }, statuses: readonly JwtStatus[]): JwtStatus {
  let final: JwtStatus = 'JwtMissed';
  for (const s of statuses) if ((s !== 'JwtMissed' && s !== 'JwtUnknownIssuer') || final === 'JwtMissed') final = s;
  if (r.allowMissingOrFailed) return 'Ok';
  if (r.allowMissing && final === 'JwtMissed') return 'Ok';
  return final;
}

/** The outcome when the request carries no token in any configured location: decided without verifying anything. */
function evaluateMissing(r: Requirement): JwtStatus {
  switch (r.kind) {
    case 'allow_all':
    case 'allow_missing':
    case 'allow_missing_or_failed':
      return 'Ok';
    case 'provider':
      return 'JwtMissed';
    case 'all':
      for (const c of r.children) {
        const s = evaluateMissing(c);
        if (s !== 'Ok') return s;
      }
      return 'Ok';
    case 'any': {
      const statuses: JwtStatus[] = [];
      for (const c of r.children) {
        const s = evaluateMissing(c);
        if (s === 'Ok') return 'Ok';
        statuses.push(s);
      }
      return anyOutcome(r, statuses);
    }
  }
}

function isCorsPreflight(req: FilterRequest): boolean {
  return req.method === 'OPTIONS' && (req.headers.get('origin') ?? '') !== '' && (req.headers.get('access-control-request-method') ?? '') !== '';
}

/** Envoy's buildOriginalUri for the realm: scheme, authority, path with query truncated to 256 characters; quotes escaped so the header stays well-formed. */
function realmOf(req: FilterRequest): string {
  const proto = req.headers.get('x-forwarded-proto');
  const scheme = proto === 'http' || proto === 'https' ? proto : req.security.tls ? 'https' : 'http';
  let path = req.query === '' ? req.path : `${req.path}?${req.query}`;
  if (path.length > MAX_REALM_PATH) path = path.slice(0, MAX_REALM_PATH);
  return `${scheme}://${req.authority}${path}`.replace(/["\\]/g, (c) => (c === '"' ? '%22' : '%5C'));
}

/** Envoy's %RESPONSE_CODE_DETAILS% for a jwt_authn denial: the message with whitespace as underscores. */
export function jwtDeniedDetails(status: JwtStatus): string {
  return `jwt_authn_access_denied{${STATUS[status].replace(/\s/g, '_')}}`;
}

const FILTER_FIELDS: ReadonlySet<string> = new Set(['providers', 'rules', 'bypass_cors_preflight', 'requirement_map', 'strip_failure_response', 'stat_prefix']);

/**
 * Compiles `envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication` (fields as decoded;
 * `path` for errors) into a decoder filter. The first rule whose match fits the request decides its
 * requirement; no rule, no check. A verified token's payload goes to
 * metadata[`envoy.filters.http.jwt_authn`][payload_in_metadata]. A failure is a 401 (403 for an
 * audience not allowed) with Envoy's message and `www-authenticate: Bearer realm="…"`. decode never
 * throws: anything unexpected is a 401.
 */
export function compileJwtAuthn(config: unknown, path: string, options: JwtAuthnOptions = {}, name = JWT_AUTHN_FILTER): JwtAuthnFilter {
  const c = obj(config, path);
  onlyFields(c, path, FILTER_FIELDS);
  const providerJson = c.providers === undefined ? {} : obj(c.providers, `${path}.providers`);
  // Name order, so "the first provider of an issuer" is the same on every compile.
  const providerNames = Object.keys(providerJson).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const providers = providerNames.map((n) => compileProvider(n, providerJson[n], `${path}.providers[${JSON.stringify(n)}]`));
  // Loading starts now, so the first token does not wait for it.
  if (providers.length > 0) void loadJose();
  const byName = new Map(providers.map((p) => [p.name, p]));
  const byIssuer = new Map<string, Provider>();
  for (const p of providers) if (p.issuer !== '' && !byIssuer.has(p.issuer)) byIssuer.set(p.issuer, p);
  const anyIssuer = providers.find((p) => p.issuer === '');
  const all = buildExtractor(providers);
  const scope: CompileScope = { providers: byName, extractors: new Map(), all };

  const requirementMap = new Map<string, Requirement>();
  if (c.requirement_map !== undefined) {
    const rm = obj(c.requirement_map, `${path}.requirement_map`);
    for (const [k, v] of Object.entries(rm)) requirementMap.set(k, compileRequirement(v, `${path}.requirement_map[${JSON.stringify(k)}]`, scope));
  }
  const rules: Rule[] = list(c.rules, `${path}.rules`).map((x, i) => {
    const rp = `${path}.rules[${i}]`;
    const r = obj(x, rp);
    onlyFields(r, rp, new Set(['match', 'requires', 'requirement_name']));
    let requirement: Requirement;
    if (r.requirement_name !== undefined) {
      const rn = str(r.requirement_name, `${rp}.requirement_name`);
      const found = requirementMap.get(rn);
      if (!found) throw new ConfigError(`${rp}.requirement_name`, `"${rn}" is not in requirement_map`);
      requirement = found;
    } else requirement = compileRequirement(r.requires, `${rp}.requires`, scope);
    return { matches: compileRuleMatch(r.match, `${rp}.match`), requirement };
  });

  const bypassCors = bool(c.bypass_cors_preflight, `${path}.bypass_cors_preflight`, false);
  const strip = bool(c.strip_failure_response, `${path}.strip_failure_response`, false);
  const sanitize = [...new Set(providers.flatMap((p) => [...(p.forwardPayloadHeader ? [p.forwardPayloadHeader] : []), ...p.claimToHeaders.map((h) => h.header)]))];
  const verifier = new Verifier(byIssuer, anyIssuer);
  const nowMs = options.nowMs ?? Date.now;
  const stats: JwtAuthnStats = { allowed: 0, denied: 0, cors_preflight_bypassed: 0 };
  const jwksProblems = providers.filter((p) => p.jwksProblem !== undefined).map((p) => `provider ${p.name}: ${p.jwksProblem}`);

  const fail = (req: FilterRequest, status: JwtStatus): FilterReply => {
    stats.denied++;
    const details = jwtDeniedDetails(status);
    const code = status === 'JwtAudienceNotAllowed' ? 403 : 401;
    if (strip) return { status: code, body: '', details };
    let challenge = `Bearer realm="${realmOf(req)}"`;
    if (status !== 'JwtMissed') challenge += ', error="invalid_token"';
    return { status: code, body: STATUS[status], headers: [['www-authenticate', challenge]], details };
  };
  const finish = (state: RequestState, status: JwtStatus): FilterVerdict => {
    if (status !== 'Ok') return fail(state.req, status);
    if (state.extracted !== undefined) {
      const prev = state.req.metadata.get(JWT_AUTHN_FILTER);
      state.req.metadata.set(JWT_AUTHN_FILTER, prev === undefined ? state.extracted : { ...prev, ...state.extracted });
    }
    stats.allowed++;
    return undefined;
  };

  const decode = (req: FilterRequest): FilterVerdict | Promise<FilterVerdict> => {
    try {
      // A client must not be able to pose as a verified payload: the headers this filter writes are
      // removed from every request first, whether or not a rule applies.
      for (const h of sanitize) req.headers.remove(h);
      if (bypassCors && isCorsPreflight(req)) {
        stats.cors_preflight_bypassed++;
        return undefined;
      }
      let rule: Rule | undefined;
      for (const r of rules) {
        if (r.matches(req)) {
          rule = r;
          break;
        }
      }
      if (rule === undefined) return undefined;
      const state: RequestState = { req, nowSeconds: Math.floor(nowMs() / 1000), parsed: new Map(), signatures: new Map() };
      // Optimization: with no token anywhere the outcome needs no signature check and stays synchronous.
      if (extract(all, state).length === 0) return finish(state, evaluateMissing(rule.requirement));
      return verifier
        .evaluate(state, rule.requirement)
        .then((s) => finish(state, s))
        .catch(() => fail(req, 'JwtVerificationFail'));
    } catch {
      return fail(req, 'JwtVerificationFail');
    }
  };
  return { name, decode, stats, jwksProblems };
}
