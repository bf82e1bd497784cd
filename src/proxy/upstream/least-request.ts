// LEAST_REQUEST within one host list: power-of-N-choices by active requests when weights are equal, Envoy's weight/(active+1) EDF schedule otherwise.
import { EdfScheduler } from './edf-scheduler.js';
import type { Host } from './host.js';
import { EMPTY_PICKER, SinglePicker, equalWeights, type HostPicker } from './picker.js';

/**
 * Least request over `hosts`, as Envoy's LeastRequestLoadBalancer
 * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#weighted-least-request):
 * - equal weights: draw `choiceCount` hosts at random (with replacement) and take the one with the
 *   fewest active requests, the first drawn on a tie (P2C when choiceCount is 2, the default);
 * - unequal weights: an EDF schedule in which a host, each time it is picked, is re-queued with weight
 *   load_balancing_weight / (active_requests + 1) (active_request_bias 1.0).
 */
export function leastRequestPicker(hosts: readonly Host[], random: () => number, choiceCount: number): HostPicker {
  if (hosts.length === 0) return EMPTY_PICKER;
  if (hosts.length === 1) return new SinglePicker(hosts[0]!);
  if (equalWeights(hosts)) return new PowerOfChoices(hosts, random, choiceCount);
  return new WeightedLeastRequest(hosts);
}

class PowerOfChoices implements HostPicker {
  constructor(
    private readonly hosts: readonly Host[],
    private readonly random: () => number,
    private readonly choices: number,
  ) {}
  pick(): Host {
    const hosts = this.hosts;
    const n = hosts.length;
    let best = hosts[Math.min(n - 1, Math.floor(this.random() * n))]!;
    for (let i = 1; i < this.choices; i++) {
      const h = hosts[Math.min(n - 1, Math.floor(this.random() * n))]!;
      if (h.activeRequests < best.activeRequests) best = h;
    }
    return best;
  }
}

class WeightedLeastRequest implements HostPicker {
  private readonly scheduler: EdfScheduler;
  constructor(private readonly hosts: readonly Host[]) {
    this.scheduler = new EdfScheduler(hosts.map(effectiveWeight));
  }
  pick(): Host | undefined {
    const i = this.scheduler.peek();
    if (i < 0) return undefined;
    return this.hosts[this.scheduler.pick(effectiveWeight(this.hosts[i]!))];
  }
}

/** Envoy's weight / (active_requests + 1)^active_request_bias with the default bias of 1. */
function effectiveWeight(h: Host): number {
  return h.weight / (Math.max(0, h.activeRequests) + 1);
}
