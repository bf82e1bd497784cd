// The `meltemi` command: parses arguments and dispatches to a command; holds no domain logic.
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { ExitCode, processIO, type CliIO } from './io.js';
import { runValidate } from './commands/validate.js';
import { runAnalyze } from './commands/analyze.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Builds the command tree. Each action stores its exit code in `result.code`. */
export function buildProgram(io: CliIO, result: { code: number }): Command {
  const program = new Command('meltemi')
    .description('Meltemi: a service mesh with Istio and OpenShift Service Mesh APIs')
    .version(version(), '--version', 'print the version')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError('(run meltemi --help for usage)');

  program
    .command('validate')
    .description('check resources against Istio and Maistra validation rules; exit 0 when there is no error, 1 otherwise')
    .requiredOption('-f, --filename <path>', 'file, directory (recursive) or - for stdin; repeatable', collect)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (o: { filename: string[]; output: 'text' | 'json' }) => {
      result.code = await runValidate({ filename: o.filename, output: o.output }, io);
    });

  program
    .command('analyze')
    .description('validate, then check resources against each other (istioctl analyze codes); exit 79 when issues are found')
    .requiredOption('-f, --filename <path>', 'file, directory (recursive) or - for stdin; repeatable', collect)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['log', 'json']).default('log'))
    .addOption(new Option('--failure-threshold <level>', 'lowest level that makes the exit code non-zero').choices(['Info', 'Warning', 'Error']).default('Error'))
    .option('--root-namespace <ns>', 'the mesh root (control plane) namespace (default: the namespace of the one ServiceMeshControlPlane given, else istio-system)')
    .action(async (o: { filename: string[]; output: 'log' | 'json'; failureThreshold: 'Info' | 'Warning' | 'Error'; rootNamespace?: string }) => {
      result.code = await runAnalyze({ filename: o.filename, output: o.output, failureThreshold: o.failureThreshold, rootNamespace: o.rootNamespace }, io);
    });

  return program;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const result = { code: ExitCode.OK as number };
  const program = buildProgram(io, result);
  if (argv.length === 0) {
    io.out(program.helpInformation());
    return ExitCode.OK;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return ExitCode.OK;
      return ExitCode.USAGE;
    }
    io.err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  return result.code;
}
