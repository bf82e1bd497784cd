// EnvoyFilter (networking.istio.io/v1alpha3): patches to the generated Envoy configuration, validated as Istio 1.6 (Maistra 2.0) does.
import { Issues, asArray, asObject, asString, isObject, type PathSegment } from '../diagnostics.js';
import { checkRegex, checkWorkloadSelector } from '../common.js';
import type { KindDef, Resource } from '../kind.js';
import { defineRules } from '../rules.js';
import { arr, enumOf, freeform, obj, str, strMap, uint32, type Static } from '../schema.js';
import { NETWORKING_GROUP, WorkloadSelectorSchema } from './networking-types.js';

type Path = PathSegment[];

const APPLY_TO = ['LISTENER', 'FILTER_CHAIN', 'NETWORK_FILTER', 'HTTP_FILTER', 'ROUTE_CONFIGURATION', 'VIRTUAL_HOST', 'HTTP_ROUTE', 'CLUSTER'] as const;
type ApplyTo = (typeof APPLY_TO)[number];
const OPERATIONS = ['MERGE', 'ADD', 'REMOVE', 'INSERT_BEFORE', 'INSERT_AFTER', 'INSERT_FIRST'] as const;
type Operation = (typeof OPERATIONS)[number];

/** The network filter whose HTTP filters a subFilter match selects (the name Istio 1.6 generates). */
export const HTTP_CONNECTION_MANAGER = 'envoy.http_connection_manager';

const ListenerMatchSchema = obj({
  portNumber: uint32('Listener port; 0 matches any.'),
  portName: str(),
  filterChain: obj({
    name: str(),
    sni: str(),
    transportProtocol: str('raw_buffer or tls.'),
    applicationProtocols: str('Comma-separated ALPN values.'),
    filter: obj({ name: str('Network filter name, e.g. envoy.http_connection_manager.'), subFilter: obj({ name: str('HTTP filter name, e.g. envoy.router.') }) }),
  }),
  name: str(),
});

const RouteConfigurationMatchSchema = obj({
  portNumber: uint32(),
  portName: str(),
  gateway: str('namespace/name of the gateway whose routes are patched.'),
  vhost: obj({ name: str(), route: obj({ name: str(), action: enumOf(['ANY', 'ROUTE', 'REDIRECT', 'DIRECT_RESPONSE'] as const) }) }),
  name: str(),
});

const ClusterMatchSchema = obj({ portNumber: uint32(), service: str(), subset: str(), name: str() });

const ConfigPatchSchema = obj({
  applyTo: enumOf(APPLY_TO, 'The kind of Envoy object patched.'),
  match: obj({
    context: enumOf(['ANY', 'SIDECAR_INBOUND', 'SIDECAR_OUTBOUND', 'GATEWAY'] as const),
    proxy: obj({ proxyVersion: str('RE2 regex matched against the proxy version.'), metadata: strMap() }),
    listener: ListenerMatchSchema,
    routeConfiguration: RouteConfigurationMatchSchema,
    cluster: ClusterMatchSchema,
  }),
  patch: obj({
    operation: enumOf(OPERATIONS, 'How the value is applied.'),
    value: freeform('Envoy configuration (JSON/YAML of the patched object).'),
  }),
});

export const EnvoyFilterSpecSchema = obj({
  workloadSelector: WorkloadSelectorSchema,
  configPatches: arr(ConfigPatchSchema, 'Patches, applied in order.'),
});

export type EnvoyFilterSpec = Static<typeof EnvoyFilterSpecSchema>;

const schema = obj({ spec: EnvoyFilterSpecSchema, status: freeform() });

/** Operations Istio 1.6 applies for each object kind; anything else is silently ignored, so it is refused here. */
const VALID_OPERATIONS: Record<ApplyTo, readonly Operation[]> = {
  LISTENER: ['MERGE', 'ADD', 'REMOVE'],
  FILTER_CHAIN: ['MERGE', 'ADD', 'REMOVE'],
  NETWORK_FILTER: ['MERGE', 'ADD', 'REMOVE', 'INSERT_BEFORE', 'INSERT_AFTER', 'INSERT_FIRST'],
  HTTP_FILTER: ['MERGE', 'ADD', 'REMOVE', 'INSERT_BEFORE', 'INSERT_AFTER'],
  ROUTE_CONFIGURATION: ['MERGE'],
  VIRTUAL_HOST: ['MERGE', 'ADD', 'REMOVE'],
  HTTP_ROUTE: ['MERGE', 'ADD', 'REMOVE'],
  CLUSTER: ['MERGE', 'ADD', 'REMOVE'],
};

/** Which match object each applyTo class accepts. */
const MATCH_FOR: Record<ApplyTo, 'listener' | 'routeConfiguration' | 'cluster'> = {
  LISTENER: 'listener',
  FILTER_CHAIN: 'listener',
  NETWORK_FILTER: 'listener',
  HTTP_FILTER: 'listener',
  ROUTE_CONFIGURATION: 'routeConfiguration',
  VIRTUAL_HOST: 'routeConfiguration',
  HTTP_ROUTE: 'routeConfiguration',
  CLUSTER: 'cluster',
};
const OBJECT_MATCHES = ['listener', 'routeConfiguration', 'cluster'] as const;

/** Fields of Envoy's (v2) network Filter and HttpFilter messages, in both JSON spellings. */
const FILTER_FIELDS = new Set(['name', 'config', 'typed_config', 'typedConfig']);

const present = (o: Record<string, unknown>, k: string): boolean => o[k] !== undefined && o[k] !== null;

function checkFilterValue(issues: Issues, path: Path, applyTo: ApplyTo, op: Operation, value: Record<string, unknown>): void {
  const what = applyTo === 'HTTP_FILTER' ? 'an HTTP filter' : 'a network filter';
  for (const k of Object.keys(value)) {
    if (!FILTER_FIELDS.has(k)) issues.error([...path, k], 'envoyfilter.patch-value', `unknown field "${k}" in ${what} (fields: name, typed_config, config)`);
  }
  if (op !== 'MERGE' && (typeof value.name !== 'string' || value.name === '')) {
    issues.error([...path, 'name'], 'envoyfilter.patch-value', `${op} of ${what} needs value.name (e.g. envoy.lua)`);
  }
  const typed = value.typed_config ?? value.typedConfig;
  if (typed !== undefined) {
    const t = asObject(typed);
    if (!t || typeof t['@type'] !== 'string' || t['@type'] === '') {
      issues.error([...path, value.typed_config !== undefined ? 'typed_config' : 'typedConfig'], 'envoyfilter.patch-value', 'typed_config needs an "@type" (e.g. type.googleapis.com/envoy.config.filter.http.lua.v2.Lua)');
    }
  }
  if (value.typed_config !== undefined && value.config !== undefined) issues.error(path, 'envoyfilter.patch-value', 'only one of config or typed_config may be set');
}

function checkListenerMatch(issues: Issues, path: Path, applyTo: ApplyTo, listener: Record<string, unknown>): void {
  const filter = asObject(asObject(listener.filterChain)?.filter);
  if (!filter) return;
  const fp = [...path, 'filterChain', 'filter'];
  const name = asString(filter.name) ?? '';
  if (name === '') {
    issues.error([...fp, 'name'], 'envoyfilter.filter-match', 'filter match has no name to match on');
    return;
  }
  if (!present(filter, 'subFilter')) return;
  if (applyTo !== 'HTTP_FILTER') issues.error([...fp, 'subFilter'], 'envoyfilter.filter-match', 'subFilter match can be used with applyTo HTTP_FILTER only');
  else if (name !== HTTP_CONNECTION_MANAGER) issues.error([...fp, 'name'], 'envoyfilter.filter-match', `subFilter match requires the filter match to name ${HTTP_CONNECTION_MANAGER}, got "${name}"`);
  else if ((asString(asObject(filter.subFilter)?.name) ?? '') === '') issues.error([...fp, 'subFilter', 'name'], 'envoyfilter.filter-match', 'subFilter match has no name to match on');
}

function checkPatch(issues: Issues, path: Path, cp: Record<string, unknown>): void {
  const applyTo = asString(cp.applyTo) as ApplyTo | undefined;
  if (!applyTo || !(APPLY_TO as readonly string[]).includes(applyTo)) {
    if (cp.applyTo === undefined) issues.error([...path, 'applyTo'], 'envoyfilter.apply-to-required', `applyTo is required (${APPLY_TO.join(', ')})`);
    return;
  }
  const patch = asObject(cp.patch);
  if (!patch) {
    if (cp.patch === undefined || cp.patch === null) issues.error([...path, 'patch'], 'envoyfilter.patch-required', 'patch is required (operation and value)');
    return;
  }
  const op = asString(patch.operation) as Operation | undefined;
  if (!op || !(OPERATIONS as readonly string[]).includes(op)) {
    if (patch.operation === undefined) issues.error([...path, 'patch', 'operation'], 'envoyfilter.patch-operation', `patch.operation is required (${OPERATIONS.join(', ')})`);
    return;
  }
  if (!VALID_OPERATIONS[applyTo].includes(op)) {
    issues.error([...path, 'patch', 'operation'], 'envoyfilter.patch-operation', `operation ${op} does nothing for applyTo ${applyTo} in Istio 1.6 (valid: ${VALID_OPERATIONS[applyTo].join(', ')})`);
  }
  const value = patch.value;
  if (op !== 'REMOVE' && (value === undefined || value === null)) issues.error([...path, 'patch', 'value'], 'envoyfilter.patch-value', `missing patch value for operation ${op}`);
  else if (isObject(value) && (applyTo === 'HTTP_FILTER' || applyTo === 'NETWORK_FILTER') && op !== 'REMOVE') checkFilterValue(issues, [...path, 'patch', 'value'], applyTo, op, value);

  const match = asObject(cp.match);
  if (!match) return;
  checkRegex(issues, [...path, 'match', 'proxy', 'proxyVersion'], asObject(match.proxy)?.proxyVersion);
  const given = OBJECT_MATCHES.filter((k) => present(match, k));
  if (given.length > 1) issues.error([...path, 'match'], 'envoyfilter.match-type', `only one of ${given.join(', ')} may be set in a match`);
  const expected = MATCH_FOR[applyTo];
  for (const k of given) {
    if (k !== expected) issues.error([...path, 'match', k], 'envoyfilter.match-type', `applyTo ${applyTo} patches ${expected === 'listener' ? 'listener' : expected === 'cluster' ? 'cluster' : 'route configuration'} objects: the match must be on ${expected}, not ${k}`);
  }
  const listener = asObject(match.listener);
  if (listener && expected === 'listener') checkListenerMatch(issues, [...path, 'match', 'listener'], applyTo, listener);
}

function validateEnvoyFilter(res: Resource, issues: Issues): void {
  const spec = asObject(res.spec) ?? {};
  const selector = asObject(spec.workloadSelector);
  if (selector) {
    checkWorkloadSelector(issues, ['spec', 'workloadSelector'], selector);
    if (Object.keys(asObject(selector.labels) ?? {}).length === 0) {
      issues.error(['spec', 'workloadSelector', 'labels'], 'envoyfilter.workload-selector', 'workloadSelector cannot have empty labels (omit workloadSelector to apply to every workload of the namespace)');
    }
  }
  const patches = asArray(spec.configPatches);
  // Istio 1.6 accepts an EnvoyFilter without patches; it does nothing.
  if (patches.length === 0) issues.warn(['spec', 'configPatches'], 'envoyfilter.empty', 'this EnvoyFilter has no configPatches and changes nothing');
  patches.forEach((raw, i) => {
    const cp = asObject(raw);
    if (cp) checkPatch(issues, ['spec', 'configPatches', i], cp);
  });
}

export const envoyFilterKind: KindDef = {
  group: NETWORKING_GROUP,
  kind: 'EnvoyFilter',
  plural: 'envoyfilters',
  singular: 'envoyfilter',
  shortNames: [],
  namespaced: true,
  nameFormat: 'dns1123-subdomain',
  description: 'Patches applied to the Envoy configuration generated for selected workloads: listeners, filter chains, network and HTTP filters, routes and clusters.',
  versions: [{ name: 'v1alpha3', schema, validate: validateEnvoyFilter, storage: true }],
};

// Used only by the rule examples below.
const ef = (patches: string, head = '') => `apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: reviews-lua}\nspec:\n${head}  configPatches:\n${patches}`;
const luaValue = '      value:\n        name: envoy.lua\n        typed_config: {"@type": type.googleapis.com/envoy.config.filter.http.lua.v2.Lua, inlineCode: "function envoy_on_request(h) end"}\n';
const hcmMatch = '    match:\n      context: SIDECAR_INBOUND\n      listener:\n        filterChain:\n          filter:\n            name: envoy.http_connection_manager\n            subFilter: {name: envoy.router}\n';

defineRules('EnvoyFilter', [
  { id: 'envoyfilter.workload-selector', severity: 'error', summary: 'A workloadSelector lists at least one label; omit it to patch every workload of the namespace.', examples: [{ yaml: ef(`  - applyTo: HTTP_FILTER\n${hcmMatch}    patch:\n      operation: INSERT_BEFORE\n${luaValue}`, '  workloadSelector: {labels: {}}\n'), field: 'spec.workloadSelector.labels' }] },
  { id: 'envoyfilter.empty', severity: 'warning', summary: 'An EnvoyFilter without configPatches is accepted (as in Istio 1.6) but changes nothing.', examples: [{ yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: empty}\nspec:\n  workloadSelector: {labels: {app: reviews}}\n', field: 'spec.configPatches' }] },
  { id: 'envoyfilter.apply-to-required', severity: 'error', summary: 'Each config patch says what it applies to (LISTENER, FILTER_CHAIN, NETWORK_FILTER, HTTP_FILTER, ROUTE_CONFIGURATION, VIRTUAL_HOST, HTTP_ROUTE or CLUSTER).', examples: [{ yaml: ef(`  - ${hcmMatch.trimStart()}    patch:\n      operation: INSERT_BEFORE\n${luaValue}`), field: 'spec.configPatches[0].applyTo' }] },
  { id: 'envoyfilter.patch-required', severity: 'error', summary: 'Each config patch has a patch.', examples: [{ yaml: ef(`  - applyTo: HTTP_FILTER\n${hcmMatch}`), field: 'spec.configPatches[0].patch' }] },
  { id: 'envoyfilter.patch-operation', severity: 'error', summary: 'A patch has an operation that Istio 1.6 applies for its applyTo: MERGE/ADD/REMOVE for listeners, filter chains, virtual hosts, routes and clusters; INSERT_* also for filters (INSERT_FIRST for network filters only); only MERGE for route configurations.', examples: [{ yaml: ef(`  - applyTo: HTTP_FILTER\n${hcmMatch}    patch:\n${luaValue}`), field: 'spec.configPatches[0].patch.operation' }, { yaml: ef('  - applyTo: ROUTE_CONFIGURATION\n    patch:\n      operation: ADD\n      value: {name: extra}\n'), field: 'spec.configPatches[0].patch.operation' }] },
  { id: 'envoyfilter.patch-value', severity: 'error', summary: 'Every operation but REMOVE has a value; an added or inserted network or HTTP filter has a name, only the fields name, typed_config (with @type) or config.', examples: [{ yaml: ef(`  - applyTo: HTTP_FILTER\n${hcmMatch}    patch:\n      operation: INSERT_BEFORE\n`), field: 'spec.configPatches[0].patch.value' }, { yaml: ef(`  - applyTo: HTTP_FILTER\n${hcmMatch}    patch:\n      operation: INSERT_BEFORE\n      value:\n        typed_config: {"@type": type.googleapis.com/envoy.config.filter.http.lua.v2.Lua}\n`), field: 'spec.configPatches[0].patch.value.name' }] },
  { id: 'envoyfilter.match-type', severity: 'error', summary: 'A match selects one kind of object, the kind applyTo patches: listener for LISTENER/FILTER_CHAIN/NETWORK_FILTER/HTTP_FILTER, routeConfiguration for ROUTE_CONFIGURATION/VIRTUAL_HOST/HTTP_ROUTE, cluster for CLUSTER.', examples: [{ yaml: ef('  - applyTo: CLUSTER\n    match:\n      listener: {portNumber: 9080}\n    patch:\n      operation: MERGE\n      value: {connect_timeout: 5s}\n'), field: 'spec.configPatches[0].match.listener' }] },
  { id: 'envoyfilter.filter-match', severity: 'error', summary: 'A filter match names the filter; a subFilter match is for applyTo HTTP_FILTER only, under the filter envoy.http_connection_manager, and names the HTTP filter.', examples: [{ yaml: ef(`  - applyTo: NETWORK_FILTER\n${hcmMatch}    patch:\n      operation: MERGE\n      value: {name: envoy.http_connection_manager}\n`), field: 'spec.configPatches[0].match.listener.filterChain.filter.subFilter' }, { yaml: ef(`  - applyTo: HTTP_FILTER\n${hcmMatch.replace('name: envoy.http_connection_manager', 'name: envoy.filters.network.http_connection_manager')}    patch:\n      operation: INSERT_BEFORE\n${luaValue}`), field: 'spec.configPatches[0].match.listener.filterChain.filter.name' }] },
]);
