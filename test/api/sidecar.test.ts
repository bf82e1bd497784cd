// Sidecar validation: Istio 1.6 (Maistra 2.0) rules for ingress and egress listeners, egress hosts and the outbound traffic policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, expectError, expectValid, expectWarning } from '../helpers/validation.js';

const sc = (spec: string) => `apiVersion: networking.istio.io/v1beta1\nkind: Sidecar\nmetadata: {name: ratings, namespace: bookinfo}\nspec:\n${spec}`;
const egressAll = '  egress:\n  - hosts: ["./*", "istio-system/*"]\n';
const ingress = (listener: string) => sc(`  ingress:\n  - ${listener.trimStart()}${egressAll}`);
const egress = (listener: string) => sc(`  egress:\n  - ${listener.trimStart()}`);

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  { name: 'a workloadSelector without labels', yaml: sc(`  workloadSelector: {}\n${egressAll}`), rule: 'sidecar.workload-selector', field: 'spec.workloadSelector.labels' },
  { name: 'a workloadSelector label with a wildcard', yaml: sc(`  workloadSelector: {labels: {app: "ratings*"}}\n${egressAll}`), rule: 'common.labels', field: 'spec.workloadSelector.labels.app' },
  { name: 'no egress', yaml: sc('  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n'), rule: 'sidecar.egress-required', field: 'spec.egress' },
  { name: 'an ingress listener without port', yaml: ingress('defaultEndpoint: 127.0.0.1:9080\n'), rule: 'sidecar.ingress-port-required', field: 'spec.ingress[0].port' },
  { name: 'an ingress port 0', yaml: ingress('port: {number: 0, protocol: HTTP, name: http}\n    defaultEndpoint: 127.0.0.1:9080\n'), rule: 'sidecar.port', field: 'spec.ingress[0].port.number' },
  { name: 'an ingress port name with upper case', yaml: ingress('port: {number: 9080, protocol: HTTP, name: HTTP}\n    defaultEndpoint: 127.0.0.1:9080\n'), rule: 'sidecar.port', field: 'spec.ingress[0].port.name' },
  { name: 'an unknown ingress protocol', yaml: ingress('port: {number: 9080, protocol: SPDY, name: spdy}\n    defaultEndpoint: 127.0.0.1:9080\n'), rule: 'sidecar.port', field: 'spec.ingress[0].port.protocol' },
  { name: 'two ingress listeners on one port', yaml: sc(`  ingress:\n  - port: {number: 9080, protocol: HTTP, name: a}\n    defaultEndpoint: 127.0.0.1:8080\n  - port: {number: 9080, protocol: HTTP, name: b}\n    defaultEndpoint: 127.0.0.1:8081\n${egressAll}`), rule: 'sidecar.port-unique', field: 'spec.ingress[1].port.number' },
  { name: 'an ingress bind to a unix socket', yaml: ingress('port: {number: 9080, protocol: HTTP, name: http}\n    bind: unix:///var/run/in.sock\n    defaultEndpoint: 127.0.0.1:9080\n'), rule: 'sidecar.bind', field: 'spec.ingress[0].bind' },
  { name: 'an ingress listener without defaultEndpoint', yaml: ingress('port: {number: 9080, protocol: HTTP, name: http}\n'), rule: 'sidecar.default-endpoint', field: 'spec.ingress[0].defaultEndpoint' },
  { name: 'a defaultEndpoint on localhost by name', yaml: ingress('port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: localhost:9080\n'), rule: 'sidecar.default-endpoint', field: 'spec.ingress[0].defaultEndpoint', message: '127.0.0.1:<port>' },
  { name: 'a defaultEndpoint without port', yaml: ingress('port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: 127.0.0.1\n'), rule: 'sidecar.default-endpoint', field: 'spec.ingress[0].defaultEndpoint' },
  { name: 'a defaultEndpoint port over 65535', yaml: ingress('port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: 127.0.0.1:99999\n'), rule: 'sidecar.default-endpoint', field: 'spec.ingress[0].defaultEndpoint' },
  { name: 'a defaultEndpoint unix socket with a relative path', yaml: ingress('port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: unix://app.sock\n'), rule: 'sidecar.default-endpoint', field: 'spec.ingress[0].defaultEndpoint' },
  { name: 'two egress listeners on one port', yaml: sc('  egress:\n  - port: {number: 3306, protocol: MYSQL, name: mysql}\n    hosts: ["*/mysql.example.com"]\n  - port: {number: 3306, protocol: MYSQL, name: mysql2}\n    hosts: ["*/mysql2.example.com"]\n'), rule: 'sidecar.port-unique', field: 'spec.egress[1].port.number' },
  { name: 'two egress listeners on one unix socket', yaml: sc('  egress:\n  - port: {number: 0, protocol: HTTP, name: a}\n    bind: unix:///var/run/out.sock\n    hosts: ["./*"]\n  - port: {number: 0, protocol: HTTP, name: b}\n    bind: unix:///var/run/out.sock\n    hosts: ["istio-system/*"]\n'), rule: 'sidecar.port-unique', field: 'spec.egress[1].bind' },
  { name: 'an egress port over 65535', yaml: egress('port: {number: 70000, protocol: HTTP, name: http}\n    hosts: ["./*"]\n'), rule: 'sidecar.port', field: 'spec.egress[0].port.number' },
  { name: 'an egress port 0 without unix bind', yaml: egress('port: {number: 0, protocol: HTTP, name: uds}\n    hosts: ["./*"]\n'), rule: 'sidecar.bind', field: 'spec.egress[0].bind', message: 'unix domain socket' },
  { name: 'an egress bind that is a host name', yaml: egress('port: {number: 8080, protocol: HTTP, name: http}\n    bind: egress.local\n    hosts: ["./*"]\n'), rule: 'sidecar.bind', field: 'spec.egress[0].bind' },
  { name: 'an egress bind without port', yaml: egress('bind: 127.0.0.1\n    hosts: ["./*"]\n'), rule: 'sidecar.bind', field: 'spec.egress[0].bind', message: 'requires a port' },
  { name: 'IPTABLES capture on a unix socket listener', yaml: egress('port: {number: 0, protocol: HTTP, name: uds}\n    bind: unix:///var/run/out.sock\n    captureMode: IPTABLES\n    hosts: ["./*"]\n'), rule: 'sidecar.capture-mode', field: 'spec.egress[0].captureMode' },
  { name: 'an unknown capture mode', yaml: egress('port: {number: 8080, protocol: HTTP, name: http}\n    captureMode: TPROXY\n    hosts: ["./*"]\n'), rule: 'schema.type', field: 'spec.egress[0].captureMode' },
  { name: 'two egress listeners without port', yaml: sc('  egress:\n  - hosts: ["./*"]\n  - hosts: ["istio-system/*"]\n'), rule: 'sidecar.catch-all-egress', field: 'spec.egress[0]', message: 'last' },
  { name: 'a third catch-all egress listener', yaml: sc('  egress:\n  - port: {number: 80, protocol: HTTP, name: http}\n    hosts: ["./*"]\n  - hosts: ["a/*"]\n  - hosts: ["b/*"]\n'), rule: 'sidecar.catch-all-egress', field: 'spec.egress[2]', message: 'only one' },
  { name: 'an egress listener without hosts', yaml: egress('port: {number: 80, protocol: HTTP, name: http}\n'), rule: 'sidecar.egress-hosts', field: 'spec.egress[0].hosts' },
  { name: 'an egress host without namespace', yaml: sc('  egress:\n  - hosts: ["./*", "reviews.bookinfo.svc.cluster.local"]\n'), rule: 'sidecar.egress-hosts', field: 'spec.egress[0].hosts[1]', message: 'namespace/dnsName' },
  { name: 'an egress host with a short name', yaml: sc('  egress:\n  - hosts: ["bookinfo/reviews"]\n'), rule: 'sidecar.egress-hosts', field: 'spec.egress[0].hosts[0]', message: 'short names' },
  { name: 'an egress host with an invalid namespace', yaml: sc('  egress:\n  - hosts: ["Book_Info/*"]\n'), rule: 'sidecar.egress-hosts', field: 'spec.egress[0].hosts[0]' },
  { name: 'an egress host with an empty namespace', yaml: sc('  egress:\n  - hosts: ["/*.example.com"]\n'), rule: 'sidecar.egress-hosts', field: 'spec.egress[0].hosts[0]' },
  { name: 'an egress host with a wildcard in the middle', yaml: sc('  egress:\n  - hosts: ["*/api.*.com"]\n'), rule: 'sidecar.egress-hosts', field: 'spec.egress[0].hosts[0]' },
  { name: 'an egressProxy with REGISTRY_ONLY', yaml: sc(`${egressAll}  outboundTrafficPolicy:\n    mode: REGISTRY_ONLY\n    egressProxy: {host: egress.istio-system.svc.cluster.local, port: {number: 80}}\n`), rule: 'sidecar.egress-proxy', field: 'spec.outboundTrafficPolicy.egressProxy' },
  { name: 'an egressProxy without port', yaml: sc(`${egressAll}  outboundTrafficPolicy:\n    mode: ALLOW_ANY\n    egressProxy: {host: egress.istio-system.svc.cluster.local}\n`), rule: 'sidecar.egress-proxy', field: 'spec.outboundTrafficPolicy.egressProxy.port' },
  { name: 'an egressProxy with a wildcard host', yaml: sc(`${egressAll}  outboundTrafficPolicy:\n    mode: ALLOW_ANY\n    egressProxy: {host: "*.istio-system.svc.cluster.local", port: {number: 80}}\n`), rule: 'sidecar.egress-proxy', field: 'spec.outboundTrafficPolicy.egressProxy.host' },
  { name: 'a lower-case outbound mode', yaml: sc(`${egressAll}  outboundTrafficPolicy: {mode: allow_any}\n`), rule: 'schema.type', field: 'spec.outboundTrafficPolicy.mode' },
];

for (const c of invalid) {
  test(`refuses ${c.name}`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

const valid: Array<{ name: string; yaml: string }> = [
  { name: 'the namespace-wide default', yaml: sc(egressAll) },
  { name: 'a ~/* egress that trims all outbound config', yaml: sc('  egress:\n  - hosts: ["~/*"]\n') },
  { name: 'an ingress listener with a :PORT endpoint and a bind address', yaml: ingress('port: {number: 9080, protocol: HTTP, name: somename}\n    bind: 172.16.1.32\n    captureMode: NONE\n    defaultEndpoint: ":8080"\n') },
  { name: 'an ingress listener forwarding to a unix socket', yaml: ingress('port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: unix:///var/run/someuds.sock\n') },
  { name: 'a unix socket egress listener and a catch-all last', yaml: sc('  egress:\n  - port: {number: 0, protocol: HTTP, name: uds}\n    bind: unix:///var/run/egress.sock\n    captureMode: NONE\n    hosts: ["*/*.example.com"]\n  - port: {number: 3306, protocol: MYSQL, name: egressmysql}\n    captureMode: NONE\n    bind: 127.0.0.1\n    hosts: ["*/mysql.foo.com"]\n  - hosts: ["./*", "istio-system/*"]\n') },
  { name: 'an IPv6 egress bind', yaml: egress('port: {number: 8080, protocol: HTTP, name: http}\n    bind: "::1"\n    hosts: ["./*"]\n') },
  { name: 'ALLOW_ANY with an egress proxy', yaml: sc(`${egressAll}  outboundTrafficPolicy:\n    mode: ALLOW_ANY\n    egressProxy: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: v1, port: {number: 80}}\n`) },
];

for (const c of valid) {
  test(`accepts ${c.name}`, () => {
    expectValid(c.yaml, { noWarnings: true });
  });
}

test('warns that an empty outboundTrafficPolicy means REGISTRY_ONLY, not the mesh default', () => {
  const yaml = sc(`${egressAll}  outboundTrafficPolicy: {}\n`);
  expectValid(yaml);
  expectWarning(yaml, 'sidecar.outbound-policy-default', 'spec.outboundTrafficPolicy');
  const explicit = check(sc(`${egressAll}  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n`));
  assert.deepEqual(explicit.warnings, []);
});

test('warns that localhost TLS settings are ignored in Istio 1.6', () => {
  const yaml = ingress('port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: 127.0.0.1:9080\n    localhostClientTls: {mode: SIMPLE}\n');
  expectValid(yaml);
  expectWarning(yaml, 'sidecar.unimplemented-field', 'spec.ingress[0].localhostClientTls');
});
