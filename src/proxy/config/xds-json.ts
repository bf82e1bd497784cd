// Typed readers over decoded xDS resources (src/xds/encode.ts JSON form), failing with the field path so a bad resource is NACKed with a clear reason.

/** A resource or part of one that cannot be used; `path` is the field path inside the resource. */
export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'ConfigError';
  }
}

export type Json = Readonly<Record<string, unknown>>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, path: string): Json {
  if (!isObject(v)) throw new ConfigError(path, 'must be a message');
  return v;
}

export function optObj(v: unknown, path: string): Json | undefined {
  return v === undefined ? undefined : obj(v, path);
}

export function list(v: unknown, path: string): readonly unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ConfigError(path, 'must be a list');
  return v;
}

export function str(v: unknown, path: string, fallback?: string): string {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string') throw new ConfigError(path, 'must be a string');
  return v;
}

/** A number; 64-bit integers arrive as decimal strings. */
export function num(v: unknown, path: string, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  const n = typeof v === 'string' && /^-?[0-9]+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new ConfigError(path, 'must be a number');
  return n;
}

export function bool(v: unknown, path: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new ConfigError(path, 'must be true or false');
  return v;
}

/** google.protobuf.Duration as decoded ("1.500s", "0s", "-2s") → milliseconds; undefined when absent. */
export function durationMs(v: unknown, path: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^-?[0-9]+(\.[0-9]{1,9})?s$/.test(v)) throw new ConfigError(path, 'must be a duration like "1.5s"');
  return Math.round(Number(v.slice(0, -1)) * 1000);
}

const DENOMINATORS: Readonly<Record<string, number>> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** envoy.type.v3.FractionalPercent → a probability in [0, 1] (the numerator is capped at the denominator, as Envoy does). */
export function fraction(v: unknown, path: string): number {
  const f = obj(v, path);
  const denominator = DENOMINATORS[str(f.denominator, `${path}.denominator`, 'HUNDRED')];
  if (denominator === undefined) throw new ConfigError(`${path}.denominator`, 'must be HUNDRED, TEN_THOUSAND or MILLION');
  const numerator = num(f.numerator, `${path}.numerator`, 0);
  return Math.min(Math.max(numerator, 0), denominator) / denominator;
}
