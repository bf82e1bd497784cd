// The control plane's debug and metrics HTTP endpoints (Istio's /debug/* and /metrics), loopback-only by default.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Resource } from '../api/kind.js';
import type { PushContext } from '../model/push-context.js';
import type { RegistrySnapshot } from '../registry/types.js';
import { MeshError } from '../shared/errors.js';
import { PROMETHEUS_CONTENT_TYPE, type MetricsRegistry } from '../shared/metrics.js';

/** Where the debug server reads from; every provider is optional and called per request. */
export interface DebugProviders {
  /** /debug/syncz: one entry per connected proxy (AdsServer.syncz). */
  syncz?: () => unknown[];
  /** /debug/config_dump: the proxy's config in Envoy's shape, undefined when not connected (AdsServer.configDump). */
  configDump?: (proxyId: string) => unknown;
  /** /debug/registryz: the registry snapshot. */
  registry?: () => RegistrySnapshot | undefined;
  /** /debug/configz: every config object in the store. */
  configs?: () => readonly Resource[];
  /** /debug/push_status: the PushContext being served. */
  push?: () => PushContext | undefined;
  /** /metrics. */
  metrics?: MetricsRegistry;
}

export interface DebugServerOptions {
  /** Address to bind; default 127.0.0.1 (Istio's 15014 is the monitoring port). */
  host?: string;
  /** Port; default 15014, 0 picks one. */
  port?: number;
  /**
   * Binding anything but loopback exposes proxy configuration (and, through configz, every
   * config object) to the network; it must be asked for explicitly.
   */
  allowRemote?: boolean;
}

const ENDPOINTS: Record<string, string> = {
  '/debug/syncz': 'xDS sync status of every connected proxy: sent and acknowledged versions and nonces, last NACK.',
  '/debug/config_dump?proxyID=ID': 'Envoy-shaped config dump of what was last generated for one proxy (node id or POD.NAMESPACE).',
  '/debug/registryz': 'Services and their endpoints, as the registry sees them.',
  '/debug/configz': 'Every configuration object in the config store.',
  '/debug/push_status': 'Version and messages of the PushContext being served.',
  '/metrics': 'Prometheus metrics (pilot_xds, pilot_xds_pushes, pilot_proxy_convergence_time, ...).',
};

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function registryJson(snap: RegistrySnapshot): unknown {
  return {
    version: snap.version,
    services: snap.services.map((s) => ({
      ...s,
      endpoints: Object.fromEntries(s.ports.map((p) => [String(p.port), snap.endpoints(s.hostname, p.port, s.namespace)])),
    })),
  };
}

/** Kubernetes Secrets keep their keys but not their values: a debug page is no place for key material. */
function redactSecret(r: Resource): Resource {
  if (r.kind !== 'Secret' || r.apiVersion !== 'v1') return r;
  const hide = (m: unknown) => (m && typeof m === 'object' ? Object.fromEntries(Object.keys(m).map((k) => [k, '[redacted]'])) : m);
  return { ...r, ...(r.data !== undefined ? { data: hide(r.data) } : {}), ...(r.stringData !== undefined ? { stringData: hide(r.stringData) } : {}) };
}

/**
 * The debug HTTP server. It holds no state of its own: each request calls the providers, so it
 * can start before the ADS server or registry exist and always shows the current view.
 */
export class DebugServer {
  private server: Server | undefined;

  constructor(
    private readonly providers: DebugProviders,
    private readonly options: DebugServerOptions = {},
  ) {}

  /** Binds and listens; returns the bound address. Refuses a non-loopback host unless `allowRemote`. */
  async listen(): Promise<{ host: string; port: number }> {
    const host = this.options.host ?? '127.0.0.1';
    if (!isLoopback(host) && !this.options.allowRemote) {
      throw new MeshError('MESH_USAGE', `debug server address ${host} is not loopback; set allowRemote to expose proxy configuration beyond this machine`);
    }
    const server = createServer((req, res) => this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 15014, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address();
    return { host, port: typeof addr === 'object' && addr ? addr.port : 0 };
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Request handler, exposed for embedding in another HTTP server. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://debug');
    const p = this.providers;
    try {
      switch (url.pathname) {
        case '/debug':
        case '/debug/':
          return json(res, 200, ENDPOINTS);
        case '/debug/syncz':
          return json(res, 200, p.syncz?.() ?? []);
        case '/debug/config_dump': {
          const id = url.searchParams.get('proxyID');
          if (!id) return json(res, 400, { error: 'proxyID query parameter is required (node id or POD.NAMESPACE)' });
          const dump = p.configDump?.(id);
          if (dump === undefined) return json(res, 404, { error: `proxy ${id} is not connected` });
          return json(res, 200, dump);
        }
        case '/debug/registryz': {
          const snap = p.registry?.();
          return json(res, 200, snap ? registryJson(snap) : { version: 0, services: [] });
        }
        case '/debug/configz':
          return json(res, 200, (p.configs?.() ?? []).map(redactSecret));
        case '/debug/push_status': {
          const push = p.push?.();
          return json(res, 200, push ? { version: push.version, messages: push.messages } : { version: '', messages: [] });
        }
        case '/metrics': {
          const text = p.metrics?.render() ?? '';
          res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
          res.end(text);
          return;
        }
        default:
          return json(res, 404, { error: `no such endpoint ${url.pathname}`, endpoints: Object.keys(ENDPOINTS) });
      }
    } catch (e) {
      json(res, 500, { error: e instanceof Error ? e.message : String(e) });
    }
  }
}
