// ServiceEntry (networking.istio.io): services added to the mesh's registry (external APIs, VMs), validated as Istio 1.6 (Maistra 2.0) does.
import { Issues, asArray, asObject, asString, type PathSegment } from '../diagnostics.js';
import { checkExportTo, checkLabels, checkWorkloadSelector, cidrProblem, fqdnProblem, ipProblem, isDNS1123Label, portProblem, wildcardDomainProblem } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { arr, enumOf, freeform, obj, str, type Static } from '../schema.js';
import { isHttpProtocol, isTlsProtocol, networkingKind, parseProtocol, PortSchema, WorkloadSelectorSchema } from './networking-types.js';
import { UNIX_ADDRESS_PREFIX, WorkloadEntrySchema, checkWorkloadPorts, unixAddressProblem } from './workload-entry.js';

type Path = PathSegment[];

export const ServiceEntrySpecSchema = obj({
  hosts: arr(str(), 'Hosts of the service: FQDNs or wildcard domains; matched against Host/SNI.'),
  addresses: arr(str(), 'Virtual IPs or CIDR blocks of the service.'),
  ports: arr(PortSchema, 'Ports of the service; names and numbers unique.'),
  location: enumOf(['MESH_EXTERNAL', 'MESH_INTERNAL'] as const, 'MESH_EXTERNAL (default) or MESH_INTERNAL.'),
  resolution: enumOf(['NONE', 'STATIC', 'DNS'] as const, 'How endpoints are found: NONE (original destination), STATIC (endpoints) or DNS.'),
  endpoints: arr(WorkloadEntrySchema, 'Endpoints of the service (STATIC or DNS).'),
  workloadSelector: WorkloadSelectorSchema,
  exportTo: arr(str(), 'Namespaces the service is visible to: "." or "*".'),
  subjectAltNames: arr(str(), 'SANs accepted in the server certificate of the endpoints.'),
});

export type ServiceEntrySpec = Static<typeof ServiceEntrySpecSchema>;

const schema = obj({ spec: ServiceEntrySpecSchema, status: freeform() });

function checkPorts(issues: Issues, ports: unknown[]): Set<string> {
  const names = new Map<string, number>();
  const numbers = new Map<number, number>();
  ports.forEach((raw, i) => {
    const p = asObject(raw);
    if (!p) return;
    const pp = ['spec', 'ports', i];
    const name = asString(p.name) ?? '';
    if (name === '') issues.error([...pp, 'name'], 'se.port-name', 'port name is required');
    else if (!isDNS1123Label(name)) issues.error([...pp, 'name'], 'se.port-name', `invalid port name "${name}": must be a DNS-1123 label`);
    if (name !== '') {
      if (names.has(name)) issues.error([...pp, 'name'], 'se.port-unique', `service entry port name "${name}" already defined by ports[${names.get(name)}]`);
      else names.set(name, i);
    }
    if (typeof p.protocol === 'string' && p.protocol !== '' && !parseProtocol(p.protocol)) {
      issues.error([...pp, 'protocol'], 'se.port-protocol', `unsupported protocol "${p.protocol}" (HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, HTTP_PROXY, TCP, TLS, UDP, MONGO, REDIS, MYSQL)`);
    }
    if (p.number === undefined) issues.error([...pp, 'number'], 'se.port-number', 'port number is required');
    else if (typeof p.number === 'number') {
      const problem = portProblem(p.number);
      if (problem) issues.error([...pp, 'number'], 'se.port-number', problem);
      if (numbers.has(p.number)) issues.error([...pp, 'number'], 'se.port-unique', `service entry port ${p.number} already defined by ports[${numbers.get(p.number)}]`);
      else numbers.set(p.number, i);
    }
  });
  return new Set(names.keys());
}

function checkEndpointPortNames(issues: Issues, path: Path, ports: unknown, declared: Set<string>): void {
  for (const name of Object.keys(asObject(ports) ?? {})) {
    if (!declared.has(name)) issues.error([...path, name], 'se.endpoint-port', `endpoint port "${name}" is not defined by the service entry ports (${[...declared].join(', ') || 'none'})`);
  }
}

function validateServiceEntry(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec) ?? {};
  const resolution = asString(spec.resolution) ?? 'NONE';
  const hasSelector = spec.workloadSelector !== undefined && spec.workloadSelector !== null;
  const endpointsGiven = spec.endpoints !== undefined && spec.endpoints !== null;
  const endpoints = asArray(spec.endpoints);

  if (hasSelector) {
    checkWorkloadSelector(issues, ['spec', 'workloadSelector'], spec.workloadSelector);
    if (Object.keys(asObject(asObject(spec.workloadSelector)?.labels) ?? {}).length === 0) {
      issues.error(['spec', 'workloadSelector', 'labels'], 'se.workload-selector', 'workloadSelector must list labels (an empty selector would select every workload in the namespace)');
    }
    if (endpointsGiven) issues.error(['spec', 'workloadSelector'], 'se.workload-selector', 'only one of workloadSelector or endpoints is allowed in a ServiceEntry');
    // The API documents selectors for MESH_INTERNAL only, yet Istio 1.6 accepts them on external services.
    if (spec.location !== 'MESH_INTERNAL') issues.warn(['spec', 'workloadSelector'], 'se.workload-selector-location', 'workloadSelector is meant for MESH_INTERNAL services: the selected workloads are treated as outside the mesh (no mutual TLS); set location: MESH_INTERNAL');
  }

  const hosts = asArray(spec.hosts);
  if (hosts.length === 0) issues.error(['spec', 'hosts'], 'se.hosts-required', 'service entry must have at least one host');
  hosts.forEach((h, i) => {
    if (typeof h !== 'string') return;
    if (h === '*') issues.error(['spec', 'hosts', i], 'se.host', 'invalid host "*": a ServiceEntry cannot capture every host (use *.domain, or the ALLOW_ANY outbound policy)');
    else {
      const p = wildcardDomainProblem(h);
      if (p) issues.error(['spec', 'hosts', i], 'se.host', p);
    }
  });

  asArray(spec.addresses).forEach((a, i) => {
    if (typeof a !== 'string') return;
    const p = cidrProblem(a);
    if (p) issues.error(['spec', 'addresses', i], 'se.address', p);
    else if (a.includes('/') && resolution !== 'NONE' && resolution !== 'STATIC') {
      issues.error(['spec', 'addresses', i], 'se.cidr-resolution', `CIDR address ${a} is allowed only with NONE or STATIC resolution, not ${resolution}`);
    }
  });

  const ports = asArray(spec.ports);
  if (ports.length === 0) issues.error(['spec', 'ports'], 'se.ports-required', 'service entry must have at least one port');
  const declared = checkPorts(issues, ports);

  switch (resolution) {
    case 'NONE':
      if (endpoints.length > 0) issues.error(['spec', 'endpoints'], 'se.resolution-endpoints', 'no endpoints should be provided for resolution NONE (traffic goes to the original destination)');
      break;
    case 'STATIC': {
      // Istio 1.6 accepts this (endpoints may be added later), but until then every request fails.
      if (endpoints.length === 0 && !hasSelector) issues.warn(['spec', 'endpoints'], 'se.static-without-endpoints', 'resolution STATIC without endpoints or workloadSelector: the service has no endpoints, so requests to it fail (no healthy upstream)');
      let unixEndpoint = false;
      endpoints.forEach((raw, i) => {
        const e = asObject(raw);
        if (!e) return;
        const ep = ['spec', 'endpoints', i];
        const addr = asString(e.address) ?? '';
        if (addr.startsWith(UNIX_ADDRESS_PREFIX)) {
          unixEndpoint = true;
          const p = unixAddressProblem(addr.slice(UNIX_ADDRESS_PREFIX.length));
          if (p) issues.error([...ep, 'address'], 'se.endpoint-address', p);
          if (Object.keys(asObject(e.ports) ?? {}).length > 0) issues.error([...ep, 'ports'], 'se.unix-endpoint', `unix endpoint ${addr} must not include ports`);
        } else {
          const p = addr === '' ? 'endpoint address is required' : ipProblem(addr);
          if (p) issues.error([...ep, 'address'], 'se.endpoint-address', `${p} (STATIC endpoints are IP addresses or unix:// sockets)`);
          checkEndpointPortNames(issues, [...ep, 'ports'], e.ports, declared);
          checkWorkloadPorts(issues, [...ep, 'ports'], e.ports, 'se.endpoint-port');
        }
        checkLabels(issues, [...ep, 'labels'], e.labels);
      });
      if (unixEndpoint && ports.length !== 1) issues.error(['spec', 'ports'], 'se.unix-endpoint', `exactly 1 service port is required with unix endpoints, got ${ports.length}`);
      break;
    }
    case 'DNS':
      if (endpoints.length === 0) {
        hosts.forEach((h, i) => {
          if (typeof h === 'string' && h !== '*' && !wildcardDomainProblem(h) && fqdnProblem(h)) {
            issues.error(['spec', 'hosts', i], 'se.dns-wildcard', `host "${h}" must be a fully qualified name: with resolution DNS and no endpoints, the proxy resolves the hosts themselves`);
          }
        });
      }
      endpoints.forEach((raw, i) => {
        const e = asObject(raw);
        if (!e) return;
        const ep = ['spec', 'endpoints', i];
        const addr = asString(e.address) ?? '';
        if (ipProblem(addr) !== undefined && fqdnProblem(addr)) issues.error([...ep, 'address'], 'se.endpoint-address', `endpoint address "${addr}" is not a valid FQDN or an IP address`);
        checkLabels(issues, [...ep, 'labels'], e.labels);
        checkEndpointPortNames(issues, [...ep, 'ports'], e.ports, declared);
        checkWorkloadPorts(issues, [...ep, 'ports'], e.ports, 'se.endpoint-port');
      });
      break;
    default:
      break; // the structural check reports an unknown resolution
  }

  // Plain TCP carries no host name, so several hosts cannot be told apart unless the proxy ignores hosts (NONE).
  if (resolution !== 'NONE' && hosts.length > 1) {
    const opaque = ports.findIndex((raw) => {
      const proto = parseProtocol(asString(asObject(raw)?.protocol) ?? '');
      return !proto || (!isHttpProtocol(proto) && !isTlsProtocol(proto));
    });
    if (opaque >= 0) issues.error(['spec', 'hosts'], 'se.multiple-hosts-tcp', `multiple hosts provided with a non-HTTP, non-TLS port (ports[${opaque}]): use one host per ServiceEntry, or resolution NONE`);
  }

  checkExportTo(issues, ['spec', 'exportTo'], spec.exportTo, true);
}

export const serviceEntryKind: KindDef = networkingKind({
  kind: 'ServiceEntry',
  plural: 'serviceentries',
  shortNames: ['se'],
  description: 'Adds a service to the mesh registry: external APIs reached from the mesh, or workloads outside Kubernetes, with their hosts, ports, location and endpoint resolution.',
  schema: schema,
  validate: validateServiceEntry,
});

// Used only by the rule examples below.
const se = (spec: string) => `apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nmetadata: {name: external-svc}\nspec:\n${spec}`;
const httpsPort = '  ports: [{number: 443, name: https, protocol: HTTPS}]\n';

defineRules('ServiceEntry', [
  { id: 'se.hosts-required', severity: 'error', summary: 'A ServiceEntry has at least one host.', examples: [{ yaml: se(`${httpsPort}  resolution: DNS\n  endpoints: [{address: api.example.com}]\n`), field: 'spec.hosts' }] },
  { id: 'se.host', severity: 'error', summary: 'Hosts are FQDNs or wildcard domains (*.example.com); "*" alone is not allowed.', examples: [{ yaml: se(`  hosts: ["*"]\n${httpsPort}  resolution: NONE\n`), field: 'spec.hosts[0]' }, { yaml: se(`  hosts: ["api.*.com"]\n${httpsPort}  resolution: NONE\n`), field: 'spec.hosts[0]' }] },
  { id: 'se.address', severity: 'error', summary: 'addresses are IP addresses or CIDR blocks.', examples: [{ yaml: se(`  hosts: [db.example.com]\n  addresses: [10.0.0.300]\n  ports: [{number: 5432, name: tcp, protocol: TCP}]\n  resolution: NONE\n`), field: 'spec.addresses[0]' }] },
  { id: 'se.cidr-resolution', severity: 'error', summary: 'CIDR blocks in addresses are allowed only with resolution NONE or STATIC.', examples: [{ yaml: se(`  hosts: [db.example.com]\n  addresses: [10.0.0.0/24]\n  ports: [{number: 5432, name: tcp, protocol: TCP}]\n  resolution: DNS\n`), field: 'spec.addresses[0]' }] },
  { id: 'se.ports-required', severity: 'error', summary: 'A ServiceEntry declares at least one port.', examples: [{ yaml: se('  hosts: [api.example.com]\n  resolution: DNS\n'), field: 'spec.ports' }] },
  { id: 'se.port-name', severity: 'error', summary: 'Every port has a name that is a DNS-1123 label.', examples: [{ yaml: se('  hosts: [api.example.com]\n  ports: [{number: 443, protocol: HTTPS}]\n  resolution: DNS\n'), field: 'spec.ports[0].name' }, { yaml: se('  hosts: [api.example.com]\n  ports: [{number: 443, name: HTTPS_443, protocol: HTTPS}]\n  resolution: DNS\n'), field: 'spec.ports[0].name' }] },
  { id: 'se.port-protocol', severity: 'error', summary: 'A port protocol, if given, is one Istio knows (HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, HTTP_PROXY, TCP, TLS, UDP, MONGO, REDIS, MYSQL).', examples: [{ yaml: se('  hosts: [api.example.com]\n  ports: [{number: 443, name: quic, protocol: QUIC}]\n  resolution: DNS\n'), field: 'spec.ports[0].protocol' }] },
  { id: 'se.port-number', severity: 'error', summary: 'Every port has a number in 1..65535.', examples: [{ yaml: se('  hosts: [api.example.com]\n  ports: [{number: 0, name: https, protocol: HTTPS}]\n  resolution: DNS\n'), field: 'spec.ports[0].number' }] },
  { id: 'se.port-unique', severity: 'error', summary: 'Port names and port numbers are unique within a ServiceEntry.', examples: [{ yaml: se('  hosts: [api.example.com]\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n  - {number: 80, name: http-alt, protocol: HTTP}\n  resolution: DNS\n'), field: 'spec.ports[1].number' }] },
  { id: 'se.resolution-endpoints', severity: 'error', summary: 'resolution NONE (the default) takes no endpoints: traffic goes to the original destination.', examples: [{ yaml: se(`  hosts: [api.example.com]\n${httpsPort}  resolution: NONE\n  endpoints: [{address: 1.2.3.4}]\n`), field: 'spec.endpoints' }] },
  { id: 'se.static-without-endpoints', severity: 'warning', summary: 'resolution STATIC without endpoints or workloadSelector is accepted (as Istio 1.6 does) but the service has no endpoint until some are added.', examples: [{ yaml: se(`  hosts: [api.example.com]\n${httpsPort}  resolution: STATIC\n`), field: 'spec.endpoints' }] },
  { id: 'se.endpoint-address', severity: 'error', summary: 'STATIC endpoints are IP addresses or unix:// sockets with an absolute path; DNS endpoints are IP addresses or FQDNs.', examples: [{ yaml: se(`  hosts: [api.example.com]\n${httpsPort}  resolution: STATIC\n  endpoints: [{address: api-1.example.com}]\n`), field: 'spec.endpoints[0].address' }, { yaml: se(`  hosts: [api.example.com]\n${httpsPort}  resolution: DNS\n  endpoints: [{address: "api_1.example.com"}]\n`), field: 'spec.endpoints[0].address' }] },
  { id: 'se.unix-endpoint', severity: 'error', summary: 'unix:// endpoints carry no ports, and a ServiceEntry with unix endpoints has exactly one port.', examples: [{ yaml: se('  hosts: [uds.local]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: "unix:///var/run/app.sock", ports: {http: 8080}}]\n'), field: 'spec.endpoints[0].ports' }] },
  { id: 'se.endpoint-port', severity: 'error', summary: 'Endpoint ports refer to declared port names and use numbers in 1..65535.', examples: [{ yaml: se(`  hosts: [api.example.com]\n${httpsPort}  resolution: STATIC\n  endpoints: [{address: 1.2.3.4, ports: {http: 8080}}]\n`), field: 'spec.endpoints[0].ports.http' }] },
  { id: 'se.dns-wildcard', severity: 'error', summary: 'With resolution DNS and no endpoints, hosts are fully qualified names (no wildcard): the proxy resolves them.', examples: [{ yaml: se(`  hosts: ["*.example.com"]\n${httpsPort}  resolution: DNS\n`), field: 'spec.hosts[0]' }] },
  { id: 'se.multiple-hosts-tcp', severity: 'error', summary: 'Several hosts need HTTP or TLS ports (to tell them apart by Host or SNI), unless resolution is NONE.', examples: [{ yaml: se('  hosts: [a.example.com, b.example.com]\n  ports: [{number: 5432, name: tcp, protocol: TCP}]\n  resolution: DNS\n'), field: 'spec.hosts' }] },
  { id: 'se.workload-selector', severity: 'error', summary: 'workloadSelector lists labels and excludes endpoints.', examples: [{ yaml: se('  hosts: [details.vm.local]\n  ports: [{number: 9080, name: http, protocol: HTTP}]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  workloadSelector: {labels: {app: details}}\n  endpoints: [{address: 10.0.0.5}]\n'), field: 'spec.workloadSelector' }, { yaml: se('  hosts: [details.vm.local]\n  ports: [{number: 9080, name: http, protocol: HTTP}]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  workloadSelector: {labels: {}}\n'), field: 'spec.workloadSelector.labels' }] },
  { id: 'se.workload-selector-location', severity: 'warning', summary: 'workloadSelector is meant for MESH_INTERNAL services; on an external one the selected workloads are reached without mutual TLS.', examples: [{ yaml: se('  hosts: [details.vm.local]\n  ports: [{number: 9080, name: http, protocol: HTTP}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: details}}\n'), field: 'spec.workloadSelector' }] },
]);
