// SMCP v1 ⇄ v2 conversion: the operator's field mappings, status carried over (MAISTRA-1979), and exact round trips both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse } from 'yaml';
import {
  V1_RESTORE_ANNOTATION,
  V2_RESTORE_ANNOTATION,
  applyRestore,
  convertSmcpV1ToV2,
  convertSmcpV2ToV1,
  diffJson,
} from '../../src/api/smcp-conversion.js';
import { SMCP_COMPONENT_NAMES } from '../../src/api/kinds/service-mesh-control-plane.js';
import { validateResource } from '../../src/api/validate.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const fixture = (name: string): Obj => parse(readFileSync(`test/fixtures/valid/maistra/${name}`, 'utf8')) as Obj;

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Converts through the other version and back, as stored JSON in between, and checks nothing changed. */
function roundTripV1(v1: Obj): Obj {
  deepFreeze(v1);
  const v2 = JSON.parse(JSON.stringify(convertSmcpV1ToV2(v1))) as Obj;
  assert.equal(v2.apiVersion, 'maistra.io/v2');
  assert.deepStrictEqual(convertSmcpV2ToV1(v2), v1);
  return v2;
}

function roundTripV2(v2: Obj): Obj {
  deepFreeze(v2);
  const v1 = JSON.parse(JSON.stringify(convertSmcpV2ToV1(v2))) as Obj;
  assert.equal(v1.apiVersion, 'maistra.io/v1');
  assert.deepStrictEqual(convertSmcpV1ToV2(v1), v2);
  return v1;
}

const conditions = [
  { type: 'Installed', status: 'True', reason: 'InstallSuccessful', message: 'Successfully installed all mesh components', lastTransitionTime: '2021-03-01T10:00:00Z' },
  { type: 'Reconciled', status: 'True', reason: 'InstallSuccessful', message: 'Successfully installed all mesh components', lastTransitionTime: '2021-03-01T10:00:00Z' },
  { type: 'Ready', status: 'False', reason: 'ComponentsNotReady', message: 'Some components are not fully available', lastTransitionTime: '2021-03-01T10:01:00Z' },
];
const components = [
  { resource: 'istio-discovery', conditions: [{ type: 'Installed', status: 'True', reason: 'InstallSuccessful' }] },
  { resource: 'grafana', conditions: [{ type: 'Installed', status: 'True', reason: 'InstallSuccessful' }], children: [{ conditions: [] }] },
];

const v1Full: Obj = {
  apiVersion: 'maistra.io/v1',
  kind: 'ServiceMeshControlPlane',
  metadata: { name: 'full-install', namespace: 'mesh-a', generation: 7, labels: { team: 'platform' }, annotations: { 'example.com/owner': 'platform' } },
  spec: {
    version: 'v1.1',
    profiles: ['maistra'],
    networkType: 'networkpolicy',
    istio: {
      global: {
        hub: 'quay.io/maistra', tag: '1.1.5', imagePullSecrets: ['pull-secret'], imagePullPolicy: 'Always',
        mtls: { enabled: true, auto: false }, controlPlaneSecurityEnabled: true, trustDomain: 'a.example.com', trustDomainAliases: ['cluster.local'],
        jwtPolicy: 'third-party-jwt', sds: { token: { aud: 'istio-ca' } }, pilotCertProvider: 'istiod',
        proxy: { logLevel: 'warning', componentLogLevel: 'misc:error,upstream:debug', accessLogFile: '/dev/stdout', accessLogEncoding: 'JSON', excludeInboundPorts: '15020,15090', includeIPRanges: '10.0.0.0/8, 172.16.0.0/12', autoInject: 'disabled', concurrency: 2, dnsRefreshRate: '300s', initType: 'CNI', tracer: 'zipkin' },
        outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
        logging: { level: 'default:info' }, logAsJson: true,
        defaultResources: { requests: { cpu: '10m' } }, defaultNodeSelector: { 'node-role.kubernetes.io/infra': '' },
        multiCluster: { enabled: false, clusterName: 'east' }, k8sIngress: { enabled: true },
        tls: { cipherSuites: 'ECDHE-RSA-AES256-GCM-SHA384,ECDHE-RSA-AES128-GCM-SHA256', minProtocolVersion: 'TLSv1_2' },
        somethingUnmapped: { deep: [1, 2, 3] },
      },
      istio_cni: { enabled: true },
      pilot: { replicaCount: 2, traceSampling: 0.125, resources: { requests: { cpu: '500m', memory: '2Gi' } }, env: { PILOT_ENABLE_FOO: 'true' } },
      mixer: { policy: { enabled: true, autoscaleEnabled: false }, telemetry: { enabled: true, autoscaleMin: 1, autoscaleMax: 5 } },
      gateways: {
        enabled: true,
        'istio-ingressgateway': { autoscaleEnabled: false, ior_enabled: true, type: 'LoadBalancer', ports: [{ name: 'http2', port: 80, targetPort: 8080 }], secretVolumes: [{ name: 'certs', secretName: 'istio-ingressgateway-certs', mountPath: '/etc/istio/ingressgateway-certs' }], sds: { enabled: true } },
        'istio-egressgateway': { enabled: true, env: { ISTIO_META_REQUESTED_NETWORK_VIEW: 'external' } },
        'partner-ingress': { enabled: true, namespace: 'partners', labels: { app: 'partner' }, serviceAnnotations: { 'a/b': 'c' }, env: { ISTIO_META_ROUTER_MODE: 'sni-dnat' }, configVolumes: [{ name: 'cfg', configMapName: 'partner-config', mountPath: '/etc/partner' }] },
        'audit-egress': { gatewayType: 'egress', replicaCount: 1 },
      },
      tracing: { enabled: true, provider: 'jaeger', jaeger: { template: 'production-elasticsearch', resourceName: 'jaeger-prod', elasticsearch: { nodeCount: 3, redundancyPolicy: 'SingleRedundancy' } } },
      kiali: { enabled: true, dashboard: { viewOnlyMode: true }, resourceName: 'kiali' },
      grafana: { enabled: false },
      prometheus: { enabled: true, retention: '6h' },
      techPreview: { wasmExtensions: { enabled: true } },
    },
    threeScale: { enabled: true, PARAM_THREESCALE_LISTEN_ADDR: 3333, PARAM_THREESCALE_LOG_LEVEL: 'info', PARAM_THREESCALE_CACHE_TTL_SECONDS: 300, image: '3scale-istio-adapter-rhel8', PARAM_UNKNOWN: 'x' },
  },
  status: {
    annotations: { readyComponentCount: '8/9' },
    conditions,
    components,
    observedGeneration: 7,
    reconciledVersion: '1.1.5-7',
    lastAppliedConfiguration: { version: 'v1.1', template: 'maistra', istio: { global: { mtls: { enabled: true } }, tracing: { enabled: false } } },
  },
};

test('v1 → v2 maps the Helm values that have v2 fields, as the operator does', () => {
  const v2 = convertSmcpV1ToV2(v1Full) as Obj;
  const s = v2.spec as Obj;
  assert.equal(v2.apiVersion, 'maistra.io/v2');
  assert.equal(s.version, 'v1.1');
  assert.deepEqual(s.profiles, ['maistra']);
  assert.deepEqual(s.security.dataPlane, { mtls: true, automtls: false });
  assert.deepEqual(s.security.trust, { domain: 'a.example.com', additionalDomains: ['cluster.local'] });
  assert.equal(s.security.controlPlane.mtls, true);
  assert.equal(s.security.controlPlane.certProvider, 'Istiod');
  assert.deepEqual(s.security.controlPlane.tls.cipherSuites, ['ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES128-GCM-SHA256']);
  assert.deepEqual(s.security.identity, { type: 'ThirdParty', thirdParty: { audience: 'istio-ca' } });
  assert.equal(s.proxy.logging.level, 'warning');
  assert.deepEqual(s.proxy.logging.componentLevels, { misc: 'error', upstream: 'debug' });
  assert.deepEqual(s.proxy.networking.trafficControl.inbound.excludedPorts, [15020, 15090]);
  assert.deepEqual(s.proxy.networking.trafficControl.outbound, { includedIPRanges: ['10.0.0.0/8', '172.16.0.0/12'], policy: 'REGISTRY_ONLY' });
  assert.equal(s.proxy.networking.initialization.type, 'CNI');
  assert.equal(s.proxy.injection.autoInject, false);
  assert.deepEqual(s.proxy.accessLogging.file, { name: '/dev/stdout', encoding: 'JSON' });
  assert.deepEqual(s.general.logging, { componentLevels: { default: 'info' }, logAsJSON: true });
  assert.deepEqual(s.tracing, { type: 'Jaeger', sampling: 13 }, 'pilot.traceSampling 0.125% is 12.5 hundredths of a percent, rounded');
  assert.equal(s.policy.type, 'Mixer', 'mixer.policy.enabled on a v1.1 resource');
  assert.equal(s.telemetry.type, 'Mixer');
  assert.equal(s.gateways.enabled, true);
  assert.equal(s.gateways.openshiftRoute.enabled, true);
  assert.equal(s.gateways.ingress.ingress, true);
  assert.equal(s.gateways.ingress.service.type, 'LoadBalancer');
  assert.deepEqual(s.gateways.ingress.volumes, [{ volume: { secret: { secretName: 'istio-ingressgateway-certs' } }, volumeMount: { name: 'certs', mountPath: '/etc/istio/ingressgateway-certs' } }]);
  assert.equal(s.gateways.ingress.sds.enabled, true);
  assert.deepEqual(s.gateways.egress.requestedNetworkView, ['external']);
  assert.deepEqual(Object.keys(s.gateways.additionalIngress), ['partner-ingress']);
  assert.deepEqual(Object.keys(s.gateways.additionalEgress), ['audit-egress'], 'gatewayType: egress makes an egress gateway');
  assert.equal(s.gateways.additionalIngress['partner-ingress'].routerMode, 'sni-dnat');
  assert.deepEqual(s.gateways.additionalIngress['partner-ingress'].service.metadata, { labels: { app: 'partner' }, annotations: { 'a/b': 'c' } });
  assert.equal(s.runtime.components.pilot.deployment.replicas, 2);
  assert.deepEqual(s.runtime.components.pilot.container.resources, { requests: { cpu: '500m', memory: '2Gi' } });
  assert.deepEqual(s.runtime.components['mixer.telemetry'].deployment.autoScaling, { minReplicas: 1, maxReplicas: 5 });
  assert.deepEqual(s.runtime.defaults.container, { resources: { requests: { cpu: '10m' } }, imageRegistry: 'quay.io/maistra', imageTag: '1.1.5', imagePullPolicy: 'Always', imagePullSecrets: [{ name: 'pull-secret' }] });
  assert.deepEqual(s.addons.jaeger, { name: 'jaeger-prod', install: { storage: { type: 'Elasticsearch', elasticsearch: { nodeCount: 3, redundancyPolicy: 'SingleRedundancy' } } } });
  assert.equal(s.addons.kiali.enabled, true);
  assert.equal(s.addons.kiali.install.dashboard.viewOnly, true);
  assert.equal(s.addons.grafana.enabled, false);
  assert.deepEqual(s.addons.prometheus, { enabled: true, install: { retention: '6h' } });
  assert.deepEqual(s.addons['3scale'], { enabled: true, listen_addr: 3333, log_level: 'info', system: { cache_ttl: 300 } });
  assert.deepEqual(s.techPreview, { wasmExtensions: { enabled: true } });
  assert.equal(s.cluster.name, 'east');
  // Helm values without a v2 field are not dropped: they wait in the restore annotation.
  assert.equal(s.istio, undefined);
  const restore = JSON.parse(v2.metadata.annotations[V1_RESTORE_ANNOTATION]) as { spec: Array<{ p: string[]; t?: unknown }> };
  assert.ok(restore.spec.some((op) => op.p.join('.') === 'istio.global.somethingUnmapped' && JSON.stringify(op.t) === '{"deep":[1,2,3]}'));
  assert.ok(restore.spec.some((op) => op.p.join('.') === 'networkType'));
  assert.equal(v2.metadata.annotations['example.com/owner'], 'platform');
});

test('v1 → v2 carries status conditions, components, annotations and generation over (MAISTRA-1979)', () => {
  const st = convertSmcpV1ToV2(v1Full).status as Obj;
  assert.deepEqual(st.conditions, conditions);
  assert.deepEqual(st.components, components);
  assert.deepEqual(st.annotations, { readyComponentCount: '8/9' });
  assert.equal(st.observedGeneration, 7);
  assert.equal(st.operatorVersion, '1.1.5');
  assert.deepEqual(st.appliedValues, v1Full.status.lastAppliedConfiguration);
  assert.deepEqual(st.appliedSpec, { version: 'v1.1', profiles: ['maistra'], security: { dataPlane: { mtls: true } }, tracing: { type: 'None' } });
});

test('v2 → v1 writes Helm values the charts read, and the status v1 clients read (MAISTRA-1979)', () => {
  const v2 = fixture('smcp-with-status.yaml');
  const v1 = convertSmcpV2ToV1(v2);
  assert.equal(v1.apiVersion, 'maistra.io/v1');
  const st = v1.status as Obj;
  assert.deepEqual(st.conditions, v2.status.conditions, 'READY and STATUS columns come from these');
  assert.deepEqual(st.components, v2.status.components);
  assert.deepEqual(st.annotations, v2.status.annotations);
  assert.equal(st.observedGeneration, 2);
  assert.equal(st.reconciledVersion, '2.0.11-2');
  assert.deepEqual(st.lastAppliedConfiguration, v2.status.appliedValues);

  const prod = convertSmcpV2ToV1(fixture('smcp-production.yaml')).spec as Obj;
  const iv = prod.istio as Obj;
  assert.deepEqual(prod.profiles, ['default']);
  assert.equal(prod.template, 'default', 'a single profile is also the v1 template, as the operator writes it');
  assert.equal(iv.global.mtls.enabled, true);
  assert.equal(iv.global.mtls.auto, true);
  assert.equal(iv.global.controlPlaneSecurityEnabled, true);
  assert.equal(iv.global.trustDomain, 'prod.example.com');
  assert.equal(iv.global.jwtPolicy, 'third-party-jwt');
  assert.equal(iv.pilot.traceSampling, 1);
  assert.equal(iv.tracing.provider, 'jaeger');
  assert.equal(iv.tracing.enabled, true);
  assert.equal(iv.tracing.jaeger.resourceName, 'jaeger-production');
  assert.equal(iv.tracing.jaeger.template, 'production-elasticsearch');
  assert.equal(iv.tracing.jaeger.elasticsearch.nodeCount, 3);
  assert.equal(iv.tracing.jaeger.elasticsearch.redundancyPolicy, 'SingleRedundancy');
  assert.deepEqual(iv.tracing.jaeger.esIndexCleaner, { enabled: true, numberOfDays: 7, schedule: '55 23 * * *' });
  assert.deepEqual(iv.tracing.jaeger.elasticsearch.resources, { requests: { cpu: '1', memory: '4Gi' }, limits: { memory: '4Gi' } }, 'the tracing.jaeger.elasticsearch component');
  assert.equal(iv.tracing.ingress.enabled, true);
  assert.equal(iv.global.proxy.tracer, 'zipkin');
  assert.deepEqual(iv.policy, { implementation: 'Istiod' });
  assert.equal(iv.mixer.policy.enabled, false);
  assert.deepEqual(iv.telemetry, { implementation: 'Istiod', enabled: true, v1: { enabled: false }, v2: { enabled: true } });
  assert.equal(iv.global.proxy.excludeIPRanges, '169.254.169.254/32');
  assert.equal(iv.global.proxy.excludeInboundPorts, '15090');
  assert.equal(iv.istio_cni.enabled, true);
  assert.equal(iv.gateways['istio-ingressgateway'].type, 'LoadBalancer');
  assert.equal(iv.gateways['istio-ingressgateway'].autoscaleMin, 2);
  assert.equal(iv.gateways['istio-ingressgateway'].ior_enabled, true);
  assert.equal(iv.gateways['istio-egressgateway'].env.ISTIO_META_REQUESTED_NETWORK_VIEW, 'external');
  assert.deepEqual(iv.gateways['partner-gateway'].secretVolumes, [{ name: 'partner-certs', secretName: 'partner-certs', mountPath: '/etc/partner/certs' }]);
  assert.equal(iv.gateways['partner-gateway'].gatewayType, 'ingress');
  assert.equal(iv.gateways['partner-gateway'].namespace, 'partner-edge');
  assert.equal(iv.pilot.replicaCount, 2);
  assert.deepEqual(iv.tracing.jaeger.elasticsearch.storage, { storageClassName: 'gp2', size: '50Gi' });
  assert.deepEqual(iv.kiali.dashboard, { viewOnlyMode: true, enableGrafana: true, enablePrometheus: true, enableTracing: true });
  assert.equal(iv.prometheus.retention, '7d');
  assert.deepEqual(iv.techPreview, { wasmExtensions: { enabled: true } });
  assert.deepEqual(iv.global.imagePullPolicy, 'IfNotPresent');

  const ts = convertSmcpV2ToV1({ apiVersion: 'maistra.io/v2', kind: 'ServiceMeshControlPlane', metadata: { name: 'x' }, spec: { addons: { '3scale': { enabled: true, listen_addr: 3333, backend: { enable_cache: true } } } } });
  assert.deepEqual((ts.spec as Obj).threeScale, { enabled: true, PARAM_THREESCALE_LISTEN_ADDR: 3333, PARAM_THREESCALE_USE_CACHED_BACKEND: true });
});

test('v2 → v1 → v2 is exact for the v2 fixtures, status included', () => {
  for (const f of ['smcp-basic.yaml', 'smcp-production.yaml', 'smcp-small.yaml', 'smcp-with-status.yaml']) roundTripV2(fixture(f));
});

test('v2 → v1 → v2 keeps readiness, chartVersion and appliedSpec, which v1 has no field for', () => {
  const v2 = fixture('smcp-with-status.yaml');
  const v1 = roundTripV2(v2);
  assert.ok(v1.metadata.annotations[V2_RESTORE_ANNOTATION], 'kept in the annotation');
  assert.equal(v1.status.readiness, undefined);
});

test('v1 → v2 → v1 is exact for realistic v1 resources', () => {
  roundTripV1(fixture('smcp-v1.yaml'));
  roundTripV1(v1Full);
  roundTripV1({ ...fixture('smcp-v1.yaml'), status: { conditions, components, observedGeneration: 1, annotations: { readyComponentCount: '9/9' }, reconciledVersion: '1.1.2-1', lastAppliedConfiguration: {} } });
  // A template and no profiles, odd Helm values, and a status that was never reconciled.
  roundTripV1({
    apiVersion: 'maistra.io/v1', kind: 'ServiceMeshControlPlane', metadata: { name: 'odd', namespace: 'mesh-b', annotations: {} },
    spec: { version: 'v1.0', template: 'servicemesh', istio: { global: { mtls: { enabled: 'true' }, proxy: { excludeOutboundPorts: '80, abc', autoInject: 'enabled' } }, pilot: { traceSampling: 0.01 }, gateways: { 'istio-ingressgateway': {} } } },
    status: { conditions: [], lastAppliedConfiguration: {} },
  });
  // A sampling rate so large that scaling it to hundredths would overflow.
  roundTripV1({ apiVersion: 'maistra.io/v1', kind: 'ServiceMeshControlPlane', spec: { istio: { pilot: { traceSampling: 1.797693134862316e306 } } } });
  // No metadata at all, no spec, no status.
  roundTripV1({ apiVersion: 'maistra.io/v1', kind: 'ServiceMeshControlPlane', spec: { istio: { global: { hub: 'x' } } } });
  roundTripV1({ apiVersion: 'maistra.io/v1', kind: 'ServiceMeshControlPlane', metadata: { name: 'empty' } });
});

test('a round trip adds no annotation when nothing needs restoring', () => {
  const v2: Obj = { apiVersion: 'maistra.io/v2', kind: 'ServiceMeshControlPlane', metadata: { name: 'basic' }, spec: { version: 'v2.0', security: { dataPlane: { mtls: true } } } };
  const v1 = roundTripV2(v2);
  // v1 carries the Helm values; the only thing v2 lacks there is nothing, so no annotation is needed.
  assert.equal(v1.metadata.annotations, undefined);
  assert.equal(v1.spec.istio.global.mtls.enabled, true);
});

test('fields edited after conversion keep the edit; what v2 cannot hold is still restored', () => {
  const v2 = convertSmcpV1ToV2(v1Full) as Obj;
  v2.spec.tracing.sampling = 5000;
  v2.spec.addons.grafana.enabled = true;
  delete v2.spec.security.dataPlane.mtls;
  const v1 = convertSmcpV2ToV1(v2) as Obj;
  const iv = v1.spec.istio as Obj;
  assert.equal(iv.pilot.traceSampling, 50, 'the edit wins over the restored 0.125');
  assert.equal(iv.grafana.enabled, true);
  assert.equal(iv.global.mtls.enabled, undefined, 'a field removed in v2 stays removed');
  assert.equal(iv.global.mtls.auto, false);
  assert.deepEqual(iv.global.somethingUnmapped, { deep: [1, 2, 3] });
  assert.equal(v1.spec.networkType, 'networkpolicy');
  assert.equal(v1.spec.threeScale.PARAM_UNKNOWN, 'x');
  assert.equal(v1.spec.threeScale.image, '3scale-istio-adapter-rhel8');
  assert.equal(v1.metadata.annotations[V1_RESTORE_ANNOTATION], undefined, 'consumed');
  assert.equal(v1.metadata.annotations['example.com/owner'], 'platform');
});

test('conversion never modifies its input', () => {
  const v1 = structuredClone(v1Full);
  deepFreeze(v1);
  const v2 = convertSmcpV1ToV2(v1);
  deepFreeze(v2);
  convertSmcpV2ToV1(v2);
  assert.deepStrictEqual(v1, v1Full);
});

test('a restore annotation cannot reach a prototype, and garbage in it is ignored', () => {
  const hostile: Obj = {
    apiVersion: 'maistra.io/v2', kind: 'ServiceMeshControlPlane',
    metadata: { name: 'x', annotations: { [V1_RESTORE_ANNOTATION]: JSON.stringify({ spec: [{ p: ['__proto__', 'polluted'], t: true }, { p: ['constructor', 'prototype', 'polluted'], t: true }, { p: ['istio', '__proto__'], f: undefined, t: { polluted: true } }] }) } },
    spec: { version: 'v2.0' },
  };
  const v1 = convertSmcpV2ToV1(hostile);
  assert.equal(({} as Obj).polluted, undefined);
  assert.equal(Object.getPrototypeOf(v1.spec), Object.prototype);
  for (const garbage of ['not json', '[]', '{"spec": "nope"}', '{"spec": [{"p": "x"}]}']) {
    const out = convertSmcpV2ToV1({ ...hostile, metadata: { name: 'x', annotations: { [V1_RESTORE_ANNOTATION]: garbage } } });
    assert.equal((out.spec as Obj).version, 'v2.0');
    assert.equal((out.metadata as Obj).annotations?.[V1_RESTORE_ANNOTATION], undefined);
  }
});

test('converted resources validate in their new version', () => {
  const v1 = convertSmcpV2ToV1(fixture('smcp-basic.yaml'));
  // The v1 API refuses version v2.0, exactly as the operator does; everything else is well-formed.
  assert.deepEqual(validateResource(v1).errors.map((e) => e.rule), ['smcp.version']);
  const v2 = convertSmcpV1ToV2({ ...fixture('smcp-v1.yaml') });
  assert.deepEqual(validateResource(v2).errors.map((e) => e.rule), ['smcp.version'], 'v2 refuses v1.1, which Meltemi does not install');
  const upgraded = convertSmcpV1ToV2({ ...fixture('smcp-v1.yaml'), spec: { ...fixture('smcp-v1.yaml').spec, version: 'v2.0' } });
  assert.deepEqual(validateResource(upgraded).errors, []);
});

test('restore operations: diff then apply rebuilds the target, and skip changed fields', () => {
  const from = { a: { b: 1, c: [1, 2] }, d: 'x', gone: true };
  const to = { a: { b: 2, c: [1, 2], n: null }, d: 'x', added: { deep: {} } };
  const ops = diffJson(from, to);
  assert.deepStrictEqual(applyRestore(from, ops), to);
  assert.deepStrictEqual(applyRestore({ ...from, a: { b: 9, c: [1, 2] } }, ops), { a: { b: 9, c: [1, 2], n: null }, d: 'x', added: { deep: {} } }, 'b was edited: kept');
  assert.deepStrictEqual(from, { a: { b: 1, c: [1, 2] }, d: 'x', gone: true });
});

// ---------------------------------------------------------------------------------------------
// Properties. SMCP_RUNS=20000 runs them longer when hunting for counterexamples.

const json = <T>(arb: fc.Arbitrary<T>) => arb.map((v) => JSON.parse(JSON.stringify(v)) as T); // as stored: plain objects, no -0, no undefined
const opt = <T extends Record<string, fc.Arbitrary<unknown>>>(r: T) => fc.record(r, { requiredKeys: [] });
const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
const port = fc.integer({ min: 1, max: 65535 });
const anything = json(fc.jsonValue({ maxDepth: 2 }));
const resources = opt({ requests: opt({ cpu: fc.constantFrom('10m', '500m', '1', 2), memory: fc.constantFrom('128Mi', '1Gi') }), limits: opt({ cpu: fc.constantFrom('1', '2'), memory: fc.constantFrom('1Gi') }) });
const runtime = opt({
  deployment: opt({ replicas: fc.nat(5), autoScaling: opt({ enabled: fc.boolean(), minReplicas: fc.integer({ min: 1, max: 3 }), maxReplicas: fc.integer({ min: 3, max: 9 }), targetCPUUtilizationPercentage: fc.integer({ min: 1, max: 100 }) }) }),
  pod: opt({ nodeSelector: fc.dictionary(name, name, { maxKeys: 2 }), tolerations: fc.array(opt({ key: name, operator: fc.constantFrom('Exists', 'Equal') }), { maxLength: 2 }), metadata: opt({ annotations: fc.dictionary(name, fc.string(), { maxKeys: 2 }) }) }),
  container: opt({ imageRegistry: fc.constantFrom('quay.io/maistra', 'registry.redhat.io/openshift-service-mesh'), imageName: name, imageTag: fc.constantFrom('2.0.11', 'latest'), imagePullPolicy: fc.constantFrom('Always', 'IfNotPresent'), resources, env: fc.dictionary(fc.constantFrom('A', 'B'), fc.string(), { maxKeys: 2 }) }),
});
const gateway = opt({
  enabled: fc.boolean(),
  namespace: name,
  service: opt({ type: fc.constantFrom('ClusterIP', 'LoadBalancer'), ports: fc.array(opt({ name, port, targetPort: port }), { maxLength: 3 }), metadata: opt({ labels: fc.dictionary(name, name, { maxKeys: 2 }) }) }),
  routerMode: fc.constantFrom('sni-dnat', 'standard'),
  volumes: fc.array(fc.oneof(
    fc.record({ volume: fc.record({ secret: fc.record({ secretName: name }) }), volumeMount: fc.record({ name, mountPath: fc.constant('/etc/certs') }) }),
    fc.record({ volume: fc.record({ configMap: fc.record({ name }) }), volumeMount: opt({ name, mountPath: fc.constant('/etc/cfg'), readOnly: fc.boolean() }) }),
  ), { maxLength: 3 }),
  runtime,
});
const v2Spec = opt({
  version: fc.constantFrom('v2.0', 'v1.1', 'v1.0', ''),
  profiles: fc.array(fc.constantFrom('base', 'small', 'default', 'maistra', 'servicemesh'), { maxLength: 3 }),
  cluster: fc.oneof(opt({ name, network: name, multiCluster: opt({ enabled: fc.boolean() }), meshExpansion: opt({ enabled: fc.boolean() }) }), anything),
  general: opt({ logging: opt({ componentLevels: fc.dictionary(fc.constantFrom('default', 'ads', 'model'), fc.constantFrom('debug', 'info', 'warn')), logAsJSON: fc.boolean() }), validationMessages: fc.boolean() }),
  policy: opt({ type: fc.constantFrom('None', 'Istiod', 'Mixer', 'Remote'), mixer: opt({ enableChecks: fc.boolean(), failOpen: fc.boolean() }), remote: opt({ address: fc.domain(), createService: fc.boolean() }) }),
  telemetry: opt({ type: fc.constantFrom('None', 'Istiod', 'Mixer', 'Remote'), remote: opt({ address: fc.domain() }), mixer: opt({ batching: opt({ maxEntries: fc.nat(100), maxTime: fc.constantFrom('1s', '10ms') }) }) }),
  tracing: opt({ type: fc.constantFrom('None', 'Jaeger', 'Stackdriver'), sampling: fc.integer({ min: 0, max: 10000 }) }),
  proxy: opt({
    logging: opt({ level: fc.constantFrom('info', 'warning', 'debug'), componentLevels: fc.dictionary(fc.constantFrom('misc', 'http'), fc.constantFrom('error', 'debug')) }),
    concurrency: fc.nat(8),
    adminPort: port,
    networking: opt({
      clusterDomain: fc.domain(),
      initialization: opt({ type: fc.constantFrom('CNI', 'InitContainer') }),
      trafficControl: opt({
        inbound: opt({ interceptionMode: fc.constantFrom('REDIRECT', 'TPROXY'), includedPorts: fc.array(fc.constantFrom('*', '8080', '9090'), { maxLength: 3 }), excludedPorts: fc.array(port, { maxLength: 3 }) }),
        outbound: opt({ includedIPRanges: fc.array(fc.constantFrom('*', '10.0.0.0/8', 'fd00::/8'), { maxLength: 2 }), excludedIPRanges: fc.array(fc.constantFrom('169.254.169.254/32', '192.168.0.0/16'), { maxLength: 2 }), excludedPorts: fc.array(port, { maxLength: 2 }), policy: fc.constantFrom('ALLOW_ANY', 'REGISTRY_ONLY') }),
      }),
      protocol: opt({ autoDetect: opt({ timeout: fc.constantFrom('100ms', '1s'), inbound: fc.boolean(), outbound: fc.boolean() }) }),
      dns: opt({ refreshRate: fc.constantFrom('300s', '60s'), searchSuffixes: fc.array(fc.domain(), { maxLength: 2 }) }),
    }),
    runtime: opt({ readiness: opt({ rewriteApplicationProbes: fc.boolean(), statusPort: port, periodSeconds: fc.integer({ min: 1, max: 10 }) }), container: opt({ resources }) }),
    injection: opt({ autoInject: fc.boolean(), injectedAnnotations: fc.dictionary(name, fc.string(), { maxKeys: 2 }), neverInjectSelector: fc.array(opt({ matchLabels: fc.dictionary(name, name, { maxKeys: 2 }) }), { maxLength: 2 }) }),
    accessLogging: opt({ file: opt({ name: fc.constantFrom('/dev/stdout', ''), encoding: fc.constantFrom('TEXT', 'JSON'), format: fc.string() }), envoyService: opt({ enabled: fc.boolean(), address: fc.constant('als.example.com:9000') }) }),
  }),
  security: opt({
    trust: opt({ domain: fc.domain(), additionalDomains: fc.array(fc.domain(), { maxLength: 2 }) }),
    certificateAuthority: opt({
      type: fc.constantFrom('Istiod', 'Custom'),
      istiod: opt({ type: fc.constantFrom('SelfSigned', 'PrivateKey'), selfSigned: opt({ ttl: fc.constantFrom('87600h'), gracePeriod: fc.constantFrom('20%'), checkPeriod: fc.constantFrom('1h'), enableJitter: fc.boolean() }), privateKey: opt({ rootCADir: fc.constantFrom('/etc/cacerts') }), workloadCertTTLDefault: fc.constantFrom('24h', '1h'), workloadCertTTLMax: fc.constantFrom('2160h') }),
      custom: opt({ address: fc.constant('ca.example.com:15012') }),
    }),
    identity: opt({ type: fc.constantFrom('Kubernetes', 'ThirdParty'), thirdParty: opt({ issuer: fc.webUrl(), audience: fc.constantFrom('istio-ca') }) }),
    controlPlane: opt({ mtls: fc.boolean(), certProvider: fc.constantFrom('Istiod', 'Kubernetes', 'Custom'), tls: opt({ cipherSuites: fc.array(fc.constantFrom('ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384'), { maxLength: 2 }), minProtocolVersion: fc.constantFrom('TLSv1_2'), maxProtocolVersion: fc.constantFrom('TLSv1_3') }) }),
    dataPlane: opt({ mtls: fc.boolean(), automtls: fc.boolean() }),
  }),
  gateways: opt({
    enabled: fc.boolean(),
    ingress: fc.tuple(gateway, opt({ ingress: fc.boolean(), sds: opt({ enabled: fc.boolean() }), meshExpansionPorts: fc.array(opt({ name, port }), { maxLength: 1 }) })).map(([g, x]) => ({ ...g, ...x })),
    egress: fc.tuple(gateway, opt({ requestedNetworkView: fc.array(name, { maxLength: 2 }) })).map(([g, x]) => ({ ...g, ...x })),
    additionalIngress: fc.dictionary(name, gateway, { maxKeys: 2 }),
    additionalEgress: fc.dictionary(name, gateway, { maxKeys: 2 }),
    openshiftRoute: opt({ enabled: fc.boolean() }),
  }),
  runtime: opt({
    components: fc.dictionary(fc.constantFrom(...SMCP_COMPONENT_NAMES), runtime, { maxKeys: 4 }),
    defaults: opt({ container: opt({ imageRegistry: name, imageTag: name, imagePullSecrets: fc.array(fc.record({ name }), { maxLength: 2 }), resources }), pod: opt({ nodeSelector: fc.dictionary(name, name, { maxKeys: 2 }), priorityClassName: name }), deployment: opt({ podDisruption: opt({ enabled: fc.boolean(), minAvailable: fc.oneof(fc.nat(3), fc.constant('50%')) }) }) }),
  }),
  addons: opt({
    prometheus: opt({ enabled: fc.boolean(), scrape: fc.boolean(), install: opt({ retention: fc.constantFrom('6h', '7d'), scrapeInterval: fc.constantFrom('15s'), useTLS: fc.boolean() }), address: fc.webUrl() }),
    grafana: opt({ enabled: fc.boolean(), install: opt({ config: opt({ env: fc.dictionary(name, fc.string(), { maxKeys: 2 }) }), persistence: opt({ enabled: fc.boolean(), accessMode: fc.constantFrom('ReadWriteOnce') }) }), address: fc.webUrl() }),
    kiali: opt({ enabled: fc.boolean(), name, install: opt({ dashboard: opt({ viewOnly: fc.boolean(), enableGrafana: fc.boolean() }) }) }),
    jaeger: opt({ name, install: opt({ storage: opt({ type: fc.constantFrom('Memory', 'Elasticsearch'), memory: opt({ maxTraces: fc.integer({ min: 1, max: 100000 }) }), elasticsearch: opt({ nodeCount: fc.integer({ min: 1, max: 5 }), redundancyPolicy: fc.constantFrom('ZeroRedundancy'), storage: json(fc.object({ maxDepth: 1 })) }) }), ingress: opt({ enabled: fc.boolean() }) }) }),
    '3scale': opt({ enabled: fc.boolean(), listen_addr: port, log_level: fc.constantFrom('debug', 'info'), metrics: opt({ port, report: fc.boolean() }), backend: opt({ enable_cache: fc.boolean() }) }),
    stackdriver: opt({ tracer: opt({ debug: fc.boolean() }) }),
  }),
  techPreview: json(fc.object({ maxDepth: 2 })),
});
const statusV2 = opt({
  annotations: fc.dictionary(fc.constantFrom('readyComponentCount', 'x'), fc.string(), { maxKeys: 2 }),
  conditions: fc.array(opt({ type: fc.constantFrom('Installed', 'Reconciled', 'Ready'), status: fc.constantFrom('True', 'False', 'Unknown'), reason: name, message: fc.string(), lastTransitionTime: fc.constant('2021-03-01T10:00:00Z') }), { maxLength: 3 }),
  observedGeneration: fc.nat(50),
  operatorVersion: fc.constantFrom('2.0.11', '2.0.0'),
  chartVersion: fc.constantFrom('2.0.11'),
  components: fc.array(opt({ resource: name, conditions: fc.array(opt({ type: fc.constant('Installed'), status: fc.constant('True') }), { maxLength: 1 }) }), { maxLength: 2 }),
  readiness: opt({ components: opt({ ready: fc.array(name, { maxLength: 3 }), pending: fc.array(name, { maxLength: 1 }), unready: fc.array(name, { maxLength: 1 }) }) }),
  appliedSpec: fc.constant({ version: 'v2.0', profiles: ['default'] }),
  appliedValues: json(fc.object({ maxDepth: 2 })),
});
const metadata = opt({ name, namespace: name, generation: fc.nat(50), annotations: fc.dictionary(fc.constantFrom('a', 'example.com/b'), fc.string(), { maxKeys: 2 }), labels: fc.dictionary(name, name, { maxKeys: 1 }) });

test('property: v2 → v1 → v2 is the identity for generated control planes, spec and status', { timeout: 120_000 }, () => {
  const smcp = json(fc.record({ apiVersion: fc.constant('maistra.io/v2'), kind: fc.constant('ServiceMeshControlPlane'), metadata, spec: v2Spec, status: statusV2 }, { requiredKeys: ['apiVersion', 'kind'] }));
  fc.assert(fc.property(smcp, (v2) => { roundTripV2(v2 as Obj); }), { numRuns: Number(process.env.SMCP_RUNS ?? 400) });
});

test('property: v1 → v2 → v1 is the identity for generated Helm values, including odd types', { timeout: 120_000 }, () => {
  const odd = fc.oneof(fc.boolean(), fc.string(), fc.integer(), fc.constantFrom('1,2', 'a, b', '', 'enabled', 'disabled', 'default:warn', 'istiod', 'all-in-one', 'jaeger', 'Istiod', 'egress'), anything);
  const gw = opt({ enabled: odd, gatewayType: odd, namespace: odd, ports: odd, replicaCount: odd, env: opt({ ISTIO_META_ROUTER_MODE: odd, ISTIO_META_REQUESTED_NETWORK_VIEW: odd }), sds: opt({ enabled: odd }), secretVolumes: fc.array(opt({ name: odd, secretName: odd, mountPath: odd }), { maxLength: 2 }), ior_enabled: odd, labels: odd });
  const istio = opt({
    global: opt({ mtls: opt({ enabled: odd, auto: odd }), proxy: opt({ logLevel: odd, componentLogLevel: odd, excludeInboundPorts: odd, includeIPRanges: odd, autoInject: odd, initType: odd, tracer: odd }), hub: odd, tag: odd, imagePullSecrets: odd, jwtPolicy: odd, pilotCertProvider: odd, istioRemote: odd, k8sIngress: opt({ enabled: odd }), logging: opt({ level: odd }) }),
    pilot: opt({ traceSampling: fc.oneof(odd, fc.double({ min: 0, max: 100, noNaN: true })), replicaCount: odd, resources: odd }),
    mixer: opt({ policy: opt({ enabled: odd }), telemetry: opt({ enabled: odd }) }),
    policy: opt({ implementation: odd }),
    telemetry: opt({ implementation: odd, enabled: odd }),
    tracing: opt({ enabled: odd, provider: odd, jaeger: opt({ template: odd, resourceName: odd }) }),
    istio_cni: opt({ enabled: odd }),
    gateways: fc.oneof(fc.dictionary(fc.constantFrom('enabled', 'istio-ingressgateway', 'istio-egressgateway', 'istio-ilbgateway', 'edge'), fc.oneof(gw, odd), { maxKeys: 4 }), odd),
    kiali: opt({ enabled: odd }),
    techPreview: odd,
  });
  const spec = opt({ version: fc.constantFrom('v1.0', 'v1.1', 'v2.0', ''), template: fc.constantFrom('default', 'maistra', ''), profiles: fc.oneof(fc.array(fc.constantFrom('maistra', 'base'), { maxLength: 2 }), odd), networkType: fc.constantFrom('subnet', 'multitenant'), istio: fc.oneof(istio, odd), threeScale: fc.oneof(opt({ enabled: odd, PARAM_THREESCALE_LISTEN_ADDR: odd, PARAM_THREESCALE_LOG_LEVEL: odd }), odd) });
  const status = opt({ annotations: fc.dictionary(name, fc.string(), { maxKeys: 2 }), conditions: fc.array(opt({ type: name, status: fc.constantFrom('True', 'False') }), { maxLength: 2 }), observedGeneration: fc.nat(9), reconciledVersion: fc.constantFrom('1.1.2-3', '2.0.0', '-1', ''), components: fc.array(opt({ resource: name }), { maxLength: 2 }), lastAppliedConfiguration: fc.oneof(spec, odd) });
  const smcp = json(fc.record({ apiVersion: fc.constant('maistra.io/v1'), kind: fc.constant('ServiceMeshControlPlane'), metadata, spec, status }, { requiredKeys: ['apiVersion', 'kind'] }));
  fc.assert(fc.property(smcp, (v1) => { roundTripV1(v1 as Obj); }), { numRuns: Number(process.env.SMCP_RUNS ?? 400) });
});
