// `meltemi validate -f PATH…`: every problem of every resource, one line each, with file and line.
import { loadPaths } from '../../config/manifest.js';
import { findingForProblem, formatFinding, sortFindings, validateLoaded } from '../../config/findings.js';
import { ExitCode, type CliIO } from '../io.js';

export interface ValidateOptions {
  filename: string[];
  output?: 'text' | 'json';
}

export async function runValidate(opts: ValidateOptions, io: CliIO): Promise<number> {
  const { objects, problems } = await loadPaths(opts.filename, io.stdin);
  const findings = sortFindings([...problems.map(findingForProblem), ...validateLoaded(objects)]);
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  if (opts.output === 'json') {
    io.out(JSON.stringify({ valid: errors === 0, resources: objects.length, errors, warnings, findings }, null, 2) + '\n');
  } else {
    for (const f of findings) (f.severity === 'error' ? io.err : io.out)(formatFinding(f) + '\n');
    if (errors === 0) io.out(`${objects.length} resource${objects.length === 1 ? '' : 's'} valid${warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}\n`);
    else io.err(`${errors} error${errors === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''} in ${objects.length} resource${objects.length === 1 ? '' : 's'}\n`);
  }
  return errors === 0 ? ExitCode.OK : ExitCode.INVALID;
}
