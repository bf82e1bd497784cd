// ServiceMeshExtension (maistra.io/v1alpha1, tech preview): a WebAssembly HTTP filter from an OCI image, inserted at a phase of the proxies' filter chain.
import { Issues, asObject } from '../diagnostics.js';
import { checkWorkloadSelector } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { bool, enumOf, int, int32, obj, str, strMap, type Static } from '../schema.js';
import { MAISTRA_GROUP } from './service-mesh-control-plane.js';

/** Where an extension runs, around Istio's authn, authz and stats filters (WASM-06). */
export const EXTENSION_PHASES = ['PreAuthN', 'PostAuthN', 'PreAuthZ', 'PostAuthZ', 'PreStats', 'PostStats'] as const;
export type ExtensionPhase = (typeof EXTENSION_PHASES)[number];

export const ExtensionSpecSchema = obj({
  image: str('OCI image holding manifest.yaml and the module: [registry/]repository[:tag][@sha256:<64 hex>].'),
  workloadSelector: obj({ labels: strMap('Pod labels; empty selects every workload in scope.') }),
  phase: enumOf(EXTENSION_PHASES, 'Filter chain position; default from the image manifest.'),
  priority: int32('Order within a phase: higher runs first; default from the image manifest.'),
  config: str('Configuration passed to the module as is.'),
});
export type ExtensionSpec = Static<typeof ExtensionSpecSchema>;

export const ExtensionStatusSchema = obj({
  phase: str('Phase in effect.'),
  priority: int('Priority in effect.'),
  observedGeneration: int(),
  deployment: obj({
    ready: bool('The module is available from the cacher.'),
    containerSha256: str('Digest of the image the module came from.'),
    sha256: str('Digest of the module.'),
    url: str('Where proxies fetch the module.'),
  }),
});

const schema = obj({ spec: ExtensionSpecSchema, status: ExtensionStatusSchema });

// Docker/OCI reference grammar (distribution/reference): lower-case path components joined by
// separators, an optional registry host[:port] first, then :tag and/or @sha256:<digest>.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_PART}(?:\\.${DOMAIN_PART})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?`;
const REFERENCE = new RegExp(`^(?:(${DOMAIN})/)?(${COMPONENT}(?:/${COMPONENT})*)(?::([\\w][\\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$`);
const MAX_NAME_LENGTH = 255;

/** Problem with an OCI image reference, or undefined when it is one. */
export function imageReferenceProblem(image: string): string | undefined {
  const at = image.indexOf('@');
  if (at >= 0 && !/^sha256:[0-9a-f]{64}$/.test(image.slice(at + 1))) return `invalid digest in "${image}": use @sha256: followed by 64 lower-case hex digits`;
  const m = REFERENCE.exec(image);
  if (!m) return `"${image}" is not a valid image reference; use [registry/]repository[:tag][@sha256:<64 hex>] with a lower-case repository, e.g. quay.io/maistra/header-append-filter:2.0`;
  // Only a first component with a dot, a colon or "localhost" is a registry, so "Quay.io/x" is
  // valid but "Repo/x" is a repository path and must be lower case.
  if (m[1] !== undefined && !/[.:]/.test(m[1]) && m[1] !== 'localhost' && /[A-Z]/.test(m[1])) return `repository "${m[1]}" must be lower case`;
  const name = (m[1] ? `${m[1]}/` : '') + m[2]!;
  if (name.length > MAX_NAME_LENGTH) return `repository name is longer than ${MAX_NAME_LENGTH} characters`;
  return undefined;
}

function validateExtension(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec);
  const image = spec?.image;
  if (image === undefined || image === '') issues.error(['spec', 'image'], 'sme.image-required', 'spec.image is required: the OCI image that holds the extension');
  else if (typeof image === 'string') {
    const p = imageReferenceProblem(image);
    if (p) issues.error(['spec', 'image'], 'sme.image-reference', p);
  }
  checkWorkloadSelector(issues, ['spec', 'workloadSelector'], spec?.workloadSelector);
}

export const serviceMeshExtensionKind: KindDef = {
  group: MAISTRA_GROUP,
  kind: 'ServiceMeshExtension',
  plural: 'servicemeshextensions',
  singular: 'servicemeshextension',
  shortNames: ['sme'],
  namespaced: true,
  nameFormat: 'dns1123-subdomain',
  description: 'A WebAssembly extension for the proxies (tech preview): image, workloads, filter chain phase and priority.',
  versions: [{ name: 'v1alpha1', schema, validate: validateExtension, storage: true }],
};

const sme = (spec: string) => `apiVersion: maistra.io/v1alpha1\nkind: ServiceMeshExtension\nmetadata: {name: header-append, namespace: bookinfo}\nspec:\n${spec}`;

defineRules('ServiceMeshExtension', [
  { id: 'sme.image-required', severity: 'error', summary: 'spec.image (the OCI image holding the module) is required.', examples: [{ yaml: sme('  phase: PostAuthZ\n  priority: 100\n'), field: 'spec.image' }] },
  { id: 'sme.image-reference', severity: 'error', summary: 'spec.image is an OCI reference: [registry/]repository[:tag][@sha256:<64 hex>], repository in lower case.', examples: [{ yaml: sme('  image: quay.io/maistra-dev/Header-Append:latest\n  phase: PostAuthZ\n'), field: 'spec.image' }, { yaml: sme('  image: quay.io/maistra-dev/header-append@sha256:abc\n'), field: 'spec.image' }] },
]);
