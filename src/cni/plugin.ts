// The Meltemi CNI plugin (CNI spec 1.0.0, chained after the plugins that create the pod's interface): reads an invocation, decides what to do, does it through injected effects, and answers with a CNI result or error.
import { isMeshError } from '../shared/errors.js';
import {
  ANNOTATIONS,
  interceptionFromAnnotations,
  interceptionFromJson,
  interceptionMode,
  type InterceptionSettings,
} from './iptables.js';
import { CommandError, applyInterception, checkInterception, removeInterception, type NetnsOptions, type NetnsReport } from './netns.js';

/** The spec version this plugin speaks; also what VERSION reports as its own. */
export const CNI_SPEC_VERSION = '1.0.0';

/**
 * Versions accepted in `cniVersion`. Chaining (and so `prevResult`) needs 0.3.0 or later; CHECK
 * needs 0.4.0 or later.
 */
export const SUPPORTED_VERSIONS: readonly string[] = Object.freeze(['0.3.0', '0.3.1', '0.4.0', '1.0.0']);

/**
 * Error codes in the CNI error result: the spec's well-known ones (0-99), then ours (100+).
 * See https://github.com/containernetworking/cni/blob/main/SPEC.md#error.
 */
export const CniCode = Object.freeze({
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  INVALID_ENVIRONMENT: 4,
  IO_FAILURE: 5,
  DECODING_FAILURE: 6,
  INVALID_NETWORK_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  /** An iptables command in the pod's namespace failed (details: the command's stderr). */
  IPTABLES_FAILED: 100,
  /** CHECK: the namespace's rules are not the ones this pod should have. */
  RULES_DIFFER: 101,
  /** A pod annotation has a value the rules cannot be built from. */
  INVALID_ANNOTATION: 102,
  /** The pod asks for an interception mode Meltemi does not implement (TPROXY). */
  UNSUPPORTED_INTERCEPTION_MODE: 103,
  /** CNI_NETNS names no network namespace (ADD, CHECK). */
  NETNS_NOT_FOUND: 104,
  INTERNAL: 199,
});

/** The JSON a failing plugin prints on stdout. */
export interface CniErrorResult {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** What one invocation asks for, after parsing and validation. Pure data: `runCni` does the work. */
export type CniAction =
  | { kind: 'version'; output: Record<string, unknown> }
  /** `settings` undefined: the pod is not intercepted and nothing is done (`skipped` says why). */
  | { kind: 'add'; netns: string; settings?: InterceptionSettings; skipped?: string; output: Record<string, unknown> }
  | { kind: 'check'; netns: string; settings?: InterceptionSettings; skipped?: string }
  /** `netns` undefined or empty: there is no namespace left to clean. */
  | { kind: 'del'; netns?: string };

export interface CniPlan {
  action: CniAction;
  /** The configuration's cniVersion (for results and errors). */
  cniVersion: string;
  /** "CONTAINERID" or "NAMESPACE/POD (CONTAINERID)" for log lines. */
  subject: string;
}

/** The side effects, so tests can run the plugin without root. */
export interface CniEffects {
  apply(netns: string, settings: InterceptionSettings): Promise<NetnsReport>;
  remove(netns: string): Promise<NetnsReport>;
  check(netns: string, settings: InterceptionSettings): Promise<string[]>;
}

/** The effects that program a real namespace with iptables (root needed). */
export function netnsEffects(opts: NetnsOptions = {}): CniEffects {
  return {
    apply: (netns, settings) => applyInterception(netns, settings, opts),
    remove: (netns) => removeInterception(netns, opts),
    check: (netns, settings) => checkInterception(netns, settings, opts),
  };
}

/** A failure with a CNI code, raised while planning. */
class CniFailure extends Error {
  readonly code: number;
  readonly details: string | undefined;

  constructor(code: number, msg: string, details?: string) {
    super(msg);
    this.code = code;
    this.details = details;
  }
}

const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION'] as const;
type Command = (typeof COMMANDS)[number];

/** Biggest network configuration read from stdin (it carries prevResult, which stays small). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Parses `CNI_ARGS` ("K=V;K=V"); throws a CniFailure (code 4) on a malformed pair. */
export function parseCniArgs(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniFailure(CniCode.INVALID_ENVIRONMENT, `CNI_ARGS: "${pair}" is not KEY=VALUE (pairs are separated by ";")`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const TRUTHY = new Set(['y', 'yes', 'true', 'on']);

/**
 * The pod annotations carried in the configuration: `args.cni.podAnnotations` (CNI CONVENTIONS.md
 * "args in network config"), `runtimeConfig["io.kubernetes.cri.pod-annotations"]` (containerd's
 * capability) and `runtimeConfig.podAnnotations`, later ones winning on the same key.
 */
function podAnnotations(config: Record<string, unknown>, problems: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const args = config.args;
  const runtime = config.runtimeConfig;
  const sources: Array<[string, unknown]> = [
    ['args.cni.podAnnotations', isObject(args) && isObject(args.cni) ? args.cni.podAnnotations : undefined],
    ['runtimeConfig["io.kubernetes.cri.pod-annotations"]', isObject(runtime) ? runtime['io.kubernetes.cri.pod-annotations'] : undefined],
    ['runtimeConfig.podAnnotations', isObject(runtime) ? runtime.podAnnotations : undefined],
  ];
  for (const [path, value] of sources) {
    if (value === undefined) continue;
    if (!isObject(value)) {
      problems.push(`${path}: must be an object of annotation name to string value`);
      continue;
    }
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string') problems.push(`${path}["${k}"]: annotation values are strings`);
      else out[k] = v;
    }
  }
  return out;
}

/**
 * Why a pod gets no interception, or undefined when it does: like Istio's CNI, only pods with a
 * sidecar are touched, i.e. with `sidecar.istio.io/status` (set by injection) or a truthy
 * `sidecar.istio.io/inject`; `sidecar.istio.io/interceptionMode: NONE` also opts out.
 */
export function skipReason(annotations: Record<string, string>): string | undefined {
  const status = annotations['sidecar.istio.io/status'];
  const inject = annotations['sidecar.istio.io/inject'];
  if (status === undefined && !(inject !== undefined && TRUTHY.has(inject.trim().toLowerCase()))) {
    return 'the pod has no sidecar (no sidecar.istio.io/status annotation and sidecar.istio.io/inject is not true)';
  }
  if (annotations[ANNOTATIONS.interceptionMode]?.trim().toUpperCase() === 'NONE') return `${ANNOTATIONS.interceptionMode} is NONE`;
  return undefined;
}

/**
 * Parses and validates one invocation: `env` is the process environment (CNI_COMMAND, CNI_CONTAINERID,
 * CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH) and `stdin` the network configuration JSON. Pure: it
 * reads nothing else. Returns the action, or the CNI error result to print.
 */
export function planCni(env: Record<string, string | undefined>, stdin: string): { plan: CniPlan } | { error: CniErrorResult } {
  let cniVersion = CNI_SPEC_VERSION;
  try {
    const command = env.CNI_COMMAND;
    if (command === undefined || command === '') throw new CniFailure(CniCode.INVALID_ENVIRONMENT, `CNI_COMMAND is not set (use one of ${COMMANDS.join(', ')})`);
    if (!(COMMANDS as readonly string[]).includes(command)) throw new CniFailure(CniCode.INVALID_ENVIRONMENT, `CNI_COMMAND "${command}" is not one of ${COMMANDS.join(', ')}`);
    const cmd = command as Command;
    if (cmd === 'VERSION') {
      return { plan: { cniVersion, subject: '', action: { kind: 'version', output: { cniVersion: CNI_SPEC_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] } } } };
    }

    // The environment first, as libcni's skeleton does: every missing variable at once.
    const required = ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH', ...(cmd === 'DEL' ? [] : ['CNI_NETNS'])];
    const missing = required.filter((k) => !env[k]);
    if (missing.length > 0) throw new CniFailure(CniCode.INVALID_ENVIRONMENT, `required environment variable${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not set for ${cmd}`);
    const containerId = env.CNI_CONTAINERID!;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(containerId)) throw new CniFailure(CniCode.INVALID_ENVIRONMENT, `CNI_CONTAINERID "${containerId}" must be alphanumeric, optionally followed by "_", "." or "-" and more`);
    const netns = env.CNI_NETNS ?? '';
    if (netns !== '' && !netns.startsWith('/')) throw new CniFailure(CniCode.INVALID_ENVIRONMENT, `CNI_NETNS "${netns}" must be an absolute path (like /var/run/netns/NAME or /proc/PID/ns/net)`);
    const cniArgs = parseCniArgs(env.CNI_ARGS);
    const pod = cniArgs.K8S_POD_NAME ? `${cniArgs.K8S_POD_NAMESPACE ?? ''}/${cniArgs.K8S_POD_NAME} (${containerId})` : containerId;

    // Then the configuration.
    if (Buffer.byteLength(stdin) > MAX_CONFIG_BYTES) throw new CniFailure(CniCode.DECODING_FAILURE, `the network configuration is larger than ${MAX_CONFIG_BYTES} bytes`);
    let config: unknown;
    try {
      config = JSON.parse(stdin);
    } catch (e) {
      throw new CniFailure(CniCode.DECODING_FAILURE, 'the network configuration on stdin is not valid JSON', e instanceof Error ? e.message : String(e));
    }
    if (!isObject(config)) throw new CniFailure(CniCode.INVALID_NETWORK_CONFIG, 'the network configuration must be a JSON object');
    if (typeof config.cniVersion !== 'string' || config.cniVersion === '') throw new CniFailure(CniCode.INVALID_NETWORK_CONFIG, 'the network configuration has no cniVersion');
    if (!SUPPORTED_VERSIONS.includes(config.cniVersion)) {
      throw new CniFailure(CniCode.INCOMPATIBLE_VERSION, `cniVersion "${config.cniVersion}" is not supported`, `supported versions: ${SUPPORTED_VERSIONS.join(', ')}`);
    }
    cniVersion = config.cniVersion;
    if (cmd === 'CHECK' && compareVersions(cniVersion, '0.4.0') < 0) throw new CniFailure(CniCode.INCOMPATIBLE_VERSION, `CHECK needs cniVersion 0.4.0 or later, the configuration says ${cniVersion}`);

    const problems: string[] = [];
    for (const k of ['name', 'type'] as const) if (config[k] !== undefined && typeof config[k] !== 'string') problems.push(`${k}: must be a string`);
    if (config.prevResult !== undefined && !isObject(config.prevResult)) problems.push('prevResult: must be an object (the previous plugin\'s result)');
    if (config.args !== undefined && !isObject(config.args)) problems.push('args: must be an object');
    if (config.runtimeConfig !== undefined && !isObject(config.runtimeConfig)) problems.push('runtimeConfig: must be an object');
    const defaults = interceptionFromJson(config.interception, 'interception');
    problems.push(...defaults.problems);
    const annotations = podAnnotations(config, problems);

    // DEL cleans up whatever ADD left, whatever the configuration says now: it needs no settings.
    if (cmd === 'DEL') return { plan: { cniVersion, subject: pod, action: { kind: 'del', ...(netns !== '' ? { netns } : {}) } } };
    if (problems.length > 0) throw new CniFailure(CniCode.INVALID_NETWORK_CONFIG, `invalid network configuration: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, problems.join('\n'));

    const skipped = skipReason(annotations);
    let settings: InterceptionSettings | undefined;
    if (skipped === undefined) settings = settingsFor(annotations, defaults.settings);
    const action: CniAction =
      cmd === 'ADD'
        ? { kind: 'add', netns, ...(settings ? { settings } : { skipped }), output: isObject(config.prevResult) ? config.prevResult : { cniVersion } }
        : { kind: 'check', netns, ...(settings ? { settings } : { skipped }) };
    return { plan: { cniVersion, subject: pod, action } };
  } catch (e) {
    if (e instanceof CniFailure) return { error: { cniVersion, code: e.code, msg: e.message, ...(e.details !== undefined ? { details: e.details } : {}) } };
    throw e;
  }
}

function settingsFor(annotations: Record<string, string>, defaults: InterceptionSettings): InterceptionSettings {
  const mode = annotations[ANNOTATIONS.interceptionMode];
  try {
    interceptionMode(annotations);
    return interceptionFromAnnotations(annotations, defaults);
  } catch (e) {
    if (!isMeshError(e)) throw e;
    const tproxy = mode?.trim().toUpperCase() === 'TPROXY';
    throw new CniFailure(tproxy ? CniCode.UNSUPPORTED_INTERCEPTION_MODE : CniCode.INVALID_ANNOTATION, tproxy ? 'TPROXY interception is not supported yet' : 'invalid pod annotations', e.message);
  }
}

/**
 * The one table turning a failure while acting into a CNI error: a busy lock or a timeout is worth
 * retrying (11), a failed iptables command is 100 with its stderr as details, a vanished namespace
 * is 104, anything else is internal (199).
 */
export function cniErrorFor(e: unknown, cniVersion: string): CniErrorResult {
  if (e instanceof CommandError) {
    const transient = e.exitCode === undefined || /xtables lock|temporarily unavailable/i.test(e.stderr);
    return { cniVersion, code: transient ? CniCode.TRY_AGAIN_LATER : CniCode.IPTABLES_FAILED, msg: `${e.command.join(' ')} failed`, details: e.message };
  }
  if (isMeshError(e, 'MESH_NOT_FOUND')) return { cniVersion, code: CniCode.NETNS_NOT_FOUND, msg: e.message };
  if (isMeshError(e, 'MESH_IO')) return { cniVersion, code: CniCode.IPTABLES_FAILED, msg: e.message };
  if (isMeshError(e, 'MESH_USAGE')) return { cniVersion, code: CniCode.INVALID_ENVIRONMENT, msg: e.message };
  return { cniVersion, code: CniCode.INTERNAL, msg: 'internal error', details: e instanceof Error ? e.stack ?? e.message : String(e) };
}

/** What the CLI prints and how it exits. */
export interface CniOutcome {
  stdout: string;
  stderr: string;
  exitCode: number;
}

function describe(report: NetnsReport): string {
  return typeof report.ipv6 === 'object' ? `; IPv6 skipped: ${report.ipv6.skipped}` : '';
}

/**
 * Runs one invocation end to end: plan, act through `effects`, and format the answer. ADD prints the
 * previous plugin's result unchanged (or `{"cniVersion"}` when first); CHECK and DEL print nothing
 * on success; every failure prints a CNI error result and exits 1. Never throws.
 */
export async function runCni(env: Record<string, string | undefined>, stdin: string, effects: CniEffects): Promise<CniOutcome> {
  let cniVersion = CNI_SPEC_VERSION;
  const fail = (error: CniErrorResult, log = ''): CniOutcome => ({ stdout: `${JSON.stringify(error)}\n`, stderr: log, exitCode: 1 });
  try {
    const planned = planCni(env, stdin);
    if ('error' in planned) return fail(planned.error);
    const { plan } = planned;
    cniVersion = plan.cniVersion;
    const a = plan.action;
    const log = (text: string) => `meltemi cni: ${env.CNI_COMMAND} ${plan.subject}: ${text}\n`;
    switch (a.kind) {
      case 'version':
        return { stdout: `${JSON.stringify(a.output)}\n`, stderr: '', exitCode: 0 };
      case 'add': {
        if (!a.settings) return { stdout: `${JSON.stringify(a.output)}\n`, stderr: log(`not intercepted: ${a.skipped}`), exitCode: 0 };
        const report = await effects.apply(a.netns, a.settings);
        return { stdout: `${JSON.stringify(a.output)}\n`, stderr: log(`interception installed in ${a.netns}${describe(report)}`), exitCode: 0 };
      }
      case 'check': {
        if (!a.settings) return { stdout: '', stderr: log(`not intercepted: ${a.skipped}`), exitCode: 0 };
        const problems = await effects.check(a.netns, a.settings);
        if (problems.length > 0) {
          return fail({ cniVersion, code: CniCode.RULES_DIFFER, msg: `the interception rules in ${a.netns} are not as expected (${problems.length} difference${problems.length > 1 ? 's' : ''})`, details: problems.join('\n') });
        }
        return { stdout: '', stderr: '', exitCode: 0 };
      }
      case 'del': {
        if (!a.netns) return { stdout: '', stderr: log('no network namespace given; nothing to remove'), exitCode: 0 };
        const report = await effects.remove(a.netns);
        return { stdout: '', stderr: report.ipv4 === 'done' || report.ipv6 === 'done' ? log(`interception removed from ${a.netns}`) : '', exitCode: 0 };
      }
    }
  } catch (e) {
    return fail(cniErrorFor(e, cniVersion));
  }
}

