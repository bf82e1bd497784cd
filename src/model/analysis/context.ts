// The read-only index every analyzer works from: resources by kind, namespaces, workloads, known hosts, destination rules, age order.
import { asArray, asObject, asString, isObject, type FieldPath } from '../../api/diagnostics.js';
import type { Resource } from '../../api/kind.js';
import { kindByGroupKind, splitApiVersion } from '../../api/registry.js';
import { hostCandidates, hostMatches, visibleFrom } from '../../api/hosts.js';
import { CODES, type CodeName } from './codes.js';
import type { AnalysisMessage, AnalyzeOptions, ResourceRef } from './types.js';

export const NETWORKING = 'networking.istio.io';
export const SECURITY = 'security.istio.io';
export const MAISTRA = 'maistra.io';

/** Cluster-scoped kinds Meltemi may see without having a KindDef for them. */
const CLUSTER_SCOPED = new Set([
  '/Namespace',
  '/Node',
  '/PersistentVolume',
  'rbac.authorization.k8s.io/ClusterRole',
  'rbac.authorization.k8s.io/ClusterRoleBinding',
  'apiextensions.k8s.io/CustomResourceDefinition',
  'admissionregistration.k8s.io/MutatingWebhookConfiguration',
  'admissionregistration.k8s.io/ValidatingWebhookConfiguration',
  'storage.k8s.io/StorageClass',
  'scheduling.k8s.io/PriorityClass',
]);

/** A set of pods that share labels: a workload controller's template, a bare Pod, or a gateway an SMCP deploys. */
export interface Workload {
  kind: string;
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  /** True for gateways inferred from a ServiceMeshControlPlane rather than read from a manifest. */
  synthetic: boolean;
}

/** A host the mesh knows: a Kubernetes Service, a ServiceEntry host, or an always-present one. */
export interface HostEntry {
  /** FQDN or wildcard, lower-case. */
  host: string;
  namespace: string;
  /** Service ports (Service `port`, ServiceEntry `number`). */
  ports: readonly number[];
  exportTo: readonly string[];
  source: 'Service' | 'ServiceEntry' | 'implicit';
  /** Service selector, when the host is a Kubernetes Service with one. */
  selector?: Readonly<Record<string, string>>;
  /** `kind namespace/name` of the resource that declares it, for messages. */
  declaredBy: string;
}

/** Pod-template locations of the workload kinds Meltemi recognises, keyed by `group/kind`. */
const WORKLOAD_TEMPLATES: Record<string, string[]> = {
  'apps/Deployment': ['spec', 'template'],
  'apps/StatefulSet': ['spec', 'template'],
  'apps/DaemonSet': ['spec', 'template'],
  'apps/ReplicaSet': ['spec', 'template'],
  '/ReplicationController': ['spec', 'template'],
  'batch/Job': ['spec', 'template'],
  'batch/CronJob': ['spec', 'jobTemplate', 'spec', 'template'],
  'apps.openshift.io/DeploymentConfig': ['spec', 'template'],
};

const INGRESS_LABELS = { app: 'istio-ingressgateway', istio: 'ingressgateway' };
const EGRESS_LABELS = { app: 'istio-egressgateway', istio: 'egressgateway' };
/** Service ports of the gateways an SMCP deploys (OP-16): status-port, http2, https, tls. */
const INGRESS_PORTS = [15021, 80, 443, 15443];
const EGRESS_PORTS = [80, 443, 15443];

export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

function at(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const k of path) cur = asObject(cur)?.[k];
  return cur;
}

/** Whether every label of `selector` is present with the same value in `labels`. */
export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export function formatLabels(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function timestamp(r: Resource): number {
  const t = r.metadata?.creationTimestamp;
  const ms = typeof t === 'string' ? Date.parse(t) : NaN;
  // A resource without a timestamp has not been applied yet: it will be created after the others.
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/**
 * Orders resources oldest first, as Istio resolves conflicts (sortConfigByCreationTime); ties
 * are broken by `tieKey` (lexical), so the result never depends on input order.
 */
export function oldestFirst<T extends Resource>(resources: readonly T[], tieKey: (r: T) => string): T[] {
  return [...resources].sort((a, b) => {
    const ta = timestamp(a);
    const tb = timestamp(b);
    if (ta !== tb) return ta < tb ? -1 : 1;
    const ka = tieKey(a);
    const kb = tieKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

export class AnalysisContext {
  readonly rootNamespace: string;
  readonly clusterDomain: string;
  readonly workloads: readonly Workload[];
  readonly hosts: readonly HostEntry[];
  /** An SMCP deploys a gateway whose pod labels Meltemi cannot infer (additional gateway without labels). */
  readonly hasGatewaysOfUnknownLabels: boolean;
  private readonly byKind = new Map<string, Resource[]>();

  /** Indexes `resources`; they are read, never modified or kept beyond the analysis. */
  constructor(readonly resources: readonly Resource[], opts: AnalyzeOptions = {}) {
    for (const r of resources) {
      if (!isObject(r) || typeof r.kind !== 'string' || typeof r.apiVersion !== 'string' || !isObject(r.metadata)) continue;
      const key = `${splitApiVersion(r.apiVersion).group}/${r.kind}`;
      const list = this.byKind.get(key) ?? [];
      list.push(r);
      this.byKind.set(key, list);
    }
    this.clusterDomain = opts.clusterDomain ?? 'cluster.local';
    const smcps = this.ofKind(MAISTRA, 'ServiceMeshControlPlane');
    this.rootNamespace = opts.rootNamespace ?? (smcps.length === 1 ? this.namespaceOf(smcps[0]!) : 'istio-system');

    const workloads: Workload[] = [];
    const hosts: HostEntry[] = [];
    let unknownGateways = false;
    for (const [key, templatePath] of Object.entries(WORKLOAD_TEMPLATES)) {
      const [group, kind] = key.split('/') as [string, string];
      for (const r of this.ofKind(group, kind)) {
        workloads.push({ kind, namespace: this.namespaceOf(r), name: this.nameOf(r), labels: stringMap(at(at(r, templatePath), ['metadata', 'labels'])), synthetic: false });
      }
    }
    for (const r of this.ofKind('', 'Pod')) workloads.push({ kind: 'Pod', namespace: this.namespaceOf(r), name: this.nameOf(r), labels: stringMap(r.metadata.labels), synthetic: false });

    for (const smcp of smcps) {
      const ns = this.namespaceOf(smcp);
      const gateways = asObject(asObject(smcp.spec)?.gateways);
      if (gateways?.enabled === false) continue;
      const add = (name: string, cfg: Record<string, unknown> | undefined, defaults: Record<string, string> | undefined, ports: number[]) => {
        if (cfg?.enabled === false) return;
        const explicit = stringMap(at(cfg, ['service', 'metadata', 'labels']));
        const labels = Object.keys(explicit).length > 0 ? explicit : defaults;
        if (!labels) {
          unknownGateways = true;
          return;
        }
        const gwNs = asString(cfg?.namespace) || ns;
        workloads.push({ kind: 'Deployment', namespace: gwNs, name, labels, synthetic: true });
        hosts.push({ host: `${name}.${gwNs}.svc.${this.clusterDomain}`, namespace: gwNs, ports, exportTo: [], source: 'Service', selector: labels, declaredBy: `ServiceMeshControlPlane ${ns}/${this.nameOf(smcp)}` });
      };
      add('istio-ingressgateway', asObject(gateways?.ingress), INGRESS_LABELS, INGRESS_PORTS);
      add('istio-egressgateway', asObject(gateways?.egress), EGRESS_LABELS, EGRESS_PORTS);
      // The chart's default labels for additional gateways are not something Meltemi can rely
      // on, so a gateway without explicit labels makes selector checks inconclusive.
      for (const field of ['additionalIngress', 'additionalEgress'] as const) {
        for (const [name, cfg] of Object.entries(asObject(gateways?.[field]) ?? {})) add(name, asObject(cfg), undefined, field === 'additionalIngress' ? INGRESS_PORTS : EGRESS_PORTS);
      }
    }

    for (const svc of this.ofKind('', 'Service')) {
      const ns = this.namespaceOf(svc);
      const spec = asObject(svc.spec);
      const exportTo = (asString(asObject(svc.metadata.annotations)?.['networking.istio.io/exportTo']) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
      const selector = stringMap(spec?.selector);
      hosts.push({
        host: `${this.nameOf(svc).toLowerCase()}.${ns}.svc.${this.clusterDomain}`,
        namespace: ns,
        ports: asArray(spec?.ports).map((p) => asObject(p)?.port).filter((p): p is number => typeof p === 'number'),
        exportTo,
        source: 'Service',
        ...(Object.keys(selector).length > 0 ? { selector } : {}),
        declaredBy: `Service ${ns}/${this.nameOf(svc)}`,
      });
    }
    for (const se of this.ofKind(NETWORKING, 'ServiceEntry')) {
      const ns = this.namespaceOf(se);
      const spec = asObject(se.spec);
      const ports = asArray(spec?.ports).map((p) => asObject(p)?.number).filter((p): p is number => typeof p === 'number');
      const exportTo = asArray(spec?.exportTo).filter((e): e is string => typeof e === 'string');
      for (const h of asArray(spec?.hosts)) {
        if (typeof h === 'string') hosts.push({ host: h.toLowerCase(), namespace: ns, ports, exportTo, source: 'ServiceEntry', declaredBy: `ServiceEntry ${ns}/${this.nameOf(se)}` });
      }
    }
    // The API server's own Service exists in every cluster (the operator's api-server DestinationRule targets it).
    hosts.push({ host: `kubernetes.default.svc.${this.clusterDomain}`, namespace: 'default', ports: [443], exportTo: [], source: 'implicit', declaredBy: 'the Kubernetes API server' });

    this.workloads = workloads;
    this.hosts = hosts;
    this.hasGatewaysOfUnknownLabels = unknownGateways;
  }

  /** Resources of one kind (`group` '' is the core group), in input order. */
  ofKind(group: string, kind: string): readonly Resource[] {
    return this.byKind.get(`${group}/${kind}`) ?? [];
  }

  isClusterScoped(r: Resource): boolean {
    const group = splitApiVersion(r.apiVersion).group;
    const def = kindByGroupKind(group, r.kind);
    return def ? !def.namespaced : CLUSTER_SCOPED.has(`${group}/${r.kind}`);
  }

  /** The namespace of a namespaced resource (`default` when unset); '' for cluster-scoped ones. */
  namespaceOf(r: Resource): string {
    if (this.isClusterScoped(r)) return '';
    const ns = r.metadata?.namespace;
    return typeof ns === 'string' && ns !== '' ? ns : 'default';
  }

  nameOf(r: Resource): string {
    const n = r.metadata?.name;
    return typeof n === 'string' && n !== '' ? n : String(r.metadata?.generateName ?? '');
  }

  /** `namespace/name`, or `name` for cluster-scoped resources. */
  fullName(r: Resource): string {
    const ns = this.namespaceOf(r);
    return ns === '' ? this.nameOf(r) : `${ns}/${this.nameOf(r)}`;
  }

  ref(r: Resource): ResourceRef {
    const ns = this.namespaceOf(r);
    return { kind: r.kind, apiVersion: r.apiVersion, ...(ns !== '' ? { namespace: ns } : {}), name: this.nameOf(r) };
  }

  /** Builds a message with the code's level from the catalogue. */
  message(code: CodeName, r: Resource, path: FieldPath, text: string): AnalysisMessage {
    const c = CODES[code];
    return { code: c.code, level: c.level, resource: this.ref(r), path: [...path], message: text };
  }

  /** Whether the input describes the workloads of `namespace` (at least one real workload there). */
  knowsWorkloadsIn(namespace: string): boolean {
    return this.workloads.some((w) => !w.synthetic && w.namespace === namespace);
  }

  /** Workloads whose labels carry every label of `selector`, in `namespace` or anywhere when undefined. */
  workloadsMatching(selector: Readonly<Record<string, string>>, namespace?: string): Workload[] {
    return this.workloads.filter((w) => (namespace === undefined || w.namespace === namespace) && labelsMatch(selector, w.labels));
  }

  /**
   * The known hosts a host written in a resource of `namespace` names: the first resolution
   * candidate that matches anything visible from `namespace` (exact names or covering wildcards).
   */
  lookupHost(host: string, namespace: string): { fqdn: string; entries: HostEntry[] } {
    const candidates = hostCandidates(host, namespace, this.clusterDomain);
    for (const fqdn of candidates) {
      const entries = this.hosts.filter((e) => visibleFrom(e.exportTo, e.namespace, namespace) && hostMatches(e.host, fqdn));
      if (entries.length > 0) return { fqdn, entries };
    }
    return { fqdn: candidates[0]!, entries: [] };
  }

  /**
   * The DestinationRules that apply to `fqdn` for a client in `fromNamespace`, as Istio 1.6's
   * PushContext.DestinationRule picks them: rules in the client's namespace first, then rules
   * exported from the service's namespace, then any exported rule; within a step, the most
   * specific host (exact, else the longest wildcard), all rules with that host merged.
   */
  destinationRulesFor(fqdn: string, fromNamespace: string, serviceNamespace: string | undefined): Resource[] {
    const rules = this.ofKind(NETWORKING, 'DestinationRule').map((dr) => {
      const ns = this.namespaceOf(dr);
      const spec = asObject(dr.spec);
      const host = asString(spec?.host);
      const exportTo = asArray(spec?.exportTo).filter((e): e is string => typeof e === 'string');
      return { dr, ns, host: host ? this.lookupHost(host, ns).fqdn : undefined, exported: exportTo.length === 0 || exportTo.includes('*') };
    });
    const steps = [
      rules.filter((r) => r.ns === fromNamespace),
      rules.filter((r) => serviceNamespace !== undefined && r.ns === serviceNamespace && r.exported),
      rules.filter((r) => r.exported),
    ];
    for (const step of steps) {
      const matching = step.filter((r) => r.host !== undefined && hostMatches(r.host, fqdn));
      if (matching.length === 0) continue;
      const best = matching.reduce((a, b) => (specificity(b.host!, fqdn) > specificity(a.host!, fqdn) ? b : a)).host!;
      return matching.filter((r) => r.host === best).map((r) => r.dr);
    }
    return [];
  }
}

/** Higher is more specific: an exact host beats any wildcard; a longer wildcard beats a shorter one. */
function specificity(pattern: string, host: string): number {
  return pattern === host ? Number.MAX_SAFE_INTEGER : pattern.length;
}
