// `meltemi token`: issues a workload's CA token from the CA directory's key (what the local runtime hands each proxy, as Kubernetes projects a ServiceAccount token).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDuration } from '../../api/common.js';
import { TOKEN_KEY_FILE } from '../../ca/ca-directory.js';
import { LocalTokenAuthenticator, TOKEN_KEY_BYTES } from '../../ca/caller-auth.js';
import { MeshError } from '../../shared/errors.js';
import { ExitCode, type CliIO } from '../io.js';

export interface TokenCommandOptions {
  caDir: string;
  namespace: string;
  serviceAccount: string;
  ttl: string;
}

/** Prints a token for `namespace`/`serviceAccount`, signed with DIR/token-key; the CA accepts it until it expires. */
export async function runToken(o: TokenCommandOptions, io: CliIO): Promise<number> {
  const ttlMs = parseDuration(o.ttl);
  if (ttlMs === undefined || ttlMs < 1000 || !Number.isSafeInteger(Math.round(ttlMs))) throw new MeshError('MESH_USAGE', `--ttl takes a duration of at least 1s like 24h, got "${o.ttl}"`);
  const path = join(o.caDir, TOKEN_KEY_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new MeshError('MESH_USAGE', `${path}: cannot read the token key (start meltemi discovery --ca-dir ${o.caDir} once to create it)`, { cause: e });
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== TOKEN_KEY_BYTES) throw new MeshError('MESH_CA_INVALID', `${path}: the token key must be ${TOKEN_KEY_BYTES} bytes in base64, got ${key.length}`);
  // The trust domain is the CA's, never the token's; issuing only checks the names form an identity.
  const issuer = new LocalTokenAuthenticator({ key, trustDomain: 'cluster.local' });
  io.out(`${issuer.issueToken({ namespace: o.namespace, serviceAccount: o.serviceAccount }, Math.round(ttlMs))}\n`);
  return ExitCode.OK;
}
