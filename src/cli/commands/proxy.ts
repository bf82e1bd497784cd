// `meltemi proxy`: runs a sidecar or gateway configured by the control plane until SIGINT/SIGTERM or /quitquitquit.
import { setFlagsFromString } from 'node:v8';
import { parseAppProbers } from '../../proxy/admin/app-probers.js';
import { MeshError } from '../../shared/errors.js';
import { tunable, Tunables } from '../../shared/tunables.js';
import { appMetricsUrl } from '../../proxy/admin/admin-server.js';
import { parseDuration } from '../../api/common.js';
import { MeshProxy, type ProxyIdentityOptions } from '../../proxy/mesh-proxy.js';
import { DEFAULT_CA_SERVER_NAME } from '../../proxy/security/cert-agent.js';
import { parseNodeId } from '../../model/proxy.js';
import { captureUnavailable } from '../../proxy/network/original-dst.js';
import { ExitCode, type CliIO } from '../io.js';
import { parseHostPort } from '../../shared/host-port.js';

export interface ProxyCommandOptions {
  discovery: string;
  type: 'sidecar' | 'router';
  nodeId?: string;
  ip?: string;
  pod?: string;
  namespace?: string;
  labels?: string;
  locality?: string;
  serviceAccount?: string;
  protocol: 'sotw' | 'delta';
  capture?: boolean;
  outboundAddress?: string;
  inboundAddress?: string;
  appAddress?: string;
  gatewayAddress?: string;
  portOffset?: string;
  adminPort: string;
  adminAddress?: string;
  healthPort: string;
  statsPort: string;
  mergedMetricsPort: string;
  appMetrics?: string;
  drainSeconds: string;
  accessLog?: 'text' | 'json';
  caAddr?: string;
  caRoot?: string;
  tokenFile?: string;
  certTtl?: string;
  xdsTls?: boolean;
  /** Resolves when the process should stop; defaults to SIGINT/SIGTERM. */
  stopSignal?: Promise<void>;
}

function labelsOf(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? '').split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new MeshError('MESH_USAGE', `--labels takes k=v pairs separated by commas, got "${part}"`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

function intOf(v: string | undefined, flag: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > 65535) throw new MeshError('MESH_USAGE', `${flag} must be an integer from ${min} to 65535, got "${v}"`);
  return n;
}

/** The workload identity flags: all of --ca-addr (or CA_ADDR), --ca-root and --token-file, or none. */
function identityOptions(o: ProxyCommandOptions): ProxyIdentityOptions | undefined {
  const caAddress = o.caAddr ?? process.env.CA_ADDR;
  if (caAddress === undefined) {
    if (o.caRoot !== undefined || o.tokenFile !== undefined || o.certTtl !== undefined || o.xdsTls) throw new MeshError('MESH_USAGE', '--ca-root, --token-file, --cert-ttl and --xds-tls need --ca-addr');
    return undefined;
  }
  parseHostPort(caAddress, '--ca-addr');
  if (o.caRoot === undefined || o.tokenFile === undefined) throw new MeshError('MESH_USAGE', '--ca-addr needs --ca-root (the mesh roots) and --token-file (the workload token)');
  const out: ProxyIdentityOptions = { caAddress, rootCertFile: o.caRoot, tokenFile: o.tokenFile, ...(o.xdsTls ? { xdsServerName: DEFAULT_CA_SERVER_NAME } : {}) };
  if (o.certTtl !== undefined) {
    const ms = parseDuration(o.certTtl);
    if (ms === undefined || ms < 1000) throw new MeshError('MESH_USAGE', `--cert-ttl takes a duration of at least 1s like 24h or 90s, got "${o.certTtl}"`);
    out.requestedTtlMs = ms;
  }
  return out;
}

export async function runProxy(o: ProxyCommandOptions, io: CliIO): Promise<number> {
  // V8's memory-saving mode, on request only (MELTEMI_PROXY_OPTIMIZE_FOR_SIZE=1), set before the Envoy
  // protos load. bench/proxy, paired quick runs at 1 hop: RSS under load 81/87 MiB with it against
  // 106/110 without (HTTP/1.1, h2c), but its memory-reducing mark-compacts put 8–20 ms stalls in the
  // tail (h2c added p99 16.9 ms against 3.5 ms) and CPU per request was no better. As a command-line
  // flag it would also cap the young generation at 1 MiB semi-spaces, 1.4–2× the CPU per request.
  if (tunable(Tunables.proxyOptimizeForSize) !== 0) setFlagsFromString('--optimize-for-size');
  parseHostPort(o.discovery, '--discovery');
  // The node id, when given, supplies type, IP, pod and namespace (Istio's form); flags and the
  // environment Istio's injector sets (POD_NAME, POD_NAMESPACE, INSTANCE_IP) fill the rest.
  const parsed = o.nodeId ? parseNodeId(o.nodeId) : undefined;
  if (o.nodeId && !parsed) throw new MeshError('MESH_USAGE', `--node-id "${o.nodeId}" is not of the form sidecar|router~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local`);
  const namespace = o.namespace ?? parsed?.namespace ?? process.env.POD_NAMESPACE;
  const podFull = parsed?.podName;
  const pod = o.pod ?? (podFull && namespace && podFull.endsWith(`.${namespace}`) ? podFull.slice(0, -(namespace.length + 1)) : podFull) ?? process.env.POD_NAME;
  const ip = o.ip ?? parsed?.ip ?? process.env.INSTANCE_IP;
  if (!namespace || !pod || !ip) throw new MeshError('MESH_USAGE', 'the proxy needs its pod name, namespace and IP: --node-id, or --pod/--namespace/--ip (or POD_NAME, POD_NAMESPACE, INSTANCE_IP)');
  const type = parsed?.type ?? o.type;
  const locality = o.locality ?? process.env.ISTIO_LOCALITY;
  if (locality !== undefined && !/^[^/]+(\/[^/]+){0,2}$/.test(locality)) throw new MeshError('MESH_USAGE', `--locality takes region[/zone[/subzone]], got "${locality}"`);
  const identity = identityOptions(o);
  if (o.capture) {
    if (type !== 'sidecar') throw new MeshError('MESH_USAGE', '--capture is for sidecars (a router binds its own listeners)');
    if (o.outboundAddress || o.inboundAddress || o.appAddress) throw new MeshError('MESH_USAGE', '--capture takes the traffic iptables redirects; --outbound-address, --inbound-address and --app-address are for a sidecar without it');
    const why = captureUnavailable();
    if (why) throw new MeshError('MESH_USAGE', `--capture cannot work here: ${why}`);
  }
  const proxy = new MeshProxy({
    ...(identity ? { identity } : {}),
    discovery: o.discovery,
    protocol: o.protocol,
    node: { type, ips: [ip], podName: pod, namespace, labels: labelsOf(o.labels), ...(o.serviceAccount ? { serviceAccount: o.serviceAccount } : {}), ...(locality ? { locality } : {}) },
    // Captured, the pod's status ports (15020, 15021, 15090) answer on every address, as Istio's agent does (they are excluded from redirection).
    ...(o.capture ? { healthHost: '0.0.0.0' } : {}),
    plan: {
      mode: type,
      ...(o.capture ? { capture: true } : o.outboundAddress ? { outboundAddress: o.outboundAddress } : type === 'sidecar' ? { outboundAddress: '127.0.0.1' } : {}),
      ...(o.inboundAddress ? { inboundAddress: o.inboundAddress } : {}),
      ...(o.appAddress ? { appAddress: o.appAddress } : {}),
      ...(o.gatewayAddress ? { gatewayAddress: o.gatewayAddress } : {}),
      ...(o.portOffset ? { portOffset: intOf(o.portOffset, '--port-offset', 0)! } : {}),
    },
    adminPort: intOf(o.adminPort, '--admin-port', 0)!,
    ...(o.adminAddress ? { adminHost: o.adminAddress } : {}),
    healthPort: intOf(o.healthPort, '--health-port', 0)!,
    statsPort: intOf(o.statsPort, '--stats-port', 0)!,
    mergedMetricsPort: intOf(o.mergedMetricsPort, '--merged-metrics-port', 0)!,
    ...(o.appMetrics ? { appMetrics: { url: appMetricsUrl(o.appMetrics).href } } : {}),
    // Istio's agent contract: the injector passes the app's rewritten probes in this variable.
    ...(process.env.ISTIO_KUBE_APP_PROBERS ? { appProbes: parseAppProbers(process.env.ISTIO_KUBE_APP_PROBERS) } : {}),
    drainMs: Math.max(0, Number(o.drainSeconds) || 0) * 1000,
    ...(o.accessLog ? { accessLog: { encoding: o.accessLog, write: (line: string) => io.out(line.endsWith('\n') ? line : `${line}\n`) } } : {}),
    logger: {
      info: (m, f) => io.err(`info\t${m}${f ? ` ${JSON.stringify(f)}` : ''}\n`),
      warn: (m, f) => io.err(`warn\t${m}${f ? ` ${JSON.stringify(f)}` : ''}\n`),
      error: (m, f) => io.err(`error\t${m}${f ? ` ${JSON.stringify(f)}` : ''}\n`),
    },
  });
  await proxy.start();
  io.out(`proxy: ${type} ${pod}.${namespace}, xDS from ${o.discovery}, admin http://${proxy.adminAddress}, readiness http://${proxy.healthAddress}/healthz/ready, metrics http://${proxy.mergedMetricsAddress}/stats/prometheus\n`);
  const stop =
    o.stopSignal ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  await Promise.race([stop, proxy.stopped]);
  io.out('proxy: draining\n');
  await proxy.stop();
  io.out('proxy: stopped\n');
  return ExitCode.OK;
}
