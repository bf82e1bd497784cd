// VirtualService header set/add/remove → Envoy header mutations of a route or weighted cluster.
import type { Msg } from './envoy-values.js';
import type { Headers } from './vs-types.js';

type Ops = NonNullable<Headers['request']>;

function options(map: Record<string, string> | undefined, appendAction: string): Msg[] {
  return Object.keys(map ?? {})
    .sort()
    .map((key) => ({ header: { key, value: map![key]! }, appendAction }));
}

/** `set` overwrites (or adds), `add` appends; each list sorted by header name, `set` first, as Istio orders them. */
export function headersToAdd(ops: Ops | undefined): Msg[] {
  return [...options(ops?.set, 'OVERWRITE_IF_EXISTS_OR_ADD'), ...options(ops?.add, 'APPEND_IF_EXISTS_OR_ADD')];
}

export function headersToRemove(ops: Ops | undefined): string[] {
  return [...(ops?.remove ?? [])];
}

/** The four mutation fields for `headers`, only those that are non-empty. */
export function headerMutations(h: Headers | undefined): Msg {
  const out: Msg = {};
  const reqAdd = headersToAdd(h?.request);
  const resAdd = headersToAdd(h?.response);
  const reqRm = headersToRemove(h?.request);
  const resRm = headersToRemove(h?.response);
  if (reqAdd.length) out.requestHeadersToAdd = reqAdd;
  if (reqRm.length) out.requestHeadersToRemove = reqRm;
  if (resAdd.length) out.responseHeadersToAdd = resAdd;
  if (resRm.length) out.responseHeadersToRemove = resRm;
  return out;
}

/** Appends the mutations of `extra` to those of `into` (a single destination's headers move onto its route). */
export function mergeMutations(into: Msg, extra: Msg): void {
  for (const k of ['requestHeadersToAdd', 'requestHeadersToRemove', 'responseHeadersToAdd', 'responseHeadersToRemove']) {
    const add = extra[k] as unknown[] | undefined;
    if (!add?.length) continue;
    into[k] = [...((into[k] as unknown[] | undefined) ?? []), ...add];
  }
}
