// Installs, removes and checks the interception rules inside a network namespace, by running iptables-restore/-save under `nsenter --net`.
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { MeshError } from '../shared/errors.js';
import { checkRules, natRules, reapplyText, removalRules, type InterceptionSettings } from './iptables.js';

/** A command that failed: what ran, how it ended, and what it printed on stderr. */
export class CommandError extends MeshError {
  readonly command: readonly string[];
  readonly stderr: string;
  /** The exit code, or undefined when it was killed (timeout) or could not start. */
  readonly exitCode: number | undefined;

  constructor(command: readonly string[], how: string, stderr: string, exitCode: number | undefined, cause?: unknown) {
    super('MESH_IO', `${command.join(' ')}: ${how}${stderr.trim() ? `: ${stderr.trim()}` : ''}`, { cause });
    this.name = 'CommandError';
    this.command = command;
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

/** How commands are run; tests and callers with their own sandboxes may pass another. */
export type CommandRunner = (argv: readonly string[], opts: { input?: string; timeoutMs: number }) => Promise<string>;

/** Runs `argv` with execFile (no shell), feeding `input` to stdin; resolves with stdout, rejects with a CommandError. */
export const execRunner: CommandRunner = (argv, { input, timeoutMs }) =>
  new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
      if (e.killed) return reject(new CommandError(argv, `timed out after ${timeoutMs} ms`, stderr, undefined, err));
      if (typeof e.code === 'number') return reject(new CommandError(argv, `exit ${e.code}`, stderr, e.code, err));
      reject(new CommandError(argv, `could not run (${e.code ?? e.message})`, stderr, undefined, err));
    });
    child.stdin?.on('error', () => {}); // the command may exit before reading all of its input
    child.stdin?.end(input ?? '');
  });

const SBIN = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of `binary` on PATH or in the sbin directories (a CNI plugin's PATH is often minimal). */
export function findBinary(binary: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SBIN]) {
    if (dir && isAbsolute(dir) && existsSync(`${dir}/${binary}`)) return `${dir}/${binary}`;
  }
  return undefined;
}

export interface NetnsOptions {
  /** Bound on each command (default 10 000 ms). */
  timeoutMs?: number;
  runner?: CommandRunner;
  /** Finds tools; defaults to `findBinary`. Tests pass one that hides ip6tables. */
  find?: (binary: string) => string | undefined;
}

/** What was done per family; `ipv6` says why IPv6 was skipped when it was. */
export interface NetnsReport {
  ipv4: 'done' | 'nothing to do';
  ipv6: 'done' | 'nothing to do' | { skipped: string };
}

interface Family {
  family: 4 | 6;
  save: string;
  restore: string;
}

class Netns {
  readonly path: string;
  private readonly timeoutMs: number;
  private readonly run: CommandRunner;
  private readonly find: (b: string) => string | undefined;

  constructor(path: string, o: NetnsOptions) {
    this.path = path;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.run = o.runner ?? execRunner;
    this.find = o.find ?? findBinary;
  }

  private tool(binary: string): string {
    const p = this.find(binary);
    if (!p) throw new MeshError('MESH_IO', `${binary} is not installed (Debian package iptables)`);
    return p;
  }

  exec(argv: string[], input?: string): Promise<string> {
    return this.run([this.tool('nsenter'), `--net=${this.path}`, '--', ...argv], { input, timeoutMs: this.timeoutMs });
  }

  /** The families to act on: IPv4 always; IPv6 when the namespace has it enabled and ip6tables exists. */
  async families(): Promise<{ families: Family[]; ipv6Skipped?: string }> {
    const v4: Family = { family: 4, save: this.tool('iptables-save'), restore: this.tool('iptables-restore') };
    const save6 = this.find('ip6tables-save');
    const restore6 = this.find('ip6tables-restore');
    if (!save6 || !restore6) return { families: [v4], ipv6Skipped: 'ip6tables-restore/ip6tables-save are not installed' };
    // /proc/sys/net shows the namespace of the reader, so this reads the pod's setting. The file is
    // absent when the kernel has no IPv6 at all.
    let disabled: string;
    try {
      disabled = (await this.exec(['cat', '/proc/sys/net/ipv6/conf/all/disable_ipv6'])).trim();
    } catch (e) {
      if (e instanceof CommandError && /No such file/.test(e.stderr)) return { families: [v4], ipv6Skipped: 'the kernel has no IPv6' };
      throw e;
    }
    if (disabled === '1') return { families: [v4], ipv6Skipped: 'IPv6 is disabled in the namespace' };
    return { families: [v4, { family: 6, save: save6, restore: restore6 }] };
  }

  saveNat(f: Family): Promise<string> {
    return this.exec([f.save, '-t', 'nat']);
  }

  restore(f: Family, text: string): Promise<string> {
    return this.exec([f.restore, '--noflush'], text);
  }
}

function requireNetns(path: string): void {
  if (!isAbsolute(path)) throw new MeshError('MESH_USAGE', `network namespace path "${path}" must be absolute (like /var/run/netns/NAME or /proc/PID/ns/net)`);
  if (!existsSync(path)) throw new MeshError('MESH_NOT_FOUND', `network namespace ${path} does not exist`);
  if (statSync(path).isDirectory()) throw new MeshError('MESH_USAGE', `network namespace path ${path} is a directory, not a namespace file`);
}

/** True when `path` names something that still exists (a deleted pod's netns path does not). */
export function netnsExists(path: string): boolean {
  return isAbsolute(path) && existsSync(path);
}

/**
 * Installs the interception for `settings` in the namespace at `netnsPath`, replacing ours if it is
 * there (our chains are flushed and refilled and our jumps deleted and re-added in one
 * `iptables-restore` transaction, so applying twice leaves one set of rules). IPv6 rules go in when
 * the namespace has IPv6 and ip6tables is installed; the report says when they were skipped.
 * Throws MESH_NOT_FOUND when the namespace does not exist, a CommandError when a command fails.
 */
export async function applyInterception(netnsPath: string, settings: InterceptionSettings, opts: NetnsOptions = {}): Promise<NetnsReport> {
  requireNetns(netnsPath);
  const ns = new Netns(netnsPath, opts);
  const { families, ipv6Skipped } = await ns.families();
  // Build every text before touching the kernel: a bad setting must not leave IPv4 done and IPv6 not.
  const rules = families.map((f) => ({ f, rules: natRules(settings, f.family) }));
  for (const { f, rules: r } of rules) await ns.restore(f, reapplyText(r, await ns.saveNat(f)));
  return { ipv4: 'done', ipv6: ipv6Skipped ? { skipped: ipv6Skipped } : 'done' };
}

/**
 * Removes our chains and the jumps into them from the namespace, and nothing else. Succeeds when
 * there is nothing to remove and when the namespace no longer exists (CNI DEL must be idempotent,
 * and the runtime may delete the namespace before calling DEL).
 */
export async function removeInterception(netnsPath: string, opts: NetnsOptions = {}): Promise<NetnsReport> {
  const nothing: NetnsReport = { ipv4: 'nothing to do', ipv6: 'nothing to do' };
  if (!netnsExists(netnsPath)) return nothing;
  requireNetns(netnsPath);
  const ns = new Netns(netnsPath, opts);
  // A runtime may leave the path behind after the namespace is gone (an unmounted, empty file):
  // nsenter cannot enter it, and there is nothing left to clean.
  try {
    await ns.exec(['true']);
  } catch (e) {
    if (e instanceof CommandError && /reassociate to namespace/.test(e.stderr)) return nothing;
    throw e;
  }
  const { families, ipv6Skipped } = await ns.families();
  const report: NetnsReport = { ipv4: 'nothing to do', ipv6: ipv6Skipped ? { skipped: ipv6Skipped } : 'nothing to do' };
  for (const f of families) {
    const text = removalRules(await ns.saveNat(f));
    if (text === undefined) continue;
    await ns.restore(f, text);
    if (f.family === 4) report.ipv4 = 'done';
    else report.ipv6 = 'done';
  }
  return report;
}

/**
 * Compares the namespace's nat tables with the rules `settings` produce. Returns every difference
 * (prefixed `ipv4:` / `ipv6:`), empty when they match. Throws MESH_NOT_FOUND when the namespace
 * does not exist, a CommandError when iptables-save fails.
 */
export async function checkInterception(netnsPath: string, settings: InterceptionSettings, opts: NetnsOptions = {}): Promise<string[]> {
  requireNetns(netnsPath);
  const ns = new Netns(netnsPath, opts);
  const { families } = await ns.families();
  const problems: string[] = [];
  for (const f of families) problems.push(...checkRules(natRules(settings, f.family), await ns.saveNat(f), `ipv${f.family}`));
  return problems;
}
