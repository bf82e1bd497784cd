// `meltemi discovery`: runs the control plane (and, with --ca-dir, its CA) until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import type { CaBundle } from '../../ca/ca-bundle.js';
import { followCaDirectory, openCaDirectory } from '../../ca/ca-directory.js';
import { CaServer, SERVING_CERT_REISSUE_MS, caServerCredentials } from '../../ca/ca-server.js';
import { LocalTokenAuthenticator, type CallerAuthenticator } from '../../ca/caller-auth.js';
import { IN_CLUSTER_SA_DIR, TokenReviewAuthenticator, inClusterApiAccess, type KubernetesApiAccess } from '../../ca/token-review.js';
import { MeshError } from '../../shared/errors.js';
import { Discovery, meshConfigOf } from '../../xds/discovery.js';
import { nodeTlsOptions, type NodeTlsOptions } from '../../model/mesh-config.js';
import { ExitCode, type CliIO } from '../io.js';
import { joinHostPort, parseHostPort } from '../../shared/host-port.js';

export interface DiscoveryCommandOptions {
  configDir: string;
  xdsAddr: string;
  debugAddr: string;
  allowRemote?: boolean;
  /** Serve the CA (IstioCertificateService) from this directory: Istio's cacerts files, or a root generated here on first start. */
  caDir?: string;
  /** Where the CA listens (TLS, callers authenticated by token); default 127.0.0.1:15012. */
  caAddr?: string;
  /** xDS over mutual TLS (with --ca-dir); default 127.0.0.1:15011. */
  xdsTlsAddr?: string;
  /** How the CA authenticates callers: `local` tokens (default) or `kubernetes` TokenReview. */
  caAuth?: string;
  /** With `kubernetes`: the API server URL, its CA file and the control plane's token file (in-cluster defaults). */
  kubeApi?: string;
  kubeCa?: string;
  kubeTokenFile?: string;
  /** Resolves when the process should stop; defaults to SIGINT/SIGTERM. */
  stopSignal?: Promise<void>;
}

/**
 * Follows the CA directory (`followCaDirectory`): a changed, valid directory makes the CA sign with
 * it and serve TLS, and xDS over mutual TLS, with certificates from it; a broken one is reported
 * and the previous CA keeps signing. The serving certificates are also reissued before they expire.
 * Returns the stop function.
 */
function watchCaDirectory(dir: string, ca: CaServer, names: readonly string[], tls: NodeTlsOptions, io: CliIO, discovery: Discovery): () => void {
  let stopped = false;
  const reload = async (bundle: CaBundle, what: string) => {
    if (stopped) return;
    await ca.rotate(bundle, await caServerCredentials(bundle, names, { tls }));
    await discovery.rebindSecureXds(await caServerCredentials(bundle, names, { requireClientCertificate: true, tls }));
    io.err(`info\tCA ${what}\n`);
  };
  const stopFollowing = followCaDirectory(dir, {
    onBundle: (bundle) => reload(bundle, `reloaded from ${dir}`),
    onError: (e) => io.err(`error\tCA directory not used, the previous CA keeps signing: ${e instanceof Error ? e.message : String(e)}\n`),
  });
  const reissue = setInterval(() => void reload(ca.currentBundle, 'serving certificate reissued').catch(() => undefined), SERVING_CERT_REISSUE_MS);
  reissue.unref();
  return () => {
    stopped = true;
    stopFollowing();
    clearInterval(reissue);
  };
}

function readTextFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new MeshError('MESH_USAGE', `${flag}: cannot read ${path}`, { cause: e });
  }
}

/** The CA's caller check that `--ca-auth` names. */
function callerAuthenticator(opts: DiscoveryCommandOptions, tokenKey: Buffer, trustDomain: string): CallerAuthenticator {
  if ((opts.caAuth ?? 'local') === 'local') return new LocalTokenAuthenticator({ key: tokenKey, trustDomain });
  let api: KubernetesApiAccess = opts.kubeApi === undefined ? inClusterApiAccess() : { server: opts.kubeApi, tokenFile: `${IN_CLUSTER_SA_DIR}/token` };
  if (opts.kubeCa !== undefined) api = { ...api, caPem: readTextFile(opts.kubeCa, '--kube-ca') };
  if (opts.kubeTokenFile !== undefined) api = { ...api, tokenFile: opts.kubeTokenFile };
  return new TokenReviewAuthenticator({ api, trustDomain });
}

export async function runDiscovery(opts: DiscoveryCommandOptions, io: CliIO): Promise<number> {
  const xds = parseHostPort(opts.xdsAddr, '--xds-addr');
  const debug = parseHostPort(opts.debugAddr, '--debug-addr');
  const discovery = new Discovery({
    configDir: opts.configDir,
    xdsHost: xds.host,
    xdsPort: xds.port,
    debugHost: debug.host,
    debugPort: debug.port,
    allowRemoteXds: opts.allowRemote,
    allowRemoteDebug: opts.allowRemote,
    logger: {
      info: (m) => io.err(`info\t${m}\n`),
      warn: (m) => io.err(`warn\t${m}\n`),
      error: (m, f) => io.err(`error\t${m}${f ? ` ${JSON.stringify(f)}` : ''}\n`),
    },
  });
  const ca = opts.caDir === undefined ? undefined : parseHostPort(opts.caAddr ?? '127.0.0.1:15012', '--ca-addr');
  if (opts.caAuth !== undefined && opts.caAuth !== 'local' && opts.caAuth !== 'kubernetes') throw new MeshError('MESH_USAGE', `--ca-auth: ${JSON.stringify(opts.caAuth)} is not local or kubernetes`);
  await discovery.start();
  io.out(`discovery: serving xDS on ${discovery.xdsAddress}, debug API on http://${discovery.debugAddress}, config from ${opts.configDir}\n`);
  let caServer: CaServer | undefined;
  let stopCaWatch: (() => void) | undefined;
  if (ca && opts.caDir !== undefined) {
    try {
      const mesh = meshConfigOf(discovery.store);
      const dir = await openCaDirectory(opts.caDir, mesh.trustDomain);
      caServer = new CaServer({ bundle: dir.bundle, authenticator: callerAuthenticator(opts, dir.tokenKey, mesh.trustDomain), trustDomain: mesh.trustDomain });
      // The name proxies dial, as Istio's istiod serves it, and localhost for a laptop mesh.
      const names = [`istiod.${mesh.rootNamespace}.svc`, 'localhost'];
      // SMCP security.controlPlane.tls governs these ports too, as Maistra applies it to istiod's.
      const tls = nodeTlsOptions(mesh.meshTls);
      const credentials = await caServerCredentials(dir.bundle, names, { tls });
      const port = await caServer.start(joinHostPort(ca.host, ca.port), credentials);
      io.out(`discovery: CA on ${ca.host}:${port} (TLS as istiod.${mesh.rootNamespace}.svc), ${dir.generated ? 'new root' : 'root'} in ${opts.caDir}\n`);
      const secure = parseHostPort(opts.xdsTlsAddr ?? '127.0.0.1:15011', '--xds-tls-addr');
      const secureAddress = await discovery.serveSecureXds(secure.host, secure.port, await caServerCredentials(dir.bundle, names, { requireClientCertificate: true, tls }));
      io.out(`discovery: xDS over mTLS on ${secureAddress} (proxies present workload certificates)\n`);
      stopCaWatch = watchCaDirectory(opts.caDir, caServer, names, tls, io, discovery);
    } catch (e) {
      // A CA that cannot start stops the whole command; nothing it started is left listening.
      await caServer?.close();
      await discovery.close();
      throw e;
    }
  }
  const stop =
    opts.stopSignal ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  await stop;
  stopCaWatch?.();
  await caServer?.close();
  await discovery.close();
  io.out('discovery: stopped\n');
  return ExitCode.OK;
}
