// MLT0108: a DENY rule on caller identities (principals, namespaces) for workloads that still take plaintext, which such a rule never matches.
import { asArray, asObject, asString } from '../../api/diagnostics.js';
import type { Resource } from '../../api/kind.js';
import { stringMap, type AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

/** Source keys that only a verified mTLS peer has. */
const IDENTITY_FIELDS = ['principals', 'namespaces'] as const;
const IDENTITY_KEYS = new Set(['source.principal', 'source.namespace']);

/** The first rule and field of a DENY policy that matches callers by identity, if any. */
function identityRule(ap: Resource): (string | number)[] | undefined {
  const rules = asArray(asObject(ap.spec)?.rules);
  for (let i = 0; i < rules.length; i++) {
    const rule = asObject(rules[i]);
    const from = asArray(rule?.from);
    for (let j = 0; j < from.length; j++) {
      const source = asObject(asObject(from[j])?.source);
      for (const f of IDENTITY_FIELDS) if (asArray(source?.[f]).length > 0) return ['spec', 'rules', i, 'from', j, 'source', f];
    }
    const when = asArray(rule?.when);
    for (let j = 0; j < when.length; j++) if (IDENTITY_KEYS.has(asString(asObject(when[j])?.key) ?? '')) return ['spec', 'rules', i, 'when', j];
  }
  return undefined;
}

/** Whether mutual TLS is STRICT for the whole namespace (mesh-wide or namespace-wide policy), so no caller is without an identity. */
function strictNamespace(ctx: AnalysisContext, ns: string): boolean {
  const policies = ctx.ofKind('security.istio.io', 'PeerAuthentication');
  const modeOf = (r: Resource) => asString(asObject(asObject(r.spec)?.mtls)?.mode) ?? 'UNSET';
  const wide = (r: Resource) => Object.keys(stringMap(asObject(asObject(r.spec)?.selector)?.matchLabels)).length === 0;
  const inNs = policies.filter((r) => wide(r) && ctx.namespaceOf(r) === ns && modeOf(r) !== 'UNSET');
  if (inNs.length > 0) return inNs.every((r) => modeOf(r) === 'STRICT');
  const mesh = policies.filter((r) => wide(r) && ctx.namespaceOf(r) === ctx.rootNamespace && modeOf(r) !== 'UNSET');
  return mesh.length > 0 && mesh.every((r) => modeOf(r) === 'STRICT');
}

/**
 * Istio matches `principals` and `namespaces` only against the verified mTLS peer. On workloads
 * that also accept plaintext (PERMISSIVE, the default), a caller that skips mTLS has no identity,
 * so a DENY rule naming it never matches and the caller gets through
 * (ISTIO-SECURITY-2021-004, reliability-security §1 H2). Reports DENY policies matching on caller
 * identity in a namespace whose mutual TLS is not STRICT for every workload.
 */
export function analyzePlaintextDenyBypass(ctx: AnalysisContext): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const ap of ctx.ofKind('security.istio.io', 'AuthorizationPolicy')) {
    if ((asString(asObject(ap.spec)?.action) ?? 'ALLOW') !== 'DENY') continue;
    const path = identityRule(ap);
    if (!path) continue;
    const ns = ctx.namespaceOf(ap);
    // A root-namespace policy applies everywhere: only a STRICT mesh covers it.
    if (strictNamespace(ctx, ns)) continue;
    out.push(
      ctx.message(
        'PlaintextBypassesIdentityDeny',
        ap,
        path,
        `AuthorizationPolicy ${ctx.fullName(ap)} denies callers by identity, but mutual TLS is not STRICT in namespace ${ns}: a plaintext caller has no identity, so this rule never matches it and it is let through. Make mTLS STRICT (PeerAuthentication), or also deny callers without an identity (from.source.notPrincipals: ["*"]).`,
      ),
    );
  }
  return out;
}
