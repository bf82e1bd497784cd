// The host tools the local runtime's netns mode runs (iproute2, iptables), found on the machine or installed from Debian packages when missing and running as root.
import { spawnSync } from 'node:child_process';
import { findBinary } from '../cni/netns.js';

/** How long one apt-get run may take (downloads included), in milliseconds. */
const APT_TIMEOUT_MS = 600_000;

/**
 * Installs Debian packages with `apt-get install -y --no-install-recommends`, waiting up to 300 s for
 * dpkg's lock (another process, e.g. a parallel test, may be installing at the same moment) rather
 * than failing on it. When the install fails and `installed()` still says no, runs `apt-get update`
 * once (a fresh machine has no package lists) and tries again. Root only; synchronous, because it
 * runs once at start-up before anything else happens. Returns why it failed, or undefined.
 */
export function aptInstall(pkgs: string[], installed: () => boolean = () => false): string | undefined {
  if (process.getuid?.() !== 0) return `only root can install ${pkgs.join(' ')}`;
  if (!findBinary('apt-get')) return `apt-get is not available to install ${pkgs.join(' ')} (install ${pkgs.length > 1 ? 'them' : 'it'} with the system's package manager)`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  const install = () => spawnSync('apt-get', [...lock, 'install', '-y', '--no-install-recommends', ...pkgs], { env, encoding: 'utf8', timeout: APT_TIMEOUT_MS });
  let r = install();
  if (r.status !== 0 && !installed()) {
    spawnSync('apt-get', [...lock, 'update'], { env, encoding: 'utf8', timeout: APT_TIMEOUT_MS });
    r = install();
  }
  if (r.status === 0 || installed()) return undefined;
  const tail = (r.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
  return `apt-get install ${pkgs.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})${tail ? `: ${tail}` : ''}`;
}

/**
 * Makes sure every binary in `binaries` exists, installing the Debian package `pkg` when one is
 * missing (root only). Returns why they cannot be had, or undefined.
 */
export function ensureBinaries(binaries: string[], pkg: string): string | undefined {
  const present = () => binaries.every((b) => findBinary(b) !== undefined);
  if (present()) return undefined;
  const missing = binaries.filter((b) => findBinary(b) === undefined).join(', ');
  if (process.getuid?.() !== 0) return `${missing} ${missing.includes(',') ? 'are' : 'is'} not installed (Debian package ${pkg}), and only root can install it`;
  const failed = aptInstall([pkg], present);
  if (failed) return `${missing} ${missing.includes(',') ? 'are' : 'is'} not installed and could not be: ${failed}`;
  return present() ? undefined : `${missing} still missing after installing Debian package ${pkg}`;
}

let iptablesState: { reason: string | undefined } | undefined;

/**
 * Makes sure `iptables`, `iptables-save` and `iptables-restore` exist and work (the CNI bridge
 * plugin's ipMasq and `meltemi cni` need them): installs Debian's `iptables` when missing and root,
 * then tries `iptables-save -t nat` in a throwaway network namespace, because the binary can exist
 * while the kernel lacks nf_tables/ip_tables. Probed once per process. Returns why iptables cannot be
 * used here, or undefined.
 */
export function ensureIptables(): string | undefined {
  if (iptablesState) return iptablesState.reason;
  const reason = ((): string | undefined => {
    const missing = ensureBinaries(['iptables', 'iptables-restore', 'iptables-save'], 'iptables');
    if (missing) return missing;
    const unshare = findBinary('unshare');
    if (!unshare) return undefined; // util-linux is essential on Debian; without it, trust the binary
    const probe = spawnSync(unshare, ['--net', findBinary('iptables-save')!, '-t', 'nat'], { encoding: 'utf8', timeout: 10_000 });
    if (probe.status !== 0) return `iptables does not work here: ${(probe.stderr || probe.error?.message || `exit ${probe.status}`).trim()}`;
    return undefined;
  })();
  iptablesState = { reason };
  return reason;
}
