// Deployment strategies in `meltemi up` (loopback mode): RollingUpdate starts the new pod before the old one goes; Recreate stops the old pod before the new one starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/runtime/control-server.js';
import { until } from '../proxy/http-mesh.js';
import { loopbackMesh, runDirFor } from './loopback-mesh.js';

/** A one-pod Deployment whose version is in its environment; `strategy` as given. */
function deployment(name: string, version: string, strategy: 'RollingUpdate' | 'Recreate'): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: default }
spec:
  strategy: { type: ${strategy} }
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers:
      - name: app
        image: app
        env: [{ name: VERSION, value: "${version}" }]
        command: [node, -e, "require('http').createServer((q, s) => s.end(process.env.VERSION)).listen(8080, process.env.MELTEMI_LISTEN_ADDRESS)"]
        readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
`;
}

test('a changed template rolls by the Deployment strategy: RollingUpdate overlaps old and new pods, Recreate never does', { timeout: 120_000 }, async (t) => {
  const runDir = runDirFor(t, 'meltemi-rollout-');
  const manifests = join(runDir, 'app.yaml');
  writeFileSync(manifests, [deployment('rolling', 'v1', 'RollingUpdate'), deployment('recreated', 'v1', 'Recreate')].join('---\n'));
  const m = await loopbackMesh(t, [manifests], runDir);

  // Watch how many pods each Deployment has at once while both roll.
  const most = { rolling: 0, recreated: 0 };
  const watch = setInterval(() => {
    for (const name of ['rolling', 'recreated'] as const) most[name] = Math.max(most[name], m.mesh.podsOf('default', name).length);
  }, 5);
  t.after(() => clearInterval(watch));
  const update = join(runDir, 'v2.yaml');
  writeFileSync(update, [deployment('rolling', 'v2', 'RollingUpdate'), deployment('recreated', 'v2', 'Recreate')].join('---\n'));
  const r = await controlRequest(runDir, 'POST', '/v1/apply', readFileSync(update, 'utf8'), { 'x-meltemi-source': update });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const rolledTo = (name: string) => {
    const pods = m.mesh.podsOf('default', name);
    return pods.length === 1 && pods[0]!.containers.every((c) => c.current.state === 'ready') && pods[0]!.spec.containers?.[0]?.env?.some((e) => e.value === 'v2') === true;
  };
  await until('both rolled to v2', () => rolledTo('rolling') && rolledTo('recreated'), 60_000);
  clearInterval(watch);
  assert.equal(most.rolling, 2, 'RollingUpdate: the new pod ran next to the old one until it was ready');
  assert.equal(most.recreated, 1, 'Recreate: the old pod was gone before the new one started');
});
