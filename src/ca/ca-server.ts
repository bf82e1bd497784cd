// The CA's gRPC service, istio.v1.auth.IstioCertificateService/CreateCertificate, and its TLS serving credentials.
import { createPublicKey, generateKeyPair } from 'node:crypto';
import type { SecureServerOptions } from 'node:http2';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { stderrLogger, type Logger } from '../shared/logger.js';
import { isMeshError } from '../shared/errors.js';
import { MetricsRegistry, type Counter } from '../shared/metrics.js';
import type { NodeTlsOptions } from '../model/mesh-config.js';
import type { CaBundle } from './ca-bundle.js';
import type { CallerAuthenticator } from './caller-auth.js';
import { importSigner, x509 } from './pki.js';
import { istioCaServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from './ca-service.js';
import { DEFAULT_WORKLOAD_TTL_MS, MAX_WORKLOAD_TTL_MS, signServerCsr, signWorkloadCsr, spiffeId, type WorkloadIdentity } from './sign.js';

// The wire contract lives in ca-service.ts so clients can load it without the signing code; re-exported for existing callers.
export { istioCaServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from './ca-service.js';

/** How often a serving certificate (24 h by default, see caServerCredentials) is reissued: at half its life. */
export const SERVING_CERT_REISSUE_MS = 12 * 3600 * 1000;

/** A CSR is a few KiB at most; grpc-js refuses larger requests with RESOURCE_EXHAUSTED before decoding. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** Where the CA server reports; the default writes warnings and errors to stderr as JSON lines. */
export type CaLogger = Logger;

const defaultLogger: Logger = stderrLogger('ca');

export interface CaServerOptions {
  bundle: CaBundle;
  authenticator: CallerAuthenticator;
  /** The only trust domain this CA signs for; an authenticator answering another one is a configuration error. */
  trustDomain: string;
  /** Longest lifetime a caller may ask for; default and upper bound 90 days. */
  maxTtlMs?: number;
  logger?: CaLogger;
  /** Where Istio's citadel_server_* counters go; a private registry by default. */
  metrics?: MetricsRegistry;
}

interface Metrics {
  csrs: Counter;
  authFailures: Counter;
  csrRejected: Counter;
  issued: Counter;
}

function registerMetrics(r: MetricsRegistry): Metrics {
  return {
    csrs: r.counter('citadel_server_csr_count', 'The number of CSRs received by Citadel server.'),
    authFailures: r.counter('citadel_server_authentication_failure_count', 'The number of authentication failures.'),
    csrRejected: r.counter('citadel_server_csr_parsing_err_count', 'The number of errors occurred when parsing the CSR.'),
    issued: r.counter('citadel_server_success_cert_issuance_count', 'The number of certificates issuances that have succeeded.'),
  };
}

/** A refusal on its way to the caller: `details` is all the caller sees. */
class Refusal {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {}
}

/**
 * Serves CreateCertificate: authenticates the caller, then signs the CSR's key for that identity
 * only (never the CSR's own claims). Refusals: UNAUTHENTICATED (no reason given to the caller),
 * INVALID_ARGUMENT (bad CSR or lifetime), INTERNAL (logged, not described to the caller).
 */
export class CaServer {
  private readonly log: CaLogger;
  private readonly m: Metrics;
  private readonly maxTtlMs: number;
  private server: grpc.Server | undefined;
  private bundle: CaBundle;
  /** Where start() bound, for rebinding with new credentials. */
  private bound: string | undefined;
  /** close() was called: nothing binds again. */
  private closed = false;

  constructor(private readonly options: CaServerOptions) {
    this.maxTtlMs = options.maxTtlMs ?? MAX_WORKLOAD_TTL_MS;
    if (!Number.isSafeInteger(this.maxTtlMs) || this.maxTtlMs <= 0 || this.maxTtlMs > MAX_WORKLOAD_TTL_MS) {
      throw new RangeError(`maxTtlMs must be between 1 and ${MAX_WORKLOAD_TTL_MS} ms`);
    }
    this.log = options.logger ?? defaultLogger;
    this.m = registerMetrics(options.metrics ?? new MetricsRegistry());
    this.bundle = options.bundle;
  }

  /** The CA now signing. */
  get currentBundle(): CaBundle {
    return this.bundle;
  }

  /**
   * Signs with `bundle` from the next request on (a reloaded or rotated CA). With `credentials`,
   * the TLS port is also rebound with them — the serving certificate of a rotated root must chain
   * to a root its callers trust. Calls in flight finish on the old server; callers retry.
   */
  async rotate(bundle: CaBundle, credentials?: grpc.ServerCredentials): Promise<void> {
    if (bundle.trustBundlePem !== this.bundle.trustBundlePem || bundle.caCertPem !== this.bundle.caCertPem) this.log.info('CA rotated', { signingRootChanged: bundle.rootCertPem !== this.bundle.rootCertPem });
    this.bundle = bundle;
    if (credentials && this.bound !== undefined && !this.closed) {
      const address = this.bound;
      await this.shutdown();
      if (!this.closed) await this.start(address, credentials);
    }
  }

  /**
   * Listens on `address` ('host:port'; port 0 picks one) and returns the bound port. Serve it with
   * TLS (`caServerCredentials`) anywhere but a test: callers send bearer tokens.
   */
  async start(address: string, credentials: grpc.ServerCredentials): Promise<number> {
    if (this.server !== undefined) throw new Error('CA server already started');
    if (this.closed) throw new Error('CA server closed');
    const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
    server.addService(istioCaServiceDefinition(), {
      CreateCertificate: (call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>, callback: grpc.sendUnaryData<IstioCertificateResponse>) => {
        this.createCertificate(call).then(
          (response) => callback(null, response),
          (e: unknown) => callback(this.toStatus(e, call.getPeer())),
        );
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, credentials, (err, p) => (err ? reject(err) : resolve(p))));
    this.server = server;
    // Rebinding keeps the port even when the first start asked for any (port 0).
    this.bound = `${address.slice(0, address.lastIndexOf(':'))}:${port}`;
    return port;
  }

  /** Stops accepting calls, lets running ones finish, then closes every connection. For good: a rotation after this does not bind again. */
  async close(): Promise<void> {
    this.closed = true;
    await this.shutdown();
  }

  private async shutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    server.forceShutdown();
  }

  private async createCertificate(call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>): Promise<IstioCertificateResponse> {
    this.m.csrs.inc();
    let identity: WorkloadIdentity;
    try {
      identity = await this.options.authenticator.authenticate(call.metadata);
    } catch (e) {
      this.m.authFailures.inc();
      this.log.warn('CA caller not authenticated', { peer: call.getPeer(), reason: e instanceof Error ? e.message : String(e) });
      throw new Refusal(grpc.status.UNAUTHENTICATED, 'caller not authenticated');
    }
    if (identity.trustDomain !== this.options.trustDomain) {
      throw new Error(`authenticator answered trust domain ${identity.trustDomain}; this CA signs for ${this.options.trustDomain}`);
    }
    const seconds = call.request.validity_duration;
    if (!Number.isSafeInteger(seconds) || seconds < 0) throw new Refusal(grpc.status.INVALID_ARGUMENT, 'validity_duration must be a whole number of seconds, 0 or more');
    const ttlMs = seconds === 0 ? Math.min(DEFAULT_WORKLOAD_TTL_MS, this.maxTtlMs) : seconds * 1000;
    if (ttlMs > this.maxTtlMs) throw new Refusal(grpc.status.INVALID_ARGUMENT, `validity_duration ${seconds}s exceeds the maximum of ${Math.floor(this.maxTtlMs / 1000)}s`);

    let chain: string[];
    try {
      chain = await signWorkloadCsr(this.bundle, call.request.csr, identity, { ttlMs });
    } catch (e) {
      if (!isMeshError(e, 'MESH_CSR_REJECTED')) throw e;
      this.m.csrRejected.inc();
      throw new Refusal(grpc.status.INVALID_ARGUMENT, e.message);
    }
    this.m.issued.inc();
    this.log.info('certificate issued', { identity: spiffeId(identity), ttlMs });
    return { cert_chain: chain };
  }

  private toStatus(e: unknown, peer: string): Partial<grpc.StatusObject> {
    if (e instanceof Refusal) return { code: e.code, details: e.details };
    this.log.error('CreateCertificate failed', { peer, error: e instanceof Error ? e.message : String(e) });
    return { code: grpc.status.INTERNAL, details: 'internal error' };
  }
}

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * TLS credentials for the CA's port, signed by the CA itself: a new EC P-256 key (held only in
 * memory) and a certificate whose SANs are exactly `dnsNames` (for example
 * `istiod.istio-system.svc`), `ttlMs` long (default 24 h; not yet rotated while serving).
 * Clients verify it against the trust bundle; client certificates are not required unless asked
 * for (the CA's callers prove who they are with tokens; the secure xDS port requires them).
 */
export async function caServerCredentials(bundle: CaBundle, dnsNames: readonly string[], options: { ttlMs?: number; requireClientCertificate?: boolean; tls?: NodeTlsOptions } = {}): Promise<grpc.ServerCredentials> {
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  const signer = await importSigner(privateKey, 'CA serving key');
  const spki = new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  const publicKey = await crypto.subtle.importKey('spki', spki, signer.key.algorithm, true, ['verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys: { privateKey: signer.key, publicKey }, signingAlgorithm: signer.algorithm });
  const chain = await signServerCsr(bundle, csr.toString('pem'), dnsNames, options);
  // Present the leaf and any intermediates; the root is what clients already hold.
  const certChain = Buffer.from(chain.slice(0, -1).join(''));
  const key = Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }));
  // The secure xDS port requires a workload certificate from the mesh roots; the CA's own port cannot (callers come to get one).
  const requestCert = options.requireClientCertificate ?? false;
  const context = { ca: Buffer.from(bundle.trustBundlePem), cert: [certChain], key: [key] };
  if (!options.tls || Object.keys(options.tls).length === 0) return grpc.ServerCredentials.createSsl(context.ca, [{ cert_chain: certChain, private_key: key }], requestCert);
  // grpc-js's createSsl fixes the cipher list and versions; these credentials carry the mesh's.
  return new TunedServerCredentials({ requestCert, ...options.tls }, context);
}

/** Server credentials with explicit TLS server options; grpc-js applies constructor options to the HTTP/2 server it creates. */
class TunedServerCredentials extends grpc.ServerCredentials {
  constructor(serverOptions: SecureServerOptions, contextOptions: SecureContextOptions) {
    // Node refuses a wrong cipher or curve name only when a context is made: make one now so the
    // mistake surfaces here, naming the setting, and not as a bind failure later.
    try {
      createSecureContext({ ...serverOptions, ...contextOptions });
    } catch (e) {
      throw new Error(`security.controlPlane.tls: ${(e as Error).message}`);
    }
    super(serverOptions, contextOptions);
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}
