// MLT0105 / MLT0106: ServiceMeshMemberRoll membership conflicts (MT-03, MT-04).
import { asArray, asObject } from '../../api/diagnostics.js';
import type { Resource } from '../../api/kind.js';
import { oldestFirst, type AnalysisContext } from './context.js';
import type { AnalysisMessage } from './types.js';

/**
 * A namespace belongs to at most one mesh: the admission webhook refuses a member roll listing a
 * namespace another member roll already lists (MLT0105, reported on the newer roll). A roll
 * listing its own control-plane namespace is harmless but pointless: that namespace is always in
 * the mesh and the mutating webhook drops the entry (MLT0106).
 */
export function analyzeMemberRolls(ctx: AnalysisContext): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  const owner = new Map<string, Resource>();
  const rolls = oldestFirst(ctx.ofKind('maistra.io', 'ServiceMeshMemberRoll'), (r) => `${ctx.namespaceOf(r)}/${ctx.nameOf(r)}`);
  for (const roll of rolls) {
    const ns = ctx.namespaceOf(roll);
    asArray(asObject(roll.spec)?.members).forEach((m, i) => {
      if (typeof m !== 'string' || m === '') return;
      if (m === ns) {
        out.push(ctx.message('MemberRollListsControlPlaneNamespace', roll, ['spec', 'members', i], `Member "${m}" is the control-plane namespace of this member roll; it is always part of the mesh and the entry is removed on admission`));
        return;
      }
      const prev = owner.get(m);
      if (prev && prev !== roll) {
        out.push(ctx.message('NamespaceInMultipleMemberRolls', roll, ['spec', 'members', i], `Namespace "${m}" is already a member of ServiceMeshMemberRoll ${ctx.fullName(prev)} (mesh in ${ctx.namespaceOf(prev)}); a namespace can belong to one mesh only, so this newer member roll is refused`));
      } else owner.set(m, roll);
    });
  }
  return out;
}
