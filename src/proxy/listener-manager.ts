// Binds the sockets the active listeners need (by the bind plan), hands each accepted connection to its filter chain, and drains listeners that go away.
import * as net from 'node:net';
import type { ConnectionFacts, FilterChainConfig, ListenerConfig } from './config/listeners.js';
import { selectFilterChain } from './config/listeners.js';
import type { ProxyConfig } from './config/proxy-config.js';
import { originalDestination, type OriginalDestination } from './network/original-dst.js';
import { ClientHelloReader, type ClientHelloVerdict } from './network/tls-inspector.js';

/**
 * Where listeners are bound. Two ways for a sidecar's traffic to arrive:
 * - `capture` (Envoy's way): iptables REDIRECTs the pod's outbound TCP to virtualOutbound (15001)
 *   and its inbound TCP to virtualInbound (15006); only listeners with bind_to_port are bound, and
 *   each connection's original destination (SO_ORIGINAL_DST) picks the listener (use_original_dst
 *   hand-off) and the filter chain (the original_dst listener filter), as in Envoy.
 * - explicit binding (the "sidecar without iptables" model, where the kernel does not redirect):
 *   - `outboundAddress`: each outbound per-port listener (`0.0.0.0_9080`) listens on this address
 *     and its port — the app reaches `reviews:9080` through it (hosts file); so does each outbound
 *     listener that binds its port on loopback or the wildcard (the HTTP proxy port
 *     `127.0.0.1_15080` the app's HTTP_PROXY names, Sidecar egress listeners with captureMode
 *     NONE), so that every local pod's sidecar listens on its own address;
 *   - `inboundAddress`: each inbound port of virtualInbound (`destination_port` filter chains)
 *     listens on the workload address, while the app itself listens on 127.0.0.1 (Istio's inbound
 *     clusters point there).
 * A router (gateway) binds its listeners as configured, on `gatewayAddress` when they say 0.0.0.0.
 * `portOffset` shifts every bound port (tests and several proxies on one host).
 */
export interface BindPlan {
  mode: 'sidecar' | 'router';
  capture?: boolean;
  outboundAddress?: string;
  inboundAddress?: string;
  /**
   * Where the app listens when it cannot have 127.0.0.1 to itself (pods sharing the host's
   * loopback): inbound clusters' 127.0.0.1 endpoints are sent here instead.
   */
  appAddress?: string;
  gatewayAddress?: string;
  portOffset?: number;
}

/** The facts a filter chain is chosen on, besides the socket. */
export interface Dispatch {
  listener: ListenerConfig;
  chain: FilterChainConfig;
  /** The port the listener stands for (the service or inbound port, before any offset). */
  port: number;
  /**
   * Where the connection was addressed as the listener sees it (Envoy's downstream local address):
   * the original destination of a captured connection, else the bound address and `port`.
   */
  destination: OriginalDestination;
  /** The connection was redirected by iptables: `destination` is a real remote address (ORIGINAL_DST clusters connect to it). */
  captured: boolean;
  /** The client's TLS SNI, when the TLS inspector read one (Envoy's %REQUESTED_SERVER_NAME%, `connection.sni`). */
  serverName?: string;
  /** The ALPN protocols the client offered, when the TLS inspector read a ClientHello. */
  alpn?: readonly string[];
}

/**
 * Takes over an accepted socket. When a listener filter has read from it, those bytes are put back
 * (unshift) and the socket is resumed on the next tick, so the handler reads them first through
 * its 'data' listener — and may still pause the socket synchronously before any arrive.
 */
export type ConnectionHandler = (socket: net.Socket, d: Dispatch) => void;

/** The listener an accepted socket belongs to, and the destination its chain is chosen on. */
interface Found {
  listener: ListenerConfig;
  port: number;
  destination: OriginalDestination;
  captured: boolean;
}

interface Binding {
  key: string;
  address: string;
  port: number;
  server: net.Server;
  /** How to find the listener for an accepted socket under the config current at that time. */
  resolve: (config: ProxyConfig, socket: net.Socket) => Found | undefined;
}

/** How often a socket that could not be bound is tried again. */
const BIND_RETRY_MS = 2_000;

/** Envoy's listener connection_limit default in the hardening guide. */
const MAX_CONNECTIONS_PER_LISTENER = 10_000;

interface Wanted {
  key: string;
  address: string;
  port: number;
  resolve: Binding['resolve'];
}

/** The sockets a config asks for under a plan. */
export function bindingsFor(config: ProxyConfig, plan: BindPlan): Wanted[] {
  const out: Wanted[] = [];
  const taken = new Set<string>();
  const offset = plan.portOffset ?? 0;
  // Two listeners may land on one socket in explicit mode (127.0.0.1_9080 of a Sidecar egress
  // listener and 0.0.0.0_9080 both on the outbound address): the first one asked for keeps it.
  const add = (address: string, port: number, resolve: Binding['resolve']) => {
    const key = `${address}:${port + offset}`;
    if (taken.has(key)) return;
    taken.add(key);
    out.push({ key, address, port: port + offset, resolve });
  };
  // Listeners that bind their port come first: one the config asks to be bound explicitly wins
  // over a per-port listener that Envoy would reach only through a redirect.
  const listeners = [...config.listeners.values()];
  const ordered = plan.mode === 'sidecar' && !plan.capture ? [...listeners.filter((l) => l.bindToPort), ...listeners.filter((l) => !l.bindToPort)] : listeners;
  for (const l of ordered) {
    const name = l.name;
    if (plan.mode === 'router') {
      if (!l.bindToPort) continue;
      const address = l.address === '0.0.0.0' || l.address === '::' ? (plan.gatewayAddress ?? l.address) : l.address;
      add(address, l.port, (c, s) => boundListener(c, name, l.port, s));
      continue;
    }
    if (plan.capture) {
      if (!l.bindToPort) continue; // reached through virtualOutbound's hand-off
      add(l.address, l.port, (c, s) => capturedListener(c, name, l.port, s));
      continue;
    }
    if (l.name === 'virtualInbound') {
      if (!plan.inboundAddress) continue;
      const ports = new Set(l.filterChains.flatMap((c) => (c.match.destinationPort !== undefined && c.match.destinationPort !== l.port ? [c.match.destinationPort] : [])));
      for (const p of ports) add(plan.inboundAddress, p, (c, s) => boundListener(c, name, p, s));
      continue;
    }
    if (l.name === 'virtualOutbound' || l.useOriginalDst) continue; // needs the original destination
    if (l.direction === 'OUTBOUND' && plan.outboundAddress) {
      // 0.0.0.0_PORT (HTTP, or TCP without a VIP), and a bound 127.0.0.1_PORT (the HTTP proxy
      // port), on the outbound address; a VIP listener (10.0.0.5_3306) only if that address is local.
      const address = l.address === '0.0.0.0' || (l.bindToPort && isLoopback(l.address)) ? plan.outboundAddress : l.address;
      add(address, l.port, (c, s) => boundListener(c, name, l.port, s));
    }
  }
  return out;
}

/** 127.0.0.0/8 and ::1: addresses only the pod itself reaches, which the outbound address stands for in explicit mode. */
function isLoopback(address: string): boolean {
  return address === '::1' || (net.isIPv4(address) && address.startsWith('127.'));
}

function boundListener(config: ProxyConfig, name: string, port: number, socket: net.Socket): Found | undefined {
  const listener = config.listeners.get(name);
  if (!listener) return undefined;
  return { listener, port, destination: { address: socket.localAddress ?? listener.address, port }, captured: false };
}

/**
 * A connection accepted on a capture listener: with its original destination, virtualOutbound
 * (use_original_dst) hands it to the listener bound to that address and port, or to 0.0.0.0 and
 * that port, keeping it when there is none (its passthrough or black-hole chains); virtualInbound
 * (the original_dst listener filter) keeps it and chooses the chain on that destination. A
 * connection made straight to the listener has no original destination and is what it looks like
 * (the generated chain for the listener's own port black-holes it, so it cannot loop).
 */
function capturedListener(config: ProxyConfig, name: string, port: number, socket: net.Socket): Found | undefined {
  const own = config.listeners.get(name);
  if (!own) return undefined;
  const original = own.useOriginalDst || own.originalDstFilter ? originalDestination(socket) : undefined;
  if (!original) return boundListener(config, name, port, socket);
  const listener = own.useOriginalDst ? (handOffTarget(config, original) ?? own) : own;
  return { listener, port: original.port, destination: original, captured: true };
}

/** Listeners by `address:port`, per config (built on first use). */
const byAddress = new WeakMap<ProxyConfig, Map<string, ListenerConfig>>();

function handOffTarget(config: ProxyConfig, to: OriginalDestination): ListenerConfig | undefined {
  let index = byAddress.get(config);
  if (!index) {
    index = new Map();
    for (const l of config.listeners.values()) if (!index.has(`${l.address}:${l.port}`)) index.set(`${l.address}:${l.port}`, l);
    byAddress.set(config, index);
  }
  return index.get(`${to.address}:${to.port}`) ?? index.get(`${net.isIPv6(to.address) ? '::' : '0.0.0.0'}:${to.port}`);
}

/**
 * Keeps the bound sockets in line with the config: binds what is new, closes what is gone (a closed
 * listener stops accepting; its connections finish on their own — Envoy's drain), and leaves the
 * rest untouched, so a config push never drops a connection.
 */
export class ListenerManager {
  private readonly bindings = new Map<string, Binding>();
  /** Sockets the config asks for that could not be bound (address:port → why); retried until bound or no longer asked for. */
  private readonly failed = new Map<string, string>();
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private config: ProxyConfig | undefined;
  /** Envoy's listener_manager.listener_create_failure: bind attempts that failed. */
  createFailures = 0;

  constructor(
    private readonly plan: BindPlan,
    private readonly handler: ConnectionHandler,
    private readonly log: { warn(msg: string, fields?: object): void; info?(msg: string, fields?: object): void } = { warn: () => undefined },
  ) {}

  /** Addresses bound now (`address:port`). */
  get bound(): string[] {
    return [...this.bindings.keys()].sort();
  }

  /** Sockets the config asks for that are not bound (address:port → the error); the proxy is not ready while any are. */
  get failedBindings(): ReadonlyMap<string, string> {
    return this.failed;
  }

  async apply(config: ProxyConfig): Promise<void> {
    this.config = config;
    const wanted = new Map(bindingsFor(config, this.plan).map((w) => [w.key, w]));
    for (const [key, b] of this.bindings) {
      if (!wanted.has(key)) {
        this.bindings.delete(key);
        b.server.close();
      }
    }
    for (const key of this.failed.keys()) if (!wanted.has(key)) this.failed.delete(key);
    await Promise.all(
      [...wanted.values()].map(async (w) => {
        const existing = this.bindings.get(w.key);
        if (existing) {
          existing.resolve = w.resolve;
          return;
        }
        await this.tryBind(w);
      }),
    );
    this.scheduleRetry();
  }

  private async tryBind(w: Wanted): Promise<void> {
    try {
      await this.bind(w);
      this.failed.delete(w.key);
    } catch (e) {
      this.createFailures++;
      const error = e instanceof Error ? e.message : String(e);
      if (!this.failed.has(w.key)) this.log.warn('could not bind a listener; retrying', { address: w.key, error });
      this.failed.set(w.key, error);
    }
  }

  /** A socket that could not be bound (its port still held by a process going away) is tried again every BIND_RETRY_MS. */
  private scheduleRetry(): void {
    if (this.retryTimer || this.failed.size === 0 || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const config = this.config;
      if (this.closed || !config) return;
      const current = new Map(bindingsFor(config, this.plan).map((w) => [w.key, w]));
      void Promise.all([...this.failed.keys()].flatMap((key) => (current.has(key) && !this.bindings.has(key) ? [this.tryBind(current.get(key)!)] : []))).then(() => this.scheduleRetry());
    }, BIND_RETRY_MS);
    this.retryTimer.unref();
  }

  /** Stops accepting on every listener (drain); existing connections continue. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const all = [...this.bindings.values()];
    this.bindings.clear();
    // Stops accepting now; connections already accepted are the data plane's to drain (a server's
    // close callback would wait for every one of them, keep-alive clients included).
    for (const b of all) b.server.close();
  }

  private bind(w: Wanted): Promise<void> {
    const server = net.createServer({ noDelay: true, highWaterMark: 32 * 1024 });
    server.maxConnections = MAX_CONNECTIONS_PER_LISTENER;
    const binding: Binding = { key: w.key, address: w.address, port: w.port, server, resolve: w.resolve };
    server.on('connection', (socket) => this.accept(binding, socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: w.address, port: w.port }, () => {
        server.off('error', reject);
        server.on('error', (e) => this.log.warn('listener error', { address: w.key, error: e.message }));
        this.bindings.set(w.key, binding);
        this.log.info?.('listening', { address: w.key });
        resolve();
      });
    });
  }

  private accept(binding: Binding, socket: net.Socket): void {
    socket.on('error', () => undefined);
    const config = this.config;
    const found = config && binding.resolve(config, socket);
    if (!found) {
      socket.destroy();
      return;
    }
    if (found.listener.tlsInspector) {
      this.inspect(socket, found);
      return;
    }
    this.dispatch(socket, found, RAW_BUFFER);
  }

  private dispatch(socket: net.Socket, found: Found, tls: ClientHelloVerdict): void {
    const { listener, port } = found;
    const facts: ConnectionFacts = { destinationIp: found.destination.address, destinationPort: port, transportProtocol: 'raw_buffer', applicationProtocols: NO_PROTOCOLS };
    if (tls.kind === 'tls') {
      facts.transportProtocol = 'tls';
      facts.applicationProtocols = tls.alpn;
      if (tls.serverName !== undefined) facts.serverName = tls.serverName;
    }
    const chain = selectFilterChain(listener, facts);
    if (!chain) {
      socket.destroy();
      return;
    }
    const d: Dispatch = { listener, chain, port, destination: found.destination, captured: found.captured };
    if (facts.serverName !== undefined) d.serverName = facts.serverName;
    if (tls.kind === 'tls') d.alpn = tls.alpn;
    this.handler(socket, d);
  }

  /**
   * Envoy's tls_inspector: reads until the first bytes are known to be a ClientHello (and its SNI
   * and ALPN) or not, then chooses the chain and hands over the socket with those bytes put back.
   * Closes a connection that ends first, or whose ClientHello overruns the inspector's buffer; on
   * listener_filters_timeout continues as raw_buffer or closes, as the listener says.
   * https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/listener_filters/tls_inspector
   */
  private inspect(socket: net.Socket, found: Found): void {
    const listener = found.listener;
    const reader = new ClientHelloReader();
    const read: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let decided = false;
    const stop = () => {
      decided = true;
      socket.off('data', onData);
      socket.off('end', abandon);
      socket.off('close', stop);
      if (timer) clearTimeout(timer);
    };
    const finish = (verdict: ClientHelloVerdict) => {
      stop();
      if (verdict.kind === 'too-large') {
        socket.destroy();
        return;
      }
      socket.pause();
      if (read.length > 0) socket.unshift(read.length === 1 ? read[0]! : Buffer.concat(read));
      // resume() takes effect on the next tick: after the handler has attached its 'data' listener or paused.
      socket.resume();
      this.dispatch(socket, found, verdict);
    };
    const onData = (chunk: Buffer) => {
      read.push(chunk);
      const verdict = reader.push(chunk);
      if (verdict.kind !== 'need-more') finish(verdict);
    };
    const abandon = () => {
      stop();
      socket.destroy();
    };
    socket.on('data', onData);
    socket.once('end', abandon);
    socket.once('close', stop);
    if (listener.listenerFiltersTimeoutMs > 0) {
      timer = setTimeout(() => {
        timer = undefined;
        // Node runs due timers before it reads sockets: after a busy stretch of the event loop the
        // timeout can fire while the ClientHello already waits in the kernel. Deciding after the
        // next poll phase (setImmediate) lets those bytes count, so only a client that really sent
        // nothing in time is treated as server-first.
        setImmediate(() => {
          if (decided) return;
          if (listener.continueOnListenerFiltersTimeout) finish(RAW_BUFFER);
          else abandon();
        });
      }, listener.listenerFiltersTimeoutMs);
    }
  }
}

const NO_PROTOCOLS: readonly string[] = [];
/** What a connection is when no listener filter read it, or the TLS inspector found no ClientHello. */
const RAW_BUFFER: ClientHelloVerdict = Object.freeze({ kind: 'not-tls' });
