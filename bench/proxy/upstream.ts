// The upstream every target forwards to: nginx returning a fixed 1 KiB body (HTTP/1.1 and h2c), on the load generator's cores; a Node server when nginx is not installed.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNginx, upstreamConf } from './nginx.js';
import { spawnPinned, waitForPort, type Proc } from './processes.js';
import { freePort, REPO_ROOT, type ToolStatus } from './system.js';
import type { UpstreamPorts } from './target.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

export interface Upstream extends UpstreamPorts {
  kind: 'nginx' | 'node';
  description: string;
  pids: number[];
  stop(): Promise<void>;
}

/**
 * Starts the upstream pinned to `cpus` (the load side, never the proxy's core). nginx's `return 200`
 * costs a few µs of CPU per request, well below any proxy's, so the proxy's core saturates first; a
 * Node server costs more and is only the fallback, recorded as such.
 */
export async function startUpstream(workDir: string, cpus: string | undefined, nginx: ToolStatus): Promise<Upstream> {
  const http1Port = await freePort();
  const h2cPort = await freePort();
  let proc: Proc;
  let kind: Upstream['kind'];
  if (nginx.path) {
    const prefix = join(workDir, 'upstream');
    const cpu = cpus !== undefined && /^\d+$/.test(cpus) ? Number(cpus) : undefined;
    proc = await startNginx('upstream', prefix, upstreamConf(prefix, cpu, http1Port, h2cPort), cpus, http1Port);
    kind = 'nginx';
  } else {
    proc = spawnPinned('upstream', process.execPath, ['--import', 'tsx', join(HERE, 'baselines', 'upstream-server.ts'), String(http1Port), String(h2cPort)], { cpus, logFile: join(workDir, 'upstream.log'), cwd: REPO_ROOT });
    await waitForPort(http1Port, proc, 20_000);
    kind = 'node';
  }
  await waitForPort(h2cPort, proc, 10_000);
  return {
    kind,
    description:
      kind === 'nginx'
        ? `${nginx.version ?? 'nginx'}, 1 worker, \`return 200\` of a 1024-byte body, keep-alive unlimited, on CPU ${cpus ?? 'any'}`
        : `Node http + http2 (h2c) server returning a 1024-byte body, on CPU ${cpus ?? 'any'} (nginx not installed)`,
    http1Port,
    h2cPort,
    pids: [proc.pid, ...proc.extraPids],
    stop: () => proc.stop(),
  };
}
