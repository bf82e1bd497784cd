// The CA's Kubernetes caller check: ServiceAccount tokens reviewed by a fake API server over real HTTPS, failing closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { generateRootCa } from '../../src/ca/ca-bundle.js';
import { CaServer, caServerCredentials, istioCaServiceDefinition, type IstioCertificateResponse } from '../../src/ca/ca-server.js';
import { TokenReviewAuthenticator, inClusterApiAccess } from '../../src/ca/token-review.js';
import { isMeshError } from '../../src/shared/errors.js';
import { workloadCsr } from './csr.js';
import { fakeKubeApi, serviceAccountUser, type FakeKubeApi } from './fake-kube-api.js';

const trustDomain = 'cluster.local';

function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

async function withApi(body: (api: FakeKubeApi, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-tokenreview-'));
  const api = await fakeKubeApi(dir);
  try {
    writeFileSync(join(dir, 'token'), 'istiod-token-1\n');
    await body(api, dir);
  } finally {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function refusedWith(pattern: RegExp) {
  return (e: unknown) => isMeshError(e, 'MESH_UNAUTHENTICATED') && pattern.test((e as Error).message);
}

test('a ServiceAccount token the API server authenticates gives that namespace and service account; the review carries istiod\'s own token and the istio-ca audience', async () => {
  await withApi(async (api, dir) => {
    api.answer = (t) => (t === 'good.jwt.token' ? { authenticated: true, user: serviceAccountUser('shop', 'cart'), audiences: ['istio-ca'] } : { authenticated: false, error: 'invalid bearer token' });
    const auth = new TokenReviewAuthenticator({ api: { server: api.url, caPem: api.caPem, tokenFile: join(dir, 'token') }, trustDomain });
    assert.deepEqual(await auth.authenticate(bearer('good.jwt.token')), { trustDomain, namespace: 'shop', serviceAccount: 'cart' });
    assert.deepEqual(api.reviews[0], {
      authorization: 'Bearer istiod-token-1',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'good.jwt.token', audiences: ['istio-ca'] } },
    });
    await assert.rejects(auth.authenticate(bearer('bad.jwt.token')), refusedWith(/not authenticated: invalid bearer token/));
    // A projected token is rotated by the kubelet: the next review uses the new one.
    writeFileSync(join(dir, 'token'), 'istiod-token-2-longer\n');
    await auth.authenticate(bearer('good.jwt.token'));
    assert.equal(api.reviews.at(-1)!.authorization, 'Bearer istiod-token-2-longer');
  });
});

test('the review must name a service account, for the wanted audience; a missing or doubled header is refused before any review', async () => {
  await withApi(async (api, dir) => {
    const auth = new TokenReviewAuthenticator({ api: { server: api.url, caPem: api.caPem, tokenFile: join(dir, 'token') }, trustDomain });
    api.answer = () => ({ authenticated: true, user: { username: 'system:node:worker-1', groups: ['system:nodes', 'system:authenticated'] } });
    await assert.rejects(auth.authenticate(bearer('a.b.c')), refusedWith(/system:node:worker-1 is not a service account/));
    api.answer = () => ({ authenticated: true, user: { username: 'system:serviceaccount:shop:cart', groups: ['system:authenticated'] } });
    await assert.rejects(auth.authenticate(bearer('a.b.c')), refusedWith(/not a service account/), 'the service-account group is required too');
    api.answer = () => ({ authenticated: true, user: serviceAccountUser('shop', 'cart'), audiences: ['https://kubernetes.default.svc'] });
    await assert.rejects(auth.authenticate(bearer('a.b.c')), refusedWith(/is for https:\/\/kubernetes\.default\.svc, not istio-ca/));
    api.answer = () => ({ authenticated: true, user: { username: 'system:serviceaccount:shop', groups: ['system:serviceaccounts'] } });
    await assert.rejects(auth.authenticate(bearer('a.b.c')), refusedWith(/malformed service account user/));
    const reviews = api.reviews.length;
    await assert.rejects(auth.authenticate(new grpc.Metadata()), refusedWith(/one authorization header/));
    const two = bearer('a.b.c');
    two.add('authorization', 'Bearer d.e.f');
    await assert.rejects(auth.authenticate(two), refusedWith(/one authorization header/));
    await assert.rejects(auth.authenticate(bearer('has spaces "and quotes"')), refusedWith(/malformed token/));
    assert.equal(api.reviews.length, reviews, 'nothing was sent to the API server');
  });
});

test('the check fails closed: an API server that is down, slow, erroring or not the one trusted refuses the caller', async () => {
  await withApi(async (api, dir) => {
    api.answer = () => ({ authenticated: true, user: serviceAccountUser('shop', 'cart') });
    const tokenFile = join(dir, 'token');
    const slow = new TokenReviewAuthenticator({ api: { server: api.url, caPem: api.caPem, tokenFile }, trustDomain, timeoutMs: 200 });
    api.answer = () => 'hang';
    await assert.rejects(slow.authenticate(bearer('a.b.c')), refusedWith(/no answer within 200 ms/));
    api.answer = () => 500;
    await assert.rejects(slow.authenticate(bearer('a.b.c')), refusedWith(/answered 500/));
    const otherRoot = (await generateRootCa({ trustDomain, keyType: 'ecP256' })).rootCertPem;
    api.answer = () => ({ authenticated: true, user: serviceAccountUser('shop', 'cart') });
    const impostor = new TokenReviewAuthenticator({ api: { server: api.url, caPem: otherRoot, tokenFile }, trustDomain });
    await assert.rejects(impostor.authenticate(bearer('a.b.c')), refusedWith(/token review failed/), 'an API server whose certificate is not from the configured CA is not asked');
    const down = new TokenReviewAuthenticator({ api: { server: 'https://127.0.0.1:1', caPem: api.caPem, tokenFile }, trustDomain });
    await assert.rejects(down.authenticate(bearer('a.b.c')), refusedWith(/token review failed/));
    assert.throws(() => new TokenReviewAuthenticator({ api: { server: 'http://127.0.0.1:8080', tokenFile }, trustDomain }), /must be https/);
  });
});

test('in-cluster access comes from KUBERNETES_SERVICE_HOST/PORT and the mounted service account', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-incluster-'));
  try {
    writeFileSync(join(dir, 'ca.crt'), 'PEM');
    assert.deepEqual(inClusterApiAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir), { server: 'https://10.96.0.1:443', caPem: 'PEM', tokenFile: join(dir, 'token') });
    assert.equal(inClusterApiAccess({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, dir).server, 'https://[fd00::1]:6443');
    assert.throws(() => inClusterApiAccess({}, dir), /KUBERNETES_SERVICE_HOST is not set/);
    assert.throws(() => inClusterApiAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, join(dir, 'missing')), /cannot read .*ca\.crt/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('end to end: the CA signs for the reviewed service account, whatever the CSR asks; an unauthenticated token gets UNAUTHENTICATED', async () => {
  await withApi(async (api, dir) => {
    api.answer = (t) => (t === 'cart.jwt.token' ? { authenticated: true, user: serviceAccountUser('shop', 'cart'), audiences: ['istio-ca'] } : { authenticated: false });
    const bundle = await generateRootCa({ trustDomain, keyType: 'ecP256' });
    const server = new CaServer({ bundle, authenticator: new TokenReviewAuthenticator({ api: { server: api.url, caPem: api.caPem, tokenFile: join(dir, 'token') }, trustDomain }), trustDomain });
    const client = { current: undefined as grpc.Client | undefined };
    try {
      const port = await server.start('127.0.0.1:0', await caServerCredentials(bundle, ['istiod.istio-system.svc']));
      client.current = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(bundle.rootCertPem)), { 'grpc.ssl_target_name_override': 'istiod.istio-system.svc' });
      const method = istioCaServiceDefinition().CreateCertificate!;
      const { csrPem } = await workloadCsr('spiffe://cluster.local/ns/kube-system/sa/admin');
      const call = (token: string) =>
        new Promise<IstioCertificateResponse>((resolve, reject) =>
          client.current!.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { csr: csrPem, validity_duration: 3600 }, bearer(token), { deadline: Date.now() + 10_000 }, (err, res) =>
            err || !res ? reject(err ?? new Error('no response')) : resolve(res as IstioCertificateResponse),
          ),
        );
      const answer = await call('cart.jwt.token');
      assert.equal(new X509Certificate(answer.cert_chain[0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/shop/sa/cart');
      await assert.rejects(call('stolen.jwt.token'), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    } finally {
      client.current?.close();
      await server.close();
    }
  });
});
