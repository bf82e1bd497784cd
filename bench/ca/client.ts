// The CA benchmark's load: CreateCertificate calls from pre-made EC P-256 CSRs, N in flight, closed loop, on one shared TLS connection or a new one per call (as the proxy's certificate agent does); latency per call, the first answers checked.
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { istioCaServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from '../../src/ca/ca-service.js';
import { quantile, serveCommands, type CaReady, type ClientRunResult, type ConnectionMode } from './ipc.js';
import { workloadCsrs } from './workload-csrs.js';

/** Distinct CSRs, used in turn: the CA does the same work for each, and never remembers one. */
const CSR_COUNT = 256;
/** Answers checked per run (leaf parsed, SPIFFE ID and issuer compared), the rest only counted. */
const CHECKED_PER_RUN = 16;
const CALL_TIMEOUT_MS = 30_000;

interface Setup {
  ca: CaReady;
  csrs: string[];
  root: X509Certificate;
  shared: grpc.Client;
}

let setup: Setup | undefined;

/** The options cert-agent.ts gives its client, plus a private subchannel pool so a `per-call` client never borrows another's connection (two proxies never share one). */
function newClient(ca: CaReady, own: boolean): grpc.Client {
  return new grpc.Client(`127.0.0.1:${ca.port}`, grpc.credentials.createSsl(Buffer.from(ca.rootCertPem)), {
    'grpc.ssl_target_name_override': ca.serverName,
    'grpc.default_authority': ca.serverName,
    ...(own ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
  });
}

function createCertificate(client: grpc.Client, token: string, csr: string): Promise<IstioCertificateResponse> {
  const method = istioCaServiceDefinition().CreateCertificate!;
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const request: IstioCertificateRequest = { csr, validity_duration: 0 };
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadata, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) =>
      err || res === undefined ? reject(err ?? new Error('no response')) : resolve(res as IstioCertificateResponse),
    );
  });
}

/** Why an answer is wrong, or undefined: a leaf for `spiffeId`, issued and signed by the root, then the root. */
function checkAnswer(s: Setup, res: IstioCertificateResponse, spiffeId: string): string | undefined {
  const chain = res.cert_chain ?? [];
  if (chain.length !== 2 || chain[1] !== s.ca.rootCertPem) return `chain of ${chain.length}, expected leaf + root`;
  const leaf = new X509Certificate(chain[0]!);
  if (leaf.subjectAltName !== `URI:${spiffeId}`) return `leaf SAN ${leaf.subjectAltName}, expected URI:${spiffeId}`;
  if (!leaf.checkIssued(s.root) || !leaf.verify(s.root.publicKey)) return 'leaf not signed by the root';
  return undefined;
}

/**
 * `concurrency` workers, each calling again as soon as its call ends, for `durationS` or `maxCalls`
 * calls, whichever comes first. Worker i uses token i (one workload each) and CSRs in turn.
 */
async function run(mode: ConnectionMode, concurrency: number, durationS: number, maxCalls: number): Promise<ClientRunResult> {
  const s = setup;
  if (!s) throw new Error('prepare first');
  const latencies: number[] = [];
  let started = 0;
  let errors = 0;
  let checked = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const deadline = t0 + durationS * 1000;
  const worker = async (w: number) => {
    const { token, spiffeId } = s.ca.tokens[w % s.ca.tokens.length]!;
    while (performance.now() < deadline && started < maxCalls) {
      const csr = s.csrs[started++ % s.csrs.length]!;
      const client = mode === 'shared' ? s.shared : newClient(s.ca, true);
      const c0 = performance.now();
      try {
        const res = await createCertificate(client, token, csr);
        latencies.push(performance.now() - c0);
        if (checked < CHECKED_PER_RUN) {
          checked++;
          const wrong = checkAnswer(s, res, spiffeId);
          if (wrong !== undefined) throw new Error(wrong);
        }
      } catch (e) {
        errors++;
        firstError ??= e instanceof Error ? e.message : String(e);
      } finally {
        if (mode === 'per-call') client.close();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const wallS = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    completed: latencies.length,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    checked,
    wallS,
    latencyMs: latencies.length === 0 ? null : { p50: r(quantile(latencies, 0.5)), p90: r(quantile(latencies, 0.9)), p99: r(quantile(latencies, 0.99)), max: r(latencies[latencies.length - 1]!) },
  };
}

function main(): void {
  if (!process.send) throw new Error('client.ts runs as a child of bench/ca/run.ts (it needs an IPC channel)');
  serveCommands(
    async (m) => {
      if (m.cmd === 'prepare') {
        setup?.shared.close();
        const ca = m.ca as CaReady;
        setup = { ca, csrs: workloadCsrs(CSR_COUNT), root: new X509Certificate(ca.rootCertPem), shared: newClient(ca, true) };
        return { csrs: setup.csrs.length };
      }
      if (m.cmd === 'run') return run(m.mode as ConnectionMode, Number(m.concurrency), Number(m.durationS), Number(m.maxCalls));
      throw new Error(`unknown command ${m.cmd}`);
    },
    async () => setup?.shared.close(),
  );
  process.send({ type: 'ready' });
}

main();
