// The wire contract of istio.v1.auth.IstioCertificateService (messages and service definition) for gRPC servers and tests.
// The proxy imports only the message types from here: it encodes the request with src/xds/wire (no grpc-js, no protobufjs in a sidecar).
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_FILE = fileURLToPath(new URL('./proto/istioca.proto', import.meta.url));
const SERVICE = 'istio.v1.auth.IstioCertificateService';

/** The request as proto-loader decodes it (proto field names; int64 as number). */
export interface IstioCertificateRequest {
  /** PEM PKCS#10 request; the CA uses only its public key. */
  csr: string;
  /** Requested lifetime in seconds; 0 means the CA's default. */
  validity_duration: number;
  metadata?: unknown;
}

export interface IstioCertificateResponse {
  /** Leaf, then each issuer up to the root, one PEM each. */
  cert_chain: string[];
}

let serviceDefinition: grpc.ServiceDefinition | undefined;

/** The service definition from `proto/istioca.proto`, loaded on first use; for servers and clients alike. */
export function istioCaServiceDefinition(): grpc.ServiceDefinition {
  if (serviceDefinition === undefined) {
    const pkg = protoLoader.loadSync(PROTO_FILE, { keepCase: true, longs: Number, defaults: true });
    serviceDefinition = pkg[SERVICE] as grpc.ServiceDefinition;
  }
  return serviceDefinition;
}
