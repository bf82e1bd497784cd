// Target "nginx": the reference proxy — Debian's nginx, 1 worker pinned to the proxy core, upstream keep-alive pool, proxy_http_version 1.1.
import { proxyConf, startNginx } from '../nginx.js';
import { cpuList, startChain, type Target } from '../target.js';

export const nginx: Target = {
  name: 'nginx',
  description: 'nginx, worker_processes 1 + worker_cpu_affinity (master and worker under taskset), upstream keepalive 64, proxy_http_version 1.1, access log off; h2c listener via `listen … http2`, HTTP/1.1 upstream',
  skipReason: (ctx) => (ctx.tools.nginx.path ? undefined : `nginx unavailable: ${ctx.tools.nginx.missing ?? 'not installed'}`),
  start: (ctx) =>
    startChain(
      ctx,
      'nginx',
      () => 'http1',
      (h) => startNginx(`nginx-hop${h.index}`, h.file, proxyConf(h.file, h.cpu, h.port, h.listen === 'http2', h.nextPort), cpuList(h.cpu), h.port),
    ),
};
