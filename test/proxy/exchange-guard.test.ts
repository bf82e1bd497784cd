// A bug in one request's handling fails that request (500, connection closed), not the proxy: the next request on a new connection is served.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { test } from 'node:test';
import { buildProxyConfig } from '../../src/proxy/config/proxy-config.js';
import { DataPlane } from '../../src/proxy/data-plane.js';
import { freePort } from './http-mesh.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function statusOf(port: number): Promise<number> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n'));
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (answer += c));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
  });
}

test('an exception while routing one request answers 500 for it; the proxy keeps serving', async () => {
  const app = http.createServer((_req, res) => res.end('ok'));
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  const appPort = (app.address() as net.AddressInfo).port;
  const port = await freePort();
  const listener = {
    name: 'l',
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, stat_prefix: 'l', rds: { route_config_name: 'r' }, http_filters: [{ name: 'envoy.filters.http.router' }] } }] }],
  };
  const routes = { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] }] };
  const cluster = { name: 'app', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: appPort } } } }] }] } };
  const plane = new DataPlane({ plan: { mode: 'router', gatewayAddress: '127.0.0.1' } });
  await plane.apply(buildProxyConfig({ listeners: new Map([['l', listener]]), routes: new Map([['r', routes]]), clusters: new Map([['app', cluster]]), endpoints: new Map() }, 1));
  try {
    assert.equal(await statusOf(port), 200);
    // A bug: the route table lookup throws for the next request only.
    const real = plane.routesOf.bind(plane);
    let broken = true;
    plane.routesOf = (hcm) => {
      if (broken) {
        broken = false;
        throw new Error('simulated bug');
      }
      return real(hcm);
    };
    assert.equal(await statusOf(port), 500);
    assert.equal(await statusOf(port), 200);
  } finally {
    await plane.drain(0);
    app.close();
  }
});
