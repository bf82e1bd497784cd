// Pod networks for the local runtime's netns mode: one network namespace per pod, wired by the real CNI chain a Kubernetes node's container runtime runs (loopback; bridge + host-local; then `meltemi cni` for pods with a sidecar), with per-pod hosts and resolv.conf files, and teardown that leaves nothing behind.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { InterceptionSettings } from '../cni/iptables.js';
import { CommandError, execRunner, findBinary } from '../cni/netns.js';
import { skipReason } from '../cni/plugin.js';
import { MeshError, type ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { aptInstall, ensureBinaries, ensureIptables } from './host-packages.js';

/** The bridge pods are attached to unless the runtime says otherwise. */
export const DEFAULT_BRIDGE = 'meltemi0';
/** The pod subnet unless the runtime says otherwise; the gateway (host side) is its first address. */
export const DEFAULT_SUBNET = '10.77.0.0/16';
/** The CNI network name: host-local keeps its leases under it and the bridge plugin names its NAT chains after it. */
export const CNI_NETWORK_NAME = 'meltemi';
/** The `type` our plugin has in the chain (docs/cni.md). */
const MELTEMI_CNI_TYPE = 'meltemi-cni';
/** Where `ip netns add` mounts namespaces. */
const NETNS_RUN_DIR = '/var/run/netns';
/** `ip netns exec NAME` bind-mounts each file of /etc/netns/NAME over the same name in /etc. */
const ETC_NETNS = '/etc/netns';
/** Where the pod networks of a run are recorded, inside the run directory. */
const STATE_FILE = 'pod-networks.json';
/** Where the plugins of the reference set are installed: upstream's tarball, Debian, Fedora. */
const CNI_PLUGIN_DIRS = ['/opt/cni/bin', '/usr/lib/cni', '/usr/libexec/cni'];
/** The reference plugins the chain runs. */
const REFERENCE_PLUGINS = ['bridge', 'host-local', 'loopback'] as const;
/** The CNI versions we can speak with the reference plugins, best first (Debian bullseye's 0.9 plugins stop at 0.4.0). */
const CHAIN_VERSIONS = ['1.0.0', '0.4.0'];
/** How many times a plugin answering "try again later" (CNI error 11) is run before giving up. */
const TRY_AGAIN_ATTEMPTS = 4;
/** Kubernetes' search domains suffix. */
const CLUSTER_DOMAIN = 'cluster.local';

/** The reference CNI plugins found on this machine. */
export interface CniPlugins {
  /** The directory holding bridge, host-local and loopback (what CNI_PATH is set to). */
  dir: string;
  /** The cniVersion the chain's configurations carry: the newest all of them support. */
  cniVersion: string;
}

/** The first directory holding every reference plugin, or undefined. */
function pluginDir(): string | undefined {
  const fromEnv = (process.env.CNI_PATH ?? '').split(':').filter((d) => d.startsWith('/'));
  return [...fromEnv, ...CNI_PLUGIN_DIRS].find((d) => REFERENCE_PLUGINS.every((p) => existsSync(join(d, p))));
}

/**
 * Finds the reference plugins (`bridge`, `host-local`, `loopback`) in `CNI_PATH`, /opt/cni/bin,
 * /usr/lib/cni or /usr/libexec/cni, and asks each for its versions (CNI VERSION). Returns where they
 * are and the cniVersion to use, or a sentence saying why they cannot be used.
 */
export function findCniPlugins(): CniPlugins | string {
  const dir = pluginDir();
  if (!dir) return `the CNI plugins ${REFERENCE_PLUGINS.join(', ')} are not installed (looked in ${CNI_PLUGIN_DIRS.join(', ')}; Debian package containernetworking-plugins)`;
  let common = CHAIN_VERSIONS;
  for (const p of REFERENCE_PLUGINS) {
    const r = spawnSync(join(dir, p), [], { env: { ...process.env, CNI_COMMAND: 'VERSION' }, input: '', encoding: 'utf8', timeout: 10_000 });
    let supported: unknown;
    try {
      supported = (JSON.parse(r.stdout) as { supportedVersions?: unknown }).supportedVersions;
    } catch {
      return `CNI plugin ${join(dir, p)} does not answer VERSION (${r.error?.message ?? `exit ${r.status}`}${r.stderr ? `: ${r.stderr.trim()}` : ''})`;
    }
    if (!Array.isArray(supported)) return `CNI plugin ${join(dir, p)} answered VERSION without supportedVersions`;
    common = common.filter((v) => supported.includes(v));
  }
  if (common.length === 0) return `the CNI plugins in ${dir} support none of cniVersion ${CHAIN_VERSIONS.join(', ')} (too old; install a newer containernetworking-plugins)`;
  return { dir, cniVersion: common[0]! };
}

/**
 * Makes sure everything netns mode runs is on the machine: `ip` (iproute2), `nsenter` (util-linux),
 * the reference CNI plugins (Debian `containernetworking-plugins`) and working iptables. Missing
 * packages are installed with apt-get when running as root, as `meltemi up` does on a fresh machine.
 * Synchronous and slow only the first time. Returns why netns mode cannot work here, or undefined.
 */
export function ensureCniPlugins(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  const ip = ensureBinaries(['ip'], 'iproute2');
  if (ip) return ip;
  if (!findBinary('nsenter')) return 'nsenter is not installed (Debian package util-linux)';
  if (!pluginDir()) {
    if (process.getuid?.() !== 0) return `the CNI plugins ${REFERENCE_PLUGINS.join(', ')} are not installed (Debian package containernetworking-plugins), and only root can install them`;
    const failed = aptInstall(['containernetworking-plugins'], () => pluginDir() !== undefined);
    if (failed) return `the CNI plugins are not installed and could not be: ${failed}`;
  }
  const found = findCniPlugins();
  if (typeof found === 'string') return found;
  return ensureIptables();
}

/**
 * The network namespace of the pod with `uid`: `mlt-` and the first 8 hex digits of the uid (a
 * Kubernetes uid is a UUID, so `meltemi get pods` and `ip netns list` show the same prefix), or of
 * its SHA-256 when the uid does not start with 8 hex digits.
 */
export function netnsNameFor(uid: string): string {
  const hex = uid.toLowerCase().replace(/-/g, '');
  const short = /^[0-9a-f]{8}/.test(hex) ? hex.slice(0, 8) : createHash('sha256').update(uid).digest('hex').slice(0, 8);
  return `mlt-${short}`;
}

/**
 * The nat chain the bridge plugin's ipMasq creates for one container: `CNI-` and the first 24 hex
 * digits of SHA-512(network name + container id), as the plugins' `utils.FormatChainName` does.
 * Teardown uses it to remove a chain that DEL could not (when the namespace vanished first).
 */
export function masqChainName(network: string, containerId: string): string {
  return `CNI-${createHash('sha512').update(network + containerId).digest('hex').slice(0, 24)}`;
}

/** The argv that runs `argv` inside netns `netns` with its /etc/netns files (hosts, resolv.conf) bind-mounted; `nsenter` would not mount them. */
export function netnsExecArgv(netns: string, argv: string[]): string[] {
  return [findBinary('ip') ?? 'ip', 'netns', 'exec', netns, ...argv];
}

// ---------------------------------------------------------------------------------------------
// Hosts and resolv.conf (pure).

/** A service as the pod's hosts file lists it. */
export interface ServiceAddress {
  name: string;
  namespace: string;
  /** The service's virtual IP (its ClusterIP). */
  vip: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/** What goes into one pod's hosts file. */
export interface HostsInput {
  podName: string;
  podNamespace: string;
  podIp: string;
  /** The machine's hostname: processes in the pod share the host's UTS namespace, so `hostname` prints it. */
  machineHostname: string;
  services: readonly ServiceAddress[];
}

/**
 * The hosts file of one pod: localhost, the pod's own name (and the machine's hostname, which is
 * what `hostname` prints inside the pod) on the pod's IP, as kubelet writes it, then one line per
 * service: `VIP name.ns name.ns.svc name.ns.svc.cluster.local`, led by the bare `name` for services
 * in the pod's own namespace, which is what a cluster DNS server answers with the pod's search path.
 * Services with a name that is not a DNS label or a VIP that is not an IPv4 address are left out and
 * returned in `skipped` (a name with a space or a newline must not be able to add a line).
 */
export function hostsFile(input: HostsInput): { text: string; skipped: string[] } {
  const skipped: string[] = [];
  const own = [input.podName];
  if (input.machineHostname && input.machineHostname !== input.podName && /^[A-Za-z0-9.-]+$/.test(input.machineHostname)) own.push(input.machineHostname);
  const lines = [
    `# Written by Meltemi for pod ${input.podNamespace}/${input.podName}; rewritten when services change.`,
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    `${input.podIp}\t${own.join(' ')}`,
  ];
  const services = [...input.services].sort((a, b) => (a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1));
  for (const s of services) {
    if (!DNS_LABEL.test(s.name) || !DNS_LABEL.test(s.namespace) || !IPV4.test(s.vip)) {
      skipped.push(`${JSON.stringify(s.namespace)}/${JSON.stringify(s.name)} ${JSON.stringify(s.vip)}`);
      continue;
    }
    const fqdn = `${s.name}.${s.namespace}.svc.${CLUSTER_DOMAIN}`;
    const names = [`${s.name}.${s.namespace}`, `${s.name}.${s.namespace}.svc`, fqdn];
    if (s.namespace === input.podNamespace) names.unshift(s.name);
    lines.push(`${s.vip}\t${names.join(' ')}`);
  }
  return { text: `${lines.join('\n')}\n`, skipped };
}

/**
 * The resolv.conf of a pod in `namespace`: Kubernetes' search path (`NS.svc.cluster.local
 * svc.cluster.local cluster.local`) and `nameservers`. Service names never reach DNS (the hosts file
 * answers them first); the nameservers serve the names outside the mesh.
 */
export function resolvConf(namespace: string, nameservers: readonly string[]): string {
  return [
    `# Written by Meltemi for pods in namespace ${namespace}: service names are answered by /etc/hosts, other names by the host's upstream servers.`,
    `search ${namespace}.svc.${CLUSTER_DOMAIN} svc.${CLUSTER_DOMAIN} ${CLUSTER_DOMAIN}`,
    ...nameservers.map((n) => `nameserver ${n}`),
    '',
  ].join('\n');
}

/**
 * The nameservers a pod can use, from the text of the host's resolv.conf files (first the one with
 * any usable entry): IPv4 servers that are not loopback addresses, since 127.x in the pod is the pod's
 * own loopback, where nothing serves DNS. At most three, as glibc reads. When the host has none
 * (e.g. only systemd-resolved's 127.0.0.53 stub and no upstream file), 127.0.0.1: nothing listens on
 * port 53 in the pod, so a lookup of an unknown name fails at once instead of waiting for a timeout.
 */
export function podNameservers(hostResolvConfs: readonly string[]): string[] {
  for (const text of hostResolvConfs) {
    const servers = text
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((s): s is string => s !== undefined && IPV4.test(s) && !s.startsWith('127.'));
    if (servers.length > 0) return servers.slice(0, 3);
  }
  return ['127.0.0.1'];
}

// ---------------------------------------------------------------------------------------------
// IPv4 arithmetic for the subnet.

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

interface Subnet {
  network: number;
  prefix: number;
  text: string;
}

function parseSubnet(text: string): Subnet | undefined {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  if (!m || !IPV4.test(m[1]!)) return undefined;
  const prefix = Number(m[2]);
  if (prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ipToInt(m[1]!) & mask) >>> 0, prefix, text };
}

function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
}

// ---------------------------------------------------------------------------------------------
// Running plugins and commands.

/** A CNI plugin failed: which one, for which pod, and the CNI error result it printed. */
export class CniPluginError extends MeshError {
  /** The plugin's `type` (bridge, loopback, meltemi-cni). */
  readonly plugin: string;
  /** ADD or DEL. */
  readonly command: string;
  /** The CNI error code, when the plugin printed an error result. */
  readonly cniCode: number | undefined;
  readonly cniMessage: string;
  readonly details: string | undefined;

  constructor(o: { plugin: string; command: string; pod: string; cniCode: number | undefined; msg: string; details?: string | undefined }) {
    // Codes 1-7 are bad configuration (CNI spec "Error"), 102 and 103 our plugin's refused annotations.
    const code: ErrorCode = o.cniCode !== undefined && ((o.cniCode >= 1 && o.cniCode <= 7) || o.cniCode === 102 || o.cniCode === 103) ? 'MESH_INVALID_CONFIG' : 'MESH_IO';
    const detail = o.details ? `: ${o.details}` : '';
    super(code, `CNI ${o.command} of pod ${o.pod} failed in plugin ${o.plugin}${o.cniCode !== undefined ? ` (CNI error ${o.cniCode})` : ''}: ${o.msg}${detail}`);
    this.name = 'CniPluginError';
    this.plugin = o.plugin;
    this.command = o.command;
    this.cniCode = o.cniCode;
    this.cniMessage = o.msg;
    this.details = o.details;
  }
}

interface ExecOutcome {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Why it did not run to an exit code (timeout, could not start). */
  failure?: string;
}

/** Largest plugin output kept; a result is a few hundred bytes. */
const MAX_PLUGIN_OUTPUT = 1024 * 1024;

/** Runs a plugin: `input` on stdin, `env` as its whole environment, killed after `timeoutMs`. Never rejects. */
function execPlugin(argv: readonly string[], env: NodeJS.ProcessEnv, input: string, timeoutMs: number): Promise<ExecOutcome> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let failure: string | undefined;
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      failure = `timed out after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_PLUGIN_OUTPUT) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_PLUGIN_OUTPUT) stderr += d;
    });
    child.on('error', (e) => {
      failure = `could not run ${argv[0]}: ${e.message}`;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: failure === undefined && code !== null ? code : undefined, stdout, stderr, ...(failure !== undefined ? { failure } : {}) });
    });
    child.stdin.on('error', () => {}); // a plugin may exit before reading its configuration
    child.stdin.end(input);
  });
}

const COMMAND_TIMEOUT_MS = 10_000;

/** Runs an `ip`/`iptables` command to completion; rejects with a CommandError. */
function run(argv: string[], input?: string): Promise<string> {
  const bin = findBinary(argv[0]!);
  if (!bin) return Promise.reject(new MeshError('MESH_IO', `${argv[0]} is not installed`));
  return execRunner([bin, ...argv.slice(1)], { timeoutMs: COMMAND_TIMEOUT_MS, ...(input !== undefined ? { input } : {}) });
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------
// The pod networks of one mesh.

/** A pod as the network needs it. */
export interface PodNetworkSpec {
  /** The pod's name (a DNS subdomain); in CNI_ARGS and the hosts file. */
  name: string;
  /** The pod's namespace (a DNS label). */
  namespace: string;
  /** The pod's uid; names the network namespace (see `netnsNameFor`). */
  uid: string;
  /** The pod's annotations, handed to `meltemi cni` as a runtime does (runtimeConfig.podAnnotations). */
  annotations: Record<string, string>;
  /**
   * The interception the pod's sidecar expects, or undefined for a pod without a sidecar (or with
   * `sidecar.istio.io/interceptionMode: NONE`): then `meltemi cni` is not run. Given to the plugin as
   * its `interception` defaults, which the annotations then override exactly as on a node.
   */
  intercept: InterceptionSettings | undefined;
}

/** A pod's network, once added. */
export interface PodNetwork {
  /** The network namespace name (`ip netns exec NAME …`). */
  netns: string;
  /** `/var/run/netns/NAME`. */
  netnsPath: string;
  /** The pod's IPv4 address (no prefix length). */
  ip: string;
  /** The host's address on the bridge, the pod's default gateway. */
  gateway: string;
  /** The host end of the pod's veth pair, when the bridge plugin reported it. */
  hostInterface: string | undefined;
}

export interface PodNetworksOptions {
  /** The run directory: the state file and host-local's leases live here, nothing of ours outside it but the kernel objects. */
  runDir: string;
  /** The bridge (default `meltemi0`); at most 15 characters. */
  bridge?: string;
  /** The pod subnet, IPv4 CIDR (default 10.77.0.0/16, prefix 8..30); the host gets its first address. */
  subnet?: string;
  /** The argv that runs our plugin, e.g. `[process.execPath, '<repo>/bin/meltemi.js', 'cni']`. */
  meltemiCni: string[];
  log: Logger;
  /** The reference plugins; found with `findCniPlugins` when omitted. */
  plugins?: CniPlugins;
  /** Bound on one plugin run (default 30 000 ms). */
  pluginTimeoutMs?: number;
}

/** One pod's record in the state file: enough to tear it down after a crash. */
interface PodRecord {
  netns: string;
  containerId: string;
  name: string;
  namespace: string;
  uid: string;
  intercepted: boolean;
  /** The bridge plugin's ADD result, handed back as prevResult on DEL (CNI spec). */
  result?: Record<string, unknown>;
  ip?: string;
  hostInterface?: string;
}

interface State {
  version: 1;
  bridge: string;
  subnet: string;
  plugins: CniPlugins;
  meltemiCni: string[];
  /** /proc/sys/net/ipv4/ip_forward before the first pod: the bridge plugin turns it on (isGateway), close() turns it back off. */
  ipForwardBefore: string | undefined;
  /** /etc/netns did not exist before: close() removes it when it is empty again. */
  etcNetnsCreated: boolean;
  pods: PodRecord[];
}

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

function readIpForward(): string | undefined {
  try {
    return readFileSync(IP_FORWARD, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Writes `text` into the file at `path` in place (same inode), creating it when missing. */
function writeInPlace(path: string, text: string): void {
  // Not write-temp-and-rename: `ip netns exec` bind-mounts the file's inode when a process starts,
  // so a renamed-in replacement would never be seen by the pod's running processes (glibc re-reads
  // /etc/hosts on every lookup, so an in-place write is). One write() then a truncate: a reader in
  // between can at worst see whole old lines after the new ones when the file shrinks, and glibc
  // skips a partial line that does not start with an address.
  const buf = Buffer.from(text);
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    writeSync(fd, buf, 0, buf.length, 0);
    ftruncateSync(fd, buf.length);
  } finally {
    closeSync(fd);
  }
}

/**
 * The pod networks of one running mesh (netns mode; root on Linux). `prepare` creates the bridge
 * with the gateway address (so host services can bind it before any pod exists); `add` gives a pod
 * its namespace, address and interception; `remove` takes them away; `close` removes every one, the
 * bridge, host-local's leases and the files under /etc/netns, and turns ip_forward back off when the
 * bridge plugin turned it on. Every pod is recorded in `runDir/pod-networks.json` before anything is
 * created, so `sweepStale` can undo a run that crashed.
 *
 * Processes of a pod must be started with `netnsExecArgv` (`ip netns exec`), which bind-mounts the
 * pod's hosts and resolv.conf; `nsenter --net` enters the namespace without them.
 */
export class PodNetworks {
  readonly bridge: string;
  readonly subnet: string;
  /** The host's address on the bridge (first address of the subnet): where pods reach host services. */
  readonly gateway: string;
  readonly runDir: string;
  private readonly prefix: number;
  private readonly subnetParsed: Subnet;
  private readonly log: Logger;
  private readonly meltemiCni: string[];
  private readonly pluginTimeoutMs: number;
  private plugins: CniPlugins | undefined;
  private state: State | undefined;
  private readonly pods = new Map<string, PodRecord>();
  /** The last hosts text written per netns, so unchanged service sets cost no write. */
  private readonly hostsText = new Map<string, string>();
  private preparing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Set once close() starts: no pod is added after that, even when close() failed and is retried. */
  private closed = false;

  constructor(opts: PodNetworksOptions) {
    this.runDir = opts.runDir;
    this.bridge = opts.bridge ?? DEFAULT_BRIDGE;
    this.subnet = opts.subnet ?? DEFAULT_SUBNET;
    this.log = opts.log;
    this.meltemiCni = [...opts.meltemiCni];
    this.pluginTimeoutMs = opts.pluginTimeoutMs ?? 30_000;
    this.plugins = opts.plugins;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(this.bridge)) throw new MeshError('MESH_USAGE', `bridge name "${this.bridge}" must be 1..15 letters, digits, "_", "." or "-"`);
    const s = parseSubnet(this.subnet);
    if (!s || s.prefix < 8 || s.prefix > 30) throw new MeshError('MESH_USAGE', `pod subnet "${this.subnet}" must be an IPv4 CIDR block with a prefix length of 8..30, like 10.77.0.0/16`);
    if (intToIp(s.network) !== this.subnet.split('/')[0]) throw new MeshError('MESH_USAGE', `pod subnet "${this.subnet}" has host bits set (did you mean ${intToIp(s.network)}/${s.prefix}?)`);
    if (this.meltemiCni.length === 0) throw new MeshError('MESH_USAGE', 'meltemiCni must name the command that runs `meltemi cni`');
    this.subnetParsed = s;
    this.prefix = s.prefix;
    this.gateway = intToIp(s.network + 1);
  }

  private get statePath(): string {
    return join(this.runDir, STATE_FILE);
  }

  /** host-local's dataDir: leases stay inside the run directory, so nothing is left in /var/lib/cni. */
  private get ipamDir(): string {
    return join(this.runDir, 'cni', 'networks');
  }

  private saveState(): void {
    if (!this.state) return;
    this.state.pods = [...this.pods.values()];
    const tmp = `${this.statePath}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.statePath);
  }

  /**
   * Checks the machine, records the run's state and creates the bridge with the gateway address.
   * Idempotent; `add` calls it. Throws MESH_IO when the plugins are missing, MESH_INVALID_CONFIG
   * when the subnet overlaps a route of another interface, MESH_ALREADY_EXISTS when runDir already
   * holds another run's pod networks (call `sweepStale` first).
   */
  prepare(): Promise<void> {
    this.preparing ??= this.doPrepare();
    return this.preparing;
  }

  private async doPrepare(): Promise<void> {
    if (this.closed) throw new MeshError('MESH_USAGE', 'the pod networks are closed');
    if (!this.plugins) {
      const found = findCniPlugins();
      if (typeof found === 'string') throw new MeshError('MESH_IO', found);
      this.plugins = found;
    }
    if (!this.state) {
      if (existsSync(this.statePath)) {
        throw new MeshError('MESH_ALREADY_EXISTS', `${this.statePath} records pod networks of another run; remove them first (sweepStale) or use another run directory`);
      }
      await this.checkSubnet();
      mkdirSync(this.runDir, { recursive: true });
      this.state = {
        version: 1,
        bridge: this.bridge,
        subnet: this.subnet,
        plugins: this.plugins,
        meltemiCni: this.meltemiCni,
        ipForwardBefore: readIpForward(),
        etcNetnsCreated: !existsSync(ETC_NETNS),
        pods: [],
      };
      this.saveState();
    }
    await this.ensureBridge();
  }

  /** Refuses a subnet that another interface already routes: pods would be unreachable or shadow a real network. */
  private async checkSubnet(): Promise<void> {
    const routes = JSON.parse(await run(['ip', '-j', '-4', 'route', 'show'])) as Array<{ dst?: string; dev?: string }>;
    for (const r of routes) {
      if (!r.dst || r.dst === 'default' || r.dev === this.bridge) continue;
      const dst = parseSubnet(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
      if (dst && overlaps(dst, this.subnetParsed)) {
        throw new MeshError('MESH_INVALID_CONFIG', `the pod subnet ${this.subnet} overlaps the route ${r.dst} of interface ${r.dev ?? '?'}; choose another subnet`);
      }
    }
  }

  /** Creates the bridge with the gateway address, as the bridge plugin (isGateway) would on the first ADD. */
  private async ensureBridge(): Promise<void> {
    const links = JSON.parse(await run(['ip', '-j', '-d', 'link', 'show'])) as Array<{ ifname: string; linkinfo?: { info_kind?: string } }>;
    const link = links.find((l) => l.ifname === this.bridge);
    if (link && link.linkinfo?.info_kind !== 'bridge') throw new MeshError('MESH_INVALID_CONFIG', `interface ${this.bridge} exists and is not a bridge`);
    if (!link) {
      try {
        await run(['ip', 'link', 'add', 'name', this.bridge, 'type', 'bridge']);
      } catch (e) {
        // Two meshes starting at once: the other one made it.
        if (!(e instanceof CommandError && /File exists/.test(e.stderr))) throw e;
      }
    }
    // The same address the bridge plugin puts there (gateway/prefix), so its ADD finds it and adds nothing.
    await run(['ip', 'addr', 'replace', `${this.gateway}/${this.prefix}`, 'dev', this.bridge]);
    await run(['ip', 'link', 'set', this.bridge, 'up']);
  }

  /**
   * Gives `pod` a network namespace `mlt-…` with `lo` up, `eth0` on the bridge with an address from
   * host-local, a default route via the gateway, and — when `pod.intercept` is set — Istio's
   * interception rules from `meltemi cni`; then writes its hosts (no services yet; see `writeHosts`)
   * and resolv.conf. On failure everything done so far is undone (CNI DEL of each plugin run, the
   * namespace deleted) and a CniPluginError names the plugin, the pod and the plugin's error.
   */
  async add(pod: PodNetworkSpec): Promise<PodNetwork> {
    const subject = `${pod.namespace}/${pod.name}`;
    if (!DNS_LABEL.test(pod.namespace)) throw new MeshError('MESH_USAGE', `pod namespace "${pod.namespace}" is not a DNS label`);
    if (!DNS_SUBDOMAIN.test(pod.name)) throw new MeshError('MESH_USAGE', `pod name "${pod.name}" is not a DNS subdomain`);
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(pod.uid)) throw new MeshError('MESH_USAGE', `pod ${subject}: uid "${pod.uid}" must be letters, digits and "-"`);
    if (pod.intercept) {
      // The plugin decides from the annotations, as on a node; a pod the runtime gives a sidecar
      // but whose annotations say "no sidecar" would run a sidecar that never sees traffic.
      const skip = skipReason(pod.annotations);
      if (skip) throw new MeshError('MESH_USAGE', `pod ${subject} has interception settings but meltemi cni would skip it: ${skip}`);
    }
    await this.prepare();
    if (this.closed) throw new MeshError('MESH_USAGE', 'the pod networks are closed');
    const netns = netnsNameFor(pod.uid);
    const netnsPath = join(NETNS_RUN_DIR, netns);
    if (this.pods.has(netns)) throw new MeshError('MESH_ALREADY_EXISTS', `pod ${subject}: network namespace ${netns} is already in use by pod ${this.pods.get(netns)!.namespace}/${this.pods.get(netns)!.name}`);
    if (existsSync(netnsPath)) throw new MeshError('MESH_ALREADY_EXISTS', `pod ${subject}: network namespace ${netns} already exists and is not this mesh's`);

    const rec: PodRecord = { netns, containerId: netns, name: pod.name, namespace: pod.namespace, uid: pod.uid, intercepted: pod.intercept !== undefined };
    // Recorded before it exists: a crash from here on leaves something sweepStale can find.
    this.pods.set(netns, rec);
    this.saveState();
    const ran: string[] = [];
    try {
      await run(['ip', 'netns', 'add', netns]);
      ran.push('loopback');
      await this.invoke('loopback', 'ADD', rec, this.loopbackConfig());
      ran.push('bridge');
      const result = await this.invoke('bridge', 'ADD', rec, this.bridgeConfig());
      if (!result) throw new MeshError('MESH_IO', `pod ${subject}: the bridge plugin printed no result`);
      const parsed = this.parseResult(result, subject);
      rec.result = result;
      rec.ip = parsed.ip;
      if (parsed.hostInterface) rec.hostInterface = parsed.hostInterface;
      this.saveState();
      if (pod.intercept) {
        ran.push(MELTEMI_CNI_TYPE);
        await this.invoke(MELTEMI_CNI_TYPE, 'ADD', rec, this.meltemiConfig(pod, result));
      }
      this.writeEtcFiles(rec, []);
      this.log.info('pod network added', { pod: subject, netns, ip: parsed.ip, intercepted: rec.intercepted });
      return { netns, netnsPath, ip: parsed.ip, gateway: parsed.gateway, hostInterface: parsed.hostInterface };
    } catch (e) {
      this.log.warn('pod network add failed; undoing it', { pod: subject, netns, error: errorText(e) });
      try {
        await this.teardown(rec, ran);
      } catch (cleanup) {
        this.log.error('could not undo a failed pod network add', { pod: subject, netns, error: errorText(cleanup) });
      }
      throw e;
    }
  }

  /**
   * Removes the network of the pod with `pod.uid`: processes still inside are killed, CNI DEL runs in
   * reverse order (meltemi-cni, bridge, loopback), then the namespace and its /etc/netns files are
   * deleted. Tolerates pieces already gone; a pod this object does not know is a no-op. Throws
   * MESH_IO listing what could not be removed.
   */
  async remove(pod: { uid: string }): Promise<void> {
    const rec = this.pods.get(netnsNameFor(pod.uid));
    if (!rec) return;
    await this.teardown(rec, ['loopback', 'bridge', ...(rec.intercepted ? [MELTEMI_CNI_TYPE] : [])]);
  }

  /**
   * Writes the hosts file of the pod in `netns` (namespace `namespace`) for `services` (see
   * `hostsFile`), in place so processes already running see it at their next lookup. Throws
   * MESH_NOT_FOUND for a netns this object did not make.
   */
  writeHosts(netns: string, namespace: string, services: readonly ServiceAddress[]): void {
    const rec = this.pods.get(netns);
    if (!rec || rec.ip === undefined) throw new MeshError('MESH_NOT_FOUND', `no pod network ${netns}`);
    if (namespace !== rec.namespace) throw new MeshError('MESH_USAGE', `pod network ${netns} belongs to namespace ${rec.namespace}, not ${namespace}`);
    this.writeEtcFiles(rec, services);
  }

  private writeEtcFiles(rec: PodRecord, services: readonly ServiceAddress[]): void {
    const dir = join(ETC_NETNS, rec.netns);
    const { text, skipped } = hostsFile({ podName: rec.name, podNamespace: rec.namespace, podIp: rec.ip!, machineHostname: hostname(), services });
    if (skipped.length > 0) this.log.warn('services left out of a pod hosts file (bad name or address)', { netns: rec.netns, skipped });
    if (this.hostsText.get(rec.netns) === text) return;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (!existsSync(join(dir, 'resolv.conf'))) {
      const confs = ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf'].map((p) => {
        try {
          return readFileSync(p, 'utf8');
        } catch {
          return '';
        }
      });
      writeInPlace(join(dir, 'resolv.conf'), resolvConf(rec.namespace, podNameservers(confs)));
    }
    writeInPlace(join(dir, 'hosts'), text);
    this.hostsText.set(rec.netns, text);
  }

  /**
   * Removes every pod network, then the bridge when no interface is attached to it any more,
   * host-local's leases, the run's /etc/netns files (and /etc/netns itself when it created it and
   * it is empty), and the state file; turns ip_forward back off when it was off before and no other
   * Meltemi pod namespace remains. Idempotent. Throws MESH_IO listing what could not be removed,
   * after trying everything.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    try {
      await this.preparing;
    } catch {
      // a failed prepare may still have recorded state and made the bridge
    }
    const problems: string[] = [];
    const results = await Promise.allSettled([...this.pods.values()].map((rec) => this.teardown(rec, ['loopback', 'bridge', ...(rec.intercepted ? [MELTEMI_CNI_TYPE] : [])])));
    for (const r of results) if (r.status === 'rejected') problems.push(errorText(r.reason));
    if (this.state) {
      try {
        await this.removeBridgeIfUnused();
      } catch (e) {
        problems.push(`bridge ${this.bridge}: ${errorText(e)}`);
      }
      rmSync(join(this.runDir, 'cni'), { recursive: true, force: true });
      if (this.state.etcNetnsCreated) {
        try {
          if (existsSync(ETC_NETNS) && readdirSync(ETC_NETNS).length === 0) rmdirSync(ETC_NETNS);
        } catch {
          // someone else put a directory there meanwhile: it stays
        }
      }
      this.restoreIpForward();
      if (problems.length === 0) rmSync(this.statePath, { force: true });
    }
    if (problems.length > 0) {
      this.closing = undefined; // let the caller try again
      throw new MeshError('MESH_IO', `could not remove every pod network:\n  ${problems.join('\n  ')}`);
    }
  }

  private async removeBridgeIfUnused(): Promise<void> {
    const links = JSON.parse(await run(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string; master?: string }>;
    if (!links.some((l) => l.ifname === this.bridge)) return;
    const ports = links.filter((l) => l.master === this.bridge).map((l) => l.ifname);
    if (ports.length > 0) {
      this.log.warn('bridge kept: other interfaces are still attached to it', { bridge: this.bridge, ports });
      return;
    }
    await run(['ip', 'link', 'del', this.bridge]).catch((e: unknown) => {
      if (!(e instanceof CommandError && /Cannot find device/.test(e.stderr))) throw e;
    });
  }

  /** The bridge plugin (isGateway) turns on ip_forward; leave the host as it was, unless another Meltemi pod still needs it. */
  private restoreIpForward(): void {
    if (this.state?.ipForwardBefore !== '0' || readIpForward() !== '1') return;
    const others = existsSync(NETNS_RUN_DIR) ? readdirSync(NETNS_RUN_DIR).filter((n) => n.startsWith('mlt-')) : [];
    if (others.length > 0) {
      this.log.info('ip_forward left on: other Meltemi pod namespaces exist', { namespaces: others });
      return;
    }
    try {
      writeFileSync(IP_FORWARD, '0\n');
      this.log.info('net.ipv4.ip_forward turned back off');
    } catch (e) {
      this.log.warn('could not turn net.ipv4.ip_forward back off', { error: errorText(e) });
    }
  }

  /** Undoes one pod network. `ran` lists the plugins whose ADD ran, in order; DEL goes in reverse. */
  private async teardown(rec: PodRecord, ran: readonly string[]): Promise<void> {
    const subject = `${rec.namespace}/${rec.name}`;
    const netnsPath = join(NETNS_RUN_DIR, rec.netns);
    const problems: string[] = [];
    await this.killProcesses(rec.netns);
    for (const plugin of [...ran].reverse()) {
      const config = plugin === 'loopback' ? this.loopbackConfig() : plugin === 'bridge' ? this.bridgeConfig(rec.result) : this.meltemiDelConfig(rec.result);
      try {
        await this.invoke(plugin, 'DEL', rec, config);
      } catch (e) {
        // Our rules live only inside the namespace, which is deleted next: a failed DEL loses nothing.
        if (plugin === MELTEMI_CNI_TYPE) this.log.warn('meltemi cni DEL failed; the namespace deletion removes its rules', { pod: subject, error: errorText(e) });
        else problems.push(errorText(e));
      }
    }
    if (ran.includes('bridge')) {
      try {
        await this.removeLeftoverMasquerade(rec);
      } catch (e) {
        problems.push(`pod ${subject}: masquerade chain: ${errorText(e)}`);
      }
    }
    try {
      if (existsSync(netnsPath)) await run(['ip', 'netns', 'del', rec.netns]);
    } catch (e) {
      if (!(e instanceof CommandError && /No such file/.test(e.stderr))) problems.push(`pod ${subject}: ip netns del ${rec.netns}: ${errorText(e)}`);
    }
    rmSync(join(ETC_NETNS, rec.netns), { recursive: true, force: true });
    this.hostsText.delete(rec.netns);
    if (problems.length > 0) {
      this.saveState();
      throw new MeshError('MESH_IO', `pod ${subject} (netns ${rec.netns}): ${problems.join('; ')}`);
    }
    this.pods.delete(rec.netns);
    this.saveState();
    this.log.info('pod network removed', { pod: subject, netns: rec.netns });
  }

  /** Kills what still runs in the namespace (the runtime stops pods first; a crashed run's orphans do not). */
  private async killProcesses(netns: string): Promise<void> {
    if (!existsSync(join(NETNS_RUN_DIR, netns))) return;
    const pids = async () =>
      (await run(['ip', 'netns', 'pids', netns]).catch(() => ''))
        .split('\n')
        .map((s) => Number(s.trim()))
        .filter((p) => p > 0);
    let left = await pids();
    if (left.length === 0) return;
    this.log.warn('killing processes still running in a pod network namespace', { netns, pids: left });
    for (let i = 0; i < 40 && left.length > 0; i++) {
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await delay(50);
      left = await pids();
    }
    if (left.length > 0) this.log.warn('processes outlived SIGKILL in a pod network namespace', { netns, pids: left });
  }

  /**
   * The bridge plugin removes its NAT chain on DEL only while the pod's eth0 still exists; when the
   * namespace vanished first (deleted by hand, or a crash between steps) the chain would stay in the
   * host's nat table forever. Removes it and the jumps into it.
   */
  private async removeLeftoverMasquerade(rec: PodRecord): Promise<void> {
    if (!findBinary('iptables-save') || !findBinary('iptables-restore')) return;
    const chain = masqChainName(CNI_NETWORK_NAME, rec.containerId);
    const saved = await run(['iptables-save', '-t', 'nat']);
    const lines = saved.split('\n');
    if (!lines.includes(`:${chain} - [0:0]`) && !lines.some((l) => l.startsWith(`:${chain} `))) return;
    const jumps = lines.filter((l) => l.startsWith('-A ') && !l.startsWith(`-A ${chain} `) && l.endsWith(` -j ${chain}`));
    const text = ['*nat', ...jumps.map((l) => `-D ${l.slice(3)}`), `-F ${chain}`, `-X ${chain}`, 'COMMIT', ''].join('\n');
    await run(['iptables-restore', '--noflush'], text);
    this.log.warn('removed a NAT chain the bridge plugin left behind', { netns: rec.netns, chain });
  }

  // ---- CNI configurations ----

  private get cniVersion(): string {
    return this.plugins!.cniVersion;
  }

  /** The loopback network a CRI runtime sets up for every sandbox, apart from the pod network. */
  private loopbackConfig(): Record<string, unknown> {
    return { cniVersion: this.cniVersion, name: 'cni-loopback', type: 'loopback' };
  }

  private bridgeConfig(prevResult?: Record<string, unknown>): Record<string, unknown> {
    return {
      cniVersion: this.cniVersion,
      name: CNI_NETWORK_NAME,
      type: 'bridge',
      bridge: this.bridge,
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: this.subnet, gateway: this.gateway }]],
        // Without a default route a pod cannot even start a connection to a service VIP
        // (ENETUNREACH comes before the nat OUTPUT chain that would redirect it to the sidecar).
        routes: [{ dst: '0.0.0.0/0' }],
        dataDir: this.ipamDir,
      },
      ...(prevResult ? { prevResult } : {}),
    };
  }

  private meltemiConfig(pod: PodNetworkSpec, prevResult: Record<string, unknown>): Record<string, unknown> {
    return {
      cniVersion: this.cniVersion,
      name: CNI_NETWORK_NAME,
      type: MELTEMI_CNI_TYPE,
      interception: pod.intercept,
      runtimeConfig: { podAnnotations: pod.annotations },
      prevResult,
    };
  }

  private meltemiDelConfig(prevResult?: Record<string, unknown>): Record<string, unknown> {
    return { cniVersion: this.cniVersion, name: CNI_NETWORK_NAME, type: MELTEMI_CNI_TYPE, ...(prevResult ? { prevResult } : {}) };
  }

  /** The pod's IPv4 address, gateway and host-side veth from the bridge plugin's result. */
  private parseResult(result: Record<string, unknown>, subject: string): { ip: string; gateway: string; hostInterface: string | undefined } {
    const interfaces = Array.isArray(result.interfaces) ? (result.interfaces as unknown[]).filter(isObject) : [];
    const ips = Array.isArray(result.ips) ? (result.ips as unknown[]).filter(isObject) : [];
    const inPod = (i: Record<string, unknown>) => typeof i.interface !== 'number' || Boolean(interfaces[i.interface]?.sandbox);
    const entry = ips.find((i) => typeof i.address === 'string' && IPV4.test(i.address.split('/')[0]!) && inPod(i));
    if (!entry) throw new MeshError('MESH_IO', `pod ${subject}: the bridge plugin's result has no IPv4 address for the pod: ${JSON.stringify(result)}`);
    const ip = (entry.address as string).split('/')[0]!;
    const gateway = typeof entry.gateway === 'string' ? entry.gateway : this.gateway;
    const host = interfaces.find((i) => !i.sandbox && typeof i.name === 'string' && i.name !== this.bridge);
    return { ip, gateway, hostInterface: host ? (host.name as string) : undefined };
  }

  /**
   * Runs one plugin for `rec` as a CNI runtime does: the configuration on stdin, CNI_* in the
   * environment, CNI_PATH where the reference plugins are. Returns the ADD result; throws a
   * CniPluginError with the plugin's error result. Retries "try again later" (code 11) a few times.
   */
  private async invoke(plugin: string, command: 'ADD' | 'DEL', rec: PodRecord, config: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
    const argv = plugin === MELTEMI_CNI_TYPE ? this.meltemiCni : [join(this.plugins!.dir, plugin)];
    const netnsPath = join(NETNS_RUN_DIR, rec.netns);
    const sbin = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
    const path = [...new Set([...(process.env.PATH ?? '').split(':').filter(Boolean), ...sbin, '/usr/local/bin', '/usr/bin', '/bin'])].join(':');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: path,
      CNI_COMMAND: command,
      CNI_CONTAINERID: rec.containerId,
      // DEL with the namespace gone: the spec lets CNI_NETNS be empty, and plugins then skip it.
      CNI_NETNS: command === 'DEL' && !existsSync(netnsPath) ? '' : netnsPath,
      CNI_IFNAME: plugin === 'loopback' ? 'lo' : 'eth0',
      CNI_PATH: this.plugins!.dir,
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${rec.namespace};K8S_POD_NAME=${rec.name};K8S_POD_INFRA_CONTAINER_ID=${rec.containerId};K8S_POD_UID=${rec.uid}`,
    };
    const subject = `${rec.namespace}/${rec.name} (netns ${rec.netns})`;
    const input = JSON.stringify(config);
    for (let attempt = 1; ; attempt++) {
      const out = await execPlugin(argv, env, input, this.pluginTimeoutMs);
      for (const line of out.stderr.split('\n')) if (line.trim()) this.log.info('cni plugin', { plugin, command, pod: subject, line: line.trim() });
      if (out.exitCode === 0) {
        if (command === 'DEL') return undefined;
        let result: unknown;
        try {
          result = JSON.parse(out.stdout);
        } catch {
          throw new CniPluginError({ plugin, command, pod: subject, cniCode: undefined, msg: 'the plugin printed a result that is not JSON', details: out.stdout.slice(0, 500) });
        }
        if (!isObject(result)) throw new CniPluginError({ plugin, command, pod: subject, cniCode: undefined, msg: 'the plugin printed a result that is not a JSON object', details: out.stdout.slice(0, 500) });
        return result;
      }
      let error: { code?: unknown; msg?: unknown; details?: unknown } = {};
      try {
        const parsed: unknown = JSON.parse(out.stdout);
        if (isObject(parsed)) error = parsed;
      } catch {
        // not an error result: use what it said on stderr
      }
      const code = typeof error.code === 'number' ? error.code : undefined;
      if (code === 11 && attempt < TRY_AGAIN_ATTEMPTS) {
        await delay(250 * 2 ** (attempt - 1));
        continue;
      }
      const msg = typeof error.msg === 'string' ? error.msg : out.failure ?? `exit ${out.exitCode}${out.stderr.trim() ? `: ${out.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
      throw new CniPluginError({ plugin, command, pod: subject, cniCode: code, msg, details: typeof error.details === 'string' && error.details !== '' ? error.details : undefined });
    }
  }

  /**
   * Reads a run directory's state file into a PodNetworks that owns what it records (the runtime
   * closes it to undo a crashed run). Returns undefined when `runDir` has no state file.
   */
  static load(runDir: string, log: Logger): PodNetworks | undefined {
    const path = join(runDir, STATE_FILE);
    if (!existsSync(path)) return undefined;
    let state: State;
    try {
      state = JSON.parse(readFileSync(path, 'utf8')) as State;
    } catch (e) {
      throw new MeshError('MESH_PARSE_ERROR', `${path} is not a pod network state file: ${errorText(e)}`, { cause: e });
    }
    if (state.version !== 1 || !Array.isArray(state.pods) || !isObject(state.plugins)) throw new MeshError('MESH_PARSE_ERROR', `${path} is not a pod network state file (version ${String(state.version)})`);
    // The plugins may have moved since (reinstalled from another source): DEL needs them where they are now.
    const found = existsSync(join(String(state.plugins.dir), 'bridge')) ? state.plugins : findCniPlugins();
    if (typeof found === 'string') throw new MeshError('MESH_IO', `cannot remove the pod networks recorded in ${path}: ${found}`);
    const nets = new PodNetworks({ runDir, bridge: state.bridge, subnet: state.subnet, meltemiCni: state.meltemiCni, log, plugins: found });
    nets.state = state;
    nets.preparing = Promise.resolve();
    for (const p of state.pods) nets.pods.set(p.netns, p);
    return nets;
  }
}

/**
 * Undoes the pod networks a crashed run left in `runDir` (the ones its state file records): kills
 * their processes, runs CNI DEL, deletes the namespaces, /etc/netns files, the bridge when unused and
 * host-local's leases, and restores ip_forward. The runtime calls it at start, before `prepare`.
 * Returns how many pod networks it removed (0 when there was no state file). Throws MESH_IO when
 * something could not be removed (the state file is then kept for another try).
 */
export async function sweepStale(runDir: string, log: Logger): Promise<number> {
  const nets = PodNetworks.load(runDir, log);
  if (!nets) return 0;
  const count = (JSON.parse(readFileSync(join(runDir, STATE_FILE), 'utf8')) as State).pods.length;
  if (count > 0) log.warn('removing pod networks left by an earlier run', { runDir, pods: count });
  await nets.close();
  return count;
}
