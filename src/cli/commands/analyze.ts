// `meltemi analyze -f PATH…`: schema validation plus cross-resource analyzers, printed as istioctl analyze does.
import { loadPaths, type LoadedObject } from '../../config/manifest.js';
import { validateLoaded, type Finding } from '../../config/findings.js';
import { groupOf, keyOf, keyString } from '../../config/store.js';
import { isObject } from '../../api/diagnostics.js';
import { lookupKind } from '../../api/registry.js';
import type { Resource } from '../../api/kind.js';
import { analyze } from '../../model/analysis/index.js';
import type { AnalysisMessage } from '../../model/analysis/types.js';
import { ExitCode, type CliIO } from '../io.js';

export type Level = 'Error' | 'Warning' | 'Info';
const RANK: Record<Level, number> = { Info: 0, Warning: 1, Error: 2 };

export interface AnalyzeOptions {
  filename: string[];
  output?: 'log' | 'json';
  failureThreshold?: Level;
  rootNamespace?: string;
}

interface Located extends AnalysisMessage {
  origin?: string;
}

/** Schema problems are reported as IST0106 (SchemaValidationError), as istioctl does. */
function schemaMessage(f: Finding): Located {
  return {
    code: 'IST0106',
    level: f.severity === 'error' ? 'Error' : 'Warning',
    resource: { kind: f.kind ?? 'Unknown', apiVersion: '', namespace: f.namespace, name: f.name ?? '(unnamed)' },
    path: [],
    message: `Schema validation error: ${f.field ? `${f.field}: ` : ''}${f.message} [${f.rule}]`,
    origin: `${f.file}:${f.line}`,
  };
}

function namespaced(obj: Resource): Resource {
  const found = lookupKind(obj.apiVersion, obj.kind);
  if ('problem' in found || !found.def.namespaced || obj.metadata.namespace) return obj;
  return { ...obj, metadata: { ...obj.metadata, namespace: 'default' } };
}

export async function runAnalyze(opts: AnalyzeOptions, io: CliIO): Promise<number> {
  const { objects, problems } = await loadPaths(opts.filename, io.stdin);
  for (const p of problems) io.err(`Error: ${p.file}${p.line > 0 ? `:${p.line}` : ''}: ${p.message}\n`);
  if (problems.length > 0 && objects.length === 0) return ExitCode.PARSE;

  const findings = validateLoaded(objects);
  const invalid = new Set(findings.filter((f) => f.severity === 'error').map((f) => `${f.file}:${f.kind}:${f.namespace}:${f.name}`));
  const messages: Located[] = findings.map(schemaMessage);

  // Only valid objects take part in analysis: an invalid one has already been reported above.
  const bySource = new Map<string, LoadedObject>();
  const resources: Resource[] = [];
  for (const o of objects) {
    if (!isObject(o.object) || typeof o.object.kind !== 'string' || !isObject(o.object.metadata)) continue;
    const r = namespaced(o.object as Resource);
    if (invalid.has(`${o.source.file}:${r.kind}:${r.metadata.namespace}:${r.metadata.name}`)) continue;
    resources.push(r);
    bySource.set(keyString(keyOf(r)), o);
  }
  for (const m of analyze(resources, { rootNamespace: opts.rootNamespace })) {
    const src = bySource.get(keyString({ group: groupOf(m.resource.apiVersion), kind: m.resource.kind, namespace: m.resource.namespace ?? '', name: m.resource.name }));
    messages.push({ ...m, origin: src ? `${src.source.file}:${src.source.lineOf(m.path)}` : undefined });
  }

  const threshold = RANK[opts.failureThreshold ?? 'Error'];
  const failing = messages.filter((m) => RANK[m.level] >= threshold).length;
  if (opts.output === 'json') {
    io.out(JSON.stringify(messages.map((m) => ({ code: m.code, level: m.level, resource: m.resource, origin: m.origin, field: m.path, message: m.message })), null, 2) + '\n');
  } else if (messages.length === 0) {
    io.out(`\u2714 No validation issues found when analyzing ${resources.length} resource${resources.length === 1 ? '' : 's'}.\n`);
  } else {
    for (const m of messages) {
      const ns = m.resource.namespace ? `${m.resource.namespace}/` : '';
      io.out(`${m.level} [${m.code}] (${m.resource.kind} ${ns}${m.resource.name}${m.origin ? ` ${m.origin}` : ''}) ${m.message}\n`);
    }
    if (failing > 0) io.err('Error: Analyzers found issues.\nSee docs/analysis.md for more information about causes and resolutions.\n');
  }
  if (failing > 0) return ExitCode.ANALYZE_ISSUES;
  return problems.length > 0 ? ExitCode.PARSE : ExitCode.OK;
}
