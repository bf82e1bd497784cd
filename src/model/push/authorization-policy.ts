// AuthorizationPolicy → the policies in force for each workload, grouped by action (Istio 1.6's ListAuthorizationPolicies).
import type { Resource } from '../../api/kind.js';
import type { AuthorizationPolicySpec } from '../../api/kinds/authorization-policy.js';
import type { AuthorizationPolicyConfig, WorkloadAuthorizationPolicies } from '../push-context.js';
import { deepFreeze, labelsKey, refOf, selectorMatches, sortByCreation, typedConfig } from './config-meta.js';

/** The answer for a workload no policy selects (shared, frozen). */
export const NO_AUTHORIZATION_POLICIES: WorkloadAuthorizationPolicies = Object.freeze({
  deny: Object.freeze([]) as readonly AuthorizationPolicyConfig[],
  allow: Object.freeze([]) as readonly AuthorizationPolicyConfig[],
  audit: Object.freeze([]) as readonly AuthorizationPolicyConfig[],
});

/**
 * All AuthorizationPolicies of a push, answered per workload the way Istio 1.6 selects them:
 *
 * - A policy in the root namespace applies in every namespace, one elsewhere only in its own.
 * - Within those namespaces a policy applies when its `selector.matchLabels` are all among the
 *   workload's labels; no selector (or an empty one) selects every workload. So a root-namespace
 *   policy without a selector is mesh-wide, and one with a selector picks matching workloads of
 *   every namespace (Istio 1.6 does the same, unlike PeerAuthentication).
 * - Unlike PeerAuthentication nothing is "oldest wins": every applicable policy is used.
 * - Each action's list holds the root namespace's policies first, then the workload's namespace's;
 *   within one namespace oldest first (creationTimestamp, then name). The order never changes what
 *   is allowed (any matching policy counts), only the order of the generated RBAC policies.
 * - `action` absent means ALLOW. CUSTOM, refused by validation, is skipped if it ever gets here.
 */
export class AuthorizationPolicyIndex {
  /** Policies by namespace, oldest first. */
  private readonly byNamespace = new Map<string, AuthorizationPolicyConfig[]>();
  /** Answers by namespace and label set. */
  private readonly byWorkload = new Map<string, WorkloadAuthorizationPolicies>();
  /** Answers by the policies they hold: workloads selected by the same policies share one object. */
  private readonly bySelection = new Map<string, WorkloadAuthorizationPolicies>();

  constructor(
    resources: readonly Resource[],
    private readonly rootNamespace: string,
  ) {
    for (const c of sortByCreation(resources.map((r) => deepFreeze(typedConfig<AuthorizationPolicySpec>(r))))) {
      const list = this.byNamespace.get(c.namespace) ?? [];
      list.push(c);
      this.byNamespace.set(c.namespace, list);
    }
  }

  /** Whether the push holds no AuthorizationPolicy at all. */
  get empty(): boolean {
    return this.byNamespace.size === 0;
  }

  /** The policies in force for a workload of `namespace` with `labels`; frozen, shared between workloads with the same answer. */
  forWorkload(namespace: string, labels: Readonly<Record<string, string>>): WorkloadAuthorizationPolicies {
    if (this.empty) return NO_AUTHORIZATION_POLICIES;
    const key = `${namespace}\u0000${labelsKey(labels)}`;
    let out = this.byWorkload.get(key);
    if (!out) {
      out = this.select(namespace, labels);
      this.byWorkload.set(key, out);
    }
    return out;
  }

  private select(namespace: string, labels: Readonly<Record<string, string>>): WorkloadAuthorizationPolicies {
    const namespaces = namespace === this.rootNamespace ? [namespace] : [this.rootNamespace, namespace];
    const deny: AuthorizationPolicyConfig[] = [];
    const allow: AuthorizationPolicyConfig[] = [];
    const audit: AuthorizationPolicyConfig[] = [];
    for (const ns of namespaces) {
      for (const c of this.byNamespace.get(ns) ?? []) {
        if (!selectorMatches(c.spec.selector?.matchLabels, labels)) continue;
        const action = c.spec.action ?? 'ALLOW';
        if (action === 'ALLOW') allow.push(c);
        else if (action === 'DENY') deny.push(c);
        else if (action === 'AUDIT') audit.push(c);
      }
    }
    if (deny.length + allow.length + audit.length === 0) return NO_AUTHORIZATION_POLICIES;
    const key = [deny, allow, audit].map((l) => l.map(refOf).join(',')).join('|');
    let out = this.bySelection.get(key);
    if (!out) {
      out = Object.freeze({ deny: Object.freeze(deny), allow: Object.freeze(allow), audit: Object.freeze(audit) });
      this.bySelection.set(key, out);
    }
    return out;
  }
}
