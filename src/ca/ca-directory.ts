// The CA's directory: Istio's cacerts files (plugged in, or a root generated on first start and kept) and the key the local runtime's workload tokens are signed with.
import { existsSync } from 'node:fs';
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
