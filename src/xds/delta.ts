// Delta xDS: which resources a client lacks or has stale, and which it must drop, given what it is known to hold.
import type { GeneratedResource } from './snapshot-cache.js';
import type { TypeWatch } from './stream-state.js';

export interface DeltaPlan {
  /** Resources to send: in the subscription, and new or changed for this client. */
  resources: GeneratedResource[];
  /** removed_resources: names the client holds that no longer exist, and newly asked-for names that do not exist. */
  removed: string[];
}

/**
 * Plans one DeltaDiscoveryResponse for one type
 * (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#incremental-xds).
 * `generated` is the current full state for this client's subscription; `newlySubscribed` are
 * the names the request being answered added (a name that does not exist is reported in
 * `removed` once, so the client need not wait for its does-not-exist timer). Pure.
 */
export function planDelta(generated: ReadonlyMap<string, GeneratedResource>, watch: Pick<TypeWatch, 'wildcard' | 'names' | 'known'>, newlySubscribed: readonly string[] = []): DeltaPlan {
  const inScope = (name: string): boolean => watch.wildcard || watch.names.has(name);
  const resources: GeneratedResource[] = [];
  for (const r of generated.values()) if (inScope(r.name) && watch.known.get(r.name) !== r.version) resources.push(r);
  const removed = new Set<string>();
  for (const name of watch.known.keys()) if (!generated.has(name) || !inScope(name)) removed.add(name);
  for (const name of newlySubscribed) if (name !== '*' && !generated.has(name)) removed.add(name);
  resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { resources, removed: [...removed].sort() };
}

/**
 * The plan for a push in which only `changed` names can differ (an endpoint-only push: the
 * subscription and every other resource are as before): those of them in the subscription that
 * the client holds at another version; nothing removed. Equal to `planDelta` in that case,
 * without walking every subscribed name.
 */
export function planChanged(generated: ReadonlyMap<string, GeneratedResource>, watch: Pick<TypeWatch, 'wildcard' | 'names' | 'known'>, changed: ReadonlySet<string>): DeltaPlan {
  const resources: GeneratedResource[] = [];
  for (const name of changed) {
    const r = generated.get(name);
    if (r && (watch.wildcard || watch.names.has(name)) && watch.known.get(name) !== r.version) resources.push(r);
  }
  resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { resources, removed: [] };
}

/** Records that `plan` was sent: the client now holds these versions and none of the removed names. */
export function commitDelta(watch: Pick<TypeWatch, 'known'>, plan: DeltaPlan): void {
  for (const r of plan.resources) watch.known.set(r.name, r.version);
  for (const n of plan.removed) watch.known.delete(n);
}

/** Whether a plan carries anything (an empty Delta response is never sent, except to answer a subscription). */
export function isEmptyPlan(plan: DeltaPlan): boolean {
  return plan.resources.length === 0 && plan.removed.length === 0;
}
