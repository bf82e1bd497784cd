// The CA's signing material: a self-signed root generated per install, or a plugged-in CA read from Istio's cacerts layout.
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MeshError } from '../shared/errors.js';
import { importSigner, randomSerial, splitPemCertificates, x509, type Signer } from './pki.js';

/** File names of Istio's plugged-in CA directory (`cacerts` secret). */
export const CACERTS_FILES = {
  caCert: 'ca-cert.pem',
  caKey: 'ca-key.pem',
  rootCert: 'root-cert.pem',
  certChain: 'cert-chain.pem',
} as const;

const ROOT_LIFETIME_MS = 3650 * 24 * 3600 * 1000;
/** How far certificates are backdated so peers whose clocks run slow accept them (Istio's generate_cert.go uses 2 min). */
export const CLOCK_SKEW_GRACE_MS = 2 * 60 * 1000;

/**
 * What the CA signs with. `caCertPem` signs workload certificates; `certChainPem` runs from it to
 * the root (just `[root]` when self-signed). `caKeyPem` is the secret: never log or serve it.
 */
export interface CaBundle {
  caCertPem: string;
  /** PKCS#8 PEM of ca-cert's private key. */
  caKeyPem: string;
  /** ca-cert … root-cert, one PEM each. */
  certChainPem: readonly string[];
  /** The root cert-chain ends at. */
  rootCertPem: string;
  /**
   * Every root the mesh trusts, the signing root first: all of root-cert.pem. During a root
   * rotation it holds the old and the new root, so workloads with certificates from either are
   * accepted (Istio's combined root-cert.pem); this is what proxies are given as ROOTCA.
   */
  trustBundlePem: string;
  caCert: x509.X509Certificate;
  signer: Signer;
  /** The AKI every leaf carries: ca-cert's SKI (computed once; it costs ~0.5 ms per leaf otherwise). */
  authorityKeyId: x509.AuthorityKeyIdentifierExtension;
}

export type RootKeyType = 'rsa2048' | 'ecP256';

const generateKeyPairAsync = promisify(generateKeyPair);

async function newKey(keyType: RootKeyType): Promise<KeyObject> {
  const { privateKey } =
    keyType === 'rsa2048' ? await generateKeyPairAsync('rsa', { modulusLength: 2048 }) : await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  return privateKey;
}

async function authorityKeyIdOf(cert: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski !== null ? new x509.AuthorityKeyIdentifierExtension(ski.keyId) : x509.AuthorityKeyIdentifierExtension.create(cert.publicKey);
}

/**
 * Generates a fresh self-signed root for `trustDomain` (subject O=<trustDomain>, 10 years, CA,
 * keyCertSign|cRLSign). The key is new on every call; RSA 2048 by default, as Istio's self-signed CA.
 */
export async function generateRootCa(options: { trustDomain: string; now?: Date; keyType?: RootKeyType }): Promise<CaBundle> {
  const now = options.now ?? new Date();
  const privateKey = await newKey(options.keyType ?? 'rsa2048');
  const signer = await importSigner(privateKey, 'generated root key');
  const spki = new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  const publicKey = await crypto.subtle.importKey('spki', spki, signer.key.algorithm, true, ['verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ O: [options.trustDomain] }],
    notBefore: new Date(now.getTime() - CLOCK_SKEW_GRACE_MS),
    notAfter: new Date(now.getTime() + ROOT_LIFETIME_MS),
    keys: { privateKey: signer.key, publicKey },
    signingAlgorithm: signer.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  const pem = cert.toString('pem') + '\n';
  return {
    caCertPem: pem,
    caKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certChainPem: [pem],
    rootCertPem: pem,
    trustBundlePem: pem,
    caCert: cert,
    signer,
    authorityKeyId: await authorityKeyIdOf(cert),
  };
}

function invalid(dir: string, file: string, rule: string, cause?: unknown): MeshError {
  return new MeshError('MESH_CA_INVALID', `cacerts ${join(dir, file)}: ${rule}`, cause === undefined ? undefined : { cause });
}

async function readCacertsFile(dir: string, file: string): Promise<string> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw invalid(dir, file, missing ? 'file is missing (a plugged-in CA needs ca-cert.pem, ca-key.pem, root-cert.pem and cert-chain.pem)' : 'file cannot be read', e);
  }
}

function parseCertificates(dir: string, file: string, text: string): { pem: string; cert: X509Certificate; meta: x509.X509Certificate }[] {
  const blocks = splitPemCertificates(text);
  if (blocks.length === 0) throw invalid(dir, file, 'holds no PEM certificate');
  return blocks.map((pem, i) => {
    try {
      return { pem, cert: new X509Certificate(pem), meta: new x509.X509Certificate(pem) };
    } catch (e) {
      throw invalid(dir, file, `certificate ${i + 1} cannot be parsed`, e);
    }
  });
}

function checkValidAt(dir: string, file: string, meta: x509.X509Certificate, now: Date): void {
  if (meta.notAfter.getTime() <= now.getTime()) throw invalid(dir, file, `certificate expired at ${meta.notAfter.toISOString()}`);
  if (meta.notBefore.getTime() > now.getTime()) throw invalid(dir, file, `certificate is not valid before ${meta.notBefore.toISOString()}`);
}

/**
 * Reads a plugged-in CA in Istio's cacerts layout and checks it before anything is signed with it:
 * all four files present; ca-key.pem matches ca-cert.pem; ca-cert is a CA allowed to sign
 * certificates; cert-chain.pem starts at ca-cert, ends at root-cert, and each certificate is issued
 * and signed by the next; root-cert is self-signed; every certificate is valid at `now`.
 * Throws MESH_CA_INVALID naming the file and the rule broken.
 */
export async function loadCacerts(dir: string, options: { now?: Date } = {}): Promise<CaBundle> {
  const now = options.now ?? new Date();
  const F = CACERTS_FILES;
  const [caCertText, caKeyText, rootText, chainText] = await Promise.all(
    [F.caCert, F.caKey, F.rootCert, F.certChain].map((f) => readCacertsFile(dir, f)),
  );
  const caCerts = parseCertificates(dir, F.caCert, caCertText!);
  const roots = parseCertificates(dir, F.rootCert, rootText!);
  const chain = parseCertificates(dir, F.certChain, chainText!);
  if (caCerts.length !== 1) throw invalid(dir, F.caCert, `must hold exactly one certificate, found ${caCerts.length}`);
  const ca = caCerts[0]!;
  const chainEnd = chain[chain.length - 1]!;
  // root-cert.pem may hold several roots (a rotation's overlap): the chain must end at one of them.
  const root = roots.find((r) => r.cert.fingerprint256 === chainEnd.cert.fingerprint256);
  if (!root) throw invalid(dir, F.certChain, `must end with a certificate of ${F.rootCert} (the chain does not reach a root)`);

  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(caKeyText!);
  } catch (e) {
    throw invalid(dir, F.caKey, 'cannot be read as an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)', e);
  }
  if (!ca.cert.checkPrivateKey(privateKey)) throw invalid(dir, F.caKey, `does not match the public key of ${F.caCert}`);

  if (!ca.cert.ca) throw invalid(dir, F.caCert, 'is not a CA certificate (basicConstraints CA:TRUE is required)');
  const usage = ca.meta.getExtension(x509.KeyUsagesExtension);
  if (usage !== null && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) throw invalid(dir, F.caCert, 'keyUsage does not allow keyCertSign');

  roots.forEach((r, i) => {
    const which = roots.length === 1 ? '' : ` (certificate ${i + 1})`;
    if (!r.cert.ca) throw invalid(dir, F.rootCert, `is not a CA certificate${which} (basicConstraints CA:TRUE is required)`);
    if (!r.cert.checkIssued(r.cert) || !r.cert.verify(r.cert.publicKey)) throw invalid(dir, F.rootCert, `is not a self-signed root${which}`);
    checkValidAt(dir, F.rootCert, r.meta, now);
  });

  if (chain[0]!.cert.fingerprint256 !== ca.cert.fingerprint256) throw invalid(dir, F.certChain, `must start with ${F.caCert}`);
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i]!.cert;
    const parent = chain[i + 1]!.cert;
    if (!parent.ca || !child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw invalid(dir, F.certChain, `certificate ${i + 1} (${child.subject.replace(/\n/g, ', ')}) is not issued and signed by certificate ${i + 2}`);
    }
  }
  checkValidAt(dir, F.caCert, ca.meta, now);
  chain.forEach((c) => checkValidAt(dir, F.certChain, c.meta, now));

  const signer = await importSigner(privateKey, join(dir, F.caKey));
  return {
    caCertPem: ca.pem,
    caKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certChainPem: chain.map((c) => c.pem),
    rootCertPem: root.pem,
    // The signing root first, then the others in file order.
    trustBundlePem: [root, ...roots.filter((r) => r !== root)].map((r) => r.pem).join(''),
    caCert: ca.meta,
    signer,
    authorityKeyId: await authorityKeyIdOf(ca.meta),
  };
}

/**
 * Writes `bundle` in the cacerts layout so a restart loads the same CA (ca-key.pem mode 0600).
 * Creates `dir` (0700) if needed and refuses to overwrite existing files: replacing a root silently
 * would cut off every workload that trusts the old one.
 */
export async function writeCacerts(dir: string, bundle: CaBundle): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const F = CACERTS_FILES;
  const files: [string, string, number][] = [
    [F.caKey, bundle.caKeyPem, 0o600],
    [F.caCert, bundle.caCertPem, 0o644],
    [F.certChain, bundle.certChainPem.join(''), 0o644],
    [F.rootCert, bundle.trustBundlePem, 0o644],
  ];
  for (const [file, text, mode] of files) {
    const path = join(dir, file);
    try {
      await writeFile(path, text, { mode, flag: 'wx' });
      await chmod(path, mode); // the mode given at creation is filtered by the umask
    } catch (e) {
      const exists = (e as NodeJS.ErrnoException).code === 'EEXIST';
      throw new MeshError('MESH_IO', exists ? `cacerts ${path}: already exists; refusing to overwrite CA material` : `cacerts ${path}: cannot be written`, { cause: e });
    }
  }
}
