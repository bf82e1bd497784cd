// ServiceMeshMemberRoll (maistra.io/v1): the namespaces that belong to the mesh of the control plane in its namespace, checked as the operator's webhooks do for one object.
import { Issues, asArray, asObject, asString, isObject } from '../diagnostics.js';
import { isDNS1123Label } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { arr, enumOf, int, obj, str, strMap, type Static } from '../schema.js';
import { MAISTRA_GROUP } from './service-mesh-control-plane.js';

/** The only name a member roll (and a member) may have (OP `common.MemberRollName`). */
export const MEMBER_ROLL_NAME = 'default';

const MemberRollConditionSchema = obj({
  type: str('Ready.'),
  status: enumOf(['True', 'False', 'Unknown'] as const),
  lastTransitionTime: str('RFC 3339 time.'),
  reason: str('Configured, ReconcileError, ErrSMCPMissing, ErrMultipleSMCPs or SMCPReconciling.'),
  message: str(),
});

export const MemberRollSpecSchema = obj({
  members: arr(str(), 'Namespaces to add to the mesh (DNS-1123 labels, no duplicates, not the control plane namespace).'),
});
export type MemberRollSpec = Static<typeof MemberRollSpecSchema>;

export const MemberRollStatusSchema = obj({
  annotations: strMap('e.g. configuredMemberCount: "2/3".'),
  observedGeneration: int(),
  meshGeneration: int('Generation of the control plane the members were last configured for.'),
  meshReconciledVersion: str('<operator version>-<generation> of the control plane last reconciled against.'),
  configuredMembers: arr(str(), 'Members whose namespace is configured for the mesh.'),
  pendingMembers: arr(str(), 'Listed members not configured yet (missing namespace or error).'),
  terminatingMembers: arr(str(), 'Listed members whose namespace is being deleted.'),
  conditions: arr(MemberRollConditionSchema),
  memberStatuses: arr(obj({ namespace: str(), conditions: arr(MemberRollConditionSchema) }), 'Per-member conditions.'),
});

const schema = obj({ spec: MemberRollSpecSchema, status: MemberRollStatusSchema });

function validateMemberRoll(res: Resource, issues: Issues): void {
  const meta = asObject(res.metadata);
  const name = asString(meta?.name);
  if (name !== undefined && name !== '' && name !== MEMBER_ROLL_NAME) {
    issues.error(['metadata', 'name'], 'smmr.name', `ServiceMeshMemberRoll must be named '${MEMBER_ROLL_NAME}', got "${name}"`);
  }
  const cpNamespace = asString(meta?.namespace);
  const seen = new Map<string, number>();
  asArray(asObject(res.spec)?.members).forEach((m, i) => {
    if (typeof m !== 'string') return;
    const path = ['spec', 'members', i];
    if (!isDNS1123Label(m)) issues.error(path, 'smmr.member-name', `.spec.members contains invalid value '${m}'. Must be a valid namespace name (DNS-1123 label).`);
    const first = seen.get(m);
    if (first !== undefined) issues.error(path, 'smmr.member-duplicate', `ServiceMeshMemberRoll may not contain duplicate namespaces in .spec.members ("${m}" is also members[${first}])`);
    else seen.set(m, i);
    if (cpNamespace !== undefined && m === cpNamespace) {
      issues.warn(path, 'smmr.control-plane-member', `the control plane namespace "${m}" is always a member; entry ignored`);
    }
  });
}

/**
 * What the operator's mutating webhook does to a member roll before validation (MT-04): removes
 * the control plane namespace (metadata.namespace) from spec.members. Returns a new object; the
 * input is not modified. Objects without a namespace or without members come back as copies.
 */
export function normalizeMemberRoll<T>(obj: T): T {
  const copy = structuredClone(obj);
  if (!isObject(copy)) return copy;
  const ns = asString(asObject(copy.metadata)?.namespace);
  const spec = asObject(copy.spec);
  if (ns === undefined || !spec || !Array.isArray(spec.members)) return copy;
  spec.members = spec.members.filter((m) => m !== ns);
  return copy;
}

export const serviceMeshMemberRollKind: KindDef = {
  group: MAISTRA_GROUP,
  kind: 'ServiceMeshMemberRoll',
  plural: 'servicemeshmemberrolls',
  singular: 'servicemeshmemberroll',
  shortNames: ['smmr'],
  namespaced: true,
  nameFormat: 'dns1123-label',
  description: 'The namespaces that join the mesh of the control plane in the same namespace; must be named default.',
  versions: [{ name: 'v1', schema, validate: validateMemberRoll, storage: true }],
};

const smmr = (members: string, name = 'default') => `apiVersion: maistra.io/v1\nkind: ServiceMeshMemberRoll\nmetadata: {name: ${name}, namespace: istio-system}\nspec:\n  members: ${members}\n`;

defineRules('ServiceMeshMemberRoll', [
  { id: 'smmr.name', severity: 'error', summary: 'A ServiceMeshMemberRoll is named default.', examples: [{ yaml: smmr('[bookinfo]', 'members'), field: 'metadata.name' }] },
  { id: 'smmr.member-name', severity: 'error', summary: 'Members are namespace names (DNS-1123 labels).', examples: [{ yaml: smmr('[bookinfo, Book_Info]'), field: 'spec.members[1]' }] },
  { id: 'smmr.member-duplicate', severity: 'error', summary: 'spec.members lists each namespace once.', examples: [{ yaml: smmr('[bookinfo, reviews, bookinfo]'), field: 'spec.members[2]' }] },
  { id: 'smmr.control-plane-member', severity: 'warning', summary: 'The control plane namespace is always part of its mesh; listing it is ignored (the mutating webhook removes it).', examples: [{ yaml: smmr('[bookinfo, istio-system]'), field: 'spec.members[1]' }] },
]);
