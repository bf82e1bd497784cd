// Istio 1.6's authentication filter (istio_authn) compiled once: peer (mTLS) and origin (JWT) authentication over what jwt_authn verified, and the source.* / request.auth.* attributes it records for RBAC.
import { compileRegex, type ValueMatcher } from '../config/string-matcher.js';
import { ConfigError, isObject, list, obj, str, type Json } from '../config/xds-json.js';
import type { FilterReply, FilterRequest, FilterVerdict, HttpDecoderFilter } from '../http/http-filters.js';
import { parseSubjectAltNames } from '../../shared/spiffe.js';
import type { DownstreamSecurity } from '../security/tls-transport.js';
import { field, onlyFields } from './filter-config.js';
import { JWT_AUTHN_FILTER } from './jwt-authn.js';

export const ISTIO_AUTHN_FILTER = 'istio_authn';
/** Istio's FilterConfig type (istio/proxy has no Envoy registration for another). It usually arrives in a TypedStruct. */
export const ISTIO_AUTHN_TYPE = 'type.googleapis.com/istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig';

/**
 * The attributes istio_authn writes to metadata[`istio_authn`], with Istio 1.6's names
 * (istio/proxy src/istio/utils/attribute_names.cc). Principals carry no `spiffe://` prefix
 * (`cluster.local/ns/foo/sa/bar`); claims are a struct of string lists (a string claim is split on
 * spaces); audiences is only the first audience, as a string.
 */
export const IstioAuthnKeys = {
  sourceUser: 'source.user',
  sourcePrincipal: 'source.principal',
  sourceNamespace: 'source.namespace',
  requestPrincipal: 'request.auth.principal',
  requestAudiences: 'request.auth.audiences',
  requestPresenter: 'request.auth.presenter',
  requestClaims: 'request.auth.claims',
  requestRawClaims: 'request.auth.raw_claims',
} as const;

const SPIFFE_PREFIX = 'spiffe://';
/** The header whose token is an exchanged one: its verified payload carries the original claims under `original_claims`. */
const EXCHANGED_TOKEN_HEADER = 'ingress-authorization';

interface TriggerRule {
  excluded: readonly ValueMatcher[];
  included: readonly ValueMatcher[];
}

interface JwtMethod {
  issuer: string;
  exchanged: boolean;
  triggers: readonly TriggerRule[];
}

type PeerMethod = { kind: 'mtls'; strict: boolean } | { kind: 'jwt'; jwt: JwtMethod };

/** What a verified JWT contributes (Istio's JwtPayload). */
interface JwtResult {
  user: string;
  audiences: string[];
  presenter: string;
  claims: Record<string, string[]>;
  rawClaims: string;
}

function enumValue(v: unknown, path: string, names: readonly string[]): number {
  if (v === undefined) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < names.length) return v;
  const i = typeof v === 'string' ? names.indexOf(v) : -1;
  if (i < 0) throw new ConfigError(path, `must be one of ${names.join(', ')}`);
  return i;
}

function flag(o: Json, name: string, path: string): boolean {
  const v = field(o, name);
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new ConfigError(`${path}.${name}`, 'must be true or false');
  return v;
}

/** Istio's StringMatch (exact, prefix, suffix, regex — the regex matched whole, with RE2). */
function compileIstioStringMatch(v: unknown, path: string): ValueMatcher {
  const m = obj(v, path);
  onlyFields(m, path, new Set(['exact', 'prefix', 'suffix', 'regex']));
  if (m.exact !== undefined) {
    const want = str(m.exact, `${path}.exact`);
    return (s) => s === want;
  }
  if (m.prefix !== undefined) {
    const want = str(m.prefix, `${path}.prefix`);
    return (s) => s.startsWith(want);
  }
  if (m.suffix !== undefined) {
    const want = str(m.suffix, `${path}.suffix`);
    return (s) => s.endsWith(want);
  }
  if (m.regex !== undefined) return compileRegex({ regex: str(m.regex, `${path}.regex`) }, path);
  throw new ConfigError(path, 'needs exact, prefix, suffix or regex');
}

function compileJwtMethod(v: unknown, path: string): JwtMethod {
  const j = obj(v, path);
  onlyFields(j, path, new Set(['issuer', 'audiences', 'jwks_uri', 'jwks', 'jwt_headers', 'jwt_params', 'trigger_rules']));
  const headers = list(field(j, 'jwt_headers'), `${path}.jwt_headers`).map((x, i) => str(x, `${path}.jwt_headers[${i}]`));
  const triggers = list(field(j, 'trigger_rules'), `${path}.trigger_rules`).map((x, i) => {
    const tp = `${path}.trigger_rules[${i}]`;
    const t = obj(x, tp);
    onlyFields(t, tp, new Set(['excluded_paths', 'included_paths']));
    return {
      excluded: list(field(t, 'excluded_paths'), `${tp}.excluded_paths`).map((m, k) => compileIstioStringMatch(m, `${tp}.excluded_paths[${k}]`)),
      included: list(field(t, 'included_paths'), `${tp}.included_paths`).map((m, k) => compileIstioStringMatch(m, `${tp}.included_paths[${k}]`)),
    };
  });
  return {
    issuer: str(j.issuer, `${path}.issuer`, ''),
    exchanged: headers.length === 1 && headers[0]!.toLowerCase() === EXCHANGED_TOKEN_HEADER,
    triggers,
  };
}

/** Istio's ShouldValidateJwtPerPath: no path or no trigger rule means always; otherwise some rule must fit. */
function shouldValidate(path: string, jwt: JwtMethod): boolean {
  if (path === '' || jwt.triggers.length === 0) return true;
  for (const rule of jwt.triggers) {
    if (rule.excluded.some((m) => m(path))) continue;
    if (rule.included.length === 0 || rule.included.some((m) => m(path))) return true;
  }
  return false;
}

/** Istio's ProcessJwtPayload over the payload jwt_authn verified. */
function processJwtPayload(payload: Readonly<Record<string, unknown>>): JwtResult {
  const claims: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(payload)) {
    // Only strings (split on spaces, as OAuth scopes are) and lists of strings become claims.
    let values: string[] = [];
    if (typeof v === 'string') values = v.split(' ').filter((s) => s !== '');
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) values = [...(v as string[])];
    if (values.length > 0) claims[k] = values;
  }
  const iss = claims.iss?.[0];
  const sub = claims.sub?.[0];
  return {
    user: iss !== undefined && sub !== undefined ? `${iss}/${sub}` : '',
    audiences: claims.aud ?? [],
    presenter: claims.azp?.[0] ?? '',
    claims,
    rawClaims: JSON.stringify(payload),
  };
}

/** The verified payload jwt_authn recorded for `jwt.issuer` (Istio 1.6 configures payload_in_metadata = issuer), processed; undefined when there is none. */
function validateJwt(req: FilterRequest, jwt: JwtMethod): JwtResult | undefined {
  const entry = req.metadata.get(JWT_AUTHN_FILTER)?.[jwt.issuer];
  if (!isObject(entry as Json | undefined) || Object.keys(entry as Json).length === 0) return undefined;
  let payload = entry as Json;
  if (jwt.exchanged) {
    const original = payload.original_claims;
    if (!isObject(original as Json | undefined)) return undefined;
    payload = original as Json;
  }
  return processJwtPayload(payload);
}

/** The first URI SAN with `spiffe://`, else the first URI SAN (Istio's getCertSAN); undefined without a verified peer certificate. */
function peerUri(sec: DownstreamSecurity): string | undefined {
  if (!sec.tls) return undefined;
  if (sec.peer !== undefined) return sec.peer.spiffeId;
  if (sec.peerCertificate === undefined) return undefined;
  const uris = (parseSubjectAltNames(sec.peerCertificate.subjectAltName) ?? []).filter((s) => s.type === 'URI').map((s) => s.value);
  return uris.find((u) => u.startsWith(SPIFFE_PREFIX)) ?? uris[0];
}

/** Istio's principal form: the URI without `spiffe://`. */
function principalOf(uri: string): string {
  return uri.startsWith(SPIFFE_PREFIX) ? uri.slice(SPIFFE_PREFIX.length) : uri;
}

function trustDomainOf(uri: string | undefined): string | undefined {
  if (uri === undefined || !uri.startsWith(SPIFFE_PREFIX)) return undefined;
  const slash = uri.indexOf('/', SPIFFE_PREFIX.length);
  return slash < 0 ? undefined : uri.slice(SPIFFE_PREFIX.length, slash);
}

/** `/ns/NAME/` inside a principal (Istio's GetSourceNamespace). */
function namespaceOf(principal: string): string | undefined {
  const begin = principal.indexOf('/ns/');
  if (begin < 0) return undefined;
  const start = begin + 4;
  const end = principal.indexOf('/', start);
  return end < 0 ? principal.slice(start) : principal.slice(start, end);
}

function isCorsPreflight(req: FilterRequest): boolean {
  return req.method === 'OPTIONS' && (req.headers.get('origin') ?? '') !== '' && (req.headers.get('access-control-request-method') ?? '') !== '';
}

function reject(message: string): FilterReply {
  return { status: 401, body: message, details: 'istio_authn_access_denied' };
}

/**
 * Compiles Istio's `istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig` (fields as given,
 * proto or lowerCamelCase names; `path` for errors). Peers: the first method that succeeds sets
 * source.principal (mTLS: the peer's SPIFFE ID, trust domain checked unless
 * skip_validate_trust_domain; PERMISSIVE passes plaintext). Origins: each origin whose trigger rules
 * fit the path must find its issuer's verified payload in metadata[`envoy.filters.http.jwt_authn`];
 * when some origin was triggered and none found one, origin authentication fails. A failure that is
 * not optional is a 401 (`Peer authentication failed.` / `Origin authentication failed.`). The
 * attributes (IstioAuthnKeys) are merged into metadata[`istio_authn`]. decode never throws.
 */
export function compileIstioAuthn(config: unknown, path: string, name = ISTIO_AUTHN_FILTER): HttpDecoderFilter {
  const c = obj(config, path);
  onlyFields(c, path, new Set(['policy', 'jwt_output_payload_locations', 'skip_validate_trust_domain']));
  const skipTrustDomain = flag(c, 'skip_validate_trust_domain', path);
  const pp = `${path}.policy`;
  const policy = field(c, 'policy') === undefined ? {} : obj(field(c, 'policy'), pp);
  onlyFields(policy, pp, new Set(['targets', 'peers', 'peer_is_optional', 'origins', 'origin_is_optional', 'principal_binding']));
  const peers: PeerMethod[] = list(policy.peers, `${pp}.peers`).map((x, i) => {
    const mp = `${pp}.peers[${i}]`;
    const m = obj(x, mp);
    onlyFields(m, mp, new Set(['mtls', 'jwt']));
    if (m.mtls !== undefined) {
      const mt = m.mtls === null ? {} : obj(m.mtls, `${mp}.mtls`);
      onlyFields(mt, `${mp}.mtls`, new Set(['allow_tls', 'mode']));
      return { kind: 'mtls', strict: enumValue(mt.mode, `${mp}.mtls.mode`, ['STRICT', 'PERMISSIVE']) === 0 };
    }
    if (m.jwt !== undefined) return { kind: 'jwt', jwt: compileJwtMethod(m.jwt, `${mp}.jwt`) };
    throw new ConfigError(mp, 'needs mtls or jwt');
  });
  const origins = list(policy.origins, `${pp}.origins`).map((x, i) => {
    const op = `${pp}.origins[${i}]`;
    const o = obj(x, op);
    onlyFields(o, op, new Set(['jwt']));
    return compileJwtMethod(o.jwt ?? {}, `${op}.jwt`);
  });
  const peerOptional = flag(policy, 'peer_is_optional', pp);
  const originOptional = flag(policy, 'origin_is_optional', pp);
  const useOrigin = enumValue(field(policy, 'principal_binding'), `${pp}.principal_binding`, ['USE_PEER', 'USE_ORIGIN']) === 1;

  const decode = (req: FilterRequest): FilterVerdict => {
    try {
      // Peer authentication.
      let peerUser: string | undefined;
      if (peers.length > 0) {
        let ok = false;
        for (const m of peers) {
          if (m.kind === 'mtls') {
            const uri = peerUri(req.security);
            if (uri === undefined) ok = !m.strict;
            else ok = skipTrustDomain || (trustDomainOf(uri) !== undefined && trustDomainOf(uri) === trustDomainOf(req.security.localIdentity));
            if (ok && uri !== undefined) peerUser = principalOf(uri);
          } else {
            const j = validateJwt(req, m.jwt);
            ok = j !== undefined;
            if (j !== undefined && j.user !== '') peerUser = j.user;
          }
          if (ok) break;
        }
        if (!ok && !peerOptional) return reject('Peer authentication failed.');
      }

      // Origin authentication.
      let principal: string | undefined;
      let origin: JwtResult | undefined;
      let originOk: boolean;
      if (origins.length === 0 && useOrigin) originOk = false;
      else if (isCorsPreflight(req)) originOk = true; // credentials never ride on a CORS preflight; no principal either
      else {
        let triggered = false;
        for (const o of origins) {
          if (!shouldValidate(req.path, o)) continue;
          triggered = true;
          origin = validateJwt(req, o);
          if (origin !== undefined) break;
        }
        originOk = !triggered || origin !== undefined;
        if (originOk) principal = useOrigin ? origin?.user : peerUser;
      }
      if (!originOk && !originOptional) return reject('Origin authentication failed.');

      const out: Record<string, unknown> = {};
      if (principal) out[IstioAuthnKeys.requestPrincipal] = principal;
      if (peerUser) {
        out[IstioAuthnKeys.sourceUser] = peerUser;
        out[IstioAuthnKeys.sourcePrincipal] = peerUser;
        const ns = namespaceOf(peerUser);
        if (ns !== undefined) out[IstioAuthnKeys.sourceNamespace] = ns;
      }
      if (originOk && origin !== undefined) {
        if (origin.audiences.length > 0) out[IstioAuthnKeys.requestAudiences] = origin.audiences[0];
        if (origin.presenter !== '') out[IstioAuthnKeys.requestPresenter] = origin.presenter;
        if (Object.keys(origin.claims).length > 0) out[IstioAuthnKeys.requestClaims] = origin.claims;
        if (origin.rawClaims !== '') out[IstioAuthnKeys.requestRawClaims] = origin.rawClaims;
      }
      const prev = req.metadata.get(ISTIO_AUTHN_FILTER);
      req.metadata.set(ISTIO_AUTHN_FILTER, prev === undefined ? out : { ...prev, ...out });
      return undefined;
    } catch {
      return reject('Origin authentication failed.');
    }
  };
  return { name, decode };
}
