// Test fixture for the xDS client: the real Discovery serving the echo mesh from a MemoryStore, a sidecar node, and bounded event waits.
import type { EventEmitter } from 'node:events';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/config/memory-store.js';
import { xdsNode } from '../../src/proxy/bootstrap.js';
import type { XdsClientLogger, XdsConfigSnapshot, XdsNode } from '../../src/proxy/xds-client.js';
import { edsServiceName, routeConfigNames } from '../../src/proxy/xds-warming.js';
import type { AckEvent, NackEvent, SentEvent } from '../../src/xds/ads-server.js';
import { Discovery } from '../../src/xds/discovery.js';
import { applyYaml, DESTINATION_RULE, registryYaml, virtualServiceYaml } from '../xds/echo-mesh.js';

/** A sidecar of the client workload (not one of echo's): it gets echo's outbound clusters, listener and route. */
export const NODE: XdsNode = xdsNode({ type: 'sidecar', ips: ['10.1.0.5'], podName: 'client-abc', namespace: 'default', labels: { app: 'client' } });

export const ECHO_ROUTE = '7070';
export const ECHO_V1 = 'outbound|7070|v1|echo.default.svc.cluster.local';
export const ECHO_V3 = 'outbound|7070|v3|echo.default.svc.cluster.local';

export interface EchoDiscovery {
  discovery: Discovery;
  store: MemoryStore;
  port: number;
  address: string;
  /** Every ADS event since the server was created (recorded before it listens, so no stream is missed). */
  sent: SentEvent[];
  acks: AckEvent[];
  nacks: NackEvent[];
  /** Replaces the echo VirtualService's weighted split. */
  setWeights(v1: number, v2: number): void;
  close(): Promise<void>;
}

/** The echo mesh served by a real Discovery on 127.0.0.1 (`port` 0 picks one), with short debounce. */
export async function startEchoDiscovery(opts: { port?: number; weights?: [number, number] } = {}): Promise<EchoDiscovery> {
  const store = new MemoryStore();
  const [v1, v2] = opts.weights ?? [80, 20];
  // Workload ports are never dialled: these tests look at configuration only.
  applyYaml(store, `${registryYaml({ v1: 17001, v2: 17002 })}---${DESTINATION_RULE}---${virtualServiceYaml(v1, v2)}`);
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const discovery = new Discovery({ store, xdsPort: opts.port ?? 0, debugPort: 0, debounceAfterMs: 5, debounceMaxMs: 50, debounceEdsAfterMs: 5, logger: quiet });
  const sent: SentEvent[] = [];
  const acks: AckEvent[] = [];
  const nacks: NackEvent[] = [];
  discovery.ads.events.on('sent', (e: SentEvent) => sent.push(e));
  discovery.ads.events.on('ack', (e: AckEvent) => acks.push(e));
  discovery.ads.events.on('nack', (e: NackEvent) => nacks.push(e));
  await discovery.start();
  const port = Number(discovery.xdsAddress.slice(discovery.xdsAddress.lastIndexOf(':') + 1));
  return {
    discovery,
    store,
    port,
    address: discovery.xdsAddress,
    sent,
    acks,
    nacks,
    setWeights: (a, b) => void applyYaml(store, virtualServiceYaml(a, b)),
    close: () => discovery.close(),
  };
}

/** A logger that keeps lines for assertions and prints nothing. */
export function memoryLogger(): XdsClientLogger & { lines: string[] } {
  const lines: string[] = [];
  const line = (level: string) => (msg: string, fields?: object) => void lines.push(`${level} ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
  return { lines, info: line('info'), warn: line('warn'), error: line('error') };
}

/** The next `event` whose payload satisfies `match`; rejects after `timeoutMs` naming what it waited for. */
export function nextEvent<T>(emitter: EventEmitter, event: string, match: (payload: T) => boolean = () => true, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const onEvent = (payload: T): void => {
      if (!match(payload)) return;
      clearTimeout(timer);
      emitter.off(event, onEvent);
      resolve(payload);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`no matching '${event}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.on(event, onEvent);
  });
}

/** The weights of the echo route's weighted split in a snapshot. */
export function splitWeights(s: XdsConfigSnapshot | undefined): number[] | undefined {
  const rc = s?.routes.get(ECHO_ROUTE) as { virtual_hosts?: { routes?: { name?: string; route?: { weighted_clusters?: { clusters: { weight: number }[] } } }[] }[] } | undefined;
  for (const vh of rc?.virtual_hosts ?? []) {
    const split = vh.routes?.find((r) => r.name === 'split');
    if (split) return split.route?.weighted_clusters?.clusters.map((c) => c.weight);
  }
  return undefined;
}

/** Every active listener has its route configurations; every active EDS cluster its load assignment. */
export function assertConsistent(s: XdsConfigSnapshot): void {
  for (const [name, l] of s.listeners) for (const r of routeConfigNames(l)) assert.ok(s.routes.has(r), `listener ${name} uses route configuration ${r}, which the snapshot lacks`);
  for (const [name, c] of s.clusters) {
    const service = edsServiceName(c);
    if (service !== undefined) assert.ok(s.endpoints.has(service), `EDS cluster ${name} has no load assignment ${service} in the snapshot`);
  }
}
