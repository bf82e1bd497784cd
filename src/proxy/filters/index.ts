// An HTTP connection manager's http_filters compiled into the decoder filters Meltemi runs before routing (jwt_authn, istio_authn, rbac), in order; filters the exchange implements itself or that only observe are skipped, anything else is refused.
import { ConfigError, bool, obj, str, type Json } from '../config/xds-json.js';
import type { HttpDecoderFilter } from '../http/http-filters.js';
import { unwrapTypedConfig } from './filter-config.js';
import { ISTIO_AUTHN_FILTER, ISTIO_AUTHN_TYPE, compileIstioAuthn } from './istio-authn.js';
import { JWT_AUTHN_FILTER, JWT_AUTHN_TYPES, compileJwtAuthn, type JwtAuthnOptions } from './jwt-authn.js';
import { RBAC_HTTP_FILTER, RBAC_HTTP_TYPES, compileHttpRbac } from './rbac.js';

export { compileIstioAuthn, ISTIO_AUTHN_FILTER, ISTIO_AUTHN_TYPE, IstioAuthnKeys } from './istio-authn.js';
export { compileJwtAuthn, JWT_AUTHN_FILTER, JWT_AUTHN_TYPES, type JwtAuthnFilter, type JwtAuthnOptions, type JwtAuthnStats } from './jwt-authn.js';
export {
  compileHttpRbac,
  compileNetworkRbac,
  RBAC_HTTP_FILTER,
  RBAC_HTTP_TYPES,
  RBAC_NETWORK_FILTER,
  RBAC_NETWORK_TYPES,
  type HttpRbacFilter,
  type NetworkRbac,
  type NetworkRbacVerdict,
  type RbacConnection,
  type RbacStats,
} from './rbac.js';

const ROUTER_TYPES = ['type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', 'type.googleapis.com/envoy.config.filter.http.router.v2.Router'];
const CORS_TYPES = ['type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors', 'type.googleapis.com/envoy.config.filter.http.cors.v2.Cors'];
const FAULT_TYPES = ['type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault', 'type.googleapis.com/envoy.config.filter.http.fault.v2.HTTPFault'];

/** Filters the exchange itself implements (the router, CORS, fault injection): compiled elsewhere, skipped here. */
const IMPLEMENTED_BY_EXCHANGE: ReadonlyMap<string, readonly string[]> = new Map([
  ['envoy.filters.http.router', ROUTER_TYPES],
  ['envoy.router', ROUTER_TYPES],
  ['envoy.filters.http.cors', CORS_TYPES],
  ['envoy.cors', CORS_TYPES],
  ['envoy.filters.http.fault', FAULT_TYPES],
  ['envoy.fault', FAULT_TYPES],
]);

/**
 * Filters that only observe or annotate and never decide a request's fate, so running without them
 * changes telemetry at most: gRPC stats, Istio's stats and metadata exchange (Wasm or native; only
 * under these names, since an arbitrary Wasm module may well enforce something), and istio.alpn
 * (it sets the upstream ALPN, which Meltemi's pools choose themselves).
 */
const PASSIVE_BY_NAME: ReadonlySet<string> = new Set(['envoy.filters.http.grpc_stats', 'istio.stats', 'istio.metadata_exchange', 'istio.alpn']);
const PASSIVE_TYPES: ReadonlySet<string> = new Set([
  'type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig',
  'type.googleapis.com/envoy.config.filter.http.grpc_stats.v2alpha.FilterConfig',
  'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
  'type.googleapis.com/envoy.config.filter.http.wasm.v2.Wasm',
  'type.googleapis.com/stats.PluginConfig',
  'type.googleapis.com/istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig',
]);

/** The filter names compileHttpFilters skips as passive (documented for operators). */
export const PASSIVE_HTTP_FILTERS: readonly string[] = [...PASSIVE_BY_NAME];

/** Options for compileHttpFilters. */
export interface HttpFiltersOptions {
  /** Passed to jwt_authn (a fake clock in tests). */
  jwt?: JwtAuthnOptions;
}

/** One HttpFilter entry → its decoder filter, or undefined when it is skipped (compilers put the full field path in their errors). */
function compileOne(f: Json, path: string, options: HttpFiltersOptions): HttpDecoderFilter | undefined {
  const name = str(f.name, `${path}.name`);
  const optional = bool(f.is_optional, `${path}.is_optional`, false);
  if (f.config_discovery !== undefined) throw new ConfigError(`${path}.config_discovery`, 'filter config discovery is not supported');
  if (bool(f.disabled, `${path}.disabled`, false)) return undefined;
  if (f.typed_config === undefined) {
    if (IMPLEMENTED_BY_EXCHANGE.has(name) || PASSIVE_BY_NAME.has(name)) return undefined;
    if (optional) return undefined;
    throw new ConfigError(path, `HTTP filter ${name} has no typed_config and is not supported`);
  }
  const tc = unwrapTypedConfig(f.typed_config, `${path}.typed_config`);
  const type = tc.typeUrl;
  if (JWT_AUTHN_TYPES.has(type)) return compileJwtAuthn(tc.value, tc.path, options.jwt, name);
  if (type === ISTIO_AUTHN_TYPE) return compileIstioAuthn(tc.value, tc.path, name);
  if (RBAC_HTTP_TYPES.has(type)) return compileHttpRbac(tc.value, tc.path, name);
  for (const types of IMPLEMENTED_BY_EXCHANGE.values()) if (types.includes(type)) return undefined;
  if (PASSIVE_TYPES.has(type)) {
    // Wasm carries any code: only Istio's own observers by name are let through.
    if (!type.includes('.wasm.') || PASSIVE_BY_NAME.has(name)) return undefined;
  }
  if (optional) return undefined;
  throw new ConfigError(path, `HTTP filter ${name} (${type}) is not supported`);
}

/**
 * Compiles an HttpConnectionManager's `http_filters` (decoded JSON, `path` for errors, e.g.
 * `filter_chains[0].filters[0].typed_config.http_filters`) into the decoder filters to run, in
 * config order: `envoy.filters.http.jwt_authn`, `istio_authn` and `envoy.filters.http.rbac`,
 * recognized by their typed_config type (an Any, or a TypedStruct's type_url). The router, CORS and
 * fault filters are skipped (the exchange implements them), as are the passive filters
 * (PASSIVE_HTTP_FILTERS) and disabled or optional unknown ones. Any other filter, and any config a
 * compiler refuses, throws ConfigError so the update is NACKed. Call once per config version.
 */
export function compileHttpFilters(httpFilters: readonly unknown[], path: string, options: HttpFiltersOptions = {}): HttpDecoderFilter[] {
  const out: HttpDecoderFilter[] = [];
  httpFilters.forEach((f, i) => {
    const p = `${path}[${i}]`;
    const compiled = compileOne(obj(f, p), p, options);
    if (compiled !== undefined) out.push(compiled);
  });
  return out;
}

/** The canonical names of the filters this module compiles. */
export const COMPILED_HTTP_FILTERS: readonly string[] = [JWT_AUTHN_FILTER, ISTIO_AUTHN_FILTER, RBAC_HTTP_FILTER];
