// Walks a VirtualService: the destinations of its routes and mirrors, and the gateways it binds to, with field paths.
import { asArray, asObject, asString } from '../../api/diagnostics.js';
import type { Resource } from '../../api/kind.js';

export interface RouteDestination {
  /** The host as written. */
  host: string;
  subset?: string;
  /** destination.port.number when given. */
  port?: number;
  /** Path of the destination object (`spec.http[0].route[1].destination`, or `spec.http[0].mirror`). */
  path: Array<string | number>;
  mirror: boolean;
}

/** Every destination with a string host: http/tcp/tls routes, then http mirrors. */
export function destinationsOf(vs: Resource): RouteDestination[] {
  const spec = asObject(vs.spec);
  const out: RouteDestination[] = [];
  const push = (raw: unknown, path: Array<string | number>, mirror: boolean) => {
    const d = asObject(raw);
    const host = asString(d?.host);
    if (!d || host === undefined || host === '') return;
    const subset = asString(d.subset);
    const port = asObject(d.port)?.number;
    out.push({ host, ...(subset ? { subset } : {}), ...(typeof port === 'number' && port !== 0 ? { port } : {}), path, mirror });
  };
  for (const section of ['http', 'tcp', 'tls'] as const) {
    asArray(spec?.[section]).forEach((rawRoute, i) => {
      const route = asObject(rawRoute);
      asArray(route?.route).forEach((rd, j) => push(asObject(rd)?.destination, ['spec', section, i, 'route', j, 'destination'], false));
    });
  }
  asArray(spec?.http).forEach((rawRoute, i) => push(asObject(rawRoute)?.mirror, ['spec', 'http', i, 'mirror'], true));
  return out;
}

export interface GatewayBinding {
  gateway: string;
  path: Array<string | number>;
}

/** Every gateway name the VirtualService uses: spec.gateways and the per-match gateways of its routes. */
export function gatewayBindingsOf(vs: Resource): GatewayBinding[] {
  const spec = asObject(vs.spec);
  const out: GatewayBinding[] = [];
  asArray(spec?.gateways).forEach((g, i) => {
    if (typeof g === 'string') out.push({ gateway: g, path: ['spec', 'gateways', i] });
  });
  for (const section of ['http', 'tcp', 'tls'] as const) {
    asArray(spec?.[section]).forEach((rawRoute, i) => {
      asArray(asObject(rawRoute)?.match).forEach((m, j) => {
        asArray(asObject(m)?.gateways).forEach((g, k) => {
          if (typeof g === 'string') out.push({ gateway: g, path: ['spec', section, i, 'match', j, 'gateways', k] });
        });
      });
    });
  }
  return out;
}

/** The VirtualService's spec.gateways, `["mesh"]` when empty (Istio's default). */
export function boundGateways(vs: Resource): string[] {
  const list = asArray(asObject(vs.spec)?.gateways).filter((g): g is string => typeof g === 'string');
  return list.length === 0 ? ['mesh'] : list;
}
