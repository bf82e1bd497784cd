// Per-connection record of what was generated, sent, acknowledged and rejected, per xDS type (no gRPC here).
import type { Proxy } from '../model/proxy.js';
import type { TypeUrlValue } from './types.js';

/** One encoded resource as last generated for a proxy. */
export interface GeneratedResource {
  name: string;
  /** Content hash of `bytes`: the resource version in Delta xDS. */
  version: string;
  bytes: Buffer;
}

export interface SentRecord {
  version: string;
  nonce: string;
  /** Epoch ms. */
  at: number;
  resourceCount: number;
  /** Delta: names in removed_resources. */
  removed?: string[];
}

export interface AckRecord {
  version: string;
  nonce: string;
  at: number;
}

export interface NackRecord {
  /** The version the client keeps running. */
  version: string;
  /** The nonce of the rejected response, and that response's version. */
  nonce: string;
  rejectedVersion: string;
  message: string;
  at: number;
}

/** A failure on our side (a generator threw, or produced something that does not encode). */
export interface BuildErrorRecord {
  message: string;
  at: number;
}

export interface TypeSnapshot {
  /** The resources of the last successful generation, by name (what the proxy was sent or already had). */
  resources: Map<string, GeneratedResource>;
  /** version_info of the content in `resources`. */
  version: string;
  /** Epoch ms of the last generation that changed `resources`. */
  updatedAt: number;
  sent?: SentRecord;
  acked?: AckRecord;
  lastNack?: NackRecord;
  nackCount: number;
  lastBuildError?: BuildErrorRecord;
}

export interface ConnectionEntry {
  connectionId: string;
  proxy: Proxy;
  protocol: 'sotw' | 'delta';
  /** Epoch ms. */
  connectedAt: number;
  /** Version of the PushContext the last push to this connection used. */
  pushVersion: string;
  types: Map<TypeUrlValue, TypeSnapshot>;
}

/**
 * The control plane's memory of each connected proxy, read by the debug API (syncz,
 * config_dump) and by the ADS server to avoid resending unchanged content. Entries live as long
 * as their connection. The cache never decides anything: callers record, it remembers.
 */
export class SnapshotCache {
  private readonly entries = new Map<string, ConnectionEntry>();

  add(connectionId: string, proxy: Proxy, protocol: 'sotw' | 'delta', now: number): ConnectionEntry {
    const e: ConnectionEntry = { connectionId, proxy, protocol, connectedAt: now, pushVersion: '', types: new Map() };
    this.entries.set(connectionId, e);
    return e;
  }

  remove(connectionId: string): void {
    this.entries.delete(connectionId);
  }

  get(connectionId: string): ConnectionEntry | undefined {
    return this.entries.get(connectionId);
  }

  /** Every live connection, oldest first. */
  list(): ConnectionEntry[] {
    return [...this.entries.values()];
  }

  /** Connections of the proxy with this node id (usually one; more during a reconnect). */
  byProxyId(proxyId: string): ConnectionEntry[] {
    return this.list().filter((e) => e.proxy.id === proxyId);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The snapshot of one type, created empty on first use. */
  type(connectionId: string, typeUrl: TypeUrlValue): TypeSnapshot | undefined {
    const e = this.entries.get(connectionId);
    if (!e) return undefined;
    let t = e.types.get(typeUrl);
    if (!t) {
      t = { resources: new Map(), version: '', updatedAt: 0, nackCount: 0 };
      e.types.set(typeUrl, t);
    }
    return t;
  }

  recordGenerated(connectionId: string, typeUrl: TypeUrlValue, resources: Map<string, GeneratedResource>, version: string, now: number): void {
    const t = this.type(connectionId, typeUrl);
    if (!t) return;
    t.resources = resources;
    t.version = version;
    t.updatedAt = now;
  }

  recordSent(connectionId: string, typeUrl: TypeUrlValue, sent: SentRecord): void {
    const t = this.type(connectionId, typeUrl);
    if (t) t.sent = sent;
  }

  recordAck(connectionId: string, typeUrl: TypeUrlValue, ack: AckRecord): void {
    const t = this.type(connectionId, typeUrl);
    if (t) t.acked = ack;
  }

  recordNack(connectionId: string, typeUrl: TypeUrlValue, nack: NackRecord): void {
    const t = this.type(connectionId, typeUrl);
    if (!t) return;
    t.lastNack = nack;
    t.nackCount++;
  }

  recordBuildError(connectionId: string, typeUrl: TypeUrlValue, error: BuildErrorRecord): void {
    const t = this.type(connectionId, typeUrl);
    if (t) t.lastBuildError = error;
  }

  setPushVersion(connectionId: string, version: string): void {
    const e = this.entries.get(connectionId);
    if (e) e.pushVersion = version;
  }
}

/** True when two generations hold the same names with the same content. */
export function sameResources(a: ReadonlyMap<string, GeneratedResource>, b: ReadonlyMap<string, GeneratedResource>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, r] of a) if (b.get(name)?.version !== r.version) return false;
  return true;
}
