// MLT0107: a ServiceEntry host that another ServiceEntry of the same namespace already declares, so this one is not served.
import { asArray, asObject } from '../../api/diagnostics.js';
import type { Resource } from '../../api/kind.js';
import type { AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

function createdAt(r: Resource): number {
  const ts = r.metadata?.creationTimestamp;
  const ms = typeof ts === 'string' ? Date.parse(ts) : NaN;
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/**
 * The registry keeps one service per hostname and namespace: among ServiceEntries of one namespace
 * declaring the same host, the oldest (then by name) owns it, and the others' ports and endpoints
 * for that host are not served. Entries of different namespaces are separate services (exportTo
 * decides who sees which) and are not reported. Each losing entry is reported on the host it loses.
 * (A ServiceEntry for a Kubernetes Service's host decorates that Service and is not reported.)
 */
export function analyzeServiceEntryHosts(ctx: AnalysisContext): AnalysisMessage[] {
  const claims = new Map<string, Array<{ se: Resource; index: number }>>();
  for (const se of ctx.ofKind('networking.istio.io', 'ServiceEntry')) {
    asArray(asObject(se.spec)?.hosts).forEach((h, index) => {
      if (typeof h !== 'string') return;
      const key = `${ctx.namespaceOf(se)}/${h.toLowerCase()}`;
      const list = claims.get(key);
      if (list) list.push({ se, index });
      else claims.set(key, [{ se, index }]);
    });
  }
  const out: AnalysisMessage[] = [];
  for (const [key, list] of claims) {
    if (list.length < 2) continue;
    const host = key.slice(key.indexOf('/') + 1);
    const order = (x: { se: Resource }) => [createdAt(x.se), ctx.nameOf(x.se)] as const;
    const sorted = [...list].sort((a, b) => {
      const [ta, ka] = order(a);
      const [tb, kb] = order(b);
      return ta !== tb ? ta - tb : ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    const owner = sorted[0]!.se;
    for (const { se, index } of sorted.slice(1)) {
      if (se === owner) continue;
      out.push(ctx.message('ServiceEntryHostShadowed', se, ['spec', 'hosts', index], `host "${host}" is already declared by ServiceEntry ${ctx.fullName(owner)}, which owns it; this entry's ports and endpoints for it are not served`));
    }
  }
  return out;
}
