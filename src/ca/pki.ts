// Loads @peculiar/x509 with its prerequisites, points it at Node's WebCrypto, and turns node:crypto keys into signers.
// The library needs reflect-metadata loaded first, so this module is the CA's only way in to it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, type KeyObject } from 'node:crypto';
import { MeshError } from '../shared/errors.js';

// Node's `webcrypto` export does not type-check as the DOM `Crypto`; the global is the same object and does.
x509.cryptoProvider.set(globalThis.crypto);

export { x509 };

/** A WebCrypto private key with the algorithm peculiar should sign with. */
export interface Signer {
  /** Non-extractable; usable only for signing. */
  key: CryptoKey;
  algorithm: Algorithm | EcdsaParams;
}

const EC_CURVES: Record<string, { namedCurve: string; hash: string }> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
};

/**
 * Imports a node:crypto private key (RSA, or EC P-256/P-384) into WebCrypto for signing.
 * `what` names the key's origin in errors (for example a file path).
 */
export async function importSigner(privateKey: KeyObject, what: string): Promise<Signer> {
  const der = new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' }));
  if (privateKey.asymmetricKeyType === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { key: await crypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']), algorithm };
  }
  const curve = privateKey.asymmetricKeyType === 'ec' ? EC_CURVES[privateKey.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (curve === undefined) {
    const type = privateKey.asymmetricKeyType === 'ec' ? `EC ${privateKey.asymmetricKeyDetails?.namedCurve}` : privateKey.asymmetricKeyType;
    throw new MeshError('MESH_CA_INVALID', `${what}: key type ${type} is not supported (use RSA, EC P-256 or EC P-384)`);
  }
  const key = await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve.namedCurve }, false, ['sign']);
  return { key, algorithm: { name: 'ECDSA', hash: curve.hash } };
}

/**
 * A fresh 128-bit serial in hex. The top bit is cleared so DER keeps it positive, and the next
 * one set so it never needs a leading zero byte (RFC 5280 §4.1.2.2: positive, at most 20 octets).
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** Every PEM certificate block in `text`, in order. */
export function splitPemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((b) => `${b}\n`) ?? [];
}
