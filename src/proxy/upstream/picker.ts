// The contract between the load balancer (priorities, localities, panic, retries' host predicate) and a policy that picks inside one host list.
import type { Host } from './host.js';

/**
 * Picks a host from one fixed list of hosts (e.g. the healthy hosts of priority 0, or of one locality
 * of it). The load balancer builds pickers when the list changes (config, endpoint or health update),
 * never per request; `pick` must not allocate. Undefined only when the list is empty.
 */
export interface HostPicker {
  pick(): Host | undefined;
}

/** A picker for an empty list. */
export const EMPTY_PICKER: HostPicker = Object.freeze({ pick: () => undefined });

/** A picker for a one-host list: every policy agrees on the answer. */
export class SinglePicker implements HostPicker {
  constructor(private readonly host: Host) {}
  pick(): Host {
    return this.host;
  }
}

/** Whether all hosts have the same load_balancing_weight (Envoy then uses its unweighted algorithms). */
export function equalWeights(hosts: readonly Host[]): boolean {
  const w = hosts[0]?.weight;
  for (let i = 1; i < hosts.length; i++) if (hosts[i]!.weight !== w) return false;
  return true;
}

/**
 * A consistent-hash table over all hosts of one priority (ring hash or Maglev), built once per host
 * list. Health does not rebuild it: a lookup skips the entries of hosts that are not eligible, so a
 * host going down moves only its own keys (Envoy rebuilds over the healthy hosts instead, which can
 * move a few more).
 */
export interface HashTable {
  /**
   * The index (into the priority's host list) of the host for request hash `h` (an integer in
   * [0, 2^53)): the first eligible host the table yields for h, where host i is eligible when
   * `want === 0` or `state[i] === want`. When `avoid` is given, a host it rejects is skipped, up to
   * `maxAvoid` times, after which the next candidate is accepted as is. -1 when no host is eligible.
   */
  select(h: number, state: Uint8Array, want: number, hosts: readonly Host[], avoid: ((host: Host) => boolean) | undefined, maxAvoid: number): number;
}
