// `meltemi discovery`: runs the control plane until SIGINT/SIGTERM.
import { Discovery } from '../../xds/discovery.js';
import { MeshError } from '../../shared/errors.js';
import { ExitCode, type CliIO } from '../io.js';

export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new MeshError('MESH_USAGE', `${flag} must be HOST:PORT (e.g. 127.0.0.1:15010), got "${value}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export interface DiscoveryCommandOptions {
  configDir: string;
  xdsAddr: string;
  debugAddr: string;
  allowRemote?: boolean;
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
  await discovery.start();
  io.out(`discovery: serving xDS on ${discovery.xdsAddress}, debug API on http://${discovery.debugAddress}, config from ${opts.configDir}\n`);
  const stop =
    opts.stopSignal ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  await stop;
  await discovery.close();
  io.out('discovery: stopped\n');
  return ExitCode.OK;
}
