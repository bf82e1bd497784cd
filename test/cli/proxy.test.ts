// `meltemi proxy` flags: the merged metrics port serves the app's metrics; a non-loopback app metrics URL is refused before anything starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { runProxy, type ProxyCommandOptions } from '../../src/cli/commands/proxy.js';

function memoryIO() {
  const io = { stdout: '', stderr: '', out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t), stdin: Readable.from([]) };
  return io;
}

const NODE_ID = 'sidecar~127.0.0.1~web-1.default~default.svc.cluster.local';

test('meltemi proxy --app-metrics refuses a URL that is not plain http on loopback', async () => {
  const io = memoryIO();
  const code = await main(['proxy', '--discovery', '127.0.0.1:1', '--node-id', NODE_ID, '--app-metrics', 'http://10.0.0.7:8080/metrics'], io);
  assert.notEqual(code, 0);
  assert.match(io.stderr, /app metrics URL "http:\/\/10\.0\.0\.7:8080\/metrics" must be http:\/\/ on a loopback address/);
});

test('meltemi proxy --merged-metrics-port serves the proxy\'s metrics and the app\'s from --app-metrics', { timeout: 30_000 }, async () => {
  const app = http.createServer((_req, res) => res.end('# TYPE app_up gauge\napp_up 1\n')).listen(0, '127.0.0.1');
  await once(app, 'listening');
  const appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}/metrics`;
  let stop!: () => void;
  const stopSignal = new Promise<void>((r) => (stop = r));
  const io = memoryIO();
  const options: ProxyCommandOptions = {
    discovery: '127.0.0.1:1',
    type: 'sidecar',
    nodeId: NODE_ID,
    protocol: 'sotw',
    adminPort: '0',
    healthPort: '0',
    statsPort: '0',
    mergedMetricsPort: '0',
    appMetrics: appUrl,
    drainSeconds: '0',
    stopSignal,
  };
  const running = runProxy(options, io);
  try {
    const deadline = Date.now() + 10_000;
    while (!/metrics http:\/\/(\S+)\/stats\/prometheus/.test(io.stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const address = /metrics http:\/\/(\S+)\/stats\/prometheus/.exec(io.stdout)?.[1];
    assert.ok(address, io.stdout + io.stderr);
    const text = await (await fetch(`http://${address}/stats/prometheus`)).text();
    assert.match(text, /^app_up 1$/m);
    assert.match(text, /^istio_agent_scrapes_total\{type="application"\} 1$/m);
  } finally {
    stop();
    assert.equal(await running, 0);
    app.close();
  }
});
