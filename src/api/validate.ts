// The one validation entry point for every kind: envelope, metadata, structure, then the kind's own rules.
import { Issues, isObject, type ValidationResult } from './diagnostics.js';
import { checkLabels, isDNS1123Label, isDNS1123Subdomain, labelKeyProblem } from './common.js';
import type { Resource, ValidationContext } from './kind.js';
import { lookupKind } from './registry.js';
import { checkStructure } from './schema.js';
import { defineRules } from './rules.js';

const MAX_ANNOTATIONS_BYTES = 256 * 1024;

const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata']);

/**
 * Validates one object with Istio's and Maistra's rules. Used by the CLI, the file store, the
 * admission webhook and the translator alike, so they can never disagree (MAISTRA-2010).
 * Reports every problem; never throws.
 */
export function validateResource(obj: unknown, ctx: ValidationContext = {}): ValidationResult {
  const issues = new Issues();
  try {
    validateInto(obj, issues, ctx);
  } catch (e) {
    // A validator crash is a Meltemi bug; the resource is refused rather than let through unchecked.
    issues.error([], 'internal.validator-crash', `internal validation error: ${e instanceof Error ? e.message : String(e)}`);
  }
  return issues.result();
}

function validateInto(obj: unknown, issues: Issues, ctx: ValidationContext): void {
  if (!isObject(obj)) {
    issues.error([], 'resource.not-object', 'a resource must be a mapping with apiVersion, kind and metadata');
    return;
  }
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== 'string' || apiVersion === '') issues.error(['apiVersion'], 'resource.api-version', 'apiVersion is required');
  if (typeof kind !== 'string' || kind === '') issues.error(['kind'], 'resource.kind', 'kind is required');
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || apiVersion === '' || kind === '') return;

  const found = lookupKind(apiVersion, kind);
  if ('problem' in found) {
    if (found.problem === 'unknown-group') issues.warn(['kind'], 'resource.unknown-kind', found.message);
    else if (found.problem === 'unknown-kind') issues.error(['kind'], 'resource.unknown-kind', found.message);
    else issues.error(['apiVersion'], 'resource.api-version', found.message);
    return;
  }
  const { def, version } = found;
  checkMetadata(obj.metadata, def.namespaced, def.nameFormat, issues);

  const body: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!TOP_LEVEL.has(k)) body[k] = v;
  checkStructure(version.schema, body, [], issues);
  version.validate?.(obj as Resource, issues, ctx);
}

/**
 * Validates a change: the new object as `validateResource` does, plus the kind's rules about what
 * may not change (immutable fields). Used by stores and the admission webhook on UPDATE.
 */
export function validateResourceUpdate(previous: unknown, next: unknown, ctx: ValidationContext = {}): ValidationResult {
  const result = validateResource(next, ctx);
  if (!isObject(previous) || !isObject(next) || typeof next.apiVersion !== 'string' || typeof next.kind !== 'string') return result;
  const found = lookupKind(next.apiVersion, next.kind);
  if ('problem' in found || !found.version.validateUpdate) return result;
  const issues = new Issues();
  try {
    found.version.validateUpdate(previous as Resource, next as Resource, issues);
  } catch (e) {
    issues.error([], 'internal.validator-crash', `internal validation error: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { errors: [...result.errors, ...issues.errors], warnings: [...result.warnings, ...issues.warnings] };
}

function checkMetadata(meta: unknown, namespaced: boolean, nameFormat: 'dns1123-subdomain' | 'dns1123-label', issues: Issues): void {
  if (meta === undefined) {
    issues.error(['metadata'], 'metadata.name-required', 'metadata.name is required');
    return;
  }
  if (!isObject(meta)) {
    issues.error(['metadata'], 'schema.type', 'metadata must be a mapping');
    return;
  }
  const { name, generateName, namespace, labels, annotations } = meta;
  if (name === undefined || name === '') {
    if (typeof generateName !== 'string' || generateName === '') issues.error(['metadata', 'name'], 'metadata.name-required', 'metadata.name is required');
  } else if (typeof name !== 'string') {
    issues.error(['metadata', 'name'], 'schema.type', 'metadata.name must be a string');
  } else if (nameFormat === 'dns1123-label' ? !isDNS1123Label(name) : !isDNS1123Subdomain(name)) {
    const what = nameFormat === 'dns1123-label' ? 'a DNS-1123 label (lower-case letters, digits and "-", no dots, at most 63 characters)' : 'a DNS-1123 subdomain (lower-case letters, digits, "-" and ".", at most 253 characters)';
    issues.error(['metadata', 'name'], 'metadata.name-format', `invalid name "${name}": must be ${what}`);
  }
  if (namespace !== undefined) {
    if (typeof namespace !== 'string') issues.error(['metadata', 'namespace'], 'schema.type', 'metadata.namespace must be a string');
    else if (!namespaced) issues.warn(['metadata', 'namespace'], 'metadata.namespace-format', 'this kind is cluster-scoped; metadata.namespace is ignored');
    else if (!isDNS1123Label(namespace)) issues.error(['metadata', 'namespace'], 'metadata.namespace-format', `invalid namespace "${namespace}": must be a DNS-1123 label`);
  }
  if (labels !== undefined) {
    if (!isObject(labels)) issues.error(['metadata', 'labels'], 'schema.type', 'metadata.labels must be a mapping of strings');
    else {
      for (const [k, v] of Object.entries(labels)) if (typeof v !== 'string') issues.error(['metadata', 'labels', k], 'schema.type', 'label values must be strings (quote numbers and booleans)');
      checkLabels(issues, ['metadata', 'labels'], labels, 'metadata.labels');
    }
  }
  if (annotations !== undefined) {
    if (!isObject(annotations)) issues.error(['metadata', 'annotations'], 'schema.type', 'metadata.annotations must be a mapping of strings');
    else {
      let size = 0;
      for (const [k, v] of Object.entries(annotations)) {
        const kp = labelKeyProblem(k);
        if (kp) issues.error(['metadata', 'annotations', k], 'metadata.annotations', kp.replace('label key', 'annotation key'));
        if (typeof v !== 'string') issues.error(['metadata', 'annotations', k], 'schema.type', 'annotation values must be strings (quote numbers and booleans)');
        else size += k.length + v.length;
      }
      if (size > MAX_ANNOTATIONS_BYTES) issues.error(['metadata', 'annotations'], 'metadata.annotations', `annotations total ${size} bytes, more than the limit of ${MAX_ANNOTATIONS_BYTES}`);
    }
  }
}

defineRules('resource', [
  { id: 'resource.not-object', severity: 'error', summary: 'A document must be a mapping (apiVersion, kind, metadata, spec).', examples: [{ yaml: '- just\n- a list\n', field: '' }] },
  { id: 'resource.api-version', severity: 'error', summary: 'apiVersion is required and must be a version in which the kind is served.', examples: [{ yaml: 'apiVersion: networking.istio.io/v2\nkind: Gateway\nmetadata: {name: gw}\nspec: {}\n', field: 'apiVersion' }] },
  { id: 'resource.kind', severity: 'error', summary: 'kind is required.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nmetadata: {name: x}\n', field: 'kind' }] },
  { id: 'resource.unknown-kind', severity: 'error', summary: 'The kind must exist in its API group (a kind of an API group Meltemi does not know is only warned about, not validated).', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: VirtualServce\nmetadata: {name: x}\n', field: 'kind' }] },
  { id: 'metadata.name-required', severity: 'error', summary: 'metadata.name (or generateName) is required.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {namespace: default}\nspec: {host: reviews}\n', field: 'metadata.name' }] },
  { id: 'metadata.name-format', severity: 'error', summary: 'Names are DNS-1123 subdomains; Gateway and Namespace names are DNS-1123 labels (no dots).', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: Reviews_DR}\nspec: {host: reviews}\n', field: 'metadata.name' }] },
  { id: 'metadata.namespace-format', severity: 'error', summary: 'metadata.namespace must be a DNS-1123 label.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: Book.Info}\nspec: {host: reviews}\n', field: 'metadata.namespace' }] },
  { id: 'metadata.labels', severity: 'error', summary: 'Label keys are qualified names with an optional DNS prefix; values are at most 63 characters of [-A-Za-z0-9_.], starting and ending alphanumeric.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: reviews\n  labels: {app: "-bad-"}\nspec: {host: reviews}\n', field: 'metadata.labels.app' }] },
  { id: 'metadata.annotations', severity: 'error', summary: 'Annotation keys are qualified names; all annotations together stay under 256 KiB.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: reviews\n  annotations: {"bad key!": "x"}\nspec: {host: reviews}\n', field: 'metadata.annotations["bad key!"]' }] },
  { id: 'internal.validator-crash', severity: 'error', summary: 'A validator failed unexpectedly (a Meltemi bug); the resource is refused rather than accepted unchecked.', examples: [] },
]);

defineRules('schema', [
  { id: 'schema.unknown-field', severity: 'error', summary: 'Unknown fields are errors, so a misspelt field never silently does nothing; the message suggests the closest known field.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weigth: 100\n', field: 'spec.http[0].route[0].weigth' }] },
  { id: 'schema.type', severity: 'error', summary: 'Every field has a type (string, integer, boolean, list, mapping, or one of an enum\'s values).', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  host: reviews\n  trafficPolicy:\n    loadBalancer: {simple: FASTEST}\n', field: 'spec.trafficPolicy.loadBalancer.simple' }] },
  { id: 'schema.range', severity: 'error', summary: 'Integers stay within their protobuf range (uint32 fields are not negative).', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: -80, name: http, protocol: HTTP}\n    hosts: ["*"]\n', field: 'spec.servers[0].port.number' }] },
]);

defineRules('common', [
  { id: 'common.duration', severity: 'error', summary: 'Durations use Go syntax (10s, 1m30s, 250ms), are at least 1ms and whole milliseconds, within any bound the field has.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route: [{destination: {host: reviews}}]\n    timeout: 10 seconds\n', field: 'spec.http[0].timeout' }] },
  { id: 'common.percentage', severity: 'error', summary: 'Percentages are 0, or between 0.0001 and 100 (integer percents 0..100).', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: ratings}\nspec:\n  hosts: [ratings]\n  http:\n  - fault:\n      abort: {httpStatus: 500, percentage: {value: 150}}\n    route: [{destination: {host: ratings}}]\n', field: 'spec.http[0].fault.abort.percentage.value' }] },
  { id: 'common.regex', severity: 'error', summary: 'User regexes are RE2 (no lookaround or backreferences), at most 1024 bytes, with a compiled program size of at most 1024; they match the whole value.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - match:\n    - uri: {regex: "/api/(?!internal).*"}\n    route: [{destination: {host: reviews}}]\n', field: 'spec.http[0].match[0].uri.regex' }] },
  { id: 'common.string-match-oneof', severity: 'error', summary: 'A string match sets exactly one of exact, prefix or regex (query parameters: exact or regex).', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - match:\n    - uri: {exact: /a, prefix: /b}\n    route: [{destination: {host: reviews}}]\n', field: 'spec.http[0].match[0].uri' }] },
  { id: 'common.labels', severity: 'error', summary: 'Selector labels follow Kubernetes label key and value syntax.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  selector: {"istio/": ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["*"]\n', field: 'spec.selector["istio/"]' }] },
  { id: 'common.export-to', severity: 'error', summary: 'exportTo entries are ".", "*" or namespace names (Maistra 2.0, MAISTRA-1967); "~" only on ServiceEntry; "*" and "~" stand alone; no repeats.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  host: reviews\n  exportTo: ["*", bookinfo]\n', field: 'spec.exportTo[0]' }, { yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  host: reviews\n  exportTo: [Book_Info]\n', field: 'spec.exportTo[0]' }] },
]);
