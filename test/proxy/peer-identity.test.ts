// Peer names from Node's SAN text: exactly one well-formed Istio SPIFFE ID, nothing Node had to quote, and Envoy's SAN matchers by type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sansAccepted } from '../../src/proxy/security/peer-identity.js';
import { identityOfSubjectAltName, parseSubjectAltNames } from '../../src/shared/spiffe.js';

function spiffeIdOfSubjectAltName(text: string | undefined): string | undefined {
  const id = identityOfSubjectAltName(text);
  return typeof id === 'string' ? undefined : id.spiffeId;
}

const ID = 'spiffe://cluster.local/ns/foo/sa/a';

test('one URI SAN in the Istio form is the identity; other name types are ignored', () => {
  assert.equal(spiffeIdOfSubjectAltName(`URI:${ID}`), ID);
  assert.equal(spiffeIdOfSubjectAltName(`DNS:foo.svc, URI:${ID}, IP Address:10.0.0.1`), ID);
  assert.equal(spiffeIdOfSubjectAltName('URI:spiffe://td.example-1/ns/my-ns.x/sa/sa-1'), 'spiffe://td.example-1/ns/my-ns.x/sa/sa-1');
});

test('no identity when the SAN is missing, ambiguous, quoted or not the Istio form', () => {
  const refused = [
    undefined,
    '',
    'DNS:foo.svc',
    `URI:${ID}, URI:spiffe://cluster.local/ns/bar/sa/b`,
    `URI:"${ID}\\u0000.evil"`,
    `DNS:"x, URI:${ID}"`,
    `URI:${ID}?x=1`,
    `URI:${ID}#f`,
    `URI:${ID}/extra`,
    'URI:spiffe://cluster.local/ns/Foo/sa/a',
    'URI:spiffe://cluster.local/ns/foo/sa/',
    'URI:spiffe://cluster.local/ns/-foo/sa/a',
    'URI:spiffe://cluster.local/ns/f%6fo/sa/a',
    'URI:https://cluster.local/ns/foo/sa/a',
    'URI:spiffe:///ns/foo/sa/a',
    ` URI:${ID}`,
  ];
  for (const san of refused) assert.equal(spiffeIdOfSubjectAltName(san), undefined, JSON.stringify(san));
});

test('the identity splits into trust domain, namespace and service account; the principal drops the scheme', () => {
  const id = identityOfSubjectAltName(`URI:${ID}`);
  assert.ok(typeof id !== 'string');
  assert.deepEqual(id, { spiffeId: ID, principal: 'cluster.local/ns/foo/sa/a', trustDomain: 'cluster.local', namespace: 'foo', serviceAccount: 'a' });
});

test('SAN matchers apply to names of their own type only; no matchers accept any verified peer', () => {
  const sans = parseSubjectAltNames(`DNS:${ID}, URI:spiffe://cluster.local/ns/bar/sa/b, IP Address:10.0.0.1`)!;
  assert.deepEqual(sans.map((s) => s.type), ['DNS', 'URI', 'IP_ADDRESS']);
  const exact = (v: string) => (s: string) => s === v;
  assert.equal(sansAccepted(sans, [{ type: 'URI', matches: exact(ID) }]), false, 'the DNS entry does not satisfy a URI matcher');
  assert.equal(sansAccepted(sans, [{ type: 'DNS', matches: exact(ID) }]), true);
  assert.equal(sansAccepted(sans, [{ type: 'IP_ADDRESS', matches: exact('10.0.0.1') }]), true);
  assert.equal(sansAccepted(sans, []), true);
  assert.equal(parseSubjectAltNames(`URI:"${ID}\\u0000.evil"`), undefined);
});
