// Target "direct": the client talks to the upstream itself; the reference every "added latency" is measured against.
import { WIRE_NAME, type Target } from '../target.js';

export const direct: Target = {
  name: 'direct',
  description: 'no proxy: the load generator connects to the upstream (the reference for added latency)',
  skipReason: () => undefined,
  start: async (ctx) => ({
    port: ctx.protocol === 'http2' ? ctx.upstream.h2cPort : ctx.upstream.http1Port,
    pids: [],
    wire: `client -${WIRE_NAME[ctx.protocol]}-> upstream`,
    stop: async () => undefined,
  }),
};
