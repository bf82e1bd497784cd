// MLT0109: a DENY rule on request paths, which match case-sensitively, so /ADMIN is not /admin to the policy while many backends treat them alike.
import { asArray, asObject, asString } from '../../api/diagnostics.js';
import type { AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

/**
 * Paths are matched byte for byte, as Istio does: a DENY on `/admin` does not match `/ADMIN` or
 * `/Admin`, which a case-insensitive backend (many on Windows, some frameworks) serves as the same
 * page (reliability-security §1 A9). Meltemi has no case-folding option, so each DENY rule on
 * `paths` gets a reminder to deny the other spellings too (a regex header rule, or an ALLOW
 * list of exact paths instead).
 */
export function analyzeCaseSensitiveDenyPaths(ctx: AnalysisContext): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const ap of ctx.ofKind('security.istio.io', 'AuthorizationPolicy')) {
    const spec = asObject(ap.spec);
    if ((asString(spec?.action) ?? 'ALLOW') !== 'DENY') continue;
    const rules = asArray(spec?.rules);
    rules.forEach((rule, i) => {
      asArray(asObject(rule)?.to).forEach((to, j) => {
        const paths = asArray(asObject(asObject(to)?.operation)?.paths).filter((p): p is string => typeof p === 'string' && /[a-zA-Z]/.test(p));
        if (paths.length === 0) return;
        out.push(
          ctx.message(
            'CaseSensitiveDenyPaths',
            ap,
            ['spec', 'rules', i, 'to', j, 'operation', 'paths'],
            `AuthorizationPolicy ${ctx.fullName(ap)} denies ${paths.map((p) => JSON.stringify(p)).join(', ')}, matched case-sensitively: ${JSON.stringify(paths[0]!.toUpperCase())} is not denied. If the backend treats paths case-insensitively, deny the other spellings too, or allow a list of exact paths instead.`,
          ),
        );
      });
    });
  }
  return out;
}
