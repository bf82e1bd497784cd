// Test fixture: real grpc-js echo servers on 127.0.0.1:0 and a client, for proxyless xDS tests (no .proto needed).
import * as grpc from '@grpc/grpc-js';

export interface EchoRequest {
  id?: string;
  /** Flaky/NoRetry: fail this many attempts of the id with UNAVAILABLE before succeeding. */
  failFirst?: number;
}

export interface EchoReply {
  server: string;
  attempt: number;
}

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown,
};

function unary(path: string): grpc.MethodDefinition<EchoRequest, EchoReply> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize as (b: Buffer) => EchoRequest,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize as (b: Buffer) => EchoReply,
  };
}

export const ECHO_SERVICE = {
  Echo: unary('/echo.Echo/Echo'),
  Flaky: unary('/echo.Echo/Flaky'),
  NoRetry: unary('/echo.Echo/NoRetry'),
};

export interface EchoServer {
  name: string;
  port: number;
  /** Attempts seen per request id (Flaky/NoRetry). */
  attempts: Map<string, number>;
  close(): void;
}

/** Starts an echo server answering with its name; Flaky/NoRetry fail the first `failFirst` attempts of an id. */
export async function startEchoServer(name: string): Promise<EchoServer> {
  const server = new grpc.Server();
  const attempts = new Map<string, number>();
  const flaky: grpc.handleUnaryCall<EchoRequest, EchoReply> = (call, cb) => {
    const id = call.request.id ?? '';
    const n = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, n);
    if (n <= (call.request.failFirst ?? 0)) cb({ code: grpc.status.UNAVAILABLE, details: `${name} attempt ${n} fails` });
    else cb(null, { server: name, attempt: n });
  };
  server.addService(ECHO_SERVICE, { Echo: (_call: unknown, cb: grpc.sendUnaryData<EchoReply>) => cb(null, { server: name, attempt: 1 }), Flaky: flaky, NoRetry: flaky });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { name, port, attempts, close: () => server.forceShutdown() };
}

export type EchoClient = grpc.Client & Record<keyof typeof ECHO_SERVICE, (req: EchoRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<EchoReply>) => grpc.ClientUnaryCall>;

export function echoClient(target: string): EchoClient {
  const Ctor = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
  return new Ctor(target, grpc.credentials.createInsecure()) as unknown as EchoClient;
}

/** One call; resolves with the reply or the gRPC error. */
export function call(client: EchoClient, method: keyof typeof ECHO_SERVICE, req: EchoRequest = {}, headers: Record<string, string> = {}): Promise<EchoReply | grpc.ServiceError> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  return new Promise((resolve) => {
    client[method](req, md, { deadline: Date.now() + 10_000 }, (err, reply) => resolve(err ?? reply!));
  });
}

/** Counts replies per server over `n` calls, `concurrency` at a time; any error fails. */
export async function split(client: EchoClient, n: number, headers: Record<string, string> = {}, concurrency = 50): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let done = 0; done < n; done += concurrency) {
    const batch = await Promise.all(Array.from({ length: Math.min(concurrency, n - done) }, () => call(client, 'Echo', {}, headers)));
    for (const r of batch) {
      if (r instanceof Error) throw r;
      counts[r.server] = (counts[r.server] ?? 0) + 1;
    }
  }
  return counts;
}

/** The bootstrap grpc-js-xds reads from GRPC_XDS_BOOTSTRAP_CONFIG: our ADS server, xDS v3, a proxyless node. */
export function bootstrapJson(adsPort: number, nodeId: string): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${adsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: nodeId, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' }, locality: {} },
  });
}
