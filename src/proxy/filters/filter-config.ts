// Readers shared by the HTTP filter compilers: typed_config unwrapping (Any or TypedStruct), refusal of fields a filter does not implement, and CIDR ranges.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { ConfigError, isObject, num, obj, str, type Json } from '../config/xds-json.js';

/** The two TypedStruct spellings Envoy accepts: a JSON config carried beside the real type URL. */
export const TYPED_STRUCT_TYPES: ReadonlySet<string> = new Set(['type.googleapis.com/udpa.type.v1.TypedStruct', 'type.googleapis.com/xds.type.v3.TypedStruct']);

/** A filter's config with its real type: from an Any (`{ '@type', ...fields }`) or a TypedStruct (`{ type_url, value }`). */
export interface UnwrappedConfig {
  /** The message type URL (`type.googleapis.com/…`). */
  typeUrl: string;
  /** The message fields. */
  value: Json;
  /** Field path of `value`, for errors. */
  path: string;
  /** True when it came in a TypedStruct (whose JSON may use lowerCamelCase names). */
  typedStruct: boolean;
}

/** Unwraps an HttpFilter's typed_config. An Any the decoder could not expand (`{ '@type', value: base64 }`) is refused: its fields cannot be read. */
export function unwrapTypedConfig(v: unknown, path: string): UnwrappedConfig {
  const tc = obj(v, path);
  const type = str(tc['@type'], `${path}['@type']`);
  if (TYPED_STRUCT_TYPES.has(type)) {
    const typeUrl = str(tc.type_url, `${path}.type_url`);
    const value = tc.value === undefined ? {} : obj(tc.value, `${path}.value`);
    return { typeUrl, value, path: `${path}.value`, typedStruct: true };
  }
  if (typeof tc.value === 'string' && Object.keys(tc).length === 2) {
    throw new ConfigError(path, `${type} arrived as opaque bytes (its message type is unknown here); send it as a TypedStruct`);
  }
  return { typeUrl: type, value: tc, path, typedStruct: false };
}

/**
 * Refuses any field of `o` outside `known` (ignoring `@type`). A filter that silently skipped a
 * field it does not implement would enforce less than the control plane asked for, so an unknown
 * field NACKs the update instead.
 */
export function onlyFields(o: Json, path: string, known: ReadonlySet<string>): void {
  for (const k of Object.keys(o)) {
    if (k === '@type' || known.has(k) || known.has(snakeOf(k))) continue;
    throw new ConfigError(`${path}.${k}`, 'is not supported');
  }
}

/** `principalBinding` → `principal_binding`. */
function snakeOf(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `principal_binding` → `principalBinding`. */
function camelOf(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** A field by its proto name, or by its lowerCamelCase JSON name (TypedStruct values may use either, as protobuf's JSON parser accepts both). */
export function field(o: Json, name: string): unknown {
  const v = o[name];
  return v !== undefined ? v : o[camelOf(name)];
}

/** The IP family of an address string; an IPv4-mapped IPv6 address counts as its IPv4 form. */
export function normalizeIp(ip: string): { ip: string; family: 'ipv4' | 'ipv6' } | undefined {
  if (isIPv4(ip)) return { ip, family: 'ipv4' };
  if (!isIPv6(ip)) return undefined;
  const lower = ip.toLowerCase();
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7))) return { ip: lower.slice(7), family: 'ipv4' };
  return { ip, family: 'ipv6' };
}

/** A compiled envoy.config.core.v3.CidrRange: does an address fall inside it? An address of the other family never does. */
export type CidrMatcher = (address: string) => boolean;

/** envoy.config.core.v3.CidrRange `{ address_prefix, prefix_len }`; prefix_len defaults to 0 (Envoy's default: the whole family). */
export function compileCidrRange(v: unknown, path: string): CidrMatcher {
  const c = obj(v, path);
  const prefix = str(c.address_prefix, `${path}.address_prefix`);
  const addr = normalizeIp(prefix);
  if (!addr) throw new ConfigError(`${path}.address_prefix`, 'must be an IP address');
  const max = addr.family === 'ipv4' ? 32 : 128;
  const len = isObject(c.prefix_len as Json | undefined) ? num((c.prefix_len as Json).value, `${path}.prefix_len.value`, 0) : num(c.prefix_len, `${path}.prefix_len`, 0);
  if (!Number.isInteger(len) || len < 0 || len > max) throw new ConfigError(`${path}.prefix_len`, `must be an integer from 0 to ${max}`);
  const list = new BlockList();
  list.addSubnet(addr.ip, len, addr.family);
  const family = addr.family;
  return (address) => {
    // Optimization: the common case, a plain dotted quad, is checked without normalizing.
    if (isIPv4(address)) return family === 'ipv4' && list.check(address, 'ipv4');
    const a = normalizeIp(address);
    return a !== undefined && a.family === family && list.check(a.ip, family);
  };
}
