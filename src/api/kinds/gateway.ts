// Gateway (networking.istio.io): servers exposed by gateway proxies, validated as Istio 1.6 does.
import { Issues, asArray, asObject, asString } from '../diagnostics.js';
import { checkLabels, namespaceSlashHostProblem, portProblem } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { arr, freeform, obj, str, strMap, type Static } from '../schema.js';
import { isHttpProtocol, isTlsProtocol, networkingKind, parseProtocol, PortSchema, ServerTLSSchema } from './networking-types.js';

export const ServerSchema = obj({
  port: PortSchema,
  bind: str(),
  hosts: arr(str(), 'Hosts exposed by this server, as [namespace/]dnsName.'),
  tls: ServerTLSSchema,
  defaultEndpoint: str(),
});

export const GatewaySpecSchema = obj({
  servers: arr(ServerSchema),
  selector: strMap('Labels of the gateway workload (e.g. istio: ingressgateway).'),
});

export type GatewaySpec = Static<typeof GatewaySpecSchema>;
export type GatewayServer = Static<typeof ServerSchema>;

const schema = obj({ spec: GatewaySpecSchema, status: freeform() });

function validateGateway(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec);
  const servers = asArray(spec?.servers);
  if (servers.length === 0) issues.error(['spec', 'servers'], 'gateway.servers-required', 'gateway must have at least one server');
  checkLabels(issues, ['spec', 'selector'], spec?.selector);
  const portNames = new Map<string, number>();
  servers.forEach((raw, i) => {
    const server = asObject(raw);
    if (!server) return;
    const path = ['spec', 'servers', i] as const;
    validateServer(server, [...path], issues);
    const name = asString(asObject(server.port)?.name);
    if (name !== undefined && name !== '') {
      if (portNames.has(name)) issues.error([...path, 'port', 'name'], 'gateway.port-name-unique', `port names in servers must be unique: duplicate name ${name} (also used by servers[${portNames.get(name)}])`);
      else portNames.set(name, i);
    }
  });
}

function validateServer(server: Record<string, unknown>, path: Array<string | number>, issues: Issues): void {
  const hosts = asArray(server.hosts);
  if (hosts.length === 0) issues.error([...path, 'hosts'], 'gateway.server-hosts', 'server config must contain at least one host');
  hosts.forEach((h, j) => {
    if (typeof h !== 'string') return;
    const p = namespaceSlashHostProblem(h, true);
    if (p) issues.error([...path, 'hosts', j], 'gateway.server-hosts', p);
  });

  const port = asObject(server.port);
  let protocolOk = false;
  let protocol: ReturnType<typeof parseProtocol>;
  if (!port) issues.error([...path, 'port'], 'gateway.server-port', 'port is required');
  else {
    const proto = asString(port.protocol) ?? '';
    protocol = parseProtocol(proto);
    if (!protocol || protocol === 'UDP') issues.error([...path, 'port', 'protocol'], 'gateway.server-port', `invalid protocol "${proto}", supported protocols are HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP, TLS`);
    else protocolOk = true;
    if (port.number === undefined || port.number === 0) issues.error([...path, 'port', 'number'], 'gateway.server-port', 'port number is required');
    else if (typeof port.number === 'number') {
      const pp = portProblem(port.number);
      if (pp) issues.error([...path, 'port', 'number'], 'gateway.server-port', pp);
    }
    if (asString(port.name) === undefined || port.name === '') issues.error([...path, 'port', 'name'], 'gateway.server-port', 'port name must be set');
  }

  const tls = asObject(server.tls);
  if (tls) validateServerTls(tls, [...path, 'tls'], issues);
  if (protocolOk && protocol) {
    if (isTlsProtocol(protocol) && !tls) issues.error([...path, 'tls'], 'gateway.server-tls', 'server must have TLS settings for HTTPS/TLS protocols');
    else if (!isTlsProtocol(protocol) && tls) {
      if (isHttpProtocol(protocol)) {
        const onlyRedirect = Object.keys(tls).every((k) => k === 'httpsRedirect' || (k === 'mode' && tls.mode === 'PASSTHROUGH'));
        if (!onlyRedirect) issues.error([...path, 'tls'], 'gateway.server-tls', 'server cannot have TLS settings for plain text HTTP ports (only httpsRedirect is allowed)');
      } else issues.error([...path, 'tls'], 'gateway.server-tls', 'server cannot have TLS settings for non HTTPS/TLS ports');
    }
  }
}

function validateServerTls(tls: Record<string, unknown>, path: Array<string | number>, issues: Issues): void {
  const mode = asString(tls.mode) ?? 'PASSTHROUGH';
  if (mode === 'AUTO_PASSTHROUGH') issues.warn([...path, 'mode'], 'gateway.auto-passthrough', 'AUTO_PASSTHROUGH is multi-network SNI-DNAT, which OpenShift Service Mesh 2.0 does not support: this server gets no listener');
  const has = (k: string) => typeof tls[k] === 'string' && tls[k] !== '';
  if (mode === 'ISTIO_MUTUAL') {
    for (const [k, what] of [['serverCertificate', 'server certificate'], ['privateKey', 'private key'], ['caCertificates', 'CA bundle'], ['credentialName', 'credential name']] as const) {
      if (has(k)) issues.error([...path, k], 'gateway.tls-settings', `ISTIO_MUTUAL TLS cannot have associated ${what}`);
    }
    return;
  }
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && has('credentialName')) return; // fetched over SDS
  if (mode === 'SIMPLE' || mode === 'MUTUAL') {
    if (!has('serverCertificate')) issues.error([...path, 'serverCertificate'], 'gateway.tls-settings', `${mode} TLS requires a server certificate (or credentialName)`);
    if (!has('privateKey')) issues.error([...path, 'privateKey'], 'gateway.tls-settings', `${mode} TLS requires a private key (or credentialName)`);
    if (mode === 'MUTUAL' && !has('caCertificates')) issues.error([...path, 'caCertificates'], 'gateway.tls-settings', 'MUTUAL TLS requires a client CA bundle (or credentialName)');
  }
  const order = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'];
  const min = asString(tls.minProtocolVersion);
  const max = asString(tls.maxProtocolVersion);
  if (min && max && min !== 'TLS_AUTO' && max !== 'TLS_AUTO' && order.indexOf(min) > order.indexOf(max)) {
    issues.error([...path, 'minProtocolVersion'], 'gateway.tls-settings', `minProtocolVersion ${min} is newer than maxProtocolVersion ${max}`);
  }
}

export const gatewayKind: KindDef = networkingKind({
  kind: 'Gateway',
  plural: 'gateways',
  shortNames: ['gw'],
  nameFormat: 'dns1123-label',
  description: 'A load balancer at the edge of the mesh: the ports, protocols, hosts and TLS settings a gateway proxy exposes.',
  schema: schema,
  validate: validateGateway,
});

const gw = (servers: string, selector = '{istio: ingressgateway}') =>
  `apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata: {name: bookinfo-gateway}\nspec:\n  selector: ${selector}\n  servers:\n${servers}`;

defineRules('Gateway', [
  { id: 'gateway.servers-required', severity: 'error', summary: 'A Gateway has at least one server.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  selector: {istio: ingressgateway}\n', field: 'spec.servers' }] },
  { id: 'gateway.server-hosts', severity: 'error', summary: 'Each server lists at least one host, as [namespace/]dnsName where namespace is *, . or a name and dnsName may start with a wildcard.', examples: [{ yaml: gw('  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["bookinfo/*.ex*ample.com"]\n'), field: 'spec.servers[0].hosts[0]' }, { yaml: gw('  - port: {number: 80, name: http, protocol: HTTP}\n'), field: 'spec.servers[0].hosts' }] },
  { id: 'gateway.server-port', severity: 'error', summary: 'Each server has a port with a number in 1..65535, a name and a supported protocol.', examples: [{ yaml: gw('  - port: {number: 80, name: http, protocol: QUIC}\n    hosts: ["*"]\n'), field: 'spec.servers[0].port.protocol' }, { yaml: gw('  - port: {number: 80, protocol: HTTP}\n    hosts: ["*"]\n'), field: 'spec.servers[0].port.name' }, { yaml: gw('  - port: {number: 70000, name: http, protocol: HTTP}\n    hosts: ["*"]\n'), field: 'spec.servers[0].port.number' }] },
  { id: 'gateway.port-name-unique', severity: 'error', summary: 'Port names are unique across a Gateway\'s servers.', examples: [{ yaml: gw('  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["a.example.com"]\n  - port: {number: 8080, name: http, protocol: HTTP}\n    hosts: ["b.example.com"]\n'), field: 'spec.servers[1].port.name' }] },
  { id: 'gateway.server-tls', severity: 'error', summary: 'HTTPS and TLS servers need a tls block; plaintext HTTP servers may only set tls.httpsRedirect; other protocols no tls at all.', examples: [{ yaml: gw('  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: ["*"]\n'), field: 'spec.servers[0].tls' }, { yaml: gw('  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["*"]\n    tls: {httpsRedirect: true, mode: SIMPLE, credentialName: cert}\n'), field: 'spec.servers[0].tls' }] },
  { id: 'gateway.auto-passthrough', severity: 'warning', summary: 'AUTO_PASSTHROUGH (multi-network SNI-DNAT between clusters) is not supported, as in OpenShift Service Mesh 2.0: the server is ignored.', examples: [{ yaml: gw('  - port: {number: 15443, name: tls, protocol: TLS}\n    hosts: ["*.local"]\n    tls: {mode: AUTO_PASSTHROUGH}\n'), field: 'spec.servers[0].tls.mode' }] },
  { id: 'gateway.tls-settings', severity: 'error', summary: 'SIMPLE needs serverCertificate and privateKey, MUTUAL also caCertificates, unless credentialName is set; ISTIO_MUTUAL takes no certificate fields; minProtocolVersion is not newer than maxProtocolVersion.', examples: [{ yaml: gw('  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: ["*"]\n    tls: {mode: SIMPLE, privateKey: /etc/certs/key.pem}\n'), field: 'spec.servers[0].tls.serverCertificate' }, { yaml: gw('  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: ["*"]\n    tls: {mode: ISTIO_MUTUAL, credentialName: my-cert}\n'), field: 'spec.servers[0].tls.credentialName' }] },
]);
