// The CA's directory: Istio's cacerts files (plugged in, or a root generated on first start and kept) and the key the local runtime's workload tokens are signed with.
import { existsSync, statSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshError } from '../shared/errors.js';
import { CACERTS_FILES, generateRootCa, loadCacerts, writeCacerts, type CaBundle } from './ca-bundle.js';
import { TOKEN_KEY_BYTES, newTokenKey } from './caller-auth.js';

/** The token key's file in the CA directory (base64, mode 0600). */
export const TOKEN_KEY_FILE = 'token-key';

export interface CaDirectory {
  bundle: CaBundle;
  tokenKey: Buffer;
  /** The root was generated on this start (no cacerts were there). */
  generated: boolean;
}

/**
 * Opens `dir`: a plugged-in CA when `ca-cert.pem` is there (every file checked, see loadCacerts),
 * else a new self-signed root for `trustDomain`, written so the next start keeps it. The token key
 * is read, or made and written, the same way. Never replaces a file that exists.
 */
export async function openCaDirectory(dir: string, trustDomain: string): Promise<CaDirectory> {
  const present = existsSync(join(dir, CACERTS_FILES.caCert));
  let bundle: CaBundle;
  if (present) bundle = await loadCacerts(dir);
  else {
    bundle = await generateRootCa({ trustDomain });
    await writeCacerts(dir, bundle);
  }
  const keyPath = join(dir, TOKEN_KEY_FILE);
  let tokenKey: Buffer;
  if (existsSync(keyPath)) {
    tokenKey = Buffer.from((await readFile(keyPath, 'utf8')).trim(), 'base64');
    if (tokenKey.length !== TOKEN_KEY_BYTES) throw new MeshError('MESH_CA_INVALID', `${keyPath}: the token key must be ${TOKEN_KEY_BYTES} bytes in base64, got ${tokenKey.length}`);
  } else {
    tokenKey = newTokenKey();
    await writeFile(keyPath, `${tokenKey.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(keyPath, 0o600);
  }
  return { bundle, tokenKey, generated: !present };
}

/** How often a followed CA directory is checked for new cacerts files. */
export const CA_DIR_POLL_MS = 5_000;

/**
 * Follows `dir`: when its cacerts files change they are loaded and checked as at start
 * (`loadCacerts`) and `onBundle` gets the new CA; a directory that fails a check goes to `onError`
 * and the caller keeps its previous CA. This is how a root rotates: first root-cert.pem gains the
 * new root (every proxy then trusts both), then the CA files are replaced, later the old root is
 * dropped. One change is handled at a time. Returns the stop function.
 */
export function followCaDirectory(dir: string, handlers: { onBundle(bundle: CaBundle): Promise<void>; onError(e: unknown): void }, intervalMs = CA_DIR_POLL_MS): () => void {
  const files = Object.values(CACERTS_FILES).map((f) => join(dir, f));
  const stamp = () =>
    files
      .map((f) => {
        try {
          const st = statSync(f);
          return `${st.mtimeMs}:${st.size}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  let seen = stamp();
  let busy = false;
  let stopped = false;
  const poll = setInterval(() => {
    const now = stamp();
    if (now === seen || busy) return;
    seen = now;
    busy = true;
    loadCacerts(dir)
      .then((bundle) => (stopped ? undefined : handlers.onBundle(bundle)))
      .catch((e: unknown) => handlers.onError(e))
      .finally(() => (busy = false));
  }, intervalMs);
  poll.unref();
  return () => {
    stopped = true;
    clearInterval(poll);
  };
}
