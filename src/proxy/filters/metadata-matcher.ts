// Envoy's MetadataMatcher and ValueMatcher (envoy.type.matcher.v3) compiled once into predicates over a request's dynamic metadata.
import { compileStringMatcher } from '../config/string-matcher.js';
import { ConfigError, bool, isObject, list, num, obj, str, type Json } from '../config/xds-json.js';
import { onlyFields } from './filter-config.js';

/** Dynamic metadata by filter name, as FilterRequest carries it (values are plain JSON). */
export type DynamicMetadata = ReadonlyMap<string, Readonly<Record<string, unknown>>>;

/** A compiled ValueMatcher. `undefined` is a value that is not there (Envoy's KIND_NOT_SET). */
export type ValuePredicate = (value: unknown) => boolean;

const VALUE_MATCHER_FIELDS: ReadonlySet<string> = new Set(['null_match', 'double_match', 'string_match', 'bool_match', 'present_match', 'list_match', 'or_match']);

/**
 * envoy.type.matcher.v3.ValueMatcher: exactly one of null_match, double_match, string_match,
 * bool_match, present_match, list_match (one_of), or_match. A value of another kind never matches;
 * present_match matches any value that is there when true and nothing when false (Envoy's rule).
 */
export function compileValueMatcher(v: unknown, path: string): ValuePredicate {
  const m = obj(v, path);
  onlyFields(m, path, VALUE_MATCHER_FIELDS);
  if (m.null_match !== undefined) return (value) => value === null;
  if (m.double_match !== undefined) {
    const d = obj(m.double_match, `${path}.double_match`);
    if (d.exact !== undefined) {
      const want = num(d.exact, `${path}.double_match.exact`);
      return (value) => typeof value === 'number' && value === want;
    }
    if (d.range !== undefined) {
      const r = obj(d.range, `${path}.double_match.range`);
      const start = num(r.start, `${path}.double_match.range.start`, 0);
      const end = num(r.end, `${path}.double_match.range.end`, 0);
      return (value) => typeof value === 'number' && value >= start && value < end;
    }
    throw new ConfigError(`${path}.double_match`, 'needs range or exact');
  }
  if (m.string_match !== undefined) {
    const sm = compileStringMatcher(m.string_match, `${path}.string_match`);
    return (value) => typeof value === 'string' && sm(value);
  }
  if (m.bool_match !== undefined) {
    const want = bool(m.bool_match, `${path}.bool_match`, false);
    return (value) => value === want;
  }
  if (m.present_match !== undefined) {
    const want = bool(m.present_match, `${path}.present_match`, false);
    return want ? (value) => value !== undefined : () => false;
  }
  if (m.list_match !== undefined) {
    const l = obj(m.list_match, `${path}.list_match`);
    onlyFields(l, `${path}.list_match`, new Set(['one_of']));
    if (l.one_of === undefined) throw new ConfigError(`${path}.list_match`, 'needs one_of');
    const inner = compileValueMatcher(l.one_of, `${path}.list_match.one_of`);
    return (value) => {
      if (!Array.isArray(value)) return false;
      for (const item of value) if (inner(item)) return true;
      return false;
    };
  }
  if (m.or_match !== undefined) {
    const o = obj(m.or_match, `${path}.or_match`);
    const inner = list(o.value_matchers, `${path}.or_match.value_matchers`).map((x, i) => compileValueMatcher(x, `${path}.or_match.value_matchers[${i}]`));
    if (inner.length < 2) throw new ConfigError(`${path}.or_match.value_matchers`, 'needs at least two matchers');
    return (value) => inner.some((p) => p(value));
  }
  throw new ConfigError(path, 'needs one of null_match, double_match, string_match, bool_match, present_match, list_match, or_match');
}

/** A compiled MetadataMatcher over a request's dynamic metadata. */
export type MetadataPredicate = (metadata: DynamicMetadata) => boolean;

/**
 * envoy.type.matcher.v3.MetadataMatcher `{ filter, path: [{ key }], value, invert }`: walks the
 * keys through nested structs of `metadata[filter]` (a missing step is a value that is not there)
 * and matches the value found.
 */
export function compileMetadataMatcher(v: unknown, path: string): MetadataPredicate {
  const m = obj(v, path);
  onlyFields(m, path, new Set(['filter', 'path', 'value', 'invert']));
  const filter = str(m.filter, `${path}.filter`);
  const keys = list(m.path, `${path}.path`).map((seg, i) => {
    const s = obj(seg, `${path}.path[${i}]`);
    onlyFields(s, `${path}.path[${i}]`, new Set(['key']));
    return str(s.key, `${path}.path[${i}].key`);
  });
  if (keys.length === 0) throw new ConfigError(`${path}.path`, 'needs at least one key');
  if (m.value === undefined) throw new ConfigError(`${path}.value`, 'is required');
  const value = compileValueMatcher(m.value, `${path}.value`);
  const invert = bool(m.invert, `${path}.invert`, false);
  return (metadata) => value(lookupPath(metadata.get(filter), keys)) !== invert;
}

/** The value at `keys` inside a filter's metadata, or undefined when a step is missing or not a struct. */
export function lookupPath(root: Readonly<Record<string, unknown>> | undefined, keys: readonly string[]): unknown {
  let cur: unknown = root;
  for (const k of keys) {
    if (!isObject(cur as Json | undefined)) return undefined;
    const rec = cur as Json;
    if (!Object.prototype.hasOwnProperty.call(rec, k)) return undefined;
    cur = rec[k];
  }
  return cur;
}
