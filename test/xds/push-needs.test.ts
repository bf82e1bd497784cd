// A route-only change skips CDS and EDS, and an HTTP-only VirtualService edit LDS too (generators/push-needs.ts): only when regenerating them would give the same result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '../../src/api/kind.js';
import type { Proxy } from '../../src/model/proxy.js';
import type { PushContext } from '../../src/model/push-context.js';
import { mergePushRequests } from '../../src/xds/debounce.js';
import { clustersMayChange, configChangeRequest, envoyGenerators } from '../../src/xds/generators/index.js';
import { TypeUrl, type PushRequest } from '../../src/xds/types.js';
import { applyYaml, pushOf } from '../helpers/bookinfo-mesh.js';
import { NS, testMesh, type TestMesh } from './mesh.js';

const VS = 'VirtualService';
const routeOnly: PushRequest = { full: true, configKinds: new Set([VS]) };

function output(p: Proxy, push: PushContext, typeUrl: typeof TypeUrl.Cluster | typeof TypeUrl.ClusterLoadAssignment): string {
  return JSON.stringify(envoyGenerators[typeUrl]!(p, push).map((r) => [r.name, r.resource]));
}

function proxies(m: TestMesh): Proxy[] {
  return ['productpage-v1', 'reviews-v1', 'reviews-v2', 'ratings-v1', 'details-v1'].map((d) => m.sidecar(d)).concat(m.gateway());
}

/** Applies `edit` and checks, for every proxy, that a skip decision never hides a change of CDS or EDS. Returns how many proxies skipped. */
function checkEdit(m: TestMesh, edit: string, request: PushRequest = routeOnly): { skipped: number; changed: number } {
  const before = pushOf(m.store);
  applyYaml(m.store, edit);
  const after = pushOf(m.store);
  let skipped = 0;
  let changed = 0;
  for (const p of proxies(m)) {
    const differs = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment].some((t) => output(p, before, t) !== output(p, after, t));
    const may = clustersMayChange(request, before.sidecarScope(p).services, after.sidecarScope(p).services);
    if (differs) changed++;
    if (!may) skipped++;
    assert.ok(may || !differs, `${p.id}: CDS/EDS changed but the push would skip them`);
  }
  return { skipped, changed };
}

const REVIEWS_SUBSETS = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`;

test('a VirtualService weight edit skips CDS and EDS for every proxy, and they would indeed be unchanged', () => {
  const m = testMesh();
  applyYaml(m.store, REVIEWS_SUBSETS);
  const vs = (w: number) => `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: ${w}}
    - {destination: {host: reviews, subset: v2}, weight: ${100 - w}}
`;
  applyYaml(m.store, vs(90));
  const r = checkEdit(m, vs(50));
  assert.equal(r.skipped, proxies(m).length);
  assert.equal(r.changed, 0);
});

test('with a Sidecar, a VirtualService that now routes to another service changes the scope, so CDS and EDS are regenerated', () => {
  const m = testMesh();
  // productpage's Sidecar imports only reviews; reviews' VirtualService pulls its destinations in.
  applyYaml(
    m.store,
    `apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: productpage, namespace: ${NS}}
spec:
  workloadSelector: {labels: {app: productpage}}
  egress: [{hosts: [./reviews.${NS}.svc.cluster.local]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
`,
  );
  const r = checkEdit(
    m,
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: ratings}}]}]
`,
  );
  assert.equal(r.changed, 1, "productpage's clusters now include ratings");
  assert.equal(r.skipped, proxies(m).length - 1);
});

/** The ingress gateway's HTTP server on port 80 for `host`. */
const gw = (host: string) => `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: ${NS}}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['${host}']}]
`;

test('a Gateway edit skips CDS and EDS, also for the gateway itself', () => {
  const m = testMesh();
  applyYaml(m.store, gw('*'));
  const r = checkEdit(m, gw('bookinfo.example.com'), { full: true, configKinds: new Set(['Gateway']) });
  assert.equal(r.skipped, proxies(m).length);
});

test('any other kind, an unknown change, an endpoint change or an EDS-only push regenerates clusters', () => {
  const same: readonly never[] = [];
  assert.equal(clustersMayChange({ full: true, configKinds: new Set(['DestinationRule']) }, same, same), true);
  assert.equal(clustersMayChange({ full: true, configKinds: new Set([VS, 'Sidecar']) }, same, same), true);
  assert.equal(clustersMayChange({ full: true }, same, same), true);
  assert.equal(clustersMayChange({ full: true, configKinds: new Set([VS]), edsHosts: new Set(['a']) }, same, same), true);
  assert.equal(clustersMayChange({ full: false, edsHosts: new Set(['a']) }, same, same), true);
  assert.equal(clustersMayChange(routeOnly, undefined, same), true, 'clusters never generated for this proxy');
  assert.equal(clustersMayChange(routeOnly, same, same), false);
});

test('a DestinationRule edit is not a routing-only change: its clusters differ', () => {
  const m = testMesh();
  applyYaml(m.store, REVIEWS_SUBSETS);
  const r = checkEdit(m, REVIEWS_SUBSETS.replace('subsets:', 'trafficPolicy: {loadBalancer: {simple: RANDOM}}\n  subsets:'), { full: true, configKinds: new Set(['DestinationRule']) });
  assert.equal(r.skipped, 0);
  assert.ok(r.changed > 0);
});

function listeners(p: Proxy, push: PushContext): string {
  return JSON.stringify(envoyGenerators[TypeUrl.Listener]!(p, push).map((r) => [r.name, r.resource]));
}

const vsResource = (spec: Record<string, unknown>): Resource => ({ apiVersion: 'networking.istio.io/v1beta1', kind: VS, metadata: { name: 'reviews', namespace: NS }, spec });

test('a VirtualService without TCP or TLS routes, before and after, leaves listeners alone; anything else may not', () => {
  const http = vsResource({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] });
  const tcp = vsResource({ hosts: ['reviews'], tcp: [{ route: [{ destination: { host: 'reviews' } }] }] });
  const tls = vsResource({ hosts: ['reviews'], tls: [{ match: [{ sniHosts: ['reviews'] }], route: [{ destination: { host: 'reviews' } }] }] });
  assert.deepEqual(configChangeRequest('added', http, undefined), { full: true, configKinds: new Set([VS]), listenersUnaffected: true });
  assert.equal(configChangeRequest('updated', http, http).listenersUnaffected, true);
  assert.equal(configChangeRequest('added', tcp, undefined).listenersUnaffected, undefined);
  assert.equal(configChangeRequest('updated', http, tcp).listenersUnaffected, undefined, 'its TCP routes are gone: listeners change');
  assert.equal(configChangeRequest('updated', tls, http).listenersUnaffected, undefined);
  assert.equal(configChangeRequest('added', { ...http, kind: 'Gateway' }, undefined).listenersUnaffected, undefined);
  assert.equal(configChangeRequest('deleted', http, undefined).listenersUnaffected, true);
  assert.equal(configChangeRequest('deleted', tcp, undefined).listenersUnaffected, undefined, 'its TCP routes go with it');
  assert.equal(configChangeRequest('updated', http, undefined).listenersUnaffected, undefined, 'an update without the previous object assumes nothing');
});

test('merged requests keep listenersUnaffected only while every full request has it; endpoint-only ones do not matter', () => {
  const vsEdit: PushRequest = { full: true, configKinds: new Set([VS]), listenersUnaffected: true };
  const eds: PushRequest = { full: false, edsHosts: new Set(['reviews.default.svc.cluster.local']) };
  const dr: PushRequest = { full: true, configKinds: new Set(['DestinationRule']) };
  assert.equal(mergePushRequests(undefined, vsEdit).listenersUnaffected, true);
  assert.equal(mergePushRequests(mergePushRequests(undefined, vsEdit), vsEdit).listenersUnaffected, true);
  assert.equal(mergePushRequests(mergePushRequests(undefined, eds), vsEdit).listenersUnaffected, true);
  assert.equal(mergePushRequests(mergePushRequests(undefined, vsEdit), eds).listenersUnaffected, true);
  assert.equal(mergePushRequests(mergePushRequests(undefined, vsEdit), dr).listenersUnaffected, undefined);
  assert.equal(mergePushRequests(mergePushRequests(undefined, dr), vsEdit).listenersUnaffected, undefined);
  assert.equal(mergePushRequests(undefined, eds).listenersUnaffected, undefined);
});

test('HTTP-only VirtualService edits, mesh and gateway bound, leave every proxy\'s listeners as they were', () => {
  const m = testMesh();
  applyYaml(m.store, REVIEWS_SUBSETS);
  applyYaml(m.store, gw('*'));
  const edits = [
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v1}}]}]
`,
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}, sourceLabels: {app: productpage}}]
    fault: {abort: {percentage: {value: 50}, httpStatus: 503}}
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}, weight: 80}, {destination: {host: reviews, subset: v2}, weight: 20}]
    retries: {attempts: 3, perTryTimeout: 2s}
    timeout: 10s
`,
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: bookinfo, namespace: ${NS}}
spec:
  hosts: ['*']
  gateways: [bookinfo-gateway]
  http: [{match: [{uri: {prefix: /productpage}}], route: [{destination: {host: productpage, port: {number: 9080}}}]}]
`,
  ];
  let before = pushOf(m.store);
  for (const edit of edits) {
    applyYaml(m.store, edit);
    const after = pushOf(m.store);
    for (const p of proxies(m)) {
      assert.equal(listeners(p, after), listeners(p, before), `${p.id}: listeners changed by an HTTP-only VirtualService edit`);
    }
    before = after;
  }
});
