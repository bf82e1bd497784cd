// Config identity and precedence shared by the push indexes: creation-time order, label selection, exportTo visibility.
import type { Resource } from '../../api/kind.js';
import type { ConfigMeta } from '../push-context.js';

/** A config object of one kind, reduced to what the indexes read. */
export interface TypedConfig<Spec> extends ConfigMeta {
  spec: Spec;
}

export function metaOf(r: Resource): ConfigMeta {
  return { namespace: r.metadata.namespace ?? '', name: r.metadata.name ?? '', creationTimestamp: r.metadata.creationTimestamp ?? '' };
}

export function typedConfig<Spec>(r: Resource): TypedConfig<Spec> {
  return { ...metaOf(r), spec: (r.spec ?? {}) as Spec };
}

/** `ns/name`, the form Istio uses for gateways and messages. */
export function refOf(m: ConfigMeta): string {
  return `${m.namespace}/${m.name}`;
}

function timeOf(m: ConfigMeta): number {
  const ms = m.creationTimestamp === '' ? NaN : Date.parse(m.creationTimestamp);
  // Unknown creation time sorts as newest: such an object has not been admitted by an API server yet.
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/**
 * Istio's sortConfigByCreationTime order: oldest first; equal times ordered by `name.namespace`
 * (lexical), so precedence never depends on the order a store lists objects in.
 */
export function compareByCreation(a: ConfigMeta, b: ConfigMeta): number {
  const ta = timeOf(a);
  const tb = timeOf(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.name}.${a.namespace}`;
  const kb = `${b.name}.${b.namespace}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function sortByCreation<T extends ConfigMeta>(configs: readonly T[]): T[] {
  return [...configs].sort(compareByCreation);
}

/** Istio's labels.Instance.SubsetOf: every selector label is present in `labels` with the same value (an empty selector matches all). */
export function selectorMatches(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  for (const k of Object.keys(selector)) if (labels[k] !== selector[k]) return false;
  return true;
}

/**
 * Where a config with `exportTo` is visible, as Istio 1.6 indexes it: `public` for empty (the
 * mesh default `*`) or `*`; otherwise the set of namespaces (`.` → its own namespace; `~` → none).
 */
export type Visibility = { public: true } | { public: false; namespaces: ReadonlySet<string> };

export function visibilityOf(exportTo: readonly string[] | undefined, ownNamespace: string): Visibility {
  if (!exportTo || exportTo.length === 0 || exportTo.includes('*')) return { public: true };
  const namespaces = new Set<string>();
  if (!exportTo.includes('~')) for (const e of exportTo) namespaces.add(e === '.' ? ownNamespace : e);
  return { public: false, namespaces };
}

export function isVisible(v: Visibility, namespace: string): boolean {
  return v.public || v.namespaces.has(namespace);
}

/** Whether some namespace sees both (then two claims on one host really compete). */
export function visibilitiesOverlap(a: Visibility, b: Visibility): boolean {
  if (a.public) return b.public || b.namespaces.size > 0;
  if (b.public) return a.namespaces.size > 0;
  for (const n of a.namespaces) if (b.namespaces.has(n)) return true;
  return false;
}

/** A canonical string for a label set, usable as a cache key. */
export function labelsKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/** Freezes an object graph (config read by generators is never mutated). */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
