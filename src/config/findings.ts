// Turns validation results and load problems into located findings (file, line, object, field) and prints them.
import { formatPath, isObject, type Severity, type ValidationResult } from '../api/diagnostics.js';
import { lookupKind } from '../api/registry.js';
import { validateResource } from '../api/validate.js';
import type { ValidationContext } from '../api/kind.js';
import type { LoadedObject, LoadProblem } from './manifest.js';

/** One problem, located. `field` is the formatted path ('' when the problem is the whole document). */
export interface Finding {
  file: string;
  line: number;
  severity: Severity;
  rule: string;
  kind?: string;
  namespace?: string;
  name?: string;
  field: string;
  message: string;
}

/** Identity of a loaded object for messages: kind, namespace (defaulted as the API server would), name. */
export function describeObject(obj: unknown): { kind?: string; namespace?: string; name?: string } {
  if (!isObject(obj)) return {};
  const kind = typeof obj.kind === 'string' ? obj.kind : undefined;
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : undefined;
  let namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
  if (namespace === undefined && typeof obj.apiVersion === 'string' && kind) {
    const found = lookupKind(obj.apiVersion, kind);
    if (!('problem' in found) && found.def.namespaced) namespace = 'default';
  }
  return { kind, namespace, name };
}

export function findingsFor(loaded: LoadedObject, result: ValidationResult): Finding[] {
  const who = describeObject(loaded.object);
  return [...result.errors, ...result.warnings].map((d) => ({
    file: loaded.source.file,
    line: loaded.source.lineOf(d.path),
    severity: d.severity,
    rule: d.rule,
    ...who,
    field: formatPath(d.path),
    message: d.message,
  }));
}

export function findingForProblem(p: LoadProblem): Finding {
  return { file: p.file, line: p.line, severity: 'error', rule: p.rule, field: '', message: p.message };
}

/** Validates loaded objects; findings are ordered by file, then line. */
export function validateLoaded(objects: LoadedObject[], ctx: ValidationContext = {}): Finding[] {
  const out: Finding[] = [];
  for (const o of objects) out.push(...findingsFor(o, validateResource(o.object, ctx)));
  return out;
}

export function sortFindings(fs: Finding[]): Finding[] {
  return [...fs].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.field.localeCompare(b.field));
}

/**
 * One line per finding: `FILE:LINE: KIND NAMESPACE/NAME: FIELD.PATH: message`, warnings prefixed
 * `warning: `. Parts that do not apply are left out.
 */
export function formatFinding(f: Finding): string {
  const where = f.line > 0 ? `${f.file}:${f.line}` : f.file;
  const parts = [where];
  if (f.kind) parts.push(`${f.kind} ${f.namespace ? `${f.namespace}/` : ''}${f.name ?? '(unnamed)'}`);
  if (f.field) parts.push(f.field);
  parts.push(f.message);
  return `${f.severity === 'warning' ? 'warning: ' : ''}${parts.join(': ')}`;
}
