// ServiceEntry validation: Istio 1.6 (Maistra 2.0) rules for hosts, addresses, ports, resolution, endpoints and workload selectors.
import { test } from 'node:test';
import { expectError, expectValid, expectWarning } from '../helpers/validation.js';

const se = (spec: string) => `apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nmetadata: {name: external-svc, namespace: bookinfo}\nspec:\n${spec}`;
const https = '  ports: [{number: 443, name: https, protocol: HTTPS}]\n';
const http = '  ports: [{number: 80, name: http, protocol: HTTP}]\n';

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  { name: 'no hosts', yaml: se(`${https}  resolution: NONE\n`), rule: 'se.hosts-required', field: 'spec.hosts' },
  { name: 'host "*"', yaml: se(`  hosts: ["*"]\n${https}  resolution: NONE\n`), rule: 'se.host', field: 'spec.hosts[0]' },
  { name: 'a host with a trailing wildcard', yaml: se(`  hosts: [api.example.com, "example.*"]\n${https}  resolution: NONE\n`), rule: 'se.host', field: 'spec.hosts[1]' },
  { name: 'an address that is not an IP', yaml: se(`  hosts: [db.example.com]\n  addresses: [db.example.com]\n${https}  resolution: NONE\n`), rule: 'se.address', field: 'spec.addresses[0]' },
  { name: 'a CIDR with a prefix over 32', yaml: se(`  hosts: [db.example.com]\n  addresses: [10.0.0.0/40]\n${https}  resolution: STATIC\n  endpoints: [{address: 10.0.0.1}]\n`), rule: 'se.address', field: 'spec.addresses[0]' },
  { name: 'a CIDR address with DNS resolution', yaml: se(`  hosts: [db.example.com]\n  addresses: [10.1.0.0/16]\n${https}  resolution: DNS\n`), rule: 'se.cidr-resolution', field: 'spec.addresses[0]' },
  { name: 'no ports', yaml: se('  hosts: [api.example.com]\n  resolution: DNS\n'), rule: 'se.ports-required', field: 'spec.ports' },
  { name: 'a port without name', yaml: se('  hosts: [api.example.com]\n  ports: [{number: 443, protocol: TLS}]\n  resolution: DNS\n'), rule: 'se.port-name', field: 'spec.ports[0].name', message: 'required' },
  { name: 'a port name with upper case', yaml: se('  hosts: [api.example.com]\n  ports: [{number: 443, name: TLS, protocol: TLS}]\n  resolution: DNS\n'), rule: 'se.port-name', field: 'spec.ports[0].name' },
  { name: 'an unknown protocol', yaml: se('  hosts: [api.example.com]\n  ports: [{number: 443, name: h3, protocol: HTTP3}]\n  resolution: DNS\n'), rule: 'se.port-protocol', field: 'spec.ports[0].protocol' },
  { name: 'a port number over 65535', yaml: se('  hosts: [api.example.com]\n  ports: [{number: 65536, name: https, protocol: HTTPS}]\n  resolution: DNS\n'), rule: 'se.port-number', field: 'spec.ports[0].number' },
  { name: 'a port without number', yaml: se('  hosts: [api.example.com]\n  ports: [{name: https, protocol: HTTPS}]\n  resolution: DNS\n'), rule: 'se.port-number', field: 'spec.ports[0].number', message: 'required' },
  { name: 'a duplicate port name', yaml: se('  hosts: [api.example.com]\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n  - {number: 8080, name: http, protocol: HTTP}\n  resolution: DNS\n'), rule: 'se.port-unique', field: 'spec.ports[1].name' },
  { name: 'a duplicate port number', yaml: se('  hosts: [api.example.com]\n  ports:\n  - {number: 443, name: https, protocol: HTTPS}\n  - {number: 443, name: tls, protocol: TLS}\n  resolution: DNS\n'), rule: 'se.port-unique', field: 'spec.ports[1].number' },
  { name: 'endpoints with resolution NONE', yaml: se(`  hosts: [api.example.com]\n${https}  resolution: NONE\n  endpoints: [{address: 1.1.1.1}]\n`), rule: 'se.resolution-endpoints', field: 'spec.endpoints' },
  { name: 'endpoints with the default resolution (NONE)', yaml: se(`  hosts: [api.example.com]\n${https}  endpoints: [{address: 1.1.1.1}]\n`), rule: 'se.resolution-endpoints', field: 'spec.endpoints' },
  { name: 'a STATIC endpoint with a host name', yaml: se(`  hosts: [api.example.com]\n${https}  resolution: STATIC\n  endpoints: [{address: 1.1.1.1}, {address: api.example.com}]\n`), rule: 'se.endpoint-address', field: 'spec.endpoints[1].address' },
  { name: 'a STATIC endpoint without address', yaml: se(`  hosts: [api.example.com]\n${https}  resolution: STATIC\n  endpoints: [{labels: {a: b}}]\n`), rule: 'se.endpoint-address', field: 'spec.endpoints[0].address', message: 'required' },
  { name: 'a relative unix socket path', yaml: se(`  hosts: [uds.local]\n${http}  resolution: STATIC\n  endpoints: [{address: "unix://var/run/app.sock"}]\n`), rule: 'se.endpoint-address', field: 'spec.endpoints[0].address' },
  { name: 'a unix socket path ending in /', yaml: se(`  hosts: [uds.local]\n${http}  resolution: STATIC\n  endpoints: [{address: "unix:///var/run/"}]\n`), rule: 'se.endpoint-address', field: 'spec.endpoints[0].address' },
  { name: 'a unix endpoint with ports', yaml: se(`  hosts: [uds.local]\n${http}  resolution: STATIC\n  endpoints: [{address: "unix:///var/run/app.sock", ports: {http: 80}}]\n`), rule: 'se.unix-endpoint', field: 'spec.endpoints[0].ports' },
  { name: 'unix endpoints with two service ports', yaml: se('  hosts: [uds.local]\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n  - {number: 81, name: http2, protocol: HTTP2}\n  resolution: STATIC\n  endpoints: [{address: "unix:///var/run/app.sock"}]\n'), rule: 'se.unix-endpoint', field: 'spec.ports' },
  { name: 'a STATIC endpoint port that is not declared', yaml: se(`  hosts: [api.example.com]\n${https}  resolution: STATIC\n  endpoints: [{address: 1.1.1.1, ports: {tls: 8443}}]\n`), rule: 'se.endpoint-port', field: 'spec.endpoints[0].ports.tls' },
  { name: 'a DNS endpoint port over 65535', yaml: se(`  hosts: [api.example.com]\n${https}  resolution: DNS\n  endpoints: [{address: api.example.com, ports: {https: 70000}}]\n`), rule: 'se.endpoint-port', field: 'spec.endpoints[0].ports.https' },
  { name: 'a DNS endpoint that is neither IP nor FQDN', yaml: se(`  hosts: [api.example.com]\n${https}  resolution: DNS\n  endpoints: [{address: "api example com"}]\n`), rule: 'se.endpoint-address', field: 'spec.endpoints[0].address' },
  { name: 'a wildcard host with DNS resolution and no endpoints', yaml: se(`  hosts: [api.example.com, "*.cnn.com"]\n${https}  resolution: DNS\n`), rule: 'se.dns-wildcard', field: 'spec.hosts[1]' },
  { name: 'two hosts on a TCP port with DNS resolution', yaml: se('  hosts: [mysql-1.example.com, mysql-2.example.com]\n  ports: [{number: 3306, name: mysql, protocol: MYSQL}]\n  resolution: DNS\n'), rule: 'se.multiple-hosts-tcp', field: 'spec.hosts' },
  { name: 'two hosts on a port without protocol', yaml: se('  hosts: [a.example.com, b.example.com]\n  ports: [{number: 9000, name: raw}]\n  resolution: DNS\n'), rule: 'se.multiple-hosts-tcp', field: 'spec.hosts' },
  { name: 'a workloadSelector with endpoints', yaml: se(`  hosts: [details.vm]\n${http}  location: MESH_INTERNAL\n  resolution: STATIC\n  workloadSelector: {labels: {app: details}}\n  endpoints: [{address: 10.0.0.5}]\n`), rule: 'se.workload-selector', field: 'spec.workloadSelector', message: 'only one of' },
  { name: 'a workloadSelector without labels', yaml: se(`  hosts: [details.vm]\n${http}  location: MESH_INTERNAL\n  resolution: STATIC\n  workloadSelector: {}\n`), rule: 'se.workload-selector', field: 'spec.workloadSelector.labels' },
  { name: 'a workloadSelector with a wildcard label', yaml: se(`  hosts: [details.vm]\n${http}  location: MESH_INTERNAL\n  resolution: STATIC\n  workloadSelector: {labels: {app: "*"}}\n`), rule: 'common.labels', field: 'spec.workloadSelector.labels.app' },
  { name: 'an unknown location', yaml: se(`  hosts: [api.example.com]\n${https}  location: EXTERNAL\n  resolution: DNS\n`), rule: 'schema.type', field: 'spec.location' },
  { name: 'a lower-case resolution', yaml: se(`  hosts: [api.example.com]\n${https}  resolution: dns\n`), rule: 'schema.type', field: 'spec.resolution' },
  { name: 'an endpoint label key with two slashes', yaml: se(`  hosts: [api.example.com]\n${https}  resolution: STATIC\n  endpoints: [{address: 1.1.1.1, labels: {"a/b/c": x}}]\n`), rule: 'common.labels', field: 'spec.endpoints[0].labels["a/b/c"]' },
];

for (const c of invalid) {
  test(`refuses ${c.name}`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

const valid: Array<{ name: string; yaml: string }> = [
  { name: 'an external HTTPS API resolved by DNS', yaml: se(`  hosts: [api.dropboxapi.com, www.googleapis.com]\n${https}  location: MESH_EXTERNAL\n  resolution: DNS\n`) },
  { name: 'a wildcard host with resolution NONE', yaml: se(`  hosts: ["*.wikipedia.org"]\n${https}  location: MESH_EXTERNAL\n  resolution: NONE\n`) },
  { name: 'a wildcard host with DNS endpoints', yaml: se(`  hosts: ["*.bar.com"]\n${https}  resolution: DNS\n  endpoints: [{address: us.foo.bar.com, ports: {https: 8443}}, {address: 1.2.3.4}]\n`) },
  { name: 'static endpoints with a CIDR address', yaml: se('  hosts: [mymongodb.somedomain]\n  addresses: [192.192.192.192/24]\n  ports: [{number: 27018, name: mongodb, protocol: MONGO}]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  endpoints:\n  - address: 2.2.2.2\n  - address: 3.3.3.3\n    labels: {version: v2}\n    network: network1\n    locality: us-east/zone1\n    weight: 2\n') },
  { name: 'a unix socket endpoint', yaml: se(`  hosts: [uds.local]\n${http}  location: MESH_INTERNAL\n  resolution: STATIC\n  endpoints: [{address: "unix:///var/run/example/socket"}]\n`) },
  { name: 'an abstract unix socket endpoint', yaml: se(`  hosts: [uds.local]\n${http}  resolution: STATIC\n  endpoints: [{address: "unix://@app"}]\n`) },
  { name: 'a MESH_INTERNAL service selecting workloads', yaml: se(`  hosts: [details.bookinfo.com]\n${http}  location: MESH_INTERNAL\n  resolution: STATIC\n  workloadSelector: {labels: {app: details-legacy}}\n`) },
  { name: 'two TCP hosts with resolution NONE', yaml: se('  hosts: [a.example.com, b.example.com]\n  addresses: [10.0.0.1, 10.0.0.2]\n  ports: [{number: 5432, name: tcp, protocol: TCP}]\n  resolution: NONE\n  exportTo: ["~"]\n  subjectAltNames: ["spiffe://cluster.local/ns/db/sa/postgres"]\n') },
];

for (const c of valid) {
  test(`accepts ${c.name}`, () => {
    expectValid(c.yaml, { noWarnings: true });
  });
}

test('accepts STATIC resolution without endpoints, as Istio 1.6 does, with a warning', () => {
  const yaml = se(`  hosts: [api.example.com]\n${https}  resolution: STATIC\n`);
  expectValid(yaml);
  expectWarning(yaml, 'se.static-without-endpoints', 'spec.endpoints');
});

test('accepts a workloadSelector on an external service, warning that it is meant for MESH_INTERNAL', () => {
  const yaml = se(`  hosts: [details.vm]\n${http}  location: MESH_EXTERNAL\n  resolution: STATIC\n  workloadSelector: {labels: {app: details}}\n`);
  expectValid(yaml);
  expectWarning(yaml, 'se.workload-selector-location', 'spec.workloadSelector');
});
