// Envoy's access log format language (`%REQ(X?Y):N%`, `%START_TIME(fmt)%`, …) compiled once per config into text and JSON line formatters.
//
// Semantics follow Envoy's file access log as Istio 1.6 configures it
// (https://www.envoyproxy.io/docs/envoy/v1.14.1/configuration/observability/access_log):
// a `-` for every value that is not set or empty; header names case-insensitive; `:N` truncates a
// header (or metadata) value to N characters; unknown commands are refused when the format is
// compiled, never when a line is written. Compiled formatters do no parsing, regex or JSON.parse
// per line: each command is a small function chosen at compile time.
import { MeshError } from '../../shared/errors.js';
import { formatFlags } from './response-flags.js';

/**
 * Istio 1.6's text access log format (`meshConfig.accessLogEncoding: TEXT` with no
 * `accessLogFormat`): pilot/pkg/networking/core/v1alpha3/listener.go `EnvoyTextLogFormat`, tag 1.6.14.
 */
export const ISTIO_TEXT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '"%DYNAMIC_METADATA(istio.mixer:status)%" "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% ' +
  '%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% ' +
  '%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/** Envoy's own default, used when a file access log has no format at all. */
export const ENVOY_DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" ' +
  '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/**
 * Istio 1.6's JSON access log fields (`accessLogEncoding: JSON`, listener.go `EnvoyJSONLogFormat`),
 * in that source's order. Istio sends them as `json_format`, which Envoy renders untyped: every
 * value a string, `-` when unknown (use `{ typed: false }`).
 */
export const ISTIO_JSON_ACCESS_LOG_FORMAT: ReadonlyArray<readonly [string, string]> = [
  ['start_time', '%START_TIME%'],
  ['route_name', '%ROUTE_NAME%'],
  ['method', '%REQ(:METHOD)%'],
  ['path', '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%'],
  ['protocol', '%PROTOCOL%'],
  ['response_code', '%RESPONSE_CODE%'],
  ['response_flags', '%RESPONSE_FLAGS%'],
  ['bytes_received', '%BYTES_RECEIVED%'],
  ['bytes_sent', '%BYTES_SENT%'],
  ['duration', '%DURATION%'],
  ['upstream_service_time', '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%'],
  ['x_forwarded_for', '%REQ(X-FORWARDED-FOR)%'],
  ['user_agent', '%REQ(USER-AGENT)%'],
  ['request_id', '%REQ(X-REQUEST-ID)%'],
  ['authority', '%REQ(:AUTHORITY)%'],
  ['upstream_host', '%UPSTREAM_HOST%'],
  ['upstream_cluster', '%UPSTREAM_CLUSTER%'],
  ['upstream_local_address', '%UPSTREAM_LOCAL_ADDRESS%'],
  ['downstream_local_address', '%DOWNSTREAM_LOCAL_ADDRESS%'],
  ['downstream_remote_address', '%DOWNSTREAM_REMOTE_ADDRESS%'],
  ['requested_server_name', '%REQUESTED_SERVER_NAME%'],
  ['istio_policy_status', '%DYNAMIC_METADATA(istio.mixer:status)%'],
  ['upstream_transport_failure_reason', '%UPSTREAM_TRANSPORT_FAILURE_REASON%'],
] as const;

/**
 * What the router knows about one finished request (or TCP connection), read by compiled formatters.
 * Implement it on an object the router already has (a class with these methods), not a fresh
 * object of closures per request. Addresses are `ip:port` (`[v6]:port`); unknown values undefined.
 */
export interface AccessLogRecord {
  /** Request (or connection) start, ms since the Unix epoch; a fraction carries sub-ms precision. */
  readonly startTimeMs: number;
  /**
   * A request header by lower-case name, including the pseudo-headers `:method`, `:path`,
   * `:authority` (HTTP/1.1's Host) and `:scheme`; undefined when absent. Envoy 1.14 logs the first
   * value of a repeated header.
   */
  requestHeader(lowerName: string): string | undefined;
  /** A response header by lower-case name (as sent downstream). */
  responseHeader(lowerName: string): string | undefined;
  /** A response trailer by lower-case name. */
  responseTrailer(lowerName: string): string | undefined;
  /** `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`; undefined for TCP. */
  readonly protocol?: string;
  /** Status sent downstream; 0 when none was (printed as `0`, as Envoy does). */
  readonly responseCode: number;
  readonly responseCodeDetails?: string;
  readonly connectionTerminationDetails?: string;
  /** Response flag bits (response-flags.ts). */
  readonly responseFlags: number;
  /** Body bytes received from downstream. */
  readonly bytesReceived: number;
  /** Body bytes sent downstream. */
  readonly bytesSent: number;
  /** Start to last byte sent, ms; undefined while unfinished. */
  readonly durationMs?: number;
  /** Start to last request byte received, ms. */
  readonly requestDurationMs?: number;
  /** Start to first response byte from upstream, ms. */
  readonly responseDurationMs?: number;
  /** First to last response byte sent downstream, ms. */
  readonly responseTxDurationMs?: number;
  readonly upstreamHost?: string;
  readonly upstreamCluster?: string;
  readonly upstreamLocalAddress?: string;
  readonly upstreamTransportFailureReason?: string;
  readonly downstreamLocalAddress?: string;
  readonly downstreamRemoteAddress?: string;
  /** SNI of the downstream TLS connection. */
  readonly requestedServerName?: string;
  readonly routeName?: string;
  readonly downstreamPeerUriSan?: string;
  readonly downstreamLocalUriSan?: string;
  /** Dynamic metadata `namespace` → `path` (`%DYNAMIC_METADATA(ns:a:b)%`); undefined when unset. */
  dynamicMetadata?(namespace: string, path: readonly string[]): unknown;
}

/** What a command yields: undefined (or '') prints `-` in text and `null` in typed JSON. */
type Value = string | number | boolean | undefined;
type Getter = (r: AccessLogRecord) => Value;

/** A compiled format: literal text and commands in order. */
type Part = string | Getter;

/** Turns one access log record into a line. Compiled once per config; `format` is the hot path. */
export interface AccessLogFormatter {
  format(r: AccessLogRecord): string;
}

const invalid = (msg: string): MeshError => new MeshError('MESH_INVALID_CONFIG', `access log format: ${msg}`);

// --- time ----------------------------------------------------------------------------------------

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));
/** `000`…`999`: the millisecond text of the default START_TIME, without formatting per line. */
const MS3: readonly string[] = Array.from({ length: 1000 }, (_, i) => pad3(i));

/** A time format token: text fixed within one second, or N fractional-second digits. */
type TimeToken = { text: (d: Date) => string } | { frac: number } | { fracAll: true };

/**
 * Compiles a strftime format (the subset Envoy's absl::FormatTime plus its `%f`/`%[1-9]f`/`%s`
 * extensions give, always in UTC). Unknown specifiers are refused.
 */
function compileStrftime(fmt: string): TimeToken[] {
  const tokens: TimeToken[] = [];
  const lit = (s: string) => tokens.push({ text: () => s });
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c !== '%') {
      lit(c);
      continue;
    }
    let s = fmt[++i];
    if (s === undefined) throw invalid(`START_TIME format "${fmt}" ends with %`);
    if (s >= '1' && s <= '9' && fmt[i + 1] === 'f') {
      tokens.push({ frac: Number(s) });
      i++;
      continue;
    }
    if (s === 'E') {
      // %E#S: seconds with # fractional digits; %E*S: with as many as are non-zero; %Ez: +00:00.
      const d = fmt[i + 1];
      if (d === 'z') {
        lit('+00:00');
        i++;
        continue;
      }
      if (d !== undefined && fmt[i + 2] === 'S' && ((d >= '0' && d <= '9') || d === '*')) {
        tokens.push({ text: (t) => pad2(t.getUTCSeconds()) });
        if (d === '*') tokens.push({ fracAll: true });
        else if (d !== '0') {
          lit('.');
          tokens.push({ frac: Number(d) });
        }
        i += 2;
        continue;
      }
      throw invalid(`unsupported START_TIME specifier %E${d ?? ''} in "${fmt}"`);
    }
    if (s === 'h') s = 'b';
    switch (s) {
      case 'Y': tokens.push({ text: (t) => String(t.getUTCFullYear()) }); break;
      case 'y': tokens.push({ text: (t) => pad2(t.getUTCFullYear() % 100) }); break;
      case 'C': tokens.push({ text: (t) => pad2(Math.floor(t.getUTCFullYear() / 100)) }); break;
      case 'm': tokens.push({ text: (t) => pad2(t.getUTCMonth() + 1) }); break;
      case 'd': tokens.push({ text: (t) => pad2(t.getUTCDate()) }); break;
      case 'e': tokens.push({ text: (t) => (t.getUTCDate() < 10 ? ` ${t.getUTCDate()}` : String(t.getUTCDate())) }); break;
      case 'H': tokens.push({ text: (t) => pad2(t.getUTCHours()) }); break;
      case 'I': tokens.push({ text: (t) => pad2(((t.getUTCHours() + 11) % 12) + 1) }); break;
      case 'p': tokens.push({ text: (t) => (t.getUTCHours() < 12 ? 'AM' : 'PM') }); break;
      case 'M': tokens.push({ text: (t) => pad2(t.getUTCMinutes()) }); break;
      case 'S': tokens.push({ text: (t) => pad2(t.getUTCSeconds()) }); break;
      case 'j': tokens.push({ text: (t) => pad3(Math.floor((t.getTime() - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86_400_000) + 1) }); break;
      case 'a': tokens.push({ text: (t) => DAYS[t.getUTCDay()]!.slice(0, 3) }); break;
      case 'A': tokens.push({ text: (t) => DAYS[t.getUTCDay()]! }); break;
      case 'b': tokens.push({ text: (t) => MONTHS[t.getUTCMonth()]!.slice(0, 3) }); break;
      case 'B': tokens.push({ text: (t) => MONTHS[t.getUTCMonth()]! }); break;
      case 'u': tokens.push({ text: (t) => String(t.getUTCDay() === 0 ? 7 : t.getUTCDay()) }); break;
      case 'w': tokens.push({ text: (t) => String(t.getUTCDay()) }); break;
      case 'F': tokens.push({ text: (t) => `${t.getUTCFullYear()}-${pad2(t.getUTCMonth() + 1)}-${pad2(t.getUTCDate())}` }); break;
      case 'T': tokens.push({ text: (t) => `${pad2(t.getUTCHours())}:${pad2(t.getUTCMinutes())}:${pad2(t.getUTCSeconds())}` }); break;
      case 'R': tokens.push({ text: (t) => `${pad2(t.getUTCHours())}:${pad2(t.getUTCMinutes())}` }); break;
      case 'D': tokens.push({ text: (t) => `${pad2(t.getUTCMonth() + 1)}/${pad2(t.getUTCDate())}/${pad2(t.getUTCFullYear() % 100)}` }); break;
      case 's': tokens.push({ text: (t) => String(Math.floor(t.getTime() / 1000)) }); break;
      case 'z': lit('+0000'); break;
      case 'Z': lit('UTC'); break;
      case 'n': lit('\n'); break;
      case 't': lit('\t'); break;
      case '%': lit('%'); break;
      case 'f': tokens.push({ frac: 9 }); break;
      default:
        throw invalid(`unsupported START_TIME specifier %${s} in "${fmt}"`);
    }
  }
  return tokens;
}

/**
 * A START_TIME formatter. Optimization: everything but the fractional digits is fixed within a
 * second, so it is rendered once per distinct second (a Date per second, not per line) and the
 * line only appends the sub-second digits.
 */
function startTimeGetter(fmt: string | undefined): Getter {
  // Envoy's default: ISO 8601 UTC with milliseconds (AccessLogDateTimeFormatter, `%Y-%m-%dT%H:%M:%E3SZ`).
  const tokens = compileStrftime(fmt ?? '%Y-%m-%dT%H:%M:%E3SZ');
  // Merge consecutive fixed tokens into one segment; segments alternate with fraction specs.
  type Seg = { fixed: Array<(d: Date) => string> } | { frac: number } | { fracAll: true };
  const segs: Seg[] = [];
  for (const t of tokens) {
    if ('text' in t) {
      const last = segs[segs.length - 1];
      if (last !== undefined && 'fixed' in last) last.fixed.push(t.text);
      else segs.push({ fixed: [t.text] });
    } else segs.push(t);
  }
  let cachedSecond = NaN;
  const cached: string[] = segs.map(() => '');
  return (r) => {
    const ms = r.startTimeMs;
    if (!(ms >= 0) || ms > 8.64e15) return undefined;
    const second = Math.floor(ms / 1000);
    if (second !== cachedSecond) {
      const d = new Date(second * 1000);
      for (let i = 0; i < segs.length; i++) {
        const s = segs[i]!;
        if ('fixed' in s) {
          let text = '';
          for (const f of s.fixed) text += f(d);
          cached[i] = text;
        }
      }
      cachedSecond = second;
    }
    // Clamped: float rounding must never index outside the digit tables.
    const subMs = Math.min(999.999999, Math.max(0, ms - second * 1000));
    let out = '';
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!;
      if ('fixed' in s) out += cached[i]!;
      else if ('frac' in s) out += s.frac === 3 ? MS3[Math.floor(subMs)]! : fraction(subMs, s.frac);
      else {
        // %E*S: a point and the significant fractional digits, nothing when whole.
        const nine = fraction(subMs, 9);
        let end = 9;
        while (end > 0 && nine.charCodeAt(end - 1) === 48) end--;
        if (end > 0) out += `.${nine.slice(0, end)}`;
      }
    }
    return out;
  };
}

/** The first `digits` fractional-second digits of `subMs` (0 ≤ subMs < 1000), truncated like Envoy. */
function fraction(subMs: number, digits: number): string {
  const nanos = Math.min(999_999_999, Math.floor(subMs * 1e6));
  const nine = String(nanos).padStart(9, '0');
  return nine.slice(0, digits);
}

// --- commands ------------------------------------------------------------------------------------

const floorOrUndefined = (v: number | undefined): number | undefined => (v === undefined || !(v >= 0) ? undefined : Math.floor(v));

/** `ip:port` → `ip`; `[v6]:port` → `v6`; anything else unchanged. */
function withoutPort(a: string | undefined): string | undefined {
  if (a === undefined) return undefined;
  if (a.charCodeAt(0) === 91 /* [ */) {
    const end = a.indexOf(']');
    return end > 0 ? a.substring(1, end) : a;
  }
  const colon = a.lastIndexOf(':');
  return colon === -1 || a.indexOf(':') !== colon ? a : a.substring(0, colon);
}

/** Commands taking neither an argument nor a length. */
const SIMPLE: Readonly<Record<string, Getter>> = {
  PROTOCOL: (r) => r.protocol,
  RESPONSE_CODE: (r) => r.responseCode,
  RESPONSE_CODE_DETAILS: (r) => r.responseCodeDetails,
  CONNECTION_TERMINATION_DETAILS: (r) => r.connectionTerminationDetails,
  RESPONSE_FLAGS: (r) => formatFlags(r.responseFlags),
  BYTES_RECEIVED: (r) => r.bytesReceived,
  BYTES_SENT: (r) => r.bytesSent,
  DURATION: (r) => floorOrUndefined(r.durationMs),
  REQUEST_DURATION: (r) => floorOrUndefined(r.requestDurationMs),
  RESPONSE_DURATION: (r) => floorOrUndefined(r.responseDurationMs),
  RESPONSE_TX_DURATION: (r) => floorOrUndefined(r.responseTxDurationMs),
  UPSTREAM_HOST: (r) => r.upstreamHost,
  UPSTREAM_CLUSTER: (r) => r.upstreamCluster,
  UPSTREAM_LOCAL_ADDRESS: (r) => r.upstreamLocalAddress,
  UPSTREAM_TRANSPORT_FAILURE_REASON: (r) => r.upstreamTransportFailureReason,
  DOWNSTREAM_LOCAL_ADDRESS: (r) => r.downstreamLocalAddress,
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (r) => withoutPort(r.downstreamLocalAddress),
  DOWNSTREAM_REMOTE_ADDRESS: (r) => r.downstreamRemoteAddress,
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (r) => withoutPort(r.downstreamRemoteAddress),
  REQUESTED_SERVER_NAME: (r) => r.requestedServerName,
  ROUTE_NAME: (r) => r.routeName,
  DOWNSTREAM_PEER_URI_SAN: (r) => r.downstreamPeerUriSan,
  DOWNSTREAM_LOCAL_URI_SAN: (r) => r.downstreamLocalUriSan,
};

/** Header names are case-insensitive; the record is asked in lower case. Envoy refuses more than one `?`. */
function headerNames(command: string, arg: string | undefined): [string, string | undefined] {
  if (arg === undefined || arg === '') throw invalid(`%${command}% needs a header name, as in %${command}(X-REQUEST-ID)%`);
  const q = arg.indexOf('?');
  if (q === -1) return [arg.toLowerCase(), undefined];
  if (arg.indexOf('?', q + 1) !== -1) throw invalid(`more than 1 alternative header specified in %${command}(${arg})%`);
  const main = arg.slice(0, q);
  const alt = arg.slice(q + 1);
  if (main === '' || alt === '') throw invalid(`empty header name in %${command}(${arg})%`);
  return [main.toLowerCase(), alt.toLowerCase()];
}

const truncate = (v: string, max: number | undefined): string => (max !== undefined && v.length > max ? v.substring(0, max) : v);

function metadataText(v: unknown): Value {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  // A struct or list: its JSON, as Envoy prints a protobuf Value (once per line, only for such values).
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}

function compileCommand(command: string, arg: string | undefined, maxLen: number | undefined): Getter {
  switch (command) {
    case 'REQ':
    case 'RESP':
    case 'TRAILER': {
      const [main, alt] = headerNames(command, arg);
      const read =
        command === 'REQ'
          ? (r: AccessLogRecord, n: string) => r.requestHeader(n)
          : command === 'RESP'
            ? (r: AccessLogRecord, n: string) => r.responseHeader(n)
            : (r: AccessLogRecord, n: string) => r.responseTrailer(n);
      return (r) => {
        let v = read(r, main);
        // As Envoy: the alternative is read only when the main header is absent (not when empty).
        if (v === undefined && alt !== undefined) v = read(r, alt);
        return v === undefined ? undefined : truncate(v, maxLen);
      };
    }
    case 'DYNAMIC_METADATA': {
      if (arg === undefined || arg === '') throw invalid('%DYNAMIC_METADATA% needs a namespace, as in %DYNAMIC_METADATA(istio.mixer:status)%');
      const [ns, ...path] = arg.split(':');
      return (r) => {
        const v = metadataText(r.dynamicMetadata?.(ns!, path));
        return typeof v === 'string' ? truncate(v, maxLen) : v;
      };
    }
    case 'START_TIME':
      if (maxLen !== undefined) throw invalid('%START_TIME% takes no length');
      return startTimeGetter(arg === '' ? undefined : arg);
    default: {
      const g = Object.prototype.hasOwnProperty.call(SIMPLE, command) ? SIMPLE[command] : undefined;
      if (g === undefined) throw invalid(`Not supported field in StreamInfo: ${command}`);
      if (arg !== undefined) throw invalid(`%${command}% takes no argument`);
      if (maxLen !== undefined) throw invalid(`%${command}% takes no length`);
      return g;
    }
  }
}

const isCommandChar = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;

/** Splits a format string into literal text and compiled commands. Throws MESH_INVALID_CONFIG. */
function parse(format: string): Part[] {
  const parts: Part[] = [];
  let lit = '';
  let i = 0;
  while (i < format.length) {
    const c = format[i]!;
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    if (format[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    let j = i + 1;
    while (j < format.length && isCommandChar(format.charCodeAt(j))) j++;
    if (j === i + 1) throw invalid(`couldn't find valid command at position ${i} of "${format}"`);
    const command = format.slice(i + 1, j);
    let arg: string | undefined;
    if (format[j] === '(') {
      const close = format.indexOf(')', j);
      if (close === -1) throw invalid(`unterminated %${command}( at position ${i}`);
      arg = format.slice(j + 1, close);
      j = close + 1;
    }
    let maxLen: number | undefined;
    if (format[j] === ':') {
      let k = j + 1;
      while (k < format.length && format.charCodeAt(k) >= 48 && format.charCodeAt(k) <= 57) k++;
      if (k === j + 1) throw invalid(`length after %${command}: must be digits (position ${j})`);
      maxLen = Number(format.slice(j + 1, k));
      j = k;
    }
    if (format[j] !== '%') throw invalid(`couldn't find valid command at position ${i} of "${format}"`);
    if (lit !== '') parts.push(lit);
    lit = '';
    parts.push(compileCommand(command, arg, maxLen));
    i = j + 1;
  }
  if (lit !== '') parts.push(lit);
  return parts;
}

function renderText(parts: readonly Part[], r: AccessLogRecord): string {
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (typeof p === 'string') out += p;
    else {
      const v = p(r);
      out += v === undefined || v === '' ? '-' : v;
    }
  }
  return out;
}

/**
 * Compiles an Envoy text format (e.g. ISTIO_TEXT_ACCESS_LOG_FORMAT; an empty format means Envoy's
 * default). The line includes whatever newline the format ends with. Throws MESH_INVALID_CONFIG for
 * an unknown command, a bad argument or a stray `%`.
 */
export function compileAccessLogFormat(format: string): AccessLogFormatter {
  const parts = parse(format === '' ? ENVOY_DEFAULT_ACCESS_LOG_FORMAT : format);
  return { format: (r) => renderText(parts, r) };
}

/**
 * A JSON string literal for `s`. Optimization: most values need no escaping, and a scan is cheaper
 * than JSON.stringify; anything with a quote, backslash, control character or surrogate takes the
 * exact path.
 */
function jsonQuote(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/**
 * Compiles a JSON access log: one object per line, keys in the given order, each value itself a
 * format string. `typed: false` is Envoy's `json_format` (what Istio 1.6 sends): every value a
 * string, `-` when unknown. `typed: true` is `typed_json_format`: a value that is a single command
 * keeps its type (numbers as numbers) and is `null` when unknown; mixed text stays a string.
 */
export function compileJsonAccessLogFormat(
  fields: Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>,
  options: { typed: boolean },
): AccessLogFormatter {
  const entries: ReadonlyArray<readonly [string, string]> = Array.isArray(fields)
    ? (fields as ReadonlyArray<readonly [string, string]>)
    : Object.entries(fields as Readonly<Record<string, string>>);
  if (entries.length === 0) throw invalid('a JSON format needs at least one field');
  const seen = new Set<string>();
  const prefixes: string[] = [];
  // A field that is exactly one command skips the text loop; `typed` says how its value is printed.
  const compiled: Array<{ parts: Part[]; single: Getter | undefined }> = [];
  for (const [key, value] of entries) {
    if (seen.has(key)) throw invalid(`JSON field "${key}" appears twice`);
    seen.add(key);
    prefixes.push(`${compiled.length === 0 ? '{' : ','}${JSON.stringify(key)}:`);
    const parts = parse(value);
    compiled.push({ parts, single: parts.length === 1 && typeof parts[0] === 'function' ? parts[0] : undefined });
  }
  const typed = options.typed;
  return {
    format(r) {
      let out = '';
      for (let i = 0; i < compiled.length; i++) {
        const f = compiled[i]!;
        out += prefixes[i]!;
        if (f.single === undefined) {
          out += jsonQuote(renderText(f.parts, r));
          continue;
        }
        const v = f.single(r);
        if (v === undefined || v === '') out += typed ? 'null' : '"-"';
        else if (typeof v === 'string') out += jsonQuote(v);
        else if (!typed) out += `"${v}"`;
        else if (typeof v === 'number') out += Number.isFinite(v) ? String(v) : 'null';
        else out += v ? 'true' : 'false';
      }
      return `${out}}\n`;
    },
  };
}
