// A hand-written ADS client for tests: grpc-js + proto-loader (independent of the server's protobufjs code), SotW or Delta.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { envoyProtoIncludeDirs } from '../../src/xds/protos.js';
import { decodeResource } from '../../src/xds/encode.js';

let adsCtor: grpc.ServiceClientConstructor | undefined;

function adsService(): grpc.ServiceClientConstructor {
  if (!adsCtor) {
    const def = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
      includeDirs: envoyProtoIncludeDirs(),
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } } } };
    };
    adsCtor = pkg.envoy.service.discovery.v3.AggregatedDiscoveryService;
  }
  return adsCtor;
}

export interface NodeSpec {
  id: string;
  metadata?: Record<string, string>;
}

export function nodeOf(n: NodeSpec): Record<string, unknown> {
  return {
    id: n.id,
    cluster: 'test',
    metadata: { fields: Object.fromEntries(Object.entries(n.metadata ?? {}).map(([k, v]) => [k, { stringValue: v }])) },
  };
}

/** A decoded response: resources as Envoy JSON with their names. */
export interface TestResponse {
  raw: Record<string, unknown>;
  typeUrl: string;
  nonce: string;
  version: string;
  /** SotW resources, or Delta resources. */
  resources: { name: string; version?: string; body: Record<string, unknown> }[];
  removed: string[];
}

function nameOf(body: Record<string, unknown>): string {
  return String(body.name ?? body.cluster_name ?? '');
}

/**
 * One ADS stream. `next()` returns responses in arrival order; it rejects after `timeoutMs` so a
 * missing response fails the test instead of hanging it.
 */
export class AdsTestClient {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
  private readonly queue: TestResponse[] = [];
  private readonly waiters: ((r: TestResponse) => void)[] = [];
  status: grpc.StatusObject | undefined;
  private readonly statusWaiters: ((s: grpc.StatusObject) => void)[] = [];
  private sentNode = false;

  constructor(
    port: number,
    readonly protocol: 'sotw' | 'delta',
    private readonly node: NodeSpec,
  ) {
    const Ctor = adsService();
    this.client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const c = this.client as unknown as Record<string, () => grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>>;
    this.call = protocol === 'sotw' ? c.StreamAggregatedResources!.call(this.client) : c.DeltaAggregatedResources!.call(this.client);
    this.call.on('data', (msg: Record<string, unknown>) => {
      const r = this.decode(msg);
      const w = this.waiters.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    this.call.on('status', (s: grpc.StatusObject) => {
      this.status = s;
      for (const w of this.statusWaiters.splice(0)) w(s);
    });
    this.call.on('error', () => undefined);
  }

  private decode(msg: Record<string, unknown>): TestResponse {
    const typeUrl = String(msg.type_url ?? '');
    if (this.protocol === 'sotw') {
      const resources = ((msg.resources as { type_url: string; value: Buffer }[]) ?? []).map((a) => {
        const body = decodeResource(a.type_url, a.value);
        return { name: nameOf(body), body };
      });
      return { raw: msg, typeUrl, nonce: String(msg.nonce), version: String(msg.version_info ?? ''), resources, removed: [] };
    }
    const resources = ((msg.resources as { name: string; version: string; resource: { type_url: string; value: Buffer } }[]) ?? []).map((r) => ({
      name: r.name,
      version: r.version,
      body: decodeResource(r.resource.type_url, r.resource.value),
    }));
    return { raw: msg, typeUrl, nonce: String(msg.nonce), version: String(msg.system_version_info ?? ''), resources, removed: (msg.removed_resources as string[]) ?? [] };
  }

  /** Sends a SotW DiscoveryRequest (node attached to the first one). */
  request(typeUrl: string, names: string[] = [], ack?: { nonce: string; version: string }, error?: string): void {
    this.call.write({
      ...(this.sentNode ? {} : { node: nodeOf(this.node) }),
      type_url: typeUrl,
      resource_names: names,
      response_nonce: ack?.nonce ?? '',
      version_info: ack?.version ?? '',
      ...(error ? { error_detail: { code: 3, message: error } } : {}),
    });
    this.sentNode = true;
  }

  /** ACKs a SotW response (same names). */
  ack(r: TestResponse, names: string[] = []): void {
    this.request(r.typeUrl, names, { nonce: r.nonce, version: r.version });
  }

  /** Sends a Delta request. */
  delta(typeUrl: string, opts: { subscribe?: string[]; unsubscribe?: string[]; nonce?: string; error?: string; initial?: Record<string, string> } = {}): void {
    this.call.write({
      ...(this.sentNode ? {} : { node: nodeOf(this.node) }),
      type_url: typeUrl,
      resource_names_subscribe: opts.subscribe ?? [],
      resource_names_unsubscribe: opts.unsubscribe ?? [],
      response_nonce: opts.nonce ?? '',
      initial_resource_versions: opts.initial ?? {},
      ...(opts.error ? { error_detail: { code: 3, message: opts.error } } : {}),
    });
    this.sentNode = true;
  }

  /** The next response, in order. */
  next(timeoutMs = 5000): Promise<TestResponse> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no ADS response within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (r: TestResponse): void => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(done);
    });
  }

  /** Responses received but not yet taken with next(). */
  get pending(): number {
    return this.queue.length;
  }

  /** Waits for the stream's final status. */
  ended(timeoutMs = 5000): Promise<grpc.StatusObject> {
    if (this.status) return Promise.resolve(this.status);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('stream did not end')), timeoutMs);
      this.statusWaiters.push((s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
  }

  close(): void {
    this.call.end();
    this.call.cancel();
    this.client.close();
  }
}
