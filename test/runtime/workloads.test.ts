// Deployments as local pods: names and template hashes as the ReplicaSet controller makes them, argv, downward-API env, probes, service VIPs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '../../src/api/kind.js';
import { containerArgv, containerEnv, livenessOf, podsOf, readinessOf, templateHash } from '../../src/runtime/workloads.js';
import { VipAllocator } from '../../src/runtime/vip-allocator.js';
import { MeshError } from '../../src/shared/errors.js';

const deployment = (replicas: number, image = 'a'): Resource => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'reviews-v1', namespace: 'default' },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'reviews' } },
    template: { metadata: { labels: { app: 'reviews', version: 'v1' }, annotations: { 'sidecar.istio.io/inject': 'true' } }, spec: { serviceAccountName: 'bookinfo-reviews', containers: [{ name: 'reviews', image, command: ['node'], args: ['reviews.js'] }] } },
  },
});

test('replicas get ReplicaSet-style names and the template hash label; a changed template changes the hash', () => {
  const pods = podsOf(deployment(2), '/srv');
  assert.equal(pods.length, 2);
  for (const p of pods) {
    assert.match(p.name, /^reviews-v1-[0-9a-f]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.equal(p.labels['pod-template-hash'], p.templateHash);
    assert.equal(p.labels.app, 'reviews');
    assert.equal(p.serviceAccount, 'bookinfo-reviews');
    assert.equal(p.baseDir, '/srv');
  }
  assert.notEqual(pods[0]!.name, pods[1]!.name);
  assert.notEqual(podsOf(deployment(1, 'b'), '/srv')[0]!.templateHash, pods[0]!.templateHash);
  assert.equal(templateHash({ a: 1 }), templateHash({ a: 1 }));
});

test('argv is command then args; a container without a command is refused with its name', () => {
  assert.deepEqual(containerArgv({ name: 'x', command: ['node'], args: ['a.js', '--port', '1'] }, 'c'), ['node', 'a.js', '--port', '1']);
  assert.throws(() => containerArgv({ name: 'x', args: ['a'] }, 'container default/p/x'), (e: unknown) => e instanceof MeshError && /container default\/p\/x: .*command/.test(e.message));
});

test('env values and the downward API fields a sidecar reads; other valueFrom sources are refused', () => {
  const pod = { name: 'p-1', namespace: 'default', ip: '10.77.0.5', serviceAccount: 'sa', uid: 'u', labels: { app: 'web' } };
  const env = containerEnv(
    {
      name: 'c',
      env: [
        { name: 'A', value: '1' },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'INSTANCE_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      ],
    },
    pod,
    'c',
  );
  assert.deepEqual(env, { A: '1', POD_NAME: 'p-1', INSTANCE_IP: '10.77.0.5', APP: 'web' });
  assert.throws(() => containerEnv({ name: 'c', env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }, pod, 'container x'), /env\[0\] \(S\)/);
});

test('readiness probes: httpGet by number or port name against the pod address, with scheme and headers; tcpSocket; exec; gRPC refused', () => {
  const c = { name: 'c', ports: [{ name: 'http', containerPort: 9080 }], readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 2 } };
  assert.deepEqual(readinessOf(c, '10.77.0.5', 'c'), { kind: 'http', host: '10.77.0.5', port: 9080, path: '/health', scheme: 'HTTP', headers: [], periodMs: 2000, timeoutMs: 1000, initialDelayMs: 0, failureThreshold: 3, successThreshold: 1 });
  const https = readinessOf({ name: 'c', readinessProbe: { httpGet: { port: 8443, scheme: 'HTTPS', httpHeaders: [{ name: 'x-probe', value: '1' }] } } }, '10.77.0.5', 'c');
  assert.deepEqual(https && https.kind === 'http' ? [https.scheme, https.headers, https.path] : [], ['HTTPS', [['x-probe', '1']], '/']);
  assert.equal(readinessOf({ name: 'c', readinessProbe: { tcpSocket: { port: 5432 } } }, '10.77.0.5', 'c')?.kind, 'tcp');
  assert.equal(readinessOf({ name: 'c' }, '10.77.0.5', 'c'), undefined);
  const exec = readinessOf({ name: 'c', readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, timeoutSeconds: 2 } }, 'x', 'c');
  assert.deepEqual(exec && exec.kind === 'exec' ? [exec.command, exec.timeoutMs] : [], [['test', '-f', '/tmp/ready'], 2000]);
  assert.throws(() => readinessOf({ name: 'c', readinessProbe: { exec: { command: [] } } }, 'x', 'container y'), /container y: readinessProbe.exec.command is empty/);
  assert.throws(() => readinessOf({ name: 'c', readinessProbe: { grpc: { port: 9090 } } }, 'x', 'container y'), /container y: gRPC readiness probes are not supported locally/);
  const live = livenessOf({ name: 'c', ports: [{ name: 'http', containerPort: 9080 }], livenessProbe: { httpGet: { path: '/live', port: 'http' }, initialDelaySeconds: 5 } }, '10.77.0.5', 'c');
  assert.deepEqual(live && live.kind === 'http' ? [live.port, live.path, live.initialDelayMs, live.failureThreshold] : [], [9080, '/live', 5000, 3]);
  assert.equal(livenessOf({ name: 'c' }, 'x', 'c'), undefined);
  assert.throws(() => livenessOf({ name: 'c', livenessProbe: { exec: { command: [] } } }, 'x', 'container y'), /container y: livenessProbe.exec.command is empty/);
});

test('service VIPs: stable per service, a requested clusterIP kept, a clash refused, released addresses reusable', () => {
  const v = new VipAllocator();
  const a = v.assign('default/details');
  assert.equal(a, '10.96.0.2');
  assert.equal(v.assign('default/details'), a);
  assert.equal(v.assign('default/ratings'), '10.96.0.3');
  assert.equal(v.assign('default/db', '10.96.9.9'), '10.96.9.9');
  assert.throws(() => v.assign('default/other', '10.96.9.9'), /already used by default\/db/);
  v.release('default/db');
  assert.equal(v.assign('default/other', '10.96.9.9'), '10.96.9.9');
  assert.throws(() => new VipAllocator('10.96.1.0'), /IPv4 \/16/);
});
