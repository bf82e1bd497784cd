// The CA benchmark's processes: the messages between the orchestrator and its two children (the CA, the load client), and the children's side of the IPC (bench/forked-child.ts is the orchestrator's).

/** Root key types the CA is measured with (Istio's self-signed CA uses RSA 2048; EC P-256 is the other common choice). */
export type RootKeyType = 'rsa2048' | 'ecP256';
export const ROOT_KEY_TYPES: readonly RootKeyType[] = ['ecP256', 'rsa2048'];

/**
 * How the client reaches the CA: `shared`, every call on one TLS connection (HTTP/2 streams, as a
 * node agent serving many workloads would); `per-call`, a new TLS connection per call, closed after
 * it, as each Meltemi proxy's certificate agent does (src/proxy/security/cert-agent.ts).
 */
export type ConnectionMode = 'shared' | 'per-call';
export const CONNECTION_MODES: readonly ConnectionMode[] = ['shared', 'per-call'];

/** The CA child is listening: where, the root to trust, and one token per simulated workload. */
export interface CaReady {
  type: 'ready';
  port: number;
  rootCertPem: string;
  /** The name the CA's TLS certificate carries (callers set it as the target name). */
  serverName: string;
  tokens: Array<{ token: string; spiffeId: string }>;
  /** The CA's signing key as loaded (openCaDirectory): `rsa` or `ec` and its size. */
  caKey: string;
  setupMs: number;
}

/** Result of the CA child's in-process signing loop (signWorkloadCsr, no gRPC, no TLS). */
export interface SignLoopResult {
  signed: number;
  wallS: number;
}

/** One closed-loop run of the client. */
export interface ClientRunResult {
  completed: number;
  errors: number;
  firstError?: string;
  /** Responses whose leaf was parsed and checked (SPIFFE ID, issuer) — the first few of each run. */
  checked: number;
  wallS: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number } | null;
}

/**
 * Serves IPC commands in a child: each `{id, cmd, …}` is answered with `{id, result}` or
 * `{id, error}`; `exit` answers, then ends the process after `onExit`.
 */
export function serveCommands(handle: (m: { cmd: string } & Record<string, unknown>) => Promise<unknown>, onExit: () => Promise<void>): void {
  process.on('message', (m: { id: number; cmd: string } & Record<string, unknown>) => {
    const reply = (r: { result?: unknown; error?: string }) => process.send!({ id: m.id, ...r });
    if (m.cmd === 'exit') {
      reply({ result: null });
      void onExit().finally(() => process.exit(0));
      return;
    }
    handle(m).then(
      (result) => reply({ result }),
      (e: unknown) => reply({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
  // The orchestrator gone (even SIGKILLed) closes the channel: do not outlive it.
  process.on('disconnect', () => process.exit(0));
}

/** Quantile of an ascending array (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
