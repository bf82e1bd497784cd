// SMCP profiles: the base and small defaults, and how applyProfiles merges them under the user's spec (status.appliedSpec).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_PROFILE, SMALL_PROFILE, SMCP_PROFILES, applyProfiles, mergeUnder, profileByName } from '../../src/api/smcp-profiles.js';
import { SMCP_PROFILE_NAMES, type SmcpV2Spec } from '../../src/api/kinds/service-mesh-control-plane.js';

test('every profile name the validator accepts has a profile, and nothing else does', () => {
  assert.deepEqual(Object.keys(SMCP_PROFILES).sort(), [...SMCP_PROFILE_NAMES].sort());
  assert.equal(profileByName('toString'), undefined);
  assert.equal(profileByName('__proto__'), undefined);
});

test('the base profile carries the OSSM 2.0 defaults (OP-06)', () => {
  const b = BASE_PROFILE;
  assert.equal(b.version, 'v2.0');
  assert.deepEqual(b.gateways?.ingress?.service?.type, 'ClusterIP');
  assert.equal(b.gateways?.openshiftRoute?.enabled, true);
  assert.equal(b.gateways?.ingress?.ingress, false);
  assert.deepEqual(b.general?.logging?.componentLevels, { default: 'warn' });
  assert.equal(b.proxy?.injection?.autoInject, false);
  assert.deepEqual(b.proxy?.networking?.protocol?.autoDetect, { inbound: false, outbound: false });
  assert.equal(b.proxy?.networking?.dns?.refreshRate, '300s');
  assert.equal(b.security?.identity?.type, 'Kubernetes');
  assert.equal(b.telemetry?.type, 'Istiod');
  assert.equal(b.policy?.type, 'None');
  assert.equal(b.tracing?.type, 'Jaeger');
  assert.equal(b.addons?.jaeger?.install?.storage?.type, 'Memory');
  for (const addon of ['prometheus', 'grafana', 'kiali'] as const) assert.equal(b.addons?.[addon]?.enabled, true, addon);
  assert.deepEqual(b.techPreview, { wasmExtensions: { enabled: false }, sidecarInjectorWebhook: { objectSelector: { enabled: false } } });
});

test('the small profile requests 10m CPU and 128Mi and turns off autoscaling and PodDisruptionBudgets (OP-17)', () => {
  const s = SMALL_PROFILE;
  const small = { requests: { cpu: '10m', memory: '128Mi' }, limits: {} };
  assert.deepEqual(s.runtime?.defaults?.container?.resources, small);
  assert.equal(s.runtime?.defaults?.deployment?.podDisruption?.enabled, false);
  for (const c of ['pilot', 'mixer.policy', 'mixer.telemetry']) {
    assert.equal(s.runtime?.components?.[c]?.deployment?.autoScaling?.enabled, false, c);
    assert.deepEqual(s.runtime?.components?.[c]?.container?.resources, small, c);
  }
  assert.deepEqual(s.runtime?.components?.['wasmExtensions.cacher']?.container?.resources, small);
  assert.equal(s.gateways?.ingress?.runtime?.deployment?.autoScaling?.enabled, false);
  assert.deepEqual(s.proxy?.runtime?.container?.resources, small);
});

test('an empty profile list means default, which is base plus small', () => {
  const applied = applyProfiles({ version: 'v2.0' });
  assert.deepEqual(applied.profiles, ['default']);
  assert.equal(applied.tracing?.type, 'Jaeger');
  assert.equal(applied.addons?.kiali?.enabled, true);
  assert.deepEqual(applied.runtime?.components?.pilot?.container?.resources, { requests: { cpu: '10m', memory: '128Mi' }, limits: {} });
  assert.deepEqual(applyProfiles({ profiles: [] }), applied);
  assert.deepEqual(applyProfiles({ version: 'v2.0', profiles: ['servicemesh'] }), { ...applied, profiles: ['servicemesh'] });
});

test('the user spec wins over every profile, field by field', () => {
  const user: SmcpV2Spec = {
    tracing: { sampling: 10000 },
    addons: { grafana: { enabled: false }, jaeger: { install: { storage: { type: 'Elasticsearch' } } } },
    proxy: { networking: { dns: { refreshRate: '60s' } } },
  };
  const applied = applyProfiles(user);
  assert.equal(applied.tracing?.type, 'Jaeger', 'filled in from base');
  assert.equal(applied.tracing?.sampling, 10000, 'kept from the user');
  assert.equal(applied.addons?.grafana?.enabled, false);
  assert.deepEqual(applied.addons?.grafana?.install?.service?.ingress, { enabled: true }, 'deep merge under the user value');
  assert.equal(applied.addons?.jaeger?.install?.storage?.type, 'Elasticsearch');
  assert.equal(applied.addons?.jaeger?.name, 'jaeger');
  assert.equal(applied.proxy?.networking?.dns?.refreshRate, '60s');
  assert.deepEqual(applied.proxy?.networking?.protocol?.autoDetect, { inbound: false, outbound: false });
});

test('lists are replaced, not merged', () => {
  const applied = applyProfiles({ profiles: ['base'], proxy: { networking: { trafficControl: { outbound: { excludedIPRanges: ['10.0.0.0/8'] } } } } });
  assert.deepEqual(applied.proxy?.networking?.trafficControl?.outbound?.excludedIPRanges, ['10.0.0.0/8']);
  assert.deepEqual(mergeUnder({ a: [1] }, { a: [2, 3], b: [4] }), { a: [1], b: [4] });
  assert.deepEqual(mergeUnder({ a: 'x' }, { a: { deep: true } }), { a: 'x' }, 'a scalar is not replaced by a mapping');
});

test('a later profile wins over an earlier one, and a profile over the profiles it includes', () => {
  const catalogue = {
    quiet: { spec: { general: { logging: { componentLevels: { default: 'error' } } }, tracing: { type: 'None' as const } } },
    loud: { spec: { general: { logging: { componentLevels: { default: 'debug', ads: 'debug' } } } } },
    team: { profiles: ['quiet', 'loud'], spec: { tracing: { type: 'Jaeger' as const, sampling: 50 } } },
  };
  const ql = applyProfiles({ profiles: ['quiet', 'loud'] }, catalogue);
  assert.deepEqual(ql.general?.logging?.componentLevels, { default: 'debug', ads: 'debug' });
  assert.equal(ql.tracing?.type, 'None');
  const lq = applyProfiles({ profiles: ['loud', 'quiet'] }, catalogue);
  assert.deepEqual(lq.general?.logging?.componentLevels, { default: 'error', ads: 'debug' });
  const team = applyProfiles({ profiles: ['team'] }, catalogue);
  assert.deepEqual(team.tracing, { type: 'Jaeger', sampling: 50 });
  assert.equal(team.general?.logging?.componentLevels?.default, 'debug');
});

test('a profile listed twice, directly and through another, applies once', () => {
  const both = applyProfiles({ profiles: ['base', 'small'] });
  assert.equal(both.gateways?.ingress?.service?.type, 'ClusterIP');
  assert.equal(both.gateways?.ingress?.runtime?.deployment?.autoScaling?.enabled, false);
  assert.deepEqual(applyProfiles({ profiles: ['default', 'base'] }), { ...both, profiles: ['default', 'base'] });
  const cycle = { a: { profiles: ['b'], spec: { version: 'a' } }, b: { profiles: ['a'], spec: { version: 'b', profiles: [] } } };
  assert.equal(applyProfiles({ profiles: ['a'] }, cycle).version, 'a', 'cycles end');
});

test('base only: no small resource requests', () => {
  const applied = applyProfiles({ profiles: ['base'] });
  assert.equal(applied.runtime, undefined);
  assert.equal(applied.version, 'v2.0');
});

test('unknown profiles are skipped, and the input is never modified', () => {
  const user: SmcpV2Spec = { profiles: ['nope', 'base'], addons: { kiali: { enabled: false } } };
  const before = structuredClone(user);
  const applied = applyProfiles(user);
  assert.deepEqual(user, before);
  assert.equal(applied.addons?.kiali?.enabled, false);
  assert.equal(applied.tracing?.type, 'Jaeger');
  applied.addons!.kiali!.enabled = true;
  (applied.gateways!.ingress!.service as { type?: string }).type = 'NodePort';
  assert.equal(BASE_PROFILE.gateways?.ingress?.service?.type, 'ClusterIP', 'the shared profile is not aliased by the result');
  assert.deepEqual(user, before);
});

test('user keys named __proto__ stay data', () => {
  const user = JSON.parse('{"techPreview": {"__proto__": {"polluted": true}}}') as SmcpV2Spec;
  const applied = applyProfiles(user);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(Object.hasOwn(applied.techPreview!, '__proto__'));
  assert.deepEqual(Object.keys(applied.techPreview!).sort(), ['__proto__', 'sidecarInjectorWebhook', 'wasmExtensions']);
});
