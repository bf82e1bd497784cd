// One normalized path for policy and backend: Envoy's HTTP connection manager path settings (normalize_path, merge_slashes, path_with_escaped_slashes_action) applied before any filter or route sees the request.

export type EscapedSlashesAction = 'KEEP_UNCHANGED' | 'REJECT_REQUEST' | 'UNESCAPE_AND_REDIRECT' | 'UNESCAPE_AND_FORWARD';

export interface PathNormalization {
  /** RFC 3986 normalization: unreserved escapes decoded, `\` as `/`, `.` and `..` segments resolved. */
  normalize: boolean;
  /** Runs of `/` become one. */
  mergeSlashes: boolean;
  /** What `%2F`, `%5C` (either case) do. */
  escapedSlashes: EscapedSlashesAction;
}

export type NormalizedPath =
  | { kind: 'ok'; path: string; changed: boolean }
  /** 400: the path cannot be made safe (NUL, a bad escape, escaped slashes refused, `..` above the root). */
  | { kind: 'reject'; reason: string }
  /** UNESCAPE_AND_REDIRECT: the client is sent to the unescaped path. */
  | { kind: 'redirect'; path: string };

const HEX = /^[0-9A-Fa-f]{2}$/;

/** Unreserved characters (RFC 3986 §2.3): an escape of one of these means the character itself. */
function isUnreserved(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}

/** Removes `.` and `..` segments (RFC 3986 §5.2.4) from an absolute path; undefined when `..` would climb above the root. */
function removeDotSegments(path: string): string | undefined {
  const out: string[] = [];
  const segments = path.split('/');
  // segments[0] is '' (the path starts with '/').
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
      continue;
    }
    if (s === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}

/**
 * Normalizes `pathAndQuery` (an origin-form target: the path, then `?query` if any); the query is
 * never touched and never matched. Order, as Envoy: escaped slashes, then RFC 3986, then slash
 * merging. A NUL (`%00`) is refused whatever the settings (reliability-security §1 A6), as is a
 * malformed escape when normalizing. Returns the path to route, check and forward, query included.
 */
export function normalizePath(pathAndQuery: string, o: PathNormalization): NormalizedPath {
  const q = pathAndQuery.indexOf('?');
  let path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q < 0 ? '' : pathAndQuery.slice(q);
  if (path.includes('%00')) return { kind: 'reject', reason: 'NUL in path' };
  if (!path.startsWith('/')) return { kind: 'ok', path: pathAndQuery, changed: false }; // `*` (OPTIONS) and authority-form
  // Optimization: most paths hold nothing any step would change; they cost four scans, no copy.
  if (!path.includes('%') && !path.includes('\\') && !path.includes('/.') && !path.includes('//')) return { kind: 'ok', path: pathAndQuery, changed: false };
  const original = path;
  if (o.escapedSlashes !== 'KEEP_UNCHANGED' && /%(2f|5c)/i.test(path)) {
    if (o.escapedSlashes === 'REJECT_REQUEST') return { kind: 'reject', reason: 'escaped slash in path' };
    path = path.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  }
  if (o.normalize) {
    let decoded = '';
    for (let i = 0; i < path.length; i++) {
      const c = path.charCodeAt(i);
      if (c === 0x25) {
        const hex = path.slice(i + 1, i + 3);
        if (!HEX.test(hex)) return { kind: 'reject', reason: 'malformed percent-encoding in path' };
        const v = parseInt(hex, 16);
        decoded += isUnreserved(v) ? String.fromCharCode(v) : `%${hex.toUpperCase()}`;
        i += 2;
      } else decoded += c === 0x5c ? '/' : path[i];
    }
    const resolved = removeDotSegments(decoded);
    if (resolved === undefined) return { kind: 'reject', reason: 'path climbs above the root' };
    path = resolved;
  }
  if (o.mergeSlashes) path = path.replace(/\/{2,}/g, '/');
  if (o.escapedSlashes === 'UNESCAPE_AND_REDIRECT' && /%(2f|5c)/i.test(original)) return { kind: 'redirect', path: path + query };
  return { kind: 'ok', path: path + query, changed: path !== original };
}
