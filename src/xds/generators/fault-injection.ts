// VirtualService fault → per-route config of Envoy's fault filter (fixed delay and HTTP abort, each with its percentage).
import { any, durationFrom, Filters, type Msg } from './envoy-values.js';
import type { HTTPFaultInjection } from './vs-types.js';

/** `FractionalPercent` of an Istio Percent (0.0–100.0): per million, so fractions like 0.1 % survive. */
export function fractionalPercent(percent: number): Msg {
  return { numerator: Math.max(0, Math.min(1_000_000, Math.round(percent * 10_000))), denominator: 'MILLION' };
}

/** A whole-number percentage (the deprecated int `percent` fields). */
export function integerPercent(percent: number): Msg {
  return { numerator: Math.max(0, Math.min(100, Math.trunc(percent))), denominator: 'HUNDRED' };
}

function percentOf(p: { value?: number } | undefined, legacy: number | undefined): Msg {
  if (p?.value !== undefined) return fractionalPercent(p.value);
  if (legacy !== undefined) return integerPercent(legacy);
  // Neither given: the fault applies to every request (Istio's documented default).
  return integerPercent(100);
}

/**
 * The HTTPFault message for a route, or undefined when nothing Envoy can inject remains: a delay
 * needs `fixedDelay` (exponential delays are not supported, as in Istio 1.6) and an abort needs
 * `httpStatus` (gRPC and HTTP/2 error aborts are not in Istio 1.6).
 */
export function httpFault(f: HTTPFaultInjection): Msg | undefined {
  const out: Msg = {};
  const fixed = durationFrom(f.delay?.fixedDelay);
  if (f.delay && fixed) out.delay = { fixedDelay: fixed, percentage: percentOf(f.delay.percentage, f.delay.percent) };
  if (f.abort?.httpStatus !== undefined) out.abort = { httpStatus: f.abort.httpStatus, percentage: percentOf(f.abort.percentage, undefined) };
  return out.delay || out.abort ? out : undefined;
}

/** `typed_per_filter_config` entry for the fault filter. */
export function faultFilterConfig(f: HTTPFaultInjection): [string, Msg] | undefined {
  const fault = httpFault(f);
  return fault ? [Filters.fault.name, any(Filters.fault.type, fault)] : undefined;
}
