// Schemas and checks shared by the networking.istio.io kinds (ports, selectors, TLS settings, protocols).
import type { KindDef, SemanticValidator } from '../kind.js';
import { arr, bool, enumOf, num, obj, str, strMap, uint32, type TSchema } from '../schema.js';

export const NETWORKING_GROUP = 'networking.istio.io';
export const NETWORKING_VERSIONS = ['v1alpha3', 'v1beta1'] as const;

/** Istio's protocol names (case-insensitive in YAML); anything else is unsupported. */
const PROTOCOLS = ['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'HTTP_PROXY', 'MONGO', 'REDIS', 'MYSQL', 'THRIFT', 'TCP', 'TLS', 'UDP'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export function parseProtocol(p: string): Protocol | undefined {
  const up = p.toUpperCase();
  return (PROTOCOLS as readonly string[]).includes(up) ? (up as Protocol) : undefined;
}

export function isHttpProtocol(p: Protocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB' || p === 'HTTP_PROXY';
}

export function isTlsProtocol(p: Protocol): boolean {
  return p === 'HTTPS' || p === 'TLS';
}

export const PortSchema = obj({ number: uint32('Port number.'), protocol: str('HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS…'), name: str('Port name, unique in the resource.') });
export const PortSelectorSchema = obj({ number: uint32() });
export const WorkloadSelectorSchema = obj({ labels: strMap('Pod labels the selector matches.') });
export const PercentSchema = obj({ value: num('Percentage, 0.0 to 100.0.') });

export const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const;

export const ServerTLSSchema = obj({
  httpsRedirect: bool('Send a 301 redirect to HTTPS for plaintext requests.'),
  mode: enumOf(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL'] as const),
  serverCertificate: str(),
  privateKey: str(),
  caCertificates: str(),
  credentialName: str(),
  subjectAltNames: arr(str()),
  verifyCertificateSpki: arr(str()),
  verifyCertificateHash: arr(str()),
  minProtocolVersion: enumOf(TLS_VERSIONS),
  maxProtocolVersion: enumOf(TLS_VERSIONS),
  cipherSuites: arr(str()),
});

/**
 * A networking.istio.io kind served, as Istio 1.6 serves it, in v1alpha3 (storage) and v1beta1 with
 * one schema and one validator.
 */
export function networkingKind(d: { kind: string; plural: string; shortNames: string[]; description: string; nameFormat?: KindDef['nameFormat']; schema: TSchema; validate: SemanticValidator }): KindDef {
  return {
    group: NETWORKING_GROUP,
    kind: d.kind,
    plural: d.plural,
    singular: d.kind.toLowerCase(),
    shortNames: d.shortNames,
    namespaced: true,
    nameFormat: d.nameFormat ?? 'dns1123-subdomain',
    description: d.description,
    versions: [
      { name: 'v1alpha3', schema: d.schema, validate: d.validate, storage: true },
      { name: 'v1beta1', schema: d.schema, validate: d.validate },
    ],
  };
}
