// The load process: M lightweight simulated sidecars on a few gRPC channels, each following Envoy's ADS sequence (CDS → EDS → LDS → RDS) and timing its ACKs.
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { decodeResource } from '../../src/xds/encode.js';
import { envoyProtoIncludeDirs } from '../../src/xds/protos.js';
import { emptyTraffic, monoMs, type ClientsCommand, type ConnectResult, type ShortType, type Traffic, type WaitResult } from './ipc.js';
import { meshShape, proxies, type BenchProxy } from './mesh.js';
import { CLUSTER_TYPE_EDS, readHead } from './wire.js';

const TYPE = {
  cds: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  eds: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  lds: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  rds: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
} as const satisfies Record<ShortType, string>;
const SHORT: Record<string, ShortType> = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k as ShortType]));

type Msg = Record<string, unknown>;
type AnyMsg = { type_url: string; value: Buffer };
type DeltaResource = { name: string; version: string; resource?: AnyMsg };

interface Args {
  address: string;
  services: number;
  proxies: number;
  mode: 'sotw' | 'delta';
  channels: number;
}

function parseArgs(argv: string[]): Args {
  const get = (flag: string, def?: string): string => {
    const i = argv.indexOf(flag);
    const v = i >= 0 ? argv[i + 1] : def;
    if (v === undefined) throw new Error(`missing ${flag}`);
    return v;
  };
  const mode = get('--mode', 'sotw');
  if (mode !== 'sotw' && mode !== 'delta') throw new Error('--mode is sotw or delta');
  return { address: get('--address'), services: Number(get('--services')), proxies: Number(get('--proxies')), mode, channels: Number(get('--channels', '8')) };
}

// ---- the ADS method definitions, with a deserializer that counts wire bytes ----

/** Where the deserializer leaves a response's serialized size (a key no Envoy message has). */
const WIRE_BYTES = '__wire_bytes';

function adsClientConstructor(): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: envoyProtoIncludeDirs() });
  const service = def['envoy.service.discovery.v3.AggregatedDiscoveryService'] as grpc.ServiceDefinition;
  const counted: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(service)) {
    const decode = m.responseDeserialize;
    counted[name] = {
      ...m,
      responseDeserialize: (buf: Buffer) => {
        const m = decode(buf) as Msg;
        m[WIRE_BYTES] = buf.length;
        return m;
      },
    };
  }
  return grpc.makeGenericClientConstructor(counted, 'AggregatedDiscoveryService');
}

// ---- cheap per-resource facts, shared between clients ----

/** One copy of each name: 2000 proxies hold the same cluster names. */
const interned = new Map<string, string>();
function intern(s: string): string {
  const found = interned.get(s);
  if (found !== undefined) return found;
  interned.set(s, s);
  return s;
}

/**
 * Route names a listener fetches over RDS. Only sidecar outbound HTTP listeners (`0.0.0.0_PORT`)
 * use RDS in Istio 1.6, and every proxy gets the same bytes for them, so each distinct body is
 * decoded once (by content hash) and never again.
 */
const routesOfListener = new Map<string, string[]>();
function listenerRoutes(name: string, body: Buffer): string[] {
  if (!name.startsWith('0.0.0.0_')) return [];
  const key = createHash('sha1').update(body).digest('base64');
  let routes = routesOfListener.get(key);
  if (!routes) {
    routes = [];
    collectRds(decodeResource(TYPE.lds, body), routes);
    routes = routes.map(intern);
    routesOfListener.set(key, routes);
  }
  return routes;
}

function collectRds(o: unknown, out: string[]): void {
  if (Array.isArray(o)) for (const x of o) collectRds(x, out);
  else if (o && typeof o === 'object') {
    for (const [k, v] of Object.entries(o)) {
      if (k === 'rds' && v && typeof v === 'object') {
        const n = (v as Msg).route_config_name ?? (v as Msg).routeConfigName;
        if (typeof n === 'string' && !out.includes(n)) out.push(n);
      } else collectRds(v, out);
    }
  }
}

// protobufjs serves google/protobuf/struct.proto from its bundled copy, with camelCase field names whatever keepCase says.
function structOf(labels: Record<string, string>): Msg {
  return { fields: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, { stringValue: v }])) };
}

function nodeOf(p: BenchProxy): Msg {
  return {
    id: p.id,
    cluster: 'bench',
    metadata: {
      fields: {
        LABELS: { structValue: structOf(p.labels) },
        NAMESPACE: { stringValue: p.namespace },
        INSTANCE_IPS: { stringValue: p.ip },
        ISTIO_VERSION: { stringValue: '1.6.14' },
      },
    },
  };
}

// ---- one simulated proxy ----

interface AckRecord {
  version: number;
  at: number;
}

type Stream = grpc.ClientDuplexStream<Msg, Msg>;

class SimProxy {
  private call: Stream | undefined;
  private sentNode = false;
  /** SotW: the names subscribed per type; Delta: the same, maintained from add/remove diffs. */
  private edsNames: string[] = [];
  private routeNames: string[] = [];
  private readonly edsClusters = new Set<string>();
  private readonly listenerRoutes = new Map<string, string[]>();
  private readonly last: Partial<Record<ShortType, { version: string; nonce: string }>> = {};
  private readonly requested = new Set<ShortType>();
  /** Last ACK per type. */
  readonly acks: Partial<Record<ShortType, AckRecord>> = {};
  readyAt: number | undefined;
  failed: string | undefined;

  constructor(
    readonly index: number,
    readonly proxy: BenchProxy,
    private readonly mode: 'sotw' | 'delta',
    private readonly sink: Sink,
  ) {}

  start(client: grpc.Client): void {
    const c = client as unknown as Record<string, (this: grpc.Client) => Stream>;
    const call = this.mode === 'sotw' ? c.StreamAggregatedResources!.call(client) : c.DeltaAggregatedResources!.call(client);
    this.call = call;
    call.on('data', (m: Msg) => {
      try {
        this.onResponse(m, Number(m[WIRE_BYTES] ?? 0));
      } catch (e) {
        this.fail(`response handling: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    call.on('error', (e: Error) => this.fail(e.message));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code !== grpc.status.OK) this.fail(`status ${s.code}: ${s.details}`);
    });
    this.request('cds');
  }

  close(): void {
    try {
      this.call?.cancel();
    } catch {
      // already closed
    }
  }

  private fail(message: string): void {
    if (this.failed === undefined && this.sink.closing === false) {
      this.failed = message;
      this.sink.onFailure(this, message);
    }
  }

  private write(m: Msg): void {
    if (!this.sentNode) {
      m.node = nodeOf(this.proxy);
      this.sentNode = true;
    }
    this.call!.write(m);
  }

  /** The first request of a type (a subscription). */
  private request(t: ShortType): void {
    this.requested.add(t);
    const names = t === 'eds' ? this.edsNames : t === 'rds' ? this.routeNames : [];
    if (this.mode === 'sotw') this.write({ type_url: TYPE[t], resource_names: names });
    else this.write({ type_url: TYPE[t], resource_names_subscribe: names });
  }

  private ack(t: ShortType, version: string, nonce: string): void {
    if (this.mode === 'sotw') {
      const names = t === 'eds' ? this.edsNames : t === 'rds' ? this.routeNames : [];
      this.write({ type_url: TYPE[t], version_info: version, response_nonce: nonce, resource_names: names });
    } else this.write({ type_url: TYPE[t], response_nonce: nonce });
    this.last[t] = { version, nonce };
    const rec = { version: Number(version), at: monoMs() };
    this.acks[t] = rec;
    this.sink.onAck(this, t, rec);
    if (this.readyAt === undefined && this.acks.cds && this.acks.eds && this.acks.lds && this.acks.rds) {
      this.readyAt = rec.at;
      this.sink.onReady(this);
    }
  }

  /** A changed subscription after the first request: SotW resends the whole list, Delta the difference. */
  private resubscribe(t: 'eds' | 'rds', before: readonly string[], after: readonly string[]): void {
    if (!this.requested.has(t)) return this.request(t);
    if (this.mode === 'sotw') {
      const l = this.last[t];
      this.write({ type_url: TYPE[t], version_info: l?.version ?? '', response_nonce: l?.nonce ?? '', resource_names: after });
    } else {
      const a = new Set(after);
      const b = new Set(before);
      this.write({ type_url: TYPE[t], resource_names_subscribe: after.filter((n) => !b.has(n)), resource_names_unsubscribe: before.filter((n) => !a.has(n)) });
    }
  }

  private onResponse(m: Msg, bytes: number): void {
    const t = SHORT[String(m.type_url)];
    if (!t) return;
    const version = String((this.mode === 'sotw' ? m.version_info : m.system_version_info) ?? '');
    const nonce = String(m.nonce ?? '');
    const resources = (m.resources as unknown[] | undefined) ?? [];
    this.sink.onTraffic(t, bytes, resources.length);
    if (t === 'cds') {
      const before = this.edsNames;
      this.updateClusters(resources, (m.removed_resources as string[] | undefined) ?? []);
      this.ack('cds', version, nonce);
      if (!sameList(before, this.edsNames) || !this.requested.has('eds')) this.resubscribe('eds', before, this.edsNames);
    } else if (t === 'eds') {
      this.ack('eds', version, nonce);
      if (!this.requested.has('lds')) this.request('lds');
    } else if (t === 'lds') {
      const before = this.routeNames;
      this.updateListeners(resources, (m.removed_resources as string[] | undefined) ?? []);
      this.ack('lds', version, nonce);
      if (!sameList(before, this.routeNames) || !this.requested.has('rds')) this.resubscribe('rds', before, this.routeNames);
    } else {
      this.ack('rds', version, nonce);
    }
  }

  /** EDS cluster names from CDS: a SotW response is the whole set, a Delta one adds, replaces and removes. */
  private updateClusters(resources: unknown[], removed: string[]): void {
    if (this.mode === 'sotw') this.edsClusters.clear();
    for (const n of removed) this.edsClusters.delete(n);
    for (const r of resources) {
      const body = this.mode === 'sotw' ? (r as AnyMsg).value : (r as DeltaResource).resource?.value;
      if (!body) continue;
      const head = readHead(body);
      const name = intern(this.mode === 'sotw' ? head.name : (r as DeltaResource).name);
      if (head.type === CLUSTER_TYPE_EDS) this.edsClusters.add(name);
      else this.edsClusters.delete(name);
    }
    this.edsNames = [...this.edsClusters].sort();
  }

  private updateListeners(resources: unknown[], removed: string[]): void {
    if (this.mode === 'sotw') this.listenerRoutes.clear();
    for (const n of removed) this.listenerRoutes.delete(n);
    for (const r of resources) {
      const body = this.mode === 'sotw' ? (r as AnyMsg).value : (r as DeltaResource).resource?.value;
      if (!body) continue;
      const name = this.mode === 'sotw' ? readHead(body).name : (r as DeltaResource).name;
      this.listenerRoutes.set(name, listenerRoutes(name, body));
    }
    const all = new Set<string>();
    for (const rs of this.listenerRoutes.values()) for (const n of rs) all.add(n);
    this.routeNames = [...all].sort();
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// ---- the fleet ----

interface Waiter {
  type: ShortType;
  afterVersion: number;
  since: number;
  expected: Set<number>;
  latencies: number[];
  done: () => void;
}

interface Sink {
  closing: boolean;
  onAck(p: SimProxy, t: ShortType, rec: AckRecord): void;
  onReady(p: SimProxy): void;
  onFailure(p: SimProxy, message: string): void;
  onTraffic(t: ShortType, bytes: number, resources: number): void;
}

class Fleet implements Sink {
  closing = false;
  private readonly channels: grpc.Client[] = [];
  readonly sims: SimProxy[];
  private traffic: Traffic = emptyTraffic();
  private lastTrafficAt = 0;
  private ready = 0;
  private failed = 0;
  private firstError: string | undefined;
  private onAllReady: (() => void) | undefined;
  private waiter: Waiter | undefined;

  constructor(private readonly args: Args) {
    const shape = meshShape(args.services);
    this.sims = proxies(shape, args.proxies).map((p, i) => new SimProxy(i, p, args.mode, this));
  }

  onTraffic(t: ShortType, bytes: number, resources: number): void {
    const x = this.traffic[t];
    x.responses++;
    x.bytes += bytes;
    x.resources += resources;
    this.lastTrafficAt = monoMs();
  }

  onAck(p: SimProxy, t: ShortType, rec: AckRecord): void {
    const w = this.waiter;
    if (!w || w.type !== t || rec.version <= w.afterVersion || !w.expected.has(p.index)) return;
    w.expected.delete(p.index);
    w.latencies.push(rec.at - w.since);
    if (w.expected.size === 0) w.done();
  }

  onReady(): void {
    this.ready++;
    if (this.ready + this.failed >= this.sims.length) this.onAllReady?.();
  }

  onFailure(p: SimProxy, message: string): void {
    this.failed++;
    this.firstError ??= `${p.proxy.id}: ${message}`;
    this.waiter?.expected.delete(p.index);
    if (this.waiter && this.waiter.expected.size === 0) this.waiter.done();
    if (p.readyAt === undefined && this.ready + this.failed >= this.sims.length) this.onAllReady?.();
  }

  async connect(timeoutMs: number): Promise<ConnectResult> {
    const Ctor = adsClientConstructor();
    for (let i = 0; i < Math.max(1, this.args.channels); i++) {
      // A distinct option value gives each client its own subchannel: grpc-js would otherwise share one HTTP/2 connection.
      // Envoy's HTTP/2 windows (initial stream and connection window 256 MiB by default), not Node's 64 KiB: with
      // hundreds of streams on one connection a 64 KiB connection window would throttle the whole fleet.
      this.channels.push(new Ctor(this.args.address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc-node.flow_control_window': 256 * 2 ** 20, 'bench.channel': i }));
    }
    this.traffic = emptyTraffic();
    const started = monoMs();
    const all = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.onAllReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    this.sims.forEach((s, i) => s.start(this.channels[i % this.channels.length]!));
    const complete = await all;
    this.onAllReady = undefined;
    const readyMs = this.sims.filter((s) => s.readyAt !== undefined).map((s) => s.readyAt! - started).sort((a, b) => a - b);
    return {
      allReadyMs: readyMs.length > 0 ? readyMs[readyMs.length - 1]! : Number.NaN,
      readyMs,
      ready: this.ready,
      total: this.sims.length,
      failed: this.failed,
      timedOut: !complete,
      traffic: this.traffic,
      ...(this.firstError ? { firstError: this.firstError } : {}),
    };
  }

  mark(): void {
    this.traffic = emptyTraffic();
  }

  /**
   * Waits until every live client has ACKed a response of
   * `type` newer than `afterVersion`, then until no response arrived for `quietMs`, so the traffic
   * totals include everything the change caused. Both waits are bounded by `timeoutMs`.
   */
  async wait(c: Extract<ClientsCommand, { cmd: 'wait' }>): Promise<WaitResult> {
    const deadline = monoMs() + c.timeoutMs;
    const expected = new Set<number>();
    const latencies: number[] = [];
    for (const s of this.sims) {
      if (s.failed !== undefined) continue;
      const a = s.acks[c.type];
      // Already there (the push may have beaten this command).
      if (a && a.version > c.afterVersion) latencies.push(a.at - c.since);
      else expected.add(s.index);
    }
    const total = expected.size + latencies.length;
    let timedOut = false;
    if (expected.size > 0) {
      timedOut = !(await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), Math.max(0, deadline - monoMs()));
        this.waiter = {
          type: c.type,
          afterVersion: c.afterVersion,
          since: c.since,
          expected,
          latencies,
          done: () => {
            clearTimeout(timer);
            resolve(true);
          },
        };
      }));
      this.waiter = undefined;
    }
    // Quiet period: the last responses of the push (other types, unaffected proxies) may still be in flight.
    while (monoMs() < deadline && monoMs() - this.lastTrafficAt < c.quietMs) await sleep(Math.min(c.quietMs, 50));
    latencies.sort((a, b) => a - b);
    return { latenciesMs: latencies, expected: total, timedOut, traffic: this.traffic, failed: this.failed };
  }

  close(): void {
    this.closing = true;
    for (const s of this.sims) s.close();
    for (const ch of this.channels) ch.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- IPC ----

function main(): void {
  if (!process.send) throw new Error('clients.ts runs as a child of bench/controlplane/run.ts (it needs an IPC channel)');
  const fleet = new Fleet(parseArgs(process.argv.slice(2)));
  const reply = (id: number, result: unknown) => process.send!({ id, result });
  process.on('message', (raw: unknown) => {
    const c = raw as ClientsCommand;
    const run = async (): Promise<unknown> => {
      switch (c.cmd) {
        case 'connect':
          return fleet.connect(c.timeoutMs);
        case 'mark':
          fleet.mark();
          return true;
        case 'wait':
          return fleet.wait(c);
        case 'usage': {
          const cpu = process.cpuUsage();
          return { cpuUserS: cpu.user / 1e6, cpuSystemS: cpu.system / 1e6, rssBytes: process.memoryUsage().rss };
        }
        case 'exit':
          fleet.close();
          setTimeout(() => process.exit(0), 50);
          return true;
      }
    };
    run().then(
      (result) => reply(c.id, result),
      (e: unknown) => process.send!({ id: c.id, error: e instanceof Error ? e.stack : String(e) }),
    );
  });
  // The orchestrator going away (even killed) closes the channel: never outlive it.
  process.on('disconnect', () => {
    fleet.close();
    process.exit(0);
  });
  process.send({ type: 'ready', pid: process.pid });
}

main();
