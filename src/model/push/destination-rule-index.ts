// DestinationRules indexed per namespace as Istio 1.6 does: merged per host, most specific host first, looked up proxy ns → service ns → root ns.
import type { Resource } from '../../api/kind.js';
import { hostSubsetOf, resolveShortName } from '../../api/hosts.js';
import type { DestinationRuleSpec } from '../../api/kinds/destination-rule.js';
import type { DestinationRuleConfig, PushMessage } from '../push-context.js';
import { deepFreeze, refOf, sortByCreation, typedConfig } from './config-meta.js';

type Subset = NonNullable<DestinationRuleSpec['subsets']>[number];

/** The rules of one namespace (one visibility pool), merged per resolved host. */
class HostRules {
  /** Hosts sorted most specific first (Istio's host.Names order): non-wildcards, then longer, then lexical. */
  private sorted: string[] | undefined;
  readonly byHost = new Map<string, DestinationRuleConfig>();
  /** Effective exportTo per host (the first rule's, or the first non-empty one). */
  readonly exportTo = new Map<string, readonly string[]>();

  /**
   * Adds a rule (callers add oldest first). A second rule for the same host is merged into the
   * first (Istio's mergeDestinationRule): its subsets are appended unless the name is taken, its
   * trafficPolicy only fills a gap, and its exportTo applies only if the first had none.
   */
  add(rule: DestinationRuleConfig, messages: PushMessage[]): void {
    this.sorted = undefined;
    const existing = this.byHost.get(rule.host);
    if (!existing) {
      this.byHost.set(rule.host, rule);
      this.exportTo.set(rule.host, rule.spec.exportTo ?? []);
      return;
    }
    const subsets: Subset[] = [...(existing.spec.subsets ?? [])];
    const names = new Set(subsets.map((s) => s.name));
    for (const s of rule.spec.subsets ?? []) {
      if (names.has(s.name)) {
        messages.push({
          level: 'Warning',
          resource: `DestinationRule ${refOf(rule)}`,
          message: `subset "${s.name}" of host "${rule.host}" is already defined by DestinationRule ${refOf(existing)}; this one is ignored`,
        });
        continue;
      }
      names.add(s.name);
      subsets.push(s);
    }
    const exportTo = (this.exportTo.get(rule.host) ?? []).length > 0 ? this.exportTo.get(rule.host)! : (rule.spec.exportTo ?? []);
    this.exportTo.set(rule.host, exportTo);
    const spec: DestinationRuleSpec = { ...existing.spec, subsets };
    if (spec.trafficPolicy === undefined && rule.spec.trafficPolicy !== undefined) spec.trafficPolicy = rule.spec.trafficPolicy;
    if (exportTo.length > 0) spec.exportTo = [...exportTo];
    this.byHost.set(rule.host, { ...existing, spec });
  }

  freeze(): void {
    for (const r of this.byHost.values()) deepFreeze(r);
  }

  /** Istio's MostSpecificHostMatch: the exact host, else the most specific rule host covering `hostname`. */
  match(hostname: string): string | undefined {
    if (this.byHost.has(hostname)) return hostname;
    this.sorted ??= [...this.byHost.keys()].sort(mostSpecificFirst);
    return this.sorted.find((h) => hostSubsetOf(hostname, h));
  }
}

/** Istio's host.Names sort: non-wildcards before wildcards, longer before shorter, then lexical. */
export function mostSpecificFirst(a: string, b: string): number {
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw !== bw) return aw ? 1 : -1;
  if (a.length !== b.length) return b.length - a.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * All DestinationRules of a push. `lookup` answers for a client namespace and a service host:
 * 1. rules in the client's own namespace (any exportTo that includes it: none, `*`, `.`, or its
 *    name) — for a client in the root namespace, only the root namespace's private rules;
 * 2. rules in the service's namespace exported to the client;
 * 3. rules in the root namespace exported to the client.
 * Within each step the exact host wins over wildcards, and the most specific wildcard over wider ones.
 */
export class DestinationRuleIndex {
  readonly messages: readonly PushMessage[];
  private readonly namespaceLocal = new Map<string, HostRules>();
  private readonly exported = new Map<string, HostRules>();
  private readonly rootLocal = new HostRules();
  private readonly cache = new Map<string, DestinationRuleConfig | null>();

  constructor(
    resources: readonly Resource[],
    private readonly rootNamespace: string,
    clusterDomain: string,
  ) {
    const messages: PushMessage[] = [];
    // Oldest first, so the oldest rule's top-level policy wins a merge.
    for (const c of sortByCreation(resources.map((r) => typedConfig<DestinationRuleSpec>(r)))) {
      const rule: DestinationRuleConfig = { ...c, host: resolveShortName(c.spec.host ?? '', c.namespace, clusterDomain) };
      const exportTo = c.spec.exportTo ?? [];
      const publicOrOwn = exportTo.length === 0 || exportTo.includes('*') || exportTo.includes('.') || exportTo.includes(c.namespace);
      if (publicOrOwn) pool(this.namespaceLocal, c.namespace).add(rule, messages);
      const privateOnly = exportTo.length === 1 && exportTo[0] === '.';
      if (!privateOnly) pool(this.exported, c.namespace).add(rule, messages);
      else if (c.namespace === rootNamespace) this.rootLocal.add(rule, messages);
    }
    for (const p of [...this.namespaceLocal.values(), ...this.exported.values(), this.rootLocal]) p.freeze();
    // A rule merged into both pools reports its duplicate subsets twice; say it once.
    const seen = new Set<string>();
    this.messages = Object.freeze(messages.filter((m) => !seen.has(m.resource + m.message) && seen.add(m.resource + m.message)));
  }

  /** The rule in force for `hostname` (a service of `serviceNamespace`, '' when unknown) seen from `clientNamespace`. */
  lookup(clientNamespace: string, hostname: string, serviceNamespace: string): DestinationRuleConfig | undefined {
    const key = `${clientNamespace}\u0000${serviceNamespace}\u0000${hostname}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.find(clientNamespace, hostname, serviceNamespace);
    this.cache.set(key, found ?? null);
    return found;
  }

  private find(clientNamespace: string, hostname: string, serviceNamespace: string): DestinationRuleConfig | undefined {
    // In the root namespace only its private rules come first: its public `*.local`-style rules are
    // mesh-wide defaults, and a gateway living there must still prefer the service's own rules.
    const local = clientNamespace !== this.rootNamespace ? this.namespaceLocal.get(clientNamespace) : this.rootLocal;
    const h = local?.match(hostname);
    if (h !== undefined) return local!.byHost.get(h);
    if (serviceNamespace !== '') {
      const r = this.exportedFrom(serviceNamespace, hostname, clientNamespace);
      if (r) return r;
    }
    return this.exportedFrom(this.rootNamespace, hostname, clientNamespace);
  }

  private exportedFrom(owner: string, hostname: string, clientNamespace: string): DestinationRuleConfig | undefined {
    const p = this.exported.get(owner);
    const h = p?.match(hostname);
    if (h === undefined) return undefined;
    const exportTo = p!.exportTo.get(h) ?? [];
    if (exportTo.length === 0 || exportTo.includes('*') || exportTo.includes(clientNamespace)) return p!.byHost.get(h);
    return undefined;
  }
}

function pool(m: Map<string, HostRules>, ns: string): HostRules {
  let p = m.get(ns);
  if (!p) {
    p = new HostRules();
    m.set(ns, p);
  }
  return p;
}
