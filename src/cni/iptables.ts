// Istio's REDIRECT-mode traffic interception as iptables nat rules: settings from pod annotations, the `iptables-restore` text that installs them, and the parsing of `iptables-save` that removes and checks them.
import { MeshError } from '../shared/errors.js';
import { parseCidr, type Cidr } from './cidr.js';

/**
 * What a pod's interception looks like (Istio's `istio-iptables` flags, REDIRECT mode).
 * Ports are TCP ports 1..65535; IP ranges are CIDR blocks of either family.
 */
export interface InterceptionSettings {
  /** Connections opened by this UID (the sidecar) are never redirected back into it. */
  proxyUid: number;
  /** Same, for this GID. */
  proxyGid: number;
  /** Where inbound connections are redirected (Istio: 15006). */
  inboundCapturePort: number;
  /** Where outbound connections are redirected (Istio: 15001). */
  outboundCapturePort: number;
  /** Inbound destination ports redirected to the proxy: `'*'` for all, or a list (`[]`: none). */
  includeInboundPorts: '*' | number[];
  /** Inbound ports never redirected; 22, 15090, 15021 and 15020 are always added. */
  excludeInboundPorts: number[];
  /** Outbound destinations redirected: `'*'` for all, or a list of CIDR blocks (`[]`: none). */
  includeOutboundIpRanges: '*' | string[];
  /** Outbound destinations never redirected. */
  excludeOutboundIpRanges: string[];
  /** Outbound destination ports never redirected. */
  excludeOutboundPorts: number[];
}

/** Istio's defaults: proxy UID/GID 1337, capture on 15006 and 15001, every port and address captured. */
export const DEFAULT_INTERCEPTION: InterceptionSettings = Object.freeze({
  proxyUid: 1337,
  proxyGid: 1337,
  inboundCapturePort: 15006,
  outboundCapturePort: 15001,
  includeInboundPorts: '*',
  excludeInboundPorts: Object.freeze([]) as unknown as number[],
  includeOutboundIpRanges: '*',
  excludeOutboundIpRanges: Object.freeze([]) as unknown as string[],
  excludeOutboundPorts: Object.freeze([]) as unknown as number[],
});

/**
 * Inbound ports the sidecar itself serves and that must reach it unredirected: Envoy's Prometheus
 * port, the health port and the agent's status port (Istio's injection template always puts them in
 * `excludeInboundPorts`).
 */
export const ALWAYS_EXCLUDED_INBOUND_PORTS: readonly number[] = Object.freeze([15090, 15021, 15020]);

/** With `'*'` inbound capture Istio never redirects SSH, so a pod stays reachable for debugging. */
const SSH_PORT = 22;

/** Our nat chains, in the order they are declared. Nothing else in the table is ever touched. */
export const CHAINS = Object.freeze(['ISTIO_INBOUND', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT', 'ISTIO_REDIRECT'] as const);
export type ChainName = (typeof CHAINS)[number];
const OUR_CHAINS: ReadonlySet<string> = new Set(CHAINS);

/** The pod annotations read (Istio 1.6 names). */
export const ANNOTATIONS = Object.freeze({
  includeOutboundIpRanges: 'traffic.sidecar.istio.io/includeOutboundIPRanges',
  excludeOutboundIpRanges: 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  includeInboundPorts: 'traffic.sidecar.istio.io/includeInboundPorts',
  excludeInboundPorts: 'traffic.sidecar.istio.io/excludeInboundPorts',
  excludeOutboundPorts: 'traffic.sidecar.istio.io/excludeOutboundPorts',
  proxyUid: 'sidecar.istio.io/proxyUID',
  proxyGid: 'sidecar.istio.io/proxyGID',
  statusPort: 'status.sidecar.istio.io/port',
  interceptionMode: 'sidecar.istio.io/interceptionMode',
});

// ---------------------------------------------------------------------------------------------
// Settings: from annotations, and validation of a settings object given as JSON.

/** What `sidecar.istio.io/interceptionMode` asks for; only the ones Meltemi implements. */
export type InterceptionMode = 'REDIRECT' | 'NONE';

/**
 * The interception mode a pod's annotations ask for: REDIRECT when absent. `NONE` means the pod
 * wants no rules at all. Throws MESH_INVALID_CONFIG for TPROXY (not implemented: refusing is better
 * than pretending, since the proxy would then see rewritten destinations it does not expect) and for
 * anything else.
 */
export function interceptionMode(annotations: Record<string, string>): InterceptionMode {
  const raw = annotations[ANNOTATIONS.interceptionMode];
  if (raw === undefined) return 'REDIRECT';
  const mode = raw.trim().toUpperCase();
  if (mode === 'REDIRECT' || mode === 'NONE') return mode;
  if (mode === 'TPROXY') {
    throw new MeshError('MESH_INVALID_CONFIG', `annotation ${ANNOTATIONS.interceptionMode}: "${raw}" is not supported yet (Meltemi implements REDIRECT interception only; remove the annotation or set it to REDIRECT)`);
  }
  throw new MeshError('MESH_INVALID_CONFIG', `annotation ${ANNOTATIONS.interceptionMode}: "${raw}" is not an interception mode (use REDIRECT, or NONE for no interception)`);
}

/**
 * The settings for one pod: `defaults` overridden by the `traffic.sidecar.istio.io/*` annotations,
 * `sidecar.istio.io/proxyUID` (which also sets the GID unless `sidecar.istio.io/proxyGID` is given,
 * as `istio-iptables` does) and `status.sidecar.istio.io/port` (added to the excluded inbound ports).
 * An annotation replaces the default; it does not add to it. Throws one MESH_INVALID_CONFIG naming
 * every bad annotation, its value and the rule it breaks; also throws when the interception mode is
 * not REDIRECT (see `interceptionMode`).
 */
export function interceptionFromAnnotations(annotations: Record<string, string>, defaults: InterceptionSettings = DEFAULT_INTERCEPTION): InterceptionSettings {
  const mode = interceptionMode(annotations);
  if (mode === 'NONE') {
    throw new MeshError('MESH_INVALID_CONFIG', `annotation ${ANNOTATIONS.interceptionMode}: "NONE" asks for no interception, so there are no rules to build`);
  }
  const problems: string[] = [];
  const out: InterceptionSettings = cloneSettings(defaults);
  const read = (name: string): string | undefined => annotations[name];

  const includeIn = read(ANNOTATIONS.includeInboundPorts);
  if (includeIn !== undefined) {
    if (includeIn.trim() === '*') out.includeInboundPorts = '*';
    else out.includeInboundPorts = portList(ANNOTATIONS.includeInboundPorts, includeIn, problems);
  }
  const excludeIn = read(ANNOTATIONS.excludeInboundPorts);
  if (excludeIn !== undefined) out.excludeInboundPorts = portList(ANNOTATIONS.excludeInboundPorts, excludeIn, problems);
  const excludeOutPorts = read(ANNOTATIONS.excludeOutboundPorts);
  if (excludeOutPorts !== undefined) out.excludeOutboundPorts = portList(ANNOTATIONS.excludeOutboundPorts, excludeOutPorts, problems);

  const includeOut = read(ANNOTATIONS.includeOutboundIpRanges);
  if (includeOut !== undefined) {
    if (includeOut.trim() === '*') out.includeOutboundIpRanges = '*';
    else out.includeOutboundIpRanges = cidrList(ANNOTATIONS.includeOutboundIpRanges, includeOut, problems).map((c) => c.text);
  }
  const excludeOut = read(ANNOTATIONS.excludeOutboundIpRanges);
  if (excludeOut !== undefined) out.excludeOutboundIpRanges = cidrList(ANNOTATIONS.excludeOutboundIpRanges, excludeOut, problems).map((c) => c.text);

  const uid = read(ANNOTATIONS.proxyUid);
  if (uid !== undefined) {
    const n = idValue(ANNOTATIONS.proxyUid, uid, problems);
    if (n !== undefined) out.proxyUid = out.proxyGid = n;
  }
  const gid = read(ANNOTATIONS.proxyGid);
  if (gid !== undefined) {
    const n = idValue(ANNOTATIONS.proxyGid, gid, problems);
    if (n !== undefined) out.proxyGid = n;
  }
  const status = read(ANNOTATIONS.statusPort);
  if (status !== undefined && status.trim() !== '0') {
    // Istio: status port 0 turns the status server off, so there is nothing to exclude.
    const [port] = portList(ANNOTATIONS.statusPort, status, problems, 'a single TCP port 1..65535, or 0 for no status port');
    if (port !== undefined && !out.excludeInboundPorts.includes(port)) out.excludeInboundPorts = [...out.excludeInboundPorts, port];
  }
  if (problems.length > 0) throw new MeshError('MESH_INVALID_CONFIG', `invalid interception annotations:\n  ${problems.join('\n  ')}`);
  return out;
}

function cloneSettings(s: InterceptionSettings): InterceptionSettings {
  return {
    ...s,
    includeInboundPorts: s.includeInboundPorts === '*' ? '*' : [...s.includeInboundPorts],
    excludeInboundPorts: [...s.excludeInboundPorts],
    includeOutboundIpRanges: s.includeOutboundIpRanges === '*' ? '*' : [...s.includeOutboundIpRanges],
    excludeOutboundIpRanges: [...s.excludeOutboundIpRanges],
    excludeOutboundPorts: [...s.excludeOutboundPorts],
  };
}

function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function portList(name: string, value: string, problems: string[], rule = 'a comma-separated list of TCP ports 1..65535'): number[] {
  const out: number[] = [];
  for (const item of splitList(value)) {
    const n = /^[0-9]{1,5}$/.test(item) ? Number(item) : NaN;
    if (!(n >= 1 && n <= 65535)) problems.push(`annotation ${name}: "${item}" in "${value}" is not a port (the value must be ${rule})`);
    else if (!out.includes(n)) out.push(n);
  }
  return out;
}

function cidrList(name: string, value: string, problems: string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const item of splitList(value)) {
    const c = item === '*' ? `"*" is only allowed alone, and only in ${ANNOTATIONS.includeOutboundIpRanges}` : parseCidr(item);
    if (typeof c === 'string') problems.push(`annotation ${name}: ${c} (the value must be a comma-separated list of CIDR blocks like 10.0.0.0/8,2001:db8::/32)`);
    else if (!out.some((o) => o.text === c.text)) out.push(c);
  }
  return out;
}

const MAX_ID = 4294967294; // 2^32-2: (uid_t)-1 means "no change" to the kernel

function idValue(name: string, value: string, problems: string[]): number | undefined {
  const t = value.trim();
  const n = /^[0-9]{1,10}$/.test(t) ? Number(t) : NaN;
  if (!(n >= 0 && n <= MAX_ID)) {
    problems.push(`annotation ${name}: "${value}" is not a user or group id (the value must be an integer 0..${MAX_ID})`);
    return undefined;
  }
  return n;
}

/**
 * Checks a settings object that arrived as JSON (e.g. the CNI network config's `interception`
 * field): every field optional, unknown fields refused. Returns `defaults` with the given fields
 * applied, and every problem found with its field path under `path`.
 */
export function interceptionFromJson(value: unknown, path: string, defaults: InterceptionSettings = DEFAULT_INTERCEPTION): { settings: InterceptionSettings; problems: string[] } {
  const problems: string[] = [];
  const settings = cloneSettings(defaults);
  if (value === undefined) return { settings, problems };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { settings, problems: [`${path}: must be an object`] };
  const o = value as Record<string, unknown>;
  const known = new Set(Object.keys(DEFAULT_INTERCEPTION));
  for (const k of Object.keys(o)) if (!known.has(k)) problems.push(`${path}.${k}: unknown field (known: ${[...known].join(', ')})`);
  const id = (k: 'proxyUid' | 'proxyGid') => {
    const v = o[k];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_ID) problems.push(`${path}.${k}: must be an integer 0..${MAX_ID}`);
    else settings[k] = v;
  };
  const port = (k: 'inboundCapturePort' | 'outboundCapturePort') => {
    const v = o[k];
    if (v === undefined) return;
    if (!isPort(v)) problems.push(`${path}.${k}: must be a port 1..65535`);
    else settings[k] = v;
  };
  const ports = (k: 'excludeInboundPorts' | 'excludeOutboundPorts' | 'includeInboundPorts', allowStar: boolean) => {
    const v = o[k];
    if (v === undefined) return;
    if (allowStar && v === '*') {
      settings[k as 'includeInboundPorts'] = '*';
      return;
    }
    if (!Array.isArray(v) || !v.every(isPort)) problems.push(`${path}.${k}: must be ${allowStar ? '"*" or ' : ''}a list of ports 1..65535`);
    else settings[k] = [...new Set(v)];
  };
  const ranges = (k: 'includeOutboundIpRanges' | 'excludeOutboundIpRanges', allowStar: boolean) => {
    const v = o[k];
    if (v === undefined) return;
    if (allowStar && v === '*') {
      settings[k as 'includeOutboundIpRanges'] = '*';
      return;
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      problems.push(`${path}.${k}: must be ${allowStar ? '"*" or ' : ''}a list of CIDR blocks`);
      return;
    }
    const out: string[] = [];
    (v as string[]).forEach((x, i) => {
      const c = parseCidr(x);
      if (typeof c === 'string') problems.push(`${path}.${k}[${i}]: ${c}`);
      else if (!out.includes(c.text)) out.push(c.text);
    });
    settings[k] = out;
  };
  id('proxyUid');
  id('proxyGid');
  port('inboundCapturePort');
  port('outboundCapturePort');
  ports('includeInboundPorts', true);
  ports('excludeInboundPorts', false);
  ports('excludeOutboundPorts', false);
  ranges('includeOutboundIpRanges', true);
  ranges('excludeOutboundIpRanges', false);
  return { settings, problems };
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

// ---------------------------------------------------------------------------------------------
// Rules.

/**
 * One address family's rules, each written exactly as `iptables-save` prints it (`-A CHAIN …`), so
 * what we install can be compared with what the kernel reports.
 */
export interface NatRules {
  /** Rules of each of our chains, in order. */
  chains: Record<ChainName, string[]>;
  /** The jumps into our chains from the built-in PREROUTING and OUTPUT chains. */
  jumps: string[];
}

interface FamilyAddresses {
  family: 4 | 6;
  /** The pod's own loopback address: traffic to it is container-to-container and is not captured. */
  localhost: string;
  /** The source the proxy binds when it forwards inbound traffic to the app (inbound passthrough). */
  passthroughSource: string;
}

const V4: FamilyAddresses = { family: 4, localhost: '127.0.0.1/32', passthroughSource: '127.0.0.6/32' };
const V6: FamilyAddresses = { family: 6, localhost: '::1/128', passthroughSource: '::6/128' };

/**
 * The rules of one family, in the order `istio-iptables` installs them (REDIRECT mode):
 *
 * - ISTIO_REDIRECT / ISTIO_IN_REDIRECT hold the one REDIRECT each, to the outbound / inbound port.
 * - PREROUTING sends TCP to ISTIO_INBOUND, which returns the excluded ports and sends the rest to
 *   ISTIO_IN_REDIRECT (with a port list: only those ports).
 * - OUTPUT sends TCP to ISTIO_OUTPUT, which in turn: returns the excluded outbound ports; returns the
 *   proxy's inbound-passthrough connections (source 127.0.0.6 on lo); for the proxy UID and GID,
 *   sends its connections to the pod's own non-loopback address on lo to ISTIO_IN_REDIRECT (an app
 *   calling its own service through the mesh comes back in as inbound), returns anybody else's
 *   traffic on lo (an app calling itself directly), and returns everything else the proxy sends (no
 *   loop); returns traffic to localhost and to excluded ranges; and sends the included ranges (or
 *   everything) to ISTIO_REDIRECT.
 *
 * Ranges of the other family are ignored. Pure: the same settings give the same text.
 */
export function natRules(settings: InterceptionSettings, family: 4 | 6): NatRules {
  const a = family === 4 ? V4 : V6;
  const chains: Record<ChainName, string[]> = { ISTIO_INBOUND: [], ISTIO_IN_REDIRECT: [], ISTIO_OUTPUT: [], ISTIO_REDIRECT: [] };
  const jumps: string[] = [];
  const add = (chain: ChainName, rule: string) => chains[chain].push(`-A ${chain} ${rule}`);

  add('ISTIO_REDIRECT', `-p tcp -j REDIRECT --to-ports ${settings.outboundCapturePort}`);
  add('ISTIO_IN_REDIRECT', `-p tcp -j REDIRECT --to-ports ${settings.inboundCapturePort}`);

  // Inbound.
  const excludedIn = unique([...settings.excludeInboundPorts, ...ALWAYS_EXCLUDED_INBOUND_PORTS]);
  if (settings.includeInboundPorts === '*') {
    for (const p of unique([SSH_PORT, ...excludedIn])) add('ISTIO_INBOUND', `-p tcp -m tcp --dport ${p} -j RETURN`);
    add('ISTIO_INBOUND', '-p tcp -j ISTIO_IN_REDIRECT');
  } else {
    // Istio ignores the exclusions when a list is given; we subtract them so that the proxy's own
    // ports stay reachable even when someone lists them.
    for (const p of unique(settings.includeInboundPorts)) if (!excludedIn.includes(p)) add('ISTIO_INBOUND', `-p tcp -m tcp --dport ${p} -j ISTIO_IN_REDIRECT`);
  }
  if (chains.ISTIO_INBOUND.length > 0) jumps.push('-A PREROUTING -p tcp -j ISTIO_INBOUND');

  // Outbound.
  const include = settings.includeOutboundIpRanges === '*' ? '*' : familyRanges(settings.includeOutboundIpRanges, family);
  const exclude = familyRanges(settings.excludeOutboundIpRanges, family);
  const loopbackIncluded = include !== '*' && include.some((c) => c.loopback);
  for (const p of unique(settings.excludeOutboundPorts)) add('ISTIO_OUTPUT', `-p tcp -m tcp --dport ${p} -j RETURN`);
  add('ISTIO_OUTPUT', `-s ${a.passthroughSource} -o lo -j RETURN`);
  for (const [kind, id] of [['uid', settings.proxyUid], ['gid', settings.proxyGid]] as const) {
    add('ISTIO_OUTPUT', `! -d ${a.localhost} -o lo -m owner --${kind}-owner ${id} -j ISTIO_IN_REDIRECT`);
    // When loopback is explicitly included, the app's own loopback traffic is meant to be captured.
    if (!loopbackIncluded) add('ISTIO_OUTPUT', `-o lo -m owner ! --${kind}-owner ${id} -j RETURN`);
    add('ISTIO_OUTPUT', `-m owner --${kind}-owner ${id} -j RETURN`);
  }
  add('ISTIO_OUTPUT', `-d ${a.localhost} -j RETURN`);
  for (const c of exclude) add('ISTIO_OUTPUT', `-d ${c.text} -j RETURN`);
  if (include === '*') {
    add('ISTIO_OUTPUT', '-j ISTIO_REDIRECT');
  } else if (include.length > 0) {
    for (const c of include) add('ISTIO_OUTPUT', `-d ${c.text} -j ISTIO_REDIRECT`);
    add('ISTIO_OUTPUT', '-j RETURN');
  }
  jumps.push('-A OUTPUT -p tcp -j ISTIO_OUTPUT');
  return { chains, jumps };
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

function familyRanges(ranges: readonly string[], family: 4 | 6): Cidr[] {
  const out: Cidr[] = [];
  for (const r of ranges) {
    const c = parseCidr(r);
    // Settings built by interceptionFromAnnotations/FromJson are already valid; a hand-made object
    // with a bad range must not silently capture less than asked.
    if (typeof c === 'string') throw new MeshError('MESH_INVALID_CONFIG', `interception IP range: ${c}`);
    if (c.family === family && !out.some((o) => o.text === c.text)) out.push(c);
  }
  return out;
}

/** Renders rules as one `iptables-restore --noflush` transaction: declare (and so flush) our chains, fill them, then add the jumps. */
export function restoreText(rules: NatRules, before: readonly string[] = []): string {
  const lines = ['*nat', ...before, ...CHAINS.map((c) => `:${c} - [0:0]`)];
  for (const c of CHAINS) lines.push(...rules.chains[c]);
  lines.push(...rules.jumps, 'COMMIT', '');
  return lines.join('\n');
}

/**
 * `iptables-restore --noflush` and `ip6tables-restore --noflush` input installing the interception:
 * it creates our four chains (flushing them if they exist), fills them, and appends the jumps from
 * PREROUTING and OUTPUT. Nothing else in the table is changed. Applied on a table that already has
 * our jumps it would add them twice: use `reapplyText` with the current `iptables-save` output then.
 * Throws MESH_INVALID_CONFIG when a range in `settings` is not a CIDR block.
 */
export function interceptionRules(settings: InterceptionSettings): { ipv4: string; ipv6: string } {
  return { ipv4: restoreText(natRules(settings, 4)), ipv6: restoreText(natRules(settings, 6)) };
}

// ---------------------------------------------------------------------------------------------
// Reading `iptables-save -t nat`.

/** The nat table as `iptables-save` printed it: every chain declared, and each chain's rules (`-A …` lines) in order. */
export interface SavedNat {
  chains: Map<string, string[]>;
}

/** Parses `iptables-save -t nat` output (other tables in the text are ignored). */
export function parseNatSave(text: string): SavedNat {
  const chains = new Map<string, string[]>();
  let inNat = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      inNat = line === '*nat';
      continue;
    }
    if (!inNat) continue;
    if (line === 'COMMIT') {
      inNat = false;
      continue;
    }
    if (line.startsWith(':')) {
      const name = line.slice(1).split(/\s+/)[0]!;
      if (!chains.has(name)) chains.set(name, []);
      continue;
    }
    const m = /^(?:\[\d+:\d+\]\s+)?-A\s+(\S+)\s/.exec(line);
    if (m) {
      const chain = m[1]!;
      const rule = line.replace(/^\[\d+:\d+\]\s+/, '');
      if (!chains.has(chain)) chains.set(chain, []);
      chains.get(chain)!.push(rule);
    }
  }
  return { chains };
}

/** Rules outside our chains that jump to one of them (what DEL and re-ADD must delete). */
function ourJumps(saved: SavedNat): string[] {
  const out: string[] = [];
  for (const [chain, rules] of saved.chains) {
    if (OUR_CHAINS.has(chain)) continue;
    for (const r of rules) {
      const target = /\s-[jg]\s+(\S+)/.exec(r)?.[1];
      if (target !== undefined && OUR_CHAINS.has(target)) out.push(r);
    }
  }
  return out;
}

/**
 * Restore input that installs `rules` over whatever is there now (`saveText` is the family's
 * `iptables-save -t nat`): it deletes our existing jumps in the same transaction, so applying twice
 * leaves exactly one set of rules and there is no moment without them.
 */
export function reapplyText(rules: NatRules, saveText: string): string {
  return restoreText(rules, ourJumps(parseNatSave(saveText)).map((r) => r.replace(/^-A /, '-D ')));
}

/**
 * Restore input that removes exactly our chains and the jumps into them, given the current
 * `iptables-save -t nat` text; `undefined` when none of it is there (nothing to do).
 */
export function removalRules(saveText: string): string | undefined {
  const saved = parseNatSave(saveText);
  const jumps = ourJumps(saved);
  const present = CHAINS.filter((c) => saved.chains.has(c));
  if (jumps.length === 0 && present.length === 0) return undefined;
  // Jumps first, then empty every chain (they reference each other), then delete them.
  const lines = ['*nat', ...jumps.map((r) => r.replace(/^-A /, '-D ')), ...present.map((c) => `-F ${c}`), ...present.map((c) => `-X ${c}`), 'COMMIT', ''];
  return lines.join('\n');
}

/**
 * Compares the table (`iptables-save -t nat` text) with the rules expected: each of our chains must
 * hold exactly the expected rules in order, each expected jump must appear once, and no other rule
 * may jump into our chains. Returns every difference; empty when the table is as expected.
 */
export function checkRules(expected: NatRules, saveText: string, label = 'nat'): string[] {
  const saved = parseNatSave(saveText);
  const problems: string[] = [];
  for (const c of CHAINS) {
    const have = saved.chains.get(c);
    if (!have) {
      problems.push(`${label}: chain ${c} is missing`);
      continue;
    }
    const want = expected.chains[c];
    if (have.length !== want.length || have.some((r, i) => r !== want[i])) {
      const missing = want.filter((r) => !have.includes(r));
      const extra = have.filter((r) => !want.includes(r));
      const detail = [...missing.map((r) => `missing "${r}"`), ...extra.map((r) => `unexpected "${r}"`)];
      problems.push(`${label}: chain ${c} differs: ${detail.length > 0 ? detail.join('; ') : 'same rules in another order'}`);
    }
  }
  const jumps = ourJumps(saved);
  for (const j of expected.jumps) {
    const n = jumps.filter((r) => r === j).length;
    if (n === 0) problems.push(`${label}: jump "${j}" is missing`);
    else if (n > 1) problems.push(`${label}: jump "${j}" is present ${n} times (expected once)`);
  }
  for (const j of jumps) if (!expected.jumps.includes(j)) problems.push(`${label}: unexpected jump "${j}"`);
  return problems;
}

/** Our chains and jumps still present in the table (empty after a clean removal). */
export function remainingInterception(saveText: string): string[] {
  const saved = parseNatSave(saveText);
  return [...CHAINS.filter((c) => saved.chains.has(c)).map((c) => `chain ${c}`), ...ourJumps(saved)];
}
