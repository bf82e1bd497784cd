// Sidecar (networking.istio.io): the inbound and outbound listeners and reachable hosts of a workload's proxy, validated as Istio 1.6 (Maistra 2.0) does.
import { Issues, asArray, asObject, asString, type PathSegment } from '../diagnostics.js';
import { checkWorkloadSelector, fqdnProblem, ipProblem, isDNS1123Label, namespaceSlashHostProblem, portProblem } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { arr, enumOf, freeform, obj, str, type Static } from '../schema.js';
import { networkingKind, parseProtocol, PortSchema, ServerTLSSchema, WorkloadSelectorSchema } from './networking-types.js';
import { ClientTLSSettingsSchema } from './destination-rule.js';
import { DestinationSchema } from './virtual-service.js';
import { UNIX_ADDRESS_PREFIX, unixAddressProblem } from './workload-entry.js';

type Path = PathSegment[];

const CaptureModeSchema = enumOf(['DEFAULT', 'IPTABLES', 'NONE'] as const, 'How traffic reaches the listener: DEFAULT, IPTABLES or NONE (no capture).');

const IngressListenerSchema = obj({
  port: PortSchema,
  bind: str('IP the listener binds to (x.x.x.x).'),
  captureMode: CaptureModeSchema,
  defaultEndpoint: str('Where traffic is forwarded: 127.0.0.1:PORT or unix:///path/to/socket.'),
  localhostClientTls: ClientTLSSettingsSchema,
});

const EgressListenerSchema = obj({
  port: PortSchema,
  bind: str('IP or unix:// socket the listener binds to; needs a port.'),
  captureMode: CaptureModeSchema,
  hosts: arr(str(), 'Reachable hosts as namespace/dnsName; namespace is *, ., ~ or a name.'),
  localhostServerTls: ServerTLSSchema,
});

export const SidecarSpecSchema = obj({
  workloadSelector: WorkloadSelectorSchema,
  ingress: arr(IngressListenerSchema),
  egress: arr(EgressListenerSchema),
  outboundTrafficPolicy: obj({
    mode: enumOf(['REGISTRY_ONLY', 'ALLOW_ANY'] as const, 'REGISTRY_ONLY is the enum default: an empty outboundTrafficPolicy means REGISTRY_ONLY.'),
    egressProxy: DestinationSchema,
  }),
  localhost: obj({ clientTls: ClientTLSSettingsSchema, serverTls: ServerTLSSchema }),
});

export type SidecarSpec = Static<typeof SidecarSpecSchema>;

const schema = obj({ spec: SidecarSpecSchema, status: freeform() });

const present = (o: Record<string, unknown>, k: string): boolean => o[k] !== undefined && o[k] !== null;

/** Port name (optional; a DNS-1123 label when given) and protocol (optional; one Istio knows). */
function checkPortNameAndProtocol(issues: Issues, path: Path, port: Record<string, unknown>): void {
  const name = asString(port.name);
  if (name && !isDNS1123Label(name)) issues.error([...path, 'name'], 'sidecar.port', `invalid port name "${name}": must be a DNS-1123 label`);
  const proto = asString(port.protocol);
  if (proto && !parseProtocol(proto)) issues.error([...path, 'protocol'], 'sidecar.port', `unsupported protocol "${proto}"`);
}

function checkPortNumber(issues: Issues, path: Path, n: unknown): boolean {
  const p = typeof n === 'number' ? portProblem(n) : n === undefined ? 'port number is required' : undefined;
  if (p) issues.error([...path, 'number'], 'sidecar.port', p);
  return p === undefined;
}

/** `127.0.0.1:PORT`, `:PORT` or `unix:///path`. */
function defaultEndpointProblem(ep: string): string | undefined {
  if (ep.startsWith(UNIX_ADDRESS_PREFIX)) return unixAddressProblem(ep.slice(UNIX_ADDRESS_PREFIX.length));
  const colon = ep.lastIndexOf(':');
  const host = colon < 0 ? undefined : ep.slice(0, colon);
  if (host === undefined || (host !== '' && host !== '127.0.0.1')) return `defaultEndpoint "${ep}" must be of form 127.0.0.1:<port> or unix:///path/to/socket`;
  const portText = ep.slice(colon + 1);
  if (!/^[0-9]+$/.test(portText)) return `defaultEndpoint port "${portText}" is not a number`;
  return portProblem(Number(portText));
}

function checkIngress(issues: Issues, ingress: unknown[]): void {
  const ports = new Map<number, number>();
  ingress.forEach((raw, i) => {
    const l = asObject(raw);
    if (!l) return;
    const lp = ['spec', 'ingress', i];
    const port = asObject(l.port);
    if (!port) issues.error([...lp, 'port'], 'sidecar.ingress-port-required', 'port is required for ingress listeners');
    else {
      checkPortNameAndProtocol(issues, [...lp, 'port'], port);
      const n = port.number;
      if (checkPortNumber(issues, [...lp, 'port'], n) && typeof n === 'number') {
        if (ports.has(n)) issues.error([...lp, 'port', 'number'], 'sidecar.port-unique', `port ${n} is already used by ingress[${ports.get(n)}]: ports on IP bound listeners must be unique`);
        else ports.set(n, i);
      }
    }
    const bind = asString(l.bind);
    if (bind) {
      const p = ipProblem(bind);
      if (p) issues.error([...lp, 'bind'], 'sidecar.bind', `${p} (ingress listeners bind to an IP address; unix sockets are not allowed)`);
    }
    const ep = l.defaultEndpoint;
    if (ep === undefined || ep === '') issues.error([...lp, 'defaultEndpoint'], 'sidecar.default-endpoint', 'defaultEndpoint must be set for every ingress listener (127.0.0.1:<port> or unix:///path)');
    else if (typeof ep === 'string') {
      const p = defaultEndpointProblem(ep);
      if (p) issues.error([...lp, 'defaultEndpoint'], 'sidecar.default-endpoint', p);
    }
    if (present(l, 'localhostClientTls')) issues.warn([...lp, 'localhostClientTls'], 'sidecar.unimplemented-field', 'localhostClientTls is not implemented in Istio 1.6 and is ignored');
  });
}

function checkEgressHost(issues: Issues, path: Path, h: string): void {
  const slash = h.indexOf('/');
  const dns = slash < 0 ? undefined : h.slice(slash + 1);
  const p = namespaceSlashHostProblem(h, false, true);
  if (p) issues.error(path, 'sidecar.egress-hosts', p);
  else if (dns !== undefined && dns !== '*' && !dns.includes('.')) {
    issues.error(path, 'sidecar.egress-hosts', `short names (non FQDN) are not allowed in egress hosts: "${h}" (use e.g. ${h.slice(0, slash)}/${dns}.<namespace>.svc.cluster.local)`);
  }
}

function checkEgress(issues: Issues, egress: unknown[]): void {
  const ports = new Map<number, number>();
  const sockets = new Map<string, number>();
  let catchAll: number | undefined;
  egress.forEach((raw, i) => {
    const l = asObject(raw);
    if (!l) return;
    const lp = ['spec', 'egress', i];
    const port = asObject(l.port);
    const bind = asString(l.bind) ?? '';
    if (!port) {
      // At most one listener without a port, and it must come last: it catches what the others do not.
      if (catchAll !== undefined) issues.error(lp, 'sidecar.catch-all-egress', `egress can have only one listener with empty port (egress[${catchAll}] is one)`);
      else {
        catchAll = i;
        if (i !== egress.length - 1) issues.error(lp, 'sidecar.catch-all-egress', 'the egress listener with empty port must be the last listener in the list');
      }
      if (bind !== '') issues.error([...lp, 'bind'], 'sidecar.bind', 'bind requires a port on the egress listener');
    } else {
      checkPortNameAndProtocol(issues, [...lp, 'port'], port);
      const n = port.number ?? 0;
      if (n === 0) {
        // Port 0 means a Unix domain socket listener.
        if (!bind.startsWith(UNIX_ADDRESS_PREFIX)) issues.error([...lp, 'bind'], 'sidecar.bind', 'an egress listener with port 0 must bind to a unix domain socket (unix:///path)');
        else {
          const p = unixAddressProblem(bind.slice(UNIX_ADDRESS_PREFIX.length));
          if (p) issues.error([...lp, 'bind'], 'sidecar.bind', p);
          if (sockets.has(bind)) issues.error([...lp, 'bind'], 'sidecar.port-unique', `unix domain socket ${bind} is already used by egress[${sockets.get(bind)}]`);
          else sockets.set(bind, i);
        }
        const mode = asString(l.captureMode) ?? 'DEFAULT';
        if (mode !== 'DEFAULT' && mode !== 'NONE') issues.error([...lp, 'captureMode'], 'sidecar.capture-mode', 'captureMode must be DEFAULT or NONE for unix domain socket listeners');
      } else if (checkPortNumber(issues, [...lp, 'port'], n) && typeof n === 'number') {
        if (ports.has(n)) issues.error([...lp, 'port', 'number'], 'sidecar.port-unique', `port ${n} is already used by egress[${ports.get(n)}]: ports on IP bound listeners must be unique`);
        else ports.set(n, i);
        if (bind !== '') {
          const p = ipProblem(bind);
          if (p) issues.error([...lp, 'bind'], 'sidecar.bind', p);
        }
      }
    }
    const hosts = asArray(l.hosts);
    if (hosts.length === 0) issues.error([...lp, 'hosts'], 'sidecar.egress-hosts', 'egress listener must contain at least one host (namespace/dnsName)');
    hosts.forEach((h, j) => {
      if (typeof h === 'string') checkEgressHost(issues, [...lp, 'hosts', j], h);
    });
    if (present(l, 'localhostServerTls')) issues.warn([...lp, 'localhostServerTls'], 'sidecar.unimplemented-field', 'localhostServerTls is not implemented in Istio 1.6 and is ignored');
  });
}

function checkOutboundTrafficPolicy(issues: Issues, raw: unknown): void {
  const tp = asObject(raw);
  if (!tp) return;
  const path = ['spec', 'outboundTrafficPolicy'];
  if (!present(tp, 'mode')) {
    issues.warn(path, 'sidecar.outbound-policy-default', 'outboundTrafficPolicy without mode means REGISTRY_ONLY (the enum default), not the mesh-wide policy: set mode explicitly, or remove outboundTrafficPolicy to inherit it');
  }
  const proxy = asObject(tp.egressProxy);
  if (!proxy) return;
  const pp = [...path, 'egressProxy'];
  if (tp.mode !== 'ALLOW_ANY') issues.error(pp, 'sidecar.egress-proxy', 'egressProxy must be set only with mode ALLOW_ANY');
  const host = asString(proxy.host) ?? '';
  const hp = fqdnProblem(host);
  if (hp) issues.error([...pp, 'host'], 'sidecar.egress-proxy', hp);
  if (typeof proxy.subset === 'string' && proxy.subset !== '' && !isDNS1123Label(proxy.subset)) issues.error([...pp, 'subset'], 'sidecar.egress-proxy', `subset name "${proxy.subset}" is invalid: must be a DNS-1123 label`);
  const port = asObject(proxy.port);
  if (!port) issues.error([...pp, 'port'], 'sidecar.egress-proxy', 'egressProxy needs a port');
  else {
    const p = portProblem(port.number ?? 0);
    if (p) issues.error([...pp, 'port', 'number'], 'sidecar.egress-proxy', p);
  }
}

function validateSidecar(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec) ?? {};
  const selector = asObject(spec.workloadSelector);
  if (selector) {
    checkWorkloadSelector(issues, ['spec', 'workloadSelector'], selector);
    if (Object.keys(asObject(selector.labels) ?? {}).length === 0) {
      issues.error(['spec', 'workloadSelector', 'labels'], 'sidecar.workload-selector', 'workloadSelector cannot have empty labels (omit workloadSelector for the namespace-wide Sidecar)');
    }
  }
  const egress = asArray(spec.egress);
  if (egress.length === 0) issues.error(['spec', 'egress'], 'sidecar.egress-required', 'sidecar: missing egress (list at least one egress listener, e.g. hosts ["./*", "istio-system/*"])');
  checkIngress(issues, asArray(spec.ingress));
  checkEgress(issues, egress);
  checkOutboundTrafficPolicy(issues, spec.outboundTrafficPolicy);
  if (present(spec, 'localhost')) issues.warn(['spec', 'localhost'], 'sidecar.unimplemented-field', 'localhost TLS settings are not implemented in Istio 1.6 and are ignored');
}

export const sidecarKind: KindDef = networkingKind({
  kind: 'Sidecar',
  plural: 'sidecars',
  shortNames: [],
  description: 'Fine-tunes a workload\'s proxy: which hosts it can reach (egress), explicit inbound listeners (ingress), and its outbound traffic policy.',
  schema: schema,
  validate: validateSidecar,
});

// Used only by the rule examples below.
const sc = (spec: string) => `apiVersion: networking.istio.io/v1beta1\nkind: Sidecar\nmetadata: {name: default, namespace: bookinfo}\nspec:\n${spec}`;
const egressAll = '  egress:\n  - hosts: ["./*", "istio-system/*"]\n';

defineRules('Sidecar', [
  { id: 'sidecar.workload-selector', severity: 'error', summary: 'A workloadSelector lists at least one label; omit it for the namespace-wide Sidecar.', examples: [{ yaml: sc(`  workloadSelector: {labels: {}}\n${egressAll}`), field: 'spec.workloadSelector.labels' }] },
  { id: 'sidecar.egress-required', severity: 'error', summary: 'A Sidecar has at least one egress listener.', examples: [{ yaml: sc('  ingress:\n  - port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: 127.0.0.1:8080\n'), field: 'spec.egress' }] },
  { id: 'sidecar.ingress-port-required', severity: 'error', summary: 'Every ingress listener has a port.', examples: [{ yaml: sc(`  ingress:\n  - defaultEndpoint: 127.0.0.1:8080\n${egressAll}`), field: 'spec.ingress[0].port' }] },
  { id: 'sidecar.port', severity: 'error', summary: 'Listener ports have a number in 1..65535 (0 on egress means a unix socket), an optional DNS-1123 name and an optional known protocol.', examples: [{ yaml: sc(`  ingress:\n  - port: {number: 70000, protocol: HTTP, name: http}\n    defaultEndpoint: 127.0.0.1:8080\n${egressAll}`), field: 'spec.ingress[0].port.number' }, { yaml: sc('  egress:\n  - port: {number: 8080, protocol: HTTPX, name: http}\n    hosts: ["./*"]\n'), field: 'spec.egress[0].port.protocol' }] },
  { id: 'sidecar.port-unique', severity: 'error', summary: 'Ports of IP-bound listeners are unique among ingress listeners and among egress listeners; unix socket binds are unique.', examples: [{ yaml: sc('  egress:\n  - port: {number: 8080, protocol: HTTP, name: a}\n    hosts: ["./*"]\n  - port: {number: 8080, protocol: HTTP, name: b}\n    hosts: ["istio-system/*"]\n'), field: 'spec.egress[1].port.number' }] },
  { id: 'sidecar.bind', severity: 'error', summary: 'bind is an IP address; an egress listener with port 0 binds to unix:///path; bind needs a port.', examples: [{ yaml: sc('  egress:\n  - port: {number: 8080, protocol: HTTP, name: http}\n    bind: localhost\n    hosts: ["./*"]\n'), field: 'spec.egress[0].bind' }, { yaml: sc('  egress:\n  - port: {number: 0, protocol: HTTP, name: uds}\n    bind: 127.0.0.1\n    hosts: ["./*"]\n'), field: 'spec.egress[0].bind' }] },
  { id: 'sidecar.capture-mode', severity: 'error', summary: 'Unix domain socket listeners use captureMode DEFAULT or NONE.', examples: [{ yaml: sc('  egress:\n  - port: {number: 0, protocol: HTTP, name: uds}\n    bind: unix:///var/run/egress.sock\n    captureMode: IPTABLES\n    hosts: ["./*"]\n'), field: 'spec.egress[0].captureMode' }] },
  { id: 'sidecar.default-endpoint', severity: 'error', summary: 'Every ingress listener has a defaultEndpoint of the form 127.0.0.1:PORT (or :PORT) or unix:///path.', examples: [{ yaml: sc(`  ingress:\n  - port: {number: 9080, protocol: HTTP, name: http}\n${egressAll}`), field: 'spec.ingress[0].defaultEndpoint' }, { yaml: sc(`  ingress:\n  - port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: 10.0.0.1:8080\n${egressAll}`), field: 'spec.ingress[0].defaultEndpoint' }] },
  { id: 'sidecar.catch-all-egress', severity: 'error', summary: 'At most one egress listener has no port, and it is the last one.', examples: [{ yaml: sc('  egress:\n  - hosts: ["./*"]\n  - port: {number: 3306, protocol: MYSQL, name: mysql}\n    hosts: ["*/mysql.example.com"]\n'), field: 'spec.egress[0]' }] },
  { id: 'sidecar.egress-hosts', severity: 'error', summary: 'Each egress listener lists hosts as namespace/dnsName: namespace is *, ., ~ or a DNS-1123 label; dnsName is * or an FQDN, optionally with a leading wildcard (no short names).', examples: [{ yaml: sc('  egress:\n  - hosts: ["reviews"]\n'), field: 'spec.egress[0].hosts[0]' }, { yaml: sc('  egress:\n  - hosts: ["./reviews"]\n'), field: 'spec.egress[0].hosts[0]' }, { yaml: sc('  egress:\n  - port: {number: 80, protocol: HTTP, name: http}\n'), field: 'spec.egress[0].hosts' }] },
  { id: 'sidecar.egress-proxy', severity: 'error', summary: 'outboundTrafficPolicy.egressProxy is used only with mode ALLOW_ANY and names an FQDN host and a port.', examples: [{ yaml: sc(`${egressAll}  outboundTrafficPolicy:\n    mode: REGISTRY_ONLY\n    egressProxy: {host: istio-egressgateway.istio-system.svc.cluster.local, port: {number: 80}}\n`), field: 'spec.outboundTrafficPolicy.egressProxy' }] },
  { id: 'sidecar.outbound-policy-default', severity: 'warning', summary: 'An outboundTrafficPolicy without mode means REGISTRY_ONLY (the enum default), not the mesh default.', examples: [{ yaml: sc(`${egressAll}  outboundTrafficPolicy: {}\n`), field: 'spec.outboundTrafficPolicy' }] },
  { id: 'sidecar.unimplemented-field', severity: 'warning', summary: 'localhost, localhostClientTls and localhostServerTls are hidden, unimplemented fields in Istio 1.6 and are ignored.', examples: [{ yaml: sc(`${egressAll}  localhost:\n    clientTls: {mode: SIMPLE}\n`), field: 'spec.localhost' }] },
]);
