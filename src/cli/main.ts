// The `meltemi` command: parses arguments and dispatches to a command; holds no domain logic.
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { ExitCode, processIO, type CliIO } from './io.js';
import type { ProxyCommandOptions } from './commands/proxy.js';
import type { ProxyConfigKind } from './commands/proxy-config.js';
import { isMeshError } from '../shared/errors.js';

function version(): string {
  // src/cli in a checkout, dist/src/cli in the build (`npm run build`).
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name: string; version: string };
      if (pkg.name === 'meltemi') return pkg.version;
    } catch {
      // not here
    }
  }
  return 'unknown';
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Builds the command tree. Each action stores its exit code in `result.code`. A command's module is
 * imported when it runs, so `meltemi proxy` does not load (and hold in memory) the control plane.
 */
export function buildProgram(io: CliIO, result: { code: number }): Command {
  const program = new Command('meltemi')
    .description('Meltemi: a service mesh with Istio and OpenShift Service Mesh APIs')
    .version(version(), '--version', 'print the version')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError('(run meltemi --help for usage)');

  program
    .command('validate')
    .description('check resources against Istio and Maistra validation rules; exit 0 when there is no error, 1 otherwise')
    .requiredOption('-f, --filename <path>', 'file, directory (recursive) or - for stdin; repeatable', collect)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (o: { filename: string[]; output: 'text' | 'json' }) => {
      const { runValidate } = await import('./commands/validate.js');
      result.code = await runValidate({ filename: o.filename, output: o.output }, io);
    });

  program
    .command('analyze')
    .description('validate, then check resources against each other (istioctl analyze codes); exit 79 when issues are found')
    .requiredOption('-f, --filename <path>', 'file, directory (recursive) or - for stdin; repeatable', collect)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['log', 'json']).default('log'))
    .addOption(new Option('--failure-threshold <level>', 'lowest level that makes the exit code non-zero').choices(['Info', 'Warning', 'Error']).default('Error'))
    .option('--root-namespace <ns>', 'the mesh root (control plane) namespace (default: the namespace of the one ServiceMeshControlPlane given, else istio-system)')
    .action(async (o: { filename: string[]; output: 'log' | 'json'; failureThreshold: 'Info' | 'Warning' | 'Error'; rootNamespace?: string }) => {
      const { runAnalyze } = await import('./commands/analyze.js');
      result.code = await runAnalyze({ filename: o.filename, output: o.output, failureThreshold: o.failureThreshold, rootNamespace: o.rootNamespace }, io);
    });

  program
    .command('discovery')
    .description('run the control plane: watch a config directory, serve xDS and the debug API')
    .requiredOption('--config-dir <dir>', 'directory of manifests to serve (watched)')
    .option('--xds-addr <host:port>', 'plaintext xDS address', '127.0.0.1:15010')
    .option('--debug-addr <host:port>', 'debug API and metrics address', '127.0.0.1:15014')
    .option('--allow-remote', 'allow non-loopback xDS and debug addresses (they expose every proxy\'s configuration)')
    .option('--ca-dir <dir>', 'serve the CA from this directory (Istio cacerts files, or a root generated there on first start)')
    .option('--ca-addr <host:port>', 'CA address (TLS; callers authenticated by token)', '127.0.0.1:15012')
    .option('--xds-tls-addr <host:port>', 'with --ca-dir: xDS over mutual TLS (proxies present workload certificates)', '127.0.0.1:15011')
    .option('--ca-auth <local|kubernetes>', 'how the CA authenticates callers: tokens from the CA directory (meltemi token), or Kubernetes ServiceAccount tokens reviewed by the API server', 'local')
    .option('--kube-api <url>', 'with --ca-auth kubernetes: the API server (default: in-cluster, https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)')
    .option('--kube-ca <file>', 'with --ca-auth kubernetes: the API server\'s CA (default: the mounted service account\'s ca.crt)')
    .option('--kube-token-file <file>', 'with --ca-auth kubernetes: the control plane\'s own token for the API server (default: the mounted service account\'s token)')
    .action(async (o: { configDir: string; xdsAddr: string; debugAddr: string; allowRemote?: boolean; caDir?: string; caAddr?: string; xdsTlsAddr?: string; caAuth: string; kubeApi?: string; kubeCa?: string; kubeTokenFile?: string }) => {
      const { runDiscovery } = await import('./commands/discovery.js');
      result.code = await runDiscovery(o, io);
    });

  program
    .command('token')
    .description("issue a workload's token for the mesh CA (meltemi proxy --token-file), from the CA directory's key")
    .requiredOption('--ca-dir <dir>', 'the CA directory (meltemi discovery --ca-dir)')
    .requiredOption('--namespace <ns>', "the workload's namespace")
    .requiredOption('--service-account <name>', "the workload's service account")
    .option('--ttl <duration>', 'how long the token is accepted', '24h')
    .action(async (o: { caDir: string; namespace: string; serviceAccount: string; ttl: string }) => {
      const { runToken } = await import('./commands/token.js');
      result.code = await runToken(o, io);
    });

  program
    .command('proxy')
    .description('run a sidecar or gateway configured only by xDS from the control plane')
    .requiredOption('--discovery <host:port>', 'the control plane xDS address (meltemi discovery --xds-addr)')
    .addOption(new Option('--type <type>', 'proxy type').choices(['sidecar', 'router']).default('sidecar'))
    .option('--node-id <id>', "Istio's node id: TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local")
    .option('--ip <ip>', 'the workload IP (env INSTANCE_IP)')
    .option('--pod <name>', 'the pod name (env POD_NAME)')
    .option('--namespace <ns>', 'the namespace (env POD_NAMESPACE)')
    .option('--labels <k=v,...>', 'the workload labels (they select Sidecars, subsets and gateways)')
    .option('--locality <region/zone/subzone>', 'where the workload runs (locality load balancing; env ISTIO_LOCALITY)')
    .option('--service-account <name>', 'the workload service account')
    .addOption(new Option('--protocol <p>', 'xDS variant').choices(['sotw', 'delta']).default('sotw'))
    .option('--capture', 'sidecar: iptables REDIRECTs the pod\'s traffic to 15001 and 15006 (meltemi cni); listeners find each connection\'s original destination')
    .option('--outbound-address <ip>', 'sidecar: address the outbound per-port listeners bind (default 127.0.0.1)')
    .option('--inbound-address <ip>', 'sidecar: workload address the inbound ports bind (the app listens on 127.0.0.1)')
    .option('--app-address <ip>', 'sidecar: the app listens here instead of 127.0.0.1 (pods sharing the host\'s loopback); inbound traffic goes there')
    .option('--gateway-address <ip>', 'router: address for listeners configured on 0.0.0.0')
    .option('--port-offset <n>', 'add this to every bound listener port')
    .option('--admin-port <port>', 'admin API port on 127.0.0.1', '15000')
    .option('--admin-address <ip>', 'admin API address, loopback only (several proxies sharing the host\'s loopback)', '127.0.0.1')
    .option('--health-port <port>', 'readiness probe port (/healthz/ready)', '15021')
    .option('--stats-port <port>', "Istio's metrics port (/stats/prometheus)", '15090')
    .option('--merged-metrics-port <port>', "the proxy's metrics merged with the app's (Istio's 15020 /stats/prometheus)", '15020')
    .option('--app-metrics <url>', "the app's Prometheus endpoint on loopback, merged on 15020 (e.g. http://127.0.0.1:8080/metrics)")
    .option('--drain-seconds <s>', 'how long connections may finish after SIGTERM', '5')
    .addOption(new Option('--access-log <encoding>', "one line per request on stdout in Istio's format (off by default, as in Istio 1.6)").choices(['text', 'json']))
    .option('--ca-addr <host:port>', 'the mesh CA (meltemi discovery --ca-addr); the workload certificate comes from it (env CA_ADDR)')
    .option('--ca-root <file>', "PEM roots that verify the CA and the mesh (Istio's root-cert.pem); needed with --ca-addr")
    .option('--token-file <file>', "the workload's token for the CA (meltemi token); needed with --ca-addr")
    .option('--xds-tls', 'connect to --discovery over mutual TLS with the workload certificate (meltemi discovery --xds-tls-addr); needs --ca-addr')
    .option('--cert-ttl <duration>', 'workload certificate lifetime to ask for, e.g. 24h or 10s (default: the CA\'s, 24h)')
    .action(async (o: ProxyCommandOptions) => {
      const { runProxy } = await import('./commands/proxy.js');
      result.code = await runProxy(o, io);
    });

  program
    .command('proxy-status')
    .description('xDS sync status of every connected proxy (SYNCED, STALE, NOT SENT, NACKED)')
    .option('--debug-addr <host:port>', 'the control plane debug API', '127.0.0.1:15014')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (o: { debugAddr: string; output: 'table' | 'json' }) => {
      const { runProxyStatus } = await import('./commands/proxy-status.js');
      result.code = await runProxyStatus(o, io);
    });

  program
    .command('proxy-config')
    .description('show the clusters, listeners, routes or endpoints generated for one proxy (POD.NAMESPACE or node id)')
    .argument('<kind>', 'cluster, listener, route or endpoint')
    .argument('<proxy>', 'POD.NAMESPACE or the full node id')
    .option('--debug-addr <host:port>', 'the control plane debug API', '127.0.0.1:15014')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['short', 'json']).default('short'))
    .action(async (kind: string, proxy: string, o: { debugAddr: string; output: 'short' | 'json' }) => {
      const kinds = ['cluster', 'listener', 'route', 'endpoint', 'clusters', 'listeners', 'routes', 'endpoints'];
      if (!kinds.includes(kind)) {
        io.err(`Error: unknown kind "${kind}"; use cluster, listener, route or endpoint\n`);
        result.code = ExitCode.USAGE;
        return;
      }
      const { runProxyConfig } = await import('./commands/proxy-config.js');
      result.code = await runProxyConfig({ kind: kind.replace(/s$/, '') as ProxyConfigKind, proxy, debugAddr: o.debugAddr, output: o.output }, io);
    });

  program
    .command('up')
    .description('run a whole mesh on this machine from manifests: discovery and the CA, every Deployment\'s pods (with a sidecar when annotated), the ingress gateway')
    .argument('[dir...]', 'manifest directories or files (default: the current directory)')
    .option('--ingress-port <port>', 'publish the ingress gateway\'s port 80 on 127.0.0.1:PORT', '8080')
    .option('--run-dir <dir>', 'where the mesh keeps its state, logs and control socket', '.meltemi')
    .addOption(new Option('--mode <mode>', 'network mode (default: netns as root on Linux, else loopback)').choices(['netns', 'loopback']))
    .option('-d, --detach', 'run in the background; `meltemi down` stops it')
    .option('--timeout <seconds>', 'how long to wait for every pod to be ready', '120')
    .action(async (dirs: string[], o: { ingressPort: string; runDir: string; mode?: 'netns' | 'loopback'; detach?: boolean; timeout: string }) => {
      const { runUp } = await import('./commands/up.js');
      result.code = await runUp(dirs, o, io);
    });

  program
    .command('down')
    .description('stop the mesh `meltemi up -d` started, and wait until every process and network of it is gone')
    .option('--run-dir <dir>', 'the run directory of that mesh', '.meltemi')
    .action(async (o: { runDir: string }) => {
      const { runDown } = await import('./commands/up.js');
      result.code = await runDown(o, io);
    });

  for (const verb of ['apply', 'delete'] as const) {
    program
      .command(verb)
      .description(verb === 'apply' ? 'create or update resources in the running mesh (config applies without restarts; a changed Deployment rolls its pods)' : 'delete resources from the running mesh')
      .requiredOption('-f, --filename <file...>', 'manifest files, or - for stdin')
      .option('--run-dir <dir>', 'the run directory of the mesh', '.meltemi')
      .action(async (o: { filename: string[]; runDir: string }) => {
        const { runApplyOrDelete } = await import('./commands/up.js');
        result.code = await runApplyOrDelete(verb, o.filename, o, io);
      });
  }

  program
    .command('get')
    .description('list the running mesh\'s pods (namespace, address, readiness, sidecar) or its resources of a kind')
    .argument('<kind>', 'pods, or a resource kind (virtualservices, vs, destinationrules, dr, gateways, services, deployments…)')
    .option('-n, --namespace <ns>', 'namespace', undefined)
    .option('-A, --all-namespaces', 'every namespace')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['wide', 'yaml', 'json']))
    .option('--run-dir <dir>', 'the run directory of the mesh', '.meltemi')
    .action(async (kind: string, o: { namespace?: string; allNamespaces?: boolean; output?: string; runDir: string }) => {
      const { runGet } = await import('./commands/up.js');
      result.code = await runGet(kind, o, io);
    });

  program
    .command('cni')
    .description('the CNI plugin: programs a pod\'s traffic interception (iptables REDIRECT to 15001/15006); reads CNI_COMMAND and the other CNI_* variables, and the network configuration on stdin')
    .action(async () => {
      const { runCniCommand } = await import('./commands/cni.js');
      result.code = await runCniCommand(process.env, io);
    });

  return program;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const result = { code: ExitCode.OK as number };
  const program = buildProgram(io, result);
  if (argv.length === 0) {
    io.out(program.helpInformation());
    return ExitCode.OK;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return ExitCode.OK;
      return ExitCode.USAGE;
    }
    io.err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return isMeshError(e, 'MESH_USAGE') ? ExitCode.USAGE : 1;
  }
  return result.code;
}
