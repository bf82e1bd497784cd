// `meltemi cni`: the CNI plugin entry point; reads the network configuration on stdin and the CNI_* environment, and prints the CNI result or error.
import { MAX_CONFIG_BYTES, netnsEffects, runCni } from '../../cni/plugin.js';
import type { CliIO } from '../io.js';

/** Reads stdin to its end, keeping at most `limit + 1` bytes (enough for the plugin to see it is too big). */
async function readLimited(stdin: NodeJS.ReadableStream, limit: number): Promise<string> {
  // A terminal means a person ran it by hand without input (e.g. CNI_COMMAND=VERSION): do not wait.
  if ((stdin as { isTTY?: boolean }).isTTY) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    if (size <= limit) chunks.push(b);
    size += b.length;
  }
  return Buffer.concat(chunks).subarray(0, limit + 1).toString('utf8');
}

/** Runs one CNI invocation with `env` (the process environment); returns the exit code (0, or 1 with an error result printed). */
export async function runCniCommand(env: Record<string, string | undefined>, io: CliIO): Promise<number> {
  const stdin = await readLimited(io.stdin, MAX_CONFIG_BYTES);
  const outcome = await runCni(env, stdin, netnsEffects());
  if (outcome.stdout) io.out(outcome.stdout);
  if (outcome.stderr) io.err(outcome.stderr);
  return outcome.exitCode;
}
