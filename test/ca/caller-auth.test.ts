import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { LocalTokenAuthenticator, newTokenKey } from '../../src/ca/caller-auth.js';
import { isMeshError } from '../../src/shared/errors.js';

const trustDomain = 'cluster.local';
const foo = { namespace: 'foo', serviceAccount: 'a' };

function metadata(...authorization: string[]): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const a of authorization) m.add('authorization', a);
  return m;
}

const unauthenticated = (e: unknown) => isMeshError(e, 'MESH_UNAUTHENTICATED');

test('a token authenticates as its workload in the authenticator trust domain', async () => {
  const auth = new LocalTokenAuthenticator({ key: newTokenKey(), trustDomain });
  assert.deepEqual(await auth.authenticate(metadata(`Bearer ${auth.issueToken(foo, 60_000)}`)), { trustDomain, ...foo });
});

test('a token is refused under another scheme, twice, or re-encoded; a correctly MACed payload without the claims is refused', async () => {
  const key = newTokenKey();
  const auth = new LocalTokenAuthenticator({ key, trustDomain });
  const token = auth.issueToken(foo, 60_000);
  await assert.rejects(auth.authenticate(metadata(`Basic ${token}`)), unauthenticated);
  await assert.rejects(auth.authenticate(metadata(`Bearer ${token}`, `Bearer ${token}`)), unauthenticated);
  await assert.rejects(auth.authenticate(metadata(`Bearer ${token}=`)), unauthenticated);
  await assert.rejects(auth.authenticate(metadata(`Bearer ${'a'.repeat(4096)}.${'b'.repeat(43)}`)), unauthenticated);
  const payload = Buffer.from(JSON.stringify({ ns: 'foo', sa: 'a', exp: String(Date.now() + 60_000) })).toString('base64url');
  const mac = createHmac('sha256', key).update(payload).digest('base64url');
  await assert.rejects(auth.authenticate(metadata(`Bearer ${payload}.${mac}`)), (e) => unauthenticated(e) && /malformed/.test((e as Error).message));
});

test('a short key, a name that cannot form a SPIFFE ID, and a non-positive TTL are refused', () => {
  assert.throws(() => new LocalTokenAuthenticator({ key: Buffer.alloc(16), trustDomain }), (e) => isMeshError(e, 'MESH_INVALID_CONFIG'));
  const auth = new LocalTokenAuthenticator({ key: newTokenKey(), trustDomain });
  assert.throws(() => auth.issueToken({ namespace: 'foo/../bar', serviceAccount: 'a' }, 60_000), (e) => isMeshError(e, 'MESH_CSR_REJECTED'));
  assert.throws(() => auth.issueToken(foo, 0), (e) => isMeshError(e, 'MESH_USAGE'));
});
