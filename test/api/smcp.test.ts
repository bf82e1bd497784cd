// ServiceMeshControlPlane validation: the operator's single-object rules (version, protocol sniffing, gateways, policy/telemetry) and Meltemi's stricter field checks, for v2 and v1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { check, expectError, expectValid, expectWarning } from '../helpers/validation.js';
import { BASE_PROFILE, SMALL_PROFILE, applyProfiles } from '../../src/api/smcp-profiles.js';
import { hostPortProblem, parseQuantity } from '../../src/api/kinds/service-mesh-control-plane.js';

const smcp = (spec: string, meta = '{name: basic, namespace: istio-system}') => `apiVersion: maistra.io/v2\nkind: ServiceMeshControlPlane\nmetadata: ${meta}\nspec:\n${spec}`;
const smcpV1 = (spec: string) => `apiVersion: maistra.io/v1\nkind: ServiceMeshControlPlane\nmetadata: {name: basic-install, namespace: istio-system}\nspec:\n${spec}`;
const ca = (body: string) => smcp(`  security:\n    certificateAuthority:\n${body}`);
const istiod = (fields: string) => ca(`      type: Istiod\n      istiod: ${fields}\n`);
const net = (body: string) => smcp(`  proxy:\n    networking:\n${body}`);
const outbound = (fields: string) => net(`      trafficControl:\n        outbound: ${fields}\n`);
const inbound = (fields: string) => net(`      trafficControl:\n        inbound: ${fields}\n`);
const pilot = (body: string) => smcp(`  runtime:\n    components:\n      pilot:\n${body}`);
const storage = (body: string) => smcp(`  addons:\n    jaeger:\n      install:\n        storage:\n${body}`);

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  // version and profiles (OP-04, OP-05)
  { name: 'a v1.x version on the v2 API', yaml: smcp('  version: v1.1\n'), rule: 'smcp.version', field: 'spec.version', message: 'Meltemi installs only v2.0' },
  { name: 'a version without the v', yaml: smcp('  version: "2.0"\n'), rule: 'smcp.version', field: 'spec.version', message: "Only 'v1.0 v1.1 v2.0' versions are supported" },
  { name: 'version v2.0 on the v1 API', yaml: smcpV1('  version: v2.0\n'), rule: 'smcp.version', field: 'spec.version', message: 'must use v2 ServiceMeshControlPlane resource' },
  { name: 'an unknown version on the v1 API', yaml: smcpV1('  version: v3.0\n'), rule: 'smcp.version', field: 'spec.version' },
  { name: 'an unknown profile', yaml: smcp('  profiles: [base, tiny]\n'), rule: 'smcp.unknown-profile', field: 'spec.profiles[1]', message: 'known profiles: base, small, default, servicemesh, maistra' },
  { name: 'a profile name in the wrong case', yaml: smcp('  profiles: [Default]\n'), rule: 'smcp.unknown-profile', field: 'spec.profiles[0]' },
  { name: 'a profile path', yaml: smcp('  profiles: [../base]\n'), rule: 'smcp.unknown-profile', field: 'spec.profiles[0]' },
  { name: 'the small template on a v1 resource', yaml: smcpV1('  version: v1.1\n  template: small\n'), rule: 'smcp.unknown-profile', field: 'spec.template' },
  // proxy networking (OP-07, OP-13)
  { name: 'inbound protocol sniffing', yaml: net('      protocol:\n        autoDetect: {inbound: true}\n'), rule: 'smcp.protocol-autodetect', field: 'spec.proxy.networking.protocol.autoDetect.inbound', message: 'automatic protocol detection is not supported' },
  { name: 'outbound protocol sniffing', yaml: net('      protocol:\n        autoDetect: {inbound: false, outbound: true}\n'), rule: 'smcp.protocol-autodetect', field: 'spec.proxy.networking.protocol.autoDetect.outbound' },
  { name: 'a protocol detection timeout that is not a duration', yaml: net('      protocol:\n        autoDetect: {timeout: fast}\n'), rule: 'common.duration', field: 'spec.proxy.networking.protocol.autoDetect.timeout' },
  { name: 'a DNS refresh rate in minutes', yaml: net('      dns: {refreshRate: 5m}\n'), rule: 'smcp.dns-refresh-rate', field: 'spec.proxy.networking.dns.refreshRate', message: 'in seconds' },
  { name: 'a zero DNS refresh rate', yaml: net('      dns: {refreshRate: 0s}\n'), rule: 'smcp.dns-refresh-rate', field: 'spec.proxy.networking.dns.refreshRate' },
  { name: 'an excluded IP range with a bad prefix', yaml: outbound('{excludedIPRanges: ["10.0.0.0/33"]}'), rule: 'smcp.traffic-control', field: 'spec.proxy.networking.trafficControl.outbound.excludedIPRanges[0]' },
  { name: 'a comma-separated list in one IP range entry', yaml: outbound('{includedIPRanges: ["10.0.0.0/8,172.16.0.0/12"]}'), rule: 'smcp.traffic-control', field: 'spec.proxy.networking.trafficControl.outbound.includedIPRanges[0]' },
  { name: '"*" in excludedIPRanges', yaml: outbound('{excludedIPRanges: ["*"]}'), rule: 'smcp.traffic-control', field: 'spec.proxy.networking.trafficControl.outbound.excludedIPRanges[0]', message: 'only allowed in includedIPRanges' },
  { name: 'an excluded outbound port above 65535', yaml: outbound('{excludedPorts: [70000]}'), rule: 'smcp.traffic-control', field: 'spec.proxy.networking.trafficControl.outbound.excludedPorts[0]' },
  { name: 'a port name in includedPorts', yaml: inbound('{includedPorts: [http]}'), rule: 'smcp.traffic-control', field: 'spec.proxy.networking.trafficControl.inbound.includedPorts[0]' },
  { name: 'an unknown outbound traffic policy', yaml: outbound('{policy: DENY_ALL}'), rule: 'schema.type', field: 'spec.proxy.networking.trafficControl.outbound.policy' },
  { name: 'a status port out of range', yaml: smcp('  proxy:\n    runtime:\n      readiness: {statusPort: 70000}\n'), rule: 'smcp.port', field: 'spec.proxy.runtime.readiness.statusPort' },
  { name: 'a zero readiness period', yaml: smcp('  proxy:\n    runtime:\n      readiness: {periodSeconds: 0}\n'), rule: 'smcp.count-range', field: 'spec.proxy.runtime.readiness.periodSeconds' },
  { name: 'a negative concurrency', yaml: smcp('  proxy: {concurrency: -2}\n'), rule: 'smcp.count-range', field: 'spec.proxy.concurrency' },
  { name: 'an unknown proxy log level', yaml: smcp('  proxy:\n    logging: {level: loud}\n'), rule: 'smcp.log-level', field: 'spec.proxy.logging.level' },
  { name: 'an unknown control plane log level', yaml: smcp('  general:\n    logging:\n      componentLevels: {default: verbose}\n'), rule: 'smcp.log-level', field: 'spec.general.logging.componentLevels.default' },
  { name: 'an Envoy metrics service without an address', yaml: smcp('  proxy:\n    envoyMetricsService: {enabled: true}\n'), rule: 'smcp.address', field: 'spec.proxy.envoyMetricsService.address' },
  { name: 'an access log service address without a port', yaml: smcp('  proxy:\n    accessLogging:\n      envoyService: {enabled: true, address: als.example.com}\n'), rule: 'smcp.address', field: 'spec.proxy.accessLogging.envoyService.address' },
  { name: 'an unknown access log encoding', yaml: smcp('  proxy:\n    accessLogging:\n      file: {name: /dev/stdout, encoding: YAML}\n'), rule: 'schema.type', field: 'spec.proxy.accessLogging.file.encoding' },
  { name: 'an In selector requirement without values', yaml: smcp('  proxy:\n    injection:\n      alwaysInjectSelector:\n      - matchExpressions: [{key: app, operator: In}]\n'), rule: 'smcp.label-selector', field: 'spec.proxy.injection.alwaysInjectSelector[0].matchExpressions[0].values' },
  { name: 'an injected annotation with a bad key', yaml: smcp('  proxy:\n    injection:\n      injectedAnnotations: {"bad key": "x"}\n'), rule: 'smcp.metadata', field: 'spec.proxy.injection.injectedAnnotations["bad key"]' },
  // security (OP-14)
  { name: 'a Custom CA without an address', yaml: ca('      type: Custom\n'), rule: 'smcp.certificate-authority', field: 'spec.security.certificateAuthority.custom.address', message: 'custom.address' },
  { name: 'a Custom CA with istiod settings', yaml: ca('      type: Custom\n      custom: {address: "ca.example.com:15012"}\n      istiod: {type: SelfSigned}\n'), rule: 'smcp.certificate-authority', field: 'spec.security.certificateAuthority.istiod' },
  { name: 'a Custom CA address without a port', yaml: ca('      type: Custom\n      custom: {address: ca.example.com}\n'), rule: 'smcp.address', field: 'spec.security.certificateAuthority.custom.address' },
  { name: 'an Istiod CA with custom settings', yaml: ca('      type: Istiod\n      custom: {address: "ca.example.com:15012"}\n'), rule: 'smcp.certificate-authority', field: 'spec.security.certificateAuthority.custom' },
  { name: 'self-signed settings without a signer type', yaml: istiod('{selfSigned: {ttl: 87600h}}'), rule: 'smcp.certificate-authority', field: 'spec.security.certificateAuthority.istiod.type', message: 'SelfSigned or PrivateKey' },
  { name: 'self-signed settings with the PrivateKey signer', yaml: istiod('{type: PrivateKey, selfSigned: {ttl: 87600h}}'), rule: 'smcp.certificate-authority', field: 'spec.security.certificateAuthority.istiod.selfSigned' },
  { name: 'a relative root CA directory', yaml: istiod('{type: PrivateKey, privateKey: {rootCADir: etc/cacerts}}'), rule: 'smcp.certificate-authority', field: 'spec.security.certificateAuthority.istiod.privateKey.rootCADir' },
  { name: 'a default workload cert TTL above the maximum', yaml: istiod('{type: SelfSigned, workloadCertTTLDefault: 48h, workloadCertTTLMax: 24h}'), rule: 'smcp.workload-cert-ttl', field: 'spec.security.certificateAuthority.istiod.workloadCertTTLDefault', message: 'must not exceed workloadCertTTLMax' },
  { name: 'a maximum workload cert TTL above 90 days', yaml: istiod('{type: SelfSigned, workloadCertTTLMax: 2400h}'), rule: 'smcp.workload-cert-ttl', field: 'spec.security.certificateAuthority.istiod.workloadCertTTLMax', message: '90 days' },
  { name: 'a default workload cert TTL above 90 days without a maximum', yaml: istiod('{type: SelfSigned, workloadCertTTLDefault: 2200h}'), rule: 'smcp.workload-cert-ttl', field: 'spec.security.certificateAuthority.istiod.workloadCertTTLDefault' },
  { name: 'a workload cert TTL in days', yaml: istiod('{type: SelfSigned, workloadCertTTLDefault: 1d}'), rule: 'common.duration', field: 'spec.security.certificateAuthority.istiod.workloadCertTTLDefault' },
  { name: 'a grace period above 100%', yaml: istiod('{type: SelfSigned, selfSigned: {gracePeriod: 120%}}'), rule: 'smcp.self-signed', field: 'spec.security.certificateAuthority.istiod.selfSigned.gracePeriod' },
  { name: 'an unknown signer type', yaml: istiod('{type: Vault}'), rule: 'schema.type', field: 'spec.security.certificateAuthority.istiod.type' },
  { name: 'an invalid trust domain', yaml: smcp('  security:\n    trust: {domain: "cluster..local"}\n'), rule: 'smcp.trust-domain', field: 'spec.security.trust.domain' },
  { name: 'an invalid trust domain alias', yaml: smcp('  security:\n    trust: {additionalDomains: [old_domain]}\n'), rule: 'smcp.trust-domain', field: 'spec.security.trust.additionalDomains[0]' },
  { name: 'third-party token settings with Kubernetes identity', yaml: smcp('  security:\n    identity:\n      type: Kubernetes\n      thirdParty: {audience: istio-ca}\n'), rule: 'smcp.identity', field: 'spec.security.identity.thirdParty' },
  { name: 'a TLS minimum above the maximum', yaml: smcp('  security:\n    controlPlane:\n      tls: {minProtocolVersion: TLSv1_3, maxProtocolVersion: TLSv1_2}\n'), rule: 'smcp.tls-version', field: 'spec.security.controlPlane.tls.minProtocolVersion' },
  { name: 'a TLS version spelt with a dot', yaml: smcp('  security:\n    controlPlane:\n      tls: {minProtocolVersion: TLSv1.2}\n'), rule: 'smcp.tls-version', field: 'spec.security.controlPlane.tls.minProtocolVersion' },
  // tracing (OP-12)
  { name: 'sampling above 10000', yaml: smcp('  tracing: {type: Jaeger, sampling: 10001}\n'), rule: 'smcp.tracing-sampling', field: 'spec.tracing.sampling', message: '10000 = 100%' },
  { name: 'negative sampling', yaml: smcp('  tracing: {sampling: -1}\n'), rule: 'smcp.tracing-sampling', field: 'spec.tracing.sampling' },
  { name: 'sampling as a percentage string', yaml: smcp('  tracing: {sampling: "1%"}\n'), rule: 'schema.type', field: 'spec.tracing.sampling' },
  { name: 'an unknown tracer', yaml: smcp('  tracing: {type: Zipkin}\n'), rule: 'schema.type', field: 'spec.tracing.type' },
  // policy and telemetry (OP-10, OP-11)
  { name: 'Remote policy without an address', yaml: smcp('  policy: {type: Remote}\n'), rule: 'smcp.remote-address', field: 'spec.policy.remote.address' },
  { name: 'a remote telemetry address with Istiod telemetry', yaml: smcp('  telemetry:\n    type: Istiod\n    remote: {address: "mixer.example.com:9091"}\n'), rule: 'smcp.remote-address', field: 'spec.telemetry.remote.address', message: 'telemetry.type must be Remote' },
  { name: 'createService on policy only', yaml: smcp('  policy:\n    type: Remote\n    remote: {address: "mixer.example.com:9091", createService: true}\n'), rule: 'smcp.remote-create-service', field: 'spec.policy.remote.createService' },
  { name: 'Mixer adapter CRDs', yaml: smcp('  policy:\n    type: Mixer\n    mixer:\n      adapters: {useAdapterCRDs: true}\n'), rule: 'smcp.adapter-crds', field: 'spec.policy.mixer.adapters.useAdapterCRDs' },
  { name: 'an unknown policy type', yaml: smcp('  policy: {type: OPA}\n'), rule: 'schema.type', field: 'spec.policy.type' },
  { name: 'a telemetry batch time that is not a duration', yaml: smcp('  telemetry:\n    type: Mixer\n    mixer:\n      batching: {maxTime: soon}\n'), rule: 'common.duration', field: 'spec.telemetry.mixer.batching.maxTime' },
  // gateways (OP-16)
  { name: 'an additional gateway named istio-ingressgateway', yaml: smcp('  gateways:\n    additionalIngress:\n      istio-ingressgateway: {enabled: true}\n'), rule: 'smcp.gateway-name', field: 'spec.gateways.additionalIngress.istio-ingressgateway', message: 'cannot define additional gateway' },
  { name: 'an additional egress gateway named istio-egressgateway', yaml: smcp('  gateways:\n    additionalEgress:\n      istio-egressgateway: {}\n'), rule: 'smcp.gateway-name', field: 'spec.gateways.additionalEgress.istio-egressgateway' },
  { name: 'a gateway name that is not a DNS label', yaml: smcp('  gateways:\n    additionalEgress:\n      Egress_2: {enabled: true}\n'), rule: 'smcp.gateway-name', field: 'spec.gateways.additionalEgress.Egress_2' },
  { name: 'a gateway name with a dot', yaml: smcp('  gateways:\n    additionalIngress:\n      edge.gw: {}\n'), rule: 'smcp.gateway-name', field: 'spec.gateways.additionalIngress["edge.gw"]' },
  { name: 'the same gateway as ingress and egress in one namespace', yaml: smcp('  gateways:\n    additionalIngress:\n      edge: {namespace: bookinfo}\n    additionalEgress:\n      edge: {namespace: bookinfo}\n'), rule: 'smcp.gateway-duplicate', field: 'spec.gateways.additionalEgress.edge', message: 'bookinfo/edge' },
  { name: 'the same gateway twice in the control plane namespace', yaml: smcp('  gateways:\n    additionalIngress:\n      edge: {}\n    additionalEgress:\n      edge: {namespace: istio-system}\n'), rule: 'smcp.gateway-duplicate', field: 'spec.gateways.additionalEgress.edge', message: 'istio-system/edge' },
  { name: 'a gateway namespace that is not a DNS label', yaml: smcp('  gateways:\n    additionalIngress:\n      edge: {namespace: Book.Info}\n'), rule: 'smcp.gateway-namespace', field: 'spec.gateways.additionalIngress.edge.namespace' },
  { name: 'two Service ports with one name', yaml: smcp('  gateways:\n    ingress:\n      service:\n        ports:\n        - {name: http2, port: 80, targetPort: 8080}\n        - {name: http2, port: 443, targetPort: 8443}\n'), rule: 'smcp.service-port', field: 'spec.gateways.ingress.service.ports[1].name', message: 'duplicate port name' },
  { name: 'a Service port without a number', yaml: smcp('  gateways:\n    egress:\n      service:\n        ports: [{name: http, targetPort: 8080}]\n'), rule: 'smcp.service-port', field: 'spec.gateways.egress.service.ports[0].port' },
  { name: 'unnamed ports on a multi-port Service', yaml: smcp('  gateways:\n    ingress:\n      service:\n        ports: [{port: 80}, {name: https, port: 443}]\n'), rule: 'smcp.service-port', field: 'spec.gateways.ingress.service.ports[0].name' },
  { name: 'an upper-case target port name', yaml: smcp('  gateways:\n    ingress:\n      service:\n        ports: [{name: http, port: 80, targetPort: HTTP}]\n'), rule: 'smcp.service-port', field: 'spec.gateways.ingress.service.ports[0].targetPort' },
  { name: 'a mesh expansion port out of range', yaml: smcp('  gateways:\n    ingress:\n      meshExpansionPorts: [{name: tcp-istiod, port: 150120}]\n'), rule: 'smcp.service-port', field: 'spec.gateways.ingress.meshExpansionPorts[0].port' },
  { name: 'a gateway volume with a relative mount path', yaml: smcp('  gateways:\n    ingress:\n      volumes:\n      - volume: {secret: {secretName: certs}}\n        volumeMount: {name: certs, mountPath: etc/certs}\n'), rule: 'smcp.gateway-volume', field: 'spec.gateways.ingress.volumes[0].volumeMount.mountPath' },
  { name: 'a gateway volume with both a secret and a ConfigMap', yaml: smcp('  gateways:\n    ingress:\n      volumes:\n      - volume: {secret: {secretName: certs}, configMap: {name: certs}}\n        volumeMount: {name: certs, mountPath: /etc/certs}\n'), rule: 'smcp.gateway-volume', field: 'spec.gateways.ingress.volumes[0].volume' },
  { name: 'a gateway volume without a mount name', yaml: smcp('  gateways:\n    egress:\n      volumes:\n      - volume: {configMap: {name: ca}}\n        volumeMount: {mountPath: /etc/ca}\n'), rule: 'smcp.gateway-volume', field: 'spec.gateways.egress.volumes[0].volumeMount.name' },
  { name: 'an unknown router mode', yaml: smcp('  gateways:\n    ingress: {routerMode: passthrough}\n'), rule: 'schema.type', field: 'spec.gateways.ingress.routerMode' },
  { name: 'requestedNetworkView on an ingress gateway', yaml: smcp('  gateways:\n    ingress: {requestedNetworkView: [external]}\n'), rule: 'schema.unknown-field', field: 'spec.gateways.ingress.requestedNetworkView' },
  { name: 'a bad label on the gateway Service', yaml: smcp('  gateways:\n    ingress:\n      service:\n        metadata:\n          labels: {app: "-bad-"}\n'), rule: 'smcp.metadata', field: 'spec.gateways.ingress.service.metadata.labels.app' },
  // runtime (OP-17)
  { name: 'an unknown component', yaml: smcp('  runtime:\n    components:\n      istiod:\n        deployment: {replicas: 2}\n'), rule: 'smcp.runtime-component', field: 'spec.runtime.components.istiod', message: 'known components: security, galley, pilot' },
  { name: 'a misspelt dotted component', yaml: smcp('  runtime:\n    components:\n      mixer.polcy: {}\n'), rule: 'smcp.runtime-component', field: 'spec.runtime.components["mixer.polcy"]' },
  { name: 'negative replicas', yaml: pilot('        deployment: {replicas: -1}\n'), rule: 'smcp.count-range', field: 'spec.runtime.components.pilot.deployment.replicas' },
  { name: 'maxReplicas below minReplicas', yaml: pilot('        deployment:\n          autoScaling: {enabled: true, minReplicas: 3, maxReplicas: 2}\n'), rule: 'smcp.autoscaling', field: 'spec.runtime.components.pilot.deployment.autoScaling.maxReplicas' },
  { name: 'a zero CPU target', yaml: pilot('        deployment:\n          autoScaling: {targetCPUUtilizationPercentage: 0}\n'), rule: 'smcp.autoscaling', field: 'spec.runtime.components.pilot.deployment.autoScaling.targetCPUUtilizationPercentage' },
  { name: 'a maxSurge that is not a number or percentage', yaml: pilot('        deployment:\n          strategy:\n            rollingUpdate: {maxSurge: half}\n'), rule: 'smcp.int-or-percent', field: 'spec.runtime.components.pilot.deployment.strategy.rollingUpdate.maxSurge' },
  { name: 'a PodDisruptionBudget with both bounds', yaml: smcp('  runtime:\n    defaults:\n      deployment:\n        podDisruption: {enabled: true, minAvailable: 1, maxUnavailable: 1}\n'), rule: 'smcp.pod-disruption', field: 'spec.runtime.defaults.deployment.podDisruption.maxUnavailable' },
  { name: 'a memory request in MB', yaml: smcp('  runtime:\n    defaults:\n      container:\n        resources:\n          requests: {memory: 128MB}\n'), rule: 'smcp.resource-quantity', field: 'spec.runtime.defaults.container.resources.requests.memory' },
  { name: 'a CPU request above its limit', yaml: smcp('  proxy:\n    runtime:\n      container:\n        resources:\n          requests: {cpu: 200m}\n          limits: {cpu: 100m}\n'), rule: 'smcp.resource-quantity', field: 'spec.proxy.runtime.container.resources.requests.cpu', message: 'less than or equal to its limit' },
  { name: 'a negative CPU limit', yaml: pilot('        container:\n          resources:\n            limits: {cpu: "-1"}\n'), rule: 'smcp.resource-quantity', field: 'spec.runtime.components.pilot.container.resources.limits.cpu' },
  { name: 'an unquoted fractional CPU', yaml: pilot('        container:\n          resources:\n            requests: {cpu: 0.5}\n'), rule: 'schema.type', field: 'spec.runtime.components.pilot.container.resources.requests.cpu' },
  { name: 'an anti-affinity term without a topology key', yaml: pilot('        pod:\n          affinity:\n            podAntiAffinity:\n              requiredDuringScheduling: [{key: app, operator: In, values: [istiod]}]\n'), rule: 'smcp.label-selector', field: 'spec.runtime.components.pilot.pod.affinity.podAntiAffinity.requiredDuringScheduling[0].topologyKey' },
  { name: 'an unknown pull policy', yaml: pilot('        container: {imagePullPolicy: Sometimes}\n'), rule: 'schema.type', field: 'spec.runtime.components.pilot.container.imagePullPolicy' },
  // addons (OP-18)
  { name: 'Kiali without Prometheus', yaml: smcp('  addons:\n    prometheus: {enabled: false}\n    kiali: {enabled: true}\n'), rule: 'smcp.kiali-requires-prometheus', field: 'spec.addons.kiali.enabled' },
  { name: 'Prometheus disabled under the profile\'s Kiali', yaml: smcp('  addons:\n    prometheus: {enabled: false}\n'), rule: 'smcp.kiali-requires-prometheus', field: 'spec.addons.prometheus.enabled' },
  { name: 'Kiali on a profile list without base', yaml: smcp('  profiles: [small]\n  addons:\n    kiali: {enabled: true}\n'), rule: 'smcp.kiali-requires-prometheus', field: 'spec.addons.kiali.enabled', message: 'no profile in use enables Prometheus' },
  { name: 'Prometheus install and address', yaml: smcp('  addons:\n    prometheus:\n      install: {retention: 6h}\n      address: http://prometheus.example.com:9090\n'), rule: 'smcp.addon-install-or-address', field: 'spec.addons.prometheus.address' },
  { name: 'Grafana install and address', yaml: smcp('  addons:\n    grafana:\n      install: {}\n      address: https://grafana.example.com\n'), rule: 'smcp.addon-install-or-address', field: 'spec.addons.grafana.address' },
  { name: 'a Prometheus retention in words', yaml: smcp('  addons:\n    prometheus:\n      install: {retention: 6 hours}\n'), rule: 'smcp.prometheus-duration', field: 'spec.addons.prometheus.install.retention' },
  { name: 'a Jaeger name that is not a DNS subdomain', yaml: smcp('  addons:\n    jaeger: {name: My_Jaeger}\n'), rule: 'smcp.addon-name', field: 'spec.addons.jaeger.name' },
  { name: 'an unknown Jaeger storage type', yaml: storage('          type: Cassandra\n'), rule: 'schema.type', field: 'spec.addons.jaeger.install.storage.type' },
  { name: 'Elasticsearch settings with Memory storage', yaml: storage('          type: Memory\n          elasticsearch: {nodeCount: 3}\n'), rule: 'smcp.jaeger-storage', field: 'spec.addons.jaeger.install.storage.elasticsearch' },
  { name: 'memory settings with Elasticsearch storage', yaml: storage('          type: Elasticsearch\n          memory: {maxTraces: 100000}\n'), rule: 'smcp.jaeger-storage', field: 'spec.addons.jaeger.install.storage.memory' },
  { name: 'an Elasticsearch cluster of no nodes', yaml: storage('          type: Elasticsearch\n          elasticsearch: {nodeCount: 0}\n'), rule: 'smcp.count-range', field: 'spec.addons.jaeger.install.storage.elasticsearch.nodeCount' },
  { name: 'an unknown redundancy policy', yaml: storage('          type: Elasticsearch\n          elasticsearch: {redundancyPolicy: Double}\n'), rule: 'schema.type', field: 'spec.addons.jaeger.install.storage.elasticsearch.redundancyPolicy' },
  { name: 'a 3scale port of 0', yaml: smcp('  addons:\n    3scale: {enabled: true, listen_addr: 0}\n'), rule: 'smcp.port', field: 'spec.addons["3scale"].listen_addr' },
  { name: 'two Stackdriver credentials', yaml: smcp('  addons:\n    stackdriver:\n      telemetry:\n        auth: {appCredentials: true, apiKey: abc}\n'), rule: 'smcp.stackdriver-auth', field: 'spec.addons.stackdriver.telemetry.auth' },
  { name: 'an invalid add-on route host', yaml: smcp('  addons:\n    grafana:\n      install:\n        service:\n          ingress: {enabled: true, hosts: ["grafana..apps.example.com"]}\n'), rule: 'smcp.ingress-host', field: 'spec.addons.grafana.install.service.ingress.hosts[0]' },
  { name: 'a relative context path', yaml: smcp('  addons:\n    kiali:\n      install:\n        service:\n          ingress: {contextPath: kiali}\n'), rule: 'smcp.ingress-host', field: 'spec.addons.kiali.install.service.ingress.contextPath' },
  { name: 'a misspelt add-on field', yaml: smcp('  addons:\n    kiali: {enbled: true}\n'), rule: 'schema.unknown-field', field: 'spec.addons.kiali.enbled', message: 'did you mean "enabled"' },
  // cluster (OP-08)
  { name: 'a mesh network endpoint with both sources', yaml: smcp('  cluster:\n    multiCluster:\n      meshNetworks:\n        network1:\n          endpoints: [{fromRegistry: Kubernetes, fromCIDR: 10.0.0.0/16}]\n'), rule: 'smcp.mesh-networks', field: 'spec.cluster.multiCluster.meshNetworks.network1.endpoints[0]' },
  { name: 'a mesh network gateway with a bad port', yaml: smcp('  cluster:\n    multiCluster:\n      meshNetworks:\n        network1:\n          gateways: [{address: 192.0.2.10, port: 0}]\n'), rule: 'smcp.mesh-networks', field: 'spec.cluster.multiCluster.meshNetworks.network1.gateways[0].port' },
  // envelope and status
  { name: 'a control plane name with a dot', yaml: smcp('  version: v2.0\n', '{name: basic.mesh, namespace: istio-system}'), rule: 'metadata.name-format', field: 'metadata.name' },
  { name: 'a condition status that is not True, False or Unknown', yaml: `${smcp('  version: v2.0\n')}status:\n  conditions: [{type: Ready, status: "Yes"}]\n`, rule: 'schema.type', field: 'status.conditions[0].status' },
  // v1.1 Helm values (the operator's ValidateV1)
  { name: 'Istiod telemetry in v1.1 values', yaml: smcpV1('  version: v1.1\n  istio:\n    telemetry: {implementation: Istiod}\n'), rule: 'smcp.v1-helm-values', field: 'spec.istio.telemetry.implementation', message: 'not supported in v1.1' },
  { name: 'in-proxy telemetry in v1.1 values', yaml: smcpV1('  version: v1.1\n  istio:\n    telemetry: {enabled: true, v2: {enabled: "True"}}\n'), rule: 'smcp.v1-helm-values', field: 'spec.istio.telemetry.v2.enabled' },
  { name: 'an external Jaeger with a non-zipkin tracer', yaml: smcpV1('  version: v1.1\n  istio:\n    global:\n      proxy: {tracer: lightstep}\n      tracer:\n        zipkin: {address: "jaeger-collector.istio-system.svc:9411"}\n'), rule: 'smcp.v1-helm-values', field: 'spec.istio.global.proxy.tracer' },
  { name: 'an external Jaeger address without a namespace', yaml: smcpV1('  version: v1.1\n  istio:\n    global:\n      tracer:\n        zipkin: {address: "jaeger-collector:9411"}\n'), rule: 'smcp.v1-helm-values', field: 'spec.istio.global.tracer.zipkin.address', message: 'must include a namespace' },
  { name: 'an external Jaeger in another namespace', yaml: smcpV1('  version: v1.1\n  istio:\n    global:\n      tracer:\n        zipkin: {address: "jaeger-collector.tracing:9411"}\n'), rule: 'smcp.v1-helm-values', field: 'spec.istio.global.tracer.zipkin.address', message: 'same namespace as the control plane (istio-system), not tracing' },
  { name: 'an external Jaeger with the bundled one still enabled', yaml: smcpV1('  version: v1.1\n  istio:\n    global:\n      tracer:\n        zipkin: {address: "jaeger-collector.istio-system.svc:9411"}\n    tracing: {enabled: true}\n'), rule: 'smcp.v1-helm-values', field: 'spec.istio.tracing.enabled' },
  { name: 'an external Jaeger without kiali.jaegerInClusterURL', yaml: smcpV1('  version: v1.1\n  istio:\n    global:\n      tracer:\n        zipkin: {address: "jaeger-collector.istio-system.svc:9411"}\n    kiali: {enabled: true}\n'), rule: 'smcp.v1-helm-values', field: 'spec.istio.kiali.jaegerInClusterURL' },
  { name: 'an unknown v1 field', yaml: smcpV1('  version: v1.1\n  values: {}\n'), rule: 'schema.unknown-field', field: 'spec.values' },
];

for (const c of invalid) {
  test(`refuses ${c.name} (${c.rule} at ${c.field})`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

test('warns about Mixer policy, multi-cluster, Elasticsearch settings without a storage type, and v1 networkType', () => {
  expectWarning(smcp('  policy: {type: Mixer}\n'), 'smcp.mixer-deprecated', 'spec.policy.type');
  expectWarning(smcp('  telemetry:\n    type: Remote\n    remote: {address: "mixer.example.com:9091"}\n'), 'smcp.mixer-deprecated', 'spec.telemetry.type');
  expectWarning(smcp('  cluster:\n    multiCluster: {enabled: true}\n'), 'smcp.unsupported-feature', 'spec.cluster.multiCluster.enabled');
  expectWarning(smcp('  cluster:\n    meshExpansion: {enabled: true}\n'), 'smcp.unsupported-feature', 'spec.cluster.meshExpansion.enabled');
  expectWarning(storage('          elasticsearch: {nodeCount: 3}\n'), 'smcp.jaeger-storage-default', 'spec.addons.jaeger.install.storage.type');
  expectWarning(smcpV1('  version: v1.1\n  networkType: multitenant\n'), 'smcp.v1-network-type', 'spec.networkType');
});

test('accepts an empty version (the webhook defaults it) and every shipped profile', () => {
  expectValid(smcp('  profiles: [base, small, default, servicemesh, maistra]\n'), { noWarnings: true });
  expectValid(smcp('  version: ""\n'), { noWarnings: true });
  expectValid(smcpV1('  version: v1.0\n  template: servicemesh\n'), { noWarnings: true });
  expectValid(smcpV1('  version: v1.1\n  profiles: [maistra]\n  istio:\n    any: {helm: values}\n  threeScale: {enabled: false}\n'), { noWarnings: true });
  // A complete external Jaeger set-up, and v1.0 values, which the operator never validated.
  expectValid(smcpV1('  version: v1.1\n  istio:\n    global:\n      proxy: {tracer: zipkin}\n      tracer:\n        zipkin: {address: "jaeger-collector.istio-system.svc:9411"}\n    tracing: {enabled: false}\n    kiali: {enabled: true, jaegerInClusterURL: "http://jaeger-query.istio-system.svc"}\n'), { noWarnings: true });
  expectValid(smcpV1('  version: v1.0\n  istio:\n    policy: {implementation: Istiod}\n'), { noWarnings: true });
});

test('accepts sniffing switched off, second-based DNS refresh, "*" and CIDRs, and zero for default ports', () => {
  expectValid(net('      protocol:\n        autoDetect: {inbound: false, outbound: false, timeout: 100ms}\n      dns: {refreshRate: 1.5s}\n      trafficControl:\n        inbound: {includedPorts: ["*", "8080"], excludedPorts: [15090]}\n        outbound: {includedIPRanges: ["*", "10.0.0.0/8", "fd00::/8"], excludedPorts: [3306]}\n'), { noWarnings: true });
  expectValid(smcp('  proxy:\n    adminPort: 0\n    runtime:\n      readiness: {statusPort: 0}\n'), { noWarnings: true });
});

test('accepts a consistent CA: Custom with an address, SelfSigned with rotation disabled, TTLs within 90 days', () => {
  expectValid(ca('      type: Custom\n      custom: {address: "istio-ca.vault.svc:15012"}\n'), { noWarnings: true });
  expectValid(istiod('{type: SelfSigned, selfSigned: {ttl: 87600h, gracePeriod: "20%", checkPeriod: "0", enableJitter: true}, workloadCertTTLDefault: 24h, workloadCertTTLMax: 2160h}'), { noWarnings: true });
  expectValid(istiod('{type: SelfSigned, selfSigned: {gracePeriod: "20", checkPeriod: "-1h"}}'), { noWarnings: true });
});

test('gateways with the same name are fine in different namespaces', () => {
  expectValid(smcp('  gateways:\n    additionalIngress:\n      edge: {namespace: team-a}\n    additionalEgress:\n      edge: {namespace: team-b}\n'), { noWarnings: true });
});

test('accepts Kiali when Prometheus is enabled or left to the profile, and neither without base', () => {
  expectValid(smcp('  profiles: [small]\n'), { noWarnings: true });
  expectValid(smcp('  profiles: [small]\n  addons:\n    kiali: {enabled: true}\n    prometheus: {enabled: true}\n'), { noWarnings: true });
  expectValid(smcp('  addons:\n    kiali: {enabled: false}\n    prometheus: {enabled: false}\n'), { noWarnings: true });
  expectValid(smcp('  addons:\n    kiali: {enabled: true}\n'), { noWarnings: true });
  expectValid(smcp('  addons:\n    prometheus: {enabled: true, address: "http://prom.example.com:9090"}\n    kiali: {enabled: true}\n'), { noWarnings: true });
});

test('the base and small profiles, and a spec with every profile applied, are valid v2 specs', () => {
  const doc = (spec: unknown) => stringify({ apiVersion: 'maistra.io/v2', kind: 'ServiceMeshControlPlane', metadata: { name: 'basic', namespace: 'istio-system' }, spec });
  expectValid(doc(BASE_PROFILE), { noWarnings: true });
  expectValid(doc(SMALL_PROFILE), { noWarnings: true });
  expectValid(doc(applyProfiles({ version: 'v2.0', profiles: ['default'] })), { noWarnings: true });
});

test('reports every problem of a resource at once', () => {
  const r = check(smcp('  version: v1.1\n  profiles: [tiny]\n  tracing: {sampling: 20000}\n  proxy:\n    networking:\n      protocol:\n        autoDetect: {inbound: true, outbound: true}\n'));
  assert.deepEqual(r.errors.map((e) => e.rule).sort(), ['smcp.protocol-autodetect', 'smcp.protocol-autodetect', 'smcp.tracing-sampling', 'smcp.unknown-profile', 'smcp.version']);
});

test('parses Kubernetes quantities and host:port addresses', () => {
  assert.equal(parseQuantity('100m'), 0.1);
  assert.equal(parseQuantity('128Mi'), 128 * 2 ** 20);
  assert.equal(parseQuantity('1G'), 1e9);
  assert.equal(parseQuantity('2e3'), 2000);
  assert.equal(parseQuantity(3), 3);
  assert.equal(parseQuantity('128MB'), undefined);
  assert.equal(parseQuantity('one'), undefined);
  assert.equal(hostPortProblem('ca.example.com:15012'), undefined);
  assert.equal(hostPortProblem('[fd00::1]:443'), undefined);
  assert.equal(hostPortProblem('10.0.0.1:80'), undefined);
  assert.match(hostPortProblem('ca.example.com') ?? '', /host:port/);
  assert.match(hostPortProblem('ca.example.com:70000') ?? '', /1\.\.65535/);
  assert.ok(hostPortProblem('999.0.0.1:80'));
});
