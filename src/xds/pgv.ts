// The protoc-gen-validate rules Envoy enforces on every config message, checked on Meltemi's object form before encoding.
import { isIP } from 'node:net';
import protobuf from 'protobufjs';

/*
 * Envoy validates each received resource against the `(validate.rules)` annotations of its
 * protos and rejects the update when one fails (e.g. a route's `domains` must not be empty, an
 * endpoint weight must be ≥ 1). grpc-js does not, so a test against grpc-js alone would not
 * catch such a bug. This module reads the annotations protobufjs parsed and checks the subset
 * of rules Envoy's protos use: numeric bounds, string length/pattern/well-known forms,
 * repeated/map sizes and items, required messages and oneofs, duration bounds, enum values.
 * https://github.com/bufbuild/protoc-gen-validate/blob/main/validate/validate.proto
 */

type Rules = Record<string, unknown>;

const rulesCache = new WeakMap<protobuf.Field, Rules | null>();

/** The merged `(validate.rules)` of a field, or undefined when it has none. */
export function fieldRules(field: protobuf.Field): Rules | undefined {
  let r = rulesCache.get(field);
  if (r === undefined) {
    r = null;
    for (const opt of (field.parsedOptions as Record<string, unknown>[] | null | undefined) ?? []) {
      const v = opt['(validate.rules)'];
      if (v && typeof v === 'object') r = { ...(r ?? {}), ...(v as Rules) };
    }
    rulesCache.set(field, r);
  }
  return r ?? undefined;
}

/** Whether a oneof carries `(validate.required)`: exactly one member must be set. */
export function oneofRequired(oneof: protobuf.OneOf): boolean {
  return (oneof.options as Record<string, unknown> | undefined)?.['(validate.required)'] === true;
}

/** Whether a message field must be present (`message.required`, `duration.required`, `any.required`). */
export function presenceRequired(field: protobuf.Field): boolean {
  const r = fieldRules(field);
  if (!r) return false;
  for (const k of ['message', 'duration', 'any', 'timestamp']) if ((r[k] as Rules | undefined)?.required === true) return true;
  return false;
}

const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
// eslint-disable-next-line no-control-regex
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// eslint-disable-next-line no-control-regex
const HEADER_LENIENT = /^[^\u0000\u000A\u000D]*$/;
const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const patternCache = new Map<string, RegExp | null>();

function pattern(p: string): RegExp | null {
  let re = patternCache.get(p);
  if (re === undefined) {
    try {
      re = new RegExp(p, 'u');
    } catch {
      re = null; // an RE2 construct JS lacks: not checked rather than wrongly refused
    }
    patternCache.set(p, re);
  }
  return re;
}

function toBig(v: unknown): bigint | undefined {
  try {
    if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
    if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) return BigInt(v);
  } catch {
    // not an integer
  }
  return undefined;
}

function cmp(a: unknown, b: unknown, integer: boolean): number | undefined {
  if (integer) {
    const x = toBig(a);
    const y = toBig(b);
    if (x === undefined || y === undefined) return undefined;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a !== 'number' || typeof b !== 'number') return undefined;
  return a < b ? -1 : a > b ? 1 : 0;
}

function bounds(r: Rules, v: unknown, integer: boolean, path: string, errors: string[], show: (x: unknown) => string = String): void {
  const c = (k: string) => (r[k] === undefined ? undefined : cmp(v, r[k], integer));
  const lt = c('lt');
  const lte = c('lte');
  const gt = c('gt');
  const gte = c('gte');
  const ok =
    (lt === undefined || lt < 0) && (lte === undefined || lte <= 0) && (gt === undefined || gt > 0) && (gte === undefined || gte >= 0);
  if (!ok) {
    const parts = ['gt', 'gte', 'lt', 'lte'].filter((k) => r[k] !== undefined).map((k) => `${{ gt: '>', gte: '≥', lt: '<', lte: '≤' }[k]} ${show(r[k])}`);
    errors.push(`${path}: ${show(v)} must be ${parts.join(' and ')}`);
  }
  if (r.const !== undefined && cmp(v, r.const, integer) !== 0) errors.push(`${path}: must equal ${show(r.const)}`);
  if (Array.isArray(r.in) && r.in.length > 0 && !r.in.some((x) => cmp(v, x, integer) === 0)) errors.push(`${path}: must be one of ${r.in.map(show).join(', ')}`);
  if (Array.isArray(r.not_in) && r.not_in.some((x) => cmp(v, x, integer) === 0)) errors.push(`${path}: must not be ${show(v)}`);
}

function isEmptyValue(v: unknown): boolean {
  return v === '' || v === 0 || v === '0' || v === false || (Array.isArray(v) && v.length === 0) || (v instanceof Uint8Array && v.length === 0);
}

function stringRules(r: Rules, v: unknown, path: string, errors: string[]): void {
  if (typeof v !== 'string') return;
  if (r.ignore_empty === true && v === '') return;
  const chars = [...v].length;
  const bytes = Buffer.byteLength(v);
  const num = (k: string) => (r[k] === undefined ? undefined : Number(r[k]));
  if (num('len') !== undefined && chars !== num('len')) errors.push(`${path}: must be exactly ${num('len')} characters`);
  if (num('min_len') !== undefined && chars < num('min_len')!) errors.push(`${path}: must be at least ${num('min_len')} character${num('min_len') === 1 ? '' : 's'}`);
  if (num('max_len') !== undefined && chars > num('max_len')!) errors.push(`${path}: must be at most ${num('max_len')} characters`);
  if (num('min_bytes') !== undefined && bytes < num('min_bytes')!) errors.push(`${path}: must be at least ${num('min_bytes')} bytes`);
  if (num('max_bytes') !== undefined && bytes > num('max_bytes')!) errors.push(`${path}: must be at most ${num('max_bytes')} bytes`);
  if (typeof r.prefix === 'string' && !v.startsWith(r.prefix)) errors.push(`${path}: must start with ${JSON.stringify(r.prefix)}`);
  if (typeof r.suffix === 'string' && !v.endsWith(r.suffix)) errors.push(`${path}: must end with ${JSON.stringify(r.suffix)}`);
  if (typeof r.contains === 'string' && !v.includes(r.contains)) errors.push(`${path}: must contain ${JSON.stringify(r.contains)}`);
  if (typeof r.not_contains === 'string' && v.includes(r.not_contains)) errors.push(`${path}: must not contain ${JSON.stringify(r.not_contains)}`);
  if (typeof r.const === 'string' && v !== r.const) errors.push(`${path}: must equal ${JSON.stringify(r.const)}`);
  if (Array.isArray(r.in) && r.in.length > 0 && !r.in.includes(v)) errors.push(`${path}: must be one of ${r.in.map((x) => JSON.stringify(x)).join(', ')}`);
  if (Array.isArray(r.not_in) && r.not_in.includes(v)) errors.push(`${path}: must not be ${JSON.stringify(v)}`);
  if (typeof r.pattern === 'string') {
    const re = pattern(r.pattern);
    if (re && !re.test(v)) errors.push(`${path}: ${JSON.stringify(v)} does not match ${r.pattern}`);
  }
  const strict = r.strict !== false;
  if (r.well_known_regex === 'HTTP_HEADER_NAME' && !(strict ? HEADER_NAME_STRICT : HEADER_LENIENT).test(v)) errors.push(`${path}: ${JSON.stringify(v)} is not a valid HTTP header name`);
  if (r.well_known_regex === 'HTTP_HEADER_VALUE' && !(strict ? HEADER_VALUE_STRICT : HEADER_LENIENT).test(v)) errors.push(`${path}: not a valid HTTP header value`);
  if (r.ip === true && isIP(v) === 0) errors.push(`${path}: ${JSON.stringify(v)} is not an IP address`);
  if (r.ipv4 === true && isIP(v) !== 4) errors.push(`${path}: ${JSON.stringify(v)} is not an IPv4 address`);
  if (r.ipv6 === true && isIP(v) !== 6) errors.push(`${path}: ${JSON.stringify(v)} is not an IPv6 address`);
  if (r.hostname === true && !HOSTNAME.test(v)) errors.push(`${path}: ${JSON.stringify(v)} is not a hostname`);
  if (r.address === true && isIP(v) === 0 && !HOSTNAME.test(v)) errors.push(`${path}: ${JSON.stringify(v)} is not a hostname or IP address`);
  if (r.uuid === true && !UUID.test(v)) errors.push(`${path}: ${JSON.stringify(v)} is not a UUID`);
}

function durationNanos(v: unknown): bigint | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const d = v as { seconds?: unknown; nanos?: unknown };
  const s = d.seconds === undefined ? 0n : toBig(d.seconds);
  const n = d.nanos === undefined ? 0n : toBig(d.nanos);
  return s === undefined || n === undefined ? undefined : s * 1_000_000_000n + n;
}

const NUMERIC = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64', 'double', 'float']);

/**
 * Checks one value (a scalar, a message object, or an element of a repeated field) against
 * rules of the form `{ <kind>: {...} }`. `enumType` maps enum names to numbers.
 */
export function checkValueRules(rules: Rules, v: unknown, path: string, errors: string[], enumType?: protobuf.Enum): void {
  for (const [kind, raw] of Object.entries(rules)) {
    const r = raw as Rules;
    if (!r || typeof r !== 'object') continue;
    if (NUMERIC.has(kind)) {
      // Wrapper messages (UInt32Value…) carry the rules of their value.
      const x = v && typeof v === 'object' && !Array.isArray(v) ? (v as { value?: unknown }).value ?? 0 : v;
      if (r.ignore_empty === true && isEmptyValue(x)) continue;
      bounds(r, x, kind !== 'double' && kind !== 'float', path, errors);
    } else if (kind === 'string') {
      const x = v && typeof v === 'object' ? (v as { value?: unknown }).value ?? '' : v;
      stringRules(r, x, path, errors);
    } else if (kind === 'bytes') {
      const x = v && typeof v === 'object' && !(v instanceof Uint8Array) ? (v as { value?: unknown }).value : v;
      const len = x instanceof Uint8Array ? x.length : typeof x === 'string' ? Buffer.from(x, 'base64').length : undefined;
      if (len === undefined || (r.ignore_empty === true && len === 0)) continue;
      if (r.min_len !== undefined && len < Number(r.min_len)) errors.push(`${path}: must be at least ${r.min_len} bytes`);
      if (r.max_len !== undefined && len > Number(r.max_len)) errors.push(`${path}: must be at most ${r.max_len} bytes`);
    } else if (kind === 'enum' && enumType) {
      const n = typeof v === 'string' ? enumType.values[v] : (v as number);
      if (n === undefined) continue;
      if (r.const !== undefined && n !== r.const) errors.push(`${path}: must be ${enumType.valuesById[r.const as number] ?? r.const}`);
      if (Array.isArray(r.in) && r.in.length > 0 && !r.in.includes(n)) errors.push(`${path}: must be one of ${r.in.map((x) => enumType.valuesById[x as number] ?? x).join(', ')}`);
      if (Array.isArray(r.not_in) && r.not_in.includes(n)) errors.push(`${path}: must not be ${enumType.valuesById[n] ?? n}`);
    } else if (kind === 'duration') {
      const n = durationNanos(v);
      if (n === undefined) continue;
      const asNanos = (d: unknown) => (d === undefined ? undefined : String(durationNanos(d) ?? 0n));
      bounds({ lt: asNanos(r.lt), lte: asNanos(r.lte), gt: asNanos(r.gt), gte: asNanos(r.gte) }, String(n), true, path, errors, (x) => `${Number(x) / 1e9}s`);
    } else if (kind === 'any') {
      const url = v && typeof v === 'object' ? (v as Record<string, unknown>)['@type'] : undefined;
      if (Array.isArray(r.in) && r.in.length > 0 && !r.in.includes(url)) errors.push(`${path}: type ${String(url)} is not one of ${r.in.join(', ')}`);
      if (Array.isArray(r.not_in) && r.not_in.includes(url)) errors.push(`${path}: type ${String(url)} is not allowed here`);
    }
  }
}

/** Checks a repeated field's list against `repeated` rules (sizes, uniqueness, per-item rules). */
export function checkRepeatedRules(rules: Rules, list: readonly unknown[], path: string, errors: string[], enumType?: protobuf.Enum): void {
  const r = rules.repeated as Rules | undefined;
  if (!r) return;
  if (r.ignore_empty === true && list.length === 0) return;
  if (r.min_items !== undefined && list.length < Number(r.min_items)) errors.push(`${path}: needs at least ${r.min_items} item${Number(r.min_items) === 1 ? '' : 's'}`);
  if (r.max_items !== undefined && list.length > Number(r.max_items)) errors.push(`${path}: takes at most ${r.max_items} items`);
  if (r.unique === true) {
    const seen = new Set<string>();
    for (const x of list) {
      const k = JSON.stringify(x);
      if (seen.has(k)) errors.push(`${path}: items must be unique (${k} repeats)`);
      seen.add(k);
    }
  }
  const items = r.items as Rules | undefined;
  if (items) list.forEach((x, i) => checkValueRules(items, x, `${path}[${i}]`, errors, enumType));
}

/** Checks a map field against `map` rules (sizes, key and value rules). */
export function checkMapRules(rules: Rules, map: Record<string, unknown>, path: string, errors: string[]): void {
  const r = rules.map as Rules | undefined;
  if (!r) return;
  const entries = Object.entries(map);
  if (r.ignore_empty === true && entries.length === 0) return;
  if (r.min_pairs !== undefined && entries.length < Number(r.min_pairs)) errors.push(`${path}: needs at least ${r.min_pairs} entries`);
  if (r.max_pairs !== undefined && entries.length > Number(r.max_pairs)) errors.push(`${path}: takes at most ${r.max_pairs} entries`);
  for (const [k, v] of entries) {
    if (r.keys) checkValueRules(r.keys as Rules, k, `${path}[${JSON.stringify(k)}] (key)`, errors);
    if (r.values) checkValueRules(r.values as Rules, v, `${path}[${JSON.stringify(k)}]`, errors);
  }
}
