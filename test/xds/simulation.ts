// A traffic simulator over generated xDS: resolves a request or connection through listeners, filter chains, routes and clusters the way Envoy does.
import { RE2JS } from 're2js';
import type { Proxy } from '../../src/model/proxy.js';
import type { PushContext } from '../../src/model/push-context.js';
import { encodeResource } from '../../src/xds/encode.js';
import { envoyGenerators, rdsRouteNames } from '../../src/xds/generators/index.js';
import { TypeUrl, type XdsResource } from '../../src/xds/types.js';
import { deprecatedFields } from './envoy-validity.js';

type Msg = Record<string, unknown>;

/** Everything one proxy received, by name, after every resource passed the strict encoder. */
export interface ProxyConfig {
  proxy: Proxy;
  listeners: Msg[];
  routes: Map<string, Msg>;
  clusters: Map<string, Msg>;
  endpoints: Map<string, Msg>;
  /** Every generated resource, for checks across all of them. */
  resources: XdsResource[];
}

/**
 * Runs the Envoy generators for `proxy` as a client would subscribe: LDS and CDS, then RDS for
 * every route name the listeners use and EDS for every EDS cluster. Every resource is encoded with
 * the strict encoder and checked for deprecated fields; any problem throws.
 */
export function configFor(proxy: Proxy, push: PushContext): ProxyConfig {
  const lds = envoyGenerators[TypeUrl.Listener]!(proxy, push);
  const cds = envoyGenerators[TypeUrl.Cluster]!(proxy, push);
  const rds = envoyGenerators[TypeUrl.RouteConfiguration]!(proxy, push, rdsRouteNames(lds.map((r) => r.resource)));
  const edsNames = cds.filter((c) => c.resource.type === 'EDS').map((c) => c.name);
  const eds = envoyGenerators[TypeUrl.ClusterLoadAssignment]!(proxy, push, edsNames);
  const resources = [...lds, ...cds, ...rds, ...eds];
  const problems: string[] = [];
  for (const r of resources) {
    try {
      encodeResource(r);
    } catch (e) {
      problems.push((e as Error).message);
    }
    for (const d of deprecatedFields(r)) problems.push(`${r.name}: ${d}`);
  }
  if (problems.length > 0) throw new Error(`generated config is not valid Envoy v3:\n${problems.join('\n')}`);
  const byName = (list: XdsResource[]) => new Map(list.map((r) => [r.name, r.resource]));
  return { proxy, listeners: lds.map((r) => r.resource), routes: byName(rds), clusters: byName(cds), endpoints: byName(eds), resources };
}

/** A request (HTTP) or connection (TCP/TLS) to simulate. */
export interface Call {
  /** Destination port (the original destination for sidecars, the listener port for gateways). */
  port: number;
  /** Destination IP; defaults to an address no listener binds (so only 0.0.0.0 listeners match). */
  address?: string;
  /** `http` (default) runs HTTP routing; `tcp` stops at the network filter. */
  protocol?: 'http' | 'tcp';
  /** TLS server name presented by the client (TLS ports, gateways); implies `tls`. */
  sni?: string;
  /** The client opens with a TLS ClientHello (transport protocol `tls` for the TLS inspector). */
  tls?: boolean;
  /** ALPN protocols offered in the ClientHello. */
  alpn?: string[];
  /** Traffic arriving at the workload (virtualInbound) instead of leaving it. */
  inbound?: boolean;
  method?: string;
  /** Host header; required for HTTP. */
  authority?: string;
  /** Path with optional query string; `/` by default. */
  path?: string;
  headers?: Record<string, string>;
  scheme?: 'http' | 'https';
}

export interface WeightedCluster {
  name: string;
  weight: number;
}

/** Where the call ends up, and what the chosen route says. */
export interface Result {
  listener?: string;
  filterChain?: string;
  routeConfig?: string;
  virtualHost?: string;
  /** Route name ('' when unnamed) and index within the virtual host. */
  route?: string;
  routeIndex?: number;
  cluster?: string;
  weightedClusters?: WeightedCluster[];
  /** Whether the chosen (single) cluster exists in CDS; a missing one is Envoy's 503 NC. */
  clusterFound?: boolean;
  timeoutMs?: number;
  retry?: Msg;
  /** Per-route fault filter config (HTTPFault) when present. */
  fault?: Msg;
  cors?: Msg;
  mirrors?: Array<{ cluster: string; percent: number }>;
  prefixRewrite?: string;
  hostRewrite?: string;
  redirect?: Msg;
  /** `requireTls` on a plaintext request: Envoy answers 301 to https. */
  httpsRedirect?: boolean;
  directResponse?: number;
  requestHeadersToAdd?: Msg[];
  requestHeadersToRemove?: string[];
  responseHeadersToAdd?: Msg[];
  hashPolicy?: Msg[];
  /** Whether the chosen filter chain terminates TLS (has a transport socket). */
  terminatesTls?: boolean;
  /** Why nothing was reached: no listener, no filter chain, no virtual host / route (404 NR). */
  error?: 'no listener' | 'no filter chain' | 'no virtual host' | 'no route';
}

const VIRTUAL = new Set(['virtualOutbound', 'virtualInbound']);

function socketOf(l: Msg): { address: string; port: number } {
  const sa = (l.address as Msg).socketAddress as Msg;
  return { address: sa.address as string, port: sa.portValue as number };
}

/** Envoy's original-destination hand-off: the listener bound to ip:port exactly, else 0.0.0.0:port, else the receiving one. */
function selectListener(cfg: ProxyConfig, call: Call): Msg | undefined {
  const find = (name: string) => cfg.listeners.find((l) => l.name === name);
  if (call.inbound) return find('virtualInbound');
  const candidates = cfg.listeners.filter((l) => !VIRTUAL.has(l.name as string) && socketOf(l).port === call.port);
  const address = call.address ?? '240.240.240.240';
  const exact = candidates.find((l) => socketOf(l).address === address);
  const wildcard = candidates.find((l) => socketOf(l).address === '0.0.0.0');
  return exact ?? wildcard ?? (cfg.proxy.type === 'sidecar' ? find('virtualOutbound') : undefined);
}

function ipToBigInt(ip: string): { v: bigint; bits: number } | undefined {
  if (ip.includes(':')) return undefined;
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return { v: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n), bits: 32 };
}

function inCidr(ip: string, range: Msg): boolean {
  const a = ipToBigInt(ip);
  const p = ipToBigInt(range.addressPrefix as string);
  const len = ((range.prefixLen as Msg | undefined)?.value as number | undefined) ?? 0;
  if (!a || !p) return false;
  const shift = BigInt(32 - len);
  return a.v >> shift === p.v >> shift;
}

/** SNI match specificity: exact 3, `*.suffix` by suffix length (1 + fraction), none 0; -1 when it does not match. */
function sniScore(names: string[] | undefined, sni: string | undefined): number {
  if (!names || names.length === 0) return 0;
  if (sni === undefined) return -1;
  let best = -1;
  for (const n of names) {
    if (n === sni) return 3;
    if (n.startsWith('*.') && sni.endsWith(n.slice(1)) && sni.length > n.length - 1) best = Math.max(best, 1 + n.length / 1000);
  }
  return best;
}

/**
 * Envoy's filter-chain selection: narrow by destination port (exact beats unset), then
 * destination IP (longest prefix beats unset), then server name (exact, then longest wildcard,
 * then unset), then transport protocol and application protocols (a chain naming the
 * connection's value beats one naming none; naming another value excludes it). No backtracking:
 * if the most specific level has no survivor, nothing matches.
 */
function selectChain(l: Msg, call: Call): Msg | undefined {
  let chains = (l.filterChains as Msg[]) ?? [];
  const m = (c: Msg) => (c.filterChainMatch as Msg | undefined) ?? {};
  const portOf = (c: Msg) => (m(c).destinationPort as Msg | undefined)?.value as number | undefined;
  const withPort = chains.filter((c) => portOf(c) === call.port);
  chains = withPort.length > 0 ? withPort : chains.filter((c) => portOf(c) === undefined);
  const address = call.address ?? '240.240.240.240';
  const ipScore = (c: Msg) => {
    const ranges = (m(c).prefixRanges as Msg[] | undefined) ?? [];
    if (ranges.length === 0) return 0;
    let best = -1;
    for (const r of ranges) if (inCidr(address, r)) best = Math.max(best, 1 + (((r.prefixLen as Msg | undefined)?.value as number | undefined) ?? 0));
    return best;
  };
  const bestIp = Math.max(-1, ...chains.map(ipScore));
  chains = chains.filter((c) => ipScore(c) === bestIp && bestIp >= 0);
  const sniOf = (c: Msg) => sniScore(m(c).serverNames as string[] | undefined, call.sni);
  const bestSni = Math.max(-1, ...chains.map(sniOf));
  chains = chains.filter((c) => sniOf(c) === bestSni && bestSni >= 0);
  const transport = call.tls || call.sni !== undefined ? 'tls' : 'raw_buffer';
  const transportOf = (c: Msg) => {
    const t = m(c).transportProtocol as string | undefined;
    return t === undefined ? 0 : t === transport ? 1 : -1;
  };
  const bestTransport = Math.max(-1, ...chains.map(transportOf));
  chains = chains.filter((c) => transportOf(c) === bestTransport && bestTransport >= 0);
  const alpnOf = (c: Msg) => {
    const wanted = (m(c).applicationProtocols as string[] | undefined) ?? [];
    return wanted.length === 0 ? 0 : wanted.some((p) => (call.alpn ?? []).includes(p)) ? 1 : -1;
  };
  const bestAlpn = Math.max(-1, ...chains.map(alpnOf));
  chains = chains.filter((c) => alpnOf(c) === bestAlpn && bestAlpn >= 0);
  return chains[0];
}

/** Envoy's virtual-host selection: exact domain, then longest `*suffix`, then longest `prefix*`, then `*`. */
export function selectVirtualHost(vhosts: Msg[], authority: string): Msg | undefined {
  const host = authority.toLowerCase();
  const domainsOf = (v: Msg) => ((v.domains as string[]) ?? []).map((d) => d.toLowerCase());
  const exact = vhosts.find((v) => domainsOf(v).includes(host));
  if (exact) return exact;
  let best: { v: Msg; len: number } | undefined;
  for (const v of vhosts) {
    for (const d of domainsOf(v)) {
      if (d.length > 1 && d.startsWith('*') && host.length > d.length - 1 && host.endsWith(d.slice(1)) && (!best || d.length > best.len)) best = { v, len: d.length };
    }
  }
  if (best) return best.v;
  for (const v of vhosts) {
    for (const d of domainsOf(v)) {
      if (d.length > 1 && d.endsWith('*') && host.length > d.length - 1 && host.startsWith(d.slice(0, -1)) && (!best || d.length > best.len)) best = { v, len: d.length };
    }
  }
  if (best) return best.v;
  return vhosts.find((v) => domainsOf(v).includes('*'));
}

const regexCache = new Map<string, RE2JS>();
function fullMatch(regex: string, s: string): boolean {
  let re = regexCache.get(regex);
  if (!re) {
    re = RE2JS.compile(regex);
    regexCache.set(regex, re);
  }
  return re.matches(s);
}

function stringMatches(sm: Msg, value: string): boolean {
  const ic = sm.ignoreCase === true;
  const v = ic ? value.toLowerCase() : value;
  if (typeof sm.exact === 'string') return v === (ic ? sm.exact.toLowerCase() : sm.exact);
  if (typeof sm.prefix === 'string') return v.startsWith(ic ? sm.prefix.toLowerCase() : sm.prefix);
  if (typeof sm.suffix === 'string') return v.endsWith(ic ? sm.suffix.toLowerCase() : sm.suffix);
  if (sm.safeRegex) return fullMatch((sm.safeRegex as Msg).regex as string, value);
  return false;
}

interface Request {
  method: string;
  authority: string;
  path: string;
  query: Map<string, string>;
  headers: Map<string, string>;
  scheme: string;
}

function headerValue(req: Request, name: string): string | undefined {
  switch (name) {
    case ':method':
      return req.method;
    case ':authority':
      return req.authority;
    case ':path':
      return req.path;
    case ':scheme':
      return req.scheme;
    default:
      return req.headers.get(name.toLowerCase());
  }
}

/** Envoy's RouteMatch: path specifier (case-sensitive unless told), then every header and query matcher. */
function routeMatches(match: Msg, req: Request): boolean {
  const cs = (match.caseSensitive as Msg | undefined)?.value !== false;
  const path = cs ? req.path : req.path.toLowerCase();
  if (typeof match.prefix === 'string') {
    if (!path.startsWith(cs ? match.prefix : match.prefix.toLowerCase())) return false;
  } else if (typeof match.path === 'string') {
    if (path !== (cs ? match.path : match.path.toLowerCase())) return false;
  } else if (match.safeRegex) {
    if (!fullMatch((match.safeRegex as Msg).regex as string, req.path)) return false;
  } else return false;
  for (const h of (match.headers as Msg[] | undefined) ?? []) {
    const v = headerValue(req, h.name as string);
    let ok: boolean;
    if (h.presentMatch === true) ok = v !== undefined;
    else if (h.stringMatch) ok = v !== undefined && stringMatches(h.stringMatch as Msg, v);
    else ok = v !== undefined;
    if (h.invertMatch === true) ok = !ok;
    if (!ok) return false;
  }
  for (const q of (match.queryParameters as Msg[] | undefined) ?? []) {
    const v = req.query.get(q.name as string);
    if (q.presentMatch === true) {
      if (v === undefined) return false;
    } else if (q.stringMatch) {
      if (v === undefined || !stringMatches(q.stringMatch as Msg, v)) return false;
    }
  }
  return true;
}

function durationToMs(d: Msg | undefined): number | undefined {
  if (!d) return undefined;
  return (d.seconds as number) * 1000 + (d.nanos as number) / 1e6;
}

function percentOf(fp: Msg): number {
  const denom = fp.denominator === 'MILLION' ? 1_000_000 : fp.denominator === 'TEN_THOUSAND' ? 10_000 : 100;
  return ((fp.numerator as number) / denom) * 100;
}

function parseRequest(call: Call): Request {
  const full = call.path ?? '/';
  const q = full.indexOf('?');
  const path = q < 0 ? full : full.slice(0, q);
  const query = new Map<string, string>();
  if (q >= 0) {
    for (const part of full.slice(q + 1).split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      query.set(decodeURIComponent(eq < 0 ? part : part.slice(0, eq)), decodeURIComponent(eq < 0 ? '' : part.slice(eq + 1)));
    }
  }
  const headers = new Map(Object.entries(call.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return { method: call.method ?? 'GET', authority: call.authority ?? '', path, query, headers, scheme: call.scheme ?? 'http' };
}

function routeHttp(cfg: ProxyConfig, hcm: Msg, call: Call, out: Result): Result {
  const rds = hcm.rds as Msg | undefined;
  const rc = rds ? cfg.routes.get(rds.routeConfigName as string) : (hcm.routeConfig as Msg | undefined);
  out.routeConfig = rds ? (rds.routeConfigName as string) : (rc?.name as string | undefined);
  if (!rc) return { ...out, error: 'no virtual host' };
  const req = parseRequest(call);
  const vh = selectVirtualHost((rc.virtualHosts as Msg[]) ?? [], req.authority);
  if (!vh) return { ...out, error: 'no virtual host' };
  out.virtualHost = vh.name as string;
  if (vh.requireTls === 'ALL' && req.scheme !== 'https') return { ...out, httpsRedirect: true };
  const routes = (vh.routes as Msg[]) ?? [];
  const index = routes.findIndex((r) => routeMatches(r.match as Msg, req));
  if (index < 0) return { ...out, error: 'no route' };
  const r = routes[index]!;
  out.route = (r.name as string | undefined) ?? '';
  out.routeIndex = index;
  const perFilter = (r.typedPerFilterConfig as Msg | undefined) ?? {};
  if (perFilter['envoy.filters.http.fault']) out.fault = perFilter['envoy.filters.http.fault'] as Msg;
  if (perFilter['envoy.filters.http.cors']) out.cors = perFilter['envoy.filters.http.cors'] as Msg;
  if (r.requestHeadersToAdd) out.requestHeadersToAdd = r.requestHeadersToAdd as Msg[];
  if (r.requestHeadersToRemove) out.requestHeadersToRemove = r.requestHeadersToRemove as string[];
  if (r.responseHeadersToAdd) out.responseHeadersToAdd = r.responseHeadersToAdd as Msg[];
  if (r.redirect) return { ...out, redirect: r.redirect as Msg };
  if (r.directResponse) return { ...out, directResponse: (r.directResponse as Msg).status as number };
  const action = r.route as Msg;
  if (typeof action.cluster === 'string') {
    out.cluster = action.cluster;
    out.clusterFound = cfg.clusters.has(action.cluster);
  } else if (action.weightedClusters) {
    out.weightedClusters = ((action.weightedClusters as Msg).clusters as Msg[]).map((c) => ({ name: c.name as string, weight: (c.weight as Msg).value as number }));
  }
  out.timeoutMs = durationToMs(action.timeout as Msg | undefined);
  if (action.retryPolicy) out.retry = action.retryPolicy as Msg;
  if (action.prefixRewrite !== undefined) out.prefixRewrite = action.prefixRewrite as string;
  if (action.hostRewriteLiteral !== undefined) out.hostRewrite = action.hostRewriteLiteral as string;
  if (action.hashPolicy) out.hashPolicy = action.hashPolicy as Msg[];
  const mirrors = (action.requestMirrorPolicies as Msg[] | undefined) ?? [];
  if (mirrors.length > 0) out.mirrors = mirrors.map((m) => ({ cluster: m.cluster as string, percent: percentOf((m.runtimeFraction as Msg).defaultValue as Msg) }));
  return out;
}

/** Follows `call` through the proxy's configuration. */
export function simulate(cfg: ProxyConfig, call: Call): Result {
  const l = selectListener(cfg, call);
  if (!l) return { error: 'no listener' };
  const out: Result = { listener: l.name as string };
  const chain = selectChain(l, call);
  if (!chain) return { ...out, error: 'no filter chain' };
  out.filterChain = (chain.name as string | undefined) ?? '';
  out.terminatesTls = chain.transportSocket !== undefined;
  const filters = (chain.filters as Msg[]) ?? [];
  const last = filters[filters.length - 1]!;
  const tc = last.typedConfig as Msg;
  if (last.name === 'envoy.filters.network.tcp_proxy') {
    if (typeof tc.cluster === 'string') {
      out.cluster = tc.cluster;
      out.clusterFound = cfg.clusters.has(tc.cluster);
    } else {
      out.weightedClusters = ((tc.weightedClusters as Msg).clusters as Msg[]).map((c) => ({ name: c.name as string, weight: c.weight as number }));
    }
    return out;
  }
  if (call.protocol === 'tcp') return out;
  return routeHttp(cfg, tc, call, out);
}

/** The cluster named `name`, or a test failure. */
export function clusterOf(cfg: ProxyConfig, name: string): Msg {
  const c = cfg.clusters.get(name);
  if (!c) throw new Error(`no cluster ${name}; have ${[...cfg.clusters.keys()].join(', ')}`);
  return c;
}
