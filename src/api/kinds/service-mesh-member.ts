// ServiceMeshMember (maistra.io/v1): a namespace asking to join the mesh of a named control plane, checked as the operator's webhook does.
import { Issues, asObject, asString } from '../diagnostics.js';
import { isDNS1123Label } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { arr, enumOf, int, obj, str, strMap, type Static } from '../schema.js';
import { MAISTRA_GROUP } from './service-mesh-control-plane.js';

/** The only name a ServiceMeshMember may have (OP `common.MemberName`). */
export const MEMBER_NAME = 'default';

export const MemberSpecSchema = obj({
  controlPlaneRef: obj({
    name: str('Name of the ServiceMeshControlPlane.'),
    namespace: str('Namespace of the ServiceMeshControlPlane.'),
  }, 'The control plane whose mesh this namespace joins; cannot be changed after creation.'),
});
export type MemberSpec = Static<typeof MemberSpecSchema>;

export const MemberStatusSchema = obj({
  annotations: strMap('e.g. controlPlaneRef: istio-system/basic.'),
  observedGeneration: int(),
  conditions: arr(obj({
    type: str('Reconciled or Ready.'),
    status: enumOf(['True', 'False', 'Unknown'] as const),
    lastTransitionTime: str('RFC 3339 time.'),
    reason: str('CreateMemberRollFailed, UpdateMemberRollFailed or DeleteMemberRollFailed.'),
    message: str(),
  })),
});

const schema = obj({ spec: MemberSpecSchema, status: MemberStatusSchema });

function validateMember(res: Resource, issues: Issues): void {
  const name = asString(asObject(res.metadata)?.name);
  if (name !== undefined && name !== '' && name !== MEMBER_NAME) issues.error(['metadata', 'name'], 'smm.name', `ServiceMeshMember must be named "${MEMBER_NAME}", got "${name}"`);
  const spec = asObject(res.spec);
  const ref = asObject(spec?.controlPlaneRef);
  if (!ref) {
    if (spec?.controlPlaneRef === undefined) issues.error(['spec', 'controlPlaneRef'], 'smm.control-plane-ref', 'spec.controlPlaneRef (name and namespace of a ServiceMeshControlPlane) is required');
    return;
  }
  for (const k of ['name', 'namespace'] as const) {
    const v = ref[k];
    if (v === undefined || v === '') issues.error(['spec', 'controlPlaneRef', k], 'smm.control-plane-ref', `spec.controlPlaneRef.${k} is required`);
    else if (typeof v === 'string' && !isDNS1123Label(v)) issues.error(['spec', 'controlPlaneRef', k], 'smm.control-plane-ref', `invalid ${k} "${v}": must be a DNS-1123 label`);
  }
}

/**
 * The UPDATE check of the admission webhook (MT-15): spec.controlPlaneRef is immutable. Reports
 * `smm.control-plane-ref-immutable` into `issues` when name or namespace differ between the old
 * and the new object; never throws, and reads nothing but the two objects.
 */
export function checkMemberUpdate(oldObj: unknown, newObj: unknown, issues: Issues): void {
  const ref = (o: unknown) => asObject(asObject(asObject(o)?.spec)?.controlPlaneRef);
  const before = ref(oldObj);
  const after = ref(newObj);
  const show = (r: Record<string, unknown> | undefined) => `${asString(r?.namespace) ?? ''}/${asString(r?.name) ?? ''}`;
  if (asString(before?.name) !== asString(after?.name) || asString(before?.namespace) !== asString(after?.namespace)) {
    issues.error(['spec', 'controlPlaneRef'], 'smm.control-plane-ref-immutable', `Mutation of .spec.controlPlaneRef isn't allowed (was ${show(before)}, now ${show(after)}); delete the ServiceMeshMember and create a new one`);
  }
}

export const serviceMeshMemberKind: KindDef = {
  group: MAISTRA_GROUP,
  kind: 'ServiceMeshMember',
  plural: 'servicemeshmembers',
  singular: 'servicemeshmember',
  shortNames: ['smm'],
  namespaced: true,
  nameFormat: 'dns1123-label',
  description: 'A request, from inside a namespace, to join the mesh of a control plane; must be named default.',
  versions: [{ name: 'v1', schema, validate: validateMember, validateUpdate: checkMemberUpdate, storage: true }],
};

const smm = (ref: string, name = 'default') => `apiVersion: maistra.io/v1\nkind: ServiceMeshMember\nmetadata: {name: ${name}, namespace: bookinfo}\nspec:\n${ref}`;

defineRules('ServiceMeshMember', [
  { id: 'smm.name', severity: 'error', summary: 'A ServiceMeshMember is named default.', examples: [{ yaml: smm('  controlPlaneRef: {name: basic, namespace: istio-system}\n', 'member'), field: 'metadata.name' }] },
  { id: 'smm.control-plane-ref', severity: 'error', summary: 'spec.controlPlaneRef names the control plane with a name and a namespace, both DNS-1123 labels.', examples: [{ yaml: smm('  controlPlaneRef: {name: basic}\n'), field: 'spec.controlPlaneRef.namespace' }, { yaml: smm('  controlPlaneRef: {name: Basic_CP, namespace: istio-system}\n'), field: 'spec.controlPlaneRef.name' }, { yaml: 'apiVersion: maistra.io/v1\nkind: ServiceMeshMember\nmetadata: {name: default, namespace: bookinfo}\nspec: {}\n', field: 'spec.controlPlaneRef' }] },
  { id: 'smm.control-plane-ref-immutable', severity: 'error', summary: 'spec.controlPlaneRef cannot change after creation; delete the ServiceMeshMember and create a new one.', examples: [{ previous: smm('  controlPlaneRef: {name: basic, namespace: istio-system}\n'), yaml: smm('  controlPlaneRef: {name: other, namespace: other-system}\n'), field: 'spec.controlPlaneRef' }] },
]);
