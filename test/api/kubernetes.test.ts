// Kubernetes kinds: the API server's own rules for Services, Deployments, Pods, ConfigMaps and Secrets, and the mesh's port-protocol warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, expectError, expectValid, expectWarning } from '../helpers/validation.js';
import { base64DecodedLength, configKeyProblem, servicePortProtocol } from '../../src/api/kinds/kubernetes.js';
import { ianaSvcNameProblem, labelSelectorMatches } from '../../src/api/kinds/kubernetes-pod.js';

const svc = (spec: string, meta = '{name: reviews, namespace: bookinfo}') => `apiVersion: v1\nkind: Service\nmetadata: ${meta}\nspec:\n${spec}`;
const ports = (lines: string) => svc(`  selector: {app: reviews}\n  ports:\n${lines}`);
/** A Deployment whose pod spec lines (indented by six spaces) follow a valid selector and labels. */
const deploy = (podSpec: string, specExtra = '') =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews-v1, namespace: bookinfo}\nspec:\n${specExtra}  selector:\n    matchLabels: {app: reviews}\n  template:\n    metadata:\n      labels: {app: reviews}\n    spec:\n${podSpec}`;
const ONE = '      containers:\n      - name: reviews\n        image: reviews:1\n';
/** A Deployment with one container whose extra lines are indented by eight spaces. */
const container = (lines: string) => deploy(`${ONE}${lines}`);
const pod = (spec: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: ratings, namespace: bookinfo}\nspec:\n${spec}`;
const cm = (body: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: bookinfo}\n${body}`;
const secret = (body: string) => `apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: bookinfo}\n${body}`;

const invalid: Array<{ name: string; yaml: string; rule: string; field: string; message?: string }> = [
  // Namespace
  { name: 'a Namespace name with dots', yaml: 'apiVersion: v1\nkind: Namespace\nmetadata: {name: book.info}\n', rule: 'metadata.name-format', field: 'metadata.name' },
  { name: 'a field Namespace does not have', yaml: 'apiVersion: v1\nkind: Namespace\nmetadata: {name: bookinfo}\nspec: {members: [a]}\n', rule: 'schema.unknown-field', field: 'spec.members' },
  // Service
  { name: 'a Service name starting with a digit', yaml: svc('  ports: [{name: http, port: 80}]\n', '{name: 1reviews}'), rule: 'k8s.service-name', field: 'metadata.name', message: 'DNS-1035' },
  { name: 'a ClusterIP Service without ports', yaml: svc('  selector: {app: reviews}\n'), rule: 'k8s.service-ports-required', field: 'spec.ports' },
  { name: 'port 0', yaml: ports('  - {name: http, port: 0}\n'), rule: 'k8s.service-port', field: 'spec.ports[0].port', message: '1..65535' },
  { name: 'port 65536', yaml: ports('  - {name: http, port: 65536}\n'), rule: 'k8s.service-port', field: 'spec.ports[0].port' },
  { name: 'a port without a number', yaml: ports('  - {name: http}\n'), rule: 'k8s.service-port', field: 'spec.ports[0].port', message: 'required' },
  { name: 'an unnamed port among two', yaml: ports('  - {port: 80}\n  - {name: https, port: 443}\n'), rule: 'k8s.service-port-name-required', field: 'spec.ports[0].name' },
  { name: 'a port name that is not a DNS label', yaml: ports('  - {name: http.web, port: 80}\n'), rule: 'k8s.service-port-name', field: 'spec.ports[0].name' },
  { name: 'duplicate port names', yaml: ports('  - {name: http, port: 80}\n  - {name: http, port: 8080}\n'), rule: 'k8s.service-port-name-unique', field: 'spec.ports[1].name', message: 'spec.ports[0]' },
  { name: 'the same port and protocol twice', yaml: ports('  - {name: http, port: 80}\n  - {name: http-alt, port: 80, protocol: TCP}\n'), rule: 'k8s.service-port-unique', field: 'spec.ports[1]', message: '80/TCP' },
  { name: 'a port protocol that does not exist', yaml: ports('  - {name: http, port: 80, protocol: HTTP}\n'), rule: 'schema.type', field: 'spec.ports[0].protocol' },
  { name: 'a named targetPort longer than 15 characters', yaml: ports('  - {name: http, port: 80, targetPort: http-reviews-main}\n'), rule: 'k8s.service-target-port', field: 'spec.ports[0].targetPort', message: '15' },
  { name: 'a targetPort name with no letter', yaml: ports('  - {name: http, port: 80, targetPort: "8080-1"}\n'), rule: 'k8s.service-target-port', field: 'spec.ports[0].targetPort', message: 'letter' },
  { name: 'a targetPort above 65535', yaml: ports('  - {name: http, port: 80, targetPort: 70000}\n'), rule: 'k8s.service-target-port', field: 'spec.ports[0].targetPort' },
  { name: 'a nodePort on a ClusterIP Service', yaml: ports('  - {name: http, port: 80, nodePort: 30080}\n'), rule: 'k8s.service-node-port', field: 'spec.ports[0].nodePort', message: 'ClusterIP' },
  { name: 'the same nodePort twice', yaml: svc('  type: NodePort\n  ports:\n  - {name: http, port: 80, nodePort: 30080}\n  - {name: http2, port: 81, nodePort: 30080}\n'), rule: 'k8s.service-node-port', field: 'spec.ports[1].nodePort' },
  { name: 'an ExternalName Service without externalName', yaml: svc('  type: ExternalName\n'), rule: 'k8s.service-external-name', field: 'spec.externalName', message: 'required' },
  { name: 'an externalName that is not a host name', yaml: svc('  type: ExternalName\n  externalName: "https://db.example.com"\n'), rule: 'k8s.service-external-name', field: 'spec.externalName' },
  { name: 'a clusterIP that is not an IP address', yaml: svc('  clusterIP: auto\n  ports: [{name: http, port: 80}]\n'), rule: 'k8s.service-cluster-ip', field: 'spec.clusterIP' },
  { name: 'an appProtocol that is not a qualified name', yaml: ports('  - {name: web, port: 80, appProtocol: "-http"}\n'), rule: 'k8s.service-app-protocol', field: 'spec.ports[0].appProtocol' },
  { name: 'an invalid selector label value', yaml: svc('  selector: {app: "reviews!"}\n  ports: [{name: http, port: 80}]\n'), rule: 'common.labels', field: 'spec.selector.app' },
  { name: 'an unknown Service type', yaml: svc('  type: Internal\n  ports: [{name: http, port: 80}]\n'), rule: 'schema.type', field: 'spec.type' },
  { name: 'a misspelt targetPort', yaml: ports('  - {name: http, port: 80, target_port: 9080}\n'), rule: 'schema.unknown-field', field: 'spec.ports[0].target_port', message: 'targetPort' },
  // Deployment
  { name: 'a Deployment without selector', yaml: `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n${ONE}`, rule: 'k8s.deployment-selector-required', field: 'spec.selector' },
  { name: 'a Deployment with an empty selector', yaml: `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {}\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n${ONE}`, rule: 'k8s.deployment-selector-required', field: 'spec.selector', message: 'empty' },
  { name: 'a selector that does not match the template labels', yaml: `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector:\n    matchLabels: {app: reviews}\n  template:\n    metadata: {labels: {app: ratings}}\n    spec:\n${ONE}`, rule: 'k8s.deployment-selector-mismatch', field: 'spec.template.metadata.labels' },
  { name: 'a matchExpressions selector the labels fail', yaml: `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector:\n    matchExpressions: [{key: version, operator: NotIn, values: [v1]}]\n  template:\n    metadata: {labels: {app: reviews, version: v1}}\n    spec:\n${ONE}`, rule: 'k8s.deployment-selector-mismatch', field: 'spec.template.metadata.labels' },
  { name: 'Exists with values', yaml: `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector:\n    matchExpressions: [{key: app, operator: Exists, values: [x]}]\n  template:\n    metadata: {labels: {app: reviews}}\n    spec:\n${ONE}`, rule: 'k8s.label-selector', field: 'spec.selector.matchExpressions[0].values' },
  { name: 'an unknown selector operator', yaml: `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector:\n    matchExpressions: [{key: app, operator: Equals, values: [x]}]\n  template:\n    metadata: {labels: {app: x}}\n    spec:\n${ONE}`, rule: 'schema.type', field: 'spec.selector.matchExpressions[0].operator' },
  { name: 'negative replicas', yaml: deploy(ONE, '  replicas: -2\n'), rule: 'k8s.non-negative', field: 'spec.replicas' },
  { name: 'replicas as a string', yaml: deploy(ONE, '  replicas: "3"\n'), rule: 'schema.type', field: 'spec.replicas' },
  { name: 'a maxSurge that is neither a number nor a percentage', yaml: deploy(ONE, '  strategy:\n    rollingUpdate: {maxSurge: one}\n'), rule: 'k8s.deployment-strategy', field: 'spec.strategy.rollingUpdate.maxSurge' },
  { name: 'maxUnavailable above 100%', yaml: deploy(ONE, '  strategy:\n    rollingUpdate: {maxUnavailable: 150%}\n'), rule: 'k8s.deployment-strategy', field: 'spec.strategy.rollingUpdate.maxUnavailable', message: '100%' },
  { name: 'restartPolicy Never in a Deployment', yaml: deploy(`      restartPolicy: Never\n${ONE}`), rule: 'k8s.restart-policy', field: 'spec.template.spec.restartPolicy' },
  { name: 'a Deployment without containers', yaml: deploy('      serviceAccountName: reviews\n'), rule: 'k8s.containers-required', field: 'spec.template.spec.containers' },
  { name: 'a Deployment without template', yaml: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector:\n    matchLabels: {app: reviews}\n', rule: 'k8s.containers-required', field: 'spec.template.spec.containers' },
  { name: 'an invalid template label', yaml: `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector:\n    matchLabels: {app: reviews}\n  template:\n    metadata: {labels: {app: reviews, "-tier": web}}\n    spec:\n${ONE}`, rule: 'metadata.labels', field: 'spec.template.metadata.labels["-tier"]' },
  { name: 'a PodSpec field Kubernetes does not have', yaml: deploy(`      hostNetworking: true\n${ONE}`), rule: 'schema.unknown-field', field: 'spec.template.spec.hostNetworking', message: 'hostNetwork' },
  { name: 'a Container field Kubernetes does not have', yaml: container('        imagePolicy: Always\n'), rule: 'schema.unknown-field', field: 'spec.template.spec.containers[0].imagePolicy' },
  // Containers
  { name: 'a container name with upper case', yaml: deploy('      containers:\n      - {name: Reviews, image: reviews:1}\n'), rule: 'k8s.container-name', field: 'spec.template.spec.containers[0].name' },
  { name: 'a container without a name', yaml: deploy('      containers:\n      - {image: reviews:1}\n'), rule: 'k8s.container-name', field: 'spec.template.spec.containers[0].name', message: 'required' },
  { name: 'two containers with one name', yaml: deploy('      containers:\n      - {name: app, image: a:1}\n      - {name: app, image: b:1}\n'), rule: 'k8s.container-name-unique', field: 'spec.template.spec.containers[1].name' },
  { name: 'a container without image', yaml: deploy('      containers:\n      - {name: reviews}\n'), rule: 'k8s.container-image', field: 'spec.template.spec.containers[0].image' },
  { name: 'containerPort 0', yaml: container('        ports: [{containerPort: 0}]\n'), rule: 'k8s.container-port', field: 'spec.template.spec.containers[0].ports[0].containerPort' },
  { name: 'containerPort 70000', yaml: container('        ports: [{containerPort: 70000}]\n'), rule: 'k8s.container-port', field: 'spec.template.spec.containers[0].ports[0].containerPort' },
  { name: 'a port without containerPort', yaml: container('        ports: [{name: http}]\n'), rule: 'k8s.container-port', field: 'spec.template.spec.containers[0].ports[0].containerPort', message: 'required' },
  { name: 'a container port name of 16 characters', yaml: container('        ports: [{name: http-reviews-api, containerPort: 9080}]\n'), rule: 'k8s.container-port-name', field: 'spec.template.spec.containers[0].ports[0].name', message: '15' },
  { name: 'a container port name with "--"', yaml: container('        ports: [{name: http--api, containerPort: 9080}]\n'), rule: 'k8s.container-port-name', field: 'spec.template.spec.containers[0].ports[0].name', message: 'consecutive' },
  { name: 'an env var name starting with a digit', yaml: container('        env: [{name: 9LIVES, value: "x"}]\n'), rule: 'k8s.env-name', field: 'spec.template.spec.containers[0].env[0].name' },
  { name: 'an env var name with "="', yaml: container('        env: [{name: "A=B", value: "x"}]\n'), rule: 'k8s.env-name', field: 'spec.template.spec.containers[0].env[0].name' },
  { name: 'an env var without a name', yaml: container('        env: [{value: "x"}]\n'), rule: 'k8s.env-name', field: 'spec.template.spec.containers[0].env[0].name', message: 'required' },
  { name: 'value and valueFrom together', yaml: container('        env:\n        - name: HOST\n          value: x\n          valueFrom: {fieldRef: {fieldPath: status.podIP}}\n'), rule: 'k8s.env-value', field: 'spec.template.spec.containers[0].env[0].valueFrom' },
  { name: 'valueFrom naming two sources', yaml: container('        env:\n        - name: HOST\n          valueFrom: {fieldRef: {fieldPath: status.podIP}, secretKeyRef: {name: s, key: k}}\n'), rule: 'k8s.env-value', field: 'spec.template.spec.containers[0].env[0].valueFrom' },
  // Probes
  { name: 'a probe without handler', yaml: container('        readinessProbe: {initialDelaySeconds: 5}\n'), rule: 'k8s.probe-handler', field: 'spec.template.spec.containers[0].readinessProbe' },
  { name: 'a probe with two handlers', yaml: container('        livenessProbe:\n          exec: {command: [true]}\n          httpGet: {port: 9080}\n'), rule: 'k8s.probe-handler', field: 'spec.template.spec.containers[0].livenessProbe.httpGet', message: 'exec and httpGet' },
  { name: 'an httpGet probe port of 0', yaml: container('        readinessProbe:\n          httpGet: {path: /health, port: 0}\n'), rule: 'k8s.probe-port', field: 'spec.template.spec.containers[0].readinessProbe.httpGet.port' },
  { name: 'an httpGet probe without port', yaml: container('        readinessProbe:\n          httpGet: {path: /health}\n'), rule: 'k8s.probe-port', field: 'spec.template.spec.containers[0].readinessProbe.httpGet.port', message: 'required' },
  { name: 'a tcpSocket probe port name in upper case', yaml: container('        livenessProbe:\n          tcpSocket: {port: HTTP}\n'), rule: 'k8s.probe-port', field: 'spec.template.spec.containers[0].livenessProbe.tcpSocket.port' },
  { name: 'a grpc probe port out of range', yaml: container('        startupProbe:\n          grpc: {port: 99999}\n'), rule: 'k8s.probe-port', field: 'spec.template.spec.containers[0].startupProbe.grpc.port' },
  { name: 'an unknown probe scheme', yaml: container('        readinessProbe:\n          httpGet: {port: 9080, scheme: HTTP2}\n'), rule: 'schema.type', field: 'spec.template.spec.containers[0].readinessProbe.httpGet.scheme' },
  { name: 'a negative failureThreshold', yaml: container('        readinessProbe:\n          tcpSocket: {port: 9080}\n          failureThreshold: -1\n'), rule: 'k8s.probe-settings', field: 'spec.template.spec.containers[0].readinessProbe.failureThreshold' },
  { name: 'a startupProbe with successThreshold 3', yaml: container('        startupProbe:\n          tcpSocket: {port: 9080}\n          successThreshold: 3\n'), rule: 'k8s.probe-settings', field: 'spec.template.spec.containers[0].startupProbe.successThreshold' },
  { name: 'an invalid probe header name', yaml: container('        readinessProbe:\n          httpGet:\n            port: 9080\n            httpHeaders: [{name: "X Probe", value: "1"}]\n'), rule: 'k8s.probe-settings', field: 'spec.template.spec.containers[0].readinessProbe.httpGet.httpHeaders[0].name' },
  { name: 'a probe on an init container', yaml: deploy(`      initContainers:\n      - name: init\n        image: busybox\n        readinessProbe: {exec: {command: [true]}}\n${ONE}`), rule: 'k8s.probe-settings', field: 'spec.template.spec.initContainers[0].readinessProbe' },
  // Volumes
  { name: 'a mount of an undeclared volume', yaml: container('        volumeMounts: [{name: data, mountPath: /data}]\n'), rule: 'k8s.volume-mount', field: 'spec.template.spec.containers[0].volumeMounts[0].name', message: '"data"' },
  { name: 'a mount without mountPath', yaml: deploy(`      volumes: [{name: data, emptyDir: {}}]\n${ONE}        volumeMounts: [{name: data}]\n`), rule: 'k8s.volume-mount', field: 'spec.template.spec.containers[0].volumeMounts[0].mountPath' },
  { name: 'two mounts at one path', yaml: deploy(`      volumes: [{name: a, emptyDir: {}}, {name: b, emptyDir: {}}]\n${ONE}        volumeMounts: [{name: a, mountPath: /data}, {name: b, mountPath: /data}]\n`), rule: 'k8s.volume-mount', field: 'spec.template.spec.containers[0].volumeMounts[1].mountPath' },
  { name: 'a volume name with upper case', yaml: deploy(`      volumes: [{name: Data, emptyDir: {}}]\n${ONE}`), rule: 'k8s.volume-name', field: 'spec.template.spec.volumes[0].name' },
  // Pod
  { name: 'a Pod without containers', yaml: pod('  restartPolicy: Never\n'), rule: 'k8s.containers-required', field: 'spec.containers' },
  { name: 'a Pod with a duplicate hostPort', yaml: pod('  containers:\n  - name: a\n    image: a\n    ports: [{containerPort: 80, hostPort: 8080}]\n  - name: b\n    image: b\n    ports: [{containerPort: 81, hostPort: 8080}]\n'), rule: 'k8s.host-port-unique', field: 'spec.containers[1].ports[0].hostPort', message: '8080/TCP' },
  { name: 'a Pod with hostNetwork and a remapped hostPort', yaml: pod('  hostNetwork: true\n  containers:\n  - name: a\n    image: a\n    ports: [{containerPort: 80, hostPort: 8080}]\n'), rule: 'k8s.container-port', field: 'spec.containers[0].ports[0].hostPort', message: 'hostNetwork' },
  { name: 'an unknown Pod restartPolicy', yaml: pod('  restartPolicy: Sometimes\n  containers: [{name: a, image: a}]\n'), rule: 'schema.type', field: 'spec.restartPolicy' },
  // ConfigMap
  { name: 'a ConfigMap key with a slash', yaml: cm('data:\n  conf/app.yaml: "x"\n'), rule: 'k8s.data-key', field: 'data["conf/app.yaml"]' },
  { name: 'a ConfigMap key ".."', yaml: cm('data:\n  "..": "x"\n'), rule: 'k8s.data-key', field: 'data[".."]' },
  { name: 'a key in data and binaryData', yaml: cm('data:\n  logo: x\nbinaryData:\n  logo: eA==\n'), rule: 'k8s.configmap-duplicate-key', field: 'data.logo', message: 'binaryData' },
  { name: 'binaryData that is not base64', yaml: cm('binaryData:\n  logo: "eA="\n'), rule: 'k8s.data-base64', field: 'binaryData.logo' },
  { name: 'a numeric ConfigMap value', yaml: cm('data:\n  replicas: 3\n'), rule: 'schema.type', field: 'data.replicas' },
  { name: 'a ConfigMap over 1 MiB', yaml: cm(`data:\n  a: "${'x'.repeat(600_000)}"\n  b: "${'y'.repeat(600_000)}"\n`), rule: 'k8s.data-size', field: '', message: '1 MiB' },
  // Secret
  { name: 'Secret data that is not base64', yaml: secret('data:\n  password: hunter2\n'), rule: 'k8s.data-base64', field: 'data.password', message: 'stringData' },
  { name: 'Secret data with padding in the middle', yaml: secret('data:\n  token: "aGk=aGk="\n'), rule: 'k8s.data-base64', field: 'data.token' },
  { name: 'a Secret key with a space', yaml: secret('stringData:\n  "api key": abc\n'), rule: 'k8s.data-key', field: 'stringData["api key"]' },
  { name: 'a Secret over 1 MiB of decoded data', yaml: secret(`data:\n  blob: "${Buffer.alloc(1024 * 1024 + 3).toString('base64')}"\n`), rule: 'k8s.data-size', field: 'data', message: '1048579' },
  { name: 'a TLS Secret without tls.crt', yaml: secret('type: kubernetes.io/tls\nstringData:\n  tls.key: k\n'), rule: 'k8s.secret-type', field: 'data["tls.crt"]' },
  { name: 'a dockerconfigjson Secret holding no JSON', yaml: secret(`type: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: ${Buffer.from('auths: {}').toString('base64')}\n`), rule: 'k8s.secret-type', field: 'data[".dockerconfigjson"]', message: 'JSON' },
  { name: 'a service-account-token Secret without its annotation', yaml: secret('type: kubernetes.io/service-account-token\n'), rule: 'k8s.secret-type', field: 'metadata.annotations["kubernetes.io/service-account.name"]' },
  { name: 'a basic-auth Secret with neither username nor password', yaml: secret('type: kubernetes.io/basic-auth\nstringData:\n  user: bob\n'), rule: 'k8s.secret-type', field: 'data.username' },
  { name: 'a Secret field Kubernetes does not have', yaml: secret('stringdata:\n  a: b\n'), rule: 'schema.unknown-field', field: 'stringdata', message: 'stringData' },
];

for (const c of invalid) {
  test(`Kubernetes: refuses ${c.name}`, () => {
    expectError(c.yaml, c.rule, c.field, c.message);
  });
}

test('Kubernetes: has at least 25 invalid cases', () => {
  assert.ok(invalid.length >= 25);
});

// ------------------------------------------------------------------------------------------
// The port-protocol warning (OP-07, Istio-14743).

test('Service ports: warns that a port named "web" will be opaque TCP, at the name', () => {
  const d = expectWarning(ports('  - {name: web, port: 8080}\n'), 'k8s.service-port-protocol', 'spec.ports[0].name');
  assert.match(d.message, /opaque TCP/);
});

test('Service ports: warns about an unnamed port, at the place the name belongs', () => {
  expectWarning(ports('  - {port: 8080}\n'), 'k8s.service-port-protocol', 'spec.ports[0].name');
});

test('Service ports: warns about an appProtocol the mesh does not know, at the appProtocol', () => {
  expectWarning(ports('  - {name: http, port: 8080, appProtocol: kafka}\n'), 'k8s.service-port-protocol', 'spec.ports[0].appProtocol');
});

test('Service ports: is quiet for <proto> and <proto>-suffix names, appProtocol, UDP and well-known TCP ports', () => {
  expectValid(ports('  - {name: http, port: 80}\n  - {name: grpc-web-ui, port: 81}\n  - {name: tcp-db, port: 82}\n  - {name: http2-api, port: 83}\n  - {name: web, port: 84, appProtocol: http}\n  - {name: dns, port: 53, protocol: UDP}\n  - {name: db, port: 3306}\n  - {name: mongodb, port: 27017}\n  - {name: https, port: 443}\n'), { noWarnings: true });
});

test('Service ports: is quiet in kube-system, where the mesh does not run', () => {
  expectValid(svc('  selector: {k8s-app: kube-dns}\n  ports: [{name: metrics, port: 9153}]\n', '{name: kube-dns, namespace: kube-system}'), { noWarnings: true });
});

test('servicePortProtocol: appProtocol wins over the name; a dash ends the protocol prefix', () => {
  assert.deepEqual(servicePortProtocol({ name: 'tcp-x', appProtocol: 'http2' }), { protocol: 'HTTP2', explicit: true });
  assert.deepEqual(servicePortProtocol({ name: 'grpc-web' }), { protocol: 'GRPC-WEB', explicit: true });
  assert.deepEqual(servicePortProtocol({ name: 'grpc-webui' }), { protocol: 'GRPC-WEB', explicit: true });
  assert.deepEqual(servicePortProtocol({ name: 'https-admin' }), { protocol: 'HTTPS', explicit: true });
  assert.deepEqual(servicePortProtocol({ name: 'httpx' }), { protocol: 'TCP', explicit: false });
  assert.deepEqual(servicePortProtocol({ name: 'x', protocol: 'UDP' }), { protocol: 'UDP', explicit: true });
  assert.deepEqual(servicePortProtocol({ port: 25 }), { protocol: 'TCP', explicit: true });
});

// ------------------------------------------------------------------------------------------
// Whole-resource behaviour and helpers.

test('Kubernetes: headless and ExternalName Services need no ports', () => {
  expectValid(svc('  clusterIP: None\n  selector: {app: db}\n'), { noWarnings: true });
  expectValid(svc('  type: ExternalName\n  externalName: db.example.com\n'), { noWarnings: true });
});

test('Kubernetes: reports every problem of a Deployment at once, not only the first', () => {
  const r = check(deploy('      containers:\n      - {name: A, ports: [{containerPort: 0}]}\n', '  replicas: -1\n'));
  assert.deepEqual(r.errors.map((e) => e.rule).sort(), ['k8s.container-image', 'k8s.container-name', 'k8s.container-port', 'k8s.non-negative']);
});

test('Kubernetes: a probe naming a port the container does not declare is a warning, not an error', () => {
  const y = container('        ports: [{name: http, containerPort: 9080}]\n        readinessProbe:\n          httpGet: {port: metrics}\n');
  expectValid(y);
  expectWarning(y, 'k8s.probe-port-unresolved', 'spec.template.spec.containers[0].readinessProbe.httpGet.port');
});

test('Kubernetes: a restartable init container (native sidecar) may have probes', () => {
  expectValid(deploy(`      initContainers:\n      - name: proxy\n        image: proxy:1\n        restartPolicy: Always\n        readinessProbe: {tcpSocket: {port: 15021}}\n${ONE}`), { noWarnings: true });
});

test('Kubernetes: a key in both data and stringData counts once towards the Secret size', () => {
  const half = Buffer.alloc(700_000).toString('base64');
  expectValid(secret(`data:\n  a: "${half}"\nstringData:\n  a: small\n  b: "${'x'.repeat(500_000)}"\n`));
});

test('base64DecodedLength: accepts padded and line-wrapped base64, refuses the rest', () => {
  assert.equal(base64DecodedLength('aGVsbG8='), 5);
  assert.equal(base64DecodedLength('aGVs\nbG8=\n'), 5);
  assert.equal(base64DecodedLength(''), 0);
  assert.equal(base64DecodedLength('aGVsbG8'), undefined);
  assert.equal(base64DecodedLength('aGVsbG8_'), undefined);
});

test('configKeyProblem and ianaSvcNameProblem follow Kubernetes', () => {
  assert.equal(configKeyProblem('.dockerconfigjson'), undefined);
  assert.ok(configKeyProblem('..data'));
  assert.equal(ianaSvcNameProblem('http-metrics'), undefined);
  assert.ok(ianaSvcNameProblem('http-metrics-api'));
  assert.ok(ianaSvcNameProblem('-http'));
  assert.ok(ianaSvcNameProblem('8080'));
});

test('labelSelectorMatches: matchLabels and every operator', () => {
  const labels = { app: 'reviews', version: 'v2' };
  assert.ok(labelSelectorMatches({ matchLabels: { app: 'reviews' } }, labels));
  assert.ok(!labelSelectorMatches({ matchLabels: { app: 'ratings' } }, labels));
  assert.ok(labelSelectorMatches({ matchExpressions: [{ key: 'version', operator: 'In', values: ['v1', 'v2'] }] }, labels));
  assert.ok(!labelSelectorMatches({ matchExpressions: [{ key: 'version', operator: 'NotIn', values: ['v2'] }] }, labels));
  assert.ok(labelSelectorMatches({ matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, labels));
  assert.ok(!labelSelectorMatches({ matchExpressions: [{ key: 'canary', operator: 'Exists' }] }, labels));
  assert.ok(labelSelectorMatches({}, labels), 'an empty selector selects everything');
  assert.ok(!labelSelectorMatches(undefined, labels), 'an absent selector selects nothing');
});
