// Every kind Meltemi knows, in the order `meltemi get` and the docs list them.
import type { KindDef } from '../kind.js';
import { gatewayKind } from './gateway.js';
import { virtualServiceKind } from './virtual-service.js';
import { destinationRuleKind } from './destination-rule.js';
import { serviceEntryKind } from './service-entry.js';
import { sidecarKind } from './sidecar.js';
import { envoyFilterKind } from './envoy-filter.js';
import { workloadEntryKind } from './workload-entry.js';
import { peerAuthenticationKind } from './peer-authentication.js';
import { requestAuthenticationKind } from './request-authentication.js';
import { authorizationPolicyKind } from './authorization-policy.js';
import { KUBERNETES_KINDS } from './kubernetes.js';
import { serviceMeshControlPlaneKind } from './service-mesh-control-plane.js';
import { serviceMeshMemberRollKind } from './service-mesh-member-roll.js';
import { serviceMeshMemberKind } from './service-mesh-member.js';
import { serviceMeshExtensionKind } from './service-mesh-extension.js';

export const ALL_KINDS: readonly KindDef[] = [gatewayKind, virtualServiceKind, destinationRuleKind, serviceEntryKind, sidecarKind, envoyFilterKind, workloadEntryKind, peerAuthenticationKind, requestAuthenticationKind, authorizationPolicyKind, ...KUBERNETES_KINDS, serviceMeshControlPlaneKind, serviceMeshMemberRollKind, serviceMeshMemberKind, serviceMeshExtensionKind];
