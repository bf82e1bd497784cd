// VirtualService HTTPMatchRequest → Envoy RouteMatch (path, headers, pseudo-headers, query parameters), as Istio 1.6 translates it.
import type { Msg } from './envoy-values.js';
import type { HTTPMatchRequest, StringMatch } from './vs-types.js';

/** Header names that are request attributes of their own, ignored when written under `headers` (Istio API). */
const RESERVED_HEADER_KEYS = new Set(['uri', 'scheme', 'method', 'authority']);

/** Envoy `StringMatcher` from an Istio StringMatch (regex engine left to Envoy's default, RE2). */
export function stringMatcher(m: StringMatch): Msg | undefined {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  if (m.regex !== undefined) return { safeRegex: { regex: m.regex } };
  return undefined;
}

/**
 * `HeaderMatcher`: exact/prefix/regex through `string_match` (the non-deprecated v3 form); an empty
 * StringMatch, or Istio's legacy catch-all regex `*`, checks presence only.
 */
export function headerMatcher(name: string, m: StringMatch | undefined, invert = false): Msg {
  const out: Msg = { name };
  const sm = m && m.regex !== '*' ? stringMatcher(m) : undefined;
  if (sm) out.stringMatch = sm;
  else out.presentMatch = true;
  if (invert) out.invertMatch = true;
  return out;
}

/** `QueryParameterMatcher`: exact or regex (Istio rejects prefix); an empty match checks presence. */
function queryParameterMatcher(name: string, m: StringMatch): Msg {
  if (m.exact !== undefined) return { name, stringMatch: { exact: m.exact } };
  if (m.regex !== undefined) return { name, stringMatch: { safeRegex: { regex: m.regex } } };
  return { name, presentMatch: true };
}

const byName = (a: Msg, b: Msg) => ((a.name as string) < (b.name as string) ? -1 : (a.name as string) > (b.name as string) ? 1 : 0);

/**
 * Translates one match block. URI exact → `path`, prefix → `prefix`, regex → `safe_regex` (Envoy
 * matches it against the whole path, as Istio's full-match semantics require); `ignoreUriCase`
 * clears `case_sensitive`. Headers and withoutHeaders (inverted) are sorted by name, then
 * `:method`, `:authority` and `:scheme` follow; query parameters are sorted by name. No match
 * block means every request (prefix `/`).
 */
export function routeMatch(m: HTTPMatchRequest | undefined): Msg {
  const out: Msg = { prefix: '/' };
  if (!m) return out;
  const uri = m.uri as StringMatch | undefined;
  if (uri?.exact !== undefined) {
    delete out.prefix;
    out.path = uri.exact;
  } else if (uri?.prefix !== undefined) out.prefix = uri.prefix;
  else if (uri?.regex !== undefined) {
    delete out.prefix;
    out.safeRegex = { regex: uri.regex };
  }
  out.caseSensitive = { value: m.ignoreUriCase !== true };

  const headers: Msg[] = [];
  for (const [name, sm] of Object.entries(m.headers ?? {})) if (!RESERVED_HEADER_KEYS.has(name)) headers.push(headerMatcher(name, sm as StringMatch));
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) if (!RESERVED_HEADER_KEYS.has(name)) headers.push(headerMatcher(name, sm as StringMatch, true));
  headers.sort(byName);
  if (m.method) headers.push(headerMatcher(':method', m.method as StringMatch));
  if (m.authority) headers.push(headerMatcher(':authority', m.authority as StringMatch));
  if (m.scheme) headers.push(headerMatcher(':scheme', m.scheme as StringMatch));
  if (headers.length > 0) out.headers = headers;

  const params = Object.entries(m.queryParams ?? {}).map(([name, sm]) => queryParameterMatcher(name, sm as StringMatch));
  if (params.length > 0) out.queryParameters = params.sort(byName);
  return out;
}

/** Istio's isCatchAllMatch: URI prefix `/` (or regex `*`) with no header or query match. */
export function isCatchAllMatch(m: HTTPMatchRequest): boolean {
  const uri = m.uri as StringMatch | undefined;
  const catchAll = uri?.prefix === '/' || uri?.regex === '*';
  return catchAll && Object.keys(m.headers ?? {}).length === 0 && Object.keys(m.queryParams ?? {}).length === 0;
}

/** Istio's isCatchAllRoute, on a generated route: prefix `/` (or regex `*`) and no header or query matchers. */
export function isCatchAllRoute(route: Msg): boolean {
  const match = (route.match ?? {}) as Msg;
  const catchAll = match.prefix === '/' || (match.safeRegex as Msg | undefined)?.regex === '*';
  return catchAll && !(match.headers as unknown[] | undefined)?.length && !(match.queryParameters as unknown[] | undefined)?.length;
}
