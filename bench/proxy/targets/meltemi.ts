// Target "meltemi": `meltemi proxy` from the compiled build (dist/), configured over xDS by its own `meltemi discovery` per hop (the control plane is not measured).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnPinned, waitForPort, type Proc } from '../processes.js';
import { freePort, REPO_ROOT } from '../system.js';
import { PROXY_NODE_OPTIONS } from '../../../src/shared/node-flags.js';
import { cpuList, startChain, type Protocol, type Target } from '../target.js';

/** The compiled CLI: run without tsx, whose loader thread alone adds ~35 MiB to a process's RSS. */
export const BIN = join(REPO_ROOT, 'dist', 'bin', 'meltemi.js');

let built = false;
/** `npm run build` once per benchmark run, so the measured proxy is the checkout's code; throws with tsc's output when it fails. */
export function buildOnce(): void {
  if (built) return;
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`npm run build failed (exit ${r.status ?? r.signal}):\n${`${r.stdout}${r.stderr}`.trim().split('\n').slice(-15).join('\n')}`);
  built = true;
}

/** One service on the hop's port whose endpoint is the next hop (spoken to in `forward`); the authority is rewritten so the next hop's route matches. */
function hopConfig(port: number, nextPort: number, forward: Protocol): string {
  const portSpec = forward === 'http2' ? 'name: http2, protocol: HTTP2' : 'name: http, protocol: HTTP';
  const portName = forward === 'http2' ? 'http2' : 'http';
  return `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: next, namespace: bench }
spec:
  hosts: [next.bench.local]
  addresses: [127.0.0.1]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${port}, ${portSpec} }]
  endpoints: [{ address: 127.0.0.1, ports: { ${portName}: ${nextPort} } }]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: next, namespace: bench }
spec:
  hosts: [next.bench.local]
  http: [{ route: [{ destination: { host: next.bench.local } }], rewrite: { authority: "127.0.0.1:${nextPort}" } }]
`;
}

/** `meltemi proxy` hops that forward `forward` whatever the client speaks. */
function meltemiChain(name: string, description: string, forward: Protocol, compareTo?: readonly string[]): Target {
  return {
    name,
    description,
    ...(compareTo ? { compareTo } : {}),
    skipReason: () => undefined,
    start: (ctx) => {
      buildOnce();
      return startChain(ctx, name, () => forward, async (h) => {
        const dir = `${h.file}-config`;
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'mesh.yaml'), hopConfig(h.port, h.nextPort, forward));
        const xdsPort = await freePort();
        // The control plane runs unpinned and outside the measured pids: it is idle during the load.
        const discovery = spawnPinned(`meltemi-discovery-hop${h.index}`, process.execPath, [BIN, 'discovery', '--config-dir', dir, '--xds-addr', `127.0.0.1:${xdsPort}`, '--debug-addr', '127.0.0.1:0'], { cpus: undefined, logFile: `${h.file}-discovery.log`, cwd: REPO_ROOT });
        await waitForPort(xdsPort, discovery, 30_000);
        const proxy = spawnPinned(
          `meltemi-hop${h.index}`,
          process.execPath,
          [BIN, 'proxy', '--discovery', `127.0.0.1:${xdsPort}`, '--pod', `hop${h.index}`, '--namespace', 'bench', '--ip', '127.0.0.1', '--admin-port', '0', '--health-port', '0', '--stats-port', '0', '--merged-metrics-port', '0', '--drain-seconds', '0'],
          // The Node flags an injected sidecar runs with (the injector's NODE_OPTIONS).
          { cpus: cpuList(h.cpu), logFile: `${h.file}.log`, cwd: REPO_ROOT, env: { NODE_OPTIONS: PROXY_NODE_OPTIONS } },
        );
        try {
          await waitForPort(h.port, proxy, 30_000);
        } catch (e) {
          await proxy.stop();
          await discovery.stop();
          throw e;
        }
        // Stopping the hop stops its control plane too; only the proxy's pid is measured.
        const both: Proc = { ...proxy, name: proxy.name, pid: proxy.pid, logFile: proxy.logFile, extraPids: proxy.extraPids, exited: proxy.exited, hasExited: () => proxy.hasExited(), stop: async (g?: number) => { await proxy.stop(g); await discovery.stop(g); } };
        return both;
      });
    },
  };
}

// HTTP/2: the client speaks h2c to the first hop (every HTTP listener accepts it), hops forward HTTP/1.1 as the other proxies do.
export const meltemi: Target = meltemiChain('meltemi', 'meltemi proxy (sidecar, outbound listener on 127.0.0.1) configured by xDS from a meltemi discovery per hop; node dist/bin/meltemi.js (npm run build)', 'http1');

/** The same chain with every hop's service an HTTP2 port: the hops and the upstream are spoken to in HTTP/2 (h2c), as gRPC services are in a mesh. */
export const meltemiH2: Target = meltemiChain(
  'meltemi-h2',
  "meltemi as above, each hop forwarding HTTP/2 (the service ports are protocol HTTP2), the last hop to the upstream's h2c port; no peer row (nginx and HAProxy forward HTTP/1.1 in this bench)",
  'http2',
  ['meltemi'],
);
