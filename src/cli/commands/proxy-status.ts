// `meltemi proxy-status`: xDS sync state of every connected proxy, as istioctl 1.6 prints it.
import { formatTable } from '../table.js';
import { debugGet } from '../debug-client.js';
import { ExitCode, type CliIO } from '../io.js';

interface Sync {
  proxy: string;
  types: Record<string, { sent_version?: string; acked_version?: string; last_nack?: { error: string } }>;
  push_version?: string;
}

/** Column and the key of its type in syncz's `types`. */
const COLUMNS: Array<[string, string]> = [
  ['CDS', 'cds'],
  ['LDS', 'lds'],
  ['EDS', 'eds'],
  ['RDS', 'rds'],
];

/** istioctl names proxies POD.NAMESPACE: the third part of the node id. */
function proxyName(id: string): string {
  return id.split('~')[2] ?? id;
}

/** istioctl's cell: SYNCED when the last sent version was ACKed, STALE when not yet, NOT SENT, or the NACK. */
export function syncCell(t: Sync['types'][string] | undefined): string {
  if (!t || t.sent_version === undefined) return 'NOT SENT';
  if (t.last_nack && t.acked_version !== t.sent_version) return 'NACKED';
  if (t.acked_version === t.sent_version) return 'SYNCED';
  return t.acked_version === undefined ? 'STALE (Never Acknowledged)' : 'STALE';
}

export async function runProxyStatus(opts: { debugAddr: string; output?: 'table' | 'json' }, io: CliIO): Promise<number> {
  const list = (await debugGet(opts.debugAddr, '/debug/syncz')) as Sync[];
  if (opts.output === 'json') {
    io.out(JSON.stringify(list, null, 2) + '\n');
    return ExitCode.OK;
  }
  if (list.length === 0) {
    io.err('No proxies are connected.\n');
    return ExitCode.OK;
  }
  const rows = list
    .map((s) => [proxyName(s.proxy), ...COLUMNS.map(([, url]) => syncCell(s.types[url])), `discovery@${opts.debugAddr}`, s.push_version ?? ''])
    .sort((a, b) => a[0]!.localeCompare(b[0]!));
  io.out(formatTable(['NAME', 'CDS', 'LDS', 'EDS', 'RDS', 'PILOT', 'VERSION'], rows));
  for (const s of list) {
    for (const [col, url] of COLUMNS) {
      const nack = s.types[url]?.last_nack;
      if (nack) io.err(`${proxyName(s.proxy)} rejected ${col}: ${nack.error}\n`);
    }
  }
  return ExitCode.OK;
}
