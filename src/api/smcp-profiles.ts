// The SMCP v2.0 profiles (base, small, default/servicemesh/maistra) and applyProfiles(spec): the merged spec the operator publishes as status.appliedSpec.
import { isObject } from './diagnostics.js';
import { SMCP_PROFILE_NAMES, type SmcpV2Spec } from './kinds/service-mesh-control-plane.js';

/** A profile: defaults for a v2 spec, and the profiles it builds on (applied under it). */
export interface SmcpProfile {
  /** Profiles this one includes; later entries win over earlier ones, and this profile wins over all. */
  profiles?: string[];
  spec: SmcpV2Spec;
}

export type SmcpProfileName = (typeof SMCP_PROFILE_NAMES)[number];

/** The profile used when spec.profiles is empty (the operator's mutating webhook sets it). */
export const DEFAULT_PROFILE: SmcpProfileName = 'default';

const SMALL_RESOURCES = { requests: { cpu: '10m', memory: '128Mi' }, limits: {} };

/**
 * resources/smcp-templates/v2.0/base (OP-06 and the OP-13/OP-14 defaults it sets): gateways with
 * IOR, warn logging, no automatic injection, no protocol sniffing, Istiod telemetry, no policy,
 * Jaeger tracing with in-memory storage, Prometheus, Grafana and Kiali behind OpenShift routes.
 */
export const BASE_PROFILE: SmcpV2Spec = {
  version: 'v2.0',
  gateways: {
    enabled: true,
    ingress: { enabled: true, ingress: false, service: { type: 'ClusterIP' } },
    egress: { enabled: true },
    openshiftRoute: { enabled: true },
  },
  general: { logging: { componentLevels: { default: 'warn' } } },
  proxy: {
    injection: { autoInject: false },
    networking: {
      protocol: { autoDetect: { inbound: false, outbound: false } },
      dns: { refreshRate: '300s' },
    },
  },
  security: { identity: { type: 'Kubernetes' } },
  telemetry: { type: 'Istiod' },
  policy: { type: 'None' },
  tracing: { type: 'Jaeger' },
  addons: {
    prometheus: {
      enabled: true,
      install: {
        service: {
          metadata: { annotations: { 'service.alpha.openshift.io/serving-cert-secret-name': 'prometheus-tls' } },
          ingress: { enabled: true },
        },
      },
    },
    jaeger: { name: 'jaeger', install: { storage: { type: 'Memory' }, ingress: { enabled: true } } },
    grafana: {
      enabled: true,
      install: {
        service: {
          metadata: { annotations: { 'service.alpha.openshift.io/serving-cert-secret-name': 'grafana-tls' } },
          ingress: { enabled: true },
        },
      },
    },
    kiali: { enabled: true, name: 'kiali', install: { dashboard: { viewOnly: false }, service: { ingress: { enabled: true } } } },
  },
  techPreview: {
    wasmExtensions: { enabled: false },
    sidecarInjectorWebhook: { objectSelector: { enabled: false } },
  },
};

const smallComponent = (autoscale: boolean) => ({
  ...(autoscale ? { deployment: { autoScaling: { enabled: false } } } : {}),
  container: { resources: structuredClone(SMALL_RESOURCES) },
});

/**
 * resources/smcp-templates/v2.0/small (OP-17): 10m CPU / 128Mi requests and no limits for the
 * control plane, gateways and sidecars, no autoscaling, no PodDisruptionBudgets.
 */
export const SMALL_PROFILE: SmcpV2Spec = {
  runtime: {
    defaults: {
      deployment: { podDisruption: { enabled: false } },
      container: { resources: structuredClone(SMALL_RESOURCES) },
    },
    components: {
      pilot: smallComponent(true),
      'mixer.policy': smallComponent(true),
      'mixer.telemetry': smallComponent(true),
      prometheus: smallComponent(false),
      'wasmExtensions.cacher': smallComponent(false),
    },
  },
  gateways: {
    ingress: { runtime: smallComponent(true) },
    egress: { runtime: smallComponent(true) },
  },
  proxy: { runtime: { container: { resources: structuredClone(SMALL_RESOURCES) } } },
};

/**
 * The shipped profiles. The operator's build copies the product profile (servicemesh or maistra,
 * both `profiles: [base, small]` plus image coordinates) to `default`; Meltemi runs no container
 * images from those registries, so the three are the base + small composition without them.
 */
export const SMCP_PROFILES: Readonly<Record<SmcpProfileName, SmcpProfile>> = {
  base: { spec: BASE_PROFILE },
  small: { spec: SMALL_PROFILE },
  default: { profiles: ['base', 'small'], spec: {} },
  servicemesh: { profiles: ['base', 'small'], spec: {} },
  maistra: { profiles: ['base', 'small'], spec: {} },
};

/** A set of profiles by name: the shipped ones, or those plus user-supplied ones. */
export type SmcpProfileCatalogue = Readonly<Record<string, SmcpProfile>>;

/** Returns the profile of that name, or undefined for an unknown name. */
export function profileByName(name: string, catalogue: SmcpProfileCatalogue = SMCP_PROFILES): SmcpProfile | undefined {
  return Object.hasOwn(catalogue, name) ? catalogue[name] : undefined;
}

/**
 * Deep merge of `under` below `over`: keys of `over` win; where both hold a mapping the two are
 * merged; lists and scalars are never merged (the `over` one replaces). Returns new objects and
 * shares nothing with its inputs.
 */
export function mergeUnder(over: unknown, under: unknown): unknown {
  if (over === undefined) return structuredClone(under);
  if (!isObject(over) || !isObject(under)) return structuredClone(over);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(under)) if (!Object.hasOwn(over, k)) define(out, k, structuredClone(v));
  for (const [k, v] of Object.entries(over)) define(out, k, Object.hasOwn(under, k) ? mergeUnder(v, under[k]) : structuredClone(v));
  return out;
}

/** Sets an own property even for "__proto__", so user keys can never reach a prototype. */
function define(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

/**
 * Applies spec.profiles (or `default` when empty) under the spec, as the operator does before
 * rendering: the user's values win; among profiles a later one wins over an earlier one, and a
 * profile wins over the profiles it includes; each profile applies once. Unknown names are
 * skipped (validation reports them as `smcp.unknown-profile`). The result carries the effective
 * profile list and version, i.e. what `status.appliedSpec` shows. `catalogue` defaults to the
 * shipped profiles (the operator also reads user-supplied ones). Pure: no input is modified.
 */
export function applyProfiles(spec: SmcpV2Spec, catalogue: SmcpProfileCatalogue = SMCP_PROFILES): SmcpV2Spec {
  const requested = Array.isArray(spec.profiles) && spec.profiles.length > 0 ? spec.profiles : [DEFAULT_PROFILE];
  let merged: unknown = structuredClone(spec);
  const applied = new Set<string>();
  const visit = (names: readonly string[]) => {
    // Last listed first: everything merged earlier wins over what comes after it.
    for (let i = names.length - 1; i >= 0; i--) {
      const name = names[i]!;
      if (applied.has(name)) continue;
      applied.add(name);
      const profile = profileByName(name, catalogue);
      if (!profile) continue;
      merged = mergeUnder(merged, profile.spec);
      if (profile.profiles) visit(profile.profiles);
    }
  };
  visit(requested);
  const out = merged as SmcpV2Spec;
  out.profiles = [...requested];
  return out;
}
