// Every analysis message code, with its level and a one-line summary (docs/analysis.md is generated from this list).
import type { Level } from './types.js';

export interface AnalysisCode {
  code: string;
  /** Istio's message name where the code is Istio's, Meltemi's own otherwise. */
  name: string;
  level: Level;
  summary: string;
}

/**
 * The codes, keyed by name. IST codes mean what they mean in `istioctl analyze`; MLT01xx codes
 * are Meltemi's own, for problems Istio's analyzers do not report.
 */
export const CODES = {
  ReferencedResourceNotFound: {
    code: 'IST0101',
    level: 'Error',
    summary: 'A referenced resource does not exist: a VirtualService destination host, host:port or host+subset, a VirtualService gateway, or the workload a Gateway selector names.',
  },
  ConflictingMeshGatewayVirtualServiceHosts: {
    code: 'IST0109',
    level: 'Error',
    summary: 'Several VirtualServices bound to the mesh gateway define the same host; they are not merged, only the oldest takes effect.',
  },
  ConflictingSidecarWorkloadSelectors: {
    code: 'IST0110',
    level: 'Error',
    summary: 'Several Sidecar resources select the same workload; which one applies is undefined.',
  },
  MultipleSidecarsWithoutWorkloadSelectors: {
    code: 'IST0111',
    level: 'Error',
    summary: 'A namespace has more than one Sidecar without workloadSelector; which one applies is undefined.',
  },
  VirtualServiceDestinationPortSelectorRequired: {
    code: 'IST0112',
    level: 'Error',
    summary: 'A VirtualService bound to a gateway routes to a service with several ports without saying which port.',
  },
  NoMatchingWorkloadsFound: {
    code: 'IST0127',
    level: 'Warning',
    summary: 'A PeerAuthentication, RequestAuthentication, AuthorizationPolicy, Sidecar, EnvoyFilter or ServiceMeshExtension selects no workload of its namespace (of any namespace in the root namespace).',
  },
  ConflictingGateways: {
    code: 'IST0145',
    level: 'Error',
    summary: 'Two Gateways on the same gateway workload claim the same host on the same HTTPS/TLS port (MAISTRA-158); the oldest wins and the newer one is reported. Plaintext HTTP servers merge.',
  },
  DestinationRuleHostNotFound: {
    code: 'MLT0101',
    level: 'Warning',
    summary: 'A DestinationRule\'s host matches no Service or ServiceEntry, so its traffic policy and subsets apply to nothing.',
  },
  RequestAuthenticationWithoutAuthorization: {
    code: 'MLT0102',
    level: 'Warning',
    summary: 'A RequestAuthentication rejects bad tokens, but no AuthorizationPolicy requires a request principal for its workloads, so requests without a token are still allowed.',
  },
  SubsetMatchesNoWorkload: {
    code: 'MLT0103',
    level: 'Warning',
    summary: 'A DestinationRule subset\'s labels match none of the workloads behind its service; traffic routed to the subset fails (503, no healthy upstream).',
  },
  MultipleControlPlanesInNamespace: {
    code: 'MLT0104',
    level: 'Error',
    summary: 'A namespace holds more than one ServiceMeshControlPlane (OP-03); the newer ones are refused.',
  },
  NamespaceInMultipleMemberRolls: {
    code: 'MLT0105',
    level: 'Error',
    summary: 'A namespace is listed in two ServiceMeshMemberRolls (MT-03); a namespace belongs to one mesh, the newer member roll is refused.',
  },
  MemberRollListsControlPlaneNamespace: {
    code: 'MLT0106',
    level: 'Warning',
    summary: 'A ServiceMeshMemberRoll lists its own control-plane namespace, which is always part of the mesh; the entry is removed on admission.',
  },
  ServiceEntryHostShadowed: {
    code: 'MLT0107',
    level: 'Warning',
    summary: 'Two ServiceEntries of one namespace declare the same host; the namespace gets one service per hostname (the oldest entry\'s), so the other\'s ports and endpoints for that host are not served. Entries of different namespaces are separate services.',
  },
  PlaintextBypassesIdentityDeny: {
    code: 'MLT0108',
    level: 'Warning',
    summary: 'A DENY AuthorizationPolicy matches callers by principal or namespace in a namespace whose mutual TLS is not STRICT; plaintext callers have no identity, so the rule never matches them (ISTIO-SECURITY-2021-004).',
  },
  CaseSensitiveDenyPaths: {
    code: 'MLT0109',
    level: 'Info',
    summary: 'A DENY AuthorizationPolicy names request paths, which match case-sensitively; a backend that treats /ADMIN as /admin is reached by the other spelling (reliability-security §1 A9).',
  },
} as const satisfies Record<string, Omit<AnalysisCode, 'name'>>;

export type CodeName = keyof typeof CODES;

/** Every code, in code order, for docs and `meltemi analyze --list-codes`-style help. */
export const ALL_CODES: readonly AnalysisCode[] = (Object.entries(CODES) as Array<[CodeName, Omit<AnalysisCode, 'name'>]>)
  .map(([name, c]) => ({ name, ...c }))
  .sort((a, b) => a.code.localeCompare(b.code));
