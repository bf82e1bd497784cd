// Micro-benchmark of the proxy's HTTP/1.1 codec: ns per parse and per serialize of a typical request and response (10 headers), with Node's own llhttp-based parser as a reference.
// Usage: npx tsx bench/proxy/http1-codec.ts [--iterations N] [--json]
import { BODY_DATA, BODY_END, BodyDecoder, RequestHeadParser, ResponseHeadParser, serializeRequestHead, serializeResponseHead } from '../../src/proxy/http1/index.js';

const args = process.argv.slice(2);
const iterations = Number(args[args.indexOf('--iterations') + 1] ?? '') || 300_000;
const asJson = args.includes('--json');

const REQUEST = Buffer.from(
  [
    'GET /api/v1/reviews/0?page=2&size=20 HTTP/1.1',
    'Host: reviews.default.svc.cluster.local:9080',
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
    'Accept: application/json',
    'Accept-Encoding: gzip, deflate',
    'x-request-id: 2f0a6a8e-3b5c-4c8e-9f5e-7a1b2c3d4e5f',
    'x-b3-traceid: 80f198ee56343ba864fe8b2a57d3eff7',
    'x-b3-spanid: e457b5a2e4d86bd1',
    'x-b3-sampled: 1',
    'Cookie: session=abcdef0123456789',
    'Connection: keep-alive',
    '',
    '',
  ].join('\r\n'),
  'latin1',
);

const RESPONSE_HEAD = [
  'HTTP/1.1 200 OK',
  'Server: nginx',
  'Date: Mon, 01 Jan 2024 00:00:00 GMT',
  'Content-Type: application/json',
  'Content-Length: 1024',
  'Connection: keep-alive',
  'Cache-Control: no-cache',
  'x-envoy-upstream-service-time: 3',
  'x-request-id: 2f0a6a8e-3b5c-4c8e-9f5e-7a1b2c3d4e5f',
  'Vary: Accept-Encoding',
  'ETag: "5f3b-1a2b3c"',
  '',
  '',
].join('\r\n');
const RESPONSE = Buffer.concat([Buffer.from(RESPONSE_HEAD, 'latin1'), Buffer.alloc(1024, 0x61)]);
const CHUNKED = Buffer.from(`${RESPONSE_HEAD.replace('Content-Length: 1024', 'Transfer-Encoding: chunked')}400\r\n${'a'.repeat(1024)}\r\n0\r\n\r\n`, 'latin1');

let sink = 0;

/** Median ns per call over 5 rounds of `n` calls, after a warm-up round. */
function measure(fn: () => void, n = iterations): number {
  for (let i = 0; i < Math.min(n, 50_000); i++) fn();
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    rounds.push(Number(process.hrtime.bigint() - t0) / n);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2]!;
}

const req = new RequestHeadParser();
const res = new ResponseHeadParser();
const body = new BodyDecoder('response');
const parsedReq = (() => {
  req.execute(REQUEST);
  return req.head!;
})();
const parsedRes = (() => {
  res.execute(RESPONSE);
  return res.head!;
})();

const results: Record<string, number> = {};
results['parse request head (10 headers, 1 read)'] = measure(() => {
  sink += req.execute(REQUEST);
  sink += req.head!.headers.length;
});
const half = REQUEST.length >> 1;
const reqA = REQUEST.subarray(0, half);
const reqB = REQUEST.subarray(half);
results['parse request head (split in 2 reads)'] = measure(() => {
  req.execute(reqA);
  sink += req.execute(reqB);
});
results['serialize request head (10 headers)'] = measure(() => {
  sink += serializeRequestHead(parsedReq.method, parsedReq.path, parsedReq.headers).length;
});
results['parse response head + 1 KiB Content-Length body'] = measure(() => {
  const at = res.forRequest('GET').execute(RESPONSE);
  body.start(parsedRes.framing, parsedRes.contentLength);
  let pos = at;
  while (body.read(RESPONSE, pos, RESPONSE.length) === BODY_DATA) pos = body.next;
  sink += body.next;
});
results['parse response head + 1 KiB chunked body'] = measure(() => {
  const at = res.forRequest('GET').execute(CHUNKED);
  body.start(res.head!.framing, -1);
  let pos = at;
  let ev;
  while ((ev = body.read(CHUNKED, pos, CHUNKED.length)) === BODY_DATA) pos = body.next;
  if (ev !== BODY_END) throw new Error('chunked body did not end');
  sink += body.next;
});
results['serialize response head (10 headers)'] = measure(() => {
  sink += serializeResponseHead(parsedRes.status, parsedRes.reason, parsedRes.headers).length;
});

// Reference: Node's own HTTP/1 parser (llhttp in C++, driven from JS the way node:http drives it).
type NodeParser = { initialize(type: number, resource: object): void; execute(b: Buffer): number; [k: number]: unknown };
try {
  const { HTTPParser } = (await import('node:module')).createRequire(import.meta.url)('_http_common') as { HTTPParser: (new () => NodeParser) & { REQUEST: number; kOnHeadersComplete: number } };
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {});
  p[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[]) => {
    sink += headers.length;
  };
  results['reference: node llhttp, request head to JS headers'] = measure(() => {
    sink += p.execute(REQUEST);
  });
} catch (e) {
  process.stderr.write(`(node parser reference unavailable: ${e instanceof Error ? e.message : String(e)})\n`);
}

if (asJson) process.stdout.write(`${JSON.stringify({ node: process.version, iterations, nsPerOp: results }, null, 2)}\n`);
else {
  process.stdout.write(`HTTP/1.1 codec, ${process.version}, median of 5 × ${iterations} ops (ns/op):\n`);
  for (const [k, v] of Object.entries(results)) process.stdout.write(`  ${v.toFixed(0).padStart(7)}  ${k}\n`);
}
if (sink === 42) process.stdout.write('\n');
