// WorkloadEntry (networking.istio.io): a non-Kubernetes workload (VM, bare metal), accepted for compatibility; also the shape of ServiceEntry endpoints.
import { Issues, asObject, type PathSegment } from '../diagnostics.js';
import { checkLabels, fqdnProblem, ipProblem, isDNS1123Label, isDNS1123Subdomain, portProblem } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { freeform, map, obj, str, strMap, uint32, type Static } from '../schema.js';
import { networkingKind } from './networking-types.js';

type Path = PathSegment[];

/** Prefix of a Unix domain socket address (`unix:///var/run/app.sock`, `unix://@abstract`). */
export const UNIX_ADDRESS_PREFIX = 'unix://';

export const WorkloadEntrySchema = obj({
  address: str('IP address, DNS name, or unix:///path of the workload.'),
  ports: map(uint32(), 'Port name → port number on this workload, overriding the service port.'),
  labels: strMap('Labels of the workload.'),
  network: str('Network the workload is on (multi-network meshes).'),
  locality: str('region/zone/subzone of the workload.'),
  weight: uint32('Load-balancing weight relative to the other endpoints.'),
  serviceAccount: str('Service account the workload runs as.'),
});

export type WorkloadEntrySpec = Static<typeof WorkloadEntrySchema>;

const schema = obj({ spec: WorkloadEntrySchema, status: freeform() });

/**
 * Istio's ValidateUnixAddress for the part after `unix://`: an absolute file path (not ending in `/`)
 * or a Linux abstract socket name starting with `@`.
 */
export function unixAddressProblem(path: string): string | undefined {
  if (path === '') return 'unix address must not be empty';
  if (path.startsWith('@')) return undefined;
  if (!path.startsWith('/') || path.endsWith('/')) return `${path} is not an absolute path to a file`;
  return undefined;
}

/** An endpoint address as Istio accepts it without knowing the service: an IP, a unix socket, or a DNS name. */
export function workloadAddressProblem(address: string): string | undefined {
  if (address.startsWith(UNIX_ADDRESS_PREFIX)) return unixAddressProblem(address.slice(UNIX_ADDRESS_PREFIX.length));
  if (ipProblem(address) === undefined) return undefined;
  return fqdnProblem(address) ? `address "${address}" is not an IP address, a DNS name or a unix:// socket path` : undefined;
}

/** Named ports of a workload: names are DNS-1123 labels and numbers are in 1..65535. */
export function checkWorkloadPorts(issues: Issues, path: Path, ports: unknown, rule: string): void {
  const o = asObject(ports);
  if (!o) return;
  for (const [name, n] of Object.entries(o)) {
    if (!isDNS1123Label(name)) issues.error([...path, name], rule, `invalid port name "${name}": must be a DNS-1123 label`);
    if (typeof n === 'number') {
      const p = portProblem(n);
      if (p) issues.error([...path, name], rule, p);
    }
  }
}

function validateWorkloadEntry(res: Resource, issues: Issues): void {
  issues.warn(['kind'], 'we.unsupported', 'WorkloadEntry (VMs, mesh expansion) is not supported by OpenShift Service Mesh 2.0: the resource is accepted for compatibility, but no workload outside the cluster joins the mesh');
  const spec = asObject(res.spec) ?? {};
  const address = spec.address;
  if (address === undefined || address === '') issues.error(['spec', 'address'], 'we.address-required', 'address must be set');
  else if (typeof address === 'string') {
    const p = workloadAddressProblem(address);
    if (p) issues.error(['spec', 'address'], 'we.address', p);
  }
  checkWorkloadPorts(issues, ['spec', 'ports'], spec.ports, 'we.port');
  checkLabels(issues, ['spec', 'labels'], spec.labels);
  if (typeof spec.serviceAccount === 'string' && spec.serviceAccount !== '' && !isDNS1123Subdomain(spec.serviceAccount)) {
    issues.error(['spec', 'serviceAccount'], 'we.service-account', `serviceAccount "${spec.serviceAccount}" is not a valid service account name (DNS-1123 subdomain)`);
  }
}

export const workloadEntryKind: KindDef = networkingKind({
  kind: 'WorkloadEntry',
  plural: 'workloadentries',
  shortNames: ['we'],
  description: 'A workload outside Kubernetes (VM or bare metal) with its address, ports and labels. Not supported by OpenShift Service Mesh 2.0; accepted for compatibility.',
  schema: schema,
  validate: validateWorkloadEntry,
});

// Used only by the rule examples below.
const we = (spec: string) => `apiVersion: networking.istio.io/v1beta1\nkind: WorkloadEntry\nmetadata: {name: details-vm}\nspec:\n${spec}`;

defineRules('WorkloadEntry', [
  { id: 'we.unsupported', severity: 'warning', summary: 'WorkloadEntry (VMs, mesh expansion) is not supported by OpenShift Service Mesh 2.0; it is accepted for compatibility only.', examples: [{ yaml: we('  address: 10.0.0.5\n'), field: 'kind' }] },
  { id: 'we.address-required', severity: 'error', summary: 'A WorkloadEntry has an address.', examples: [{ yaml: we('  labels: {app: details}\n'), field: 'spec.address' }] },
  { id: 'we.address', severity: 'error', summary: 'The address is an IP address, a DNS name, or unix:// followed by an absolute socket path (or @abstract name).', examples: [{ yaml: we('  address: "10.0.0.5:8080"\n'), field: 'spec.address' }, { yaml: we('  address: unix://var/run/app.sock\n'), field: 'spec.address' }] },
  { id: 'we.port', severity: 'error', summary: 'Port names are DNS-1123 labels and port numbers are in 1..65535.', examples: [{ yaml: we('  address: 10.0.0.5\n  ports: {http: 70000}\n'), field: 'spec.ports.http' }, { yaml: we('  address: 10.0.0.5\n  ports: {HTTP_Port: 8080}\n'), field: 'spec.ports.HTTP_Port' }] },
  { id: 'we.service-account', severity: 'error', summary: 'serviceAccount is a Kubernetes service account name.', examples: [{ yaml: we('  address: 10.0.0.5\n  serviceAccount: Details_SA\n'), field: 'spec.serviceAccount' }] },
]);
