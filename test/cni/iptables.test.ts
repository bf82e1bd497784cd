// The interception rules as text: Istio's chain layout and order, exclusions, the IPv4/IPv6 split, annotations and their errors, removal and CHECK over iptables-save output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  DEFAULT_INTERCEPTION,
  checkRules,
  interceptionFromAnnotations,
  interceptionFromJson,
  interceptionMode,
  interceptionRules,
  natRules,
  reapplyText,
  remainingInterception,
  removalRules,
  type InterceptionSettings,
} from '../../src/cni/iptables.js';
import { parseCidr } from '../../src/cni/cidr.js';
import { isMeshError } from '../../src/shared/errors.js';

const lines = (text: string) => text.trimEnd().split('\n');
const withSettings = (over: Partial<InterceptionSettings>): InterceptionSettings => ({ ...DEFAULT_INTERCEPTION, ...over });

test('the default rules are Istio REDIRECT mode: chains, inbound and outbound capture, proxy UID/GID excluded, in order', () => {
  assert.deepEqual(lines(interceptionRules(DEFAULT_INTERCEPTION).ipv4), [
    '*nat',
    ':ISTIO_INBOUND - [0:0]',
    ':ISTIO_IN_REDIRECT - [0:0]',
    ':ISTIO_OUTPUT - [0:0]',
    ':ISTIO_REDIRECT - [0:0]',
    '-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT',
    '-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
    '-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN',
    '-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN',
    '-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN',
    '-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN',
    '-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN',
    '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
    '-A ISTIO_OUTPUT -j ISTIO_REDIRECT',
    '-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
    '-A PREROUTING -p tcp -j ISTIO_INBOUND',
    '-A OUTPUT -p tcp -j ISTIO_OUTPUT',
    'COMMIT',
  ]);
});

test('IPv6 rules use ::1 and ::6 where IPv4 uses 127.0.0.1 and 127.0.0.6', () => {
  const v6 = lines(interceptionRules(DEFAULT_INTERCEPTION).ipv6);
  assert.ok(v6.includes('-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN'));
  assert.ok(v6.includes('-A ISTIO_OUTPUT ! -d ::1/128 -o lo -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT'));
  assert.ok(v6.includes('-A ISTIO_OUTPUT -d ::1/128 -j RETURN'));
  assert.ok(!v6.some((l) => l.includes('127.0.0.')), v6.join('\n'));
});

test('excluded outbound ports come first in ISTIO_OUTPUT, before the passthrough and owner rules', () => {
  const out = natRules(withSettings({ excludeOutboundPorts: [3306, 5432] }), 4).chains.ISTIO_OUTPUT;
  assert.deepEqual(out.slice(0, 3), [
    '-A ISTIO_OUTPUT -p tcp -m tcp --dport 3306 -j RETURN',
    '-A ISTIO_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN',
    '-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN',
  ]);
});

test('outbound ranges: exclusions return before the included ranges redirect, and the rest returns', () => {
  const s = withSettings({ includeOutboundIpRanges: ['10.0.0.0/8', '2001:db8::/32'], excludeOutboundIpRanges: ['10.96.0.0/16', 'fd00::/8'] });
  const v4 = natRules(s, 4).chains.ISTIO_OUTPUT;
  assert.deepEqual(v4.slice(-4), [
    '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
    '-A ISTIO_OUTPUT -d 10.96.0.0/16 -j RETURN',
    '-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT',
    '-A ISTIO_OUTPUT -j RETURN',
  ]);
  const v6 = natRules(s, 6).chains.ISTIO_OUTPUT;
  assert.deepEqual(v6.slice(-4), [
    '-A ISTIO_OUTPUT -d ::1/128 -j RETURN',
    '-A ISTIO_OUTPUT -d fd00::/8 -j RETURN',
    '-A ISTIO_OUTPUT -d 2001:db8::/32 -j ISTIO_REDIRECT',
    '-A ISTIO_OUTPUT -j RETURN',
  ]);
});

test('an include list with no range of a family captures no outbound traffic of that family', () => {
  const v6 = natRules(withSettings({ includeOutboundIpRanges: ['10.0.0.0/8'] }), 6);
  assert.ok(!v6.chains.ISTIO_OUTPUT.some((r) => r.includes('ISTIO_REDIRECT')), v6.chains.ISTIO_OUTPUT.join('\n'));
  // Inbound capture of that family is unaffected.
  assert.ok(v6.chains.ISTIO_INBOUND.includes('-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT'));
});

test('including a loopback range drops the "app calling itself on lo is not captured" rule', () => {
  const out = natRules(withSettings({ includeOutboundIpRanges: ['127.0.0.1/32', '10.0.0.0/8'] }), 4).chains.ISTIO_OUTPUT;
  assert.ok(!out.some((r) => r.includes('! --uid-owner')), out.join('\n'));
  assert.ok(out.includes('-A ISTIO_OUTPUT -d 127.0.0.1/32 -j ISTIO_REDIRECT'));
});

test('inbound port list: only those ports, minus the excluded and the proxy\'s own ports; no SSH rule', () => {
  const r = natRules(withSettings({ includeInboundPorts: [9080, 15020, 8080, 15090], excludeInboundPorts: [8080] }), 4);
  assert.deepEqual(r.chains.ISTIO_INBOUND, ['-A ISTIO_INBOUND -p tcp -m tcp --dport 9080 -j ISTIO_IN_REDIRECT']);
  assert.ok(r.jumps.includes('-A PREROUTING -p tcp -j ISTIO_INBOUND'));
});

test('no inbound ports means no PREROUTING jump, while outbound capture stays', () => {
  const r = natRules(withSettings({ includeInboundPorts: [] }), 4);
  assert.deepEqual(r.chains.ISTIO_INBOUND, []);
  assert.deepEqual(r.jumps, ['-A OUTPUT -p tcp -j ISTIO_OUTPUT']);
});

test('inbound wildcard returns the user-excluded ports, deduplicated, then redirects the rest', () => {
  const r = natRules(withSettings({ excludeInboundPorts: [8443, 15021, 8443] }), 4).chains.ISTIO_INBOUND;
  assert.deepEqual(r, [
    '-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -m tcp --dport 8443 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT',
  ]);
});

test('capture ports and proxy ids come from the settings', () => {
  const r = natRules(withSettings({ inboundCapturePort: 16006, outboundCapturePort: 16001, proxyUid: 1000700001, proxyGid: 5 }), 4);
  assert.deepEqual(r.chains.ISTIO_IN_REDIRECT, ['-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 16006']);
  assert.deepEqual(r.chains.ISTIO_REDIRECT, ['-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 16001']);
  assert.ok(r.chains.ISTIO_OUTPUT.includes('-A ISTIO_OUTPUT -m owner --uid-owner 1000700001 -j RETURN'));
  assert.ok(r.chains.ISTIO_OUTPUT.includes('-A ISTIO_OUTPUT -m owner --gid-owner 5 -j RETURN'));
});

test('a hand-made settings object with a bad range is refused, not silently ignored', () => {
  assert.throws(() => interceptionRules(withSettings({ excludeOutboundIpRanges: ['10.0.0.0/33'] })), (e) => isMeshError(e, 'MESH_INVALID_CONFIG') && /10\.0\.0\.0\/33/.test(e.message));
});

test('annotations override the defaults; CIDRs are canonicalized and split by family', () => {
  const s = interceptionFromAnnotations({
    'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.1.2.3/8, 2001:DB8:0::/32,,',
    'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.1/12',
    'traffic.sidecar.istio.io/includeInboundPorts': '9080,9090',
    'traffic.sidecar.istio.io/excludeInboundPorts': '9090',
    'traffic.sidecar.istio.io/excludeOutboundPorts': '3306, 3306',
    'sidecar.istio.io/proxyUID': '1000650001',
  });
  assert.deepEqual(s, {
    proxyUid: 1000650001,
    proxyGid: 1000650001,
    inboundCapturePort: 15006,
    outboundCapturePort: 15001,
    includeInboundPorts: [9080, 9090],
    excludeInboundPorts: [9090],
    includeOutboundIpRanges: ['10.0.0.0/8', '2001:db8::/32'],
    excludeOutboundIpRanges: ['10.96.0.0/12'],
    excludeOutboundPorts: [3306],
  });
  const { ipv4, ipv6 } = interceptionRules(s);
  assert.ok(ipv4.includes('-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT') && !ipv4.includes('2001:db8'));
  assert.ok(ipv6.includes('-A ISTIO_OUTPUT -d 2001:db8::/32 -j ISTIO_REDIRECT') && !ipv6.includes('10.0.0.0'));
  assert.ok(ipv4.includes('-A ISTIO_INBOUND -p tcp -m tcp --dport 9080 -j ISTIO_IN_REDIRECT') && !ipv4.includes('--dport 9090'));
});

test('no annotations gives the defaults, and the defaults object is never mutated', () => {
  const before = JSON.stringify(DEFAULT_INTERCEPTION);
  const s = interceptionFromAnnotations({});
  assert.deepEqual(s, DEFAULT_INTERCEPTION);
  s.excludeInboundPorts.push(1);
  assert.equal(JSON.stringify(DEFAULT_INTERCEPTION), before);
  assert.ok(Object.isFrozen(DEFAULT_INTERCEPTION));
});

test('empty include annotations mean "capture nothing", "*" means everything', () => {
  const none = interceptionFromAnnotations({ 'traffic.sidecar.istio.io/includeOutboundIPRanges': '', 'traffic.sidecar.istio.io/includeInboundPorts': '' });
  assert.deepEqual([none.includeOutboundIpRanges, none.includeInboundPorts], [[], []]);
  const all = interceptionFromAnnotations({ 'traffic.sidecar.istio.io/includeOutboundIPRanges': '*' }, withSettings({ includeOutboundIpRanges: ['10.0.0.0/8'] }));
  assert.equal(all.includeOutboundIpRanges, '*');
});

test('proxyGID overrides the GID that proxyUID sets; the status port annotation adds an inbound exclusion', () => {
  const s = interceptionFromAnnotations({ 'sidecar.istio.io/proxyUID': '2000', 'sidecar.istio.io/proxyGID': '3000', 'status.sidecar.istio.io/port': '15999' });
  assert.deepEqual([s.proxyUid, s.proxyGid, s.excludeInboundPorts], [2000, 3000, [15999]]);
  assert.ok(natRules(s, 4).chains.ISTIO_INBOUND.includes('-A ISTIO_INBOUND -p tcp -m tcp --dport 15999 -j RETURN'));
  assert.deepEqual(interceptionFromAnnotations({ 'status.sidecar.istio.io/port': '0' }).excludeInboundPorts, []);
});

test('every invalid annotation is reported at once, naming the annotation, the value and the rule', () => {
  assert.throws(
    () =>
      interceptionFromAnnotations({
        'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.0.0.0/8,300.1.1.1/32',
        'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.0.0.1',
        'traffic.sidecar.istio.io/excludeInboundPorts': '80,http',
        'traffic.sidecar.istio.io/excludeOutboundPorts': '70000',
        'sidecar.istio.io/proxyUID': '-1',
      }),
    (e: unknown) => {
      assert.ok(isMeshError(e, 'MESH_INVALID_CONFIG'));
      const m = e.message;
      assert.match(m, /traffic\.sidecar\.istio\.io\/excludeOutboundIPRanges: "300\.1\.1\.1\/32" is not a CIDR block .*comma-separated list of CIDR blocks/);
      assert.match(m, /traffic\.sidecar\.istio\.io\/includeOutboundIPRanges: "10\.0\.0\.1" is not a CIDR block \(it needs a prefix length/);
      assert.match(m, /traffic\.sidecar\.istio\.io\/excludeInboundPorts: "http" in "80,http" is not a port \(the value must be a comma-separated list of TCP ports 1\.\.65535\)/);
      assert.match(m, /traffic\.sidecar\.istio\.io\/excludeOutboundPorts: "70000"/);
      assert.match(m, /sidecar\.istio\.io\/proxyUID: "-1" is not a user or group id/);
      return true;
    },
  );
  assert.throws(() => interceptionFromAnnotations({ 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '*' }), /"\*" is only allowed alone/);
  assert.throws(() => interceptionFromAnnotations({ 'traffic.sidecar.istio.io/excludeInboundPorts': '*' }), /"\*" in "\*" is not a port/);
});

test('TPROXY is refused as not supported yet; NONE means no rules; REDIRECT is the default', () => {
  assert.equal(interceptionMode({}), 'REDIRECT');
  assert.equal(interceptionMode({ 'sidecar.istio.io/interceptionMode': 'redirect' }), 'REDIRECT');
  assert.equal(interceptionMode({ 'sidecar.istio.io/interceptionMode': 'NONE' }), 'NONE');
  assert.throws(() => interceptionMode({ 'sidecar.istio.io/interceptionMode': 'TPROXY' }), /"TPROXY" is not supported yet/);
  assert.throws(() => interceptionFromAnnotations({ 'sidecar.istio.io/interceptionMode': 'TPROXY' }), /not supported yet/);
  assert.throws(() => interceptionFromAnnotations({ 'sidecar.istio.io/interceptionMode': 'NONE' }), /no interception/);
  assert.throws(() => interceptionMode({ 'sidecar.istio.io/interceptionMode': 'MAGIC' }), /"MAGIC" is not an interception mode/);
});

test('settings from JSON: fields validated with paths, unknown fields refused, defaults kept', () => {
  const ok = interceptionFromJson({ proxyUid: 7, includeOutboundIpRanges: ['10.0.0.9/8'], includeInboundPorts: '*' }, 'interception');
  assert.deepEqual(ok.problems, []);
  assert.deepEqual([ok.settings.proxyUid, ok.settings.proxyGid, ok.settings.includeOutboundIpRanges], [7, 1337, ['10.0.0.0/8']]);
  const bad = interceptionFromJson({ proxyUid: 'x', inboundCapturePort: 0, excludeOutboundIpRanges: ['nope'], excludeInboundPorts: '*', colour: 1 }, 'interception');
  assert.deepEqual(bad.problems.sort(), [
    'interception.colour: unknown field (known: proxyUid, proxyGid, inboundCapturePort, outboundCapturePort, includeInboundPorts, excludeInboundPorts, includeOutboundIpRanges, excludeOutboundIpRanges, excludeOutboundPorts)',
    'interception.excludeInboundPorts: must be a list of ports 1..65535',
    'interception.excludeOutboundIpRanges[0]: "nope" is not a CIDR block (it needs a prefix length, like 10.0.0.0/8 or 2001:db8::/32)',
    'interception.inboundCapturePort: must be a port 1..65535',
    'interception.proxyUid: must be an integer 0..4294967294',
  ]);
  assert.deepEqual(interceptionFromJson([], 'x').problems, ['x: must be an object']);
});

test('CIDRs are written as iptables-save prints them', () => {
  const canon = (s: string) => {
    const c = parseCidr(s);
    return typeof c === 'string' ? c : c.text;
  };
  assert.equal(canon('10.1.2.3/8'), '10.0.0.0/8');
  assert.equal(canon('2001:0DB8:0000::1/32'), '2001:db8::/32');
  assert.equal(canon('2001:db8:0:0:1:0:0:1/128'), '2001:db8::1:0:0:1/128');
  assert.equal(canon('::ffff:1.2.3.4/128'), '::ffff:1.2.3.4/128');
  assert.equal(canon('::/0'), '::/0');
  assert.match(canon('01.2.3.4/8'), /not an IPv4 or IPv6 address/);
  assert.match(canon('1::2::3/64'), /not an IPv4 or IPv6 address/);
  assert.match(canon('fe80::1%eth0/64'), /not an IPv4 or IPv6 address/);
});

// What iptables-save printed after `iptables-restore --noflush` of the default rules, with a rule of
// someone else's in PREROUTING that must be left alone.
const SAVED = `# Generated by iptables-save v1.8.9 (nf_tables) on Thu Dec  3 16:40:27 2026
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:ISTIO_INBOUND - [0:0]
:ISTIO_IN_REDIRECT - [0:0]
:ISTIO_OUTPUT - [0:0]
:ISTIO_REDIRECT - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
${[...natRules(DEFAULT_INTERCEPTION, 4).jumps, ...Object.values(natRules(DEFAULT_INTERCEPTION, 4).chains).flat()].join('\n')}
COMMIT
# Completed on Thu Dec  3 16:40:27 2026
`;

const EMPTY = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
`;

test('CHECK passes on the table as installed and names every difference otherwise', () => {
  const want = natRules(DEFAULT_INTERCEPTION, 4);
  assert.deepEqual(checkRules(want, SAVED), []);
  const tampered = SAVED.replace('-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n', '').replace('-A OUTPUT -p tcp -j ISTIO_OUTPUT\n', '-A OUTPUT -p tcp -j ISTIO_OUTPUT\n-A OUTPUT -p tcp -j ISTIO_OUTPUT\n-A POSTROUTING -j ISTIO_REDIRECT\n');
  assert.deepEqual(checkRules(want, tampered, 'ipv4'), [
    'ipv4: chain ISTIO_OUTPUT differs: missing "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN"',
    'ipv4: jump "-A OUTPUT -p tcp -j ISTIO_OUTPUT" is present 2 times (expected once)',
    'ipv4: unexpected jump "-A POSTROUTING -j ISTIO_REDIRECT"',
  ]);
  assert.equal(checkRules(want, EMPTY).length, 6); // four chains missing, two jumps absent
  // Settings changed since ADD: CHECK notices.
  assert.match(checkRules(natRules(withSettings({ excludeOutboundPorts: [25] }), 4), SAVED).join('\n'), /missing "-A ISTIO_OUTPUT -p tcp -m tcp --dport 25 -j RETURN"/);
});

test('removal deletes exactly our jumps and chains, leaving the other rules; nothing to do on a clean table', () => {
  assert.deepEqual(lines(removalRules(SAVED)!), [
    '*nat',
    '-D PREROUTING -p tcp -j ISTIO_INBOUND',
    '-D OUTPUT -p tcp -j ISTIO_OUTPUT',
    '-F ISTIO_INBOUND',
    '-F ISTIO_IN_REDIRECT',
    '-F ISTIO_OUTPUT',
    '-F ISTIO_REDIRECT',
    '-X ISTIO_INBOUND',
    '-X ISTIO_IN_REDIRECT',
    '-X ISTIO_OUTPUT',
    '-X ISTIO_REDIRECT',
    'COMMIT',
  ]);
  assert.equal(removalRules(EMPTY), undefined);
  assert.deepEqual(remainingInterception(EMPTY), []);
  assert.deepEqual(remainingInterception(SAVED), ['chain ISTIO_INBOUND', 'chain ISTIO_IN_REDIRECT', 'chain ISTIO_OUTPUT', 'chain ISTIO_REDIRECT', '-A PREROUTING -p tcp -j ISTIO_INBOUND', '-A OUTPUT -p tcp -j ISTIO_OUTPUT']);
});

test('re-applying deletes the existing jumps in the same transaction, so the jumps are never doubled', () => {
  const text = lines(reapplyText(natRules(DEFAULT_INTERCEPTION, 4), SAVED));
  assert.deepEqual(text.slice(0, 3), ['*nat', '-D PREROUTING -p tcp -j ISTIO_INBOUND', '-D OUTPUT -p tcp -j ISTIO_OUTPUT']);
  assert.equal(text.filter((l) => l === '-A OUTPUT -p tcp -j ISTIO_OUTPUT').length, 1);
  assert.ok(!text.some((l) => l.includes('CNI-HOSTPORT-DNAT')));
  assert.deepEqual(lines(reapplyText(natRules(DEFAULT_INTERCEPTION, 4), EMPTY)), lines(interceptionRules(DEFAULT_INTERCEPTION).ipv4));
});

test('the rules shown in docs/cni.md are the ones generated', () => {
  const doc = readFileSync('docs/cni.md', 'utf8');
  const marker = doc.indexOf('<!-- generated: interceptionRules(DEFAULT_INTERCEPTION).ipv4');
  assert.ok(marker >= 0, 'marker missing in docs/cni.md');
  const start = doc.indexOf('```text\n', marker) + '```text\n'.length;
  assert.equal(doc.slice(start, doc.indexOf('```', start)), interceptionRules(DEFAULT_INTERCEPTION).ipv4);
});
