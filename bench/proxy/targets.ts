// The targets the proxy benchmark knows, in the order they run and are printed.
import { direct } from './targets/direct.js';
import { haproxy } from './targets/haproxy.js';
import { nginx } from './targets/nginx.js';
import { nodeHttp, nodeTcpPipe } from './targets/node-baselines.js';
import { meltemi, meltemiH2 } from './targets/meltemi.js';
import { meltemiMtls, meltemiS2s } from './targets/meltemi-sidecars.js';
import { nginxMtls } from './targets/nginx-mtls.js';
import { nodeRawHttp1 } from './targets/node-raw-http1.js';
import type { Target } from './target.js';

/**
 * Every target, `direct` first (it is the reference for added latency and always runs) and `nginx`
 * second (the reference for ratios). `meltemi-h2` is `meltemi` forwarding HTTP/2. The 2-hop-only mutual-TLS rows come last: `nginx-mtls` (nginx
 * with TLS between its hops), `meltemi-s2s` (client sidecar → server sidecar, plaintext) and
 * `meltemi-mtls` (the same with mTLS), each compared with the row it is a variant of.
 */
export const TARGETS: readonly Target[] = [direct, nginx, haproxy, nodeHttp, nodeTcpPipe, nodeRawHttp1, meltemi, meltemiH2, nginxMtls, meltemiS2s, meltemiMtls];
