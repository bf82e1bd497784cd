// withEndpointsOf: the PushContext of an endpoint-only change keeps the config view and shows the new endpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meshConfig } from '../../src/model/mesh-config.js';
import { buildPushContext, withEndpointsOf } from '../../src/model/push-context-impl.js';
import { ServiceRegistry } from '../../src/registry/registry.js';
import { applyYaml, bookinfoMesh, podFor, proxy } from '../helpers/bookinfo-mesh.js';

const REVIEWS = 'reviews.bookinfo.svc.cluster.local';

test('an endpoint-only push context shows the new endpoints and shares the scopes of the previous one', () => {
  const { store } = bookinfoMesh();
  const registry = new ServiceRegistry(store);
  try {
    const first = buildPushContext(store, registry.snapshot(), meshConfig(), 'p1');
    const productpage = proxy('bookinfo', { app: 'productpage', version: 'v1' });
    const scope = first.sidecarScope(productpage);
    const before = first.endpoints(first.service(REVIEWS, 'bookinfo')!, 9080).length;
    const deployment = store.list({ kind: 'Deployment' }).find((d) => d.metadata.name === 'reviews-v3')!;
    store.apply(podFor(deployment, '10.1.7.7', { suffix: 'extra' }));
    const next = withEndpointsOf(first, registry.snapshot(), 'p2');
    assert.ok(next, 'services are unchanged, so the config view is reused');
    assert.equal(next.version, 'p2');
    assert.equal(next.endpoints(next.service(REVIEWS, 'bookinfo')!, 9080).length, before + 1);
    assert.equal(first.endpoints(first.service(REVIEWS, 'bookinfo')!, 9080).length, before, 'the previous push is immutable');
    assert.equal(next.sidecarScope(productpage), scope);
    assert.equal(next.mesh, first.mesh);
  } finally {
    registry.close();
  }
});

test('after a service change, an endpoint-only push context is refused: a full build is needed', () => {
  const { store } = bookinfoMesh();
  const registry = new ServiceRegistry(store);
  try {
    const first = buildPushContext(store, registry.snapshot(), meshConfig(), 'p1');
    applyYaml(store, `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: ext, namespace: bookinfo}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
`);
    assert.equal(withEndpointsOf(first, registry.snapshot(), 'p2'), undefined);
  } finally {
    registry.close();
  }
});
