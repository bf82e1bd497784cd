// End-entity certificates in DER by hand: the CSR read and its proof of possession checked with node:crypto, the TBSCertificate written and signed with the CA's key.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { Oid, Tag, children, oid, oidText, pem, pemBody, readOne, tlv, x509Time, DerError } from '../shared/der.js';
import type { CaBundle } from './ca-bundle.js';

// Optimization: this module replaces @peculiar/x509 on the signing path. Its ASN.1 schema
// machinery cost 4–5 ms of CPU per leaf (bench/ca); writing the few fixed structures directly and
// signing with node:crypto costs a fraction of that. The CA's own certificates (roots, loading
// plugged-in CAs) still go through the library, where speed does not matter.

/** Signature algorithms a CSR may use, by OID: the hash node:crypto verifies with and the key type it needs. */
const CSR_SIGNATURES: Readonly<Record<string, { hash: string; keyType: 'ec' | 'rsa' }>> = {
  [Oid.EC_WITH_SHA256]: { hash: 'sha256', keyType: 'ec' },
  [Oid.EC_WITH_SHA384]: { hash: 'sha384', keyType: 'ec' },
  [Oid.RSA_WITH_SHA256]: { hash: 'sha256', keyType: 'rsa' },
  [Oid.RSA_WITH_SHA384]: { hash: 'sha384', keyType: 'rsa' },
  [Oid.RSA_WITH_SHA512]: { hash: 'sha512', keyType: 'rsa' },
};

const CRITICAL = tlv(Tag.BOOLEAN, Buffer.from([0xff]));
/** GeneralName choices (RFC 5280 §4.2.1.6), IMPLICIT IA5String. */
const GENERAL_NAME_DNS = 0x82;
const GENERAL_NAME_URI = 0x86;

/** A CSR that verified under its own key: only the public key is ever used. */
export interface VerifiedCsr {
  /** SubjectPublicKeyInfo, DER, exactly as the CSR carried it. */
  spki: Buffer;
  publicKey: KeyObject;
}

/**
 * Reads a PEM PKCS#10 request (RFC 2986) and checks its signature under its own public key (proof
 * of possession). Throws an Error naming what is wrong; the caller wraps it.
 */
export function readCsr(csrPem: string): VerifiedCsr {
  const der = pemBody(csrPem, 'CERTIFICATE REQUEST') ?? pemBody(csrPem, 'NEW CERTIFICATE REQUEST');
  if (!der) throw new DerError('not one PEM CERTIFICATE REQUEST block');
  const [info, algorithm, signature, ...rest] = children(readOne(der, Tag.SEQUENCE, 'CertificationRequest').content);
  if (!info || !algorithm || !signature || rest.length > 0 || info.tag !== Tag.SEQUENCE || algorithm.tag !== Tag.SEQUENCE || signature.tag !== Tag.BIT_STRING) {
    throw new DerError('CertificationRequest must be info, signatureAlgorithm, signature');
  }
  const [version, subject, spki] = children(info.content);
  if (!version || version.tag !== Tag.INTEGER || !version.content.equals(Buffer.from([0]))) throw new DerError('CertificationRequestInfo version must be v1 (0)');
  if (!subject || subject.tag !== Tag.SEQUENCE || !spki || spki.tag !== Tag.SEQUENCE) throw new DerError('CertificationRequestInfo must hold a subject and a subjectPKInfo');
  const [algOid] = children(algorithm.content);
  if (!algOid || algOid.tag !== Tag.OID) throw new DerError('signatureAlgorithm has no OID');
  const scheme = CSR_SIGNATURES[oidText(algOid.content)];
  if (!scheme) throw new DerError(`signature algorithm ${oidText(algOid.content)} is not supported (ECDSA or RSA PKCS#1 v1.5 with SHA-2)`);
  if (signature.content.length < 2 || signature.content[0] !== 0) throw new DerError('signature BIT STRING has unused bits');
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(spki.raw), format: 'der', type: 'spki' });
  } catch (e) {
    throw new DerError(`subjectPKInfo is not a usable public key: ${(e as Error).message}`);
  }
  if (publicKey.asymmetricKeyType !== scheme.keyType || !verify(scheme.hash, info.raw, publicKey, signature.content.subarray(1))) throw new DerError('signature does not verify under its own key (no proof of possession)');
  return { spki: Buffer.from(spki.raw), publicKey };
}

/** What every leaf of one CA shares: issuer name, signing key and algorithm, authority key id. */
interface Issuer {
  name: Buffer;
  key: KeyObject;
  hash: string;
  algorithm: Buffer;
  authorityKeyId: Buffer;
}

const issuers = new WeakMap<CaBundle, Issuer>();

/** The signing parts of `bundle`, worked out once per bundle. */
function issuerOf(bundle: CaBundle): Issuer {
  let issuer = issuers.get(bundle);
  if (issuer) return issuer;
  const cert = Buffer.from(bundle.caCert.rawData);
  const [tbs] = children(readOne(cert, Tag.SEQUENCE, 'ca-cert').content);
  const fields = children(tbs!.content);
  // [0] version, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, …[3] extensions
  const v3 = fields[0]!.tag === 0xa0;
  const subject = fields[v3 ? 5 : 4]!;
  const key = createPrivateKey(bundle.caKeyPem);
  const details = key.asymmetricKeyDetails;
  let hash: string;
  let algorithm: Buffer;
  if (key.asymmetricKeyType === 'ec') {
    hash = details?.namedCurve === 'secp384r1' ? 'sha384' : 'sha256';
    algorithm = tlv(Tag.SEQUENCE, oid(hash === 'sha384' ? Oid.EC_WITH_SHA384 : Oid.EC_WITH_SHA256));
  } else {
    hash = 'sha256';
    algorithm = tlv(Tag.SEQUENCE, oid(Oid.RSA_WITH_SHA256), tlv(Tag.NULL));
  }
  issuer = { name: Buffer.from(subject.raw), key, hash, algorithm, authorityKeyId: authorityKeyIdOf(fields, createPublicKey(key)) };
  issuers.set(bundle, issuer);
  return issuer;
}

/** The AKI extension naming the CA's key: its SubjectKeyIdentifier when it has one, else the SHA-1 of its key (RFC 5280 §4.2.1.2 method 1). */
function authorityKeyIdOf(tbsFields: ReturnType<typeof children>, caPublicKey: KeyObject): Buffer {
  let keyId: Buffer | undefined;
  const extensions = tbsFields.find((f) => f.tag === 0xa3);
  if (extensions) {
    for (const ext of children(readOne(extensions.content, Tag.SEQUENCE, 'extensions').content)) {
      const [id, ...rest] = children(ext.content);
      if (id && oidText(id.content) === Oid.SUBJECT_KEY_ID) keyId = readOne(rest[rest.length - 1]!.content, Tag.OCTET_STRING, 'subjectKeyIdentifier').content;
    }
  }
  if (!keyId) {
    const spki = children(readOne(caPublicKey.export({ type: 'spki', format: 'der' }), Tag.SEQUENCE, 'spki').content);
    const bits = spki[1]!.content.subarray(1);
    keyId = createHash('sha1').update(bits).digest();
  }
  return extension(Oid.AUTHORITY_KEY_ID, false, tlv(Tag.SEQUENCE, tlv(0x80, keyId)));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? tlv(Tag.SEQUENCE, oid(id), CRITICAL, tlv(Tag.OCTET_STRING, value)) : tlv(Tag.SEQUENCE, oid(id), tlv(Tag.OCTET_STRING, value));
}

// The fixed extensions of every leaf, encoded once.
const BASIC_CONSTRAINTS_LEAF = extension(Oid.BASIC_CONSTRAINTS, true, tlv(Tag.SEQUENCE));
/** digitalSignature (bit 0) and keyEncipherment (bit 2): one octet 1010 0000, five unused bits. */
const KEY_USAGE_LEAF = extension(Oid.KEY_USAGE, true, tlv(Tag.BIT_STRING, Buffer.from([5, 0xa0])));
const EXT_KEY_USAGE_LEAF = extension(Oid.EXT_KEY_USAGE, false, tlv(Tag.SEQUENCE, oid(Oid.SERVER_AUTH), oid(Oid.CLIENT_AUTH)));

/** A leaf's subject alternative names: URIs (SPIFFE IDs) or DNS names, ASCII already checked by the caller. */
export type LeafName = { type: 'uri' | 'dns'; value: string };

/**
 * A PEM end-entity certificate (X.509 v3) for `spki`, signed by `bundle`'s CA: the given serial
 * (hex, positive), an empty subject, `names` as the critical SAN, basicConstraints CA:false and
 * keyUsage digitalSignature|keyEncipherment (both critical), extKeyUsage serverAuth and
 * clientAuth, and the CA's key identifier as AKI.
 */
export function writeLeaf(bundle: CaBundle, spki: Buffer, names: readonly LeafName[], serialHex: string, notBefore: Date, notAfter: Date): string {
  const issuer = issuerOf(bundle);
  const san = tlv(Tag.SEQUENCE, ...names.map((n) => tlv(n.type === 'uri' ? GENERAL_NAME_URI : GENERAL_NAME_DNS, Buffer.from(n.value, 'ascii'))));
  const tbs = tlv(
    Tag.SEQUENCE,
    tlv(0xa0, tlv(Tag.INTEGER, Buffer.from([2]))), // version v3
    tlv(Tag.INTEGER, Buffer.from(serialHex, 'hex')),
    issuer.algorithm,
    issuer.name,
    tlv(Tag.SEQUENCE, x509Time(notBefore), x509Time(notAfter)),
    tlv(Tag.SEQUENCE), // empty subject: the SAN carries the identity
    spki,
    tlv(0xa3, tlv(Tag.SEQUENCE, BASIC_CONSTRAINTS_LEAF, KEY_USAGE_LEAF, EXT_KEY_USAGE_LEAF, extension(Oid.SUBJECT_ALT_NAME, true, san), issuer.authorityKeyId)),
  );
  // node:crypto signs ECDSA in DER form and RSA with PKCS#1 v1.5 by default: what X.509 expects.
  const signature = sign(issuer.hash, tbs, issuer.key);
  return pem('CERTIFICATE', tlv(Tag.SEQUENCE, tbs, issuer.algorithm, tlv(Tag.BIT_STRING, Buffer.from([0]), signature)));
}
