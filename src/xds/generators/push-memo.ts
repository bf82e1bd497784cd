// Optimization: per-push memo of generator output that many proxies share, so 2000 sidecars with one view of the mesh cost one generation.
import type { Proxy } from '../../model/proxy.js';
import type { PushContext, SidecarScope } from '../../model/push-context.js';

/*
 * Why: a full push runs every generator for every proxy, and at 1000 services × 2000 sidecars
 * almost all of that output (outbound clusters, load assignments, outbound listeners, route
 * configurations) is identical between proxies of one namespace, or of the whole mesh. The memo
 * returns the same frozen object to every proxy that would have built an equal one; the ADS
 * server encodes each object once (it caches encodings by object identity), so sharing here
 * saves both the building and the protobuf encoding.
 *
 * Contract, for every memoized value:
 * - its key names everything it depends on besides the push (a proxy field missing from a key is
 *   a bug that serves one proxy's config to another);
 * - it is deep-frozen: a caller that mutates a shared object throws instead of corrupting other
 *   proxies' config.
 * Memo entries live exactly as long as their PushContext (a WeakMap key): nothing outlives a push,
 * and generators stay functions of (proxy, push).
 */

const memos = new WeakMap<PushContext, Map<string, unknown>>();
const ids = new WeakMap<object, number>();
let nextId = 0;

/** A number naming one object for as long as it lives (for memo keys over scopes, services and rules). */
export function objectId(o: object | undefined): number {
  if (o === undefined) return 0;
  let id = ids.get(o);
  if (id === undefined) {
    id = ++nextId;
    ids.set(o, id);
  }
  return id;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** The value for `key` in this push, built (and deep-frozen) on first use. `build` must be a pure function of the push and the key. */
export function pushMemo<T>(push: PushContext, key: string, build: () => T): T {
  let m = memos.get(push);
  if (!m) {
    m = new Map();
    memos.set(push, m);
  }
  if (m.has(key)) return m.get(key) as T;
  const v = deepFreeze(build());
  m.set(key, v);
  return v;
}

const tables = new WeakMap<PushContext, Map<string, Map<string, unknown>>>();

/**
 * A per-push table for answers looked up by name under one memo key (e.g. one proxy view's load
 * assignments by cluster name): resolve the table once, then one Map lookup per name instead of
 * one memo key string per name. Values put in it must be frozen (`frozen`) since they are shared
 * like `pushMemo`'s.
 */
export function pushTable<V>(push: PushContext, table: string): Map<string, V> {
  let byTable = tables.get(push);
  if (!byTable) {
    byTable = new Map();
    tables.set(push, byTable);
  }
  let t = byTable.get(table);
  if (!t) {
    t = new Map();
    byTable.set(table, t);
  }
  return t as Map<string, V>;
}

/** Deep-freezes a value about to be shared through a memo table. */
export function frozen<T>(v: T): T {
  return deepFreeze(v);
}

/**
 * Whether mesh-bound VirtualServices visible to this proxy route by the caller's labels
 * (`sourceLabels` in an HTTP, TCP or TLS match), so that route and listener output depends on the
 * proxy's labels, not only on its scope and namespace. Answered once per push and scope.
 */
export function routesDependOnLabels(proxy: Proxy, push: PushContext, scope: SidecarScope = push.sidecarScope(proxy)): boolean {
  return pushMemo(push, `labels-matter|${objectId(scope)}|${proxy.namespace}`, () =>
    push.virtualServices(proxy, 'mesh').some((vs) =>
      [...(vs.spec.http ?? []), ...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])].some((rule) =>
        ((rule as { match?: Array<{ sourceLabels?: Record<string, string> }> }).match ?? []).some((m) => m.sourceLabels !== undefined && Object.keys(m.sourceLabels).length > 0),
      ),
    ),
  );
}

/**
 * The memo key of a sidecar's outbound view: its scope, its namespace (short host names, `.` in
 * Sidecar hosts, DestinationRule lookup) and, only when some visible route matches on
 * sourceLabels, its labels.
 */
export function outboundViewKey(proxy: Proxy, push: PushContext): string {
  const scope = push.sidecarScope(proxy);
  const labels = routesDependOnLabels(proxy, push, scope)
    ? Object.keys(proxy.labels)
        .sort()
        .map((k) => `${k}=${proxy.labels[k]}`)
        .join(',')
    : '';
  return `${proxy.type}|${objectId(scope)}|${proxy.namespace}|${labels}`;
}
