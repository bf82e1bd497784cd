// Generates src/xds/wire/schema.generated.ts: every message and enum of the Envoy protos (and the Istio CA's), in the compact form the wire codec reads.
import { writeFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { envoyProtos } from '../src/xds/protos.js';

/*
 * Format (read by src/xds/wire/schema.ts):
 *   MESSAGES[i] = "<full name>;<field>;<field>…", sorted by full name, fields in declaration order
 *     (protobufjs' fieldsArray order, extension fields last, as `messageJson` prints them).
 *   field       = <name>=<number><kind>[*][~][?<oneof>][!]
 *   kind        = a scalar letter (SCALAR_CODES) | m<message index> | e<enum index> | M<key letter><value kind>
 *   *  repeated;  ~  a repeated scalar written one value per tag, as protoc writes it (proto2 without
 *   `[packed = true]`, or `[packed = false]`);  ?N  member of oneof N (explicit presence; proto3
 *   `optional` is a one-member oneof);  !  proto2 required.
 *   ENUMS[i]    = "<full name>;<value>;<value>…" sorted by number, a value being NAME, or NAME=number
 *     when the number is not the previous one plus one (the first "previous" is -1); the name printed
 *     for a number is the first one given for it (protobufjs' valuesById), aliases follow.
 */

/** One letter per protobuf scalar type; the decoder and encoder share this table. */
export const SCALAR_CODES: Readonly<Record<string, string>> = {
  double: 'd',
  float: 'f',
  int64: 'x',
  uint64: 'X',
  int32: 'i',
  fixed64: 'G',
  fixed32: 'g',
  bool: 'b',
  string: 's',
  bytes: 'y',
  uint32: 'u',
  sfixed32: 'h',
  sfixed64: 'H',
  sint32: 'z',
  sint64: 'Z',
};

const ISTIO_CA_PROTO = fileURLToPath(new URL('../src/ca/proto/istioca.proto', import.meta.url));
const OUTPUT = 'src/xds/wire/schema.generated.ts';

/** Every Type and Enum under `ns`, depth first. */
function collect(ns: protobuf.NamespaceBase, types: protobuf.Type[], enums: protobuf.Enum[]): void {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) types.push(nested);
    else if (nested instanceof protobuf.Enum) enums.push(nested);
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) collect(nested, types, enums);
  }
}

/** The Istio CA protos in a root of their own (keepCase; google.protobuf.Struct from protobufjs' bundled copy). */
function istioCaRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.loadSync(ISTIO_CA_PROTO, { keepCase: true });
  root.resolveAll();
  return root;
}

const noDot = (name: string): string => name.replace(/^\./, '');

/** protobufjs bundles struct.proto with camelCase field names whatever `keepCase` says; the schema keeps proto names. */
function protoName(type: protobuf.Type, field: protobuf.Field): string {
  return type.fullName === '.google.protobuf.Value' ? field.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : field.name;
}

/** The text of src/xds/wire/schema.generated.ts for the protos loaded today. */
export function renderWireSchema(): string {
  const types: protobuf.Type[] = [];
  const enums: protobuf.Enum[] = [];
  collect(envoyProtos().root, types, enums);
  const envoyNames = new Set(types.map((t) => t.fullName));
  // The CA's own messages only: its google.protobuf imports are the Envoy root's already.
  const caTypes: protobuf.Type[] = [];
  const caEnums: protobuf.Enum[] = [];
  collect(istioCaRoot(), caTypes, caEnums);
  for (const t of caTypes) if (!envoyNames.has(t.fullName)) types.push(t);
  const enumNames = new Set(enums.map((e) => e.fullName));
  for (const e of caEnums) if (!enumNames.has(e.fullName)) enums.push(e);

  const byName = (a: { fullName: string }, b: { fullName: string }): number => (a.fullName < b.fullName ? -1 : a.fullName > b.fullName ? 1 : 0);
  types.sort(byName);
  enums.sort(byName);
  const typeIndex = new Map(types.map((t, i) => [t.fullName, i]));
  const enumIndex = new Map(enums.map((e, i) => [e.fullName, i]));
  if (typeIndex.size !== types.length || enumIndex.size !== enums.length) throw new Error('duplicate full names in the loaded protos');

  const kindOf = (field: protobuf.Field, typeName: string): string => {
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Type) return `m${typeIndex.get(rt.fullName)!}`;
    if (rt instanceof protobuf.Enum) return `e${enumIndex.get(rt.fullName)!}`;
    const code = SCALAR_CODES[field.type];
    if (code === undefined) throw new Error(`${typeName}.${field.name}: unknown type ${field.type}`);
    return code;
  };

  const messages = types.map((type) => {
    const name = noDot(type.fullName);
    const parts = [name];
    for (const field of type.fieldsArray) {
      field.resolve();
      const fname = protoName(type, field);
      if (/[;=]/.test(fname)) throw new Error(`${name}.${fname}: a field name with ; or = does not fit the schema format`);
      if (field.delimited) throw new Error(`${name}.${fname}: groups are not supported by the wire codec`);
      let token = `${fname}=${field.id}`;
      if (field.map) {
        const key = SCALAR_CODES[(field as unknown as protobuf.MapField).keyType];
        if (key === undefined) throw new Error(`${name}.${fname}: bad map key type`);
        token += `M${key}${kindOf(field, name)}`;
      } else {
        token += kindOf(field, name);
        if (field.repeated) token += '*';
        // protobufjs' `packed`: proto3 packs by default, proto2 only when asked (its own getter reads both).
        if (field.repeated && !(field.resolvedType instanceof protobuf.Type) && field.type !== 'string' && field.type !== 'bytes' && !field.packed) token += '~';
      }
      if (field.partOf !== null) token += `?${type.oneofsArray.indexOf(field.partOf)}`;
      else if (field.options?.proto3_optional === true) token += '?';
      if (field.required) token += '!';
      parts.push(token);
    }
    return parts.join(';');
  });

  const enumLines = enums.map((e) => {
    const parts = [noDot(e.fullName)];
    const numbers = Object.keys(e.valuesById)
      .map(Number)
      .sort((a, b) => a - b);
    let previous = -1;
    for (const n of numbers) {
      const valueName = e.valuesById[n]!;
      parts.push(n === previous + 1 ? valueName : `${valueName}=${n}`);
      previous = n;
    }
    // allow_alias: the other names of a number, accepted by the encoder.
    for (const [valueName, n] of Object.entries(e.values)) if (e.valuesById[n] !== valueName) parts.push(`${valueName}=${n}`);
    return parts.join(';');
  });

  const notInAny = types.map((t, i) => (envoyNames.has(t.fullName) ? -1 : i)).filter((i) => i >= 0);
  const list = (items: string[]): string => `[\n${items.map((s) => `  ${JSON.stringify(s)},`).join('\n')}\n]`;
  return [
    '// Generated by `npm run gen:wire-schema` (scripts/gen-wire-schema.ts) from the protos envoyProtos() loads and src/ca/proto/istioca.proto; do not edit.',
    '// Format: see scripts/gen-wire-schema.ts. Read through src/xds/wire/schema.ts.',
    '',
    `/** ${messages.length} message types, sorted by full name; a type's index is its position. */`,
    `export const MESSAGES: readonly string[] = ${list(messages)};`,
    '',
    `/** ${enumLines.length} enums, sorted by full name. */`,
    `export const ENUMS: readonly string[] = ${list(enumLines)};`,
    '',
    '/** Messages loaded outside envoyProtos(): an Any naming one is printed as bytes, as decodeResource does. */',
    `export const NOT_IN_ANY: readonly number[] = ${JSON.stringify(notInAny)};`,
    '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const text = renderWireSchema();
  let old = '';
  try {
    old = readFileSync(OUTPUT, 'utf8');
  } catch {
    // first generation
  }
  if (old === text) console.log(`${OUTPUT} is up to date (${text.length} bytes)`);
  else {
    writeFileSync(OUTPUT, text);
    console.log(`wrote ${OUTPUT} (${text.length} bytes)`);
  }
}
