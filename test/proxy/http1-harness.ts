// Test driver for the HTTP/1.1 codec: runs a byte stream, cut into any chunks, through head parser + body decoder the way a proxy would, and summarizes what came out.
import {
  BODY_DATA,
  BODY_END,
  BODY_ERROR,
  BodyDecoder,
  HEAD_ERROR,
  HEAD_INCOMPLETE,
  RequestHeadParser,
  ResponseHeadParser,
  type Http1Limits,
  type RequestHead,
  type ResponseHead,
} from '../../src/proxy/http1/index.js';

export interface MessageSummary {
  /** Request: `METHOD target HTTP/1.x`; response: `HTTP/1.x status reason`. */
  startLine: string;
  headers: Array<[string, string]>;
  lowerNames: string[];
  framing: string;
  contentLength: number;
  keepAlive: boolean;
  /** De-chunked payload. */
  body: string;
  /** The body bytes as framed on the wire (what a pass-through proxy forwards). */
  raw: string;
  trailers: Array<[string, string]> | null;
  headBytes: number;
  extra: Record<string, unknown>;
}

export interface RunResult {
  messages: MessageSummary[];
  /** Code of the refusal, if any (head or body, or `http1.truncated_message` at end of input). */
  error: string | null;
  status: number | null;
  /** Bytes after a tunnel-establishing head (CONNECT / 101), not parsed. */
  tunnel: string;
}

const latin1 = (b: Buffer, s: number, e: number): string => b.toString('latin1', s, e);

function requestSummary(h: RequestHead): MessageSummary {
  return {
    startLine: `${h.method} ${h.target} HTTP/1.${h.versionMinor}`,
    headers: h.headers.entries(),
    lowerNames: [...h.headers.lowerNames],
    framing: h.framing,
    contentLength: h.contentLength,
    keepAlive: h.keepAlive,
    body: '',
    raw: '',
    trailers: null,
    headBytes: h.headBytes,
    extra: { targetForm: h.targetForm, path: h.path, authority: h.authority, upgrade: h.upgrade, expectContinue: h.expectContinue },
  };
}

function responseSummary(h: ResponseHead): MessageSummary {
  return {
    startLine: `HTTP/1.${h.versionMinor} ${h.status} ${h.reason}`,
    headers: h.headers.entries(),
    lowerNames: [...h.headers.lowerNames],
    framing: h.framing,
    contentLength: h.contentLength,
    keepAlive: h.keepAlive,
    body: '',
    raw: '',
    trailers: null,
    headBytes: h.headBytes,
    extra: { interim: h.interim, upgrade: h.upgrade },
  };
}

/**
 * Parses every message in `chunks` (a connection's reads, in order). For responses, `methods` are
 * the methods of the requests answered, in order (interim responses do not use one up).
 */
export function run(kind: 'request' | 'response', chunks: Buffer[], o: { limits?: Http1Limits; methods?: string[] } = {}): RunResult {
  const req = kind === 'request' ? new RequestHeadParser(o.limits) : null;
  const res = kind === 'response' ? new ResponseHeadParser(o.limits) : null;
  const scanner = (req ?? res)!;
  const body = new BodyDecoder(kind, o.limits);
  const methods = [...(o.methods ?? [])];
  const out: RunResult = { messages: [], error: null, status: null, tunnel: '' };
  let phase: 'head' | 'body' | 'tunnel' = 'head';
  let cur: MessageSummary | null = null;
  const fail = (e: { code: string; status: number } | null): RunResult => {
    // What of a failed body was seen depends on where reads were cut; only the refusal is comparable.
    if (phase === 'body' && cur) cur.body = cur.raw = '(failed)';
    out.error = e!.code;
    out.status = e!.status;
    return out;
  };
  if (res) res.forRequest(methods[0] ?? 'GET');
  for (const chunk of chunks) {
    let pos = 0;
    for (let guard = 0; guard < 100_000; guard++) {
      if (phase === 'tunnel') {
        out.tunnel += latin1(chunk, pos, chunk.length);
        break;
      }
      if (phase === 'head') {
        if (pos === chunk.length) break;
        const r = scanner.execute(chunk, pos);
        if (r === HEAD_INCOMPLETE) break;
        if (r === HEAD_ERROR) return fail(scanner.error);
        pos = r;
        if (req) {
          cur = requestSummary(req.head!);
        } else {
          cur = responseSummary(res!.head!);
        }
        out.messages.push(cur);
        if (cur.framing === 'tunnel') {
          phase = 'tunnel';
          continue;
        }
        if (res && !res.head!.interim) {
          methods.shift();
          res.forRequest(methods[0] ?? 'GET');
        }
        body.start(cur.framing as 'none', cur.contentLength);
        phase = 'body';
        continue;
      }
      const from = pos;
      const ev = body.read(chunk, pos, chunk.length);
      if (ev === BODY_DATA) {
        cur!.body += latin1(chunk, body.dataStart, body.dataEnd);
        cur!.raw += latin1(chunk, from, body.next);
        pos = body.next;
        continue;
      }
      if (ev === BODY_END) {
        cur!.raw += latin1(chunk, from, body.next);
        cur!.trailers = body.trailers ? body.trailers.entries() : null;
        pos = body.next;
        phase = 'head';
        continue;
      }
      if (ev === BODY_ERROR) return fail(body.error);
      cur!.raw += latin1(chunk, from, chunk.length);
      break;
    }
  }
  if (phase === 'body') {
    const ev = body.finish();
    if (ev === BODY_ERROR) return fail(body.error);
    cur!.trailers = body.trailers ? body.trailers.entries() : null;
  } else if (phase === 'head' && scanner.pending) {
    out.error = 'http1.truncated_message';
    out.status = kind === 'request' ? 400 : 502;
  }
  return out;
}

/** `s` (latin1) cut at the given offsets. */
export function split(s: string, cuts: number[]): Buffer[] {
  const b = Buffer.from(s, 'latin1');
  const points = [...new Set(cuts.filter((c) => c > 0 && c < b.length))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let last = 0;
  // Each piece is copied into its own Buffer, as separate socket reads would be.
  for (const p of [...points, b.length]) {
    out.push(Buffer.from(b.subarray(last, p)));
    last = p;
  }
  return out;
}

/** One chunk per byte. */
export function bytewise(s: string): Buffer[] {
  return Array.from(Buffer.from(s, 'latin1'), (x) => Buffer.from([x]));
}

/** Lines joined with CRLF and followed by the empty line that ends a head. */
export function head(...lines: string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`;
}
