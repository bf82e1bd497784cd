// In-memory ConfigStore: validates every write, versions objects like the Kubernetes API server, and notifies watchers.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Resource, ValidationContext } from '../api/kind.js';
import { validateResource, validateResourceUpdate } from '../api/validate.js';
import { lookupKind } from '../api/registry.js';
import { formatPath } from '../api/diagnostics.js';
import { MeshError } from '../shared/errors.js';
import { keyOf, keyString, matchesFilter, type ConfigEvent, type ConfigHandler, type ConfigStore, type KindFilter, type ResourceKey } from './store.js';

/** The error thrown for a write that does not validate; `result` holds every finding. */
export class InvalidConfigError extends MeshError {
  constructor(
    readonly resourceKey: ResourceKey,
    readonly result: ReturnType<typeof validateResource>,
  ) {
    const first = result.errors[0];
    super('MESH_INVALID_CONFIG', `${resourceKey.kind} ${resourceKey.namespace ? resourceKey.namespace + '/' : ''}${resourceKey.name} is invalid: ${first ? `${formatPath(first.path) || '(root)'}: ${first.message}` : 'unknown problem'}${result.errors.length > 1 ? ` (and ${result.errors.length - 1} more)` : ''}`);
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

export interface MemoryStoreOptions {
  validation?: ValidationContext;
  /** Clock for creationTimestamp; tests pass a fake one. */
  now?: () => Date;
}

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

/**
 * Holds objects in memory. `apply` validates (refusing invalid objects with InvalidConfigError and
 * keeping the previous version), defaults the namespace, stamps uid / resourceVersion /
 * creationTimestamp / generation, and rejects a stale `metadata.resourceVersion` (MESH_CONFLICT).
 */
export class MemoryStore implements ConfigStore {
  private readonly objects = new Map<string, Resource>();
  private readonly watchers = new Set<{ handler: ConfigHandler; filter?: KindFilter }>();
  private version = 0;
  private readonly now: () => Date;

  constructor(private readonly options: MemoryStoreOptions = {}) {
    this.now = options.now ?? (() => new Date());
  }

  get(key: ResourceKey): Resource | undefined {
    return this.objects.get(keyString(key));
  }

  list(filter?: KindFilter): Resource[] {
    const out: Resource[] = [];
    for (const r of this.objects.values()) if (matchesFilter(r, filter)) out.push(r);
    return out.sort((a, b) => keyString(keyOf(a)).localeCompare(keyString(keyOf(b))));
  }

  watch(handler: ConfigHandler, filter?: KindFilter): () => void {
    const w = { handler, filter };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  /** Current resourceVersion of the whole store (increases with every change). */
  get resourceVersion(): string {
    return String(this.version);
  }

  /** Creates or replaces an object. Throws InvalidConfigError or MeshError(MESH_CONFLICT). */
  apply(input: Resource): { resource: Resource; outcome: ApplyOutcome } {
    const obj = structuredClone(input);
    const found = typeof obj.apiVersion === 'string' && typeof obj.kind === 'string' ? lookupKind(obj.apiVersion, obj.kind) : undefined;
    if (found && !('problem' in found) && found.def.namespaced && obj.metadata && !obj.metadata.namespace) obj.metadata.namespace = 'default';
    const key = keyOf(obj);
    const id = keyString(key);
    const prev = this.objects.get(id);
    const result = prev ? validateResourceUpdate(prev, obj, this.options.validation) : validateResource(obj, this.options.validation);
    if (result.errors.length > 0) throw new InvalidConfigError(key, result);
    if (!found || 'problem' in found) throw new MeshError('MESH_UNKNOWN_KIND', `${obj.kind} (${obj.apiVersion}) is not a kind this store holds`);

    const meta = obj.metadata;
    if (meta.resourceVersion !== undefined && prev && meta.resourceVersion !== prev.metadata.resourceVersion) {
      throw new MeshError('MESH_CONFLICT', `${key.kind} ${key.namespace}/${key.name} was changed since resourceVersion ${meta.resourceVersion} (now ${prev.metadata.resourceVersion}); read it again and retry`);
    }
    if (prev && sameContent(prev, obj)) return { resource: prev, outcome: 'unchanged' };

    const specChanged = !prev || !isDeepStrictEqual(stripStatus(prev), stripStatus(obj));
    meta.uid = prev?.metadata.uid ?? meta.uid ?? randomUUID();
    meta.creationTimestamp = prev?.metadata.creationTimestamp ?? meta.creationTimestamp ?? this.now().toISOString();
    meta.generation = prev ? (prev.metadata.generation ?? 1) + (specChanged ? 1 : 0) : 1;
    meta.resourceVersion = String(++this.version);
    const stored = deepFreeze(obj);
    this.objects.set(id, stored);
    this.emit(prev ? { type: 'updated', resource: stored, previous: prev } : { type: 'added', resource: stored });
    return { resource: stored, outcome: prev ? 'configured' : 'created' };
  }

  /** Removes an object; returns it, or undefined when it did not exist. */
  delete(key: ResourceKey): Resource | undefined {
    const id = keyString(key);
    const prev = this.objects.get(id);
    if (!prev) return undefined;
    this.objects.delete(id);
    this.version++;
    this.emit({ type: 'deleted', resource: prev });
    return prev;
  }

  private emit(e: ConfigEvent): void {
    for (const w of [...this.watchers]) {
      if (!matchesFilter(e.resource, w.filter)) continue;
      try {
        w.handler(e);
      } catch {
        // A failing watcher must not stop others from hearing about the change.
      }
    }
  }
}

const SERVER_FIELDS = ['uid', 'resourceVersion', 'generation', 'creationTimestamp'] as const;

function userView(r: Resource): Resource {
  const meta = { ...r.metadata };
  for (const f of SERVER_FIELDS) delete meta[f];
  return { ...r, metadata: meta };
}

function stripStatus(r: Resource): unknown {
  const { status: _status, ...rest } = userView(r);
  return { ...rest, metadata: { ...rest.metadata, annotations: undefined, labels: undefined } };
}

function sameContent(a: Resource, b: Resource): boolean {
  return isDeepStrictEqual(userView(a), userView(b));
}
