// The proxy's SDS secrets held in memory (`default`: the workload certificate and key; `ROOTCA`: the trust bundle), versioned and watched, so TLS contexts follow rotations without a restart.

/** Envoy's `tls_certificate` secret: a PEM chain (leaf first) and its PEM private key. */
export interface CertificateSecret {
  kind: 'certificate';
  certificateChain: string;
  privateKey: string;
}

/** Envoy's `validation_context` secret: the PEM roots a peer's chain must end at. */
export interface ValidationSecret {
  kind: 'validation';
  trustedCa: string;
}

export type Secret = CertificateSecret | ValidationSecret;

/** SDS names of the workload certificate and the mesh trust bundle (Istio's). */
export const WORKLOAD_CERTIFICATE = 'default';
export const ROOT_BUNDLE = 'ROOTCA';

/**
 * Secrets by SDS name. Each `set` bumps the store's version, so anything built from secrets (a
 * TLS context) can tell in one comparison whether it is stale; watchers hear every change. A
 * secret is replaced whole and never removed while the proxy runs: a certificate that could not be
 * renewed keeps serving until it expires, as Envoy keeps its last SDS answer.
 */
export class SecretStore {
  private readonly secrets = new Map<string, Secret>();
  private readonly watchers = new Set<(name: string) => void>();
  private versionValue = 0;

  get version(): number {
    return this.versionValue;
  }

  get(name: string): Secret | undefined {
    return this.secrets.get(name);
  }

  certificate(name: string): CertificateSecret | undefined {
    const s = this.secrets.get(name);
    return s?.kind === 'certificate' ? s : undefined;
  }

  validation(name: string): ValidationSecret | undefined {
    const s = this.secrets.get(name);
    return s?.kind === 'validation' ? s : undefined;
  }

  /** Every name given is present (a listener or cluster that needs them may serve). */
  has(...names: readonly string[]): boolean {
    return names.every((n) => this.secrets.has(n));
  }

  set(name: string, secret: Secret): void {
    const frozen = Object.freeze({ ...secret });
    this.secrets.set(name, frozen);
    this.versionValue++;
    for (const w of this.watchers) w(name);
  }

  /** Calls `fn` with the name of every secret set from now on; returns the unsubscribe function. */
  watch(fn: (name: string) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }
}
