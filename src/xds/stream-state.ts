// Per-stream xDS protocol state: what the client subscribed to, per type, and what was last sent on this stream.
import type { TypeUrlValue } from './types.js';
import { TypeUrl } from './types.js';

export type XdsProtocol = 'sotw' | 'delta';

/** Types where an empty subscription means "everything" (xDS "legacy wildcard"). */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set<string>([TypeUrl.Listener, TypeUrl.Cluster]);

/** Istio's push order, make-before-break: clusters and their endpoints before listeners and routes. */
export const PUSH_ORDER: readonly TypeUrlValue[] = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Secret];

/** Short type names used in metrics, logs and debug output (Istio's `cds`, `eds`…). */
export const SHORT_TYPE: Readonly<Record<TypeUrlValue, string>> = {
  [TypeUrl.Cluster]: 'cds',
  [TypeUrl.ClusterLoadAssignment]: 'eds',
  [TypeUrl.Listener]: 'lds',
  [TypeUrl.RouteConfiguration]: 'rds',
  [TypeUrl.Secret]: 'sds',
};

export function isKnownTypeUrl(url: string): url is TypeUrlValue {
  return Object.prototype.hasOwnProperty.call(SHORT_TYPE, url);
}

/** What one stream knows about one resource type. Mutated only by the ADS server. */
export interface TypeWatch {
  /** Subscribed to every resource of the type (LDS/CDS legacy wildcard, or `*`). */
  wildcard: boolean;
  /** Explicitly subscribed names (besides the wildcard). */
  names: Set<string>;
  /** Nonce of the last response sent for this type on this stream ('' before any). */
  nonceSent: string;
  /** version_info of the last response sent ('' before any). */
  versionSent: string;
  /** Nonce of the last NACK recorded, so a repeated NACK of one response counts once. */
  nonceNacked: string;
  /** Delta only: the version (hash) of each resource the client has, as far as the server knows. */
  known: Map<string, string>;
}

export function newTypeWatch(): TypeWatch {
  return { wildcard: false, names: new Set(), nonceSent: '', versionSent: '', nonceNacked: '', known: new Map() };
}

/**
 * Applies a SotW request's resource_names to a watch (xDS: the list replaces the previous one).
 * The legacy wildcard holds for LDS/CDS when the first request names nothing; `*` asks for it
 * explicitly. Returns whether the subscription changed.
 */
export function applySotwNames(watch: TypeWatch, typeUrl: string, names: readonly string[], first: boolean): boolean {
  const wildcard = names.includes('*') || (WILDCARD_TYPES.has(typeUrl) && names.length === 0 && (first || watch.wildcard));
  const explicit = new Set(names.filter((n) => n !== '*'));
  const changed = wildcard !== watch.wildcard || explicit.size !== watch.names.size || [...explicit].some((n) => !watch.names.has(n));
  watch.wildcard = wildcard;
  watch.names = explicit;
  return changed;
}

/**
 * Applies a Delta request's subscribe/unsubscribe lists. On the first request of a type an empty
 * subscribe list means wildcard for LDS/CDS. Returns the names newly subscribed (for which the
 * client expects an answer, `*` included when the wildcard was just turned on).
 */
export function applyDeltaSubscriptions(watch: TypeWatch, typeUrl: string, subscribe: readonly string[], unsubscribe: readonly string[], first: boolean): string[] {
  const added: string[] = [];
  if (first && subscribe.length === 0 && WILDCARD_TYPES.has(typeUrl)) {
    watch.wildcard = true;
    added.push('*');
  }
  for (const n of subscribe) {
    if (n === '*') {
      if (!watch.wildcard) added.push('*');
      watch.wildcard = true;
    } else if (!watch.names.has(n)) {
      watch.names.add(n);
      added.push(n);
    }
  }
  for (const n of unsubscribe) {
    if (n === '*') watch.wildcard = false;
    else {
      watch.names.delete(n);
      // The client dropped it; if it subscribes again it must get it again.
      if (!watch.wildcard) watch.known.delete(n);
    }
  }
  return added;
}

/** The names a generator is asked for: undefined for a wildcard watch ("all for this proxy"). */
export function requestedNames(watch: TypeWatch): string[] | undefined {
  return watch.wildcard ? undefined : [...watch.names].sort();
}

/** One ADS stream (one connected proxy). */
export class StreamState {
  readonly watches = new Map<TypeUrlValue, TypeWatch>();

  constructor(
    /** Unique per stream: `<proxy id>-<n>` once the node is known. */
    public connectionId: string,
    readonly protocol: XdsProtocol,
  ) {}

  watch(typeUrl: TypeUrlValue): TypeWatch | undefined {
    return this.watches.get(typeUrl);
  }

  ensureWatch(typeUrl: TypeUrlValue): TypeWatch {
    let w = this.watches.get(typeUrl);
    if (!w) {
      w = newTypeWatch();
      this.watches.set(typeUrl, w);
    }
    return w;
  }
}
