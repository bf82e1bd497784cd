import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { generateRootCa, type CaBundle } from '../../src/ca/ca-bundle.js';
import { signWorkloadCsr, type WorkloadIdentity } from '../../src/ca/sign.js';
import { workloadCsr } from './csr.js';

const trustDomain = 'cluster.local';
const serverId = { trustDomain, namespace: 'bar', serviceAccount: 'b' };
const clientId = { trustDomain, namespace: 'foo', serviceAccount: 'a' };

/**
 * The single SPIFFE ID in Node's `subjectAltName` string, or undefined. Node quotes values with
 * unusual characters and joins names with ", ", so a quote means refuse and exactly one URI is required.
 */
function spiffeIdOf(subjectAltName: string | undefined): string | undefined {
  if (subjectAltName === undefined || subjectAltName.includes('"')) return undefined;
  const uris = subjectAltName.split(', ').filter((n) => n.startsWith('URI:'));
  if (uris.length !== 1) return undefined;
  const id = uris[0]!.slice('URI:'.length);
  return /^spiffe:\/\/[a-z0-9._-]+\/ns\/[a-z0-9.-]+\/sa\/[a-z0-9.-]+$/.test(id) ? id : undefined;
}

const expected = (id: WorkloadIdentity) => `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;

async function leafFor(ca: CaBundle, id: WorkloadIdentity): Promise<{ key: string; cert: string }> {
  const { csrPem, keyPem } = await workloadCsr();
  const chain = await signWorkloadCsr(ca, csrPem, id);
  // Present leaf … intermediates; the root is what the peer already trusts.
  return { key: keyPem, cert: chain.slice(0, -1).join('') };
}

/** A server that accepts only `authorized && SPIFFE ID ok` and answers with the client's ID. */
async function startServer(ca: CaBundle, allowed: string): Promise<tls.Server> {
  const server = tls.createServer({ ...(await leafFor(ca, serverId)), ca: ca.rootCertPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3', ALPNProtocols: ['istio'] });
  server.on('secureConnection', (socket) => {
    const peer = socket.getPeerX509Certificate();
    const id = socket.authorized ? spiffeIdOf(peer?.subjectAltName) : undefined;
    if (id !== allowed) {
      socket.destroy();
      return;
    }
    socket.end(`hello ${id}`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** Connects with mTLS (client leaf from `clientCa`); the server's ID is read once, from `.raw` in checkServerIdentity, and must be `wantServer`. */
async function callServer(ca: CaBundle, port: number, wantServer: string, clientCa: CaBundle = ca): Promise<{ reply: string; serverId: string | undefined }> {
  let seen: string | undefined;
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ...(await leafFor(clientCa, clientId)),
    ca: ca.rootCertPem,
    ALPNProtocols: ['istio'],
    checkServerIdentity: (_host, cert) => {
      seen = spiffeIdOf(new X509Certificate(cert.raw).subjectAltName);
      return seen === wantServer ? undefined : new Error(`server identity ${seen} is not ${wantServer}`);
    },
  });
  try {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    await once(socket, 'end');
    return { reply: Buffer.concat(chunks).toString(), serverId: seen };
  } finally {
    socket.destroy();
  }
}

test('two workloads from the CA complete mutual TLS and each sees the other SPIFFE ID', { timeout: 20_000 }, async () => {
  const ca = await generateRootCa({ trustDomain });
  const server = await startServer(ca, expected(clientId));
  try {
    const { port } = server.address() as AddressInfo;
    const { reply, serverId: seen } = await callServer(ca, port, expected(serverId));
    assert.equal(seen, 'spiffe://cluster.local/ns/bar/sa/b');
    assert.equal(reply, 'hello spiffe://cluster.local/ns/foo/sa/a');
    await assert.rejects(callServer(ca, port, 'spiffe://cluster.local/ns/bar/sa/other'), /server identity spiffe:\/\/cluster.local\/ns\/bar\/sa\/b is not/);
  } finally {
    server.close();
    await once(server, 'close');
  }
});

test('a client whose certificate comes from another root gets no reply', { timeout: 20_000 }, async () => {
  const ca = await generateRootCa({ trustDomain, keyType: 'ecP256' });
  const stranger = await generateRootCa({ trustDomain, keyType: 'ecP256' });
  const server = await startServer(ca, expected(clientId));
  try {
    const { port } = server.address() as AddressInfo;
    // TLS 1.3 finishes the client's handshake before the server judges its certificate: refusal is a close or a reset.
    const outcome = await callServer(ca, port, expected(serverId), stranger).then(
      (r) => r.reply,
      (e: NodeJS.ErrnoException) => e.code,
    );
    assert.ok(outcome === '' || outcome === 'ECONNRESET', `unexpected outcome ${outcome}`);
  } finally {
    server.close();
    await once(server, 'close');
  }
});
