// The Aggregated Discovery Service (SotW and Delta) over grpc-js: streams, pushes and their bookkeeping.
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { stderrLogger, type Logger } from '../shared/logger.js';
import { proxyFromNode, type NodeLocality, type Proxy } from '../model/proxy.js';
import type { PushContext } from '../model/push-context.js';
import type { Service } from '../registry/types.js';
import { MetricsRegistry, type Counter, type Gauge, type Histogram } from '../shared/metrics.js';
import { identityOfSubjectAltName } from '../shared/spiffe.js';
import { classifyRequest } from './ack-nack.js';
import { mergePushRequests } from './debounce.js';
import { envoyConfigDump, type TypeDump } from './config-dump.js';
import { commitDelta, planChanged, planDelta } from './delta.js';
import { decodeMessage, decodeResource, encodeResource } from './encode.js';
import { clustersMayChange, credentialSecret, envoyGenerators, secretsOnly } from './generators/index.js';
import { grpcGenerators } from './generators/grpc.js';
import { envoyProtos } from './protos.js';
import { encodeDeltaResponse, encodeSotwResponse, isDeltaResponseWire, isSotwResponseWire } from './response-wire.js';
import { sameResources, SnapshotCache, type ConnectionEntry, type GeneratedResource, type TypeSnapshot } from './snapshot-cache.js';
import { applyDeltaSubscriptions, applySotwNames, isKnownTypeUrl, PUSH_ORDER, requestedNames, SHORT_TYPE, StreamState, type TypeWatch, type XdsProtocol } from './stream-state.js';
import { TypeUrl, type GeneratorSet, type PushRequest, type TypeUrlValue, type XdsResource } from './types.js';

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** Where the ADS server reports; the default writes warnings and errors to stderr as JSON lines. */
export type XdsLogger = Logger;

const defaultLogger: Logger = stderrLogger('ads');

export interface AdsServerOptions {
  /** Generators for Envoy-style proxies (sidecars, gateways, `meltemi proxy`); default `generators/index.ts`. */
  envoyGenerators?: GeneratorSet;
  /** Generators for proxyless gRPC clients (node metadata `GENERATOR: grpc`); default `generators/grpc.ts`. */
  grpcGenerators?: GeneratorSet;
  logger?: XdsLogger;
  /** Registry the pilot_* metrics are added to (a private one when omitted). */
  metrics?: MetricsRegistry;
  /** Wall clock for debug records, epoch ms (tests may fix it). */
  now?: () => number;
  /** Sent as control_plane.identifier in every response. */
  controlPlaneId?: string;
  /** Value of the `version` label of `pilot_xds`. */
  version?: string;
}

/** Events, for tests and the debug API: `connected`, `disconnected`, `sent`, `ack`, `nack`, `build-error`, `secret-missing`. */
export interface SentEvent {
  connectionId: string;
  proxyId: string;
  typeUrl: TypeUrlValue;
  version: string;
  nonce: string;
  /** Names sent (SotW: the full state; Delta: the changed ones). */
  names: string[];
  removed: string[];
  reason: 'request' | 'push';
}

export interface AckEvent {
  connectionId: string;
  proxyId: string;
  typeUrl: TypeUrlValue;
  version: string;
  nonce: string;
}

export interface NackEvent extends AckEvent {
  message: string;
}

/** One connection in `/debug/syncz`. Istio 1.6's flat fields first, then Meltemi's detail per type. */
export interface SyncStatus {
  proxy: string;
  proxy_type: string;
  connection_id: string;
  protocol: XdsProtocol;
  generator: 'envoy' | 'grpc';
  connected_since: string;
  push_version: string;
  cluster_sent: string;
  cluster_acked: string;
  listener_sent: string;
  listener_acked: string;
  route_sent: string;
  route_acked: string;
  endpoint_sent: string;
  endpoint_acked: string;
  types: Record<string, TypeSyncStatus>;
}

export interface TypeSyncStatus {
  type_url: string;
  resources: number;
  sent_version?: string;
  sent_nonce?: string;
  sent_at?: string;
  acked_version?: string;
  acked_nonce?: string;
  acked_at?: string;
  nack_count: number;
  last_nack?: { nonce: string; version: string; rejected_version: string; error: string; time: string };
  last_build_error?: { error: string; time: string };
}

interface Metrics {
  connected: Gauge;
  pushes: Counter;
  rejects: Counter;
  expiredNonce: Counter;
  convergence: Histogram;
  pushTime: Histogram;
  configSize: Histogram;
}

function registerMetrics(r: MetricsRegistry): Metrics {
  return {
    connected: r.gauge('pilot_xds', 'Number of endpoints connected to this pilot using XDS.', ['version']),
    pushes: r.counter('pilot_xds_pushes', 'Pilot build and send errors for lds, rds, cds and eds.', ['type']),
    rejects: r.counter('pilot_total_xds_rejects', 'Total number of XDS responses from pilot rejected by proxy.', ['type']),
    expiredNonce: r.counter('pilot_xds_expired_nonce', 'Total number of XDS requests with an expired nonce.', ['type']),
    convergence: r.histogram('pilot_proxy_convergence_time', 'Delay in seconds between config change and a proxy receiving all required configuration.', [], [0.1, 0.5, 1, 3, 5, 10, 20, 30]),
    pushTime: r.histogram('pilot_xds_push_time', 'Total time in seconds Pilot takes to push lds, rds, cds and eds.', ['type'], [0.01, 0.1, 1, 3, 5, 10, 20, 30]),
    configSize: r.histogram('pilot_xds_config_size_bytes', 'Distribution of configuration sizes pushed to clients', ['type'], [1, 10_000, 1_000_000, 4_000_000, 10_000_000, 40_000_000]),
  };
}

type AnyCall = grpc.ServerDuplexStream<Record<string, unknown>, Record<string, unknown>>;

interface Connection {
  call: AnyCall;
  state: StreamState;
  proxy?: Proxy;
  generators: GeneratorSet;
  closed: boolean;
  /** Push waiting for this connection in the queue, and when the oldest part of it was requested. */
  pending?: PushRequest;
  pendingSince: number;
  /** The proxy's scope services when its clusters were last generated (see clustersMayChange). */
  clusterScope?: readonly Service[];
  /** SDS names last reported as unavailable, with why (each problem is logged once, not on every push). */
  missingSecrets?: Map<string, string>;
}

/** Payload of the `secret-missing` event: a requested SDS secret that could not be served. */
export interface SecretMissingEvent {
  connectionId: string;
  proxyId: string;
  name: string;
  problem: string;
}

/** `outbound|9080|v1|reviews.bookinfo.svc.cluster.local` → the host; undefined when not a subset key. */
export function hostOfClusterName(name: string): string | undefined {
  const parts = name.split('|');
  return parts.length === 4 && parts[3] !== '' ? parts[3] : undefined;
}

function resourceVersion(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('base64url').slice(0, 22);
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The ADS server. Create it with the generator sets, add it to a grpc-js server (`addTo`) or
 * let it own one (`listen`), then feed it PushContexts with `setPushContext`. Every connected
 * proxy gets what its generator set produces for it, in Istio's order (CDS, EDS, LDS, RDS),
 * only when content changed, and never a blind resend of something it rejected.
 */
export class AdsServer {
  readonly cache = new SnapshotCache();
  readonly events = new EventEmitter();
  readonly metrics: MetricsRegistry;
  private readonly m: Metrics;
  private readonly log: XdsLogger;
  private readonly now: () => number;
  private readonly connections = new Set<Connection>();
  private readonly queue = new Set<Connection>();
  private draining: Promise<void> | undefined;
  private push: PushContext | undefined;
  private pushSeq = 0;
  private connectionSeq = 0;
  private ownServer: grpc.Server | undefined;
  private readonly versionLabel: string;
  private readonly hostCache = new Map<string, string | undefined>();
  /** Encodings by generated object (see `encoded`). */
  private readonly encodings = new WeakMap<object, { name: string; typeUrl: TypeUrlValue; resource: GeneratedResource }>();
  /** Encodings by content, used since the current push started, and during the previous one (see `encoded`). */
  private contentNow = new Map<string, GeneratedResource>();
  private contentPrevious = new Map<string, GeneratedResource>();

  constructor(private readonly options: AdsServerOptions = {}) {
    this.metrics = options.metrics ?? new MetricsRegistry();
    this.m = registerMetrics(this.metrics);
    this.log = options.logger ?? defaultLogger;
    this.now = options.now ?? Date.now;
    this.versionLabel = options.version ?? 'meltemi';
    this.m.connected.set({ version: this.versionLabel }, 0);
    this.events.setMaxListeners(0);
  }

  /** The PushContext currently served (undefined before the first push). */
  get pushContext(): PushContext | undefined {
    return this.push;
  }

  /** Version string of responses generated from the current push ('0' before any). */
  get currentVersion(): string {
    return String(this.pushSeq);
  }

  /** Adds AggregatedDiscoveryService (both methods) to a grpc-js server. */
  addTo(server: grpc.Server): void {
    const protos = envoyProtos();
    const reqType = (name: string) => (buf: Buffer) => decodeMessage(`envoy.service.discovery.v3.${name}`, buf);
    const resType = (name: string) => {
      const t = protos.type(`envoy.service.discovery.v3.${name}`);
      return (obj: Record<string, unknown>) => {
        // What this server writes takes the hand-written path; anything else (tests, clients) protobufjs.
        if (name === 'DiscoveryResponse' && isSotwResponseWire(obj)) return encodeSotwResponse(obj);
        if (name === 'DeltaDiscoveryResponse' && isDeltaResponseWire(obj)) return encodeDeltaResponse(obj);
        const bytes = t.encode(t.fromObject(obj)).finish();
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      };
    };
    const method = (name: string, req: string, res: string): grpc.MethodDefinition<Record<string, unknown>, Record<string, unknown>> => ({
      path: `/${ADS_SERVICE}/${name}`,
      requestStream: true,
      responseStream: true,
      requestDeserialize: reqType(req),
      requestSerialize: resType(req),
      responseSerialize: resType(res),
      responseDeserialize: reqType(res),
    });
    server.addService(
      {
        StreamAggregatedResources: method('StreamAggregatedResources', 'DiscoveryRequest', 'DiscoveryResponse'),
        DeltaAggregatedResources: method('DeltaAggregatedResources', 'DeltaDiscoveryRequest', 'DeltaDiscoveryResponse'),
      },
      {
        StreamAggregatedResources: (call: AnyCall) => this.serve(call, 'sotw'),
        DeltaAggregatedResources: (call: AnyCall) => this.serve(call, 'delta'),
      },
    );
  }

  /**
   * Starts a plaintext grpc-js server of its own on `address` (host:port; port 0 picks one) and
   * returns the bound port. Plaintext belongs on loopback (Istio's 15010); use `addTo` with a
   * TLS server elsewhere.
   */
  async listen(address = '127.0.0.1:0'): Promise<number> {
    const server = new grpc.Server();
    this.addTo(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.ownServer = server;
    return port;
  }

  /** Closes every stream and the owned server, if any. */
  async close(): Promise<void> {
    for (const c of this.connections) {
      c.closed = true;
      try {
        c.call.end();
      } catch {
        // already gone
      }
    }
    const server = this.ownServer;
    this.ownServer = undefined;
    if (server) {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
    }
  }

  /**
   * Serves `push` from now on and pushes to every connection: all types on a full push, only
   * EDS (for the changed hosts) otherwise. Resolves when every connection has been handled.
   */
  setPushContext(push: PushContext, request: PushRequest = { full: true }): Promise<void> {
    const first = this.push === undefined;
    this.push = push;
    this.pushSeq++;
    this.contentPrevious = this.contentNow;
    this.contentNow = new Map();
    const since = performance.now();
    for (const c of this.connections) {
      if (!c.proxy || c.closed) continue;
      c.pending = mergePushRequests(c.pending, first ? { full: true } : request);
      if (!this.queue.has(c)) c.pendingSince = since;
      this.queue.add(c);
    }
    return this.drain();
  }

  /** syncz: every connection with per-type sent/acked/rejected state. */
  syncz(): SyncStatus[] {
    return this.cache.list().map((e) => {
      const types: Record<string, TypeSyncStatus> = {};
      for (const [url, t] of e.types) types[SHORT_TYPE[url]] = typeStatus(url, t);
      const nonce = (url: TypeUrlValue, f: 'sent' | 'acked'): string => e.types.get(url)?.[f]?.nonce ?? '';
      return {
        proxy: e.proxy.id,
        proxy_type: e.proxy.type,
        connection_id: e.connectionId,
        protocol: e.protocol,
        generator: e.proxy.generator === 'grpc' ? 'grpc' : 'envoy',
        connected_since: new Date(e.connectedAt).toISOString(),
        push_version: e.pushVersion,
        cluster_sent: nonce(TypeUrl.Cluster, 'sent'),
        cluster_acked: nonce(TypeUrl.Cluster, 'acked'),
        listener_sent: nonce(TypeUrl.Listener, 'sent'),
        listener_acked: nonce(TypeUrl.Listener, 'acked'),
        route_sent: nonce(TypeUrl.RouteConfiguration, 'sent'),
        route_acked: nonce(TypeUrl.RouteConfiguration, 'acked'),
        endpoint_sent: nonce(TypeUrl.ClusterLoadAssignment, 'sent'),
        endpoint_acked: nonce(TypeUrl.ClusterLoadAssignment, 'acked'),
        types,
      };
    });
  }

  /**
   * An Envoy-shaped config dump (`configs[]` of Clusters/Endpoints/Listeners/Routes/Secrets
   * dumps) of what was last generated for the proxy with this node id or POD.NAMESPACE (its newest connection),
   * or undefined when it is not connected. Private keys are redacted as Envoy does.
   */
  configDump(proxyId: string): { configs: Record<string, unknown>[] } | undefined {
    // istioctl names proxies POD.NAMESPACE (Istio's Proxy.ID); the full node id works too.
    const entries = this.cache.list().filter((e) => e.proxy.id === proxyId || e.proxy.podName === proxyId);
    const e = entries[entries.length - 1];
    return e ? configDumpOf(e) : undefined;
  }

  // ---- streams ----

  private serve(call: AnyCall, protocol: XdsProtocol): void {
    const conn: Connection = { call, state: new StreamState('', protocol), generators: {}, closed: false, pendingSince: 0 };
    const done = (): void => this.disconnect(conn);
    call.on('data', (req: Record<string, unknown>) => {
      if (conn.closed) return;
      try {
        this.onRequest(conn, req);
      } catch (e) {
        this.log.error('ADS request handling failed', { connection: conn.state.connectionId, error: errorMessage(e) });
        this.fail(conn, grpc.status.INTERNAL, `internal error: ${errorMessage(e)}`);
      }
    });
    call.on('end', () => {
      done();
      try {
        call.end();
      } catch {
        // the client is gone
      }
    });
    call.on('error', done);
    call.on('cancelled', done);
    call.on('close', done);
  }

  private fail(conn: Connection, code: grpc.status, details: string): void {
    conn.closed = true;
    this.disconnect(conn);
    conn.call.emit('error', { code, details, metadata: new grpc.Metadata() });
  }

  private disconnect(conn: Connection): void {
    conn.closed = true;
    if (!this.connections.delete(conn)) return;
    this.queue.delete(conn);
    this.cache.remove(conn.state.connectionId);
    this.m.connected.set({ version: this.versionLabel }, this.connections.size);
    this.log.info('ADS disconnected', { connection: conn.state.connectionId });
    this.events.emit('disconnected', { connectionId: conn.state.connectionId, proxyId: conn.proxy?.id });
  }

  private onRequest(conn: Connection, req: Record<string, unknown>): void {
    if (!conn.proxy && !this.identify(conn, req)) return;
    const typeUrl = String(req.type_url ?? '');
    if (!isKnownTypeUrl(typeUrl)) {
      this.log.warn('ADS request for a type Meltemi does not serve', { connection: conn.state.connectionId, typeUrl });
      return;
    }
    if (conn.state.protocol === 'sotw') this.onSotwRequest(conn, typeUrl, req);
    else this.onDeltaRequest(conn, typeUrl, req);
  }

  /** Reads the node from the first request; refuses the stream when it is missing or malformed. */
  private identify(conn: Connection, req: Record<string, unknown>): boolean {
    const node = req.node as { id?: string; metadata?: Record<string, unknown>; locality?: NodeLocality } | undefined;
    if (!node?.id) {
      this.fail(conn, grpc.status.INVALID_ARGUMENT, 'the first request of an ADS stream must carry node.id');
      return false;
    }
    const proxy = proxyFromNode(node.id, node.metadata ?? {}, node.locality);
    if (typeof proxy === 'string') {
      this.fail(conn, grpc.status.INVALID_ARGUMENT, proxy);
      return false;
    }
    // Over mTLS (the secure xDS port) a proxy may only ask for its own namespace's configuration,
    // as istiod checks the caller's identity against the node.
    const auth = typeof conn.call.getAuthContext === 'function' ? conn.call.getAuthContext() : undefined;
    const peer = auth?.sslPeerCertificate;
    if (peer && Object.keys(peer).length > 0) {
      const id = identityOfSubjectAltName(peer.subjectaltname);
      if (typeof id === 'string' || id.namespace !== proxy.namespace) {
        this.fail(conn, grpc.status.PERMISSION_DENIED, `the client certificate (${typeof id === 'string' ? id : id.spiffeId}) may not receive configuration for namespace ${proxy.namespace}`);
        return false;
      }
    }
    conn.proxy = proxy;
    conn.generators = proxy.generator === 'grpc' ? (this.options.grpcGenerators ?? grpcGenerators) : (this.options.envoyGenerators ?? envoyGenerators);
    conn.state.connectionId = `${proxy.id}-${++this.connectionSeq}`;
    this.connections.add(conn);
    this.cache.add(conn.state.connectionId, proxy, conn.state.protocol, this.now());
    this.m.connected.set({ version: this.versionLabel }, this.connections.size);
    this.log.info('ADS connected', { connection: conn.state.connectionId, protocol: conn.state.protocol, generator: proxy.generator ?? 'envoy' });
    this.events.emit('connected', { connectionId: conn.state.connectionId, proxyId: proxy.id });
    return true;
  }

  private onSotwRequest(conn: Connection, typeUrl: TypeUrlValue, req: Record<string, unknown>): void {
    const names = (req.resource_names as string[] | undefined) ?? [];
    const nonce = String(req.response_nonce ?? '');
    const existing = conn.state.watch(typeUrl);
    // Probe the subscription change on a copy: a stale request must not change anything.
    // applySotwNames replaces `names` rather than mutating it, so a shallow copy suffices
    // (Optimization: an ACK of 2000 EDS names no longer copies the subscription twice).
    const probe: TypeWatch | undefined = existing && { ...existing };
    const changed = probe ? applySotwNames(probe, typeUrl, names, false) : true;
    const decision = classifyRequest(
      { protocol: 'sotw', nonce, versionInfo: String(req.version_info ?? ''), errorMessage: errorDetail(req), subscriptionChanged: changed },
      existing,
    );
    if (decision.kind === 'stale') {
      if (nonce !== '') this.m.expiredNonce.inc({ type: SHORT_TYPE[typeUrl] });
      return;
    }
    const watch = conn.state.ensureWatch(typeUrl);
    // Only the first request of a type is `initial`; any later one is what the probe computed.
    if (!existing) applySotwNames(watch, typeUrl, names, true);
    else if (changed) {
      watch.wildcard = probe!.wildcard;
      watch.names = probe!.names;
    }
    if (decision.kind === 'ack') this.recordAck(conn, typeUrl, decision.version, nonce);
    if (decision.kind === 'nack' && !decision.repeated) this.recordNack(conn, typeUrl, watch, decision.version, nonce, decision.message);
    if (decision.kind === 'initial' || decision.respond) this.respond(conn, typeUrl, []);
  }

  private onDeltaRequest(conn: Connection, typeUrl: TypeUrlValue, req: Record<string, unknown>): void {
    const nonce = String(req.response_nonce ?? '');
    const existing = conn.state.watch(typeUrl);
    const watch = conn.state.ensureWatch(typeUrl);
    if (!existing) {
      // A reconnecting client tells us what it already holds; only differences are sent.
      for (const [name, version] of Object.entries((req.initial_resource_versions as Record<string, string> | undefined) ?? {})) watch.known.set(name, version);
    }
    // Delta requests are diffs the client never repeats: apply them whatever the nonce.
    const added = applyDeltaSubscriptions(
      watch,
      typeUrl,
      (req.resource_names_subscribe as string[] | undefined) ?? [],
      (req.resource_names_unsubscribe as string[] | undefined) ?? [],
      !existing,
    );
    const decision = classifyRequest({ protocol: 'delta', nonce, versionInfo: '', errorMessage: errorDetail(req), subscriptionChanged: added.length > 0 }, existing);
    if (decision.kind === 'stale' && nonce !== '') this.m.expiredNonce.inc({ type: SHORT_TYPE[typeUrl] });
    if (decision.kind === 'ack') this.recordAck(conn, typeUrl, decision.version, nonce);
    if (decision.kind === 'nack' && !decision.repeated) {
      const kept = this.cache.type(conn.state.connectionId, typeUrl)?.acked?.version ?? '';
      this.recordNack(conn, typeUrl, watch, kept, nonce, decision.message);
    }
    if (decision.kind === 'initial' || decision.respond) this.respond(conn, typeUrl, added);
  }

  private recordAck(conn: Connection, typeUrl: TypeUrlValue, version: string, nonce: string): void {
    this.cache.recordAck(conn.state.connectionId, typeUrl, { version, nonce, at: this.now() });
    const ev: AckEvent = { connectionId: conn.state.connectionId, proxyId: conn.proxy!.id, typeUrl, version, nonce };
    this.events.emit('ack', ev);
  }

  private recordNack(conn: Connection, typeUrl: TypeUrlValue, watch: TypeWatch, version: string, nonce: string, message: string): void {
    watch.nonceNacked = nonce;
    this.cache.recordNack(conn.state.connectionId, typeUrl, { version, nonce, rejectedVersion: watch.versionSent, message, at: this.now() });
    this.m.rejects.inc({ type: SHORT_TYPE[typeUrl] });
    this.log.warn('proxy rejected configuration (NACK)', { connection: conn.state.connectionId, type: SHORT_TYPE[typeUrl], nonce, rejectedVersion: watch.versionSent, keptVersion: version, error: message });
    const ev: NackEvent = { connectionId: conn.state.connectionId, proxyId: conn.proxy!.id, typeUrl, version, nonce, message };
    this.events.emit('nack', ev);
  }

  // ---- generation and sending ----

  /** Answers a request: the full current state of the type for this stream. Waits for the first push. */
  private respond(conn: Connection, typeUrl: TypeUrlValue, added: readonly string[]): void {
    const push = this.push;
    if (!push) return; // the first setPushContext answers every waiting watch
    const watch = conn.state.watch(typeUrl)!;
    const generated = this.generate(conn, push, typeUrl, requestedNames(watch));
    if (!generated) return;
    this.deliver(conn, typeUrl, watch, generated, 'request', added, true);
    this.cache.setPushVersion(conn.state.connectionId, push.version);
  }

  /**
   * Runs the type's generator and encodes its output. On a generator exception or an encoding
   * failure (a Meltemi bug) records it, logs it and returns undefined: nothing is sent for the
   * type and the proxy keeps its last good configuration.
   */
  private generate(conn: Connection, push: PushContext, typeUrl: TypeUrlValue, names: string[] | undefined): Map<string, GeneratedResource> | undefined {
    const generator = conn.generators[typeUrl];
    const out = new Map<string, GeneratedResource>();
    if (!generator) return out; // this client kind gets nothing of this type
    try {
      if (typeUrl === TypeUrl.Cluster && generator === envoyGenerators[TypeUrl.Cluster]) conn.clusterScope = push.sidecarScope(conn.proxy!).services;
      for (const r of generator(conn.proxy!, push, names)) {
        if (r.typeUrl !== typeUrl) throw new Error(`generator for ${SHORT_TYPE[typeUrl]} returned a resource of type ${r.typeUrl} (${r.name})`);
        if (out.has(r.name)) throw new Error(`generator for ${SHORT_TYPE[typeUrl]} returned two resources named "${r.name}"`);
        out.set(r.name, this.encoded(r));
      }
      if (typeUrl === TypeUrl.Secret && generator === envoyGenerators[TypeUrl.Secret]) this.reportMissingSecrets(conn, push, names, out);
    } catch (e) {
      const message = errorMessage(e);
      this.cache.recordBuildError(conn.state.connectionId, typeUrl, { message, at: this.now() });
      this.m.pushes.inc({ type: `${SHORT_TYPE[typeUrl]}_builderr` });
      this.log.error('generated configuration could not be built; nothing sent for this type', { connection: conn.state.connectionId, type: SHORT_TYPE[typeUrl], error: message });
      this.events.emit('build-error', { connectionId: conn.state.connectionId, typeUrl, message });
      return undefined;
    }
    return out;
  }

  /**
   * Logs (once per problem) the requested SDS secrets the generator left out: the listener or
   * cluster that names one refuses connections until it can be served, so an operator must learn
   * why (no such Secret, wrong keys, a key that does not match its certificate, another namespace).
   */
  private reportMissingSecrets(conn: Connection, push: PushContext, names: readonly string[] | undefined, out: ReadonlyMap<string, GeneratedResource>): void {
    const reported = (conn.missingSecrets ??= new Map());
    for (const name of reported.keys()) if (out.has(name) || (names && !names.includes(name))) reported.delete(name);
    for (const name of names ?? []) {
      if (out.has(name)) continue;
      const found = credentialSecret(conn.proxy!, push, name);
      const problem = 'problem' in found ? found.problem : 'not generated';
      if (reported.get(name) === problem) continue;
      reported.set(name, problem);
      this.log.warn('SDS secret unavailable; TLS that needs it refuses connections until it is', { connection: conn.state.connectionId, name, problem });
      const ev: SecretMissingEvent = { connectionId: conn.state.connectionId, proxyId: conn.proxy!.id, name, problem };
      this.events.emit('secret-missing', ev);
    }
  }

  /**
   * The encoding of one generated resource. Optimization, in two levels (encoding is the most
   * expensive step of a push: encode.ts checks every field against Envoy's protos):
   * - by object identity: generators hand the same frozen object to every proxy that shares it
   *   (generators/push-memo.ts), so a push to 2000 proxies encodes each shared resource once. The
   *   WeakMap never outlives the objects; an object seen under another name or type is not trusted.
   * - by content, across pushes: a new push rebuilds every object, but most are equal to the last
   *   push's (and a proxy's own inbound listeners and clusters never change with a route edit).
   *   The key is the type, the name and a SHA-256 of the object's JSON; entries live for the push
   *   that used them and the next one (two generations), so the cache is bounded by what two
   *   pushes produce. Equal JSON implies equal encodings: the only values JSON conflates are
   *   undefined fields (dropped; encode.ts skips them too) and non-finite numbers (which no
   *   generator emits); objects JSON cannot express (BigInt) are simply not cached.
   */
  private encoded(r: XdsResource): GeneratedResource {
    const hit = this.encodings.get(r.resource);
    if (hit && hit.name === r.name && hit.typeUrl === r.typeUrl) return hit.resource;
    let key: string | undefined;
    try {
      key = `${r.typeUrl} ${r.name} ${createHash('sha256').update(JSON.stringify(r.resource)).digest('base64url')}`;
    } catch {
      key = undefined;
    }
    let resource = key === undefined ? undefined : (this.contentNow.get(key) ?? this.contentPrevious.get(key));
    if (!resource) {
      const bytes = encodeResource(r);
      resource = { name: r.name, version: resourceVersion(bytes), bytes };
    }
    if (key !== undefined) this.contentNow.set(key, resource);
    this.encodings.set(r.resource, { name: r.name, typeUrl: r.typeUrl, resource });
    return resource;
  }

  /**
   * Sends `generated` (the full current state for the stream's subscription) as one response,
   * unless nothing changed for the client. SotW sends every resource; Delta only the new and
   * changed ones plus removals.
   */
  private deliver(
    conn: Connection,
    typeUrl: TypeUrlValue,
    watch: TypeWatch,
    generated: Map<string, GeneratedResource>,
    reason: 'request' | 'push',
    added: readonly string[],
    answering: boolean,
    changedOnly?: ReadonlySet<string>,
  ): void {
    const started = performance.now();
    const id = conn.state.connectionId;
    const snap = this.cache.type(id, typeUrl)!;
    const unchanged = snap.version !== '' && sameResources(snap.resources, generated);
    const version = unchanged ? snap.version : this.currentVersion;
    const nonce = randomUUID();
    let message: Record<string, unknown>;
    let names: string[];
    let removed: string[] = [];
    if (conn.state.protocol === 'sotw') {
      // Never resend identical content on a push: the client has it, or rejected it.
      if (!answering && unchanged && watch.nonceSent !== '') return;
      // Optimization: an endpoint-only push sends only the load assignments that changed, as
      // Istio's incremental EDS does. SotW requires the full state only for LDS and CDS; a
      // client keeps the EDS resources a response leaves out. Only on top of an ACKed response:
      // after a NACK or before any ACK the client gets everything again.
      const partial = !answering && changedOnly !== undefined && watch.nonceNacked !== watch.nonceSent && snap.acked?.nonce === watch.nonceSent;
      names = partial ? [...changedOnly].filter((n) => generated.has(n)).sort() : [...generated.keys()].sort();
      message = {
        version_info: version,
        type_url: typeUrl,
        nonce,
        resources: names.map((n) => ({ type_url: typeUrl, value: generated.get(n)!.bytes })),
        control_plane: { identifier: this.options.controlPlaneId ?? 'meltemi' },
      };
    } else {
      // Optimization: an endpoint-only push plans over the changed names only.
      const plan = changedOnly && !answering ? planChanged(generated, watch, changedOnly) : planDelta(generated, watch, added);
      if (!answering && plan.resources.length === 0 && plan.removed.length === 0 && watch.nonceSent !== '') {
        if (!unchanged) this.cache.recordGenerated(id, typeUrl, generated, version, this.now());
        return;
      }
      commitDelta(watch, plan);
      names = plan.resources.map((r) => r.name);
      removed = plan.removed;
      message = {
        system_version_info: version,
        type_url: typeUrl,
        nonce,
        resources: plan.resources.map((r) => ({ name: r.name, version: r.version, resource: { type_url: typeUrl, value: r.bytes } })),
        removed_resources: removed,
        control_plane: { identifier: this.options.controlPlaneId ?? 'meltemi' },
      };
    }
    const type = SHORT_TYPE[typeUrl];
    try {
      conn.call.write(message);
    } catch (e) {
      this.m.pushes.inc({ type: `${type}_senderr` });
      this.log.warn('ADS send failed', { connection: id, type, error: errorMessage(e) });
      return;
    }
    watch.nonceSent = nonce;
    watch.versionSent = version;
    const now = this.now();
    if (!unchanged) this.cache.recordGenerated(id, typeUrl, generated, version, now);
    this.cache.recordSent(id, typeUrl, { version, nonce, at: now, resourceCount: names.length, ...(removed.length > 0 ? { removed } : {}) });
    let size = 0;
    for (const n of names) size += generated.get(n)!.bytes.length;
    this.m.pushes.inc({ type });
    this.m.configSize.observe({ type }, size);
    this.m.pushTime.observe({ type }, (performance.now() - started) / 1000);
    const ev: SentEvent = { connectionId: id, proxyId: conn.proxy!.id, typeUrl, version, nonce, names, removed, reason };
    this.events.emit('sent', ev);
  }

  private drain(): Promise<void> {
    if (!this.draining) {
      this.draining = (async () => {
        let sliceStart = performance.now();
        while (this.queue.size > 0) {
          const conn = this.queue.values().next().value as Connection;
          this.queue.delete(conn);
          const request = conn.pending ?? { full: true };
          const since = conn.pendingSince;
          conn.pending = undefined;
          if (!conn.closed && this.push) {
            try {
              this.pushConnection(conn, this.push, request);
              this.m.convergence.observe(undefined, (performance.now() - since) / 1000);
            } catch (e) {
              this.log.error('push to a proxy failed', { connection: conn.state.connectionId, error: errorMessage(e) });
            }
          }
          // Let requests and other I/O in every few milliseconds: a push to thousands must not
          // stall the loop. Optimization: not after every proxy; a loop turn per proxy (with the
          // ACKs it lets in) doubled the time to reach the 500th proxy of an endpoint push.
          if (performance.now() - sliceStart >= DRAIN_SLICE_MS) {
            await new Promise<void>((resolve) => setImmediate(resolve));
            sliceStart = performance.now();
          }
        }
      })().finally(() => {
        this.draining = undefined;
      });
    }
    return this.draining;
  }

  /**
   * hostOfClusterName, remembered: an EDS-only push asks it for every subscribed name of every
   * proxy (2000 × 2000 splits at 1000 services). Bounded: cleared when it outgrows any real mesh.
   */
  private hostOf(name: string): string | undefined {
    if (this.hostCache.has(name)) return this.hostCache.get(name);
    if (this.hostCache.size >= 200_000) this.hostCache.clear();
    const host = hostOfClusterName(name);
    this.hostCache.set(name, host);
    return host;
  }

  /** One push to one connection, in Istio's order; EDS-only pushes regenerate only the changed hosts. */
  private pushConnection(conn: Connection, push: PushContext, request: PushRequest): void {
    // A Secret edit reaches gateways as SDS only (Istio pushes it to the gateways using the secret).
    const types = !request.full ? [TypeUrl.ClusterLoadAssignment] : secretsOnly(request) ? [TypeUrl.Secret] : PUSH_ORDER;
    // Optimization: a route-only change (a VirtualService edit) leaves an Envoy proxy's clusters
    // and endpoints alone unless its Sidecar scope now imports other services; generating and
    // comparing them for 2000 proxies was a third of such a push.
    const clustersKept = request.full && conn.generators === envoyGenerators && !clustersMayChange(request, conn.clusterScope, push.sidecarScope(conn.proxy!).services);
    // Likewise its listeners, for an edit of VirtualServices without TCP or TLS routes: regenerating
    // and hashing 2000 proxies' listeners, to find them unchanged, was most of such a push.
    const listenersKept = clustersKept && request.listenersUnaffected === true;
    for (const typeUrl of types) {
      if (clustersKept && (typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.ClusterLoadAssignment)) continue;
      if (listenersKept && typeUrl === TypeUrl.Listener) continue;
      const watch = conn.state.watch(typeUrl);
      if (!watch) continue; // never asked for it
      let generated: Map<string, GeneratedResource> | undefined;
      const names = requestedNames(watch);
      if (!request.full && request.edsHosts && names) {
        const affected = names.filter((n) => {
          const host = this.hostOf(n);
          return host === undefined || request.edsHosts!.has(host);
        });
        if (affected.length === 0) continue;
        const fresh = this.generate(conn, push, typeUrl, affected);
        if (!fresh) continue;
        const previous = this.cache.type(conn.state.connectionId, typeUrl)!.resources;
        const affectedSet = new Set(affected);
        generated = new Map();
        for (const n of names) {
          const r = affectedSet.has(n) ? fresh.get(n) : previous.get(n);
          if (r) generated.set(n, r);
        }
        const changed = new Set(affected.filter((n) => fresh.get(n)?.version !== previous.get(n)?.version));
        this.deliver(conn, typeUrl, watch, generated, 'push', [], watch.nonceSent === '', changed);
        continue;
      } else {
        generated = this.generate(conn, push, typeUrl, names);
      }
      if (!generated) continue;
      this.deliver(conn, typeUrl, watch, generated, 'push', [], watch.nonceSent === '');
    }
    this.cache.setPushVersion(conn.state.connectionId, push.version);
  }
}

/** Longest the push queue runs before it yields to I/O, in ms. */
const DRAIN_SLICE_MS = 5;

function errorDetail(req: Record<string, unknown>): string | undefined {
  const d = req.error_detail as { code?: number; message?: string } | undefined;
  if (!d) return undefined;
  return d.message ?? `error code ${d.code ?? 0}`;
}

function typeStatus(url: TypeUrlValue, t: TypeSnapshot): TypeSyncStatus {
  const s: TypeSyncStatus = { type_url: url, resources: t.resources.size, nack_count: t.nackCount };
  if (t.sent) Object.assign(s, { sent_version: t.sent.version, sent_nonce: t.sent.nonce, sent_at: iso(t.sent.at) });
  if (t.acked) Object.assign(s, { acked_version: t.acked.version, acked_nonce: t.acked.nonce, acked_at: iso(t.acked.at) });
  if (t.lastNack) {
    s.last_nack = { nonce: t.lastNack.nonce, version: t.lastNack.version, rejected_version: t.lastNack.rejectedVersion, error: t.lastNack.message, time: iso(t.lastNack.at)! };
  }
  if (t.lastBuildError) s.last_build_error = { error: t.lastBuildError.message, time: iso(t.lastBuildError.at)! };
  return s;
}

function configDumpOf(e: ConnectionEntry): { configs: Record<string, unknown>[] } {
  const typeDump = (url: TypeUrlValue): TypeDump | undefined => {
    const t = e.types.get(url);
    if (!t) return undefined;
    const items = [...t.resources.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((r) => ({ name: r.name, resource: decodeResource(url, r.bytes) }));
    return { version: t.version, items, updated: iso(t.updatedAt || undefined) };
  };
  return envoyConfigDump({
    clusters: typeDump(TypeUrl.Cluster),
    endpoints: typeDump(TypeUrl.ClusterLoadAssignment),
    listeners: typeDump(TypeUrl.Listener),
    routes: typeDump(TypeUrl.RouteConfiguration),
    secrets: typeDump(TypeUrl.Secret),
  });
}
