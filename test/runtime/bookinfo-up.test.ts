// `meltemi up examples/bookinfo` end to end in netns mode: the demo comes up, Istio's routing samples change traffic as Istio's docs say, injection follows Maistra's rules, a killed process is restarted, and shutdown leaves nothing behind.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { controlRequest } from '../../src/runtime/control-server.js';
import { startLocalMesh, type LaunchedMesh } from '../../src/runtime/launch.js';
import { ensureCniPlugins } from '../../src/runtime/pod-network.js';
import { captureUnavailable } from '../../src/proxy/network/original-dst.js';
import { freeSubnet, rootNetnsSupport } from '../helpers/netns.js';
import { freePort, until } from '../proxy/http-mesh.js';
import { freeHostPorts } from './loopback-mesh.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SAMPLES = join(ROOT, 'examples', 'bookinfo-samples');

/** Pods Maistra must not inject: one without the annotation, one annotated in a namespace outside the member roll. */
const NOT_INJECTED = `apiVersion: apps/v1
kind: Deployment
metadata: { name: plain, namespace: default }
spec:
  selector: { matchLabels: { app: plain } }
  template:
    metadata: { labels: { app: plain } }
    spec:
      containers:
      - name: plain
        image: plain
        command: [node, -e, "require('http').createServer((q, s) => s.end('plain')).listen(8080, process.env.MELTEMI_LISTEN_ADDRESS)"]
---
apiVersion: v1
kind: Namespace
metadata: { name: outside }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: outsider, namespace: outside }
spec:
  selector: { matchLabels: { app: outsider } }
  template:
    metadata: { labels: { app: outsider }, annotations: { sidecar.istio.io/inject: "true" } }
    spec:
      containers:
      - name: outsider
        image: outsider
        command: [node, -e, "require('http').createServer((q, s) => s.end('outsider')).listen(8080, process.env.MELTEMI_LISTEN_ADDRESS)"]
`;


type Stars = 'none' | 'black' | 'red' | 'unavailable' | 'ratings-unavailable';

for (const mode of ['netns', 'loopback'] as const) {
  test(`${mode}: meltemi up runs Bookinfo; Istio's routing samples behave as documented; injection, restarts, rollout and shutdown`, { timeout: 420_000 }, async (t) => {
    await bookinfoScenario(t, mode);
  });
}

async function bookinfoScenario(t: TestContext, mode: 'netns' | 'loopback'): Promise<void> {
  // Both modes run as root in CI; netns needs root and the CNI plugins, loopback only the addon-free proxy.
  const reason = mode === 'netns' ? (rootNetnsSupport() ?? ensureCniPlugins() ?? captureUnavailable()) : undefined;
  if (reason) {
    t.skip(reason);
    return;
  }
  const runDir = mkdtempSync(join(tmpdir(), 'meltemi-up-'));
  const extra = join(runDir, 'extra.yaml');
  writeFileSync(extra, NOT_INJECTED);
  const bridge = `mlt${process.pid.toString(36)}`;
  const subnet = `${mode === 'netns' ? freeSubnet() : '10.255.255'}.0/24`;
  const ingressPort = await freePort();
  const hostPorts = await freeHostPorts();
  const logs: string[] = [];
  let mesh: LaunchedMesh | undefined;
  t.after(async () => {
    await mesh?.stop().catch(() => undefined);
    rmSync(runDir, { recursive: true, force: true });
  });
  mesh = await startLocalMesh({ paths: [join(ROOT, 'examples', 'bookinfo'), extra], runDir, ingressPort, bridge, subnet, hostPorts, mode, log: (l) => logs.push(l) });
  const m = mesh;
  await until('every pod ready', () => m.ready, 120_000).catch((e: Error) => {
    throw new Error(`${e.message}: ${JSON.stringify(m.mesh.podRows())}\n${logs.join('\n')}`);
  });

  const page = async (user?: string): Promise<{ status: number; html: string }> => {
    let cookie = '';
    if (user) {
      const login = await fetch(`${m.ingressUrl}/login`, { method: 'POST', body: new URLSearchParams({ username: user, passwd: 'password' }), redirect: 'manual', signal: AbortSignal.timeout(20_000) });
      cookie = (login.headers.getSetCookie()[0] ?? '').split(';')[0]!;
      assert.ok(cookie, `POST /login sets a session cookie (status ${login.status})`);
    }
    const r = await fetch(`${m.ingressUrl}/productpage`, { headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(30_000) });
    return { status: r.status, html: await r.text() };
  };
  const stars = (html: string): Stars => {
    if (html.includes('product reviews are currently unavailable')) return 'unavailable';
    if (html.includes('Ratings service is currently unavailable')) return 'ratings-unavailable';
    if (html.includes('<font color="red">')) return 'red';
    if (html.includes('<font color="black">')) return 'black';
    return 'none';
  };
  const apply = async (verb: 'apply' | 'delete', file: string) => {
    const r = await controlRequest(runDir, 'POST', `/v1/${verb}`, readFileSync(file, 'utf8'), { 'x-meltemi-source': file });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  };
  /** Waits until `n` pages in a row show what is expected (the config has reached the proxies). */
  const settle = async (what: string, user: string | undefined, ok: (s: Stars) => boolean, n = 4) => {
    let streak = 0;
    await until(what, async () => {
      streak = ok(stars((await page(user)).html)) ? streak + 1 : 0;
      return streak >= n;
    }, 60_000);
  };

  // The demo: the product page through the ingress gateway shows the book and its reviews from all three versions.
  const first = await page();
  assert.equal(first.status, 200);
  assert.match(first.html, /The Comedy of Errors/);
  assert.match(first.html, /Reviewer1/);
  const seen = new Set<Stars>();
  for (let i = 0; i < 30 && seen.size < 3; i++) seen.add(stars((await page()).html));
  assert.deepEqual([...seen].sort(), ['black', 'none', 'red'], 'round robin over reviews v1, v2 and v3');

  // Request routing: every service to v1.
  await apply('apply', join(SAMPLES, 'virtual-service-all-v1.yaml'));
  await settle('v1 only', undefined, (s) => s === 'none');
  for (let i = 0; i < 10; i++) assert.equal(stars((await page()).html), 'none');

  // jason → v2 (black stars); everybody else → v1.
  await apply('apply', join(SAMPLES, 'virtual-service-reviews-test-v2.yaml'));
  await settle('jason on v2', 'jason', (s) => s === 'black');
  for (let i = 0; i < 5; i++) assert.equal(stars((await page()).html), 'none');
  assert.equal(stars((await page('jason')).html), 'black');

  // Traffic shifting: 50 % to v3. Over 80 pages the share of red stars is within 0.25..0.75 (p of failing < 1e-5).
  await apply('apply', join(SAMPLES, 'virtual-service-reviews-50-v3.yaml'));
  await settle('some v3', undefined, (s) => s === 'red', 1);
  let red = 0;
  for (let i = 0; i < 80; i++) {
    const s = stars((await page()).html);
    assert.ok(s === 'red' || s === 'none', s);
    if (s === 'red') red++;
  }
  assert.ok(red >= 20 && red <= 60, `red ${red}/80`);

  // Fault injection: a 7 s delay for jason on ratings makes reviews time out; the page says reviews are unavailable.
  await apply('apply', join(SAMPLES, 'virtual-service-reviews-test-v2.yaml'));
  await apply('apply', join(SAMPLES, 'virtual-service-ratings-test-delay.yaml'));
  await settle('the delay for jason', 'jason', (s) => s === 'unavailable', 1);
  assert.equal(stars((await page()).html), 'none', 'others are not delayed');
  // An abort (HTTP 500) for jason: ratings is unavailable, the rest of the page is there.
  await apply('apply', join(SAMPLES, 'virtual-service-ratings-test-abort.yaml'));
  await settle('the abort for jason', 'jason', (s) => s === 'ratings-unavailable', 2);

  // Injection: not without the annotation, not outside the member roll.
  const rows = m.mesh.podRows();
  const plain = rows.find((r) => r.name.startsWith('plain-'))!;
  const outsider = rows.find((r) => r.name.startsWith('outsider-'))!;
  assert.equal(plain.sidecar, false, plain.reason);
  assert.match(plain.reason, /sidecar\.istio\.io\/inject/);
  assert.equal(outsider.sidecar, false, outsider.reason);
  assert.match(outsider.reason, /not a member/);
  assert.equal(rows.filter((r) => r.sidecar).length, 6, 'the six Bookinfo pods have sidecars');

  // Mesh-wide STRICT mutual TLS: traffic keeps flowing (every Bookinfo pod has a sidecar), and from
  // here on the kubelet's plaintext readiness probes work only because injection rewrote them to the
  // sidecars' status port (the example's SMCP sets rewriteApplicationProbes).
  const strict = join(runDir, 'strict.yaml');
  writeFileSync(strict, 'apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec:\n  mtls: {mode: STRICT}\n');
  await apply('apply', strict);
  assert.equal(m.mesh.podsOf('default', 'ratings-v1')[0]!.spec.containers?.find((c) => c.name === 'ratings')?.readinessProbe?.httpGet?.port, 15020, 'the probe was rewritten at injection');

  // A killed pod process is restarted and traffic recovers.
  await apply('delete', join(SAMPLES, 'virtual-service-ratings-test-abort.yaml'));
  await settle('jason sees black stars again', 'jason', (s) => s === 'black', 2);
  const ratings = m.mesh.podsOf('default', 'ratings-v1')[0]!;
  const app = ratings.containers.find((c) => c.spec.id.endsWith('/ratings'))!;
  process.kill(app.current.pid!, 'SIGKILL');
  await until('ratings restarted and ready', () => app.current.restarts >= 1 && app.current.state === 'ready', 60_000);
  await settle('ratings back', 'jason', (s) => s === 'black', 2);

  // A changed Deployment rolls its pods: a new pod of the new template, then the old one goes.
  const oldRatings = m.mesh.podsOf('default', 'ratings-v1')[0]!.plan;
  const ratingsDeployment = parseAllDocuments(readFileSync(join(ROOT, 'examples', 'bookinfo', 'platform.yaml'), 'utf8'))
    .map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: { template: { spec: { containers: { env?: { name: string; value: string }[] }[] } } } })
    .find((d) => d.kind === 'Deployment' && d.metadata.name === 'ratings-v1')!;
  const container = ratingsDeployment.spec.template.spec.containers[0]!;
  container.env = [...(container.env ?? []), { name: 'ROLLOUT', value: '2' }];
  // Written elsewhere, so its relative command paths need the example's directory as working directory.
  (container as { workingDir?: string }).workingDir = join(ROOT, 'examples', 'bookinfo');
  const rolled = join(runDir, 'ratings-rolled.yaml');
  writeFileSync(rolled, stringify(ratingsDeployment));
  await apply('apply', rolled);
  await until('the rollout to finish', () => {
    const pods = m.mesh.podsOf('default', 'ratings-v1');
    return pods.length === 1 && pods[0]!.plan.templateHash !== oldRatings.templateHash && pods[0]!.containers.every((c) => c.current.state === 'ready');
  }, 90_000).catch((e: Error) => {
    throw new Error(`${e.message}: ${JSON.stringify(m.mesh.podRows().filter((r) => r.name.startsWith('ratings')))}`);
  });
  assert.ok(!m.mesh.podRows().some((r) => r.name === oldRatings.name), 'the old pod is gone');
  await settle('ratings served by the new pod', 'jason', (s) => s === 'black', 2);

  // Shutdown leaves no process, namespace, veth or iptables rule behind.
  const netnsNames = m.mesh.podRows().map((r) => m.mesh.podsOf(r.namespace, r.name.replace(/-[0-9a-f]{10}-[a-z0-9]{5}$/, ''))[0]?.address?.netns ?? '');
  if (mode === 'netns') assert.equal(netnsNames.filter((n) => n.startsWith('mlt-')).length, 8, 'every pod has its own network namespace');
  await m.stop();
  mesh = undefined;
  const processes = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  assert.ok(!processes.includes(runDir), 'no process of the mesh is left');
  if (mode === 'netns') {
    const netnsList = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    const rules = execFileSync('iptables-save', { encoding: 'utf8' });
    assert.ok(!links.includes(`${bridge}:`), 'the bridge is gone');
    assert.ok(!rules.includes(subnet.replace('.0/24', '.')), 'no rule for the pod subnet is left');
    for (const n of netnsNames) assert.ok(!netnsList.includes(n), `netns ${n} is gone`);
  }
}
