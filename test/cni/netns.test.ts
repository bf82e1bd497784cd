// The CNI plugin for real (root): `meltemi cni` ADD/CHECK/DEL in a network namespace the test creates, checked with iptables-save, and traffic really redirected to 15001/15006 except the proxy UID's.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetnsPair, ensureIptables, execInNetns, rootNetnsSupport, spawnInNetns, type NetnsPair } from '../helpers/netns.js';
import { CHAINS, DEFAULT_INTERCEPTION, checkRules, interceptionFromAnnotations, natRules, remainingInterception } from '../../src/cni/iptables.js';
import { applyInterception, checkInterception, findBinary, removeInterception } from '../../src/cni/netns.js';

const skip = rootNetnsSupport() ?? ensureIptables();
if (skip) console.log(`skipping the CNI network namespace tests: ${skip}`);

const PREV = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '' }], ips: [{ address: '10.0.0.2/24', interface: 0 }] };
const ANNOTATIONS = { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' };

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `meltemi cni` with CNI_COMMAND=`command` against `pair`'s namespace. */
function cni(command: string, pair: NetnsPair | undefined, config: unknown, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const base: Record<string, string | undefined> = { PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: `ctr${process.pid}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_NETNS: pair?.path, CNI_ARGS: 'K8S_POD_NAMESPACE=test;K8S_POD_NAME=pod' };
  const merged = Object.fromEntries(Object.entries({ ...base, ...env }).filter((e): e is [string, string] => e[1] !== undefined));
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['bin/meltemi.js', 'cni'], { env: merged, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') return reject(err);
      resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr });
    });
    child.stdin!.end(typeof config === 'string' ? config : JSON.stringify(config));
  });
}

function config(annotations: Record<string, string> = ANNOTATIONS, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'meltemi-test', type: 'meltemi-cni', runtimeConfig: { podAnnotations: annotations }, prevResult: PREV, ...extra };
}

async function save(pair: NetnsPair, tool = 'iptables-save'): Promise<string> {
  const r = await execInNetns(pair.name, [tool, '-t', 'nat']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

function newPair(t: TestContext): NetnsPair {
  const pair = createNetnsPair('mcni');
  t.after(() => pair.cleanup());
  return pair;
}

test('ADD installs the rules, CHECK passes, DEL removes exactly them, CHECK then fails', { skip, timeout: 120_000 }, async (t) => {
  const pair = newPair(t);
  // Someone else's chain and rule in the pod's nat table, which DEL must leave alone.
  const other = await execInNetns(pair.name, ['iptables-restore', '--noflush'], { input: '*nat\n:OTHER - [0:0]\n-A OTHER -p udp -j RETURN\n-A OUTPUT -p udp -j OTHER\nCOMMIT\n' });
  assert.equal(other.code, 0, other.stderr);

  const add = await cni('ADD', pair, config());
  assert.equal(add.code, 0, add.stdout + add.stderr);
  assert.deepEqual(JSON.parse(add.stdout), PREV);
  const after = await save(pair);
  assert.deepEqual(checkRules(natRules(DEFAULT_INTERCEPTION, 4), after), []);
  for (const line of ['-A OUTPUT -p tcp -j ISTIO_OUTPUT', '-A PREROUTING -p tcp -j ISTIO_INBOUND', '-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001', '-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN']) {
    assert.ok(after.split('\n').includes(line), `${line} not in\n${after}`);
  }
  // IPv6 gets the same chains when the namespace has IPv6 (the kernel default).
  const v6 = await save(pair, 'ip6tables-save');
  assert.deepEqual(checkRules(natRules(DEFAULT_INTERCEPTION, 6), v6), []);

  const check = await cni('CHECK', pair, config());
  assert.deepEqual([check.code, check.stdout], [0, ''], check.stderr);

  const del = await cni('DEL', pair, config());
  assert.deepEqual([del.code, del.stdout], [0, ''], del.stderr);
  const gone = await save(pair);
  assert.deepEqual(remainingInterception(gone), []);
  for (const c of CHAINS) assert.ok(!gone.includes(c), gone);
  assert.ok(gone.includes('-A OUTPUT -p udp -j OTHER') && gone.includes('-A OTHER -p udp -j RETURN'), gone);
  assert.deepEqual(remainingInterception(await save(pair, 'ip6tables-save')), []);

  const checkAfter = await cni('CHECK', pair, config());
  assert.equal(checkAfter.code, 1);
  const err = JSON.parse(checkAfter.stdout) as { code: number; msg: string; details: string };
  assert.equal(err.code, 101);
  assert.match(err.details, /ipv4: chain ISTIO_OUTPUT is missing/);

  // DEL again (nothing there) and DEL after the namespace is gone both succeed.
  assert.equal((await cni('DEL', pair, config())).code, 0);
  pair.cleanup();
  const delGone = await cni('DEL', pair, config());
  assert.deepEqual([delGone.code, delGone.stdout], [0, ''], delGone.stderr);
  // A path left behind that is no longer a namespace (an empty file) also counts as gone for DEL,
  // while ADD refuses it.
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-cni-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'netns'), '');
  const stale = { CNI_NETNS: join(dir, 'netns') };
  const delStale = await cni('DEL', undefined, config(), stale);
  assert.deepEqual([delStale.code, delStale.stdout], [0, ''], delStale.stderr);
  const addStale = await cni('ADD', undefined, config(), stale);
  assert.equal(addStale.code, 1);
  assert.match(JSON.parse(addStale.stdout).details as string, /reassociate to namespace/);
});

test('ADD twice leaves one set of rules, and a changed annotation replaces them', { skip, timeout: 120_000 }, async (t) => {
  const pair = newPair(t);
  assert.equal((await cni('ADD', pair, config())).code, 0);
  assert.equal((await cni('ADD', pair, config())).code, 0);
  const twice = await save(pair);
  assert.deepEqual(checkRules(natRules(DEFAULT_INTERCEPTION, 4), twice), []);
  assert.equal(twice.split('\n').filter((l) => l === '-A OUTPUT -p tcp -j ISTIO_OUTPUT').length, 1);

  const annotations = { ...ANNOTATIONS, 'traffic.sidecar.istio.io/excludeOutboundPorts': '5432', 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.0/12,fd00::/8' };
  assert.equal((await cni('ADD', pair, config(annotations))).code, 0);
  const changed = interceptionFromAnnotations(annotations);
  assert.deepEqual(checkRules(natRules(changed, 4), await save(pair)), []);
  assert.deepEqual(checkRules(natRules(changed, 6), await save(pair, 'ip6tables-save')), []);
  // CHECK with the old settings now reports the difference.
  const stale = await cni('CHECK', pair, config());
  assert.equal(stale.code, 1);
  assert.match(JSON.parse(stale.stdout).details as string, /unexpected "-A ISTIO_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN"/);
});

test('a pod without a sidecar is left alone; bad input gives CNI error codes 6 and 4', { skip, timeout: 120_000 }, async (t) => {
  const pair = newPair(t);
  const plain = await cni('ADD', pair, config({ 'sidecar.istio.io/inject': 'false' }));
  assert.equal(plain.code, 0);
  assert.deepEqual(remainingInterception(await save(pair)), []);

  const badJson = await cni('ADD', pair, '{"cniVersion":');
  assert.equal(badJson.code, 1);
  assert.equal(JSON.parse(badJson.stdout).code, 6);
  const noNetns = await cni('ADD', pair, config(), { CNI_NETNS: undefined });
  assert.equal(noNetns.code, 1);
  assert.equal(JSON.parse(noNetns.stdout).code, 4);
  const missing = await cni('ADD', pair, config(), { CNI_NETNS: `/var/run/netns/${pair.name}-absent` });
  assert.equal(JSON.parse(missing.stdout).code, 104);
  assert.deepEqual(remainingInterception(await save(pair)), []);
});

test('IPv6 is skipped cleanly when ip6tables is missing or the namespace has IPv6 disabled', { skip, timeout: 60_000 }, async (t) => {
  const pair = newPair(t);
  const noIp6tables = { find: (b: string) => (b.startsWith('ip6tables') ? undefined : findBinary(b)) };
  const report = await applyInterception(pair.path, DEFAULT_INTERCEPTION, noIp6tables);
  assert.deepEqual(report, { ipv4: 'done', ipv6: { skipped: 'ip6tables-restore/ip6tables-save are not installed' } });
  assert.deepEqual(remainingInterception(await save(pair, 'ip6tables-save')), []);
  assert.deepEqual(await checkInterception(pair.path, DEFAULT_INTERCEPTION, noIp6tables), []);
  assert.deepEqual(await removeInterception(pair.path, noIp6tables), { ipv4: 'done', ipv6: { skipped: 'ip6tables-restore/ip6tables-save are not installed' } });

  const sysctl = await execInNetns(pair.name, ['sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6']);
  assert.equal(sysctl.code, 0, sysctl.stderr);
  assert.deepEqual((await applyInterception(pair.path, DEFAULT_INTERCEPTION)).ipv6, { skipped: 'IPv6 is disabled in the namespace' });
  assert.deepEqual(remainingInterception(await save(pair, 'ip6tables-save')), []);
  assert.deepEqual(checkRules(natRules(DEFAULT_INTERCEPTION, 4), await save(pair)), []);
});

/** Starts a TCP server inside the namespace on `port` that greets every connection and reports it on stdout. */
async function startServer(t: TestContext, pair: NetnsPair, port: number): Promise<{ accepted: () => number }> {
  const script = `const net = require('node:net');
const s = net.createServer((c) => { process.stdout.write('accepted\\n'); c.end('hello from ${port}\\n'); });
s.listen(${port}, '0.0.0.0', () => process.stdout.write('listening\\n'));`;
  const child: ChildProcess = spawnInNetns(pair.name, [process.execPath, '-e', script]);
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server on ${port} did not start: ${out}`)), 5000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`server on ${port} exited ${code}`)));
  });
  return { accepted: () => out.split('\n').filter((l) => l === 'accepted').length };
}

/** Connects from inside the namespace (optionally as `uid`) and reports what came back. */
async function clientInNetns(pair: NetnsPair, host: string, port: number, uid?: number): Promise<{ ok: boolean; data?: string; error?: string }> {
  const script = `const c = require('node:net').connect({ host: '${host}', port: ${port}, timeout: 2000 });
let data = '';
const done = (r) => { console.log(JSON.stringify(r)); process.exit(0); };
c.on('data', (d) => (data += d));
c.on('end', () => done({ ok: true, data }));
c.on('timeout', () => done({ ok: false, error: 'timeout' }));
c.on('error', (e) => done({ ok: false, error: e.code }));`;
  const asUid = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const r = await execInNetns(pair.name, [...asUid, process.execPath, '-e', script], { timeoutMs: 5000, cwd: '/tmp' });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { ok: boolean; data?: string; error?: string };
}

/** Connects from the root namespace to the pod. */
function clientFromHost(host: string, port: number): Promise<{ ok: boolean; data?: string; error?: string }> {
  return new Promise((resolve) => {
    const c = connect({ host, port, timeout: 2000 });
    let data = '';
    c.setEncoding('utf8').on('data', (d: string) => (data += d));
    c.on('end', () => resolve({ ok: true, data }));
    c.on('timeout', () => {
      c.destroy();
      resolve({ ok: false, error: 'timeout' });
    });
    c.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, error: e.code }));
  });
}

test('after ADD, the app\'s outbound connections reach 15001 and inbound ones 15006, but not the proxy UID\'s or excluded ports', { skip, timeout: 120_000 }, async (t) => {
  const pair = newPair(t);
  const add = await cni('ADD', pair, config());
  assert.equal(add.code, 0, add.stdout + add.stderr);
  const outbound = await startServer(t, pair, 15001);
  const inbound = await startServer(t, pair, 15006);

  // An app (root, not the proxy UID) dialing an address nothing owns lands on the outbound listener.
  const app = await clientInNetns(pair, '10.255.0.9', 80);
  assert.deepEqual(app, { ok: true, data: 'hello from 15001\n' });
  assert.equal(outbound.accepted(), 1);

  // The proxy (UID 1337) dialing the same address is not redirected: nothing answers.
  const proxy = await clientInNetns(pair, '10.255.0.9', 80, 1337);
  assert.equal(proxy.ok, false, JSON.stringify(proxy));
  assert.equal(outbound.accepted(), 1);

  // Inbound: a connection to the pod's port 9080 lands on 15006; the health port 15021 is excluded.
  assert.deepEqual(await clientFromHost(pair.podIp, 9080), { ok: true, data: 'hello from 15006\n' });
  assert.equal(inbound.accepted(), 1);
  assert.deepEqual(await clientFromHost(pair.podIp, 15021), { ok: false, error: 'ECONNREFUSED' });
  assert.equal(inbound.accepted(), 1);

  // After DEL the app's connection is no longer redirected.
  assert.equal((await cni('DEL', pair, config())).code, 0);
  assert.equal((await clientInNetns(pair, '10.255.0.9', 80)).ok, false);
  assert.equal(outbound.accepted(), 1);
});
