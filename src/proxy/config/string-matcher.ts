// Envoy StringMatcher / HeaderMatcher / QueryParameterMatcher compiled once per config into plain predicates.
import { compileUserRegex } from '../../api/common.js';
import { ConfigError, bool, isObject, obj, str, type Json } from './xds-json.js';

/** A compiled matcher over one value. */
export type ValueMatcher = (value: string) => boolean;

/** RE2 with full-match semantics (Envoy's safe_regex), size-bounded like user config. */
export function compileRegex(v: unknown, path: string): ValueMatcher {
  const regex = str(obj(v, path).regex, `${path}.regex`);
  const { regex: re, problem } = compileUserRegex(regex);
  if (!re) throw new ConfigError(`${path}.regex`, problem ?? 'invalid regex');
  return (s) => re.matches(s);
}

/** envoy.type.matcher.v3.StringMatcher: exactly one of exact, prefix, suffix, contains, safe_regex; ignore_case for all but the regex. */
export function compileStringMatcher(v: unknown, path: string): ValueMatcher {
  const m = obj(v, path);
  const ignoreCase = bool(m.ignore_case, `${path}.ignore_case`, false);
  const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  if (m.exact !== undefined) {
    const want = fold(str(m.exact, `${path}.exact`));
    return ignoreCase ? (s) => s.toLowerCase() === want : (s) => s === want;
  }
  if (m.prefix !== undefined) {
    const want = fold(str(m.prefix, `${path}.prefix`));
    return ignoreCase ? (s) => s.toLowerCase().startsWith(want) : (s) => s.startsWith(want);
  }
  if (m.suffix !== undefined) {
    const want = fold(str(m.suffix, `${path}.suffix`));
    return ignoreCase ? (s) => s.toLowerCase().endsWith(want) : (s) => s.endsWith(want);
  }
  if (m.contains !== undefined) {
    const want = fold(str(m.contains, `${path}.contains`));
    return ignoreCase ? (s) => s.toLowerCase().includes(want) : (s) => s.includes(want);
  }
  if (m.safe_regex !== undefined) return compileRegex(m.safe_regex, `${path}.safe_regex`);
  throw new ConfigError(path, 'needs one of exact, prefix, suffix, contains, safe_regex');
}

/** Reads one request header (lower-case name; several values joined with ","), or a pseudo-header (`:method`, `:authority`, `:path`, `:scheme`). */
export type HeaderLookup = (lowerName: string) => string | undefined;

/** envoy.config.route.v3.HeaderMatcher: a missing header never matches a value (an inverted one does). */
export function compileHeaderMatcher(v: unknown, path: string): (lookup: HeaderLookup) => boolean {
  const m = obj(v, path);
  const name = str(m.name, `${path}.name`).toLowerCase();
  const invert = bool(m.invert_match, `${path}.invert_match`, false);
  let test: (value: string | undefined) => boolean;
  if (m.present_match !== undefined) {
    const want = bool(m.present_match, `${path}.present_match`, true);
    test = (value) => (value !== undefined) === want;
  } else if (m.string_match !== undefined) {
    const sm = compileStringMatcher(m.string_match, `${path}.string_match`);
    test = (value) => value !== undefined && sm(value);
  } else if (m.exact_match !== undefined) {
    const want = str(m.exact_match, `${path}.exact_match`);
    test = (value) => value === want;
  } else if (m.safe_regex_match !== undefined) {
    const re = compileRegex(m.safe_regex_match, `${path}.safe_regex_match`);
    test = (value) => value !== undefined && re(value);
  } else if (m.prefix_match !== undefined) {
    const want = str(m.prefix_match, `${path}.prefix_match`);
    test = (value) => value !== undefined && value.startsWith(want);
  } else if (m.suffix_match !== undefined) {
    const want = str(m.suffix_match, `${path}.suffix_match`);
    test = (value) => value !== undefined && value.endsWith(want);
  } else if (m.contains_match !== undefined) {
    const want = str(m.contains_match, `${path}.contains_match`);
    test = (value) => value !== undefined && value.includes(want);
  } else if (m.range_match !== undefined) {
    const r = obj(m.range_match, `${path}.range_match`);
    const start = Number(r.start ?? 0);
    const end = Number(r.end ?? 0);
    // Envoy: the value must be a base-10 integer in [start, end).
    test = (value) => value !== undefined && /^-?[0-9]+$/.test(value) && Number(value) >= start && Number(value) < end;
  } else {
    // No match specifier: Envoy treats it as "header present".
    test = (value) => value !== undefined;
  }
  return invert ? (lookup) => !test(lookup(name)) : (lookup) => test(lookup(name));
}

/** envoy.config.route.v3.QueryParameterMatcher over parsed parameters (first value of a name). */
export function compileQueryMatcher(v: unknown, path: string): (params: ReadonlyMap<string, string>) => boolean {
  const m = obj(v, path);
  const name = str(m.name, `${path}.name`);
  if (m.present_match !== undefined) {
    const want = bool(m.present_match, `${path}.present_match`, true);
    return (params) => params.has(name) === want;
  }
  if (isObject(m.string_match as Json | undefined)) {
    const sm = compileStringMatcher(m.string_match, `${path}.string_match`);
    return (params) => {
      const value = params.get(name);
      return value !== undefined && sm(value);
    };
  }
  return (params) => params.has(name);
}

/** `a=1&b=2` → first value per name, percent-decoded where valid (Envoy's parseQueryString). */
export function parseQuery(query: string): Map<string, string> {
  const out = new Map<string, string>();
  if (query === '') return out;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(name)) out.set(name, eq < 0 ? '' : decode(part.slice(eq + 1)));
  }
  return out;
}

function decode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
