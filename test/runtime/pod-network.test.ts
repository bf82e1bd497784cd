// Pod networks for real (root): namespaces wired by the real CNI chain (loopback, bridge + host-local, meltemi cni) on a test bridge, pods reaching each other and the host, a sidecar pod's traffic captured, service names resolved by the pod's hosts file, and nothing left behind after remove, close or a crash sweep.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { freeSubnet, rootNetnsSupport, which } from '../helpers/netns.js';
import { DEFAULT_INTERCEPTION, checkRules, natRules, remainingInterception } from '../../src/cni/iptables.js';
import type { Logger } from '../../src/shared/logger.js';
import {
  CNI_NETWORK_NAME,
  CniPluginError,
  PodNetworks,
  ensureCniPlugins,
  hostsFile,
  masqChainName,
  netnsExecArgv,
  netnsNameFor,
  podNameservers,
  resolvConf,
  sweepStale,
  type PodNetwork,
  type PodNetworkSpec,
} from '../../src/runtime/pod-network.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MELTEMI_CNI = [process.execPath, join(ROOT, 'bin', 'meltemi.js'), 'cni'];
const SIDECAR = { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' };

// ---------------------------------------------------------------------------------------------
// Pure parts (no root needed).

test('the hosts file lists localhost, the pod, and every service with short names only in its own namespace', () => {
  const { text, skipped } = hostsFile({
    podName: 'productpage-v1-abc',
    podNamespace: 'default',
    podIp: '10.77.0.5',
    machineHostname: 'laptop',
    services: [
      { name: 'ratings', namespace: 'other', vip: '10.96.0.12' },
      { name: 'details', namespace: 'default', vip: '10.96.0.10' },
      { name: 'bad name', namespace: 'default', vip: '10.96.0.13' },
      { name: 'evil', namespace: 'default', vip: '10.96.0.14\n1.2.3.4 details' },
    ],
  });
  const lines = text.split('\n');
  assert.ok(lines.includes('127.0.0.1\tlocalhost'));
  assert.ok(lines.includes('10.77.0.5\tproductpage-v1-abc laptop'));
  assert.ok(lines.includes('10.96.0.10\tdetails details.default details.default.svc details.default.svc.cluster.local'));
  assert.ok(lines.includes('10.96.0.12\tratings.other ratings.other.svc ratings.other.svc.cluster.local'));
  // Sorted by namespace then name, so an unchanged service set gives the same text.
  assert.ok(lines.findIndex((l) => l.includes('details')) < lines.findIndex((l) => l.includes('ratings')));
  assert.equal(skipped.length, 2);
  assert.ok(!text.includes('1.2.3.4') && !text.includes('bad name'), text);
});

test('resolv.conf carries Kubernetes search domains; nameservers are the host\'s non-loopback IPv4 ones, else 127.0.0.1', () => {
  assert.equal(resolvConf('shop', ['192.0.2.53']).split('\n').filter((l) => !l.startsWith('#')).join('\n'), 'search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 192.0.2.53\n');
  assert.deepEqual(podNameservers(['nameserver 127.0.0.53\noptions edns0\n', 'nameserver 10.0.0.2\nnameserver fd00::1\nnameserver 10.0.0.3\n']), ['10.0.0.2', '10.0.0.3']);
  assert.deepEqual(podNameservers(['nameserver 127.0.0.53\n', '']), ['127.0.0.1']);
});

test('namespace and NAT chain names', () => {
  assert.equal(netnsNameFor('3F2504E0-4F89-11D3-9A0C-0305E82C3301'), 'mlt-3f2504e0');
  assert.match(netnsNameFor('pod-7'), /^mlt-[0-9a-f]{8}$/);
  assert.notEqual(netnsNameFor('pod-7'), netnsNameFor('pod-8'));
  // The value the bridge plugin printed for network "meltemi", container "mlt-abc" (iptables-save on a real run).
  assert.equal(masqChainName('meltemi', 'mlt-abc'), 'CNI-986ab77c8b9995b3b2c3b096');
});

test('bad options and pods are refused before anything is made', async () => {
  const log: Logger = { info: () => {}, warn: () => {}, error: () => {} };
  const base = { runDir: '/nonexistent', meltemiCni: MELTEMI_CNI, log };
  assert.throws(() => new PodNetworks({ ...base, bridge: 'a-bridge-name-too-long' }), /1\.\.15 letters/);
  assert.throws(() => new PodNetworks({ ...base, subnet: '10.77.0.1/16' }), /host bits set \(did you mean 10\.77\.0\.0\/16\?\)/);
  assert.throws(() => new PodNetworks({ ...base, subnet: '10.77.0.0/31' }), /prefix length of 8\.\.30/);
  assert.throws(() => new PodNetworks({ ...base, meltemiCni: [] }), /meltemiCni/);
  const nets = new PodNetworks(base);
  assert.equal(nets.gateway, '10.77.0.1');
  const pod = { name: 'p', namespace: 'default', uid: 'u-1', annotations: {}, intercept: undefined };
  await assert.rejects(nets.add({ ...pod, namespace: 'Bad_NS' }), /not a DNS label/);
  await assert.rejects(nets.add({ ...pod, name: 'p;K8S_POD_NAME=x' }), /not a DNS subdomain/);
  await assert.rejects(nets.add({ ...pod, uid: 'u;1' }), /uid "u;1"/);
  await assert.rejects(nets.add({ ...pod, intercept: DEFAULT_INTERCEPTION }), /meltemi cni would skip it: the pod has no sidecar/);
  await assert.rejects(nets.add({ ...pod, annotations: { ...SIDECAR, 'sidecar.istio.io/interceptionMode': 'NONE' }, intercept: DEFAULT_INTERCEPTION }), /interceptionMode is NONE/);
});

// ---------------------------------------------------------------------------------------------
// Real namespaces (root).

const skip = rootNetnsSupport() ?? ensureCniPlugins();
if (skip) console.log(`skipping the pod network namespace tests: ${skip}`);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `argv` to completion (killed after `timeoutMs`). */
function runCmd(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 15_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

function inPod(netns: string, argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return runCmd(netnsExecArgv(netns, argv), opts);
}

/** A TCP server in the pod that answers every connection with `reply` and closes it; resolves once it listens. */
async function podServer(t: TestContext, netns: string, port: number, reply: string): Promise<ChildProcess> {
  const script = `const s=require('net').createServer(c=>c.end(${JSON.stringify(reply)}));s.listen(${port},'0.0.0.0',()=>console.log('listening'));`;
  const argv = netnsExecArgv(netns, [process.execPath, '-e', script]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server in ${netns} did not listen within 15 s: ${out}`)), 15_000);
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('listening')) {
        clearTimeout(timer);
        res();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`server in ${netns} exited (${code})`));
    });
  });
  return child;
}

/** Connects from inside the pod to host:port and returns what the server sent (or the error). */
async function podClient(netns: string, host: string, port: number): Promise<string> {
  const script = `const c=require('net').connect(${port},${JSON.stringify(host)});let d='';c.setEncoding('utf8');c.on('data',x=>d+=x);c.on('end',()=>{process.stdout.write(d)});c.on('error',e=>{process.stdout.write('ERROR '+e.code);});setTimeout(()=>{process.stdout.write('TIMEOUT');process.exit(1)},5000).unref();`;
  const r = await inPod(netns, [process.execPath, '-e', script]);
  return r.stdout || r.stderr;
}

/** What the root namespace holds that a pod network could leave behind. */
interface Snapshot {
  netns: Set<string>;
  links: Array<{ ifname: string; master?: string }>;
  rules: Set<string>;
  ipForward: string;
}

function rulesOf(tool: string): string[] {
  if (!which(tool)) return [];
  const r = spawnSync(tool, [], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  let table = '';
  const out: string[] = [];
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('*')) table = line;
    else if (line.startsWith(':')) out.push(`${tool} ${table} ${line.replace(/ \[\d+:\d+\]$/, '')}`);
    else if (line.startsWith('-A ')) out.push(`${tool} ${table} ${line}`);
  }
  return out;
}

function snapshot(): Snapshot {
  const netns = new Set(
    spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 })
      .stdout.split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter(Boolean),
  );
  const links = JSON.parse(spawnSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8', timeout: 10_000 }).stdout) as Snapshot['links'];
  return { netns, links, rules: new Set([...rulesOf('iptables-save'), ...rulesOf('ip6tables-save')]), ipForward: readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() };
}

const BUILTIN_CHAIN = /^:(PREROUTING|INPUT|OUTPUT|POSTROUTING|FORWARD) ACCEPT$/;

/**
 * Everything of ours that `after` still has and `before` did not: our namespaces, our bridge, any
 * interface attached to it, our veths, and any new iptables line (a CNI-… chain of another pod
 * network, e.g. a developer's mesh running meanwhile, is not ours; neither is the empty built-in
 * chain of a table the kernel now shows).
 */
function leftovers(before: Snapshot, after: Snapshot, ours: { bridge: string; netns: string[]; veths: string[]; containerIds: string[] }): string[] {
  const out: string[] = [];
  for (const n of ours.netns) if (after.netns.has(n)) out.push(`netns ${n}`);
  for (const n of ours.netns) if (existsSync(`/etc/netns/${n}`)) out.push(`/etc/netns/${n}`);
  for (const l of after.links) {
    if (l.ifname === ours.bridge || l.master === ours.bridge || ours.veths.includes(l.ifname)) out.push(`link ${l.ifname}${l.master ? ` (master ${l.master})` : ''}`);
  }
  const ourChains = new Set(ours.containerIds.map((id) => masqChainName(CNI_NETWORK_NAME, id)));
  for (const rule of after.rules) {
    if (before.rules.has(rule)) continue;
    const line = rule.split(' ').slice(2).join(' ');
    if (BUILTIN_CHAIN.test(line)) continue;
    const chains = line.match(/CNI-[0-9a-f]{24}/g) ?? [];
    if (chains.length > 0 && chains.every((c) => !ourChains.has(c))) continue;
    out.push(rule);
  }
  if (after.ipForward !== before.ipForward) out.push(`ip_forward ${before.ipForward} -> ${after.ipForward}`);
  return out;
}

/** Removes a nat chain and the jumps into it from the root namespace, if there (cleanup after a failed test). */
function dropChain(chain: string): void {
  const saved = spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
  if (!saved.includes(`:${chain} `)) return;
  const jumps = saved.split('\n').filter((l) => l.startsWith('-A ') && l.endsWith(`-j ${chain}`) && !l.startsWith(`-A ${chain} `));
  const text = ['*nat', ...jumps.map((l) => `-D ${l.slice(3)}`), `-F ${chain}`, `-X ${chain}`, 'COMMIT', ''].join('\n');
  spawnSync('iptables-restore', ['--noflush'], { input: text, timeout: 10_000 });
}

let counter = 0;

interface Fixture {
  nets: PodNetworks;
  runDir: string;
  bridge: string;
  net: string;
  logs: Array<{ level: string; message: string; fields?: Record<string, unknown> }>;
  before: Snapshot;
  ours: { bridge: string; netns: string[]; veths: string[]; containerIds: string[] };
  add(spec: Partial<PodNetworkSpec> & { name: string }): Promise<PodNetwork & { uid: string }>;
}

/** A PodNetworks on a bridge and /24 of this test's own, with cleanup registered first. */
function fixture(t: TestContext): Fixture {
  const bridge = `mt${process.pid.toString(36)}x${counter++}`;
  const net = freeSubnet();
  const runDir = mkdtempSync(join(tmpdir(), 'meltemi-podnet-'));
  const logs: Fixture['logs'] = [];
  const log: Logger = {
    info: (message, fields) => logs.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => logs.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
    error: (message, fields) => logs.push({ level: 'error', message, ...(fields ? { fields } : {}) }),
  };
  const before = snapshot();
  const nets = new PodNetworks({ runDir, bridge, subnet: `${net}.0/24`, meltemiCni: MELTEMI_CNI, log });
  const ours: Fixture['ours'] = { bridge, netns: [], veths: [], containerIds: [] };
  t.after(async () => {
    await nets.close().catch(() => {});
    // Belt and braces when the test failed half-way: nothing of this test may survive it.
    for (const n of ours.netns) spawnSync('ip', ['netns', 'del', n], { timeout: 10_000, stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', bridge], { timeout: 10_000, stdio: 'ignore' });
    for (const id of ours.containerIds) dropChain(masqChainName(CNI_NETWORK_NAME, id));
    for (const n of ours.netns) rmSync(`/etc/netns/${n}`, { recursive: true, force: true });
    rmSync(runDir, { recursive: true, force: true });
  });
  return {
    nets,
    runDir,
    bridge,
    net,
    logs,
    before,
    ours,
    async add(spec) {
      const uid = spec.uid ?? randomUUID();
      const netns = netnsNameFor(uid);
      ours.netns.push(netns);
      ours.containerIds.push(netns);
      const pod = await nets.add({ namespace: 'default', annotations: {}, intercept: undefined, ...spec, uid });
      if (pod.hostInterface) ours.veths.push(pod.hostInterface);
      return { ...pod, uid };
    },
  };
}

async function natIn(netns: string): Promise<string> {
  const r = await runCmd(['nsenter', `--net=/var/run/netns/${netns}`, '--', 'iptables-save', '-t', 'nat']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

test('two pods get addresses on the bridge and reach each other and the host; remove and close leave nothing behind', { skip, timeout: 180_000 }, async (t) => {
  const f = fixture(t);
  const a = await f.add({ name: 'alpha' });
  const b = await f.add({ name: 'beta', namespace: 'other' });

  assert.equal(a.gateway, `${f.net}.1`);
  assert.equal(f.nets.gateway, `${f.net}.1`);
  for (const p of [a, b]) {
    assert.ok(p.ip.startsWith(`${f.net}.`) && p.ip !== a.gateway, p.ip);
    assert.ok(existsSync(p.netnsPath));
    assert.ok(p.hostInterface, 'the bridge plugin reports the host end of the veth');
  }
  assert.notEqual(a.ip, b.ip);
  // Another mesh on the same subnet (another bridge) is refused: the subnet is routed to ours.
  const clash = new PodNetworks({ runDir: join(f.runDir, 'other'), bridge: `${f.bridge}y`, subnet: `${f.net}.0/24`, meltemiCni: MELTEMI_CNI, log: { info: () => {}, warn: () => {}, error: () => {} } });
  await assert.rejects(clash.prepare(), new RegExp(`overlaps the route ${f.net.replace(/\./g, '\\.')}\\.0/24 of interface ${f.bridge}`));
  assert.ok(!snapshot().links.some((l) => l.ifname === `${f.bridge}y`));
  // lo is up (the loopback plugin ran), the default route goes via the gateway (host-local's routes).
  const lo = JSON.parse((await runCmd(['ip', '-n', a.netns, '-j', 'link', 'show', 'lo'])).stdout) as Array<{ flags: string[] }>;
  assert.ok(lo[0]!.flags.includes('UP'), JSON.stringify(lo));
  assert.match((await runCmd(['ip', '-n', a.netns, 'route', 'show', 'default'])).stdout, new RegExp(`default via ${f.net.replace(/\./g, '\\.')}\\.1 dev eth0`));
  // Both veths hang on our bridge; the bridge plugin's NAT chain for each pod is in the host's nat table.
  const ports = (JSON.parse((await runCmd(['ip', '-j', 'link', 'show', 'master', f.bridge])).stdout) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
  assert.deepEqual(ports, [a.hostInterface, b.hostInterface].sort());
  const nat = (await runCmd(['iptables-save', '-t', 'nat'])).stdout;
  for (const p of [a, b]) assert.ok(nat.includes(`:${masqChainName(CNI_NETWORK_NAME, p.netns)} `), `no masquerade chain for ${p.netns} in\n${nat}`);
  // Pods without a sidecar get no interception rules.
  assert.deepEqual(remainingInterception(await natIn(a.netns)), []);

  // Pod to pod over the bridge.
  await podServer(t, a.netns, 7070, 'hello from alpha');
  assert.equal(await podClient(b.netns, a.ip, 7070), 'hello from alpha');
  // Pod to a host service bound on the gateway address (where discovery and the CA listen).
  const host = createServer((c) => c.end('hello from the host'));
  t.after(() => host.close());
  host.listen(0, f.nets.gateway);
  await once(host, 'listening');
  assert.equal(await podClient(b.netns, f.nets.gateway, (host.address() as AddressInfo).port), 'hello from the host');
  host.close();

  // remove: the alpha server still runs in its pod (the runtime normally stops it first) and is killed.
  await f.nets.remove({ uid: 'never-added' }); // a pod it does not know: nothing to do
  await f.nets.remove({ uid: a.uid });
  assert.ok(f.logs.some((l) => l.message === 'killing processes still running in a pod network namespace' && l.fields?.netns === a.netns));
  assert.ok(!existsSync(a.netnsPath) && !existsSync(`/etc/netns/${a.netns}`));
  const mid = snapshot();
  assert.ok(!mid.links.some((l) => l.ifname === a.hostInterface), 'alpha\'s veth is gone');
  assert.ok(mid.links.some((l) => l.ifname === b.hostInterface), 'beta\'s veth stays');
  assert.ok(![...mid.rules].some((r) => r.includes(masqChainName(CNI_NETWORK_NAME, a.netns))), 'alpha\'s masquerade chain is gone');
  await f.nets.remove({ uid: a.uid }); // twice: nothing left to do

  await f.nets.close();
  assert.deepEqual(leftovers(f.before, snapshot(), f.ours), []);
  assert.ok(!existsSync(join(f.runDir, 'pod-networks.json')), 'state file removed');
  assert.ok(!existsSync(join(f.runDir, 'cni')), 'host-local leases removed');
  await f.nets.close(); // idempotent
});

test('eight pods added at once (as a mesh starts) get distinct addresses, and all go away on close', { skip, timeout: 180_000 }, async (t) => {
  const f = fixture(t);
  const pods = await Promise.all(Array.from({ length: 8 }, (_, i) => f.add({ name: `pod-${i}`, ...(i % 2 === 0 ? { annotations: SIDECAR, intercept: DEFAULT_INTERCEPTION } : {}) })));
  assert.equal(new Set(pods.map((p) => p.ip)).size, 8, pods.map((p) => p.ip).join(' '));
  const ports = JSON.parse((await runCmd(['ip', '-j', 'link', 'show', 'master', f.bridge])).stdout) as unknown[];
  assert.equal(ports.length, 8);
  const state = JSON.parse(readFileSync(join(f.runDir, 'pod-networks.json'), 'utf8')) as { pods: Array<{ netns: string }> };
  assert.deepEqual(state.pods.map((p) => p.netns).sort(), pods.map((p) => p.netns).sort(), 'every pod is in the state file');
  await f.nets.close();
  assert.deepEqual(leftovers(f.before, snapshot(), f.ours), []);
});

test('a sidecar pod: meltemi cni runs in the chain (a call to a service name reaches 15001), and the hosts file resolves services, also for processes already running', { skip, timeout: 180_000 }, async (t) => {
  const f = fixture(t);
  const pod = await f.add({ name: 'productpage-v1', annotations: SIDECAR, intercept: DEFAULT_INTERCEPTION });
  // Our plugin's rules, exactly, in the pod's nat table.
  assert.deepEqual(checkRules(natRules(DEFAULT_INTERCEPTION, 4), await natIn(pod.netns)), []);
  assert.ok(f.logs.some((l) => l.message === 'cni plugin' && l.fields?.plugin === 'meltemi-cni' && /interception installed/.test(String(l.fields?.line))), 'the plugin\'s log line is passed on');

  f.nets.writeHosts(pod.netns, 'default', [
    { name: 'details', namespace: 'default', vip: '10.96.0.99' },
    { name: 'ratings', namespace: 'other', vip: '10.96.0.98' },
  ]);
  // `ip netns exec` puts the pod's files over /etc/hosts and /etc/resolv.conf.
  const hosts = await inPod(pod.netns, ['cat', '/etc/hosts']);
  assert.equal(hosts.stdout, readFileSync(`/etc/netns/${pod.netns}/hosts`, 'utf8'));
  assert.ok(hosts.stdout.includes(`${pod.ip}\tproductpage-v1`), hosts.stdout);
  assert.match((await inPod(pod.netns, ['cat', '/etc/resolv.conf'])).stdout, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local$/m);
  const details = await inPod(pod.netns, ['getent', 'hosts', 'details']);
  assert.equal(details.stdout.trim().split(/\s+/).join(' '), '10.96.0.99 details details.default details.default.svc details.default.svc.cluster.local');
  assert.match((await inPod(pod.netns, ['getent', 'hosts', 'ratings.other.svc.cluster.local'])).stdout, /^10\.96\.0\.98\s/);

  // The app (root in the pod) calls `details:80`: the name is the VIP, and the VIP is captured to 15001.
  await podServer(t, pod.netns, 15001, 'captured by the sidecar port');
  assert.equal(await podClient(pod.netns, 'details', 80), 'captured by the sidecar port');

  // A process started before a service appears sees it at its next lookup (the file is rewritten in place).
  const waiting = spawn(netnsExecArgv(pod.netns, ['sh', '-c', 'read go; getent hosts reviews'])[0]!, netnsExecArgv(pod.netns, ['sh', '-c', 'read go; getent hosts reviews']).slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => waiting.kill('SIGKILL'));
  let seen = '';
  waiting.stdout.setEncoding('utf8').on('data', (d: string) => (seen += d));
  // `ip netns exec` bind-mounts the current file and then execs the command: once the process is
  // `sh`, it holds the old file.
  const comm = () => {
    try {
      return readFileSync(`/proc/${waiting.pid}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  for (let i = 0; i < 200 && comm() !== 'sh'; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(comm(), 'sh');
  f.nets.writeHosts(pod.netns, 'default', [
    { name: 'details', namespace: 'default', vip: '10.96.0.99' },
    { name: 'reviews', namespace: 'default', vip: '10.96.0.97' },
  ]);
  const exited = once(waiting, 'exit');
  waiting.stdin.end('go\n');
  const timer = setTimeout(() => waiting.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
  assert.match(seen, /^10\.96\.0\.97\s+reviews reviews\.default/);

  assert.throws(() => f.nets.writeHosts('mlt-00000000', 'default', []), /no pod network mlt-00000000/);
  await f.nets.close();
  assert.deepEqual(leftovers(f.before, snapshot(), f.ours), []);
});

test('a failing ADD (bad annotation) reports the plugin\'s error and leaves no namespace, veth, lease or rule; the next pod still works', { skip, timeout: 180_000 }, async (t) => {
  const f = fixture(t);
  const uid = randomUUID();
  const bad = f.add({ name: 'broken', uid, annotations: { ...SIDECAR, 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.0.0.0/33' }, intercept: DEFAULT_INTERCEPTION });
  await assert.rejects(bad, (e: unknown) => {
    assert.ok(e instanceof CniPluginError, String(e));
    assert.equal(e.plugin, 'meltemi-cni');
    assert.equal(e.command, 'ADD');
    assert.equal(e.cniCode, 102);
    assert.equal(e.code, 'MESH_INVALID_CONFIG');
    assert.match(e.message, /pod default\/broken/);
    assert.match(e.message, /excludeOutboundIPRanges: "10\.0\.0\.0\/33" is not a CIDR block/);
    return true;
  });
  const netns = netnsNameFor(uid);
  const now = snapshot();
  assert.ok(!now.netns.has(netns), `${netns} was left behind`);
  assert.ok(!existsSync(`/etc/netns/${netns}`));
  assert.deepEqual(now.links.filter((l) => l.master === f.bridge), [], 'no veth on the bridge');
  assert.ok(![...now.rules].some((r) => r.includes(masqChainName(CNI_NETWORK_NAME, netns))), 'no masquerade chain');
  const leases = join(f.runDir, 'cni', 'networks', CNI_NETWORK_NAME);
  assert.deepEqual(readdirSync(leases).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)), [], 'the address was released');

  // The next pod gets an address and works; the failed one's uid can be used again.
  const good = await f.add({ name: 'fixed', uid, annotations: SIDECAR, intercept: DEFAULT_INTERCEPTION });
  assert.equal(good.netns, netns);
  assert.deepEqual(checkRules(natRules(DEFAULT_INTERCEPTION, 4), await natIn(good.netns)), []);
  // A sidecar the annotations do not announce is refused before anything is made.
  await assert.rejects(f.add({ name: 'undeclared', intercept: DEFAULT_INTERCEPTION }), /would skip it: the pod has no sidecar/);
  await f.nets.close();
  assert.deepEqual(leftovers(f.before, snapshot(), f.ours), []);
});

test('sweepStale undoes a crashed run: processes killed, namespaces and rules removed, even for a namespace deleted behind its back', { skip, timeout: 180_000 }, async (t) => {
  const f = fixture(t);
  const p1 = await f.add({ name: 'orphaned' });
  const p2 = await f.add({ name: 'vanished' });
  // An orphan process of the crashed run still sits in p1's namespace.
  const orphan = spawn(netnsExecArgv(p1.netns, ['sleep', '300'])[0]!, netnsExecArgv(p1.netns, ['sleep', '300']).slice(1), { stdio: 'ignore' });
  t.after(() => orphan.kill('SIGKILL'));
  const orphanExit = once(orphan, 'exit');
  for (let i = 0; i < 100 && (await runCmd(['ip', 'netns', 'pids', p1.netns])).stdout.trim() === ''; i++) await new Promise((r) => setTimeout(r, 50));
  // Someone deleted p2's namespace by hand: the bridge plugin's DEL can no longer find its NAT rules.
  assert.equal((await runCmd(['ip', 'netns', 'del', p2.netns])).code, 0);
  assert.ok((await runCmd(['iptables-save', '-t', 'nat'])).stdout.includes(masqChainName(CNI_NETWORK_NAME, p2.netns)));

  // The "crash": this object is dropped without close(). A new run on the same directory refuses to
  // start over it, and sweeps it instead.
  const logs: string[] = [];
  const log: Logger = { info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) };
  const next = new PodNetworks({ runDir: f.runDir, bridge: f.bridge, subnet: `${f.net}.0/24`, meltemiCni: MELTEMI_CNI, log });
  await assert.rejects(next.prepare(), (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'MESH_ALREADY_EXISTS' && /sweepStale/.test(e.message));
  assert.equal(await sweepStale(f.runDir, log), 2);
  const timer = setTimeout(() => orphan.kill('SIGKILL'), 10_000);
  const [, signal] = (await orphanExit) as [number | null, string | null];
  clearTimeout(timer);
  assert.equal(signal, 'SIGKILL');
  assert.ok(logs.includes('removed a NAT chain the bridge plugin left behind'), logs.join('\n'));
  assert.deepEqual(leftovers(f.before, snapshot(), f.ours), []);
  assert.ok(!existsSync(join(f.runDir, 'pod-networks.json')));
  assert.equal(await sweepStale(f.runDir, log), 0, 'nothing left to sweep');
});

test('ip_forward, which the bridge plugin turns on, is turned back off by close (in a network namespace standing in for the host)', { skip, timeout: 180_000 }, async (t) => {
  // The host's own ip_forward is left alone: a fresh network namespace, with forwarding switched off
  // in it, plays the root namespace (bridge, veths, NAT rules and ip_forward all live there); only the pod's
  // namespace name is global.
  const runDir = mkdtempSync(join(tmpdir(), 'meltemi-podnet-fwd-'));
  const uid = randomUUID();
  t.after(() => {
    spawnSync('ip', ['netns', 'del', netnsNameFor(uid)], { timeout: 10_000, stdio: 'ignore' });
    rmSync(runDir, { recursive: true, force: true });
  });
  const script = `
    import { readFileSync, writeFileSync } from 'node:fs';
    import { PodNetworks } from ${JSON.stringify(join(ROOT, 'src', 'runtime', 'pod-network.ts'))};
    const fwd = () => readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    const logs = [];
    const log = { info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) };
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '0');
    const out = { before: fwd() };
    const nets = new PodNetworks({ runDir: ${JSON.stringify(runDir)}, bridge: 'mltfwd0', subnet: '10.250.0.0/24', meltemiCni: ${JSON.stringify(MELTEMI_CNI)}, log });
    await nets.add({ name: 'p', namespace: 'default', uid: ${JSON.stringify(uid)}, annotations: {}, intercept: undefined });
    out.during = fwd();
    await nets.close();
    out.after = fwd();
    out.logs = logs;
    console.log(JSON.stringify(out));
  `;
  const r = await runCmd(['unshare', '--net', '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: string; during: string; after: string; logs: string[] };
  assert.deepEqual([out.before, out.during], ['0', '1'], 'forwarding was off, and the bridge plugin turned it on');
  if (out.logs.includes('ip_forward left on: other Meltemi pod namespaces exist')) {
    t.diagnostic('another Meltemi mesh runs on this machine, so ip_forward was rightly left on');
  } else {
    assert.equal(out.after, '0', out.logs.join('\n'));
    assert.ok(out.logs.includes('net.ipv4.ip_forward turned back off'));
  }
  assert.ok(!existsSync(`/var/run/netns/${netnsNameFor(uid)}`));
});
