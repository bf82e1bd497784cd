// The request headers every Bookinfo service copies from the request it serves onto the calls it makes.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/**
 * Headers a Bookinfo service passes on unchanged, so that the sidecars' spans join into one trace
 * and routing rules that match on them (`end-user`) see them on every hop. Istio 1.6's services
 * forward `x-request-id`, B3, Datadog, `x-ot-span-context`, `user-agent` and `end-user`; the W3C,
 * Cloud Trace and gRPC contexts are the ones later Istio releases added. The cookie is not
 * forwarded: Istio 1.6's productpage sends the signed-in user as `end-user` instead.
 * See https://istio.io/v1.6/docs/tasks/observability/distributed-tracing/overview/.
 */
export const PROPAGATED_HEADERS: readonly string[] = [
  'x-request-id',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'b3',
  'x-ot-span-context',
  'traceparent',
  'tracestate',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampled',
  'x-datadog-sampling-priority',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'user-agent',
  'end-user',
];

/** The propagated headers present on `req`, ready to send on an outgoing request. */
export function propagatedHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of PROPAGATED_HEADERS) {
    const value = req.headers[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}
