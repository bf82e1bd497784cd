// The injected pod: the sidecar's command, flags, environment and security context, the proxy UID rules, the INJ-05 annotations and labels, purity and idempotence, annotation errors, and the interception the CNI plugin derives from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyProfiles } from '../../src/api/smcp-profiles.js';
import { natRules } from '../../src/cni/iptables.js';
import { injectionSettingsFromControlPlane, type InjectionContext, type Pod } from '../../src/injector/context.js';
import { appendNetwork, injectIfRequired, injectPod, interceptionOf, sidecarStatusOf, type InjectionResult } from '../../src/injector/inject.js';
import { isMeshError } from '../../src/shared/errors.js';

function pod(opts: { annotations?: Record<string, string>; labels?: Record<string, string>; spec?: Partial<Pod['spec']>; name?: string } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: opts.name ?? 'reviews-v1-545db77b95-8pk2l',
      namespace: 'bookinfo',
      labels: opts.labels ?? { app: 'reviews', version: 'v1' },
      annotations: { 'sidecar.istio.io/inject': 'true', ...(opts.annotations ?? {}) },
    },
    spec: {
      serviceAccountName: 'bookinfo-reviews',
      containers: [{ name: 'reviews', image: 'reviews:1', command: ['node', 'reviews.js'], ports: [{ name: 'http', containerPort: 9080 }] }],
      ...(opts.spec ?? {}),
    },
  };
}

const ctx: InjectionContext = {
  members: 'all',
  discoveryAddress: '10.77.0.1:15010',
  cni: true,
  identity: { caAddress: '10.77.0.1:15012', rootCertFile: '/run/meltemi/pods/reviews/root-cert.pem', tokenFile: '/run/meltemi/pods/reviews/istio-token' },
  proxyCommand: ['/usr/bin/node', '/opt/meltemi/bin/meltemi.js'],
};

const sidecarOf = (r: InjectionResult) => {
  const c = r.pod.spec.containers?.find((x) => x.name === 'istio-proxy');
  assert.ok(c, 'no istio-proxy container');
  return c;
};
const annotationsOf = (r: InjectionResult) => r.pod.metadata.annotations ?? {};
const securityOf = (r: InjectionResult) => sidecarOf(r).securityContext as { runAsUser: number; runAsGroup: number };
const flag = (args: readonly string[] | undefined, name: string) => {
  const i = (args ?? []).indexOf(name);
  return i < 0 ? undefined : args![i + 1];
};

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

test('the sidecar runs `<proxyCommand> proxy` with the discovery, identity, capture and pod flags', () => {
  const r = injectPod(pod(), ctx);
  assert.equal(r.injected, true);
  const c = sidecarOf(r);
  assert.deepEqual(r.pod.spec.containers?.map((x) => x.name), ['reviews', 'istio-proxy'], 'appended after the app containers');
  assert.deepEqual(c.command, ['/usr/bin/node', '/opt/meltemi/bin/meltemi.js', 'proxy']);
  assert.deepEqual(c.args, [
    '--type', 'sidecar',
    '--discovery', '10.77.0.1:15010',
    '--service-account', 'bookinfo-reviews',
    '--labels', 'app=reviews,security.istio.io/tlsMode=istio,service.istio.io/canonical-name=reviews,service.istio.io/canonical-revision=v1,version=v1',
    '--capture',
    '--ca-addr', '10.77.0.1:15012',
    '--ca-root', '/run/meltemi/pods/reviews/root-cert.pem',
    '--token-file', '/run/meltemi/pods/reviews/istio-token',
    '--drain-seconds', '5',
  ]);
  assert.deepEqual(c.ports, [{ containerPort: 15090, protocol: 'TCP', name: 'http-envoy-prom' }]);
  assert.deepEqual(c.readinessProbe, { httpGet: { path: '/healthz/ready', port: 15021 }, initialDelaySeconds: 1, periodSeconds: 2, failureThreshold: 30 });
  assert.deepEqual(c.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2000m', memory: '1024Mi' } });
});

test('the command defaults to `meltemi proxy`; extra flags come last; no identity means no CA flags; the default service account is `default`', () => {
  const p = pod();
  delete p.spec.serviceAccountName;
  const r = injectPod(p, { members: 'all', discoveryAddress: '127.0.0.1:15010', cni: true, extraProxyArgs: ['--admin-port', '0'] });
  const c = sidecarOf(r);
  assert.deepEqual(c.command, ['meltemi', 'proxy']);
  assert.equal(flag(c.args, '--service-account'), 'default');
  assert.equal(flag(c.args, '--ca-addr'), undefined);
  assert.equal(flag(c.args, '--token-file'), undefined);
  assert.deepEqual(c.args?.slice(-2), ['--admin-port', '0']);
});

test('pod name, namespace and IP reach the proxy through the downward API, as Istio sets them', () => {
  const c = sidecarOf(injectPod(pod(), ctx));
  assert.deepEqual(c.env, [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'INSTANCE_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
    { name: 'CANONICAL_SERVICE', valueFrom: { fieldRef: { fieldPath: "metadata.labels['service.istio.io/canonical-name']" } } },
    { name: 'CANONICAL_REVISION', valueFrom: { fieldRef: { fieldPath: "metadata.labels['service.istio.io/canonical-revision']" } } },
    { name: 'NODE_OPTIONS', value: '--max-semi-space-size=4' },
  ]);
});

test('the proxy\'s NODE_OPTIONS (its V8 young generation) can be replaced through sidecar.maistra.io/proxyEnv', () => {
  const c = sidecarOf(injectPod(pod({ annotations: { 'sidecar.maistra.io/proxyEnv': '{"NODE_OPTIONS": "--max-semi-space-size=8"}' } }), ctx));
  assert.deepEqual(c.env?.filter((e) => e.name === 'NODE_OPTIONS'), [{ name: 'NODE_OPTIONS', value: '--max-semi-space-size=8' }]);
});

test('sidecar.maistra.io/proxyEnv adds environment variables to the proxy, sorted by name', () => {
  const c = sidecarOf(injectPod(pod({ annotations: { 'sidecar.maistra.io/proxyEnv': '{"ZED": "1", "ALPHA": "two"}' } }), ctx));
  assert.deepEqual(c.env?.slice(-2), [{ name: 'ALPHA', value: 'two' }, { name: 'ZED', value: '1' }]);
});

test('without the CNI plugin there is no --capture and no network annotation; interception mode NONE also runs uncaptured', () => {
  const plain = injectPod(pod(), { ...ctx, cni: false });
  assert.equal(flag(sidecarOf(plain).args, '--capture'), undefined);
  assert.ok(!sidecarOf(plain).args?.includes('--capture'));
  assert.equal(annotationsOf(plain)['k8s.v1.cni.cncf.io/networks'], undefined);
  const none = injectPod(pod({ annotations: { 'sidecar.istio.io/interceptionMode': 'NONE' } }), ctx);
  assert.ok(!sidecarOf(none).args?.includes('--capture'));
  assert.equal(annotationsOf(none)['sidecar.istio.io/interceptionMode'], 'NONE');
  assert.equal(interceptionOf(none.pod), undefined);
});

test('INJ-04: proxy UID from the annotation, else the largest app runAsUser + 1, else 1337; fsGroup from the app UID', () => {
  const cases: Array<[string, Pod, number, number, number]> = [
    ['nothing set', pod(), 1337, 1337, 1337],
    ['annotation', pod({ annotations: { 'sidecar.istio.io/proxyUID': '2000' } }), 2000, 2000, 1337],
    ['pod runAsUser', pod({ spec: { securityContext: { runAsUser: 1000680000 } } }), 1000680001, 1000680001, 1000680000],
    [
      'largest container wins, group from the first container',
      pod({ spec: { containers: [{ name: 'a', image: 'a', securityContext: { runAsUser: 1000 } }, { name: 'b', image: 'b', securityContext: { runAsUser: 3000 } }] } }),
      3001, 3001, 1000,
    ],
    [
      'pod and container: the larger + 1, group from the pod',
      pod({ spec: { securityContext: { runAsUser: 5000 }, containers: [{ name: 'a', image: 'a', securityContext: { runAsUser: 3000 } }] } }),
      5001, 5001, 5000,
    ],
    [
      'init containers do not count',
      pod({ spec: { initContainers: [{ name: 'init', image: 'i', securityContext: { runAsUser: 9000 } }] } }),
      1337, 1337, 1337,
    ],
    ['annotation beats runAsUser', pod({ annotations: { 'sidecar.istio.io/proxyUID': '1500' }, spec: { securityContext: { runAsUser: 4000 } } }), 1500, 1500, 1337],
    ['proxyGID sets the group', pod({ annotations: { 'sidecar.istio.io/proxyUID': '1500', 'sidecar.istio.io/proxyGID': '1600' } }), 1500, 1600, 1337],
  ];
  for (const [what, p, uid, gid, fsGroup] of cases) {
    const r = injectPod(p, ctx);
    assert.equal(securityOf(r).runAsUser, uid, what);
    assert.equal(securityOf(r).runAsGroup, gid, what);
    assert.equal((r.pod.spec.securityContext as { fsGroup: number }).fsGroup, fsGroup, what);
    // The CNI plugin excludes exactly the UID and GID the proxy runs as.
    const settings = interceptionOf(r.pod)!;
    assert.equal(settings.proxyUid, uid, what);
    assert.equal(settings.proxyGid, gid, what);
  }
});

test('INJ-04: a derived UID is also written as sidecar.istio.io/proxyUID, so a CNI plugin reading only annotations agrees', () => {
  const r = injectPod(pod({ spec: { securityContext: { runAsUser: 1000 } } }), ctx);
  assert.equal(annotationsOf(r)['sidecar.istio.io/proxyUID'], '1001');
  assert.equal(annotationsOf(injectPod(pod(), ctx))['sidecar.istio.io/proxyUID'], undefined, 'not for the default 1337');
  // The pod's security context keeps its other fields.
  assert.deepEqual(r.pod.spec.securityContext, { runAsUser: 1000, fsGroup: 1000 });
});

test('the sidecar runs unprivileged, as the template has it', () => {
  assert.deepEqual(sidecarOf(injectPod(pod(), ctx)).securityContext, {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL', 'KILL', 'MKNOD', 'SETGID', 'SETUID'] },
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsGroup: 1337,
    runAsNonRoot: true,
    runAsUser: 1337,
  });
});

test('INJ-05: status, interception mode and the resolved traffic annotations, with Maistra 2.0 defaults', () => {
  const r = injectPod(pod(), ctx);
  const a = annotationsOf(r);
  assert.deepEqual(sidecarStatusOf(r.pod), { version: 'meltemi-injection-1', initContainers: null, containers: ['istio-proxy'], volumes: null, imagePullSecrets: null });
  assert.equal(a['sidecar.istio.io/status'], '{"version":"meltemi-injection-1","initContainers":null,"containers":["istio-proxy"],"volumes":null,"imagePullSecrets":null}');
  assert.equal(a['sidecar.istio.io/interceptionMode'], 'REDIRECT');
  assert.equal(a['traffic.sidecar.istio.io/includeOutboundIPRanges'], '*');
  assert.equal(a['traffic.sidecar.istio.io/includeInboundPorts'], '*');
  assert.equal(a['traffic.sidecar.istio.io/excludeInboundPorts'], '15090,15021');
  assert.equal(a['k8s.v1.cni.cncf.io/networks'], 'v2-0-istio-cni');
  // Empty values are not written.
  assert.equal(a['traffic.sidecar.istio.io/excludeOutboundIPRanges'], undefined);
  assert.equal(a['traffic.sidecar.istio.io/excludeOutboundPorts'], undefined);
  // The pod's own annotations stay, in their place.
  assert.equal(Object.keys(a)[0], 'sidecar.istio.io/inject');
});

test('INJ-05: pod annotations win over the defaults; the status port joins the excluded inbound ports', () => {
  const a = annotationsOf(
    injectPod(
      pod({
        annotations: {
          'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.96.0.0/12',
          'traffic.sidecar.istio.io/excludeOutboundIPRanges': '169.254.169.254/32',
          'traffic.sidecar.istio.io/includeInboundPorts': '9080',
          'traffic.sidecar.istio.io/excludeInboundPorts': '8080, 9090',
          'traffic.sidecar.istio.io/excludeOutboundPorts': '5432',
          'status.sidecar.istio.io/port': '15020',
        },
      }),
      ctx,
    ),
  );
  assert.equal(a['traffic.sidecar.istio.io/includeOutboundIPRanges'], '10.96.0.0/12');
  assert.equal(a['traffic.sidecar.istio.io/excludeOutboundIPRanges'], '169.254.169.254/32');
  assert.equal(a['traffic.sidecar.istio.io/includeInboundPorts'], '9080');
  assert.equal(a['traffic.sidecar.istio.io/excludeInboundPorts'], '15090,8080,9090,15020');
  assert.equal(a['traffic.sidecar.istio.io/excludeOutboundPorts'], '5432');
  const already = annotationsOf(injectPod(pod({ annotations: { 'traffic.sidecar.istio.io/excludeInboundPorts': '15021' } }), ctx));
  assert.equal(already['traffic.sidecar.istio.io/excludeInboundPorts'], '15090,15021', 'a status port already excluded is not repeated');
});

test('status port 0 drops the sidecar readiness probe and adds no excluded port', () => {
  const r = injectPod(pod({ annotations: { 'status.sidecar.istio.io/port': '0' } }), ctx);
  assert.equal(sidecarOf(r).readinessProbe, undefined);
  assert.equal(annotationsOf(r)['traffic.sidecar.istio.io/excludeInboundPorts'], '15090');
});

test('SMCP defaults (OP-13) feed the annotations; included ports [""] mean the TCP container ports', () => {
  const settings = injectionSettingsFromControlPlane('istio-system', 'basic', applyProfiles({
    proxy: {
      networking: { trafficControl: { inbound: { includedPorts: [''], excludedPorts: [8443] }, outbound: { excludedIPRanges: ['10.0.0.0/8', '172.16.0.0/12'], excludedPorts: [3306] } } },
      runtime: { readiness: { initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 }, container: { resources: { requests: { cpu: '50m' } } } },
      accessLogging: { file: { name: '/dev/stdout', encoding: 'JSON' } },
      injection: { injectedAnnotations: { 'openshift.io/scc': 'restricted' } },
    },
  }));
  const p = pod({ spec: { containers: [{ name: 'app', image: 'a', ports: [{ containerPort: 9080 }, { containerPort: 5353, protocol: 'UDP' }, { containerPort: 9443, protocol: 'TCP' }] }] } });
  const r = injectPod(p, { ...ctx, ...settings });
  const a = annotationsOf(r);
  assert.equal(a['traffic.sidecar.istio.io/includeInboundPorts'], '9080,9443');
  assert.equal(a['traffic.sidecar.istio.io/excludeInboundPorts'], '15090,8443,15021');
  assert.equal(a['traffic.sidecar.istio.io/excludeOutboundIPRanges'], '10.0.0.0/8,172.16.0.0/12');
  assert.equal(a['traffic.sidecar.istio.io/excludeOutboundPorts'], '3306');
  assert.equal(a['openshift.io/scc'], 'restricted');
  const c = sidecarOf(r);
  assert.deepEqual(c.readinessProbe, { httpGet: { path: '/healthz/ready', port: 15021 }, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 });
  // The default profile includes `small` (10m/128Mi requests, no limits); the spec's own request wins.
  assert.deepEqual(c.resources, { requests: { cpu: '50m', memory: '128Mi' }, limits: {} });
  assert.equal(flag(c.args, '--access-log'), 'json');
  assert.equal(r.pod.metadata.labels?.['istio.io/rev'], 'basic');
  assert.deepEqual(r.warnings, []);
});

test('injectedAnnotations replace the pod\'s own values; an existing network list gets the mesh network appended', () => {
  const r = injectPod(pod({ annotations: { team: 'a', 'k8s.v1.cni.cncf.io/networks': 'macvlan-conf' } }), { ...ctx, injectedAnnotations: { team: 'mesh' } });
  assert.equal(annotationsOf(r).team, 'mesh');
  assert.equal(annotationsOf(r)['k8s.v1.cni.cncf.io/networks'], 'macvlan-conf, v2-0-istio-cni');
  assert.equal(appendNetwork('[{"name": "macvlan-conf"}]', 'v2-0-istio-cni'), '[{"name": "macvlan-conf"}, {"name": "v2-0-istio-cni"}]');
  assert.equal(appendNetwork('', 'mesh'), 'mesh');
  assert.equal(annotationsOf(injectPod(pod(), { ...ctx, cniNetwork: 'meltemi' }))['k8s.v1.cni.cncf.io/networks'], 'meltemi');
});

test('labels: tlsMode istio and canonical service labels are added, never overwriting the pod\'s', () => {
  const r = injectPod(pod(), ctx);
  assert.deepEqual(r.pod.metadata.labels, {
    app: 'reviews',
    version: 'v1',
    'security.istio.io/tlsMode': 'istio',
    'service.istio.io/canonical-name': 'reviews',
    'service.istio.io/canonical-revision': 'v1',
  });
  const own = injectPod(pod({ labels: { app: 'reviews', 'service.istio.io/canonical-name': 'book-reviews', 'app.kubernetes.io/version': '2.0' } }), ctx).pod.metadata.labels;
  assert.equal(own?.['service.istio.io/canonical-name'], 'book-reviews');
  assert.equal(own?.['service.istio.io/canonical-revision'], '2.0');
  // No app label: the Deployment behind a generated pod name, else the pod name; no version: latest.
  const generated = pod({ labels: { 'pod-template-hash': '545db77b95' } });
  generated.metadata.generateName = 'reviews-v1-545db77b95-';
  generated.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'reviews-v1-545db77b95', controller: true }];
  const gl = injectPod(generated, ctx).pod.metadata.labels;
  assert.equal(gl?.['service.istio.io/canonical-name'], 'reviews-v1');
  assert.equal(gl?.['service.istio.io/canonical-revision'], 'latest');
  assert.equal(injectPod(pod({ labels: {}, name: 'standalone' }), ctx).pod.metadata.labels?.['service.istio.io/canonical-name'], 'standalone');
});

test('resource annotations replace the defaults: requests and limits only where given', () => {
  const only = sidecarOf(injectPod(pod({ annotations: { 'sidecar.istio.io/proxyCPU': '250m' } }), ctx)).resources;
  assert.deepEqual(only, { requests: { cpu: '250m' } });
  const all = sidecarOf(injectPod(pod({ annotations: { 'sidecar.istio.io/proxyCPU': '250m', 'sidecar.istio.io/proxyMemory': '64Mi', 'sidecar.istio.io/proxyCPULimit': '1', 'sidecar.istio.io/proxyMemoryLimit': '256Mi' } }), ctx)).resources;
  assert.deepEqual(all, { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } });
});

test('readiness annotations set the sidecar probe', () => {
  const c = sidecarOf(injectPod(pod({ annotations: { 'readiness.status.sidecar.istio.io/initialDelaySeconds': '0', 'readiness.status.sidecar.istio.io/periodSeconds': '5', 'readiness.status.sidecar.istio.io/failureThreshold': '10' } }), ctx));
  assert.deepEqual(c.readinessProbe, { httpGet: { path: '/healthz/ready', port: 15021 }, initialDelaySeconds: 0, periodSeconds: 5, failureThreshold: 10 });
});

test('proxy.istio.io/config terminationDrainDuration sets --drain-seconds; other fields are reported as without effect', () => {
  const r = injectPod(pod({ annotations: { 'proxy.istio.io/config': 'terminationDrainDuration: 20s\nconcurrency: 4\n' } }), ctx);
  assert.equal(flag(sidecarOf(r).args, '--drain-seconds'), '20');
  assert.deepEqual(r.warnings, ['annotation proxy.istio.io/config: concurrency has no effect in Meltemi (only terminationDrainDuration is read)']);
  assert.equal(flag(sidecarOf(injectPod(pod(), { ...ctx, proxy: { drainSeconds: 45 } })).args, '--drain-seconds'), '45');
});

test('prometheus.istio.io/merge-metrics: the app endpoint becomes --app-metrics and the scrape annotations point at the sidecar', () => {
  const r = injectPod(pod({ annotations: { 'prometheus.istio.io/merge-metrics': 'true', 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9080', 'prometheus.io/path': '/metrics/app' } }), ctx);
  assert.equal(flag(sidecarOf(r).args, '--app-metrics'), 'http://127.0.0.1:9080/metrics/app');
  const a = annotationsOf(r);
  assert.deepEqual([a['prometheus.io/scrape'], a['prometheus.io/port'], a['prometheus.io/path']], ['true', '15020', '/stats/prometheus']);
  // Off by default in Maistra 2.0: the app's annotations stay as they are.
  const off = injectPod(pod({ annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9080' } }), ctx);
  assert.equal(flag(sidecarOf(off).args, '--app-metrics'), undefined);
  assert.equal(annotationsOf(off)['prometheus.io/port'], '9080');
});

test('annotations without effect and unknown istio annotations come back as warnings; the proxy image is kept', () => {
  const r = injectPod(pod({ annotations: { 'sidecar.istio.io/proxyImage': 'registry.redhat.io/openshift-service-mesh/proxyv2-rhel8:2.0.0', 'sidecar.istio.io/logLevel': 'debug', 'sidecar.istio.io/injectt': 'true' } }), ctx);
  assert.equal(sidecarOf(r).image, 'registry.redhat.io/openshift-service-mesh/proxyv2-rhel8:2.0.0');
  assert.deepEqual(r.warnings, [
    'annotation sidecar.istio.io/injectt is not one the injector knows (misspelt?)',
    'annotation sidecar.istio.io/logLevel has no effect in Meltemi: `meltemi proxy` has no Envoy log levels',
    'annotation sidecar.istio.io/proxyImage has no effect in Meltemi: the local runtime runs `meltemi proxy`, not an image (the annotation is kept on the pod)',
  ]);
});

test('pure: the input is not modified, and the same pod and context give the same pod', () => {
  const input = deepFreeze(pod({ spec: { securityContext: { runAsUser: 1000 } } }));
  const before = JSON.stringify(input);
  const a = injectPod(input, ctx);
  const b = injectPod(input, ctx);
  assert.equal(JSON.stringify(input), before);
  assert.deepEqual(a, b);
  assert.notEqual(a.pod.metadata, input.metadata);
});

test('idempotent: an injected pod is not injected again and comes back unchanged', () => {
  const once = injectPod(pod(), ctx);
  const twice = injectPod(once.pod, ctx);
  assert.equal(twice.injected, false);
  assert.equal(twice.reason, 'the pod already has a sidecar (annotation sidecar.istio.io/status is present)');
  assert.deepEqual(twice.pod, once.pod);
  assert.notEqual(twice.pod, once.pod);
  const again = injectIfRequired(once.pod, undefined, ctx);
  assert.equal(again.injected, false);
  assert.deepEqual(again.pod, once.pod);
});

test('a pod that already has a container named istio-proxy is refused', () => {
  const p = pod({ spec: { containers: [{ name: 'istio-proxy', image: 'x' }] } });
  assert.throws(() => injectPod(p, ctx), (e: unknown) => isMeshError(e, 'MESH_INVALID_CONFIG') && /already has a container named istio-proxy/.test(e.message));
});

test('invalid annotations are refused with the annotation, the value and the rule — all at once — and the next good pod still injects', () => {
  const bad = pod({
    annotations: {
      'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.0.0.0/33',
      'traffic.sidecar.istio.io/includeInboundPorts': '9080,http',
      'sidecar.istio.io/proxyUID': 'istio',
      'readiness.status.sidecar.istio.io/periodSeconds': '-1',
      'sidecar.istio.io/proxyMemory': '128 MB',
      'sidecar.maistra.io/proxyEnv': 'A=1',
      'prometheus.istio.io/merge-metrics': 'yes',
    },
  });
  let message = '';
  assert.throws(
    () => injectPod(bad, ctx),
    (e: unknown) => {
      if (!isMeshError(e, 'MESH_INVALID_CONFIG')) return false;
      message = e.message;
      return true;
    },
  );
  const expected = [
    'cannot inject a sidecar into pod bookinfo/reviews-v1-545db77b95-8pk2l:',
    'annotation traffic.sidecar.istio.io/includeInboundPorts: "http" in "9080,http" is not a port (the value must be a comma-separated list of TCP ports 1..65535)',
    'annotation traffic.sidecar.istio.io/excludeOutboundIPRanges: "10.0.0.0/33" is not a CIDR block (the prefix length must be 0..32) (the value must be a comma-separated list of CIDR blocks like 10.0.0.0/8,2001:db8::/32)',
    'annotation sidecar.istio.io/proxyUID: "istio" is not a user or group id (the value must be an integer 0..4294967294)',
    'annotation readiness.status.sidecar.istio.io/periodSeconds: "-1" is not an unsigned integer (the value must be a number of seconds, 0..4294967295)',
    'annotation sidecar.istio.io/proxyMemory: "128 MB" is not a resource quantity (the value must be like 128Mi or 1Gi)',
    'annotation prometheus.istio.io/merge-metrics: "yes" is not a boolean (the value must be true or false)',
    'annotation sidecar.maistra.io/proxyEnv: "A=1" is not a JSON object (the value must be like {"NAME": "value"})',
  ];
  assert.deepEqual(message.split('\n').map((l) => l.trim()), expected);
  assert.equal(injectPod(pod(), ctx).injected, true);
});

test('TPROXY interception is refused, from the annotation or from the context default', () => {
  assert.throws(() => injectPod(pod({ annotations: { 'sidecar.istio.io/interceptionMode': 'TPROXY' } }), ctx), /sidecar\.istio\.io\/interceptionMode: "TPROXY" is not supported yet/);
  assert.throws(() => injectPod(pod(), { ...ctx, proxy: { interceptionMode: 'TPROXY' } }), /the default interception mode TPROXY is not supported/);
  assert.throws(() => injectPod(pod({ annotations: { 'sidecar.istio.io/interceptionMode': 'MAGIC' } }), ctx), /"MAGIC" is not an interception mode/);
});

test('bad SMCP defaults are caught by the same parser the CNI plugin uses', () => {
  assert.throws(() => injectPod(pod(), { ...ctx, proxy: { excludeIPRanges: '10.0.0.0/40' } }), (e: unknown) => isMeshError(e, 'MESH_INVALID_CONFIG') && /the injected interception is invalid/.test(e.message));
});

test('interceptionOf: the settings the CNI plugin applies to an injected pod, and none for a pod without a sidecar', () => {
  assert.equal(interceptionOf(pod()), undefined);
  const r = injectPod(pod({ annotations: { 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '169.254.169.254/32', 'traffic.sidecar.istio.io/excludeOutboundPorts': '5432' } }), ctx);
  const s = interceptionOf(r.pod);
  assert.deepEqual(s, {
    proxyUid: 1337,
    proxyGid: 1337,
    inboundCapturePort: 15006,
    outboundCapturePort: 15001,
    includeInboundPorts: '*',
    excludeInboundPorts: [15090, 15021],
    includeOutboundIpRanges: '*',
    excludeOutboundIpRanges: ['169.254.169.254/32'],
    excludeOutboundPorts: [5432],
  });
  const rules = natRules(s!, 4).chains.ISTIO_OUTPUT;
  assert.ok(rules.includes('-A ISTIO_OUTPUT -d 169.254.169.254/32 -j RETURN'));
  assert.ok(rules.includes('-A ISTIO_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN'));
});

test('injectIfRequired: the policy first; a pod it refuses comes back as a copy with the reason', () => {
  const skipped = injectIfRequired(pod({ annotations: { 'sidecar.istio.io/inject': 'false' } }), undefined, ctx);
  assert.equal(skipped.injected, false);
  assert.equal(skipped.reason, 'annotation sidecar.istio.io/inject is "false" (only y, yes, true or on ask for a sidecar)');
  assert.equal(skipped.pod.spec.containers?.length, 1);
  const outside = injectIfRequired(pod(), undefined, { ...ctx, members: new Set(['default']) });
  assert.equal(outside.reason, 'namespace bookinfo is not a member of the mesh (it is not listed in the ServiceMeshMemberRoll)');
  const done = injectIfRequired(pod(), undefined, ctx);
  assert.equal(done.injected, true);
  assert.equal(done.reason, 'annotation sidecar.istio.io/inject is "true": sidecar injected (proxy UID 1337, traffic captured by the CNI plugin)');
  // A pod the policy skips is not validated: its annotations are not the injector's business.
  assert.equal(injectIfRequired(pod({ annotations: { 'sidecar.istio.io/inject': 'false', 'sidecar.istio.io/proxyUID': 'x' } }), undefined, ctx).injected, false);
});

test('injectionSettingsFromControlPlane: policy, selectors, object selector and revision from the SMCP', () => {
  const s = injectionSettingsFromControlPlane('istio-system', 'basic', applyProfiles({
    proxy: { injection: { autoInject: true, neverInjectSelector: [{ matchLabels: { job: 'batch' } }] } },
    techPreview: { sidecarInjectorWebhook: { objectSelector: { enabled: true } } },
  }));
  assert.equal(s.policy, 'enabled');
  assert.equal(s.controlPlaneNamespace, 'istio-system');
  assert.equal(s.revision, 'basic');
  assert.equal(s.objectSelector, true);
  assert.deepEqual(s.neverInjectSelector, [{ matchLabels: { job: 'batch' } }]);
  assert.equal(injectionSettingsFromControlPlane('istio-system', 'basic', applyProfiles({})).policy, 'disabled', 'the base profile sets autoInject: false');
});

test('INJ-06: with sidecar.istio.io/rewriteAppHTTPProbers the app\'s httpGet probes go to the status port, and the originals reach the sidecar in ISTIO_KUBE_APP_PROBERS', () => {
  const containers: NonNullable<Pod['spec']['containers']> = [
    {
      name: 'reviews',
      image: 'reviews:1',
      command: ['node', 'reviews.js'],
      ports: [{ name: 'http', containerPort: 9080 }],
      readinessProbe: { httpGet: { path: '/health', port: 'http', httpHeaders: [{ name: 'x-probe', value: 'kubelet' }] }, timeoutSeconds: 3, periodSeconds: 5 },
      livenessProbe: { httpGet: { path: '/live', port: 9080, scheme: 'HTTPS' } },
      startupProbe: { tcpSocket: { port: 9080 } },
    },
    { name: 'helper', image: 'helper:1', command: ['helper'], readinessProbe: { httpGet: { path: '/h', port: 'metrics' } } },
  ];
  const r = injectPod(pod({ annotations: { 'sidecar.istio.io/rewriteAppHTTPProbers': 'true' }, spec: { containers } }), ctx);
  const app = r.pod.spec.containers![0]!;
  assert.deepEqual(app.readinessProbe, { httpGet: { path: '/app-health/reviews/readyz', port: 15020, scheme: 'HTTP' }, timeoutSeconds: 3, periodSeconds: 5 });
  assert.deepEqual(app.livenessProbe, { httpGet: { path: '/app-health/reviews/livez', port: 15020, scheme: 'HTTP' } });
  assert.deepEqual(app.startupProbe, { tcpSocket: { port: 9080 } }, 'only httpGet probes are rewritten, as in Istio 1.6');
  assert.deepEqual(r.pod.spec.containers![1]!.readinessProbe, { httpGet: { path: '/h', port: 'metrics' } }, 'a named port the container lacks is left alone');
  assert.match(r.warnings.join('\n'), /container helper: readinessProbe port "metrics" names no port of the container/);
  const env = sidecarOf(r).env?.find((e) => e.name === 'ISTIO_KUBE_APP_PROBERS');
  assert.deepEqual(JSON.parse(env!.value!), {
    '/app-health/reviews/readyz': { httpGet: { path: '/health', port: 9080, scheme: 'HTTP', httpHeaders: [{ name: 'x-probe', value: 'kubelet' }] }, timeoutSeconds: 3 },
    '/app-health/reviews/livez': { httpGet: { path: '/live', port: 9080, scheme: 'HTTPS' }, timeoutSeconds: 1 },
  });
  assert.ok(!r.warnings.some((w) => w.includes('rewriteAppHTTPProbers')), 'the annotation takes effect, so it is not reported as ignored');
});

test('INJ-06: probes stay as they are by default (Maistra 2.0), when the annotation says false, and follow the SMCP\'s rewriteApplicationProbes otherwise', () => {
  const containers: NonNullable<Pod['spec']['containers']> = [{ name: 'reviews', image: 'reviews:1', command: ['node'], readinessProbe: { httpGet: { path: '/health', port: 9080 } } }];
  const plain = injectPod(pod({ spec: { containers } }), ctx);
  assert.deepEqual(plain.pod.spec.containers![0]!.readinessProbe, { httpGet: { path: '/health', port: 9080 } });
  assert.equal(sidecarOf(plain).env?.some((e) => e.name === 'ISTIO_KUBE_APP_PROBERS'), false);
  const smcp = injectionSettingsFromControlPlane('istio-system', 'basic', { proxy: { runtime: { readiness: { rewriteApplicationProbes: true } } } });
  const meshWide = { ...ctx, ...smcp, proxy: smcp.proxy };
  assert.equal(injectPod(pod({ spec: { containers } }), meshWide).pod.spec.containers![0]!.readinessProbe?.httpGet?.port, 15020);
  assert.equal(injectPod(pod({ annotations: { 'sidecar.istio.io/rewriteAppHTTPProbers': 'false' }, spec: { containers } }), meshWide).pod.spec.containers![0]!.readinessProbe?.httpGet?.port, 9080);
  assert.throws(() => injectPod(pod({ annotations: { 'sidecar.istio.io/rewriteAppHTTPProbers': 'yes please' }, spec: { containers } }), ctx), /rewriteAppHTTPProbers: "yes please" is not a boolean/);
});
