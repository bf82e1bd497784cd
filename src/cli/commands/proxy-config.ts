// `meltemi proxy-config cluster|listener|route|endpoint PROXY`: tables over the config the control plane generated for one proxy.
import { formatTable } from '../table.js';
import { debugGet } from '../debug-client.js';
import { ExitCode, type CliIO } from '../io.js';

export type ProxyConfigKind = 'cluster' | 'listener' | 'route' | 'endpoint';

type Obj = Record<string, unknown>;
const get = (o: unknown, ...keys: string[]): unknown => {
  for (const k of keys) if (o && typeof o === 'object' && k in (o as Obj)) return (o as Obj)[k];
  return undefined;
};
const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));

function section(dump: Obj, type: string): Obj {
  const configs = (dump.configs as Obj[] | undefined) ?? [];
  return configs.find((c) => String(c['@type']).endsWith(type)) ?? {};
}

/** `outbound|9080|v1|reviews.bookinfo.svc.cluster.local` → its parts; other names stand alone. */
function clusterRow(name: string, type: string): string[] {
  const parts = name.split('|');
  if (parts.length === 4) return [parts[3] || '-', parts[1]!, parts[2] || '-', parts[0]!, type];
  return [name, '-', '-', '-', type];
}

function socketAddress(addr: unknown): { ip: string; port: string } {
  const sa = get(addr, 'socketAddress', 'socket_address');
  return { ip: str(get(sa, 'address')), port: str(get(sa, 'portValue', 'port_value')) };
}

export function renderProxyConfig(kind: ProxyConfigKind, dump: Obj): string {
  switch (kind) {
    case 'cluster': {
      const items = (section(dump, 'ClustersConfigDump').dynamic_active_clusters as Obj[] | undefined) ?? [];
      const rows = items.map((i) => clusterRow(str(get(i.cluster, 'name')), str(get(i.cluster, 'type')) || (get(i.cluster, 'clusterType', 'cluster_type') ? 'CUSTOM' : 'EDS')));
      return formatTable(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE'], rows.sort((a, b) => a.join('|').localeCompare(b.join('|'))));
    }
    case 'listener': {
      const items = (section(dump, 'ListenersConfigDump').dynamic_listeners as Obj[] | undefined) ?? [];
      const rows = items.map((i) => {
        const l = get(i.active_state, 'listener') as Obj;
        const { ip, port } = socketAddress(get(l, 'address'));
        const chains = (get(l, 'filterChains', 'filter_chains') as Obj[] | undefined) ?? [];
        const http = chains.some((c) => ((get(c, 'filters') as Obj[] | undefined) ?? []).some((f) => str(get(f, 'name')).includes('http_connection_manager')));
        const apiListener = get(l, 'apiListener', 'api_listener') !== undefined;
        return [ip || str(get(l, 'name')), port || '0', apiListener ? 'HTTP (api_listener)' : http ? 'HTTP' : 'TCP'];
      });
      return formatTable(['ADDRESS', 'PORT', 'TYPE'], rows.sort((a, b) => Number(a[1]) - Number(b[1]) || a[0]!.localeCompare(b[0]!)));
    }
    case 'route': {
      const items = (section(dump, 'RoutesConfigDump').dynamic_route_configs as Obj[] | undefined) ?? [];
      const rows = items.map((i) => {
        const rc = i.route_config as Obj;
        const vhosts = ((get(rc, 'virtualHosts', 'virtual_hosts') as Obj[] | undefined) ?? []).length;
        return [str(get(rc, 'name')), String(vhosts)];
      });
      return 'NOTE: This output only contains routes loaded via RDS.\n' + formatTable(['NAME', 'VIRTUAL HOSTS'], rows.sort((a, b) => a[0]!.localeCompare(b[0]!)));
    }
    case 'endpoint': {
      const items = (section(dump, 'EndpointsConfigDump').dynamic_endpoint_configs as Obj[] | undefined) ?? [];
      const rows: string[][] = [];
      for (const i of items) {
        const cla = i.endpoint_config as Obj;
        const cluster = str(get(cla, 'clusterName', 'cluster_name'));
        for (const loc of (get(cla, 'endpoints') as Obj[] | undefined) ?? []) {
          for (const lb of (get(loc, 'lbEndpoints', 'lb_endpoints') as Obj[] | undefined) ?? []) {
            const { ip, port } = socketAddress(get(get(lb, 'endpoint'), 'address'));
            const health = str(get(lb, 'healthStatus', 'health_status')) || 'HEALTHY';
            rows.push([`${ip}:${port}`, health === 'UNHEALTHY' ? 'UNHEALTHY' : 'HEALTHY', 'OK', cluster]);
          }
        }
      }
      return formatTable(['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'], rows.sort((a, b) => a[3]!.localeCompare(b[3]!) || a[0]!.localeCompare(b[0]!)));
    }
  }
}

export async function runProxyConfig(opts: { kind: ProxyConfigKind; proxy: string; debugAddr: string; output?: 'short' | 'json' }, io: CliIO): Promise<number> {
  const dump = (await debugGet(opts.debugAddr, `/debug/config_dump?proxyID=${encodeURIComponent(opts.proxy)}`)) as Obj;
  if (opts.output === 'json') {
    io.out(JSON.stringify(dump, null, 2) + '\n');
    return ExitCode.OK;
  }
  io.out(renderProxyConfig(opts.kind, dump));
  return ExitCode.OK;
}
