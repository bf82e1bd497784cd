// Test helper: finds deprecated Envoy fields (and enum values) in a generated resource, following Any into its message type.
import protobuf from 'protobufjs';
import { envoyProtos, typeNameOfUrl } from '../../src/xds/protos.js';
import type { XdsResource } from '../../src/xds/types.js';

/**
 * Paths of every deprecated field a resource sets. Envoy logs (and, with
 * `envoy.features.fail_on_any_deprecated_feature`, refuses) them, and MAISTRA-858 says we never
 * emit one. The encoder already refuses unknown fields; this check is the other half.
 */
export function deprecatedFields(r: XdsResource): string[] {
  const out: string[] = [];
  const protos = envoyProtos();
  const camel = (s: string) => protobuf.util.camelCase(s);
  const walk = (type: protobuf.Type, v: unknown, path: string): void => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return;
    const o = v as Record<string, unknown>;
    if (type.fullName === '.google.protobuf.Any') {
      const inner = typeof o['@type'] === 'string' ? protos.findType(typeNameOfUrl(o['@type'])) : undefined;
      if (inner) walk(inner, o, `${path}<${inner.name}>`);
      return;
    }
    for (const f of type.fieldsArray) {
      const val = o[camel(f.name)];
      if (val === undefined || val === null) continue;
      const p = `${path}.${camel(f.name)}`;
      if (f.options?.deprecated) out.push(`${p} is deprecated`);
      f.resolve();
      const rt = f.resolvedType;
      const each = (x: unknown, xp: string) => {
        if (rt instanceof protobuf.Type) walk(rt, x, xp);
        else if (rt instanceof protobuf.Enum && typeof x === 'string' && rt.valuesOptions?.[x]?.deprecated) out.push(`${xp}: enum value ${x} is deprecated`);
      };
      if (f.map) for (const [k, x] of Object.entries(val as Record<string, unknown>)) each(x, `${p}[${k}]`);
      else if (f.repeated && Array.isArray(val)) val.forEach((x, i) => each(x, `${p}[${i}]`));
      else each(val, p);
    }
  };
  walk(protos.type(typeNameOfUrl(r.typeUrl)), r.resource, r.name);
  return out;
}
