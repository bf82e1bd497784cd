// The app's own health probes, replayed by the sidecar's status port for the kubelet (Istio's probe rewrite): `/app-health/CONTAINER/readyz` → the app's original httpGet over loopback.
import * as http from 'node:http';
import * as https from 'node:https';
import { MeshError } from '../../shared/errors.js';

/** One original probe: where on the app, and how long to wait. */
export interface AppProbe {
  path: string;
  port: number;
  scheme: 'HTTP' | 'HTTPS';
  headers: ReadonlyArray<readonly [string, string]>;
  timeoutMs: number;
}

const PROBE_PATH = /^\/app-health\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/(readyz|livez|startupz)$/;
/** The kubelet reads at most this much of a probe answer; the app's body is not passed on anyway. */
const MAX_TIMEOUT_MS = 60_000;

/** Whether `s` holds a control character (CR, LF, NUL… — never allowed in a request line or header). */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function invalid(rule: string): MeshError {
  return new MeshError('MESH_INVALID_CONFIG', `ISTIO_KUBE_APP_PROBERS: ${rule}`);
}

/**
 * Parses Istio's ISTIO_KUBE_APP_PROBERS (JSON: `{"/app-health/c/readyz": {"httpGet": {path, port,
 * scheme, httpHeaders}, "timeoutSeconds": 1}}`) as the injector writes it. Throws
 * MESH_INVALID_CONFIG naming the entry and the rule: a sidecar must not start with probes it
 * would answer wrongly.
 */
export function parseAppProbers(text: string): ReadonlyMap<string, AppProbe> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw invalid('not JSON');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('must be an object of probe paths');
  const out = new Map<string, AppProbe>();
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!PROBE_PATH.test(key)) throw invalid(`${JSON.stringify(key)} is not /app-health/CONTAINER/readyz|livez|startupz`);
    const v = value as { httpGet?: Record<string, unknown>; timeoutSeconds?: unknown } | null;
    const get = v?.httpGet;
    if (!get || typeof get !== 'object') throw invalid(`${key}: only httpGet probes are rewritten`);
    const port = get.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`${key}: httpGet.port must be a port number`);
    const path = get.path === undefined ? '/' : get.path;
    if (typeof path !== 'string' || !path.startsWith('/') || /\s/.test(path) || hasControl(path)) throw invalid(`${key}: httpGet.path must be an absolute path without spaces or controls`);
    const scheme = get.scheme === undefined ? 'HTTP' : get.scheme;
    if (scheme !== 'HTTP' && scheme !== 'HTTPS') throw invalid(`${key}: httpGet.scheme must be HTTP or HTTPS`);
    const headers: Array<readonly [string, string]> = [];
    for (const h of Array.isArray(get.httpHeaders) ? get.httpHeaders : []) {
      const { name, value: hv } = (h ?? {}) as { name?: unknown; value?: unknown };
      if (typeof name !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || typeof hv !== 'string' || hasControl(hv)) throw invalid(`${key}: httpGet.httpHeaders entries must be valid header names and values`);
      headers.push([name, hv]);
    }
    const seconds = v?.timeoutSeconds === undefined ? 1 : v.timeoutSeconds;
    if (typeof seconds !== 'number' || !(seconds > 0)) throw invalid(`${key}: timeoutSeconds must be positive`);
    out.set(key, { path, port, scheme, headers, timeoutMs: Math.min(seconds * 1000, MAX_TIMEOUT_MS) });
  }
  return out;
}

/**
 * Runs one app probe against `host` (the app's loopback address) and resolves with the status to
 * give the kubelet: the app's own status code, or 500 when the app cannot be reached in time, as
 * Istio's agent answers. HTTPS probes do not verify the app's certificate (the kubelet does not either).
 */
export function runAppProbe(probe: AppProbe, host: string): Promise<number> {
  return new Promise((resolve) => {
    const options = { host, port: probe.port, path: probe.path, method: 'GET', timeout: probe.timeoutMs, agent: false as const, headers: { 'user-agent': 'kube-probe/meltemi', ...Object.fromEntries(probe.headers) } };
    const done = (status: number) => {
      clearTimeout(deadline);
      resolve(status);
    };
    const req = probe.scheme === 'HTTPS' ? https.request({ ...options, rejectUnauthorized: false }) : http.request(options);
    // The socket timeout covers idleness; this bounds the whole exchange.
    const deadline = setTimeout(() => req.destroy(new Error('timeout')), probe.timeoutMs);
    req.on('response', (res) => {
      res.resume();
      done(res.statusCode ?? 500);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => done(500));
    req.end();
  });
}
