// SDS over ADS: gateway credentials (`kubernetes://NAME`, `-cacert`) from Secrets of the gateway's own namespace, their formats, refusals, encoding, and pushes on Secret edits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/config/memory-store.js';
import type { PushContext } from '../../src/model/push-context.js';
import { compileSecret } from '../../src/proxy/config/sds-secret.js';
import { AdsServer, type SecretMissingEvent, type SentEvent } from '../../src/xds/ads-server.js';
import { decodeResource, encodeResource } from '../../src/xds/encode.js';
import { envoyGenerators } from '../../src/xds/generators/index.js';
import { secretsOnly } from '../../src/xds/generators/push-needs.js';
import { credentialSecret, gatewayCredentialNames, generateSecrets } from '../../src/xds/generators/sds.js';
import { TypeUrl } from '../../src/xds/types.js';
import { applyYaml, proxy, pushOf } from '../helpers/bookinfo-mesh.js';
import { makeCertificates } from '../proxy/tls-fixtures.js';
import { AdsTestClient } from './ads-test-client.js';

const GW_NS = 'istio-system';
const gateway = proxy(GW_NS, { istio: 'ingressgateway' }, { type: 'router', ip: '10.1.9.1', name: 'istio-ingressgateway-1' });
const sidecar = proxy(GW_NS, { app: 'tool' }, { ip: '10.1.9.9', name: 'tool-1' });

const certs = makeCertificates(['web.example.com', 'other.example.com', 'client-ca.example.com']);
const web = certs.get('web.example.com')!;
const other = certs.get('other.example.com')!;
const clientCa = certs.get('client-ca.example.com')!;
const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');
const pem = (b: Buffer) => b.toString('utf8');

/** A Secret with base64 `data`. */
function secretYaml(name: string, data: Record<string, Buffer | string>, opts: { namespace?: string; type?: string } = {}): string {
  const lines = Object.entries(data).map(([k, v]) => `  ${JSON.stringify(k)}: ${b64(v)}`);
  return `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}, namespace: ${opts.namespace ?? GW_NS}}\ntype: ${opts.type ?? 'Opaque'}\ndata:\n${lines.join('\n')}\n`;
}

function storeWith(...yamls: string[]): MemoryStore {
  const store = new MemoryStore();
  for (const y of yamls) applyYaml(store, y);
  return store;
}

function resourceOf(push: PushContext, name: string, p = gateway): Record<string, unknown> | undefined {
  const found = credentialSecret(p, push, name);
  return 'resource' in found ? found.resource : undefined;
}

function problemOf(push: PushContext, name: string, p = gateway): string | undefined {
  const found = credentialSecret(p, push, name);
  return 'problem' in found ? found.problem : undefined;
}

/** The Envoy wire form, decoded again: what a proxy receives. */
function wire(resource: Record<string, unknown>, name: string): Record<string, unknown> {
  return decodeResource(TypeUrl.Secret, encodeResource({ name, typeUrl: TypeUrl.Secret, resource }));
}

test('kubernetes.io/tls Secret (base64 data): tls.crt and tls.key become a tls_certificate that encodes with Envoy\'s protos and compiles in the proxy', () => {
  const push = pushOf(storeWith(secretYaml('web-cert', { 'tls.crt': web.cert, 'tls.key': web.key }, { type: 'kubernetes.io/tls' })));
  const r = resourceOf(push, 'kubernetes://web-cert');
  assert.ok(r, problemOf(push, 'kubernetes://web-cert'));
  const decoded = wire(r, 'kubernetes://web-cert');
  assert.deepEqual(decoded, {
    '@type': TypeUrl.Secret,
    name: 'kubernetes://web-cert',
    tls_certificate: { certificate_chain: { inline_bytes: b64(web.cert) }, private_key: { inline_bytes: b64(web.key) } },
  });
  assert.deepEqual(compileSecret(decoded), { kind: 'certificate', certificateChain: pem(web.cert), privateKey: pem(web.key) });
});

test('generic Secret with stringData cert and key is accepted too; stringData wins over data', () => {
  const yaml = `apiVersion: v1
kind: Secret
metadata: {name: web-cert, namespace: ${GW_NS}}
data: {cert: ${b64(other.cert)}, key: ${b64(other.key)}}
stringData:
  cert: ${JSON.stringify(pem(web.cert))}
  key: ${JSON.stringify(pem(web.key))}
`;
  const r = resourceOf(pushOf(storeWith(yaml)), 'kubernetes://web-cert');
  assert.ok(r);
  assert.deepEqual(r.tlsCertificate, { certificateChain: { inlineBytes: b64(web.cert) }, privateKey: { inlineBytes: b64(web.key) } });
});

test('NAME-cacert: ca.crt or cacert from Secret NAME-cacert, else from Secret NAME itself; the CA secret is a validation_context', () => {
  // Separate CA Secret (key cacert).
  let push = pushOf(storeWith(secretYaml('web-cert', { cert: web.cert, key: web.key }), secretYaml('web-cert-cacert', { cacert: clientCa.cert })));
  let r = resourceOf(push, 'kubernetes://web-cert-cacert');
  assert.ok(r);
  const decoded = wire(r, 'kubernetes://web-cert-cacert');
  assert.deepEqual(decoded.validation_context, { trusted_ca: { inline_bytes: b64(clientCa.cert) } });
  assert.deepEqual(compileSecret(decoded), { kind: 'validation', trustedCa: pem(clientCa.cert) });
  // Compound Secret (kubernetes.io/tls with ca.crt).
  push = pushOf(storeWith(secretYaml('web-cert', { 'tls.crt': web.cert, 'tls.key': web.key, 'ca.crt': clientCa.cert }, { type: 'kubernetes.io/tls' })));
  r = resourceOf(push, 'kubernetes://web-cert-cacert');
  assert.deepEqual(r?.validationContext, { trustedCa: { inlineBytes: b64(clientCa.cert) } });
  assert.ok(resourceOf(push, 'kubernetes://web-cert')?.tlsCertificate, 'the same Secret still serves the certificate');
  // No CA anywhere.
  push = pushOf(storeWith(secretYaml('web-cert', { cert: web.cert, key: web.key })));
  assert.equal(resourceOf(push, 'kubernetes://web-cert-cacert'), undefined);
  assert.match(problemOf(push, 'kubernetes://web-cert-cacert')!, /has ca\.crt or cacert/);
});

test('namespace isolation: only Secrets of the gateway\'s own namespace are served, whatever the name says', () => {
  const push = pushOf(storeWith(secretYaml('web-cert', { cert: web.cert, key: web.key }, { namespace: 'bookinfo' }), secretYaml('own-cert', { cert: web.cert, key: web.key })));
  assert.equal(resourceOf(push, 'kubernetes://web-cert'), undefined, 'a Secret of another namespace is invisible');
  assert.match(problemOf(push, 'kubernetes://web-cert')!, /no Secret web-cert in namespace istio-system/);
  assert.equal(resourceOf(push, 'kubernetes://bookinfo/web-cert'), undefined, 'naming the other namespace does not help');
  assert.match(problemOf(push, 'kubernetes://bookinfo/web-cert')!, /own namespace/);
  assert.ok(resourceOf(push, 'kubernetes://istio-system/own-cert'), 'naming its own namespace is fine');
  assert.equal(resourceOf(push, 'file:///etc/certs/key.pem'), undefined);
  // A gateway in bookinfo does get bookinfo's Secret.
  const bookinfoGateway = proxy('bookinfo', { istio: 'ingressgateway' }, { type: 'router', ip: '10.1.9.2', name: 'bookinfo-gw-1' });
  assert.ok(resourceOf(push, 'kubernetes://web-cert', bookinfoGateway));
});

test('a sidecar gets no Secret, even one of its own namespace', () => {
  const push = pushOf(storeWith(secretYaml('web-cert', { cert: web.cert, key: web.key })));
  assert.deepEqual(generateSecrets(sidecar, push, ['kubernetes://web-cert']), []);
  assert.deepEqual(envoyGenerators[TypeUrl.Secret]!(sidecar, push, ['kubernetes://web-cert']), []);
  assert.match(problemOf(push, 'kubernetes://web-cert', sidecar)!, /only gateways/);
  assert.equal(generateSecrets(gateway, push, ['kubernetes://web-cert']).length, 1);
});

test('malformed Secrets are not served, and say why without quoting key material', () => {
  const push = pushOf(
    storeWith(
      secretYaml('mismatched', { cert: web.cert, key: other.key }),
      secretYaml('no-key', { 'tls.crt': web.cert }),
      secretYaml('garbage', { cert: 'not a certificate', key: 'not a key' }),
      secretYaml('bad-ca-cacert', { cacert: 'not a certificate' }),
    ),
  );
  const names = ['kubernetes://mismatched', 'kubernetes://no-key', 'kubernetes://garbage', 'kubernetes://bad-ca-cacert', 'kubernetes://absent'];
  assert.deepEqual(generateSecrets(gateway, push, names), []);
  assert.match(problemOf(push, names[0]!)!, /not the key of the certificate/);
  assert.match(problemOf(push, names[1]!)!, /neither tls\.crt and tls\.key nor cert and key/);
  assert.match(problemOf(push, names[2]!)!, /must be a PEM certificate/);
  assert.match(problemOf(push, names[3]!)!, /CA bundle must be PEM/);
  assert.match(problemOf(push, names[4]!)!, /no Secret absent/);
  for (const n of names) assert.ok(!problemOf(push, n)!.includes('PRIVATE KEY'), n);
});

test('a wildcard request gets every credential of the gateway\'s terminating servers (MUTUAL adds -cacert)', () => {
  const store = storeWith(
    secretYaml('web-cert', { cert: web.cert, key: web.key, cacert: clientCa.cert }),
    secretYaml('other-cert', { cert: other.cert, key: other.key }),
    `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: ${GW_NS}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-web, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: MUTUAL, credentialName: web-cert}
  - port: {number: 443, name: https-other, protocol: HTTPS}
    hosts: [other.example.com]
    tls: {mode: SIMPLE, credentialName: other-cert}
  - port: {number: 8443, name: tls, protocol: TLS}
    hosts: [pass.example.com]
    tls: {mode: PASSTHROUGH}
`,
  );
  const push = pushOf(store);
  assert.deepEqual(gatewayCredentialNames(gateway, push), ['kubernetes://other-cert', 'kubernetes://web-cert', 'kubernetes://web-cert-cacert']);
  assert.deepEqual(
    generateSecrets(gateway, push).map((r) => r.name),
    ['kubernetes://other-cert', 'kubernetes://web-cert', 'kubernetes://web-cert-cacert'],
  );
});

test('secretsOnly: a push of Secret edits alone regenerates SDS only', () => {
  assert.equal(secretsOnly({ full: true, configKinds: new Set(['Secret']) }), true);
  assert.equal(secretsOnly({ full: true, configKinds: new Set(['Secret', 'VirtualService']) }), false);
  assert.equal(secretsOnly({ full: true }), false);
  assert.equal(secretsOnly({ full: false, edsHosts: new Set(['a']) }), false);
});

test('ADS: a gateway subscribed to its credential gets it; a Secret edit pushes SDS only; a missing one is reported once', async () => {
  const ads = new AdsServer({ logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
  const port = await ads.listen('127.0.0.1:0');
  const sent: SentEvent[] = [];
  const missing: SecretMissingEvent[] = [];
  ads.events.on('sent', (e: SentEvent) => sent.push(e));
  ads.events.on('secret-missing', (e: SecretMissingEvent) => missing.push(e));
  const store = storeWith(secretYaml('web-cert', { 'tls.crt': web.cert, 'tls.key': web.key }, { type: 'kubernetes.io/tls' }));
  await ads.setPushContext(pushOf(store));
  const gw = new AdsTestClient(port, 'sotw', { id: 'router~10.1.9.1~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local' });
  const sc = new AdsTestClient(port, 'sotw', { id: 'sidecar~10.1.9.9~tool-1.istio-system~istio-system.svc.cluster.local' });
  try {
    gw.request(TypeUrl.Listener);
    const lds = await gw.next();
    gw.ack(lds);
    gw.request(TypeUrl.Secret, ['kubernetes://web-cert', 'kubernetes://absent']);
    const first = await gw.next();
    assert.equal(first.typeUrl, TypeUrl.Secret);
    assert.deepEqual(first.resources.map((r) => r.name), ['kubernetes://web-cert']);
    assert.equal((first.resources[0]!.body.tls_certificate as { certificate_chain: { inline_bytes: string } }).certificate_chain.inline_bytes, b64(web.cert));
    assert.deepEqual(missing.map((m) => [m.name, m.problem]), [['kubernetes://absent', 'no Secret absent in namespace istio-system']]);
    gw.ack(first, ['kubernetes://web-cert', 'kubernetes://absent']);

    sc.request(TypeUrl.Secret, ['kubernetes://web-cert']);
    const none = await sc.next();
    assert.deepEqual(none.resources, [], 'the sidecar is answered with nothing');

    // The certificate is replaced: only SDS goes out, and only to the gateway.
    applyYaml(store, secretYaml('web-cert', { 'tls.crt': other.cert, 'tls.key': other.key }, { type: 'kubernetes.io/tls' }));
    sent.length = 0;
    await ads.setPushContext(pushOf(store), { full: true, configKinds: new Set(['Secret']) });
    const second = await gw.next();
    assert.equal((second.resources[0]!.body.tls_certificate as { certificate_chain: { inline_bytes: string } }).certificate_chain.inline_bytes, b64(other.cert));
    assert.deepEqual(sent.map((e) => [e.proxyId.split('~')[0], e.typeUrl]), [['router', TypeUrl.Secret]]);
    assert.deepEqual(
      missing.map((m) => [m.proxyId.split('~')[0], m.name]),
      [
        ['router', 'kubernetes://absent'],
        ['sidecar', 'kubernetes://web-cert'],
      ],
      'the same problem is not reported again on every push',
    );
    assert.match(missing[1]!.problem, /only gateways/);
  } finally {
    gw.close();
    sc.close();
    await ads.close();
  }
});
