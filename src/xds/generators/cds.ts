// CDS: the clusters of a sidecar or gateway — outbound per service port and DestinationRule subset, inbound per workload port, and the fixed ones.
import type { DestinationRuleConfig, PushContext } from '../../model/push-context.js';
import type { Proxy } from '../../model/proxy.js';
import type { Service, ServicePort } from '../../registry/types.js';
import { TypeUrl, type Generator, type XdsResource } from '../types.js';
import {
  BLACKHOLE_CLUSTER,
  INBOUND_PASSTHROUGH_BIND_IPV4,
  INBOUND_PASSTHROUGH_CLUSTER_IPV4,
  PASSTHROUGH_CLUSTER,
  inboundCluster,
  istioMtlsSni,
  outboundCluster,
} from './cluster-names.js';
import { address, adsConfigSource, configMetadata, durationMs, type Msg } from './envoy-values.js';
import { localityLbEndpoints } from './locality-endpoints.js';
import { localityLbSettingFor } from './locality-lb.js';
import { isHttp, isHttp2, type Protocol } from './port-protocol.js';
import { serviceAccounts } from './service-accounts.js';
import {
  circuitBreakers,
  connectTimeout,
  effectiveComponents,
  httpProtocolOptions,
  loadBalancing,
  outlierDetection,
  selectComponents,
  shouldUpgradeH2,
  subsetLabels,
  upstreamConnectionOptions,
  type ConnectionPool,
} from './traffic-policy.js';
import { meshTlsParams } from './inbound-tls.js';
import { upstreamTls } from './upstream-tls.js';
import { inboundPorts } from './inbound-ports.js';
import { objectId, pushMemo } from './push-memo.js';

/** How often Envoy re-resolves DNS clusters (Istio's mesh default dnsRefreshRate). */
const DNS_REFRESH_MS = 5000;

/**
 * Envoy discovery type of a service's clusters: registry endpoints over EDS, DNS resolved by the
 * proxy, or the original destination for resolution NONE (sidecars only: a gateway has no
 * original destination to forward to, so it uses EDS like Istio).
 */
export function discoveryType(proxy: Proxy, service: Service): 'EDS' | 'STRICT_DNS' | 'ORIGINAL_DST' {
  if (service.resolution === 'DNS') return 'STRICT_DNS';
  if (service.resolution === 'NONE' && proxy.type === 'sidecar') return 'ORIGINAL_DST';
  return 'EDS';
}

interface OutboundInput {
  proxy: Proxy;
  push: PushContext;
  service: Service;
  port: ServicePort;
  subset: string;
  type: 'EDS' | 'STRICT_DNS' | 'ORIGINAL_DST';
  rule?: DestinationRuleConfig;
  serviceAccounts: readonly string[];
}

/** One outbound cluster; undefined for a DNS cluster with nothing to resolve (Envoy would reject it). */
function outboundClusterFor(inp: OutboundInput): Msg | undefined {
  const { push, service, port, subset } = inp;
  const mesh = push.mesh;
  const name = outboundCluster(service.hostname, port.port, subset);
  const comps = effectiveComponents(inp.rule?.spec, port.port, subset);
  const pool = comps.connectionPool;
  const lb = loadBalancing(comps.loadBalancer, inp.type);
  const cluster: Msg = { name, type: lb.type, connectTimeout: connectTimeout(pool, mesh), lbPolicy: lb.lbPolicy };
  if (lb.ringHashLbConfig) cluster.ringHashLbConfig = lb.ringHashLbConfig;

  if (lb.type === 'EDS') cluster.edsClusterConfig = { serviceName: name, edsConfig: adsConfigSource() };
  if (lb.type === 'STRICT_DNS') {
    const labels = subset === '' ? undefined : subsetLabels(inp.rule?.spec, subset);
    const endpoints = push.endpoints(service, port.port, labels);
    if (endpoints.length === 0) return undefined;
    Object.assign(cluster, {
      dnsLookupFamily: 'V4_ONLY',
      dnsRefreshRate: durationMs(DNS_REFRESH_MS),
      respectDnsTtl: true,
      loadAssignment: { clusterName: name, endpoints: localityLbEndpoints(endpoints) },
    });
  }

  cluster.circuitBreakers = circuitBreakers(pool);
  const http2 = isHttp2(port.protocol) || (isHttp(port.protocol) && shouldUpgradeH2(pool));
  const hpo = httpProtocolOptions(pool, { http: isHttp(port.protocol), http2, mesh });
  if (hpo) cluster.typedExtensionProtocolOptions = hpo;
  const uco = upstreamConnectionOptions(pool);
  if (uco) cluster.upstreamConnectionOptions = uco;
  if (comps.outlierDetection) {
    const od = outlierDetection(comps.outlierDetection);
    cluster.outlierDetection = od.outlierDetection;
    cluster.commonLbConfig = { healthyPanicThreshold: od.healthyPanicThreshold };
  }
  // `distribute` weights (set per proxy locality in EDS) only count with locality-weighted balancing.
  const locality = localityLbSettingFor(mesh, comps.loadBalancer?.localityLbSetting);
  if (locality?.distribute && locality.distribute.length > 0) cluster.commonLbConfig = { ...((cluster.commonLbConfig as Msg | undefined) ?? {}), localityWeightedLbConfig: {} };
  Object.assign(
    cluster,
    upstreamTls(comps.tls, {
      clusterName: name,
      hostname: service.hostname,
      istioSni: istioMtlsSni(service.hostname, port.port, subset),
      serviceAccounts: inp.serviceAccounts,
      http2,
      meshExternal: service.location === 'MESH_EXTERNAL',
      type: lb.type,
      // Istio 1.6's BestEffortInferServiceMTLSMode: auto-mTLS stays off toward a service whose
      // namespace (or the mesh) PeerAuthentication is DISABLE, whose sidecars accept only plaintext.
      // Workload-level policies are not consulted (a DestinationRule has to say DISABLE for those).
      enableAutoMtls: mesh.enableAutoMtls && push.namespaceMtlsMode(service.namespace) !== 'DISABLE',
      meshTlsParams: meshTlsParams(mesh),
    }),
  );
  if (inp.rule) cluster.metadata = configMetadata('destination-rule', inp.rule.namespace, inp.rule.name, subset === '' ? {} : { subset });
  return cluster;
}

/**
 * The default cluster of a service port and one per subset of its DestinationRule (none when the
 * default cluster cannot be built). Frozen and shared: the result depends on the proxy only through
 * its type and the DestinationRule it sees, so proxies of every namespace that see the same rule
 * share one generation (push-memo.ts).
 */
export function outboundClustersForPort(proxy: Proxy, push: PushContext, service: Service, port: ServicePort): readonly Msg[] {
  const rule = push.destinationRule(proxy, service.hostname);
  return pushMemo(push, `cds-port|${proxy.type}|${objectId(rule)}|${objectId(service)}|${objectId(port)}`, () => buildOutboundClustersForPort(proxy, push, service, port, rule));
}

function buildOutboundClustersForPort(proxy: Proxy, push: PushContext, service: Service, port: ServicePort, rule: DestinationRuleConfig | undefined): Msg[] {
  const base: Omit<OutboundInput, 'subset'> = {
    proxy,
    push,
    service,
    port,
    type: discoveryType(proxy, service),
    rule,
    serviceAccounts: serviceAccounts(push, service, port.port),
  };
  const def = outboundClusterFor({ ...base, subset: '' });
  if (!def) return [];
  const out = [def];
  const seen = new Set<string>();
  for (const s of rule?.spec.subsets ?? []) {
    if (!s.name || seen.has(s.name)) continue;
    seen.add(s.name);
    const c = outboundClusterFor({ ...base, subset: s.name });
    if (c) out.push(c);
  }
  return out;
}

/** A STATIC cluster to the local application; of a DestinationRule only the connection pool applies on the server side (Istio). */
function inboundClusterMsg(push: PushContext, name: string, endpointAddress: string, endpointPort: number, protocol: Protocol, pool: ConnectionPool | undefined): Msg {
  const cluster: Msg = {
    name,
    type: 'STATIC',
    connectTimeout: connectTimeout(pool, push.mesh),
    lbPolicy: 'ROUND_ROBIN',
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: address(endpointAddress, endpointPort) } }] }] },
    circuitBreakers: circuitBreakers(pool),
  };
  const hpo = httpProtocolOptions(pool, { http: isHttp(protocol), http2: isHttp2(protocol), mesh: push.mesh });
  if (hpo) cluster.typedExtensionProtocolOptions = hpo;
  const uco = upstreamConnectionOptions(pool);
  if (uco) cluster.upstreamConnectionOptions = uco;
  return cluster;
}

/**
 * Inbound clusters: one per port the workload serves, to the application on 127.0.0.1 (as Istio
 * 1.6: the sidecar and the app share a network namespace, and iptables leaves loopback alone), or
 * to a Sidecar ingress listener's defaultEndpoint.
 */
function inboundClusters(proxy: Proxy, push: PushContext): Msg[] {
  return inboundPorts(proxy, push).map((p) => {
    const rule = p.service ? push.destinationRule(proxy, p.service.hostname) : undefined;
    const pool = rule && p.servicePort !== undefined ? selectComponents(rule.spec.trafficPolicy, p.servicePort).connectionPool : undefined;
    const c = inboundClusterMsg(push, inboundCluster(p.port), p.endpointAddress, p.endpointPort, p.protocol, pool);
    if (rule && pool) c.metadata = configMetadata('destination-rule', rule.namespace, rule.name);
    return c;
  });
}

/** `BlackHoleCluster`: STATIC with no endpoints, so every request through it fails (Envoy's `UH`). */
export function blackHoleCluster(push: PushContext): Msg {
  return { name: BLACKHOLE_CLUSTER, type: 'STATIC', connectTimeout: durationMs(push.mesh.connectTimeoutMs), lbPolicy: 'ROUND_ROBIN' };
}

/** `PassthroughCluster`: forwards to the connection's original destination. */
export function passthroughCluster(push: PushContext, name = PASSTHROUGH_CLUSTER): Msg {
  return {
    name,
    type: 'ORIGINAL_DST',
    connectTimeout: durationMs(push.mesh.connectTimeoutMs),
    lbPolicy: 'CLUSTER_PROVIDED',
    circuitBreakers: circuitBreakers(undefined),
  };
}

/** `InboundPassthroughClusterIpv4`: inbound traffic to ports no service declares, sourced from 127.0.0.6 so iptables does not loop it back. */
function inboundPassthroughCluster(push: PushContext): Msg {
  return { ...passthroughCluster(push, INBOUND_PASSTHROUGH_CLUSTER_IPV4), upstreamBindConfig: { sourceAddress: { address: INBOUND_PASSTHROUGH_BIND_IPV4, portValue: 0 } } };
}

/** The outbound clusters of a proxy's view, names unique (first wins), with their names and resource wrappers. */
interface OutboundClusters {
  clusters: readonly Msg[];
  names: ReadonlySet<string>;
  resources: readonly XdsResource[];
}

/**
 * Optimization: the outbound part depends on the scope, the proxy type and (through DestinationRule
 * lookup) its namespace, so it is built once per such view and push (push-memo.ts).
 */
function outboundClusters(proxy: Proxy, push: PushContext): OutboundClusters {
  const scope = push.sidecarScope(proxy);
  return pushMemo(push, `cds-outbound|${proxy.type}|${objectId(scope)}|${proxy.namespace}`, () => {
    const clusters: Msg[] = [];
    const names = new Set<string>();
    for (const service of scope.services) {
      for (const port of service.ports) {
        if (port.protocol === 'UDP') continue;
        for (const c of outboundClustersForPort(proxy, push, service, port)) {
          if (names.has(c.name as string)) continue;
          names.add(c.name as string);
          clusters.push(c);
        }
      }
    }
    return { clusters, names, resources: clusters.map((c) => ({ name: c.name as string, typeUrl: TypeUrl.Cluster, resource: c })) };
  });
}

/** The clusters after the outbound ones: fixed ones (shared) and the proxy's own inbound clusters, names not yet taken. */
function otherClusters(proxy: Proxy, push: PushContext, taken: ReadonlySet<string>): Msg[] {
  const out: Msg[] = [pushMemo(push, 'cds-blackhole', () => blackHoleCluster(push))];
  if (proxy.type === 'sidecar') {
    out.push(pushMemo(push, 'cds-passthrough', () => passthroughCluster(push)));
    out.push(...inboundClusters(proxy, push));
    out.push(pushMemo(push, 'cds-inbound-passthrough', () => inboundPassthroughCluster(push)));
  }
  const seen = new Set<string>();
  return out.filter((c) => {
    const name = c.name as string;
    if (taken.has(name) || seen.has(name)) return false;
    seen.add(name);
    return true;
  });
}

/**
 * All clusters of `proxy`, first definition of a name winning (Istio's normalizeClusters). A
 * sidecar gets outbound clusters for its Sidecar scope, BlackHole and Passthrough, inbound
 * clusters and the inbound passthrough cluster; a gateway gets outbound clusters for every service
 * visible to it and BlackHole. Outbound and fixed clusters are frozen objects shared between proxies.
 */
export function buildClusters(proxy: Proxy, push: PushContext): Msg[] {
  const outbound = outboundClusters(proxy, push);
  return [...outbound.clusters, ...otherClusters(proxy, push, outbound.names)];
}

/** The CDS generator: every cluster of the proxy (CDS is not subscribed to by name). */
export const generateClusters: Generator = (proxy, push): XdsResource[] => {
  const outbound = outboundClusters(proxy, push);
  return [...outbound.resources, ...otherClusters(proxy, push, outbound.names).map((c) => ({ name: c.name as string, typeUrl: TypeUrl.Cluster, resource: c }))];
};
