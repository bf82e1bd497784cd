// RequestAuthentication → the policies (and so the JWT rules) that apply to a workload, in Istio 1.6's order; the remote key sets they need.
import type { Resource } from '../../api/kind.js';
import type { RequestAuthenticationSpec } from '../../api/kinds/request-authentication.js';
import { jwksSourceKey, type JwksSource } from '../jwks.js';
import type { RequestAuthenticationConfig } from '../push-context.js';
import { deepFreeze, labelsKey, selectorMatches, sortByCreation, typedConfig } from './config-meta.js';

const NONE: readonly RequestAuthenticationConfig[] = Object.freeze([]);

/** A selector that narrows the policy; an empty `matchLabels` selects everything, as if absent. */
function selectorOf(c: RequestAuthenticationConfig): Readonly<Record<string, string>> | undefined {
  const labels = c.spec.selector?.matchLabels;
  return labels && Object.keys(labels).length > 0 ? labels : undefined;
}

/**
 * All RequestAuthentications of a push, answered per workload as Istio 1.6 does
 * (`AuthenticationPolicies.GetJwtPoliciesForWorkload`): the policies of the workload's namespace,
 * then those of the root namespace, each namespace oldest first (creationTimestamp, then name);
 * a policy applies when it has no selector or its `matchLabels` are all among the workload's
 * labels. Unlike PeerAuthentication nothing is chosen or overridden: every applicable policy
 * contributes its rules. As in Istio 1.6, a root-namespace policy with a selector applies to
 * matching workloads of every namespace.
 */
export class RequestAuthenticationIndex {
  /** Policies by namespace, oldest first. */
  private readonly byNamespace = new Map<string, RequestAuthenticationConfig[]>();
  /** Answers by namespace and label set. */
  private readonly cache = new Map<string, readonly RequestAuthenticationConfig[]>();

  constructor(
    resources: readonly Resource[],
    private readonly rootNamespace: string,
  ) {
    for (const c of sortByCreation(resources.map((r) => deepFreeze(typedConfig<RequestAuthenticationSpec>(r))))) {
      const list = this.byNamespace.get(c.namespace) ?? [];
      list.push(c);
      this.byNamespace.set(c.namespace, list);
    }
  }

  /** The policies applying to a workload of `namespace` with `labels`: its namespace's, then the root namespace's. Frozen. */
  forWorkload(namespace: string, labels: Readonly<Record<string, string>>): readonly RequestAuthenticationConfig[] {
    if (this.byNamespace.size === 0) return NONE;
    const key = `${namespace}\u0000${labelsKey(labels)}`;
    let out = this.cache.get(key);
    if (!out) {
      const namespaces = namespace === this.rootNamespace ? [namespace] : [namespace, this.rootNamespace];
      const found: RequestAuthenticationConfig[] = [];
      for (const ns of namespaces) for (const c of this.byNamespace.get(ns) ?? []) if (selectorMatches(selectorOf(c), labels)) found.push(c);
      out = found.length === 0 ? NONE : Object.freeze(found);
      this.cache.set(key, out);
    }
    return out;
  }
}

/**
 * The distinct remote key sets the given RequestAuthentications need: one per jwksUri of a rule
 * without inline `jwks`, one per issuer of a rule with neither (OpenID discovery), sorted by key.
 * Rules without an issuer (refused by validation) are skipped.
 */
export function jwksSourcesOf(resources: readonly Resource[]): JwksSource[] {
  const out = new Map<string, JwksSource>();
  for (const r of resources) {
    for (const rule of (r.spec as RequestAuthenticationSpec | undefined)?.jwtRules ?? []) {
      if (!rule.issuer || rule.jwks) continue;
      const source: JwksSource = rule.jwksUri ? { issuer: rule.issuer, jwksUri: rule.jwksUri } : { issuer: rule.issuer };
      const key = jwksSourceKey(source);
      if (!out.has(key)) out.set(key, source);
    }
  }
  return [...out.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, s]) => s);
}
