// A minimal PKCS#10 certificate request writer on node:crypto alone (no PKI library), for the proxy's workload key.
import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { MeshError } from './errors.js';
import { Oid, Tag, oid, pem, tlv } from './der.js';

/** `attributes [0] IMPLICIT SET OF Attribute` in CertificationRequestInfo. */
const ATTRIBUTES = 0xa0;
/** GeneralName `uniformResourceIdentifier [6] IMPLICIT IA5String`. */
const GENERAL_NAME_URI = 0x86;
const { INTEGER, BIT_STRING, OCTET_STRING, NULL, SEQUENCE, SET, BOOLEAN } = Tag;

/** A URI SAN is printable ASCII (IA5String without controls); anything else is refused, not escaped. */
const URI_CHARS = /^[\x21-\x7e]{1,2048}$/;

/** The SAN extension with `uris` as URI names. Critical: the subject is empty (RFC 5280 §4.2.1.6). */
function subjectAltNameExtension(uris: readonly string[]): Buffer {
  const names = tlv(SEQUENCE, ...uris.map((u) => tlv(GENERAL_NAME_URI, Buffer.from(u, 'ascii'))));
  return tlv(SEQUENCE, oid(Oid.SUBJECT_ALT_NAME), tlv(BOOLEAN, Buffer.from([0xff])), tlv(OCTET_STRING, names));
}

/** The DER AlgorithmIdentifier of the signature `privateKey` makes. */
function signatureAlgorithm(privateKey: KeyObject): Buffer {
  const type = privateKey.asymmetricKeyType;
  const details = privateKey.asymmetricKeyDetails;
  // ecdsa-with-SHA256 takes no parameters (RFC 5758 §3.2); sha256WithRSAEncryption takes NULL (RFC 4055 §5).
  if (type === 'ec' && details?.namedCurve === 'prime256v1') return tlv(SEQUENCE, oid(Oid.EC_WITH_SHA256));
  if (type === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return tlv(SEQUENCE, oid(Oid.RSA_WITH_SHA256), tlv(NULL));
  const what = type === 'ec' ? `EC ${details?.namedCurve}` : type === 'rsa' ? `RSA ${details?.modulusLength}` : type;
  throw new MeshError('MESH_USAGE', `CSR key type ${what} is not supported (use EC P-256 or RSA >= 2048)`);
}

/** Options of `createCsr`. */
export interface CsrOptions {
  /** The key that signs the request (proof of possession): EC P-256 or RSA of at least 2048 bits. */
  privateKey: KeyObject;
  /** Its public half, which the request carries; must match `privateKey`. */
  publicKey: KeyObject;
  /** URI SANs to request (for example the workload's SPIFFE ID); printable ASCII. None by default. */
  uriSans?: readonly string[];
}

/**
 * A PEM PKCS#10 request (RFC 2986) for `publicKey`, signed with `privateKey`: version 1, an empty
 * subject, and, when `uriSans` is given, an extensionRequest attribute holding a critical SAN
 * extension with those URIs. The signature is ecdsa-with-SHA256 for EC P-256 keys and
 * sha256WithRSAEncryption (PKCS#1 v1.5) for RSA keys. Meltemi's CA uses only the key; the SAN is
 * sent as Istio's agent sends it. Throws MESH_USAGE for another key type, mismatched keys or a
 * URI that is not printable ASCII.
 */
export function createCsr(options: CsrOptions): string {
  const { privateKey, publicKey } = options;
  if (privateKey.type !== 'private' || publicKey.type !== 'public') throw new MeshError('MESH_USAGE', 'createCsr needs a private key and a public key');
  const algorithm = signatureAlgorithm(privateKey);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // A request whose key is not the signer's would fail at the CA; say so here instead.
  if (!createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).equals(spki)) throw new MeshError('MESH_USAGE', 'CSR public key does not match the private key');

  const uris = options.uriSans ?? [];
  const bad = uris.find((u) => !URI_CHARS.test(u));
  if (bad !== undefined) throw new MeshError('MESH_USAGE', `URI SAN ${JSON.stringify(bad)} is not printable ASCII`);
  const attributes =
    uris.length === 0 ? [] : [tlv(SEQUENCE, oid(Oid.EXTENSION_REQUEST), tlv(SET, tlv(SEQUENCE, subjectAltNameExtension(uris))))];

  const info = tlv(
    SEQUENCE,
    tlv(INTEGER, Buffer.from([0])), // version v1
    tlv(SEQUENCE), // empty subject Name
    spki,
    tlv(ATTRIBUTES, ...attributes),
  );
  // node:crypto signs ECDSA in DER form by default and RSA with PKCS#1 v1.5 padding: what X.509 expects.
  const signature = sign('sha256', info, privateKey);
  return pem('CERTIFICATE REQUEST', tlv(SEQUENCE, info, algorithm, tlv(BIT_STRING, Buffer.from([0]), signature)));
}
