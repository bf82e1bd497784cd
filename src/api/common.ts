// Checks shared by every kind: names, hosts, ports, durations, percentages, addresses, regexes, selectors.
import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';
import { tunable, Tunables } from '../shared/tunables.js';
import { Issues, asArray, asObject, asString, isObject, type FieldPath } from './diagnostics.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Istio accepts upper case in host names (they are compared case-insensitively). */
const HOST_LABEL = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const WILDCARD_HOST_LABEL = /^(\*|(\*|\*-)?[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function isDNS1123Label(s: string): boolean {
  return s.length > 0 && s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isDNS1123Subdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && s.split('.').every((l) => l.length <= 63 && DNS1123_LABEL.test(l));
}

function checkDomainLabels(domain: string, labels: string[]): string | undefined {
  const tld = labels[labels.length - 1]!;
  if (tld !== '' && /^[0-9]+$/.test(tld)) return `domain name "${domain}" invalid (top level domain "${tld}" cannot be all-numeric)`;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (i === labels.length - 1 && l === '' && labels.length > 1) return undefined; // trailing dot
    if (l.length > 63 || !HOST_LABEL.test(l)) return `domain name "${domain}" invalid (label "${l}" invalid)`;
  }
  return undefined;
}

/** A fully qualified domain name; returns the problem or undefined. */
export function fqdnProblem(domain: string): string | undefined {
  if (domain.length === 0) return 'empty domain name not allowed';
  if (domain.length > 255) return `domain name "${domain.slice(0, 40)}..." too long (max 255)`;
  return checkDomainLabels(domain, domain.split('.'));
}

/** A domain that may carry a wildcard in its first label only (`*.example.com`, `*`). */
export function wildcardDomainProblem(domain: string): string | undefined {
  if (domain.length === 0) return 'empty domain name not allowed';
  if (domain.length > 255) return `domain name "${domain.slice(0, 40)}..." too long (max 255)`;
  const dot = domain.indexOf('.');
  const first = dot < 0 ? domain : domain.slice(0, dot);
  if (first.length > 63 || !WILDCARD_HOST_LABEL.test(first)) return `domain name "${domain}" invalid (label "${first}" invalid)`;
  if (dot < 0) return undefined;
  return checkDomainLabels(domain, domain.slice(dot + 1).split('.'));
}

/** `ns/host` as used by Gateway servers and Sidecar egress: ns is `*`, `.`, `~` (Sidecar only) or a name. */
export function namespaceSlashHostProblem(value: string, allowNoNamespace: boolean, allowTilde = false): string | undefined {
  const parts = value.split('/');
  if (parts.length === 1) {
    if (!allowNoNamespace) return `host must be of form namespace/dnsName, got "${value}"`;
    return wildcardDomainProblem(value);
  }
  if (parts.length !== 2) return `host must be of form namespace/dnsName, got "${value}"`;
  const [ns, host] = parts as [string, string];
  if (ns.length === 0) return `namespace must not be empty in "${value}"`;
  if (ns !== '*' && ns !== '.' && !(allowTilde && ns === '~') && !isDNS1123Label(ns)) return `invalid namespace "${ns}" in "${value}"`;
  return wildcardDomainProblem(host);
}

export function portProblem(port: unknown): string | undefined {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return `port number ${String(port)} must be in the range 1..65535`;
  return undefined;
}

const DURATION = /^([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go duration (`1h30m`, `1.5s`, `300ms`, `0`) into milliseconds, as Istio's YAML decoder
 * does; returns undefined when it is not one.
 */
export function parseDuration(s: string): number | undefined {
  let str = s;
  let sign = 1;
  if (str.startsWith('-') || str.startsWith('+')) {
    if (str[0] === '-') sign = -1;
    str = str.slice(1);
  }
  if (str === '0') return 0;
  if (!DURATION.test(str)) return undefined;
  let total = 0;
  const re = /([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(str)) !== null) {
    if (m[1] === '' || m[1] === '.') return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return sign * total;
}

export interface DurationBounds {
  /** Smallest allowed value in ms (inclusive); Istio's default is 1 ms. */
  minMs?: number;
  maxMs?: number;
}

/**
 * Checks a duration field: Go syntax, at least 1 ms unless bounded otherwise, whole milliseconds.
 * Returns the value in ms when valid.
 */
export function checkDuration(issues: Issues, path: FieldPath, value: unknown, bounds: DurationBounds = {}, rule = 'common.duration'): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return undefined; // the structural check reports the type
  const ms = parseDuration(value);
  if (ms === undefined) {
    issues.error(path, rule, `invalid duration "${value}" (use a number with a unit: ns, us, ms, s, m or h, e.g. 10s)`);
    return undefined;
  }
  const min = bounds.minMs ?? 1;
  if (ms < min) {
    issues.error(path, rule, min === 1 ? `duration must be at least 1ms, got "${value}"` : `duration must be at least ${fmtMs(min)}, got "${value}"`);
    return undefined;
  }
  if (bounds.maxMs !== undefined && ms > bounds.maxMs) {
    issues.error(path, rule, `duration must be at most ${fmtMs(bounds.maxMs)}, got "${value}"`);
    return undefined;
  }
  if (Math.abs(ms - Math.round(ms)) > 1e-9) {
    issues.error(path, rule, `only durations to ms precision are supported, got "${value}"`);
    return undefined;
  }
  return ms;
}

function fmtMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Istio's Percent message: 0, or within [0.0001, 100]. */
export function checkPercentage(issues: Issues, path: FieldPath, percent: unknown): void {
  const o = asObject(percent);
  if (!o) return;
  const v = o.value;
  if (typeof v !== 'number') return;
  if (v < 0 || v > 100 || (v > 0 && v < 0.0001)) issues.error([...path, 'value'], 'common.percentage', `percentage ${v} is neither 0.0, nor in range [0.0001, 100.0]`);
}

export function checkIntPercent(issues: Issues, path: FieldPath, v: unknown): void {
  if (typeof v === 'number' && (v < 0 || v > 100)) issues.error(path, 'common.percentage', `percentage ${v} is not in range 0..100`);
}

/** An IPv4 or IPv6 address, or a CIDR block of either family. */
export function cidrProblem(value: string): string | undefined {
  // Node's isIP accepts IPv6 zone indices (fe80::1%eth0); they name a local interface, not an address.
  if (value.includes('%')) return `"${value}" is not a valid IP address or CIDR block (zone indices are not allowed)`;
  const slash = value.indexOf('/');
  if (slash < 0) return isIP(value) ? undefined : `"${value}" is not a valid IP address`;
  const ip = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  const family = isIP(ip);
  if (family === 0 || !/^[0-9]{1,3}$/.test(bits)) return `"${value}" is not a valid CIDR block`;
  const n = Number(bits);
  if (n > (family === 4 ? 32 : 128)) return `"${value}" is not a valid CIDR block`;
  return undefined;
}

export function ipProblem(value: string): string | undefined {
  if (value.includes('%')) return `"${value}" is not a valid IP address (zone indices are not allowed)`;
  return isIP(value) ? undefined : `"${value}" is not a valid IP address`;
}

export function headerNameProblem(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (!HTTP_TOKEN.test(name)) return `header name "${name}" is not a valid HTTP header name`;
  return undefined;
}

export interface CompiledRegex {
  /** Full-match test, linear time. */
  matches(input: string): boolean;
  programSize: number;
}

let re2js: typeof RE2JS | undefined;
/**
 * RE2JS, loaded the first time a regex is compiled (its CommonJS build, synchronously): a sidecar
 * whose configuration has no regex never pays its ~2.5 MiB of RSS.
 */
export function re2(): typeof RE2JS {
  return (re2js ??= (createRequire(import.meta.url)('re2js') as { RE2JS: typeof RE2JS }).RE2JS);
}

/**
 * Compiles a user regex with RE2 semantics (linear time, no lookaround, no backreferences).
 * Returns the problem instead of throwing; the size bounds are tunables.
 */
export function compileUserRegex(pattern: string): { regex?: CompiledRegex; problem?: string } {
  const maxBytes = tunable(Tunables.maxRegexBytes);
  if (Buffer.byteLength(pattern) > maxBytes) return { problem: `regex is longer than ${maxBytes} bytes` };
  let re: RE2JS;
  try {
    re = re2().compile(pattern);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { problem: `"${pattern.length > 60 ? pattern.slice(0, 57) + '...' : pattern}" is not a valid RE2 regex: ${msg}` };
  }
  // RE2JS keeps its compiled program on an internal field; its instruction count is RE2's program size.
  const prog = (re as unknown as { re2Input?: { prog?: { inst?: unknown[] } } }).re2Input?.prog?.inst;
  const programSize = Array.isArray(prog) ? prog.length : pattern.length;
  const maxSize = tunable(Tunables.maxRegexProgramSize);
  if (programSize > maxSize) return { problem: `regex program size ${programSize} exceeds the limit of ${maxSize}` };
  return { regex: { matches: (s: string) => re.matches(s), programSize } };
}

export function checkRegex(issues: Issues, path: FieldPath, pattern: unknown, rule = 'common.regex'): void {
  if (typeof pattern !== 'string') return;
  const { problem } = compileUserRegex(pattern);
  if (problem) issues.error(path, rule, problem);
}

/**
 * Istio's StringMatch: exactly one of exact, prefix, regex. `allowed` narrows the kinds (query
 * parameters have no prefix). An empty match object is reported by the caller where it matters.
 */
export function checkStringMatch(issues: Issues, path: FieldPath, m: unknown, allowed: ReadonlyArray<'exact' | 'prefix' | 'regex'> = ['exact', 'prefix', 'regex']): void {
  const o = asObject(m);
  if (!o) return;
  const set = (['exact', 'prefix', 'regex'] as const).filter((k) => o[k] !== undefined);
  if (set.length > 1) issues.error(path, 'common.string-match-oneof', `only one of ${set.join(', ')} may be set`);
  for (const k of set) if (!allowed.includes(k)) issues.error([...path, k], 'common.string-match-oneof', `"${k}" is not supported here; use ${allowed.join(' or ')}`);
  if (o.regex !== undefined) checkRegex(issues, [...path, 'regex'], o.regex);
}

/** Label keys are Kubernetes qualified names (optional DNS subdomain prefix); values ≤ 63 chars. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDNS1123Subdomain(prefix)) return `label key "${key}" has an invalid prefix (must be a DNS-1123 subdomain)`;
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) return `label key "${key}" is invalid (name part must be at most 63 alphanumeric characters, '-', '_' or '.')`;
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63 || !LABEL_VALUE.test(value)) return `label value "${value.length > 40 ? value.slice(0, 37) + '...' : value}" is invalid (at most 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric)`;
  return undefined;
}

export function checkLabels(issues: Issues, path: FieldPath, labels: unknown, rule = 'common.labels'): void {
  if (!isObject(labels)) return;
  for (const [k, v] of Object.entries(labels)) {
    const kp = labelKeyProblem(k);
    if (kp) issues.error([...path, k], rule, kp);
    if (typeof v === 'string') {
      const vp = labelValueProblem(v);
      if (vp) issues.error([...path, k], rule, vp);
    }
  }
}

/**
 * exportTo as Maistra 2.0 serves it (MAISTRA-1967 backported namespace names): `.` (own namespace),
 * `*` (every namespace) or namespace names; `~` (no namespace) for ServiceEntry only. `*` and `~`
 * stand alone; entries are not repeated.
 */
export function checkExportTo(issues: Issues, path: FieldPath, exportTo: unknown, isServiceEntry = false): void {
  const list = asArray(exportTo);
  const seen = new Set<string>();
  list.forEach((v, i) => {
    if (typeof v !== 'string') return;
    if (seen.has(v)) issues.error([...path, i], 'common.export-to', `duplicate entry "${v}" in exportTo`);
    seen.add(v);
    if (v === '~' && !isServiceEntry) issues.error([...path, i], 'common.export-to', '"~" (export to no namespace) is only allowed for ServiceEntry');
    else if ((v === '*' || v === '~') && list.length > 1) issues.error([...path, i], 'common.export-to', `"${v}" cannot be combined with other exportTo entries`);
    else if (v !== '.' && v !== '*' && v !== '~' && !isDNS1123Label(v)) issues.error([...path, i], 'common.export-to', `exportTo entries are ".", "*" or namespace names, got "${v}"`);
  });
}

/** A workload selector's labels: present and non-empty when the selector is given. */
export function checkWorkloadSelector(issues: Issues, path: FieldPath, selector: unknown, field = 'labels'): void {
  const o = asObject(selector);
  if (!o) return;
  checkLabels(issues, [...path, field], o[field]);
}

export function stringAt(o: unknown, key: string): string | undefined {
  return asString(asObject(o)?.[key]);
}
