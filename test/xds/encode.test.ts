import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMessage, decodeMessage, decodeResource, encodeMessage, encodeResource, jsonToStruct } from '../../src/xds/encode.js';
import { envoyProtos } from '../../src/xds/protos.js';
import { TypeUrl, type XdsResource } from '../../src/xds/types.js';
import { isMeshError } from '../../src/shared/errors.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

function listener(hcm: Record<string, unknown>): XdsResource {
  return {
    name: 'echo:80',
    typeUrl: TypeUrl.Listener,
    resource: {
      name: 'echo:80',
      address: { socketAddress: { address: '10.0.0.1', portValue: 80 } },
      apiListener: { apiListener: { '@type': HCM, ...hcm } },
    },
  };
}

const goodHcm = {
  statPrefix: 'outbound_echo',
  rds: { configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName: 'outbound|80||echo' },
  httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER } }],
};

test('loads the Envoy protos once and reports the load time', () => {
  const p = envoyProtos();
  // Not an assertion on time: a log line for the record.
  console.log(`# envoy protos: ${p.typeCount} message types loaded in ${p.loadMs.toFixed(0)} ms`);
  assert.ok(p.typeCount > 300);
  assert.equal(envoyProtos(), p, 'second call returns the cached root');
  for (const t of [
    'envoy.config.listener.v3.Listener',
    'envoy.config.route.v3.RouteConfiguration',
    'envoy.config.cluster.v3.Cluster',
    'envoy.config.endpoint.v3.ClusterLoadAssignment',
    'envoy.extensions.transport_sockets.tls.v3.Secret',
    'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    'envoy.extensions.filters.http.router.v3.Router',
    'envoy.extensions.filters.http.fault.v3.HTTPFault',
    'envoy.extensions.filters.http.cors.v3.Cors',
    'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
    'envoy.service.discovery.v3.DiscoveryRequest',
    'envoy.service.discovery.v3.DeltaDiscoveryResponse',
    'google.protobuf.Duration',
    'google.protobuf.Struct',
  ]) {
    assert.ok(p.findType(t), t);
  }
});

test('a listener with a nested HttpConnectionManager round-trips to Envoy JSON', () => {
  const bytes = encodeResource(listener(goodHcm));
  const json = decodeResource(TypeUrl.Listener, bytes);
  assert.deepEqual(json, {
    '@type': TypeUrl.Listener,
    name: 'echo:80',
    address: { socket_address: { address: '10.0.0.1', port_value: 80 } },
    api_listener: {
      api_listener: {
        '@type': HCM,
        stat_prefix: 'outbound_echo',
        rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'outbound|80||echo' },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
      },
    },
  });
});

test('well-known types decode as proto3 JSON: durations, wrappers, structs, int64', () => {
  const bytes = encodeMessage('envoy.config.cluster.v3.Cluster', {
    name: 'c',
    type: 'EDS',
    connectTimeout: { seconds: 1, nanos: 500_000_000 },
    perConnectionBufferLimitBytes: { value: 32768 },
    maxRequestsPerConnection: { value: 0 },
    metadata: { filterMetadata: { istio: jsonToStruct({ config: '/apis/x', n: 2, ok: true, list: ['a'] }) } },
    ringHashLbConfig: { minimumRingSize: { value: '1024' } },
  });
  const j = decodeMessage('envoy.config.cluster.v3.Cluster', bytes);
  assert.equal(j.connect_timeout, '1.500s');
  assert.equal(j.per_connection_buffer_limit_bytes, 32768);
  assert.equal(j.max_requests_per_connection, 0, 'a present wrapper keeps its zero');
  assert.deepEqual((j.metadata as { filter_metadata: unknown }).filter_metadata, { istio: { config: '/apis/x', n: 2, ok: true, list: ['a'] } });
  assert.deepEqual(j.ring_hash_lb_config, { minimum_ring_size: '1024' });
  assert.equal(j.type, 'EDS');
});

test('an unknown field is refused with its path, and a snake_case name gets a hint', () => {
  const errors = checkMessage('envoy.config.listener.v3.Listener', listener({ ...goodHcm, stat_prefix: 'x', bogus: 1 }).resource);
  assert.deepEqual(errors, [
    'Listener.apiListener.apiListener<envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager>.stat_prefix: unknown field of envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager (did you mean "statPrefix"?)',
    'Listener.apiListener.apiListener<envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager>.bogus: unknown field of envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  ]);
});

test('wrong types are refused: a bare number where a wrapper message is expected (the load_balancing_weight pitfall)', () => {
  const errors = checkMessage('envoy.config.endpoint.v3.ClusterLoadAssignment', {
    clusterName: 'c',
    endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 70000 } } }, loadBalancingWeight: 1 }] }],
  });
  assert.deepEqual(errors, [
    'ClusterLoadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue: 70000 must be ≤ 65535',
    'ClusterLoadAssignment.endpoints[0].lbEndpoints[0].loadBalancingWeight: expected a google.protobuf.UInt32Value object, got number 1',
  ]);
});

test('invalid enum names, repeated fields that are not arrays, and strings for bools are refused', () => {
  const errors = checkMessage('envoy.config.cluster.v3.Cluster', { name: 'c', type: 'EDSS', lbPolicy: 'ROUND_ROBIN', dnsLookupFamily: 7, transportSocketMatches: {}, respectDnsTtl: 'yes' });
  assert.equal(errors.length, 4, errors.join('\n'));
  assert.match(errors[0]!, /^Cluster\.type: "EDSS" is not a value of enum envoy\.config\.cluster\.v3\.Cluster\.DiscoveryType/);
  assert.match(errors.join('\n'), /Cluster\.dnsLookupFamily: 7 is not a value of enum/);
  assert.match(errors.join('\n'), /Cluster\.transportSocketMatches: expected an array/);
  assert.match(errors.join('\n'), /Cluster\.respectDnsTtl: expected a boolean, got string "yes"/);
});

test('two members of one oneof are refused', () => {
  const errors = checkMessage('envoy.config.cluster.v3.Cluster', { name: 'c', type: 'EDS', clusterType: { name: 'envoy.clusters.aggregate' } });
  assert.deepEqual(errors, ['Cluster: more than one member of oneof cluster_discovery_type is set (type, clusterType)']);
});

test('Anys are checked recursively: unknown @type, and errors deep inside nested Anys', () => {
  const unknownType = checkMessage('envoy.config.listener.v3.Listener', {
    name: 'l',
    filterChains: [{ filters: [{ name: 'x', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope' } }] }],
  });
  assert.deepEqual(unknownType, [
    "Listener.filterChains[0].filters[0].typedConfig: Any '@type' type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope is not a message type Meltemi knows (src/xds/protos.ts)",
  ]);
  const deep = checkMessage('envoy.config.listener.v3.Listener', {
    name: 'l',
    filterChains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typedConfig: { '@type': HCM, ...goodHcm, httpFilters: [{ name: 'router', typedConfig: { '@type': ROUTER, suppressEnvoyHeaders: 'no' } }] },
          },
        ],
      },
    ],
  });
  assert.deepEqual(deep, [
    'Listener.filterChains[0].filters[0].typedConfig<envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager>.httpFilters[0].typedConfig<envoy.extensions.filters.http.router.v3.Router>.suppressEnvoyHeaders: expected a boolean, got string "no"',
  ]);
  const missingType = checkMessage('envoy.config.listener.v3.Listener', { name: 'l', apiListener: { apiListener: { statPrefix: 'x' } } });
  assert.match(missingType[0]!, /Listener\.apiListener\.apiListener: an Any needs '@type'/);
});

test("Envoy's protoc-gen-validate rules are enforced: sizes, bounds, required fields and oneofs, header names", () => {
  const errors = checkMessage('envoy.config.route.v3.RouteConfiguration', {
    name: 'r',
    virtualHosts: [
      {
        name: 'vh',
        domains: [],
        routes: [
          { route: { cluster: 'c' } },
          { match: { prefix: '/', headers: [{ name: 'bad\nheader', presentMatch: true }] }, route: {} },
          { match: { prefix: '/' }, route: { weightedClusters: { clusters: [] } } },
        ],
      },
    ],
  });
  assert.deepEqual(errors, [
    'RouteConfiguration.virtualHosts[0].domains: needs at least 1 item',
    'RouteConfiguration.virtualHosts[0].routes[0].match: required by Envoy (validate.rules)',
    'RouteConfiguration.virtualHosts[0].routes[1].match.headers[0].name: "bad\\nheader" is not a valid HTTP header name',
    'RouteConfiguration.virtualHosts[0].routes[1].route: one of cluster, clusterHeader, weightedClusters, clusterSpecifierPlugin, inlineClusterSpecifierPlugin is required by Envoy (oneof cluster_specifier)',
    'RouteConfiguration.virtualHosts[0].routes[2].route.weightedClusters.clusters: needs at least 1 item',
  ]);
  // An unset string with min_len is the empty string to Envoy: a nameless cluster is refused.
  assert.deepEqual(checkMessage('envoy.config.cluster.v3.Cluster', { type: 'EDS' }), ['Cluster.name: must be at least 1 character']);
  assert.deepEqual(checkMessage('envoy.config.cluster.v3.Cluster', { name: 'c', connectTimeout: { seconds: 0 } }), ['Cluster.connectTimeout: 0s must be > 0s']);
});

test('encodeResource throws a coded internal error naming the resource and every path', () => {
  assert.throws(
    () => encodeResource({ name: 'bad', typeUrl: TypeUrl.Cluster, resource: { name: 'bad', typo: 1, lbPolicy: 'FASTEST' } }),
    (e: unknown) => {
      assert.ok(isMeshError(e, 'MESH_INTERNAL'));
      assert.match(e.message, /^cannot encode Cluster "bad": /);
      assert.match(e.message, /Cluster\.typo: unknown field/);
      assert.match(e.message, /Cluster\.lbPolicy: "FASTEST" is not a value/);
      return true;
    },
  );
});

test('64-bit integers accept safe numbers and decimal strings only', () => {
  assert.deepEqual(checkMessage('google.protobuf.Duration', { seconds: '10', nanos: 0 }), []);
  assert.deepEqual(checkMessage('google.protobuf.Duration', { seconds: 10 }), []);
  assert.match(checkMessage('google.protobuf.Duration', { seconds: '1e3' })[0]!, /seconds: expected an int64/);
  assert.match(checkMessage('google.protobuf.Duration', { seconds: 1.5 })[0]!, /seconds: expected an int64/);
});

test('undefined and null fields count as unset, so optional spreads are fine', () => {
  assert.deepEqual(checkMessage('envoy.config.cluster.v3.Cluster', { name: 'c', type: 'EDS', clusterType: undefined, lbPolicy: null }), []);
  const j = decodeMessage('envoy.config.cluster.v3.Cluster', encodeMessage('envoy.config.cluster.v3.Cluster', { name: 'c', clusterType: undefined }));
  assert.deepEqual(j, { name: 'c' });
});

test('an Any of an unknown type in decoded bytes is shown as base64 rather than failing the dump', () => {
  const bytes = encodeMessage('envoy.config.core.v3.TypedExtensionConfig', { name: 'x', typedConfig: { '@type': ROUTER } });
  // Re-point the type URL at something unknown by encoding the raw Any form through protobufjs directly.
  const t = envoyProtos().type('envoy.config.core.v3.TypedExtensionConfig');
  const raw = t.encode(t.fromObject({ name: 'x', typed_config: { type_url: 'type.googleapis.com/acme.Unknown', value: Buffer.from([8, 1]) } })).finish();
  assert.deepEqual(decodeMessage('envoy.config.core.v3.TypedExtensionConfig', raw), { name: 'x', typed_config: { '@type': 'type.googleapis.com/acme.Unknown', value: 'CAE=' } });
  assert.deepEqual(decodeMessage('envoy.config.core.v3.TypedExtensionConfig', bytes), { name: 'x', typed_config: { '@type': ROUTER } });
});
