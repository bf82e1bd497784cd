// A VirtualService's HTTP rules → the ordered Envoy routes of one virtual host, and how gateways combine routes of several VirtualServices.
import type { Msg } from './envoy-values.js';
import { translateRoute, type RouteBuildContext } from './route-action.js';
import { isCatchAllMatch, isCatchAllRoute } from './route-match.js';

/**
 * Istio's BuildHTTPRoutesForVirtualService: rules in order, one route per match block that applies
 * to this proxy. A rule without matches, or with an applicable catch-all match block (prefix `/`,
 * no header or query match), matches everything, so nothing after it is reachable and no more
 * routes are built.
 */
export function virtualServiceRoutes(ctx: RouteBuildContext): Msg[] {
  const out: Msg[] = [];
  for (const http of ctx.vs.spec.http ?? []) {
    const matches = http.match ?? [];
    if (matches.length === 0) {
      const r = translateRoute(ctx, http, undefined);
      if (r) out.push(r);
      break;
    }
    const catchAll = matches.find(isCatchAllMatch);
    if (catchAll) {
      const r = translateRoute(ctx, http, catchAll);
      if (r) {
        out.push(r);
        break;
      }
    }
    for (const m of matches) {
      const r = translateRoute(ctx, http, m);
      if (r) out.push(r);
    }
  }
  return out;
}

/**
 * Istio's CombineVHostRoutes: routes of VirtualServices sharing a gateway host, concatenated in
 * VirtualService order, with every catch-all route moved to the end (keeping their order), so one
 * VirtualService's `/` does not hide another's specific paths.
 */
export function combineRoutes(first: readonly Msg[], second: readonly Msg[]): Msg[] {
  const specific: Msg[] = [];
  const catchAll: Msg[] = [];
  for (const r of [...first, ...second]) (isCatchAllRoute(r) ? catchAll : specific).push(r);
  return [...specific, ...catchAll];
}
