// The running mesh's control socket: `meltemi apply|delete|get|down` talk to `meltemi up` over HTTP on a Unix socket in the run directory that only its owner (root) can open.
import { chmodSync, existsSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { join } from 'node:path';
import { parseManifests } from '../config/manifest.js';
import { MeshError } from '../shared/errors.js';
import type { LocalMesh } from './local-mesh.js';

/** The socket's name in the run directory. */
export const CONTROL_SOCKET = 'control.sock';
/** A request body larger than this is refused (manifests are small). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Serves the control API for one mesh:
 * - `GET /v1/status` → `{ ready, ingress, pods }`
 * - `GET /v1/pods` → the rows of `meltemi get pods`
 * - `GET /v1/resources?kind=K&namespace=NS` → stored objects of a kind
 * - `POST /v1/apply`, `POST /v1/delete` with manifests (YAML) as the body, `x-meltemi-source` naming their file → one line per object
 * - `POST /v1/shutdown` → stops the mesh (`onShutdown`)
 */
export class ControlServer {
  private readonly server: http.Server;
  readonly path: string;

  constructor(
    private readonly mesh: LocalMesh,
    runDir: string,
    private readonly onShutdown: () => void,
  ) {
    this.path = join(runDir, CONTROL_SOCKET);
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async listen(): Promise<void> {
    if (existsSync(this.path)) rmSync(this.path);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => resolve());
    });
    chmodSync(this.path, 0o600);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://meltemi');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method === 'GET' && url.pathname === '/v1/status') return send(200, { ready: this.mesh.ready, ingress: this.mesh.ingressUrl, pods: this.mesh.podRows().length, pid: process.pid });
      if (req.method === 'GET' && url.pathname === '/v1/pods') return send(200, this.mesh.podRows());
      if (req.method === 'GET' && url.pathname === '/v1/resources') {
        const kind = url.searchParams.get('kind') ?? '';
        const namespace = url.searchParams.get('namespace') ?? undefined;
        return send(200, this.mesh.store.list().filter((r) => r.kind.toLowerCase() === kind.toLowerCase() && (namespace === undefined || r.metadata.namespace === namespace)));
      }
      if (req.method === 'POST' && (url.pathname === '/v1/apply' || url.pathname === '/v1/delete')) {
        const text = await readBody(req);
        const source = String(req.headers['x-meltemi-source'] ?? '<stdin>');
        const parsed = parseManifests(text, source);
        if (parsed.problems.length > 0) return send(400, { error: parsed.problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n') });
        const lines = url.pathname === '/v1/apply' ? await this.mesh.apply(parsed.objects) : await this.mesh.delete(parsed.objects);
        return send(200, { lines });
      }
      if (req.method === 'POST' && url.pathname === '/v1/shutdown') {
        send(202, { stopping: true });
        this.onShutdown();
        return;
      }
      send(404, { error: `no ${req.method} ${url.pathname}` });
    } catch (e) {
      send(e instanceof MeshError && e.code !== 'MESH_INTERNAL' ? 400 : 500, { error: e instanceof Error ? e.message : String(e) });
    }
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.destroy();
        reject(new MeshError('MESH_INPUT_TOO_LARGE', `the request body is over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Calls the control API of the mesh whose run directory is `runDir`; a clear error when none runs there. */
export function controlRequest(runDir: string, method: 'GET' | 'POST', path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
  const socketPath = join(runDir, CONTROL_SOCKET);
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/yaml' } : {}) }, timeout: 300_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') reject(new MeshError('MESH_USAGE', `no mesh is running with run directory ${runDir} (start one with \`meltemi up DIR\`)`));
      else reject(e);
    });
    req.on('timeout', () => req.destroy(new Error('the mesh did not answer in time')));
    req.end(body);
  });
}
