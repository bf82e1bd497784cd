// ConfigStore over a directory of manifests: loads it, watches it, and keeps each file's last good version in force.
import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { EventEmitter } from 'node:events';
import type { Resource, ValidationContext } from '../api/kind.js';
import { tunable, Tunables } from '../shared/tunables.js';
import { listManifestFiles, parseManifests, type LoadedObject } from './manifest.js';
import { findingForProblem, findingsFor, type Finding } from './findings.js';
import { validateResource, validateResourceUpdate } from '../api/validate.js';
import { lookupKind } from '../api/registry.js';
import { MemoryStore } from './memory-store.js';
import { keyOf, keyString, type ConfigHandler, type ConfigStore, type KindFilter, type ResourceKey } from './store.js';

interface FileState {
  /** Content of the version in force (the last one that validated). */
  text: string;
  keys: string[];
  /** Some of its objects lost to another file; reload it when that file goes away. */
  shadowed: boolean;
}

export interface FileStoreEvents {
  /** A file was (re)loaded and its objects are in force. */
  loaded: [file: string];
  /** A file changed but was refused; its previous version stays in force. */
  rejected: [file: string, findings: Finding[]];
  /** A file was removed and its objects withdrawn. */
  removed: [file: string];
}

/**
 * Serves the objects of every manifest under `dir`. A file whose new content fails to parse or
 * validate is refused as a whole and its last good objects keep serving; other files are not
 * disturbed. When two files define the same object, the first in path order wins and the other
 * is reported.
 */
export class FileStore extends EventEmitter<FileStoreEvents> implements ConfigStore {
  private readonly memory: MemoryStore;
  private readonly files = new Map<string, FileState>();
  private readonly owners = new Map<string, string>();
  private readonly currentFindings = new Map<string, Finding[]>();
  /** One non-recursive watcher per directory (see start()). */
  private readonly watchers = new Map<string, FSWatcher>();
  private watching = false;
  private timer?: NodeJS.Timeout;
  private scanning: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly dir: string,
    private readonly validation: ValidationContext = {},
  ) {
    super();
    this.memory = new MemoryStore({ validation });
  }

  get(key: ResourceKey): Resource | undefined {
    return this.memory.get(key);
  }

  list(filter?: KindFilter): Resource[] {
    return this.memory.list(filter);
  }

  watch(handler: ConfigHandler, filter?: KindFilter): () => void {
    return this.memory.watch(handler, filter);
  }

  /** Findings of the latest attempt to load each file (refused files and warnings), by file. */
  findings(): Finding[] {
    return [...this.currentFindings.values()].flat();
  }

  /** Loads the directory, then watches it (unless `watch` is false). */
  async start(opts: { watch?: boolean } = {}): Promise<void> {
    this.watching = opts.watch !== false;
    await this.rescan();
  }

  /**
   * Watches every directory of the tree, each non-recursively. Node 20's recursive watch on Linux
   * loses a file once an editor replaces it by rename (vim's and most tools' atomic save), so the
   * second save would go unnoticed; a directory watch sees every rename into it. Called after each
   * scan, so directories created or removed since are picked up.
   */
  private async syncWatchers(): Promise<void> {
    if (!this.watching || this.closed) return;
    const dirs = new Set<string>();
    const walk = async (d: string): Promise<void> => {
      dirs.add(d);
      let entries;
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') await walk(join(d, e.name));
    };
    await walk(this.dir);
    for (const [d, w] of this.watchers) {
      if (!dirs.has(d)) {
        w.close();
        this.watchers.delete(d);
      }
    }
    for (const d of dirs) {
      if (this.watchers.has(d) || this.closed) continue;
      try {
        const w = watch(d, () => this.schedule());
        w.on('error', () => this.schedule());
        this.watchers.set(d, w);
      } catch {
        // vanished meanwhile; the next scan settles it
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    if (this.timer) clearTimeout(this.timer);
  }

  /** Re-reads the directory now; resolves when the store reflects it. */
  rescan(): Promise<void> {
    this.scanning = this.scanning.then(() => this.scanOnce()).catch(() => undefined);
    return this.scanning;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.rescan(), tunable(Tunables.fileStoreDebounceMs));
  }

  private async scanOnce(): Promise<void> {
    let paths: string[];
    try {
      paths = await listManifestFiles(this.dir);
    } catch {
      return; // directory briefly unreadable (being replaced): keep serving what we have
    }
    const present = new Set(paths);
    for (const file of [...this.files.keys()]) {
      if (!present.has(file)) this.withdraw(file);
    }
    for (const file of paths) await this.loadFile(file);
    await this.syncWatchers();
  }

  private async loadFile(file: string): Promise<void> {
    let text: string;
    try {
      const st = await stat(file);
      const max = tunable(Tunables.maxInputBytes);
      if (st.size > max) {
        this.refuse(file, [{ file, line: 0, severity: 'error', rule: 'load.too-large', field: '', message: `${st.size} bytes, more than the limit of ${max}` }]);
        return;
      }
      text = await readFile(file, 'utf8');
    } catch {
      return; // vanished between listing and reading; the next scan withdraws it
    }
    const prev = this.files.get(file);
    if (prev && prev.text === text) return;

    const { objects, problems } = parseManifests(text, file);
    const findings: Finding[] = problems.map(findingForProblem);
    const accepted: Array<{ loaded: LoadedObject; resource: Resource }> = [];
    for (const loaded of objects) {
      const resource = normalise(loaded.object);
      const current = isKeyed(resource) ? this.memory.get(keyOf(resource)) : undefined;
      const result = current ? validateResourceUpdate(current, resource, this.validation) : validateResource(resource, this.validation);
      findings.push(...findingsFor(loaded, result));
      if (result.errors.length === 0 && resource) accepted.push({ loaded, resource });
    }
    const errors = findings.filter((f) => f.severity === 'error');
    if (errors.length > 0) {
      this.refuse(file, findings);
      return;
    }

    const newKeys: string[] = [];
    let shadowed = false;
    for (const { loaded, resource } of accepted) {
      const found = lookupKind(resource.apiVersion, resource.kind);
      if ('problem' in found) continue; // a kind Meltemi does not know (warned about); not served
      const id = keyString(keyOf(resource));
      const owner = this.owners.get(id);
      const duplicateHere = newKeys.includes(id);
      if (duplicateHere || (owner !== undefined && owner !== file && this.files.has(owner) && owner < file)) {
        shadowed = true;
        const message = duplicateHere ? 'defined twice in this file; the first definition wins' : `also defined in ${owner}, which wins`;
        findings.push({ file, line: loaded.source.line, severity: 'warning', rule: 'store.duplicate', field: '', message, ...describe(resource) });
        continue;
      }
      this.owners.set(id, file);
      newKeys.push(id);
      this.memory.apply(resource);
    }
    for (const id of prev?.keys ?? []) {
      if (!newKeys.includes(id) && this.owners.get(id) === file) {
        this.owners.delete(id);
        const [group, kind, namespace, name] = id.split('/') as [string, string, string, string];
        this.memory.delete({ group, kind, namespace, name });
      }
    }
    this.files.set(file, { text, keys: newKeys, shadowed });
    this.currentFindings.set(file, findings);
    this.emit('loaded', file);
  }

  private refuse(file: string, findings: Finding[]): void {
    this.currentFindings.set(file, findings);
    this.emit('rejected', file, findings);
  }

  private withdraw(file: string): void {
    const state = this.files.get(file);
    this.files.delete(file);
    this.currentFindings.delete(file);
    for (const id of state?.keys ?? []) {
      if (this.owners.get(id) !== file) continue;
      this.owners.delete(id);
      const [group, kind, namespace, name] = id.split('/') as [string, string, string, string];
      this.memory.delete({ group, kind, namespace, name });
    }
    // Objects another file lost to this one may now take over: make those files load again.
    for (const [other, st] of this.files) if (st.shadowed) this.files.set(other, { ...st, text: '' });
    this.emit('removed', file);
  }
}

function isKeyed(r: Resource): boolean {
  return typeof r?.apiVersion === 'string' && typeof r.kind === 'string' && typeof r.metadata?.name === 'string';
}

function describe(r: Resource) {
  return { kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name };
}

/** Defaults the namespace of namespaced kinds to `default`, as the API server does. */
function normalise(obj: unknown): Resource {
  const r = structuredClone(obj) as Resource;
  if (r && typeof r === 'object' && typeof r.apiVersion === 'string' && typeof r.kind === 'string' && r.metadata && typeof r.metadata === 'object') {
    const found = lookupKind(r.apiVersion, r.kind);
    if (!('problem' in found) && found.def.namespaced && !r.metadata.namespace) r.metadata.namespace = 'default';
    // Files are the source of truth: a copied resourceVersion must not turn a reload into a conflict.
    delete r.metadata.resourceVersion;
  }
  return r;
}
