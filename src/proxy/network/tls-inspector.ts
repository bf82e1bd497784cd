// Envoy's TLS inspector: reads a connection's first bytes as a TLS ClientHello (record and handshake framing of RFC 8446 §5.1 and §4) and reports the SNI host name and ALPN protocols it carries.

/**
 * What the first bytes of a connection are:
 * - `need-more`: a ClientHello so far; feed more bytes;
 * - `not-tls`: not a well-formed ClientHello — the connection continues as `raw_buffer`;
 * - `too-large`: still undecided after {@link MAX_CLIENT_HELLO_BYTES} — Envoy closes such a connection;
 * - `tls`: a complete ClientHello; `serverName` is its SNI host name (lower-cased), `alpn` its ALPN
 *   protocols in the client's order (empty when absent or malformed).
 */
export type ClientHelloVerdict =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'not-tls' }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'tls'; readonly serverName?: string; readonly alpn: readonly string[] };

/** Envoy's tls_inspector buffer: a ClientHello not complete within this many bytes (record headers included) is refused. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

const NEED_MORE: ClientHelloVerdict = Object.freeze({ kind: 'need-more' });
const NOT_TLS: ClientHelloVerdict = Object.freeze({ kind: 'not-tls' });
const TOO_LARGE: ClientHelloVerdict = Object.freeze({ kind: 'too-large' });
const NO_ALPN: readonly string[] = [];

const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const RECORD_HEADER_BYTES = 5;
const HANDSHAKE_HEADER_BYTES = 4;
/** RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD_PAYLOAD = 16_384;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const NAME_TYPE_HOST_NAME = 0;
/** RFC 6066 §3 allows 2^16-1, but no DNS name is longer than 255 bytes (BoringSSL's limit too). */
const MAX_HOST_NAME_BYTES = 255;

/**
 * Reads a ClientHello from bytes fed in arrival order. Work and memory are linear in the bytes fed
 * and bounded by {@link MAX_CLIENT_HELLO_BYTES}: a ClientHello sent one byte per segment costs no
 * more than one sent whole. Once the verdict is not `need-more` it is final and further bytes are
 * ignored. Never throws on any input.
 */
export class ClientHelloReader {
  private verdict: ClientHelloVerdict = NEED_MORE;
  private consumed = 0;
  private readonly recordHeader = Buffer.alloc(RECORD_HEADER_BYTES);
  private recordHeaderFill = 0;
  /** Payload bytes of the current record not yet read; 0 while reading a record header. */
  private recordLeft = 0;
  private readonly handshakeHeader = Buffer.alloc(HANDSHAKE_HEADER_BYTES);
  private handshakeHeaderFill = 0;
  /** The ClientHello body length, once its handshake header is read. */
  private bodyLength = -1;
  private readonly body: Buffer[] = [];
  private bodyFill = 0;

  /** Feeds the next bytes of the connection (the caller keeps ownership; slices are retained until a verdict). */
  push(chunk: Buffer): ClientHelloVerdict {
    if (this.verdict !== NEED_MORE) return this.verdict;
    const room = MAX_CLIENT_HELLO_BYTES - this.consumed;
    const bytes = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.consumed += bytes.length;
    let i = 0;
    while (i < bytes.length && this.verdict === NEED_MORE) {
      if (this.recordLeft === 0) {
        this.recordHeaderByte(bytes[i]!);
        i++;
        continue;
      }
      const n = Math.min(this.recordLeft, bytes.length - i);
      this.recordLeft -= n;
      this.handshakeBytes(bytes.subarray(i, i + n));
      i += n;
    }
    if (this.verdict === NEED_MORE && this.consumed >= MAX_CLIENT_HELLO_BYTES) this.verdict = TOO_LARGE;
    if (this.verdict !== NEED_MORE) this.body.length = 0;
    return this.verdict;
  }

  private recordHeaderByte(b: number): void {
    const h = this.recordHeader;
    h[this.recordHeaderFill++] = b;
    // Decide on the first byte that rules TLS out, so a plaintext client is not held up.
    if (this.recordHeaderFill === 1 && b !== CONTENT_TYPE_HANDSHAKE) this.verdict = NOT_TLS;
    else if (this.recordHeaderFill === 2 && b !== 3) this.verdict = NOT_TLS;
    else if (this.recordHeaderFill === RECORD_HEADER_BYTES) {
      this.recordHeaderFill = 0;
      const length = h.readUInt16BE(3);
      // RFC 8446 §5.1: handshake records are never empty, and none exceeds 2^14 bytes.
      if (length === 0 || length > MAX_RECORD_PAYLOAD) this.verdict = NOT_TLS;
      else this.recordLeft = length;
    }
  }

  /** Record payload: the handshake message, possibly fragmented over several records. */
  private handshakeBytes(payload: Buffer): void {
    let j = 0;
    while (this.handshakeHeaderFill < HANDSHAKE_HEADER_BYTES && j < payload.length) {
      const b = payload[j++]!;
      this.handshakeHeader[this.handshakeHeaderFill++] = b;
      if (this.handshakeHeaderFill === 1 && b !== HANDSHAKE_CLIENT_HELLO) {
        this.verdict = NOT_TLS;
        return;
      }
    }
    if (this.handshakeHeaderFill < HANDSHAKE_HEADER_BYTES) return;
    if (this.bodyLength < 0) this.bodyLength = this.handshakeHeader.readUIntBE(1, 3);
    // Bytes after the ClientHello (the client's next flight) are not looked at.
    const take = Math.min(payload.length - j, this.bodyLength - this.bodyFill);
    if (take > 0) {
      this.body.push(payload.subarray(j, j + take));
      this.bodyFill += take;
    }
    if (this.bodyFill === this.bodyLength) this.verdict = parseClientHelloBody(Buffer.concat(this.body, this.bodyFill));
  }
}

/** The verdict on a whole prefix of a connection's bytes (a fresh reader fed once). */
export function inspectClientHello(bytes: Buffer): ClientHelloVerdict {
  return new ClientHelloReader().push(bytes);
}

/**
 * RFC 8446 §4.1.2 (and RFC 5246 §7.4.1.2, where extensions may be absent). Strict as BoringSSL,
 * which Envoy's inspector runs: every length must fit its container exactly, no extension may
 * repeat, and a malformed server_name makes the hello unusable. A malformed ALPN list is ignored,
 * as Envoy's inspector does, leaving the TLS stack to refuse it.
 */
function parseClientHelloBody(b: Buffer): ClientHelloVerdict {
  const end = b.length;
  // legacy_version (major 3), random[32], session id length.
  if (end < 35 || b[0] !== 3) return NOT_TLS;
  let p = 34;
  const sessionId = b[p++]!;
  if (sessionId > 32) return NOT_TLS;
  p += sessionId;
  if (p + 2 > end) return NOT_TLS;
  const cipherSuites = b.readUInt16BE(p);
  p += 2;
  if (cipherSuites < 2 || cipherSuites % 2 !== 0) return NOT_TLS;
  p += cipherSuites;
  if (p + 1 > end) return NOT_TLS;
  const compression = b[p++]!;
  if (compression < 1) return NOT_TLS;
  p += compression;
  if (p > end) return NOT_TLS;
  if (p === end) return { kind: 'tls', alpn: NO_ALPN };
  if (p + 2 > end) return NOT_TLS;
  const extensionsLength = b.readUInt16BE(p);
  p += 2;
  if (p + extensionsLength !== end) return NOT_TLS;
  const seen = new Set<number>();
  let serverName: string | undefined;
  let alpn = NO_ALPN;
  while (p < end) {
    if (p + 4 > end) return NOT_TLS;
    const type = b.readUInt16BE(p);
    const length = b.readUInt16BE(p + 2);
    p += 4;
    if (p + length > end || seen.has(type)) return NOT_TLS;
    seen.add(type);
    const data = b.subarray(p, p + length);
    p += length;
    if (type === EXT_SERVER_NAME) {
      serverName = hostName(data);
      if (serverName === undefined) return NOT_TLS;
    } else if (type === EXT_ALPN) alpn = protocolNames(data);
  }
  return serverName === undefined ? { kind: 'tls', alpn } : { kind: 'tls', serverName, alpn };
}

/**
 * RFC 6066 §3 server_name: exactly one entry, of type host_name, 1..255 bytes without NUL (as
 * BoringSSL reads it); undefined when malformed. Decoded as latin1 so every byte stays distinct:
 * a decoding that folded bytes (ASCII drops the high bit) would let `\xe1.example.com` match
 * `a.example.com`.
 */
function hostName(data: Buffer): string | undefined {
  if (data.length < 5 || data.readUInt16BE(0) !== data.length - 2) return undefined;
  const nameLength = data.readUInt16BE(3);
  if (data[2] !== NAME_TYPE_HOST_NAME || nameLength === 0 || nameLength > MAX_HOST_NAME_BYTES || 5 + nameLength !== data.length) return undefined;
  const name = data.subarray(5);
  if (name.includes(0)) return undefined;
  return name.toString('latin1').toLowerCase();
}

/** RFC 7301 §3.1 ProtocolNameList: non-empty names filling the list exactly; empty when malformed. */
function protocolNames(data: Buffer): readonly string[] {
  if (data.length < 4 || data.readUInt16BE(0) !== data.length - 2) return NO_ALPN;
  const out: string[] = [];
  let p = 2;
  while (p < data.length) {
    const length = data[p++]!;
    if (length === 0 || p + length > data.length) return NO_ALPN;
    out.push(data.toString('latin1', p, p + length));
    p += length;
  }
  return out;
}
