// Opaque TCP through tcp_proxy: bytes pass unchanged both ways under backpressure (writes leave once per batch of I/O events), each side's FIN is passed on, and the record counts every byte.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import { test } from 'node:test';
import { buildProxyConfig } from '../../src/proxy/config/proxy-config.js';
import { DataPlane } from '../../src/proxy/data-plane.js';
import type { TcpRecord } from '../../src/proxy/network/tcp-proxy.js';
import { freePort } from './http-mesh.js';

const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** A data plane with one tcp_proxy listener toward `appPort`; records go to `records`. */
async function tcpPlane(appPort: number, records: TcpRecord[]): Promise<{ plane: DataPlane; port: number }> {
  const port = await freePort();
  const listener = {
    name: 'tcp',
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'tcp', cluster: 'app' } }] }],
  };
  const cluster = { name: 'app', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: appPort } } } }] }] } };
  const plane = new DataPlane({ plan: { mode: 'router', gatewayAddress: '127.0.0.1' }, onTcp: (r) => records.push(r) });
  await plane.apply(buildProxyConfig({ listeners: new Map([['tcp', listener]]), routes: new Map(), clusters: new Map([['app', cluster]]), endpoints: new Map() }, 1));
  return { plane, port };
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('8 MiB each way through tcp_proxy arrive unchanged and in order, with the FINs passed on and every byte counted', { timeout: 30_000 }, async () => {
  // The app echoes what it reads, reading only as fast as its writes drain (backpressure on both hops), and ends when the client has.
  const app = net.createServer((s) => {
    s.pipe(s);
  });
  const appPort = await listen(app);
  const records: TcpRecord[] = [];
  const { plane, port } = await tcpPlane(appPort, records);
  try {
    const payload = randomBytes(8 << 20);
    const client = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    client.on('data', (c: Buffer) => received.push(c));
    await once(client, 'connect');
    // Many small writes in one go, then large ones: what is queued while a batch is corked keeps its order.
    for (let i = 0; i < 4096; i++) client.write(payload.subarray(i * 64, (i + 1) * 64));
    for (let off = 4096 * 64; off < payload.length; off += 256 << 10) client.write(payload.subarray(off, Math.min(payload.length, off + (256 << 10))));
    client.end();
    await once(client, 'end');
    const echoed = Buffer.concat(received);
    assert.equal(echoed.length, payload.length);
    assert.equal(sha(echoed), sha(payload));
    client.destroy();
    for (let i = 0; i < 100 && records.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(records.length, 1);
    assert.equal(records[0]!.bytesReceived, payload.length);
    assert.equal(records[0]!.bytesSent, payload.length);
    assert.deepEqual(records[0]!.responseFlags, []);
  } finally {
    await plane.drain(0);
    app.close();
  }
});

test('half-close: the client\'s FIN reaches the app, whose answer still flows back before its own FIN', { timeout: 30_000 }, async () => {
  // The app reads until the client's FIN, then answers with the count and closes.
  const app = net.createServer((s) => {
    let n = 0;
    s.on('data', (c: Buffer) => (n += c.length));
    s.on('end', () => s.end(`read ${n} bytes`));
  });
  const appPort = await listen(app);
  const records: TcpRecord[] = [];
  const { plane, port } = await tcpPlane(appPort, records);
  try {
    const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await once(client, 'connect');
    client.setEncoding('latin1');
    let answer = '';
    client.on('data', (c: string) => (answer += c));
    client.write('x'.repeat(1000));
    client.end();
    await once(client, 'end');
    assert.equal(answer, 'read 1000 bytes');
    client.destroy();
  } finally {
    await plane.drain(0);
    app.close();
  }
});
