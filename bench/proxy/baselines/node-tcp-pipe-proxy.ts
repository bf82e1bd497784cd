// Baseline: a raw TCP pipe on node:net (no HTTP parsing at all) — the floor of what a Node proxy process costs per byte relayed.
// Usage: node --import tsx node-tcp-pipe-proxy.ts PORT NEXT_PORT
import net from 'node:net';

const port = Number(process.argv[2]);
const nextPort = Number(process.argv[3]);
if (!Number.isInteger(port) || !Number.isInteger(nextPort)) {
  process.stderr.write('usage: node-tcp-pipe-proxy.ts PORT NEXT_PORT\n');
  process.exit(2);
}

const server = net.createServer({ noDelay: true }, (client) => {
  const up = net.connect({ host: '127.0.0.1', port: nextPort, noDelay: true });
  client.pipe(up);
  up.pipe(client);
  const close = () => {
    client.destroy();
    up.destroy();
  };
  client.on('error', close);
  up.on('error', close);
  client.on('close', close);
  up.on('close', close);
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
