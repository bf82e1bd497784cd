// What the project knows about a resource kind: names, versions, schema, semantic validator, rules.
import type { TSchema } from '@sinclair/typebox';
import type { Issues, Severity } from './diagnostics.js';

/** Kubernetes object metadata, as far as Meltemi reads it. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  /** RFC 3339; decides precedence between conflicting resources (oldest wins). */
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  ownerReferences?: Array<Record<string, unknown>>;
}

/** Any Kubernetes-style object. `spec`'s shape depends on the kind. */
export interface Resource<Spec = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
  status?: unknown;
  [field: string]: unknown;
}

/** Settings that change what validation accepts (mesh-wide knobs, feature flags). */
export interface ValidationContext {
  /** Istio's PILOT_ENABLE_VIRTUAL_SERVICE_DELEGATE; off by default as in Istio 1.6. */
  enableVirtualServiceDelegate?: boolean;
}

/** Semantic checks of one kind; paths are given from the resource root (`spec`, ...). */
export type SemanticValidator = (resource: Resource, issues: Issues, ctx: ValidationContext) => void;

export interface KindVersion {
  name: string;
  /** Schema of the top-level fields other than apiVersion/kind/metadata (spec, status, data…). */
  schema: TSchema;
  validate?: SemanticValidator;
  /**
   * Checks that only apply to a change of an existing object (immutable fields), as an admission
   * webhook sees an UPDATE. Called after `validate` on the new object.
   */
  validateUpdate?: (previous: Resource, next: Resource, issues: Issues) => void;
  /** The version stored and converted to; exactly one per kind. */
  storage?: boolean;
}

/** An invalid resource that breaks one rule, used by the tests and printed in docs/validation.md. */
export interface RuleExample {
  /** A whole YAML document. */
  yaml: string;
  /** For rules about changes: the object as it was before `yaml` replaced it. */
  previous?: string;
  /** The formatted field path the finding must carry, e.g. `spec.http[0].route`. */
  field: string;
}

export interface RuleDef {
  id: string;
  severity: Severity;
  summary: string;
  examples: RuleExample[];
}

export interface KindDef {
  group: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  versions: KindVersion[];
  /** How metadata.name is checked: Gateways and namespaces need a DNS-1123 label. */
  nameFormat: 'dns1123-subdomain' | 'dns1123-label';
  /** Free-form text for docs and `meltemi explain`-style help. */
  description: string;
}

export function apiVersionOf(def: KindDef, version: string): string {
  return def.group === '' ? version : `${def.group}/${version}`;
}

export function storageVersion(def: KindDef): KindVersion {
  return def.versions.find((v) => v.storage) ?? def.versions[0]!;
}

