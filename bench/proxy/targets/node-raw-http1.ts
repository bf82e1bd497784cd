// Target "node-raw-http1": the raw-socket HTTP/1.1 forwarder on Meltemi's own codec (bench/proxy/raw-forwarder.ts) — what a Node proxy costs without node:http.
import { fileURLToPath } from 'node:url';
import { spawnPinned, waitForPort } from '../processes.js';
import { REPO_ROOT } from '../system.js';
import { cpuList, startChain, type Target } from '../target.js';

const FORWARDER = fileURLToPath(new URL('../raw-forwarder.ts', import.meta.url));

export const nodeRawHttp1: Target = {
  name: 'node-raw-http1',
  description: 'raw node:net HTTP/1.1 reverse proxy on src/proxy/http1 (strict parse, head re-serialized, bodies forwarded as framed), upstream keep-alive pool; one process, node --import tsx',
  skipReason: (ctx) => (ctx.protocol === 'http1' ? undefined : 'HTTP/1.1 only (no h2c listener)'),
  start: (ctx) =>
    startChain(ctx, 'node-raw-http1', () => 'http1', async (h) => {
      const proc = spawnPinned(`node-raw-http1-hop${h.index}`, process.execPath, ['--import', 'tsx', FORWARDER, String(h.port), String(h.nextPort)], {
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
    }),
};
