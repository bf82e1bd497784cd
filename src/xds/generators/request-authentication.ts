// RequestAuthentication → the jwt_authn and istio_authn HTTP filters that open sidecar inbound and gateway connection managers, in Istio 1.6's shapes.
import type { RequestAuthenticationSpec } from '../../api/kinds/request-authentication.js';
import type { Proxy } from '../../model/proxy.js';
import type { PeerMtlsMode, PushContext } from '../../model/push-context.js';
import { refOf } from '../../model/push/config-meta.js';
import { any, struct, type Msg } from './envoy-values.js';
import { pushMemo } from './push-memo.js';

/** Envoy's JWT authentication filter: verifies tokens and puts each verified payload in dynamic metadata under its issuer. */
export const JWT_AUTHN_FILTER = { name: 'envoy.filters.http.jwt_authn', type: 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication' } as const;

/**
 * Istio's authentication filter. It turns jwt_authn's payloads (and the peer certificate) into
 * the `istio_authn` dynamic metadata AuthorizationPolicy reads: `request.auth.principal`
 * (`iss/sub`), `request.auth.audiences`, `request.auth.presenter` (`azp`), `request.auth.claims`
 * and `request.auth.raw_claims`; `source.principal` and `source.user` from the peer.
 */
export const ISTIO_AUTHN_FILTER = { name: 'istio_authn', type: 'istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig' } as const;

/**
 * The envelope istio_authn's config travels in. Its message is Istio's own proto, which is not
 * among the Envoy protos the encoder knows (protos.ts): a TypedStruct carries the real type URL
 * with the fields as a Struct, and whoever runs the filter reads the Struct as that message's
 * JSON (proto field names), as Envoy does with any TypedStruct. xds.type.v3 rather than the
 * older udpa.type.v1 (both loaded, same fields) because retry-policy.ts already uses it.
 */
const TYPED_STRUCT = 'xds.type.v3.TypedStruct';

export type JwtRule = NonNullable<RequestAuthenticationSpec['jwtRules']>[number];

/**
 * The JWT rules of every RequestAuthentication applying to the proxy's workload, in Istio 1.6's
 * order: sorted by issuer (Istio sorts all rules so the filter config is deterministic); rules
 * with equal issuers keep policy order (workload namespace, then root namespace, oldest first)
 * and their order within the policy. Rules without an issuer (refused by validation) are skipped.
 */
export function jwtRulesFor(proxy: Proxy, push: PushContext): JwtRule[] {
  const rules = push.requestAuthentications(proxy.namespace, proxy.labels).flatMap((p) => (p.spec.jwtRules ?? []).filter((r) => r.issuer));
  // Array.prototype.sort is stable: ties keep the order above.
  return rules.sort((a, b) => (a.issuer! < b.issuer! ? -1 : a.issuer! > b.issuer! ? 1 : 0));
}

const providerName = (i: number) => `origins-${i}`;

/** One rule as a jwt_authn provider; its keys are the inline `jwks`, else what the control plane fetched (or the fail-closed empty set). */
function provider(rule: JwtRule, push: PushContext): Msg {
  const issuer = rule.issuer!;
  const p: Msg = { issuer };
  if (rule.audiences && rule.audiences.length > 0) p.audiences = [...rule.audiences];
  const jwks = rule.jwks ? rule.jwks : push.jwks.keysFor(rule.jwksUri ? { issuer, jwksUri: rule.jwksUri } : { issuer }).jwks;
  p.localJwks = { inlineString: jwks };
  if (rule.forwardOriginalToken) p.forward = true;
  // No locations given: Envoy's defaults apply (Authorization: Bearer, then ?access_token=).
  if (rule.fromHeaders && rule.fromHeaders.length > 0) p.fromHeaders = rule.fromHeaders.map((h) => (h.prefix ? { name: h.name, valuePrefix: h.prefix } : { name: h.name }));
  if (rule.fromParams && rule.fromParams.length > 0) p.fromParams = [...rule.fromParams];
  if (rule.outputPayloadToHeader) p.forwardPayloadHeader = rule.outputPayloadToHeader;
  // istio_authn finds the verified payload of each origin under its issuer.
  p.payloadInMetadata = issuer;
  return p;
}

/**
 * `JwtAuthentication` for `rules` (non-empty), as Istio 1.6 builds it: a provider `origins-N` per
 * rule, and one requirement for every path. Under Envoy's semantics a provider requirement is
 * met by a token, found in that provider's locations, that verifies (issuer, keys, audiences,
 * expiry); it reports "missing" only when none of its locations holds a token. `allow_missing`
 * is met only by "missing": a token that is present but fails is a 401, never "no token".
 *
 * - One rule: `requires_any [origins-0, allow_missing]`.
 * - Several: `requires_any [origins-0, …, origins-N, requires_all [requires_any [origins-i,
 *   allow_missing] for each i]]`. The inner AND says every provider's token, if present, is
 *   valid; the outer providers let one valid token through when rules share a location (there
 *   the other providers see a token of a foreign issuer and fail the AND).
 *
 * Outcomes (reliability-security.md §1 D): no token anywhere → allowed, no identity (D6, the
 * AuthorizationPolicy decides); a valid token of a listed issuer → allowed, payload in metadata;
 * a malformed, badly signed, expired or `alg: none` token, or a valid token of an issuer no rule
 * lists (ISTIO-SECURITY-2021-001, D5: its provider reports "unknown issuer", not "missing") →
 * 401 (D1–D5); keys the control plane could not fetch → an empty key set, so every token of
 * that issuer → 401 (D8). This is why Istio's `allow_missing` is kept rather than
 * `allow_missing_or_failed` (Istio ≤1.4 with the authn filter rejecting), which would hand the
 * 401 decision to istio_authn.
 */
export function jwtAuthentication(rules: readonly JwtRule[], push: PushContext): Msg {
  const providers: Record<string, Msg> = {};
  rules.forEach((r, i) => (providers[providerName(i)] = provider(r, push)));
  const only = (i: number): Msg => ({ providerName: providerName(i) });
  const optional = (i: number): Msg => ({ requiresAny: { requirements: [only(i), { allowMissing: {} }] } });
  const requires =
    rules.length === 1
      ? optional(0)
      : { requiresAny: { requirements: [...rules.map((_, i) => only(i)), { requiresAll: { requirements: rules.map((_, i) => optional(i)) } }] } };
  return { providers, rules: [{ match: { prefix: '/' }, requires }] };
}

/**
 * Istio 1.6's `FilterConfig` for istio_authn as plain JSON (proto field names), for `rules`
 * (non-empty): every rule's issuer as an origin, origins optional (a request without a token
 * passes; jwt_authn has already refused bad ones), the request principal bound from the origin
 * (`USE_ORIGIN`), and `skip_validate_trust_domain` (trust domains are checked by the TLS
 * handshake). A sidecar also gets its port's peer mTLS mode (STRICT or PERMISSIVE; none when
 * DISABLE), as Istio writes it; gateways never do. Enum values are written by name, even the
 * zero value STRICT that Istio's own JSON would omit.
 */
export function istioAuthnConfig(rules: readonly JwtRule[], peerMode?: PeerMtlsMode): Record<string, unknown> {
  const policy: Record<string, unknown> = {};
  if (peerMode === 'STRICT' || peerMode === 'PERMISSIVE') policy.peers = [{ mtls: { mode: peerMode } }];
  policy.origins = rules.map((r) => ({ jwt: { issuer: r.issuer } }));
  policy.origin_is_optional = true;
  policy.principal_binding = 'USE_ORIGIN';
  return { policy, skip_validate_trust_domain: true };
}

/**
 * The HTTP filters RequestAuthentication adds in front of a connection manager's other filters,
 * `[jwt_authn, istio_authn]`, or `[]` when no policy with rules applies to the proxy's workload.
 * Sidecars pass the workload (container) port of the inbound chain, whose PeerAuthentication
 * mode istio_authn carries; gateways pass none. Shared between proxies with the same policies
 * and mode for the push (deep-frozen).
 */
export function requestAuthenticationFilters(proxy: Proxy, push: PushContext, port?: number): Msg[] {
  const policies = push.requestAuthentications(proxy.namespace, proxy.labels);
  if (policies.length === 0) return [];
  const peerMode = proxy.type === 'sidecar' && port !== undefined ? push.peerAuthentication(proxy.namespace, proxy.labels).modeFor(port) : undefined;
  // Everything the filters depend on: the policies (by identity within this push) and the peer mode.
  const key = `request-authn|${peerMode ?? '-'}|${policies.map(refOf).join(',')}`;
  return pushMemo(push, key, () => {
    const rules = jwtRulesFor(proxy, push);
    if (rules.length === 0) return [];
    return [
      { name: JWT_AUTHN_FILTER.name, typedConfig: any(JWT_AUTHN_FILTER.type, jwtAuthentication(rules, push)) },
      { name: ISTIO_AUTHN_FILTER.name, typedConfig: any(TYPED_STRUCT, { typeUrl: `type.googleapis.com/${ISTIO_AUTHN_FILTER.type}`, value: struct(istioAuthnConfig(rules, peerMode)) }) },
    ];
  });
}
