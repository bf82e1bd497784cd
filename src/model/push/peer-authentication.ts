// PeerAuthentication → the mutual TLS mode a workload's sidecar accepts inbound, overall and per port (Istio 1.6 semantics).
import type { Resource } from '../../api/kind.js';
import type { PeerAuthenticationSpec } from '../../api/kinds/peer-authentication.js';
import type { ConfigMeta, EffectivePeerAuthentication, PeerMtlsMode } from '../push-context.js';
import { deepFreeze, refOf, selectorMatches, sortByCreation, typedConfig, type TypedConfig } from './config-meta.js';

type PeerAuthenticationConfig = TypedConfig<PeerAuthenticationSpec>;

/** With no policy at any level a sidecar accepts both mTLS and plaintext, so meshes can migrate. */
export const DEFAULT_PEER_MTLS_MODE: PeerMtlsMode = 'PERMISSIVE';

/** A concrete mode, or undefined for UNSET, an absent `mtls` or anything unrecognised: "inherit from the parent". */
function modeOf(mtls: { mode?: string } | undefined): PeerMtlsMode | undefined {
  const m = mtls?.mode;
  return m === 'STRICT' || m === 'PERMISSIVE' || m === 'DISABLE' ? m : undefined;
}

/** Whether a policy has a selector that narrows it (an empty `matchLabels` selects everything, as if absent). */
function selectorOf(c: PeerAuthenticationConfig): Readonly<Record<string, string>> | undefined {
  const labels = c.spec.selector?.matchLabels;
  return labels && Object.keys(labels).length > 0 ? labels : undefined;
}

/** `portLevelMtls` as numbers; keys that are not port numbers (refused by validation anyway) are skipped. */
function portLevelOf(c: PeerAuthenticationConfig): Array<[number, PeerMtlsMode | undefined]> {
  const out: Array<[number, PeerMtlsMode | undefined]> = [];
  for (const [key, mtls] of Object.entries(c.spec.portLevelMtls ?? {})) {
    const port = Number(key);
    if (/^[1-9][0-9]*$/.test(key) && port <= 65535) out.push([port, modeOf(mtls)]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/**
 * All PeerAuthentications of a push, resolved per workload the way Istio 1.6 composes them:
 *
 * - Three levels. Mesh: a policy without a selector in the root namespace. Namespace: a policy
 *   without a selector in the workload's namespace. Workload: a policy in the workload's namespace
 *   whose `selector.matchLabels` are all among the workload's labels. A selector with no labels
 *   counts as no selector.
 * - Several candidates at one level: the oldest (creationTimestamp, then name and namespace) is
 *   the only one used; the others are ignored entirely, not merged.
 * - The narrowest level that sets a mode wins; a level whose `mtls` is absent or UNSET passes the
 *   decision to the level above it, and when no level decides the mode is PERMISSIVE.
 * - `portLevelMtls` is read only from the workload-level policy (validation refuses it elsewhere).
 *   Its keys are the workload's own (container) ports; a port set to UNSET takes the workload's
 *   resolved mode.
 *
 * Istio skips a policy with a selector in the root namespace altogether: a selector never makes a
 * root-namespace policy reach workloads of other namespaces. Meltemi agrees for other namespaces,
 * but lets such a policy act as the workload-level policy of matching workloads in the root
 * namespace itself, where it would otherwise be silently inert.
 */
export class PeerAuthenticationIndex {
  private readonly unselected = new Map<string, PeerAuthenticationConfig>();
  /** Policies with a selector by namespace, oldest first. */
  private readonly selected = new Map<string, PeerAuthenticationConfig[]>();
  /** Answers by namespace and chosen workload policy: many label sets share one answer. */
  private readonly cache = new Map<string, EffectivePeerAuthentication>();
  private readonly namespaceCache = new Map<string, PeerMtlsMode>();

  constructor(
    resources: readonly Resource[],
    private readonly rootNamespace: string,
  ) {
    for (const c of sortByCreation(resources.map((r) => deepFreeze(typedConfig<PeerAuthenticationSpec>(r))))) {
      if (selectorOf(c)) {
        const list = this.selected.get(c.namespace) ?? [];
        list.push(c);
        this.selected.set(c.namespace, list);
      } else if (!this.unselected.has(c.namespace)) {
        this.unselected.set(c.namespace, c);
      }
    }
  }

  /** The workload-level policy of a workload: the oldest of its namespace whose selector matches its labels. */
  private workloadPolicy(namespace: string, labels: Readonly<Record<string, string>>): PeerAuthenticationConfig | undefined {
    for (const c of this.selected.get(namespace) ?? []) if (selectorMatches(selectorOf(c), labels)) return c;
    return undefined;
  }

  /** The mode from the mesh and namespace levels only (what a workload gets without a workload-level policy). */
  namespaceMode(namespace: string): PeerMtlsMode {
    let out = this.namespaceCache.get(namespace);
    if (!out) {
      out = modeOf(this.unselected.get(namespace)?.spec.mtls) ?? modeOf(this.unselected.get(this.rootNamespace)?.spec.mtls) ?? DEFAULT_PEER_MTLS_MODE;
      this.namespaceCache.set(namespace, out);
    }
    return out;
  }

  /** The effective policy of a workload of `namespace` with `labels`; frozen, shared between workloads with the same answer. */
  forWorkload(namespace: string, labels: Readonly<Record<string, string>>): EffectivePeerAuthentication {
    const workload = this.workloadPolicy(namespace, labels);
    const key = `${namespace}\u0000${workload ? refOf(workload) : ''}`;
    let out = this.cache.get(key);
    if (!out) {
      out = this.compose(namespace, workload);
      this.cache.set(key, out);
    }
    return out;
  }

  private compose(namespace: string, workload: PeerAuthenticationConfig | undefined): EffectivePeerAuthentication {
    const mesh = this.unselected.get(this.rootNamespace);
    const ns = namespace === this.rootNamespace ? undefined : this.unselected.get(namespace);
    const mode = modeOf(workload?.spec.mtls) ?? this.namespaceMode(namespace);
    const portModes = new Map<number, PeerMtlsMode>();
    if (workload) for (const [port, m] of portLevelOf(workload)) portModes.set(port, m ?? mode);
    const policies: ConfigMeta[] = [];
    for (const c of [mesh, ns, workload]) if (c) policies.push(Object.freeze({ namespace: c.namespace, name: c.name, creationTimestamp: c.creationTimestamp }));
    return Object.freeze({
      mode,
      portModes: portModes as ReadonlyMap<number, PeerMtlsMode>,
      modeFor: (port: number) => portModes.get(port) ?? mode,
      policies: Object.freeze(policies),
    });
  }
}
