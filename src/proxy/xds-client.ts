// The proxy's xDS client: one ADS stream (SotW or Delta) for CDS, EDS, LDS, RDS and SDS (gateway credentials), with Envoy's ACK/NACK, warming and reconnect rules, emitting consistent frozen snapshots.
import { EventEmitter } from 'node:events';
import { clearImmediate, setImmediate } from 'node:timers';
import { MeshError } from '../shared/errors.js';
import { TypeUrl, type TypeUrlValue } from '../xds/types.js';
import { encodeWireMessage } from '../xds/wire/encode.js';
import { Backoff } from './backoff.js';
import { GrpcChannel, grpcStatusName, type GrpcCall, type GrpcStatusObject } from './grpc/client.js';
import type { XdsNodeInfo } from './bootstrap.js';
import { decodeEnvelope, decodeResources, type ResourceEntry, type ResponseEnvelope } from './xds-response.js';
import { nextActive, sameMap, wantedEndpointNames, wantedRouteNames, wantedSecretNames, type ResourceSet, type XdsJson } from './xds-warming.js';

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** The node announced on the first request of every stream, in Istio's form (see `xdsNode` in bootstrap.ts). */
export type XdsNode = XdsNodeInfo;

export interface XdsClientLogger {
  info(msg: string, fields?: object): void;
  warn(msg: string, fields?: object): void;
  error(msg: string, fields?: object): void;
}

export interface XdsClientOptions {
  /** host:port of the discovery server (plaintext gRPC: loopback or a trusted network only). */
  address: string;
  node: XdsNode;
  protocol: 'sotw' | 'delta';
  /**
   * Extra check before the resources of a response are accepted (the place to refuse what the data
   * path could not compile: responses are ACKed before 'config' is emitted). Called with the
   * resources the response carries, decoded and frozen: the full state for SotW LDS/CDS, the named
   * ones for SotW EDS/RDS, the added or changed ones for Delta; not called for a response carrying
   * none. A string is the NACK's error_detail message: the whole response is rejected and the type
   * keeps its previous state. A throw counts as a rejection with its message.
   */
  validate?: (typeUrl: TypeUrlValue, resources: ReadonlyMap<string, Record<string, unknown>>) => string | undefined;
  /** Reconnect delays: exponential with full jitter, default 500 ms .. 30 s; reset once a stream delivers a response. */
  backoff?: { baseMs?: number; maxMs?: number };
  /**
   * Envoy's `initial_fetch_timeout` (default 15 000 ms; 0 waits forever): how long warming waits for
   * a cluster's load assignment or a listener's route configuration, and initialization for the
   * first CDS and LDS responses, before proceeding with what it has.
   */
  initialFetchTimeoutMs?: number;
  /** Uniform in [0, 1) for the backoff jitter (tests). */
  random?: () => number;
  logger?: XdsClientLogger;
  /** Largest response accepted, in bytes (default 64 MiB). A larger one fails the stream, which is retried with backoff. */
  maxResponseBytes?: number;
  /** Most resources plus removals in one response (default 100 000); a response with more is NACKed. */
  maxResourcesPerResponse?: number;
  /**
   * xDS over mutual TLS: the credentials for each connection attempt (undefined while there is no
   * certificate yet: the attempt waits for the next backoff), and the name the server's certificate
   * must carry.
   */
  tls?: { credentials: () => XdsTlsCredentials | undefined; serverName: string };
}

/**
 * One consistent configuration: every active listener's route configurations are present, and every
 * active EDS cluster's load assignment, unless their initial fetch timed out (or, Delta, the server
 * said they do not exist). Deeply frozen: the maps throw on mutation and every resource object is
 * frozen. Objects are shared between snapshots while unchanged, so the data path may cache what
 * it compiles from them by identity.
 */
export interface XdsConfigSnapshot {
  /** Increases with every emitted snapshot. */
  readonly version: number;
  /** Decoded Listener by name. */
  readonly listeners: ReadonlyMap<string, Record<string, unknown>>;
  /** Decoded RouteConfiguration by name. */
  readonly routes: ReadonlyMap<string, Record<string, unknown>>;
  /** Decoded Cluster by name. */
  readonly clusters: ReadonlyMap<string, Record<string, unknown>>;
  /** Decoded ClusterLoadAssignment by its cluster_name (the EDS service name). */
  readonly endpoints: ReadonlyMap<string, Record<string, unknown>>;
  /**
   * Decoded Secret by name: the SDS secrets fetched over ADS (a gateway's `kubernetes://`
   * credentials) that active or warming listeners and clusters name and that have arrived. Not
   * part of warming: a listener whose secret is missing is active and refuses TLS until it comes.
   */
  readonly secrets: ReadonlyMap<string, Record<string, unknown>>;
}

/** Payload of the 'nack' event: a response this client rejected. */
export interface XdsNackEvent {
  typeUrl: TypeUrlValue;
  message: string;
  nonce: string;
}

/** Payload of the 'disconnected' event. */
export interface XdsDisconnectedEvent {
  error: Error;
  /** The delay before the next attempt, ms. */
  retryInMs: number;
}

export const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_RESOURCES_PER_RESPONSE = 100_000;
/** NACK messages are truncated: error_detail travels in every later request of the type. */
const MAX_ERROR_DETAIL = 4096;
/** google.rpc.Code INVALID_ARGUMENT, as Envoy sets in a NACK's error_detail. */
const INVALID_ARGUMENT = 3;

/** The types this client subscribes to, in Envoy's order (make before break). */
const CLIENT_TYPES = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Secret] as const;
type ClientType = (typeof CLIENT_TYPES)[number];

const SHORT: Record<ClientType, string> = {
  [TypeUrl.Cluster]: 'cds',
  [TypeUrl.ClusterLoadAssignment]: 'eds',
  [TypeUrl.Listener]: 'lds',
  [TypeUrl.RouteConfiguration]: 'rds',
  [TypeUrl.Secret]: 'sds',
};

/** What the client holds and has told the server about one type. */
interface TypeState {
  readonly typeUrl: ClientType;
  /** LDS and CDS: everything for this node; EDS, RDS and SDS: the names in `wanted`. */
  readonly wildcard: boolean;
  /** Accepted resources by name (for EDS/RDS only subscribed names are kept). */
  resources: Map<string, ResourceEntry>;
  /** EDS/RDS: the names subscribed to. */
  wanted: Set<string>;
  /** SotW version_info of the last accepted response ('' before any); kept across streams. */
  versionInfo: string;
  /** Whether any response (accepted or rejected) has arrived: initialization counts both. */
  answered: boolean;
  /** EDS/RDS names warming stopped waiting for (initial fetch timed out, or reported absent). */
  settled: Set<string>;
  /** EDS/RDS initial-fetch timers by name. */
  timers: Map<string, NodeJS.Timeout>;
  // ---- per stream ----
  /** Nonce of the last response received on the current stream. */
  nonce: string;
  /** Whether a request for the type went out on the current stream. */
  requested: boolean;
  /** Delta: the names the server has been told about on the current stream. */
  serverNames: Set<string>;
  /** SotW: the last NACK's message, repeated on later requests of the type until a response is accepted (as Envoy does). */
  errorDetail: string | undefined;
}

interface Stream {
  channel: GrpcChannel;
  call: GrpcCall;
  sentNode: boolean;
  connected: boolean;
  healthy: boolean;
  ended: boolean;
  /** Why the client ended it, when it did. */
  failure?: string;
  /** Called once the stream's status arrived (close() waits for it). */
  onEnded?: () => void;
}

/** PEM material for one mTLS connection to the discovery server. */
export interface XdsTlsCredentials {
  /** Roots the server's chain must verify against. */
  ca: string | Buffer;
  /** The workload's certificate chain and key. */
  cert: string | Buffer;
  key: string | Buffer;
}

/** Initialization, as Envoy's: clusters (CDS, then their EDS), then listeners (LDS, then their RDS), then ready. */
type Phase = 'clusters' | 'listeners' | 'ready';

const stderrLogger: XdsClientLogger = {
  info: () => undefined,
  warn: (message, fields) => process.stderr.write(`${JSON.stringify({ level: 'warn', scope: 'xds-client', message, ...fields })}\n`),
  error: (message, fields) => process.stderr.write(`${JSON.stringify({ level: 'error', scope: 'xds-client', message, ...fields })}\n`),
};

/** A Map that refuses changes once built: what snapshots hand out. */
class FrozenMap<V> extends Map<string, V> {
  constructor(entries: ReadonlyMap<string, V>) {
    super();
    for (const [k, v] of entries) super.set(k, v);
    Object.freeze(this);
  }
  override set(key: string, value: V): this {
    if (Object.isFrozen(this)) throw new TypeError('an xDS snapshot is immutable');
    return super.set(key, value);
  }
  override delete(_key: string): boolean {
    throw new TypeError('an xDS snapshot is immutable');
  }
  override clear(): void {
    throw new TypeError('an xDS snapshot is immutable');
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function truncate(s: string): string {
  return s.length <= MAX_ERROR_DETAIL ? s : `${s.slice(0, MAX_ERROR_DETAIL - 1)}…`;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/**
 * An ADS client with Envoy's semantics
 * (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol):
 * - CDS (wildcard) first; EDS for the EDS clusters; LDS (wildcard) once the initial clusters are
 *   warm; RDS for the route configurations the listeners' HTTP connection managers name; SDS for
 *   the secrets their transport sockets fetch over ADS (not `default`/`ROOTCA`, which the local
 *   agent serves). EDS, RDS and SDS subscriptions follow the clusters and listeners; secrets do
 *   not hold warming back.
 * - Every response is ACKed or NACKed (all or nothing); a NACKed type keeps its previous state.
 * - Clusters and listeners warm: a new version becomes active only with its endpoints or routes.
 * - 'config' carries a consistent, frozen snapshot, at most once per event-loop turn of responses.
 * - A lost stream keeps the last config and is re-established with jittered exponential backoff;
 *   SotW re-requests everything with the versions it runs, Delta sends initial_resource_versions.
 *
 * Events: 'config' (XdsConfigSnapshot), 'nack' (XdsNackEvent), 'connected' ({ address }),
 * 'disconnected' (XdsDisconnectedEvent). Listener exceptions are logged, never propagated.
 * Call `start()` once; `close()` stops everything (no timer or socket is left behind).
 */
export class XdsClient extends EventEmitter {
  private readonly protocol: 'sotw' | 'delta';
  private readonly log: XdsClientLogger;
  private readonly backoff: Backoff;
  private readonly fetchTimeoutMs: number;
  private readonly maxResources: number;
  private readonly types = new Map<ClientType, TypeState>();
  /** The request message type of the protocol. */
  private readonly requestMessage: string;
  private readonly metadata: Record<string, unknown>;
  private stream: Stream | undefined;
  private started = false;
  private closed = false;
  private phase: Phase = 'clusters';
  private phaseTimedOut = false;
  private phaseTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private flushHandle: NodeJS.Immediate | undefined;
  /** Active resources as of the last flush (emitted only once ready). */
  private active: ResourceSet | undefined;
  private snapshot: XdsConfigSnapshot | undefined;
  private snapshotSeq = 0;

  constructor(private readonly options: XdsClientOptions) {
    super();
    if (!options.address) throw new MeshError('MESH_USAGE', 'the xDS client needs the discovery address (host:port)');
    if (!options.node?.id) throw new MeshError('MESH_USAGE', 'the xDS client needs a node id');
    if (options.protocol !== 'sotw' && options.protocol !== 'delta') throw new MeshError('MESH_USAGE', `xDS protocol must be sotw or delta, got ${String(options.protocol)}`);
    this.protocol = options.protocol;
    this.log = options.logger ?? stderrLogger;
    this.backoff = new Backoff({ ...options.backoff, ...(options.random ? { random: options.random } : {}) });
    this.fetchTimeoutMs = options.initialFetchTimeoutMs ?? DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
    if (!Number.isFinite(this.fetchTimeoutMs) || this.fetchTimeoutMs < 0) throw new MeshError('MESH_USAGE', `initialFetchTimeoutMs must be ≥ 0, got ${this.fetchTimeoutMs}`);
    this.maxResources = options.maxResourcesPerResponse ?? DEFAULT_MAX_RESOURCES_PER_RESPONSE;
    if (!Number.isInteger(this.maxResources) || this.maxResources < 1) throw new MeshError('MESH_USAGE', `maxResourcesPerResponse must be a positive integer, got ${this.maxResources}`);
    const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new MeshError('MESH_USAGE', `maxResponseBytes must be a positive integer, got ${maxBytes}`);
    for (const typeUrl of CLIENT_TYPES) {
      this.types.set(typeUrl, {
        typeUrl,
        wildcard: typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener,
        resources: new Map(),
        wanted: new Set(),
        versionInfo: '',
        answered: false,
        settled: new Set(),
        timers: new Map(),
        nonce: '',
        requested: false,
        serverNames: new Set(),
        errorDetail: undefined,
      });
    }
    this.requestMessage = `envoy.service.discovery.v3.${this.protocol === 'sotw' ? 'DiscoveryRequest' : 'DeltaDiscoveryRequest'}`;
    this.metadata = options.node.metadata ?? {};
  }

  /** The last emitted snapshot (undefined until initialization completes). */
  get current(): XdsConfigSnapshot | undefined {
    return this.snapshot;
  }

  /** Opens the stream. Call once. */
  start(): void {
    if (this.started) throw new MeshError('MESH_USAGE', 'the xDS client is already started');
    if (this.closed) throw new MeshError('MESH_USAGE', 'the xDS client is closed');
    this.started = true;
    this.startPhaseTimer();
    this.openStream();
  }

  /** Ends the stream and every timer; no event is emitted afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.phaseTimer);
    if (this.flushHandle) clearImmediate(this.flushHandle);
    for (const t of this.types.values()) {
      for (const timer of t.timers.values()) clearTimeout(timer);
      t.timers.clear();
    }
    const s = this.stream;
    this.stream = undefined;
    if (s && !s.ended) {
      await new Promise<void>((resolve) => {
        s.onEnded = resolve;
        s.call.cancel();
      });
    }
    s?.channel.close();
  }

  // ---- the stream ----

  private openStream(): void {
    this.reconnectTimer = undefined;
    if (this.closed) return;
    // A fresh connection per attempt, made when this client's backoff says so.
    // The credentials of this attempt: over mTLS, the workload certificate current now, so a rotated
    // certificate is presented on the next connection.
    const tls = this.options.tls?.credentials();
    if (this.options.tls && !tls) {
      const retryInMs = this.backoff.next();
      this.log.info('xDS over mTLS waits for the workload certificate', { address: this.options.address, retryInMs });
      this.reconnectTimer = setTimeout(() => this.openStream(), retryInMs);
      return;
    }
    const channel = new GrpcChannel({
      address: this.options.address,
      maxReceiveMessageBytes: this.options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      userAgent: 'meltemi-proxy',
      ...(this.options.tls && tls ? { tls: { ...tls, serverName: this.options.tls.serverName } } : {}),
    });
    const method = `/${ADS_SERVICE}/${this.protocol === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources'}`;
    // Responses are decoded by this class: a resource that does not decode must be NACKed, not end the stream.
    // The call's events come after this returns (its status never synchronously), when `stream` is set.
    const call = channel.call(method, [], {
      headers: () => this.onConnected(stream),
      message: (bytes) => this.onData(stream, bytes),
      status: (status) => this.onStreamEnd(stream, status),
    });
    const stream: Stream = { channel, call, sentNode: false, connected: false, healthy: false, ended: false };
    this.stream = stream;
    for (const t of this.types.values()) {
      t.nonce = '';
      t.requested = false;
      t.serverNames = new Set();
      t.errorDetail = undefined;
    }
    // Envoy's order; LDS only once initialization got past the clusters.
    this.requestType(this.type(TypeUrl.Cluster));
    this.requestType(this.type(TypeUrl.ClusterLoadAssignment));
    if (this.phase !== 'clusters') this.requestType(this.type(TypeUrl.Listener));
    this.requestType(this.type(TypeUrl.RouteConfiguration));
    this.requestType(this.type(TypeUrl.Secret));
  }

  private onConnected(stream: Stream): void {
    if (stream !== this.stream || stream.connected) return;
    stream.connected = true;
    this.log.info('xDS stream established', { address: this.options.address, protocol: this.protocol });
    this.emitSafe('connected', { address: this.options.address });
  }

  private onStreamEnd(stream: Stream, status: GrpcStatusObject): void {
    if (stream.ended) return;
    stream.ended = true;
    stream.channel.close();
    stream.onEnded?.();
    if (stream !== this.stream || this.closed) return;
    this.stream = undefined;
    const retryInMs = this.backoff.next();
    const why = stream.failure ?? `${grpcStatusName(status.code)}: ${status.details}`;
    const error = new MeshError('MESH_IO', `xDS stream to ${this.options.address} ended (${why})`);
    this.log.warn('xDS stream ended; keeping the last configuration and reconnecting', { address: this.options.address, error: why, retryInMs, attempt: this.backoff.attempts });
    this.reconnectTimer = setTimeout(() => this.openStream(), retryInMs);
    this.emitSafe('disconnected', { error, retryInMs } satisfies XdsDisconnectedEvent);
  }

  /** Ends the stream from this side (the status handler then schedules the reconnect). */
  private failStream(stream: Stream, reason: string): void {
    stream.failure ??= reason;
    stream.call.cancel();
  }

  private write(req: Record<string, unknown>): void {
    const s = this.stream;
    if (!s || s.ended) return;
    if (!s.sentNode) {
      // Istio reads the node from the first request only (Envoy's set_node_on_first_message_only).
      req.node = { id: this.options.node.id, cluster: this.options.node.cluster, metadata: this.metadata, user_agent_name: 'meltemi-proxy', ...(this.options.node.locality ? { locality: this.options.node.locality } : {}) };
      s.sentNode = true;
    }
    try {
      s.call.write(encodeWireMessage(this.requestMessage, req));
    } catch (e) {
      this.log.error('xDS request could not be sent', { error: errorMessage(e) });
      this.failStream(s, `request could not be sent: ${errorMessage(e)}`);
    }
  }

  // ---- requests ----

  private type(typeUrl: ClientType): TypeState {
    return this.types.get(typeUrl)!;
  }

  /** The first request of a type on the current stream (nothing for EDS/RDS without names). */
  private requestType(t: TypeState): void {
    if (!this.stream || (!t.wildcard && t.wanted.size === 0)) return;
    t.requested = true;
    if (this.protocol === 'sotw') {
      this.write(this.sotwRequest(t));
      return;
    }
    // Delta: what we hold, so that the server sends only what differs (initial_resource_versions).
    const initial: Record<string, string> = {};
    for (const [name, e] of t.resources) if (e.version !== '') initial[name] = e.version;
    const subscribe = t.wildcard ? [] : [...t.wanted].sort();
    t.serverNames = new Set(subscribe);
    this.write({ type_url: t.typeUrl, resource_names_subscribe: subscribe, initial_resource_versions: initial });
  }

  /** A SotW request: the full subscription, the version we run, the last nonce (and the NACK in force). */
  private sotwRequest(t: TypeState): Record<string, unknown> {
    return {
      type_url: t.typeUrl,
      resource_names: t.wildcard ? [] : [...t.wanted].sort(),
      version_info: t.versionInfo,
      response_nonce: t.nonce,
      ...(t.errorDetail !== undefined ? { error_detail: { code: INVALID_ARGUMENT, message: t.errorDetail } } : {}),
    };
  }

  /** Tells the server about a changed EDS/RDS subscription. */
  private sendSubscription(t: TypeState): void {
    if (!this.stream) return;
    if (!t.requested) {
      this.requestType(t);
      return;
    }
    if (this.protocol === 'sotw') {
      // SotW: the list replaces the previous one; the nonce keeps it from being taken as stale.
      this.write(this.sotwRequest(t));
      return;
    }
    const subscribe = [...t.wanted].filter((n) => !t.serverNames.has(n)).sort();
    const unsubscribe = [...t.serverNames].filter((n) => !t.wanted.has(n)).sort();
    if (subscribe.length === 0 && unsubscribe.length === 0) return;
    t.serverNames = new Set(t.wanted);
    // Delta subscription changes are diffs and carry no nonce (they ACK nothing).
    this.write({ type_url: t.typeUrl, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe });
  }

  private ack(t: TypeState): void {
    if (this.protocol === 'sotw') this.write(this.sotwRequest(t));
    else this.write({ type_url: t.typeUrl, response_nonce: t.nonce });
  }

  private nack(t: TypeState, nonce: string, message: string): void {
    const detail = truncate(message);
    this.log.warn('xDS response rejected (NACK); keeping the previous configuration of the type', { type: SHORT[t.typeUrl], nonce, error: detail });
    if (this.protocol === 'sotw') {
      t.errorDetail = detail;
      this.write(this.sotwRequest(t));
    } else {
      this.write({ type_url: t.typeUrl, response_nonce: nonce, error_detail: { code: INVALID_ARGUMENT, message: detail } });
    }
    this.emitSafe('nack', { typeUrl: t.typeUrl, message: detail, nonce } satisfies XdsNackEvent);
  }

  // ---- responses ----

  private onData(stream: Stream, bytes: Buffer): void {
    if (stream !== this.stream || this.closed || stream.ended) return;
    let envelope: ResponseEnvelope;
    try {
      envelope = decodeEnvelope(this.protocol, bytes);
    } catch (e) {
      // No nonce to NACK: the stream is unusable. Restart it (with backoff: it is not healthy).
      this.log.error('undecodable xDS response; restarting the stream', { error: errorMessage(e) });
      this.failStream(stream, `undecodable response: ${errorMessage(e)}`);
      return;
    }
    this.onConnected(stream);
    if (!stream.healthy) {
      // Envoy resets its backoff once a stream delivers a response.
      stream.healthy = true;
      this.backoff.reset();
    }
    const t = this.types.get(envelope.typeUrl as ClientType);
    if (!t || !t.requested) {
      // Envoy: a response for a type nobody subscribed to is ignored, neither ACKed nor NACKed.
      this.log.warn('xDS response for a type this client did not request; ignored', { typeUrl: envelope.typeUrl });
      return;
    }
    t.nonce = envelope.nonce;
    t.answered = true;
    const rejection = this.apply(t, envelope);
    if (rejection !== undefined) this.nack(t, envelope.nonce, rejection);
    else {
      this.ack(t);
      if (t.typeUrl === TypeUrl.Cluster || t.typeUrl === TypeUrl.Listener) this.syncSubscriptions();
    }
    // Also after a NACK: initialization counts a rejected response as an answer.
    this.scheduleFlush();
  }

  /** Applies a response to its type's state; returns the NACK message when it is refused (state untouched). */
  private apply(t: TypeState, envelope: ResponseEnvelope): string | undefined {
    let heldByDigest: Map<string, ResourceEntry> | undefined;
    if (this.protocol === 'sotw' && t.resources.size > 0) {
      heldByDigest = new Map();
      for (const e of t.resources.values()) heldByDigest.set(e.digest, e);
    }
    const decoded = decodeResources(envelope, { maxResources: this.maxResources, ...(heldByDigest ? { heldByDigest } : {}) });
    if (!decoded.ok) return decoded.error;
    // EDS/RDS: names not subscribed to are ignored (a response may cross an unsubscription).
    const kept = new Map<string, ResourceEntry>();
    for (const [name, e] of decoded.entries) if (t.wildcard || t.wanted.has(name)) kept.set(name, e);
    if (this.options.validate && kept.size > 0) {
      const view = new Map<string, Record<string, unknown>>();
      for (const [name, e] of kept) view.set(name, e.resource);
      let message: string | undefined;
      try {
        message = this.options.validate(t.typeUrl, view);
      } catch (e) {
        message = `validation failed: ${errorMessage(e)}`;
      }
      if (message !== undefined) return message || 'rejected by validation';
    }
    let next: Map<string, ResourceEntry>;
    if (this.protocol === 'sotw' && t.wildcard) next = kept; // LDS/CDS state of the world: what is missing is gone
    else {
      next = new Map(t.resources);
      for (const [name, e] of kept) next.set(name, e);
      for (const name of decoded.removed) next.delete(name);
    }
    t.resources = next;
    t.versionInfo = envelope.version;
    t.errorDetail = undefined;
    if (!t.wildcard) {
      for (const name of kept.keys()) {
        t.settled.delete(name);
        this.clearFetchTimer(t, name);
      }
      // Delta: a removed name the client waits for does not exist; warming need not wait for it.
      for (const name of decoded.removed) {
        if (!t.wanted.has(name)) continue;
        t.settled.add(name);
        this.clearFetchTimer(t, name);
      }
    }
    return undefined;
  }

  // ---- subscriptions and warming ----

  private received(): ResourceSet {
    const view = (typeUrl: ClientType): Map<string, XdsJson> => {
      const out = new Map<string, XdsJson>();
      for (const [name, e] of this.type(typeUrl).resources) out.set(name, e.resource);
      return out;
    };
    return {
      clusters: view(TypeUrl.Cluster),
      endpoints: view(TypeUrl.ClusterLoadAssignment),
      listeners: view(TypeUrl.Listener),
      routes: view(TypeUrl.RouteConfiguration),
    };
  }

  /** Brings the EDS, RDS and SDS subscriptions in line with the received and active clusters and listeners. */
  private syncSubscriptions(received: ResourceSet = this.received()): void {
    this.setWanted(this.type(TypeUrl.ClusterLoadAssignment), wantedEndpointNames(received, this.active));
    if (this.phase !== 'clusters') this.setWanted(this.type(TypeUrl.RouteConfiguration), wantedRouteNames(received, this.active));
    this.setWanted(this.type(TypeUrl.Secret), wantedSecretNames(received, this.active));
  }

  private setWanted(t: TypeState, names: Set<string>): void {
    if (sameSet(t.wanted, names)) return;
    const before = t.wanted;
    t.wanted = names;
    let dropped = false;
    for (const name of before) {
      if (names.has(name)) continue;
      // Unsubscribed resources are forgotten, as in Envoy: a later subscription fetches them afresh.
      dropped = t.resources.delete(name) || dropped;
      t.settled.delete(name);
      this.clearFetchTimer(t, name);
    }
    for (const name of names) if (!before.has(name) && !t.resources.has(name)) this.startFetchTimer(t, name);
    this.sendSubscription(t);
    if (dropped) this.scheduleFlush();
  }

  private startFetchTimer(t: TypeState, name: string): void {
    if (this.fetchTimeoutMs === 0 || t.timers.has(name) || this.closed) return;
    t.timers.set(
      name,
      setTimeout(() => {
        t.timers.delete(name);
        if (!t.wanted.has(name) || t.resources.has(name)) return;
        this.log.warn('initial fetch timed out; proceeding without it', { type: SHORT[t.typeUrl], name, timeoutMs: this.fetchTimeoutMs });
        t.settled.add(name);
        this.scheduleFlush();
      }, this.fetchTimeoutMs),
    );
  }

  private clearFetchTimer(t: TypeState, name: string): void {
    const timer = t.timers.get(name);
    if (timer === undefined) return;
    clearTimeout(timer);
    t.timers.delete(name);
  }

  /** The initialization phase's own timeout: no first CDS (or LDS) response within the fetch timeout. */
  private startPhaseTimer(): void {
    clearTimeout(this.phaseTimer);
    this.phaseTimer = undefined;
    this.phaseTimedOut = false;
    if (this.fetchTimeoutMs === 0 || this.phase === 'ready') return;
    const phase = this.phase;
    this.phaseTimer = setTimeout(() => {
      this.phaseTimer = undefined;
      if (this.phase !== phase) return;
      this.log.warn('initial fetch timed out; proceeding without it', { phase, timeoutMs: this.fetchTimeoutMs });
      this.phaseTimedOut = true;
      this.scheduleFlush();
    }, this.fetchTimeoutMs);
  }

  /** Coalesces the responses of one event-loop turn into one warming pass (and at most one snapshot). */
  private scheduleFlush(): void {
    if (this.flushHandle || this.closed) return;
    this.flushHandle = setImmediate(() => {
      this.flushHandle = undefined;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed) return;
    const received = this.received();
    const result = nextActive({
      received,
      active: this.active,
      settledEndpoints: this.type(TypeUrl.ClusterLoadAssignment).settled,
      settledRoutes: this.type(TypeUrl.RouteConfiguration).settled,
    });
    this.active = result.active;
    if (this.phase === 'clusters' && (this.type(TypeUrl.Cluster).answered || this.phaseTimedOut) && result.warmingClusters.length === 0) {
      this.phase = 'listeners';
      this.startPhaseTimer();
      this.requestType(this.type(TypeUrl.Listener));
    }
    // A version kept active while its update warms still needs its endpoints and routes; once it is
    // replaced, what only it used is unsubscribed.
    this.syncSubscriptions(received);
    if (this.phase === 'listeners' && (this.type(TypeUrl.Listener).answered || this.phaseTimedOut) && result.warmingListeners.length === 0) {
      this.phase = 'ready';
      clearTimeout(this.phaseTimer);
      this.phaseTimer = undefined;
      this.log.info('xDS initialization complete', { clusters: result.active.clusters.size, listeners: result.active.listeners.size });
    }
    if (this.phase !== 'ready') return;
    const last = this.snapshot;
    // Only names still wanted are held (unsubscribed ones are dropped), and none blocks warming.
    const secrets = new Map<string, XdsJson>();
    for (const [name, e] of this.type(TypeUrl.Secret).resources) secrets.set(name, e.resource);
    if (
      last &&
      sameMap(last.clusters, result.active.clusters) &&
      sameMap(last.endpoints, result.active.endpoints) &&
      sameMap(last.listeners, result.active.listeners) &&
      sameMap(last.routes, result.active.routes) &&
      sameMap(last.secrets, secrets)
    ) {
      return;
    }
    const snapshot: XdsConfigSnapshot = Object.freeze({
      version: ++this.snapshotSeq,
      listeners: new FrozenMap(result.active.listeners),
      routes: new FrozenMap(result.active.routes),
      clusters: new FrozenMap(result.active.clusters),
      endpoints: new FrozenMap(result.active.endpoints),
      secrets: new FrozenMap(secrets),
    });
    this.snapshot = snapshot;
    this.emitSafe('config', snapshot);
  }

  private emitSafe(event: string, payload: unknown): void {
    try {
      this.emit(event, payload);
    } catch (e) {
      this.log.error(`an xDS client '${event}' listener threw`, { error: errorMessage(e) });
    }
  }
}
