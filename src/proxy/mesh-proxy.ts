// `meltemi proxy` as a whole: xDS client → compiled config → data plane, plus the admin API, the readiness probe and graceful drain.
import { unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { AdminServer, HealthServer, MergedMetricsServer, StatsServer, type AppMetricsSource, type ServerState } from './admin/admin-server.js';
import type { AppProbe } from './admin/app-probers.js';
import { xdsNode, type NodeIdentity } from './bootstrap.js';
import { buildProxyConfig, secretOf, validateResources } from './config/proxy-config.js';
import { ConfigError } from './config/xds-json.js';
import { DataPlane, type DataPlaneOptions } from './data-plane.js';
import type { BindPlan } from './listener-manager.js';
import { WorkloadCertAgent, type WorkloadKeyType } from './security/cert-agent.js';
import { ROOT_BUNDLE, SecretStore, WORKLOAD_CERTIFICATE } from './security/secret-store.js';
import { TelemetryReporter } from './telemetry/reporter.js';
import { localPeerMetadata, PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER } from './telemetry/peer-metadata.js';
import { XdsClient, type XdsConfigSnapshot, type XdsTlsCredentials } from './xds-client.js';

export interface MeshProxyOptions {
  /** host:port of the control plane's plaintext xDS. */
  discovery: string;
  protocol?: 'sotw' | 'delta';
  node: NodeIdentity;
  plan: BindPlan;
  /** 127.0.0.1:15000 by default; 0 picks a port. */
  adminPort?: number;
  /** The admin API's address (loopback only; default 127.0.0.1). */
  adminHost?: string;
  /** 15021 by default on the inbound address (or 127.0.0.1); 0 picks a port; -1 disables. */
  healthPort?: number;
  healthHost?: string;
  /** Istio's 15090 /stats/prometheus; 0 picks a port; -1 disables. */
  statsPort?: number;
  /** Istio's 15020 /stats/prometheus, the proxy's metrics merged with the app's; 0 picks a port; -1 disables. */
  mergedMetricsPort?: number;
  /** The app's metrics endpoint on loopback, merged on 15020 (Istio: the prometheus.io annotations). */
  appMetrics?: AppMetricsSource;
  /** The app's health probes rewritten at injection (ISTIO_KUBE_APP_PROBERS), answered on 15020 against the app's address. */
  appProbes?: ReadonlyMap<string, AppProbe>;
  /** One access log line per request in Istio's text or JSON format (off by default, as in Istio 1.6). */
  accessLog?: { encoding: 'text' | 'json'; write(line: string): void };
  /** How long connections may finish after SIGTERM or /quitquitquit (Istio's drain duration is 45 s; 5 s here). */
  drainMs?: number;
  backoff?: { baseMs?: number; maxMs?: number };
  logger?: { info(msg: string, fields?: object): void; warn(msg: string, fields?: object): void; error(msg: string, fields?: object): void };
  dataPlane?: Partial<DataPlaneOptions>;
  /**
   * The workload identity: certificates from the mesh CA, held in memory as SDS `default` and
   * `ROOTCA` (Istio's pilot-agent). Without it, TLS that needs those secrets refuses connections.
   */
  identity?: ProxyIdentityOptions;
}

export interface ProxyIdentityOptions {
  /** The CA's address (meltemi discovery --ca-addr). */
  caAddress: string;
  /** The DNS name in the CA's TLS certificate; default istiod.istio-system.svc. */
  caServerName?: string;
  /** PEM file of the mesh roots (Istio mounts istio-ca-root-cert's root-cert.pem); re-read on every CA connection. */
  rootCertFile: string;
  /** File holding the workload's token for the CA; re-read on every request. */
  tokenFile: string;
  /** Certificate lifetime to ask for; default: the CA's (24 h). */
  requestedTtlMs?: number;
  /** How often the roots file is checked for a rotation; default 5 s. */
  rootsPollMs?: number;
  /**
   * Connect to the control plane over mutual TLS with the workload certificate (Istio's secure xDS
   * port): the server must present a certificate for this name from the mesh roots.
   */
  xdsServerName?: string;
  keyType?: WorkloadKeyType;
}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * A sidecar or gateway. Until the first consistent configuration arrives it is INITIALIZING (not
 * ready: /ready and /healthz/ready answer 503, Istio's gateway-readiness guarantee); then LIVE.
 * When the control plane goes away it keeps serving the last configuration and reconnects with
 * backoff; a configuration it cannot use is NACKed and the previous one keeps serving.
 */
export class MeshProxy {
  readonly plane: DataPlane;
  /**
   * SDS secrets: the workload certificate and the trust bundle (when an identity is configured),
   * and a gateway's credentials fetched over ADS.
   */
  readonly secrets = new SecretStore();
  /** The decoded ADS secret last copied into `secrets`, by name (to copy only what changed). */
  private readonly adsSecrets = new Map<string, Record<string, unknown>>();
  readonly certificates: WorkloadCertAgent | undefined;
  private configured = false;
  private rootsFile: string | undefined;
  private readonly onRootsChanged = (): void => void this.certificates?.refreshRoots();
  private readonly xds: XdsClient;
  private readonly admin: AdminServer;
  private readonly health: HealthServer | undefined;
  private readonly stats: StatsServer | undefined;
  private readonly merged: MergedMetricsServer | undefined;
  readonly telemetry: TelemetryReporter;
  statsAddress = '';
  mergedMetricsAddress = '';
  private state: ServerState = 'PRE_INITIALIZING';
  private readonly startedAt = Date.now();
  private readonly log: NonNullable<MeshProxyOptions['logger']>;
  private applying: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private readonly nodeId: string;
  adminAddress = '';
  healthAddress = '';
  /** Resolves when the proxy has stopped (after SIGTERM, /quitquitquit or `stop`). */
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  constructor(private readonly options: MeshProxyOptions) {
    this.log = options.logger ?? silent;
    const node = xdsNode(options.node);
    this.nodeId = node.id;
    const local = localPeerMetadata(node);
    this.telemetry = new TelemetryReporter({ local, proxyType: options.node.type, ...(options.accessLog ? { accessLog: options.accessLog } : {}) });
    this.plane = new DataPlane({
      plan: options.plan,
      logger: this.log,
      peerHeaders: [
        [PEER_METADATA_HEADER, local.header],
        [PEER_METADATA_ID_HEADER, local.id],
      ],
      onHttp: (r, d) => this.telemetry.http(r, d),
      onTcp: (r, d) => this.telemetry.tcp(r, d),
      secrets: this.secrets,
      ...(options.dataPlane ?? {}),
    });
    const id = options.identity;
    if (id) {
      this.certificates = new WorkloadCertAgent({
        caAddress: id.caAddress,
        ...(id.caServerName ? { caServerName: id.caServerName } : {}),
        caRoots: () => readFile(id.rootCertFile, 'utf8'),
        token: () => readFile(id.tokenFile, 'utf8'),
        store: this.secrets,
        ...(id.requestedTtlMs !== undefined ? { requestedTtlMs: id.requestedTtlMs } : {}),
        ...(id.keyType ? { keyType: id.keyType } : {}),
        logger: this.log,
      });
      // Readiness waits for the certificate as Envoy's listeners wait for their SDS secrets.
      this.secrets.watch(() => this.maybeLive());
      this.rootsFile = id.rootCertFile;
    }
    const xdsTls = options.identity?.xdsServerName;
    this.xds = new XdsClient({
      address: options.discovery,
      ...(xdsTls !== undefined ? { tls: { credentials: () => this.xdsCredentials(), serverName: xdsTls } } : {}),
      node,
      protocol: options.protocol ?? 'sotw',
      validate: validateResources,
      logger: this.log,
      ...(options.backoff ? { backoff: options.backoff } : {}),
    });
    this.xds.on('config', (snap: XdsConfigSnapshot) => this.onSnapshot(snap));
    this.xds.on('nack', (n: { typeUrl: string; message: string }) => this.log.warn('configuration rejected (NACK); the previous one keeps serving', { type: n.typeUrl, error: n.message }));
    this.xds.on('disconnected', (d: { error?: unknown; retryInMs?: number }) => this.log.warn('control plane unreachable; serving the last configuration', { retryInMs: d.retryInMs }));
    this.admin = new AdminServer(
      {
        config: () => this.plane.config,
        state: () => this.state,
        clusters: () => this.plane.clusters.clustersText(),
        stats: () => this.statsText(),
        prometheus: () => this.telemetry.metrics.prometheus(),
        serverInfo: () => ({ version: 'meltemi', node: { id: this.nodeId }, uptime_current_epoch: `${Math.round((Date.now() - this.startedAt) / 1000)}s`, command_line_options: { drain_time: `${(options.drainMs ?? 5000) / 1000}s` } }),
        quit: () => void this.stop(),
      },
      { port: options.adminPort ?? 15000, ...(options.adminHost ? { host: options.adminHost } : {}) },
    );
    // The pod's status ports (15021, 15090, 15020) answer on one address.
    const statusHost = options.healthHost ?? options.plan.inboundAddress ?? '127.0.0.1';
    if ((options.healthPort ?? 15021) >= 0) {
      // Ready once configured and every listener the config asks for is bound (a port still held elsewhere is not ready).
      this.health = new HealthServer(() => this.state === 'LIVE' && this.plane.listeners.failedBindings.size === 0, { host: statusHost, port: options.healthPort ?? 15021 });
    }
    if ((options.statsPort ?? 15090) >= 0) {
      this.stats = new StatsServer(() => this.telemetry.metrics.prometheus(), { host: statusHost, port: options.statsPort ?? 15090 });
    }
    if ((options.mergedMetricsPort ?? 15020) >= 0) {
      this.merged = new MergedMetricsServer(() => this.telemetry.metrics.prometheus(), options.appMetrics, {
        host: statusHost,
        port: options.mergedMetricsPort ?? 15020,
        ...(options.appProbes ? { appProbes: options.appProbes, appHost: options.plan.appAddress ?? '127.0.0.1' } : {}),
      });
    }
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  get serverState(): ServerState {
    return this.state;
  }

  async start(): Promise<void> {
    const a = await this.admin.listen();
    this.adminAddress = `${a.host}:${a.port}`;
    if (this.health) {
      const h = await this.health.listen();
      this.healthAddress = `${h.host}:${h.port}`;
    }
    if (this.stats) {
      const st = await this.stats.listen();
      this.statsAddress = `${st.host}:${st.port}`;
    }
    if (this.merged) {
      const m = await this.merged.listen();
      this.mergedMetricsAddress = `${m.host}:${m.port}`;
    }
    this.state = 'INITIALIZING';
    // The first certificate is fetched alongside the configuration; close() ends its retries.
    this.certificates?.start().then(
      () => this.log.info('workload certificate installed', { identity: this.certificates?.identity }),
      () => undefined,
    );
    // A root rotation is published in the roots file (Istio's istio-ca-root-cert); trust follows it.
    if (this.rootsFile !== undefined) watchFile(this.rootsFile, { interval: this.options.identity?.rootsPollMs ?? 5000, persistent: false }, this.onRootsChanged);
    this.xds.start();
  }

  /** The workload certificate and roots for the next xDS connection, once both are there. */
  private xdsCredentials(): XdsTlsCredentials | undefined {
    const cert = this.secrets.certificate(WORKLOAD_CERTIFICATE);
    const roots = this.secrets.validation(ROOT_BUNDLE);
    if (!cert || !roots) return undefined;
    return { ca: roots.trustedCa, cert: cert.certificateChain, key: cert.privateKey };
  }

  /** Serving needs the first configuration and, with an identity configured, its certificate and roots. */
  private maybeLive(): void {
    if (this.state !== 'INITIALIZING' || !this.configured) return;
    if (this.certificates && !this.secrets.has(WORKLOAD_CERTIFICATE, ROOT_BUNDLE)) return;
    this.state = 'LIVE';
    this.log.info('configuration received; serving', { listeners: this.plane.listeners.bound });
  }

  /** Stops accepting, lets connections finish for the drain time, then closes everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'DRAINING';
      if (this.rootsFile !== undefined) unwatchFile(this.rootsFile, this.onRootsChanged);
      await this.certificates?.close();
      await this.xds.close();
      await this.applying;
      await this.plane.drain(this.options.drainMs ?? 5000);
      await this.health?.close();
      await this.stats?.close();
      await this.merged?.close();
      await this.admin.close();
      this.resolveStopped();
    })();
    return this.stopping;
  }

  private onSnapshot(snap: XdsConfigSnapshot): void {
    // Applied in order; a slow bind never lets an older snapshot win.
    this.applying = this.applying.then(async () => {
      if (this.state === 'DRAINING') return;
      // Secrets first: a listener that arrives with its credential serves it from its first connection.
      this.copySecrets(snap.secrets);
      try {
        const config = buildProxyConfig(snap, snap.version);
        await this.plane.apply(config);
        this.configured = true;
        this.maybeLive();
      } catch (e) {
        // validateResources already refused what does not compile; this is a bug, not bad input.
        const message = e instanceof ConfigError || e instanceof Error ? e.message : String(e);
        this.log.error('could not apply configuration; the previous one keeps serving', { error: message });
      }
    });
  }

  /**
   * Copies new and changed ADS secrets into the secret store (converted from Envoy's Secret); the
   * next TLS handshake that needs one builds its context afresh, connections already open keep
   * theirs. A secret that goes away keeps serving its last value, as Envoy keeps its last SDS
   * answer. The local agent's names are never taken from the control plane.
   */
  private copySecrets(secrets: ReadonlyMap<string, Record<string, unknown>>): void {
    for (const [name, decoded] of secrets) {
      if (name === WORKLOAD_CERTIFICATE || name === ROOT_BUNDLE || this.adsSecrets.get(name) === decoded) continue;
      try {
        this.secrets.set(name, secretOf(decoded));
        this.adsSecrets.set(name, decoded);
      } catch (e) {
        // validateResources NACKed what does not compile; this is a bug, not bad input.
        this.log.error('could not install a secret; the previous one keeps serving', { name, error: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  private statsText(): string {
    const lines = Object.entries(this.plane.counters).map(([k, v]) => `http.downstream.${k}: ${v}`);
    lines.push(`listener_manager.listener_create_failure: ${this.plane.listeners.createFailures}`);
    lines.push(`server.state: ${['LIVE', 'DRAINING', 'PRE_INITIALIZING', 'INITIALIZING'].indexOf(this.state)}`);
    return `${lines.sort().join('\n')}\n${this.plane.clusters.statsText()}`;
  }
}
