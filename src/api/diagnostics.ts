// Validation findings: field paths, rule ids, and the collector every validator writes into.

/** One step into a resource: an object key or an array index. */
export type PathSegment = string | number;
export type FieldPath = readonly PathSegment[];

export type Severity = 'error' | 'warning';

/** One problem found in one resource. `rule` is a stable id listed in docs/validation.md. */
export interface Diagnostic {
  severity: Severity;
  /** Path from the resource root, e.g. ['spec', 'http', 0, 'route', 1, 'weight']. */
  path: FieldPath;
  rule: string;
  message: string;
}

export interface ValidationResult {
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

const SIMPLE_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Formats a path the way users read it: `spec.http[0].route[1].weight`, `metadata.labels["app.kubernetes.io/name"]`. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (SIMPLE_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/**
 * Collects every finding of one validation run. Validators never throw on bad input: they
 * report and carry on, so that the user sees every problem at once.
 */
export class Issues {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];

  error(path: FieldPath, rule: string, message: string): void {
    this.errors.push({ severity: 'error', path: [...path], rule, message });
  }

  warn(path: FieldPath, rule: string, message: string): void {
    this.warnings.push({ severity: 'warning', path: [...path], rule, message });
  }

  get ok(): boolean {
    return this.errors.length === 0;
  }

  result(): ValidationResult {
    return { errors: this.errors, warnings: this.warnings };
  }
}

// Narrowing helpers for validators that walk untyped input: the structural schema reports wrong
// types, so semantic checks simply skip values that are not of the expected shape.

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function asObject(v: unknown): Record<string, unknown> | undefined {
  return isObject(v) ? v : undefined;
}

export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function asNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function asStringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

/** True for a field that is present and not an empty string/array/object (proto3 "set" semantics). */
export function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === '' || v === false || v === 0) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return true;
}
