// DER (X.690) in the small: a writer of tag-length-value elements and a strict reader, for certificate requests and certificates without a PKI library.

/** Universal tags (constructed where noted) and the context tags X.509 and PKCS#10 use. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Object identifiers the certificate and request writers use (RFC 5280, RFC 5758, RFC 4055, PKCS#9). */
export const Oid = {
  EC_WITH_SHA256: '1.2.840.10045.4.3.2',
  EC_WITH_SHA384: '1.2.840.10045.4.3.3',
  RSA_WITH_SHA256: '1.2.840.113549.1.1.11',
  RSA_WITH_SHA384: '1.2.840.113549.1.1.12',
  RSA_WITH_SHA512: '1.2.840.113549.1.1.13',
  EXTENSION_REQUEST: '1.2.840.113549.1.9.14',
  SUBJECT_KEY_ID: '2.5.29.14',
  KEY_USAGE: '2.5.29.15',
  SUBJECT_ALT_NAME: '2.5.29.17',
  BASIC_CONSTRAINTS: '2.5.29.19',
  AUTHORITY_KEY_ID: '2.5.29.35',
  EXT_KEY_USAGE: '2.5.29.37',
  SERVER_AUTH: '1.3.6.1.5.5.7.3.1',
  CLIENT_AUTH: '1.3.6.1.5.5.7.3.2',
} as const;

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One element: `tag`, its length, then `content` concatenated. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = content.length === 1 ? content[0]! : Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const base128: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift(0x80 | (v & 0x7f));
    out.push(...base128);
  }
  return tlv(Tag.OID, Buffer.from(out));
}

/** The dotted form of an OBJECT IDENTIFIER's content octets. */
export function oidText(content: Buffer): string {
  if (content.length === 0) throw new DerError('empty OBJECT IDENTIFIER');
  const first = content[0]!;
  const arcs = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  let v = 0;
  for (let i = 1; i < content.length; i++) {
    const b = content[i]!;
    if (v === 0 && b === 0x80) throw new DerError('OBJECT IDENTIFIER arc has a leading 0x80');
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER) throw new DerError('OBJECT IDENTIFIER arc too large');
    if ((b & 0x80) === 0) {
      arcs.push(v);
      v = 0;
    } else if (i === content.length - 1) throw new DerError('OBJECT IDENTIFIER ends inside an arc');
  }
  return arcs.join('.');
}

/** A time as X.509 wants it: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), whole seconds, Z. */
export function x509Time(t: Date): Buffer {
  const iso = t.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = t.getUTCFullYear();
  return year < 2050 ? tlv(Tag.UTC_TIME, Buffer.from(digits.slice(2), 'ascii')) : tlv(Tag.GENERALIZED_TIME, Buffer.from(digits, 'ascii'));
}

/** A malformed DER input. */
export class DerError extends Error {}

/** One element read from DER: its tag, its content, and the whole encoding (tag and length included). */
export interface DerElement {
  tag: number;
  content: Buffer;
  raw: Buffer;
}

/**
 * Reads the element at `offset` of `buf`, checked strictly: single-byte tags, definite minimal
 * lengths, content inside the buffer. Returns it and the offset after it.
 */
export function readElement(buf: Buffer, offset = 0): { element: DerElement; next: number } {
  if (offset + 2 > buf.length) throw new DerError('truncated element');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used here');
  let len = buf[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError('indefinite length is not DER');
    if (n > 4) throw new DerError('length too large');
    if (p + n > buf.length) throw new DerError('truncated length');
    if (buf[p] === 0) throw new DerError('length is not minimal');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    if (len < 0x80) throw new DerError('length is not minimal');
    p += n;
  }
  if (p + len > buf.length) throw new DerError('content runs past the end');
  return { element: { tag, content: buf.subarray(p, p + len), raw: buf.subarray(offset, p + len) }, next: p + len };
}

/** The single element that `buf` must be exactly. */
export function readOne(buf: Buffer, tag: number, what: string): DerElement {
  const { element, next } = readElement(buf, 0);
  if (element.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${element.tag.toString(16)}`);
  if (next !== buf.length) throw new DerError(`${what}: trailing bytes after the element`);
  return element;
}

/** The elements inside a constructed element's content, in order. */
export function children(content: Buffer): DerElement[] {
  const out: DerElement[] = [];
  for (let p = 0; p < content.length; ) {
    const { element, next } = readElement(content, p);
    out.push(element);
    p = next;
  }
  return out;
}

/** PEM armour around DER (64-character lines). */
export function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** The DER inside the one PEM block labelled `label` in `text`; undefined when there is none or several. */
export function pemBody(text: string, label: string): Buffer | undefined {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*)-----END ${label}-----`, 'g');
  const blocks = [...text.matchAll(re)];
  if (blocks.length !== 1) return undefined;
  return Buffer.from(blocks[0]![1]!.replace(/\s+/g, ''), 'base64');
}
