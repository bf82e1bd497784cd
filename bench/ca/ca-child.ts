// The measured process: Meltemi's CA as `meltemi discovery --ca-dir` runs it (openCaDirectory, CaServer over TLS with caServerCredentials, LocalTokenAuthenticator), and nothing else; also signs in a loop without gRPC on command.
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRootCa, writeCacerts } from '../../src/ca/ca-bundle.js';
import { openCaDirectory } from '../../src/ca/ca-directory.js';
import { CaServer, caServerCredentials } from '../../src/ca/ca-server.js';
import { LocalTokenAuthenticator } from '../../src/ca/caller-auth.js';
import { signWorkloadCsr } from '../../src/ca/sign.js';
import { serveCommands, type CaReady, type RootKeyType, type SignLoopResult } from './ipc.js';
import { workloadCsrs } from './workload-csrs.js';

const TRUST_DOMAIN = 'cluster.local';
const NAMESPACE = 'bench';
/** The names `meltemi discovery` gives its CA port (root namespace istio-system). */
const SERVER_NAMES = ['istiod.istio-system.svc', 'localhost'];
/** Simulated workloads: one token each, used in turn by the client. */
const WORKLOADS = 64;

async function main(): Promise<void> {
  if (!process.send) throw new Error('ca-child.ts runs as a child of bench/ca/run.ts (it needs an IPC channel)');
  const keyType = process.argv[2] as RootKeyType;
  if (keyType !== 'rsa2048' && keyType !== 'ecP256') throw new Error(`root key type ${String(keyType)}: rsa2048 or ecP256`);
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-bench-ca-'));
  // openCaDirectory makes an RSA 2048 root when the directory is empty, as `meltemi discovery --ca-dir`
  // does on first start; an EC root is written first in the cacerts layout and loaded the same way
  // (the plugged-in CA path), so both key types go through the same loading and checks.
  if (keyType === 'ecP256') await writeCacerts(dir, await generateRootCa({ trustDomain: TRUST_DOMAIN, keyType }));
  const ca = await openCaDirectory(dir, TRUST_DOMAIN);
  const authenticator = new LocalTokenAuthenticator({ key: ca.tokenKey, trustDomain: TRUST_DOMAIN });
  const server = new CaServer({ bundle: ca.bundle, authenticator, trustDomain: TRUST_DOMAIN });
  const port = await server.start('127.0.0.1:0', await caServerCredentials(ca.bundle, SERVER_NAMES));
  const tokens = Array.from({ length: WORKLOADS }, (_, i) => ({
    token: authenticator.issueToken({ namespace: NAMESPACE, serviceAccount: `w${i}` }, 3_600_000),
    spiffeId: `spiffe://${TRUST_DOMAIN}/ns/${NAMESPACE}/sa/w${i}`,
  }));
  const caKey = createPrivateKey(ca.bundle.caKeyPem);
  const ready: CaReady = {
    type: 'ready',
    port,
    rootCertPem: ca.bundle.rootCertPem,
    serverName: SERVER_NAMES[0]!,
    tokens,
    caKey: `${caKey.asymmetricKeyType} ${caKey.asymmetricKeyDetails?.namedCurve ?? caKey.asymmetricKeyDetails?.modulusLength ?? ''}`.trim(),
    setupMs: Math.round(performance.now() - started),
  };

  serveCommands(
    async (m) => {
      if (m.cmd === 'sign-loop') return signLoop(ca.bundle, Number(m.durationS), Number(m.concurrency), Number(m.maxSigned));
      throw new Error(`unknown command ${m.cmd}`);
    },
    async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  );
  process.send(ready);
}

/**
 * signWorkloadCsr alone (CSR parse and proof-of-possession check, leaf built and signed), `concurrency`
 * at a time, for `durationS` or `maxSigned` certificates, whichever comes first: what the CA costs
 * without gRPC, TLS and token checks.
 */
async function signLoop(bundle: Parameters<typeof signWorkloadCsr>[0], durationS: number, concurrency: number, maxSigned: number): Promise<SignLoopResult> {
  const csrs = workloadCsrs(64);
  const identity = { trustDomain: TRUST_DOMAIN, namespace: NAMESPACE, serviceAccount: 'w0' };
  const t0 = performance.now();
  const deadline = t0 + durationS * 1000;
  let started = 0;
  let signed = 0;
  const worker = async () => {
    while (performance.now() < deadline && started < maxSigned) {
      await signWorkloadCsr(bundle, csrs[started++ % csrs.length]!, identity);
      signed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { signed, wallS: (performance.now() - t0) / 1000 };
}

main().catch((e: unknown) => {
  const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
  process.send?.({ type: 'failed', error });
  process.stderr.write(`ca-child: ${error}\n`);
  process.exit(1);
});
