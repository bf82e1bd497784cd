// The CNI plugin without root: environment and configuration parsing, CNI error results and codes, VERSION, prevResult pass-through, which pods are left alone, and the CLI entry point.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { CniCode, SUPPORTED_VERSIONS, cniErrorFor, parseCniArgs, planCni, runCni, skipReason, type CniEffects } from '../../src/cni/plugin.js';
import { DEFAULT_INTERCEPTION, type InterceptionSettings } from '../../src/cni/iptables.js';
import { CommandError, type NetnsReport } from '../../src/cni/netns.js';
import { MeshError } from '../../src/shared/errors.js';

const ENV = { CNI_CONTAINERID: 'c0ffee', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_NETNS: '/var/run/netns/pod1', CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-1' };
const INJECTED = { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' };
const PREV = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/pod1' }], ips: [{ address: '10.22.0.5/16', gateway: '10.22.0.1', interface: 0 }] };

function conf(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: '1.0.0', name: 'meltemi', type: 'meltemi-cni', runtimeConfig: { podAnnotations: INJECTED }, ...extra });
}

/** Effects that record what they were asked and answer as told. */
function fakeEffects(checkProblems: string[] = []): CniEffects & { calls: Array<[string, string, InterceptionSettings?]> } {
  const done: NetnsReport = { ipv4: 'done', ipv6: 'done' };
  const calls: Array<[string, string, InterceptionSettings?]> = [];
  return {
    calls,
    apply: (netns, s) => (calls.push(['apply', netns, s]), Promise.resolve(done)),
    remove: (netns) => (calls.push(['remove', netns]), Promise.resolve(done)),
    check: (netns, s) => (calls.push(['check', netns, s]), Promise.resolve(checkProblems)),
  };
}

function errorOf(out: { stdout: string; exitCode: number }): { cniVersion: string; code: number; msg: string; details?: string } {
  assert.notEqual(out.exitCode, 0);
  return JSON.parse(out.stdout) as { cniVersion: string; code: number; msg: string; details?: string };
}

test('VERSION prints the supported versions and needs nothing else', async () => {
  const out = await runCni({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}', fakeEffects());
  assert.equal(out.exitCode, 0);
  assert.deepEqual(JSON.parse(out.stdout), { cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] });
});

test('ADD installs the rules in CNI_NETNS and prints prevResult unchanged', async () => {
  const fx = fakeEffects();
  const out = await runCni({ ...ENV, CNI_COMMAND: 'ADD' }, conf({ prevResult: PREV }), fx);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.deepEqual(JSON.parse(out.stdout), PREV);
  assert.deepEqual(fx.calls, [['apply', '/var/run/netns/pod1', DEFAULT_INTERCEPTION]]);
  assert.match(out.stderr, /ADD shop\/cart-1 \(c0ffee\): interception installed/);
});

test('ADD as the first plugin prints a minimal result with the configuration\'s cniVersion', async () => {
  const out = await runCni({ ...ENV, CNI_COMMAND: 'ADD' }, conf({ cniVersion: '0.4.0' }), fakeEffects());
  assert.deepEqual(JSON.parse(out.stdout), { cniVersion: '0.4.0' });
});

test('settings: the config\'s interception object is the default, pod annotations override it', () => {
  const r = planCni({ ...ENV, CNI_COMMAND: 'ADD' }, conf({
    interception: { proxyUid: 1000, proxyGid: 1000, excludeOutboundIpRanges: ['169.254.169.254/32'] },
    args: { cni: { podAnnotations: { 'sidecar.istio.io/inject': 'true', 'traffic.sidecar.istio.io/excludeOutboundPorts': '5432' } } },
    runtimeConfig: { podAnnotations: { 'sidecar.istio.io/proxyUID': '2000' } },
  }));
  assert.ok('plan' in r);
  assert.equal(r.plan.action.kind, 'add');
  const s = r.plan.action.kind === 'add' ? r.plan.action.settings : undefined;
  assert.deepEqual(s && [s.proxyUid, s.proxyGid, s.excludeOutboundIpRanges, s.excludeOutboundPorts], [2000, 2000, ['169.254.169.254/32'], [5432]]);
});

test('containerd\'s pod-annotations capability is read too', () => {
  const r = planCni({ ...ENV, CNI_COMMAND: 'ADD' }, JSON.stringify({ cniVersion: '1.0.0', runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { 'sidecar.istio.io/inject': 'yes' } } }));
  assert.ok('plan' in r && r.plan.action.kind === 'add' && r.plan.action.settings !== undefined);
});

test('a pod without a sidecar is passed through untouched', async () => {
  for (const annotations of [{}, { 'sidecar.istio.io/inject': 'false' }, { 'sidecar.istio.io/inject': 'maybe' }, { 'sidecar.istio.io/status': '{}', 'sidecar.istio.io/interceptionMode': 'NONE' }]) {
    const fx = fakeEffects();
    const out = await runCni({ ...ENV, CNI_COMMAND: 'ADD' }, conf({ prevResult: PREV, runtimeConfig: { podAnnotations: annotations } }), fx);
    assert.equal(out.exitCode, 0);
    assert.deepEqual(JSON.parse(out.stdout), PREV);
    assert.deepEqual(fx.calls, [], JSON.stringify(annotations));
    assert.match(out.stderr, /not intercepted/);
    const check = await runCni({ ...ENV, CNI_COMMAND: 'CHECK' }, conf({ prevResult: PREV, runtimeConfig: { podAnnotations: annotations } }), fx);
    assert.equal(check.exitCode, 0);
    assert.deepEqual(fx.calls, []);
  }
  for (const v of ['y', 'YES', 'True', 'on']) assert.equal(skipReason({ 'sidecar.istio.io/inject': v }), undefined, v);
  assert.equal(skipReason({ 'sidecar.istio.io/status': '' }), undefined);
});

test('CHECK succeeds when the rules match and fails with code 101 listing the differences', async () => {
  const ok = await runCni({ ...ENV, CNI_COMMAND: 'CHECK' }, conf({ prevResult: PREV }), fakeEffects());
  assert.deepEqual([ok.exitCode, ok.stdout], [0, '']);
  const bad = errorOf(await runCni({ ...ENV, CNI_COMMAND: 'CHECK' }, conf({ prevResult: PREV }), fakeEffects(['ipv4: chain ISTIO_OUTPUT is missing'])));
  assert.equal(bad.code, CniCode.RULES_DIFFER);
  assert.equal(bad.details, 'ipv4: chain ISTIO_OUTPUT is missing');
});

test('CHECK is refused for configurations older than 0.4.0 (code 1)', async () => {
  assert.equal(errorOf(await runCni({ ...ENV, CNI_COMMAND: 'CHECK' }, conf({ cniVersion: '0.3.1' }), fakeEffects())).code, 1);
});

test('DEL removes the rules whatever the annotations say, and succeeds without a namespace', async () => {
  const fx = fakeEffects();
  const out = await runCni({ ...ENV, CNI_COMMAND: 'DEL' }, conf({ runtimeConfig: {} }), fx);
  assert.deepEqual([out.exitCode, out.stdout], [0, '']);
  assert.deepEqual(fx.calls, [['remove', '/var/run/netns/pod1']]);
  const noNetns = await runCni({ ...ENV, CNI_NETNS: '', CNI_COMMAND: 'DEL' }, conf(), fx);
  assert.equal(noNetns.exitCode, 0);
  assert.equal(fx.calls.length, 1);
  // Broken annotations do not block cleanup.
  const broken = await runCni({ ...ENV, CNI_COMMAND: 'DEL' }, conf({ runtimeConfig: { podAnnotations: { ...INJECTED, 'sidecar.istio.io/interceptionMode': 'TPROXY' } } }), fx);
  assert.equal(broken.exitCode, 0);
});

test('missing environment variables are all named, with code 4', async () => {
  const e = errorOf(await runCni({ CNI_COMMAND: 'ADD', CNI_PATH: '/opt/cni/bin' }, conf(), fakeEffects()));
  assert.equal(e.code, CniCode.INVALID_ENVIRONMENT);
  assert.equal(e.msg, 'required environment variables CNI_CONTAINERID, CNI_IFNAME, CNI_NETNS not set for ADD');
  assert.equal(errorOf(await runCni({ ...ENV, CNI_NETNS: undefined, CNI_COMMAND: 'CHECK' }, conf(), fakeEffects())).code, 4);
  assert.equal(errorOf(await runCni({}, conf(), fakeEffects())).code, 4);
  assert.match(errorOf(await runCni({ ...ENV, CNI_COMMAND: 'GC' }, conf(), fakeEffects())).msg, /CNI_COMMAND "GC" is not one of ADD, DEL, CHECK, VERSION/);
  assert.match(errorOf(await runCni({ ...ENV, CNI_COMMAND: 'ADD', CNI_NETNS: 'pod1' }, conf(), fakeEffects())).msg, /must be an absolute path/);
  assert.match(errorOf(await runCni({ ...ENV, CNI_COMMAND: 'ADD', CNI_CONTAINERID: '-x' }, conf(), fakeEffects())).msg, /CNI_CONTAINERID/);
  assert.equal(errorOf(await runCni({ ...ENV, CNI_COMMAND: 'ADD', CNI_ARGS: 'IgnoreUnknown=1;oops' }, conf(), fakeEffects())).code, 4);
  assert.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=a=b;'), { IgnoreUnknown: '1', K8S_POD_NAME: 'a=b' });
});

test('bad JSON is a decoding failure (6); bad configuration is 7; an unknown version is 1', async () => {
  const run = (stdin: string) => runCni({ ...ENV, CNI_COMMAND: 'ADD' }, stdin, fakeEffects());
  assert.equal(errorOf(await run('{"cniVersion": ')).code, CniCode.DECODING_FAILURE);
  assert.equal(errorOf(await run('')).code, CniCode.DECODING_FAILURE);
  assert.equal(errorOf(await run(`{"cniVersion":"1.0.0","pad":"${'x'.repeat(1024 * 1024)}"}`)).code, CniCode.DECODING_FAILURE);
  assert.equal(errorOf(await run('[]')).code, CniCode.INVALID_NETWORK_CONFIG);
  assert.equal(errorOf(await run('{"name":"x"}')).code, CniCode.INVALID_NETWORK_CONFIG);
  const v = errorOf(await run('{"cniVersion":"2.0.0"}'));
  assert.deepEqual([v.code, v.cniVersion, v.details], [1, '1.0.0', `supported versions: ${SUPPORTED_VERSIONS.join(', ')}`]);
  const c = errorOf(await run(conf({ cniVersion: '0.4.0', prevResult: 'x', interception: { proxyUid: -1, bogus: true } })));
  assert.equal(c.code, CniCode.INVALID_NETWORK_CONFIG);
  assert.equal(c.cniVersion, '0.4.0'); // errors speak the configuration's version once it is known
  assert.equal(c.details, ['prevResult: must be an object (the previous plugin\'s result)', 'interception.bogus: unknown field (known: proxyUid, proxyGid, inboundCapturePort, outboundCapturePort, includeInboundPorts, excludeInboundPorts, includeOutboundIpRanges, excludeOutboundIpRanges, excludeOutboundPorts)', 'interception.proxyUid: must be an integer 0..4294967294'].join('\n'));
  assert.equal(errorOf(await run(conf({ runtimeConfig: { podAnnotations: { 'sidecar.istio.io/inject': true } } }))).code, CniCode.INVALID_NETWORK_CONFIG);
});

test('bad annotations are code 102 naming each one; TPROXY is refused with code 103', async () => {
  const bad = errorOf(await runCni({ ...ENV, CNI_COMMAND: 'ADD' }, conf({ runtimeConfig: { podAnnotations: { ...INJECTED, 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.0.0.0/8,nope' } } }), fakeEffects()));
  assert.equal(bad.code, CniCode.INVALID_ANNOTATION);
  assert.match(bad.details ?? '', /traffic\.sidecar\.istio\.io\/excludeOutboundIPRanges: "nope" is not a CIDR block/);
  const fx = fakeEffects();
  const tproxy = errorOf(await runCni({ ...ENV, CNI_COMMAND: 'ADD' }, conf({ runtimeConfig: { podAnnotations: { ...INJECTED, 'sidecar.istio.io/interceptionMode': 'TPROXY' } } }), fx));
  assert.equal(tproxy.code, CniCode.UNSUPPORTED_INTERCEPTION_MODE);
  assert.match(tproxy.details ?? '', /not supported yet/);
  assert.deepEqual(fx.calls, []);
});

test('failures while acting map to CNI codes: busy lock or timeout 11, iptables 100, missing netns 104, other 199', async () => {
  const failing = (err: unknown): CniEffects => ({ apply: () => Promise.reject(err), remove: () => Promise.reject(err), check: () => Promise.reject(err) });
  const cmd = new CommandError(['nsenter', '--net=/x', 'iptables-restore', '--noflush'], 'exit 2', 'iptables-restore: line 3 failed', 2);
  const e100 = errorOf(await runCni({ ...ENV, CNI_COMMAND: 'ADD' }, conf(), failing(cmd)));
  assert.deepEqual([e100.code, e100.msg], [100, 'nsenter --net=/x iptables-restore --noflush failed']);
  assert.match(e100.details ?? '', /line 3 failed/);
  assert.equal(cniErrorFor(new CommandError(['iptables-restore'], 'exit 4', 'Another app is currently holding the xtables lock.', 4), '1.0.0').code, 11);
  assert.equal(cniErrorFor(new CommandError(['iptables-restore'], 'timed out after 10000 ms', '', undefined), '1.0.0').code, 11);
  assert.equal(errorOf(await runCni({ ...ENV, CNI_COMMAND: 'CHECK' }, conf(), failing(new MeshError('MESH_NOT_FOUND', 'network namespace /x does not exist')))).code, 104);
  const internal = errorOf(await runCni({ ...ENV, CNI_COMMAND: 'DEL' }, conf(), failing(new TypeError('boom'))));
  assert.deepEqual([internal.code, internal.msg], [199, 'internal error']);
});

test('the real CLI: VERSION works, and errors are a JSON result on stdout with exit status 1', async () => {
  const run = (env: Record<string, string>, input: string) =>
    new Promise<{ code: number; stdout: string }>((resolve, reject) => {
      const child = execFile(process.execPath, ['bin/meltemi.js', 'cni'], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (err, stdout) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number') return reject(err);
        resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout });
      });
      child.stdin!.end(input);
    });
  const v = await run({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  assert.equal(v.code, 0);
  assert.deepEqual(JSON.parse(v.stdout).supportedVersions, [...SUPPORTED_VERSIONS]);
  const bad = await run({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_NETNS: '/var/run/netns/none' }, 'not json');
  assert.equal(bad.code, 1);
  assert.equal(JSON.parse(bad.stdout).code, 6);
});
