// Targets "node-http" and "node-tcp-pipe": Node reverse proxies with no Meltemi code, run through tsx the way bin/meltemi.js runs the CLI — what the runtime alone costs.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnPinned, waitForPort, type Proc } from '../processes.js';
import { REPO_ROOT } from '../system.js';
import { cpuList, startChain, type HopSpec, type Protocol, type Target } from '../target.js';

const BASELINES = fileURLToPath(new URL('../baselines/', import.meta.url));

/** Starts one hop: `node --import tsx baselines/<script>.ts PORT NEXT_PORT …` pinned to the hop's core. */
async function startNodeHop(script: string, h: HopSpec, extraArgs: string[]): Promise<Proc> {
  const proc = spawnPinned(`${script}-hop${h.index}`, process.execPath, ['--import', 'tsx', join(BASELINES, `${script}.ts`), String(h.port), String(h.nextPort), ...extraArgs], {
    cpus: cpuList(h.cpu),
    logFile: `${h.file}.log`,
    cwd: REPO_ROOT,
  });
  try {
    await waitForPort(h.port, proc, 30_000);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return proc;
}

export const nodeHttp: Target = {
  name: 'node-http',
  description: 'naive node:http reverse proxy (node:http2 server for h2c), http.request through a keep-alive Agent, HTTP/1.1 upstream; one process, node --import tsx',
  skipReason: () => undefined,
  start: (ctx) => startChain(ctx, 'node-http', () => 'http1', (h) => startNodeHop('node-http-proxy', h, [h.listen])),
};

export const nodeTcpPipe: Target = {
  name: 'node-tcp-pipe',
  description: 'raw node:net socket pipe, no HTTP parsing (so h2c passes through to the upstream h2c port); one connection upstream per client connection; node --import tsx',
  skipReason: () => undefined,
  start: (ctx) => startChain(ctx, 'node-tcp-pipe', (listen: Protocol) => listen, (h) => startNodeHop('node-tcp-pipe-proxy', h, [])),
};
