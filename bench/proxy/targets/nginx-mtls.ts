// Target "nginx-mtls": the peer row for meltemi-mtls — two nginx hops as the "nginx" target, with mutual TLS between them (EC P-256 leaves under an RSA 2048 root, as Meltemi's CA issues by default).
import { mkdirSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { proxyConf, startNginx, type HopTls } from '../nginx.js';
import { makeLeaf, makeRoot } from '../openssl.js';
import { which } from '../system.js';
import { PathCheckError, WIRE_NAME, cpuList, startChain, type Target } from '../target.js';

const SERVER_NAME = 'web.bench.local';

/** What hop 1 answers to a plaintext request on its TLS port: nginx's 400 when it is TLS-only, an HTTP 200 if it were not. */
function plaintextAnswer(port: number): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`));
    s.setEncoding('utf8');
    s.setTimeout(5000, () => s.destroy());
    s.on('data', (c: string) => (answer += c));
    s.on('error', () => undefined);
    s.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
  });
}

export const nginxMtls: Target = {
  name: 'nginx-mtls',
  description: `nginx as the "nginx" target, 2 hops with mutual TLS between them: hop 1 listens TLS-only with ssl_verify_client on; hop 0 connects with proxy_ssl_certificate, proxy_ssl_verify on (name ${SERVER_NAME}), sessions reused, through its keep-alive pool; certificates from the openssl CLI (RSA 2048 root, EC P-256 leaves)`,
  compareTo: ['nginx'],
  skipReason: (ctx) => {
    if (ctx.hops !== 2) return 'mutual TLS between two hops: 2 hops only';
    if (!ctx.tools.nginx.path) return `nginx unavailable: ${ctx.tools.nginx.missing ?? 'not installed'}`;
    if (!which('openssl')) return 'openssl CLI not found (it makes the certificates)';
    return undefined;
  },
  start: async (ctx) => {
    const dir = join(ctx.workDir, 'pki');
    mkdirSync(dir, { recursive: true });
    const root = makeRoot(dir, 'root', 'rsa2048');
    const server = makeLeaf(dir, 'server', root, [`DNS:${SERVER_NAME}`, 'URI:spiffe://cluster.local/ns/bench/sa/web']);
    const client = makeLeaf(dir, 'client', root, ['URI:spiffe://cluster.local/ns/bench/sa/client']);
    const tls: Record<number, HopTls> = {
      0: { upstream: { cert: client.cert, key: client.key, ca: root.cert, serverName: SERVER_NAME } },
      1: { listen: { cert: server.cert, key: server.key, clientCa: root.cert } },
    };
    let serverHopPort = 0;
    const chain = await startChain(ctx, 'nginx-mtls', () => 'http1', (h) => {
      if (h.index === 1) serverHopPort = h.port;
      return startNginx(`nginx-mtls-hop${h.index}`, h.file, proxyConf(h.file, h.cpu, h.port, h.listen === 'http2', h.nextPort, tls[h.index]), cpuList(h.cpu), h.port);
    });
    // The server hop must refuse plaintext, or the row would not be measuring TLS between the hops.
    const answer = await plaintextAnswer(serverHopPort);
    if (/^HTTP\/1\.1 2/.test(answer)) {
      await chain.stop();
      throw new PathCheckError(`nginx-mtls: hop 1 answered a plaintext request with "${answer}"; it must be TLS-only`);
    }
    return { ...chain, wire: `client -${WIRE_NAME[ctx.protocol]}-> nginx -mTLS http1-> nginx -http1-> upstream` };
  },
};
