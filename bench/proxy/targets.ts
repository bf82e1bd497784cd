// The targets the proxy benchmark knows, in the order they run and are printed.
import { direct } from './targets/direct.js';
import { haproxy } from './targets/haproxy.js';
import { nginx } from './targets/nginx.js';
import { nodeHttp, nodeTcpPipe } from './targets/node-baselines.js';
import { meltemi } from './targets/meltemi.js';
import { nodeRawHttp1 } from './targets/node-raw-http1.js';
import type { Target } from './target.js';

/**
 * Every target, `direct` first (it is the reference for added latency and always runs) and `nginx`
 * second (the reference for ratios).
 *
 * HERE is where `meltemi` goes once `meltemi proxy` exists: a `targets/meltemi.ts` whose `start`
 * calls `startChain(ctx, 'meltemi', forwardOf, startHop)` with a hop that spawns
 * `bin/meltemi.js proxy …` pinned by `spawnPinned` (see `targets/node-baselines.ts`), and one line
 * in this list. Until then there is no meltemi entry, so no meltemi numbers can appear.
 */
export const TARGETS: readonly Target[] = [direct, nginx, haproxy, nodeHttp, nodeTcpPipe, nodeRawHttp1, meltemi];
