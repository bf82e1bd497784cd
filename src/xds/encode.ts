// Strict protobuf encoding of generated xDS resources, and decoding to Envoy's JSON for config dumps.
import protobuf from 'protobufjs';
import { MeshError } from '../shared/errors.js';
import type { XdsResource } from './types.js';
import { checkMapRules, checkRepeatedRules, checkValueRules, fieldRules, oneofRequired, presenceRequired } from './pgv.js';
import { envoyProtos, typeNameOfUrl } from './protos.js';
import { durationString, isPlainJsonObject } from './wire/decode.js';
import { describe, isPlainObject } from './wire/encode.js';

/*
 * Why a checker of our own: protobufjs `fromObject` silently drops fields it does not know,
 * coerces wrong types, and (with camelCase names) loses the type URL of an Any written as
 * `{ '@type': ... }`. A generator typo would then reach Envoy as "field unset" — the worst kind
 * of bug. So every object is walked against its message type first; any problem refuses the
 * whole resource with the field path, and the object is converted to the proto-named form
 * protobufjs encodes without guessing.
 */

const MAX_DEPTH = 100;
const ANY = '.google.protobuf.Any';

interface FieldIndex {
  /** camelCase name (the object form generators write) → field. */
  byCamel: Map<string, protobuf.Field>;
  /** proto name → camelCase name, for "did you mean" hints. */
  camelOfProto: Map<string, string>;
}

const indexes = new WeakMap<protobuf.Type, FieldIndex>();

function fieldIndex(type: protobuf.Type): FieldIndex {
  let ix = indexes.get(type);
  if (!ix) {
    ix = { byCamel: new Map(), camelOfProto: new Map() };
    for (const f of type.fieldsArray) {
      const camel = protobuf.util.camelCase(f.name);
      ix.byCamel.set(camel, f);
      ix.camelOfProto.set(f.name, camel);
    }
    indexes.set(type, ix);
  }
  return ix;
}

function shortName(type: protobuf.Type): string {
  return type.fullName.replace(/^\./, '');
}

const INT64 = /^-?[0-9]+$/;
const UINT64 = /^[0-9]+$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Checks one scalar; returns the value to hand protobufjs, or pushes an error. */
function scalar(kind: string, v: unknown, path: string, errors: string[]): unknown {
  const bad = (want: string): undefined => {
    errors.push(`${path}: expected ${want}, got ${describe(v)}`);
    return undefined;
  };
  switch (kind) {
    case 'string':
      return typeof v === 'string' ? v : bad('a string');
    case 'bool':
      return typeof v === 'boolean' ? v : bad('a boolean');
    case 'double':
    case 'float':
      return typeof v === 'number' ? v : bad('a number');
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return Number.isInteger(v) && (v as number) >= -0x80000000 && (v as number) <= 0x7fffffff ? v : bad('an int32');
    case 'uint32':
    case 'fixed32':
      return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff ? v : bad('a uint32');
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      if (Number.isSafeInteger(v)) return v;
      return typeof v === 'string' && INT64.test(v) ? v : bad('an int64 (safe integer or decimal string)');
    case 'uint64':
    case 'fixed64':
      if (Number.isSafeInteger(v) && (v as number) >= 0) return v;
      return typeof v === 'string' && UINT64.test(v) ? v : bad('a uint64 (non-negative safe integer or decimal string)');
    case 'bytes':
      if (v instanceof Uint8Array) return v;
      return typeof v === 'string' && BASE64.test(v) ? v : bad('bytes (Uint8Array or base64 string)');
    default:
      errors.push(`${path}: unsupported scalar type ${kind}`);
      return undefined;
  }
}

function enumValue(e: protobuf.Enum, v: unknown, path: string, errors: string[]): unknown {
  if (typeof v === 'string') {
    if (Object.prototype.hasOwnProperty.call(e.values, v)) return v;
    errors.push(`${path}: "${v}" is not a value of enum ${e.fullName.replace(/^\./, '')} (${Object.keys(e.values).join(', ')})`);
    return undefined;
  }
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (e.valuesById[v] !== undefined) return v;
    errors.push(`${path}: ${v} is not a value of enum ${e.fullName.replace(/^\./, '')}`);
    return undefined;
  }
  errors.push(`${path}: expected an enum name of ${e.fullName.replace(/^\./, '')}, got ${describe(v)}`);
  return undefined;
}

function fieldValue(field: protobuf.Field, v: unknown, path: string, errors: string[], depth: number): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) {
    if (rt.fullName === ANY) return anyValue(v, path, errors, depth + 1);
    return message(rt, v, path, errors, depth + 1);
  }
  if (rt instanceof protobuf.Enum) return enumValue(rt, v, path, errors);
  return scalar(field.type, v, path, errors);
}

/** An Any written `{ '@type': url, ...fields }`: checks and encodes the inner message. */
function anyValue(v: unknown, path: string, errors: string[], depth: number): unknown {
  if (!isPlainObject(v)) {
    errors.push(`${path}: expected an Any object { '@type': ..., ...fields }, got ${describe(v)}`);
    return undefined;
  }
  const url = v['@type'];
  if (typeof url !== 'string' || !url.includes('/')) {
    errors.push(`${path}: an Any needs '@type' as a type URL (type.googleapis.com/<message>), got ${describe(url)}`);
    return undefined;
  }
  const inner = envoyProtos().findType(typeNameOfUrl(url));
  if (!inner) {
    errors.push(`${path}: Any '@type' ${url} is not a message type Meltemi knows (src/xds/protos.ts)`);
    return undefined;
  }
  const { '@type': _omit, ...fields } = v;
  const before = errors.length;
  const converted = message(inner, fields, `${path}<${shortName(inner)}>`, errors, depth);
  if (errors.length > before) return undefined;
  return { type_url: url, value: inner.encode(inner.fromObject(converted as Record<string, unknown>)).finish() };
}

function message(type: protobuf.Type, v: unknown, path: string, errors: string[], depth: number): Record<string, unknown> | undefined {
  if (depth > MAX_DEPTH) {
    errors.push(`${path}: nested deeper than ${MAX_DEPTH} messages`);
    return undefined;
  }
  if (!isPlainObject(v)) {
    errors.push(`${path}: expected a ${shortName(type)} object, got ${describe(v)}`);
    return undefined;
  }
  const ix = fieldIndex(type);
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(v)) {
    const field = ix.byCamel.get(key);
    const p = `${path}.${key}`;
    if (!field) {
      const hint = ix.camelOfProto.get(key);
      errors.push(`${p}: unknown field of ${shortName(type)}${hint !== undefined && hint !== key ? ` (did you mean "${hint}"?)` : ''}`);
      continue;
    }
    if (raw === undefined || raw === null) continue;
    const before = errors.length;
    if (field.map) {
      if (!isPlainObject(raw)) {
        errors.push(`${p}: expected a map (object), got ${describe(raw)}`);
        continue;
      }
      const m: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(raw)) {
        const kp = `${p}[${JSON.stringify(k)}]`;
        const keyType = (field as unknown as protobuf.MapField).keyType;
        if (keyType === 'bool' ? k !== 'true' && k !== 'false' : keyType !== 'string' && !INT64.test(k)) {
          errors.push(`${kp}: map key is not a ${keyType}`);
          continue;
        }
        if (x === undefined || x === null) {
          errors.push(`${kp}: map values may not be ${describe(x)}`);
          continue;
        }
        m[k] = fieldValue(field, x, kp, errors, depth);
      }
      out[field.name] = m;
    } else if (field.repeated) {
      if (!Array.isArray(raw)) {
        errors.push(`${p}: expected an array, got ${describe(raw)}`);
        continue;
      }
      out[field.name] = raw.map((x, i) => {
        if (x === undefined || x === null) {
          errors.push(`${p}[${i}]: list elements may not be ${describe(x)}`);
          return undefined;
        }
        return fieldValue(field, x, `${p}[${i}]`, errors, depth);
      });
    } else {
      out[field.name] = fieldValue(field, raw, p, errors, depth);
    }
    // Envoy's own validation rules, once the value has the right shape.
    const rules = fieldRules(field);
    if (rules && errors.length === before) {
      const enumType = field.resolvedType instanceof protobuf.Enum ? field.resolvedType : undefined;
      if (field.map) checkMapRules(rules, raw as Record<string, unknown>, p, errors);
      else if (field.repeated) checkRepeatedRules(rules, raw as unknown[], p, errors, enumType);
      else checkValueRules(rules, raw, p, errors, enumType);
    }
  }
  for (const field of type.fieldsArray) {
    const key = ix.camelOfProto.get(field.name)!;
    if (v[key] != null) continue;
    const p = `${path}.${key}`;
    if (field.partOf) continue; // rules of an unset oneof member (or proto3 optional) do not apply
    if (presenceRequired(field)) {
      errors.push(`${p}: required by Envoy (validate.rules)`);
      continue;
    }
    // An unset scalar or list is its default to Envoy's validator (oneof members excepted).
    const rules = fieldRules(field);
    if (!rules || field.resolvedType instanceof protobuf.Type) continue;
    if (field.map) checkMapRules(rules, {}, p, errors);
    else if (field.repeated) checkRepeatedRules(rules, [], p, errors);
    else checkValueRules(rules, defaultOf(field), p, errors, field.resolvedType instanceof protobuf.Enum ? field.resolvedType : undefined);
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.fieldsArray.filter((f) => v[ix.camelOfProto.get(f.name)!] != null);
    if (set.length > 1) {
      errors.push(`${path}: more than one member of oneof ${oneof.name} is set (${set.map((f) => ix.camelOfProto.get(f.name)).join(', ')})`);
    } else if (set.length === 0 && oneofRequired(oneof)) {
      errors.push(`${path}: one of ${oneof.fieldsArray.map((f) => ix.camelOfProto.get(f.name)).join(', ')} is required by Envoy (oneof ${oneof.name})`);
    }
  }
  return out;
}

function defaultOf(field: protobuf.Field): unknown {
  if (field.resolvedType instanceof protobuf.Enum) return 0;
  switch (field.type) {
    case 'string':
      return '';
    case 'bool':
      return false;
    case 'bytes':
      return new Uint8Array();
    default:
      return 0;
  }
}

/**
 * Checks `value` against message `typeName` without encoding; returns every problem as
 * `path: message` (empty when the object is valid).
 */
export function checkMessage(typeName: string, value: unknown): string[] {
  const type = envoyProtos().type(typeName);
  const errors: string[] = [];
  message(type, value, shortName(type).split('.').pop()!, errors, 0);
  return errors;
}

/**
 * Encodes the object form of message `typeName` (camelCase fields, Any as `{ '@type', ... }`).
 * Throws MESH_INTERNAL naming every offending field path when the object does not match the type.
 */
export function encodeMessage(typeName: string, value: unknown, label = typeName): Buffer {
  const type = envoyProtos().type(typeName);
  const errors: string[] = [];
  const converted = message(type, value, shortName(type).split('.').pop()!, errors, 0);
  if (errors.length > 0 || !converted) {
    const shown = errors.slice(0, 20).join('; ');
    throw new MeshError('MESH_INTERNAL', `cannot encode ${label}: ${shown}${errors.length > 20 ? `; … ${errors.length - 20} more` : ''}`);
  }
  const bytes = type.encode(type.fromObject(converted)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Encodes a generated resource after the strict check. The resource's message type comes from
 * its type URL. Throws MESH_INTERNAL (a Meltemi bug) with the field paths on any mismatch.
 */
export function encodeResource(r: XdsResource): Buffer {
  return encodeMessage(typeNameOfUrl(r.typeUrl), r.resource, `${typeNameOfUrl(r.typeUrl).split('.').pop()} "${r.name}"`);
}

// ---- decoding to Envoy's JSON (proto3 JSON mapping, proto field names, as `config_dump` prints) ----

const WRAPPERS = new Set(
  ['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue'].map((n) => `.google.protobuf.${n}`),
);

function has(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/** long.js as protobufjs uses it for 64-bit integers (its typings omit the statics). */
interface LongStatics {
  isLong(v: unknown): boolean;
  fromValue(v: unknown): { toString(): string; isZero(): boolean };
}
const Long = protobuf.util.Long as unknown as LongStatics | undefined;

function longToString(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'string' || !Long) return String(v);
  return Long.fromValue(v).toString();
}

function scalarJson(field: protobuf.Field, v: unknown): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) return rt.valuesById[v as number] ?? v;
  switch (field.type) {
    case 'int64':
    case 'sint64':
    case 'sfixed64':
    case 'uint64':
    case 'fixed64':
      return longToString(v);
    case 'bytes':
      return Buffer.from(v as Uint8Array).toString('base64');
    case 'double':
    case 'float':
      return Number.isFinite(v) ? v : String(v);
    default:
      return v;
  }
}

function isDefault(field: protobuf.Field, v: unknown): boolean {
  if (field.resolvedType instanceof protobuf.Type) return v == null;
  if (v === '' || v === false || v === 0 || v == null) return true;
  if (v instanceof Uint8Array) return v.length === 0;
  if (typeof v === 'object' && Long?.isLong(v)) return Long.fromValue(v).isZero();
  return false;
}

function valueJson(field: protobuf.Field, v: unknown): unknown {
  const rt = field.resolvedType;
  return rt instanceof protobuf.Type ? messageJson(rt, v as protobuf.Message) : scalarJson(field, v);
}

/** proto3 JSON of a decoded message: proto field names, defaults omitted, well-known types mapped. */
function messageJson(type: protobuf.Type, m: protobuf.Message): unknown {
  const rec = m as unknown as Record<string, unknown>;
  switch (type.fullName) {
    case '.google.protobuf.Duration':
      return durationString(longToString(rec.seconds ?? 0), rec.nanos);
    case '.google.protobuf.Timestamp': {
      const ms = Number(longToString(rec.seconds ?? 0)) * 1000 + Math.floor(((rec.nanos as number) ?? 0) / 1e6);
      return new Date(ms).toISOString();
    }
    case '.google.protobuf.Struct':
      return structJson(rec);
    case '.google.protobuf.Value':
      return valueOfStruct(rec);
    case '.google.protobuf.ListValue':
      return ((rec.values as Record<string, unknown>[] | undefined) ?? []).map(valueOfStruct);
    case '.google.protobuf.Empty':
      return {};
    case '.google.protobuf.FieldMask':
      return ((rec.paths as string[] | undefined) ?? []).join(',');
    case ANY:
      return anyJson(rec);
  }
  if (WRAPPERS.has(type.fullName)) {
    const f = type.fields.value!;
    return scalarJson(f, rec.value ?? (f.type === 'bool' ? false : f.type === 'string' ? '' : 0));
  }
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (!has(rec, field.name)) continue;
    const v = rec[field.name];
    const explicit = field.partOf !== null || field.options?.proto3_optional === true;
    if (field.map) {
      const entries = Object.entries((v as Record<string, unknown>) ?? {});
      if (entries.length > 0) out[field.name] = Object.fromEntries(entries.map(([k, x]) => [k, valueJson(field, x)]));
    } else if (field.repeated) {
      const list = (v as unknown[]) ?? [];
      if (list.length > 0) out[field.name] = list.map((x) => valueJson(field, x));
    } else if (explicit ? v != null : !isDefault(field, v)) {
      out[field.name] = valueJson(field, v);
    }
  }
  return out;
}

function anyJson(rec: Record<string, unknown>): unknown {
  const url = (rec.type_url as string | undefined) ?? '';
  const bytes = (rec.value as Uint8Array | undefined) ?? new Uint8Array();
  const inner = url === '' ? undefined : envoyProtos().findType(typeNameOfUrl(url));
  if (!inner) return { '@type': url, value: Buffer.from(bytes).toString('base64') };
  const decoded = messageJson(inner, inner.decode(bytes));
  // Well-known types with a non-object JSON form nest under "value" (proto3 JSON mapping).
  return isPlainJsonObject(decoded) && !WRAPPERS.has(inner.fullName) && inner.fullName !== '.google.protobuf.Struct'
    ? { '@type': url, ...decoded }
    : { '@type': url, value: decoded };
}

/** protobufjs bundles the struct.proto types with camelCase field names (its own descriptor), whatever `keepCase` says. */
function valueOfStruct(v: Record<string, unknown>): unknown {
  if (has(v, 'nullValue')) return null;
  if (has(v, 'numberValue')) return v.numberValue;
  if (has(v, 'stringValue')) return v.stringValue;
  if (has(v, 'boolValue')) return v.boolValue;
  if (has(v, 'structValue')) return structJson(v.structValue as Record<string, unknown>);
  if (has(v, 'listValue')) return (((v.listValue as Record<string, unknown>).values as Record<string, unknown>[] | undefined) ?? []).map(valueOfStruct);
  return null;
}

function structJson(s: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((s?.fields as Record<string, Record<string, unknown>> | undefined) ?? {})) out[k] = valueOfStruct(v);
  return out;
}

/**
 * Decodes bytes of message `typeName` to proto3 JSON with proto field names (Envoy's
 * `config_dump` form): defaults omitted, enums by name, 64-bit integers as strings, Durations
 * as "1.5s", Any as `{ '@type', ...fields }`.
 */
export function decodeMessage(typeName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = envoyProtos().type(typeName);
  return messageJson(type, type.decode(bytes)) as Record<string, unknown>;
}

/** Decodes one resource of `typeUrl` (e.g. a sent Cluster) for config dumps; adds its '@type'. */
export function decodeResource(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  return { '@type': typeUrl, ...decodeMessage(typeNameOfUrl(typeUrl), bytes) };
}

/** Plain JSON → the object form of google.protobuf.Struct (`{ fields: { k: { stringValue } } }`), for generators. */
export function jsonToStruct(json: Record<string, unknown>): Record<string, unknown> {
  const value = (v: unknown): Record<string, unknown> => {
    if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
    if (typeof v === 'number') return { numberValue: v };
    if (typeof v === 'string') return { stringValue: v };
    if (typeof v === 'boolean') return { boolValue: v };
    if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
    return { structValue: jsonToStruct(v as Record<string, unknown>) };
  };
  return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, value(v)])) };
}
