// Test fixture for TLS: ClientHellos captured from node:tls or built byte by byte, TLS record framing, and self-signed certificates made with the openssl CLI.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';

/** The first TLS record a node:tls client sends (its whole ClientHello), captured by a plain TCP server. */
export async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const captured = new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ClientHello within 5 s')), 5_000);
    server.once('connection', (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) {
          clearTimeout(timer);
          s.destroy();
          resolve(all.subarray(0, 5 + all.readUInt16BE(3)));
        }
      });
    });
  });
  const client = tls.connect({ host: '127.0.0.1', port, ...options });
  client.on('error', () => undefined);
  try {
    return await captured;
  } finally {
    client.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** Handshake bytes framed as TLS handshake records of at most `size` payload bytes each. */
export function records(handshake: Buffer, size: number, version = 0x0301): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < handshake.length; i += size) {
    const part = handshake.subarray(i, i + size);
    const header = Buffer.alloc(5);
    header[0] = 22;
    header.writeUInt16BE(version, 1);
    header.writeUInt16BE(part.length, 3);
    out.push(header, part);
  }
  return Buffer.concat(out);
}

/** A big-endian uint16. */
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** A ClientHello extension: type, length, data. */
export function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

/** server_name with one entry (host_name unless `nameType` says otherwise). */
export function sniExtension(name: Buffer | string, nameType = 0): Buffer {
  const n = typeof name === 'string' ? Buffer.from(name, 'latin1') : name;
  const entry = Buffer.concat([Buffer.from([nameType]), u16(n.length), n]);
  return extension(0, Buffer.concat([u16(entry.length), entry]));
}

/** application_layer_protocol_negotiation with `names` in order. */
export function alpnExtension(names: readonly string[]): Buffer {
  const list = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([n.length]), Buffer.from(n)])));
  return extension(16, Buffer.concat([u16(list.length), list]));
}

/** A minimal ClientHello handshake message; `extensions` undefined: none at all (allowed before TLS 1.3). */
export function clientHello(extensions?: readonly Buffer[], trailing = Buffer.alloc(0)): Buffer {
  const exts = extensions === undefined ? Buffer.alloc(0) : Buffer.concat(extensions);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([0]), // session id
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]), // compression: null
    extensions === undefined ? Buffer.alloc(0) : Buffer.concat([u16(exts.length), exts]),
    trailing,
  ]);
  const header = Buffer.from([1, 0, 0, 0]);
  header.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([header, body]);
}

/** A PEM private key and its self-signed certificate. */
export interface Certificate {
  key: Buffer;
  cert: Buffer;
}

/** One P-256 certificate per name (CN and DNS SAN), valid a day, made with the openssl CLI in a temporary directory removed before returning. */
export function makeCertificates(names: readonly string[]): Map<string, Certificate> {
  const dir = mkdtempSync(join(tmpdir(), 'meltemi-tls-'));
  try {
    const out = new Map<string, Certificate>();
    for (const name of names) {
      const key = join(dir, `${name}.key`);
      const cert = join(dir, `${name}.crt`);
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
      out.set(name, { key: readFileSync(key), cert: readFileSync(cert) });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
