// Whether a pod gets a sidecar, decided as Maistra 2.0 does (INJ-01..03, INJ-07): the webhook's namespace selector, hard exclusions, then the pod's annotation, selectors and the policy.
import { labelSelectorMatches, type LabelSelector } from '../api/kinds/kubernetes-pod.js';
import { A } from './annotations.js';
import type { InjectionPolicyContext, NamespaceObject, Pod } from './context.js';

/** The injection decision and the sentence `meltemi get pods` and the logs show for it. */
export interface InjectionDecision {
  inject: boolean;
  reason: string;
}

/** Namespaces Istio's injector never touches (its ignoredNamespaces). */
export const SYSTEM_NAMESPACES: readonly string[] = Object.freeze(['kube-system', 'kube-public']);

/** Namespace labels that keep Maistra's webhook away (its namespaceSelector). */
export const NAMESPACE_LABELS = Object.freeze({
  ignore: 'maistra.io/ignore-namespace',
  istioInjection: 'istio-injection',
  istioEnv: 'istio-env',
});

/** The values of `sidecar.istio.io/inject` that ask for a sidecar (YAML 1.1 booleans, any case). */
export const TRUTHY_INJECT_VALUES: readonly string[] = Object.freeze(['y', 'yes', 'true', 'on']);

/**
 * Whether a selector from neverInjectSelector/alwaysInjectSelector can be used: Istio skips (and
 * logs) selectors that do not convert (In/NotIn without values, Exists/DoesNotExist with values,
 * unknown operators, missing keys) and empty ones, which would otherwise select every pod.
 */
function usableSelector(sel: LabelSelector): boolean {
  const labels = Object.keys(sel.matchLabels ?? {});
  const exprs = sel.matchExpressions ?? [];
  if (labels.length === 0 && exprs.length === 0) return false;
  for (const e of exprs) {
    if (!e.key) return false;
    const n = (e.values ?? []).length;
    if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) return false;
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) return false;
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator ?? '')) return false;
  }
  return true;
}

function firstMatch(selectors: readonly LabelSelector[] | undefined, labels: Record<string, string>): number {
  return (selectors ?? []).findIndex((s) => usableSelector(s) && labelSelectorMatches(s, labels));
}

/**
 * Whether `pod` gets a sidecar, with the reason. `namespace` is the pod's Namespace object, if
 * declared (its labels are read); the pod's namespace name is `metadata.namespace`, else `default`.
 * In order:
 *
 * 1. The webhook's namespace selector (INJ-03): the namespace must be a member of the mesh
 *    (`ctx.members`); the control plane's own namespace never is injected (Maistra labels it
 *    `maistra.io/ignore-namespace`); nor one labelled `maistra.io/ignore-namespace`,
 *    `istio-injection=disabled` or `istio-env`. A namespace label never turns injection on.
 * 2. The tech-preview object selector (INJ-07), when enabled.
 * 3. Hard exclusions: `hostNetwork` pods, kube-system and kube-public.
 * 4. A pod already injected (`sidecar.istio.io/status`) is not injected twice.
 * 5. The annotation `sidecar.istio.io/inject` (INJ-01): y/yes/true/on in any case injects, any other
 *    non-empty value does not. Absent (or empty): neverInjectSelector, then alwaysInjectSelector
 *    (INJ-02), then the policy — `disabled` (Maistra's default) means no sidecar.
 *
 * Pure: reads nothing but its arguments.
 */
export function injectionRequired(pod: Pod, namespace: NamespaceObject | undefined, ctx: InjectionPolicyContext): InjectionDecision {
  const ns = pod.metadata.namespace ?? namespace?.metadata?.name ?? 'default';
  const nsLabels = namespace?.metadata?.labels ?? {};
  const labels = pod.metadata.labels ?? {};
  const annotations = pod.metadata.annotations ?? {};
  const no = (reason: string): InjectionDecision => ({ inject: false, reason });

  if (ctx.controlPlaneNamespace !== undefined && ns === ctx.controlPlaneNamespace) {
    return no(`namespace ${ns} is the control plane's namespace, where Maistra never injects (it labels it ${NAMESPACE_LABELS.ignore})`);
  }
  if (ctx.members !== 'all' && !ctx.members.has(ns)) return no(`namespace ${ns} is not a member of the mesh (it is not listed in the ServiceMeshMemberRoll)`);
  if (Object.prototype.hasOwnProperty.call(nsLabels, NAMESPACE_LABELS.ignore)) return no(`namespace ${ns} is labelled ${NAMESPACE_LABELS.ignore}`);
  if (nsLabels[NAMESPACE_LABELS.istioInjection] === 'disabled') return no(`namespace ${ns} is labelled ${NAMESPACE_LABELS.istioInjection}=disabled`);
  if (Object.prototype.hasOwnProperty.call(nsLabels, NAMESPACE_LABELS.istioEnv)) return no(`namespace ${ns} has the label ${NAMESPACE_LABELS.istioEnv}, which Maistra's injector excludes`);

  const policy = ctx.policy ?? 'disabled';
  if (ctx.objectSelector) {
    const label = labels[A.inject];
    if (policy === 'disabled' && label !== 'true') return no(`the injector's object selector (tech preview) only admits pods labelled ${A.inject}=true`);
    if (policy === 'enabled' && label === 'false') return no(`the pod is labelled ${A.inject}=false, which the injector's object selector (tech preview) excludes`);
  }

  if (pod.spec.hostNetwork === true) return no('the pod uses the host network (hostNetwork: true), whose traffic a sidecar cannot intercept without redirecting the whole host');
  if (SYSTEM_NAMESPACES.includes(ns)) return no(`namespace ${ns} is a Kubernetes system namespace`);
  if (annotations[A.status] !== undefined) return no(`the pod already has a sidecar (annotation ${A.status} is present)`);

  const value = annotations[A.inject];
  if (value !== undefined && value !== '') {
    if (TRUTHY_INJECT_VALUES.includes(value.toLowerCase())) return { inject: true, reason: `annotation ${A.inject} is "${value}"` };
    return no(`annotation ${A.inject} is "${value}" (only y, yes, true or on ask for a sidecar)`);
  }
  const absent = value === undefined ? `annotation ${A.inject} is absent` : `annotation ${A.inject} is empty`;
  const never = firstMatch(ctx.neverInjectSelector, labels);
  if (never >= 0) return no(`${absent} and the pod's labels match neverInjectSelector[${never}]`);
  const always = firstMatch(ctx.alwaysInjectSelector, labels);
  if (always >= 0) return { inject: true, reason: `${absent} and the pod's labels match alwaysInjectSelector[${always}]` };
  if (policy === 'enabled') return { inject: true, reason: `${absent} and the injection policy is enabled (spec.proxy.injection.autoInject: true)` };
  return no(`${absent} (Maistra injects only pods annotated ${A.inject}: "true")`);
}
