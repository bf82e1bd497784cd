// The in-memory store: validation on write, API-server-style versions, conflicts, and watch events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore, InvalidConfigError } from '../../src/config/memory-store.js';
import { isMeshError } from '../../src/shared/errors.js';
import type { Resource } from '../../src/api/kind.js';
import type { ConfigEvent } from '../../src/config/store.js';

const gw = (name: string, host = '*', ns?: string): Resource => ({
  apiVersion: 'networking.istio.io/v1beta1',
  kind: 'Gateway',
  metadata: { name, ...(ns ? { namespace: ns } : {}) },
  spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: [host] }] },
});
const key = (name: string, namespace = 'default') => ({ group: 'networking.istio.io', kind: 'Gateway', namespace, name });

test('stores a valid object with namespace, uid, creationTimestamp, generation and resourceVersion', () => {
  const store = new MemoryStore({ now: () => new Date('2026-01-01T00:00:00Z') });
  const { resource, outcome } = store.apply(gw('a'));
  assert.equal(outcome, 'created');
  assert.equal(resource.metadata.namespace, 'default');
  assert.equal(resource.metadata.creationTimestamp, '2026-01-01T00:00:00.000Z');
  assert.equal(resource.metadata.generation, 1);
  assert.ok(resource.metadata.uid);
  assert.ok(Object.isFrozen(resource) && Object.isFrozen(resource.spec), 'stored objects are frozen');
  assert.equal(store.get(key('a')), resource);
});

test('refuses an invalid object with every finding, and keeps the previous version serving', () => {
  const store = new MemoryStore();
  store.apply(gw('a', 'good.example.com'));
  const bad = gw('a', 'bad..host');
  (bad.spec as { servers: Array<Record<string, unknown>> }).servers[0]!.port = { number: 80, protocol: 'QUIC' };
  assert.throws(() => store.apply(bad), (e: unknown) => {
    assert.ok(e instanceof InvalidConfigError);
    assert.equal(e.code, 'MESH_INVALID_CONFIG');
    assert.ok(e.result.errors.length >= 3, 'host, protocol and name are all reported');
    return true;
  });
  const kept = store.get(key('a'))!;
  assert.deepEqual((kept.spec as { servers: Array<{ hosts: string[] }> }).servers[0]!.hosts, ['good.example.com']);
});

test('re-applying the same content is unchanged; a spec change bumps generation; a label change does not', () => {
  const store = new MemoryStore();
  const first = store.apply(gw('a')).resource;
  assert.equal(store.apply(gw('a')).outcome, 'unchanged');
  const labelled = gw('a');
  labelled.metadata.labels = { team: 'x' };
  const second = store.apply(labelled).resource;
  assert.equal(second.metadata.generation, 1);
  assert.notEqual(second.metadata.resourceVersion, first.metadata.resourceVersion);
  const third = store.apply({ ...gw('a', 'x.example.com'), metadata: { name: 'a', labels: { team: 'x' } } }).resource;
  assert.equal(third.metadata.generation, 2);
  assert.equal(third.metadata.uid, first.metadata.uid);
  assert.equal(third.metadata.creationTimestamp, first.metadata.creationTimestamp);
});

test('refuses a write based on a stale resourceVersion', () => {
  const store = new MemoryStore();
  const v1 = store.apply(gw('a')).resource;
  store.apply(gw('a', 'changed.example.com'));
  const stale = { ...gw('a', 'mine.example.com'), metadata: { name: 'a', resourceVersion: v1.metadata.resourceVersion } };
  assert.throws(() => store.apply(stale), (e: unknown) => isMeshError(e, 'MESH_CONFLICT'));
});

test('lists by kind and namespace, and tells watchers of adds, updates and deletes in order', () => {
  const store = new MemoryStore();
  const events: string[] = [];
  const stop = store.watch((e: ConfigEvent) => events.push(`${e.type}:${e.resource.metadata.namespace}/${e.resource.metadata.name}`), { namespace: 'prod' });
  store.apply(gw('a', '*', 'prod'));
  store.apply(gw('b', '*', 'dev'));
  store.apply(gw('a', 'a.example.com', 'prod'));
  store.delete(key('a', 'prod'));
  stop();
  store.apply(gw('c', '*', 'prod'));
  assert.deepEqual(events, ['added:prod/a', 'updated:prod/a', 'deleted:prod/a']);
  assert.deepEqual(store.list({ kind: 'Gateway', namespace: 'prod' }).map((r) => r.metadata.name), ['c']);
  assert.equal(store.list().length, 2);
  assert.equal(store.delete(key('nope')), undefined);
});

test('a throwing watcher does not stop the others', () => {
  const store = new MemoryStore();
  let heard = 0;
  store.watch(() => {
    throw new Error('boom');
  });
  store.watch(() => heard++);
  store.apply(gw('a'));
  assert.equal(heard, 1);
});

test('enforces rules about changes on update: a ServiceMeshMember cannot move to another control plane', () => {
  const store = new MemoryStore();
  const smm = (cp: string): Resource => ({ apiVersion: 'maistra.io/v1', kind: 'ServiceMeshMember', metadata: { name: 'default', namespace: 'bookinfo' }, spec: { controlPlaneRef: { name: cp, namespace: 'istio-system' } } });
  store.apply(smm('basic'));
  assert.throws(() => store.apply(smm('other')), (e: unknown) => e instanceof InvalidConfigError && e.result.errors.some((d) => d.rule === 'smm.control-plane-ref-immutable'));
  const kept = store.get({ group: 'maistra.io', kind: 'ServiceMeshMember', namespace: 'bookinfo', name: 'default' })!;
  assert.equal((kept.spec as { controlPlaneRef: { name: string } }).controlPlaneRef.name, 'basic');
  store.delete({ group: 'maistra.io', kind: 'ServiceMeshMember', namespace: 'bookinfo', name: 'default' });
  assert.equal(store.apply(smm('other')).outcome, 'created', 'after deletion a new member may name another control plane');
});
