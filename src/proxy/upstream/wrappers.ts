// Readers for google.protobuf wrapper values in decoded xDS JSON, shared by the breaker and outlier readers (xds-json.ts has the general ones).
import { ConfigError, isObject } from '../config/xds-json.js';

const UINT32_MAX = 4294967295;

/**
 * A google.protobuf.UInt32Value (or plain uint32) as decoded: a number, a decimal string, or a
 * `{ value }` wrapper object; undefined when absent. Throws ConfigError with `path` for anything
 * that is not an integer in 0..4294967295.
 */
export function uint32(v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (isObject(v)) return uint32(v.value ?? 0, path);
  const n = typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > UINT32_MAX) throw new ConfigError(path, 'must be an unsigned 32-bit integer');
  return n;
}
