// The proxy's admin API (Envoy's on 127.0.0.1:15000: /config_dump, /clusters, /stats, /stats/prometheus, /ready, /server_info, /quitquitquit), the 15021 readiness probe, 15090 metrics and 15020 metrics merged with the app's.
import * as http from 'node:http';
import { isIP } from 'node:net';
import { MeshError } from '../../shared/errors.js';
import { PROMETHEUS_CONTENT_TYPE } from '../../shared/metrics.js';
import { runAppProbe, type AppProbe } from './app-probers.js';
import { envoyConfigDump, type TypeDump } from '../../xds/config-dump.js';
import type { ProxyConfig } from '../config/proxy-config.js';

/** Envoy's server states as /ready and /server_info report them. */
export type ServerState = 'PRE_INITIALIZING' | 'INITIALIZING' | 'LIVE' | 'DRAINING';

/** What the admin API reads; the proxy provides it. Every method is cheap and side-effect free except `quit`. */
export interface AdminSource {
  config(): ProxyConfig | undefined;
  state(): ServerState;
  /** Envoy's /clusters text: `cluster::host:port::field::value` lines. */
  clusters(): string;
  /** Envoy's /stats text: `name: value` lines. */
  stats(): string;
  /** Prometheus text (Istio's standard metrics and the proxy's own). */
  prometheus(): string;
  serverInfo(): Record<string, unknown>;
  /** Starts a graceful shutdown (drain, then exit). */
  quit(): void;
}

export interface AdminOptions {
  host?: string;
  /** 15000; 0 picks a free port (tests). */
  port?: number;
  /** Serve on a non-loopback address (the admin API exposes configuration and can stop the proxy). */
  allowRemote?: boolean;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache, max-age=0', 'x-content-type-options': 'nosniff' });
  res.end(body);
}

function typeDump(config: ProxyConfig, resources: ReadonlyMap<string, Record<string, unknown>>): TypeDump {
  const items = [...resources.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, resource]) => ({ name, resource }));
  return { version: String(config.version), items };
}

/** Envoy's config dump of the active configuration. */
export function proxyConfigDump(config: ProxyConfig | undefined): { configs: Record<string, unknown>[] } {
  if (!config) return envoyConfigDump({});
  const s = config.source;
  // Secrets fetched over ADS are shown with private keys redacted (envoyConfigDump), as Envoy does.
  return envoyConfigDump({ clusters: typeDump(config, s.clusters), endpoints: typeDump(config, s.endpoints), listeners: typeDump(config, s.listeners), routes: typeDump(config, s.routes), ...(s.secrets ? { secrets: typeDump(config, s.secrets) } : {}) });
}

/** An HTTP server listening on host:port with bounded header and request times, and its closing. */
class SmallServer {
  private server: http.Server | undefined;

  constructor(
    private readonly handler: http.RequestListener,
    private readonly limits: { maxHeaderSize: number; headersTimeoutMs: number; requestTimeoutMs: number },
  ) {}

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = http.createServer({ maxHeaderSize: this.limits.maxHeaderSize }, this.handler);
    server.headersTimeout = this.limits.headersTimeoutMs;
    server.requestTimeout = this.limits.requestTimeoutMs;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const a = server.address() as { address: string; port: number };
    return { host: a.address, port: a.port };
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/**
 * Envoy-compatible admin endpoints. Loopback only unless `allowRemote`; state-changing endpoints
 * (`/quitquitquit`) accept POST only, so a browser visiting a link cannot stop the proxy.
 */
export class AdminServer {
  private readonly server = new SmallServer((req, res) => this.handle(req, res), { maxHeaderSize: 16 * 1024, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 });

  constructor(
    private readonly source: AdminSource,
    private readonly options: AdminOptions = {},
  ) {}

  async listen(): Promise<{ host: string; port: number }> {
    const host = this.options.host ?? '127.0.0.1';
    if (!isLoopback(host) && !this.options.allowRemote) throw new MeshError('MESH_USAGE', `admin address ${host} is not loopback; the admin API exposes configuration and can stop the proxy`);
    return this.server.listen(host, this.options.port ?? 15000);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    const method = req.method ?? 'GET';
    try {
      switch (url.pathname) {
        case '/ready': {
          const state = this.source.state();
          return send(res, state === 'LIVE' ? 200 : 503, `${state}\n`);
        }
        case '/config_dump':
          return send(res, 200, `${JSON.stringify(proxyConfigDump(this.source.config()), null, 2)}\n`, 'application/json');
        case '/clusters':
          return send(res, 200, this.source.clusters());
        case '/stats':
          return send(res, 200, this.source.stats());
        case '/stats/prometheus':
          return send(res, 200, this.source.prometheus(), PROMETHEUS_CONTENT_TYPE);
        case '/server_info':
          return send(res, 200, `${JSON.stringify({ ...this.source.serverInfo(), state: this.source.state() }, null, 2)}\n`, 'application/json');
        case '/quitquitquit':
          if (method !== 'POST') return send(res, 405, 'this endpoint requires POST\n');
          send(res, 200, 'OK\n');
          this.source.quit();
          return;
        case '/':
          return send(res, 200, ['/clusters', '/config_dump', '/quitquitquit (POST)', '/ready', '/server_info', '/stats', '/stats/prometheus', ''].join('\n'));
        default:
          return send(res, 404, `no admin endpoint ${url.pathname}\n`);
      }
    } catch (e) {
      send(res, 500, `admin error: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
}

/**
 * Istio's readiness endpoint on 15021 (`/healthz/ready`): 200 once the proxy has its configuration
 * and listeners, 503 before and while draining. It reveals nothing else, so it may listen on the
 * pod address for the kubelet.
 */
export class HealthServer {
  private readonly server: SmallServer;

  constructor(
    ready: () => boolean,
    private readonly options: { host?: string; port?: number } = {},
  ) {
    this.server = new SmallServer(
      (req, res) => {
        if (new URL(req.url ?? '/', 'http://health').pathname !== '/healthz/ready') return send(res, 404, 'not found\n');
        const ok = ready();
        send(res, ok ? 200 : 503, ok ? '' : 'not ready\n');
      },
      { maxHeaderSize: 8 * 1024, headersTimeoutMs: 5_000, requestTimeoutMs: 10_000 },
    );
  }

  listen(): Promise<{ host: string; port: number }> {
    return this.server.listen(this.options.host ?? '0.0.0.0', this.options.port ?? 15021);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/**
 * Istio's 15090 `/stats/prometheus`: the proxy's metrics for Prometheus to scrape. It serves only
 * metrics, so it may listen on the pod address.
 */
export class StatsServer {
  private readonly server: SmallServer;

  constructor(
    prometheus: () => string,
    private readonly options: { host?: string; port?: number } = {},
  ) {
    this.server = new SmallServer(
      (req, res) => {
        if (new URL(req.url ?? '/', 'http://stats').pathname !== '/stats/prometheus') return send(res, 404, 'not found\n');
        send(res, 200, prometheus(), PROMETHEUS_CONTENT_TYPE);
      },
      { maxHeaderSize: 8 * 1024, headersTimeoutMs: 5_000, requestTimeoutMs: 30_000 },
    );
  }

  listen(): Promise<{ host: string; port: number }> {
    return this.server.listen(this.options.host ?? '0.0.0.0', this.options.port ?? 15090);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** Where the app publishes its Prometheus metrics (Istio: the pod's prometheus.io/port and /path annotations). */
export interface AppMetricsSource {
  /** An http:// URL on a loopback address: the agent never scrapes another host. */
  url: string;
  /** Give up on a scrape after this long (5 s). */
  timeoutMs?: number;
  /** Refuse an answer larger than this (16 MiB). */
  maxBytes?: number;
}

/** Checks an app metrics URL; throws MESH_INVALID_CONFIG naming the rule. */
export function appMetricsUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new MeshError('MESH_INVALID_CONFIG', `app metrics URL "${raw}" is not a URL (expected http://127.0.0.1:PORT/PATH)`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol !== 'http:' || !isLoopback(host)) throw new MeshError('MESH_INVALID_CONFIG', `app metrics URL "${raw}" must be http:// on a loopback address (the app's own metrics port)`);
  return url;
}

/** The kubelet sends one probe per container and kind at a time; more than this at once is not a kubelet. */
const MAX_APP_PROBES_IN_FLIGHT = 16;

/**
 * Istio's merged metrics on 15020 (pilot-agent's /stats/prometheus): the proxy's metrics, then the
 * app's, scraped over loopback at each request, so Prometheus needs one scrape per pod and the app's
 * port stays behind mutual TLS (MAISTRA-1621). A failing app scrape is counted and leaves the proxy's
 * metrics served. The same port answers the app's health probes that injection rewrote
 * (`/app-health/CONTAINER/readyz|livez|startupz`, INJ-06) by replaying them against the app.
 */
export class MergedMetricsServer {
  private readonly server: SmallServer;
  private probesInFlight = 0;
  private scrapes = 0;
  private failures = 0;
  private readonly app: { url: URL; timeoutMs: number; maxBytes: number } | undefined;

  constructor(
    private readonly proxyMetrics: () => string,
    app: AppMetricsSource | undefined,
    private readonly options: { host?: string; port?: number; appProbes?: ReadonlyMap<string, AppProbe>; appHost?: string } = {},
  ) {
    if (app) this.app = { url: appMetricsUrl(app.url), timeoutMs: app.timeoutMs ?? 5_000, maxBytes: app.maxBytes ?? 16 * 1024 * 1024 };
    this.server = new SmallServer(
      (req, res) => {
        const pathname = new URL(req.url ?? '/', 'http://agent').pathname;
        // The kubelet's probes, rewritten at injection (INJ-06): replayed against the app over loopback.
        const probe = pathname.startsWith('/app-health/') ? this.options.appProbes?.get(pathname) : undefined;
        if (probe) {
          // 15020 is reachable from outside the pod: a flood of probe requests must not become a flood on the app.
          if (this.probesInFlight >= MAX_APP_PROBES_IN_FLIGHT) return send(res, 503, 'too many probes in flight\n');
          this.probesInFlight++;
          void runAppProbe(probe, this.options.appHost ?? '127.0.0.1').then((status) => {
            this.probesInFlight--;
            send(res, status, '');
          });
          return;
        }
        if (pathname !== '/stats/prometheus') return send(res, 404, 'not found\n');
        this.merged().then(
          (body) => send(res, 200, body, PROMETHEUS_CONTENT_TYPE),
          () => send(res, 500, 'metrics unavailable\n'),
        );
      },
      { maxHeaderSize: 8 * 1024, headersTimeoutMs: 5_000, requestTimeoutMs: 30_000 },
    );
  }

  listen(): Promise<{ host: string; port: number }> {
    return this.server.listen(this.options.host ?? '0.0.0.0', this.options.port ?? 15020);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private async merged(): Promise<string> {
    const app = this.app ? await this.scrapeApp(this.app) : '';
    const agent =
      '# TYPE istio_agent_scrapes_total counter\n' +
      `istio_agent_scrapes_total{type="application"} ${this.scrapes}\n` +
      '# TYPE istio_agent_scrape_failures_total counter\n' +
      `istio_agent_scrape_failures_total{type="application"} ${this.failures}\n`;
    return `${this.proxyMetrics()}${agent}${app}`;
  }

  /** The app's exposition text, or '' when it cannot be had (counted as a failure). */
  private async scrapeApp(app: { url: URL; timeoutMs: number; maxBytes: number }): Promise<string> {
    this.scrapes++;
    try {
      const res = await fetch(app.url, { signal: AbortSignal.timeout(app.timeoutMs), headers: { accept: 'text/plain;version=0.0.4' }, redirect: 'error' });
      if (res.status !== 200 || !res.body) throw new Error(`status ${res.status}`);
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += chunk.byteLength;
        if (size > app.maxBytes) throw new Error('too large');
        chunks.push(chunk);
      }
      // OpenMetrics' terminator would end the merged text early for a strict parser.
      const text = Buffer.concat(chunks).toString('utf8').replace(/^# EOF\s*$/m, '');
      return text.endsWith('\n') || text === '' ? text : `${text}\n`;
    } catch {
      this.failures++;
      return '';
    }
  }
}
