// The discovery process (istiod's job): config store → registry → PushContext → ADS and debug servers.
import * as grpc from '@grpc/grpc-js';
import { isIP } from 'node:net';
import { applyProfiles } from '../api/smcp-profiles.js';
import { SECURITY_GROUP } from '../api/kinds/security-types.js';
import type { SmcpV2Spec } from '../api/kinds/service-mesh-control-plane.js';
import { FileStore } from '../config/file-store.js';
import { formatFinding, type Finding } from '../config/findings.js';
import type { ConfigEvent, ConfigStore } from '../config/store.js';
import { meshConfig, meshConfigFromControlPlane, type MeshConfig } from '../model/mesh-config.js';
import { buildPushContext, withEndpointsOf } from '../model/push/build-push-context.js';
import { jwksSourcesOf } from '../model/push/request-authentication.js';
import type { PushContext } from '../model/push-context.js';
import { ServiceRegistry } from '../registry/registry.js';
import { MeshError } from '../shared/errors.js';
import { joinHostPort } from '../shared/host-port.js';
import { MetricsRegistry } from '../shared/metrics.js';
import { AdsServer, type XdsLogger } from './ads-server.js';
import { Debouncer } from './debounce.js';
import { configChangeRequest } from './generators/index.js';
import { DebugServer } from './debug-server.js';
import { JwksResolver } from './jwks-resolver.js';
import type { PushRequest } from './types.js';

/** Kinds the registry owns; their changes reach pushes through registry events, not config events. */
const REGISTRY_KINDS = new Set(['Service', 'Pod', 'WorkloadEntry']);

export interface DiscoveryOptions {
  /** A directory of manifests to serve and watch; or pass `store`. */
  configDir?: string;
  store?: ConfigStore;
  /** xDS (plaintext gRPC). Default 127.0.0.1:15010; port 0 picks one. */
  xdsHost?: string;
  xdsPort?: number;
  /** Plaintext xDS hands out every proxy's configuration: anything but loopback must be asked for. */
  allowRemoteXds?: boolean;
  /** Debug and metrics HTTP. Default 127.0.0.1:15014. */
  debugHost?: string;
  debugPort?: number;
  allowRemoteDebug?: boolean;
  /** Overrides over the mesh config (which otherwise comes from the ServiceMeshControlPlane in the store). */
  mesh?: Partial<MeshConfig>;
  logger?: XdsLogger;
  /** Debounce overrides (tests). */
  debounceAfterMs?: number;
  debounceMaxMs?: number;
  /** Quiet period for endpoint-only changes (default MELTEMI_DEBOUNCE_EDS_AFTER_MS). */
  debounceEdsAfterMs?: number;
  /**
   * Fetches the remote key sets of RequestAuthentications. Default: one owned (and closed) by
   * this Discovery, with the default limits; tests pass their own (a fake DNS, loopback allowed).
   */
  jwksResolver?: JwksResolver;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/**
 * The mesh config in force: from the one ServiceMeshControlPlane (maistra.io/v2) in the store, with
 * its profiles applied; defaults when there is none (or several, which analyze reports).
 */
export function meshConfigOf(store: ConfigStore, overrides: Partial<MeshConfig> = {}): MeshConfig {
  const smcps = store.list({ kind: 'ServiceMeshControlPlane', group: 'maistra.io' }).filter((r) => r.apiVersion === 'maistra.io/v2');
  const base = smcps.length === 1 ? meshConfigFromControlPlane(smcps[0]!.metadata.namespace ?? 'istio-system', applyProfiles((smcps[0]!.spec ?? {}) as SmcpV2Spec)) : meshConfig();
  return { ...base, ...overrides };
}

/**
 * A running control plane. `start()` loads the config, builds the first push and listens; later
 * config and registry changes are debounced into pushes (endpoint-only changes into EDS pushes).
 */
export class Discovery {
  readonly store: ConfigStore;
  readonly registry: ServiceRegistry;
  readonly ads: AdsServer;
  readonly metrics = new MetricsRegistry();
  private readonly grpcServer = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  private readonly debug: DebugServer;
  private readonly debouncer: Debouncer;
  private readonly fileStore?: FileStore;
  private readonly unsubscribe: Array<() => void> = [];
  /** The JWKS resolver pushes are built with; owned unless passed in the options. */
  readonly jwks: JwksResolver;
  private readonly ownsJwks: boolean;
  private push: PushContext | undefined;
  private pushCount = 0;
  xdsAddress = '';
  /** host:port of xDS over mutual TLS, once `serveSecureXds` ran. */
  secureXdsAddress = '';
  private secureBinding: string | undefined;
  private closed = false;
  debugAddress = '';

  constructor(private readonly options: DiscoveryOptions) {
    if (options.store) this.store = options.store;
    else if (options.configDir) this.store = this.fileStore = new FileStore(options.configDir);
    else throw new MeshError('MESH_USAGE', 'discovery needs a config directory or a store');
    this.registry = new ServiceRegistry(this.store);
    this.ads = new AdsServer({ logger: options.logger, metrics: this.metrics });
    this.debug = new DebugServer(
      {
        syncz: () => this.ads.syncz(),
        configDump: (id) => this.ads.configDump(id),
        registry: () => this.registry.snapshot(),
        configs: () => this.store.list(),
        push: () => this.push,
        metrics: this.metrics,
      },
      { host: options.debugHost ?? '127.0.0.1', port: options.debugPort ?? 15014, allowRemote: options.allowRemoteDebug },
    );
    this.debouncer = new Debouncer((request) => this.pushNow(request), {
      afterMs: options.debounceAfterMs,
      maxMs: options.debounceMaxMs,
      edsAfterMs: options.debounceEdsAfterMs,
    });
    this.ownsJwks = options.jwksResolver === undefined;
    this.jwks = options.jwksResolver ?? new JwksResolver({ logger: options.logger, metrics: this.metrics });
  }

  /** Tells the JWKS resolver which key sets the stored RequestAuthentications need (new ones start fetching). */
  private trackJwks(): void {
    this.jwks.track(jwksSourcesOf(this.store.list({ kind: 'RequestAuthentication', group: SECURITY_GROUP })));
  }

  /** The PushContext being served. */
  get currentPush(): PushContext | undefined {
    return this.push;
  }

  async start(): Promise<this> {
    const xdsHost = this.options.xdsHost ?? '127.0.0.1';
    if (!isLoopback(xdsHost) && !this.options.allowRemoteXds) {
      throw new MeshError('MESH_USAGE', `plaintext xDS on ${xdsHost} would serve every proxy's configuration to the network; bind it to loopback or allow it explicitly`);
    }
    if (this.fileStore) {
      this.fileStore.on('rejected', (_file, findings: Finding[]) => {
        for (const f of findings) this.options.logger?.warn(formatFinding(f), { rule: f.rule });
      });
      await this.fileStore.start();
      for (const f of this.fileStore.findings()) this.options.logger?.warn(formatFinding(f), { rule: f.rule });
    }
    this.unsubscribe.push(
      this.store.watch((e: ConfigEvent) => {
        // A new jwksUri starts fetching now, so the keys may be in by the time the debounced push runs.
        if (e.resource.kind === 'RequestAuthentication') this.trackJwks();
        if (!REGISTRY_KINDS.has(e.resource.kind)) this.debouncer.enqueue(configChangeRequest(e.type, e.resource, e.previous));
      }),
      // Keys fetched or changed (first fetch, rotation, staleness): a push like a RequestAuthentication edit's.
      this.jwks.onChange(() => this.debouncer.enqueue({ full: true, configKinds: new Set(['RequestAuthentication']) })),
      this.registry.onChange((change) => this.debouncer.enqueue(change.kind === 'endpoints' ? { full: false, edsHosts: change.hostnames } : { full: true })),
    );
    await this.pushNow({ full: true });

    this.ads.addTo(this.grpcServer);
    const port = await new Promise<number>((resolve, reject) =>
      this.grpcServer.bindAsync(joinHostPort(xdsHost, this.options.xdsPort ?? 15010), grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.xdsAddress = `${xdsHost}:${port}`;
    const debugAddr = await this.debug.listen();
    this.debugAddress = `${debugAddr.host}:${debugAddr.port}`;
    return this;
  }

  /** Builds a PushContext from the store and registry as they are now and pushes it. */
  private async pushNow(request: PushRequest): Promise<void> {
    const version = `${new Date().toISOString()}/${++this.pushCount}`;
    const registry = this.registry.snapshot();
    // Only endpoints changed: keep the config indexes, Sidecar scopes and JWT keys of the last push.
    let push = !request.full && this.push ? withEndpointsOf(this.push, registry, version) : undefined;
    if (!push) {
      // The push reads the resolver's cache as it is now; fetches it starts finish later and push again.
      this.trackJwks();
      push = buildPushContext(this.store, registry, meshConfigOf(this.store, this.options.mesh), version, { jwks: this.jwks.snapshot() });
    }
    this.push = push;
    for (const m of push.messages) this.options.logger?.warn(`${m.resource}: ${m.message}`, { level: m.level });
    await this.ads.setPushContext(push, request);
  }

  /** Stops listening, closes every stream, and stops watching. */
  /**
   * Also serves xDS over mutual TLS (Istio's secure port; Meltemi uses 15011, as Istio ≤1.5 did):
   * proxies present workload certificates, and each may only receive its own namespace's
   * configuration. `credentials` must require and verify client certificates. After `start`.
   */
  async serveSecureXds(host: string, port: number, credentials: grpc.ServerCredentials): Promise<string> {
    const bound = await new Promise<number>((resolve, reject) => this.grpcServer.bindAsync(joinHostPort(host, port), credentials, (err, p) => (err ? reject(err) : resolve(p))));
    this.secureBinding = joinHostPort(host, bound);
    this.secureXdsAddress = `${host}:${bound}`;
    return this.secureXdsAddress;
  }

  /**
   * Serves the secure xDS port with new credentials (a reissued serving certificate, a rotated
   * root): the port is unbound and bound again; connected proxies reconnect with backoff.
   */
  async rebindSecureXds(credentials: grpc.ServerCredentials): Promise<void> {
    const binding = this.secureBinding;
    if (binding === undefined || this.closed) return;
    this.grpcServer.unbind(binding);
    await new Promise<number>((resolve, reject) => this.grpcServer.bindAsync(binding, credentials, (err, p) => (err ? reject(err) : resolve(p))));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.debouncer.close();
    for (const u of this.unsubscribe) u();
    this.registry.close();
    if (this.ownsJwks) this.jwks.close();
    this.fileStore?.close();
    await this.debug.close();
    // ADS streams never end on their own; proxies reconnect elsewhere (or later) with backoff.
    this.grpcServer.forceShutdown();
  }
}
