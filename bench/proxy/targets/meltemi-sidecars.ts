// Targets "meltemi-s2s" and "meltemi-mtls": a client sidecar's outbound listener → the server sidecar's inbound listener → upstream, as two `meltemi proxy` processes under one `meltemi discovery`; plaintext, or mutual TLS with certificates from the discovery's CA.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { join } from 'node:path';
import { sleep, spawnPinned, tail, waitForPort, type Proc } from '../processes.js';
import { freePort, REPO_ROOT } from '../system.js';
import { PathCheckError, WIRE_NAME, cpuList, type RunningTarget, type Target, type TargetContext } from '../target.js';
import { BIN, buildOnce } from './meltemi.js';
import { PROXY_NODE_OPTIONS } from '../../../src/shared/node-flags.js';

/**
 * Per target, the server workload's address and where the server sidecar's own outbound listeners go
 * (off 127.0.0.1, so they do not collide with the client sidecar's). The upstream listens on
 * 127.0.0.1:P, as an app does in its pod; the server sidecar's inbound listener binds the workload
 * address on the same port P and forwards to 127.0.0.1:P, as Istio's inbound cluster does. Each target
 * has its own addresses because every target of a scenario runs at once, all in front of one upstream.
 */
const ADDRESSES = {
  'meltemi-s2s': { server: '127.0.0.2', serverOutbound: '127.0.0.3' },
  'meltemi-mtls': { server: '127.0.0.4', serverOutbound: '127.0.0.5' },
} as const;
type PairName = keyof typeof ADDRESSES;
const NAMESPACE = 'bench';
const CLIENT_ID = `spiffe://cluster.local/ns/${NAMESPACE}/sa/client`;
const SERVER_ID = `spiffe://cluster.local/ns/${NAMESPACE}/sa/web`;

/**
 * Service `web` (its VIP 127.0.0.1, so the client sidecar's outbound listener is on 127.0.0.1 and
 * routes the load generator's `Host: 127.0.0.1:PORT`), one workload at `serverIp`, and the namespace's
 * PeerAuthentication. With mTLS the workload carries `security.istio.io/tlsMode: istio`, which turns
 * on auto-mTLS in the client's cluster, and STRICT makes the server refuse plaintext; without, no
 * label and DISABLE, so both sides speak plaintext.
 */
function meshConfig(serverIp: string, servicePort: number, appPort: number, mtls: boolean): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: web, namespace: ${NAMESPACE} }
spec:
  hosts: [web.${NAMESPACE}.local]
  addresses: [127.0.0.1]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${servicePort}, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: web } }
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: web-1, namespace: ${NAMESPACE} }
spec:
  address: ${serverIp}
  ports: { http: ${appPort} }
  serviceAccount: web
  labels: { app: web${mtls ? ', security.istio.io/tlsMode: istio' : ''} }
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: { name: default, namespace: ${NAMESPACE} }
spec: { mtls: { mode: ${mtls ? 'STRICT' : 'DISABLE'} } }
`;
}

/** Polls `url` every 50 ms until it answers 200, bounded by `timeoutMs`; fails early, with the log's tail, if `proc` exits. */
async function waitFor200(url: string, proc: Proc, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc.hasExited()) throw new Error(`${proc.name} exited before ${url} answered:\n${tail(proc.logFile)}`);
    try {
      const r = await get(url, {});
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(50);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last}):\n${tail(proc.logFile)}`);
}

/** One HTTP/1.1 GET on a fresh connection, bounded to 5 s. */
function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** `istio_requests_total` on the server sidecar, summed by `connection_security_policy`, with the source principals seen. */
async function requestsByPolicy(statsUrl: string): Promise<{ byPolicy: Record<string, number>; sourcePrincipals: string[] }> {
  const text = (await get(statsUrl, {})).body;
  const byPolicy: Record<string, number> = {};
  const principals = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('istio_requests_total{')) continue;
    const policy = /connection_security_policy="([^"]*)"/.exec(line)?.[1] ?? '(none given)';
    byPolicy[policy] = (byPolicy[policy] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    const source = /source_principal="([^"]*)"/.exec(line)?.[1];
    if (source !== undefined) principals.add(source);
  }
  return { byPolicy, sourcePrincipals: [...principals].sort() };
}

/** Runs `meltemi token` (the CLI a local runtime would use) and writes the token to `file`. */
function writeToken(caDir: string, serviceAccount: string, file: string): void {
  const r = spawnSync(process.execPath, [BIN, 'token', '--ca-dir', caDir, '--namespace', NAMESPACE, '--service-account', serviceAccount], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`meltemi token failed (exit ${r.status ?? r.signal}): ${`${r.stdout}${r.stderr}`.trim()}`);
  writeFileSync(file, r.stdout);
}

/**
 * Starts discovery (with its CA when `mtls`), the server sidecar, then the client sidecar, waits until
 * both are ready, sends one request through and checks on the server sidecar's metrics that it
 * arrived with the expected security policy (and, with mTLS, from the client's SPIFFE identity).
 */
async function startPair(ctx: TargetContext, name: PairName, mtls: boolean): Promise<RunningTarget> {
  buildOnce();
  const { server: serverIp, serverOutbound } = ADDRESSES[name];
  const dir = join(ctx.workDir, name);
  const configDir = join(dir, 'config');
  const caDir = join(dir, 'ca');
  mkdirSync(configDir, { recursive: true });
  // Both scenarios forward HTTP/1.1 from the client sidecar on, as the other 2-hop targets do.
  const appPort = ctx.upstream.http1Port;
  const [servicePort, xdsPort, caPort, serverHealth, serverStats, clientHealth] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  writeFileSync(join(configDir, 'mesh.yaml'), meshConfig(serverIp, servicePort, appPort, mtls));

  const procs: Proc[] = [];
  const stop = async () => {
    for (const p of [...procs].reverse()) await p.stop();
  };
  try {
    // The control plane runs unpinned and outside the measured pids: idle during the load.
    const discovery = spawnPinned(
      `${name}-discovery`,
      process.execPath,
      [BIN, 'discovery', '--config-dir', configDir, '--xds-addr', `127.0.0.1:${xdsPort}`, '--debug-addr', '127.0.0.1:0', ...(mtls ? ['--ca-dir', caDir, '--ca-addr', `127.0.0.1:${caPort}`] : [])],
      { cpus: undefined, logFile: join(dir, 'discovery.log'), cwd: REPO_ROOT },
    );
    procs.push(discovery);
    await waitForPort(xdsPort, discovery, 30_000);
    const identity = (sa: string): string[] => {
      if (!mtls) return [];
      const tokenFile = join(dir, `${sa}.token`);
      writeToken(caDir, sa, tokenFile);
      return ['--ca-addr', `127.0.0.1:${caPort}`, '--ca-root', join(caDir, 'root-cert.pem'), '--token-file', tokenFile];
    };
    if (mtls) await waitForPort(caPort, discovery, 30_000);
    const proxy = (role: string, args: string[]) =>
      spawnPinned(`${name}-${role}`, process.execPath, [BIN, 'proxy', '--discovery', `127.0.0.1:${xdsPort}`, '--namespace', NAMESPACE, '--admin-port', '0', '--merged-metrics-port', '0', '--drain-seconds', '0', ...args], {
        cpus: cpuList(ctx.cpu),
        logFile: join(dir, `${role}.log`),
        cwd: REPO_ROOT,
        env: { NODE_OPTIONS: PROXY_NODE_OPTIONS },
      });
    const server = proxy('server', ['--pod', 'web-1', '--ip', serverIp, '--inbound-address', serverIp, '--outbound-address', serverOutbound, '--service-account', 'web', '--labels', 'app=web', '--health-port', String(serverHealth), '--stats-port', String(serverStats), ...identity('web')]);
    procs.push(server);
    const client = proxy('client', ['--pod', 'client-1', '--ip', '127.0.0.1', '--service-account', 'client', '--labels', 'app=client', '--health-port', String(clientHealth), '--stats-port', '0', ...identity('client')]);
    procs.push(client);
    // Ready means configured and, with mTLS, holding a certificate from the CA.
    await waitFor200(`http://${serverIp}:${serverHealth}/healthz/ready`, server, 30_000);
    await waitFor200(`http://127.0.0.1:${clientHealth}/healthz/ready`, client, 30_000);
    await waitForPort(servicePort, client, 10_000);

    const statsUrl = `http://${serverIp}:${serverStats}/stats/prometheus`;
    const expected = mtls ? 'mutual_tls' : 'none';
    const probe = await get(`http://127.0.0.1:${servicePort}/`, { host: `127.0.0.1:${servicePort}` });
    // A path that does not answer is a target that failed to start (the run goes on); one that answers
    // over the wrong transport is a mislabelled row (PathCheckError, the run stops).
    if (probe.status !== 200) throw new Error(`${name}: a request through the client sidecar got HTTP ${probe.status}:\n${probe.body.slice(0, 300)}\n${tail(server.logFile)}`);
    const first = await requestsByPolicy(statsUrl);
    checkPolicy(name, first, expected, 1);

    const wire = `client -${WIRE_NAME[ctx.protocol]}-> meltemi (client sidecar, outbound) -${mtls ? 'mTLS' : 'plaintext'} http1-> meltemi (server sidecar, inbound) -http1-> upstream`;
    return {
      port: servicePort,
      pids: [client.pid, server.pid],
      wire,
      verify: async (measured) => {
        const seen = await requestsByPolicy(statsUrl);
        checkPolicy(name, seen, expected, measured);
        return { serverRequestsByConnectionSecurityPolicy: seen.byPolicy, sourcePrincipals: seen.sourcePrincipals, measuredRequests: measured };
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Every request the server sidecar counted carries `expected` as its connection security policy, at
 * least `atLeast` of them; with mTLS each came from the client's identity. Throws PathCheckError.
 */
function checkPolicy(name: string, seen: { byPolicy: Record<string, number>; sourcePrincipals: string[] }, expected: string, atLeast: number): void {
  const other = Object.entries(seen.byPolicy).filter(([p, n]) => p !== expected && n > 0);
  const count = seen.byPolicy[expected] ?? 0;
  if (other.length > 0 || count < atLeast) {
    throw new PathCheckError(`${name}: the server sidecar counted ${JSON.stringify(seen.byPolicy)} requests by connection_security_policy; expected ≥ ${atLeast} "${expected}" and no other`);
  }
  if (expected === 'mutual_tls' && (seen.sourcePrincipals.length !== 1 || seen.sourcePrincipals[0] !== CLIENT_ID)) {
    throw new PathCheckError(`${name}: mTLS requests came from ${seen.sourcePrincipals.join(', ')}; expected only ${CLIENT_ID}`);
  }
}

const onlyTwoHops = (ctx: TargetContext) => (ctx.hops === 2 ? undefined : 'a client sidecar and a server sidecar: 2 hops only');

export const meltemiS2s: Target = {
  name: 'meltemi-s2s',
  description: `meltemi, client sidecar (outbound listener) → server sidecar (inbound listener on ${ADDRESSES['meltemi-s2s'].server}, forwarding to the app port on 127.0.0.1), plaintext (PeerAuthentication DISABLE); both from one meltemi discovery; the same path as meltemi-mtls without TLS`,
  compareTo: ['meltemi'],
  skipReason: onlyTwoHops,
  start: (ctx) => startPair(ctx, 'meltemi-s2s', false),
};

export const meltemiMtls: Target = {
  name: 'meltemi-mtls',
  description: `meltemi, client sidecar → server sidecar as meltemi-s2s, with auto-mTLS (workload labelled security.istio.io/tlsMode: istio; PeerAuthentication STRICT): EC P-256 workload certificates (${CLIENT_ID}, ${SERVER_ID}) fetched by each proxy from \`meltemi discovery --ca-dir\` with a \`meltemi token\`; every request checked on the server sidecar's istio_requests_total as connection_security_policy="mutual_tls"`,
  compareTo: ['meltemi-s2s', 'meltemi'],
  skipReason: onlyTwoHops,
  start: (ctx) => startPair(ctx, 'meltemi-mtls', true),
};
