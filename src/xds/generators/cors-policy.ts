// VirtualService corsPolicy → per-route config of Envoy's CORS filter.
import { any, durationSeconds, Filters, type Msg } from './envoy-values.js';
import { stringMatcher } from './route-match.js';
import type { CorsPolicy, StringMatch } from './vs-types.js';

/**
 * The CorsPolicy message: origins from `allowOrigins` (StringMatch) or the deprecated exact
 * `allowOrigin` list (`*` allows every origin), methods/headers joined with commas, `maxAge` in
 * whole seconds, and the filter enabled for 100 % of requests (Istio turns CORS on per route).
 */
export function corsPolicy(c: CorsPolicy): Msg {
  const out: Msg = {};
  const origins: Msg[] = [];
  if (c.allowOrigins && c.allowOrigins.length > 0) {
    for (const o of c.allowOrigins) {
      const m = stringMatcher(o as StringMatch);
      if (m) origins.push(m);
    }
  } else {
    for (const o of c.allowOrigin ?? []) origins.push(o === '*' ? { safeRegex: { regex: '.*' } } : { exact: o });
  }
  if (origins.length > 0) out.allowOriginStringMatch = origins;
  if (c.allowMethods?.length) out.allowMethods = c.allowMethods.join(',');
  if (c.allowHeaders?.length) out.allowHeaders = c.allowHeaders.join(',');
  if (c.exposeHeaders?.length) out.exposeHeaders = c.exposeHeaders.join(',');
  const maxAge = durationSeconds(c.maxAge);
  if (maxAge !== undefined) out.maxAge = String(maxAge);
  if (c.allowCredentials !== undefined) out.allowCredentials = { value: c.allowCredentials };
  out.filterEnabled = { defaultValue: { numerator: 100, denominator: 'HUNDRED' } };
  return out;
}

/** `typed_per_filter_config` entry for the CORS filter. */
export function corsFilterConfig(c: CorsPolicy): [string, Msg] {
  return [Filters.corsPolicy.name, any(Filters.corsPolicy.type, corsPolicy(c))];
}
