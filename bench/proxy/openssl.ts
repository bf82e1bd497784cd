// Certificates made with the openssl CLI for the benchmarks' peers (nginx's mutual TLS, the CA benchmark's reference signer): a root, and leaves it signs.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A key type as `openssl req -newkey` takes it: RSA 2048 or EC P-256. */
export type OpensslKeyType = 'rsa2048' | 'ecP256';

/** A PEM certificate and its unencrypted PEM key. */
export interface CertFiles {
  cert: string;
  key: string;
}

const NEWKEY: Record<OpensslKeyType, string[]> = {
  rsa2048: ['-newkey', 'rsa:2048'],
  ecP256: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
};

/** `openssl version`, or undefined when the binary is missing. */
export function opensslVersion(): string | undefined {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Runs `openssl args` in `cwd`, bounded to 60 s; throws with its stderr when it fails. */
export function openssl(args: string[], cwd: string): string {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (exit ${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout;
}

/** A self-signed CA (`O=<organization>`, 2 days; openssl's default v3_ca extensions: CA:TRUE, SKI, AKI) in `dir/<name>.{pem,key}`. */
export function makeRoot(dir: string, name: string, keyType: OpensslKeyType, organization = 'cluster.local'): CertFiles {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  openssl(['req', '-x509', ...NEWKEY[keyType], '-nodes', '-keyout', files.key, '-out', files.cert, '-subj', `/O=${organization}`, '-days', '2'], dir);
  return files;
}

/**
 * The extensions Meltemi's CA puts on a workload certificate (critical SAN, end entity, digital
 * signature + key encipherment, server and client auth), for `openssl x509 -req -extfile`.
 */
export function leafExtensions(sans: readonly string[]): string {
  return `basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = critical, ${sans.join(', ')}
`;
}

/** A new EC P-256 key and a 2-day certificate for it signed by `root`, with `sans` (e.g. `DNS:x`, `URI:spiffe://…`), in `dir/<name>.{pem,key}`. */
export function makeLeaf(dir: string, name: string, root: CertFiles, sans: readonly string[]): CertFiles {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, leafExtensions(sans));
  openssl(['req', '-new', ...NEWKEY.ecP256, '-nodes', '-keyout', files.key, '-out', csr, '-subj', `/O=${name}`], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', root.cert, '-CAkey', root.key, '-set_serial', String(Date.now()), '-days', '2', '-extfile', ext, '-out', files.cert], dir);
  return files;
}
