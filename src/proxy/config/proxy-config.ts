// The proxy's whole configuration at one xDS version: compiled listeners, route tables, clusters and endpoints, frozen and swapped whole.
import { TypeUrl, type TypeUrlValue } from '../../xds/types.js';
import { compileCluster, compileLoadAssignment, type ClusterConfig, type EndpointInit } from './clusters.js';
import { compileListener, type ListenerConfig } from './listeners.js';
import { compileRouteConfiguration, type RouteTable } from './route-table.js';
import type { Secret } from '../security/secret-store.js';
import { compileSecret } from './sds-secret.js';
import { ConfigError } from './xds-json.js';

/** Decoded resources of the four types, by name (what the xDS client holds), and the SDS secrets it fetched. */
export interface DecodedResources {
  listeners: ReadonlyMap<string, Record<string, unknown>>;
  routes: ReadonlyMap<string, Record<string, unknown>>;
  clusters: ReadonlyMap<string, Record<string, unknown>>;
  endpoints: ReadonlyMap<string, Record<string, unknown>>;
  /** Secrets fetched over ADS (not compiled into the config: the proxy's secret store holds them). */
  secrets?: ReadonlyMap<string, Record<string, unknown>>;
}

/** A request sees exactly one of these: the data path reads `current` once per connection or request. */
export interface ProxyConfig {
  /** Increases with every snapshot applied. */
  readonly version: number;
  readonly listeners: ReadonlyMap<string, ListenerConfig>;
  readonly routes: ReadonlyMap<string, RouteTable>;
  readonly clusters: ReadonlyMap<string, ClusterConfig>;
  /** Endpoints by EDS service name (EDS clusters) or cluster name (clusters with inline endpoints). */
  readonly endpoints: ReadonlyMap<string, readonly EndpointInit[]>;
  /** The decoded resources this was compiled from (the admin config dump shows them). */
  readonly source: DecodedResources;
}

/**
 * Compiled resources are cached by the identity of their decoded object: an update that changes
 * one route table leaves every other compiled object (and the regexes inside) as it was.
 * Optimization: without it, an EDS update would recompile every route table.
 */
const compiledCache = new WeakMap<object, unknown>();

function cached<T>(decoded: Record<string, unknown>, compile: (d: Record<string, unknown>) => T): T {
  const hit = compiledCache.get(decoded);
  if (hit !== undefined) return hit as T;
  const value = compile(decoded);
  compiledCache.set(decoded, value);
  return value;
}

function compileAll<T>(kind: string, resources: ReadonlyMap<string, Record<string, unknown>>, compile: (d: Record<string, unknown>) => T): Map<string, T> {
  const out = new Map<string, T>();
  for (const [name, decoded] of resources) {
    try {
      out.set(name, cached(decoded, compile));
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`${kind} "${name}": ${e.path}`, e.reason);
      throw e;
    }
  }
  return out;
}

/** Compiles a consistent set of resources (the xDS client only hands over consistent ones). Throws ConfigError. */
export function buildProxyConfig(resources: DecodedResources, version: number): ProxyConfig {
  const clusters = compileAll('cluster', resources.clusters, compileCluster);
  const endpoints = new Map<string, readonly EndpointInit[]>();
  for (const [name, cla] of compileAll('load assignment', resources.endpoints, (d) => Object.freeze(compileLoadAssignment(d)))) endpoints.set(name, cla);
  for (const c of clusters.values()) if (c.inlineEndpoints) endpoints.set(c.name, c.inlineEndpoints);
  return Object.freeze({
    version,
    listeners: compileAll('listener', resources.listeners, compileListener),
    routes: compileAll('route configuration', resources.routes, compileRouteConfiguration),
    clusters,
    endpoints,
    source: resources,
  });
}

/** A decoded Secret as the secret store holds it; compiled once per decoded object. Throws ConfigError. */
export function secretOf(decoded: Record<string, unknown>): Secret {
  return cached(decoded, compileSecret);
}

/**
 * The xDS client's `validate` hook: compiles every resource of an update before it is accepted, so
 * anything this proxy cannot honour is NACKed with the resource, field and reason, and the
 * previous configuration keeps serving.
 */
export function validateResources(typeUrl: TypeUrlValue, resources: ReadonlyMap<string, Record<string, unknown>>): string | undefined {
  const compile: Record<string, (d: Record<string, unknown>) => unknown> = {
    [TypeUrl.Listener]: compileListener,
    [TypeUrl.RouteConfiguration]: compileRouteConfiguration,
    [TypeUrl.Cluster]: compileCluster,
    [TypeUrl.ClusterLoadAssignment]: compileLoadAssignment,
    [TypeUrl.Secret]: compileSecret,
  };
  const fn = compile[typeUrl];
  if (!fn) return undefined;
  try {
    compileAll(typeUrl.slice(typeUrl.lastIndexOf('.') + 1), resources, fn);
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    return `internal error compiling ${typeUrl}: ${e instanceof Error ? e.message : String(e)}`;
  }
}
