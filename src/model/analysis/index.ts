// `meltemi analyze`'s engine: runs every cross-resource analyzer over a set of resources and sorts the messages.
import type { Resource } from '../../api/kind.js';
import { AnalysisContext } from './context.js';
import { analyzeCaseSensitiveDenyPaths } from './case-sensitive-deny-paths.js';
import { analyzeConflictingGateways } from './conflicting-gateways.js';
import { analyzeControlPlanes } from './control-planes.js';
import { analyzeDestinationHosts } from './destination-hosts.js';
import { analyzeDestinationRuleHosts } from './destination-rule-hosts.js';
import { analyzeDestinationSubsets } from './destination-subsets.js';
import { analyzeGatewaySelectors } from './gateway-selectors.js';
import { analyzeMemberRolls } from './member-rolls.js';
import { analyzeMeshGatewayHosts } from './mesh-gateway-hosts.js';
import { analyzePlaintextDenyBypass } from './plaintext-deny-bypass.js';
import { analyzePolicySelectors } from './policy-selectors.js';
import { analyzeRequestAuthentication } from './request-authentication.js';
import { analyzeServiceEntryHosts } from './service-entry-hosts.js';
import { analyzeSidecarSelectors } from './sidecar-selectors.js';
import { analyzeSubsetWorkloads } from './subset-workloads.js';
import { analyzeVirtualServiceGateways } from './virtual-service-gateways.js';
import type { AnalysisMessage, AnalyzeOptions } from './types.js';

export type Analyzer = (ctx: AnalysisContext) => AnalysisMessage[];

/** Every analyzer, by name (the names appear in docs and test titles). */
export const ANALYZERS: Readonly<Record<string, Analyzer>> = {
  'destination-hosts': analyzeDestinationHosts,
  'destination-subsets': analyzeDestinationSubsets,
  'virtual-service-gateways': analyzeVirtualServiceGateways,
  'destination-rule-hosts': analyzeDestinationRuleHosts,
  'gateway-selectors': analyzeGatewaySelectors,
  'mesh-gateway-hosts': analyzeMeshGatewayHosts,
  'conflicting-gateways': analyzeConflictingGateways,
  'policy-selectors': analyzePolicySelectors,
  'request-authentication': analyzeRequestAuthentication,
  'sidecar-selectors': analyzeSidecarSelectors,
  'subset-workloads': analyzeSubsetWorkloads,
  'control-planes': analyzeControlPlanes,
  'member-rolls': analyzeMemberRolls,
  'service-entry-hosts': analyzeServiceEntryHosts,
  'plaintext-deny-bypass': analyzePlaintextDenyBypass,
  'case-sensitive-deny-paths': analyzeCaseSensitiveDenyPaths,
};

function compare(a: AnalysisMessage, b: AnalysisMessage): number {
  const keys = (m: AnalysisMessage) => [m.resource.namespace ?? '', m.resource.kind, m.resource.name, m.code, JSON.stringify(m.path), m.message];
  const ka = keys(a);
  const kb = keys(b);
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
  return 0;
}

/**
 * Checks resources against each other (references, conflicts, policies that select nothing) and
 * returns every finding, sorted by namespace, kind, name, code and path, so the output never
 * depends on input order. Pure: reads `resources`, never modifies them. Resources without
 * metadata.namespace are in `default` (cluster-scoped kinds excepted). Input is expected to have
 * passed validateResource; malformed fields are skipped, never thrown on.
 */
export function analyze(resources: Resource[], opts: AnalyzeOptions = {}): AnalysisMessage[] {
  const ctx = new AnalysisContext(resources, opts);
  const out: AnalysisMessage[] = [];
  for (const run of Object.values(ANALYZERS)) out.push(...run(ctx));
  return out.sort(compare);
}

export { AnalysisContext } from './context.js';
export { ALL_CODES, CODES } from './codes.js';
export type { AnalysisMessage, AnalyzeOptions, Level, ResourceRef } from './types.js';
