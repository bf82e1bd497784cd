// DestinationRule validation: Istio 1.6 (Maistra 2.0) rules for host, traffic policies, locality load balancing, TLS and subsets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, expectError, expectValid, expectWarning } from '../helpers/validation.js';

const dr = (body: string, host = '  host: reviews\n') =>
  `apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: bookinfo}\nspec:\n${host}${body}`;
const tp = (policy: string) => dr(`  trafficPolicy:\n${policy}`);
const lb = (setting: string) => tp(`    loadBalancer:\n      localityLbSetting:\n${setting}`);
const TP = 'spec.trafficPolicy';
const LOC = `${TP}.loadBalancer.localityLbSetting`;

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  { name: 'no host', yaml: dr('  subsets: [{name: v1, labels: {version: v1}}]\n', ''), rule: 'dr.host', field: 'spec.host', message: 'required' },
  { name: 'a host with a wildcard in the middle', yaml: dr('', '  host: "reviews.*"\n'), rule: 'dr.host', field: 'spec.host' },
  { name: 'an IP address as host', yaml: dr('', '  host: 10.0.0.1\n'), rule: 'dr.host', field: 'spec.host' },
  { name: 'an empty traffic policy', yaml: tp('    {}\n'), rule: 'dr.traffic-policy-empty', field: TP },
  { name: 'an empty subset traffic policy', yaml: dr('  subsets:\n  - name: v1\n    trafficPolicy: {}\n'), rule: 'dr.traffic-policy-empty', field: 'spec.subsets[0].trafficPolicy' },
  { name: 'a port-level policy with only a port', yaml: tp('    portLevelSettings:\n    - port: {number: 80}\n'), rule: 'dr.traffic-policy-empty', field: `${TP}.portLevelSettings[0]` },
  { name: 'a port-level policy without port', yaml: tp('    portLevelSettings:\n    - tls: {mode: ISTIO_MUTUAL}\n'), rule: 'dr.port-level-port', field: `${TP}.portLevelSettings[0].port` },
  { name: 'a port-level policy on port 0', yaml: tp('    portLevelSettings:\n    - port: {number: 0}\n      tls: {mode: DISABLE}\n'), rule: 'dr.port-level-port', field: `${TP}.portLevelSettings[0].port.number` },
  { name: 'two port-level policies for one port', yaml: tp('    portLevelSettings:\n    - port: {number: 80}\n      tls: {mode: DISABLE}\n    - port: {number: 80}\n      tls: {mode: ISTIO_MUTUAL}\n'), rule: 'dr.port-level-unique', field: `${TP}.portLevelSettings[1].port.number` },
  { name: 'an empty connection pool', yaml: tp('    connectionPool: {}\n'), rule: 'dr.connection-pool-empty', field: `${TP}.connectionPool` },
  { name: 'negative maxConnections', yaml: tp('    connectionPool:\n      tcp: {maxConnections: -1}\n'), rule: 'dr.connection-pool-limit', field: `${TP}.connectionPool.tcp.maxConnections` },
  { name: 'negative http1MaxPendingRequests', yaml: tp('    connectionPool:\n      http: {http1MaxPendingRequests: -5}\n'), rule: 'dr.connection-pool-limit', field: `${TP}.connectionPool.http.http1MaxPendingRequests` },
  { name: 'negative maxRetries in a port-level policy', yaml: tp('    portLevelSettings:\n    - port: {number: 9080}\n      connectionPool:\n        http: {maxRetries: -1}\n'), rule: 'dr.connection-pool-limit', field: `${TP}.portLevelSettings[0].connectionPool.http.maxRetries` },
  { name: 'a connect timeout under 1ms', yaml: tp('    connectionPool:\n      tcp: {connectTimeout: 100us}\n'), rule: 'common.duration', field: `${TP}.connectionPool.tcp.connectTimeout` },
  { name: 'an idle timeout that is not a duration', yaml: tp('    connectionPool:\n      http: {idleTimeout: 1 hour}\n'), rule: 'common.duration', field: `${TP}.connectionPool.http.idleTimeout` },
  { name: 'an unknown h2UpgradePolicy', yaml: tp('    connectionPool:\n      http: {h2UpgradePolicy: ALWAYS}\n'), rule: 'schema.type', field: `${TP}.connectionPool.http.h2UpgradePolicy` },
  { name: 'negative consecutiveErrors', yaml: tp('    outlierDetection: {consecutiveErrors: -1}\n'), rule: 'dr.outlier-detection', field: `${TP}.outlierDetection.consecutiveErrors` },
  { name: 'consecutiveErrors with consecutiveGatewayErrors', yaml: tp('    outlierDetection: {consecutiveErrors: 3, consecutiveGatewayErrors: 2}\n'), rule: 'dr.outlier-detection', field: `${TP}.outlierDetection.consecutiveErrors` },
  { name: 'maxEjectionPercent over 100', yaml: tp('    outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 101}\n'), rule: 'common.percentage', field: `${TP}.outlierDetection.maxEjectionPercent` },
  { name: 'negative minHealthPercent', yaml: tp('    outlierDetection: {minHealthPercent: -1}\n'), rule: 'common.percentage', field: `${TP}.outlierDetection.minHealthPercent` },
  { name: 'a zero base ejection time', yaml: tp('    outlierDetection: {baseEjectionTime: 0s}\n'), rule: 'common.duration', field: `${TP}.outlierDetection.baseEjectionTime` },
  { name: 'negative consecutive5xxErrors', yaml: tp('    outlierDetection: {consecutive5xxErrors: -3}\n'), rule: 'schema.range', field: `${TP}.outlierDetection.consecutive5xxErrors` },
  { name: 'simple and consistentHash together', yaml: tp('    loadBalancer:\n      simple: LEAST_CONN\n      consistentHash: {httpHeaderName: x-user}\n'), rule: 'dr.load-balancer', field: `${TP}.loadBalancer` },
  { name: 'a consistent hash without key', yaml: tp('    loadBalancer:\n      consistentHash: {}\n'), rule: 'dr.consistent-hash', field: `${TP}.loadBalancer.consistentHash` },
  { name: 'a consistent hash with two keys', yaml: tp('    loadBalancer:\n      consistentHash: {httpQueryParameterName: user, useSourceIp: true}\n'), rule: 'dr.consistent-hash', field: `${TP}.loadBalancer.consistentHash`, message: 'only one hash key' },
  { name: 'a consistent hash on an invalid header name', yaml: tp('    loadBalancer:\n      consistentHash: {httpHeaderName: "x user"}\n'), rule: 'dr.consistent-hash', field: `${TP}.loadBalancer.consistentHash.httpHeaderName` },
  { name: 'an httpCookie without name', yaml: tp('    loadBalancer:\n      consistentHash:\n        httpCookie: {ttl: 0s}\n'), rule: 'dr.http-cookie', field: `${TP}.loadBalancer.consistentHash.httpCookie.name` },
  { name: 'an httpCookie without ttl', yaml: tp('    loadBalancer:\n      consistentHash:\n        httpCookie: {name: user}\n'), rule: 'dr.http-cookie', field: `${TP}.loadBalancer.consistentHash.httpCookie.ttl` },
  { name: 'distribute and failover together', yaml: lb('        distribute: [{from: us-west/*, to: {"us-west/*": 100}}]\n        failover: [{from: us-west, to: us-east}]\n'), rule: 'dr.locality-lb-exclusive', field: LOC },
  { name: 'distribute weights summing to 110', yaml: lb('        distribute:\n        - from: us-west/zone1/*\n          to: {"us-west/zone1/*": 60, "us-west/zone2/*": 50}\n'), rule: 'dr.locality-distribute', field: `${LOC}.distribute[0].to`, message: '110 != 100' },
  { name: 'a zero distribute weight', yaml: lb('        distribute:\n        - from: us-west/zone1/*\n          to: {"us-west/zone1/*": 100, "us-west/zone2/*": 0}\n'), rule: 'dr.locality-distribute', field: `${LOC}.distribute[0].to["us-west/zone2/*"]` },
  { name: 'a locality with an empty zone', yaml: lb('        distribute:\n        - from: us-west//sub\n          to: {"us-west/zone1": 100}\n'), rule: 'dr.locality-distribute', field: `${LOC}.distribute[0].from` },
  { name: 'overlapping distribute origins', yaml: lb('        distribute:\n        - from: us-west/*\n          to: {"us-west/zone1": 100}\n        - from: us-west/zone2\n          to: {"us-west/zone2": 100}\n'), rule: 'dr.locality-distribute', field: `${LOC}.distribute[1].from`, message: 'overlaps' },
  { name: 'overlapping distribute destinations', yaml: lb('        distribute:\n        - from: us-west\n          to: {"us-west/zone1/*": 50, "us-west/zone1/a": 50}\n'), rule: 'dr.locality-distribute', field: `${LOC}.distribute[0].to["us-west/zone1/a"]` },
  { name: 'a failover to the same region', yaml: lb('        failover: [{from: eu-west, to: eu-west}]\n'), rule: 'dr.locality-failover', field: `${LOC}.failover[0].to` },
  { name: 'a failover to a wildcard region', yaml: lb('        failover: [{from: eu-west, to: "eu-*"}]\n'), rule: 'dr.locality-failover', field: `${LOC}.failover[0].to` },
  { name: 'MUTUAL without client certificate', yaml: tp('    tls: {mode: MUTUAL, privateKey: /etc/certs/key.pem, caCertificates: /etc/certs/ca.pem}\n'), rule: 'dr.tls-settings', field: `${TP}.tls.clientCertificate` },
  { name: 'MUTUAL without private key', yaml: tp('    tls: {mode: MUTUAL, clientCertificate: /etc/certs/cert.pem}\n'), rule: 'dr.tls-settings', field: `${TP}.tls.privateKey` },
  { name: 'ISTIO_MUTUAL with a client certificate', yaml: tp('    tls: {mode: ISTIO_MUTUAL, clientCertificate: /etc/certs/cert.pem}\n'), rule: 'dr.tls-settings', field: `${TP}.tls.clientCertificate` },
  { name: 'MUTUAL without key in a subset policy', yaml: dr('  subsets:\n  - name: v1\n    trafficPolicy:\n      tls: {mode: MUTUAL, clientCertificate: /c.pem}\n'), rule: 'dr.tls-settings', field: 'spec.subsets[0].trafficPolicy.tls.privateKey' },
  { name: 'credentialName on a client TLS setting (not in 1.6)', yaml: tp('    tls: {mode: SIMPLE, credentialName: my-secret}\n'), rule: 'schema.unknown-field', field: `${TP}.tls.credentialName` },
  { name: 'a lower-case TLS mode', yaml: tp('    tls: {mode: istio_mutual}\n'), rule: 'schema.type', field: `${TP}.tls.mode` },
  { name: 'a subset without name', yaml: dr('  subsets:\n  - labels: {version: v1}\n'), rule: 'dr.subset-name', field: 'spec.subsets[0].name', message: 'required' },
  { name: 'a subset name with an underscore', yaml: dr('  subsets:\n  - name: v1_beta\n    labels: {version: v1}\n'), rule: 'dr.subset-name', field: 'spec.subsets[0].name' },
  { name: 'two subsets with one name', yaml: dr('  subsets:\n  - name: v1\n    labels: {version: v1}\n  - name: v2\n    labels: {version: v2}\n  - name: v1\n    labels: {version: v3}\n'), rule: 'dr.subset-name-unique', field: 'spec.subsets[2].name' },
  { name: 'a subset label value with a space', yaml: dr('  subsets:\n  - name: v1\n    labels: {version: "v 1"}\n'), rule: 'common.labels', field: 'spec.subsets[0].labels.version' },
  { name: 'exportTo a name that is not a namespace', yaml: dr('  exportTo: [Book_Info]\n'), rule: 'common.export-to', field: 'spec.exportTo[0]' },
  { name: 'exportTo "~" outside a ServiceEntry', yaml: dr('  exportTo: ["~"]\n'), rule: 'common.export-to', field: 'spec.exportTo[0]' },
];

for (const c of invalid) {
  test(`refuses ${c.name}`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

const valid: Array<{ name: string; yaml: string }> = [
  { name: 'a mesh-wide ISTIO_MUTUAL rule on *.local', yaml: dr('  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}\n', '  host: "*.local"\n') },
  { name: 'ISTIO_MUTUAL with sni and subjectAltNames', yaml: tp('    tls: {mode: ISTIO_MUTUAL, sni: reviews.bookinfo.svc.cluster.local, subjectAltNames: ["spiffe://cluster.local/ns/bookinfo/sa/reviews"]}\n') },
  { name: 'MUTUAL with files', yaml: tp('    tls: {mode: MUTUAL, clientCertificate: /etc/certs/cert.pem, privateKey: /etc/certs/key.pem, caCertificates: /etc/certs/ca.pem}\n') },
  { name: 'a session-cookie consistent hash', yaml: tp('    loadBalancer:\n      consistentHash:\n        httpCookie: {name: user, ttl: 0s}\n        minimumRingSize: 1024\n') },
  { name: 'a full connection pool and outlier detection', yaml: tp('    connectionPool:\n      tcp: {maxConnections: 100, connectTimeout: 30ms, tcpKeepalive: {probes: 3, time: 7200s, interval: 75s}}\n      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1, http2MaxRequests: 1000, maxRetries: 3, idleTimeout: 1h, h2UpgradePolicy: UPGRADE}\n    outlierDetection: {consecutive5xxErrors: 7, consecutiveGatewayErrors: 3, interval: 5m, baseEjectionTime: 15m, maxEjectionPercent: 100, minHealthPercent: 0}\n') },
  { name: 'locality distribute over several origins', yaml: lb('        enabled: true\n        distribute:\n        - from: us-west/zone1/*\n          to: {"us-west/zone1/*": 80, "us-west/zone2/*": 20}\n        - from: us-west/zone2/*\n          to: {"us-west/zone1/*": 20, "us-west/zone2/*": 80}\n') },
  { name: 'locality failover', yaml: lb('        failover: [{from: us-east, to: eu-west}, {from: us-west, to: us-east}]\n') },
  { name: 'port-level settings only', yaml: tp('    portLevelSettings:\n    - port: {number: 80}\n      loadBalancer: {simple: LEAST_CONN}\n    - port: {number: 9080}\n      loadBalancer: {simple: ROUND_ROBIN}\n') },
  { name: 'subsets with their own policies', yaml: dr('  trafficPolicy:\n    loadBalancer: {simple: RANDOM}\n  subsets:\n  - name: v1\n    labels: {version: v1}\n  - name: v2\n    labels: {version: v2}\n    trafficPolicy:\n      loadBalancer: {simple: ROUND_ROBIN}\n  exportTo: ["*"]\n') },
];

for (const c of valid) {
  test(`accepts ${c.name}`, () => {
    expectValid(c.yaml, { noWarnings: true });
  });
}

test('warns that consecutiveErrors is deprecated, and accepts it alone', () => {
  const yaml = tp('    outlierDetection: {consecutiveErrors: 5}\n');
  expectValid(yaml);
  expectWarning(yaml, 'dr.deprecated-field', `${TP}.outlierDetection.consecutiveErrors`);
});

test('checks subset traffic policies as thoroughly as the top-level one', () => {
  const r = check(dr('  subsets:\n  - name: v1\n    trafficPolicy:\n      connectionPool: {}\n      loadBalancer: {consistentHash: {}}\n'));
  const found = r.errors.map((e) => e.rule).sort();
  assert.deepEqual(found, ['dr.connection-pool-empty', 'dr.consistent-hash']);
});
