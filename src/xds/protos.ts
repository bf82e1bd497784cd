// Envoy v3 protos (shipped by @grpc/grpc-js-xds) loaded once, lazily, into one protobufjs Root.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import protobuf from 'protobufjs';

/**
 * Every .proto a Meltemi generator may put on the wire (directly or inside an Any), plus the
 * discovery services. An Any whose type is not reachable from these files is refused by the
 * encoder, so add the file here before a generator emits a new extension type.
 */
export const ENVOY_PROTO_FILES: readonly string[] = [
  // Discovery: ADS (SotW + Delta), SDS, and the admin config dump shapes.
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/admin/v3/config_dump.proto',
  // The resource types.
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  // Network and HTTP filters Istio 1.6 generates.
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/grpc_stats/v3/config.proto',
  'envoy/extensions/filters/http/wasm/v3/wasm.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'udpa/type/v1/typed_struct.proto',
  'xds/type/v3/typed_struct.proto',
  // Well-known types (protobufjs bundles most of them).
  'google/protobuf/any.proto',
  'google/protobuf/duration.proto',
  'google/protobuf/empty.proto',
  'google/protobuf/field_mask.proto',
  'google/protobuf/struct.proto',
  'google/protobuf/timestamp.proto',
  'google/protobuf/wrappers.proto',
  'google/rpc/status.proto',
];

/** The loaded protos. `root` is shared and must not be mutated by callers. */
export interface EnvoyProtos {
  root: protobuf.Root;
  /** Looks up a message type by full name (`envoy.config.cluster.v3.Cluster`); throws when unknown. */
  type(fullName: string): protobuf.Type;
  /** Looks up a message type by full name; undefined when unknown. */
  findType(fullName: string): protobuf.Type | undefined;
  /** Milliseconds the first load took (parse + resolve). */
  loadMs: number;
  /** Number of message types reachable from the root. */
  typeCount: number;
}

let loaded: EnvoyProtos | undefined;

/** Where the Envoy, xds, googleapis and validate trees live inside the installed grpc-js-xds package. */
export function envoyProtoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  // protobufjs ships google/protobuf/descriptor.proto (imported by the validate/udpa annotations).
  const protobufjsDir = dirname(require.resolve('protobufjs/package.json'));
  return [...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(deps, d)), protobufjsDir];
}

/**
 * The Envoy protos, loaded on first call (≈150–250 ms) and cached for the life of the process.
 * Field names are the proto names (snake_case); `encode.ts` accepts the camelCase object form.
 */
export function envoyProtos(): EnvoyProtos {
  if (loaded) return loaded;
  const started = performance.now();
  const includeDirs = envoyProtoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    if (isAbsolute(target)) return target;
    for (const dir of includeDirs) {
      const p = join(dir, target);
      if (existsSync(p)) return p;
    }
    // google/protobuf/{any,duration,...}.proto: protobufjs serves these from its bundled copies.
    return target;
  };
  root.loadSync([...ENVOY_PROTO_FILES], { keepCase: true });
  root.resolveAll();
  let typeCount = 0;
  (function count(ns: protobuf.NamespaceBase): void {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) typeCount++;
      if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) count(nested);
    }
  })(root);
  const cache = new Map<string, protobuf.Type | null>();
  const findType = (fullName: string): protobuf.Type | undefined => {
    let t = cache.get(fullName);
    if (t === undefined) {
      const found = root.lookup(fullName.startsWith('.') ? fullName : `.${fullName}`);
      t = found instanceof protobuf.Type ? found : null;
      cache.set(fullName, t);
    }
    return t ?? undefined;
  };
  loaded = {
    root,
    findType,
    type(fullName) {
      const t = findType(fullName);
      if (!t) throw new Error(`unknown protobuf message type ${fullName}`);
      return t;
    },
    loadMs: performance.now() - started,
    typeCount,
  };
  return loaded;
}

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` → `envoy.config.cluster.v3.Cluster`. */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}
