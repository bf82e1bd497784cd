// Reads Kubernetes-style manifests (YAML or JSON, multi-document, List kinds, directories, stdin) and
// remembers where every object came from, so each finding can name its file and line.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments, isMap, isSeq, isPair, isScalar, type Node, type Document } from 'yaml';
import { tunable, Tunables } from '../shared/tunables.js';
import { MeshError } from '../shared/errors.js';
import { isObject, type FieldPath } from '../api/diagnostics.js';

/** Where an object was read from; `lineOf` maps a field path to the 1-based line that holds it. */
export interface SourceRef {
  file: string;
  /** 1-based line where the object starts. */
  line: number;
  /** 0-based index of the YAML document in the file. */
  document: number;
  lineOf(path: FieldPath): number;
}

export interface LoadedObject {
  object: unknown;
  source: SourceRef;
}

/** A file that could not be read or parsed, with the position of the problem. */
export interface LoadProblem {
  file: string;
  line: number;
  rule: 'load.parse' | 'load.read' | 'load.too-large';
  message: string;
}

export interface LoadResult {
  objects: LoadedObject[];
  problems: LoadProblem[];
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/** Names of files a directory walk reads. */
export function isManifestFile(name: string): boolean {
  return MANIFEST_EXT.test(name) && !name.startsWith('.');
}

function keyMatches(key: unknown, seg: string): boolean {
  return isScalar(key) ? String(key.value) === seg : String(key) === seg;
}

/** 1-based line of a node's start, or undefined when it has no position. */
function nodeLine(node: Node | null | undefined, lc: LineCounter): number | undefined {
  const start = node?.range?.[0];
  return start === undefined ? undefined : lc.linePos(start).line;
}

/**
 * Finds the line of `path` inside `root`: the key's line for a mapping entry (so an unknown field
 * points at itself), the item's line for a list entry, else the deepest ancestor that exists.
 */
function lineWithin(root: Node | null | undefined, prefix: FieldPath, path: FieldPath, lc: LineCounter, fallback: number): number {
  let node: Node | null | undefined = root;
  let line = nodeLine(node, lc) ?? fallback;
  for (const seg of [...prefix, ...path]) {
    if (isMap(node)) {
      const pair = node.items.find((p) => keyMatches(p.key, String(seg)));
      if (!pair) return line;
      line = nodeLine(pair.key as Node, lc) ?? line;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) return line;
      line = nodeLine(item, lc) ?? line;
      node = isPair(item) ? (item.value as Node) : item;
    } else return line;
  }
  return line;
}

function isListKind(o: unknown): o is { kind: string; items: unknown[] } {
  return isObject(o) && typeof o.kind === 'string' && (o.kind === 'List' || o.kind.endsWith('List')) && Array.isArray(o.items);
}

/**
 * Finds the first place where flow (`[`, `{`) or block (indentation) nesting exceeds `limit`, in
 * one linear pass. The YAML parser needs memory that grows badly with flow nesting (thousands of
 * `[` exhaust the process), so hostile input is refused before it reaches the parser.
 */
export function nestingProblem(text: string, limit: number): { line: number; message: string } | undefined {
  let flow = 0;
  let line = 1;
  let quote: '"' | "'" | undefined;
  let atLineStart = true;
  let indent = 0;
  const indents: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      atLineStart = true;
      indent = 0;
      continue;
    }
    if (quote) {
      if (quote === '"' && c === '\\') i++;
      else if (c === quote) {
        if (quote === "'" && text[i + 1] === "'") i++;
        else quote = undefined;
      }
      continue;
    }
    if (atLineStart) {
      if (c === ' ' || c === '-') {
        indent++;
        continue;
      }
      atLineStart = false;
      if (c !== '#' && c !== '\r' && flow === 0) {
        while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
        indents.push(indent);
        if (indents.length > limit) return { line, message: `nesting deeper than ${limit} levels (MELTEMI_MAX_NESTING)` };
      }
    }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') {
      if (++flow + indents.length > limit) return { line, message: `nesting deeper than ${limit} levels (MELTEMI_MAX_NESTING)` };
    } else if (c === ']' || c === '}') flow = Math.max(0, flow - 1);
  }
  return undefined;
}

/**
 * Parses manifest text. Each YAML document becomes one object; a `List` (or `…List`) becomes its
 * items. Empty documents are skipped. Parse errors are reported with their line; the other
 * documents of the file still load. Never throws for bad input.
 */
export function parseManifests(text: string, file: string): LoadResult {
  const objects: LoadedObject[] = [];
  const problems: LoadProblem[] = [];
  const maxDocs = tunable(Tunables.maxDocuments);
  const deep = nestingProblem(text, tunable(Tunables.maxNesting));
  if (deep) {
    problems.push({ file, line: deep.line, rule: 'load.too-large', message: deep.message });
    return { objects, problems };
  }
  const lc = new LineCounter();
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false }) as Document.Parsed[];
  } catch (e) {
    // The parser recurses; hostile nesting can exhaust the stack. Report it as a parse error.
    problems.push({ file, line: 1, rule: 'load.parse', message: `cannot parse: ${e instanceof Error ? e.message : String(e)}` });
    return { objects, problems };
  }
  if (!Array.isArray(docs)) docs = [docs];
  let count = 0;
  docs.forEach((doc, index) => {
    const docLine = nodeLine(doc.contents, lc) ?? lc.linePos(doc.range[0]).line;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const line = err.linePos?.[0]?.line ?? lc.linePos(err.pos[0]).line;
        problems.push({ file, line, rule: 'load.parse', message: err.message.split('\n')[0]! });
      }
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      problems.push({ file, line: docLine, rule: 'load.parse', message: `cannot read document: ${e instanceof Error ? e.message : String(e)}` });
      return;
    }
    if (value === null || value === undefined) return;
    const push = (object: unknown, prefix: FieldPath) => {
      if (++count > maxDocs) {
        if (count === maxDocs + 1) problems.push({ file, line: docLine, rule: 'load.too-large', message: `more than ${maxDocs} objects in one input` });
        return;
      }
      const root = doc.contents;
      const start = prefix.length === 0 ? docLine : lineWithin(root, [], prefix, lc, docLine);
      objects.push({
        object,
        source: { file, line: start, document: index, lineOf: (path) => lineWithin(root, prefix, path, lc, start) },
      });
    };
    if (isListKind(value)) value.items.forEach((item, i) => push(item, ['items', i]));
    else push(value, []);
  });
  return { objects, problems };
}

async function readBounded(file: string): Promise<string> {
  const max = tunable(Tunables.maxInputBytes);
  const st = await stat(file);
  if (st.size > max) throw new MeshError('MESH_INPUT_TOO_LARGE', `${file} is ${st.size} bytes, more than the limit of ${max} (MELTEMI_MAX_INPUT_BYTES)`);
  return readFile(file, 'utf8');
}

/** Reads all of a stream (stdin) up to the input size limit. */
export async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const max = tunable(Tunables.maxInputBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > max) throw new MeshError('MESH_INPUT_TOO_LARGE', `standard input is more than the limit of ${max} bytes (MELTEMI_MAX_INPUT_BYTES)`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Manifest files under a directory, recursively, in a stable (sorted) order. */
export async function listManifestFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && isManifestFile(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/**
 * Loads every path: files, directories (recursive) and `-` for stdin. Unreadable paths become
 * problems; nothing throws except for input over the size limit of stdin.
 */
export async function loadPaths(paths: string[], stdin: NodeJS.ReadableStream = process.stdin): Promise<LoadResult> {
  const result: LoadResult = { objects: [], problems: [] };
  const add = (r: LoadResult) => {
    result.objects.push(...r.objects);
    result.problems.push(...r.problems);
  };
  for (const p of paths) {
    if (p === '-') {
      try {
        add(parseManifests(await readStream(stdin), '<stdin>'));
      } catch (e) {
        result.problems.push({ file: '<stdin>', line: 1, rule: e instanceof MeshError && e.code === 'MESH_INPUT_TOO_LARGE' ? 'load.too-large' : 'load.read', message: e instanceof Error ? e.message : String(e) });
      }
      continue;
    }
    let files: string[];
    try {
      files = (await stat(p)).isDirectory() ? await listManifestFiles(p) : [p];
    } catch (e) {
      result.problems.push({ file: p, line: 0, rule: 'load.read', message: `cannot read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}` });
      continue;
    }
    for (const f of files) {
      try {
        add(parseManifests(await readBounded(f), f));
      } catch (e) {
        result.problems.push({ file: f, line: 0, rule: e instanceof MeshError && e.code === 'MESH_INPUT_TOO_LARGE' ? 'load.too-large' : 'load.read', message: e instanceof Error ? e.message : String(e) });
      }
    }
  }
  return result;
}
