// Listener filter chains: building a chain and its match, comparing matches, merging chains without duplicates, listener filters they need.
import { cidrRange, Filters, typedFilter, uint32, type Msg } from './envoy-values.js';

/** A filter chain before it becomes a message. */
export interface ChainSpec {
  name?: string;
  /** SNI values to match; a `*` among them means "no SNI match". */
  serverNames?: readonly string[];
  /** Destination IPs/CIDRs to match ('' and 0.0.0.0 entries mean none). */
  destinationCidrs?: readonly string[];
  destinationPort?: number;
  filters: Msg[];
  transportSocket?: Msg;
  metadata?: Msg;
  /** The passthrough chain added when nothing else matches every connection; a real catch-all replaces it. */
  fallthrough?: boolean;
}

/** The FilterChainMatch of a spec; undefined when it matches every connection. */
export function chainMatch(spec: ChainSpec): Msg | undefined {
  const m: Msg = {};
  if (spec.destinationPort !== undefined) m.destinationPort = uint32(spec.destinationPort);
  const ranges = [...(spec.destinationCidrs ?? [])]
    .filter((c) => c !== '')
    .sort()
    .map(cidrRange)
    .filter((r): r is Msg => r !== undefined && r.addressPrefix !== '0.0.0.0' && r.addressPrefix !== '::');
  if (ranges.length > 0) m.prefixRanges = ranges;
  const sni = spec.serverNames ?? [];
  if (sni.length > 0 && !sni.includes('*')) m.serverNames = [...sni].sort();
  return Object.keys(m).length > 0 ? m : undefined;
}

/** A FilterChain message. */
export function filterChain(spec: ChainSpec): Msg {
  const out: Msg = {};
  if (spec.name) out.name = spec.name;
  const match = chainMatch(spec);
  if (match) out.filterChainMatch = match;
  out.filters = spec.filters;
  if (spec.transportSocket) out.transportSocket = spec.transportSocket;
  if (spec.metadata) out.metadata = spec.metadata;
  return out;
}

/** A canonical key of a chain's match: two chains with equal keys conflict (Envoy rejects the listener). */
export function matchKey(spec: ChainSpec): string {
  return JSON.stringify(chainMatch(spec) ?? {});
}

/**
 * Appends `incoming` to `existing`, dropping any chain whose match is already taken (first wins,
 * as Istio's mergeTCPFilterChains) — except that a real chain replaces a fallthrough chain with the
 * same match.
 */
export function mergeChains(existing: readonly ChainSpec[], incoming: readonly ChainSpec[]): ChainSpec[] {
  const out = [...existing];
  for (const c of incoming) {
    const key = matchKey(c);
    const i = out.findIndex((e) => matchKey(e) === key);
    if (i < 0) out.push(c);
    else if (out[i]!.fallthrough && !c.fallthrough) out[i] = c;
  }
  return out;
}

/** Whether some chain matches every connection. */
export function hasCatchAll(chains: readonly ChainSpec[]): boolean {
  return chains.some((c) => chainMatch(c) === undefined);
}

/** Listener filters the chains need: the TLS inspector to read SNI (and ALPN for terminating chains). */
export function listenerFiltersFor(chains: readonly ChainSpec[]): Msg[] | undefined {
  const needTls = chains.some((c) => (c.serverNames?.length ?? 0) > 0 || c.transportSocket !== undefined);
  return needTls ? [typedFilter(Filters.tlsInspector)] : undefined;
}
