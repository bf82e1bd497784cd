// Structural schemas: one TypeBox definition per kind gives the TypeScript type, the structural
// check (unknown fields, types, enums) and the CRD openAPIV3Schema.
import { Type, type TSchema, type TProperties, type TObject, type TOptional, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Issues, isObject, type PathSegment } from './diagnostics.js';

export { Type, type Static, type TSchema };

/** Marks a schema whose content is free-form (EnvoyFilter patch values, Helm values): not walked. */
const FREEFORM = 'x-kubernetes-preserve-unknown-fields';
const INT_OR_STRING = 'x-kubernetes-int-or-string';
const ENUM_MARK = 'x-meltemi-enum';

type Optionalised<T extends TProperties> = { [K in keyof T]: TOptional<T[K]> };

/**
 * An object whose fields are all optional (proto3 semantics: required-ness is a semantic rule with
 * its own message) and which rejects unknown fields, so a misspelt `weigth` is an error.
 */
export function obj<T extends TProperties>(props: T, description?: string): TObject<Optionalised<T>> {
  const optional = {} as Record<string, TSchema>;
  for (const [k, v] of Object.entries(props)) optional[k] = Type.Optional(v);
  return Type.Object(optional as Optionalised<T>, { additionalProperties: false, ...(description ? { description } : {}) });
}

/** An object with some fields required by the structure itself (Kubernetes-style objects). */
export function strictObj<T extends TProperties>(props: T, description?: string): TObject<T> {
  return Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });
}

export const str = (description?: string) => Type.String(description ? { description } : {});
export const bool = (description?: string) => Type.Boolean(description ? { description } : {});
export const num = (description?: string) => Type.Number(description ? { description } : {});
export const int = (description?: string) => Type.Integer(description ? { description } : {});
export const uint32 = (description?: string) =>
  Type.Integer({ minimum: 0, maximum: 4294967295, ...(description ? { description } : {}) });
export const int32 = (description?: string) =>
  Type.Integer({ minimum: -2147483648, maximum: 2147483647, ...(description ? { description } : {}) });
export const arr = <T extends TSchema>(item: T, description?: string) => Type.Array(item, description ? { description } : {});
export const map = <T extends TSchema>(value: T, description?: string) =>
  Type.Record(Type.String(), value, description ? { description } : {});
export const strMap = (description?: string) => map(Type.String(), description);
/** A Go-style duration string such as `10s`, `1.5m`, `300ms`; checked semantically. */
export const duration = (description?: string) => Type.String({ description: description ?? 'Duration such as 10s, 1m or 300ms.' });

/** A closed set of strings (proto enums). */
export function enumOf<T extends string>(values: readonly T[], description?: string) {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    { [ENUM_MARK]: values, ...(description ? { description } : {}) },
  );
}

/** An integer or a string (Kubernetes IntOrString: target ports, maxSurge). */
export const intOrString = (description?: string) =>
  Type.Union([Type.Integer(), Type.String()], { [INT_OR_STRING]: true, ...(description ? { description } : {}) });

/** Free-form content (Struct, Helm values): any JSON object, not walked by the structural check. */
export const freeform = (description?: string) =>
  Type.Unsafe<Record<string, unknown>>(Type.Record(Type.String(), Type.Unknown(), { [FREEFORM]: true, ...(description ? { description } : {}) }));

/** Any JSON value, not walked (protobuf Value). */
export const anyValue = (description?: string) => Type.Unknown({ [FREEFORM]: true, ...(description ? { description } : {}) });

function decodePointer(pointer: string, root: unknown): PathSegment[] {
  if (pointer === '') return [];
  const out: PathSegment[] = [];
  let cur: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      const idx = Number(key);
      out.push(idx);
      cur = cur[idx];
    } else {
      out.push(key);
      cur = isObject(cur) ? cur[key] : undefined;
    }
  }
  return out;
}

/** Edit distance, bounded: used only to suggest the field a user probably meant. */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

function suggest(unknown: string, known: string[]): string {
  const camel = unknown.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  if (camel !== unknown && known.includes(camel)) return ` (did you mean "${camel}"?)`;
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = distance(unknown.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best ? ` (did you mean "${best}"?)` : '';
}

function describeType(schema: TSchema): string {
  if (schema[INT_OR_STRING]) return 'an integer or a string';
  const enumValues = schema[ENUM_MARK] as string[] | undefined;
  if (enumValues) return `one of ${enumValues.join(', ')}`;
  switch (schema.type) {
    case 'object':
      return 'an object';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean (true or false)';
    default:
      return 'a valid value';
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (isObject(v)) return 'an object';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/**
 * Checks `value` against `schema` and reports every structural problem under `base`:
 * unknown fields (`schema.unknown-field`), wrong types and enum values (`schema.type`),
 * numbers out of range (`schema.range`). Never throws.
 */
export function checkStructure(schema: TSchema, value: unknown, base: readonly PathSegment[], issues: Issues): void {
  for (const e of Value.Errors(schema, value)) {
    const path = [...base, ...decodePointer(e.path, value)];
    const s = e.schema as TSchema;
    if (e.message === 'Unexpected property' || e.type === 42 /* ObjectAdditionalProperties */) {
      const field = String(path[path.length - 1]);
      const parentSchema = findParentSchema(schema, value, e.path);
      const known = parentSchema?.properties ? Object.keys(parentSchema.properties as object) : [];
      issues.error(path, 'schema.unknown-field', `unknown field "${field}"${suggest(field, known)}`);
    } else if (typeof s.minimum === 'number' && typeof e.value === 'number' && Number.isInteger(e.value) && e.value < s.minimum) {
      issues.error(path, 'schema.range', `must be at least ${s.minimum}, got ${e.value}`);
    } else if (typeof s.maximum === 'number' && typeof e.value === 'number' && Number.isInteger(e.value) && e.value > s.maximum) {
      issues.error(path, 'schema.range', `must be at most ${s.maximum}, got ${e.value}`);
    } else {
      issues.error(path, 'schema.type', `must be ${describeType(s)}, got ${describeValue(e.value)}`);
    }
  }
}

function findParentSchema(schema: TSchema, value: unknown, pointer: string): TSchema | undefined {
  const parts = pointer.split('/').slice(1, -1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let s: TSchema | undefined = schema;
  let v: unknown = value;
  for (const p of parts) {
    if (!s) return undefined;
    if (s.type === 'array') {
      s = s.items as TSchema;
      v = Array.isArray(v) ? v[Number(p)] : undefined;
    } else if (s.type === 'object') {
      const props = s.properties as Record<string, TSchema> | undefined;
      s = props?.[p] ?? (s.patternProperties ? (Object.values(s.patternProperties as object)[0] as TSchema) : undefined);
      v = isObject(v) ? v[p] : undefined;
    } else return undefined;
  }
  return s;
}

/**
 * Converts a schema to a Kubernetes structural schema (CRD `openAPIV3Schema`): drops
 * `additionalProperties: false` (pruning does that job), turns enums into `enum`, records into
 * `additionalProperties`, and marks free-form and int-or-string fields.
 */
export function toStructural(schema: TSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (schema.description) out.description = schema.description;
  if (schema[FREEFORM]) {
    if (schema.type === 'object' || schema.patternProperties) out.type = 'object';
    out[FREEFORM] = true;
    return out;
  }
  if (schema[INT_OR_STRING]) {
    out[INT_OR_STRING] = true;
    return out;
  }
  const enumValues = schema[ENUM_MARK] as string[] | undefined;
  if (enumValues) {
    out.type = 'string';
    out.enum = [...enumValues];
    return out;
  }
  switch (schema.type) {
    case 'object': {
      out.type = 'object';
      if (schema.properties) {
        const props: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(schema.properties as Record<string, TSchema>)) props[k] = toStructural(v);
        out.properties = props;
      } else if (schema.patternProperties) {
        out.additionalProperties = toStructural(Object.values(schema.patternProperties as Record<string, TSchema>)[0]!);
      }
      if (Array.isArray(schema.required) && schema.required.length > 0) out.required = [...schema.required];
      return out;
    }
    case 'array':
      out.type = 'array';
      out.items = toStructural(schema.items as TSchema);
      return out;
    case 'integer':
      out.type = 'integer';
      if (schema.maximum !== undefined && schema.maximum > 2147483647) out.format = 'int64';
      else out.format = 'int32';
      if (schema.minimum !== undefined) out.minimum = schema.minimum;
      if (schema.maximum !== undefined) out.maximum = schema.maximum;
      return out;
    case 'number':
      out.type = 'number';
      out.format = 'double';
      return out;
    case 'string':
    case 'boolean':
      out.type = schema.type;
      return out;
    default:
      if (schema.const !== undefined) {
        out.type = typeof schema.const;
        out.enum = [schema.const];
      } else {
        out.type = 'object';
        out[FREEFORM] = true;
      }
      return out;
  }
}
