// Lookup of kinds by apiVersion/kind and by the names users type (plural, singular, short names).
import type { KindDef, KindVersion } from './kind.js';
import { ALL_KINDS } from './kinds/index.js';

const MESH_GROUPS = new Set(['networking.istio.io', 'security.istio.io', 'maistra.io']);
const byGroupKind = new Map<string, KindDef>();
const byName = new Map<string, KindDef[]>();

for (const def of ALL_KINDS) {
  byGroupKind.set(`${def.group}/${def.kind}`, def);
  const names = new Set([def.kind.toLowerCase(), def.plural, def.singular, ...def.shortNames]);
  for (const n of names) {
    for (const key of [n, `${n}.${def.group}`]) {
      const list = byName.get(key) ?? [];
      list.push(def);
      byName.set(key, list);
    }
  }
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export type KindLookup =
  | { def: KindDef; version: KindVersion }
  | { problem: 'unknown-group' | 'unknown-kind' | 'unknown-version'; message: string; def?: KindDef };

/** Resolves `apiVersion` + `kind` to a known kind and served version. */
export function lookupKind(apiVersion: string, kind: string): KindLookup {
  const { group, version } = splitApiVersion(apiVersion);
  const def = byGroupKind.get(`${group}/${kind}`);
  if (!def) {
    // Only the mesh API groups are owned here; other kinds of Kubernetes groups (a StatefulSet, an
    // Endpoints object) are real and merely not read by Meltemi.
    const groupKnown = MESH_GROUPS.has(group);
    if (!groupKnown) return { problem: 'unknown-group', message: `kind ${kind} in ${apiVersion} is not a kind Meltemi knows; not validated` };
    const kinds = ALL_KINDS.filter((k) => k.group === group).map((k) => k.kind);
    return { problem: 'unknown-kind', message: `unknown kind "${kind}" in ${apiVersion} (known: ${kinds.join(', ')})` };
  }
  const v = def.versions.find((x) => x.name === version);
  if (!v) {
    return {
      problem: 'unknown-version',
      def,
      message: `${kind} is not served in version "${version}" (served: ${def.versions.map((x) => (group ? `${group}/${x.name}` : x.name)).join(', ')})`,
    };
  }
  return { def, version: v };
}

/** Kinds matching a name as typed on the command line (`vs`, `virtualservices`, `gateway.networking.istio.io`). */
export function kindsByName(name: string): KindDef[] {
  return byName.get(name.toLowerCase()) ?? [];
}

export function kindByGroupKind(group: string, kind: string): KindDef | undefined {
  return byGroupKind.get(`${group}/${kind}`);
}

export { ALL_KINDS };
