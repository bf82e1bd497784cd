// DestinationRule (networking.istio.io): client-side traffic policy and subsets of a host, validated as Istio 1.6 (Maistra 2.0) does.
import { Issues, asArray, asObject, type PathSegment } from '../diagnostics.js';
import { checkDuration, checkExportTo, checkIntPercent, checkLabels, headerNameProblem, isDNS1123Label, portProblem, wildcardDomainProblem } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { Type, arr, bool, duration, enumOf, freeform, int32, map, obj, str, strMap, uint32, type Static } from '../schema.js';
import { networkingKind, PortSelectorSchema } from './networking-types.js';

type Path = PathSegment[];

const LocalityLbSettingSchema = obj({
  distribute: arr(obj({ from: str('Origin locality, region/zone/subzone; may end with *.'), to: map(uint32(), 'Destination localities and their weights (summing to 100).') })),
  failover: arr(obj({ from: str('Origin region.'), to: str('Region to fail over to.') })),
  enabled: bool('Enable locality load balancing for this host.'),
});

const LoadBalancerSettingsSchema = obj({
  simple: enumOf(['ROUND_ROBIN', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH'] as const),
  consistentHash: obj({
    httpHeaderName: str('Hash on this request header.'),
    httpCookie: obj({ name: str(), path: str(), ttl: duration('Lifetime of the generated cookie; 0s makes it a session cookie.') }),
    useSourceIp: bool('Hash on the source IP address.'),
    httpQueryParameterName: str('Hash on this query parameter.'),
    minimumRingSize: Type.Integer({ minimum: 0, description: 'Minimum number of virtual nodes of the hash ring.' }),
  }),
  localityLbSetting: LocalityLbSettingSchema,
});

const ConnectionPoolSettingsSchema = obj({
  tcp: obj({
    maxConnections: int32('Maximum HTTP1/TCP connections to a destination host.'),
    connectTimeout: duration('TCP connect timeout.'),
    tcpKeepalive: obj({ probes: uint32(), time: duration(), interval: duration() }),
  }),
  http: obj({
    http1MaxPendingRequests: int32(),
    http2MaxRequests: int32(),
    maxRequestsPerConnection: int32('0 means unlimited; 1 disables keep-alive.'),
    maxRetries: int32(),
    idleTimeout: duration(),
    h2UpgradePolicy: enumOf(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'] as const),
  }),
});

const OutlierDetectionSchema = obj({
  consecutiveErrors: int32('Deprecated: use consecutive5xxErrors / consecutiveGatewayErrors.'),
  consecutiveGatewayErrors: uint32(),
  consecutive5xxErrors: uint32(),
  interval: duration(),
  baseEjectionTime: duration(),
  maxEjectionPercent: int32(),
  minHealthPercent: int32(),
});

/** Client-side TLS (DestinationRule `tls`, Sidecar `localhostClientTls`). */
export const ClientTLSSettingsSchema = obj({
  mode: enumOf(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] as const),
  clientCertificate: str('Path of the client certificate file (MUTUAL).'),
  privateKey: str('Path of the private key file (MUTUAL).'),
  caCertificates: str('Path of the CA bundle used to verify the server.'),
  subjectAltNames: arr(str()),
  sni: str(),
});

const PortTrafficPolicySchema = obj({
  port: PortSelectorSchema,
  loadBalancer: LoadBalancerSettingsSchema,
  connectionPool: ConnectionPoolSettingsSchema,
  outlierDetection: OutlierDetectionSchema,
  tls: ClientTLSSettingsSchema,
});

const TrafficPolicySchema = obj({
  loadBalancer: LoadBalancerSettingsSchema,
  connectionPool: ConnectionPoolSettingsSchema,
  outlierDetection: OutlierDetectionSchema,
  tls: ClientTLSSettingsSchema,
  portLevelSettings: arr(PortTrafficPolicySchema, 'Per-port policies; a matching entry replaces all four components.'),
});

export const DestinationRuleSpecSchema = obj({
  host: str('Registry host (short name, FQDN or wildcard) the rule applies to.'),
  trafficPolicy: TrafficPolicySchema,
  subsets: arr(obj({ name: str('DNS-1123 label used as destination.subset.'), labels: strMap('Endpoint labels selecting the subset.'), trafficPolicy: TrafficPolicySchema })),
  exportTo: arr(str(), 'Namespaces the rule is visible to: "." or "*".'),
});

export type DestinationRuleSpec = Static<typeof DestinationRuleSpecSchema>;
export type LocalityLbSetting = Static<typeof LocalityLbSettingSchema>;
export type ClientTLSSettings = Static<typeof ClientTLSSettingsSchema>;

const schema = obj({ spec: DestinationRuleSpecSchema, status: freeform() });

const present = (o: Record<string, unknown>, k: string): boolean => o[k] !== undefined && o[k] !== null;
const COMPONENTS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] as const;

function checkOutlierDetection(issues: Issues, path: Path, raw: unknown): void {
  const o = asObject(raw);
  if (!o) return;
  const ce = o.consecutiveErrors;
  if (present(o, 'consecutiveErrors')) issues.warn([...path, 'consecutiveErrors'], 'dr.deprecated-field', 'consecutiveErrors is deprecated: use consecutive5xxErrors (and consecutiveGatewayErrors)');
  if (typeof ce === 'number' && ce < 0) issues.error([...path, 'consecutiveErrors'], 'dr.outlier-detection', `consecutiveErrors cannot be negative, got ${ce}`);
  if (typeof ce === 'number' && ce > 0 && (present(o, 'consecutive5xxErrors') || present(o, 'consecutiveGatewayErrors'))) {
    issues.error([...path, 'consecutiveErrors'], 'dr.outlier-detection', 'consecutiveErrors (deprecated) cannot be set together with consecutive5xxErrors or consecutiveGatewayErrors');
  }
  checkDuration(issues, [...path, 'interval'], o.interval);
  checkDuration(issues, [...path, 'baseEjectionTime'], o.baseEjectionTime);
  checkIntPercent(issues, [...path, 'maxEjectionPercent'], o.maxEjectionPercent);
  checkIntPercent(issues, [...path, 'minHealthPercent'], o.minHealthPercent);
}

function checkConnectionPool(issues: Issues, path: Path, raw: unknown): void {
  const o = asObject(raw);
  if (!o) return;
  if (!present(o, 'tcp') && !present(o, 'http')) {
    issues.error(path, 'dr.connection-pool-empty', 'connection pool must have at least one field (tcp or http)');
    return;
  }
  const nonNegative = (obj: Record<string, unknown>, base: Path, field: string) => {
    const v = obj[field];
    if (typeof v === 'number' && v < 0) issues.error([...base, field], 'dr.connection-pool-limit', `${field} must be non-negative, got ${v}`);
  };
  const http = asObject(o.http);
  if (http) {
    const hp = [...path, 'http'];
    for (const f of ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries']) nonNegative(http, hp, f);
    checkDuration(issues, [...hp, 'idleTimeout'], http.idleTimeout);
  }
  const tcp = asObject(o.tcp);
  if (tcp) {
    const tp = [...path, 'tcp'];
    nonNegative(tcp, tp, 'maxConnections');
    checkDuration(issues, [...tp, 'connectTimeout'], tcp.connectTimeout);
    const ka = asObject(tcp.tcpKeepalive);
    if (ka) {
      checkDuration(issues, [...tp, 'tcpKeepalive', 'time'], ka.time);
      checkDuration(issues, [...tp, 'tcpKeepalive', 'interval'], ka.interval);
    }
  }
}

const HASH_KEYS = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const;

function checkLoadBalancer(issues: Issues, path: Path, raw: unknown): void {
  const o = asObject(raw);
  if (!o) return;
  if (present(o, 'simple') && present(o, 'consistentHash')) issues.error(path, 'dr.load-balancer', 'only one of simple or consistentHash may be set');
  const ch = asObject(o.consistentHash);
  if (ch) {
    const cp = [...path, 'consistentHash'];
    const keys = HASH_KEYS.filter((k) => present(ch, k));
    if (keys.length === 0) issues.error(cp, 'dr.consistent-hash', `consistentHash needs a hash key: one of ${HASH_KEYS.join(', ')}`);
    if (keys.length > 1) issues.error(cp, 'dr.consistent-hash', `only one hash key may be set, got ${keys.join(', ')}`);
    if (typeof ch.httpHeaderName === 'string') {
      const p = headerNameProblem(ch.httpHeaderName);
      if (p) issues.error([...cp, 'httpHeaderName'], 'dr.consistent-hash', p);
    }
    if (ch.httpQueryParameterName === '') issues.error([...cp, 'httpQueryParameterName'], 'dr.consistent-hash', 'httpQueryParameterName cannot be empty');
    const cookie = asObject(ch.httpCookie);
    if (cookie) {
      if (cookie.name === undefined || cookie.name === '') issues.error([...cp, 'httpCookie', 'name'], 'dr.http-cookie', 'name required for httpCookie');
      if (!present(cookie, 'ttl')) issues.error([...cp, 'httpCookie', 'ttl'], 'dr.http-cookie', 'ttl required for httpCookie (0s makes a session cookie)');
      // A zero TTL is meaningful here (Envoy then issues a session cookie).
      checkDuration(issues, [...cp, 'httpCookie', 'ttl'], cookie.ttl, { minMs: 0 });
    }
  }
  checkLocalityLb(issues, [...path, 'localityLbSetting'], o.localityLbSetting);
}

/**
 * Istio's validateLocalities: `region[/zone[/subzone]]`, at most one `*` and only at the end, no empty
 * parts, and no entry that overlaps an earlier one. Returns the index of the first bad entry.
 */
function localitiesProblem(localities: string[]): { index: number; message: string } | undefined {
  const seen = new Map<string, Map<string, Set<string>>>();
  for (let i = 0; i < localities.length; i++) {
    const loc = localities[i]!;
    const stars = loc.split('*').length - 1;
    if (stars > 1 || (stars === 1 && !loc.endsWith('*'))) return { index: i, message: `locality ${loc}: wildcard '*' may appear once, at the end` };
    const idx1 = loc.indexOf('/');
    const idx2 = idx1 < 0 ? -1 : loc.indexOf('/', idx1 + 1);
    const items = idx1 < 0 ? [loc] : idx2 < 0 ? [loc.slice(0, idx1), loc.slice(idx1 + 1)] : [loc.slice(0, idx1), loc.slice(idx1 + 1, idx2), loc.slice(idx2 + 1)];
    if (items.some((x) => x === '')) return { index: i, message: `locality ${loc} must not contain empty region/zone/subzone parts` };
    const overlap = { index: i, message: `locality ${loc} overlaps with a previous one` };
    if (seen.has('*')) return overlap;
    const [region, zone, subzone] = items as [string, string | undefined, string | undefined];
    const zones = seen.get(region);
    if (zone === undefined) {
      if (zones) return overlap;
      seen.set(region, new Map([['*', new Set(['*'])]]));
      continue;
    }
    if (!zones) {
      seen.set(region, new Map([[zone, new Set([subzone ?? '*'])]]));
      continue;
    }
    if (zones.has('*')) return overlap;
    const subs = zones.get(zone);
    if (subzone === undefined) {
      if (subs) return overlap;
      zones.set(zone, new Set(['*']));
      continue;
    }
    if (!subs) {
      zones.set(zone, new Set([subzone]));
      continue;
    }
    if (subs.has('*') || subs.has(subzone)) return overlap;
    subs.add(subzone);
  }
  return undefined;
}

function checkLocalityLb(issues: Issues, path: Path, raw: unknown): void {
  const o = asObject(raw);
  if (!o) return;
  const distribute = asArray(o.distribute);
  const failover = asArray(o.failover);
  if (distribute.length > 0 && failover.length > 0) issues.error(path, 'dr.locality-lb-exclusive', "can not simultaneously specify 'distribute' and 'failover'");

  const froms: string[] = [];
  const fromIndex: number[] = [];
  distribute.forEach((raw, i) => {
    const d = asObject(raw);
    if (!d) return;
    const dp = [...path, 'distribute', i];
    if (typeof d.from === 'string') {
      froms.push(d.from);
      fromIndex.push(i);
    }
    const to = asObject(d.to) ?? {};
    let total = 0;
    for (const [loc, w] of Object.entries(to)) {
      if (typeof w !== 'number') continue;
      if (w === 0) issues.error([...dp, 'to', loc], 'dr.locality-distribute', `locality weight for ${loc} must be in range [1, 100]`);
      total += w;
    }
    if (total !== 100) issues.error([...dp, 'to'], 'dr.locality-distribute', `total locality weight ${total} != 100`);
    const keys = Object.keys(to);
    const p = localitiesProblem(keys);
    if (p) issues.error([...dp, 'to', keys[p.index]!], 'dr.locality-distribute', p.message);
  });
  const p = localitiesProblem(froms);
  if (p) issues.error([...path, 'distribute', fromIndex[p.index]!, 'from'], 'dr.locality-distribute', p.message);

  failover.forEach((raw, i) => {
    const f = asObject(raw);
    if (!f) return;
    const fp = [...path, 'failover', i];
    if (typeof f.to === 'string' && f.from === f.to) issues.error([...fp, 'to'], 'dr.locality-failover', 'locality lb failover settings must specify different regions');
    if (typeof f.to === 'string' && f.to.includes('*')) issues.error([...fp, 'to'], 'dr.locality-failover', "locality lb failover region should not contain '*' wildcard");
  });
}

function checkClientTls(issues: Issues, path: Path, raw: unknown): void {
  const t = asObject(raw);
  if (!t) return;
  const has = (k: string) => typeof t[k] === 'string' && t[k] !== '';
  if (t.mode === 'MUTUAL') {
    if (!has('clientCertificate')) issues.error([...path, 'clientCertificate'], 'dr.tls-settings', 'client certificate required for mutual tls');
    if (!has('privateKey')) issues.error([...path, 'privateKey'], 'dr.tls-settings', 'private key required for mutual tls');
  } else if (t.mode === 'ISTIO_MUTUAL') {
    // The mesh's own certificates are used; file paths here would be silently ignored.
    for (const k of ['clientCertificate', 'privateKey', 'caCertificates']) {
      if (has(k)) issues.error([...path, k], 'dr.tls-settings', `ISTIO_MUTUAL uses the mesh certificates: ${k} cannot be set (use MUTUAL for your own certificates)`);
    }
  }
}

function checkComponents(issues: Issues, path: Path, o: Record<string, unknown>): void {
  checkOutlierDetection(issues, [...path, 'outlierDetection'], o.outlierDetection);
  checkConnectionPool(issues, [...path, 'connectionPool'], o.connectionPool);
  checkLoadBalancer(issues, [...path, 'loadBalancer'], o.loadBalancer);
  checkClientTls(issues, [...path, 'tls'], o.tls);
}

function checkTrafficPolicy(issues: Issues, path: Path, raw: unknown): void {
  const tp = asObject(raw);
  if (!tp) return;
  if (![...COMPONENTS, 'portLevelSettings'].some((k) => present(tp, k))) {
    issues.error(path, 'dr.traffic-policy-empty', 'traffic policy must have at least one field (loadBalancer, connectionPool, outlierDetection, tls or portLevelSettings)');
    return;
  }
  checkComponents(issues, path, tp);
  const seen = new Map<number, number>();
  asArray(tp.portLevelSettings).forEach((raw, i) => {
    const pl = asObject(raw);
    if (!pl) return;
    const pp = [...path, 'portLevelSettings', i];
    const port = asObject(pl.port);
    if (!port) issues.error([...pp, 'port'], 'dr.port-level-port', 'a port-level policy must name its port (port.number)');
    else {
      const n = port.number ?? 0;
      const problem = typeof n === 'number' ? portProblem(n) : undefined;
      if (problem) issues.error([...pp, 'port', 'number'], 'dr.port-level-port', problem);
      else if (typeof n === 'number') {
        const first = seen.get(n);
        if (first !== undefined) issues.error([...pp, 'port', 'number'], 'dr.port-level-unique', `port ${n} already has a port-level policy (portLevelSettings[${first}])`);
        else seen.set(n, i);
      }
    }
    if (!COMPONENTS.some((k) => present(pl, k))) issues.error(pp, 'dr.traffic-policy-empty', 'port traffic policy must have at least one field (loadBalancer, connectionPool, outlierDetection or tls)');
    else checkComponents(issues, pp, pl);
  });
}

function validateDestinationRule(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec) ?? {};
  const host = spec.host;
  if (host === undefined || host === '') issues.error(['spec', 'host'], 'dr.host', 'host is required: the service (short name, FQDN or wildcard) this rule applies to');
  else if (typeof host === 'string') {
    const p = wildcardDomainProblem(host);
    if (p) issues.error(['spec', 'host'], 'dr.host', p);
  }
  checkTrafficPolicy(issues, ['spec', 'trafficPolicy'], spec.trafficPolicy);

  const names = new Map<string, number>();
  asArray(spec.subsets).forEach((raw, i) => {
    const s = asObject(raw);
    if (!s) return;
    const sp = ['spec', 'subsets', i];
    const name = s.name;
    if (name === undefined || name === '') issues.error([...sp, 'name'], 'dr.subset-name', 'subset name is required');
    else if (typeof name === 'string') {
      if (!isDNS1123Label(name)) issues.error([...sp, 'name'], 'dr.subset-name', `subset name "${name}" is invalid: must be a DNS-1123 label (lower-case letters, digits and "-", at most 63 characters)`);
      const first = names.get(name);
      if (first !== undefined) issues.error([...sp, 'name'], 'dr.subset-name-unique', `subset name "${name}" is already used by subsets[${first}]`);
      else names.set(name, i);
    }
    checkLabels(issues, [...sp, 'labels'], s.labels);
    checkTrafficPolicy(issues, [...sp, 'trafficPolicy'], s.trafficPolicy);
  });
  checkExportTo(issues, ['spec', 'exportTo'], spec.exportTo);
}

export const destinationRuleKind: KindDef = networkingKind({
  kind: 'DestinationRule',
  plural: 'destinationrules',
  shortNames: ['dr'],
  description: 'Policies applied to traffic for a host after routing: load balancing, connection pools, outlier detection, client TLS, and named subsets of its endpoints.',
  schema: schema,
  validate: validateDestinationRule,
});

// Used only by the rule examples below.
const dr = (body: string, host = 'reviews') => `apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  host: ${host}\n${body}`;
const tp = (policy: string) => dr(`  trafficPolicy:\n${policy}`);

defineRules('DestinationRule', [
  { id: 'dr.host', severity: 'error', summary: 'host is required and is a short name, FQDN or wildcard domain (*.example.com, *.local).', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  subsets: [{name: v1, labels: {version: v1}}]\n', field: 'spec.host' }, { yaml: dr('', 'reviews.*.svc'), field: 'spec.host' }] },
  { id: 'dr.traffic-policy-empty', severity: 'error', summary: 'A trafficPolicy (top-level, subset or port-level) sets at least one of loadBalancer, connectionPool, outlierDetection, tls (or portLevelSettings).', examples: [{ yaml: tp('    {}\n'), field: 'spec.trafficPolicy' }, { yaml: tp('    portLevelSettings:\n    - port: {number: 9080}\n'), field: 'spec.trafficPolicy.portLevelSettings[0]' }] },
  { id: 'dr.connection-pool-empty', severity: 'error', summary: 'A connectionPool sets tcp, http or both.', examples: [{ yaml: tp('    connectionPool: {}\n'), field: 'spec.trafficPolicy.connectionPool' }] },
  { id: 'dr.connection-pool-limit', severity: 'error', summary: 'Connection pool limits (maxConnections, http1MaxPendingRequests, http2MaxRequests, maxRequestsPerConnection, maxRetries) are not negative.', examples: [{ yaml: tp('    connectionPool:\n      tcp: {maxConnections: -1}\n'), field: 'spec.trafficPolicy.connectionPool.tcp.maxConnections' }] },
  { id: 'dr.outlier-detection', severity: 'error', summary: 'outlierDetection.consecutiveErrors is not negative and is not combined with consecutive5xxErrors or consecutiveGatewayErrors.', examples: [{ yaml: tp('    outlierDetection: {consecutiveErrors: 5, consecutive5xxErrors: 5}\n'), field: 'spec.trafficPolicy.outlierDetection.consecutiveErrors' }] },
  { id: 'dr.load-balancer', severity: 'error', summary: 'A loadBalancer sets simple or consistentHash, not both.', examples: [{ yaml: tp('    loadBalancer:\n      simple: ROUND_ROBIN\n      consistentHash: {useSourceIp: true}\n'), field: 'spec.trafficPolicy.loadBalancer' }] },
  { id: 'dr.consistent-hash', severity: 'error', summary: 'consistentHash sets exactly one hash key: httpHeaderName (a valid header name), httpCookie, useSourceIp or httpQueryParameterName.', examples: [{ yaml: tp('    loadBalancer:\n      consistentHash: {minimumRingSize: 1024}\n'), field: 'spec.trafficPolicy.loadBalancer.consistentHash' }, { yaml: tp('    loadBalancer:\n      consistentHash: {httpHeaderName: x-user, useSourceIp: true}\n'), field: 'spec.trafficPolicy.loadBalancer.consistentHash' }] },
  { id: 'dr.http-cookie', severity: 'error', summary: 'A consistent-hash httpCookie has a name and a ttl.', examples: [{ yaml: tp('    loadBalancer:\n      consistentHash:\n        httpCookie: {name: user}\n'), field: 'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl' }] },
  { id: 'dr.locality-lb-exclusive', severity: 'error', summary: 'localityLbSetting sets distribute or failover, not both.', examples: [{ yaml: tp('    loadBalancer:\n      localityLbSetting:\n        distribute: [{from: us-west/*, to: {"us-west/*": 100}}]\n        failover: [{from: us-east, to: eu-west}]\n'), field: 'spec.trafficPolicy.loadBalancer.localityLbSetting' }] },
  { id: 'dr.locality-distribute', severity: 'error', summary: 'Each distribute entry sends weights of 1..100 that add up to 100; localities are region[/zone[/subzone]] with at most one trailing *, and do not overlap.', examples: [{ yaml: tp('    loadBalancer:\n      localityLbSetting:\n        distribute:\n        - from: us-west/zone1/*\n          to: {"us-west/zone1/*": 80, "us-west/zone2/*": 10}\n'), field: 'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to' }, { yaml: tp('    loadBalancer:\n      localityLbSetting:\n        distribute:\n        - from: "us-*/zone1"\n          to: {"us-west/zone1": 100}\n'), field: 'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].from' }] },
  { id: 'dr.locality-failover', severity: 'error', summary: 'A failover entry goes to a different region, given without wildcard.', examples: [{ yaml: tp('    loadBalancer:\n      localityLbSetting:\n        failover: [{from: us-east, to: us-east}]\n'), field: 'spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0].to' }] },
  { id: 'dr.tls-settings', severity: 'error', summary: 'MUTUAL needs clientCertificate and privateKey; ISTIO_MUTUAL uses the mesh certificates and takes no certificate files.', examples: [{ yaml: tp('    tls: {mode: MUTUAL, privateKey: /etc/certs/key.pem}\n'), field: 'spec.trafficPolicy.tls.clientCertificate' }, { yaml: tp('    tls: {mode: ISTIO_MUTUAL, caCertificates: /etc/certs/ca.pem}\n'), field: 'spec.trafficPolicy.tls.caCertificates' }] },
  { id: 'dr.port-level-port', severity: 'error', summary: 'Each portLevelSettings entry names a port number in 1..65535.', examples: [{ yaml: tp('    portLevelSettings:\n    - loadBalancer: {simple: LEAST_CONN}\n'), field: 'spec.trafficPolicy.portLevelSettings[0].port' }] },
  { id: 'dr.port-level-unique', severity: 'error', summary: 'A port has at most one portLevelSettings entry.', examples: [{ yaml: tp('    portLevelSettings:\n    - port: {number: 9080}\n      loadBalancer: {simple: LEAST_CONN}\n    - port: {number: 9080}\n      loadBalancer: {simple: RANDOM}\n'), field: 'spec.trafficPolicy.portLevelSettings[1].port.number' }] },
  { id: 'dr.subset-name', severity: 'error', summary: 'Each subset has a name that is a DNS-1123 label.', examples: [{ yaml: dr('  subsets:\n  - labels: {version: v1}\n'), field: 'spec.subsets[0].name' }, { yaml: dr('  subsets:\n  - name: V1.0\n    labels: {version: v1}\n'), field: 'spec.subsets[0].name' }] },
  { id: 'dr.subset-name-unique', severity: 'error', summary: 'Subset names are unique within a DestinationRule.', examples: [{ yaml: dr('  subsets:\n  - name: v1\n    labels: {version: v1}\n  - name: v1\n    labels: {version: v2}\n'), field: 'spec.subsets[1].name' }] },
  { id: 'dr.deprecated-field', severity: 'warning', summary: 'outlierDetection.consecutiveErrors is deprecated in favour of consecutive5xxErrors and consecutiveGatewayErrors.', examples: [{ yaml: tp('    outlierDetection: {consecutiveErrors: 7}\n'), field: 'spec.trafficPolicy.outlierDetection.consecutiveErrors' }] },
]);
