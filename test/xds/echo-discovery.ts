// Test fixture: the real discovery process serving a temp config directory of YAML files, edited by writing files.
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Discovery } from '../../src/xds/discovery.js';
import type { SyncStatus } from '../../src/xds/ads-server.js';

/** A running `meltemi discovery --config-dir DIR` (the same Discovery, FileStore and debounce defaults), on ports 0. */
export interface DirDiscovery {
  discovery: Discovery;
  dir: string;
  /** http://127.0.0.1:PORT of the debug API. */
  debugBase: string;
  /** Every log line, and a `line` event per line, so tests can wait on what the process reports. */
  log: string[];
  logEvents: EventEmitter;
  /**
   * Writes `name` in place, synchronously: the watcher's callback (and the store's debounced
   * re-read after it) runs only after the whole file is on disk, so the store never sees half of it.
   */
  write(name: string, text: string): void;
  remove(name: string): void;
  /** GET /debug/syncz over HTTP: the entry of one proxy (undefined when not connected). */
  syncz(proxyId: string): Promise<SyncStatus | undefined>;
  close(): Promise<void>;
}

/** Starts discovery on a fresh temp directory holding `files` (name → YAML). Close it when done. */
export async function startDirDiscovery(files: Record<string, string>): Promise<DirDiscovery> {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-grpc-xds-'));
  const write = (name: string, text: string): void => writeFileSync(join(dir, name), text);
  for (const [name, text] of Object.entries(files)) write(name, text);
  const log: string[] = [];
  const logEvents = new EventEmitter();
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    const text = `${level}\t${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`;
    log.push(text);
    logEvents.emit('line', text);
  };
  const discovery = new Discovery({ configDir: dir, xdsPort: 0, debugPort: 0, logger: { info: line('info'), warn: line('warn'), error: line('error') } });
  try {
    await discovery.start();
  } catch (e) {
    await discovery.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const debugBase = `http://${discovery.debugAddress}`;
  return {
    discovery,
    dir,
    debugBase,
    log,
    logEvents,
    write,
    remove: (name) => unlinkSync(join(dir, name)),
    async syncz(proxyId) {
      const res = await fetch(`${debugBase}/debug/syncz`);
      if (res.status !== 200) throw new Error(`/debug/syncz answered ${res.status}`);
      return ((await res.json()) as SyncStatus[]).find((s) => s.proxy === proxyId);
    },
    async close() {
      await discovery.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Resolves once `check` holds, re-evaluating it now and after every `events` emission of
 * `emitter`; rejects after `timeoutMs` naming `what`. No polling, no sleeps: a condition that
 * depends on the control plane changes only when it emits.
 */
export function until(emitter: Emitter, events: string[], check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      for (const e of events) emitter.off(e, onEvent);
      if (err) reject(err);
      else resolve();
    };
    const onEvent = (): void => {
      if (check()) done();
    };
    const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    for (const e of events) emitter.on(e, onEvent);
  });
}

/** Anything with Node's on/off (the ADS server's events, the log's events). */
export interface Emitter {
  on(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
}
