// The data plane of one proxy: the active ProxyConfig, its clusters and connection pools, and the listeners that feed connections to HTTP or TCP handling.
import type * as net from 'node:net';
import type { ClusterConfig } from './config/clusters.js';
import type { HttpConnectionManagerConfig } from './config/listeners.js';
import type { ProxyConfig } from './config/proxy-config.js';
import type { RouteTable } from './config/route-table.js';
import { DEFAULT_HTTP1_LIMITS, type Http1Limits } from './http1/index.js';
import { DEFAULT_DOWNSTREAM_OPTIONS, DownstreamConnection } from './http/downstream.js';
import type { ExchangeContext, ExchangeRecord, MetadataExchange } from './http/exchange.js';
import { DEFAULT_HTTP2_DOWNSTREAM_OPTIONS, Http2Downstream, type Http2DownstreamOptions } from './http/http2-downstream.js';
import { PoolRegistry } from './http/pool-registry.js';
import { ListenerManager, type BindPlan, type Dispatch } from './listener-manager.js';
import { proxyTcp, type TcpRecord } from './network/tcp-proxy.js';
import { SecretStore } from './security/secret-store.js';
import { PLAINTEXT, TlsTransport, type DownstreamSecurity } from './security/tls-transport.js';
import { ClusterManager } from './upstream/cluster-manager.js';
import type { Host } from './upstream/host.js';

export interface DataPlaneOptions {
  plan: BindPlan;
  limits?: Http1Limits;
  headersTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** HTTP/2 stream limits and the premature-reset guard (Envoy's hardened defaults). */
  http2?: Partial<Http2DownstreamOptions>;
  now?: () => number;
  random?: () => number;
  logger?: { warn(msg: string, fields?: object): void; info?(msg: string, fields?: object): void };
  /** Called for every finished HTTP exchange (metrics, access log). */
  onHttp?: (record: ExchangeRecord, d: Dispatch) => void;
  /** Called for every finished TCP connection. */
  onTcp?: (record: TcpRecord, d: Dispatch) => void;
  onTcpOpen?: (cluster: string, host: Host, d: Dispatch) => void;
  /** This proxy's x-envoy-peer-metadata headers (Istio's metadata exchange); none: no exchange. */
  peerHeaders?: ReadonlyArray<readonly [string, string]>;
  /** Where TLS certificates and roots come from (SDS names); none: an empty store, so TLS chains and clusters refuse until one is given. */
  secrets?: SecretStore;
  /** A TLS handshake not finished in this long is abandoned (default 10 s). */
  tlsHandshakeTimeoutMs?: number;
}

const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Istio's inbound endpoint: the app, beside the sidecar. */
const LOOPBACK = '127.0.0.1';

/**
 * Applies configs and serves traffic. A connection reads the config current when it is accepted;
 * an HTTP request reads the route table current when its head arrives; neither sees a half-applied
 * update, because a ProxyConfig is frozen and swapped whole.
 */
export class DataPlane {
  readonly clusters: ClusterManager;
  readonly listeners: ListenerManager;
  readonly tls: TlsTransport;
  private readonly pools: PoolRegistry;
  private readonly http2: Http2Downstream;
  private readonly limits: Http1Limits;
  private readonly now: () => number;
  private readonly random: () => number;
  private current: ProxyConfig | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Requests and connections served (admin /stats). */
  readonly counters = { downstream_cx_total: 0, downstream_rq_total: 0, downstream_rq_2xx: 0, downstream_rq_3xx: 0, downstream_rq_4xx: 0, downstream_rq_5xx: 0, downstream_cx_rbac_denied: 0 };

  constructor(private readonly options: DataPlaneOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.limits = options.limits ?? DEFAULT_HTTP1_LIMITS;
    const h2 = { ...DEFAULT_HTTP2_DOWNSTREAM_OPTIONS, ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}), ...options.http2 };
    this.http2 = new Http2Downstream(h2);
    this.tls = new TlsTransport(options.secrets ?? new SecretStore(), {
      handshakeTimeoutMs: options.tlsHandshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.pools = new PoolRegistry(this.limits, { maxHeaderListBytes: h2.maxHeaderListBytes }, this.tls);
    // Hosts that leave a cluster lose their pools' idle connections at once, not after the idle timeout.
    const onHostsRemoved = (hosts: readonly Host[]) => this.pools.retire(hosts);
    this.clusters = new ClusterManager({ now: this.now, random: this.random, onHostsRemoved, ...(options.logger ? { logger: options.logger } : {}) });
    this.listeners = new ListenerManager(options.plan, (socket, d) => this.onConnection(socket, d), options.logger);
  }

  get config(): ProxyConfig | undefined {
    return this.current;
  }

  /** Swaps in a new config: clusters first (so new routes find their clusters), then listeners. */
  async apply(received: ProxyConfig): Promise<void> {
    const config = this.localize(received);
    this.current = config;
    this.clusters.apply(config);
    await this.listeners.apply(config);
  }

  /** Inbound clusters as rewritten for `plan.appAddress`, by the cluster they came from (so an unchanged cluster stays the same object). */
  private readonly localized = new WeakMap<ClusterConfig, ClusterConfig>();

  /**
   * The config with the plan's local facts applied: with an app address, inbound clusters that
   * reach the app on 127.0.0.1 (Istio's inbound endpoint) reach it there instead.
   */
  private localize(config: ProxyConfig): ProxyConfig {
    const app = this.options.plan.appAddress;
    if (!app) return config;
    let changed = false;
    const clusters = new Map<string, ClusterConfig>();
    for (const [name, c] of config.clusters) {
      if (!name.startsWith('inbound|') || !c.inlineEndpoints?.some((e) => e.address === LOOPBACK)) {
        clusters.set(name, c);
        continue;
      }
      let local = this.localized.get(c);
      if (!local) {
        local = Object.freeze({ ...c, inlineEndpoints: c.inlineEndpoints.map((e) => (e.address === LOOPBACK ? { ...e, address: app } : e)) });
        this.localized.set(c, local);
      }
      clusters.set(name, local);
      changed = true;
    }
    return changed ? Object.freeze({ ...config, clusters }) : config;
  }

  /** Stops accepting; after `graceMs` closes what is left. Resolves when every connection is gone. */
  async drain(graceMs: number): Promise<void> {
    await this.listeners.close();
    this.http2.close();
    if (this.sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const s of this.sockets) s.destroy();
          resolve();
        }, graceMs);
        const check = setInterval(() => {
          if (this.sockets.size === 0) {
            clearTimeout(timer);
            clearInterval(check);
            resolve();
          }
        }, 50);
      });
    }
    this.pools.close();
    this.clusters.close();
  }

  private onConnection(socket: net.Socket, d: Dispatch): void {
    this.counters.downstream_cx_total++;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const tls = d.chain.tls;
    if (tls) this.tls.accept(socket, tls, d, (secure, security) => this.serve(secure, d, security));
    else this.serve(socket, d, PLAINTEXT);
  }

  /** Runs the chain's network filter on a connection (plaintext, or TLS already terminated). */
  private serve(socket: net.Socket, d: Dispatch, security: DownstreamSecurity): void {
    // Network RBAC decides once, before the first byte is proxied (Envoy's ONE_TIME_ON_FIRST_BYTE).
    for (const rbac of d.chain.rbac) {
      const verdict = rbac({ security, remoteAddress: socket.remoteAddress ?? '', localAddress: d.destination.address, localPort: d.destination.port, ...(d.serverName !== undefined ? { serverName: d.serverName } : {}) });
      if (!verdict.allowed) {
        this.counters.downstream_cx_rbac_denied++;
        socket.destroy();
        return;
      }
    }
    const network = d.chain.network;
    if (network.kind === 'tcp') {
      proxyTcp(socket, network, {
        clusters: this.clusters,
        transport: this.tls,
        security,
        random: this.random,
        now: this.now,
        ...(d.captured ? { originalDestination: d.destination } : {}),
        onOpen: (cluster, host) => this.options.onTcpOpen?.(cluster, host, d),
        onComplete: (r) => this.options.onTcp?.(r, d),
      });
      return;
    }
    const hcm = network;
    new DownstreamConnection(socket, () => this.exchangeContext(hcm, d), {
      limits: this.limits,
      headersTimeoutMs: this.options.headersTimeoutMs ?? DEFAULT_DOWNSTREAM_OPTIONS.headersTimeoutMs,
      idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_DOWNSTREAM_OPTIONS.idleTimeoutMs,
      http2: this.http2,
    }, security, d);
  }

  routesOf(hcm: HttpConnectionManagerConfig): RouteTable | undefined {
    if (hcm.routes) return hcm.routes;
    return hcm.rdsName !== undefined ? this.current?.routes.get(hcm.rdsName) : undefined;
  }

  /**
   * Optimization: one context per (filter chain, listener) and config, not per request; its
   * `routes` getter reads the route table current when a request starts.
   */
  private readonly contexts = new WeakMap<HttpConnectionManagerConfig, WeakMap<Dispatch['listener'], ExchangeContext>>();

  private exchangeContext(hcm: HttpConnectionManagerConfig, d: Dispatch): ExchangeContext {
    let byListener = this.contexts.get(hcm);
    if (!byListener) this.contexts.set(hcm, (byListener = new WeakMap()));
    let ctx = byListener.get(d.listener);
    if (!ctx) byListener.set(d.listener, (ctx = this.newExchangeContext(hcm, d)));
    return ctx;
  }

  private newExchangeContext(hcm: HttpConnectionManagerConfig, d: Dispatch): ExchangeContext {
    const peer = this.options.peerHeaders;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getter below needs the plane, not the context
    const plane = this;
    const metadataExchange: MetadataExchange | undefined = peer ? { headers: peer, peerFrom: d.listener.direction === 'INBOUND' ? 'request' : 'response' } : undefined;
    return {
      ...(metadataExchange ? { metadataExchange } : {}),
      hcm,
      get routes() {
        return plane.routesOf(hcm);
      },
      clusters: this.clusters,
      pools: this.pools,
      scheme: 'http',
      now: this.now,
      random: this.random,
      onComplete: (r) => {
        this.counters.downstream_rq_total++;
        const c = Math.floor(r.responseCode / 100);
        if (c === 2) this.counters.downstream_rq_2xx++;
        else if (c === 3) this.counters.downstream_rq_3xx++;
        else if (c === 4) this.counters.downstream_rq_4xx++;
        else if (c === 5) this.counters.downstream_rq_5xx++;
        this.options.onHttp?.(r, d);
      },
    };
  }
}
