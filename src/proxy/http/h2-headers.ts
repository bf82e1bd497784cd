// Header fields between HTTP/2 (pseudo-headers, no connection-specific fields) and the proxy's HeaderList.
import type * as http2 from 'node:http2';
import { HeaderList } from '../http1/index.js';

/** Fields HTTP/2 forbids (RFC 9113 §8.2.2); `te` is allowed only as `trailers`, checked separately. */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

/**
 * Copies `list` into an HTTP/2 header object (lower-case names; repeated fields as arrays),
 * leaving out what HTTP/2 forbids. `host` is left out too: it travels as `:authority`.
 */
export function toHttp2Headers(list: HeaderList, into: http2.OutgoingHttpHeaders): http2.OutgoingHttpHeaders {
  const names = list.lowerNames;
  const values = list.values;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (CONNECTION_SPECIFIC.has(name)) continue;
    if (name === 'te' && values[i]!.toLowerCase() !== 'trailers') continue;
    const prev = into[name];
    if (prev === undefined) into[name] = values[i]!;
    else if (Array.isArray(prev)) prev.push(values[i]!);
    else into[name] = [String(prev), values[i]!];
  }
  return into;
}

/** The pseudo-headers of a received HTTP/2 header block and its regular fields, in order. */
export interface Http2Fields {
  method: string;
  path: string;
  authority: string;
  scheme: string;
  status: number;
  headers: HeaderList;
  /** Bytes of the fields as names and values (HPACK-decoded size, for byte metrics). */
  size: number;
}

/** Splits Node's raw header array (`[name, value, …]`, names lower-case) into pseudo-headers and fields. */
export function fromRawHeaders(raw: readonly string[]): Http2Fields {
  const out: Http2Fields = { method: '', path: '', authority: '', scheme: '', status: 0, headers: new HeaderList(), size: 0 };
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    out.size += name.length + value.length;
    if (name.charCodeAt(0) !== 0x3a /* : */) {
      out.headers.add(name, value, name);
      continue;
    }
    if (name === ':method') out.method = value;
    else if (name === ':path') out.path = value;
    else if (name === ':authority') out.authority = value;
    else if (name === ':scheme') out.scheme = value;
    else if (name === ':status') out.status = Number(value);
  }
  return out;
}

/** A header object's fields as a HeaderList (trailers arrive as objects). */
export function headerListOf(obj: http2.IncomingHttpHeaders): HeaderList {
  const list = new HeaderList();
  for (const [name, value] of Object.entries(obj)) {
    if (name.charCodeAt(0) === 0x3a || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) list.add(name, v, name);
    else list.add(name, value, name);
  }
  return list;
}

/** An HTTP/2 message's declared body length: its `content-length` when that is a plain number, else -1 (unknown). */
export function contentLengthOf(headers: HeaderList): number {
  const cl = headers.get('content-length');
  return cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : -1;
}
