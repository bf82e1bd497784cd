// TLS on the data path: secure contexts built from the secret store (rebuilt when a secret rotates, so new connections get the new certificate and old ones keep theirs), server handshakes with one gate every peer passes, and client connections that verify the server's name before a byte is sent.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { PemSource, TlsContextConfig } from '../config/tls-context.js';
import { ROOT_BUNDLE, type SecretStore } from './secret-store.js';
import { subjectAltNames, type PeerIdentity } from '../../shared/spiffe.js';
import { sansAccepted, workloadIdentity } from './peer-identity.js';

/** What the data path knows about a downstream connection's transport. */
export interface DownstreamSecurity {
  /** The connection was TLS, terminated here. */
  tls: boolean;
  /** The verified client's workload identity (mesh mTLS). */
  peer?: PeerIdentity;
  /** The verified client certificate, for x-forwarded-client-cert. */
  peerCertificate?: X509Certificate;
  /** This proxy's own certificate on the connection (its URI SAN is XFCC's `By`). */
  localIdentity?: string;
  /** The SNI the client sent (`connection.sni`). */
  serverName?: string;
}

export const PLAINTEXT: DownstreamSecurity = Object.freeze({ tls: false });

/** Envoy's per-listener ssl.* counters, summed over the proxy. */
export interface TlsStats {
  handshake: number;
  connection_error: number;
  fail_verify_no_cert: number;
  fail_verify_error: number;
  fail_verify_san: number;
  /** No certificate or roots yet for the context (secrets still warming). */
  no_certificate: number;
}

export interface TlsTransportOptions {
  /** A handshake not finished in this long is abandoned. */
  handshakeTimeoutMs: number;
  readFile?: (path: string) => string;
  logger?: { warn(msg: string, fields?: object): void };
}

interface Built {
  version: number;
  context: tls.SecureContext | string;
  localIdentity?: string;
}

/**
 * OpenSSL's verdict on the peer's chain for a server-side socket: undefined when it verified, else
 * the reason. Node fills `authorized` only for sockets its own tls.Server accepted; connections
 * handed to TLS after the inspector chose a chain ask the TLS handle, as that server does. Anything
 * unexpected there counts as not verified.
 */
function verifyError(socket: tls.TLSSocket): string | undefined {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return 'the TLS handle cannot report a verification result';
  const err = handle.verifyError();
  return err ? ((err as Error & { code?: string }).code ?? err.message) : undefined;
}

/** The mesh trust bundle verifies this context: its peers are workloads and must carry exactly one SPIFFE ID. */
function meshPeers(cfg: TlsContextConfig): boolean {
  return cfg.trustedCa?.kind === 'sds' && cfg.trustedCa.name === ROOT_BUNDLE;
}

export class TlsTransport {
  readonly stats: TlsStats = { handshake: 0, connection_error: 0, fail_verify_no_cert: 0, fail_verify_error: 0, fail_verify_san: 0, no_certificate: 0 };
  private readonly built = new WeakMap<TlsContextConfig, Built>();
  private readonly readFile: (path: string) => string;

  constructor(
    private readonly secrets: SecretStore,
    private readonly options: TlsTransportOptions,
  ) {
    this.readFile = options.readFile ?? ((p) => readFileSync(p, 'utf8'));
  }

  /**
   * The secure context of `cfg` with the secrets current now, or why there is none (a secret not
   * yet there, a file that cannot be read, a key that does not fit). Built once per secret version:
   * every `set` on the store makes the next connection build afresh. A context built from files only
   * is built once (files are read when the config arrives, not watched).
   */
  context(cfg: TlsContextConfig): Built {
    const version = cfg.secretNames.length > 0 ? this.secrets.version : 0;
    const hit = this.built.get(cfg);
    if (hit && hit.version === version) return hit;
    const b = this.build(cfg, version);
    this.built.set(cfg, b);
    return b;
  }

  private pem(src: PemSource): string {
    return src.kind === 'inline' ? src.pem : this.readFile(src.path);
  }

  private build(cfg: TlsContextConfig, version: number): Built {
    const opts: tls.SecureContextOptions = {};
    let localIdentity: string | undefined;
    try {
      if (cfg.certificate?.kind === 'sds') {
        const c = this.secrets.certificate(cfg.certificate.name);
        if (!c) return { version, context: `certificate "${cfg.certificate.name}" is not available yet` };
        opts.cert = c.certificateChain;
        opts.key = c.privateKey;
      } else if (cfg.certificate) {
        opts.cert = this.pem(cfg.certificate.chain);
        opts.key = this.pem(cfg.certificate.key);
      }
      if (cfg.trustedCa?.kind === 'sds') {
        const v = this.secrets.validation(cfg.trustedCa.name);
        if (!v) return { version, context: `trust bundle "${cfg.trustedCa.name}" is not available yet` };
        opts.ca = v.trustedCa;
      } else if (cfg.trustedCa) opts.ca = this.pem(cfg.trustedCa);
      if (cfg.minVersion) opts.minVersion = cfg.minVersion;
      if (cfg.maxVersion) opts.maxVersion = cfg.maxVersion;
      if (cfg.ciphers) opts.ciphers = cfg.ciphers;
      if (cfg.ecdhCurves) opts.ecdhCurve = cfg.ecdhCurves;
      const context = tls.createSecureContext(opts);
      if (typeof opts.cert === 'string') {
        const uri = subjectAltNames(new X509Certificate(opts.cert))?.find((s) => s.type === 'URI');
        if (uri) localIdentity = uri.value;
      }
      return localIdentity === undefined ? { version, context } : { version, context, localIdentity };
    } catch (e) {
      return { version, context: `TLS context: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  /**
   * Terminates TLS on an accepted connection. `hello` is what the TLS inspector read from the
   * ClientHello (nothing when no inspector ran); its SNI becomes the connection's `serverName`.
   * ALPN is only negotiated when the client offers
   * one of the configured protocols, because OpenSSL under Node refuses the handshake otherwise,
   * while Envoy carries on without one (Istio's clients offer `istio` to servers that list `h2`).
   * `onSecure` runs only for a peer that passed every check; anything else is closed and counted.
   */
  accept(raw: net.Socket, cfg: TlsContextConfig, hello: { alpn?: readonly string[]; serverName?: string }, onSecure: (socket: tls.TLSSocket, security: DownstreamSecurity) => void): void {
    const offeredAlpn = hello.alpn;
    const built = this.context(cfg);
    if (typeof built.context === 'string') {
      this.stats.no_certificate++;
      raw.destroy();
      return;
    }
    // The inspector resumed the socket for plaintext handlers; TLS takes the handle and the
    // bytes already read, so nothing may flow out of the raw socket in between.
    raw.pause();
    const negotiate = offeredAlpn !== undefined && cfg.alpn.some((p) => offeredAlpn.includes(p));
    const socket = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: built.context,
      requestCert: cfg.trustedCa !== undefined,
      rejectUnauthorized: false,
      ...(negotiate ? { ALPNProtocols: [...cfg.alpn] } : {}),
    });
    const timer = setTimeout(() => socket.destroy(), this.options.handshakeTimeoutMs);
    socket.on('error', () => {
      if (!secured) this.stats.connection_error++;
    });
    socket.once('close', () => clearTimeout(timer));
    let secured = false;
    socket.once('secure', () => {
      secured = true;
      clearTimeout(timer);
      const verdict = this.verifyClient(socket, cfg);
      if (typeof verdict === 'string') {
        socket.destroy();
        return;
      }
      this.stats.handshake++;
      if (built.localIdentity !== undefined) verdict.localIdentity = built.localIdentity;
      if (hello.serverName !== undefined) verdict.serverName = hello.serverName;
      // What Node's own TLS server does once a handshake is accepted; HTTP/2 sessions wait for it
      // (they would otherwise wait for a client-side 'secureConnect' that a server never sees).
      (socket as tls.TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
      onSecure(socket, verdict);
    });
  }

  /** The one gate of a server handshake: chain verified, names accepted, a mesh peer's SPIFFE ID well-formed. Returns the refusal reason, counted. */
  private verifyClient(socket: tls.TLSSocket, cfg: TlsContextConfig): DownstreamSecurity | string {
    if (!cfg.trustedCa) return { tls: true };
    const cert = socket.getPeerX509Certificate();
    if (!cert) {
      if (!cfg.requireClientCertificate) return { tls: true };
      this.stats.fail_verify_no_cert++;
      return 'no client certificate';
    }
    const chainError = verifyError(socket);
    if (chainError !== undefined) {
      this.stats.fail_verify_error++;
      return chainError;
    }
    const sans = subjectAltNames(cert);
    if (!sans || !sansAccepted(sans, cfg.sanMatchers)) {
      this.stats.fail_verify_san++;
      return 'client certificate name not accepted';
    }
    const out: DownstreamSecurity = { tls: true, peerCertificate: cert };
    if (meshPeers(cfg)) {
      const id = workloadIdentity(cert);
      if (typeof id === 'string') {
        this.stats.fail_verify_san++;
        return id;
      }
      out.peer = id;
    }
    return out;
  }

  /**
   * Opens a TLS connection to an upstream host. The server's chain is verified when roots are
   * configured, and its names in `checkServerIdentity`, so a wrong peer fails the handshake before
   * the request is written. Returns a socket that is ready at 'secureConnect'; when no context can
   * be built (secrets not there yet) the socket fails at once, as a connect failure.
   */
  connect(host: { address: string; port: number }, cfg: TlsContextConfig, options: DialOptions = {}): net.Socket {
    const built = this.context(cfg);
    if (typeof built.context === 'string') {
      this.stats.no_certificate++;
      const failed = new net.Socket();
      const reason = built.context;
      process.nextTick(() => failed.destroy(new Error(reason)));
      return failed;
    }
    const verify = cfg.trustedCa !== undefined;
    const mesh = meshPeers(cfg);
    const socket = tls.connect({
      host: host.address,
      port: host.port,
      ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
      secureContext: built.context,
      ...(cfg.sni !== undefined && net.isIP(cfg.sni) === 0 ? { servername: cfg.sni } : {}),
      ...(cfg.alpn.length > 0 ? { ALPNProtocols: [...cfg.alpn] } : {}),
      rejectUnauthorized: verify,
      checkServerIdentity: (_name, legacy) => {
        if (!verify) return undefined;
        const cert = new X509Certificate(legacy.raw);
        const sans = subjectAltNames(cert);
        if (!sans || !sansAccepted(sans, cfg.sanMatchers)) {
          this.stats.fail_verify_san++;
          return new Error('upstream certificate name not accepted');
        }
        if (mesh) {
          const id = workloadIdentity(cert);
          if (typeof id === 'string') {
            this.stats.fail_verify_san++;
            return new Error(id);
          }
        }
        return undefined;
      },
    });
    socket.allowHalfOpen = options.allowHalfOpen ?? false;
    socket.setNoDelay(true);
    socket.once('secureConnect', () => this.stats.handshake++);
    return socket;
  }
}

/** How an upstream connection is made. */
export interface DialOptions {
  allowHalfOpen?: boolean;
  /** The source address (a cluster's upstream_bind_config, e.g. 127.0.0.6 for inbound passthrough). */
  localAddress?: string;
}

/** A connection to an upstream host, plaintext or TLS, and the event that says it is ready for bytes. */
export interface UpstreamDial {
  socket: net.Socket;
  ready: 'connect' | 'secureConnect';
}

/** Connects to `host` with the TLS the endpoint is reached with (undefined: plaintext). */
export function dialUpstream(host: { address: string; port: number }, cfg: TlsContextConfig | undefined, transport: TlsTransport | undefined, options: DialOptions = {}): UpstreamDial {
  if (cfg) {
    if (!transport) {
      const socket = new net.Socket();
      process.nextTick(() => socket.destroy(new Error('this proxy has no TLS configured')));
      return { socket, ready: 'secureConnect' };
    }
    return { socket: transport.connect(host, cfg, options), ready: 'secureConnect' };
  }
  const socket = net.connect({ host: host.address, port: host.port, allowHalfOpen: options.allowHalfOpen ?? false, ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}) });
  socket.setNoDelay(true);
  return { socket, ready: 'connect' };
}
