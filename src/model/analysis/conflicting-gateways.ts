// IST0145: two Gateways on one gateway workload claiming the same host on the same port (MAISTRA-158).
import { asArray, asObject } from '../../api/diagnostics.js';
import type { Resource } from '../../api/kind.js';
import { formatLabels, labelsMatch, oldestFirst, stringMap, type AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

interface ServerHost {
  port: number;
  /** Host without its `namespace/` prefix, lower-case. */
  host: string;
  path: Array<string | number>;
}

function serverHosts(gw: Resource): ServerHost[] {
  const out: ServerHost[] = [];
  asArray(asObject(gw.spec)?.servers).forEach((raw, i) => {
    const server = asObject(raw);
    const port = asObject(server?.port)?.number;
    if (typeof port !== 'number') return;
    // Only TLS servers conflict: plaintext HTTP servers on one port share a route configuration.
    const protocol = String(asObject(server?.port)?.protocol ?? '').toUpperCase();
    if (protocol !== 'HTTPS' && protocol !== 'TLS') return;
    asArray(server?.hosts).forEach((h, j) => {
      if (typeof h !== 'string') return;
      const slash = h.indexOf('/');
      out.push({ port, host: (slash >= 0 ? h.slice(slash + 1) : h).toLowerCase(), path: ['spec', 'servers', i, 'hosts', j] });
    });
  });
  return out;
}

/**
 * Two Gateways conflict when they program the same gateway proxy (identical selectors, or a known
 * workload both select) and expose the same host on the same HTTPS/TLS port: Envoy would get two
 * filter chains for one SNI, which in Istio 1.6 breaks all of them (MAISTRA-158). Plaintext HTTP
 * servers merge into one route configuration, as the generator does (src/model/push/gateway-merge.ts).
 * Meltemi resolves this deterministically — the oldest Gateway (creationTimestamp, ties by
 * namespace/name) keeps the host — and reports each losing server host as an Error naming both.
 */
export function analyzeConflictingGateways(ctx: AnalysisContext): AnalysisMessage[] {
  const gateways = oldestFirst(ctx.ofKind('networking.istio.io', 'Gateway'), (r) => `${ctx.namespaceOf(r)}/${ctx.nameOf(r)}`);
  const selectors = new Map(gateways.map((g) => [g, stringMap(asObject(g.spec)?.selector)]));
  const sameProxy = (a: Resource, b: Resource): boolean => {
    const sa = selectors.get(a)!;
    const sb = selectors.get(b)!;
    if (Object.keys(sa).length === 0 || Object.keys(sb).length === 0) return false;
    if (formatLabels(sa) === formatLabels(sb)) return true;
    return ctx.workloads.some((w) => labelsMatch(sa, w.labels) && labelsMatch(sb, w.labels));
  };
  const out: AnalysisMessage[] = [];
  const claimed: Array<{ gw: Resource; claim: ServerHost }> = [];
  for (const gw of gateways) {
    const mine = serverHosts(gw);
    for (const claim of mine) {
      const winner = claimed.find((c) => c.gw !== gw && c.claim.port === claim.port && c.claim.host === claim.host && sameProxy(c.gw, gw));
      if (winner) {
        const sel = formatLabels(selectors.get(gw)!);
        out.push(ctx.message('ConflictingGateways', gw, claim.path, `Conflict with gateway ${ctx.fullName(winner.gw)} (workload selector ${sel}, port ${claim.port}, host "${claim.host}"): ${ctx.fullName(winner.gw)} is older and wins; this server host of ${ctx.fullName(gw)} is ignored`));
      }
    }
    for (const claim of mine) claimed.push({ gw, claim });
  }
  return out;
}
