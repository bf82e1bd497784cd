// EnvoyFilter validation: Istio 1.6 (Maistra 2.0) rules for config patches, matches and patch values; served as v1alpha3 only.
import { test } from 'node:test';
import { expectError, expectValid, expectWarning } from '../helpers/validation.js';

const ef = (patches: string, head = '  workloadSelector: {labels: {app: reviews}}\n', version = 'v1alpha3') =>
  `apiVersion: networking.istio.io/${version}\nkind: EnvoyFilter\nmetadata: {name: reviews-lua, namespace: bookinfo}\nspec:\n${head}  configPatches:\n${patches}`;
const hcm = (sub = '            subFilter: {name: envoy.router}\n', filter = 'envoy.http_connection_manager') =>
  `    match:\n      context: SIDECAR_INBOUND\n      listener:\n        portNumber: 9080\n        filterChain:\n          filter:\n            name: ${filter}\n${sub}`;
const lua = '      value:\n        name: envoy.lua\n        typed_config:\n          "@type": type.googleapis.com/envoy.config.filter.http.lua.v2.Lua\n          inlineCode: |\n            function envoy_on_request(handle) handle:headers():add("x-lua", "1") end\n';
const httpFilter = (op = 'INSERT_BEFORE', value = lua, match = hcm()) => ef(`  - applyTo: HTTP_FILTER\n${match}    patch:\n      operation: ${op}\n${value}`);
const CP = 'spec.configPatches[0]';

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  { name: 'a workloadSelector without labels', yaml: ef(`  - applyTo: HTTP_FILTER\n${hcm()}    patch:\n      operation: INSERT_BEFORE\n${lua}`, '  workloadSelector: {}\n'), rule: 'envoyfilter.workload-selector', field: 'spec.workloadSelector.labels' },
  { name: 'a patch without applyTo', yaml: ef(`  - ${hcm().trimStart()}    patch:\n      operation: INSERT_BEFORE\n${lua}`), rule: 'envoyfilter.apply-to-required', field: `${CP}.applyTo` },
  { name: 'applyTo INVALID', yaml: ef('  - applyTo: INVALID\n    patch: {operation: REMOVE}\n'), rule: 'schema.type', field: `${CP}.applyTo` },
  { name: 'a config patch without patch', yaml: ef(`  - applyTo: HTTP_FILTER\n${hcm()}`), rule: 'envoyfilter.patch-required', field: `${CP}.patch` },
  { name: 'a patch without operation', yaml: ef(`  - applyTo: HTTP_FILTER\n${hcm()}    patch:\n${lua}`), rule: 'envoyfilter.patch-operation', field: `${CP}.patch.operation` },
  { name: 'INSERT_BEFORE on a listener', yaml: ef('  - applyTo: LISTENER\n    patch:\n      operation: INSERT_BEFORE\n      value: {name: extra}\n'), rule: 'envoyfilter.patch-operation', field: `${CP}.patch.operation`, message: 'MERGE, ADD, REMOVE' },
  { name: 'INSERT_FIRST on an HTTP filter', yaml: httpFilter('INSERT_FIRST'), rule: 'envoyfilter.patch-operation', field: `${CP}.patch.operation` },
  { name: 'REMOVE on a route configuration', yaml: ef('  - applyTo: ROUTE_CONFIGURATION\n    patch: {operation: REMOVE}\n'), rule: 'envoyfilter.patch-operation', field: `${CP}.patch.operation` },
  { name: 'ADD without value', yaml: ef('  - applyTo: CLUSTER\n    patch: {operation: ADD}\n'), rule: 'envoyfilter.patch-value', field: `${CP}.patch.value` },
  { name: 'an inserted HTTP filter without name', yaml: httpFilter('INSERT_AFTER', '      value:\n        typed_config: {"@type": type.googleapis.com/envoy.config.filter.http.lua.v2.Lua}\n'), rule: 'envoyfilter.patch-value', field: `${CP}.patch.value.name` },
  { name: 'an HTTP filter value with a misplaced field', yaml: httpFilter('INSERT_BEFORE', '      value:\n        name: envoy.lua\n        inlineCode: "function envoy_on_request(h) end"\n'), rule: 'envoyfilter.patch-value', field: `${CP}.patch.value.inlineCode` },
  { name: 'a typed_config without @type', yaml: httpFilter('INSERT_BEFORE', '      value:\n        name: envoy.lua\n        typed_config: {inlineCode: "x"}\n'), rule: 'envoyfilter.patch-value', field: `${CP}.patch.value.typed_config` },
  { name: 'a proxyVersion regex that does not compile', yaml: ef('  - applyTo: CLUSTER\n    match:\n      proxy: {proxyVersion: "^1\\\\.6(.*"}\n    patch:\n      operation: MERGE\n      value: {connect_timeout: 5s}\n'), rule: 'common.regex', field: `${CP}.match.proxy.proxyVersion` },
  { name: 'a cluster patch with a listener match', yaml: ef('  - applyTo: CLUSTER\n    match:\n      listener: {portNumber: 9080}\n    patch:\n      operation: MERGE\n      value: {connect_timeout: 5s}\n'), rule: 'envoyfilter.match-type', field: `${CP}.match.listener` },
  { name: 'an HTTP filter patch with a cluster match', yaml: httpFilter('INSERT_BEFORE', lua, '    match:\n      cluster: {service: reviews.bookinfo.svc.cluster.local}\n'), rule: 'envoyfilter.match-type', field: `${CP}.match.cluster` },
  { name: 'a virtual host patch with a listener match', yaml: ef('  - applyTo: VIRTUAL_HOST\n    match:\n      listener: {portNumber: 80}\n    patch:\n      operation: ADD\n      value: {name: extra, domains: ["*"]}\n'), rule: 'envoyfilter.match-type', field: `${CP}.match.listener` },
  { name: 'a match on both listener and route configuration', yaml: ef('  - applyTo: HTTP_ROUTE\n    match:\n      listener: {portNumber: 80}\n      routeConfiguration: {portNumber: 80}\n    patch:\n      operation: MERGE\n      value: {decorator: {operation: x}}\n'), rule: 'envoyfilter.match-type', field: `${CP}.match`, message: 'only one of' },
  { name: 'a filter match without name', yaml: httpFilter('INSERT_BEFORE', lua, hcm('', '""')), rule: 'envoyfilter.filter-match', field: `${CP}.match.listener.filterChain.filter.name` },
  { name: 'a subFilter match on a network filter patch', yaml: ef(`  - applyTo: NETWORK_FILTER\n${hcm()}    patch:\n      operation: MERGE\n      value: {name: envoy.http_connection_manager}\n`), rule: 'envoyfilter.filter-match', field: `${CP}.match.listener.filterChain.filter.subFilter` },
  { name: 'a subFilter match under the new HCM name', yaml: httpFilter('INSERT_BEFORE', lua, hcm(undefined, 'envoy.filters.network.http_connection_manager')), rule: 'envoyfilter.filter-match', field: `${CP}.match.listener.filterChain.filter.name`, message: 'envoy.http_connection_manager' },
  { name: 'a subFilter match without name', yaml: httpFilter('INSERT_BEFORE', lua, hcm('            subFilter: {}\n')), rule: 'envoyfilter.filter-match', field: `${CP}.match.listener.filterChain.filter.subFilter.name` },
  { name: 'an unknown context', yaml: ef('  - applyTo: CLUSTER\n    match: {context: OUTBOUND}\n    patch: {operation: REMOVE}\n'), rule: 'schema.type', field: `${CP}.match.context` },
  { name: 'the removed filters field', yaml: ef('  - applyTo: CLUSTER\n    patch: {operation: REMOVE}\n', '  filters: []\n'), rule: 'schema.unknown-field', field: 'spec.filters' },
  { name: 'the removed workloadLabels field', yaml: ef('  - applyTo: CLUSTER\n    patch: {operation: REMOVE}\n', '  workloadLabels: {app: reviews}\n'), rule: 'schema.unknown-field', field: 'spec.workloadLabels' },
  { name: 'the v1beta1 API version', yaml: ef('  - applyTo: CLUSTER\n    patch: {operation: REMOVE}\n', '', 'v1beta1'), rule: 'resource.api-version', field: 'apiVersion' },
];

for (const c of invalid) {
  test(`refuses ${c.name}`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

const valid: Array<{ name: string; yaml: string }> = [
  { name: 'a Lua HTTP filter inserted before the router', yaml: httpFilter() },
  { name: 'an HTTP filter added without match', yaml: ef(`  - applyTo: HTTP_FILTER\n    patch:\n      operation: ADD\n${lua}`, '') },
  { name: 'a cluster merge restricted to a proxy version', yaml: ef('  - applyTo: CLUSTER\n    match:\n      context: SIDECAR_OUTBOUND\n      proxy: {proxyVersion: "^1\\\\.6.*", metadata: {ISTIO_VERSION: "1.6.14"}}\n      cluster: {portNumber: 9080, service: reviews.bookinfo.svc.cluster.local, subset: v1}\n    patch:\n      operation: MERGE\n      value: {connect_timeout: 5s, per_connection_buffer_limit_bytes: 1024}\n') },
  { name: 'a route configuration merge on a gateway', yaml: ef('  - applyTo: ROUTE_CONFIGURATION\n    match:\n      context: GATEWAY\n      routeConfiguration: {portNumber: 80, gateway: istio-system/bookinfo-gateway, vhost: {name: "bookinfo.example.com:80", route: {action: ROUTE}}}\n    patch:\n      operation: MERGE\n      value: {request_headers_to_remove: [x-debug]}\n', '') },
  { name: 'removing a network filter', yaml: ef('  - applyTo: NETWORK_FILTER\n    match:\n      listener:\n        filterChain:\n          sni: app.example.com\n          filter: {name: envoy.tcp_proxy}\n    patch: {operation: REMOVE}\n') },
  { name: 'inserting a network filter first', yaml: ef('  - applyTo: NETWORK_FILTER\n    match:\n      listener: {portNumber: 3306, filterChain: {transportProtocol: raw_buffer}}\n    patch:\n      operation: INSERT_FIRST\n      value: {name: envoy.filters.network.mysql_proxy, typed_config: {"@type": type.googleapis.com/envoy.config.filter.network.mysql_proxy.v1alpha1.MySQLProxy, stat_prefix: mysql}}\n') },
  { name: 'adding a listener', yaml: ef('  - applyTo: LISTENER\n    match: {context: SIDECAR_OUTBOUND}\n    patch:\n      operation: ADD\n      value: {name: extra, address: {socket_address: {address: 0.0.0.0, port_value: 15999}}}\n') },
];

for (const c of valid) {
  test(`accepts ${c.name}`, () => {
    expectValid(c.yaml, { noWarnings: true });
  });
}

test('accepts an EnvoyFilter without patches, as Istio 1.6 does, warning that it changes nothing', () => {
  const yaml = ef('    []\n');
  expectValid(yaml);
  expectWarning(yaml, 'envoyfilter.empty', 'spec.configPatches');
});
