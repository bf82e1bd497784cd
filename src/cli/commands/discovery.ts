// `meltemi discovery`: runs the control plane until SIGINT/SIGTERM.
import { Discovery } from '../../xds/discovery.js';
import { ExitCode, type CliIO } from '../io.js';
import { parseHostPort } from '../host-port.js';

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
