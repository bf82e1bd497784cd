// RANDOM within one host list: a uniformly random host, as Envoy's random load balancer picks (endpoint weights are not consulted).
import type { Host } from './host.js';
import { EMPTY_PICKER, SinglePicker, type HostPicker } from './picker.js';

/**
 * Uniform choice over `hosts`. Envoy's RANDOM ignores load_balancing_weight (weights still shape
 * priority and locality choice above this picker); we mirror it so a mesh behaves the same under
 * either proxy.
 */
export function randomPicker(hosts: readonly Host[], random: () => number): HostPicker {
  if (hosts.length === 0) return EMPTY_PICKER;
  if (hosts.length === 1) return new SinglePicker(hosts[0]!);
  return new RandomPicker(hosts, random);
}

class RandomPicker implements HostPicker {
  constructor(
    private readonly hosts: readonly Host[],
    private readonly random: () => number,
  ) {}
  pick(): Host {
    const n = this.hosts.length;
    // random() < 1, but a fake RNG returning 1 must not index past the end.
    return this.hosts[Math.min(n - 1, Math.floor(this.random() * n))]!;
  }
}
