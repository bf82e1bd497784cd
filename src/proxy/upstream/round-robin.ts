// ROUND_ROBIN within one host list: plain rotation when weights are equal, Envoy's EDF weighted round robin otherwise.
import { EdfScheduler } from './edf-scheduler.js';
import type { Host } from './host.js';
import { EMPTY_PICKER, SinglePicker, equalWeights, type HostPicker } from './picker.js';

/**
 * Round robin over `hosts` (fixed for the picker's life; the load balancer builds a new picker when
 * the list changes). Equal weights rotate from a random start, so proxies that start together do not
 * all hit the first host in step (Envoy does the same); unequal weights use an EDF schedule, which
 * gives each host exactly its weight's share of every Σweights picks.
 */
export function roundRobinPicker(hosts: readonly Host[], random: () => number): HostPicker {
  const n = hosts.length;
  if (n === 0) return EMPTY_PICKER;
  if (n === 1) return new SinglePicker(hosts[0]!);
  if (equalWeights(hosts)) return new Rotation(hosts, Math.floor(random() * n) % n);
  return new WeightedRoundRobin(hosts);
}

class Rotation implements HostPicker {
  constructor(
    private readonly hosts: readonly Host[],
    private next: number,
  ) {}
  pick(): Host {
    const h = this.hosts[this.next]!;
    this.next = this.next + 1 === this.hosts.length ? 0 : this.next + 1;
    return h;
  }
}

class WeightedRoundRobin implements HostPicker {
  private readonly scheduler: EdfScheduler;
  constructor(private readonly hosts: readonly Host[]) {
    this.scheduler = new EdfScheduler(hosts.map((h) => h.weight));
  }
  pick(): Host | undefined {
    const i = this.scheduler.peek();
    if (i < 0) return undefined;
    return this.hosts[this.scheduler.pick(this.hosts[i]!.weight)];
  }
}
