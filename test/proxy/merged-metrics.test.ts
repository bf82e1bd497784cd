// Istio's merged metrics on 15020: the proxy's metrics and the app's, scraped over loopback; a failing app never hides the proxy's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { MergedMetricsServer, appMetricsUrl } from '../../src/proxy/admin/admin-server.js';
import { MeshProxy } from '../../src/proxy/mesh-proxy.js';
import { freePort } from './http-mesh.js';

/** An app exposing `body` on /metrics. */
async function metricsApp(body: string, type = 'text/plain; version=0.0.4'): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': type }).end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/metrics`, close: () => new Promise((r) => server.close(() => r())) };
}

const PROXY_METRICS = '# TYPE istio_requests_total counter\nistio_requests_total{reporter="destination"} 3\n';

async function scrape(address: { host: string; port: number }): Promise<string> {
  const res = await fetch(`http://${address.host}:${address.port}/stats/prometheus`);
  assert.equal(res.status, 200);
  return res.text();
}

test('15020 serves the proxy\'s metrics followed by the app\'s, and counts the scrapes', async () => {
  const app = await metricsApp('# TYPE app_requests_total counter\napp_requests_total 7\n');
  const server = new MergedMetricsServer(() => PROXY_METRICS, { url: app.url }, { host: '127.0.0.1', port: 0 });
  const address = await server.listen();
  try {
    const text = await scrape(address);
    assert.match(text, /^istio_requests_total\{reporter="destination"\} 3$/m);
    assert.match(text, /^app_requests_total 7$/m);
    assert.match(text, /^istio_agent_scrapes_total\{type="application"\} 1$/m);
    assert.match(text, /^istio_agent_scrape_failures_total\{type="application"\} 0$/m);
    assert.ok(text.indexOf('istio_requests_total') < text.indexOf('app_requests_total'));
  } finally {
    await server.close();
    await app.close();
  }
});

test('an app that is down is a counted failure; the proxy\'s metrics are still served', async () => {
  const port = await freePort();
  const server = new MergedMetricsServer(() => PROXY_METRICS, { url: `http://127.0.0.1:${port}/metrics` }, { host: '127.0.0.1', port: 0 });
  const address = await server.listen();
  try {
    const text = await scrape(address);
    assert.match(text, /^istio_requests_total\{reporter="destination"\} 3$/m);
    assert.match(text, /^istio_agent_scrape_failures_total\{type="application"\} 1$/m);
  } finally {
    await server.close();
  }
});

test('an OpenMetrics answer loses its # EOF, so the merged text stays one valid exposition', async () => {
  const app = await metricsApp('# TYPE app_up gauge\napp_up 1\n# EOF\n', 'application/openmetrics-text; version=1.0.0');
  const server = new MergedMetricsServer(() => PROXY_METRICS, { url: app.url }, { host: '127.0.0.1', port: 0 });
  const address = await server.listen();
  try {
    const text = await scrape(address);
    assert.match(text, /^app_up 1$/m);
    assert.doesNotMatch(text, /# EOF/);
  } finally {
    await server.close();
    await app.close();
  }
});

test('the app metrics URL must be plain http on loopback: the agent never scrapes another host', () => {
  assert.equal(appMetricsUrl('http://127.0.0.1:8080/metrics').port, '8080');
  assert.equal(appMetricsUrl('http://[::1]:9090/stats').pathname, '/stats');
  assert.throws(() => appMetricsUrl('http://10.0.0.7:8080/metrics'), /loopback/);
  assert.throws(() => appMetricsUrl('https://127.0.0.1:8443/metrics'), /http:\/\//);
  assert.throws(() => appMetricsUrl('127.0.0.1:8080'), /not a URL|loopback/);
});

test('meltemi proxy serves the merged metrics on its 15020 port', async () => {
  const app = await metricsApp('app_up 1\n');
  const proxy = new MeshProxy({
    discovery: `127.0.0.1:${await freePort()}`,
    node: { type: 'sidecar', ips: ['127.0.0.1'], podName: 'web-1', namespace: 'default', labels: { app: 'web' } },
    plan: { mode: 'sidecar', outboundAddress: '127.0.0.1' },
    adminPort: 0,
    healthPort: -1,
    statsPort: -1,
    mergedMetricsPort: 0,
    healthHost: '127.0.0.1',
    appMetrics: { url: app.url },
    drainMs: 50,
    backoff: { baseMs: 50, maxMs: 200 },
  });
  try {
    await proxy.start();
    const [host, port] = proxy.mergedMetricsAddress.split(':');
    const text = await scrape({ host: host!, port: Number(port) });
    assert.match(text, /^app_up 1$/m);
    assert.match(text, /^istio_agent_scrapes_total\{type="application"\} 1$/m);
  } finally {
    await proxy.stop();
    await app.close();
  }
});
