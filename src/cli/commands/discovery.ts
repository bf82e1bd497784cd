// `meltemi discovery`: runs the control plane (and, with --ca-dir, its CA) until SIGINT/SIGTERM.
import { openCaDirectory } from '../../ca/ca-directory.js';
import { CaServer, caServerCredentials } from '../../ca/ca-server.js';
import { LocalTokenAuthenticator } from '../../ca/caller-auth.js';
import { Discovery, meshConfigOf } from '../../xds/discovery.js';
import { ExitCode, type CliIO } from '../io.js';
import { parseHostPort } from '../host-port.js';

export interface DiscoveryCommandOptions {
  configDir: string;
  xdsAddr: string;
  debugAddr: string;
  allowRemote?: boolean;
  /** Serve the CA (IstioCertificateService) from this directory: Istio's cacerts files, or a root generated here on first start. */
  caDir?: string;
  /** Where the CA listens (TLS, callers authenticated by token); default 127.0.0.1:15012. */
  caAddr?: string;
  /** Resolves when the process should stop; defaults to SIGINT/SIGTERM. */
  stopSignal?: Promise<void>;
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
  await discovery.start();
  io.out(`discovery: serving xDS on ${discovery.xdsAddress}, debug API on http://${discovery.debugAddress}, config from ${opts.configDir}\n`);
  let caServer: CaServer | undefined;
  if (ca && opts.caDir !== undefined) {
    const mesh = meshConfigOf(discovery.store);
    const dir = await openCaDirectory(opts.caDir, mesh.trustDomain);
    caServer = new CaServer({ bundle: dir.bundle, authenticator: new LocalTokenAuthenticator({ key: dir.tokenKey, trustDomain: mesh.trustDomain }), trustDomain: mesh.trustDomain });
    // The name proxies dial, as Istio's istiod serves it, and localhost for a laptop mesh.
    const credentials = await caServerCredentials(dir.bundle, [`istiod.${mesh.rootNamespace}.svc`, 'localhost']);
    const port = await caServer.start(`${ca.host.includes(':') ? `[${ca.host}]` : ca.host}:${ca.port}`, credentials);
    io.out(`discovery: CA on ${ca.host}:${port} (TLS as istiod.${mesh.rootNamespace}.svc), ${dir.generated ? 'new root' : 'root'} in ${opts.caDir}\n`);
  }
  const stop =
    opts.stopSignal ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  await stop;
  await caServer?.close();
  await discovery.close();
  io.out('discovery: stopped\n');
  return ExitCode.OK;
}
