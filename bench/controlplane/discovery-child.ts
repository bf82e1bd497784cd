// The measured process: the synthetic mesh in a MemoryStore served by Discovery, changed on command, reporting its CPU, memory and push timings.
import { readFileSync } from 'node:fs';
import type { Resource } from '../../src/api/kind.js';
import { MemoryStore } from '../../src/config/memory-store.js';
import { Discovery } from '../../src/xds/discovery.js';
import type { PushRequest } from '../../src/xds/types.js';
import { monoMs, procMemory, type ChangeReply, type DiscoveryCommand, type DiscoveryReady, type PushRecord, type Usage } from './ipc.js';
import { meshResources, meshShape, podResource, services, sharedService, SHARED_NAMESPACE, virtualService } from './mesh.js';

interface Args {
  services: number;
  isolation: 'none' | 'namespace';
  debounceAfterMs?: number;
}

function parseArgs(argv: string[]): Args {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const isolation = get('--isolation') ?? 'none';
  if (isolation !== 'none' && isolation !== 'namespace') throw new Error('--isolation is none or namespace');
  const debounce = get('--debounce-after-ms');
  return { services: Number(get('--services') ?? 1000), isolation, ...(debounce !== undefined ? { debounceAfterMs: Number(debounce) } : {}) };
}

/**
 * Istio's namespace isolation, as its load tests run it: one mesh-wide default Sidecar in the root
 * namespace; `.` is each proxy's own namespace, so sidecars see their namespace and istio-system.
 */
function isolation(): Resource {
  return { apiVersion: 'networking.istio.io/v1beta1', kind: 'Sidecar', metadata: { name: 'default', namespace: SHARED_NAMESPACE }, spec: { egress: [{ hosts: ['./*', `${SHARED_NAMESPACE}/*`] }] } };
}

const quiet = { info: () => undefined, warn: () => undefined, error: (m: string, f?: Record<string, unknown>) => process.stderr.write(`discovery error: ${m} ${JSON.stringify(f ?? {})}\n`) };

async function main(): Promise<void> {
  if (!process.send) throw new Error('discovery-child.ts runs as a child of bench/controlplane/run.ts (it needs an IPC channel)');
  const args = parseArgs(process.argv.slice(2));
  const shape = meshShape(args.services);
  const started = monoMs();
  const store = new MemoryStore();
  const resources = [...meshResources(shape), ...(args.isolation === 'namespace' ? [isolation()] : [])];
  for (const r of resources) store.apply(r);

  const discovery = new Discovery({
    store,
    xdsHost: '127.0.0.1',
    xdsPort: 0,
    debugHost: '127.0.0.1',
    debugPort: 0,
    logger: quiet,
    ...(args.debounceAfterMs !== undefined ? { debounceAfterMs: args.debounceAfterMs } : {}),
  });

  // Instrumentation (the benchmark's only reach inside): when the debouncer hands a push over, and
  // when the ADS fan-out starts and ends. pushNow is private; its shape is checked, not assumed.
  const pushes: PushRecord[] = [];
  const inner = discovery as unknown as { pushNow?: (r: PushRequest) => Promise<void> };
  let current: PushRecord | undefined;
  if (typeof inner.pushNow === 'function') {
    const pushNow = inner.pushNow.bind(discovery);
    inner.pushNow = async (r: PushRequest) => {
      current = { full: r.full, edsHosts: r.edsHosts?.size ?? 0, startedAt: monoMs(), builtAt: Number.NaN, drainedAt: Number.NaN, adsVersion: '' };
      pushes.push(current);
      await pushNow(r);
    };
  }
  const setPushContext = discovery.ads.setPushContext.bind(discovery.ads);
  discovery.ads.setPushContext = async (push, request) => {
    const rec = current;
    if (rec) rec.builtAt = monoMs();
    const done = setPushContext(push, request);
    if (rec) rec.adsVersion = discovery.ads.currentVersion;
    await done;
    if (rec) rec.drainedAt = monoMs();
  };

  await discovery.start();

  let sampledPeak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  }, 100);
  sampler.unref();

  const edited = sharedService(shape);
  const svcs = services(shape);
  const change = (apply: () => void): ChangeReply => {
    const versionBefore = Number(discovery.ads.currentVersion);
    const t0 = monoMs();
    apply();
    return { t0, versionBefore };
  };

  const handle = async (c: DiscoveryCommand): Promise<unknown> => {
    switch (c.cmd) {
      case 'version':
        return Number(discovery.ads.currentVersion);
      case 'edit-vs':
        return change(() => store.apply(virtualService(edited, c.revision)));
      case 'move-pods':
        // Replica 0 (subset v1) of each service gets a new IP: one Pod update per service.
        return change(() => {
          for (const i of c.services) store.apply(podResource(svcs[i]!, 0, c.generation));
        });
      case 'usage': {
        const cpu = process.cpuUsage();
        const mem = procMemory((p) => readFileSync(p, 'utf8'), 'self');
        const rss = process.memoryUsage().rss;
        sampledPeak = Math.max(sampledPeak, rss);
        const sample = discovery.ads.cache.list()[0];
        const u: Usage = {
          cpuUserS: cpu.user / 1e6,
          cpuSystemS: cpu.system / 1e6,
          rssBytes: rss,
          peakRssBytes: mem?.hwm ?? sampledPeak,
          sampledPeakRssBytes: sampledPeak,
          heapUsedBytes: process.memoryUsage().heapUsed,
          connectedProxies: discovery.ads.cache.size,
          ...(sample ? { sampleProxyLabels: sample.proxy.labels } : {}),
        };
        return u;
      }
      case 'pushes':
        return pushes;
      case 'idle': {
        // Every push has reached every connection and none started for quietMs (a full push goes on
        // to unaffected proxies after the affected ones ACKed; the next trial must not queue behind it).
        const deadline = monoMs() + c.timeoutMs;
        for (;;) {
          const last = pushes[pushes.length - 1];
          const busy = last !== undefined && Number.isNaN(last.drainedAt);
          const quietFor = last === undefined ? Infinity : monoMs() - (busy ? monoMs() : last.drainedAt);
          if (!busy && quietFor >= c.quietMs) return true;
          if (monoMs() > deadline) return false;
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      case 'exit':
        await discovery.close();
        setTimeout(() => process.exit(0), 50);
        return true;
    }
  };
  process.on('message', (raw: unknown) => {
    const c = raw as DiscoveryCommand;
    handle(c).then(
      (result) => process.send!({ id: c.id, result }),
      (e: unknown) => process.send!({ id: c.id, error: e instanceof Error ? e.stack : String(e) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  const ready: DiscoveryReady = { type: 'ready', pid: process.pid, xdsAddress: discovery.xdsAddress, debugAddress: discovery.debugAddress, setupMs: monoMs() - started, resources: resources.length };
  process.send(ready);
}

main().catch((e: unknown) => {
  process.stderr.write(`discovery child failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
