// VirtualService validation: Istio 1.6 (Maistra 2.0) rules for hosts, gateways, HTTP/TLS/TCP routes, retries, faults, CORS and delegation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { check, expectError, expectValid, expectWarning } from '../helpers/validation.js';
import { formatPath } from '../../src/api/diagnostics.js';
import { validateResource } from '../../src/api/validate.js';
import { hostSubsetOf, hostsOverlap } from '../../src/api/hosts.js';

const vs = (body: string, head = '  hosts: [reviews]\n') =>
  `apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: reviews, namespace: bookinfo}\nspec:\n${head}${body}`;
/** One HTTP rule: `extra` are its other fields (indented 4), followed by a single destination unless `route` says otherwise. */
const http = (extra: string, route = '    route: [{destination: {host: reviews, subset: v1}}]\n') => vs(`  http:\n  - ${extra.trimStart()}${route}`);
const gw = '  hosts: [bookinfo.example.com]\n  gateways: [bookinfo-gateway]\n';
const tlsVs = (match: string) => vs(`  tls:\n  - match:\n    - ${match}\n    route: [{destination: {host: nginx}}]\n`, '  hosts: ["*.example.com"]\n  gateways: [mygateway]\n');
const tcp = (match: string, route = '    route: [{destination: {host: mongo}}]\n') => vs(`  tcp:\n  - match:\n    - ${match}\n${route}`, '  hosts: [mongo]\n');

const H0 = 'spec.http[0]';

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  // hosts and gateways
  { name: 'no hosts', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', ''), rule: 'vs.hosts-required', field: 'spec.hosts' },
  { name: 'an empty hosts list', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: []\n'), rule: 'vs.hosts-required', field: 'spec.hosts' },
  { name: 'a host with a wildcard in the middle', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: ["reviews.*.svc"]\n'), rule: 'vs.host', field: 'spec.hosts[0]' },
  { name: 'a host with an underscore', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: [reviews, my_service]\n'), rule: 'vs.host', field: 'spec.hosts[1]' },
  { name: 'an all-numeric top-level domain that is not an IP', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: ["foo.123"]\n'), rule: 'vs.host', field: 'spec.hosts[0]', message: 'all-numeric' },
  { name: 'host "*" bound to the mesh implicitly', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: ["*"]\n'), rule: 'vs.mesh-wildcard-host', field: 'spec.hosts[0]' },
  { name: 'host "*" bound to a gateway and the mesh', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: ["*"]\n  gateways: [bookinfo-gateway, mesh]\n'), rule: 'vs.mesh-wildcard-host', field: 'spec.hosts[0]' },
  { name: 'the same host twice', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: [reviews, ratings, reviews]\n'), rule: 'vs.duplicate-host', field: 'spec.hosts[2]' },
  { name: 'overlapping wildcard hosts', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: ["*.com", "*.example.com"]\n  gateways: [gw]\n'), rule: 'vs.duplicate-host', field: 'spec.hosts[1]' },
  { name: 'hosts that differ only in case', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: [api.example.com, API.example.com]\n'), rule: 'vs.duplicate-host', field: 'spec.hosts[1]' },
  { name: 'a gateway namespace with upper case', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: [reviews]\n  gateways: [Istio-System/ingressgateway]\n'), rule: 'vs.gateway-name', field: 'spec.gateways[0]' },
  { name: 'a gateway reference with an empty name', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: [reviews]\n  gateways: [mesh, "istio-system/"]\n'), rule: 'vs.gateway-name', field: 'spec.gateways[1]', message: 'cannot be empty' },
  { name: 'a gateway name with dots after the namespace', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: [reviews]\n  gateways: [istio-system/gw.example]\n'), rule: 'vs.gateway-name', field: 'spec.gateways[0]' },
  { name: 'a gateway in a TCP match', yaml: tcp('{gateways: ["bad gateway"]}'), rule: 'vs.gateway-name', field: 'spec.tcp[0].match[0].gateways[0]' },
  { name: 'no http, tls or tcp rule', yaml: vs(''), rule: 'vs.routes-required', field: 'spec.http' },
  { name: 'a numeric host', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: [80]\n'), rule: 'schema.type', field: 'spec.hosts[0]' },
  // http routes, redirect, rewrite
  { name: 'an HTTP rule with neither route nor redirect', yaml: vs('  http:\n  - match: [{uri: {prefix: /api}}]\n'), rule: 'vs.route-required', field: `${H0}.route` },
  { name: 'an HTTP rule with an empty route list', yaml: vs('  http:\n  - route: []\n'), rule: 'vs.route-required', field: `${H0}.route` },
  { name: 'redirect with route', yaml: http('redirect: {uri: /v1/reviews}\n'), rule: 'vs.redirect-conflict', field: `${H0}.route` },
  { name: 'redirect with fault', yaml: vs('  http:\n  - redirect: {uri: /v1}\n    fault: {abort: {httpStatus: 500}}\n'), rule: 'vs.redirect-conflict', field: `${H0}.fault` },
  { name: 'redirect with rewrite', yaml: vs('  http:\n  - redirect: {uri: /v1}\n    rewrite: {uri: /v2}\n'), rule: 'vs.redirect-conflict', field: `${H0}.rewrite` },
  { name: 'redirect without uri or authority', yaml: vs('  http:\n  - redirect: {}\n'), rule: 'vs.redirect', field: `${H0}.redirect` },
  { name: 'a 2xx redirect code', yaml: vs('  http:\n  - redirect: {authority: new.example.com, redirectCode: 200}\n'), rule: 'vs.redirect', field: `${H0}.redirect.redirectCode`, message: 'must be 3xx' },
  { name: 'a rewrite without uri or authority', yaml: http('rewrite: {uri: ""}\n'), rule: 'vs.rewrite', field: `${H0}.rewrite` },
  { name: 'websocketUpgrade, removed before 1.6', yaml: http('websocketUpgrade: true\n'), rule: 'schema.unknown-field', field: `${H0}.websocketUpgrade` },
  { name: 'appendHeaders, removed before 1.6', yaml: http('appendHeaders: {x-a: b}\n'), rule: 'schema.unknown-field', field: `${H0}.appendHeaders` },
  // destinations and weights
  { name: 'a route entry without destination', yaml: vs('  http:\n  - route:\n    - weight: 100\n'), rule: 'vs.destination-required', field: `${H0}.route[0].destination` },
  { name: 'a destination without host', yaml: vs('  http:\n  - route: [{destination: {subset: v1}}]\n'), rule: 'vs.destination-host', field: `${H0}.route[0].destination.host`, message: 'required' },
  { name: 'destination host "*"', yaml: vs('  http:\n  - route: [{destination: {host: "*"}}]\n'), rule: 'vs.destination-host', field: `${H0}.route[0].destination.host` },
  { name: 'a destination host that is an IP address', yaml: vs('  http:\n  - route: [{destination: {host: 10.0.0.1}}]\n'), rule: 'vs.destination-host', field: `${H0}.route[0].destination.host` },
  { name: 'a subset with upper case', yaml: vs('  http:\n  - route: [{destination: {host: reviews, subset: V1}}]\n'), rule: 'vs.subset-name', field: `${H0}.route[0].destination.subset` },
  { name: 'a subset with a dot', yaml: vs('  http:\n  - route: [{destination: {host: reviews, subset: v1.0}}]\n'), rule: 'vs.subset-name', field: `${H0}.route[0].destination.subset` },
  { name: 'destination port 0', yaml: vs('  http:\n  - route: [{destination: {host: reviews, port: {number: 0}}}]\n'), rule: 'vs.port', field: `${H0}.route[0].destination.port.number` },
  { name: 'an empty destination port', yaml: vs('  http:\n  - route: [{destination: {host: reviews, port: {}}}]\n'), rule: 'vs.port', field: `${H0}.route[0].destination.port.number` },
  { name: 'a destination port name (removed field)', yaml: vs('  http:\n  - route: [{destination: {host: reviews, port: {name: http}}}]\n'), rule: 'schema.unknown-field', field: `${H0}.route[0].destination.port.name` },
  { name: 'a weight over 100', yaml: vs('  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 101\n'), rule: 'vs.weight', field: `${H0}.route[0].weight` },
  { name: 'a negative weight', yaml: vs('  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: -10\n    - destination: {host: reviews, subset: v2}\n      weight: 110\n'), rule: 'vs.weight', field: `${H0}.route[0].weight` },
  { name: 'weights that sum to 90', yaml: vs('  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 80\n    - destination: {host: reviews, subset: v2}\n      weight: 10\n'), rule: 'vs.weight-sum', field: `${H0}.route[1].weight`, message: 'they add up to 90' },
  { name: 'two destinations without weights', yaml: vs('  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n    - destination: {host: reviews, subset: v2}\n'), rule: 'vs.weight-sum', field: `${H0}.route[1].weight` },
  { name: 'TCP weights that sum to 120', yaml: tcp('{port: 27017}', '    route:\n    - destination: {host: mongo, subset: v1}\n      weight: 60\n    - destination: {host: mongo, subset: v2}\n      weight: 60\n'), rule: 'vs.weight-sum', field: 'spec.tcp[0].route[1].weight' },
  { name: 'a fractional weight', yaml: vs('  http:\n  - route:\n    - destination: {host: reviews}\n      weight: 50.5\n'), rule: 'schema.type', field: `${H0}.route[0].weight` },
  // headers
  { name: 'an empty header name to set', yaml: http('headers:\n      request:\n        set: {"": x}\n'), rule: 'vs.header-name', field: `${H0}.headers.request.set[""]` },
  { name: 'a header name with a space to remove on the response', yaml: http('headers:\n      response:\n        remove: ["x powered by"]\n'), rule: 'vs.header-name', field: `${H0}.headers.response.remove[0]` },
  { name: 'setting a pseudo-header', yaml: http('headers:\n      request:\n        set: {":authority": example.com}\n'), rule: 'vs.header-name', field: `${H0}.headers.request.set[":authority"]`, message: 'pseudo-header' },
  { name: 'a bad header name on a destination', yaml: vs('  http:\n  - route:\n    - destination: {host: reviews}\n      headers:\n        request:\n          add: {"x(a)": "1"}\n'), rule: 'vs.header-name', field: `${H0}.route[0].headers.request.add["x(a)"]` },
  { name: 'a match on a header named with a colon inside', yaml: http('match:\n    - headers: {"x:y": {exact: a}}\n'), rule: 'vs.header-name', field: `${H0}.match[0].headers["x:y"]` },
  { name: 'a withoutHeaders match with an empty name', yaml: http('match:\n    - withoutHeaders: {"": {exact: a}}\n'), rule: 'vs.header-name', field: `${H0}.match[0].withoutHeaders[""]` },
  // matches
  { name: 'a uri match with exact and prefix', yaml: http('match:\n    - uri: {exact: /a, prefix: /b}\n'), rule: 'common.string-match-oneof', field: `${H0}.match[0].uri` },
  { name: 'a prefix query parameter match', yaml: http('match:\n    - queryParams: {user: {prefix: jas}}\n'), rule: 'common.string-match-oneof', field: `${H0}.match[0].queryParams.user.prefix` },
  { name: 'a uri regex with a lookahead', yaml: http('match:\n    - uri: {regex: "^/api/(?!internal)"}\n'), rule: 'common.regex', field: `${H0}.match[0].uri.regex` },
  { name: 'a header regex with a backreference', yaml: http('match:\n    - headers: {cookie: {regex: "(a)\\\\1"}}\n'), rule: 'common.regex', field: `${H0}.match[0].headers.cookie.regex` },
  { name: 'an authority regex that does not compile', yaml: http('match:\n    - authority: {regex: "[a-z"}\n'), rule: 'common.regex', field: `${H0}.match[0].authority.regex` },
  { name: 'a regex with a huge program', yaml: http('match:\n    - uri: {regex: "(a{1,100}){1,100}"}\n'), rule: 'common.regex', field: `${H0}.match[0].uri.regex` },
  { name: 'a query parameter regex that does not compile', yaml: http('match:\n    - queryParams: {id: {regex: "(+)"}}\n'), rule: 'common.regex', field: `${H0}.match[0].queryParams.id.regex` },
  { name: 'a match port over 65535', yaml: http('match:\n    - port: 70000\n'), rule: 'vs.port', field: `${H0}.match[0].port` },
  { name: 'bad source labels', yaml: http('match:\n    - sourceLabels: {"app/": productpage}\n'), rule: 'common.labels', field: `${H0}.match[0].sourceLabels["app/"]` },
  { name: 'an invalid source namespace', yaml: http('match:\n    - sourceNamespace: Book_Info\n'), rule: 'vs.source-namespace', field: `${H0}.match[0].sourceNamespace` },
  { name: 'a misspelt match field', yaml: http('match:\n    - url: {prefix: /}\n'), rule: 'schema.unknown-field', field: `${H0}.match[0].url` },
  // retries and timeout
  { name: 'negative retry attempts', yaml: http('retries: {attempts: -2}\n'), rule: 'vs.retries', field: `${H0}.retries.attempts`, message: 'negative' },
  { name: 'perTryTimeout without attempts', yaml: http('retries: {perTryTimeout: 2s}\n'), rule: 'vs.retries', field: `${H0}.retries.attempts`, message: 'attempts is 0' },
  { name: 'retryOn with attempts 0', yaml: http('retries: {attempts: 0, retryOn: 5xx}\n'), rule: 'vs.retries', field: `${H0}.retries.attempts` },
  { name: 'a perTryTimeout under 1ms', yaml: http('retries: {attempts: 3, perTryTimeout: 500us}\n'), rule: 'common.duration', field: `${H0}.retries.perTryTimeout` },
  { name: 'an unknown retryOn policy', yaml: http('retries: {attempts: 3, retryOn: "gateway-error,connect-failure,timeout"}\n'), rule: 'vs.retry-on', field: `${H0}.retries.retryOn`, message: '"timeout"' },
  { name: 'spaces in retryOn', yaml: http('retries: {attempts: 3, retryOn: "5xx, reset"}\n'), rule: 'vs.retry-on', field: `${H0}.retries.retryOn`, message: 'no spaces' },
  { name: 'a retryOn status code Go does not know', yaml: http('retries: {attempts: 3, retryOn: "599"}\n'), rule: 'vs.retry-on', field: `${H0}.retries.retryOn` },
  { name: 'a timeout without unit', yaml: http('timeout: "10"\n'), rule: 'common.duration', field: `${H0}.timeout` },
  { name: 'a timeout of zero', yaml: http('timeout: 0s\n'), rule: 'common.duration', field: `${H0}.timeout` },
  { name: 'a microsecond-precision timeout', yaml: http('timeout: 1.0005s\n'), rule: 'common.duration', field: `${H0}.timeout`, message: 'ms precision' },
  // fault injection
  { name: 'an empty fault', yaml: http('fault: {}\n'), rule: 'vs.fault', field: `${H0}.fault` },
  { name: 'a delay without fixedDelay', yaml: http('fault:\n      delay: {percentage: {value: 10}}\n'), rule: 'vs.fault', field: `${H0}.fault.delay.fixedDelay` },
  { name: 'an exponential delay', yaml: http('fault:\n      delay: {exponentialDelay: 2s}\n'), rule: 'vs.fault', field: `${H0}.fault.delay.exponentialDelay`, message: 'not supported' },
  { name: 'an abort without status', yaml: http('fault:\n      abort: {percentage: {value: 10}}\n'), rule: 'vs.fault', field: `${H0}.fault.abort.httpStatus` },
  { name: 'a gRPC abort', yaml: http('fault:\n      abort: {grpcStatus: "14"}\n'), rule: 'vs.fault', field: `${H0}.fault.abort.grpcStatus` },
  { name: 'an HTTP/2 error abort', yaml: http('fault:\n      abort: {http2Error: REFUSED_STREAM}\n'), rule: 'vs.fault', field: `${H0}.fault.abort.http2Error` },
  { name: 'an abort status of 600', yaml: http('fault:\n      abort: {httpStatus: 600}\n'), rule: 'vs.fault-http-status', field: `${H0}.fault.abort.httpStatus` },
  { name: 'an abort status of 100', yaml: http('fault:\n      abort: {httpStatus: 100}\n'), rule: 'vs.fault-http-status', field: `${H0}.fault.abort.httpStatus` },
  { name: 'a delay percentage over 100', yaml: http('fault:\n      delay: {fixedDelay: 7s, percentage: {value: 100.5}}\n'), rule: 'common.percentage', field: `${H0}.fault.delay.percentage.value` },
  { name: 'a tiny abort percentage', yaml: http('fault:\n      abort: {httpStatus: 500, percentage: {value: 0.00001}}\n'), rule: 'common.percentage', field: `${H0}.fault.abort.percentage.value` },
  { name: 'a deprecated delay percent over 100', yaml: http('fault:\n      delay: {fixedDelay: 1s, percent: 150}\n'), rule: 'common.percentage', field: `${H0}.fault.delay.percent` },
  { name: 'abort percent, removed in 1.6', yaml: http('fault:\n      abort: {httpStatus: 500, percent: 10}\n'), rule: 'schema.unknown-field', field: `${H0}.fault.abort.percent` },
  // mirroring
  { name: 'a mirror without host', yaml: http('mirror: {subset: v2}\n'), rule: 'vs.destination-host', field: `${H0}.mirror.host` },
  { name: 'a mirror subset with an underscore', yaml: http('mirror: {host: reviews, subset: v_2}\n'), rule: 'vs.subset-name', field: `${H0}.mirror.subset` },
  { name: 'mirrorPercentage over 100', yaml: http('mirror: {host: reviews, subset: v2}\n    mirrorPercentage: {value: 101}\n'), rule: 'common.percentage', field: `${H0}.mirrorPercentage.value` },
  { name: 'mirrorPercent over 100', yaml: http('mirror: {host: reviews, subset: v2}\n    mirrorPercent: 200\n'), rule: 'common.percentage', field: `${H0}.mirrorPercent` },
  // CORS
  { name: 'an empty allowOrigins match', yaml: http('corsPolicy:\n      allowOrigins: [{}]\n'), rule: 'vs.cors-allow-origins', field: `${H0}.corsPolicy.allowOrigins[0]` },
  { name: 'an allowOrigins regex that does not compile', yaml: http('corsPolicy:\n      allowOrigins: [{regex: "https://(a|b"}]\n'), rule: 'common.regex', field: `${H0}.corsPolicy.allowOrigins[0].regex` },
  { name: 'a lower-case CORS method', yaml: http('corsPolicy:\n      allowMethods: [get]\n'), rule: 'vs.cors-method', field: `${H0}.corsPolicy.allowMethods[0]` },
  { name: 'an empty CORS allowed header', yaml: http('corsPolicy:\n      allowHeaders: [x-a, ""]\n'), rule: 'vs.header-name', field: `${H0}.corsPolicy.allowHeaders[1]` },
  { name: 'a CORS exposed header with a slash', yaml: http('corsPolicy:\n      exposeHeaders: ["x/y"]\n'), rule: 'vs.header-name', field: `${H0}.corsPolicy.exposeHeaders[0]` },
  { name: 'a sub-second CORS maxAge', yaml: http('corsPolicy:\n      maxAge: 1.5s\n'), rule: 'vs.cors-max-age', field: `${H0}.corsPolicy.maxAge` },
  { name: 'a CORS maxAge that is not a duration', yaml: http('corsPolicy:\n      maxAge: one day\n'), rule: 'common.duration', field: `${H0}.corsPolicy.maxAge` },
  // TLS routes
  { name: 'a TLS route without match', yaml: vs('  tls:\n  - route: [{destination: {host: nginx}}]\n', gw), rule: 'vs.tls-match-required', field: 'spec.tls[0].match' },
  { name: 'a TLS match without sniHosts', yaml: tlsVs('{port: 443}'), rule: 'vs.sni-hosts', field: 'spec.tls[0].match[0].sniHosts' },
  { name: 'an invalid SNI host', yaml: tlsVs('{sniHosts: ["a..example.com"]}'), rule: 'vs.sni-hosts', field: 'spec.tls[0].match[0].sniHosts[0]' },
  { name: 'an SNI host outside the VirtualService hosts', yaml: tlsVs('{sniHosts: [nginx.example.com, nginx.example.org]}'), rule: 'vs.sni-host-not-in-hosts', field: 'spec.tls[0].match[0].sniHosts[1]' },
  { name: 'a wildcard SNI host wider than the hosts', yaml: vs('  tls:\n  - match: [{sniHosts: ["*.com"]}]\n    route: [{destination: {host: nginx}}]\n', '  hosts: ["*.example.com"]\n  gateways: [mygateway]\n'), rule: 'vs.sni-host-not-in-hosts', field: 'spec.tls[0].match[0].sniHosts[0]' },
  { name: 'a TLS route without destinations', yaml: vs('  tls:\n  - match: [{sniHosts: [nginx.example.com]}]\n', '  hosts: [nginx.example.com]\n  gateways: [mygateway]\n'), rule: 'vs.route-required', field: 'spec.tls[0].route' },
  { name: 'a TLS destination subnet that is not a CIDR', yaml: tlsVs('{sniHosts: [a.example.com], destinationSubnets: ["10.0.0.0/8", "10.0.0/8"]}'), rule: 'vs.subnet', field: 'spec.tls[0].match[0].destinationSubnets[1]' },
  { name: 'sourceSubnet in a TLS match (removed field)', yaml: tlsVs('{sniHosts: [a.example.com], sourceSubnet: 10.0.0.0/8}'), rule: 'schema.unknown-field', field: 'spec.tls[0].match[0].sourceSubnet' },
  // TCP routes
  { name: 'a TCP route without destinations', yaml: tcp('{port: 27017}', ''), rule: 'vs.route-required', field: 'spec.tcp[0].route' },
  { name: 'an invalid TCP source subnet', yaml: tcp('{sourceSubnet: 300.1.1.1/8}'), rule: 'vs.subnet', field: 'spec.tcp[0].match[0].sourceSubnet' },
  { name: 'a TCP match port of 65536', yaml: tcp('{port: 65536}'), rule: 'vs.port', field: 'spec.tcp[0].match[0].port' },
  { name: 'invalid TCP source labels', yaml: tcp('{sourceLabels: {app: "-mongo-"}}'), rule: 'common.labels', field: 'spec.tcp[0].match[0].sourceLabels.app' },
  // delegation (flag off, the Istio 1.6 default)
  { name: 'delegate while delegation is disabled', yaml: vs('  http:\n  - delegate: {name: reviews-delegate}\n', gw), rule: 'vs.delegate-disabled', field: `${H0}.delegate`, message: 'PILOT_ENABLE_VIRTUAL_SERVICE_DELEGATE' },
  { name: 'a delegating route that also routes', yaml: vs('  http:\n  - delegate: {name: reviews-delegate}\n    route: [{destination: {host: reviews}}]\n', gw), rule: 'vs.delegate-route', field: `${H0}.route` },
  { name: 'a delegating route that also redirects', yaml: vs('  http:\n  - delegate: {name: reviews-delegate}\n    redirect: {uri: /x}\n', gw), rule: 'vs.delegate-route', field: `${H0}.redirect` },
  { name: 'a delegating route on a mesh-only VirtualService', yaml: vs('  http:\n  - delegate: {name: reviews-delegate}\n'), rule: 'vs.delegate-route', field: `${H0}.delegate`, message: 'bound to a gateway' },
  { name: 'a delegate without name', yaml: vs('  http:\n  - delegate: {namespace: bookinfo}\n', gw), rule: 'vs.delegate-route', field: `${H0}.delegate.name` },
  { name: 'a regex header match on a delegating route', yaml: vs('  http:\n  - match: [{headers: {end-user: {regex: "j.*"}}}]\n    delegate: {name: reviews-delegate}\n', gw), rule: 'vs.delegate-match', field: `${H0}.match[0].headers.end-user.regex` },
  { name: 'sourceLabels on a delegating route', yaml: vs('  http:\n  - match: [{sourceLabels: {app: productpage}}]\n    delegate: {name: reviews-delegate}\n', gw), rule: 'vs.delegate-match', field: `${H0}.match[0].sourceLabels` },
  // exportTo
  { name: 'exportTo combining "*" with another entry', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n  exportTo: [".", "*"]\n'), rule: 'common.export-to', field: 'spec.exportTo[1]' },
  { name: 'exportTo repeating a namespace', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n  exportTo: [bookinfo, bookinfo]\n'), rule: 'common.export-to', field: 'spec.exportTo[1]' },
];

for (const c of invalid) {
  test(`refuses ${c.name}`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

const valid: Array<{ name: string; yaml: string }> = [
  { name: 'a short-name host and destination', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n') },
  { name: 'an IP address as host, bound to a gateway', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: [192.168.1.10]\n  gateways: [bookinfo-gateway]\n') },
  { name: 'host "*" bound to a gateway only', yaml: vs('  http:\n  - route: [{destination: {host: productpage, port: {number: 9080}}}]\n', '  hosts: ["*"]\n  gateways: [istio-system/bookinfo-gateway]\n') },
  { name: 'an old-style FQDN gateway reference', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n', '  hosts: [reviews]\n  gateways: [bookinfo-gateway.bookinfo.svc.cluster.local]\n') },
  { name: 'weights 0 and 100', yaml: vs('  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 0\n    - destination: {host: reviews, subset: v3}\n      weight: 100\n') },
  { name: 'a single destination without weight', yaml: vs('  http:\n  - route: [{destination: {host: reviews.bookinfo.svc.cluster.local, subset: v2}}]\n') },
  { name: 'a presence-only header match and a header match on :authority', yaml: http('match:\n    - headers: {x-canary: {}, ":authority": {exact: reviews}}\n') },
  { name: 'an exact empty query parameter', yaml: http('match:\n    - queryParams: {debug: {exact: ""}}\n') },
  { name: 'retries with status codes and policies', yaml: http('retries: {attempts: 3, perTryTimeout: 2s, retryOn: "gateway-error,connect-failure,refused-stream,503,retriable-status-codes"}\n') },
  { name: 'retries disabled', yaml: http('retries: {attempts: 0}\n') },
  { name: 'a delay and an abort', yaml: http('fault:\n      delay: {fixedDelay: 7s, percentage: {value: 100}}\n      abort: {httpStatus: 500, percentage: {value: 0.1}}\n') },
  { name: 'a CORS policy', yaml: http('corsPolicy:\n      allowOrigins: [{exact: "https://example.com"}, {regex: "https://.*\\\\.example\\\\.org"}]\n      allowMethods: [POST, GET]\n      allowCredentials: false\n      allowHeaders: [X-Foo-Bar]\n      exposeHeaders: ["*"]\n      maxAge: 24h\n') },
  { name: 'a redirect with authority and 302', yaml: vs('  http:\n  - redirect: {authority: new.example.com, redirectCode: 302}\n') },
  { name: 'a rewrite with timeout and header operations', yaml: http('rewrite: {uri: /v1/bookRatings}\n    timeout: 500ms\n    headers:\n      request: {set: {x-forwarded-proto: https}, remove: [x-debug]}\n      response: {add: {x-served-by: meltemi}}\n') },
  { name: 'a TLS passthrough route', yaml: vs('  tls:\n  - match: [{port: 443, sniHosts: [nginx.example.com]}]\n    route: [{destination: {host: my-nginx, port: {number: 443}}}]\n', '  hosts: [nginx.example.com]\n  gateways: [mygateway]\n') },
  { name: 'a TLS route whose SNI host is covered by a wildcard host', yaml: tlsVs('{sniHosts: [a.example.com, "*.b.example.com"]}') },
  { name: 'TCP subnets in IPv4 and IPv6', yaml: tcp('{destinationSubnets: ["10.1.0.0/16", "2001:db8::/32"], sourceSubnet: 10.2.0.1, port: 27017}') },
  { name: 'exportTo "."', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n  exportTo: ["."]\n') },
  { name: 'exportTo namespace names (Maistra 2.0, MAISTRA-1967)', yaml: vs('  http:\n  - route: [{destination: {host: reviews}}]\n  exportTo: [".", istio-system]\n') },
];

for (const c of valid) {
  test(`accepts ${c.name}`, () => {
    expectValid(c.yaml);
  });
}

test('warns that an empty match matches everything, without refusing it', () => {
  const yaml = http('match:\n    - {}\n');
  expectValid(yaml);
  expectWarning(yaml, 'vs.empty-match', `${H0}.match[0]`);
});

test('warns about deprecated fields but accepts them', () => {
  const yaml = http('corsPolicy:\n      allowOrigin: ["*"]\n    fault:\n      delay: {fixedDelay: 1s, percent: 10}\n');
  expectValid(yaml);
  expectWarning(yaml, 'vs.deprecated-field', `${H0}.corsPolicy.allowOrigin`);
  expectWarning(yaml, 'vs.deprecated-field', `${H0}.fault.delay.percent`);
});

test('reports every problem of a rule at once', () => {
  const r = check(vs('  http:\n  - redirect: {}\n    route: [{destination: {host: "*"}, weight: 200}]\n    timeout: soon\n'));
  const rules = new Set(r.errors.map((e) => e.rule));
  for (const id of ['vs.redirect-conflict', 'vs.redirect', 'vs.destination-host', 'vs.weight', 'common.duration']) assert.ok(rules.has(id), `missing ${id}`);
});

test('is served as v1alpha3 and v1beta1 with the same rules', () => {
  const bad = vs('  http:\n  - route: [{destination: {host: reviews}, weight: 150}]\n');
  expectError(bad, 'vs.weight', `${H0}.route[0].weight`);
  expectError(bad.replace('v1beta1', 'v1alpha3'), 'vs.weight', `${H0}.route[0].weight`);
});

// Delegation with PILOT_ENABLE_VIRTUAL_SERVICE_DELEGATE=true
const withDelegation = (yaml: string) => validateResource(parse(yaml), { enableVirtualServiceDelegate: true });
const findings = (yaml: string) => withDelegation(yaml).errors.map((e) => `${e.rule}@${formatPath(e.path)}`);

test('with delegation enabled, accepts a root route and a delegate VirtualService', () => {
  assert.deepEqual(findings(vs('  http:\n  - match: [{uri: {prefix: /reviews}}]\n    delegate: {name: reviews, namespace: bookinfo}\n', gw)), []);
  assert.deepEqual(findings(vs('  http:\n  - match: [{uri: {prefix: /reviews/v2}}]\n    route: [{destination: {host: reviews, subset: v2}}]\n', '')), []);
});

test('with delegation enabled, a delegate VirtualService has no gateways, tls or tcp', () => {
  const f = findings(vs('  http:\n  - route: [{destination: {host: reviews}}]\n  tcp:\n  - route: [{destination: {host: mongo}}]\n', '  gateways: [bookinfo-gateway]\n'));
  assert.ok(f.includes('vs.hosts-required@spec.gateways'), f.join(', '));
  assert.ok(f.includes('vs.hosts-required@spec.tcp'), f.join(', '));
  assert.ok(!f.includes('vs.hosts-required@spec.hosts'), f.join(', '));
});

test('with delegation enabled, a delegate cannot delegate again nor use regex or source matches', () => {
  const f = findings(vs('  http:\n  - match: [{uri: {regex: "/r.*"}, sourceNamespace: bookinfo}]\n    route: [{destination: {host: reviews}}]\n  - delegate: {name: deeper}\n', ''));
  assert.ok(f.includes('vs.delegate-match@spec.http[0].match[0].uri.regex'), f.join(', '));
  assert.ok(f.includes('vs.delegate-match@spec.http[0].match[0].sourceNamespace'), f.join(', '));
  assert.ok(f.includes('vs.delegate-route@spec.http[1].delegate'), f.join(', '));
  assert.ok(!f.some((x) => x.startsWith('vs.delegate-disabled')), f.join(', '));
});

test('host overlap and SNI coverage follow Istio host matching', () => {
  assert.equal(hostsOverlap('*.example.com', 'api.example.com'), true);
  assert.equal(hostsOverlap('*.com', '*.example.com'), true);
  assert.equal(hostsOverlap('a.example.com', 'b.example.com'), false);
  assert.equal(hostSubsetOf('a.example.com', '*.example.com'), true);
  assert.equal(hostSubsetOf('*.example.com', '*.com'), true);
  assert.equal(hostSubsetOf('*.com', '*.example.com'), false);
  assert.equal(hostSubsetOf('*.example.com', 'a.example.com'), false);
});
