// The listener manager with Envoy's tls_inspector: chain choice by SNI, ALPN and transport protocol, peeked bytes handed back, listener_filters_timeout, and connections closed before a verdict.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import * as net from 'node:net';
import { test } from 'node:test';
import * as tls from 'node:tls';
import { compileListener } from '../../src/proxy/config/listeners.js';
import { buildProxyConfig } from '../../src/proxy/config/proxy-config.js';
import { ListenerManager } from '../../src/proxy/listener-manager.js';
import { inspectClientHello } from '../../src/proxy/network/tls-inspector.js';
import { freePort } from './http-mesh.js';
import { clientHello, records, sniExtension } from './tls-fixtures.js';

const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };

function chain(name: string, match: Record<string, unknown>): Record<string, unknown> {
  return { name, filter_chain_match: match, filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster: name } }] };
}

/** Chains `a` (SNI a.example.com), `h2` (TLS offering h2), `tls` (any TLS) and `plain` (raw_buffer). */
function listener(port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'l',
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: [
      chain('a', { server_names: ['a.example.com'] }),
      chain('h2', { transport_protocol: 'tls', application_protocols: ['h2'] }),
      chain('tls', { transport_protocol: 'tls' }),
      chain('plain', { transport_protocol: 'raw_buffer' }),
    ],
    ...extra,
  };
}

/** Resolves when a socket closes, however (a reset is an expected outcome here). */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

interface Handed {
  chain: string;
  socket: net.Socket;
  data: Buffer[];
}

/**
 * A listener manager on 127.0.0.1 whose handler records each connection and its bytes; `pauseFirst`
 * makes it pause the socket and resume on a later turn (as the TCP proxy does while connecting).
 */
async function serve(extra: Record<string, unknown>, pauseFirst = false) {
  const port = await freePort();
  const config = buildProxyConfig({ listeners: new Map([['l', listener(port, extra)]]), routes: new Map(), clusters: new Map(), endpoints: new Map() }, 1);
  const handed: Handed[] = [];
  const events = new EventEmitter();
  const manager = new ListenerManager({ mode: 'router', gatewayAddress: '127.0.0.1' }, (socket, d) => {
    const h: Handed = { chain: d.chain.name, socket, data: [] };
    handed.push(h);
    if (pauseFirst) {
      socket.pause();
      setImmediate(() => socket.resume());
    }
    socket.on('data', (c: Buffer) => {
      h.data.push(c);
      events.emit('data', h);
    });
    events.emit('handed', h);
  });
  await manager.apply(config);
  const clients: net.Socket[] = [];
  return {
    port,
    handed,
    /** The next connection handed over. */
    next: async () => (await once(events, 'handed'))[0] as Handed,
    /** Waits until `h` has received `bytes` bytes (bounded). */
    received: async (h: Handed, bytes: number) => {
      const deadline = setTimeout(() => events.emit('error', new Error(`only ${Buffer.concat(h.data).length} of ${bytes} bytes`)), 5_000);
      try {
        while (Buffer.concat(h.data).length < bytes) await once(events, 'data');
      } finally {
        clearTimeout(deadline);
      }
      return Buffer.concat(h.data);
    },
    connect: () => {
      const c = net.connect({ host: '127.0.0.1', port });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    tlsConnect: (options: tls.ConnectionOptions) => {
      const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    close: async () => {
      for (const c of clients) c.destroy();
      for (const h of handed) h.socket.destroy();
      await manager.close();
    },
  };
}

test('the listener records the TLS inspector (by name or type), listener_filters_timeout (15 s by default) and continue_on_listener_filters_timeout', () => {
  const plain = compileListener(listener(1));
  assert.deepEqual([plain.tlsInspector, plain.listenerFiltersTimeoutMs, plain.continueOnListenerFiltersTimeout], [false, 15_000, false]);
  const byName = compileListener(listener(1, { listener_filters: [{ name: 'envoy.filters.listener.tls_inspector' }], listener_filters_timeout: '0.250s', continue_on_listener_filters_timeout: true }));
  assert.deepEqual([byName.tlsInspector, byName.listenerFiltersTimeoutMs, byName.continueOnListenerFiltersTimeout], [true, 250, true]);
  assert.equal(compileListener(listener(1, { listener_filters: [{ ...TLS_INSPECTOR, name: 'tls' }] })).tlsInspector, true);
});

test('without the TLS inspector a connection is handed over as raw_buffer on accept, before it sends a byte', async () => {
  const s = await serve({});
  try {
    const handed = s.next();
    const c = s.connect();
    const h = await handed;
    assert.equal(h.chain, 'plain');
    assert.equal(h.data.length, 0);
    c.write('hello');
    assert.equal((await s.received(h, 5)).toString(), 'hello');
  } finally {
    await s.close();
  }
});

test('with it, SNI, then transport protocol and ALPN choose the chain, and the handler reads the ClientHello first', async () => {
  const s = await serve({ listener_filters: [TLS_INSPECTOR] });
  try {
    const cases: [tls.ConnectionOptions, string, string | undefined][] = [
      [{ servername: 'a.example.com', ALPNProtocols: ['h2'] }, 'a', 'a.example.com'],
      [{ servername: 'other.example.com', ALPNProtocols: ['h2', 'http/1.1'] }, 'h2', 'other.example.com'],
      [{ ALPNProtocols: ['http/1.1'] }, 'tls', undefined],
    ];
    for (const [options, want, sni] of cases) {
      const handed = s.next();
      s.tlsConnect(options);
      const h = await handed;
      assert.equal(h.chain, want, JSON.stringify(options));
      const first = await s.received(h, 5);
      const hello = await s.received(h, 5 + first.readUInt16BE(3));
      const verdict = inspectClientHello(hello);
      assert.equal(verdict.kind === 'tls' ? verdict.serverName : verdict.kind, sni);
    }
    const handed = s.next();
    s.connect().write('GET / HTTP/1.1\r\n\r\n');
    const h = await handed;
    assert.equal(h.chain, 'plain');
    assert.equal((await s.received(h, 18)).toString(), 'GET / HTTP/1.1\r\n\r\n');
  } finally {
    await s.close();
  }
});

for (const pauseFirst of [false, true]) {
  test(`a handler that ${pauseFirst ? 'pauses first and resumes later' : 'reads at once'} gets exactly the bytes sent, the peeked ones first`, async () => {
    const s = await serve({ listener_filters: [TLS_INSPECTOR] }, pauseFirst);
    try {
      const hello = records(clientHello([sniExtension('a.example.com')]), 7);
      const sent = Buffer.concat([hello, Buffer.from('application bytes after the hello')]);
      const handed = s.next();
      const c = s.connect();
      // Several writes, so the inspector may see the hello in more than one read.
      for (let i = 0; i < sent.length; i += 40) c.write(sent.subarray(i, i + 40));
      const h = await handed;
      assert.equal(h.chain, 'a');
      assert.deepEqual(await s.received(h, sent.length), sent);
    } finally {
      await s.close();
    }
  });
}

test('a silent client: listener_filters_timeout closes it, or hands it over as raw_buffer when told to continue', async () => {
  const closing = await serve({ listener_filters: [TLS_INSPECTOR], listener_filters_timeout: '0.050s' });
  try {
    await closed(closing.connect());
    assert.equal(closing.handed.length, 0);
  } finally {
    await closing.close();
  }
  const continuing = await serve({ listener_filters: [TLS_INSPECTOR], listener_filters_timeout: '0.050s', continue_on_listener_filters_timeout: true });
  try {
    const handed = continuing.next();
    const c = continuing.connect();
    const h = await handed;
    assert.equal(h.chain, 'plain');
    c.write('late');
    assert.equal((await continuing.received(h, 4)).toString(), 'late');
  } finally {
    await continuing.close();
  }
});

test('a client that ends mid-ClientHello, or whose ClientHello overruns 64 KiB, is closed without a chain; the next client is served', async () => {
  const s = await serve({ listener_filters: [TLS_INSPECTOR] });
  try {
    const partial = s.connect();
    partial.end(records(clientHello([sniExtension('a.example.com')]), 16_384).subarray(0, 30));
    await closed(partial);
    const huge = s.connect();
    huge.write(records(Buffer.concat([Buffer.from([1, 0x01, 0x11, 0x70]), Buffer.alloc(70_000)]), 16_384));
    await closed(huge);
    assert.equal(s.handed.length, 0);
    const handed = s.next();
    s.tlsConnect({ servername: 'a.example.com' });
    assert.equal((await handed).chain, 'a');
  } finally {
    await s.close();
  }
});
