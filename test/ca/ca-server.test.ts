import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { CLOCK_SKEW_GRACE_MS, generateRootCa } from '../../src/ca/ca-bundle.js';
import { CaServer, caServerCredentials, istioCaServiceDefinition, type CaLogger, type IstioCertificateRequest, type IstioCertificateResponse } from '../../src/ca/ca-server.js';
import { LocalTokenAuthenticator, newTokenKey, type CallerAuthenticator } from '../../src/ca/caller-auth.js';
import { DEFAULT_WORKLOAD_TTL_MS } from '../../src/ca/sign.js';
import { MetricsRegistry } from '../../src/shared/metrics.js';
import { meshConfigFromControlPlane, nodeTlsOptions } from '../../src/model/mesh-config.js';
import { workloadCsr } from './csr.js';

const trustDomain = 'cluster.local';
const SERVER_NAME = 'istiod.istio-system.svc';
const MAX_TTL_MS = 48 * 3600 * 1000;
const foo = { namespace: 'foo', serviceAccount: 'a' };

const root = generateRootCa({ trustDomain, keyType: 'ecP256' });
const key = newTokenKey();
const tokens = new LocalTokenAuthenticator({ key, trustDomain });

interface Harness {
  call(request: Partial<IstioCertificateRequest>, token?: string, serverName?: string): Promise<IstioCertificateResponse>;
  /** Certificates signed so far. */
  issued(): number;
  logged: string[];
}

/** A CA server over TLS on 127.0.0.1 and clients that trust its root; both are closed when `body` ends. */
async function withCa(body: (h: Harness) => Promise<void>, authenticator: CallerAuthenticator = tokens): Promise<void> {
  const bundle = await root;
  const metrics = new MetricsRegistry();
  const logged: string[] = [];
  const logger: CaLogger = { info: () => undefined, warn: (m, f) => logged.push(`${m} ${JSON.stringify(f)}`), error: (m, f) => logged.push(`${m} ${JSON.stringify(f)}`) };
  const server = new CaServer({ bundle, authenticator, trustDomain, maxTtlMs: MAX_TTL_MS, logger, metrics });
  const clients: grpc.Client[] = [];
  try {
    const port = await server.start('127.0.0.1:0', await caServerCredentials(bundle, [SERVER_NAME]));
    const method = istioCaServiceDefinition().CreateCertificate!;
    const call: Harness['call'] = (request, token, serverName = SERVER_NAME) => {
      const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(bundle.rootCertPem)), { 'grpc.ssl_target_name_override': serverName });
      clients.push(client);
      const metadata = new grpc.Metadata();
      if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
      return new Promise((resolve, reject) =>
        client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadata, { deadline: Date.now() + 10_000 }, (err, res) =>
          err || res === undefined ? reject(err ?? new Error('no response')) : resolve(res as IstioCertificateResponse),
        ),
      );
    };
    await body({ call, issued: () => metrics.counter('citadel_server_success_cert_issuance_count', '').get(), logged });
  } finally {
    for (const c of clients) c.close();
    await server.close();
  }
}

function status(code: grpc.status) {
  return (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `${grpc.status[e.code]}: ${e.details}`);
    return true;
  };
}

test('a valid token gets a chain for its own SPIFFE ID, whatever the CSR asks for, verifying to the root', { timeout: 20_000 }, async () => {
  await withCa(async ({ call, issued }) => {
    const { csrPem } = await workloadCsr('spiffe://cluster.local/ns/istio-system/sa/istiod');
    const { cert_chain } = await call({ csr: csrPem }, tokens.issueToken(foo, 60_000));
    const bundle = await root;
    assert.equal(cert_chain.length, 2);
    assert.equal(cert_chain[1], bundle.rootCertPem);
    const leaf = new X509Certificate(cert_chain[0]!);
    const rootCert = new X509Certificate(bundle.rootCertPem);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/foo/sa/a');
    assert.equal(leaf.checkIssued(rootCert), true);
    assert.equal(leaf.verify(rootCert.publicKey), true);
    assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), DEFAULT_WORKLOAD_TTL_MS + CLOCK_SKEW_GRACE_MS, 'validity_duration 0 means 24 h');
    assert.equal(issued(), 1);
  });
});

test('validity_duration is in seconds', { timeout: 20_000 }, async () => {
  await withCa(async ({ call }) => {
    const { csrPem } = await workloadCsr();
    const { cert_chain } = await call({ csr: csrPem, validity_duration: 3600 }, tokens.issueToken(foo, 60_000));
    const leaf = new X509Certificate(cert_chain[0]!);
    assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 3600_000 + CLOCK_SKEW_GRACE_MS);
  });
});

test('no token, a token from another key, an expired or tampered token: UNAUTHENTICATED, nothing signed; a good token then works', { timeout: 30_000 }, async () => {
  const otherKey = new LocalTokenAuthenticator({ key: newTokenKey(), trustDomain });
  const anHourAgo = new LocalTokenAuthenticator({ key, trustDomain, now: () => Date.now() - 3600_000 });
  const good = tokens.issueToken(foo, 60_000);
  const [payload, mac] = good.split('.') as [string, string];
  const otherPayload = Buffer.from(JSON.stringify({ ns: 'istio-system', sa: 'istiod', exp: Date.now() + 60_000 })).toString('base64url');
  const refused: [string, string | undefined][] = [
    ['no token', undefined],
    ['another key', otherKey.issueToken(foo, 60_000)],
    ['expired', anHourAgo.issueToken(foo, 60_000)],
    ['payload swapped', `${otherPayload}.${mac}`],
    ['no MAC', payload],
    ['garbage', 'not-a-token'],
  ];
  await withCa(async ({ call, issued, logged }) => {
    const { csrPem } = await workloadCsr();
    for (const [name, token] of refused) {
      await assert.rejects(call({ csr: csrPem }, token), (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.UNAUTHENTICATED, name);
        assert.equal(e.details, 'caller not authenticated', `${name}: no reason given to the caller`);
        return true;
      });
    }
    assert.equal(issued(), 0);
    assert.equal(logged.length, refused.length, 'each refusal is logged with its reason');
    assert.match(logged[2]!, /token expired/);
    await call({ csr: csrPem }, good);
    assert.equal(issued(), 1);
  });
});

test('a lifetime above the maximum, a negative one, and a garbage CSR are INVALID_ARGUMENT', { timeout: 20_000 }, async () => {
  await withCa(async ({ call, issued }) => {
    const { csrPem } = await workloadCsr();
    const token = tokens.issueToken(foo, 60_000);
    await assert.rejects(call({ csr: csrPem, validity_duration: MAX_TTL_MS / 1000 + 1 }, token), status(grpc.status.INVALID_ARGUMENT));
    await assert.rejects(call({ csr: csrPem, validity_duration: -1 }, token), status(grpc.status.INVALID_ARGUMENT));
    await assert.rejects(call({ csr: 'not a csr' }, token), status(grpc.status.INVALID_ARGUMENT));
    await assert.rejects(call({}, token), status(grpc.status.INVALID_ARGUMENT));
    assert.equal(issued(), 0);
    await call({ csr: csrPem, validity_duration: MAX_TTL_MS / 1000 }, token);
    assert.equal(issued(), 1);
  });
});

test('a request larger than 64 KiB is refused before it is decoded', { timeout: 20_000 }, async () => {
  await withCa(async ({ call, issued }) => {
    await assert.rejects(call({ csr: 'x'.repeat(70 * 1024) }, tokens.issueToken(foo, 60_000)), status(grpc.status.RESOURCE_EXHAUSTED));
    assert.equal(issued(), 0);
  });
});

test('the serving certificate names only the configured DNS names', { timeout: 20_000 }, async () => {
  await withCa(async ({ call, issued }) => {
    const { csrPem } = await workloadCsr();
    await assert.rejects(call({ csr: csrPem }, tokens.issueToken(foo, 60_000), 'istiod.other.svc'), status(grpc.status.UNAVAILABLE));
    assert.equal(issued(), 0);
  });
});

test('an authenticator answering another trust domain is an INTERNAL error, logged, not signed', { timeout: 20_000 }, async () => {
  const misconfigured: CallerAuthenticator = { authenticate: () => Promise.resolve({ trustDomain: 'other.domain', ...foo }) };
  await withCa(async ({ call, issued, logged }) => {
    const { csrPem } = await workloadCsr();
    await assert.rejects(call({ csr: csrPem }), (e: grpc.ServiceError) => e.code === grpc.status.INTERNAL && e.details === 'internal error');
    assert.equal(issued(), 0);
    assert.match(logged.join('\n'), /trust domain other\.domain/);
  }, misconfigured);
});

/** The TLS version and cipher a raw client gets from the server on `port`, or the handshake error. */
function handshake(port: number, ca: string, options: tls.ConnectionOptions): Promise<{ protocol: string | null; cipher: string } | Error> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: SERVER_NAME, ALPNProtocols: ['h2'], ...options }, () => {
      const out = { protocol: socket.getProtocol(), cipher: socket.getCipher().name };
      socket.destroy();
      resolve(out);
    });
    socket.once('error', (e) => resolve(e));
    socket.setTimeout(5000, () => socket.destroy(new Error('handshake timed out')));
  });
}

test('SMCP security.controlPlane.tls sets the versions and ciphers of the CA port; a wrong cipher name is refused when the credentials are made', async () => {
  const bundle = await root;
  const tlsOptions = nodeTlsOptions(meshConfigFromControlPlane('istio-system', { security: { controlPlane: { tls: { minProtocolVersion: 'TLSv1_2', maxProtocolVersion: 'TLSv1_2', cipherSuites: ['ECDHE-ECDSA-AES256-GCM-SHA384'], ecdhCurves: ['P-256'] } } } }).meshTls);
  assert.deepEqual(tlsOptions, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384', ecdhCurve: 'P-256' });
  const server = new CaServer({ bundle, authenticator: tokens, trustDomain });
  try {
    const port = await server.start('127.0.0.1:0', await caServerCredentials(bundle, [SERVER_NAME], { tls: tlsOptions }));
    assert.deepEqual(await handshake(port, bundle.rootCertPem, {}), { protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES256-GCM-SHA384' }, 'TLS 1.3 is not offered and the cipher is the one configured');
    const refused = await handshake(port, bundle.rootCertPem, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    assert.ok(refused instanceof Error, 'a client without the configured cipher gets no session');
  } finally {
    await server.close();
  }

  const tls13 = new CaServer({ bundle, authenticator: tokens, trustDomain });
  try {
    const port = await tls13.start('127.0.0.1:0', await caServerCredentials(bundle, [SERVER_NAME], { tls: { minVersion: 'TLSv1.3' } }));
    assert.ok((await handshake(port, bundle.rootCertPem, { maxVersion: 'TLSv1.2' })) instanceof Error, 'a TLS 1.2 client is refused when 1.3 is the minimum');
    assert.equal(((await handshake(port, bundle.rootCertPem, {})) as { protocol: string }).protocol, 'TLSv1.3');
  } finally {
    await tls13.close();
  }

  await assert.rejects(caServerCredentials(bundle, [SERVER_NAME], { tls: { ciphers: 'NOT-A-CIPHER' } }), /security\.controlPlane\.tls: .*cipher/i);
});
