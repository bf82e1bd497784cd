// `meltemi up|down|apply|delete|get`: run a whole mesh locally from a folder of manifests, and act on the running one through its control socket.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { MeshError } from '../../shared/errors.js';
import { controlRequest } from '../../runtime/control-server.js';
import type { PodRow } from '../../runtime/local-mesh.js';
import { ExitCode, type CliIO } from '../io.js';
import { formatTable } from '../table.js';

export interface UpOptions {
  ingressPort: string;
  runDir: string;
  mode?: 'netns' | 'loopback';
  detach?: boolean;
  /** How long to wait for every pod to be ready before giving up (seconds). */
  timeout: string;
  /** Resolves when the process should stop; defaults to SIGINT/SIGTERM. */
  stopSignal?: Promise<void>;
}

function port(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new MeshError('MESH_USAGE', `${flag} must be a port number, got "${v}"`);
  return n;
}

function seconds(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new MeshError('MESH_USAGE', `${flag} takes a number of seconds, got "${v}"`);
  return n;
}

/** `meltemi up DIR`: starts the mesh and serves until SIGINT/SIGTERM or `meltemi down`; with `-d`, in the background. */
export async function runUp(dirs: string[], o: UpOptions, io: CliIO): Promise<number> {
  const ingressPort = port(o.ingressPort, '--ingress-port');
  const timeoutMs = seconds(o.timeout, '--timeout') * 1000;
  const runDir = resolve(o.runDir);
  const paths = dirs.length > 0 ? dirs.map((d) => resolve(d)) : [resolve('.')];
  if (o.detach) return detach(paths, o, runDir, timeoutMs, io);
  const { startLocalMesh } = await import('../../runtime/launch.js');
  const started = Date.now();
  const mesh = await startLocalMesh({ paths, runDir, ingressPort, ...(o.mode ? { mode: o.mode } : {}), log: (line) => io.err(`${line}\n`) });
  io.out(`meltemi: mesh "${paths.join(', ')}" in ${mesh.mode} mode, run directory ${runDir}\n`);
  io.out(`meltemi: ingress gateway on ${mesh.ingressUrl} (e.g. ${mesh.ingressUrl}/productpage)\n`);
  let stop = false;
  // Every signal after the first is absorbed while the mesh stops (a terminal's Ctrl-C and
  // `timeout` may deliver more than one), so a second one cannot kill it halfway and leave
  // namespaces behind.
  const stopped =
    o.stopSignal ??
    new Promise<void>((done) => {
      const onSignal = () => done();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
  const shutdown = new Promise<void>((done) => mesh.onShutdown(done));
  void Promise.race([stopped, shutdown]).then(() => (stop = true));
  while (!stop && !mesh.ready && Date.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, 100));
  if (mesh.ready) io.out(`meltemi: ready in ${((Date.now() - started) / 1000).toFixed(1)} s — ${mesh.podCount} pods; \`meltemi get pods\` lists them, Ctrl-C or \`meltemi down\` stops the mesh\n`);
  else if (!stop) io.err(`meltemi: not every pod is ready after ${timeoutMs / 1000} s; \`meltemi get pods\` shows which (logs in ${join(runDir, 'pods')})\n`);
  await Promise.race([stopped, shutdown]);
  io.out('meltemi: stopping\n');
  await mesh.stop();
  io.out('meltemi: stopped\n');
  return ExitCode.OK;
}

/** Starts `meltemi up` as a background process (its output in RUN_DIR/up.log) and returns once the mesh is ready. */
async function detach(paths: string[], o: UpOptions, runDir: string, timeoutMs: number, io: CliIO): Promise<number> {
  mkdirSync(runDir, { recursive: true, mode: 0o755 });
  const logFile = join(runDir, 'up.log');
  const out = openSync(logFile, 'a');
  const bin = resolve(import.meta.dirname, '..', '..', '..', 'bin', 'meltemi.js');
  const args = [bin, 'up', ...paths, '--ingress-port', o.ingressPort, '--run-dir', runDir, '--timeout', o.timeout, ...(o.mode ? ['--mode', o.mode] : [])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out], env: process.env });
  closeSync(out);
  child.unref();
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (child.exitCode !== null) throw new MeshError('MESH_USAGE', `the mesh exited while starting (exit ${child.exitCode}); see ${logFile}:\n${tail(logFile)}`);
    try {
      const r = await controlRequest(runDir, 'GET', '/v1/status');
      const status = r.json as { ready: boolean; ingress: string; pid: number };
      if (status.ready) {
        io.out(`meltemi: mesh running in the background (pid ${status.pid}), ingress gateway on ${status.ingress}; logs in ${logFile}; \`meltemi down\` stops it\n`);
        return ExitCode.OK;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  io.err(`meltemi: the mesh is not ready after ${timeoutMs / 1000} s; it keeps starting in the background (pid ${child.pid}); see ${logFile}\n`);
  return ExitCode.INVALID;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

/** `meltemi down`: stops the mesh running with this run directory and waits until it is gone. */
export async function runDown(o: { runDir: string }, io: CliIO): Promise<number> {
  const runDir = resolve(o.runDir);
  const status = (await controlRequest(runDir, 'GET', '/v1/status')).json as { pid: number };
  await controlRequest(runDir, 'POST', '/v1/shutdown');
  const started = Date.now();
  while (Date.now() - started < 60_000) {
    try {
      process.kill(status.pid, 0);
    } catch {
      io.out(`meltemi: mesh stopped (pid ${status.pid})\n`);
      return ExitCode.OK;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  io.err(`meltemi: the mesh (pid ${status.pid}) is still stopping after 60 s\n`);
  return ExitCode.INVALID;
}

/** `meltemi apply -f` / `meltemi delete -f`: sends manifests to the running mesh; prints one line per object. */
export async function runApplyOrDelete(verb: 'apply' | 'delete', files: string[], o: { runDir: string }, io: CliIO): Promise<number> {
  const runDir = resolve(o.runDir);
  let failed = false;
  for (const f of files) {
    const text = f === '-' ? await readStdin() : await readFile(f, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new MeshError('MESH_USAGE', `${f}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    });
    const r = await controlRequest(runDir, 'POST', `/v1/${verb}`, text, { 'x-meltemi-source': f === '-' ? '<stdin>' : resolve(f) });
    const body = r.json as { lines?: string[]; error?: string };
    if (r.status !== 200) {
      io.err(`${body.error ?? `error ${r.status}`}\n`);
      failed = true;
      continue;
    }
    for (const l of body.lines ?? []) io.out(`${l}\n`);
  }
  return failed ? ExitCode.INVALID : ExitCode.OK;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `meltemi get KIND [-n NS] [-o yaml|json|wide]`: pods from the runtime, every other kind from the mesh's store. */
export async function runGet(kind: string, o: { runDir: string; namespace?: string; allNamespaces?: boolean; output?: string }, io: CliIO): Promise<number> {
  const runDir = resolve(o.runDir);
  if (!existsSync(runDir)) throw new MeshError('MESH_USAGE', `no mesh is running with run directory ${runDir} (start one with \`meltemi up DIR\`)`);
  const namespace = o.allNamespaces ? undefined : (o.namespace ?? 'default');
  const k = kind.toLowerCase();
  if (k === 'pods' || k === 'pod' || k === 'po') {
    const rows = ((await controlRequest(runDir, 'GET', '/v1/pods')).json as PodRow[]).filter((r) => namespace === undefined || r.namespace === namespace);
    if (o.output === 'json') {
      io.out(`${JSON.stringify(rows, null, 2)}\n`);
      return ExitCode.OK;
    }
    const wide = o.output === 'wide';
    const header = [...(namespace === undefined ? ['NAMESPACE'] : []), 'NAME', 'READY', 'STATUS', 'RESTARTS', 'IP', 'SIDECAR', ...(wide ? ['PORTS', 'REASON'] : [])];
    const table = rows.map((r) => [...(namespace === undefined ? [r.namespace] : []), r.name, r.ready, r.status, String(r.restarts), r.ip, r.sidecar ? 'yes' : 'no', ...(wide ? [r.ports, r.reason] : [])]);
    io.out(rows.length === 0 ? `No pods in ${namespace ?? 'any namespace'}.\n` : formatTable(header, table));
    return ExitCode.OK;
  }
  const singular = KIND_ALIASES[k] ?? kind.replace(/s$/i, '');
  const objects = ((await controlRequest(runDir, 'GET', `/v1/resources?kind=${encodeURIComponent(singular)}${namespace ? `&namespace=${encodeURIComponent(namespace)}` : ''}`)).json as { kind: string; metadata: { name: string; namespace?: string; creationTimestamp?: string } }[]);
  if (o.output === 'json') io.out(`${JSON.stringify(objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`);
  else if (o.output === 'yaml') io.out(stringify(objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects }));
  else if (objects.length === 0) io.out(`No resources found${namespace ? ` in ${namespace} namespace` : ''}.\n`);
  else io.out(formatTable([...(namespace === undefined ? ['NAMESPACE'] : []), 'NAME', 'CREATED'], objects.map((r) => [...(namespace === undefined ? [r.metadata.namespace ?? ''] : []), r.metadata.name, r.metadata.creationTimestamp ?? ''])));
  return ExitCode.OK;
}

/** kubectl's short names and plurals for the kinds a mesh holds. */
const KIND_ALIASES: Record<string, string> = {
  vs: 'VirtualService', virtualservices: 'VirtualService', virtualservice: 'VirtualService',
  dr: 'DestinationRule', destinationrules: 'DestinationRule', destinationrule: 'DestinationRule',
  gw: 'Gateway', gateways: 'Gateway', gateway: 'Gateway',
  se: 'ServiceEntry', serviceentries: 'ServiceEntry', serviceentry: 'ServiceEntry',
  svc: 'Service', services: 'Service', service: 'Service',
  deploy: 'Deployment', deployments: 'Deployment', deployment: 'Deployment',
  ns: 'Namespace', namespaces: 'Namespace', namespace: 'Namespace',
  sa: 'ServiceAccount', serviceaccounts: 'ServiceAccount', serviceaccount: 'ServiceAccount',
  pa: 'PeerAuthentication', peerauthentications: 'PeerAuthentication',
  ap: 'AuthorizationPolicy', authorizationpolicies: 'AuthorizationPolicy',
  ra: 'RequestAuthentication', requestauthentications: 'RequestAuthentication',
  we: 'WorkloadEntry', workloadentries: 'WorkloadEntry',
  sidecars: 'Sidecar', sidecar: 'Sidecar',
  cm: 'ConfigMap', configmaps: 'ConfigMap', configmap: 'ConfigMap',
};
