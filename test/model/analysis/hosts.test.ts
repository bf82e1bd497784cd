// Host-name helpers and the analysis context's defaults: short-name resolution, wildcards, gateway references, root namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostCandidates, hostMatches, resolveGatewayRef, visibleFrom } from '../../../src/api/hosts.js';
import { AnalysisContext } from '../../../src/model/analysis/context.js';
import { controlPlane, namespace, route, service } from '../../helpers/resources.js';

test('hostCandidates: short names resolve in the namespace, name.ns also as a Service, FQDNs and wildcards stay', () => {
  assert.deepEqual(hostCandidates('Reviews', 'bookinfo', 'cluster.local'), ['reviews.bookinfo.svc.cluster.local']);
  assert.deepEqual(hostCandidates('reviews.other', 'bookinfo', 'cluster.local'), ['reviews.other', 'reviews.other.svc.cluster.local']);
  assert.deepEqual(hostCandidates('api.example.com', 'bookinfo', 'cluster.local'), ['api.example.com']);
  assert.deepEqual(hostCandidates('*.example.com', 'bookinfo', 'cluster.local'), ['*.example.com']);
});

test('hostMatches: exact (case-insensitive), "*", suffix wildcards, wildcard within wildcard', () => {
  assert.ok(hostMatches('API.example.com', 'api.EXAMPLE.com'));
  assert.ok(hostMatches('*', 'anything.local'));
  assert.ok(hostMatches('*.example.com', 'a.b.example.com'));
  assert.ok(hostMatches('*.example.com', '*.api.example.com'));
  assert.ok(!hostMatches('*.example.com', 'example.com'));
  assert.ok(!hostMatches('*.api.example.com', '*.example.com'));
  assert.ok(!hostMatches('a.example.com', '*.example.com'));
});

test('resolveGatewayRef: ns/name, ./name, bare names, legacy name.ns forms and mesh', () => {
  assert.deepEqual(resolveGatewayRef('istio-system/gw', 'bookinfo'), { namespace: 'istio-system', name: 'gw' });
  assert.deepEqual(resolveGatewayRef('./gw', 'bookinfo'), { namespace: 'bookinfo', name: 'gw' });
  assert.deepEqual(resolveGatewayRef('gw', 'bookinfo'), { namespace: 'bookinfo', name: 'gw' });
  assert.deepEqual(resolveGatewayRef('gw.istio-system', 'bookinfo'), { namespace: 'istio-system', name: 'gw' });
  assert.deepEqual(resolveGatewayRef('gw.istio-system.svc.cluster.local', 'bookinfo'), { namespace: 'istio-system', name: 'gw' });
  assert.equal(resolveGatewayRef('mesh', 'bookinfo'), undefined);
});

test('visibleFrom: exportTo empty or "*" is everywhere, "." is the own namespace only', () => {
  assert.ok(visibleFrom([], 'a', 'b'));
  assert.ok(visibleFrom(['*'], 'a', 'b'));
  assert.ok(visibleFrom(['.'], 'a', 'a'));
  assert.ok(!visibleFrom(['.'], 'a', 'b'));
});

test('AnalysisContext: the root namespace is the one control plane\'s namespace, else istio-system, unless given', () => {
  assert.equal(new AnalysisContext([controlPlane('basic', 'mesh-cp')]).rootNamespace, 'mesh-cp');
  assert.equal(new AnalysisContext([controlPlane('a', 'cp-a'), controlPlane('b', 'cp-b')]).rootNamespace, 'istio-system');
  assert.equal(new AnalysisContext([]).rootNamespace, 'istio-system');
  assert.equal(new AnalysisContext([controlPlane('basic', 'mesh-cp')], { rootNamespace: 'x' }).rootNamespace, 'x');
});

test('AnalysisContext: cluster-scoped kinds have no namespace; others default to "default"; a custom cluster domain is honoured', () => {
  const ns = namespace('bookinfo');
  ns.metadata.namespace = 'ignored';
  const ctx = new AnalysisContext([ns, service('reviews', 'bookinfo')], { clusterDomain: 'corp.internal' });
  assert.equal(ctx.namespaceOf(ns), '');
  assert.deepEqual(ctx.ref(ns), { kind: 'Namespace', apiVersion: 'v1', name: 'bookinfo' });
  const vs = route('r', 'x', 'reviews');
  delete vs.metadata.namespace;
  assert.equal(ctx.namespaceOf(vs), 'default');
  assert.equal(ctx.lookupHost('reviews.bookinfo', 'default').fqdn, 'reviews.bookinfo.svc.corp.internal');
});
