// The proxy's workload certificate agent: a key made here, a CSR to the mesh CA, the certificate and trust bundle kept in the SecretStore, renewed before expiry.
import { X509Certificate, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { IstioCertificateRequest, IstioCertificateResponse } from '../../ca/ca-service.js';
import { createCsr } from '../../shared/csr.js';
import { MeshError } from '../../shared/errors.js';
import { stderrLogger, type Logger } from '../../shared/logger.js';
import { decodeWireMessage } from '../../xds/wire/decode.js';
import { encodeWireMessage } from '../../xds/wire/encode.js';
import { Backoff } from '../backoff.js';
import { GrpcChannel, GrpcError, grpcStatusName } from '../grpc/client.js';
import { ROOT_BUNDLE, WORKLOAD_CERTIFICATE, type SecretStore } from './secret-store.js';
import { workloadIdentity } from './peer-identity.js';

export type WorkloadKeyType = 'ecP256' | 'rsa2048';

/** The name the CA's serving certificate carries by default (Istio's discovery service in istio-system). */
export const DEFAULT_CA_SERVER_NAME = 'istiod.istio-system.svc';
/** Istio renews at half a certificate's life (SECRET_GRACE_PERIOD_RATIO). */
export const DEFAULT_GRACE_RATIO = 0.5;
/** Renewals are pulled earlier by up to this share of the lifetime, so proxies started together do not renew together. */
export const DEFAULT_JITTER_RATIO = 0.1;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRY_BASE_MS = 1_000;
export const DEFAULT_RETRY_MAX_MS = 30_000;
/** Node fires a longer setTimeout at once (it overflows a 32-bit int); a 90-day certificate renews after 45 days, so long waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A renewal time already past (a backdated or nearly expired certificate) still waits this long, so a bad answer cannot spin. */
const MIN_RENEW_DELAY_MS = 1_000;
/** A chain of a few certificates is a few KiB; grpc-js refuses a larger answer instead of buffering it (its default is 4 MiB). */
const MAX_RESPONSE_BYTES = 256 * 1024;
/** istio.v1.auth.IstioCertificateService's one method. */
const CREATE_CERTIFICATE = '/istio.v1.auth.IstioCertificateService/CreateCertificate';
/** A bearer token is printable ASCII without spaces (grpc-js would throw on anything else in a header). */
const TOKEN_CHARS = /^[\x21-\x7e]{1,8192}$/;

/** Where the agent's timers go; tests pass a manual clock. Handles must not keep the process alive. */
export interface AgentTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: AgentTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface WorkloadCertAgentOptions {
  /** The CA's gRPC address, 'host:port'. */
  caAddress: string;
  /** The DNS name the CA's TLS certificate must carry; default `istiod.istio-system.svc`. */
  caServerName?: string;
  /** PEM roots that verify the CA's TLS certificate. Read again for each connection, so a rotated root file is picked up. */
  caRoots: () => Promise<string>;
  /** The bearer token proving the workload's identity. Read again for each request, as Istio's agent re-reads its token file. */
  token: () => Promise<string>;
  /** Receives `default` (certificate and key) and `ROOTCA` (trust bundle). */
  store: SecretStore;
  /** Key of each new certificate; EC P-256 by default (RSA 2048 is Istio's default, and about 1000× slower to generate). */
  keyType?: WorkloadKeyType;
  /** Lifetime to ask for, ms (sent in whole seconds, rounded up); 0 or undefined lets the CA choose (24 h for Meltemi's). */
  requestedTtlMs?: number;
  /** Share of the lifetime (from arrival) at which to renew, in (0, 1); default 0.5. */
  graceRatio?: number;
  /** Renewal is moved earlier by a random share of the lifetime up to this, in [0, graceRatio); default 0.1. */
  jitterRatio?: number;
  /** Deadline of one CreateCertificate call, ms; default 10 000. */
  requestTimeoutMs?: number;
  /** Retry delays after a failure: full-jitter exponential from `retryBaseMs` (default 1 000) capped at `retryMaxMs` (default 30 000). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Unix ms; validity checks and renewal times use it. */
  now?: () => number;
  /** Uniform in [0, 1), for jitter. */
  random?: () => number;
  timers?: AgentTimers;
  logger?: Logger;
}

/** A CA answer that passed every check, ready to install. */
interface Issued {
  identity: string;
  serialNumber: string;
  notBefore: number;
  notAfter: number;
  /** Leaf and intermediates, PEM, leaf first: what the proxy presents. */
  presentedChain: string;
  /** The chain's self-signed root, when it ends in one. */
  chainRoot: X509Certificate | undefined;
}

const generateKeyPairAsync = promisify(generateKeyPair);

function newKeyPair(keyType: WorkloadKeyType): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return keyType === 'rsa2048' ? generateKeyPairAsync('rsa', { modulusLength: 2048 }) : generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
}

function refused(reason: string, cause?: unknown): MeshError {
  return new MeshError('MESH_CA_INVALID', `CA answer refused: ${reason}`, cause === undefined ? undefined : { cause });
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The certificates of the CA roots file, parsed; a file with none is a configuration error. */
function parseRoots(text: string): X509Certificate[] {
  const blocks = pemBlocks(text);
  if (blocks.length === 0) throw new MeshError('MESH_INVALID_CONFIG', 'CA roots hold no PEM certificate');
  return blocks.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch (e) {
      throw new MeshError('MESH_INVALID_CONFIG', `CA roots: certificate ${i + 1} cannot be parsed`, { cause: e });
    }
  });
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);
}

function isSelfSignedCa(cert: X509Certificate): boolean {
  return issuedBy(cert, cert);
}

/**
 * Checks a CreateCertificate answer before anything is installed: each element is one parseable
 * PEM certificate; the leaf holds `ourKey`, is not a CA and names exactly one well-formed SPIFFE
 * ID; each certificate is issued and signed by the next; the last is a self-signed CA or is
 * signed by one of `roots`; none has expired at `now`. A CA (or something posing as one) that
 * answered with another key, another kind of certificate or a broken chain would otherwise have
 * the proxy present a certificate it cannot use, or trust a root it should not.
 */
function checkAnswer(answer: readonly string[], ourKey: KeyObject, roots: readonly X509Certificate[], now: number): Issued {
  if (answer.length === 0) throw refused('the certificate chain is empty');
  const certs = answer.map((element, i) => {
    const blocks = pemBlocks(element);
    if (blocks.length !== 1) throw refused(`chain element ${i + 1} holds ${blocks.length} PEM certificates, expected 1`);
    try {
      return new X509Certificate(blocks[0]!);
    } catch (e) {
      throw refused(`chain element ${i + 1} cannot be parsed`, e);
    }
  });
  const leaf = certs[0]!;
  const ours = ourKey.export({ type: 'spki', format: 'der' });
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(ours)) throw refused('the leaf does not hold the public key of our request');
  const id = workloadIdentity(leaf);
  if (typeof id === 'string') throw refused(`${id.replace('the peer certificate', 'the leaf')} (SAN ${JSON.stringify(leaf.subjectAltName ?? '')})`);
  const identity = id.spiffeId;
  for (let i = 0; i + 1 < certs.length; i++) {
    if (!issuedBy(certs[i]!, certs[i + 1]!)) throw refused(`chain certificate ${i + 1} is not issued and signed by certificate ${i + 2}`);
  }
  const last = certs[certs.length - 1]!;
  const chainRoot = certs.length > 1 && isSelfSignedCa(last) ? last : undefined;
  if (chainRoot === undefined && !roots.some((r) => issuedBy(last, r))) throw refused('the chain neither ends in a self-signed root nor is signed by a configured CA root');
  certs.forEach((c, i) => {
    if (Date.parse(c.validTo) <= now) throw refused(`chain certificate ${i + 1} expired at ${c.validTo}`);
  });
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (!(notAfter > notBefore)) throw refused(`the leaf's validity (${leaf.validFrom} to ${leaf.validTo}) is empty`);
  // Present leaf and intermediates; a peer anchors on its own bundle, so sending the root adds bytes, not trust.
  const presented = chainRoot === undefined ? certs : certs.slice(0, -1);
  return { identity, serialNumber: leaf.serialNumber, notBefore, notAfter, presentedChain: presented.map((c) => c.toString()).join(''), chainRoot };
}

/** `roots` then `extra`, each certificate once (by SHA-256 fingerprint), as concatenated PEM. */
function trustBundle(roots: readonly X509Certificate[], extra: X509Certificate | undefined): string {
  const seen = new Set<string>();
  let pem = '';
  for (const c of extra === undefined ? roots : [...roots, extra]) {
    if (seen.has(c.fingerprint256)) continue;
    seen.add(c.fingerprint256);
    pem += c.toString();
  }
  return pem;
}

/**
 * Keeps the proxy's workload certificate current, as Istio's pilot-agent does: for each issuance
 * a fresh key pair is generated here (the private key never leaves the process), a PKCS#10 request
 * goes to the CA's CreateCertificate over TLS with the workload's bearer token, and the checked
 * answer becomes the SecretStore's `default` (leaf and intermediates, without the root, plus the
 * PKCS#8 key) and `ROOTCA` (the configured CA roots plus the chain's root, each once).
 *
 * Renewal is due at graceRatio of the lifetime counted from arrival (the later of notBefore and
 * receipt), earlier by a random share of up to jitterRatio × that lifetime. A failed request is retried with capped, jittered exponential backoff
 * until it succeeds or `close()` is called; meanwhile the last good certificate stays in the store
 * (a proxy keeps serving what it has, as Envoy keeps its last SDS answer). Failures are reported
 * through the logger; tokens and keys are never logged.
 */
export class WorkloadCertAgent {
  private readonly store: SecretStore;
  private readonly caAddress: string;
  private readonly serverName: string;
  private readonly keyType: WorkloadKeyType;
  private readonly ttlSeconds: number;
  private readonly graceRatio: number;
  private readonly jitterRatio: number;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly timers: AgentTimers;
  private readonly log: Logger;
  private readonly backoff: Backoff;

  private closed = false;
  private started: Promise<void> | undefined;
  private settleStart: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private timer: unknown;
  /** The attempt in progress, if any; it never rejects. */
  private running: Promise<void> | undefined;
  /** The connection of the call in progress, if any. */
  private channel: GrpcChannel | undefined;
  private current: Issued | undefined;
  private renewAt: number | undefined;
  private issuedCount = 0;
  private failureCount = 0;

  constructor(private readonly options: WorkloadCertAgentOptions) {
    const usage = (m: string) => new MeshError('MESH_USAGE', `workload certificate agent: ${m}`);
    this.store = options.store;
    this.caAddress = options.caAddress;
    if (this.caAddress.length === 0) throw usage('caAddress is empty');
    this.serverName = options.caServerName ?? DEFAULT_CA_SERVER_NAME;
    this.keyType = options.keyType ?? 'ecP256';
    if (this.keyType !== 'ecP256' && this.keyType !== 'rsa2048') throw usage(`keyType ${String(this.keyType)} is not ecP256 or rsa2048`);
    const ttlMs = options.requestedTtlMs ?? 0;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) throw usage(`requestedTtlMs ${ttlMs} is not a whole number of ms, 0 or more`);
    this.ttlSeconds = Math.ceil(ttlMs / 1000);
    this.graceRatio = options.graceRatio ?? DEFAULT_GRACE_RATIO;
    if (!(this.graceRatio > 0 && this.graceRatio < 1)) throw usage(`graceRatio ${this.graceRatio} is not between 0 and 1`);
    this.jitterRatio = options.jitterRatio ?? DEFAULT_JITTER_RATIO;
    if (!(this.jitterRatio >= 0 && this.jitterRatio < this.graceRatio)) throw usage(`jitterRatio ${this.jitterRatio} must be at least 0 and below graceRatio ${this.graceRatio}`);
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!(Number.isFinite(this.requestTimeoutMs) && this.requestTimeoutMs > 0)) throw usage(`requestTimeoutMs ${this.requestTimeoutMs} is not a positive number`);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.timers = options.timers ?? realTimers;
    this.log = options.logger ?? stderrLogger('cert-agent');
    this.backoff = new Backoff({ baseMs: options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS, maxMs: options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS, random: this.random });
  }

  /** The SPIFFE ID of the certificate in the store, once one was issued. */
  get identity(): string | undefined {
    return this.current?.identity;
  }

  /** When the certificate in the store expires, Unix ms. */
  get expiresAt(): number | undefined {
    return this.current?.notAfter;
  }

  /** When the next renewal is due, Unix ms (undefined before the first certificate and after close). */
  get nextRenewalAt(): number | undefined {
    return this.closed ? undefined : this.renewAt;
  }

  /** Certificates issued and installed so far. */
  get issued(): number {
    return this.issuedCount;
  }

  /** Requests that failed or whose answer was refused so far. */
  get failures(): number {
    return this.failureCount;
  }

  /**
   * Requests the first certificate and keeps renewing it. Resolves once `default` and `ROOTCA`
   * are in the store; until then failures are retried (and logged), so it rejects only when
   * `close()` comes first. Calling it again returns the same promise.
   */
  start(): Promise<void> {
    if (this.started !== undefined) return this.started;
    if (this.closed) return Promise.reject(new MeshError('MESH_USAGE', 'workload certificate agent is closed'));
    this.started = new Promise<void>((resolve, reject) => (this.settleStart = { resolve, reject }));
    this.attemptNow();
    return this.started;
  }

  /**
   * Stops renewing: clears the timer, cancels a request in flight and closes its connection. A
   * pending `start()` rejects. Resolves when the attempt in progress, if any, has ended; nothing is
   * written to the store after that. The secrets already stored stay.
   */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
      this.timer = undefined;
      this.channel?.close();
      this.settleStart?.reject(new MeshError('MESH_IO', 'workload certificate agent closed before a certificate was issued'));
      this.settleStart = undefined;
    }
    await this.running;
  }

  private attemptNow(): void {
    this.timer = undefined;
    if (this.closed) return;
    const attempt = this.attempt();
    this.running = attempt;
    void attempt.finally(() => {
      if (this.running === attempt) this.running = undefined;
    });
  }

  private async attempt(): Promise<void> {
    try {
      const { issued, privateKeyPem, roots } = await this.request();
      if (this.closed) return;
      this.install(issued, privateKeyPem, roots);
      this.backoff.reset();
      this.scheduleRenewal(issued);
      this.settleStart?.resolve();
      this.settleStart = undefined;
    } catch (e) {
      if (this.closed) return;
      this.failureCount++;
      const delay = this.backoff.next();
      const expired = this.current !== undefined && this.current.notAfter <= this.now();
      const fields = { ca: this.caAddress, error: messageOf(e), failures: this.failureCount, retryInMs: delay, ...(this.current ? { expiresAt: new Date(this.current.notAfter).toISOString() } : {}) };
      if (expired) this.log.error('workload certificate expired and cannot be renewed', fields);
      else this.log.warn('workload certificate request failed', fields);
      this.timer = this.timers.setTimeout(() => this.attemptNow(), delay);
    }
  }

  /** One issuance: read roots and token, make a key and CSR, call the CA, check the answer. */
  private async request(): Promise<{ issued: Issued; privateKeyPem: string; roots: X509Certificate[] }> {
    const [rootsText, tokenText] = await Promise.all([this.options.caRoots(), this.options.token()]);
    const roots = parseRoots(rootsText);
    // Token files usually end in a newline; nothing else may surround the token.
    const token = tokenText.trim();
    if (!TOKEN_CHARS.test(token)) throw new MeshError('MESH_INVALID_CONFIG', 'the workload token is empty or holds characters a header cannot carry');
    const { privateKey, publicKey } = await newKeyPair(this.keyType);
    // The CA decides the identity from the token; the request names the current one only as Istio's agent does.
    const csr = createCsr({ privateKey, publicKey, uriSans: this.current ? [this.current.identity] : [] });
    const answer = await this.createCertificate(roots, token, { csr, validity_duration: this.ttlSeconds });
    const issued = checkAnswer(answer.cert_chain ?? [], publicKey, roots, this.now());
    return { issued, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), roots };
  }

  /** A CreateCertificate call on a new connection that trusts exactly `roots`; the connection is closed when the call ends. */
  private createCertificate(roots: readonly X509Certificate[], token: string, request: IstioCertificateRequest): Promise<IstioCertificateResponse> {
    if (this.closed) return Promise.reject(new MeshError('MESH_IO', 'workload certificate agent closed'));
    const rootsPem = Buffer.from(roots.map((r) => r.toString()).join(''));
    const channel = new GrpcChannel({ address: this.caAddress, tls: { ca: rootsPem, serverName: this.serverName }, maxReceiveMessageBytes: MAX_RESPONSE_BYTES, userAgent: 'meltemi-proxy' });
    this.channel = channel;
    // The deadline runs on the wall clock; the injected clock is for certificate times only.
    return channel
      .unary(CREATE_CERTIFICATE, encodeWireMessage('istio.v1.auth.IstioCertificateRequest', request), [['authorization', `Bearer ${token}`]], this.requestTimeoutMs)
      .then(
        // An empty repeated field is absent from the decoded JSON.
        (bytes) => ({ cert_chain: [], ...decodeWireMessage('istio.v1.auth.IstioCertificateResponse', bytes) }) as IstioCertificateResponse,
        (e: unknown) => {
          const why = e instanceof GrpcError ? `${grpcStatusName(e.code)} ${e.details}` : String(e);
          throw new MeshError('MESH_IO', `CreateCertificate at ${this.caAddress}: ${why}`, { cause: e });
        },
      )
      .finally(() => {
        channel.close();
        if (this.channel === channel) this.channel = undefined;
      });
  }

  /**
   * Reads the roots again and updates ROOTCA at once when they changed, without a new certificate:
   * a root rotation publishes the new root before the CA signs with it, and every proxy must trust
   * it by then (the caller watches the roots file). Errors are logged; the bundle in use stays.
   */
  async refreshRoots(): Promise<void> {
    if (this.closed || this.current === undefined) return;
    try {
      const roots = parseRoots(await this.options.caRoots());
      if (this.closed || this.current === undefined) return;
      const bundle = trustBundle(roots, this.current.chainRoot);
      if (this.store.validation(ROOT_BUNDLE)?.trustedCa !== bundle) {
        this.store.set(ROOT_BUNDLE, { kind: 'validation', trustedCa: bundle });
        this.log.info('mesh trust bundle updated', { roots: roots.length });
      }
    } catch (e) {
      this.log.warn('mesh roots could not be read; the trust bundle in use stays', { error: messageOf(e) });
    }
  }

  private install(issued: Issued, privateKeyPem: string, roots: readonly X509Certificate[]): void {
    const previous = this.current;
    // The bundle first: when `default` changes, whatever rebuilds a TLS context already trusts the new chain's root.
    const bundle = trustBundle(roots, issued.chainRoot);
    if (this.store.validation(ROOT_BUNDLE)?.trustedCa !== bundle) this.store.set(ROOT_BUNDLE, { kind: 'validation', trustedCa: bundle });
    this.store.set(WORKLOAD_CERTIFICATE, { kind: 'certificate', certificateChain: issued.presentedChain, privateKey: privateKeyPem });
    this.current = issued;
    this.issuedCount++;
    if (previous !== undefined && previous.identity !== issued.identity) {
      this.log.warn('workload identity changed with the new certificate', { from: previous.identity, to: issued.identity });
    }
  }

  private scheduleRenewal(issued: Issued): void {
    // The lifetime counts from when the certificate arrived, as Istio's agent counts it: CAs date
    // notBefore back (Meltemi's by 2 minutes) for clock skew, and counting from there would renew a
    // short-lived certificate almost at once, over and over.
    const start = Math.max(issued.notBefore, Math.min(this.now(), issued.notAfter));
    const lifetime = issued.notAfter - start;
    const r = this.random();
    const jitter = (r >= 0 && r < 1 ? r : 0) * this.jitterRatio * lifetime;
    const due = Math.floor(start + this.graceRatio * lifetime - jitter);
    this.renewAt = Math.max(due, this.now() + MIN_RENEW_DELAY_MS);
    this.log.info('workload certificate issued', {
      identity: issued.identity,
      serialNumber: issued.serialNumber,
      expiresAt: new Date(issued.notAfter).toISOString(),
      renewAt: new Date(this.renewAt).toISOString(),
    });
    this.armRenewal();
  }

  /** Sets the timer toward `renewAt`, in steps no longer than Node's timer limit. */
  private armRenewal(): void {
    this.timer = undefined;
    if (this.closed || this.renewAt === undefined) return;
    const wait = this.renewAt - this.now();
    if (wait <= 0) {
      this.attemptNow();
      return;
    }
    this.timer = this.timers.setTimeout(() => (wait > MAX_TIMER_MS ? this.armRenewal() : this.attemptNow()), Math.min(wait, MAX_TIMER_MS));
  }
}
