import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyRequest, type RequestView } from '../../src/xds/ack-nack.js';
import { applyDeltaSubscriptions, applySotwNames, newTypeWatch, requestedNames } from '../../src/xds/stream-state.js';
import { commitDelta, planChanged, planDelta } from '../../src/xds/delta.js';
import type { GeneratedResource } from '../../src/xds/snapshot-cache.js';
import { TypeUrl } from '../../src/xds/types.js';

const view = (v: Partial<RequestView>): RequestView => ({ protocol: 'sotw', nonce: '', versionInfo: '', subscriptionChanged: false, ...v });
function sent(nonce = 'n1', version = '3') {
  const w = newTypeWatch();
  w.nonceSent = nonce;
  w.versionSent = version;
  return w;
}

test('the first request of a type is initial, whatever nonce, version or error it carries', () => {
  assert.deepEqual(classifyRequest(view({}), undefined), { kind: 'initial' });
  assert.deepEqual(classifyRequest(view({ nonce: 'old', versionInfo: '7', errorMessage: 'x' }), undefined), { kind: 'initial' });
});

test('an empty nonce after a watch exists answers only a subscription change', () => {
  assert.deepEqual(classifyRequest(view({ subscriptionChanged: true }), sent()), { kind: 'resubscribe', respond: true });
  assert.deepEqual(classifyRequest(view({}), sent()), { kind: 'resubscribe', respond: false });
});

test('SotW: a stale nonce is ignored even with new names; Delta still answers new subscriptions', () => {
  assert.deepEqual(classifyRequest(view({ nonce: 'n0', subscriptionChanged: true }), sent('n1')), { kind: 'stale', respond: false });
  assert.deepEqual(classifyRequest(view({ protocol: 'delta', nonce: 'n0', subscriptionChanged: true }), sent('n1')), { kind: 'stale', respond: true });
});

test('the current nonce with an error is a NACK keeping the client version; a repeat is flagged', () => {
  const w = sent('n1', '3');
  assert.deepEqual(classifyRequest(view({ nonce: 'n1', versionInfo: '2', errorMessage: 'bad' }), w), { kind: 'nack', version: '2', message: 'bad', repeated: false, respond: false });
  w.nonceNacked = 'n1';
  assert.deepEqual(classifyRequest(view({ nonce: 'n1', versionInfo: '2', errorMessage: 'bad', subscriptionChanged: true }), w), { kind: 'nack', version: '2', message: 'bad', repeated: true, respond: true });
});

test('the current nonce without an error is an ACK of the client version (Delta: of the version sent)', () => {
  assert.deepEqual(classifyRequest(view({ nonce: 'n1', versionInfo: '3' }), sent('n1', '3')), { kind: 'ack', version: '3', respond: false });
  assert.deepEqual(classifyRequest(view({ protocol: 'delta', nonce: 'n1' }), sent('n1', '9')), { kind: 'ack', version: '9', respond: false });
  assert.deepEqual(classifyRequest(view({ nonce: 'n1', versionInfo: '3', subscriptionChanged: true }), sent('n1', '3')), { kind: 'ack', version: '3', respond: true });
});

test('SotW names: LDS/CDS empty first request is a wildcard; RDS/EDS empty means nothing; * is explicit', () => {
  const lds = newTypeWatch();
  assert.equal(applySotwNames(lds, TypeUrl.Listener, [], true), true);
  assert.equal(requestedNames(lds), undefined);
  assert.equal(applySotwNames(lds, TypeUrl.Listener, [], false), false, 'an Envoy ACK with no names stays wildcard');
  const grpc = newTypeWatch();
  applySotwNames(grpc, TypeUrl.Listener, ['echo:7070'], true);
  assert.deepEqual(requestedNames(grpc), ['echo:7070']);
  assert.equal(applySotwNames(grpc, TypeUrl.Listener, [], false), true);
  assert.deepEqual(requestedNames(grpc), [], 'after naming resources, an empty list unsubscribes everything');
  const eds = newTypeWatch();
  applySotwNames(eds, TypeUrl.ClusterLoadAssignment, [], true);
  assert.deepEqual(requestedNames(eds), []);
  applySotwNames(eds, TypeUrl.ClusterLoadAssignment, ['*'], false);
  assert.equal(requestedNames(eds), undefined);
});

test('Delta subscriptions: wildcard on an empty first LDS/CDS request, additions reported, unsubscribe forgets', () => {
  const w = newTypeWatch();
  assert.deepEqual(applyDeltaSubscriptions(w, TypeUrl.Cluster, [], [], true), ['*']);
  const e = newTypeWatch();
  assert.deepEqual(applyDeltaSubscriptions(e, TypeUrl.ClusterLoadAssignment, ['a', 'b'], [], true), ['a', 'b']);
  e.known.set('a', 'v1');
  assert.deepEqual(applyDeltaSubscriptions(e, TypeUrl.ClusterLoadAssignment, ['b', 'c'], ['a'], false), ['c']);
  assert.deepEqual([...e.names].sort(), ['b', 'c']);
  assert.equal(e.known.has('a'), false);
});

const gen = (entries: [string, string][]): Map<string, GeneratedResource> => new Map(entries.map(([name, version]) => [name, { name, version, bytes: Buffer.from(version) }]));

test('planDelta sends new and changed resources, removes vanished ones, and reports unknown new subscriptions', () => {
  const w = newTypeWatch();
  w.names = new Set(['a', 'b', 'c', 'x']);
  w.known = new Map([['a', '1'], ['b', '1'], ['c', '1']]);
  const plan = planDelta(gen([['a', '1'], ['b', '2'], ['d', '1']]), w, ['x']);
  assert.deepEqual(plan.resources.map((r) => r.name), ['b'], 'd is not subscribed; a is unchanged');
  assert.deepEqual(plan.removed, ['c', 'x']);
  commitDelta(w, plan);
  assert.deepEqual([...w.known.entries()].sort(), [['a', '1'], ['b', '2']]);
  assert.deepEqual(planDelta(gen([['a', '1'], ['b', '2']]), w), { resources: [], removed: [] });
  w.wildcard = true;
  assert.deepEqual(planDelta(gen([['a', '1'], ['b', '2'], ['d', '1']]), w).resources.map((r) => r.name), ['d']);
});

test('planChanged equals planDelta when only the named resources can differ', () => {
  const w = newTypeWatch();
  w.names = new Set(['a', 'b', 'c']);
  w.known = new Map([['a', '1'], ['b', '1'], ['c', '1']]);
  const next = gen([['a', '1'], ['b', '2'], ['c', '1']]);
  assert.deepEqual(planChanged(next, w, new Set(['a', 'b'])), planDelta(next, w));
  assert.deepEqual(planChanged(next, w, new Set(['a', 'b'])).resources.map((r) => r.name), ['b'], 'a changed nothing after all');
  assert.deepEqual(planChanged(gen([['z', '1']]), w, new Set(['z'])), { resources: [], removed: [] }, 'z is not subscribed');
});
