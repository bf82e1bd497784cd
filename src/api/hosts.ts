// Host names as Istio resolves them: short names against a namespace, wildcard matching, gateway references.

/**
 * The names a host written in a resource of `namespace` may stand for, most literal first:
 * `reviews` → `reviews.<ns>.svc.<domain>`; `reviews.other` → itself, then
 * `reviews.other.svc.<domain>` (Kubernetes DNS search-path style, a Meltemi extension: Istio 1.6
 * expands only dot-less names); anything else (FQDNs, wildcards) → itself. Lower-cased, since host
 * names compare case-insensitively.
 */
export function hostCandidates(host: string, namespace: string, clusterDomain: string): string[] {
  const h = host.toLowerCase();
  if (h.startsWith('*')) return [h];
  const labels = h.split('.');
  if (labels.length === 1) return [`${h}.${namespace}.svc.${clusterDomain}`];
  if (labels.length === 2) return [h, `${h}.svc.${clusterDomain}`];
  return [h];
}

/**
 * The FQDN a host resolves to in `namespace`, exactly as Istio 1.6 does (what the xDS translator
 * uses): a dot-less short name becomes `name.<ns>.svc.<domain>`; anything else is taken as written.
 * Lower-cased.
 */
export function resolveShortName(host: string, namespace: string, clusterDomain: string): string {
  const h = host.toLowerCase();
  return h.startsWith('*') || h.includes('.') ? h : `${h}.${namespace}.svc.${clusterDomain}`;
}

/**
 * Istio's host.Name.Matches: whether `pattern` (possibly `*` or `*.suffix`) covers `host`
 * (possibly a wildcard itself, then covered when its suffix is within the pattern's).
 */
export function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === h || p === '*') return true;
  if (!p.startsWith('*')) return false;
  const suffix = p.slice(1); // ".example.com"
  if (h.startsWith('*')) return h.slice(1).endsWith(suffix);
  return h.endsWith(suffix);
}

/** True when either host covers the other (two hosts that can name the same destination). */
export function hostsOverlap(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a);
}

/** Istio's host.Name.SubsetOf: every name `a` covers is also covered by `b`. */
export function hostSubsetOf(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const xw = x.startsWith('*');
  const yw = y.startsWith('*');
  if (xw) return yw && x.length >= y.length && x.slice(1).endsWith(y.slice(1));
  if (yw) return x.endsWith(y.slice(1));
  return x === y;
}

/**
 * Resolves a VirtualService `gateways` entry to `{namespace, name}` as Istio 1.6 does: `ns/name`,
 * `./name` (the VirtualService's namespace), a bare name (same namespace), or the legacy
 * `name.ns[.svc.cluster.local]` form. Returns undefined for `mesh`.
 */
export function resolveGatewayRef(ref: string, namespace: string): { namespace: string; name: string } | undefined {
  if (ref === 'mesh') return undefined;
  const slash = ref.indexOf('/');
  if (slash >= 0) {
    const ns = ref.slice(0, slash);
    return { namespace: ns === '.' ? namespace : ns, name: ref.slice(slash + 1) };
  }
  const dot = ref.indexOf('.');
  if (dot < 0) return { namespace, name: ref };
  const rest = ref.slice(dot + 1);
  const next = rest.indexOf('.');
  return { namespace: next < 0 ? rest : rest.slice(0, next), name: ref.slice(0, dot) };
}

/** Visibility of a resource under Istio's exportTo: empty or `*` → everywhere; `.` → its own namespace. */
export function visibleFrom(exportTo: readonly string[], ownNamespace: string, fromNamespace: string): boolean {
  if (exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || (e === '.' && ownNamespace === fromNamespace) || e === fromNamespace);
}
