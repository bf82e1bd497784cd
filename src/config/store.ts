// The ConfigStore contract every backend (memory, file directory, Kubernetes) implements.
import type { Resource } from '../api/kind.js';
import type { ValidationResult } from '../api/diagnostics.js';

/** Identifies one object: API group, kind, namespace ('' for cluster-scoped) and name. */
export interface ResourceKey {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

export interface KindFilter {
  /** Kind name as in `kind:` (e.g. VirtualService); omitted means every kind. */
  kind?: string;
  /** API group; needed only where two groups share a kind name. */
  group?: string;
  /** Namespace; omitted means every namespace. */
  namespace?: string;
}

export type ConfigEventType = 'added' | 'updated' | 'deleted';

/** One change. `resource` is the new object (for `deleted`, the object as it was). */
export interface ConfigEvent {
  type: ConfigEventType;
  resource: Resource;
  previous?: Resource;
}

export type ConfigHandler = (event: ConfigEvent) => void;

/** A rejected write: the object, why, and (for file stores) where it came from. */
export interface RejectedConfig {
  key?: ResourceKey;
  file?: string;
  result: ValidationResult;
}

/**
 * Read and watch access to mesh configuration. Objects returned are frozen snapshots: callers
 * never mutate them, and a later change produces a new object.
 */
export interface ConfigStore {
  get(key: ResourceKey): Resource | undefined;
  list(filter?: KindFilter): Resource[];
  /**
   * Calls `handler` for every change that matches `filter`, after the change is visible to
   * get/list. Returns a function that stops the watch.
   */
  watch(handler: ConfigHandler, filter?: KindFilter): () => void;
}

export function groupOf(apiVersion: string): string {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export function keyOf(r: Resource): ResourceKey {
  return { group: groupOf(r.apiVersion), kind: r.kind, namespace: r.metadata.namespace ?? '', name: r.metadata.name ?? '' };
}

export function keyString(k: ResourceKey): string {
  return `${k.group}/${k.kind}/${k.namespace}/${k.name}`;
}

export function matchesFilter(r: Resource, f: KindFilter | undefined): boolean {
  if (!f) return true;
  if (f.kind !== undefined && r.kind !== f.kind) return false;
  if (f.group !== undefined && groupOf(r.apiVersion) !== f.group) return false;
  if (f.namespace !== undefined && (r.metadata.namespace ?? '') !== f.namespace) return false;
  return true;
}
