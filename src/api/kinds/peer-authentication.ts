// PeerAuthentication (security.istio.io): the mutual TLS mode workloads accept, validated as Istio 1.6 does.
import { Issues, asObject, isObject } from '../diagnostics.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { enumOf, freeform, map, obj, type Static } from '../schema.js';
import { SECURITY_GROUP, SecuritySelectorSchema, checkSecuritySelector } from './security-types.js';

export const MTLS_MODES = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'] as const;
export type MtlsMode = (typeof MTLS_MODES)[number];

export const MutualTlsSchema = obj({
  mode: enumOf(MTLS_MODES, 'UNSET inherits from the parent level (PERMISSIVE at the top), DISABLE plaintext only, PERMISSIVE both, STRICT mTLS only.'),
});

export const PeerAuthenticationSpecSchema = obj({
  selector: SecuritySelectorSchema,
  mtls: MutualTlsSchema,
  portLevelMtls: map(MutualTlsSchema, 'mTLS mode per workload (container) port number; only allowed with a selector.'),
});

export type PeerAuthenticationSpec = Static<typeof PeerAuthenticationSpecSchema>;

const schema = obj({ spec: PeerAuthenticationSpecSchema, status: freeform() });

/** A port key of portLevelMtls: the decimal number of a workload port, 1..65535, no leading zeros. */
function portKeyProblem(key: string): string | undefined {
  if (!/^[0-9]+$/.test(key)) return `port "${key}" is not a port number (use the workload port, 1..65535)`;
  const n = Number(key);
  if (n === 0) return 'port cannot be 0';
  if (n > 65535) return `port ${key} must be in the range 1..65535`;
  // "080" and "80" would be two keys for one port, with an arbitrary winner.
  if (key.startsWith('0')) return `port "${key}" must be written without leading zeros`;
  return undefined;
}

function validatePeerAuthentication(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec);
  if (!spec) return;
  checkSecuritySelector(issues, ['spec', 'selector'], spec.selector, 'pa.selector-empty');

  const portLevel = spec.portLevelMtls;
  if (!isObject(portLevel)) return;
  const ports = Object.keys(portLevel);
  if (ports.length === 0) {
    issues.error(['spec', 'portLevelMtls'], 'pa.port-level-empty', 'portLevelMtls, if defined, must have at least one port');
    return;
  }
  const labels = asObject(asObject(spec.selector)?.matchLabels);
  if (!labels || Object.keys(labels).length === 0) {
    issues.error(['spec', 'portLevelMtls'], 'pa.port-level-selector', 'mesh-wide and namespace-wide PeerAuthentication cannot have portLevelMtls; add a selector with matchLabels for the workload whose ports these are');
  }
  for (const port of ports) {
    const p = portKeyProblem(port);
    if (p) issues.error(['spec', 'portLevelMtls', port], 'pa.port-level-port', p);
  }
}

export const peerAuthenticationKind: KindDef = {
  group: SECURITY_GROUP,
  kind: 'PeerAuthentication',
  plural: 'peerauthentications',
  singular: 'peerauthentication',
  shortNames: ['pa'],
  namespaced: true,
  nameFormat: 'dns1123-subdomain',
  description:
    'The mutual TLS mode workloads accept on inbound traffic: mesh-wide (root namespace, no selector), namespace-wide (no selector) or for selected workloads, optionally per port.',
  versions: [{ name: 'v1beta1', schema, validate: validatePeerAuthentication, storage: true }],
};

const pa = (spec: string) => `apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: bookinfo}\nspec:\n${spec}`;

defineRules('PeerAuthentication', [
  {
    id: 'pa.port-level-selector',
    severity: 'error',
    summary: 'portLevelMtls is only allowed in a PeerAuthentication with a selector (ports are ports of the selected workloads).',
    examples: [
      { yaml: pa('  mtls: {mode: STRICT}\n  portLevelMtls:\n    "8080": {mode: DISABLE}\n'), field: 'spec.portLevelMtls' },
      { yaml: pa('  selector: {matchLabels: {}}\n  portLevelMtls:\n    "8080": {mode: DISABLE}\n'), field: 'spec.portLevelMtls' },
    ],
  },
  {
    id: 'pa.port-level-empty',
    severity: 'error',
    summary: 'portLevelMtls, when present, lists at least one port.',
    examples: [{ yaml: pa('  selector: {matchLabels: {app: reviews}}\n  portLevelMtls: {}\n'), field: 'spec.portLevelMtls' }],
  },
  {
    id: 'pa.port-level-port',
    severity: 'error',
    summary: 'portLevelMtls keys are workload port numbers, 1..65535, written without leading zeros.',
    examples: [
      { yaml: pa('  selector: {matchLabels: {app: reviews}}\n  portLevelMtls:\n    "0": {mode: DISABLE}\n'), field: 'spec.portLevelMtls["0"]' },
      { yaml: pa('  selector: {matchLabels: {app: reviews}}\n  portLevelMtls:\n    http: {mode: DISABLE}\n'), field: 'spec.portLevelMtls.http' },
      { yaml: pa('  selector: {matchLabels: {app: reviews}}\n  portLevelMtls:\n    "70000": {mode: DISABLE}\n'), field: 'spec.portLevelMtls["70000"]' },
    ],
  },
  {
    id: 'pa.selector-empty',
    severity: 'warning',
    summary: 'A selector without matchLabels selects every workload of the namespace, as if absent (Istio accepts it; Meltemi warns).',
    examples: [{ yaml: pa('  selector: {}\n  mtls: {mode: STRICT}\n'), field: 'spec.selector.matchLabels' }],
  },
]);
