// What a benchmark target is (a proxy the harness starts, measures and stops), and the helper that chains two instances of one into a 2-hop path.
import { join } from 'node:path';
import type { Proc } from './processes.js';
import { freePort, type ToolName, type ToolStatus } from './system.js';

/** The protocol the client speaks to the first hop: HTTP/1.1 keep-alive, or HTTP/2 cleartext with prior knowledge (h2c). */
export type Protocol = 'http1' | 'http2';

/** The upstream's two listeners; both return the same 1 KiB body. */
export interface UpstreamPorts {
  http1Port: number;
  h2cPort: number;
}

/** Everything a target needs to start one scenario. */
export interface TargetContext {
  upstream: UpstreamPorts;
  /** Core every process of the target must run on (`taskset -c`); undefined when the machine has one core. */
  cpu: number | undefined;
  /** 1: client → proxy → upstream. 2: client → client-side proxy → server-side proxy → upstream. */
  hops: 1 | 2;
  protocol: Protocol;
  /** A fresh directory for this target's generated configs and logs. */
  workDir: string;
  tools: Record<ToolName, ToolStatus>;
}

/** A started target. The caller owns it and must call `stop()` (which stops every process by PID). */
export interface RunningTarget {
  /** Where the client connects, on 127.0.0.1. */
  port: number;
  /** Every process of the target, all hops, workers included: their CPU time and RSS are what is measured. */
  pids: number[];
  /** The path a request takes, e.g. "client -h2c-> nginx -http1-> upstream". */
  wire: string;
  /**
   * For targets whose path is a claim worth checking after the load (mTLS between hops): reads the
   * target's own counters and resolves with what they show, or rejects with a `PathCheckError` when
   * the measured requests did not take the path the target names. `measuredRequests` is how many the
   * maximum-throughput run completed; 0 when it did not run.
   */
  verify?(measuredRequests: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * The target does not do what its name says (say, its "mTLS" hop answered in plaintext). Not a
 * target failure to skip past: the whole run stops, since any row it produced would be mislabelled.
 */
export class PathCheckError extends Error {}

export interface Target {
  readonly name: string;
  /** One line for the JSON and the README: what runs and how it is configured. */
  readonly description: string;
  /**
   * Other targets of the same scenario this one is a variant of (e.g. mTLS against the same path in
   * plaintext): the report adds this target's ratios to each.
   */
  readonly compareTo?: readonly string[];
  /** Why this target cannot run this scenario on this machine (a missing binary, an unsupported protocol), or undefined. */
  skipReason(ctx: TargetContext): string | undefined;
  /** Starts the target (both hops when ctx.hops is 2), pinned to ctx.cpu, and resolves once it accepts connections. */
  start(ctx: TargetContext): Promise<RunningTarget>;
}

/** One instance of a proxy in a chain: listen on `port` speaking `listen`, forward to `nextPort` speaking `forward`. */
export interface HopSpec {
  /** 0 is the client-side (first) hop, 1 the server-side hop. */
  index: number;
  port: number;
  listen: Protocol;
  nextPort: number;
  forward: Protocol;
  cpu: number | undefined;
  /** Where this hop may write its config and logs. */
  dir: string;
  /** A unique prefix for this hop's files inside `dir`. */
  file: string;
}

export const WIRE_NAME: Record<Protocol, string> = { http1: 'http1', http2: 'h2c' };

/**
 * Starts `ctx.hops` instances of one proxy, server side first, each listening on a fresh port and
 * forwarding to the next (the last one to the upstream listener of the protocol it forwards).
 * `forwardOf(listen)` says what the proxy speaks upstream when its clients speak `listen`: HTTP/1.1
 * for proxies that terminate HTTP here (nginx cannot originate h2c outside gRPC, so all of them do
 * the same), the same protocol for a byte pipe. `startHop` starts one instance and resolves when it
 * listens; its processes, adopted workers included, are measured and stopped with the chain.
 */
export async function startChain(
  ctx: TargetContext,
  name: string,
  forwardOf: (listen: Protocol) => Protocol,
  startHop: (h: HopSpec) => Promise<Proc>,
): Promise<RunningTarget> {
  const listens: Protocol[] = [ctx.protocol];
  for (let i = 1; i < ctx.hops; i++) listens.push(forwardOf(listens[i - 1]!));
  const lastForward = forwardOf(listens[listens.length - 1]!);
  const procs: Proc[] = [];
  const stop = async () => {
    for (const p of [...procs].reverse()) await p.stop();
  };
  try {
    let nextPort = lastForward === 'http1' ? ctx.upstream.http1Port : ctx.upstream.h2cPort;
    for (let i = ctx.hops - 1; i >= 0; i--) {
      const port = await freePort();
      const listen = listens[i]!;
      const forward = forwardOf(listen);
      procs.push(await startHop({ index: i, port, listen, nextPort, forward, cpu: ctx.cpu, dir: ctx.workDir, file: join(ctx.workDir, `${name}-hop${i}`) }));
      nextPort = port;
    }
    const wire = ['client', ...listens.map((l) => `-${WIRE_NAME[l]}-> ${name}`), `-${WIRE_NAME[lastForward]}-> upstream`].join(' ');
    return { port: nextPort, pids: procs.flatMap((p) => [p.pid, ...p.extraPids]), wire, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** `taskset -c` list for a context's core. */
export function cpuList(cpu: number | undefined): string | undefined {
  return cpu === undefined ? undefined : String(cpu);
}
