// `meltemi up` follows its CA directory as `meltemi discovery --ca-dir` does: a new root added to RUN_DIR/ca reaches the roots file and every istio-ca-root-cert ConfigMap; a broken directory leaves the previous CA in place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateRootCa } from '../../src/ca/ca-bundle.js';
import { until } from '../proxy/http-mesh.js';
import { loopbackMesh, runDirFor } from './loopback-mesh.js';

const APP = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: default }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
      - name: web
        image: web
        command: [node, -e, "require('http').createServer((q, s) => s.end('web')).listen(8080, process.env.MELTEMI_LISTEN_ADDRESS)"]
`;

test('a root added to RUN_DIR/ca/root-cert.pem is published to the roots file and the istio-ca-root-cert ConfigMaps; a broken file is refused and logged', { timeout: 120_000 }, async (t) => {
  const runDir = runDirFor(t, 'meltemi-cafollow-');
  writeFileSync(join(runDir, 'app.yaml'), APP);
  const logs: string[] = [];
  const m = await loopbackMesh(t, [join(runDir, 'app.yaml')], runDir, (l) => logs.push(l));
  const configMap = () => (m.mesh.store.get({ group: '', kind: 'ConfigMap', namespace: 'default', name: 'istio-ca-root-cert' }) as { data?: Record<string, string> } | undefined)?.data?.['root-cert.pem'];
  const first = readFileSync(join(runDir, 'root-cert.pem'), 'utf8');
  assert.equal(configMap(), first);

  // Step 1 of a root rotation: the trust bundle gains a new root.
  const newRoot = (await generateRootCa({ trustDomain: 'cluster.local', keyType: 'ecP256' })).rootCertPem;
  appendFileSync(join(runDir, 'ca', 'root-cert.pem'), newRoot);
  const both = readFileSync(join(runDir, 'ca', 'root-cert.pem'), 'utf8');
  await until('the new trust bundle published', () => configMap() === both && readFileSync(join(runDir, 'root-cert.pem'), 'utf8') === both, 30_000);
  assert.ok(logs.some((l) => /CA reloaded from/.test(l)));

  // A broken bundle is refused: everything keeps the last good roots.
  writeFileSync(join(runDir, 'ca', 'root-cert.pem'), 'not a certificate\n');
  await until('the broken directory reported', () => logs.some((l) => /CA directory not used, the previous CA keeps signing/.test(l)), 30_000);
  assert.equal(configMap(), both);
  assert.equal(readFileSync(join(runDir, 'root-cert.pem'), 'utf8'), both);
});
