// MLT0102: RequestAuthentication without an AuthorizationPolicy that requires a request principal.
import { asArray, asObject, asString } from '../../api/diagnostics.js';
import type { Resource } from '../../api/kind.js';
import { formatLabels, labelsMatch, stringMap, type AnalysisContext, type Workload } from './context.js';
import type { AnalysisMessage } from './types.js';

const nonEmpty = (v: unknown) => asArray(v).length > 0;

/** Whether one rule of an ALLOW policy can only match requests that carry a valid token. */
function ruleRequiresPrincipal(rule: unknown): boolean {
  const r = asObject(rule);
  const fromRequires = asArray(r?.from).some((f) => nonEmpty(asObject(asObject(f)?.source)?.requestPrincipals));
  const whenRequires = asArray(r?.when).some((c) => {
    const cond = asObject(c);
    return (asString(cond?.key) ?? '').startsWith('request.auth.') && nonEmpty(cond?.values);
  });
  return fromRequires || whenRequires;
}

/**
 * An AuthorizationPolicy that turns away requests without a token: an ALLOW policy all of whose
 * rules need a request principal (or a request.auth.* claim), or a DENY policy with a rule on
 * notRequestPrincipals.
 */
function requiresPrincipal(ap: Resource): boolean {
  const spec = asObject(ap.spec);
  const rules = asArray(spec?.rules);
  if ((asString(spec?.action) ?? 'ALLOW') === 'DENY') {
    return rules.some((rule) => asArray(asObject(rule)?.from).some((f) => nonEmpty(asObject(asObject(f)?.source)?.notRequestPrincipals)));
  }
  return rules.length > 0 && rules.every(ruleRequiresPrincipal);
}

/**
 * A RequestAuthentication only rejects requests with an invalid token; a request with no token
 * at all passes unless an AuthorizationPolicy requires a principal — a classic misconfiguration
 * (https://istio.io/v1.6/docs/tasks/security/authorization/authz-jwt/). Reports a
 * RequestAuthentication with jwtRules when no such policy covers its workloads: by selector (the
 * policy's labels are a subset of its own, in its namespace or the root namespace) or, when its
 * workloads are known, workload by workload.
 */
export function analyzeRequestAuthentication(ctx: AnalysisContext): AnalysisMessage[] {
  const requiring = ctx.ofKind('security.istio.io', 'AuthorizationPolicy').filter(requiresPrincipal);
  const selectorOf = (r: Resource) => stringMap(asObject(asObject(r.spec)?.selector)?.matchLabels);
  const appliesTo = (ap: Resource, w: Workload) => {
    const ns = ctx.namespaceOf(ap);
    return (ns === w.namespace || ns === ctx.rootNamespace) && labelsMatch(selectorOf(ap), w.labels);
  };
  const out: AnalysisMessage[] = [];
  for (const ra of ctx.ofKind('security.istio.io', 'RequestAuthentication')) {
    if (!nonEmpty(asObject(ra.spec)?.jwtRules)) continue;
    const ns = ctx.namespaceOf(ra);
    const selector = selectorOf(ra);
    const bySelector = requiring.some((ap) => {
      const apNs = ctx.namespaceOf(ap);
      return (apNs === ns || apNs === ctx.rootNamespace) && labelsMatch(selectorOf(ap), selector);
    });
    if (bySelector) continue;
    const workloads = ctx.workloadsMatching(selector, ns === ctx.rootNamespace ? undefined : ns);
    if (workloads.length > 0 && workloads.every((w) => requiring.some((ap) => appliesTo(ap, w)))) continue;
    const scope = Object.keys(selector).length > 0 ? `the workloads labelled ${formatLabels(selector)}` : ns === ctx.rootNamespace ? 'the whole mesh' : `namespace ${ns}`;
    out.push(ctx.message('RequestAuthenticationWithoutAuthorization', ra, ['spec', 'jwtRules'], `RequestAuthentication ${ctx.fullName(ra)} rejects invalid tokens, but no AuthorizationPolicy requires a request principal for ${scope}: requests without a token are still allowed. Add an ALLOW policy with from.source.requestPrincipals (or a DENY policy with notRequestPrincipals: ["*"]).`));
  }
  return out;
}
